// A Server on a free loopback port with the tiny FIM-capable model and a
// fresh SQLite event store, plus helpers to talk to it.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "serve/server.h"
#include "tests/common/tiny_model.h"

namespace flywheel::serve::testing {

namespace fs = std::filesystem;

// Made once per test process, removed at exit.
inline const fs::path& tiny_model_dir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("flywheel_serve_test_model_" + std::to_string(getpid()));
    flywheel::testing::make_tiny_model(d);
    std::atexit(
        [] { fs::remove_all(fs::temp_directory_path() / ("flywheel_serve_test_model_" + std::to_string(getpid()))); });
    return d;
  }();
  return dir;
}

class TestServer {
 public:
  explicit TestServer(ServerOptions options = {}) {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("flywheel_serve_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(dir_);
    options.host = "127.0.0.1";
    options.port = 0;
    if (options.db_url == "flywheel.db") options.db_url = (dir_ / "events.db").string();
    db_url_ = options.db_url;
    auto server = Server::create(options);
    EXPECT_TRUE(server.ok()) << server.status().to_string();
    server_ = std::move(server).value();
    Status loaded = server_->serve_model(tiny_model_dir().string(), "tiny");
    EXPECT_TRUE(loaded.ok()) << loaded.to_string();
    Status started = server_->start();
    EXPECT_TRUE(started.ok()) << started.to_string();
  }
  ~TestServer() {
    server_.reset();
    fs::remove_all(dir_);
  }

  Server& server() { return *server_; }
  int port() const { return server_->port(); }
  const std::string& db_url() const { return db_url_; }
  std::unique_ptr<httplib::Client> client(const std::string& key = "") const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    c->set_read_timeout(60);
    if (!key.empty()) c->set_bearer_token_auth(key.c_str());
    return c;
  }

 private:
  fs::path dir_;
  std::string db_url_;
  std::unique_ptr<Server> server_;
};

// The payloads of an SSE body ("data: X\n\n" each); fails the test on any
// other framing.
inline std::vector<std::string> sse_payloads(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t end = body.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos) << "unterminated event at " << pos;
    if (end == std::string::npos) break;
    const std::string event = body.substr(pos, end - pos);
    EXPECT_TRUE(event.starts_with("data: ")) << event;
    out.push_back(event.substr(6));
    pos = end + 2;
  }
  return out;
}

// A logit_bias that makes the tiny model write `piece`'s first token at
// every step: its random weights may otherwise end with EOS at once, and an
// empty completion records no suggestion. The tokenizer is the same for
// every id the test server serves the tiny checkpoint under.
inline nlohmann::json always_write(TestServer& server, const std::string& piece = "a") {
  auto model = server.server().models().resolve("auto");
  EXPECT_NE(model, nullptr);
  if (model == nullptr) return nlohmann::json::object();
  const std::vector<TokenId> ids = model->tokenizer().encode(piece, /*add_special_tokens=*/false);
  EXPECT_FALSE(ids.empty());
  return {{std::to_string(ids.empty() ? 0 : ids.front()), 100}};
}

inline nlohmann::json json_of(const httplib::Result& r) {
  if (!r) return nullptr;
  return nlohmann::json::parse(r->body, nullptr, false);
}

}  // namespace flywheel::serve::testing
