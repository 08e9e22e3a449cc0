// Replay events in the feedback store (the --model --db path): one
// suggestion per request, one outcome per shown suggestion, source "replay".
#include <gtest/gtest.h>

#include "feedback/event_writer.h"
#include "feedback/store.h"
#include "tests/eval/eval_test_util.h"

namespace flywheel::eval {
namespace {
using eval_test::TempDir;
using eval_test::TestRepo;

TEST(Recording, SuggestionsAndOutcomesReachTheStore) {
  TempDir dir;
  TestRepo repo(dir.path() / "repo");
  const std::string base = repo.commit({{"a.py", "x = 1\n"}}, "base");
  repo.commit({{"a.py", "x = 1\nab cd\n  ef(g)\n"}}, "add");
  const std::string range = base + "..HEAD";
  auto store = feedback::open_store((dir.path() / "events.db").string());
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  auto writer = std::make_shared<feedback::EventWriter>(**store);
  auto backend = recording_backend_factory(
      eval_test::scripted_factory(eval_test::oracle(eval_test::hunk_texts(dir.path() / "repo", range))), writer,
      "tiny-test-model");
  ReplayOptions o;
  o.repo = dir.path() / "repo";
  o.range = range;
  o.run_id = "rec-run";
  o.show_progress = false;
  auto report = run_replay(o, backend);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  ASSERT_TRUE(writer->flush().ok());

  feedback::EventQuery query;
  query.source = "replay";
  auto events = (*store)->events(query);
  ASSERT_TRUE(events.ok()) << events.status().to_string();
  ASSERT_EQ(static_cast<int64_t>(events->size()), report->totals.requests);  // 3, see replay_test.cpp
  int64_t outcomes = 0;
  for (const auto& e : *events) {
    EXPECT_EQ(e.suggestion.source, "replay");
    EXPECT_EQ(e.suggestion.session, "rec-run");
    EXPECT_EQ(e.suggestion.model_id, "tiny-test-model");
    EXPECT_EQ(e.suggestion.path, "a.py");
    EXPECT_EQ(e.suggestion.language, "python");
    EXPECT_EQ(e.suggestion.prefix_window.size(), static_cast<size_t>(e.suggestion.cursor));
    for (const auto& outcome : e.outcomes) {
      ++outcomes;
      EXPECT_EQ(outcome.kind, feedback::OutcomeKind::kAccepted);
      EXPECT_EQ(outcome.accepted_length, static_cast<int64_t>(e.suggestion.text.size()));
      ASSERT_TRUE(outcome.final_text.has_value());
      EXPECT_EQ(*outcome.final_text, e.suggestion.text);
    }
  }
  EXPECT_EQ(outcomes, report->totals.shown);
}

}  // namespace
}  // namespace flywheel::eval
