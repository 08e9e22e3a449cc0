// GB/s of weight read per kernel path for a 4864x896 matrix at m=1 and m=8,
// next to a plain read bandwidth (summing the same number of bytes) measured
// in the same run.
#include "infer/kernels.h"

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

using namespace flywheel::infer;

namespace {

template <typename F>
double seconds_per_call(F&& f) {
  f();  // warm
  int reps = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double s = 0;
  do {
    f();
    ++reps;
    s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (s < 0.3);
  return s / reps;
}

}  // namespace

int main() {
  const int64_t rows = 4864, k = 896;
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  std::vector<float> wf(rows * k), x(8 * k);
  for (auto& v : wf) v = dist(rng);
  for (auto& v : x) v = dist(rng);
  // Read bandwidth reference: sum 64-bit words of a buffer the size of the f32 matrix.
  std::vector<uint64_t> buf(rows * k / 2, 1);
  volatile uint64_t sink = 0;
  const double t_read = seconds_per_call([&] {
    uint64_t s = 0;
    for (uint64_t v : buf) s += v;
    sink = s;
  });
  std::printf("read bandwidth: %.2f GB/s (cpu: %s)\n", buf.size() * 8 / t_read / 1e9, cpu_features().c_str());
  for (TensorType type :
       {TensorType::kF32, TensorType::kF16, TensorType::kBF16, TensorType::kQ8_0, TensorType::kQ4_0}) {
    const int64_t rb = row_bytes(type, k);
    std::vector<std::byte> wq(rows * rb);
    for (int64_t r = 0; r < rows; ++r) (void)quantize_row(type, wf.data() + r * k, k, wq.data() + r * rb);
    const WeightMatrix w{type, wq.data(), rows, k};
    for (int64_t m : {1, 8}) {
      std::vector<std::byte> prep(m * prepared_row_bytes(type, k));
      prepare_activations(type, x.data(), m, k, k, prep.data());
      std::vector<float> y(m * rows);
      double t[2];
      int p = 0;
      for (KernelPath path : {KernelPath::kScalar, KernelPath::kAvx2}) {
        t[p++] = seconds_per_call([&] { matmul_rows(w, prep.data(), m, y.data(), rows, 0, rows, path); });
      }
      std::printf("%-5s m=%d  scalar %6.2f GB/s  avx2 %6.2f GB/s  speedup %.1fx\n",
                  std::string(type_name(type)).c_str(), static_cast<int>(m), w.bytes() / t[0] / 1e9,
                  w.bytes() / t[1] / 1e9, t[0] / t[1]);
    }
  }
  return 0;
}
