#include "model/dtype.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <vector>

#include "tests/core/test_util.h"
#include "tests/model/python_runner.h"

namespace flywheel {
namespace {

using testing_util::TempDir;

float from_bits(uint32_t bits) { return std::bit_cast<float>(bits); }
uint32_t to_bits(float value) { return std::bit_cast<uint32_t>(value); }

bool fp16_is_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x03ff) != 0; }
bool bf16_is_nan(uint16_t h) { return (h & 0x7f80) == 0x7f80 && (h & 0x007f) != 0; }

TEST(DTypeTest, NamesAndSizesRoundTrip) {
  const std::vector<std::pair<std::string, size_t>> expected = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8}};
  for (const auto& [name, size] : expected) {
    std::optional<DType> dtype = dtype_from_name(name);
    ASSERT_TRUE(dtype.has_value()) << name;
    EXPECT_EQ(dtype_name(*dtype), name);
    EXPECT_EQ(dtype_size(*dtype), size) << name;
  }
  EXPECT_FALSE(dtype_from_name("f32").has_value());  // case-sensitive, as in the reference
  EXPECT_FALSE(dtype_from_name("F31").has_value());
  EXPECT_FALSE(dtype_from_name("").has_value());
  EXPECT_TRUE(dtype_is_float(DType::kBF16));
  EXPECT_FALSE(dtype_is_float(DType::kI64));
}

