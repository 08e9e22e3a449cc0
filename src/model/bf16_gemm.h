// Small-M matrix products for decode: y[M, N] = x[M, K] · W[N, K]ᵀ (+ bias[N])
// with x, y in fp32 and W stored either as bf16 bits (uint16, the top half of
// an fp32) or as fp32. Decode multiplies a handful of activation rows (one per
// sequence in the batch, M <= ~16) by every weight matrix, so the product is
// bound by reading W once from memory; these kernels stream each weight row
// once, widen bf16 to fp32 in registers (no fp32 copy of the weight), and
// accumulate in fp32. Larger M (prefill, training) belongs to a BLAS GEMM.
//
// Paths: AVX2+FMA when the CPU has them (checked at run time), else a scalar
// loop; both sum each dot product in fp32 in 8 lanes, so they agree with a
// double-precision reference to ~1e-6 of sum_k |x_k * w_k| (not bit for bit
// with each other).
// Rows of W are split across threads with at::parallel_for (the libtorch
// intra-op pool, sized by at::set_num_threads); the header itself is plain C++.
//
// Shapes and layout: x row-major with row stride ldx (>= K) floats, W
// row-major with row stride ldw (>= K) elements, y row-major with row stride
// ldy (>= N) floats; bias is N floats or null. M, N, K >= 0 (K = 0 gives bias or
// zeros). x and y must not overlap.
//
// Thread-safety: pure functions of their arguments; they may run concurrently
// on different outputs.
#pragma once

#include <cstdint>

namespace flywheel::model {

// kAuto and kAvx2 take AVX2+FMA where the CPU has it, else the scalar loop;
// kScalar always takes the scalar loop (tests compare the two).
enum class GemmPath { kAuto, kScalar, kAvx2 };

struct SmallGemmArgs {
  int64_t M = 0, N = 0, K = 0;
  const float* x = nullptr;
  int64_t ldx = 0;
  const float* bias = nullptr;  // N floats or null
  float* y = nullptr;
  int64_t ldy = 0;
};

// W [N, K] as bf16 bits, row stride ldw.
void bf16_gemm(const SmallGemmArgs& args, const uint16_t* w, int64_t ldw, GemmPath path = GemmPath::kAuto);
// W [N, K] as fp32, row stride ldw.
void f32_gemm(const SmallGemmArgs& args, const float* w, int64_t ldw, GemmPath path = GemmPath::kAuto);

// The path a request resolves to on this CPU (never kAuto).
GemmPath small_gemm_path(GemmPath requested = GemmPath::kAuto);

// The largest M these kernels are meant for: beyond it a BLAS GEMM, which
// reuses each weight from cache across rows, is faster.
constexpr int64_t kSmallGemmMaxM = 16;

}  // namespace flywheel::model
