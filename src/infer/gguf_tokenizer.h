// The vocabulary of a GGUF file, both ways: tokenizer.json text built from
// `tokenizer.ggml.*` metadata (for files without an embedded
// `tokenizer.huggingface.json`), and the `tokenizer.ggml.*` metadata that
// llama.cpp reads, made from a Hugging Face tokenizer.json.
//
// tokenizer.ggml.model "gpt2": byte-level BPE; tokens are byte-level strings,
// merges "a b", the pre-tokenizer regex chosen by tokenizer.ggml.pre (qwen2,
// llama-bpe/llama3, gpt-2, default, starcoder). "llama": SentencePiece-style BPE
// with byte fallback; merges are derived from the tokens and scores as Hugging
// Face's SentencePieceExtractor derives them. Tokens of type CONTROL become
// special added tokens, USER_DEFINED non-special ones.
//
// Thread-safety: pure functions. Errors: kUnsupported naming the model or
// pre-tokenizer flywheel lacks, kCorruption naming the malformed key.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "infer/gguf.h"
#include "model/config.h"

namespace flywheel::infer {

// llama.cpp's token types (tokenizer.ggml.token_type).
enum class GgufTokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6
};

// tokenizer.json text from tokenizer.ggml.* (ignores tokenizer.huggingface.json).
Result<std::string> tokenizer_json_from_gguf(const GgufFile& file);

// tokenizer.ggml.* keys (and tokenizer.huggingface.json) for `tokenizer_json`,
// padded with unused "[PAD<id>]" tokens to `rows` (the embedding's rows).
// bos/eos ids come from `config` when set.
Result<std::vector<std::pair<std::string, GgufValue>>> gguf_tokenizer_metadata(std::string_view tokenizer_json,
                                                                               int64_t rows, const ModelConfig& config);

}  // namespace flywheel::infer
