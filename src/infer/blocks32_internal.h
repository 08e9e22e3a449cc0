// Internal to blocks32*.cpp: block sizes and the AVX2 entry points
// (blocks32_avx2.cpp), called only when resolve_path() gave kAvx2.
#pragma once

#include <cstddef>
#include <cstdint>

#include "infer/tensor_type.h"

namespace flywheel::infer::detail {

inline constexpr int64_t kQ8_0Bytes = 34;  // fp16 d + 32 int8
inline constexpr int64_t kQ4_0Bytes = 18;  // fp16 d + 16 bytes of nibbles

void quantize_q8_0_avx2(const float* x, int64_t n, std::byte* out);
void matmul_q8_0_avx2(const WeightMatrix& w, const std::byte* prepared, int64_t m, float* y, int64_t ldy,
                      int64_t row_begin, int64_t row_end);
void matmul_q4_0_avx2(const WeightMatrix& w, const std::byte* prepared, int64_t m, float* y, int64_t ldy,
                      int64_t row_begin, int64_t row_end);

}  // namespace flywheel::infer::detail
