#include "model/transformer.h"

#include <cmath>

#include "model/bf16_gemm.h"
#include "model/fused_ops.h"

namespace flywheel::model {

namespace F = torch::nn::functional;

RmsNormImpl::RmsNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) { return fused_rms_norm(x, weight, eps); }

Rotary::Rotary(const ModelConfig& c) {
  const int64_t dim = c.head_dim;
  torch::Tensor exponents = torch::arange(0, dim, 2, torch::kInt64).to(torch::kFloat32) / static_cast<double>(dim);
  torch::Tensor inv = 1.0 / torch::pow(torch::tensor(c.rope_theta, torch::kFloat32), exponents);
  const RopeScaling& s = c.rope_scaling;
  if (s.type == "linear") {
    inv = inv / s.factor;
  } else if (s.type == "llama3") {
    const double old_len = static_cast<double>(s.original_max_position_embeddings);
    const double low_wavelen = old_len / s.low_freq_factor, high_wavelen = old_len / s.high_freq_factor;
    torch::Tensor wavelen = 2 * M_PI / inv;
    torch::Tensor scaled = torch::where(wavelen > low_wavelen, inv / s.factor, inv);
    torch::Tensor smooth = (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    torch::Tensor smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
    torch::Tensor medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen);
    inv = torch::where(medium, smoothed, scaled);
  }
  inv_freq_ = inv.to(torch::kFloat32);
}

std::pair<torch::Tensor, torch::Tensor> Rotary::cos_sin(const torch::Tensor& positions) const {
  torch::Tensor freqs = positions.to(torch::kFloat32).unsqueeze(-1) * inv_freq_;
  torch::Tensor emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos(), emb.sin()};
}

torch::Tensor Rotary::apply(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin, double scale) {
  return fused_rotary(x, cos, sin, scale);
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t offset,
                        std::optional<int64_t> sliding_window, torch::Tensor* bias_memo) {
  const int64_t B = q.size(0), Tq = q.size(1), H = q.size(2), D = q.size(3);
  const int64_t K = k.size(1), Tk = k.size(2), G = H / K;
  // Group the query heads that share a key-value head: [B*K, G*Tq, D].
  torch::Tensor qg = q.view({B, Tq, K, G, D}).permute({0, 2, 3, 1, 4}).reshape({B * K, G * Tq, D});
  torch::Tensor keys = k.reshape({B * K, Tk, D}).transpose(1, 2);
  const bool needs_mask = Tq > 1 || offset + Tq != Tk || (sliding_window && *sliding_window < Tk);
  torch::Tensor scores;
  if (needs_mask) {
    // The mask as an additive bias (0 or -inf) added by the GEMM itself
    // (beta = 1): no separate masked_fill pass over the scores, nor its copy.
    torch::Tensor bias = bias_memo && bias_memo->defined() && bias_memo->size(0) == G * Tq &&
                                 bias_memo->size(1) == Tk && bias_memo->scalar_type() == q.scalar_type()
                             ? *bias_memo
                             : torch::Tensor();
    if (!bias.defined()) {
      torch::Tensor qpos = torch::arange(offset, offset + Tq, torch::kInt64).unsqueeze(1);
      torch::Tensor kpos = torch::arange(0, Tk, torch::kInt64).unsqueeze(0);
      torch::Tensor blocked = kpos > qpos;
      if (sliding_window) blocked = blocked | (kpos <= qpos - *sliding_window);
      bias = torch::zeros({Tq, Tk}, q.options().requires_grad(false))
                 .masked_fill(blocked, -std::numeric_limits<float>::infinity())
                 .repeat({G, 1});  // rows are (group, query)
      if (bias_memo) *bias_memo = bias;
    }
    scores = torch::baddbmm(bias, qg, keys);
  } else {
    scores = torch::bmm(qg, keys);
  }
  torch::Tensor probs = torch::softmax(scores.to(torch::kFloat32), -1).to(q.scalar_type());
  torch::Tensor out = torch::bmm(probs, v.reshape({B * K, Tk, D}));  // [B*K, G*Tq, D]
  return out.view({B, K, G, Tq, D}).permute({0, 3, 1, 2, 4}).reshape({B, Tq, H * D});
}

