// Content hashing: SHA-256 where a hash names content for people and across
// machines (tokenizer hash in shard headers, checkpoint files), XXH3-64 where
// only speed matters (dedup, hash tables, prompt-cache keys).
//
// Thread-safety: the free functions are safe from many threads; a Sha256
// object belongs to one thread.
// Errors: only sha256_file can fail (the file cannot be read); OpenSSL
// failures inside the hash itself are invariants and abort with a message.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace flywheel {

// Lowercase hexadecimal, two digits per byte.
std::string to_hex(std::string_view bytes);
// Inverse of to_hex (either case); invalid_argument on odd length or a non-hex digit.
Result<std::string> from_hex(std::string_view hex);

using Sha256Digest = std::array<uint8_t, 32>;

// Incremental SHA-256 for data that arrives in pieces.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  void update(std::string_view data);
  // The digest of everything given to update(); the object is reset afterwards.
  Sha256Digest finish();
  std::string finish_hex();

  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

Sha256Digest sha256(std::string_view data);
std::string sha256_hex(std::string_view data);

// SHA-256 (hex) of a file's content, read in chunks (constant memory).
Result<std::string> sha256_file(const std::filesystem::path& path);

// XXH3 64-bit: stable across platforms and versions of xxHash, so it may be stored.
uint64_t xxh3_64(std::string_view data, uint64_t seed = 0);

}  // namespace flywheel
