// The Llama-family forward pass over ModelWeights on the CPU: a ragged batch
// of sequences, each appending tokens to its own KV cache. Every projection
// takes all tokens of all sequences at once (M = total tokens), so a step
// reads each weight once; rows of each product are split across the pool.
//
// Matches src/model/transformer.cpp: RMSNorm, q/k/v (+bias), rotate-half
// rotary with rope_theta and linear/llama3 scaling, grouped-query causal
// attention (sliding window when configured), o_proj, SwiGLU, final norm.
//
// Thread-safety: one forward at a time per NativeModel (scratch is shared).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "infer/thread_pool.h"
#include "infer/weights.h"
#include "model/config.h"

namespace flywheel::infer {

// f32 keys/values, per layer [kv_heads, capacity, head_dim].
class NativeCache {
 public:
  NativeCache(const ModelConfig& config, int64_t capacity);
  int64_t length() const { return length_; }
  int64_t capacity() const { return capacity_; }
  int64_t bytes() const { return static_cast<int64_t>((k_.size() + v_.size()) * sizeof(float)); }
  void truncate(int64_t length) { length_ = length < length_ ? (length < 0 ? 0 : length) : length_; }
  // Grows to hold `capacity` positions, keeping what is cached.
  void reserve(int64_t capacity);

 private:
  friend class NativeModel;
  float* k(int64_t layer, int64_t head) { return k_.data() + ((layer * kv_heads_ + head) * capacity_) * head_dim_; }
  float* v(int64_t layer, int64_t head) { return v_.data() + ((layer * kv_heads_ + head) * capacity_) * head_dim_; }
  int64_t layers_, kv_heads_, head_dim_;
  int64_t capacity_ = 0, length_ = 0;
  std::vector<float> k_, v_;
};

struct NativeItem {
  NativeCache* cache = nullptr;
  std::span<const int64_t> tokens;  // appended at positions cache->length()...
  bool all_logits = false;          // logits of every token, else the last only
};

class NativeModel {
 public:
  NativeModel(ModelConfig config, ModelWeights weights, int threads = 0);
  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }

  // Logits rows in item order (tokens.size() rows for all_logits items, one
  // otherwise), each vocab_size floats; hidden (when non-null) gets each
  // item's last-token final-norm state, hidden_size floats per item.
  Status forward(std::span<const NativeItem> items, std::vector<float>* logits, std::vector<float>* hidden);

 private:
  void matmul(const WeightMatrix& w, const float* x, int64_t m, float* y, const std::vector<float>& bias);
  void rms_norm(const float* x, const std::vector<float>& w, int64_t m, float* y) const;

  ModelConfig config_;
  ModelWeights weights_;
  ThreadPool pool_;
  std::vector<float> inv_freq_;
  // Scratch, grown only.
  std::vector<float> x_, h_, q_, k_, v_, att_, gate_, up_, sel_;
  std::vector<std::byte> prepared_;
};

}  // namespace flywheel::infer
