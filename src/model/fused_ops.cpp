#include "model/fused_ops.h"

#include <ATen/Parallel.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "model/fast_exp.h"

namespace flywheel::model {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// Kernels are compiled for AVX-512, AVX2 and baseline x86-64 and picked at
// load time (GCC function multiversioning); their loops are written to
// auto-vectorize. Helpers called from them are inline so each clone gets its
// own vector code.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FW_KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FW_KERNEL
#endif

// Rows per parallel task: about 16k elements each.
int64_t grain_rows(int64_t row_elements) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(row_elements, 1)); }

bool fast_path(std::initializer_list<const torch::Tensor*> tensors) {
  for (const torch::Tensor* t : tensors)
    if (!t->defined() || t->scalar_type() != torch::kFloat32 || !t->device().is_cpu()) return false;
  return true;
}

bool needs_grad(std::initializer_list<const torch::Tensor*> tensors) {
  if (!torch::GradMode::is_enabled()) return false;
  for (const torch::Tensor* t : tensors)
    if (t->requires_grad()) return true;
  return false;
}

// [..., last] as a 2-D view [rows, last] (a copy only when the rows cannot be
// described by one stride), with a unit stride along the last dimension.
torch::Tensor as_rows(const torch::Tensor& x, int64_t last) {
  torch::Tensor rows = x.reshape({-1, last});
  if (rows.stride(1) != 1 || (rows.size(0) > 1 && rows.stride(0) < last)) rows = rows.contiguous();
  return rows;
}

// 1 / (1 + e^-x) from e^-|x| <= 1, so the exp never overflows.
inline float sigmoid(float x) {
  const float e = exp_nonpositive(-std::abs(x));
  return x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

// --------------------------------------------------------------- RMSNorm

FW_KERNEL void rms_forward_rows(const float* x, const float* w, float eps, int64_t E, int64_t r0, int64_t r1, float* y,
                                float* inv) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * E;
    float* yr = y + r * E;
    float ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < E; ++i) ss += xr[i] * xr[i];
    const float s = 1.0f / std::sqrt(ss / static_cast<float>(E) + eps);
    inv[r] = s;
#pragma omp simd
    for (int64_t i = 0; i < E; ++i) yr[i] = w[i] * (xr[i] * s);
  }
}

// dx = s * (g - xhat * mean(g * xhat)) with g = dy * w, xhat = x * s;
// dw_partial += dy * xhat over rows r0..r1.
FW_KERNEL void rms_backward_rows(const float* x, const float* w, const float* inv, const float* dy, int64_t E,
                                 int64_t r0, int64_t r1, float* dx, float* dw_partial) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * E;
    const float* dyr = dy + r * E;
    float* dxr = dx + r * E;
    const float s = inv[r];
    float dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t i = 0; i < E; ++i) dot += dyr[i] * w[i] * xr[i];
    const float c = dot * s * s / static_cast<float>(E);
#pragma omp simd
    for (int64_t i = 0; i < E; ++i) {
      dxr[i] = s * (dyr[i] * w[i] - xr[i] * c);
      dw_partial[i] += dyr[i] * xr[i] * s;
    }
  }
}

std::pair<torch::Tensor, torch::Tensor> rms_forward(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  const int64_t E = x.size(-1), R = x.numel() / std::max<int64_t>(E, 1);
  torch::Tensor y = torch::empty_like(x);
  torch::Tensor inv = torch::empty({R}, x.options());
  const float* xp = x.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  float* ip = inv.data_ptr<float>();
  at::parallel_for(0, R, grain_rows(E), [&](int64_t r0, int64_t r1) {
    rms_forward_rows(xp, wp, static_cast<float>(eps), E, r0, r1, yp, ip);
  });
  return {y, inv};
}

struct RmsNormFunction : torch::autograd::Function<RmsNormFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w, double eps) {
    auto [y, inv] = rms_forward(x, w, eps);
    ctx->save_for_backward({x, w, inv});
    return y;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &w = saved[1], &inv = saved[2];
    const torch::Tensor dy = grads[0].contiguous();
    const int64_t E = x.size(-1), R = x.numel() / std::max<int64_t>(E, 1);
    torch::Tensor dx = torch::empty_like(x);
    // The weight's gradient sums over rows: fixed blocks of rows, each into
    // its own partial, added in block order, so the result does not depend
    // on how many threads ran.
    const int64_t blocks = std::clamp<int64_t>(R / std::max<int64_t>(grain_rows(E), 1), 1, 64);
    std::vector<float> partial(static_cast<size_t>(blocks * E), 0.0f);
    const float *xp = x.data_ptr<float>(), *wp = w.data_ptr<float>(), *ip = inv.data_ptr<float>(),
                *dyp = dy.data_ptr<float>();
    float* dxp = dx.data_ptr<float>();
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        rms_backward_rows(xp, wp, ip, dyp, E, R * b / blocks, R * (b + 1) / blocks, dxp, partial.data() + b * E);
    });
    torch::Tensor dw = torch::zeros_like(w);
    float* dwp = dw.data_ptr<float>();
    for (int64_t b = 0; b < blocks; ++b)
      for (int64_t i = 0; i < E; ++i) dwp[i] += partial[static_cast<size_t>(b * E + i)];
    return {dx, dw, torch::Tensor()};
  }
};

