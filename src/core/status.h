// Status and Result<T>: how errors cross module boundaries in flywheel.
//
// A Status is either OK or a code plus a message a user can act on. Result<T>
// holds a value or a non-OK Status. Both are cheap to move; neither is
// thread-safe to mutate concurrently (like any value type).
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace flywheel {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,   // bad input from the caller (flags, JSON, text)
  kNotFound,          // a file, model or key that does not exist
  kAlreadyExists,
  kIoError,           // the operating system refused a read or write
  kCorruption,        // a file exists but its content is malformed
  kUnsupported,       // valid input that names a feature flywheel lacks
  kOutOfRange,
  kResourceExhausted, // quota, memory or disk exhausted
  kPermissionDenied,
  kUnauthenticated,
  kUnavailable,
  kDeadlineExceeded,
  kCancelled,
  kInternal,          // a bug: an invariant did not hold
};

std::string_view status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status already_exists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status io_error(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
  static Status out_of_range(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
  static Status resource_exhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
  static Status internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  // An io_error whose message ends with strerror(errno_value).
  static Status from_errno(std::string what, int errno_value);

  bool is_ok() const { return code_ == StatusCode::kOk; }
  bool ok() const { return is_ok(); }  // the same check as Result::ok()
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "invalid argument: <message>", or "OK".
  std::string to_string() const;

  // The same status with "context: " put before the message (no-op when OK).
  Status with_context(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    assert(!status_.is_ok() && "a Result built from a Status must carry an error");
    if (status_.is_ok()) status_ = Status::internal("Result built from an OK status");
  }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Status& status() const { return status_; }

  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace flywheel

#define FW_CONCAT_INNER(a, b) a##b
#define FW_CONCAT(a, b) FW_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when `expr` is not OK.
#define FW_RETURN_IF_ERROR(expr)                   \
  do {                                             \
    ::flywheel::Status fw_status_ = (expr);        \
    if (!fw_status_.is_ok()) return fw_status_;    \
  } while (0)

// `lhs = value of expr`, or returns its Status from the enclosing function.
#define FW_ASSIGN_OR_RETURN(lhs, expr) FW_ASSIGN_OR_RETURN_IMPL(FW_CONCAT(fw_result_, __LINE__), lhs, expr)
#define FW_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
