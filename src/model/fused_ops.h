// Fused CPU kernels for the transformer's elementwise layers, each with its
// own backward (a torch::autograd::Function), so a training step reads and
// writes each activation once instead of once per primitive op: the composite
// versions (pow, mean, rsqrt, mul, cat, neg, silu...) spent about a third of a
// step in elementwise passes and their autograd copies (bench/train --profile).
//
// Internal to the model and train implementation files (includes torch).
// Each function takes fp32 CPU tensors; anything else (bf16 activations, a
// CUDA device) goes through the composite formula, which gives the same
// values. Gradients are deterministic: reductions over rows (RMSNorm's weight
// gradient) sum fixed blocks in a fixed order, whatever the thread count.
//
// Thread-safety: pure functions; parallel over rows with at::parallel_for.
#pragma once
#include <torch/torch.h>

namespace flywheel::model {

// x [..., E] * rsqrt(mean(x^2, -1) + eps) * weight [E].
torch::Tensor fused_rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// Rotary embedding (rotate-half) of x [..., H, D] by cos/sin [P, D], then
// multiplied by `scale` (the attention's 1/sqrt(D) for queries, 1 for keys).
// Row r of x's flattened leading dims uses position row r % P: x [B, T, H, D]
// with cos [T, D], or x [N, H, D] with cos [N, D]. x may be a view whose rows
// are strided (a slice of a fused q/k/v projection).
torch::Tensor fused_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin, double scale);

// SwiGLU of a fused gate/up projection: gate_up [..., 2F] (gate first) ->
// silu(gate) * up [..., F].
torch::Tensor fused_swiglu(const torch::Tensor& gate_up);

// Σ_r row_weights[r] * cross_entropy(hidden[r] · weightᵀ, targets[r]) for
// hidden [R, E], an LM head weight [V, E], targets int64 [R] in [0, V) and
// row_weights fp32 [R] (a loss mask, or 1/count for a mean). The logits are
// made and consumed a block of rows at a time and never held whole ([R, V]
// is the step's largest tensor); with autograd on, the gradients for hidden
// and weight are computed in the same pass and scaled by the incoming
// gradient in backward. Deterministic: blocks in a fixed order.
torch::Tensor fused_linear_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                         const torch::Tensor& targets, const torch::Tensor& row_weights);

}  // namespace flywheel::model
