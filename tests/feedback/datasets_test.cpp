// Datasets from events: kept text, pairs, unpaired labels, rewards, dedup,
// the time split, and tenant isolation.
#include "feedback/datasets.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"

namespace flywheel::feedback {
namespace {

namespace fs = std::filesystem;

std::vector<nlohmann::json> rows(const fs::path& file) {
  std::vector<nlohmann::json> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

class DatasetsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("flywheel_datasets_" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    auto store = open_store((root_ / "events.db").string());
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    store_ = std::move(*store);
  }
  void TearDown() override { fs::remove_all(root_); }

  void add(const std::string& id, const std::string& tenant, const std::string& prefix, const std::string& text,
           int64_t at, std::optional<OutcomeKind> kind, int64_t accepted_length = 0,
           std::optional<std::string> final_text = {}, const std::string& session = "") {
    SuggestionEvent s;
    s.id = id;
    s.session = session;
    s.tenant = tenant;
    s.model_id = "m";
    s.prefix_window = prefix;
    s.suffix_window = "\n}";
    s.prefix_hash = "p" + prefix;
    s.suffix_hash = "s";
    s.text = text;
    s.shown_at_ms = at;
    std::vector<OutcomeEvent> outcomes;
    if (kind) {
      OutcomeEvent shown{id, tenant, OutcomeKind::kShown, 0, 0, {}, at};
      OutcomeEvent o{id, tenant, *kind, 0, accepted_length, final_text, at + 5};
      outcomes = {shown, o};
    }
    ASSERT_TRUE(store_->append(std::span(&s, 1), outcomes).ok());
  }

  DatasetOptions options(const std::string& tenant) {
    DatasetOptions o;
    o.tenant = tenant;
    o.out = root_ / ("out-" + tenant);
    o.render = [](const FimContext& c) -> Result<std::string> { return "<P>" + c.prefix + "<S>" + c.suffix + "<M>"; };
    return o;
  }

  fs::path root_;
  std::unique_ptr<Store> store_;
};

TEST_F(DatasetsTest, EachOutcomeBecomesTheRightRows) {
  add("a", "t", "int x = ", "42;", 1000, OutcomeKind::kAccepted, 3);
  add("b", "t", "return ", "nullptr;", 2000, OutcomeKind::kRejected, 0, std::string("value;"));
  add("c", "t", "auto y = f(", "a, b);", 3000, OutcomeKind::kPartiallyAccepted, 2);
  add("d", "t", "// ", "todo", 4000, OutcomeKind::kIgnored);
  add("e", "t", "never ", "shown", 5000, std::nullopt);
  add("a2", "t", "int x = ", "42;", 6000, OutcomeKind::kAccepted, 3);  // the same example again
  auto stats = build_datasets(*store_, options("t"));
  ASSERT_TRUE(stats.ok()) << stats.status().to_string();
  EXPECT_EQ(stats->suggestions, 6);
  EXPECT_EQ(stats->with_outcome, 5);
  EXPECT_EQ(stats->accepted, 2);
  EXPECT_EQ(stats->rejected, 1);
  EXPECT_EQ(stats->partially_accepted, 1);
  EXPECT_EQ(stats->ignored, 1);
  EXPECT_GE(stats->duplicates_dropped, 2);

  const fs::path out = root_ / "out-t" / "train";
  auto sft = rows(out / "sft.jsonl");
  ASSERT_EQ(sft.size(), 3u);  // a (once), b's real text, c's accepted part
  EXPECT_EQ(sft[0]["prompt"], "<P>int x = <S>\n}<M>");
  EXPECT_EQ(sft[0]["completion"], "42;");
  EXPECT_EQ(sft[1]["completion"], "value;");
  EXPECT_EQ(sft[2]["completion"], "a,");
  auto pairs = rows(out / "preferences.jsonl");
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0]["chosen"], "value;");
  EXPECT_EQ(pairs[0]["rejected"], "nullptr;");
  EXPECT_EQ(pairs[1]["chosen"], "a,");
  auto unpaired = rows(out / "unpaired.jsonl");
  ASSERT_EQ(unpaired.size(), 2u);
  EXPECT_EQ(unpaired[0]["label"], true);
  EXPECT_EQ(unpaired[1]["label"], false);
  auto rewards = rows(out / "rewards.jsonl");
  ASSERT_EQ(rewards.size(), 5u);  // a, b, c, d, a2 (each shown suggestion counts)
  EXPECT_DOUBLE_EQ(rewards[0]["reward"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(rewards[1]["reward"].get<double>(), -0.25);
  EXPECT_NEAR(rewards[2]["reward"].get<double>(), 0.75 * 2 / 6, 1e-12);
  EXPECT_DOUBLE_EQ(rewards[3]["reward"].get<double>(), 0.0);
  EXPECT_EQ(rewards[0]["group"], rewards[4]["group"]);  // same cursor point
  EXPECT_NE(rewards[0]["group"], rewards[1]["group"]);
  EXPECT_TRUE(fs::exists(root_ / "out-t" / "summary.json"));
}

TEST_F(DatasetsTest, TimeSplitAndTenants) {
  add("a", "t", "one ", "1", 1000, OutcomeKind::kAccepted, 1);
  add("b", "t", "two ", "2", 2000, OutcomeKind::kAccepted, 1);
  add("c", "other", "three ", "3", 1500, OutcomeKind::kAccepted, 1);
  DatasetOptions o = options("t");
  o.valid_since_ms = 2000;
  auto stats = build_datasets(*store_, o);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(rows(o.out / "train" / "sft.jsonl").size(), 1u);
  EXPECT_EQ(rows(o.out / "valid" / "sft.jsonl").size(), 1u);
  EXPECT_EQ(stats->suggestions, 2);  // the other tenant's event is not seen
}

TEST_F(DatasetsTest, ASessionTakesOnlyItsOwnEvents) {
  // A cycle learns from its collect run only: another writer's rows, even
  // with the same source and time, stay out.
  add("run-1", "", "mine ", "1", 1000, OutcomeKind::kAccepted, 1, {}, "collect-cycle-1-5f3a");
  add("other-1", "", "theirs ", "2", 1000, OutcomeKind::kAccepted, 1, std::string("POISON"), "collect-cycle-1");
  DatasetOptions o = options("");
  o.session = "collect-cycle-1-5f3a";
  auto stats = build_datasets(*store_, o);
  ASSERT_TRUE(stats.ok()) << stats.status().to_string();
  EXPECT_EQ(stats->suggestions, 1);
  const auto sft = rows(o.out / "train" / "sft.jsonl");
  ASSERT_EQ(sft.size(), 1u);
  EXPECT_EQ(sft[0]["completion"], "1");
}

TEST_F(DatasetsTest, NoEventsGiveEmptyFilesAndARendererErrorStops) {
  auto empty = build_datasets(*store_, options("nobody"));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->suggestions, 0);
  EXPECT_TRUE(rows(root_ / "out-nobody" / "train" / "sft.jsonl").empty());
  add("a", "t", "x", "y", 1, OutcomeKind::kAccepted, 1);
  DatasetOptions o = options("t");
  o.render = [](const FimContext&) -> Result<std::string> { return Status::unsupported("no FIM layout"); };
  EXPECT_EQ(build_datasets(*store_, o).status().code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace flywheel::feedback
