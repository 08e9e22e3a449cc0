// AVX2+FMA(+F16C) matmul of the dense types: each weight row is streamed once,
// widened to f32 in registers and multiplied with up to 4 rows of x.
#include <immintrin.h>

#include "infer/dense_internal.h"

namespace flywheel::infer::detail {

namespace {

#define FW_AVX2 __attribute__((target("avx2,fma,f16c")))

FW_AVX2 inline __m256 load8(TensorType type, const std::byte* row, int64_t j) {
  switch (type) {
    case TensorType::kF16:
      return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * j)));
    case TensorType::kBF16: {
      const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * j)));
      return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
    }
    default:
      return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + j);
  }
}

FW_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <TensorType kType, int kRows>
FW_AVX2 void tile(const std::byte* wr, const float* x, int64_t k, float* y, int64_t ldy, int64_t r) {
  __m256 acc[kRows];
  for (int i = 0; i < kRows; ++i) acc[i] = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= k; j += 8) {
    const __m256 wv = load8(kType, wr, j);
    for (int i = 0; i < kRows; ++i) acc[i] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + i * k + j), acc[i]);
  }
  for (int i = 0; i < kRows; ++i) {
    float s = hsum(acc[i]);
    for (int64_t t = j; t < k; ++t) s += dense_value(kType, wr, t) * x[i * k + t];
    y[i * ldy + r] = s;
  }
}

template <TensorType kType>
FW_AVX2 void run(const WeightMatrix& w, const float* x, int64_t m, float* y, int64_t ldy, int64_t row_begin,
                 int64_t row_end) {
  const int64_t k = w.cols;
  // Blocks of 4 x rows; within a block every weight row in the range once.
  // For m <= 4 this reads the weights exactly once.
  int64_t i = 0;
  for (; i + 4 <= m; i += 4)
    for (int64_t r = row_begin; r < row_end; ++r) tile<kType, 4>(w.row(r), x + i * k, k, y + i * ldy, ldy, r);
  for (int64_t r = row_begin; r < row_end; ++r)
    for (int64_t ii = i; ii < m; ++ii) tile<kType, 1>(w.row(r), x + ii * k, k, y + ii * ldy, ldy, r);
}

}  // namespace

FW_AVX2 void matmul_dense_avx2(const WeightMatrix& w, const float* x, int64_t m, float* y, int64_t ldy,
                               int64_t row_begin, int64_t row_end) {
  switch (w.type) {
    case TensorType::kF16:
      return run<TensorType::kF16>(w, x, m, y, ldy, row_begin, row_end);
    case TensorType::kBF16:
      return run<TensorType::kBF16>(w, x, m, y, ldy, row_begin, row_end);
    default:
      return run<TensorType::kF32>(w, x, m, y, ldy, row_begin, row_end);
  }
}

}  // namespace flywheel::infer::detail
