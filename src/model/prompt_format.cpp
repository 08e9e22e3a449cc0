#include "model/prompt_format.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <string>

namespace flywheel {
namespace {

// A special marker: how it reads in Prompt::text, and the token spellings to
// look for, in order of preference. CodeLlama's markers are vocabulary pieces
// with a SentencePiece word start (▁<SUF> reads " <SUF>").
struct Marker {
  std::string_view display;
  std::string_view spellings[2];  // the second may be empty
};

// ---- the families' tokens ----
namespace qwen {
constexpr Marker kPrefix{"<|fim_prefix|>", {"<|fim_prefix|>"}};
constexpr Marker kSuffix{"<|fim_suffix|>", {"<|fim_suffix|>"}};
constexpr Marker kMiddle{"<|fim_middle|>", {"<|fim_middle|>"}};
constexpr Marker kPad{"<|fim_pad|>", {"<|fim_pad|>"}};
constexpr Marker kFileSep{"<|file_sep|>", {"<|file_sep|>"}};
constexpr Marker kRepoName{"<|repo_name|>", {"<|repo_name|>"}};
constexpr Marker kEndOfText{"<|endoftext|>", {"<|endoftext|>"}};
constexpr Marker kImStart{"<|im_start|>", {"<|im_start|>"}};
constexpr Marker kImEnd{"<|im_end|>", {"<|im_end|>"}};
}  // namespace qwen

namespace starcoder {
constexpr Marker kPrefix{"<fim_prefix>", {"<fim_prefix>"}};
constexpr Marker kSuffix{"<fim_suffix>", {"<fim_suffix>"}};
constexpr Marker kMiddle{"<fim_middle>", {"<fim_middle>"}};
constexpr Marker kPad{"<fim_pad>", {"<fim_pad>"}};
constexpr Marker kFileSep{"<file_sep>", {"<file_sep>"}};     // StarCoder2
constexpr Marker kRepoName{"<repo_name>", {"<repo_name>"}};  // StarCoder2
constexpr Marker kRepoName1{"<reponame>", {"<reponame>"}};   // StarCoder 1
constexpr Marker kFileName1{"<filename>", {"<filename>"}};   // StarCoder 1
constexpr Marker kEndOfText{"<|endoftext|>", {"<|endoftext|>"}};
}  // namespace starcoder

namespace codellama {
constexpr Marker kBos{"<s>", {"<s>"}};
constexpr Marker kEos{"</s>", {"</s>"}};
constexpr Marker kPrefix{"<PRE>", {"▁<PRE>", "<PRE>"}};
constexpr Marker kSuffix{" <SUF>", {"▁<SUF>", "<SUF>"}};
constexpr Marker kMiddle{" <MID>", {"▁<MID>", "<MID>"}};
constexpr Marker kEot{" <EOT>", {"▁<EOT>", "<EOT>"}};
}  // namespace codellama

namespace deepseek {
constexpr Marker kBos{"<｜begin▁of▁sentence｜>", {"<｜begin▁of▁sentence｜>"}};
constexpr Marker kEos{"<｜end▁of▁sentence｜>", {"<｜end▁of▁sentence｜>"}};
constexpr Marker kBegin{"<｜fim▁begin｜>", {"<｜fim▁begin｜>"}};
constexpr Marker kHole{"<｜fim▁hole｜>", {"<｜fim▁hole｜>"}};
constexpr Marker kEnd{"<｜fim▁end｜>", {"<｜fim▁end｜>"}};
constexpr Marker kEot{"<|EOT|>", {"<|EOT|>"}};  // DeepSeek-Coder-Instruct's end of turn
}  // namespace deepseek

namespace llama3 {
constexpr Marker kBos{"<|begin_of_text|>", {"<|begin_of_text|>"}};
constexpr Marker kEos{"<|end_of_text|>", {"<|end_of_text|>"}};
constexpr Marker kStartHeader{"<|start_header_id|>", {"<|start_header_id|>"}};
constexpr Marker kEndHeader{"<|end_header_id|>", {"<|end_header_id|>"}};
constexpr Marker kEot{"<|eot_id|>", {"<|eot_id|>"}};
constexpr Marker kEom{"<|eom_id|>", {"<|eom_id|>"}};  // Llama 3.1 tool calls
}  // namespace llama3

constexpr std::string_view kPlainUserStop = "\nUser:";

struct Resolved {
  TokenId id;
  std::string_view spelling;
};

std::optional<Resolved> resolve(const Tokenizer& tokenizer, const Marker& marker) {
  for (std::string_view spelling : marker.spellings)
    if (!spelling.empty())
      if (auto id = tokenizer.token_to_id(spelling)) return Resolved{*id, spelling};
  return std::nullopt;
}

bool has(const Tokenizer& tokenizer, const Marker& marker) { return resolve(tokenizer, marker).has_value(); }

// ---- the format table ----
struct FormatEntry {
  std::string_view name;
  FimStyle fim;
  ChatStyle chat;
  bool spm;
  std::string_view aliases[4];  // unused slots empty
};

constexpr FormatEntry kFormats[] = {
    {"qwen2.5-coder", FimStyle::kQwen, ChatStyle::kChatMl, false, {"qwen-coder", "qwen2.5", "qwen2-5-coder", "qwen"}},
    {"starcoder", FimStyle::kStarCoder, ChatStyle::kNone, true, {"starcoder2", "starcoder1", "bigcode"}},
    {"codellama", FimStyle::kCodeLlama, ChatStyle::kNone, true, {"code-llama"}},
    {"deepseek-coder", FimStyle::kDeepSeekCoder, ChatStyle::kNone, false, {"deepseek"}},
    {"flywheel", FimStyle::kQwen, ChatStyle::kPlainText, true, {"default"}},
    {"chatml", FimStyle::kNone, ChatStyle::kChatMl, false, {}},
    {"llama3", FimStyle::kNone, ChatStyle::kLlama3, false, {"llama-3", "llama3.1", "llama-3.1"}},
    {"plain", FimStyle::kNone, ChatStyle::kPlainText, false, {"none", "text"}},
};

PromptFormat make_format(const FormatEntry& e) { return PromptFormat{std::string(e.name), e.fim, e.chat, e.spm}; }

std::string normalize_name(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    out += c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

const FormatEntry* find_format(std::string_view name) {
  const std::string n = normalize_name(name);
  for (const auto& e : kFormats) {
    if (n == e.name) return &e;
    for (std::string_view a : e.aliases)
      if (!a.empty() && n == a) return &e;
  }
  return nullptr;
}

std::string joined_names() {
  std::string out;
  for (const auto& e : kFormats) {
    if (!out.empty()) out += ", ";
    out += e.name;
  }
  return out;
}

std::string names_with(bool (*pred)(const FormatEntry&)) {
  std::string out;
  for (const auto& e : kFormats) {
    if (!pred(e)) continue;
    if (!out.empty()) out += ", ";
    out += e.name;
  }
  return out;
}

// The markers a layout cannot do without.
std::vector<const Marker*> required_fim_markers(FimStyle style) {
  switch (style) {
    case FimStyle::kQwen:
      return {&qwen::kPrefix, &qwen::kSuffix, &qwen::kMiddle};
    case FimStyle::kStarCoder:
      return {&starcoder::kPrefix, &starcoder::kSuffix, &starcoder::kMiddle};
    case FimStyle::kCodeLlama:
      return {&codellama::kPrefix, &codellama::kSuffix, &codellama::kMiddle};
    case FimStyle::kDeepSeekCoder:
      return {&deepseek::kBegin, &deepseek::kHole, &deepseek::kEnd};
    case FimStyle::kNone:
      break;
  }
  return {};
}

std::vector<const Marker*> required_chat_markers(ChatStyle style) {
  switch (style) {
    case ChatStyle::kChatMl:
      return {&qwen::kImStart, &qwen::kImEnd};
    case ChatStyle::kLlama3:
      return {&llama3::kBos, &llama3::kStartHeader, &llama3::kEndHeader, &llama3::kEot};
    case ChatStyle::kPlainText:
    case ChatStyle::kNone:
      break;
  }
  return {};
}

Status check_markers(const PromptFormat& format, const Tokenizer& tokenizer, const std::vector<const Marker*>& markers,
                     std::string_view what) {
  std::string missing;
  for (const Marker* m : markers) {
    if (has(tokenizer, *m)) continue;
    if (!missing.empty()) missing += ", ";
    missing += m->spellings[0];
  }
  if (missing.empty()) return Status::OK();
  return Status::invalid_argument("prompt format '" + format.name + "' needs the " + std::string(what) + " token(s) " +
                                  missing +
                                  ", which this tokenizer does not have; pick the format of the model's family "
                                  "(formats: " +
                                  joined_names() + ") or let flywheel detect it from the tokenizer");
}

// Collects segments; adjacent text spans are joined.
class Builder {
 public:
  explicit Builder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

  void text(std::string_view s) {
    if (s.empty()) return;
    prompt_.text += s;
    if (!prompt_.segments.empty() && !prompt_.segments.back().token) {
      prompt_.segments.back().text += s;
    } else {
      prompt_.segments.push_back({std::string(s), std::nullopt});
    }
  }

  // The caller has checked required markers; an optional one that is
  // missing is skipped (returns false).
  bool marker(const Marker& m) {
    auto r = resolve(tokenizer_, m);
    if (!r) return false;
    std::string_view display = m.display;
    // A marker shown with a leading space whose token has no word start
    // (a "<SUF>" spelling instead of "▁<SUF>"): the space becomes text.
    if (display.starts_with(' ') && !r->spelling.starts_with("▁")) {
      text(" ");
      display.remove_prefix(1);
    }
    prompt_.text += display;
    prompt_.segments.push_back({std::string(display), r->id});
    return true;
  }

  Prompt finish(StopConditions stop) {
    prompt_.stop = std::move(stop);
    return std::move(prompt_);
  }

 private:
  const Tokenizer& tokenizer_;
  Prompt prompt_;
};

StopConditions stop_ids(const Tokenizer& tokenizer, std::initializer_list<const Marker*> markers) {
  StopConditions stop;
  for (const Marker* m : markers)
    if (auto r = resolve(tokenizer, *m)) stop.token_ids.push_back(r->id);
  std::sort(stop.token_ids.begin(), stop.token_ids.end());
  stop.token_ids.erase(std::unique(stop.token_ids.begin(), stop.token_ids.end()), stop.token_ids.end());
  return stop;
}

std::string with_final_newline(std::string_view s) {
  std::string out(s);
  if (!out.empty() && out.back() != '\n') out += '\n';
  return out;
}

// ---- FIM layouts ----

void build_qwen(Builder& b, const Tokenizer& t, const FimRequest& r, FimOrder order) {
  if (has(t, qwen::kFileSep)) {
    if (!r.repo_name.empty() && b.marker(qwen::kRepoName)) b.text(r.repo_name + "\n");
    for (const auto& [path, content] : r.extra_files) {
      b.marker(qwen::kFileSep);
      b.text(path + "\n" + with_final_newline(content));
    }
    if (!r.file_path.empty() || !r.extra_files.empty()) {
      b.marker(qwen::kFileSep);
      b.text(r.file_path + "\n");
    }
  }
  if (order == FimOrder::kPsm) {
    b.marker(qwen::kPrefix);
    b.text(r.prefix);
    b.marker(qwen::kSuffix);
    b.text(r.suffix);
    b.marker(qwen::kMiddle);
  } else {
    b.marker(qwen::kPrefix);
    b.marker(qwen::kSuffix);
    b.text(r.suffix);
    b.marker(qwen::kMiddle);
    b.text(r.prefix);
  }
}

void build_starcoder(Builder& b, const Tokenizer& t, const FimRequest& r, FimOrder order) {
  if (has(t, starcoder::kFileSep)) {  // StarCoder2 repository layout
    if (!r.repo_name.empty()) {
      if (b.marker(starcoder::kRepoName)) b.text(r.repo_name);
    }
    for (const auto& [path, content] : r.extra_files) {
      b.marker(starcoder::kFileSep);
      b.text(path + "\n" + content);
    }
    if (!r.file_path.empty() || !r.extra_files.empty()) {
      b.marker(starcoder::kFileSep);
      b.text(r.file_path + "\n");
    }
  }
  // StarCoder 1: metadata at the start of the document, i.e. of the prefix.
  const bool metadata = !has(t, starcoder::kFileSep) && (!r.repo_name.empty() || !r.file_path.empty());
  auto write_prefix = [&] {
    if (metadata) {
      if (!r.repo_name.empty() && b.marker(starcoder::kRepoName1)) b.text(r.repo_name);
      if (!r.file_path.empty() && b.marker(starcoder::kFileName1)) b.text(r.file_path + "\n");
    }
    b.text(r.prefix);
  };
  if (order == FimOrder::kPsm) {
    b.marker(starcoder::kPrefix);
    write_prefix();
    b.marker(starcoder::kSuffix);
    b.text(r.suffix);
    b.marker(starcoder::kMiddle);
  } else {
    b.marker(starcoder::kPrefix);
    b.marker(starcoder::kSuffix);
    b.text(r.suffix);
    b.marker(starcoder::kMiddle);
    write_prefix();
  }
}

void build_codellama(Builder& b, const FimRequest& r, FimOrder order) {
  b.marker(codellama::kBos);
  b.marker(codellama::kPrefix);
  if (order == FimOrder::kPsm) {
    b.text(" " + r.prefix);
    b.marker(codellama::kSuffix);
    b.text(r.suffix);
    b.marker(codellama::kMiddle);
  } else {
    b.marker(codellama::kSuffix);
    b.text(r.suffix);
    b.marker(codellama::kMiddle);
    b.text(" " + r.prefix);
  }
}

void build_deepseek(Builder& b, const FimRequest& r) {
  b.marker(deepseek::kBos);
  b.marker(deepseek::kBegin);
  b.text(r.prefix);
  b.marker(deepseek::kHole);
  b.text(r.suffix);
  b.marker(deepseek::kEnd);
}

std::string capitalized(std::string_view role) {
  std::string out(role);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

std::vector<std::string_view> prompt_format_names() {
  std::vector<std::string_view> names;
  for (const auto& e : kFormats) names.push_back(e.name);
  return names;
}

Result<PromptFormat> prompt_format_from_name(std::string_view name) {
  if (const FormatEntry* e = find_format(name)) return make_format(*e);
  return Status::invalid_argument("unknown prompt format '" + std::string(name) +
                                  "'; known formats: " + joined_names());
}

Status check_prompt_format(const PromptFormat& format, const Tokenizer& tokenizer) {
  FW_RETURN_IF_ERROR(check_markers(format, tokenizer, required_fim_markers(format.fim), "fill-in-the-middle"));
  return check_markers(format, tokenizer, required_chat_markers(format.chat), "chat");
}

Result<PromptFormat> detect_prompt_format(const Tokenizer& tokenizer, std::string_view model_type_hint) {
  if (const FormatEntry* e = find_format(model_type_hint)) {
    PromptFormat format = make_format(*e);
    Status s = check_prompt_format(format, tokenizer);
    if (!s.is_ok()) return s.with_context("prompt format '" + std::string(model_type_hint) + "' was asked for");
    return format;
  }
  // Families by their FIM markers; a partial set means a tokenizer that was
  // edited or truncated, which no layout can use.
  struct Family {
    const char* name;
    FimStyle style;
  };
  for (const Family& f :
       {Family{"qwen2.5-coder", FimStyle::kQwen}, Family{"starcoder", FimStyle::kStarCoder},
        Family{"deepseek-coder", FimStyle::kDeepSeekCoder}, Family{"codellama", FimStyle::kCodeLlama}}) {
    const auto markers = required_fim_markers(f.style);
    size_t present = 0;
    for (const Marker* m : markers) present += has(tokenizer, *m) ? 1 : 0;
    if (present == 0) continue;
    PromptFormat format = make_format(*find_format(f.name));
    if (present < markers.size()) return check_markers(format, tokenizer, markers, "fill-in-the-middle");
    if (f.style == FimStyle::kQwen && !(has(tokenizer, qwen::kImStart) && has(tokenizer, qwen::kImEnd)))
      return make_format(*find_format("flywheel"));  // Qwen's FIM tokens without ChatML: flywheel's trainer
    return format;
  }
  if (has(tokenizer, llama3::kStartHeader) && has(tokenizer, llama3::kEot) && has(tokenizer, llama3::kBos) &&
      has(tokenizer, llama3::kEndHeader))
    return make_format(*find_format("llama3"));
  if (has(tokenizer, qwen::kImStart) && has(tokenizer, qwen::kImEnd)) return make_format(*find_format("chatml"));
  return make_format(*find_format("plain"));
}

StopConditions fim_stop_conditions(const PromptFormat& format, const Tokenizer& tokenizer) {
  // End of document, padding, and any marker: a model that writes a marker
  // has left the middle it was asked for.
  switch (format.fim) {
    case FimStyle::kQwen:
      return stop_ids(tokenizer, {&qwen::kEndOfText, &qwen::kPad, &qwen::kFileSep, &qwen::kRepoName, &qwen::kPrefix,
                                  &qwen::kSuffix, &qwen::kMiddle});
    case FimStyle::kStarCoder:
      return stop_ids(tokenizer, {&starcoder::kEndOfText, &starcoder::kPad, &starcoder::kFileSep, &starcoder::kRepoName,
                                  &starcoder::kRepoName1, &starcoder::kFileName1, &starcoder::kPrefix,
                                  &starcoder::kSuffix, &starcoder::kMiddle});
    case FimStyle::kCodeLlama:
      return stop_ids(tokenizer, {&codellama::kEot, &codellama::kEos, &codellama::kPrefix, &codellama::kSuffix,
                                  &codellama::kMiddle});
    case FimStyle::kDeepSeekCoder:
      return stop_ids(tokenizer,
                      {&deepseek::kEos, &deepseek::kEot, &deepseek::kBegin, &deepseek::kHole, &deepseek::kEnd});
    case FimStyle::kNone:
      break;
  }
  return {};
}

StopConditions chat_stop_conditions(const PromptFormat& format, const Tokenizer& tokenizer) {
  switch (format.chat) {
    case ChatStyle::kChatMl:
      return stop_ids(tokenizer, {&qwen::kImEnd, &qwen::kEndOfText});
    case ChatStyle::kLlama3:
      return stop_ids(tokenizer, {&llama3::kEot, &llama3::kEos, &llama3::kEom});
    case ChatStyle::kPlainText: {
      StopConditions stop = stop_ids(tokenizer, {&qwen::kEndOfText});
      stop.strings.emplace_back(kPlainUserStop);
      return stop;
    }
    case ChatStyle::kNone:
      break;
  }
  return {};
}

FimOrder preferred_fim_order(const PromptFormat& format) {
  return format.fim_spm && format.name == "flywheel" ? FimOrder::kSpm : FimOrder::kPsm;
}

Result<Prompt> build_fim_prompt(const PromptFormat& format, const Tokenizer& tokenizer, const FimRequest& request,
                                FimOrder order) {
  if (format.fim == FimStyle::kNone)
    return Status::unsupported("prompt format '" + format.name +
                               "' has no fill-in-the-middle layout; formats with one: " +
                               names_with([](const FormatEntry& e) { return e.fim != FimStyle::kNone; }));
  if (order == FimOrder::kSpm && !format.fim_spm)
    return Status::unsupported("prompt format '" + format.name +
                               "' does not define suffix-prefix-middle (SPM) order; use PSM, or a format that "
                               "defines SPM: " +
                               names_with([](const FormatEntry& e) { return e.spm; }));
  FW_RETURN_IF_ERROR(check_markers(format, tokenizer, required_fim_markers(format.fim), "fill-in-the-middle"));

  Builder b(tokenizer);
  switch (format.fim) {
    case FimStyle::kQwen:
      build_qwen(b, tokenizer, request, order);
      break;
    case FimStyle::kStarCoder:
      build_starcoder(b, tokenizer, request, order);
      break;
    case FimStyle::kCodeLlama:
      build_codellama(b, request, order);
      break;
    case FimStyle::kDeepSeekCoder:
      build_deepseek(b, request);
      break;
    case FimStyle::kNone:
      break;
  }
  return b.finish(fim_stop_conditions(format, tokenizer));
}

Result<Prompt> build_chat_prompt(const PromptFormat& format, const Tokenizer& tokenizer,
                                 std::span<const ChatMessage> messages, const ChatOptions& options) {
  if (format.chat == ChatStyle::kNone)
    return Status::unsupported("prompt format '" + format.name + "' has no chat layout; formats with one: " +
                               names_with([](const FormatEntry& e) { return e.chat != ChatStyle::kNone; }));
  FW_RETURN_IF_ERROR(check_markers(format, tokenizer, required_chat_markers(format.chat), "chat"));

  std::vector<ChatMessage> all;
  if (!options.default_system_message.empty() && (messages.empty() || messages.front().role != "system"))
    all.push_back({"system", options.default_system_message});
  all.insert(all.end(), messages.begin(), messages.end());

  Builder b(tokenizer);
  switch (format.chat) {
    case ChatStyle::kChatMl:
      for (const auto& m : all) {
        b.marker(qwen::kImStart);
        b.text(m.role + "\n" + m.content);
        b.marker(qwen::kImEnd);
        b.text("\n");
      }
      if (options.add_generation_prompt) {
        b.marker(qwen::kImStart);
        b.text("assistant\n");
      }
      break;
    case ChatStyle::kLlama3:
      b.marker(llama3::kBos);
      for (const auto& m : all) {
        b.marker(llama3::kStartHeader);
        b.text(m.role);
        b.marker(llama3::kEndHeader);
        b.text("\n\n");
        b.text(trim(m.content));
        b.marker(llama3::kEot);
      }
      if (options.add_generation_prompt) {
        b.marker(llama3::kStartHeader);
        b.text("assistant");
        b.marker(llama3::kEndHeader);
        b.text("\n\n");
      }
      break;
    case ChatStyle::kPlainText:
      for (const auto& m : all) b.text(capitalized(m.role) + ": " + m.content + "\n\n");
      if (options.add_generation_prompt) b.text("Assistant:");
      break;
    case ChatStyle::kNone:
      break;
  }
  return b.finish(chat_stop_conditions(format, tokenizer));
}

std::vector<TokenId> encode_verbatim(const Tokenizer& tokenizer, std::string_view text) {
  if (text.empty()) return {};
  if (tokenizer.kind() != "sentencepiece") return tokenizer.encode(text);
  // Meta's encode_infilling: encode a sentinel in front and drop its tokens,
  // so the dummy space lands on the sentinel instead of the text.
  constexpr std::string_view kSentinel = "☺";
  const std::vector<TokenId> sentinel = tokenizer.encode(kSentinel);
  std::string joined(kSentinel);
  joined += text;
  std::vector<TokenId> ids = tokenizer.encode(joined);
  if (ids.size() >= sentinel.size() && std::equal(sentinel.begin(), sentinel.end(), ids.begin())) {
    ids.erase(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(sentinel.size()));
    return ids;
  }
  // The sentinel merged with the text: drop a lone leading "▁" at least.
  ids = tokenizer.encode(text);
  if (!ids.empty() && tokenizer.id_to_token(ids.front()) == "▁") ids.erase(ids.begin());
  return ids;
}

std::vector<TokenId> encode_prompt(const Tokenizer& tokenizer, const Prompt& prompt) {
  std::vector<TokenId> ids;
  std::string pending;
  auto flush = [&] {
    if (pending.empty()) return;
    auto part = encode_verbatim(tokenizer, pending);
    ids.insert(ids.end(), part.begin(), part.end());
    pending.clear();
  };
  for (const auto& s : prompt.segments) {
    if (s.token) {
      flush();
      ids.push_back(*s.token);
    } else {
      pending += s.text;
    }
  }
  flush();
  return ids;
}

}  // namespace flywheel
