#include "infer/native_model.h"

#include <algorithm>
#include <cmath>

#include "infer/kernels.h"

namespace flywheel::infer {

NativeCache::NativeCache(const ModelConfig& c, int64_t capacity)
    : layers_(c.num_hidden_layers), kv_heads_(c.num_key_value_heads), head_dim_(c.head_dim) {
  reserve(capacity);
}

void NativeCache::reserve(int64_t capacity) {
  if (capacity <= capacity_) return;
  std::vector<float> k(static_cast<size_t>(layers_ * kv_heads_ * capacity * head_dim_));
  std::vector<float> v(k.size());
  for (int64_t lh = 0; lh < layers_ * kv_heads_; ++lh) {
    std::copy_n(k_.data() + lh * capacity_ * head_dim_, length_ * head_dim_, k.data() + lh * capacity * head_dim_);
    std::copy_n(v_.data() + lh * capacity_ * head_dim_, length_ * head_dim_, v.data() + lh * capacity * head_dim_);
  }
  k_ = std::move(k);
  v_ = std::move(v);
  capacity_ = capacity;
}

NativeModel::NativeModel(ModelConfig config, ModelWeights weights, int threads)
    : config_(std::move(config)), weights_(std::move(weights)), pool_(threads) {
  // As Rotary in transformer.cpp, in float like torch's f32 tensors.
  const int64_t dim = config_.head_dim;
  const RopeScaling& s = config_.rope_scaling;
  for (int64_t i = 0; i < dim; i += 2) {
    const float exponent = static_cast<float>(i) / static_cast<float>(dim);
    float inv = 1.0f / std::pow(static_cast<float>(config_.rope_theta), exponent);
    if (s.type == "linear") {
      inv = static_cast<float>(inv / s.factor);
    } else if (s.type == "llama3") {
      const double old_len = static_cast<double>(s.original_max_position_embeddings);
      const double low_wavelen = old_len / s.low_freq_factor, high_wavelen = old_len / s.high_freq_factor;
      const double wavelen = 2 * M_PI / inv;
      const double scaled = wavelen > low_wavelen ? inv / s.factor : inv;
      const double smooth = (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      const double smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
      inv = static_cast<float>(wavelen >= high_wavelen && wavelen <= low_wavelen ? smoothed : scaled);
    }
    inv_freq_.push_back(inv);
  }
}

void NativeModel::matmul(const WeightMatrix& w, const float* x, int64_t m, float* y, const std::vector<float>& bias) {
  const int64_t k = w.cols, n = w.rows;
  const size_t need = static_cast<size_t>(prepared_row_bytes(w.type, k) * m);
  if (prepared_.size() < need) prepared_.resize(need);
  prepare_activations(w.type, x, m, k, k, prepared_.data());
  pool_.parallel_for(n, 16, [&](int64_t b, int64_t e) { matmul_rows(w, prepared_.data(), m, y, n, b, e); });
  if (!bias.empty())
    for (int64_t i = 0; i < m; ++i)
      for (int64_t r = 0; r < n; ++r) y[i * n + r] += bias[r];
}

void NativeModel::rms_norm(const float* x, const std::vector<float>& w, int64_t m, float* y) const {
  const int64_t e = config_.hidden_size;
  for (int64_t i = 0; i < m; ++i) {
    double ss = 0;
    for (int64_t j = 0; j < e; ++j) ss += static_cast<double>(x[i * e + j]) * x[i * e + j];
    const float scale = static_cast<float>(1.0 / std::sqrt(ss / e + config_.rms_norm_eps));
    for (int64_t j = 0; j < e; ++j) y[i * e + j] = x[i * e + j] * scale * w[j];
  }
}

Status NativeModel::forward(std::span<const NativeItem> items, std::vector<float>* logits, std::vector<float>* hidden) {
  const ModelConfig& c = config_;
  const int64_t E = c.hidden_size, H = c.num_attention_heads, K = c.num_key_value_heads, D = c.head_dim;
  const int64_t I = c.intermediate_size, V = c.vocab_size, G = H / K;
  int64_t M = 0;
  std::vector<int64_t> start(items.size()), pos0(items.size());
  for (size_t s = 0; s < items.size(); ++s) {
    const NativeItem& it = items[s];
    if (it.cache == nullptr) return Status::invalid_argument("native forward: item without a cache");
    for (int64_t t : it.tokens)
      if (t < 0 || t >= V) return Status::invalid_argument("native forward: token id out of the vocabulary");
    start[s] = M;
    pos0[s] = it.cache->length();
    it.cache->reserve(pos0[s] + static_cast<int64_t>(it.tokens.size()));
    M += static_cast<int64_t>(it.tokens.size());
  }
  auto grow = [](std::vector<float>& v, int64_t n) {
    if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  };
  grow(x_, M * E), grow(h_, M * E), grow(q_, M * H * D), grow(k_, M * K * D), grow(v_, M * K * D);
  grow(att_, M * H * D), grow(gate_, M * I), grow(up_, M * I);
  for (size_t s = 0; s < items.size(); ++s)
    for (size_t t = 0; t < items[s].tokens.size(); ++t)
      dequantize_row(weights_.embedding.type, weights_.embedding.row(items[s].tokens[t]), E, &x_[(start[s] + t) * E]);

  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& lw = weights_.layers[l];
    rms_norm(x_.data(), lw.input_norm, M, h_.data());
    matmul(lw.q, h_.data(), M, q_.data(), lw.q_bias);
    matmul(lw.k, h_.data(), M, k_.data(), lw.k_bias);
    matmul(lw.v, h_.data(), M, v_.data(), lw.v_bias);
    // Rotary (rotate-half), then append k/v to each cache.
    for (size_t s = 0; s < items.size(); ++s) {
      for (size_t t = 0; t < items[s].tokens.size(); ++t) {
        const int64_t row = start[s] + static_cast<int64_t>(t), pos = pos0[s] + static_cast<int64_t>(t);
        auto rotate = [&](float* x) {
          for (int64_t i = 0; i < D / 2; ++i) {
            const float f = static_cast<float>(pos) * inv_freq_[i];
            const float cs = std::cos(f), sn = std::sin(f);
            const float a = x[i], b = x[i + D / 2];
            x[i] = a * cs - b * sn;
            x[i + D / 2] = b * cs + a * sn;
          }
        };
        for (int64_t h = 0; h < H; ++h) rotate(&q_[(row * H + h) * D]);
        for (int64_t h = 0; h < K; ++h) {
          rotate(&k_[(row * K + h) * D]);
          std::copy_n(&k_[(row * K + h) * D], D, items[s].cache->k(l, h) + pos * D);
          std::copy_n(&v_[(row * K + h) * D], D, items[s].cache->v(l, h) + pos * D);
        }
      }
    }
    // Attention: one task per (token row, head).
    pool_.run(M * H, [&](int64_t task, int) {
      const int64_t row = task / H, h = task % H;
      size_t s = std::upper_bound(start.begin(), start.end(), row) - start.begin() - 1;
      const int64_t pos = pos0[s] + (row - start[s]);
      NativeCache* cache = items[s].cache;
      const float* kk = cache->k(l, h / G);
      const float* vv = cache->v(l, h / G);
      const int64_t first = c.sliding_window ? std::max<int64_t>(0, pos - *c.sliding_window + 1) : 0;
      const float* q = &q_[(row * H + h) * D];
      float* out = &att_[(row * H + h) * D];
      float mx = -INFINITY, sum = 0;
      std::fill_n(out, D, 0.0f);
      for (int64_t j = first; j <= pos; ++j) {
        float d = 0;
        for (int64_t i = 0; i < D; ++i) d += q[i] * kk[j * D + i];
        d *= scale;
        // Online softmax: rescale what is summed when the max grows.
        if (d > mx) {
          const float r = std::exp(mx - d);
          sum *= r;
          for (int64_t i = 0; i < D; ++i) out[i] *= r;
          mx = d;
        }
        const float p = std::exp(d - mx);
        sum += p;
        for (int64_t i = 0; i < D; ++i) out[i] += p * vv[j * D + i];
      }
      for (int64_t i = 0; i < D; ++i) out[i] /= sum;
    });
    matmul(lw.o, att_.data(), M, h_.data(), lw.o_bias);
    for (int64_t i = 0; i < M * E; ++i) x_[i] += h_[i];
    rms_norm(x_.data(), lw.post_attention_norm, M, h_.data());
    matmul(lw.gate, h_.data(), M, gate_.data(), {});
    matmul(lw.up, h_.data(), M, up_.data(), {});
    for (int64_t i = 0; i < M * I; ++i) gate_[i] = gate_[i] / (1.0f + std::exp(-gate_[i])) * up_[i];
    matmul(lw.down, gate_.data(), M, h_.data(), {});
    for (int64_t i = 0; i < M * E; ++i) x_[i] += h_[i];
  }
  for (size_t s = 0; s < items.size(); ++s)
    items[s].cache->length_ = pos0[s] + static_cast<int64_t>(items[s].tokens.size());

  // Final norm of the rows that need logits, gathered together for one LM-head product.
  int64_t rows = 0;
  grow(sel_, M * E);
  if (hidden) hidden->assign(items.size() * E, 0.0f);
  for (size_t s = 0; s < items.size(); ++s) {
    const int64_t n = static_cast<int64_t>(items[s].tokens.size());
    if (n == 0) continue;
    const int64_t b = items[s].all_logits ? start[s] : start[s] + n - 1;
    const int64_t cnt = items[s].all_logits ? n : 1;
    rms_norm(&x_[b * E], weights_.final_norm, cnt, &sel_[rows * E]);
    if (hidden) std::copy_n(&sel_[(rows + cnt - 1) * E], E, hidden->data() + s * E);
    rows += cnt;
  }
  if (logits) {
    logits->resize(static_cast<size_t>(rows * V));
    matmul(weights_.lm_head, sel_.data(), rows, logits->data(), {});
  }
  return Status::OK();
}

}  // namespace flywheel::infer
