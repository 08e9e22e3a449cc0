#include "train/flops.h"

#include <torch/torch.h>

#include <chrono>

namespace flywheel::train {

double training_flops_per_token(const ModelConfig& c, int64_t seq_len) {
  // Matmul parameters: everything but the embedding lookup (the tied or
  // separate head is a matmul and counts).
  const double matmul_params = static_cast<double>(c.parameter_count()) -
                               static_cast<double>(c.vocab_size * c.hidden_size) * (c.tie_word_embeddings ? 0 : 1);
  const double attention = 12.0 * static_cast<double>(c.num_hidden_layers * c.num_attention_heads * c.head_dim) *
                           static_cast<double>(seq_len) / 2;  // causal: half the scores
  return 6.0 * matmul_params + attention;
}

double measure_sgemm_peak() {
  torch::NoGradGuard no_grad;
  const int64_t n = 1024;
  torch::Tensor a = torch::randn({n, n}), b = torch::randn({n, n});
  torch::Tensor c = torch::mm(a, b);  // warm up
  double best = 0;
  for (int run = 0; run < 5; ++run) {
    auto start = std::chrono::steady_clock::now();
    c = torch::mm(a, b);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 2.0 * n * n * n / seconds);
  }
  return best;
}

}  // namespace flywheel::train
