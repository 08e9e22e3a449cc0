#include "serve/server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <thread>

#include "feedback/auth.h"
#include "feedback/event_writer.h"
#include "feedback/store.h"
#include "serve/http_errors.h"
#include "serve/metrics.h"
#include "serve/request_guard.h"
#include "serve/router.h"
#include "serve/routes.h"
#include "serve/serve_context.h"
#include "serve/swap_jobs.h"

namespace flywheel::serve {
namespace {

using Clock = std::chrono::steady_clock;

// When the request on this worker thread arrived (set before routing, read
// by the logger once the response, streams included, has been sent).
std::optional<Clock::time_point>& request_start() {
  thread_local std::optional<Clock::time_point> start;
  return start;
}

}  // namespace

Result<AuthMode> auth_mode_from_name(std::string_view name) {
  if (name == "auto") return AuthMode::kAuto;
  if (name == "required") return AuthMode::kRequired;
  if (name == "off") return AuthMode::kOff;
  return Status::invalid_argument("--auth must be auto, required or off, got '" + std::string(name) + "'");
}

// Declared in the order they are built; destroyed in reverse, so the HTTP
// server goes first and the store last (the engine's last callbacks still
// record into the writer).
struct Server::Impl {
  ServerOptions options;
  std::unique_ptr<feedback::Store> store;
  std::unique_ptr<feedback::EventWriter> writer;
  std::unique_ptr<feedback::Authenticator> authenticator;
  feedback::RateLimiter limiter;
  Metrics metrics;
  ModelSet models;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<SwapJobs> swaps;
  std::unique_ptr<ServeContext> context;
  httplib::Server http;
  std::unique_ptr<Router> router;
  std::thread listener;
  int port = 0;
  bool stopped = false;
  RequestGuardPolicy guard;

  void configure_http();
  // Says at start who the server answers, so that nobody runs it open by mistake.
  void log_access_mode();
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(); }

Result<std::unique_ptr<Server>> Server::create(ServerOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  const ServerOptions& o = impl->options;
  FW_ASSIGN_OR_RETURN(impl->store, feedback::open_store(o.db_url));
  impl->writer = std::make_unique<feedback::EventWriter>(*impl->store, feedback::EventWriterOptions{o.event_window});
  if (o.auth != AuthMode::kOff) {
    feedback::AuthOptions auth;
    auth.required = o.auth == AuthMode::kRequired;
    impl->authenticator = std::make_unique<feedback::Authenticator>(*impl->store, auth);
  }
  impl->engine = std::make_unique<Engine>(o.engine);
  impl->swaps = std::make_unique<SwapJobs>(impl->models, *impl->engine, SwapPolicy{o.db_url, o.swap_dirs, o.load});
  impl->context =
      std::unique_ptr<ServeContext>(new ServeContext{impl->models, *impl->engine, impl->metrics, *impl->store,
                                                     *impl->writer, impl->authenticator.get(), impl->limiter});
  impl->context->event_window = o.event_window;
  // Until a key exists, auto serves this machine only; off serves everyone.
  impl->context->anonymous_local_only = o.auth == AuthMode::kAuto;
  impl->guard = {o.host, o.allowed_hosts, o.cors_origins};
  impl->configure_http();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::Impl::configure_http() {
  const ServerOptions& o = options;
  const int threads = std::max(1, o.threads);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http.set_payload_max_length(o.max_body_bytes);
  http.set_read_timeout(o.read_timeout);
  http.set_write_timeout(o.write_timeout);
  http.set_keep_alive_timeout(o.keep_alive_timeout.count());
  http.set_keep_alive_max_count(1000);
  http.set_tcp_nodelay(true);  // SSE chunks and small answers go out at once

  // Host and Origin before anything else, every route (404s included).
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    request_start() = Clock::now();
    Router::current_route().clear();
    if (auto refused = guard_request(guard, req, res)) {
      send_error(res, *refused);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (is_preflight(req)) {
      answer_preflight(res);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Errors httplib makes itself (413, 404, 400 for an unreadable request)
  // get the same JSON shape as ours; bodies set by a route are kept.
  http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, http_error_for_status(res.status, req.path));
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("{} {}: {}", req.method, req.path, what);
    send_error(res, Status::internal("internal error: " + what));
  });
  http.set_logger([this](const httplib::Request&, const httplib::Response& res) {
    std::string& route = Router::current_route();
    auto& start = request_start();
    const double seconds = start ? std::chrono::duration<double>(Clock::now() - *start).count() : 0.0;
    metrics.observe_request(route.empty() ? "other" : route, res.status, seconds);
    route.clear();
    start.reset();
  });

  router = std::make_unique<Router>(http, *context);
  add_openai_routes(*router, *context);
  add_llama_routes(*router, *context);
  add_tabby_routes(*router, *context);
  add_admin_routes(*router, *context, *swaps);
}

Status Server::serve_model(const std::string& dir, const std::string& id) {
  FW_ASSIGN_OR_RETURN(std::shared_ptr<ServedModel> model, load_served_model(dir, id, impl_->options.load));
  spdlog::info("serving '{}' from {} ({} format, context {})", model->id, dir, model->format.name,
               model->context_length);
  impl_->models.set_deployment("auto", {{std::move(model), 1.0}});
  return Status::OK();
}

ModelSet& Server::models() { return impl_->models; }
Engine& Server::engine() { return *impl_->engine; }

void Server::Impl::log_access_mode() {
  switch (options.auth) {
    case AuthMode::kOff:
      spdlog::warn("--auth off: every client that reaches {} is served without a key; the admin routes are closed",
                   options.host);
      return;
    case AuthMode::kRequired:
      spdlog::info("auth: every request needs an API key (--auth required)");
      return;
    case AuthMode::kAuto: {
      auto enforced = authenticator->enforced();
      if (enforced.ok() && *enforced) {
        spdlog::info("auth: API keys are enforced (keys exist in the database)");
      } else {
        spdlog::warn(
            "auth: no API key exists yet, so only clients on this machine (loopback) are served, without admin "
            "rights; 'flywheel keys create --tenant NAME [--admin]' makes keys (then every request needs one)");
      }
      return;
    }
  }
}

Status Server::start() {
  Impl& s = *impl_;
  const ServerOptions& o = s.options;
  if (o.port == 0) {
    s.port = s.http.bind_to_any_port(o.host);
    if (s.port <= 0) return Status(StatusCode::kUnavailable, "cannot listen on " + o.host + " (any port)");
  } else {
    if (!s.http.bind_to_port(o.host, o.port)) {
      return Status(StatusCode::kUnavailable,
                    "cannot listen on " + o.host + ":" + std::to_string(o.port) + " (in use, or not an address here)");
    }
    s.port = o.port;
  }
  s.listener = std::thread([&s] { s.http.listen_after_bind(); });
  spdlog::info("listening on http://{}:{}", o.host, s.port);
  s.log_access_mode();
  return Status::OK();
}

int Server::port() const { return impl_->port; }

void Server::stop() {
  Impl& s = *impl_;
  if (s.stopped) return;
  s.stopped = true;
  s.context->draining = true;
  // Closing the listening socket first: nothing new arrives while in-flight
  // requests finish on the engine, which is still running.
  s.http.stop();
  s.engine->drain(s.options.drain_timeout);
  if (s.listener.joinable()) s.listener.join();  // the workers have sent their answers
  Status flushed = s.writer->flush();
  if (!flushed.ok()) spdlog::error("events not flushed at shutdown: {}", flushed.to_string());
  spdlog::info("server stopped ({} events committed)", s.writer->committed_events());
}

}  // namespace flywheel::serve
