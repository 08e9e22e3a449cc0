// API keys at the HTTP edge: 401 without a valid key once keys exist, 403
// for admin routes without the admin flag (always: also before any key
// exists and after the last is revoked), 429 with Retry-After over the
// quota, hot swap through the admin route (registered models and --swap-dir
// only, one at a time, errors without paths), and events and prompt-cache
// entries kept per tenant.
#include "feedback/auth.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "feedback/store.h"
#include "registry/registry.h"
#include "tests/serve/serve_test_util.h"

namespace flywheel::serve {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = fs::temp_directory_path() / ("flywheel_serve_auth_" + std::to_string(getpid()) + ".db");
    swap_dir_ = fs::temp_directory_path() / ("flywheel_serve_auth_swaps_" + std::to_string(getpid()));
    remove_files();
    fs::create_directories(swap_dir_);
    auto store = feedback::open_store(db_.string());
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    user_ = (*store)->create_key("acme", 0, 0, false)->secret;
    limited_ = (*store)->create_key("slowco", 1, 0, false)->secret;
    other_ = (*store)->create_key("beta", 0, 0, false)->secret;
    admin_ = (*store)->create_key("ops", 0, 0, true)->secret;
  }
  void TearDown() override {
    server_.reset();
    remove_files();
  }
  void remove_files() {
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db_.string() + suffix);
    fs::remove_all(swap_dir_);
  }
  void start(ServerOptions options = {}) {
    options.db_url = db_.string();
    options.swap_dirs = {swap_dir_.string()};
    server_ = std::make_unique<testing::TestServer>(options);
  }
  // Polls GET /admin/swap/JOB until it is no longer loading.
  json wait_for_job(httplib::Client& admin, const std::string& job) {
    json state;
    for (int i = 0; i < 400; ++i) {
      state = testing::json_of(admin.Get(("/admin/swap/" + job).c_str()));
      if (state["state"] != "loading") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return state;
  }

  fs::path db_, swap_dir_;
  std::string user_, limited_, other_, admin_;
  std::unique_ptr<testing::TestServer> server_;
};

TEST_F(AuthTest, KeysQuotasAdminAndTenants) {
  start();
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
  // The bias makes the suggestion non-empty, so it is recorded whatever the
  // random model would have said.
  auto completion = user->Post("/v1/completions",
                               json{{"prompt", "def f(x):\n    return "},
                                    {"suffix", "\n"},
                                    {"max_tokens", 6},
                                    {"single_line", false},
                                    {"temperature", 0},
                                    {"logit_bias", testing::always_write(*server_)}}
                                   .dump(),
                               "application/json");
  ASSERT_TRUE(completion);
  ASSERT_EQ(completion->status, 200) << completion->body;
  const std::string id = testing::json_of(completion)["id"];
  ASSERT_EQ(testing::json_of(completion)["choices"][0]["text"], "aaaaaa") << completion->body;
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

  // Hot swap by an admin, to a checkpoint under --swap-dir.
  auto admin = server_->client(admin_);
  fs::copy(testing::tiny_model_dir(), swap_dir_ / "tiny-v2", fs::copy_options::recursive);
  auto swapped =
      admin->Post("/admin/swap", json{{"model", (swap_dir_ / "tiny-v2").string()}}.dump(), "application/json");
  ASSERT_TRUE(swapped);
  ASSERT_EQ(swapped->status, 202) << swapped->body;
  json state = wait_for_job(*admin, testing::json_of(swapped)["job"]);
  EXPECT_EQ(state["state"], "done") << state;
  EXPECT_EQ(state["id"], "tiny-v2");
  auto served = user->Post("/v1/completions", json{{"prompt", "x"}, {"max_tokens", 1}}.dump(), "application/json");
  EXPECT_EQ(testing::json_of(served)["model"], "tiny-v2");

  // The user's suggestion belongs to its tenant only: another tenant's
  // outcome for it is refused, as for an id that never existed.
  auto foreign = admin->Post("/v1/feedback", json{{"id", id}, {"kind", "rejected"}}.dump(), "application/json");
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 404) << foreign->body;
  EXPECT_EQ(testing::json_of(foreign)["error"]["param"], "id");
  server_.reset();  // flushes the events
  auto store = feedback::open_store(db_.string());
  ASSERT_TRUE(store.ok());
  feedback::EventQuery acme;
  acme.tenant = "acme";
  auto events = (*store)->events(acme);
  ASSERT_TRUE(events.ok());
  const feedback::SuggestionWithOutcomes* mine = nullptr;
  for (const auto& e : *events)
    if (e.suggestion.id == id) mine = &e;
  ASSERT_NE(mine, nullptr);
  EXPECT_EQ(mine->suggestion.tenant, "acme");
  EXPECT_EQ(mine->suggestion.text, "aaaaaa");
  EXPECT_TRUE(mine->outcomes.empty());
  feedback::EventQuery ops;
  ops.tenant = "ops";
  auto ops_events = (*store)->events(ops);
  ASSERT_TRUE(ops_events.ok());
  for (const auto& e : *ops_events) EXPECT_NE(e.suggestion.id, id);
}

