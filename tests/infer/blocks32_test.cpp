// Q8_0 / Q4_0 kernels: dequantization against a numpy reference, the
// quantization error bound, AVX2 against scalar, and matmul against the f32
// dot of the dequantized operands.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include "infer/block_kernels.h"
#include "infer/half.h"
#include "infer/kernels.h"

namespace flywheel::infer {
namespace {

namespace fs = std::filesystem;

std::vector<float> random_floats(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Random bytes with a finite fp16 scale per block.
std::vector<std::byte> random_blocks(TensorType type, int64_t n, uint32_t seed) {
  const int64_t bytes = row_bytes(type, n), bsize = row_bytes(type, 32);
  std::mt19937 rng(seed);
  std::vector<std::byte> raw(bytes);
  for (auto& b : raw) b = static_cast<std::byte>(rng() & 0xff);
  std::uniform_real_distribution<float> d(-2.0f, 2.0f);
  for (int64_t off = 0; off < bytes; off += bsize) {
    const uint16_t h = float_to_half(d(rng));
    std::memcpy(raw.data() + off, &h, 2);
  }
  return raw;
}

class Blocks32 : public ::testing::TestWithParam<TensorType> {};

TEST_P(Blocks32, DequantizeMatchesNumpyReference) {
  const TensorType type = GetParam();
  const char* kind = type == TensorType::kQ8_0 ? "q8_0" : "q4_0";
  const int64_t n = 32 * 40;
  const auto raw = random_blocks(type, n, 7);
  const fs::path dir = fs::temp_directory_path() / ("fw_blocks32_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "in.bin", std::ios::binary).write(reinterpret_cast<const char*>(raw.data()), raw.size());
  const std::string cmd = "/usr/bin/python3 '" + std::string(FLYWHEEL_SOURCE_DIR) +
                          "/tests/reference/ggml_blocks_reference.py' " + kind + " '" + (dir / "in.bin").string() +
                          "' '" + (dir / "out.f32").string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::vector<float> want(n);
  std::ifstream(dir / "out.f32", std::ios::binary).read(reinterpret_cast<char*>(want.data()), 4 * n);
  fs::remove_all(dir);
  std::vector<float> got(n);
  dequantize_row(type, raw.data(), n, got.data());
  // Both compute fp16(d) * small integer in f32: exact.
  for (int64_t j = 0; j < n; ++j) ASSERT_EQ(got[j], want[j]) << kind << " value " << j;
}

TEST_P(Blocks32, QuantizeErrorWithinBound) {
  const TensorType type = GetParam();
  const int64_t n = 32 * 64;
  auto x = random_floats(n, 11);
  std::vector<std::byte> q(row_bytes(type, n));
  ASSERT_TRUE(quantize_row(type, x.data(), n, q.data()).ok());
  std::vector<float> back(n);
  dequantize_row(type, q.data(), n, back.data());
  const int64_t bsize = row_bytes(type, 32);
  for (int64_t blk = 0; blk < n / 32; ++blk) {
    uint16_t h;
    std::memcpy(&h, q.data() + blk * bsize, 2);
    const float d = std::fabs(half_to_float(h));
    // Rounding to the grid costs d/2; storing d as fp16 (relative error
    // 2^-11) moves a grid point at most 8 (Q4_0) or 127 (Q8_0) steps of d by
    // that much more, plus f32 rounding of the product.
    const float qmax = type == TensorType::kQ8_0 ? 127.0f : 8.0f;
    // Q4_0 maps the largest magnitude to -8, so a value of the other sign
    // near that magnitude (up to 8d) is clamped to 7d: error up to d there.
    const float step = type == TensorType::kQ8_0 ? d / 2 : d;
    const float bound = step + qmax * d * 0x1p-11f * 2 + 1e-6f;
    for (int j = 0; j < 32; ++j) {
      const int64_t i = blk * 32 + j;
      ASSERT_LE(std::fabs(back[i] - x[i]), bound) << "value " << i;
    }
  }
}

// matmul on path vs the f32 dot of dequantized weights and activations.
void check_matmul(TensorType type, KernelPath path, int64_t m) {
  const int64_t rows = 37, k = 32 * 24, row_begin = 5, row_end = 33;
  const auto wf = random_floats(rows * k, 3);
  std::vector<std::byte> wq(rows * row_bytes(type, k));
  for (int64_t r = 0; r < rows; ++r)
    ASSERT_TRUE(quantize_row(type, wf.data() + r * k, k, wq.data() + r * row_bytes(type, k)).ok());
  const WeightMatrix w{type, wq.data(), rows, k};
  const int64_t ldx = k + 3;
  const auto x = random_floats(m * ldx, 5);
  const int64_t stride = prepared_row_bytes(type, k);
  std::vector<std::byte> prep(m * stride), prep_scalar(m * stride);
  prepare_activations(type, x.data(), m, ldx, k, prep.data(), path);
  prepare_activations(type, x.data(), m, ldx, k, prep_scalar.data(), KernelPath::kScalar);
  // The AVX2 quantizer rounds as the scalar one does: identical bytes.
  ASSERT_EQ(std::memcmp(prep.data(), prep_scalar.data(), prep.size()), 0) << "prepare differs on " << path_name(path);
  const int64_t ldy = rows + 2;
  std::vector<float> y(m * ldy, -1.0f);
  matmul_rows(w, prep.data(), m, y.data(), ldy, row_begin, row_end, path);
  std::vector<float> wd(k), xd(k);
  for (int64_t i = 0; i < m; ++i) {
    dequantize_row(TensorType::kQ8_0, prep.data() + i * stride, k, xd.data());
    for (int64_t r = 0; r < rows; ++r) {
      const float got = y[i * ldy + r];
      if (r < row_begin || r >= row_end) {
        ASSERT_EQ(got, -1.0f) << "row " << r << " outside the range was written";
        continue;
      }
      dequantize_row(type, w.row(r), k, wd.data());
      double want = 0, mag = 0;
      for (int64_t j = 0; j < k; ++j) {
        want += static_cast<double>(wd[j]) * xd[j];
        mag += std::fabs(static_cast<double>(wd[j]) * xd[j]);
      }
      // Integer block sums are exact; per block the f32 scale product and
      // the f32 accumulation over k/32 blocks add relative error at most
      // (k/32 + 3) * 2^-24 of the sum of magnitudes (the standard bound).
      const double bound = (k / 32.0 + 3) * 0x1p-24 * mag;
      ASSERT_NEAR(got, want, bound) << path_name(path) << " m=" << m << " i=" << i << " r=" << r;
    }
  }
}

TEST_P(Blocks32, MatmulScalarMatchesDequantizedDot) {
  for (int64_t m : {1, 3, 8, 17}) check_matmul(GetParam(), KernelPath::kScalar, m);
}

TEST_P(Blocks32, MatmulAvx2MatchesDequantizedDot) {
  if (resolve_path(KernelPath::kAvx2) != KernelPath::kAvx2) {
    std::printf("no AVX2 on this CPU: checking the scalar path only\n");
    return;
  }
  for (int64_t m : {1, 3, 8, 17}) check_matmul(GetParam(), KernelPath::kAvx2, m);
}

INSTANTIATE_TEST_SUITE_P(Types, Blocks32, ::testing::Values(TensorType::kQ8_0, TensorType::kQ4_0),
                         [](const auto& info) { return info.param == TensorType::kQ8_0 ? "Q8_0" : "Q4_0"; });

}  // namespace
}  // namespace flywheel::infer
