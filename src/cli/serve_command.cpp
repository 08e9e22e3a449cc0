// `flywheel serve`: the HTTP server (serve/server.h) on a checkpoint, until
// SIGTERM or SIGINT; then it drains (requests in flight finish, events are
// flushed) and exits 0.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "cli/commands.h"
#include "feedback/sql_connection.h"
#include "registry/registry.h"
#include "serve/registry_watcher.h"
#include "serve/server.h"

namespace flywheel::cli {
namespace {

struct ServeOptions {
  std::string model;
  std::string model_id;
  std::string auth = "auto";
  int drain_timeout_s = 30;
  int event_window_ms = 100;
  int read_timeout_s = 30;
  int write_timeout_s = 30;
  int64_t max_body_bytes = 8 << 20;
  bool bf16 = false;
  int compute_threads = 0;
  serve::ServerOptions server;
};

Status run_serve(ServeOptions& o) {
  if (o.model.empty()) return Status::invalid_argument("--model DIR is required");
  FW_ASSIGN_OR_RETURN(o.server.auth, serve::auth_mode_from_name(o.auth));
  o.server.drain_timeout = std::chrono::seconds(o.drain_timeout_s);
  o.server.event_window = std::chrono::milliseconds(o.event_window_ms);
  o.server.read_timeout = std::chrono::seconds(o.read_timeout_s);
  o.server.write_timeout = std::chrono::seconds(o.write_timeout_s);
  o.server.max_body_bytes = static_cast<size_t>(o.max_body_bytes);

  // Signals are taken by sigwait() below: blocked before any thread starts,
  // so every thread the server makes inherits the mask and none is
  // interrupted at a random point.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  LoadOptions& load = o.server.load;  // the first model and every /admin/swap
  load.dtype = o.bf16 ? WeightDtype::kBFloat16 : WeightDtype::kFloat32;
  load.threads = o.compute_threads;
  FW_ASSIGN_OR_RETURN(std::unique_ptr<serve::Server> server, serve::Server::create(o.server));
  // --model DIR serves that checkpoint; --model auto (or another deployment
  // name) serves what the registry in --db deploys and follows its changes;
  // --model ID serves that registered model.
  std::unique_ptr<serve::RegistryWatcher> watcher;
  std::error_code ec;
  bool follow = false;
  if (!std::filesystem::is_directory(o.model, ec) && registry::Registry::may_exist(o.server.db_url)) {
    FW_ASSIGN_OR_RETURN(auto reg, registry::Registry::open(o.server.db_url));
    FW_ASSIGN_OR_RETURN(auto deployed, reg->deployment(o.model));
    follow = !deployed.empty();
  }
  if (follow) {
    watcher = std::make_unique<serve::RegistryWatcher>(
        server->models(), server->engine(),
        serve::RegistryWatcherOptions{o.server.db_url, std::chrono::seconds(1), load});
    FW_RETURN_IF_ERROR(watcher->start());
    spdlog::info("following the registry in {} (deployment changes are hot-swapped)", o.server.db_url);
  } else {
    FW_ASSIGN_OR_RETURN(auto resolved, serve::resolve_model_argument(o.model, o.server.db_url));
    FW_RETURN_IF_ERROR(server->serve_model(resolved.first, o.model_id.empty() ? resolved.second : o.model_id));
  }
  FW_RETURN_IF_ERROR(server->start());

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  spdlog::info("{}: draining", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  server->stop();
  return Status::OK();
}

}  // namespace

void add_serve_command(CLI::App& app, const GlobalOptions& global, CommandAction* action) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Serve completions over HTTP (OpenAI, llama.cpp /infill and Tabby APIs) and record feedback");
  cmd->add_option("--model", o->model,
                  "Checkpoint directory to serve as 'auto', or a registry model id, or a deployment "
                  "in --db's registry (e.g. auto) to serve and follow")
      ->type_name("DIR|ID");
  cmd->add_option("--model-id", o->model_id, "Name of the model in requests and events (default: the directory name)");
  cmd->add_option("--host", o->server.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", o->server.port, "Port to listen on (0: any free port)")
      ->check(non_negative_integer())
      ->capture_default_str();
  cmd->add_option("--db", o->server.db_url, "Event store: a SQLite file or postgresql://user:pass@host:port/db")
      ->capture_default_str();
  cmd->add_option("--auth", o->auth,
                  "API keys: auto (required once any key exists; until then only this machine is served), "
                  "required, or off (every client served). Admin routes always need an admin key")
      ->capture_default_str();
  cmd->add_option("--allowed-host", o->server.allowed_hosts,
                  "Host header name to accept besides IP addresses, localhost and this machine's name "
                  "(repeat; '*': any). Guards against DNS rebinding")
      ->type_name("NAME");
  cmd->add_option("--cors-origin", o->server.cors_origins,
                  "Browser origin allowed to call the server cross-origin, e.g. https://app.example.com "
                  "(repeat; '*': any). Other origins get 403")
      ->type_name("ORIGIN");
  cmd->add_option("--swap-dir", o->server.swap_dirs,
                  "Directory whose checkpoints POST /admin/swap may load (repeat); registered models "
                  "(in --db's registry) always may")
      ->type_name("DIR");
  cmd->add_option("--threads", o->server.threads, "HTTP worker threads (each open stream holds one)")
      ->check(positive_integer())
      ->capture_default_str();
  cmd->add_option("--compute-threads", o->compute_threads, "Threads for the model (default: all cores)")
      ->check(non_negative_integer());
  cmd->add_flag("--bf16", o->bf16, "Keep weights in bf16 (half the memory)");
  cmd->add_option("--max-body-bytes", o->max_body_bytes, "Larger request bodies get 413")
      ->check(positive_integer())
      ->capture_default_str();
  cmd->add_option("--read-timeout", o->read_timeout_s, "Seconds a client may stay silent while sending")
      ->check(positive_integer())
      ->capture_default_str();
  cmd->add_option("--write-timeout", o->write_timeout_s, "Seconds a client may stop reading")
      ->check(positive_integer())
      ->capture_default_str();
  cmd->add_option("--event-window-ms", o->event_window_ms, "Served suggestions are durable within this")
      ->check(positive_integer())
      ->capture_default_str();
  cmd->add_option("--drain-timeout", o->drain_timeout_s, "Seconds to let requests finish on SIGTERM")
      ->check(non_negative_integer())
      ->capture_default_str();
  cmd->add_option("--prompt-cache-bytes", o->server.engine.prompt_cache_bytes, "Bytes of KV the prompt cache keeps")
      ->check(non_negative_integer());
  cmd->footer(global_options_footer());
  (void)global;
  cmd->callback([o, action] { *action = [o] { return run_serve(*o); }; });
}

}  // namespace flywheel::cli
