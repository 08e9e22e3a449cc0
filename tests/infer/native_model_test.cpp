#include "infer/native_model.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>

namespace flywheel::infer {
namespace {

// A tiny random F32 model (GQA 4/2 heads, sliding window) owning its weights.
struct Tiny {
  ModelConfig config;
  std::shared_ptr<std::vector<std::vector<float>>> buffers = std::make_shared<std::vector<std::vector<float>>>();
  ModelWeights weights;
  std::mt19937 rng{7};
  WeightMatrix matrix(int64_t rows, int64_t cols) {
    std::normal_distribution<float> d(0.0f, 0.2f);
    auto& b = buffers->emplace_back(static_cast<size_t>(rows * cols));
    for (float& v : b) v = d(rng);
    return WeightMatrix{TensorType::kF32, b.data(), rows, cols};
  }
  std::vector<float> vec(int64_t n, float base) {
    std::normal_distribution<float> d(0.0f, 0.1f);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = base + d(rng);
    return v;
  }
  Tiny() {
    config.vocab_size = 50, config.hidden_size = 32, config.intermediate_size = 64, config.num_hidden_layers = 2;
    config.num_attention_heads = 4, config.num_key_value_heads = 2, config.head_dim = 8, config.sliding_window = 5;
    buffers->reserve(64);
    weights.embedding = matrix(50, 32);
    for (int l = 0; l < 2; ++l) {
      LayerWeights lw;
      lw.q = matrix(32, 32), lw.k = matrix(16, 32), lw.v = matrix(16, 32), lw.o = matrix(32, 32);
      lw.gate = matrix(64, 32), lw.up = matrix(64, 32), lw.down = matrix(32, 64);
      lw.q_bias = vec(32, 0), lw.k_bias = vec(16, 0), lw.v_bias = vec(16, 0);
      lw.input_norm = vec(32, 1), lw.post_attention_norm = vec(32, 1);
      weights.layers.push_back(std::move(lw));
    }
    weights.final_norm = vec(32, 1);
    weights.lm_head = matrix(50, 32);
    weights.storage = buffers;
  }
};

// Incremental decode and a ragged batch must equal one full pass: the same
// float operations in the same order per row, so only the thread split of
// rows differs, which does not change any row's sum -> exact up to 1e-5
// (slack for exp/cos implementations being identical; none expected).
TEST(NativeModel, IncrementalAndRaggedEqualFullRecomputation) {
  Tiny t;
  NativeModel model(t.config, t.weights, 3);
  const std::vector<int64_t> tokens = {1, 5, 9, 2, 33, 4, 7, 8, 12, 49};
  NativeCache full(t.config, 4);
  std::vector<float> ref, logits;
  ASSERT_TRUE(model.forward(std::vector<NativeItem>{{&full, tokens, true}}, &ref, nullptr).ok());
  ASSERT_EQ(ref.size(), tokens.size() * 50);
  EXPECT_EQ(full.length(), 10);

  NativeCache a(t.config, 2), b(t.config, 16);
  std::span<const int64_t> all(tokens);
  ASSERT_TRUE(
      model.forward(std::vector<NativeItem>{{&a, all.first(6), false}, {&b, all.first(3), true}}, &logits, nullptr)
          .ok());
  ASSERT_EQ(logits.size(), 4u * 50);
  for (int v = 0; v < 50; ++v) EXPECT_NEAR(logits[v], ref[5 * 50 + v], 1e-5);
  for (int v = 0; v < 150; ++v) EXPECT_NEAR(logits[50 + v], ref[v], 1e-5);
  for (size_t i = 6; i < tokens.size(); ++i) {
    ASSERT_TRUE(model.forward(std::vector<NativeItem>{{&a, all.subspan(i, 1), false}}, &logits, nullptr).ok());
    for (int v = 0; v < 50; ++v) EXPECT_NEAR(logits[v], ref[i * 50 + v], 1e-5) << "token " << i;
  }
  // Truncate and recompute the tail.
  a.truncate(7);
  ASSERT_TRUE(model.forward(std::vector<NativeItem>{{&a, all.subspan(7, 3), true}}, &logits, nullptr).ok());
  for (int v = 0; v < 150; ++v) EXPECT_NEAR(logits[v], ref[7 * 50 + v], 1e-5);
}

}  // namespace
}  // namespace flywheel::infer
