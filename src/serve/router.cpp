#include "serve/router.h"

#include "core/json_output.h"
#include "serve/api_types.h"
#include "serve/request_guard.h"

namespace flywheel::serve {

std::string& Router::current_route() {
  thread_local std::string route;
  return route;
}

void Router::get(const std::string& route, Access access, RouteHandler handler) {
  http_.Get(route, wrap(route, access, std::move(handler)));
}

void Router::post(const std::string& route, Access access, RouteHandler handler) {
  http_.Post(route, wrap(route, access, std::move(handler), /*json_body=*/true));
}

Status check_access(Access access, const Caller& caller, bool anonymous_local_only, std::string_view remote_addr) {
  if (access == Access::kPublic) return Status::OK();
  if (!caller.authenticated && anonymous_local_only && !is_loopback_address(remote_addr)) {
    return Status(StatusCode::kUnauthenticated,
                  "this server has no API key yet, so it only serves clients on its own machine "
                  "(an administrator creates keys with 'flywheel keys create --tenant NAME')");
  }
  if (access == Access::kAdmin && !caller.admin) {
    return Status(StatusCode::kPermissionDenied,
                  "this route needs an admin key ('flywheel keys create --tenant NAME --admin')");
  }
  return Status::OK();
}

httplib::Server::Handler Router::wrap(const std::string& route, Access access, RouteHandler handler, bool json_body) {
  return [this, route, access, json_body, handler = std::move(handler)](const httplib::Request& req,
                                                                        httplib::Response& res) {
    current_route() = route;
    if (json_body && !is_json_content_type(req.get_header_value("Content-Type"))) {
      return send_error(res, http_error(Status::invalid_argument("the body must be JSON, sent with 'Content-Type: "
                                                                 "application/json'"),
                                        415, "unsupported_media_type", ""));
    }
    // A 401 says how to authenticate.
    const auto refuse = [&res](const Status& status) {
      if (status.code() == StatusCode::kUnauthenticated) res.set_header("WWW-Authenticate", "Bearer");
      send_error(res, status);
    };
    Caller caller;  // anonymous: never admin
    if (access != Access::kPublic && context_.authenticator != nullptr) {
      auto authenticated = context_.authenticator->authenticate(req.get_header_value("Authorization"), req.remote_addr);
      if (!authenticated.ok()) {
        // One failed lookup refills every 60 s / kFailedLookupsPerMinute.
        if (authenticated.status().code() == StatusCode::kResourceExhausted)
          res.set_header("Retry-After", std::to_string((60 + feedback::kFailedLookupsPerMinute - 1) /
                                                       feedback::kFailedLookupsPerMinute));
        return refuse(authenticated.status());
      }
      caller = std::move(authenticated).value();
    }
    if (Status allowed = check_access(access, caller, context_.anonymous_local_only, req.remote_addr); !allowed.ok())
      return refuse(allowed);
    if (access != Access::kPublic) {
      const feedback::QuotaDecision quota = context_.limiter.check_request(caller);
      if (!quota.allowed) {
        res.set_header("Retry-After", std::to_string(std::max(1, quota.retry_after_s)));
        return send_error(res, quota.status());
      }
    }
    handler(req, res, caller);
  };
}

void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(to_json_line(body), "application/json");
}

void send_error(httplib::Response& res, const HttpError& error) { send_json(res, error.status, error.body); }

void send_error(httplib::Response& res, const Status& status) { send_error(res, http_error(status)); }

Result<nlohmann::json> read_json_body(const httplib::Request& req) { return parse_json_object(req.body); }

}  // namespace flywheel::serve
