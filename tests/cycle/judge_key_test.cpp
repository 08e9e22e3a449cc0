// The judge cache's key: the weights by content (not by path), and every
// setting that changes a judge report.
#include "cycle/judge_key.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

namespace flywheel::cycle {
namespace {

namespace fs = std::filesystem;

fs::path fake_checkpoint(const fs::path& dir, const std::string& weights) {
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << "{\"hidden_size\": 8}";
  std::ofstream(dir / "tokenizer.json") << "{}";
  std::ofstream(dir / "model.safetensors") << weights;
  return dir;
}

TEST(JudgeKey, WeightsAreHashedByContentNotByPath) {
  const fs::path root = fs::temp_directory_path() / ("flywheel_judge_key_" + std::to_string(getpid()));
  fs::remove_all(root);
  auto a = weights_hash(fake_checkpoint(root / "cycle-1" / "model", "weights v1"));
  auto copy = weights_hash(fake_checkpoint(root / "elsewhere", "weights v1"));
  ASSERT_TRUE(a.ok() && copy.ok());
  EXPECT_EQ(*a, *copy);
  // A redone cycle writes new weights into the same directory.
  auto redone = weights_hash(fake_checkpoint(root / "cycle-1" / "model", "weights v2"));
  ASSERT_TRUE(redone.ok());
  EXPECT_NE(*redone, *a);
  std::ofstream(root / "elsewhere" / "tokenizer.json") << "{\"added_tokens\": []}";
  EXPECT_NE(*weights_hash(root / "elsewhere"), *a);
  fs::remove(root / "elsewhere" / "model.safetensors");
  EXPECT_FALSE(weights_hash(root / "elsewhere").ok());
  fs::remove_all(root);
}

TEST(JudgeKey, EverySettingThatChangesTheReportChangesTheKey) {
  const JudgeSettings base{"a..b", "decision", 12, 0, 0.0f, 0.0f};
  std::vector<JudgeSettings> changed(6, base);
  changed[0].range = "a..c";
  changed[1].set = "report";
  changed[2].hunks = 13;
  changed[3].seed = 1;
  changed[4].min_token_prob = 0.3f;
  changed[5].min_show_prob = 0.1f;
  std::set<std::string> keys = {judge_key("w", base), judge_key("w2", base)};
  for (const JudgeSettings& s : changed) keys.insert(judge_key("w", s));
  EXPECT_EQ(keys.size(), 8u);  // all different
  EXPECT_EQ(judge_key("w", base), judge_key("w", base));
}

}  // namespace
}  // namespace flywheel::cycle
