#include "serve/api_types.h"

#include <cmath>
#include <limits>

namespace flywheel::serve {
namespace {

using nlohmann::json;

Status field_error(std::string_view path, std::string_view what) {
  return Status::invalid_argument(std::string(path) + ": " + std::string(what));
}

std::string join_path(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return std::string(parent) + "." + std::string(key);
}

std::string index_path(std::string_view parent, size_t i) {
  return std::string(parent) + "[" + std::to_string(i) + "]";
}

// The value of `key` in `object`, or nullptr when absent or null.
const json* find(const json& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

// Reads fields of one JSON object, naming each by its path in errors.
class Fields {
 public:
  Fields(const json& object, std::string path) : object_(object), path_(std::move(path)) {}

  const json* get(std::string_view key) const { return find(object_, key); }
  std::string path(std::string_view key) const { return join_path(path_, key); }

  Status string(std::string_view key, std::string* out) const {
    const json* v = get(key);
    if (v == nullptr) return Status::OK();
    if (!v->is_string()) return field_error(path(key), "must be a string");
    *out = v->get<std::string>();
    return Status::OK();
  }

  Status optional_string(std::string_view key, std::optional<std::string>* out) const {
    if (get(key) == nullptr) return Status::OK();
    std::string s;
    FW_RETURN_IF_ERROR(string(key, &s));
    *out = std::move(s);
    return Status::OK();
  }

  Status required_string(std::string_view key, std::string* out) const {
    if (get(key) == nullptr) return field_error(path(key), "is required");
    return string(key, out);
  }

  Status boolean(std::string_view key, bool* out) const {
    const json* v = get(key);
    if (v == nullptr) return Status::OK();
    if (!v->is_boolean()) return field_error(path(key), "must be true or false");
    *out = v->get<bool>();
    return Status::OK();
  }

  Status optional_boolean(std::string_view key, std::optional<bool>* out) const {
    if (get(key) == nullptr) return Status::OK();
    bool b = false;
    FW_RETURN_IF_ERROR(boolean(key, &b));
    *out = b;
    return Status::OK();
  }

  Status integer(std::string_view key, int64_t lo, int64_t hi, std::optional<int64_t>* out) const {
    const json* v = get(key);
    if (v == nullptr) return Status::OK();
    int64_t value = 0;
    if (v->is_number_integer()) {
      if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(hi)) {
        return range_error(key, lo, hi);
      }
      value = v->get<int64_t>();
    } else if (v->is_number_float()) {
      const double d = v->get<double>();
      // Beyond 9e18 a double no longer converts to int64 safely.
      if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.0e18 || d < static_cast<double>(lo) ||
          d > static_cast<double>(hi)) {
        return range_error(key, lo, hi);
      }
      value = static_cast<int64_t>(d);
    } else {
      return field_error(path(key), "must be an integer");
    }
    if (value < lo || value > hi) return range_error(key, lo, hi);
    *out = value;
    return Status::OK();
  }

  template <typename Int>
  Status integer(std::string_view key, int64_t lo, int64_t hi, Int* out) const {
    std::optional<int64_t> value;
    FW_RETURN_IF_ERROR(integer(key, lo, hi, &value));
    if (value) *out = static_cast<Int>(*value);
    return Status::OK();
  }

  Status number(std::string_view key, double lo, double hi, float* out) const {
    const json* v = get(key);
    if (v == nullptr) return Status::OK();
    if (!v->is_number()) return field_error(path(key), "must be a number");
    const double d = v->get<double>();
    if (!(d >= lo && d <= hi)) {
      return field_error(path(key), "must be between " + format_number(lo) + " and " + format_number(hi) + ", got " +
                                        format_number(d));
    }
    *out = static_cast<float>(d);
    return Status::OK();
  }

  Status object(std::string_view key, const json** out) const {
    const json* v = get(key);
    *out = nullptr;
    if (v == nullptr) return Status::OK();
    if (!v->is_object()) return field_error(path(key), "must be an object");
    *out = v;
    return Status::OK();
  }

  Status array(std::string_view key, const json** out) const {
    const json* v = get(key);
    *out = nullptr;
    if (v == nullptr) return Status::OK();
    if (!v->is_array()) return field_error(path(key), "must be an array");
    *out = v;
    return Status::OK();
  }

