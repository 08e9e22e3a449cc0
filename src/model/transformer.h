// The Llama-family transformer as a libtorch module (internal to the model,
// train and serve implementation files: it includes torch).
//
// Shapes: B batch, T tokens, N flattened tokens of a ragged batch, H query
// heads, K key-value heads, D head dim, E hidden size, V vocabulary.
// Parameter names are Hugging Face's (model.layers.0.self_attn.q_proj.weight,
// ... lm_head.weight), so named_parameters() maps 1:1 onto safetensors.
// One implementation serves training (forward over [B, T] with a causal mask,
// autograd on) and inference (a ragged batch of sequences, each appending to
// its own KV cache).
//
// Thread-safety: forward calls must not run concurrently on one module.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <optional>
#include <vector>

#include "model/config.h"

namespace flywheel::model {

// x * rsqrt(mean(x^2) + eps) * weight, computed in fp32.
struct RmsNormImpl : torch::nn::Module {
  RmsNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(RmsNorm);

// Rotary position embedding, Hugging Face rotate-half convention, with none,
// linear or llama3 frequency scaling.
class Rotary {
 public:
  explicit Rotary(const ModelConfig& config);
  // cos and sin for positions [...] -> [..., D].
  std::pair<torch::Tensor, torch::Tensor> cos_sin(const torch::Tensor& positions) const;
  // x [..., H, D] rotated by cos/sin [..., D], times `scale`.
  static torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                             double scale = 1.0);
  const torch::Tensor& inv_freq() const { return inv_freq_; }

 private:
  torch::Tensor inv_freq_;  // [D/2] fp32
};

// softmax(q k^T + mask) v with grouped-query attention; q comes already
// scaled by 1/sqrt(D) (the rotation applies it).
// q [B, Tq, H, D]; k, v [B, K, Tk, D]; query i sits at absolute position
// offset + i and sees keys at positions <= offset + i (and, with a sliding
// window W, > offset + i - W). Returns [B, Tq, H * D]. `bias_memo`, when
// given, keeps the additive mask for the next call of the same shape (the
// layers of one forward).
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t offset,
                        std::optional<int64_t> sliding_window, torch::Tensor* bias_memo = nullptr);

// Projections compute in the activation dtype even when weights are stored
// in bf16 (kept that way to halve memory). Decode-sized fp32 inputs (at most
// 16 rows, no autograd) go through the streaming kernels of model/bf16_gemm.h.
torch::Tensor linear(const torch::nn::Linear& layer, const torch::Tensor& x);

struct AttentionImpl : torch::nn::Module {
  explicit AttentionImpl(const ModelConfig& c);
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
};
TORCH_MODULE(Attention);

struct MlpImpl : torch::nn::Module {
  explicit MlpImpl(const ModelConfig& c);
  torch::Tensor forward(const torch::Tensor& x);  // down(silu(gate(x)) * up(x))
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Mlp);

// attend(q [..., H, D], k [..., K, D], v [..., K, D]) -> [..., H * D]: the
// caller decides where keys come from (this batch, or a KV cache).
using AttendFn = std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&)>;

struct DecoderLayerImpl : torch::nn::Module {
  explicit DecoderLayerImpl(const ModelConfig& c);
  // x [..., E] -> [..., E]; cos/sin [..., D].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const AttendFn& attend);
  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
  RmsNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  int64_t heads, kv_heads, head_dim;
};
TORCH_MODULE(DecoderLayer);

struct BackboneImpl : torch::nn::Module {
  explicit BackboneImpl(const ModelConfig& c);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RmsNorm norm{nullptr};
};
TORCH_MODULE(Backbone);

// Keys and values of one sequence for every layer, preallocated.
struct KvCacheTensors {
  std::vector<torch::Tensor> k, v;  // per layer [K, capacity, D]
  int64_t length = 0;
  int64_t capacity() const { return k.empty() ? 0 : k[0].size(1); }
};

// One sequence's share of a ragged inference batch: its new tokens are
// appended at cache->length.
struct SequenceInput {
  KvCacheTensors* cache;
  torch::Tensor tokens;  // int64 [n], n >= 1
  bool all_logits = false;
  torch::Tensor* last_hidden = nullptr;  // when set: the final-norm hidden state of the last token [E]
};

struct CausalLmImpl : torch::nn::Module {
  explicit CausalLmImpl(const ModelConfig& c);

  // Training and reference forward: tokens [B, T] -> logits [B, T, V].
  torch::Tensor forward(const torch::Tensor& tokens);
  // Hidden states after the final norm: [B, T, E].
  torch::Tensor hidden_states(const torch::Tensor& tokens);
  torch::Tensor logits_from_hidden(const torch::Tensor& hidden);
  // Σ row_weights * cross-entropy of the logits for tokens [B, T] against
  // targets [B, T] (int64), row_weights [B, T] fp32 (a loss mask, or 1/count
  // for a mean), without holding the [B, T, V] logits (fused_ops.h).
  torch::Tensor weighted_loss(const torch::Tensor& tokens, const torch::Tensor& targets,
                              const torch::Tensor& row_weights);

  // Inference over a ragged batch (no autograd): appends each sequence's
  // tokens to its cache (which must have room) and returns, per sequence, the
  // logits of its last token [V] or of all its tokens [n, V].
  std::vector<torch::Tensor> forward_cached(std::vector<SequenceInput>& batch);

  KvCacheTensors new_cache(int64_t capacity, torch::Dtype dtype = torch::kFloat32) const;
  // Stores the projection weights in `dtype` (bf16 to halve memory).
  void set_weight_dtype(torch::Dtype dtype);

  ModelConfig config;
  Rotary rotary;
  Backbone model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tied to model->embed_tokens
};
TORCH_MODULE(CausalLm);

}  // namespace flywheel::model
