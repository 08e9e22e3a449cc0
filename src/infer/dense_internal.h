// Internal to kernels.cpp / dense_avx2.cpp: one dense value, and the AVX2
// dense matmul (called only when resolve_path() gave kAvx2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "infer/half.h"
#include "infer/tensor_type.h"

namespace flywheel::infer::detail {

inline float dense_value(TensorType type, const std::byte* row, int64_t j) {
  uint16_t h;
  switch (type) {
    case TensorType::kF32: {
      float v;
      std::memcpy(&v, row + 4 * j, 4);
      return v;
    }
    case TensorType::kF16:
      std::memcpy(&h, row + 2 * j, 2);
      return half_to_float(h);
    case TensorType::kBF16:
      std::memcpy(&h, row + 2 * j, 2);
      return bf16_to_float(h);
    default:
      return 0.0f;
  }
}

void matmul_dense_avx2(const WeightMatrix& w, const float* x, int64_t m, float* y, int64_t ldy, int64_t row_begin,
                       int64_t row_end);

}  // namespace flywheel::infer::detail