 private:
  static std::string format_number(double d) {
    std::string s = std::to_string(d);
    while (s.size() > 1 && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  }
  Status range_error(std::string_view key, int64_t lo, int64_t hi) const {
    return field_error(path(key), "must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi));
  }

  const json& object_;
  std::string path_;
};

constexpr int64_t kMaxTokensLimit = 1 << 20;
constexpr int64_t kMaxDeadlineMs = 10 * 60 * 1000;

// `stop`: a string or an array of non-empty strings (empty ones are dropped:
// clients send [""] to mean none).
Status parse_stop(const Fields& f, std::string_view key, std::vector<std::string>* out) {
  const json* v = f.get(key);
  if (v == nullptr) return Status::OK();
  out->clear();
  if (v->is_string()) {
    if (!v->get_ref<const std::string&>().empty()) out->push_back(v->get<std::string>());
    return Status::OK();
  }
  if (!v->is_array()) return field_error(f.path(key), "must be a string or an array of strings");
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_string()) return field_error(index_path(f.path(key), i), "must be a string");
    if (!(*v)[i].get_ref<const std::string&>().empty()) out->push_back((*v)[i].get<std::string>());
  }
  if (out->size() > SamplingParams::kMaxStopStrings) {
    return field_error(f.path(key), "at most " + std::to_string(SamplingParams::kMaxStopStrings) + " stop strings");
  }
  return Status::OK();
}

Status parse_seed(const Fields& f, std::optional<uint64_t>* out) {
  std::optional<int64_t> seed;
  FW_RETURN_IF_ERROR(
      f.integer("seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), &seed));
  // llama.cpp's -1 means "random", as does no seed.
  if (seed && *seed != -1) *out = static_cast<uint64_t>(*seed);
  return Status::OK();
}

// `logit_bias`: OpenAI's object {"token id": bias}, or llama.cpp's array
// [[id, bias], ...]; biases between -100 and 100.
Status parse_logit_bias(const Fields& f, std::vector<std::pair<TokenId, float>>* out) {
  const json* v = f.get("logit_bias");
  if (v == nullptr) return Status::OK();
  const std::string path = f.path("logit_bias");
  auto add = [&](const std::string& where, int64_t id, const json& bias) -> Status {
    if (!bias.is_number()) return field_error(where, "must be a number");
    const double b = bias.get<double>();
    if (!(b >= -100.0 && b <= 100.0)) return field_error(where, "must be between -100 and 100");
    if (id < 0 || id > std::numeric_limits<TokenId>::max()) return field_error(where, "names no token id");
    out->emplace_back(static_cast<TokenId>(id), static_cast<float>(b));
    return Status::OK();
  };
  if (v->is_object()) {
    for (const auto& [key, bias] : v->items()) {
      int64_t id = -1;
      size_t used = 0;
      try {
        id = std::stoll(key, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != key.size() || id < 0)
        return field_error(path, "keys must be token ids (integers >= 0), got \"" + key + "\"");
      FW_RETURN_IF_ERROR(add(join_path(path, key), id, bias));
    }
  } else if (v->is_array()) {
    for (size_t i = 0; i < v->size(); ++i) {
      const json& pair = (*v)[i];
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_integer())
        return field_error(index_path(path, i), "must be [token id, bias]");
      FW_RETURN_IF_ERROR(add(index_path(path, i), pair[0].get<int64_t>(), pair[1]));
    }
  } else {
    return field_error(path, "must be an object of token id to bias");
  }
  if (out->size() > SamplingParams::kMaxLogitBias)
    return field_error(path, "at most " + std::to_string(SamplingParams::kMaxLogitBias) + " entries");
  return Status::OK();
}

Status parse_event_context(const Fields& top, EventContext* out) {
  FW_RETURN_IF_ERROR(top.string("session", &out->session));
  const json* ext = nullptr;
  FW_RETURN_IF_ERROR(top.object("flywheel", &ext));
  if (ext == nullptr) return Status::OK();
  Fields f(*ext, "flywheel");
  FW_RETURN_IF_ERROR(f.string("source", &out->source));
  if (out->source != "editor" && out->source != "replay") {
    return field_error("flywheel.source", "must be \"editor\" or \"replay\", got \"" + out->source + "\"");
  }
  FW_RETURN_IF_ERROR(f.string("session", &out->session));
  FW_RETURN_IF_ERROR(f.string("repo", &out->repo));
  FW_RETURN_IF_ERROR(f.string("path", &out->path));
  FW_RETURN_IF_ERROR(f.string("language", &out->language));
  FW_RETURN_IF_ERROR(f.integer("cursor", 0, std::numeric_limits<int64_t>::max(), &out->cursor));
  return Status::OK();
}

// Fields every generating route reads the same way: temperature, top_p,
// top_k, min_p, penalties, seed, stop, logit_bias, stream, our min_token_prob,
// min_show_prob, single_line and truncate.
Status parse_common_generation(const Fields& f, GenerationSettings* gen) {
  SamplingParams& p = gen->params;
  FW_RETURN_IF_ERROR(f.number("temperature", 0.0, 2.0, &p.temperature));
  FW_RETURN_IF_ERROR(f.number("top_p", 0.0, 1.0, &p.top_p));
  FW_RETURN_IF_ERROR(f.integer("top_k", 0, 1 << 20, &p.top_k));
  FW_RETURN_IF_ERROR(f.number("min_p", 0.0, 1.0, &p.min_p));
  FW_RETURN_IF_ERROR(f.number("presence_penalty", -2.0, 2.0, &p.presence_penalty));
  FW_RETURN_IF_ERROR(f.number("frequency_penalty", -2.0, 2.0, &p.frequency_penalty));
  FW_RETURN_IF_ERROR(parse_seed(f, &p.seed));
  FW_RETURN_IF_ERROR(parse_stop(f, "stop", &p.stop));
  FW_RETURN_IF_ERROR(parse_logit_bias(f, &p.logit_bias));
  FW_RETURN_IF_ERROR(f.boolean("stream", &gen->stream));
  FW_RETURN_IF_ERROR(f.number("min_token_prob", 0.0, 1.0, &p.min_token_prob));
  FW_RETURN_IF_ERROR(f.number("min_show_prob", 0.0, 1.0, &p.min_show_prob));
  FW_RETURN_IF_ERROR(f.optional_boolean("single_line", &gen->single_line));
  FW_RETURN_IF_ERROR(f.optional_boolean("truncate", &gen->truncate));
  return Status::OK();
}

// OpenAI's max_tokens, n, stream_options.
Status parse_openai_generation(const Fields& f, GenerationSettings* gen) {
  FW_RETURN_IF_ERROR(parse_common_generation(f, gen));
  FW_RETURN_IF_ERROR(f.integer("max_tokens", 1, kMaxTokensLimit, &gen->params.max_tokens));
  FW_RETURN_IF_ERROR(f.integer("n", 1, kMaxChoices, &gen->n));
  const json* options = nullptr;
  FW_RETURN_IF_ERROR(f.object("stream_options", &options));
  if (options != nullptr)
    FW_RETURN_IF_ERROR(Fields(*options, "stream_options").boolean("include_usage", &gen->include_usage));
  return Status::OK();
}

// llama.cpp's n_predict (-1: until a stop; 0: prompt only), repeat_penalty,
// t_max_predict_ms, n_probs.
Status parse_llama_generation(const Fields& f, GenerationSettings* gen) {
  gen->params.temperature = 0.8f;
  gen->params.max_tokens = kDefaultMaxTokens;
  FW_RETURN_IF_ERROR(parse_common_generation(f, gen));
  std::optional<int64_t> n_predict;
  FW_RETURN_IF_ERROR(f.integer("n_predict", -1, kMaxTokensLimit, &n_predict));
  if (n_predict && *n_predict == 0) gen->prefill_only = true;
  if (n_predict && *n_predict > 0) gen->params.max_tokens = static_cast<int>(*n_predict);
  float repeat_penalty = 1.0f;
  FW_RETURN_IF_ERROR(f.number("repeat_penalty", 0.01, 10.0, &repeat_penalty));
  gen->params.repetition_penalty = repeat_penalty;
  FW_RETURN_IF_ERROR(f.integer("n_probs", 0, SamplingParams::kMaxLogprobs, &gen->params.logprobs));
  std::optional<int64_t> deadline;
  FW_RETURN_IF_ERROR(f.integer("t_max_predict_ms", 0, kMaxDeadlineMs, &deadline));
  if (deadline && *deadline > 0) gen->max_time_ms = *deadline;  // llama.cpp: 0 = no limit
  return Status::OK();
}

// `prompt`: a string, or OpenAI's array form holding exactly one string.
Status parse_prompt(const Fields& f, std::string* out) {
  const json* v = f.get("prompt");
  if (v == nullptr) return Status::OK();
  if (v->is_string()) {
    *out = v->get<std::string>();
    return Status::OK();
  }
  if (v->is_array() && v->size() == 1 && (*v)[0].is_string()) {
    *out = (*v)[0].get<std::string>();
    return Status::OK();
  }
  if (v->is_array() && v->size() > 1)
    return field_error(f.path("prompt"), "batched prompts are not supported; send one string");
  return field_error(f.path("prompt"), "must be a string");
}

Status parse_file_list(const json& array, const std::string& path, std::string_view name_key, std::string_view text_key,
                       std::vector<std::pair<std::string, std::string>>* out) {
  for (size_t i = 0; i < array.size(); ++i) {
    const std::string item_path = index_path(path, i);
    if (!array[i].is_object()) return field_error(item_path, "must be an object");
    Fields item(array[i], item_path);
    std::string name, text;
    FW_RETURN_IF_ERROR(item.string(name_key, &name));
    FW_RETURN_IF_ERROR(item.string(text_key, &text));
    out->emplace_back(std::move(name), std::move(text));
  }
  return Status::OK();
}

Status parse_content(const json& v, const std::string& path, std::string* out) {
  if (v.is_null()) return Status::OK();
  if (v.is_string()) {
    *out = v.get<std::string>();
    return Status::OK();
  }
  if (!v.is_array()) return field_error(path, "must be a string or an array of content parts");
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string part_path = index_path(path, i);
    if (!v[i].is_object()) return field_error(part_path, "must be an object");
    Fields part(v[i], part_path);
    std::string type;
    FW_RETURN_IF_ERROR(part.required_string("type", &type));
    if (type != "text")
      return field_error(part.path("type"), "only \"text\" parts are supported, got \"" + type + "\"");
    std::string text;
    FW_RETURN_IF_ERROR(part.string("text", &text));
    *out += text;
  }
  return Status::OK();
}

Status parse_tool_calls(const json& v, const std::string& path, std::vector<ToolCall>* out) {
  if (!v.is_array()) return field_error(path, "must be an array");
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string call_path = index_path(path, i);
    if (!v[i].is_object()) return field_error(call_path, "must be an object");
    Fields call(v[i], call_path);
    ToolCall tc;
    FW_RETURN_IF_ERROR(call.string("id", &tc.id));
    const json* function = nullptr;
    FW_RETURN_IF_ERROR(call.object("function", &function));
    if (function == nullptr) return field_error(call.path("function"), "is required");
    Fields fn(*function, call.path("function"));
    FW_RETURN_IF_ERROR(fn.required_string("name", &tc.name));
    FW_RETURN_IF_ERROR(fn.string("arguments", &tc.arguments));
    out->push_back(std::move(tc));
  }
  return Status::OK();
}

Status parse_messages(const Fields& f, std::vector<ChatTurn>* out) {
  const json* messages = nullptr;
  FW_RETURN_IF_ERROR(f.array("messages", &messages));
  if (messages == nullptr || messages->empty()) return field_error("messages", "must be a non-empty array");
  for (size_t i = 0; i < messages->size(); ++i) {
    const std::string path = index_path("messages", i);
    if (!(*messages)[i].is_object()) return field_error(path, "must be an object");
    Fields m((*messages)[i], path);
    ChatTurn turn;
    FW_RETURN_IF_ERROR(m.required_string("role", &turn.role));
    if (turn.role.empty()) return field_error(m.path("role"), "must not be empty");
    if (const json* content = m.get("content"))
      FW_RETURN_IF_ERROR(parse_content(*content, m.path("content"), &turn.content));
    if (const json* calls = m.get("tool_calls"))
      FW_RETURN_IF_ERROR(parse_tool_calls(*calls, m.path("tool_calls"), &turn.tool_calls));
    FW_RETURN_IF_ERROR(m.string("tool_call_id", &turn.tool_call_id));
    out->push_back(std::move(turn));
  }
  return Status::OK();
}

Status parse_tools(const Fields& f, ChatRequest* out) {
  const json* tools = nullptr;
  FW_RETURN_IF_ERROR(f.array("tools", &tools));
  if (tools != nullptr) {
    for (size_t i = 0; i < tools->size(); ++i) {
      const std::string path = index_path("tools", i);
      if (!(*tools)[i].is_object()) return field_error(path, "must be an object");
      Fields t((*tools)[i], path);
      std::string type = "function";
      FW_RETURN_IF_ERROR(t.string("type", &type));
      if (type != "function") return field_error(t.path("type"), "only \"function\" tools are supported");
      const json* function = nullptr;
      FW_RETURN_IF_ERROR(t.object("function", &function));
      if (function == nullptr) return field_error(t.path("function"), "is required");
      Fields fn(*function, t.path("function"));
      ToolSpec spec;
      FW_RETURN_IF_ERROR(fn.required_string("name", &spec.name));
      FW_RETURN_IF_ERROR(fn.string("description", &spec.description));
      const json* parameters = nullptr;
      FW_RETURN_IF_ERROR(fn.object("parameters", &parameters));
      spec.parameters = parameters != nullptr ? *parameters : json::object();
      out->tools.push_back(std::move(spec));
    }
  }
  const json* choice = f.get("tool_choice");
  if (choice == nullptr) return Status::OK();
  if (choice->is_string()) {
    out->tool_choice = choice->get<std::string>();
    if (out->tool_choice != "none" && out->tool_choice != "auto" && out->tool_choice != "required") {
      return field_error("tool_choice", "must be \"none\", \"auto\", \"required\" or a function object");
    }
    return Status::OK();
  }
  if (!choice->is_object()) return field_error("tool_choice", "must be a string or an object");
  const json* function = nullptr;
  FW_RETURN_IF_ERROR(Fields(*choice, "tool_choice").object("function", &function));
  if (function == nullptr) return field_error("tool_choice.function", "is required");
  FW_RETURN_IF_ERROR(Fields(*function, "tool_choice.function").required_string("name", &out->tool_choice));
  return Status::OK();
}

Status validate_params(const SamplingParams& params) {
  // The parsers checked each field by name; this catches what they share
  // with the sampler's own rules.
  Status s = params.validate();
  if (!s.ok()) return Status::invalid_argument(s.message());
  return Status::OK();
}

}  // namespace

