// ModelConfig: the architecture of a Llama-family transformer, read from and
// written to Hugging Face config.json (model_type llama, qwen2 or mistral).
//
// Thread-safety: a plain value. Errors: from_json returns kUnsupported for an
// architecture or option flywheel lacks (naming it) and kCorruption for a
// malformed or inconsistent file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace flywheel {

struct RopeScaling {
  std::string type = "none";  // none | linear | llama3
  double factor = 1.0;
  double low_freq_factor = 1.0;                 // llama3
  double high_freq_factor = 4.0;                // llama3
  int64_t original_max_position_embeddings = 8192;  // llama3
};

struct ModelConfig {
  std::string model_type = "llama";  // llama | qwen2 | mistral
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  int64_t max_position_embeddings = 2048;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // Qwen2 always; Llama with attention_bias
  bool o_bias = false;    // Llama with attention_bias
  std::optional<int64_t> sliding_window;  // Mistral; Qwen2 with use_sliding_window
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  std::string torch_dtype = "float32";

  static Result<ModelConfig> from_json(std::string_view json_text);
  static Result<ModelConfig> from_file(const std::string& path);
  // Hugging Face config.json text (loads in transformers as the same model).
  std::string to_json() const;
  // generation_config.json text: bos/eos ids.
  std::string generation_config_json() const;
  // Checks sizes against each other (heads divide hidden, kv heads divide heads...).
  Status validate() const;

  int64_t kv_groups() const { return num_attention_heads / num_key_value_heads; }
  // Number of parameters (embeddings counted once when tied).
  int64_t parameter_count() const;

  // Named shapes: tiny (tests), default (the embedded default), small, base, and
  // qwen2.5-coder-0.5b (the real model's shape, random weights).
  static Result<ModelConfig> preset(std::string_view name, std::string_view arch, int64_t vocab_size);
  static std::vector<std::string> preset_names();
};

}  // namespace flywheel
