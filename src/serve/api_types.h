// The request bodies `flywheel serve` accepts, as typed values: JSON in,
// validated structs out. Pure (no I/O, no model), so the fuzzer and the unit
// tests drive it directly; the routes turn these into prompts.
//
// Rules shared by every parser:
// - Unknown fields are ignored (clients send extras: llama.vscode's
//   `samplers`, Tabby's `debug_options`); a JSON null is the same as absent.
// - A present field of the wrong type or out of range is an invalid_argument
//   whose message starts with the field's path and ": " ("messages[1].role:
//   must be a string"); error_param() gives that path back for OpenAI's
//   `param`.
// - Integer fields accept integral floats (16.0); strings must be UTF-8
//   (nlohmann rejects the rest while parsing).
//
// Defaults follow each API's documentation: OpenAI completions max_tokens 16,
// temperature 1; chat max_tokens 256 (OpenAI's is "up to the context");
// llama.cpp n_predict -1 (until a stop) is capped at kDefaultMaxTokens,
// temperature 0.8; Tabby temperature 0.1 (its server's default).
//
// Thread-safety: pure functions on plain values.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "feedback/events.h"
#include "model/prompt_format.h"
#include "model/sampler.h"

namespace flywheel::serve {

inline constexpr int kDefaultMaxTokens = 256;
inline constexpr int kMaxChoices = 16;    // `n`
inline constexpr int kMaxJsonDepth = 64;  // deeper bodies are refused before parsing
// /v1/feedback's final_text: the text kept after one suggestion (a few
// lines); a training row, so it is bounded like the prompt windows are.
inline constexpr size_t kMaxFinalTextBytes = 64 << 10;

// Body text to JSON: malformed JSON, a body that is not an object, or one
// nested deeper than kMaxJsonDepth (nlohmann's DOM is recursive to destroy).
Result<nlohmann::json> parse_json_object(std::string_view body);

// The field path an invalid_argument, out_of_range or permission_denied
// error names ("" when it names none).
std::string error_param(const Status& status);

// Our extension object `"flywheel": {...}` on completion requests: the
// event's context (replay fills it; editors may).
struct EventContext {
  std::string source = "editor";  // "editor" | "replay"
  std::string session;            // also the supersede key (a newer request of a session cancels the older)
  std::string repo, path, language;
  std::optional<int64_t> cursor;  // byte offset in the file
};

// What every generating route shares.
struct GenerationSettings {
  SamplingParams params;  // max_tokens, temperature, top_p, stop, seed, logprobs...
  int n = 1;              // choices
  bool stream = false;
  bool include_usage = false;          // stream_options.include_usage (a last chunk with usage)
  std::optional<int64_t> max_time_ms;  // t_max_predict_ms: the deadline after the request arrives
  std::optional<bool> single_line;     // FIM: overrides the single-line rule
  // Fit a prompt longer than the context (prompts.h): unset means yes for
  // fill-in-the-middle (editors send whole files), no for plain prompts
  // (OpenAI's 400). fit_fim() and fit_plain() read it.
  std::optional<bool> truncate;
  bool fit_fim() const { return truncate.value_or(true); }
  bool fit_plain() const { return truncate.value_or(false); }
  bool prefill_only = false;  // llama.cpp n_predict 0: warm the prompt cache, generate nothing
};

// POST /v1/completions (OpenAI) and POST /completion (llama.cpp).
struct CompletionRequest {
  std::string model;
  std::string prompt;
  std::optional<std::string> suffix;  // set: fill-in-the-middle with prompt as the prefix
  std::string user;
  GenerationSettings gen;
  EventContext context;
};

// POST /infill (llama.cpp).
struct InfillRequest {
  std::string model;
  std::string input_prefix, input_suffix;
  std::string prompt;  // the start of the middle (llama.vscode: the cursor line so far)
  std::vector<std::pair<std::string, std::string>> input_extra;  // (filename, text)
  bool cache_prompt = true;
  GenerationSettings gen;
  EventContext context;
};

// POST /v1/completions with `segments` (Tabby).
struct TabbyCompletionRequest {
  std::string language;
  std::string prefix, suffix, filepath, git_url, clipboard;
  // declarations, then snippets from changed files, then from recently
  // opened files (Tabby's priority order), as (filepath, body).
  std::vector<std::pair<std::string, std::string>> snippets;
  std::string user;
  GenerationSettings gen;
  EventContext context;
};

struct ToolSpec {  // a `tools[i]` of type "function"
  std::string name, description;
  nlohmann::json parameters;  // JSON Schema, passed to the model as text
};

struct ToolCall {
  std::string id, name;
  std::string arguments;  // JSON text, as OpenAI sends it
};

struct ChatTurn {
  std::string role, content;
  std::vector<ToolCall> tool_calls;  // assistant turns that called tools
  std::string tool_call_id;          // role "tool": the call it answers
};

// POST /v1/chat/completions.
struct ChatRequest {
  std::string model;
  std::vector<ChatTurn> messages;
  std::vector<ToolSpec> tools;
  std::string tool_choice = "auto";  // "none" | "auto" | "required" | a function name
  std::string user;
  bool logprobs = false;  // chat: bool + top_logprobs
  GenerationSettings gen;
  EventContext context;
};

// POST /v1/events (Tabby).
struct TabbyEventRequest {
  std::string type;  // "view" | "select" | "dismiss"
  std::string completion_id;
  int choice_index = 0;
  std::string select_kind;  // "" or "line" (body field or ?select_kind=)
  feedback::OutcomeKind kind = feedback::OutcomeKind::kShown;
};

// POST /v1/feedback (ours).
struct FeedbackRequest {
  std::string id;
  int choice_index = 0;
  feedback::OutcomeKind kind = feedback::OutcomeKind::kShown;
  std::optional<int64_t> accepted_length;
  std::optional<std::string> final_text;
};

// POST /admin/swap.
struct SwapRequest {
  std::string model;  // registered model id, or a checkpoint directory under the server's --swap-dir
  std::string id;     // default: the directory's name
  std::string deployment = "auto";
  bool wait = false;  // answer when loaded (200) instead of at once (202 + job)
};

Result<CompletionRequest> parse_completion_request(const nlohmann::json& body);
Result<CompletionRequest> parse_llama_completion_request(const nlohmann::json& body);
Result<InfillRequest> parse_infill_request(const nlohmann::json& body);
Result<TabbyCompletionRequest> parse_tabby_completion_request(const nlohmann::json& body);
Result<ChatRequest> parse_chat_request(const nlohmann::json& body);
// `query_select_kind`: Tabby's agent sends select_kind in the query string.
Result<TabbyEventRequest> parse_tabby_event(const nlohmann::json& body, std::string_view query_select_kind = {});
Result<FeedbackRequest> parse_feedback_request(const nlohmann::json& body);
Result<SwapRequest> parse_swap_request(const nlohmann::json& body);

// Tabby's body is told apart from OpenAI's by its `segments` object.
bool is_tabby_completion(const nlohmann::json& body);

}  // namespace flywheel::serve