Result<nlohmann::json> parse_json_object(std::string_view body) {
  // Nesting depth first, skipping strings: cheap, and it bounds what the
  // parser builds.
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth)
        return Status::invalid_argument("the JSON body is nested deeper than " + std::to_string(kMaxJsonDepth) +
                                        " levels");
    } else if (c == '}' || c == ']')
      --depth;
  }
  json value = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return Status::invalid_argument("the body is not valid JSON");
  if (!value.is_object()) return Status::invalid_argument("the body must be a JSON object");
  return value;
}

std::string error_param(const Status& status) {
  if (status.code() != StatusCode::kInvalidArgument && status.code() != StatusCode::kOutOfRange &&
      status.code() != StatusCode::kPermissionDenied)
    return {};
  const std::string& m = status.message();
  const size_t colon = m.find(": ");
  if (colon == std::string::npos || colon == 0) return {};
  for (size_t i = 0; i < colon; ++i) {
    const char c = m[i];
    const bool path_char = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                           c == '.' || c == '[' || c == ']';
    if (!path_char) return {};
  }
  return m.substr(0, colon);
}

bool is_tabby_completion(const nlohmann::json& body) {
  const json* segments = find(body, "segments");
  return segments != nullptr && segments->is_object();
}

Result<CompletionRequest> parse_completion_request(const nlohmann::json& body) {
  Fields f(body, "");
  CompletionRequest r;
  r.gen.params.max_tokens = 16;  // OpenAI's default for /v1/completions
  FW_RETURN_IF_ERROR(f.string("model", &r.model));
  if (f.get("prompt") == nullptr) return field_error("prompt", "is required");
  FW_RETURN_IF_ERROR(parse_prompt(f, &r.prompt));
  FW_RETURN_IF_ERROR(f.optional_string("suffix", &r.suffix));
  FW_RETURN_IF_ERROR(f.string("user", &r.user));
  FW_RETURN_IF_ERROR(parse_openai_generation(f, &r.gen));
  FW_RETURN_IF_ERROR(f.integer("logprobs", 0, 5, &r.gen.params.logprobs));  // OpenAI's limit for completions
  FW_RETURN_IF_ERROR(parse_event_context(f, &r.context));
  FW_RETURN_IF_ERROR(validate_params(r.gen.params));
  return r;
}

