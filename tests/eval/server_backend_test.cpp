// The server backend's side of the HTTP protocol, against a small
// cpp-httplib server in the test that answers like `flywheel serve`: what the
// completion and feedback requests carry, and the errors a user sees.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "tests/eval/eval_test_util.h"

namespace flywheel::eval {
namespace {
using eval_test::TempDir;
using eval_test::TestRepo;
using nlohmann::json;

// Completes with the rest of the cursor's line in `final_text` (an oracle for
// a one-hunk commit, whose prefix is always a prefix of the final file).
class FakeServer {
 public:
  explicit FakeServer(std::string final_text, int completion_status = 200) : final_(std::move(final_text)) {
    server_.Post("/v1/completions", [this, completion_status](const httplib::Request& req, httplib::Response& res) {
      const json body = json::parse(req.body);
      std::lock_guard lock(mutex_);
      completions.push_back(body);
      if (completion_status != 200) {
        res.status = completion_status;
        res.set_content(R"({"error": {"message": "model exploded", "type": "server_error"}})", "application/json");
        return;
      }
      const size_t cursor = body["flywheel"]["cursor"].get<size_t>();
      const std::string text = final_.substr(cursor, final_.find('\n', cursor) - cursor);
      const std::string id = "cmpl-" + std::to_string(completions.size());
      res.set_content(
          json{{"id", id}, {"object", "text_completion"}, {"choices", {{{"index", 0}, {"text", text}}}}}.dump(),
          "application/json");
    });
    server_.Post("/v1/feedback", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      feedback.push_back(json::parse(req.body));
      res.set_content("{}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::vector<json> completions, feedback;

 private:
  std::string final_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
};

struct OneHunkRepo {
  TempDir dir;
  TestRepo repo{dir.path()};
  std::string final_text = "x = 1\nab cd\n  ef(g)\n";
  std::string range = repo.commit({{"a.py", "x = 1\n"}}, "base") + "..HEAD";
  OneHunkRepo() { repo.commit({{"a.py", final_text}}, "add"); }
};

ReplayOptions options_for(const OneHunkRepo& r) {
  ReplayOptions o;
  o.repo = r.dir.path();
  o.range = r.range;
  o.run_id = "server-run";
  o.show_progress = false;
  return o;
}

TEST(ServerBackend, CompletionsCarryTheEventContextAndOutcomesAreReported) {
  OneHunkRepo r;
  FakeServer server(r.final_text);
  ServerBackendOptions s;
  s.url = server.url();
  auto factory = server_backend_factory(s);
  ASSERT_TRUE(factory.ok()) << factory.status().to_string();
  auto report = run_replay(options_for(r), *factory);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  // The same hand count as the scripted oracle (replay_test.cpp).
  EXPECT_EQ(report->totals.requests, 3);
  EXPECT_EQ(report->totals.accepted, 2);
  ASSERT_EQ(server.completions.size(), 3u);
  const json& first = server.completions[0];
  EXPECT_EQ(first["model"], "auto");
  EXPECT_EQ(first["prompt"], "x = 1\n");
  EXPECT_EQ(first["suffix"], "");
  EXPECT_EQ(first["max_tokens"], 64);
  EXPECT_EQ(first["temperature"], 0.0);
  EXPECT_TRUE(first["seed"].is_number_integer());
  EXPECT_EQ(first["single_line"], false);                 // a line start
  EXPECT_EQ(server.completions[1]["single_line"], true);  // after "ab cd"
  const json& context = first["flywheel"];
  EXPECT_EQ(context["source"], "replay");
  EXPECT_EQ(context["session"], "server-run");
  EXPECT_EQ(context["path"], "a.py");
  EXPECT_EQ(context["language"], "python");
  EXPECT_EQ(context["cursor"], 6);
  EXPECT_EQ(context["repo"], r.dir.path().filename().string());

  ASSERT_EQ(server.feedback.size(), 2u);  // the empty suggestion was not shown
  EXPECT_EQ(server.feedback[0]["id"], "cmpl-1");
  EXPECT_EQ(server.feedback[0]["kind"], "accepted");
  EXPECT_EQ(server.feedback[0]["accepted_length"], 5);
  EXPECT_EQ(server.feedback[0]["final_text"], "ab cd");
  EXPECT_EQ(server.feedback[1]["id"], "cmpl-3");
  EXPECT_GT(report->latency_p50_ms, 0);
}

TEST(ServerBackend, ServerErrorsAndUnreachableServersStopTheReplay) {
  OneHunkRepo r;
  {
    FakeServer failing(r.final_text, 500);
    ServerBackendOptions s;
    s.url = failing.url();
    auto report = run_replay(options_for(r), *server_backend_factory(s));
    EXPECT_EQ(report.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(report.status().message().find("HTTP 500"), std::string::npos) << report.status().message();
    EXPECT_NE(report.status().message().find("model exploded"), std::string::npos);
  }
  ServerBackendOptions s;
  s.url = "http://127.0.0.1:1";  // nothing listens on port 1
  s.timeout_seconds = 5;
  auto report = run_replay(options_for(r), *server_backend_factory(s));
  EXPECT_EQ(report.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(report.status().message().find("cannot reach"), std::string::npos) << report.status().message();

  s.url = "ftp://example.com";
  EXPECT_EQ(server_backend_factory(s).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace flywheel::eval
