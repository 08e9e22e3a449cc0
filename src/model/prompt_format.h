// Prompt formats: how a fill-in-the-middle request or a chat is laid out for
// a model family, which family a tokenizer belongs to, and when to stop.
//
// A built Prompt has two views of the same thing: `text` (what Hugging Face's
// template would produce; for logs, the CLI and tests) and `segments` (text
// spans and special markers already resolved to ids). encode_prompt() turns
// segments into ids: every marker becomes exactly one id, whether the
// tokenizer lists it as an added token (Qwen, StarCoder, DeepSeek, Llama 3)
// or only in its vocabulary (CodeLlama's ▁<PRE>), and text spans are encoded
// verbatim (no SentencePiece dummy space at the start of each span; the
// formats spell out their spaces). BOS is part of the segments where the
// family wants one (CodeLlama, DeepSeek-Coder, Llama 3): encode with
// encode_prompt(), not tokenizer.encode(text, add_special_tokens=true).
// For byte-level tokenizers encode_prompt(p) == tokenizer.encode(p.text).
// Marker strings inside user text (a prefix that contains "<|im_end|>") are
// matched as added tokens, as Hugging Face's tokenizer(text) does; the
// Tokenizer API has no switch to treat them as plain text yet.
//
// FIM layouts (PSM = prefix-suffix-middle, SPM = suffix-prefix-middle):
//   qwen2.5-coder   PSM <|fim_prefix|>{p}<|fim_suffix|>{s}<|fim_middle|>
//                   SPM not published: kUnsupported
//   flywheel        PSM as qwen2.5-coder
//                   SPM <|fim_prefix|><|fim_suffix|>{s}<|fim_middle|>{p}  (the StarCoder order on Qwen's tokens)
//   starcoder       PSM <fim_prefix>{p}<fim_suffix>{s}<fim_middle>
//                   SPM <fim_prefix><fim_suffix>{s}<fim_middle>{p}  (bigcode's Megatron FIM, fim_spm_rate 0.5)
//   codellama       PSM <s><PRE> {p} <SUF>{s} <MID>
//                   SPM <s><PRE> <SUF>{s} <MID> {p}
//                   (Meta's codellama generation.py; the spaces belong to ▁<SUF>/▁<MID> and to {p}'s
//                   SentencePiece word start; {s} is encoded without a leading space)
//   deepseek-coder  PSM <｜begin▁of▁sentence｜><｜fim▁begin｜>{p}<｜fim▁hole｜>{s}<｜fim▁end｜>
//                   SPM not published (trained PSM only): kUnsupported
// Repo-level context (FimRequest::repo_name, file_path, extra_files):
//   qwen2.5-coder/flywheel (Qwen2.5-Coder's published layout), where the tokenizer has the tokens:
//     <|repo_name|>{repo}\n<|file_sep|>{path1}\n{text1}\n<|file_sep|>{path}\n<|fim_prefix|>...
//     ("\n" added after a file's text only when it does not end in one; without
//     <|repo_name|> that line is left out; without <|file_sep|> all of it is)
//   starcoder with <repo_name>/<file_sep> (StarCoder2):
//     <repo_name>{repo}<file_sep>{path1}\n{text1}<file_sep>{path}\n<fim_prefix>...
//   starcoder with only <reponame>/<filename> (StarCoder 1 metadata, single file):
//     <fim_prefix><reponame>{repo}<filename>{path}\n{p}<fim_suffix>... (the metadata is the
//     start of the document, so it sits in the prefix part); extra_files are left out
//   codellama, deepseek-coder: no published special-token layout; repo context is left out.
//   The current file's <|file_sep|>{path}\n line is written when path is set or
//   extra files were written.
// Chat layouts:
//   chatml (qwen2.5-coder, chatml): <|im_start|>{role}\n{content}<|im_end|>\n ... <|im_start|>assistant\n
//     No default system message unless ChatOptions::default_system_message is
//     set (Qwen2/2.5's templates add kQwen2DefaultSystemMessage; Qwen3's do not).
//   llama3: <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|>
//     ... <|start_header_id|>assistant<|end_header_id|>\n\n (Meta-Llama-3-Instruct's template)
//   flywheel, plain: text only, so base models can follow it:
//     "System: {content}\n\nUser: {content}\n\nAssistant: {content}\n\n...Assistant:"
//     (role capitalized); stops at <|endoftext|> when the tokenizer has it and at "\nUser:".
//   starcoder, codellama, deepseek-coder: no chat layout (kUnsupported).
//
// Thread-safety: all functions are pure; values are plain data.
// Errors: unknown format names list the known ones; a format used with a
// tokenizer that lacks its markers names the missing tokens; SPM for a family
// that does not define it and chat for FIM-only families are kUnsupported.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace flywheel {

