// What a request must show before any route runs, against the attacks a
// server on 127.0.0.1 invites from the browser on the same machine:
//
// - Host: a web page that rebinds its own DNS name to 127.0.0.1 reaches the
//   server under that name, with the page's origin, so it can read answers.
//   The Host header must name this server: an IP literal (a rebound page
//   cannot have one), "localhost", this machine's hostname, the address the
//   server is bound to, or a name in allowed_hosts ("*": any). Otherwise
//   403 host_not_allowed.
// - Origin: browsers send it on cross-origin requests (and on POSTs). A
//   request whose Origin is neither the server's own (scheme-less match of
//   host[:port] against Host) nor in cors_origins ("*": any) is refused with
//   403 origin_not_allowed; an allowed cross-origin request gets
//   Access-Control-Allow-Origin (and Vary: Origin). Preflights (OPTIONS with
//   Access-Control-Request-Method) are answered here: 204 with the allowed
//   methods and headers, or 403.
// - Content-Type: a JSON-body route needs application/json (any
//   parameters), so an HTML form or a "simple" fetch (text/plain, no
//   preflight) cannot POST to it: 415 unsupported_media_type otherwise.
//
// Thread-safety: pure functions of an immutable policy.
#pragma once

#include <httplib.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serve/http_errors.h"

namespace flywheel::serve {

struct RequestGuardPolicy {
  std::string bound_host;                  // the --host the server listens on
  std::vector<std::string> allowed_hosts;  // extra Host names ("*": no Host check)
  std::vector<std::string> cors_origins;   // e.g. "https://app.example.com" ("*": any origin)
};

// Host and Origin checks; nullopt when the request may go on. Sets the CORS
// response headers for an allowed cross-origin request.
std::optional<HttpError> guard_request(const RequestGuardPolicy& policy, const httplib::Request& req,
                                       httplib::Response& res);

// A CORS preflight (OPTIONS with Access-Control-Request-Method), answered
// in `res` (call after guard_request allowed it).
bool is_preflight(const httplib::Request& req);
void answer_preflight(httplib::Response& res);

// "application/json", any case, with or without parameters (charset=utf-8).
bool is_json_content_type(std::string_view content_type);

// 127.0.0.0/8, ::1 and ::ffff:127.x.y.z: the peer is on this machine.
bool is_loopback_address(std::string_view address);

// The host of a Host header or of an origin's authority, lower-cased,
// without the port or IPv6 brackets ("[::1]:8080" -> "::1").
std::string host_name_of(std::string_view authority);

}  // namespace flywheel::serve
