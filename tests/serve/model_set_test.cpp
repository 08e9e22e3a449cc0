// ModelSet: name resolution, `auto`, A/B weights, and hot swap under load
// (no request fails while the serving model changes underneath).
#include "serve/model_set.h"

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <thread>

#include "registry/registry.h"
#include "serve/registry_watcher.h"
#include "tests/common/tiny_model.h"

namespace flywheel::serve {
namespace {

namespace fs = std::filesystem;

class ModelSetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("flywheel_model_set_test_" + std::to_string(getpid()));
    testing::make_tiny_model(root_ / "a", 1);
    testing::make_tiny_model(root_ / "b", 2);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  static std::shared_ptr<ServedModel> load(const std::string& name) {
    auto m = load_served_model((root_ / name).string(), name);
    EXPECT_TRUE(m.ok()) << m.status().to_string();
    return *m;
  }
  static fs::path root_;
};
fs::path ModelSetTest::root_;

TEST_F(ModelSetTest, ResolvesAutoDeploymentsAndModelIds) {
  ModelSet set;
  EXPECT_EQ(set.resolve("auto"), nullptr);
  auto a = load("a");
  set.set_deployment("stable", {{a, 1.0}});
  EXPECT_EQ(set.resolve("auto"), a);  // the first deployment is auto until one is named so
  EXPECT_EQ(set.resolve(""), a);
  EXPECT_EQ(set.resolve("stable"), a);
  EXPECT_EQ(set.resolve("a"), a);  // by model id
  EXPECT_EQ(set.resolve("nope"), nullptr);
  auto b = load("b");
  set.set_deployment("auto", {{b, 1.0}});
  EXPECT_EQ(set.resolve("auto"), b);
  EXPECT_EQ(set.models().size(), 2u);
  EXPECT_EQ(set.deployment_names(), (std::vector<std::string>{"stable", "auto"}));
  EXPECT_EQ(a->format.name, "flywheel");  // flywheel's trainer: Qwen FIM tokens, SPM defined
  EXPECT_EQ(a->context_length, 512);
}

TEST_F(ModelSetTest, WeightedDeploymentsSplitByAStableHash) {
  ModelSet set;
  auto a = load("a");
  auto b = load("b");
  set.set_deployment("auto", {{a, 3.0}, {b, 1.0}});
  std::map<const ServedModel*, int> counts;
  for (int i = 0; i < 4000; ++i) {
    std::string key = "tenant-" + std::to_string(i);
    auto chosen = set.resolve("auto", key);
    ++counts[chosen.get()];
    EXPECT_EQ(set.resolve("auto", key), chosen);  // sticky per key
  }
  EXPECT_NEAR(counts[a.get()] / 4000.0, 0.75, 0.04);
  EXPECT_NEAR(counts[b.get()] / 4000.0, 0.25, 0.04);
}

TEST_F(ModelSetTest, SwapOfAMissingCheckpointKeepsTheServingModel) {
  ModelSet set;
  auto a = load("a");
  set.set_deployment("auto", {{a, 1.0}});
  auto swapped = set.swap("auto", (root_ / "missing").string(), "missing");
  EXPECT_FALSE(swapped.ok());
  EXPECT_EQ(set.resolve("auto"), a);
}

TEST_F(ModelSetTest, HotSwapUnderLoadFailsNoRequest) {
  ModelSet set;
  set.set_deployment("auto", {{load("a"), 1.0}});
  Engine engine;
  std::atomic<bool> stop{false};
  std::atomic<int> done{0}, failed{0};
  std::mutex seen_mutex;
  std::set<std::string> seen_models;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      while (!stop) {
        auto model = set.resolve("auto", "client-" + std::to_string(c));
        EngineRequest r;
        r.model = model;
        r.prompt = model->tokenizer().encode("int value = compute(" + std::to_string(c) + ");");
        r.params.max_tokens = 6;
        r.params.temperature = 0;
        std::promise<Result<EngineResult>> p;
        engine.submit(r, {}, [&](Result<EngineResult> result) { p.set_value(std::move(result)); });
        auto result = p.get_future().get();
        if (!result.ok()) {
          ++failed;
          ADD_FAILURE() << result.status().to_string();
        } else {
          EXPECT_EQ(result->model_id, model->id);  // finished on the model it started on
          std::lock_guard lock(seen_mutex);
          seen_models.insert(result->model_id);
        }
        ++done;
      }
    });
  }
  while (done < 20) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (const char* next : {"b", "a", "b"}) {
    auto previous = set.swap("auto", (root_ / next).string(), next);
    ASSERT_TRUE(previous.ok()) << previous.status().to_string();
    for (auto& old : *previous) engine.forget_model(old.get());
    int before = done;
    while (done < before + 20) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(seen_models, (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(set.resolve("auto")->id, "b");
}

// The server follows the registry: promote and rollback reach the ModelSet
// within a poll interval, and `serve --model` accepts a registry id.
TEST_F(ModelSetTest, FollowsPromotionsAndRollbacksInTheRegistry) {
  const std::string db = (root_ / "registry.db").string();
  auto reg = registry::Registry::open(db);
  ASSERT_TRUE(reg.ok()) << reg.status().to_string();
  ASSERT_TRUE((*reg)->add((root_ / "a").string()).ok());
  ASSERT_TRUE((*reg)->add((root_ / "b").string(), "a").ok());

  ModelSet set;
  Engine engine;
  RegistryWatcher watcher(set, engine, {db, std::chrono::milliseconds(20), {}});
  EXPECT_EQ(watcher.start().code(), StatusCode::kNotFound);  // nothing deployed yet
  ASSERT_TRUE((*reg)->promote("a").ok());
  RegistryWatcher running(set, engine, {db, std::chrono::milliseconds(20), {}});
  ASSERT_TRUE(running.start().ok());
  EXPECT_EQ(set.resolve("auto")->id, "a");

  auto wait_for = [&](const std::string& id) {
    for (int i = 0; i < 500 && set.resolve("auto")->id != id; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return set.resolve("auto")->id;
  };
  ASSERT_TRUE((*reg)->promote("b").ok());
  EXPECT_EQ(wait_for("b"), "b");
  ASSERT_TRUE((*reg)->rollback("auto").ok());
  EXPECT_EQ(wait_for("a"), "a");
  // The ModelSet changes just before the watcher records the version it applied.
  for (int i = 0; i < 500 && running.applied_version() != 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(running.applied_version(), 3);

  auto by_id = resolve_model_argument("b", db);
  ASSERT_TRUE(by_id.ok()) << by_id.status().to_string();
  EXPECT_EQ(by_id->second, "b");
  auto by_deployment = resolve_model_argument("auto", db);
  ASSERT_TRUE(by_deployment.ok());
  EXPECT_EQ(by_deployment->second, "a");
  EXPECT_EQ(resolve_model_argument("nothing", db).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(resolve_model_argument((root_ / "a").string(), "").value().first, (root_ / "a").string());
}

}  // namespace
}  // namespace flywheel::serve
