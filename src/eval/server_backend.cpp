// The server backend: the same HTTP path an editor takes (POST
// /v1/completions), so the server writes the suggestion events itself
// (source "replay"), and POST /v1/feedback for each outcome.
#include <httplib.h>

#include <chrono>

#include "eval/prompt_window.h"
#include "eval/replay.h"

namespace flywheel::eval {
namespace {
using nlohmann::json;

// What a request carries around the cursor, as an editor plugin would; the
// server cuts the prefix further ("truncate") when its context is smaller.
constexpr size_t kPrefixWindowBytes = 16 * 1024;
constexpr size_t kSuffixWindowBytes = 2 * 1024;

class ServerBackend final : public CompletionBackend {
 public:
  explicit ServerBackend(const ServerBackendOptions& options) : options_(options), client_(options.url) {
    const auto seconds = static_cast<time_t>(options.timeout_seconds);
    client_.set_connection_timeout(seconds);
    client_.set_read_timeout(seconds);
    client_.set_write_timeout(seconds);
    client_.set_keep_alive(true);
    if (!options.api_key.empty()) client_.set_bearer_token_auth(options.api_key);
  }

  Result<Completion> complete(const CompletionQuery& query) override {
    const std::string prefix = prefix_window(query.prefix, kPrefixWindowBytes);
    const json body = {{"model", options_.model},
                       {"prompt", prefix},
                       {"suffix", suffix_window(query.suffix, kSuffixWindowBytes)},
                       {"max_tokens", options_.generation.max_tokens},
                       {"temperature", options_.generation.temperature},
                       {"min_token_prob", options_.generation.min_token_prob},
                       {"min_show_prob", options_.generation.min_show_prob},
                       {"seed", static_cast<int64_t>(query.seed >> 1)},  // the API's seed is a signed integer
                       {"single_line", query.single_line},               // the replay's rule, not the server's guess
                       {"truncate", true},
                       {"flywheel",
                        {{"source", "replay"},
                         {"session", query.session},
                         {"repo", query.repo},
                         {"path", query.path},
                         {"language", query.language},
                         {"cursor", query.cursor}}}};
    const auto started = std::chrono::steady_clock::now();
    FW_ASSIGN_OR_RETURN(json answer, post("/v1/completions", body));
    Completion completion;
    completion.latency_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    const json* choices = answer.contains("choices") ? &answer["choices"] : nullptr;
    if (choices == nullptr || !choices->is_array() || choices->empty() || !(*choices)[0].contains("text") ||
        !(*choices)[0]["text"].is_string() || !answer.contains("id") || !answer["id"].is_string())
      return Status::corruption(options_.url + "/v1/completions answered without choices[0].text and id");
    completion.text = (*choices)[0]["text"].get<std::string>();
    completion.id = answer["id"].get<std::string>();
    return completion;
  }

  Status report_outcome(const CompletionQuery&, const Completion& completion, const OutcomeReport& outcome) override {
    const json body = {{"id", completion.id},
                       {"choice_index", 0},
                       {"kind", suggestion_outcome_name(outcome.outcome)},
                       {"accepted_length", outcome.accepted_length},
                       {"final_text", outcome.final_text}};
    return post("/v1/feedback", body).status();
  }

 private:
  Result<json> post(const std::string& route, const json& body) {
    auto response = client_.Post(route, body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
    if (!response)
      return Status(StatusCode::kUnavailable,
                    "cannot reach " + options_.url + route + ": " + httplib::to_string(response.error()));
    json answer = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
    if (response->status != 200) {
      std::string message = response->body.substr(0, 500);
      if (!answer.is_discarded() && answer.contains("error") && answer["error"].contains("message"))
        message = answer["error"]["message"].dump();
      return Status(
          response->status == 401 || response->status == 403 ? StatusCode::kUnauthenticated : StatusCode::kUnavailable,
          options_.url + route + " answered HTTP " + std::to_string(response->status) + ": " + message);
    }
    if (answer.is_discarded() || !answer.is_object())
      return Status::corruption(options_.url + route + " answered with something that is not a JSON object");
    return answer;
  }

  ServerBackendOptions options_;
  httplib::Client client_;
};

}  // namespace

Result<BackendFactory> server_backend_factory(const ServerBackendOptions& options) {
  if (!options.url.starts_with("http://") && !options.url.starts_with("https://"))
    return Status::invalid_argument("--server must be an http:// or https:// URL, got '" + options.url + "'");
  if (httplib::Client probe(options.url); !probe.is_valid())
    return Status::invalid_argument("--server '" + options.url + "' is not a valid http://host:port URL");
  if (options.generation.max_tokens < 1) return Status::invalid_argument("--max-tokens must be at least 1");
  return BackendFactory([options]() -> Result<std::unique_ptr<CompletionBackend>> {
    return std::unique_ptr<CompletionBackend>(std::make_unique<ServerBackend>(options));
  });
}

}  // namespace flywheel::eval
