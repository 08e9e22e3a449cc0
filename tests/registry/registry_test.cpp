// The registry: lineage records, promotion and rollback as single
// transactions, A/B weights, and consistency after kill -9 mid-promotion.
#include "registry/registry.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace flywheel::registry {
namespace {

namespace fs = std::filesystem;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("flywheel_registry_" + std::to_string(getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    db_ = (root_ / "flywheel.db").string();
  }
  void TearDown() override { fs::remove_all(root_); }

  // A directory that looks like a checkpoint (the registry does not read weights).
  fs::path checkpoint(const std::string& name, const std::string& lineage = "") {
    fs::path dir = root_ / name;
    fs::create_directories(dir);
    std::ofstream(dir / "config.json") << "{}";
    std::ofstream(dir / "model.safetensors") << "weights";
    if (!lineage.empty()) std::ofstream(dir / "flywheel.json") << lineage;
    return dir;
  }
  std::unique_ptr<Registry> open() {
    auto r = Registry::open(db_);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return std::move(*r);
  }

  fs::path root_;
  std::string db_;
};

TEST_F(RegistryTest, AddsModelsWithLineage) {
  auto reg = open();
  auto base = reg->add(checkpoint("base", R"({"created_by": "test", "datasets": ["d1"]})").string());
  ASSERT_TRUE(base.ok()) << base.status().to_string();
  EXPECT_EQ(base->id, "base");
  EXPECT_EQ(base->state, ModelState::kCandidate);
  EXPECT_NE(base->lineage_json.find("d1"), std::string::npos);
  auto child = reg->add(checkpoint("child").string(), "base");
  ASSERT_TRUE(child.ok());
  EXPECT_EQ(child->parent, "base");
  // The same path again is the same model; another path with the same name gets a new id.
  EXPECT_EQ(reg->add((root_ / "base").string())->id, "base");
  auto same_name = reg->add(checkpoint("nested/base").string());
  ASSERT_TRUE(same_name.ok());
  EXPECT_EQ(same_name->id, "base-2");
  EXPECT_EQ(reg->list()->size(), 3u);

  EXPECT_EQ(reg->add((root_ / "missing").string()).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(reg->add(checkpoint("orphan").string(), "no-such-parent").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(reg->get("nope").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(reg->set_scores("child", R"({"acceptance": 0.3})").ok());
  EXPECT_NE(reg->get("child")->scores_json.find("0.3"), std::string::npos);
  EXPECT_FALSE(reg->set_scores("child", "not json").ok());
}

TEST_F(RegistryTest, PromoteAndRollback) {
  auto reg = open();
  ASSERT_TRUE(reg->add(checkpoint("a").string()).ok());
  ASSERT_TRUE(reg->add(checkpoint("b").string(), "a").ok());
  EXPECT_EQ(reg->version().value(), 0);
  EXPECT_EQ(reg->rollback("auto").code(), StatusCode::kNotFound);

  ASSERT_TRUE(reg->promote("a").ok());
  EXPECT_EQ(reg->get("a")->state, ModelState::kServing);
  ASSERT_TRUE(reg->promote("b", "auto", "won by 12%").ok());
  EXPECT_EQ(reg->get("a")->state, ModelState::kRetired);
  EXPECT_EQ(reg->get("b")->state, ModelState::kServing);
  auto dep = reg->deployment("auto");
  ASSERT_EQ(dep->size(), 1u);
  EXPECT_EQ((*dep)[0].model_id, "b");
  EXPECT_EQ(reg->version().value(), 2);
  auto history = reg->history("auto");
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].reason, "won by 12%");

  ASSERT_TRUE(reg->rollback("auto").ok());
  EXPECT_EQ((*reg->deployment("auto"))[0].model_id, "a");
  EXPECT_EQ(reg->get("a")->state, ModelState::kServing);
  EXPECT_EQ(reg->get("b")->state, ModelState::kRetired);
  EXPECT_EQ(reg->version().value(), 3);

  EXPECT_EQ(reg->promote("ghost").code(), StatusCode::kNotFound);
  fs::remove(root_ / "b" / "model.safetensors");
  EXPECT_EQ(reg->promote("b").code(), StatusCode::kNotFound);  // its checkpoint is gone
  EXPECT_EQ((*reg->deployment("auto"))[0].model_id, "a");
}

TEST_F(RegistryTest, WeightedDeploymentsAndRefusals) {
  auto reg = open();
  ASSERT_TRUE(reg->add(checkpoint("a").string()).ok());
  ASSERT_TRUE(reg->add(checkpoint("b").string()).ok());
  ASSERT_TRUE(reg->add(checkpoint("c").string()).ok());
  ASSERT_TRUE(reg->set_deployment("auto", {{"a", 0.9}, {"b", 0.1}}, "A/B").ok());
  auto dep = reg->deployment("auto");
  ASSERT_EQ(dep->size(), 2u);
  EXPECT_EQ(reg->get("a")->state, ModelState::kServing);
  EXPECT_EQ(reg->get("b")->state, ModelState::kServing);
  EXPECT_FALSE(reg->set_deployment("auto", {{"a", 0.0}}).ok());
  EXPECT_FALSE(reg->set_deployment("auto", {{"a", 1.0}, {"a", 1.0}}).ok());
  EXPECT_FALSE(reg->set_deployment("auto", {}).ok());
  EXPECT_EQ(reg->deployment("auto")->size(), 2u);  // failed changes change nothing
  ASSERT_TRUE(reg->refuse("c", "lost by 3% (interval -5%..-1%)").ok());
  EXPECT_EQ(reg->get("c")->state, ModelState::kRefused);
  EXPECT_EQ(reg->get("c")->note, "lost by 3% (interval -5%..-1%)");
  EXPECT_EQ(*reg->deployment_names(), std::vector<std::string>{"auto"});
}

TEST_F(RegistryTest, ADecisionIsOneTransaction) {
  auto reg = open();
  ASSERT_TRUE(reg->add(checkpoint("base").string()).ok());
  ASSERT_TRUE(reg->promote("base").ok());
  ASSERT_TRUE(reg->add(checkpoint("c1").string(), "base").ok());
  ASSERT_TRUE(reg->add(checkpoint("c2").string(), "base").ok());
  ASSERT_TRUE(reg->decide("c1", R"({"acceptance": 0.4})", true, "wins").ok());
  EXPECT_EQ((*reg->deployment("auto"))[0].model_id, "c1");
  EXPECT_EQ(reg->get("c1")->scores_json, R"({"acceptance": 0.4})");
  EXPECT_EQ(reg->get("base")->state, ModelState::kRetired);
  ASSERT_TRUE(reg->decide("c2", R"({"acceptance": 0.1})", false, "no gain").ok());
  EXPECT_EQ(reg->get("c2")->state, ModelState::kRefused);
  EXPECT_EQ(reg->get("c2")->note, "no gain");
  EXPECT_EQ(reg->get("c2")->scores_json, R"({"acceptance": 0.1})");
  // A promotion that fails (no deployment name) leaves the scores unwritten too.
  EXPECT_FALSE(reg->decide("c2", R"({"acceptance": 0.9})", true, "wins", "").ok());
  EXPECT_EQ(reg->get("c2")->scores_json, R"({"acceptance": 0.1})");
  EXPECT_EQ(reg->decide("c9", "{}", false, "x").code(), StatusCode::kNotFound);
}

TEST_F(RegistryTest, OnlyAModelThatNeverServedIsForgotten) {
  auto reg = open();
  ASSERT_TRUE(reg->add(checkpoint("base").string()).ok());
  ASSERT_TRUE(reg->promote("base").ok());
  ASSERT_TRUE(reg->add(checkpoint("c1").string(), "base").ok());
  ASSERT_TRUE(reg->add(checkpoint("c2").string(), "base").ok());
  ASSERT_TRUE(reg->promote("c1").ok());
  ASSERT_TRUE(reg->refuse("c2", "no gain").ok());
  EXPECT_EQ(reg->forget("base").code(), StatusCode::kInvalidArgument);  // retired: rollback needs it
  EXPECT_EQ(reg->forget("c1").code(), StatusCode::kInvalidArgument);    // serving
  ASSERT_TRUE(reg->forget("c2").ok());
  EXPECT_EQ(reg->get("c2").status().code(), StatusCode::kNotFound);
  // Its directory registers again, under a new id.
  auto again = reg->add((root_ / "c2").string(), "base", "c2-new");
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(again->id, "c2-new");
  EXPECT_EQ(reg->forget("c9").code(), StatusCode::kNotFound);
}

TEST_F(RegistryTest, ReopeningKeepsEverything) {
  {
    auto reg = open();
    ASSERT_TRUE(reg->add(checkpoint("a").string()).ok());
    ASSERT_TRUE(reg->promote("a").ok());
  }
  auto reg = open();
  EXPECT_EQ((*reg->deployment("auto"))[0].model_id, "a");
  EXPECT_EQ(reg->version().value(), 1);
}

// A process promoting back and forth is killed at random moments; every time,
// the registry reopens with exactly one serving model in `auto`, and states
// that agree with the deployment.
TEST_F(RegistryTest, KillDuringPromotionsLeavesItConsistent) {
  {
    auto reg = open();
    for (const char* name : {"a", "b"}) ASSERT_TRUE(reg->add(checkpoint(name).string()).ok());
    ASSERT_TRUE(reg->promote("a").ok());
  }
  std::mt19937 rng(42);
  for (int round = 0; round < 5; ++round) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto reg = Registry::open(db_);
      if (!reg.ok()) _exit(3);
      for (int i = 0;; ++i)
        if (!(*reg)->promote(i % 2 ? "a" : "b").ok()) _exit(4);
    }
    usleep(20000 + rng() % 80000);
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child stopped by itself with " << status;
    auto reg = open();
    auto dep = reg->deployment("auto");
    ASSERT_TRUE(dep.ok()) << dep.status().to_string();
    ASSERT_EQ(dep->size(), 1u);
    const std::string serving = (*dep)[0].model_id;
    const std::string other = serving == "a" ? "b" : "a";
    EXPECT_EQ(reg->get(serving)->state, ModelState::kServing);
    EXPECT_EQ(reg->get(other)->state, ModelState::kRetired);
    auto history = reg->history("auto", 1);
    ASSERT_EQ(history->size(), 1u);
    EXPECT_EQ((*history)[0].models[0].model_id, serving);
  }
}

}  // namespace
}  // namespace flywheel::registry