namespace {

// x [..., K] (fp32) · w [N, K]ᵀ (bf16 or fp32) + bias with the small-M
// kernels (model/bf16_gemm.h) for decode-sized inputs (at most kSmallGemmMaxM
// rows) with no autograd, on CPU. They stream the weight once: a bf16 weight
// is not first converted to an fp32 copy (three times the memory traffic and
// an allocation the size of the weight on every call), and an fp32 weight
// skips the BLAS GEMM, which at M = 1 reads it at under half the memory
// bandwidth here (bench/decode measures the kernel and the bandwidth).
std::optional<torch::Tensor> small_m_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias) {
  const bool bf16 = w.scalar_type() == torch::kBFloat16;
  if ((!bf16 && w.scalar_type() != torch::kFloat32) || x.scalar_type() != torch::kFloat32 || w.dim() != 2 ||
      x.dim() < 1 || !x.device().is_cpu() || !w.device().is_cpu() || !w.is_contiguous())
    return std::nullopt;
  if (torch::GradMode::is_enabled() && (x.requires_grad() || w.requires_grad())) return std::nullopt;
  const int64_t N = w.size(0), K = w.size(1);
  if (x.size(-1) != K) return std::nullopt;  // F::linear reports the mismatch
  const int64_t M = K == 0 ? 0 : x.numel() / K;
  if (M < 1 || M > kSmallGemmMaxM) return std::nullopt;
  torch::Tensor x2 = x.reshape({M, K}).contiguous();
  torch::Tensor b = bias.defined() ? bias.to(torch::kFloat32).contiguous() : torch::Tensor();
  torch::Tensor y = torch::empty({M, N}, x.options());
  SmallGemmArgs args;
  args.M = M, args.N = N, args.K = K;
  args.x = x2.data_ptr<float>(), args.ldx = K;
  args.bias = b.defined() ? b.data_ptr<float>() : nullptr;
  args.y = y.data_ptr<float>(), args.ldy = N;
  if (bf16)
    bf16_gemm(args, reinterpret_cast<const uint16_t*>(w.data_ptr<at::BFloat16>()), K);
  else
    f32_gemm(args, w.data_ptr<float>(), K);
  auto shape = x.sizes().vec();
  shape.back() = N;
  return y.view(shape);
}

}  // namespace

torch::Tensor linear(const torch::nn::Linear& layer, const torch::Tensor& x) {
  const torch::Tensor& w = layer->weight;
  if (auto y = small_m_linear(x, w, layer->bias)) return *y;
  if (w.scalar_type() == x.scalar_type()) return F::linear(x, w, layer->bias);
  torch::Tensor bias = layer->bias.defined() ? layer->bias.to(x.scalar_type()) : torch::Tensor();
  return F::linear(x, w.to(x.scalar_type()), bias);
}

namespace {

// Training only (autograd on, fp32): q/k/v and gate/up as one GEMM each over
// concatenated weights. Wider GEMMs run nearer the BLAS peak; the weight copy
// is small next to the activations. Inference keeps separate projections (no
// per-call copy of the weights, and the small-M kernels).
bool fuse_projections(std::initializer_list<torch::nn::LinearImpl*> layers, const torch::Tensor& x) {
  if (!torch::GradMode::is_enabled() || x.scalar_type() != torch::kFloat32) return false;
  for (const torch::nn::LinearImpl* l : layers)
    if (!l->weight.requires_grad() || l->weight.scalar_type() != torch::kFloat32) return false;
  return true;
}

torch::Tensor fused_linear(std::initializer_list<torch::nn::LinearImpl*> layers, const torch::Tensor& x) {
  std::vector<torch::Tensor> weights, biases;
  for (const torch::nn::LinearImpl* l : layers) {
    weights.push_back(l->weight);
    if (l->bias.defined()) biases.push_back(l->bias);
  }
  // Either every layer has a bias (Qwen2's q/k/v) or none does.
  torch::Tensor bias = biases.size() == weights.size() ? torch::cat(biases) : torch::Tensor();
  return F::linear(x, torch::cat(weights), bias);
}

}  // namespace

AttentionImpl::AttentionImpl(const ModelConfig& c) {
  const int64_t q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  q_proj = register_module("q_proj", torch::nn::Linear(torch::nn::LinearOptions(c.hidden_size, q).bias(c.qkv_bias)));
  k_proj = register_module("k_proj", torch::nn::Linear(torch::nn::LinearOptions(c.hidden_size, kv).bias(c.qkv_bias)));
  v_proj = register_module("v_proj", torch::nn::Linear(torch::nn::LinearOptions(c.hidden_size, kv).bias(c.qkv_bias)));
  o_proj = register_module("o_proj", torch::nn::Linear(torch::nn::LinearOptions(q, c.hidden_size).bias(c.o_bias)));
}

