// Tensor storage types of the native inference path, numbered as ggml/GGUF
// number them (the GGUF tensor-info "type" field), with their block layouts.
//
// Block layouts (ggml-common.h; every multi-byte field little-endian, "half"
// is IEEE fp16):
//   Q4_0  32 values, 18 B: half d; uint8 qs[16]    x[j] = d * ((qs[j] & 15) - 8),
//                                                   x[j+16] = d * ((qs[j] >> 4) - 8)
//   Q8_0  32 values, 34 B: half d; int8 qs[32]     x[j] = d * qs[j]
//   Q4_K 256 values, 144 B: half d, dmin; uint8 scales[12]; uint8 qs[128]
//   Q5_K 256 values, 176 B: half d, dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128]
//   Q6_K 256 values, 210 B: uint8 ql[128]; uint8 qh[64]; int8 scales[16]; half d
//   Q8_K 256 values, 292 B: float d; int8 qs[256]; int16 bsums[16]   (activations only)
// F32, F16 and BF16 are one value per "block".
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace flywheel::infer {

enum class TensorType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ8_0 = 8,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kBF16 = 30,
};

struct TypeTraits {
  std::string_view name;  // ggml's: "f32", "q8_0", "q4_K"
  int64_t block_values;   // values per block
  int64_t block_bytes;    // bytes per block
};

// The traits of a ggml type id; kUnsupported names the id for types flywheel
// does not read (Q4_1, Q2_K, IQ*, ...).
Result<TypeTraits> type_traits(uint32_t ggml_type);
TypeTraits traits(TensorType type);
std::string_view type_name(TensorType type);
// "f32", "F16", "q8_0", "Q4_K" (case-insensitive) -> the type.
std::optional<TensorType> parse_type(std::string_view name);
// Bytes of `values` values; `values` must be a multiple of the block size.
int64_t row_bytes(TensorType type, int64_t values);
bool is_quantized(TensorType type);

// A weight matrix of `rows` output rows by `cols` inputs, row-major in its
// stored type: row r starts at data + r * row_bytes(type, cols). The memory
// belongs to whoever made the view (a mapped GGUF, a ModelWeights buffer).
struct WeightMatrix {
  TensorType type = TensorType::kF32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t bytes() const { return rows * row_bytes(type, cols); }
  const std::byte* row(int64_t r) const { return static_cast<const std::byte*>(data) + r * row_bytes(type, cols); }
};

}  // namespace flywheel::infer
