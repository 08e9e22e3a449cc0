// API keys at the HTTP edge: 401 without a valid key once keys exist, 403
// for admin routes without the admin flag, 429 with Retry-After over the
// quota, hot swap through the admin route, and events kept per tenant.
#include <gtest/gtest.h>

#include "feedback/store.h"
#include "tests/serve/serve_test_util.h"

namespace flywheel::serve {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = fs::temp_directory_path() / ("flywheel_serve_auth_" + std::to_string(getpid()) + ".db");
    fs::remove(db_);
    auto store = feedback::open_store(db_.string());
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    user_ = (*store)->create_key("acme", 0, 0, false)->secret;
    limited_ = (*store)->create_key("slowco", 1, 0, false)->secret;
    admin_ = (*store)->create_key("ops", 0, 0, true)->secret;
    ServerOptions options;
    options.db_url = db_.string();
    server_ = std::make_unique<testing::TestServer>(options);
  }
  void TearDown() override {
    server_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db_.string() + suffix);
  }

  fs::path db_;
  std::string user_, limited_, admin_;
  std::unique_ptr<testing::TestServer> server_;
};

TEST_F(AuthTest, KeysQuotasAdminAndTenants) {
  auto anonymous = server_->client()->Get("/v1/models");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(anonymous->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(testing::json_of(anonymous)["error"]["code"], "invalid_api_key");
  auto wrong = server_->client("fw-" + std::string(43, 'A'))->Get("/v1/models");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  // Health and metrics stay open for load balancers and scrapers.
  EXPECT_EQ(server_->client()->Get("/health")->status, 200);
  EXPECT_EQ(server_->client()->Get("/metrics")->status, 200);

  auto user = server_->client(user_);
  EXPECT_EQ(user->Get("/v1/models")->status, 200);
  auto completion = user->Post(
      "/v1/completions",
      json{{"prompt", "def f(x):\n    return "}, {"suffix", "\n"}, {"max_tokens", 6}, {"single_line", false}}.dump(),
      "application/json");
  ASSERT_TRUE(completion);
  ASSERT_EQ(completion->status, 200) << completion->body;
  const std::string id = testing::json_of(completion)["id"];
  const std::string text = testing::json_of(completion)["choices"][0]["text"];
  auto swap_denied = user->Post("/admin/swap", json{{"model", "/nonexistent"}}.dump(), "application/json");
  ASSERT_TRUE(swap_denied);
  EXPECT_EQ(swap_denied->status, 403);

  // rpm = 1: the second request of the minute waits.
  auto limited = server_->client(limited_);
  EXPECT_EQ(limited->Get("/v1/models")->status, 200);
  auto refused = limited->Get("/v1/models");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429);
  EXPECT_GE(std::stoi(refused->get_header_value("Retry-After")), 1);
  EXPECT_EQ(testing::json_of(refused)["error"]["type"], "rate_limit_error");

  // Hot swap by an admin: a failing load reports its error, a good one serves.
  auto admin = server_->client(admin_);
  auto failed = admin->Post("/admin/swap", json{{"model", "/nonexistent"}, {"wait", true}}.dump(), "application/json");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 400) << failed->body;
  auto swapped = admin->Post(
      "/admin/swap", json{{"model", testing::tiny_model_dir().string()}, {"id", "tiny-v2"}}.dump(), "application/json");
  ASSERT_TRUE(swapped);
  ASSERT_EQ(swapped->status, 202) << swapped->body;
  const std::string job = testing::json_of(swapped)["job"];
  json state;
  for (int i = 0; i < 200; ++i) {
    state = testing::json_of(admin->Get(("/admin/swap/" + job).c_str()));
    if (state["state"] != "loading") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(state["state"], "done") << state;
  EXPECT_EQ(state["id"], "tiny-v2");
  auto served = user->Post("/v1/completions", json{{"prompt", "x"}, {"max_tokens", 1}}.dump(), "application/json");
  EXPECT_EQ(testing::json_of(served)["model"], "tiny-v2");

  // The user's suggestion belongs to its tenant only; an outcome from
  // another tenant does not attach to it.
  EXPECT_EQ(admin->Post("/v1/feedback", json{{"id", id}, {"kind", "rejected"}}.dump(), "application/json")->status,
            200);
  server_.reset();  // flushes the events
  auto store = feedback::open_store(db_.string());
  ASSERT_TRUE(store.ok());
  feedback::EventQuery acme;
  acme.tenant = "acme";
  auto events = (*store)->events(acme);
  ASSERT_TRUE(events.ok());
  if (text.empty()) return;
  const feedback::SuggestionWithOutcomes* mine = nullptr;
  for (const auto& e : *events)
    if (e.suggestion.id == id) mine = &e;
  ASSERT_NE(mine, nullptr);
  EXPECT_EQ(mine->suggestion.tenant, "acme");
  EXPECT_TRUE(mine->outcomes.empty());
  feedback::EventQuery ops;
  ops.tenant = "ops";
  auto ops_events = (*store)->events(ops);
  ASSERT_TRUE(ops_events.ok());
  for (const auto& e : *ops_events) EXPECT_NE(e.suggestion.id, id);
}

}  // namespace
}  // namespace flywheel::serve
