#include "infer/tensor_type.h"

#include <gtest/gtest.h>

#include <cmath>

#include "infer/half.h"

namespace flywheel::infer {
namespace {

TEST(TensorType, LayoutsAreGgmls) {
  EXPECT_EQ(row_bytes(TensorType::kQ8_0, 64), 68);
  EXPECT_EQ(row_bytes(TensorType::kQ4_0, 32), 18);
  EXPECT_EQ(row_bytes(TensorType::kQ4_K, 512), 288);
  EXPECT_EQ(row_bytes(TensorType::kQ5_K, 256), 176);
  EXPECT_EQ(row_bytes(TensorType::kQ6_K, 256), 210);
  EXPECT_EQ(row_bytes(TensorType::kQ8_K, 256), 292);
  EXPECT_EQ(row_bytes(TensorType::kBF16, 3), 6);
  EXPECT_EQ(parse_type("Q4_K"), TensorType::kQ4_K);
  EXPECT_EQ(parse_type("bf16"), TensorType::kBF16);
  EXPECT_FALSE(parse_type("q3_K").has_value());
  EXPECT_FALSE(type_traits(3).ok());  // Q4_1
  EXPECT_EQ(type_traits(30)->name, "bf16");
}

TEST(Half, RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = half_to_float(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(half_to_float(float_to_half(f))));
      continue;
    }
    EXPECT_EQ(float_to_half(f), h) << h;
  }
}

TEST(Half, RoundsToNearestEven) {
  EXPECT_EQ(float_to_half(1.0f + 1.0f / 2048), float_to_half(1.0f));               // tie to even (down)
  EXPECT_EQ(float_to_half(1.0f + 3.0f / 2048), float_to_half(1.0f + 1.0f / 512));  // tie to even (up)
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);                                      // overflow to inf
  EXPECT_EQ(float_to_half(5.9604645e-8f / 2), 0);                                  // half the smallest subnormal: even
  EXPECT_EQ(float_to_bf16(1.0f + 1.0f / 256), float_to_bf16(1.0f));
  EXPECT_EQ(bf16_to_float(float_to_bf16(3.0f)), 3.0f);
}

}  // namespace
}  // namespace flywheel::infer
