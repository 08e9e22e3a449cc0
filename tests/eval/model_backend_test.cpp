// Replay against a real (tiny, random) checkpoint in this process: prompts
// that fit its small context, the single-line rule, repeatable greedy
// results, one model per thread or one shared.
#include <gtest/gtest.h>

#include "eval/typing.h"
#include "tests/common/tiny_model.h"
#include "tests/eval/eval_test_util.h"

namespace flywheel::eval {
namespace {
using eval_test::TempDir;
using eval_test::TestRepo;

std::filesystem::path tiny_model() {
  static const std::filesystem::path dir =
      flywheel::testing::make_tiny_model(std::filesystem::path(FLYWHEEL_BINARY_DIR) / "eval_tiny_model");
  return dir;
}

ReplayOptions small_replay(const std::filesystem::path& repo, const std::string& range) {
  ReplayOptions o;
  o.repo = repo;
  o.range = range;
  o.seed = 3;
  o.run_id = "model-test";
  o.max_suggestions = 12;
  o.show_progress = false;
  o.bootstrap_resamples = 100;
  return o;
}

TEST(ModelBackend, CompletesLongFilesWithinTheContext) {
  ModelBackendOptions m;
  m.model_dir = tiny_model();
  m.generation.max_tokens = 8;
  m.generation.temperature = 1.0f;  // the random model's greedy choice is to stop at once
  auto factory = model_backend_factory(m);
  ASSERT_TRUE(factory.ok()) << factory.status().to_string();
  auto backend = (*factory)();
  ASSERT_TRUE(backend.ok()) << backend.status().to_string();
  CompletionQuery q;
  for (int i = 0; i < 400; ++i) q.prefix += "value_" + std::to_string(i) + " = compute(" + std::to_string(i) + ")\n";
  q.suffix = q.prefix;  // ~10 KB each side: far beyond the tiny model's 512 tokens
  q.prefix += "result = ";
  q.single_line = true;
  q.session = "s";
  q.request_key = "k@1";
  q.seed = 1;
  auto completion = (*backend)->complete(q);
  ASSERT_TRUE(completion.ok()) << completion.status().to_string();
  EXPECT_FALSE(completion->text.empty());
  EXPECT_EQ(completion->text.find('\n'), std::string::npos);  // single line
  EXPECT_GT(completion->latency_ms, 0);
  EXPECT_EQ(completion->id, "s-k@1");
  auto again = (*backend)->complete(q);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->text, completion->text);  // the same seed
}

TEST(ModelBackend, ReplayIsRepeatableAndThreadsAgree) {
  TempDir dir;
  TestRepo repo(dir.path());
  const std::string range = eval_test::make_python_history(repo) + "..HEAD";
  ModelBackendOptions m;
  m.model_dir = tiny_model();
  m.generation.max_tokens = 12;
  m.generation.temperature = 1.0f;
  auto per_worker = model_backend_factory(m);
  m.model_per_worker = false;
  auto shared = model_backend_factory(m);
  ASSERT_TRUE(per_worker.ok() && shared.ok());

  ReplayOptions o = small_replay(dir.path(), range);
  auto first = run_replay(o, *per_worker);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  o.threads = 2;
  auto parallel = run_replay(o, *per_worker);
  auto serialized = run_replay(o, *shared);
  ASSERT_TRUE(parallel.ok() && serialized.ok());
  EXPECT_GE(first->totals.requests, 12);
  EXPECT_GT(first->totals.shown, 0);
  EXPECT_GT(first->latency_p50_ms, 0);
  EXPECT_GE(first->latency_p99_ms, first->latency_p50_ms);
  // Counts per hunk (latencies aside) are the same however the work is spread.
  for (const ReplayReport* other : {&*parallel, &*serialized}) {
    ASSERT_EQ(other->hunks.size(), first->hunks.size());
    for (size_t i = 0; i < first->hunks.size(); ++i) {
      EXPECT_EQ(other->hunks[i].id, first->hunks[i].id);
      EXPECT_EQ(report_to_json(*other)["hunks"][i], report_to_json(*first)["hunks"][i]);
    }
  }
}

TEST(ModelBackend, RejectsACheckpointDirectoryThatDoesNotExist) {
  ModelBackendOptions m;
  m.model_dir = "/nonexistent/model";
  EXPECT_FALSE(model_backend_factory(m).ok());
}

}  // namespace
}  // namespace flywheel::eval
