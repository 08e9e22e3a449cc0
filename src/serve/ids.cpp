#include "serve/ids.h"

#include <random>

#include "core/hash.h"

namespace flywheel::serve {

std::string new_id(std::string_view prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string bytes(12, '\0');
  for (size_t i = 0; i < bytes.size(); i += 4) {
    const auto word = static_cast<uint32_t>(rng());
    for (size_t j = 0; j < 4; ++j) bytes[i + j] = static_cast<char>((word >> (8 * j)) & 0xFF);
  }
  return std::string(prefix) + to_hex(bytes);
}

}  // namespace flywheel::serve
