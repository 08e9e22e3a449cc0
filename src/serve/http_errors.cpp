#include "serve/http_errors.h"

#include "core/json_output.h"
#include "serve/api_types.h"

namespace flywheel::serve {
namespace {

std::string openai_type(int http_status) {
  switch (http_status) {
    case 400:
    case 401:
    case 404:
    case 405:
    case 409:
    case 413:
    case 415:
      return "invalid_request_error";
    case 403:
      return "permission_error";
    case 429:
      return "rate_limit_error";
    default:
      return "server_error";
  }
}

nlohmann::json or_null(const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); }

}  // namespace

int http_status_for(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
    case StatusCode::kUnsupported:
    case StatusCode::kCorruption:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
      return 409;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kUnavailable:
    case StatusCode::kCancelled:
      return 503;
    case StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

HttpError http_error(const Status& status, int http_status, std::string code) {
  return http_error(status, http_status, std::move(code), error_param(status));
}

HttpError http_error(const Status& status, int http_status, std::string code, std::string param) {
  HttpError e;
  e.status = http_status != 0 ? http_status : http_status_for(status.code());
  if (code.empty()) code = e.status == 401 ? "invalid_api_key" : std::string(status_type_name(status.code()));
  e.body = {
      {"error",
       {{"message", status.message()}, {"type", openai_type(e.status)}, {"param", or_null(param)}, {"code", code}}}};
  return e;
}

HttpError http_error_for_status(int http_status, const std::string& path) {
  switch (http_status) {
    case 413:
      return http_error(Status::invalid_argument("the request body is larger than the server's limit"), 413,
                        "request_too_large", "");
    case 404:
      return http_error(Status::not_found("no route for " + path), 404, "unknown_url", "");
    case 405:
      return http_error(Status::invalid_argument("method not allowed on " + path), 405, "method_not_allowed", "");
    case 408:
      return http_error(Status(StatusCode::kDeadlineExceeded, "the request was not received in time"), 408,
                        "request_timeout", "");
    default:
      if (http_status >= 500) return http_error(Status::internal("internal server error"), http_status, "", "");
      return http_error(Status::invalid_argument("bad request"), http_status, "bad_request", "");
  }
}

}  // namespace flywheel::serve
