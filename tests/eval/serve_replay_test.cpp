// Replay through a real `flywheel serve` (serve::Server on a free port, the
// tiny test model): the same path as an editor, so the server's own event
// store ends up with the replay's suggestions (source "replay") and outcomes.
#include <gtest/gtest.h>

#include "feedback/store.h"
#include "serve/server.h"
#include "tests/common/tiny_model.h"
#include "tests/eval/eval_test_util.h"

namespace flywheel::eval {
namespace {
using eval_test::TempDir;
using eval_test::TestRepo;

TEST(ServeReplay, EventsOfAReplayThroughTheServer) {
  TempDir dir;
  TestRepo repo(dir.path() / "repo");
  const std::string range = eval_test::make_python_history(repo) + "..HEAD";
  const std::filesystem::path model =
      flywheel::testing::make_tiny_model(std::filesystem::path(FLYWHEEL_BINARY_DIR) / "eval_tiny_model");
  const std::string db = (dir.path() / "events.db").string();
  ReplayReport report;
  {
    serve::ServerOptions options;
    options.port = 0;
    options.threads = 4;
    options.db_url = db;
    options.auth = serve::AuthMode::kOff;
    auto server = serve::Server::create(options);
    ASSERT_TRUE(server.ok()) << server.status().to_string();
    ASSERT_TRUE((*server)->serve_model(model.string(), "tiny").ok());
    ASSERT_TRUE((*server)->start().ok());
    ServerBackendOptions s;
    s.url = "http://127.0.0.1:" + std::to_string((*server)->port());
    s.generation.max_tokens = 8;
    s.generation.temperature = 1.0f;  // the random model's greedy choice is to stop at once
    auto factory = server_backend_factory(s);
    ASSERT_TRUE(factory.ok());
    ReplayOptions o;
    o.repo = dir.path() / "repo";
    o.range = range;
    o.run_id = "serve-replay";
    o.max_suggestions = 15;
    o.threads = 1;  // with more, hunks past the cap may be started (their events stay) and then dropped
    o.show_progress = false;
    auto replayed = run_replay(o, *factory);
    ASSERT_TRUE(replayed.ok()) << replayed.status().to_string();
    report = std::move(*replayed);
    (*server)->stop();  // flushes the events
  }
  EXPECT_GE(report.totals.requests, 15);
  auto store = feedback::open_store(db);
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  feedback::EventQuery query;
  query.source = "replay";
  auto events = (*store)->events(query);
  ASSERT_TRUE(events.ok()) << events.status().to_string();
  // The server records every non-empty completion; the replay counts as
  // shown those that are not blank.
  EXPECT_GT(report.totals.shown, 0);
  EXPECT_GE(static_cast<int64_t>(events->size()), report.totals.shown);
  EXPECT_LE(static_cast<int64_t>(events->size()), report.totals.requests);
  int64_t outcomes = 0;
  for (const auto& e : *events) {
    EXPECT_EQ(e.suggestion.session, "serve-replay");
    EXPECT_FALSE(e.suggestion.path.empty());
    outcomes += static_cast<int64_t>(e.outcomes.size());
  }
  EXPECT_EQ(outcomes, report.totals.shown);
}

}  // namespace
}  // namespace flywheel::eval