// ---------------------------------------------------------------- Rotary

struct RotaryShape {
  int64_t rows, heads, dim, row_stride, positions;
};

// out = (x * cos + rotate_half(x) * sin) * scale; with `transpose` (the
// backward) the rotation's transpose: sin's sign flips and it is indexed at
// the partner element.
FW_KERNEL void rotary_rows(const float* x, const float* cos, const float* sin, const RotaryShape& s, float scale,
                           bool transpose, int64_t r0, int64_t r1, float* out) {
  const int64_t D = s.dim, half = D / 2;
  for (int64_t r = r0; r < r1; ++r) {
    const float* c = cos + (r % s.positions) * D;
    const float* sn = sin + (r % s.positions) * D;
    for (int64_t h = 0; h < s.heads; ++h) {
      const float* xi = x + r * s.row_stride + h * D;
      float* o = out + (r * s.heads + h) * D;
      if (!transpose) {
#pragma omp simd
        for (int64_t i = 0; i < half; ++i) {
          o[i] = (xi[i] * c[i] + -xi[i + half] * sn[i]) * scale;
          o[i + half] = (xi[i + half] * c[i + half] + xi[i] * sn[i + half]) * scale;
        }
      } else {
#pragma omp simd
        for (int64_t i = 0; i < half; ++i) {
          o[i] = (xi[i] * c[i] + xi[i + half] * sn[i + half]) * scale;
          o[i + half] = (xi[i + half] * c[i + half] - xi[i] * sn[i]) * scale;
        }
      }
    }
  }
}

torch::Tensor rotary_run(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin, double scale,
                         bool transpose) {
  const int64_t H = x.size(-2), D = x.size(-1);
  torch::Tensor rows = as_rows(x, H * D);
  RotaryShape s{rows.size(0), H, D, rows.size(0) > 1 ? rows.stride(0) : H * D, cos.size(0)};
  torch::Tensor out = torch::empty(x.sizes(), x.options());
  const float* xp = rows.data_ptr<float>();
  const float *cp = cos.data_ptr<float>(), *sp = sin.data_ptr<float>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, s.rows, grain_rows(H * D), [&](int64_t r0, int64_t r1) {
    rotary_rows(xp, cp, sp, s, static_cast<float>(scale), transpose, r0, r1, op);
  });
  return out;
}

struct RotaryFunction : torch::autograd::Function<RotaryFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& cos,
                               const torch::Tensor& sin, double scale) {
    ctx->save_for_backward({cos, sin});
    ctx->saved_data["scale"] = scale;
    return rotary_run(x, cos, sin, scale, false);
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const double scale = ctx->saved_data["scale"].toDouble();
    return {rotary_run(grads[0], saved[0], saved[1], scale, true), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// ---------------------------------------------------------------- SwiGLU

FW_KERNEL void swiglu_forward_rows(const float* gu, int64_t stride, int64_t F, int64_t r0, int64_t r1, float* out) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* g = gu + r * stride;
    const float* u = g + F;
    float* o = out + r * F;
#pragma omp simd
    for (int64_t i = 0; i < F; ++i) o[i] = g[i] * sigmoid(g[i]) * u[i];
  }
}

// d gate = dout * up * s * (1 + gate * (1 - s)), d up = dout * gate * s.
FW_KERNEL void swiglu_backward_rows(const float* gu, int64_t stride, const float* dout, int64_t F, int64_t r0,
                                    int64_t r1, float* dgu) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* g = gu + r * stride;
    const float* u = g + F;
    const float* d = dout + r * F;
    float* dg = dgu + r * 2 * F;
    float* du = dg + F;
#pragma omp simd
    for (int64_t i = 0; i < F; ++i) {
      const float s = sigmoid(g[i]);
      dg[i] = d[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
      du[i] = d[i] * g[i] * s;
    }
  }
}

