// Q4_K, Q5_K, Q6_K, Q8_K: placeholder until the family's kernels land (aborts if used).
#include <cstdlib>

#include "infer/block_kernels.h"

namespace flywheel::infer::detail {

void quantize_q4_k(const float*, int64_t, void*) { std::abort(); }
void quantize_q5_k(const float*, int64_t, void*) { std::abort(); }
void quantize_q6_k(const float*, int64_t, void*) { std::abort(); }
void quantize_q8_k(const float*, int64_t, void*) { std::abort(); }
void dequantize_q4_k(const void*, int64_t, float*) { std::abort(); }
void dequantize_q5_k(const void*, int64_t, float*) { std::abort(); }
void dequantize_q6_k(const void*, int64_t, float*) { std::abort(); }
void dequantize_q8_k(const void*, int64_t, float*) { std::abort(); }
void prepare_q8_k(const float*, int64_t, int64_t, int64_t, std::byte*, KernelPath) { std::abort(); }
void matmul_q4_k(const WeightMatrix&, const std::byte*, int64_t, float*, int64_t, int64_t, int64_t, KernelPath) {
  std::abort();
}
void matmul_q5_k(const WeightMatrix&, const std::byte*, int64_t, float*, int64_t, int64_t, int64_t, KernelPath) {
  std::abort();
}
void matmul_q6_k(const WeightMatrix&, const std::byte*, int64_t, float*, int64_t, int64_t, int64_t, KernelPath) {
  std::abort();
}

}  // namespace flywheel::infer::detail
