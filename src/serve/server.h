// `flywheel serve`'s HTTP server: cpp-httplib (a thread pool of blocking
// workers; simple, in Debian, and enough here since every request's cost is
// the model's, which one scheduler thread batches) around the inference
// engine, the model set, the event store and its group-commit writer, API
// keys and quotas, and the metrics. Routes: see serve/routes.h.
//
// Limits: bodies over max_body_bytes get 413; a client that sends nothing
// for read_timeout, or reads nothing for write_timeout, is disconnected
// (a streaming request then is cancelled).
// Auth modes: auto (keys enforced once any key exists; until then only
// clients on this machine are served), required, off (no keys: every client
// is served). In every mode the admin routes need an admin key.
// Browsers: Host, Origin and Content-Type are checked first
// (serve/request_guard.h).
// Events: served completions are durable within event_window (default
// 100 ms, the writer's group-commit delay); /v1/events and /v1/feedback
// answer after their outcome is durable.
// Shutdown (stop(), e.g. on SIGTERM): new generations get 503 and /health
// says "draining"; the listening socket closes; the engine finishes what is
// in flight (up to drain_timeout, then cancels the rest); the HTTP workers
// send those answers; the events are flushed.
//
// Thread-safety: create/start/stop from one thread; port() and models()
// from any.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "model/model.h"
#include "serve/engine.h"
#include "serve/model_set.h"

namespace flywheel::serve {

enum class AuthMode { kAuto, kRequired, kOff };
Result<AuthMode> auth_mode_from_name(std::string_view name);  // "auto" | "required" | "off"

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                   // 0: any free port (see Server::port())
  int threads = 64;                  // HTTP workers; each open stream holds one
  size_t max_body_bytes = 8u << 20;  // larger bodies: 413
  std::chrono::seconds read_timeout{30};
  std::chrono::seconds write_timeout{30};
  std::chrono::seconds keep_alive_timeout{5};
  AuthMode auth = AuthMode::kAuto;
  std::vector<std::string> allowed_hosts;  // Host names accepted besides this machine's ("*": any)
  std::vector<std::string> cors_origins;   // cross-origin browser origins allowed ("*": any)
  // /admin/swap loads registered models (the registry in db_url) or
  // checkpoints under these directories, nothing else.
  std::vector<std::string> swap_dirs;
  LoadOptions load;                    // how serve_model() and /admin/swap load weights (dtype, threads)
  std::string db_url = "flywheel.db";  // SQLite path or postgresql://...
  std::chrono::milliseconds event_window{100};
  std::chrono::milliseconds drain_timeout{30000};
  EngineOptions engine;
};

class Server {
 public:
  // Opens the event store (running its migrations) and starts the engine.
  static Result<std::unique_ptr<Server>> create(ServerOptions options);
  ~Server();  // stop()

  // Loads a checkpoint (with options.load) and makes it the "auto" deployment.
  Status serve_model(const std::string& dir, const std::string& id);
  ModelSet& models();
  Engine& engine();

  // Binds and starts answering on a background thread.
  Status start();
  int port() const;
  // Drains and stops (see above); idempotent.
  void stop();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flywheel::serve
