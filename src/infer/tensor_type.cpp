#include "infer/tensor_type.h"

#include "core/text.h"

namespace flywheel::infer {

namespace {

constexpr TensorType kAllTypes[] = {TensorType::kF32,  TensorType::kF16,  TensorType::kQ4_0,
                                    TensorType::kQ8_0, TensorType::kQ4_K, TensorType::kQ5_K,
                                    TensorType::kQ6_K, TensorType::kQ8_K, TensorType::kBF16};

}  // namespace

TypeTraits traits(TensorType type) {
  switch (type) {
    case TensorType::kF32:
      return {"f32", 1, 4};
    case TensorType::kF16:
      return {"f16", 1, 2};
    case TensorType::kQ4_0:
      return {"q4_0", 32, 18};
    case TensorType::kQ8_0:
      return {"q8_0", 32, 34};
    case TensorType::kQ4_K:
      return {"q4_K", 256, 144};
    case TensorType::kQ5_K:
      return {"q5_K", 256, 176};
    case TensorType::kQ6_K:
      return {"q6_K", 256, 210};
    case TensorType::kQ8_K:
      return {"q8_K", 256, 292};
    case TensorType::kBF16:
      return {"bf16", 1, 2};
  }
  return {"?", 1, 0};
}

Result<TypeTraits> type_traits(uint32_t ggml_type) {
  for (TensorType t : kAllTypes)
    if (static_cast<uint32_t>(t) == ggml_type) return traits(t);
  return Status::unsupported("tensor type " + std::to_string(ggml_type) +
                             " is not supported (flywheel reads f32, f16, bf16, q8_0, q4_0, q4_K, q5_K, q6_K)");
}

std::string_view type_name(TensorType type) { return traits(type).name; }

std::optional<TensorType> parse_type(std::string_view name) {
  const std::string lower = ascii_lower(name);
  for (TensorType t : kAllTypes)
    if (ascii_lower(traits(t).name) == lower) return t;
  return std::nullopt;
}

int64_t row_bytes(TensorType type, int64_t values) {
  const TypeTraits t = traits(type);
  return values / t.block_values * t.block_bytes;
}

bool is_quantized(TensorType type) { return traits(type).block_values > 1; }

}  // namespace flywheel::infer