Result<CompletionRequest> parse_llama_completion_request(const nlohmann::json& body) {
  Fields f(body, "");
  CompletionRequest r;
  FW_RETURN_IF_ERROR(f.string("model", &r.model));
  if (f.get("prompt") == nullptr) return field_error("prompt", "is required");
  FW_RETURN_IF_ERROR(parse_prompt(f, &r.prompt));
  FW_RETURN_IF_ERROR(parse_llama_generation(f, &r.gen));
  FW_RETURN_IF_ERROR(parse_event_context(f, &r.context));
  FW_RETURN_IF_ERROR(validate_params(r.gen.params));
  return r;
}

Result<InfillRequest> parse_infill_request(const nlohmann::json& body) {
  Fields f(body, "");
  InfillRequest r;
  FW_RETURN_IF_ERROR(f.string("model", &r.model));
  FW_RETURN_IF_ERROR(f.string("input_prefix", &r.input_prefix));
  FW_RETURN_IF_ERROR(f.string("input_suffix", &r.input_suffix));
  FW_RETURN_IF_ERROR(f.string("prompt", &r.prompt));
  const json* extra = nullptr;
  FW_RETURN_IF_ERROR(f.array("input_extra", &extra));
  if (extra != nullptr) FW_RETURN_IF_ERROR(parse_file_list(*extra, "input_extra", "filename", "text", &r.input_extra));
  FW_RETURN_IF_ERROR(f.boolean("cache_prompt", &r.cache_prompt));
  FW_RETURN_IF_ERROR(parse_llama_generation(f, &r.gen));
  FW_RETURN_IF_ERROR(parse_event_context(f, &r.context));
  FW_RETURN_IF_ERROR(validate_params(r.gen.params));
  return r;
}

