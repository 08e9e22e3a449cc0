// Q8_0 and Q4_0: placeholder until the family's kernels land (aborts if used).
#include <cstdlib>

#include "infer/block_kernels.h"

namespace flywheel::infer::detail {

void quantize_q8_0(const float*, int64_t, void*) { std::abort(); }
void quantize_q4_0(const float*, int64_t, void*) { std::abort(); }
void dequantize_q8_0(const void*, int64_t, float*) { std::abort(); }
void dequantize_q4_0(const void*, int64_t, float*) { std::abort(); }
void prepare_q8_0(const float*, int64_t, int64_t, int64_t, std::byte*, KernelPath) { std::abort(); }
void matmul_q8_0(const WeightMatrix&, const std::byte*, int64_t, float*, int64_t, int64_t, int64_t, KernelPath) {
  std::abort();
}
void matmul_q4_0(const WeightMatrix&, const std::byte*, int64_t, float*, int64_t, int64_t, int64_t, KernelPath) {
  std::abort();
}

}  // namespace flywheel::infer::detail
