#include "serve/request_guard.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>

#include "core/text.h"

namespace flywheel::serve {
namespace {

bool is_ip_literal(const std::string& host) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 || inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::any_of(list.begin(), list.end(), [&](const std::string& item) { return ascii_lower(item) == value; });
}

const std::string& machine_hostname() {
  static const std::string name = [] {
    char buffer[256] = {};
    if (gethostname(buffer, sizeof(buffer) - 1) != 0) return std::string();
    return ascii_lower(buffer);
  }();
  return name;
}

bool host_allowed(const RequestGuardPolicy& policy, const std::string& host) {
  if (contains(policy.allowed_hosts, "*")) return true;
  if (host.empty()) return false;
  if (is_ip_literal(host) || host == "localhost") return true;
  if (host == ascii_lower(policy.bound_host) || (!machine_hostname().empty() && host == machine_hostname()))
    return true;
  return contains(policy.allowed_hosts, host);
}

// "http://host:port" -> "host:port" (lower-cased); "" when not an origin.
std::string origin_authority(std::string_view origin) {
  const size_t scheme = origin.find("://");
  if (scheme == std::string_view::npos) return {};
  std::string_view rest = origin.substr(scheme + 3);
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  return ascii_lower(rest);
}

}  // namespace

std::string host_name_of(std::string_view authority) {
  authority = trim_spaces_and_tabs(authority);
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    return ascii_lower(close == std::string_view::npos ? authority.substr(1) : authority.substr(1, close - 1));
  }
  // One colon: host:port; more: a bare IPv6 address.
  const size_t colon = authority.find(':');
  if (colon != std::string_view::npos && authority.find(':', colon + 1) == std::string_view::npos)
    authority = authority.substr(0, colon);
  return ascii_lower(authority);
}

std::optional<HttpError> guard_request(const RequestGuardPolicy& policy, const httplib::Request& req,
                                       httplib::Response& res) {
  // HTTP/1.0 clients may send no Host; browsers always do.
  const std::string host_header = req.get_header_value("Host");
  if (!host_header.empty() && !host_allowed(policy, host_name_of(host_header))) {
    return http_error(Status(StatusCode::kPermissionDenied,
                             "Host '" + host_name_of(host_header) +
                                 "' is not a name of this server (start it with --allowed-host NAME to accept it)"),
                      403, "host_not_allowed", "");
  }
  if (!req.has_header("Origin")) return std::nullopt;
  const std::string origin(trim_spaces_and_tabs(req.get_header_value("Origin")));
  const std::string authority = origin_authority(origin);
  const bool same_origin = !authority.empty() && authority == ascii_lower(trim_spaces_and_tabs(host_header));
  if (same_origin) return std::nullopt;
  if (contains(policy.cors_origins, "*") ||
      (!authority.empty() && contains(policy.cors_origins, ascii_lower(origin)))) {
    res.set_header("Access-Control-Allow-Origin", origin);
    res.set_header("Vary", "Origin");
    return std::nullopt;
  }
  return http_error(
      Status(StatusCode::kPermissionDenied, "cross-origin request from '" + origin +
                                                "' refused (start the server with --cors-origin ORIGIN to allow it)"),
      403, "origin_not_allowed", "");
}

bool is_preflight(const httplib::Request& req) {
  return req.method == "OPTIONS" && req.has_header("Access-Control-Request-Method");
}

void answer_preflight(httplib::Response& res) {
  res.status = 204;
  res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
  res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
  res.set_header("Access-Control-Max-Age", "600");
}

bool is_json_content_type(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  return ascii_lower(trim_spaces_and_tabs(media)) == "application/json";
}

bool is_loopback_address(std::string_view address) {
  std::string a = ascii_lower(address);
  if (a.starts_with("::ffff:")) a = a.substr(7);
  unsigned char v4[4];
  if (inet_pton(AF_INET, a.c_str(), v4) == 1) return v4[0] == 127;
  unsigned char v6[16];
  if (inet_pton(AF_INET6, a.c_str(), v6) == 1) {
    static const unsigned char kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return std::equal(v6, v6 + 16, kLoopback);
  }
  return false;
}

}  // namespace flywheel::serve
