// Fill-in-the-middle for training (Bavarian et al. 2022, "Efficient Training
// of Language Models to Fill in the Middle"), in the layout flywheel's own
// prompt format uses at inference (src/model/prompt_format.h, format
// "flywheel"), so that training and inference agree:
//
//   PSM  <|fim_prefix|> P <|fim_suffix|> S <|fim_middle|> M
//   SPM  <|fim_prefix|> <|fim_suffix|> S <|fim_middle|> P M     (StarCoder's order on Qwen's tokens)
//
// where P, M, S are the prefix, middle and suffix text, each encoded on its
// own (as a prompt's prefix and suffix are encoded at inference).
//
// FimTransform::apply is the context-level transform the loader runs on every
// piece of a document inside a packed window (Bavarian et al. section 4.1;
// bigcode's Megatron-LM `permute`): with probability fim_rate the piece's
// tokens are turned back into their exact bytes, split at two character
// boundaries drawn uniformly (decode -> split -> re-encode; a "character" is
// a UTF-8 sequence start, so a piece cut inside a character keeps its bytes),
// re-encoded and laid out as PSM, or as SPM with probability spm_rate. The
// result has exactly the piece's length: S loses tokens from its end when the
// markers and re-encoding make it longer (and the piece stays as it was when
// S is too short for that), and <|fim_pad|> tokens follow S when it is
// shorter. Random draws, in this order, from Rng(seed): FIM or not; two
// boundaries; SPM or not. Only flywheel's default (Qwen-style) FIM tokens
// are supported.
//
// Thread-safety: a FimTransform is immutable; apply() may run on many threads.
// It keeps a pointer to the tokenizer, which must outlive it.
// Errors: create() names the FIM tokens the tokenizer lacks.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace flywheel {

enum class FimLayout { kPsm, kSpm };

struct FimTokens {
  TokenId prefix = 0, suffix = 0, middle = 0;
  TokenId pad = 0;  // <|fim_pad|>, or <|endoftext|> when the tokenizer has no <|fim_pad|>
  // The ids of <|fim_prefix|>, <|fim_suffix|>, <|fim_middle|> and the pad.
  static Result<FimTokens> from_tokenizer(const Tokenizer& tokenizer);
};

struct FimChoice {
  bool applied = false;
  FimLayout layout = FimLayout::kPsm;
  size_t prefix_bytes = 0;  // P = bytes [0, prefix_bytes)
  size_t middle_end = 0;    // M = bytes [prefix_bytes, middle_end), S = the rest
  size_t pad_tokens = 0;
  size_t truncated_tokens = 0;  // dropped from the end of S
};

class FimTransform {
 public:
  static Result<FimTransform> create(const Tokenizer& tokenizer);

  // The layout of prefix|middle|suffix text without any length constraint.
  std::vector<TokenId> layout(std::string_view prefix, std::string_view middle, std::string_view suffix,
                              FimLayout layout) const;

  // Appends piece.size() tokens to `out` (and as many flags to `is_pad`):
  // the piece, FIM-transformed or as it was (see above).
  FimChoice apply(std::span<const TokenId> piece, uint64_t seed, double fim_rate, double spm_rate,
                  std::vector<TokenId>& out, std::vector<uint8_t>& is_pad) const;

  const FimTokens& tokens() const;
  // The exact bytes `ids` stand for (special tokens stand for none).
  std::string bytes(std::span<const TokenId> ids) const;
  // Text encoded the way ingestion encodes files: special-token strings stay text.
  std::vector<TokenId> encode_text(std::string_view text) const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace flywheel