torch::Tensor swiglu_forward(const torch::Tensor& gate_up) {
  const int64_t F = gate_up.size(-1) / 2;
  torch::Tensor rows = as_rows(gate_up, 2 * F);
  auto shape = gate_up.sizes().vec();
  shape.back() = F;
  torch::Tensor out = torch::empty(shape, gate_up.options());
  const int64_t stride = rows.size(0) > 1 ? rows.stride(0) : 2 * F;
  const float* gp = rows.data_ptr<float>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, rows.size(0), grain_rows(F),
                   [&](int64_t r0, int64_t r1) { swiglu_forward_rows(gp, stride, F, r0, r1, op); });
  return out;
}

struct SwigluFunction : torch::autograd::Function<SwigluFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& gate_up) {
    ctx->save_for_backward({gate_up});
    return swiglu_forward(gate_up);
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const torch::Tensor gate_up = ctx->get_saved_variables()[0];
    const int64_t F = gate_up.size(-1) / 2;
    torch::Tensor rows = as_rows(gate_up, 2 * F);
    const torch::Tensor dout = grads[0].contiguous();
    torch::Tensor dgu = torch::empty(gate_up.sizes(), gate_up.options());
    const int64_t stride = rows.size(0) > 1 ? rows.stride(0) : 2 * F;
    const float *gp = rows.data_ptr<float>(), *dp = dout.data_ptr<float>();
    float* out = dgu.data_ptr<float>();
    at::parallel_for(0, rows.size(0), grain_rows(F),
                     [&](int64_t r0, int64_t r1) { swiglu_backward_rows(gp, stride, dp, F, r0, r1, out); });
    return {dgu};
  }
};

// ------------------------------------------------ linear + cross-entropy

// Per row of a logits block: loss = logsumexp - logit[target]; with `grad`,
// the row becomes w * (softmax - onehot(target)), d loss / d logits.
FW_KERNEL void cross_entropy_rows(float* logits, int64_t V, const int64_t* targets, const float* w, bool grad,
                                  int64_t r0, int64_t r1, double* losses) {
  for (int64_t r = r0; r < r1; ++r) {
    float* l = logits + r * V;
    float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
    for (int64_t i = 0; i < V; ++i) m = std::max(m, l[i]);
    float sum = 0;
    const float target_logit = l[targets[r]];
    if (grad) {
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < V; ++i) {
        l[i] = exp_nonpositive(l[i] - m);
        sum += l[i];
      }
    } else {
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < V; ++i) sum += exp_nonpositive(l[i] - m);
    }
    losses[r] = static_cast<double>(std::log(sum)) + m - target_logit;
    if (grad) {
      const float scale = w[r] / sum;
#pragma omp simd
      for (int64_t i = 0; i < V; ++i) l[i] *= scale;
      l[targets[r]] -= w[r];
    }
  }
}

// The loss and, with `grad`, d/d hidden [R, E] and d/d weight [V, E].
struct LinearCrossEntropy {
  torch::Tensor loss, d_hidden, d_weight;
};

LinearCrossEntropy linear_cross_entropy(const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& targets,
                                        const torch::Tensor& row_weights, bool grad) {
  const int64_t R = h.size(0), V = w.size(0);
  // About 16 MB of logits per block: within the last-level cache between the
  // GEMM and the softmax pass, and rows enough for the GEMMs to run near peak.
  const int64_t block = std::clamp<int64_t>((int64_t{4} << 20) / std::max<int64_t>(V, 1), 64, 1024);
  LinearCrossEntropy out;
  if (grad) {
    out.d_hidden = torch::empty_like(h);
    out.d_weight = torch::zeros_like(w);
  }
  std::vector<double> losses(static_cast<size_t>(R));
  const int64_t* tp = targets.data_ptr<int64_t>();
  const float* wp = row_weights.data_ptr<float>();
  torch::NoGradGuard no_grad;
  for (int64_t r0 = 0; r0 < R; r0 += block) {
    const int64_t n = std::min(block, R - r0);
    torch::Tensor hb = h.narrow(0, r0, n);
    torch::Tensor logits = torch::mm(hb, w.t());  // [n, V]
    float* lp = logits.data_ptr<float>();
    at::parallel_for(0, n, grain_rows(V), [&](int64_t a, int64_t b) {
      cross_entropy_rows(lp, V, tp + r0, wp + r0, grad, a, b, losses.data() + r0);
    });
    if (grad) {
      torch::Tensor d_hidden_block = out.d_hidden.narrow(0, r0, n);  // contiguous rows
      torch::mm_out(d_hidden_block, logits, w);
      out.d_weight.addmm_(logits.t(), hb);
    }
  }
  double total = 0;
  for (int64_t r = 0; r < R; ++r) total += losses[static_cast<size_t>(r)] * wp[r];
  out.loss = torch::tensor(static_cast<float>(total), h.options());
  return out;
}

