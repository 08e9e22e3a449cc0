#include "core/json_output.h"

#include <mutex>

namespace flywheel {

std::string_view status_type_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kAlreadyExists:
      return "already_exists";
    case StatusCode::kIoError:
      return "io_error";
    case StatusCode::kCorruption:
      return "corruption";
    case StatusCode::kUnsupported:
      return "unsupported";
    case StatusCode::kOutOfRange:
      return "out_of_range";
    case StatusCode::kResourceExhausted:
      return "resource_exhausted";
    case StatusCode::kPermissionDenied:
      return "permission_denied";
    case StatusCode::kUnauthenticated:
      return "unauthenticated";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kDeadlineExceeded:
      return "deadline_exceeded";
    case StatusCode::kCancelled:
      return "cancelled";
    case StatusCode::kInternal:
      return "internal";
  }
  return "unknown";
}

int exit_code_for(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 0;
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
      return 2;
    case StatusCode::kNotFound:
      return 3;
    case StatusCode::kIoError:
    case StatusCode::kResourceExhausted:
      return 4;
    case StatusCode::kCorruption:
    case StatusCode::kUnsupported:
      return 5;
    case StatusCode::kPermissionDenied:
    case StatusCode::kUnauthenticated:
      return 6;
    case StatusCode::kAlreadyExists:
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
      return 7;
    case StatusCode::kCancelled:
      return 130;
    case StatusCode::kInternal:
      return 1;
  }
  return 1;
}

std::string to_json_line(const nlohmann::json& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

void print_json_line(const nlohmann::json& value, std::FILE* out) {
  static std::mutex mutex;
  std::string line = to_json_line(value);
  line += '\n';
  std::lock_guard<std::mutex> lock(mutex);
  std::fwrite(line.data(), 1, line.size(), out);
  std::fflush(out);
}

nlohmann::json error_json(const Status& status) {
  return {{"error",
           {{"message", status.message()},
            {"type", std::string(status_type_name(status.code()))},
            {"code", exit_code_for(status)}}}};
}

}  // namespace flywheel