enum class FimStyle { kNone, kQwen, kStarCoder, kCodeLlama, kDeepSeekCoder };
enum class ChatStyle { kNone, kChatMl, kLlama3, kPlainText };
enum class FimOrder { kPsm, kSpm };

struct PromptFormat {
  std::string name;  // canonical: one of prompt_format_names()
  FimStyle fim = FimStyle::kNone;
  ChatStyle chat = ChatStyle::kNone;
  bool fim_spm = false;  // the family defines suffix-prefix-middle order
};

// "qwen2.5-coder", "starcoder", "codellama", "deepseek-coder", "flywheel",
// "chatml", "llama3", "plain".
std::vector<std::string_view> prompt_format_names();

// A format by name (case-insensitive, '_' same as '-'; aliases such as
// "qwen-coder", "starcoder2", "code-llama", "deepseek", "llama-3").
// Unknown name: invalid_argument listing the names.
Result<PromptFormat> prompt_format_from_name(std::string_view name);

// Picks the format from the tokenizer's special tokens:
//   <|fim_prefix|> with <|im_start|> → qwen2.5-coder; without → flywheel;
//   <fim_prefix> → starcoder; <｜fim▁begin｜> → deepseek-coder; ▁<PRE> → codellama;
//   <|start_header_id|>+<|eot_id|> → llama3; <|im_start|>+<|im_end|> → chatml; else plain.
// model_type_hint (config.json's model_type, or a --prompt-format value) wins
// when it is itself a format name, after checking the tokenizer has its
// markers; other hints ("llama", "qwen2", "mistral") leave it to the tokens.
// Errors: a hint naming a format the tokenizer cannot express; a tokenizer
// with only part of a family's FIM markers (e.g. <|fim_prefix|> but no
// <|fim_middle|>).
Result<PromptFormat> detect_prompt_format(const Tokenizer& tokenizer, std::string_view model_type_hint = {});

// OK when the tokenizer has every marker the format's FIM and chat layouts
// need; else invalid_argument naming the missing tokens.
Status check_prompt_format(const PromptFormat& format, const Tokenizer& tokenizer);

struct PromptSegment {
  std::string text;              // as it appears in Prompt::text
  std::optional<TokenId> token;  // set: a marker that is exactly this one id
};

// When generation ends. The caller adds the model's own eos_token_id(s) from
// config.json / generation_config.json.
struct StopConditions {
  std::vector<TokenId> token_ids;    // sorted, unique
  std::vector<std::string> strings;  // text stops (for StopMatcher)
};

struct Prompt {
  std::string text;
  std::vector<PromptSegment> segments;
  StopConditions stop;
};

struct FimRequest {
  std::string prefix, suffix;
  std::string file_path;                                         // of the file being edited; optional
  std::string repo_name;                                         // optional
  std::vector<std::pair<std::string, std::string>> extra_files;  // (path, text) of other files, most relevant last
};

// The order flywheel serves, replays and trains FIM with for a format: SPM
// for flywheel's own models (trained on both orders), whose prompt then ends
// with the typed prefix, so that each keystroke's request shares almost all
// of its tokens with the previous one (the prompt cache); PSM otherwise, the
// order every published FIM model knows.
FimOrder preferred_fim_order(const PromptFormat& format);

Result<Prompt> build_fim_prompt(const PromptFormat& format, const Tokenizer& tokenizer, const FimRequest& request,
                                FimOrder order = FimOrder::kPsm);

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", or another role the template passes through
  std::string content;
};

inline constexpr std::string_view kQwen2DefaultSystemMessage = "You are a helpful assistant.";

struct ChatOptions {
  bool add_generation_prompt = true;   // end with the assistant header
  std::string default_system_message;  // used when non-empty and the first message is not "system"
};

Result<Prompt> build_chat_prompt(const PromptFormat& format, const Tokenizer& tokenizer,
                                 std::span<const ChatMessage> messages, const ChatOptions& options = {});

// The stop conditions build_*_prompt puts in Prompt::stop, on their own.
StopConditions fim_stop_conditions(const PromptFormat& format, const Tokenizer& tokenizer);
StopConditions chat_stop_conditions(const PromptFormat& format, const Tokenizer& tokenizer);

// Segments to ids: markers as their ids, adjacent text spans joined and
// encoded verbatim (see above).
std::vector<TokenId> encode_prompt(const Tokenizer& tokenizer, const Prompt& prompt);

// `text` encoded without the SentencePiece dummy space a tokenizer like
// Llama 2's adds at the start (as Meta's encode_infilling); for byte-level
// tokenizers the same as tokenizer.encode(text).
std::vector<TokenId> encode_verbatim(const Tokenizer& tokenizer, std::string_view text);

}  // namespace flywheel