TEST(DTypeTest, Fp16KnownBitPatterns) {
  struct Case {
    float in;
    uint16_t out;
  };
  const Case cases[] = {
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {1.0f, 0x3c00},
      {-2.0f, 0xc000},
      {65504.0f, 0x7bff},    // largest half
      {65519.996f, 0x7bff},  // just below the tie with 65536
      {65520.0f, 0x7c00},    // tie, odd mantissa: rounds to infinity
      {1e10f, 0x7c00},       // overflow
      {-1e10f, 0xfc00},
      {std::numeric_limits<float>::infinity(), 0x7c00},
      {-std::numeric_limits<float>::infinity(), 0xfc00},
      {std::ldexp(1.0f, -14), 0x0400},  // smallest normal
      {std::ldexp(1.0f, -24), 0x0001},  // smallest subnormal
      {std::ldexp(1.0f, -25), 0x0000},  // tie between 0 and 2^-24: to even (0)
      {std::nextafter(std::ldexp(1.0f, -25), 1.0f), 0x0001},
      {std::ldexp(3.0f, -25), 0x0002},                                 // tie between 1 and 2 units: to even (2)
      {std::ldexp(5.0f, -25), 0x0002},                                 // tie between 2 and 3 units: to even (2)
      {std::ldexp(1023.5f, -24), 0x0400},                              // rounds up out of the subnormals
      {1.0f + std::ldexp(1.0f, -11), 0x3c00},                          // tie: to even (1.0)
      {1.0f + std::ldexp(3.0f, -11), 0x3c02},                          // tie: to even (1 + 2^-9)
      {1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20), 0x3c01},  // above the tie
      {from_bits(0x00000001), 0x0000},                                 // float subnormal
      {-from_bits(0x00000001), 0x8000},
      {0.1f, 0x2e66},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(f32_to_fp16(c.in), c.out) << "input " << c.in << " (bits 0x" << std::hex << to_bits(c.in) << ")";
  }
  EXPECT_TRUE(fp16_is_nan(f32_to_fp16(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(fp16_is_nan(f32_to_fp16(from_bits(0x7f800001))));    // payload only in dropped bits: still NaN
  EXPECT_EQ(f32_to_fp16(from_bits(0xffc00000)) & 0x8000, 0x8000);  // sign kept

  EXPECT_EQ(fp16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(fp16_to_f32(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(fp16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(fp16_to_f32(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(fp16_to_f32(0x7e00)));
  EXPECT_TRUE(std::signbit(fp16_to_f32(0x8000)));
}

TEST(DTypeTest, Bf16KnownBitPatterns) {
  struct Case {
    float in;
    uint16_t out;
  };
  const Case cases[] = {
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {1.0f, 0x3f80},
      {-2.0f, 0xc000},
      {1.0f + std::ldexp(1.0f, -8), 0x3f80},  // tie: to even
      {1.0f + std::ldexp(3.0f, -8), 0x3f82},  // tie: to even (up)
      {1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20), 0x3f81},
      {std::numeric_limits<float>::max(), 0x7f80},  // rounds to infinity
      {-std::numeric_limits<float>::max(), 0xff80},
      {from_bits(0x7f7f0000), 0x7f7f},  // largest bf16, exact
      {std::numeric_limits<float>::infinity(), 0x7f80},
      {from_bits(0x00010000), 0x0001},  // subnormal, exact
      {from_bits(0x00008000), 0x0000},  // subnormal tie: to even (0)
      {from_bits(0x00018000), 0x0002},  // subnormal tie: to even (2)
      {from_bits(0x00000001), 0x0000},
      {3.14159265f, 0x4049},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(f32_to_bf16(c.in), c.out) << "input " << c.in << " (bits 0x" << std::hex << to_bits(c.in) << ")";
  }
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()), 0x7fc0);
  EXPECT_EQ(f32_to_bf16(from_bits(0xff800001)), 0xffc0);  // NaN whose payload would round away
  EXPECT_EQ(f32_to_bf16(from_bits(0x7fffffff)), 0x7fc0);  // would carry into the sign without the NaN case
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(to_bits(bf16_to_f32(0x8001)), 0x80010000u);
}

// Every 16-bit pattern widens exactly and narrows back to itself (NaN: to a NaN).
TEST(DTypeTest, AllSixteenBitPatternsRoundTrip) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const auto h = static_cast<uint16_t>(i);
    if (fp16_is_nan(h)) {
      EXPECT_TRUE(std::isnan(fp16_to_f32(h)));
      EXPECT_EQ(f32_to_fp16(fp16_to_f32(h)), h) << std::hex << i;  // payload fits in the top bits
    } else {
      ASSERT_EQ(f32_to_fp16(fp16_to_f32(h)), h) << std::hex << i;
    }
    if (bf16_is_nan(h)) {
      EXPECT_TRUE(std::isnan(bf16_to_f32(h)));
      EXPECT_EQ(f32_to_bf16(bf16_to_f32(h)), (h & 0x8000) | 0x7fc0);
    } else {
      ASSERT_EQ(f32_to_bf16(bf16_to_f32(h)), h) << std::hex << i;
    }
  }
}

TEST(DTypeTest, SpanConversionsAndUnalignedBytes) {
  const std::vector<float> values = {1.0f, -0.5f, 3.0f, 1e-3f, 65504.0f};
  std::vector<uint16_t> half(values.size()), brain(values.size());
  f32_to_fp16(values, half);
  f32_to_bf16(values, brain);
  std::vector<float> back(values.size());
  fp16_to_f32(half, back);
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[4], 65504.0f);
  bf16_to_f32(brain, back);
  EXPECT_EQ(back[1], -0.5f);

  // convert_to_f32 reads from an odd address.
  std::vector<std::byte> buffer(1 + values.size() * 8);
  std::memcpy(buffer.data() + 1, half.data(), half.size() * 2);
  std::vector<float> out(values.size());
  ASSERT_TRUE(convert_to_f32(DType::kF16, std::span(buffer).subspan(1, half.size() * 2), out));
  EXPECT_EQ(out[2], 3.0f);
  std::vector<double> doubles(values.begin(), values.end());
  std::memcpy(buffer.data() + 1, doubles.data(), doubles.size() * 8);
  ASSERT_TRUE(convert_to_f32(DType::kF64, std::span(buffer).subspan(1, doubles.size() * 8), out));
  EXPECT_EQ(out, values);
  std::memcpy(buffer.data() + 1, values.data(), values.size() * 4);
  ASSERT_TRUE(convert_to_f32(DType::kF32, std::span(buffer).subspan(1, values.size() * 4), out));
  EXPECT_EQ(out, values);
}

// The reference: numpy's float32→float16 (round to nearest even) on random bit
// patterns, every half value, and every exact tie between neighbouring halves;
// torch's float32→bfloat16 on the same inputs and the bf16 ties.
constexpr const char* kConversionScript = R"PY(
import struct, sys
import numpy as np
rng = np.random.default_rng(20240601)
parts = [rng.integers(0, 2**32, size=200000, dtype=np.uint64).astype(np.uint32)]
def ties(values):
    v = np.unique(values[np.isfinite(values)])
    mid = (v[:-1] + v[1:]) / 2          # exact in float64, and in float32 (<= 12 significant bits)
    return np.concatenate([v, mid]).astype(np.float32).view(np.uint32)
halves = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float64)
parts.append(ties(halves))
brains = (np.arange(65536, dtype=np.uint32) << 16).view(np.float32).astype(np.float64)
parts.append(ties(brains))
parts.append(np.array([0x7f800001, 0xffc00000, 0x7fffffff, 0x00000001, 0x80000001, 0x7f7fffff], dtype=np.uint32))
x = np.concatenate(parts).astype(np.uint32)
with np.errstate(all="ignore"):
    f16 = x.view(np.float32).astype(np.float16).view(np.uint16)
    widened = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32).view(np.uint32)
