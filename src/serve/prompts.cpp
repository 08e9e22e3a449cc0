#include "serve/prompts.h"

#include <algorithm>

namespace flywheel::serve {
namespace {

int64_t max_prompt_tokens(const ServedModel& model) { return std::max<int64_t>(1, model.context_length - 1); }

Status too_long(const ServedModel& model, size_t tokens, std::string_view field) {
  return Status::out_of_range(std::string(field) + ": the prompt is " + std::to_string(tokens) +
                              " tokens; the model's context is " + std::to_string(model.context_length) +
                              " tokens (send \"truncate\": true to cut the start of the prefix)");
}

// A cut point at or after `at`: the next line start if one is within 256
// bytes, else the next UTF-8 character start.
size_t cut_point(std::string_view text, size_t at) {
  at = std::min(at, text.size());
  const size_t newline = text.find('\n', at);
  if (newline != std::string_view::npos && newline - at < 256) return newline + 1;
  while (at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) ++at;
  return at;
}

Result<std::vector<TokenId>> encode_fim(const ServedModel& model, const FimRequest& request,
                                        std::string_view middle_start, StopConditions* stop) {
  FW_ASSIGN_OR_RETURN(Prompt prompt,
                      build_fim_prompt(model.format, model.tokenizer(), request, preferred_fim_order(model.format)));
  std::vector<TokenId> tokens = encode_prompt(model.tokenizer(), prompt);
  if (!middle_start.empty()) {
    std::vector<TokenId> rest = encode_verbatim(model.tokenizer(), middle_start);
    tokens.insert(tokens.end(), rest.begin(), rest.end());
  }
  *stop = std::move(prompt.stop);
  return tokens;
}

// Bytes one token covers, at most, in the text a FIM prompt is cut from
// (code and prose tokenize at 2-5 bytes a token; a run of spaces or a
// repeated character, rarely more than 16): the byte cut that comes first
// keeps this many bytes per token of the budget, so it removes only text
// the token cut would remove too, short of such runs.
constexpr size_t kBytesPerTokenBound = 16;

// The end of `text` from at most `bytes` before its end: at a line start
// when one is near, never inside a UTF-8 character.
std::string tail(const std::string& text, size_t bytes) {
  if (text.size() <= bytes) return text;
  return text.substr(cut_point(text, text.size() - bytes));
}

// The start of `text`, at most `bytes`: ending after a newline when one is
// within 256 bytes of the cut, never inside a UTF-8 character.
std::string head(const std::string& text, size_t bytes) {
  if (text.size() <= bytes) return text;
  if (bytes == 0) return {};
  size_t end = bytes;
  const size_t newline = text.rfind('\n', end - 1);
  if (newline != std::string::npos && end - newline <= 256) return text.substr(0, newline + 1);
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

// Cuts `request` so its FIM prompt fits `limit` tokens, tokenizing each
// part once: bytes first (kBytesPerTokenBound per token of the budget, so an
// 8 MiB prefix costs no more than a fitting one), then the least relevant
// extra files while they take more than half the budget, then the prefix
// from its start and the suffix from its end, the suffix keeping at least a
// quarter of what is left (llama.cpp's server splits 3:1 the same way).
Status fit_fim(const ServedModel& model, FimRequest* request, std::string_view middle_start, size_t limit,
               bool* truncated) {
  const size_t keep_bytes = limit * kBytesPerTokenBound;
  const size_t prefix_bytes = request->prefix.size(), suffix_bytes = request->suffix.size();
  request->prefix = tail(request->prefix, keep_bytes);
  request->suffix = head(request->suffix, keep_bytes);
  size_t extra_bytes = 0, keep_extra = request->extra_files.size();
  for (size_t i = request->extra_files.size(); i-- > 0;) {  // most relevant last
    extra_bytes += request->extra_files[i].second.size();
    if (extra_bytes > keep_bytes) break;
    keep_extra = i;
  }
  *truncated = request->prefix.size() < prefix_bytes || request->suffix.size() < suffix_bytes || keep_extra > 0;
  request->extra_files.erase(request->extra_files.begin(),
                             request->extra_files.begin() + static_cast<std::ptrdiff_t>(keep_extra));

  // The markers, the extra files and the middle's start.
  FimRequest frame = *request;
  frame.prefix.clear();
  frame.suffix.clear();
  StopConditions unused;
  FW_ASSIGN_OR_RETURN(std::vector<TokenId> fixed, encode_fim(model, frame, middle_start, &unused));
  while (fixed.size() > limit / 2 && !frame.extra_files.empty()) {
    frame.extra_files.erase(frame.extra_files.begin());
    request->extra_files.erase(request->extra_files.begin());
    *truncated = true;
    FW_ASSIGN_OR_RETURN(fixed, encode_fim(model, frame, middle_start, &unused));
  }
  if (fixed.size() >= limit) return too_long(model, fixed.size(), "prompt");
  const size_t budget = limit - fixed.size();

  const Tokenizer& tokenizer = model.tokenizer();
  const std::vector<TokenId> prefix = encode_verbatim(tokenizer, request->prefix);
  const std::vector<TokenId> suffix = encode_verbatim(tokenizer, request->suffix);
  if (prefix.size() + suffix.size() <= budget) return Status::OK();
  *truncated = true;
  const size_t suffix_take = std::min(suffix.size(), std::max(budget / 4, budget - std::min(budget, prefix.size())));
  const size_t prefix_take = std::min(prefix.size(), budget - suffix_take);
  const std::string kept_prefix = tokenizer.decode(std::span<const TokenId>(prefix).last(prefix_take));
  const std::string kept_suffix = tokenizer.decode(std::span<const TokenId>(suffix).first(suffix_take));
  request->prefix = prefix_take == 0 ? std::string() : tail(request->prefix, kept_prefix.size());
  request->suffix = head(request->suffix, kept_suffix.size());
  return Status::OK();
}

}  // namespace

Result<BuiltPrompt> build_fim(const ServedModel& model, FimRequest request, std::string_view middle_start,
                              bool truncate) {
  if (model.format.fim == FimStyle::kNone) {
    return Status::invalid_argument("suffix: model '" + model.id + "' has no fill-in-the-middle format");
  }
  BuiltPrompt built;
  built.prefix = request.prefix + std::string(middle_start);
  built.suffix = request.suffix;
  const auto limit = static_cast<size_t>(max_prompt_tokens(model));
  if (truncate) FW_RETURN_IF_ERROR(fit_fim(model, &request, middle_start, limit, &built.truncated));
  FW_ASSIGN_OR_RETURN(built.tokens, encode_fim(model, request, middle_start, &built.stop));
  // A cut between tokens may tokenize a few ids longer than counted: cut the
  // prefix by the excess (and a margin), at most twice more.
  for (int round = 0; truncate && built.tokens.size() > limit && !request.prefix.empty() && round < 2; ++round) {
    const size_t excess = built.tokens.size() - limit + 4;
    const std::vector<TokenId> start = encode_verbatim(model.tokenizer(), request.prefix.substr(0, excess * 64));
    const size_t take = std::min(excess, start.size());
    const std::string cut = model.tokenizer().decode(std::span<const TokenId>(start).first(take));
    request.prefix.erase(0, cut_point(request.prefix, std::max<size_t>(cut.size(), 1)));
    FW_ASSIGN_OR_RETURN(built.tokens, encode_fim(model, request, middle_start, &built.stop));
  }
  if (built.tokens.size() > limit) return too_long(model, built.tokens.size(), "prompt");
  return built;
}

Result<BuiltPrompt> build_plain(const ServedModel& model, const std::string& prompt, bool truncate) {
  BuiltPrompt built;
  built.prefix = prompt;
  // As Hugging Face tokenizes a prompt: with BOS where the tokenizer adds one.
  built.tokens = model.tokenizer().encode(prompt, /*add_special_tokens=*/true);
  if (built.tokens.empty()) {
    const auto bos = model.model->config().bos_token_id;
    if (!bos) return Status::invalid_argument("prompt: is empty and the model has no bos_token_id to start from");
    built.tokens.push_back(static_cast<TokenId>(*bos));
  }
  const auto limit = static_cast<size_t>(max_prompt_tokens(model));
  if (built.tokens.size() > limit) {
    if (!truncate) return too_long(model, built.tokens.size(), "prompt");
    built.tokens.erase(built.tokens.begin(), built.tokens.end() - static_cast<std::ptrdiff_t>(limit));
    built.truncated = true;
  }
  return built;
}

Result<BuiltPrompt> build_chat(const ServedModel& model, const std::vector<ChatMessage>& messages) {
  if (model.format.chat == ChatStyle::kNone) {
    return Status::invalid_argument("messages: model '" + model.id + "' has no chat format");
  }
  FW_ASSIGN_OR_RETURN(Prompt prompt, build_chat_prompt(model.format, model.tokenizer(), messages));
  BuiltPrompt built;
  built.tokens = encode_prompt(model.tokenizer(), prompt);
  built.stop = std::move(prompt.stop);
  built.prefix = std::move(prompt.text);
  if (built.tokens.size() > static_cast<size_t>(max_prompt_tokens(model))) {
    return too_long(model, built.tokens.size(), "messages");
  }
  return built;
}

bool single_line_rule(std::string_view prefix) {
  const size_t line_start = prefix.rfind('\n');
  std::string_view line = line_start == std::string_view::npos ? prefix : prefix.substr(line_start + 1);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
  if (line.find_first_not_of(" \t") == std::string_view::npos) return false;  // empty line: a block may follow
  const char last = line.back();
  if (last == '{' || last == '[' || last == '(' || last == ':') return false;
  if (line.size() >= 2 && line.substr(line.size() - 2) == "=>") return false;
  return true;
}

}  // namespace flywheel::serve
