// Dense F32/F16/BF16 matmul: the AVX2 path against the scalar (double
// accumulator) reference, for odd m and a row range not starting at 0.
#include "infer/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace flywheel::infer {
namespace {

void check_dense(TensorType type, int64_t m) {
  const int64_t rows = 29, k = 8 * 37 + 5, row_begin = 3, row_end = 26;  // k % 8 != 0: the tail too
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  std::vector<float> wf(rows * k), x(m * k);
  for (auto& v : wf) v = dist(rng);
  for (auto& v : x) v = dist(rng);
  const int64_t rb = row_bytes(type, k);
  std::vector<std::byte> wq(rows * rb);
  for (int64_t r = 0; r < rows; ++r) ASSERT_TRUE(quantize_row(type, wf.data() + r * k, k, wq.data() + r * rb).ok());
  const WeightMatrix w{type, wq.data(), rows, k};
  std::vector<std::byte> prep(m * prepared_row_bytes(type, k));
  prepare_activations(type, x.data(), m, k, k, prep.data(), KernelPath::kScalar);
  const int64_t ldy = rows + 1;
  std::vector<float> ref(m * ldy, -1.0f), got(m * ldy, -1.0f);
  matmul_rows(w, prep.data(), m, ref.data(), ldy, row_begin, row_end, KernelPath::kScalar);
  matmul_rows(w, prep.data(), m, got.data(), ldy, row_begin, row_end, KernelPath::kAvx2);
  std::vector<float> wd(k);
  for (int64_t r = 0; r < rows; ++r) {
    dequantize_row(type, w.row(r), k, wd.data());
    for (int64_t i = 0; i < m; ++i) {
      if (r < row_begin || r >= row_end) {
        ASSERT_EQ(got[i * ldy + r], -1.0f) << "row outside the range written";
        continue;
      }
      double mag = 0;
      for (int64_t j = 0; j < k; ++j) mag += std::fabs(static_cast<double>(wd[j]) * x[i * k + j]);
      // 8 lanes of k/8 fused adds, 3 horizontal adds and the scalar tail:
      // at most (k/8 + 8 + 3) roundings of 2^-24 relative to the magnitude sum;
      // the reference's own error is below one f32 rounding.
      const double bound = (k / 8.0 + 12) * 0x1p-24 * mag;
      ASSERT_NEAR(got[i * ldy + r], ref[i * ldy + r], bound) << "type " << static_cast<int>(type) << " m=" << m;
    }
  }
}

TEST(Kernels, DenseAvx2MatchesScalar) {
  if (resolve_path(KernelPath::kAvx2) != KernelPath::kAvx2) {
    std::printf("no AVX2 on this CPU (%s): checking the scalar path only\n", cpu_features().c_str());
    return;
  }
  for (TensorType t : {TensorType::kF32, TensorType::kF16, TensorType::kBF16})
    for (int64_t m : {1, 3, 8, 17}) check_dense(t, m);
}

}  // namespace
}  // namespace flywheel::infer
