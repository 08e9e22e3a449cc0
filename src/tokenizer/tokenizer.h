// flywheel's tokenizer: byte-level BPE (GPT-2, Llama 3, Qwen2/2.5/3, StarCoder)
// and SentencePiece-style BPE with byte fallback (Llama 2, Mistral, CodeLlama),
// loaded from and saved to Hugging Face `tokenizer.json`, with ids equal to
// Hugging Face's `tokenizers` library.
//
// Thread-safety: a loaded Tokenizer is immutable; encode/decode may be called
// from many threads at once. A StreamDecoder belongs to one thread.
// Errors: loading returns a Status naming the unsupported or malformed
// component; encode/decode never fail (invalid UTF-8 is handled, see encode).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace flywheel {

using TokenId = int32_t;

// A token matched in the raw text before the model runs (FIM, chat, <|endoftext|>).
struct AddedToken {
  TokenId id = 0;
  std::string content;
  bool special = false;      // skipped by decode(skip_special_tokens=true)
  bool single_word = false;  // only matches when not inside a word
  bool lstrip = false;       // swallows whitespace on its left
  bool rstrip = false;       // swallows whitespace on its right
  bool normalized = false;   // matched against normalized (not raw) text
};

class TokenizerImpl;

class Tokenizer {
 public:
  // Loads a Hugging Face tokenizer.json (file or text).
  static Result<Tokenizer> from_file(const std::filesystem::path& path);
  static Result<Tokenizer> from_json(std::string_view json_text);

  // Serializes to tokenizer.json text that Hugging Face's library loads and
  // that gives the same ids.
  std::string to_json() const;
  // Writes to_json() atomically.
  Status save(const std::filesystem::path& path) const;

  // Text to ids. Added tokens are matched first, then normalizer,
  // pre-tokenizer and BPE. With add_special_tokens the post-processor adds its
  // tokens (e.g. <s> for Llama 2), as Hugging Face's add_special_tokens=True.
  // Invalid UTF-8 is kept byte for byte by byte-level tokenizers (so
  // decode(encode(x)) == x for any bytes) and goes through byte fallback in
  // SentencePiece-style ones.
  std::vector<TokenId> encode(std::string_view text, bool add_special_tokens = false) const;

  // Ids to text, through the decoder. Bytes that do not form valid UTF-8 become
  // U+FFFD, as in Hugging Face. Unknown ids are skipped.
  std::string decode(std::span<const TokenId> ids, bool skip_special_tokens = false) const;

  // The vocabulary size: the largest id plus one (model vocab and added tokens).
  size_t vocab_size() const;
  std::optional<TokenId> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(TokenId id) const;
  const std::vector<AddedToken>& added_tokens() const;
  bool is_special(TokenId id) const;

  // "byte_level" or "sentencepiece" (byte fallback BPE).
  std::string_view kind() const;
  // Number of BPE merges of the model.
  size_t merge_count() const;
  // SHA-256 (hex) of the canonical to_json(): identifies the tokenizer in shard headers.
  const std::string& content_hash() const;

  // Copies share the immutable loaded pipeline (cheap).
  Tokenizer(const Tokenizer&);
  Tokenizer& operator=(const Tokenizer&);
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

 private:
  friend class StreamDecoder;
  explicit Tokenizer(std::shared_ptr<const TokenizerImpl> impl);
  std::shared_ptr<const TokenizerImpl> impl_;
};

// Turns ids into text one at a time without ever emitting half a UTF-8
// character: bytes of an incomplete character wait for the next token.
// The concatenation of push() results and finish() equals decode(all ids).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);
  // Returns the text that became complete with this token (may be empty).
  std::string push(TokenId id);
  // Flushes what is left (an incomplete character becomes U+FFFD).
  std::string finish();

 private:
  // As Hugging Face's DecodeStream: a window of recent ids is decoded, and the
  // text past the previous window's decoding is emitted once it does not end
  // in U+FFFD (an incomplete character).
  std::shared_ptr<const TokenizerImpl> impl_;
  bool skip_special_tokens_;
  std::vector<TokenId> ids_;
  std::string prefix_;
  size_t prefix_index_ = 0;
};

// ---- Training a byte-level BPE tokenizer on a code corpus ----

// <|endoftext|>, <|fim_prefix|>, <|fim_middle|>, <|fim_suffix|>, <|fim_pad|>,
// <|file_sep|>, <|repo_name|>: reserved as special tokens by default.
std::vector<std::string> default_special_tokens();

struct BpeTrainerOptions {
  size_t vocab_size = 8192;          // total, including bytes and special tokens
  size_t min_frequency = 2;          // a pair seen fewer times is never merged
  std::vector<std::string> special_tokens = default_special_tokens();
  int threads = 0;                   // 0: all cores
  uint64_t max_corpus_bytes = 0;     // 0: no limit; else stop reading past it
  size_t max_file_bytes = 1 << 20;   // larger files are skipped (likely generated)
  bool show_progress = true;         // progress bar on stderr when it is a terminal
};

struct BpeTrainerStats {
  size_t files = 0;
  size_t files_skipped = 0;
  uint64_t bytes = 0;
  size_t unique_words = 0;
  size_t merges = 0;
  double read_seconds = 0;   // reading and pre-tokenizing
  double merge_seconds = 0;  // the merge loop
};

// Source files under `inputs` (files, or directories walked recursively):
// text files only (no NUL bytes, valid UTF-8 mostly), skipping vendored and VCS
// folders (.git, node_modules, third_party, vendor, build) and files above
// max_file_bytes. Sorted, so training is deterministic.
Result<std::vector<std::filesystem::path>> list_corpus_files(const std::vector<std::filesystem::path>& inputs,
                                                              const BpeTrainerOptions& options);

// The embedded default corpus every Debian machine has: the Python standard
// library (/usr/lib/python3.*), C headers under /usr/include, and flywheel's own
// source when `project_root` is given. Only paths that exist are returned.
std::vector<std::filesystem::path> default_corpus_paths(const std::filesystem::path& project_root = {});

// Trains a byte-level BPE tokenizer (Qwen2-style pre-tokenization, ByteLevel
// mapping) with incremental pair counts and a priority queue. The result
// saves to a tokenizer.json that Hugging Face's library loads with the same ids.
// Errors: empty corpus, vocab_size too small for bytes plus special tokens.
Result<Tokenizer> train_bpe_tokenizer(const std::vector<std::filesystem::path>& files, const BpeTrainerOptions& options,
                                      BpeTrainerStats* stats = nullptr);

}  // namespace flywheel
