// libFuzzer target for request parsing (serve/api_types.h): every body the
// server accepts goes through parse_json_object and then one of the route
// parsers; they must never crash or hang, and every error they return must be
// an invalid_argument whose field path (error_param) starts its message.
// Accepted requests must satisfy what the routes rely on (n, max_tokens and
// stop counts in range, sampling parameters valid).
//
//   build: clang, -fsanitize=fuzzer,address (scripts/fuzz, `make fuzz`)
//   run:   build-fuzz/fuzz/request_fuzz WORK_DIR fuzz/request_corpus
//            -dict=fuzz/request.dict -max_total_time=60
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "serve/api_types.h"

namespace {

using flywheel::Result;
using flywheel::Status;
using flywheel::StatusCode;
namespace serve = flywheel::serve;

[[noreturn]] void fail(const char* what, const Status& status) {
  std::fprintf(stderr, "request_fuzz: %s: %s\n", what, status.to_string().c_str());
  std::abort();
}

void check_error(const Status& status) {
  if (status.code() != StatusCode::kInvalidArgument) fail("error of the wrong code", status);
  const std::string param = serve::error_param(status);
  if (!param.empty() && !status.message().starts_with(param + ": ")) fail("param not at the message start", status);
}

void check_generation(const serve::GenerationSettings& gen) {
  if (!gen.params.validate().ok()) fail("accepted invalid sampling params", gen.params.validate());
  if (gen.n < 1 || gen.n > serve::kMaxChoices) fail("n out of range", Status::OK());
  if (gen.params.max_tokens < 1) fail("max_tokens below 1", Status::OK());
}

template <typename T, typename Check>
void run(const Result<T>& r, Check check) {
  if (!r.ok()) return check_error(r.status());
  check(*r);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto json = serve::parse_json_object(body);
  if (!json.ok()) {
    check_error(json.status());
    return 0;
  }
  run(serve::parse_completion_request(*json), [](const auto& r) { check_generation(r.gen); });
  run(serve::parse_llama_completion_request(*json), [](const auto& r) { check_generation(r.gen); });
  run(serve::parse_infill_request(*json), [](const auto& r) { check_generation(r.gen); });
  run(serve::parse_tabby_completion_request(*json), [](const auto& r) { check_generation(r.gen); });
  run(serve::parse_chat_request(*json), [](const auto& r) {
    check_generation(r.gen);
    if (r.messages.empty()) fail("chat accepted without messages", Status::OK());
  });
  run(serve::parse_tabby_event(*json, "line"), [](const auto&) {});
  run(serve::parse_feedback_request(*json), [](const auto&) {});
  run(serve::parse_swap_request(*json), [](const auto& r) {
    if (r.model.empty() || r.deployment.empty()) fail("swap accepted without model or deployment", Status::OK());
  });
  (void)serve::is_tabby_completion(*json);
  return 0;
}