TEST_F(AuthTest, SwapLoadsOnlyRegisteredModelsOrSwapDirsAndSaysNothingOfPaths) {
  ServerOptions options;
  options.load.dtype = WeightDtype::kBFloat16;  // the swap must load as the server does
  start(options);
  auto admin = server_->client(admin_);
  auto expect_refused = [&](const std::string& model) -> std::string {
    auto r = admin->Post("/admin/swap", json{{"model", model}, {"wait", true}}.dump(), "application/json");
    if (!r) {
      ADD_FAILURE() << "no answer for " << model;
      return {};
    }
    EXPECT_EQ(r->status, 404) << model << ": " << r->body;
    EXPECT_EQ(testing::json_of(r)["error"]["code"], "model_not_found") << r->body;
    return r->body;
  };
  // A real checkpoint outside --swap-dir, a path that does not exist, one that
  // climbs out of the swap dir, and a file: the same answer, nothing loaded.
  const std::string outside = expect_refused(testing::tiny_model_dir().string());
  const std::string missing = expect_refused("/nonexistent/model");
  expect_refused((swap_dir_ / ".." / testing::tiny_model_dir().filename()).string());
  expect_refused("/etc/passwd");
  EXPECT_EQ(outside.find("config.json"), std::string::npos) << outside;
  EXPECT_EQ(missing.find("No such file"), std::string::npos) << missing;
  EXPECT_EQ(testing::json_of(server_->client(user_)->Get("/health"))["model"], "tiny");

  // A directory under --swap-dir that holds no checkpoint fails to load; the
  // answer says so without the loader's message (which names files).
  fs::create_directories(swap_dir_ / "broken");
  auto broken = admin->Post("/admin/swap", json{{"model", (swap_dir_ / "broken").string()}, {"wait", true}}.dump(),
                            "application/json");
  ASSERT_TRUE(broken);
  EXPECT_EQ(broken->status, 400) << broken->body;
  EXPECT_EQ(broken->body.find("config.json"), std::string::npos) << broken->body;
  EXPECT_EQ(broken->body.find("safetensors"), std::string::npos) << broken->body;

  // A registered model, by id, loads with the server's options (bf16).
  {
    auto registry = registry::Registry::open(db_.string());
    ASSERT_TRUE(registry.ok()) << registry.status().to_string();
    ASSERT_TRUE((*registry)->add(testing::tiny_model_dir().string(), "", "tiny-registered").ok());
  }
  auto registered =
      admin->Post("/admin/swap", json{{"model", "tiny-registered"}, {"wait", true}}.dump(), "application/json");
  ASSERT_TRUE(registered);
  ASSERT_EQ(registered->status, 200) << registered->body;
  auto now = server_->server().models().resolve("auto");
  ASSERT_NE(now, nullptr);
  EXPECT_EQ(now->id, "tiny-registered");
  EXPECT_EQ(now->model->weight_dtype(), WeightDtype::kBFloat16);
}

TEST_F(AuthTest, OneSwapLoadsAtATime) {
  start();
  auto admin = server_->client(admin_);
  // A checkpoint whose config.json is a FIFO: its load blocks in open()
  // until the test writes the file, so "while a swap is loading" is a state
  // the test holds, not a race it hopes to win.
  const fs::path slow = swap_dir_ / "slow";
  fs::copy(testing::tiny_model_dir(), slow, fs::copy_options::recursive);
  std::string config;
  {
    std::ifstream in(slow / "config.json");
    config.assign(std::istreambuf_iterator<char>(in), {});
  }
  fs::remove(slow / "config.json");
  ASSERT_EQ(mkfifo((slow / "config.json").c_str(), 0600), 0);
  const std::string body = json{{"model", slow.string()}}.dump();
  auto first = admin->Post("/admin/swap", body, "application/json");
  auto second = admin->Post("/admin/swap", body, "application/json");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 202) << first->body;       // else no reader would ever open the FIFO
  { std::ofstream(slow / "config.json") << config; }  // lets the load go on (whatever the second got)
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 409) << second->body;
  EXPECT_EQ(testing::json_of(second)["error"]["code"], "swap_in_progress") << second->body;
  EXPECT_EQ(wait_for_job(*admin, testing::json_of(first)["job"])["state"], "done");
  // Once it has finished, the next swap is taken (config.json is a plain file again).
  fs::remove(slow / "config.json");
  { std::ofstream(slow / "config.json") << config; }
  auto third = admin->Post("/admin/swap", json{{"model", slow.string()}, {"wait", true}}.dump(), "application/json");
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 200) << third->body;
}