try:
    import torch
    bf16 = torch.from_numpy(x.view(np.float32).copy()).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    have_bf16 = 1
except Exception:
    bf16 = np.zeros(len(x), dtype=np.uint16)
    have_bf16 = 0
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<QQ", len(x), have_bf16))
    f.write(x.astype("<u4").tobytes())
    f.write(f16.astype("<u2").tobytes())
    f.write(bf16.astype("<u2").tobytes())
    f.write(widened.astype("<u4").tobytes())
)PY";

template <typename T>
std::vector<T> read_array(std::ifstream& in, size_t n) {
  std::vector<T> out(n);
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(n * sizeof(T)));
  return out;
}

TEST(DTypeTest, MatchesNumpyAndTorch) {
  FW_REQUIRE_PYTHON_NUMPY();
  TempDir dir;
  const auto out_path = dir / "conversions.bin";
  std::string log;
  ASSERT_EQ(testing_util::run_python(dir.path(), "conversions.py", kConversionScript,
                                     testing_util::quoted_args({out_path}), &log),
            0)
      << log;
  std::ifstream in(out_path, std::ios::binary);
  uint64_t header[2];
  in.read(reinterpret_cast<char*>(header), sizeof header);
  const size_t n = header[0];
  const bool have_bf16 = header[1] != 0;
  ASSERT_GT(n, 200000u);
  const auto inputs = read_array<uint32_t>(in, n);
  const auto f16 = read_array<uint16_t>(in, n);
  const auto bf16 = read_array<uint16_t>(in, n);
  const auto widened = read_array<uint32_t>(in, 65536);
  ASSERT_TRUE(in.good());

  size_t fp16_mismatches = 0, bf16_mismatches = 0;
  for (size_t i = 0; i < n; ++i) {
    const float x = from_bits(inputs[i]);
    const uint16_t ours16 = f32_to_fp16(x);
    // NaN payloads differ between numpy's code paths (SIMD ones set the quiet bit): compare NaN-ness.
    const bool same16 = std::isnan(x) ? fp16_is_nan(ours16) && fp16_is_nan(f16[i]) : ours16 == f16[i];
    if (!same16 && ++fp16_mismatches <= 10) {
      ADD_FAILURE() << "fp16 of bits 0x" << std::hex << inputs[i] << ": ours 0x" << ours16 << ", numpy 0x" << f16[i];
    }
    if (have_bf16) {
      const uint16_t ours_bf = f32_to_bf16(x);
      // torch drops the NaN's sign (0x7FC0); we keep it.
      const bool same_bf = std::isnan(x) ? bf16_is_nan(ours_bf) && bf16_is_nan(bf16[i]) : ours_bf == bf16[i];
      if (!same_bf && ++bf16_mismatches <= 10) {
        ADD_FAILURE() << "bf16 of bits 0x" << std::hex << inputs[i] << ": ours 0x" << ours_bf << ", torch 0x"
                      << bf16[i];
      }
    }
  }
  EXPECT_EQ(fp16_mismatches, 0u);
  EXPECT_EQ(bf16_mismatches, 0u);
  if (!have_bf16)
    flywheel::testing::report_missing_dependency(
        "python3-torch (Debian python3-torch): bf16 checked against known bit patterns only");

  for (uint32_t h = 0; h < 65536; ++h) {
    const uint32_t ours = to_bits(fp16_to_f32(static_cast<uint16_t>(h)));
    if (fp16_is_nan(static_cast<uint16_t>(h))) {
      EXPECT_TRUE(std::isnan(from_bits(ours)));
    } else {
      ASSERT_EQ(ours, widened[h]) << "widening fp16 0x" << std::hex << h;
    }
  }
}

}  // namespace
}  // namespace flywheel
