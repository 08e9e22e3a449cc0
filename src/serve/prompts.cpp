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
  FW_ASSIGN_OR_RETURN(built.tokens, encode_fim(model, request, middle_start, &built.stop));
  // Each round cuts about as many bytes as the excess tokens hold, plus a
  // margin; token counts are not linear in bytes, hence the loop.
  for (int round = 0; built.tokens.size() > limit && truncate && round < 16; ++round) {
    if (request.prefix.empty() && !request.extra_files.empty()) {
      request.extra_files.erase(request.extra_files.begin());  // least relevant first
    } else if (!request.prefix.empty()) {
      const size_t excess = built.tokens.size() - limit;
      const double bytes_per_token =
          std::max(1.0, static_cast<double>(request.prefix.size()) / std::max<size_t>(1, built.tokens.size()));
      const auto cut = static_cast<size_t>(static_cast<double>(excess) * bytes_per_token * 1.2) + 16;
      request.prefix.erase(0, cut_point(request.prefix, cut));
    } else {
      break;
    }
    built.truncated = true;
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
