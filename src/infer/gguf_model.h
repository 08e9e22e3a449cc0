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

}  // namespace flywheel::infer