MlpImpl::MlpImpl(const ModelConfig& c) {
  auto opts = [](int64_t in, int64_t out) { return torch::nn::LinearOptions(in, out).bias(false); };
  gate_proj = register_module("gate_proj", torch::nn::Linear(opts(c.hidden_size, c.intermediate_size)));
  up_proj = register_module("up_proj", torch::nn::Linear(opts(c.hidden_size, c.intermediate_size)));
  down_proj = register_module("down_proj", torch::nn::Linear(opts(c.intermediate_size, c.hidden_size)));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  if (fuse_projections({gate_proj.get(), up_proj.get()}, x))
    return linear(down_proj, fused_swiglu(fused_linear({gate_proj.get(), up_proj.get()}, x)));
  return linear(down_proj, torch::silu(linear(gate_proj, x)) * linear(up_proj, x));
}

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c)
    : heads(c.num_attention_heads), kv_heads(c.num_key_value_heads), head_dim(c.head_dim) {
  self_attn = register_module("self_attn", Attention(c));
  mlp = register_module("mlp", Mlp(c));
  input_layernorm = register_module("input_layernorm", RmsNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", RmsNorm(c.hidden_size, c.rms_norm_eps));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                        const AttendFn& attend) {
  torch::Tensor h = input_layernorm(x);
  auto lead = x.sizes().vec();
  lead.pop_back();
  auto heads_shape = [&](int64_t n) {
    auto s = lead;
    s.push_back(n);
    s.push_back(head_dim);
    return s;
  };
  torch::Tensor q, k, v;
  const std::initializer_list<torch::nn::LinearImpl*> qkv = {self_attn->q_proj.get(), self_attn->k_proj.get(),
                                                             self_attn->v_proj.get()};
  if (fuse_projections(qkv, h)) {
    torch::Tensor all = fused_linear(qkv, h);
    const int64_t nq = heads * head_dim, nkv = kv_heads * head_dim;
    q = all.narrow(-1, 0, nq).view(heads_shape(heads));
    k = all.narrow(-1, nq, nkv).view(heads_shape(kv_heads));
    v = all.narrow(-1, nq + nkv, nkv).view(heads_shape(kv_heads));
  } else {
    q = linear(self_attn->q_proj, h).view(heads_shape(heads));
    k = linear(self_attn->k_proj, h).view(heads_shape(kv_heads));
    v = linear(self_attn->v_proj, h).view(heads_shape(kv_heads));
  }
  // Queries carry the attention's 1/sqrt(D), applied with the rotation.
  q = Rotary::apply(q, cos, sin, 1.0 / std::sqrt(static_cast<double>(head_dim)));
  k = Rotary::apply(k, cos, sin);
  torch::Tensor out = x + linear(self_attn->o_proj, attend(q, k, v));
  return out + mlp(post_attention_layernorm(out));
}

BackboneImpl::BackboneImpl(const ModelConfig& c) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(DecoderLayer(c));
  norm = register_module("norm", RmsNorm(c.hidden_size, c.rms_norm_eps));
}

CausalLmImpl::CausalLmImpl(const ModelConfig& c) : config(c), rotary(c) {
  model = register_module("model", Backbone(c));
  if (!c.tie_word_embeddings)
    lm_head = register_module("lm_head",
                              torch::nn::Linear(torch::nn::LinearOptions(c.hidden_size, c.vocab_size).bias(false)));
}

torch::Tensor CausalLmImpl::logits_from_hidden(const torch::Tensor& hidden) {
  if (lm_head) return linear(lm_head, hidden);
  const torch::Tensor& w = model->embed_tokens->weight;
  if (auto logits = small_m_linear(hidden, w, torch::Tensor())) return *logits;
  return F::linear(hidden, w.scalar_type() == hidden.scalar_type() ? w : w.to(hidden.scalar_type()));
}

torch::Tensor CausalLmImpl::weighted_loss(const torch::Tensor& tokens, const torch::Tensor& targets,
                                          const torch::Tensor& row_weights) {
  torch::Tensor hidden = hidden_states(tokens);
  const torch::Tensor& w = lm_head ? lm_head->weight : model->embed_tokens->weight;
  return fused_linear_cross_entropy(hidden.reshape({-1, hidden.size(-1)}), w, targets.reshape({-1}),
                                    row_weights.reshape({-1}));
}

