// Internal to the infer module: the entry points of each block-quantized
// family, which kernels.cpp dispatches to. One family per file:
//   blocks32.cpp  Q8_0 and Q4_0 (32-value blocks, Q8_0 activations)
//   kquants.cpp   Q4_K, Q5_K, Q6_K (256-value super-blocks, Q8_K activations)
// with their SIMD versions beside them (*_avx2.cpp, *_avx512.cpp).
// Contracts as in kernels.h; n and k are multiples of the block size.
#pragma once

#include <cstddef>
#include <cstdint>

#include "infer/kernels.h"

namespace flywheel::infer::detail {

// blocks32.cpp
void quantize_q8_0(const float* x, int64_t n, void* out);
void quantize_q4_0(const float* x, int64_t n, void* out);
void dequantize_q8_0(const void* row, int64_t n, float* out);
void dequantize_q4_0(const void* row, int64_t n, float* out);
// x rows into Q8_0 blocks (the activations of Q8_0 and Q4_0 weights).
void prepare_q8_0(const float* x, int64_t m, int64_t ldx, int64_t k, std::byte* prepared, KernelPath path);
void matmul_q8_0(const WeightMatrix& w, const std::byte* prepared, int64_t m, float* y, int64_t ldy, int64_t row_begin,
                 int64_t row_end, KernelPath path);
void matmul_q4_0(const WeightMatrix& w, const std::byte* prepared, int64_t m, float* y, int64_t ldy, int64_t row_begin,
                 int64_t row_end, KernelPath path);

// kquants.cpp
void quantize_q4_k(const float* x, int64_t n, void* out);
void quantize_q5_k(const float* x, int64_t n, void* out);
void quantize_q6_k(const float* x, int64_t n, void* out);
void quantize_q8_k(const float* x, int64_t n, void* out);
void dequantize_q4_k(const void* row, int64_t n, float* out);
void dequantize_q5_k(const void* row, int64_t n, float* out);
void dequantize_q6_k(const void* row, int64_t n, float* out);
void dequantize_q8_k(const void* row, int64_t n, float* out);
// x rows into Q8_K blocks (the activations of the K-quants).
void prepare_q8_k(const float* x, int64_t m, int64_t ldx, int64_t k, std::byte* prepared, KernelPath path);
void matmul_q4_k(const WeightMatrix& w, const std::byte* prepared, int64_t m, float* y, int64_t ldy, int64_t row_begin,
                 int64_t row_end, KernelPath path);
void matmul_q5_k(const WeightMatrix& w, const std::byte* prepared, int64_t m, float* y, int64_t ldy, int64_t row_begin,
                 int64_t row_end, KernelPath path);
void matmul_q6_k(const WeightMatrix& w, const std::byte* prepared, int64_t m, float* y, int64_t ldy, int64_t row_begin,
                 int64_t row_end, KernelPath path);

}  // namespace flywheel::infer::detail