TEST_F(AuthTest, NoKeyMeansNoAdminAndRevokingTheLastKeyKeepsItSo) {
  // Revoke every key: the server is back to "no key", which must not open
  // the admin routes to anonymous callers nor to the revoked admin key.
  {
    auto store = feedback::open_store(db_.string());
    ASSERT_TRUE(store.ok());
    auto keys = (*store)->list_keys("");
    ASSERT_TRUE(keys.ok());
    for (const auto& k : *keys) ASSERT_TRUE((*store)->revoke_key(k.id).ok());
  }
  start();
  fs::copy(testing::tiny_model_dir(), swap_dir_ / "next", fs::copy_options::recursive);
  const std::string body = json{{"model", (swap_dir_ / "next").string()}, {"wait", true}}.dump();
  for (const std::string& key : {std::string(), admin_}) {
    auto swap = server_->client(key)->Post("/admin/swap", body, "application/json");
    ASSERT_TRUE(swap);
    EXPECT_EQ(swap->status, 403) << "key '" << key << "': " << swap->body;
  }
  EXPECT_EQ(server_->server().models().resolve("auto")->id, "tiny");
  // Completions are still served to this machine's user (the test client is
  // on loopback).
  auto completion =
      server_->client()->Post("/v1/completions", json{{"prompt", "x"}, {"max_tokens", 1}}.dump(), "application/json");
  ASSERT_TRUE(completion);
  EXPECT_EQ(completion->status, 200) << completion->body;
}

TEST_F(AuthTest, OnlyAnAdminKeyRecordsReplayTraffic) {
  start();
  // The cycle and live learning tell editor traffic from replay by `source`:
  // a tenant's key claiming "replay" is refused, not recorded as it says.
  const auto claim = [&](const std::string& key) {
    return server_->client(key)->Post("/v1/completions",
                                      json{{"prompt", "x"},
                                           {"max_tokens", 2},
                                           {"logit_bias", testing::always_write(*server_)},
                                           {"flywheel", {{"source", "replay"}, {"session", "claimed"}}}}
                                          .dump(),
                                      "application/json");
  };
  auto tenant = claim(user_);
  ASSERT_TRUE(tenant);
  EXPECT_EQ(tenant->status, 403) << tenant->body;
  EXPECT_EQ(testing::json_of(tenant)["error"]["param"], "flywheel.source") << tenant->body;
  auto admin = claim(admin_);
  ASSERT_TRUE(admin);
  ASSERT_EQ(admin->status, 200) << admin->body;
  server_.reset();  // flushes the events
  auto store = feedback::open_store(db_.string());
  ASSERT_TRUE(store.ok());
  for (const char* tenant_name : {"acme", "ops"}) {
    feedback::EventQuery query;
    query.tenant = tenant_name;
    query.source = "replay";
    auto events = (*store)->events(query);
    ASSERT_TRUE(events.ok());
    EXPECT_EQ(events->size(), tenant_name == std::string("ops") ? 1u : 0u) << tenant_name;
  }
}

TEST_F(AuthTest, ThePromptCacheIsNotSharedAcrossTenants) {
  start();
  // llama.cpp's /infill reports tokens_cached: what a guessed prefix shares
  // with a cached prompt. Another tenant's prompt must never count.
  const json body = {{"input_prefix", "import os\n\ndef secret_function(api_token):\n    return "},
                     {"input_suffix", "\n"},
                     {"n_predict", 1},
                     {"temperature", 0}};
  auto acme = server_->client(user_);
  auto first = acme->Post("/infill", body.dump(), "application/json");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  auto again = acme->Post("/infill", body.dump(), "application/json");
  ASSERT_TRUE(again);
  EXPECT_GT(testing::json_of(again)["tokens_cached"].get<int>(), 8) << "the same tenant reuses its cache";
  auto beta = server_->client(other_)->Post("/infill", body.dump(), "application/json");
  ASSERT_TRUE(beta);
  ASSERT_EQ(beta->status, 200) << beta->body;
  EXPECT_EQ(testing::json_of(beta)["tokens_cached"], 0) << beta->body;
}

TEST_F(AuthTest, GuessedKeysGet429BeforeTheDatabase) {
  start();
  // Each guess misses the lookup cache; past kFailedLookupsPerMinute of them
  // (the loop takes far less than the 2 s one more needs to refill) the
  // address is refused without a lookup; a key it used within the cache's
  // TTL (5 s) still works (one it did not would wait for the refill too).
  ASSERT_EQ(server_->client(user_)->Get("/v1/models")->status, 200);
  int refused = 0;
  std::string retry_after;
  for (int i = 0; i < feedback::kFailedLookupsPerMinute + 10; ++i) {
    auto r = server_->client("fw-" + std::string(40, 'G') + std::to_string(100 + i))->Get("/v1/models");
    ASSERT_TRUE(r);
    if (r->status == 429) {
      ++refused;
      retry_after = r->get_header_value("Retry-After");
    } else {
      EXPECT_EQ(r->status, 401) << r->body;
    }
  }
  EXPECT_GE(refused, 9);
  EXPECT_EQ(retry_after, "2");
  EXPECT_EQ(server_->client(user_)->Get("/v1/models")->status, 200);
}

}  // namespace
}  // namespace flywheel::serve