torch::Tensor CausalLmImpl::hidden_states(const torch::Tensor& tokens) {
  const int64_t T = tokens.size(1);
  torch::Tensor x = model->embed_tokens(tokens).to(torch::kFloat32);
  auto [cos, sin] = rotary.cos_sin(torch::arange(T, torch::kInt64));
  const auto window = config.sliding_window;
  torch::Tensor causal_bias;  // built by the first layer, shared by the others
  AttendFn attend = [&](const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
    return attention(q, k.permute({0, 2, 1, 3}), v.permute({0, 2, 1, 3}), 0, window, &causal_bias);
  };
  for (const auto& layer : *model->layers) x = layer->as<DecoderLayerImpl>()->forward(x, cos, sin, attend);
  return model->norm(x);
}

torch::Tensor CausalLmImpl::forward(const torch::Tensor& tokens) { return logits_from_hidden(hidden_states(tokens)); }

KvCacheTensors CausalLmImpl::new_cache(int64_t capacity, torch::Dtype dtype) const {
  KvCacheTensors cache;
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    cache.k.push_back(torch::empty({config.num_key_value_heads, capacity, config.head_dim}, dtype));
    cache.v.push_back(torch::empty({config.num_key_value_heads, capacity, config.head_dim}, dtype));
  }
  return cache;
}

std::vector<torch::Tensor> CausalLmImpl::forward_cached(std::vector<SequenceInput>& batch) {
  c10::InferenceMode guard;
  std::vector<torch::Tensor> tokens, positions;
  std::vector<int64_t> starts, counts;
  for (const SequenceInput& s : batch) {
    const int64_t n = s.tokens.size(0), start = s.cache->length;
    TORCH_CHECK(start + n <= s.cache->capacity(), "KV cache overflow: ", start + n, " > ", s.cache->capacity());
    tokens.push_back(s.tokens);
    positions.push_back(torch::arange(start, start + n, torch::kInt64));
    starts.push_back(start);
    counts.push_back(n);
  }
  torch::Tensor x = model->embed_tokens(torch::cat(tokens)).to(torch::kFloat32);  // [N, E]
  auto [cos, sin] = rotary.cos_sin(torch::cat(positions));
  const auto window = config.sliding_window;
  int64_t layer_index = 0;
  AttendFn attend = [&](const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
    std::vector<torch::Tensor> outs;
    int64_t row = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      KvCacheTensors& cache = *batch[i].cache;
      const int64_t n = counts[i], start = starts[i];
      torch::Tensor& kc = cache.k[layer_index];
      torch::Tensor& vc = cache.v[layer_index];
      kc.narrow(1, start, n).copy_(k.narrow(0, row, n).transpose(0, 1));
      vc.narrow(1, start, n).copy_(v.narrow(0, row, n).transpose(0, 1));
      torch::Tensor keys = kc.narrow(1, 0, start + n).unsqueeze(0);
      torch::Tensor values = vc.narrow(1, 0, start + n).unsqueeze(0);
      if (keys.scalar_type() != q.scalar_type()) {
        keys = keys.to(q.scalar_type());
        values = values.to(q.scalar_type());
      }
      outs.push_back(attention(q.narrow(0, row, n).unsqueeze(0), keys, values, start, window).squeeze(0));
      row += n;
    }
    return outs.size() == 1 ? outs[0] : torch::cat(outs);
  };
  for (const auto& layer : *model->layers) {
    x = layer->as<DecoderLayerImpl>()->forward(x, cos, sin, attend);
    ++layer_index;
  }
  // Only the rows whose logits are wanted go through the final norm and head.
  std::vector<torch::Tensor> rows;
  int64_t row = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    rows.push_back(batch[i].all_logits ? x.narrow(0, row, counts[i]) : x.narrow(0, row + counts[i] - 1, 1));
    row += counts[i];
    batch[i].cache->length += counts[i];
  }
  const torch::Tensor hidden = model->norm(torch::cat(rows));
  torch::Tensor logits = logits_from_hidden(hidden);
  std::vector<torch::Tensor> out;
  row = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const int64_t n = batch[i].all_logits ? counts[i] : 1;
    if (batch[i].last_hidden != nullptr) *batch[i].last_hidden = hidden[row + n - 1];
    out.push_back(batch[i].all_logits ? logits.narrow(0, row, n) : logits[row]);
    row += n;
  }
  return out;
}

void CausalLmImpl::set_weight_dtype(torch::Dtype dtype) {
  torch::NoGradGuard no_grad;
  for (auto& p : named_parameters()) {
    // Norm weights stay fp32: they are tiny and the norm computes in fp32.
    if (p.key().find("norm") != std::string::npos) continue;
    p.value().set_data(p.value().to(dtype));
  }
}

}  // namespace flywheel::model
