// A Llama-family model from a GGUF file (architectures llama, qwen2 and
// mistral): its ModelConfig from `general.architecture` and `<arch>.*`
// metadata, its tokenizer from `tokenizer.ggml.*` (or the embedded
// `tokenizer.huggingface.json`), and its weights as views into the mapped
// file, in their stored types. The reverse: a Hugging Face checkpoint written
// as GGUF in a chosen type (`flywheel model convert`).
//
// Errors: kNotFound, kIoError; kCorruption naming the field or tensor of a
// malformed file; kUnsupported naming an architecture or tensor type
// flywheel does not read.
#pragma once

#include <filesystem>
#include <string>

#include "core/status.h"
#include "infer/tensor_type.h"
#include "infer/weights.h"
#include "model/config.h"
#include "tokenizer/tokenizer.h"

namespace flywheel::infer {

struct GgufModel {
  ModelConfig config;
  Tokenizer tokenizer;
  ModelWeights weights;       // views into the mapping, which weights.storage keeps
  std::string chat_template;  // tokenizer.chat_template, or empty
};

Result<GgufModel> open_gguf_model(const std::filesystem::path& path);

// A Hugging Face checkpoint directory (config.json, tokenizer.json,
// model.safetensors or shards; tokenizer_config.json's chat_template when
// present) written as GGUF: 2-D weights in `type` (a K-quant falls back to
// Q8_0, then F16, for a matrix whose row length is not a multiple of 256;
// Q8_0/Q4_0 to F16 for one not a multiple of 32), norms and biases in F32,
// with the metadata llama.cpp reads (general.*, <arch>.*, tokenizer.ggml.*)
// and the tokenizer.json itself (tokenizer.huggingface.json). Architecture
// "llama" for llama and mistral, "qwen2" for qwen2; llama q/k rows permuted to
// llama.cpp's interleaved rotary order. Written atomically.
Status write_gguf_from_checkpoint(const std::filesystem::path& hf_dir, TensorType type,
                                  const std::filesystem::path& out);

// The reverse: a GGUF model as a Hugging Face checkpoint directory (f32
// model.safetensors, config.json, generation_config.json, tokenizer.json, and
// tokenizer_config.json with the chat template), written atomically.
Status write_checkpoint_from_gguf(const std::filesystem::path& gguf, const std::filesystem::path& out_dir);

// llama.cpp's converter reorders each head's q/k rows from rotate-half order
// (row s * D/2 + i, s in {0, 1}) to interleaved order (row 2 * i + s): the
// GGUF row that holds Hugging Face row `hf_row`.
int64_t gguf_rope_row(int64_t hf_row, int64_t head_dim);

}  // namespace flywheel::infer