struct LinearCrossEntropyFunction : torch::autograd::Function<LinearCrossEntropyFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& h, const torch::Tensor& w,
                               const torch::Tensor& targets, const torch::Tensor& row_weights) {
    LinearCrossEntropy r = linear_cross_entropy(h, w, targets, row_weights, /*grad=*/true);
    ctx->save_for_backward({r.d_hidden, r.d_weight});
    return r.loss;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& g = grads[0];
    return {saved[0] * g, saved[1] * g, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor fused_linear_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                         const torch::Tensor& targets, const torch::Tensor& row_weights) {
  TORCH_CHECK(hidden.dim() == 2 && weight.dim() == 2 && hidden.size(1) == weight.size(1),
              "linear cross-entropy: hidden [R, E] and weight [V, E] expected");
  TORCH_CHECK(targets.numel() == hidden.size(0) && row_weights.numel() == hidden.size(0),
              "linear cross-entropy: one target and one weight per row");
  if (targets.numel() > 0) {
    const auto [lo, hi] = torch::aminmax(targets);
    TORCH_CHECK(lo.item<int64_t>() >= 0 && hi.item<int64_t>() < weight.size(0),
                "linear cross-entropy: target id out of range [0, ", weight.size(0), ")");
  }
  if (!fast_path({&hidden, &weight, &row_weights}) || targets.scalar_type() != torch::kInt64) {
    torch::Tensor logits = torch::nn::functional::linear(hidden, weight.to(hidden.scalar_type()));
    torch::Tensor losses = torch::nn::functional::cross_entropy(
        logits.to(torch::kFloat32), targets, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
    return (losses * row_weights.to(torch::kFloat32)).sum();
  }
  torch::Tensor h = hidden.contiguous(), w = weight.contiguous();
  torch::Tensor t = targets.contiguous(), rw = row_weights.contiguous();
  if (needs_grad({&hidden, &weight})) return LinearCrossEntropyFunction::apply(h, w, t, rw);
  return linear_cross_entropy(h, w, t, rw, /*grad=*/false).loss;
}

torch::Tensor fused_rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  if (!fast_path({&x, &weight}) || x.size(-1) != weight.numel()) {
    torch::Tensor x32 = x.to(torch::kFloat32);
    torch::Tensor normed = x32 * torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
    return (weight.to(torch::kFloat32) * normed).to(x.scalar_type());
  }
  torch::Tensor xc = x.contiguous(), wc = weight.contiguous();
  if (needs_grad({&x, &weight})) return RmsNormFunction::apply(xc, wc, eps);
  return rms_forward(xc, wc, eps).first;
}

torch::Tensor fused_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin, double scale) {
  const int64_t D = x.size(-1);
  torch::Tensor c = cos.reshape({-1, D}), s = sin.reshape({-1, D});
  const int64_t rows = x.dim() >= 2 ? x.numel() / std::max<int64_t>(x.size(-2) * D, 1) : 0;
  if (!fast_path({&x, &c, &s}) || x.dim() < 2 || D % 2 != 0 || c.size(0) == 0 || rows % c.size(0) != 0 ||
      x.stride(-1) != 1) {
    const int64_t half = D / 2;
    torch::Tensor rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
    torch::Tensor out = x * cos.unsqueeze(-2) + rotated * sin.unsqueeze(-2);  // broadcast over heads
    return scale == 1.0 ? out : out * scale;
  }
  c = c.contiguous();
  s = s.contiguous();
  if (needs_grad({&x})) return RotaryFunction::apply(x, c, s, scale);
  return rotary_run(x, c, s, scale, false);
}

torch::Tensor fused_swiglu(const torch::Tensor& gate_up) {
  const int64_t F = gate_up.size(-1) / 2;
  if (!fast_path({&gate_up}) || gate_up.size(-1) % 2 != 0) {
    return torch::silu(gate_up.narrow(-1, 0, F)) * gate_up.narrow(-1, F, F);
  }
  if (needs_grad({&gate_up})) return SwigluFunction::apply(gate_up);
  return swiglu_forward(gate_up);
}

}  // namespace flywheel::model
