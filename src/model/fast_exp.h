// A vectorizable float exp for x <= 0, shared by the sampler's softmax and
// the fused training kernels (internal to the model module).
#pragma once
#include <bit>
#include <cstdint>

namespace flywheel {

// exp(x) for x <= 0 in float, within 1e-7 relative (Cephes' expf
// polynomial), and exactly 0 below -kExpFloor and for -inf. Integer selects
// instead of float comparisons, so that GCC vectorizes loops over it
// without -fno-trapping-math.
constexpr float kExpFloor = 87.0f;

inline float exp_nonpositive(float x) {
  constexpr uint32_t kFloorBits = std::bit_cast<uint32_t>(-kExpFloor);
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  // Negative floats order like their unsigned bit patterns; +0 is below all.
  const uint32_t under = bits > kFloorBits ? 0xFFFFFFFFu : 0u;
  x = std::bit_cast<float>((bits & ~under) | (kFloorBits & under));
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to an integer
  const float n = (x * kLog2e + kRound) - kRound;
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  const float scale = std::bit_cast<float>(static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23);
  return std::bit_cast<float>(std::bit_cast<uint32_t>(e * scale) & ~under);
}

}  // namespace flywheel
