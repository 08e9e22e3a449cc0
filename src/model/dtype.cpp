#include "model/dtype.h"

#include <array>
#include <bit>
#include <cassert>
#include <cstring>

namespace flywheel {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host needs byte swaps here");

namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  size_t size;
};

// Indexed by the enumerator's value.
constexpr std::array<DTypeInfo, 15> kDTypes = {{
    {DType::kBool, "BOOL", 1},
    {DType::kU8, "U8", 1},
    {DType::kI8, "I8", 1},
    {DType::kF8E5M2, "F8_E5M2", 1},
    {DType::kF8E4M3, "F8_E4M3", 1},
    {DType::kI16, "I16", 2},
    {DType::kU16, "U16", 2},
    {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2},
    {DType::kI32, "I32", 4},
    {DType::kU32, "U32", 4},
    {DType::kF32, "F32", 4},
    {DType::kF64, "F64", 8},
    {DType::kI64, "I64", 8},
    {DType::kU64, "U64", 8},
}};

constexpr bool table_is_indexed_by_enum() {
  for (size_t i = 0; i < kDTypes.size(); ++i) {
    if (static_cast<size_t>(kDTypes[i].dtype) != i) return false;
  }
  return true;
}
static_assert(table_is_indexed_by_enum());

const DTypeInfo& info(DType dtype) {
  size_t i = static_cast<size_t>(dtype);
  assert(i < kDTypes.size() && "DType out of range");
  return kDTypes[i < kDTypes.size() ? i : 0];
}

}  // namespace

std::string_view dtype_name(DType dtype) { return info(dtype).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const DTypeInfo& entry : kDTypes) {
    if (entry.name == name) return entry.dtype;
  }
  return std::nullopt;
}

size_t dtype_size(DType dtype) { return info(dtype).size; }

bool dtype_is_float(DType dtype) {
  return dtype == DType::kF16 || dtype == DType::kBF16 || dtype == DType::kF32 || dtype == DType::kF64;
}

float fp16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf, or NaN with its payload
  } else if (exponent != 0) {
    bits = sign | ((exponent + (127 - 15)) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {
    // Subnormal half: every one is a normal float. Shift the leading 1 up to
    // the implicit position.
    exponent = 127 - 14;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --exponent;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

uint16_t f32_to_fp16(float value) {
  const uint32_t x = std::bit_cast<uint32_t>(value);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t a = x & 0x7fffffffu;
  if (a >= 0x7f800000u) {
    if (a == 0x7f800000u) return sign | 0x7c00u;
    // NaN: keep the top payload bits (numpy does the same), and stay a NaN
    // when those bits are all zero.
    auto nan = static_cast<uint16_t>(0x7c00u | ((a & 0x7fffffu) >> 13));
    if (nan == 0x7c00u) ++nan;
    return sign | nan;
  }
  // 65520 is halfway between the largest half (65504, odd mantissa) and the
  // next power of two: ties to even round it, and all above, to infinity.
  if (a >= 0x477ff000u) return sign | 0x7c00u;
  if (a >= 0x38800000u) {
    // A normal half: rebias the exponent (127 → 15) in place, then round the
    // 13 dropped mantissa bits; a carry correctly bumps the exponent.
    uint32_t m = a - ((127u - 15u) << 23);
    m += 0x0fffu + ((m >> 13) & 1u);
    return sign | static_cast<uint16_t>(m >> 13);
  }
  // A subnormal half (units of 2^-24) or zero.
  const uint32_t exponent = a >> 23;  // <= 112 here
  if (exponent < 102) return sign;    // below 2^-25: rounds to zero (2^-25 itself is a tie, to even = 0)
  const uint32_t mantissa = (a & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126 - exponent;  // 14..24
  uint32_t result = mantissa >> shift;
  const uint32_t rest = mantissa & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (result & 1u))) ++result;  // may become 0x400, the smallest normal
  return sign | static_cast<uint16_t>(result);
}

float bf16_to_f32(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

uint16_t f32_to_bf16(float value) {
  const uint32_t x = std::bit_cast<uint32_t>(value);
  if ((x & 0x7fffffffu) > 0x7f800000u) {
    // NaN: the canonical quiet NaN with the sign kept (Eigen and ml_dtypes do
    // this; torch returns 0x7FC0 whatever the sign).
    return static_cast<uint16_t>(((x >> 16) & 0x8000u) | 0x7fc0u);
  }
  // Round to nearest even on the 16 dropped bits. Cannot overflow 32 bits:
  // the largest non-NaN input is -inf (0xff800000).
  const uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

void fp16_to_f32(std::span<const uint16_t> in, std::span<float> out) {
  assert(in.size() == out.size() && "fp16_to_f32: sizes differ");
  const size_t n = in.size() < out.size() ? in.size() : out.size();
  for (size_t i = 0; i < n; ++i) out[i] = fp16_to_f32(in[i]);
}

void f32_to_fp16(std::span<const float> in, std::span<uint16_t> out) {
  assert(in.size() == out.size() && "f32_to_fp16: sizes differ");
  const size_t n = in.size() < out.size() ? in.size() : out.size();
  for (size_t i = 0; i < n; ++i) out[i] = f32_to_fp16(in[i]);
}

void bf16_to_f32(std::span<const uint16_t> in, std::span<float> out) {
  assert(in.size() == out.size() && "bf16_to_f32: sizes differ");
  const size_t n = in.size() < out.size() ? in.size() : out.size();
  for (size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(in[i]);
}

void f32_to_bf16(std::span<const float> in, std::span<uint16_t> out) {
  assert(in.size() == out.size() && "f32_to_bf16: sizes differ");
  const size_t n = in.size() < out.size() ? in.size() : out.size();
  for (size_t i = 0; i < n; ++i) out[i] = f32_to_bf16(in[i]);
}

bool convert_to_f32(DType dtype, std::span<const std::byte> bytes, std::span<float> out) {
  const bool ok = dtype_is_float(dtype) && bytes.size() == out.size() * dtype_size(dtype);
  assert(ok && "convert_to_f32: not a float dtype, or byte count does not match the output");
  if (!ok) return false;
  const std::byte* p = bytes.data();
  const size_t n = out.size();
  // memcpy per element: the source may be unaligned; compilers turn these
  // into plain loads.
  switch (dtype) {
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = fp16_to_f32(h);
      }
      break;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = bf16_to_f32(h);
      }
      break;
    case DType::kF32:
      if (n > 0) std::memcpy(out.data(), p, n * 4);
      break;
    case DType::kF64:
      for (size_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, p + 8 * i, 8);
        out[i] = static_cast<float>(d);
      }
      break;
    default:
      return false;
  }
  return true;
}

}  // namespace flywheel
