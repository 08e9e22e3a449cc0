// DType: the element types of a safetensors file, their names and sizes, and
// the 16-bit float conversions (fp16 = IEEE binary16, bf16 = bfloat16) that
// loading and saving weights need. Pure C++: no libtorch here.
//
// The enumerators are in the order of the reference safetensors library's
// `Dtype` enum (Rust, derive(Ord)); the writer sorts tensors by that order, so
// keep it.
//
// Conversions to fp16/bf16 round to nearest, ties to even; values too large
// become ±inf, values too small become (signed) subnormals or zero. NaN stays
// NaN with its sign, quiet bit set and top payload bits kept (for fp16 this is
// exactly numpy's float32→float16; torch's bf16 returns the canonical 0x7FC0).
// Widening to fp32 is exact.
//
// Thread-safety: pure functions. Errors: dtype_from_name returns nullopt for an
// unknown name; the span conversions require equal element counts (asserted).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace flywheel {

enum class DType : uint8_t {
  kBool,
  kU8,
  kI8,
  kF8E5M2,
  kF8E4M3,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kF64,
  kI64,
  kU64,
};

// The safetensors name: "BOOL", "U8", "F8_E4M3", "BF16", "F32", ...
std::string_view dtype_name(DType dtype);
// The DType of a safetensors name (exact, case-sensitive), or nullopt.
std::optional<DType> dtype_from_name(std::string_view name);
// Bytes per element: 1, 2, 4 or 8.
size_t dtype_size(DType dtype);
// True for F16, BF16, F32, F64 (the types convert_to_f32 accepts).
bool dtype_is_float(DType dtype);

float fp16_to_f32(uint16_t bits);
uint16_t f32_to_fp16(float value);
float bf16_to_f32(uint16_t bits);
uint16_t f32_to_bf16(float value);

// Element-wise conversions; `in` and `out` must have the same length.
void fp16_to_f32(std::span<const uint16_t> in, std::span<float> out);
void f32_to_fp16(std::span<const float> in, std::span<uint16_t> out);
void bf16_to_f32(std::span<const uint16_t> in, std::span<float> out);
void f32_to_bf16(std::span<const float> in, std::span<uint16_t> out);

// Converts raw little-endian tensor bytes of a float dtype (F16, BF16, F32,
// F64) to fp32. `bytes` may be unaligned (as in a memory-mapped safetensors
// file whose header length is not a multiple of 8). Requires
// bytes.size() == out.size() * dtype_size(dtype) and dtype_is_float(dtype)
// (asserted; returns false without writing when they do not hold).
bool convert_to_f32(DType dtype, std::span<const std::byte> bytes, std::span<float> out);

}  // namespace flywheel
