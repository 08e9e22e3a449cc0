// Route registration over cpp-httplib with what every route needs done the
// same way: a JSON Content-Type on POSTs (415), authentication and quota
// (401/403/429 + Retry-After), the route label for /metrics, JSON bodies in
// and OpenAI-shaped errors out. Without a key (auth off, or auto before any
// key exists) the caller is anonymous: tenant "", never admin, and in auto
// mode served only over loopback.
// Internal to the serve module.
//
// Thread-safety: register routes before the server starts; handlers run on
// httplib's worker threads.
#pragma once

#include <httplib.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/status.h"
#include "serve/http_errors.h"
#include "serve/serve_context.h"

namespace flywheel::serve {

enum class Access {
  kPublic,  // health, metrics
  kUser,    // any valid key (or none when no key is enforced)
  kAdmin,   // a key with the admin flag, always
};

using RouteHandler = std::function<void(const httplib::Request&, httplib::Response&, const Caller&)>;

class Router {
 public:
  Router(httplib::Server& http, ServeContext& context) : http_(http), context_(context) {}

  // `route` labels the metrics (the pattern, e.g. "/v1/completions").
  void get(const std::string& route, Access access, RouteHandler handler);
  void post(const std::string& route, Access access, RouteHandler handler);

  // The route label of the request being handled on this thread ("" when
  // none matched); read by the server's logger once the response is sent.
  static std::string& current_route();

 private:
  httplib::Server::Handler wrap(const std::string& route, Access access, RouteHandler handler, bool json_body = false);

  httplib::Server& http_;
  ServeContext& context_;
};

// Whether `caller`, connected from `remote_addr`, may use a route of
// `access`: unauthenticated for an anonymous caller off loopback when
// `anonymous_local_only`, permission_denied for an admin route without an
// admin key (anonymous callers never have one).
Status check_access(Access access, const Caller& caller, bool anonymous_local_only, std::string_view remote_addr);

void send_json(httplib::Response& res, int status, const nlohmann::json& body);
void send_error(httplib::Response& res, const HttpError& error);
void send_error(httplib::Response& res, const Status& status);

// The request body as a JSON object; errors are ready for send_error.
Result<nlohmann::json> read_json_body(const httplib::Request& req);

}  // namespace flywheel::serve
