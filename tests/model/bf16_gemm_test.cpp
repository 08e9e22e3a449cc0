// Small-M products (model/bf16_gemm.h) against a double-precision reference:
// random shapes with odd K and N, strided rows, with and without bias, M from
// 1 to 16, on the scalar and the AVX2 path, one and several threads.
#include "model/bf16_gemm.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <random>
#include <vector>

#include "model/dtype.h"

namespace flywheel::model {
namespace {

struct Problem {
  int64_t M, N, K, ldx, ldw, ldy;
  bool bias;
  std::vector<float> x, b;
  std::vector<uint16_t> w16;
  std::vector<float> w32;  // w16 widened (exactly)
};

Problem make_problem(std::mt19937& rng, int64_t M, int64_t N, int64_t K, bool bias, bool padded) {
  Problem p{M, N, K, K + (padded ? 5 : 0), K + (padded ? 3 : 0), N + (padded ? 7 : 0), bias, {}, {}, {}, {}};
  std::normal_distribution<float> normal(0.0f, 1.0f);
  p.x.resize(M * p.ldx);
  for (float& v : p.x) v = normal(rng);
  p.w16.resize(N * p.ldw);
  p.w32.resize(N * p.ldw);
  for (size_t i = 0; i < p.w16.size(); ++i) {
    p.w16[i] = f32_to_bf16(0.05f * normal(rng));
    p.w32[i] = bf16_to_f32(p.w16[i]);
  }
  if (bias) {
    p.b.resize(N);
    for (float& v : p.b) v = normal(rng);
  }
  return p;
}

SmallGemmArgs args_for(const Problem& p, std::vector<float>& y) {
  y.assign(p.M * p.ldy, -12345.0f);  // padding must survive untouched
  SmallGemmArgs a;
  a.M = p.M, a.N = p.N, a.K = p.K;
  a.x = p.x.data(), a.ldx = p.ldx;
  a.bias = p.bias ? p.b.data() : nullptr;
  a.y = y.data(), a.ldy = p.ldy;
  return a;
}

// Within 1e-5 of sum_k |x_k w_k| (+ |bias|): the scale of fp32 rounding in a
// dot product, independent of cancellation in the result.
void expect_matches_reference(const Problem& p, const std::vector<float>& y, const std::string& what) {
  for (int64_t m = 0; m < p.M; ++m) {
    for (int64_t n = 0; n < p.N; ++n) {
      double sum = p.bias ? p.b[n] : 0.0, scale = p.bias ? std::fabs(p.b[n]) : 0.0;
      for (int64_t k = 0; k < p.K; ++k) {
        const double t = static_cast<double>(p.x[m * p.ldx + k]) * p.w32[n * p.ldw + k];
        sum += t;
        scale += std::fabs(t);
      }
      ASSERT_NEAR(y[m * p.ldy + n], sum, 1e-5 * scale + 1e-30)
          << what << " M=" << p.M << " N=" << p.N << " K=" << p.K << " at (" << m << ", " << n << ")";
    }
    for (int64_t n = p.N; n < p.ldy; ++n) ASSERT_EQ(y[m * p.ldy + n], -12345.0f) << what << ": wrote past N";
  }
}

std::string path_name(GemmPath path) {
  return path == GemmPath::kAvx2 ? "avx2" : "scalar";
}

TEST(SmallGemm, MatchesReferenceOnRandomShapes) {
  // Both paths where the CPU has AVX2 (else kAvx2 resolves to the scalar loop).
  std::cerr << "kAuto takes the " << path_name(small_gemm_path()) << " path here\n";
  std::mt19937 rng(7);
  std::uniform_int_distribution<int64_t> n_dist(1, 77), k_dist(1, 300);
  for (int64_t M = 1; M <= 16; ++M) {
    for (int trial = 0; trial < 4; ++trial) {
      const int64_t N = n_dist(rng), K = k_dist(rng);
      const Problem p = make_problem(rng, M, N, K, trial % 2 == 0, trial >= 2);
      for (GemmPath path : {GemmPath::kScalar, GemmPath::kAvx2}) {
        const std::string name = path_name(small_gemm_path(path));
        std::vector<float> y;
        bf16_gemm(args_for(p, y), p.w16.data(), p.ldw, path);
        expect_matches_reference(p, y, "bf16 " + name);
        f32_gemm(args_for(p, y), p.w32.data(), p.ldw, path);
        expect_matches_reference(p, y, "f32 " + name);
      }
    }
  }
}

TEST(SmallGemm, ModelShapesAcrossThreads) {
  // Decode shapes of the Qwen2.5-0.5B layout (q/k/v, o, gate/up, down) and
  // a slice of its head; large enough to be split across threads.
  std::mt19937 rng(11);
  const int64_t shapes[][2] = {{896, 896}, {128, 896}, {4864, 896}, {896, 4864}, {3001, 896}};
  const int original_threads = at::get_num_threads();
  for (auto [N, K] : shapes) {
    for (int64_t M : {1, 8}) {
      const Problem p = make_problem(rng, M, N, K, N == 128, false);
      std::vector<float> one, many;
      at::set_num_threads(1);
      bf16_gemm(args_for(p, one), p.w16.data(), p.ldw);
      at::set_num_threads(std::max(2, original_threads));
      bf16_gemm(args_for(p, many), p.w16.data(), p.ldw);
      expect_matches_reference(p, many, "bf16 threaded");
      // Each output is computed by one thread in a fixed order: identical.
      EXPECT_EQ(one, many) << "N=" << N << " K=" << K << " M=" << M;
    }
  }
  at::set_num_threads(original_threads);
}

TEST(SmallGemm, Bf16EqualsF32OnWidenedWeights) {
  // Widening bf16 is exact, so both weight types give bit-identical results.
  std::mt19937 rng(3);
  for (int64_t M : {1, 2, 3, 5, 8, 16}) {
    const Problem p = make_problem(rng, M, 45, 203, true, true);
    std::vector<float> a, b;
    bf16_gemm(args_for(p, a), p.w16.data(), p.ldw);
    f32_gemm(args_for(p, b), p.w32.data(), p.ldw);
    EXPECT_EQ(a, b) << "M=" << M;
  }
}

TEST(SmallGemm, EmptyAndZeroK) {
  std::mt19937 rng(5);
  Problem p = make_problem(rng, 3, 10, 0, true, false);
  std::vector<float> y;
  bf16_gemm(args_for(p, y), p.w16.data(), 0);
  for (int64_t m = 0; m < 3; ++m)
    for (int64_t n = 0; n < 10; ++n) EXPECT_EQ(y[m * p.ldy + n], p.b[n]);
  SmallGemmArgs none;  // M = N = 0: nothing to do, nothing touched
  bf16_gemm(none, nullptr, 0);
}

}  // namespace
}  // namespace flywheel::model
