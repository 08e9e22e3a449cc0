// Q8_0 and Q4_0 (ggml's 32-value blocks), scalar reference.
// Q8_0 block: fp16 d, int8 q[32]; value j = d * q[j].
// Q4_0 block: fp16 d, uint8 qs[16]; value j = d * ((qs[j] & 15) - 8) for
// j < 16 and d * ((qs[j - 16] >> 4) - 8) for j >= 16.
#include <cmath>
#include <cstring>

#include "infer/block_kernels.h"
#include "infer/blocks32_internal.h"
#include "infer/half.h"

namespace flywheel::infer::detail {

namespace {

float load_d(const std::byte* block) {
  uint16_t h;
  std::memcpy(&h, block, 2);
  return half_to_float(h);
}
void store_d(std::byte* block, float d) {
  const uint16_t h = float_to_half(d);
  std::memcpy(block, &h, 2);
}

}  // namespace

void quantize_q8_0(const float* x, int64_t n, void* out) {
  auto* b = static_cast<std::byte*>(out);
  for (int64_t blk = 0; blk < n / 32; ++blk, x += 32, b += kQ8_0Bytes) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_d(b, d);
    for (int j = 0; j < 32; ++j) b[2 + j] = static_cast<std::byte>(static_cast<int8_t>(std::lround(x[j] * id)));
  }
}

void quantize_q4_0(const float* x, int64_t n, void* out) {
  auto* b = static_cast<std::byte*>(out);
  for (int64_t blk = 0; blk < n / 32; ++blk, x += 32, b += kQ4_0Bytes) {
    // The value of largest magnitude maps to -8 (the range is -8..7).
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_d(b, d);
    auto q = [&](float v) {
      long r = std::lround(v * id) + 8;
      return static_cast<uint8_t>(r < 0 ? 0 : (r > 15 ? 15 : r));
    };
    for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<std::byte>(q(x[j]) | (q(x[j + 16]) << 4));
  }
}

void dequantize_q8_0(const void* row, int64_t n, float* out) {
  const auto* b = static_cast<const std::byte*>(row);
  for (int64_t blk = 0; blk < n / 32; ++blk, b += kQ8_0Bytes, out += 32) {
    const float d = load_d(b);
    for (int j = 0; j < 32; ++j) out[j] = d * static_cast<float>(static_cast<int8_t>(b[2 + j]));
  }
}

void dequantize_q4_0(const void* row, int64_t n, float* out) {
  const auto* b = static_cast<const std::byte*>(row);
  for (int64_t blk = 0; blk < n / 32; ++blk, b += kQ4_0Bytes, out += 32) {
    const float d = load_d(b);
    for (int j = 0; j < 16; ++j) {
      const auto v = static_cast<uint8_t>(b[2 + j]);
      out[j] = d * static_cast<float>((v & 15) - 8);
      out[j + 16] = d * static_cast<float>((v >> 4) - 8);
    }
  }
}

void prepare_q8_0(const float* x, int64_t m, int64_t ldx, int64_t k, std::byte* prepared, KernelPath path) {
  const int64_t stride = k / 32 * kQ8_0Bytes;
  const bool avx2 = resolve_path(path) == KernelPath::kAvx2;
  for (int64_t i = 0; i < m; ++i) {
    if (avx2) {
      quantize_q8_0_avx2(x + i * ldx, k, prepared + i * stride);
    } else {
      quantize_q8_0(x + i * ldx, k, prepared + i * stride);
    }
  }
}

namespace {

// Scalar: integer dot per block, scaled by d_w * d_x, summed in f32.
template <bool kQ4>
void matmul_scalar(const WeightMatrix& w, const std::byte* prepared, int64_t m, float* y, int64_t ldy,
                   int64_t row_begin, int64_t row_end) {
  const int64_t nb = w.cols / 32;
  const int64_t xstride = nb * kQ8_0Bytes;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const std::byte* wr = w.row(r);
    for (int64_t i = 0; i < m; ++i) {
      const std::byte* xr = prepared + i * xstride;
      float sum = 0.0f;
      for (int64_t blk = 0; blk < nb; ++blk) {
        const std::byte* wb = wr + blk * (kQ4 ? kQ4_0Bytes : kQ8_0Bytes);
        const std::byte* xb = xr + blk * kQ8_0Bytes;
        int32_t isum = 0;
        for (int j = 0; j < 32; ++j) {
          int wq;
          if constexpr (kQ4) {
            const auto v = static_cast<uint8_t>(wb[2 + (j & 15)]);
            wq = (j < 16 ? (v & 15) : (v >> 4)) - 8;
          } else {
            wq = static_cast<int8_t>(wb[2 + j]);
          }
          isum += wq * static_cast<int8_t>(xb[2 + j]);
        }
        sum += static_cast<float>(isum) * (load_d(wb) * load_d(xb));
      }
      y[i * ldy + r] = sum;
    }
  }
}

}  // namespace

void matmul_q8_0(const WeightMatrix& w, const std::byte* prepared, int64_t m, float* y, int64_t ldy, int64_t row_begin,
                 int64_t row_end, KernelPath path) {
  if (resolve_path(path) == KernelPath::kAvx2) return matmul_q8_0_avx2(w, prepared, m, y, ldy, row_begin, row_end);
  matmul_scalar<false>(w, prepared, m, y, ldy, row_begin, row_end);
}

void matmul_q4_0(const WeightMatrix& w, const std::byte* prepared, int64_t m, float* y, int64_t ldy, int64_t row_begin,
                 int64_t row_end, KernelPath path) {
  if (resolve_path(path) == KernelPath::kAvx2) return matmul_q4_0_avx2(w, prepared, m, y, ldy, row_begin, row_end);
  matmul_scalar<true>(w, prepared, m, y, ldy, row_begin, row_end);
}

}  // namespace flywheel::infer::detail
