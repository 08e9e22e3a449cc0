// Concurrent deployment changes on one database, on both backends (SQLite
// file, real PostgreSQL server): promotions and rollbacks from several
// processes' worth of connections must serialize, so that every committed
// state of `auto` holds exactly one model, every change succeeds, and the
// history numbers them 1, 2, 3, ... in the order they took effect.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <filesystem>
#include <fstream>
#include <thread>

#include "registry/registry.h"
#include "tests/core/test_util.h"
#include "tests/feedback/store_backends.h"

namespace flywheel::registry {
namespace {

namespace fs = std::filesystem;
using feedback::testing::BackendNames;
using feedback::testing::Backends;

template <typename Backend>
class DeploymentRaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto url = backend_.fresh_url();
    ASSERT_TRUE(url.ok()) << url.status().to_string();
    url_ = *url;
  }

  std::unique_ptr<Registry> open() {
    auto r = Registry::open(url_);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? std::move(*r) : nullptr;
  }

  // A directory that looks like a checkpoint (the registry does not read weights).
  std::string checkpoint(const std::string& name) {
    const fs::path dir = models_ / name;
    fs::create_directories(dir);
    std::ofstream(dir / "config.json") << "{}";
    std::ofstream(dir / "model.safetensors") << "weights";
    return dir.string();
  }

  Backend backend_;
  flywheel::testing_util::TempDir models_;
  std::string url_;
};

TYPED_TEST_SUITE(DeploymentRaceTest, Backends, BackendNames);

TYPED_TEST(DeploymentRaceTest, ConcurrentPromotionsLeaveOneModelServing) {
  constexpr int kPromoters = 4, kRounds = 25;
  auto setup = this->open();
  ASSERT_NE(setup, nullptr);
  std::vector<std::string> ids;
  for (int t = 0; t < kPromoters; ++t) {
    auto record = setup->add(this->checkpoint("m" + std::to_string(t)), "", "m" + std::to_string(t));
    ASSERT_TRUE(record.ok()) << record.status().to_string();
    ids.push_back(record->id);
  }
  // Two configurations in the history: a rollback always has one to go back to.
  ASSERT_TRUE(setup->promote(ids[1]).ok());
  ASSERT_TRUE(setup->promote(ids[0]).ok());

  // Each thread has its own Registry: its own connection, as separate
  // `flywheel cycle` processes would.
  std::vector<std::unique_ptr<Registry>> registries;
  for (int t = 0; t <= kPromoters + 1; ++t) {
    registries.push_back(this->open());
    ASSERT_NE(registries.back(), nullptr);
  }
  std::barrier start(kPromoters + 2);
  std::atomic<bool> done{false};
  std::vector<std::vector<std::string>> errors(kPromoters + 2);
  std::vector<std::thread> threads;
  for (int t = 0; t < kPromoters; ++t)
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      // Every other change goes through decide(), the cycle's scores-and-promotion step.
      for (int round = 0; round < kRounds; ++round)
        if (Status s =
                round % 2 ? registries[t]->decide(ids[t], "{}", true, "", "auto") : registries[t]->promote(ids[t]);
            !s.ok())
          errors[t].push_back(s.to_string());
    });
  // Rollbacks read the deployment they undo: they race too.
  threads.emplace_back([&] {
    start.arrive_and_wait();
    for (int round = 0; round < kRounds; ++round)
      if (Status s = registries[kPromoters]->rollback(); !s.ok()) errors[kPromoters].push_back(s.to_string());
  });
  // A reader sees only committed states: each must have one model.
  std::atomic<int> reads{0};
  threads.emplace_back([&] {
    start.arrive_and_wait();
    while (!done) {
      auto deployment = registries[kPromoters + 1]->deployment("auto");
      if (!deployment.ok())
        errors[kPromoters + 1].push_back(deployment.status().to_string());
      else if (deployment->size() != 1)
        errors[kPromoters + 1].push_back("a reader saw " + std::to_string(deployment->size()) + " models in auto");
      ++reads;
    }
  });
  for (int t = 0; t <= kPromoters; ++t) threads[t].join();
  done = true;
  threads.back().join();

  for (const auto& list : errors)
    for (const auto& e : list) ADD_FAILURE() << e;
  EXPECT_GT(reads.load(), 0);
  auto deployment = setup->deployment("auto");
  ASSERT_TRUE(deployment.ok()) << deployment.status().to_string();
  ASSERT_EQ(deployment->size(), 1u);
  int serving = 0;
  for (const auto& id : ids) serving += setup->get(id)->state == ModelState::kServing;
  EXPECT_EQ(serving, 1) << "models in state serving";

  constexpr int kChanges = 2 + (kPromoters + 1) * kRounds;
  auto history = setup->history("auto", 2 * kChanges);
  ASSERT_TRUE(history.ok()) << history.status().to_string();
  ASSERT_EQ(history->size(), static_cast<size_t>(kChanges)) << "a change is missing from the history";
  for (size_t i = 0; i < history->size(); ++i) {
    EXPECT_EQ((*history)[i].version, kChanges - static_cast<int64_t>(i));
    EXPECT_EQ((*history)[i].models.size(), 1u) << "version " << (*history)[i].version;
  }
  EXPECT_EQ((*history)[0].models[0].model_id, (*deployment)[0].model_id) << "the last change is not what serves";
}

}  // namespace
}  // namespace flywheel::registry