Result<TabbyCompletionRequest> parse_tabby_completion_request(const nlohmann::json& body) {
  Fields f(body, "");
  TabbyCompletionRequest r;
  r.gen.params.temperature = 0.1f;
  r.gen.params.max_tokens = kDefaultMaxTokens;
  FW_RETURN_IF_ERROR(f.string("language", &r.language));
  FW_RETURN_IF_ERROR(f.string("user", &r.user));
  const json* segments = nullptr;
  FW_RETURN_IF_ERROR(f.object("segments", &segments));
  if (segments == nullptr) return field_error("segments", "is required");
  Fields s(*segments, "segments");
  FW_RETURN_IF_ERROR(s.required_string("prefix", &r.prefix));
  FW_RETURN_IF_ERROR(s.string("suffix", &r.suffix));
  FW_RETURN_IF_ERROR(s.string("filepath", &r.filepath));
  FW_RETURN_IF_ERROR(s.string("git_url", &r.git_url));
  FW_RETURN_IF_ERROR(s.string("clipboard", &r.clipboard));
  for (std::string_view key :
       {"declarations", "relevant_snippets_from_changed_files", "relevant_snippets_from_recently_opened_files"}) {
    const json* list = nullptr;
    FW_RETURN_IF_ERROR(s.array(key, &list));
    if (list != nullptr) FW_RETURN_IF_ERROR(parse_file_list(*list, s.path(key), "filepath", "body", &r.snippets));
  }
  FW_RETURN_IF_ERROR(parse_common_generation(f, &r.gen));
  FW_RETURN_IF_ERROR(f.integer("max_tokens", 1, kMaxTokensLimit, &r.gen.params.max_tokens));
  FW_RETURN_IF_ERROR(parse_event_context(f, &r.context));
  if (r.context.language.empty()) r.context.language = r.language;
  if (r.context.path.empty()) r.context.path = r.filepath;
  if (r.context.repo.empty()) r.context.repo = r.git_url;
  FW_RETURN_IF_ERROR(validate_params(r.gen.params));
  return r;
}

