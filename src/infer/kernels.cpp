// Dispatch and the scalar reference for the dense types. The block-quantized
// types' kernels live in their own files (one family each).
#include "infer/kernels.h"

#include <cstring>
#include <vector>

#include "infer/block_kernels.h"
#include "infer/dense_internal.h"
#include "infer/half.h"

namespace flywheel::infer {

namespace {

bool cpu_has_avx2() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}
bool cpu_has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

}  // namespace

KernelPath resolve_path(KernelPath requested) {
  const bool avx512 = cpu_has_avx512(), avx2 = cpu_has_avx2();
  switch (requested) {
    case KernelPath::kScalar:
      return KernelPath::kScalar;
    case KernelPath::kAvx2:
      return avx2 ? KernelPath::kAvx2 : KernelPath::kScalar;
    case KernelPath::kAvx512:
    case KernelPath::kAuto:
      if (requested == KernelPath::kAvx512 && avx512) return KernelPath::kAvx512;
      // kAvx512 kernels are not written yet for every type: kAuto takes AVX2.
      return avx2 ? KernelPath::kAvx2 : KernelPath::kScalar;
  }
  return KernelPath::kScalar;
}

std::string_view path_name(KernelPath path) {
  switch (path) {
    case KernelPath::kAuto:
      return "auto";
    case KernelPath::kScalar:
      return "scalar";
    case KernelPath::kAvx2:
      return "avx2";
    case KernelPath::kAvx512:
      return "avx512";
  }
  return "?";
}

std::string cpu_features() {
  std::string out;
  auto add = [&](bool present, const char* name) {
    if (!present) return;
    if (!out.empty()) out += ' ';
    out += name;
  };
  add(__builtin_cpu_supports("avx512f"), "avx512f");
  add(__builtin_cpu_supports("avx512bw"), "avx512bw");
  add(__builtin_cpu_supports("avx512vl"), "avx512vl");
  add(__builtin_cpu_supports("avx512vnni"), "avx512vnni");
  add(__builtin_cpu_supports("avx512bf16"), "avx512bf16");
  add(__builtin_cpu_supports("avx2"), "avx2");
  add(__builtin_cpu_supports("fma"), "fma");
  add(__builtin_cpu_supports("f16c"), "f16c");
  return out.empty() ? "none (scalar kernels)" : out;
}

Status quantize_row(TensorType type, const float* x, int64_t n, void* out) {
  auto* bytes = static_cast<std::byte*>(out);
  switch (type) {
    case TensorType::kF32:
      std::memcpy(out, x, 4 * n);
      return Status::OK();
    case TensorType::kF16:
      for (int64_t j = 0; j < n; ++j) {
        const uint16_t h = float_to_half(x[j]);
        std::memcpy(bytes + 2 * j, &h, 2);
      }
      return Status::OK();
    case TensorType::kBF16:
      for (int64_t j = 0; j < n; ++j) {
        const uint16_t h = float_to_bf16(x[j]);
        std::memcpy(bytes + 2 * j, &h, 2);
      }
      return Status::OK();
    case TensorType::kQ8_0:
      detail::quantize_q8_0(x, n, out);
      return Status::OK();
    case TensorType::kQ4_0:
      detail::quantize_q4_0(x, n, out);
      return Status::OK();
    case TensorType::kQ4_K:
      detail::quantize_q4_k(x, n, out);
      return Status::OK();
    case TensorType::kQ5_K:
      detail::quantize_q5_k(x, n, out);
      return Status::OK();
    case TensorType::kQ6_K:
      detail::quantize_q6_k(x, n, out);
      return Status::OK();
    case TensorType::kQ8_K:
      detail::quantize_q8_k(x, n, out);
      return Status::OK();
  }
  return Status::unsupported("no quantizer for type " + std::to_string(static_cast<uint32_t>(type)));
}

void dequantize_row(TensorType type, const void* row, int64_t n, float* out) {
  switch (type) {
    case TensorType::kQ8_0:
      return detail::dequantize_q8_0(row, n, out);
    case TensorType::kQ4_0:
      return detail::dequantize_q4_0(row, n, out);
    case TensorType::kQ4_K:
      return detail::dequantize_q4_k(row, n, out);
    case TensorType::kQ5_K:
      return detail::dequantize_q5_k(row, n, out);
    case TensorType::kQ6_K:
      return detail::dequantize_q6_k(row, n, out);
    case TensorType::kQ8_K:
      return detail::dequantize_q8_k(row, n, out);
    default:
      break;
  }
  const auto* bytes = static_cast<const std::byte*>(row);
  for (int64_t j = 0; j < n; ++j) out[j] = detail::dense_value(type, bytes, j);
}

TensorType activation_type(TensorType weight_type) {
  switch (weight_type) {
    case TensorType::kQ8_0:
    case TensorType::kQ4_0:
      return TensorType::kQ8_0;
    case TensorType::kQ4_K:
    case TensorType::kQ5_K:
    case TensorType::kQ6_K:
      return TensorType::kQ8_K;
    default:
      return TensorType::kF32;
  }
}

int64_t prepared_row_bytes(TensorType weight_type, int64_t k) { return row_bytes(activation_type(weight_type), k); }

void prepare_activations(TensorType weight_type, const float* x, int64_t m, int64_t ldx, int64_t k, std::byte* prepared,
                         KernelPath path) {
  const TensorType a = activation_type(weight_type);
  if (a == TensorType::kQ8_0) return detail::prepare_q8_0(x, m, ldx, k, prepared, path);
  if (a == TensorType::kQ8_K) return detail::prepare_q8_k(x, m, ldx, k, prepared, path);
  const int64_t stride = row_bytes(a, k);
  for (int64_t i = 0; i < m; ++i) (void)quantize_row(a, x + i * ldx, k, prepared + i * stride);
}

void matmul_rows(const WeightMatrix& w, const std::byte* prepared, int64_t m, float* y, int64_t ldy, int64_t row_begin,
                 int64_t row_end, KernelPath path) {
  switch (w.type) {
    case TensorType::kQ8_0:
      return detail::matmul_q8_0(w, prepared, m, y, ldy, row_begin, row_end, path);
    case TensorType::kQ4_0:
      return detail::matmul_q4_0(w, prepared, m, y, ldy, row_begin, row_end, path);
    case TensorType::kQ4_K:
      return detail::matmul_q4_k(w, prepared, m, y, ldy, row_begin, row_end, path);
    case TensorType::kQ5_K:
      return detail::matmul_q5_k(w, prepared, m, y, ldy, row_begin, row_end, path);
    case TensorType::kQ6_K:
      return detail::matmul_q6_k(w, prepared, m, y, ldy, row_begin, row_end, path);
    default:
      break;
  }
  const auto* xf = reinterpret_cast<const float*>(prepared);
  if (resolve_path(path) == KernelPath::kAvx2) return detail::matmul_dense_avx2(w, xf, m, y, ldy, row_begin, row_end);
  // Scalar reference for the dense types; a double accumulator keeps it a
  // reference rather than one more rounding order.
  const int64_t k = w.cols;
  const auto* x = reinterpret_cast<const float*>(prepared);
  std::vector<float> wrow(k);
  for (int64_t r = row_begin; r < row_end; ++r) {
    dequantize_row(w.type, w.row(r), k, wrow.data());
    for (int64_t i = 0; i < m; ++i) {
      double sum = 0.0;
      for (int64_t j = 0; j < k; ++j) sum += static_cast<double>(wrow[j]) * x[i * k + j];
      y[i * ldy + r] = static_cast<float>(sum);
    }
  }
}

}  // namespace flywheel::infer
