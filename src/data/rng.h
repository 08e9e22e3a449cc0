// Deterministic random numbers for the data module: the same seed gives the
// same shuffles and FIM choices on every platform and standard library (which
// std::shuffle and std::uniform_int_distribution do not promise).
//
// SplitMix64 (Steele, Lea, Flood 2014) is the generator; seeds for
// independent streams are made by mixing several integers with mix64, so a
// stream's draws depend only on its coordinates (seed, epoch, lane, window):
// nothing has to be saved to continue a run exactly.
//
// Thread-safety: a Rng belongs to one thread; the free functions are pure.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

namespace flywheel::data {

// SplitMix64's output function: a bijective 64-bit mixer.
inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A seed for the stream named by `parts` (order matters).
inline uint64_t stream_seed(std::initializer_list<uint64_t> parts) {
  uint64_t h = 0x6A09E667F3BCC909ull;
  for (uint64_t p : parts) h = mix64(h ^ mix64(p));
  return h;
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    state_ += 0x9E3779B97F4A7C15ull;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) by multiply-shift (Lemire); the bias is below 2^-40
  // for the sizes used here. n must be > 0.
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64); }
  // Uniform in [0, 1) with 53 bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool bernoulli(double p) { return p >= 1.0 || (p > 0.0 && uniform() < p); }

 private:
  uint64_t state_;
};

// A permutation of 0..n-1 (Fisher-Yates, from the back).
inline std::vector<uint32_t> shuffled_indices(uint32_t n, uint64_t seed) {
  std::vector<uint32_t> order(n);
  for (uint32_t i = 0; i < n; ++i) order[i] = i;
  Rng rng(seed);
  for (uint32_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  return order;
}

}  // namespace flywheel::data
