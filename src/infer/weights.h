// The weights of a Llama-family model as the native path reads them: every
// projection in its stored type (a WeightMatrix view), norms and biases in
// f32. Made from a Hugging Face checkpoint (infer/load.h) or a GGUF file
// (infer/gguf_model.h); `storage` keeps the memory the views point into
// (a mapped file, converted buffers) alive as long as the weights live.
//
// Rows of q/k follow Hugging Face's rotate-half (NEOX) convention whatever
// the file stored: the GGUF reader un-permutes llama-architecture q/k.
//
// Thread-safety: immutable after construction.
#pragma once

#include <memory>
#include <vector>

#include "infer/tensor_type.h"

namespace flywheel::infer {

struct LayerWeights {
  WeightMatrix q, k, v, o;                             // [H*D, E], [K*D, E], [K*D, E], [E, H*D]
  WeightMatrix gate, up, down;                         // [I, E], [I, E], [E, I]
  std::vector<float> q_bias, k_bias, v_bias, o_bias;   // empty when absent
  std::vector<float> input_norm, post_attention_norm;  // [E]
};

struct ModelWeights {
  WeightMatrix embedding;  // [V, E]; rows are gathered with dequantize_row
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;  // [E]
  WeightMatrix lm_head;           // [V, E]; the embedding's view when tied
  std::shared_ptr<const void> storage;
  // Bytes of all WeightMatrix views (what one decode step reads).
  int64_t matrix_bytes() const;
};

}  // namespace flywheel::infer
