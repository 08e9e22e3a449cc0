#include "feedback/key_secret.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/hash.h"

namespace flywheel::feedback {
namespace {

constexpr std::string_view kBase64UrlAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

Result<std::string> random_bytes(size_t n) {
  std::string bytes(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1)
    return Status::internal("OpenSSL RAND_bytes failed: the system's random source is not available");
  return bytes;
}

}  // namespace

std::string base64url(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char byte : bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kBase64UrlAlphabet[(buffer >> bits) & 63];
    }
  }
  if (bits > 0) out += kBase64UrlAlphabet[(buffer << (6 - bits)) & 63];
  return out;
}

Result<std::string> new_key_secret() {
  FW_ASSIGN_OR_RETURN(std::string bytes, random_bytes(32));
  return std::string(kKeySecretPrefix) + base64url(bytes);
}

Result<std::string> new_key_id() {
  FW_ASSIGN_OR_RETURN(std::string bytes, random_bytes(6));
  return "key_" + to_hex(bytes);
}

bool is_well_formed_key_secret(std::string_view secret) {
  if (secret.size() != kKeySecretLength || !secret.starts_with(kKeySecretPrefix)) return false;
  return secret.substr(kKeySecretPrefix.size()).find_first_not_of(kBase64UrlAlphabet) == std::string_view::npos;
}

std::string key_secret_hash(std::string_view secret) { return sha256_hex(secret); }

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace flywheel::feedback