Result<ChatRequest> parse_chat_request(const nlohmann::json& body) {
  Fields f(body, "");
  ChatRequest r;
  r.gen.params.max_tokens = kDefaultMaxTokens;
  FW_RETURN_IF_ERROR(f.string("model", &r.model));
  FW_RETURN_IF_ERROR(parse_messages(f, &r.messages));
  FW_RETURN_IF_ERROR(parse_tools(f, &r));
  FW_RETURN_IF_ERROR(f.string("user", &r.user));
  FW_RETURN_IF_ERROR(parse_openai_generation(f, &r.gen));
  // Newer clients send max_completion_tokens instead of max_tokens.
  FW_RETURN_IF_ERROR(f.integer("max_completion_tokens", 1, kMaxTokensLimit, &r.gen.params.max_tokens));
  FW_RETURN_IF_ERROR(f.boolean("logprobs", &r.logprobs));
  if (r.logprobs) {
    r.gen.params.logprobs = 0;
    FW_RETURN_IF_ERROR(f.integer("top_logprobs", 0, SamplingParams::kMaxLogprobs, &r.gen.params.logprobs));
  }
  FW_RETURN_IF_ERROR(parse_event_context(f, &r.context));
  FW_RETURN_IF_ERROR(validate_params(r.gen.params));
  return r;
}

