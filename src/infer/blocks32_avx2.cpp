// AVX2 kernels of Q8_0 / Q4_0 (see blocks32.cpp for the layouts). The int8
// dot uses maddubs, which wants one unsigned operand: |w| * (x with w's sign).
// Each weight row is loaded once per block and multiplied with up to 4 rows
// of x, so a weight block is reused from registers.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "infer/blocks32_internal.h"
#include "infer/half.h"

namespace flywheel::infer::detail {

namespace {

#define FW_AVX2 __attribute__((target("avx2,fma,f16c")))

FW_AVX2 inline float load_d(const std::byte* b) {
  uint16_t h;
  std::memcpy(&h, b, 2);
  return _cvtsh_ss(h);
}

// Sum of the 32 int8 products of a and b as 8 int32 lanes.
FW_AVX2 inline __m256i dot_i8(__m256i a, __m256i b) {
  const __m256i ua = _mm256_sign_epi8(a, a);
  const __m256i sb = _mm256_sign_epi8(b, a);
  const __m256i p16 = _mm256_maddubs_epi16(ua, sb);
  return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

FW_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

FW_AVX2 inline __m256i load_q8(const std::byte* b) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 2));
}
// Q4_0's nibbles as int8 -8..7 in element order (low nibbles, then high).
FW_AVX2 inline __m256i load_q4(const std::byte* b) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
  const __m256i nib = _mm256_and_si256(both, _mm256_set1_epi8(15));
  return _mm256_sub_epi8(nib, _mm256_set1_epi8(8));
}

template <bool kQ4, int kRows>
FW_AVX2 void rows_tile(const std::byte* wr, const std::byte* x, int64_t xstride, int64_t nb, float* y, int64_t ldy,
                       int64_t r) {
  constexpr int64_t wbytes = kQ4 ? kQ4_0Bytes : kQ8_0Bytes;
  __m256 acc[kRows];
  for (int i = 0; i < kRows; ++i) acc[i] = _mm256_setzero_ps();
  for (int64_t blk = 0; blk < nb; ++blk) {
    const std::byte* wb = wr + blk * wbytes;
    const __m256i wq = kQ4 ? load_q4(wb) : load_q8(wb);
    const float dw = load_d(wb);
    for (int i = 0; i < kRows; ++i) {
      const std::byte* xb = x + i * xstride + blk * kQ8_0Bytes;
      const __m256 p = _mm256_cvtepi32_ps(dot_i8(wq, load_q8(xb)));
      acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(dw * load_d(xb)), p, acc[i]);
    }
  }
  for (int i = 0; i < kRows; ++i) y[i * ldy + r] = hsum(acc[i]);
}

template <bool kQ4>
FW_AVX2 void matmul(const WeightMatrix& w, const std::byte* prepared, int64_t m, float* y, int64_t ldy,
                    int64_t row_begin, int64_t row_end) {
  const int64_t nb = w.cols / 32;
  const int64_t xstride = nb * kQ8_0Bytes;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const std::byte* wr = w.row(r);
    int64_t i = 0;
    for (; i + 4 <= m; i += 4) rows_tile<kQ4, 4>(wr, prepared + i * xstride, xstride, nb, y + i * ldy, ldy, r);
    for (; i < m; ++i) rows_tile<kQ4, 1>(wr, prepared + i * xstride, xstride, nb, y + i * ldy, ldy, r);
  }
}

}  // namespace

FW_AVX2 void quantize_q8_0_avx2(const float* x, int64_t n, std::byte* out) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t blk = 0; blk < n / 32; ++blk, x += 32, out += kQ8_0Bytes) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int j = 0; j < 4; ++j) {
      v[j] = _mm256_loadu_ps(x + 8 * j);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[j]));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float d = _mm_cvtss_f32(m4) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t h = float_to_half(d);
    std::memcpy(out, &h, 2);
    // Round half away from zero as lround does: trunc(|v| + 0.5) with v's sign.
    __m256i q[4];
    for (int j = 0; j < 4; ++j) {
      const __m256 s = _mm256_mul_ps(v[j], _mm256_set1_ps(id));
      const __m256 a = _mm256_add_ps(_mm256_andnot_ps(sign, s), _mm256_set1_ps(0.5f));
      const __m256 t = _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      q[j] = _mm256_cvttps_epi32(_mm256_or_ps(t, _mm256_and_ps(sign, s)));
    }
    // Pack 32 int32 to int8; packs interleave 128-bit lanes, permute restores order.
    const __m256i p01 = _mm256_packs_epi32(q[0], q[1]);
    const __m256i p23 = _mm256_packs_epi32(q[2], q[3]);
    const __m256i p = _mm256_packs_epi16(p01, p23);
    const __m256i ordered = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 2), ordered);
  }
}

FW_AVX2 void matmul_q8_0_avx2(const WeightMatrix& w, const std::byte* prepared, int64_t m, float* y, int64_t ldy,
                              int64_t row_begin, int64_t row_end) {
  matmul<false>(w, prepared, m, y, ldy, row_begin, row_end);
}

FW_AVX2 void matmul_q4_0_avx2(const WeightMatrix& w, const std::byte* prepared, int64_t m, float* y, int64_t ldy,
                              int64_t row_begin, int64_t row_end) {
  matmul<true>(w, prepared, m, y, ldy, row_begin, row_end);
}

}  // namespace flywheel::infer::detail
