// Internals of the byte-level BPE trainer (train_bpe_tokenizer in
// tokenizer.h), private to the tokenizer module and exposed here for its tests.
//
// The pipeline: corpus files -> text check -> special tokens split off ->
// Qwen2 Split pattern (Isolated: gaps are pieces too) -> unique pieces with
// counts (count_corpus_words) -> merges (learn_bpe) -> tokenizer.json
// (bpe_tokenizer_json) -> Tokenizer::from_json.
//
// Thread-safety: free functions with no shared state; count_corpus_words
// starts its own threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tokenizer/corpus_filter.h"  // looks_like_text
#include "tokenizer/tokenizer.h"

namespace flywheel {
class ProgressBar;
}

namespace flywheel::tokenizer {

// Qwen2's pre-tokenization pattern (also Qwen2.5/3), as tokenizer.json stores it.
inline constexpr std::string_view kQwen2SplitPattern =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// A unique pre-tokenized piece (raw bytes) and how often it occurs.
struct WordCount {
  std::string word;
  uint64_t count = 0;
};

// Pieces longer than this are not counted: they come from minified data or
// ASCII art, add nothing useful to a vocabulary, and would make every merge
// that touches them cost their length.
inline constexpr size_t kMaxWordBytes = 1024;

// The unique-word cap of count_corpus_words. Each unique word costs ~80 bytes
// while counting (slot, arena, load factor), so 2M words stay near 200 MB.
inline constexpr size_t kDefaultMaxUniqueWords = size_t{2} << 20;

// Splits `text` into training pieces (appended to `pieces`): special tokens
// are cut out and not returned, the rest is split by kQwen2SplitPattern with
// Isolated behaviour (the gaps between matches are pieces too).
void pretokenize_for_training(std::string_view text, const std::vector<std::string>& special_tokens,
                              std::vector<std::string>& pieces);

// Reads `files` on options.threads threads and counts their pieces. Files that
// are unreadable, not text or above options.max_file_bytes are skipped (and
// counted in stats->files_skipped); reading stops at options.max_corpus_bytes.
//
// Memory is bounded: when the number of unique words passes max_unique_words
// after a batch of files, the rarest words are dropped (count 1 first, then
// higher thresholds until at most half the cap remain). Batches are cut by file
// size in list order, never by thread, so the result does not depend on the
// thread count. The result is sorted by word bytes.
Result<std::vector<WordCount>> count_corpus_words(const std::vector<std::filesystem::path>& files,
                                                  const BpeTrainerOptions& options, BpeTrainerStats* stats,
                                                  size_t max_unique_words = kDefaultMaxUniqueWords);

// What the merge loop learns. Ids: special tokens 0..k-1, then the 256 byte
// tokens ordered by their ByteLevel character (as Hugging Face's trainer orders
// its alphabet), then merged tokens. `tokens` are in ByteLevel form.
struct BpeVocabulary {
  std::vector<std::string> tokens;                  // id -> token
  std::vector<std::pair<TokenId, TokenId>> merges;  // by rank
  size_t special_count = 0;
};

// Learns merges over `words` until the vocabulary has options.vocab_size
// tokens or no pair occurs options.min_frequency times. Ties between pairs of
// equal count go to the smaller (left id, right id), as in Hugging Face.
// Errors: vocab_size too small for the bytes and special tokens, bad special
// tokens (empty, repeated, or equal to a single byte's token).
Result<BpeVocabulary> learn_bpe(const std::vector<WordCount>& words, const BpeTrainerOptions& options,
                                ProgressBar* progress = nullptr);

// A Hugging Face tokenizer.json for the learned vocabulary: Qwen2-style Split
// plus ByteLevel pre-tokenizer, ByteLevel post-processor and decoder, BPE model,
// special tokens as added tokens.
std::string bpe_tokenizer_json(const BpeVocabulary& vocabulary);

}  // namespace flywheel::tokenizer