Result<TabbyEventRequest> parse_tabby_event(const nlohmann::json& body, std::string_view query_select_kind) {
  Fields f(body, "");
  TabbyEventRequest r;
  FW_RETURN_IF_ERROR(f.required_string("type", &r.type));
  FW_RETURN_IF_ERROR(f.required_string("completion_id", &r.completion_id));
  FW_RETURN_IF_ERROR(f.integer("choice_index", 0, kMaxChoices - 1, &r.choice_index));
  r.select_kind = std::string(query_select_kind);
  FW_RETURN_IF_ERROR(f.string("select_kind", &r.select_kind));
  auto kind = feedback::outcome_kind_from_tabby(r.type, r.select_kind);
  if (!kind.ok()) return field_error("type", kind.status().message());
  r.kind = *kind;
  return r;
}

Result<FeedbackRequest> parse_feedback_request(const nlohmann::json& body) {
  Fields f(body, "");
  FeedbackRequest r;
  FW_RETURN_IF_ERROR(f.required_string("id", &r.id));
  FW_RETURN_IF_ERROR(f.integer("choice_index", 0, kMaxChoices - 1, &r.choice_index));
  std::string kind;
  FW_RETURN_IF_ERROR(f.required_string("kind", &kind));
  auto parsed = feedback::outcome_kind_from_name(kind);
  if (!parsed.ok()) return field_error("kind", parsed.status().message());
  r.kind = *parsed;
  FW_RETURN_IF_ERROR(f.integer("accepted_length", 0, std::numeric_limits<int64_t>::max(), &r.accepted_length));
  FW_RETURN_IF_ERROR(f.optional_string("final_text", &r.final_text));
  if (r.final_text && r.final_text->size() > kMaxFinalTextBytes)
    return field_error("final_text", "is " + std::to_string(r.final_text->size()) + " bytes; at most " +
                                         std::to_string(kMaxFinalTextBytes) + " are kept");
  if (r.kind == feedback::OutcomeKind::kPartiallyAccepted && !r.accepted_length) {
    return field_error("accepted_length", "is required when kind is \"partially_accepted\"");
  }
  return r;
}

Result<SwapRequest> parse_swap_request(const nlohmann::json& body) {
  Fields f(body, "");
  SwapRequest r;
  FW_RETURN_IF_ERROR(f.required_string("model", &r.model));
  if (r.model.empty()) return field_error("model", "must name a registered model or a checkpoint directory");
  FW_RETURN_IF_ERROR(f.string("id", &r.id));
  FW_RETURN_IF_ERROR(f.string("deployment", &r.deployment));
  if (r.deployment.empty()) return field_error("deployment", "must not be empty");
  FW_RETURN_IF_ERROR(f.boolean("wait", &r.wait));
  return r;
}

}  // namespace flywheel::serve
