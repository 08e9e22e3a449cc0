// Small-M products y = x · Wᵀ (+ bias) with bf16 or fp32 weights: see bf16_gemm.h.
//
// The AVX2 path computes a tile of MT rows of x by NT rows of W at a time:
// MT x NT accumulators of 8 lanes stay in registers while K is walked 8 at a
// time; each 8-element piece of a W row is loaded (and, for bf16, widened by a
// zero-extend and a 16-bit shift) once per tile and used by all MT rows of x.
// Tiles are 4 x 4 for M <= 2 (four weight streams per thread) and 4 x 3
// otherwise (12 accumulators + 3 weight registers, x read as a memory operand
// of the FMA), so a W tile stays in L1 while the row tiles of x use it. Each
// tile prefetches the next tile's rows into L2 as it goes.
//
// Measured on a 2-core Sapphire Rapids VM (bench/decode): at M = 1 from DRAM,
// 77-88% of the measured read bandwidth with bf16 weights and 87-100% with
// fp32; compute-bound from M ~ 8 at 90-115 GFLOP/s (2 threads).
// An AVX-512 variant (16 lanes, 8 x 3 tiles) was no faster at any M there:
// the widening and the x loads, not the FMA ports, set the pace.
#include "model/bf16_gemm.h"

#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

namespace flywheel::model {
namespace {

inline float widen(uint16_t bits) {
  const uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline float widen(float f) { return f; }

// ---------------------------------------------------------------- scalar

// Eight partial sums per dot product, like the AVX2 lanes, so both paths have
// the same error profile (and the compiler may vectorize this).
template <typename W>
void scalar_columns(const SmallGemmArgs& a, const W* w, int64_t ldw, int64_t n0, int64_t n1) {
  for (int64_t n = n0; n < n1; ++n) {
    const W* row = w + n * ldw;
    for (int64_t m = 0; m < a.M; ++m) {
      const float* x = a.x + m * a.ldx;
      float part[8] = {};
      int64_t k = 0;
      for (; k + 8 <= a.K; k += 8)
        for (int l = 0; l < 8; ++l) part[l] += x[k + l] * widen(row[k + l]);
      float sum = ((part[0] + part[4]) + (part[2] + part[6])) + ((part[1] + part[5]) + (part[3] + part[7]));
      for (; k < a.K; ++k) sum += x[k] * widen(row[k]);
      a.y[m * a.ldy + n] = sum + (a.bias ? a.bias[n] : 0.0f);
    }
  }
}

// ---------------------------------------------------------------- AVX2 + FMA

#define FW_AVX2 __attribute__((target("avx2,fma")))

FW_AVX2 inline __m256 load8(const uint16_t* p) {
  const __m128i bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
}
FW_AVX2 inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }

FW_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// acc[i][j] += x[i, k .. k+8] * W[j, k .. k+8] (lane-wise).
template <int MT, int NT, typename W>
FW_AVX2 inline void step8(__m256 (&acc)[MT][NT], const float* x, int64_t ldx, const W* rows, int64_t ldw, int64_t k) {
  __m256 wv[NT];
#pragma GCC unroll 4
  for (int j = 0; j < NT; ++j) wv[j] = load8(rows + j * ldw + k);
#pragma GCC unroll 4
  for (int i = 0; i < MT; ++i) {
    const __m256 xv = _mm256_loadu_ps(x + i * ldx + k);
#pragma GCC unroll 4
    for (int j = 0; j < NT; ++j) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
  }
}

// y[m0 .. m0+MT, n0 .. n0+NT] over all of K.
template <int MT, int NT, typename W>
FW_AVX2 void tile(const SmallGemmArgs& a, int64_t m0, int64_t n0, const W* w, int64_t ldw) {
  const int64_t K = a.K, ldx = a.ldx;
  const float* x = a.x + m0 * ldx;
  const W* rows = w + n0 * ldw;
  __m256 acc[MT][NT];
#pragma GCC unroll 4
  for (int i = 0; i < MT; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NT; ++j) acc[i][j] = _mm256_setzero_ps();
  // One cache line of each weight row per step, while the same line of the
  // next tile's rows is prefetched into L2: the hardware prefetcher alone
  // leaves a single thread at ~60% of its bandwidth on these short,
  // interleaved row streams. (A prefetch past the end of W cannot fault.)
  constexpr int64_t kLine = 64 / sizeof(W);
  const W* next = rows + NT * ldw;
  int64_t k = 0;
  for (; k + kLine <= K; k += kLine) {
#pragma GCC unroll 4
    for (int j = 0; j < NT; ++j) _mm_prefetch(reinterpret_cast<const char*>(next + j * ldw + k), _MM_HINT_T1);
#pragma GCC unroll 4
    for (int64_t kk = 0; kk < kLine; kk += 8) step8<MT, NT>(acc, x, ldx, rows, ldw, k + kk);
  }
  for (; k + 8 <= K; k += 8) step8<MT, NT>(acc, x, ldx, rows, ldw, k);
  // The K tail: an explicit fma, so the result does not depend on how the
  // compiler contracts (bf16 and fp32 copies of a weight give the same bits).
  for (int i = 0; i < MT; ++i) {
    for (int j = 0; j < NT; ++j) {
      float sum = hsum(acc[i][j]);
      for (int64_t kk = k; kk < K; ++kk) sum = std::fma(x[i * ldx + kk], widen(rows[j * ldw + kk]), sum);
      a.y[(m0 + i) * a.ldy + n0 + j] = sum + (a.bias ? a.bias[n0 + j] : 0.0f);
    }
  }
}

// All of M for the NT weight rows starting at n0: the W tile stays in L1
// while successive row tiles of x use it.
template <int NT, typename W>
FW_AVX2 void column_block(const SmallGemmArgs& a, int64_t n0, const W* w, int64_t ldw) {
  int64_t m = 0;
  for (; m + 4 <= a.M; m += 4) tile<4, NT>(a, m, n0, w, ldw);
  switch (a.M - m) {
    case 1: tile<1, NT>(a, m, n0, w, ldw); break;
    case 2: tile<2, NT>(a, m, n0, w, ldw); break;
    case 3: tile<3, NT>(a, m, n0, w, ldw); break;
    default: break;
  }
}

template <typename W>
FW_AVX2 void avx2_columns(const SmallGemmArgs& a, const W* w, int64_t ldw, int64_t n0, int64_t n1) {
  int64_t n = n0;
  if (a.M <= 2) {
    for (; n + 4 <= n1; n += 4) column_block<4>(a, n, w, ldw);
  } else {
    for (; n + 3 <= n1; n += 3) column_block<3>(a, n, w, ldw);
  }
  for (; n < n1; ++n) column_block<1>(a, n, w, ldw);
}


// ---------------------------------------------------------------- dispatch

bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

// The requested path, or the best one below it that this CPU has.
GemmPath resolve(GemmPath path) {
  if (path != GemmPath::kScalar && cpu_has_avx2_fma()) return GemmPath::kAvx2;
  return GemmPath::kScalar;
}

// Weight rows per parallel work item: a multiple of both tile widths.
constexpr int64_t kBlockRows = 12;
// At least this many weight bytes per task, so a small matrix is not split
// into pieces whose hand-off costs more than reading them.
constexpr int64_t kMinTaskBytes = 64 << 10;

template <typename W>
void run(const SmallGemmArgs& a, const W* w, int64_t ldw, GemmPath path) {
  assert(a.M >= 0 && a.N >= 0 && a.K >= 0 && "small gemm: negative size");
  assert(a.ldx >= a.K && ldw >= a.K && a.ldy >= a.N && "small gemm: row stride shorter than the row");
  if (a.M == 0 || a.N == 0) return;
  const GemmPath use = resolve(path);
  const int64_t blocks = (a.N + kBlockRows - 1) / kBlockRows;
  const int64_t block_bytes = kBlockRows * std::max<int64_t>(a.K, 1) * static_cast<int64_t>(sizeof(W));
  const int64_t grain = std::max<int64_t>(1, kMinTaskBytes / block_bytes);
  at::parallel_for(0, blocks, grain, [&](int64_t b0, int64_t b1) {
    const int64_t n0 = b0 * kBlockRows, n1 = std::min(a.N, b1 * kBlockRows);
    if (use == GemmPath::kAvx2)
      avx2_columns(a, w, ldw, n0, n1);
    else
      scalar_columns(a, w, ldw, n0, n1);
  });
}

}  // namespace

GemmPath small_gemm_path(GemmPath requested) { return resolve(requested); }

void bf16_gemm(const SmallGemmArgs& args, const uint16_t* w, int64_t ldw, GemmPath path) { run(args, w, ldw, path); }

void f32_gemm(const SmallGemmArgs& args, const float* w, int64_t ldw, GemmPath path) { run(args, w, ldw, path); }

}  // namespace flywheel::model
