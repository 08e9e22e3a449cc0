// The native path's compute kernels: quantize and dequantize rows of every
// TensorType, and the matrix product y = x · Wᵀ with W in its stored type.
//
// Activations are "prepared" once per product in the form the weight type's
// dot product takes (activation_type): f32 for F32/F16/BF16 weights, int8
// blocks of 32 (Q8_0) for Q8_0/Q4_0 weights, int8 blocks of 256 (Q8_K) for
// the K-quants, as llama.cpp does. Then matmul_rows() computes any range of
// output rows, so a thread pool can split the rows (and every thread shares
// one prepared copy of x). For m > 1 each weight block is multiplied with
// every row of x while it is in cache.
//
// Paths: kScalar is the portable reference that tests compare the others
// against; kAvx2 (AVX2+FMA+F16C) and kAvx512 (AVX-512F/BW/VL, with VNNI and
// AVX512_BF16 where present) are taken only when the CPU has them
// (resolve_path). A path the CPU lacks falls back to the best it has.
//
// Shapes: x is m rows of k floats with row stride ldx; prepared holds m rows
// of prepared_row_bytes(type, k) bytes; y is m rows with stride ldy, and
// matmul_rows writes y[i * ldy + r] for r in [row_begin, row_end). k must be a
// multiple of the weight type's block size (and of 32 for Q8_0 activations).
//
// Thread-safety: pure functions; concurrent calls on disjoint outputs are safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "infer/tensor_type.h"

namespace flywheel::infer {

enum class KernelPath { kAuto, kScalar, kAvx2, kAvx512 };

// The path a request resolves to on this CPU (never kAuto).
KernelPath resolve_path(KernelPath requested = KernelPath::kAuto);
std::string_view path_name(KernelPath path);
// What the CPU offers, for `flywheel model info` and bench output:
// "avx512f avx512bw avx512vl avx512vnni avx512bf16 avx2 fma f16c" (those present).
std::string cpu_features();

// n values of x into `out` (row_bytes(type, n) bytes); n a multiple of the
// block size. Every TensorType has a quantizer (F32/F16/BF16 convert with
// round-to-nearest-even).
Status quantize_row(TensorType type, const float* x, int64_t n, void* out);
void dequantize_row(TensorType type, const void* row, int64_t n, float* out);

// The form of x that a weight type's dot product takes.
TensorType activation_type(TensorType weight_type);
int64_t prepared_row_bytes(TensorType weight_type, int64_t k);
void prepare_activations(TensorType weight_type, const float* x, int64_t m, int64_t ldx, int64_t k, std::byte* prepared,
                         KernelPath path = KernelPath::kAuto);

void matmul_rows(const WeightMatrix& w, const std::byte* prepared, int64_t m, float* y, int64_t ldy, int64_t row_begin,
                 int64_t row_end, KernelPath path = KernelPath::kAuto);

}  // namespace flywheel::infer
