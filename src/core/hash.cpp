#include "core/hash.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "core/file_system.h"

namespace flywheel {
namespace {

[[noreturn]] void die(const char* what) {
  // Only reachable if OpenSSL cannot allocate or lacks SHA-256, which no
  // caller can handle meaningfully.
  std::fprintf(stderr, "flywheel: fatal: OpenSSL %s failed\n", what);
  std::abort();
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kDigits[b >> 4];
    out[2 * i + 1] = kDigits[b & 15];
  }
  return out;
}

Result<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return Status::invalid_argument("hex string has odd length " + std::to_string(hex.size()));
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      size_t bad = hi < 0 ? 2 * i : 2 * i + 1;
      return Status::invalid_argument("not a hex digit at position " + std::to_string(bad) + ": '" +
                                      std::string(1, hex[bad]) + "'");
    }
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

struct Sha256::Context {
  EVP_MD_CTX* ctx = nullptr;
};

Sha256::Sha256() : context_(std::make_unique<Context>()) {
  context_->ctx = EVP_MD_CTX_new();
  if (context_->ctx == nullptr) die("EVP_MD_CTX_new");
  if (EVP_DigestInit_ex(context_->ctx, EVP_sha256(), nullptr) != 1) die("EVP_DigestInit_ex(sha256)");
}

Sha256::~Sha256() { EVP_MD_CTX_free(context_->ctx); }

void Sha256::update(std::string_view data) {
  if (EVP_DigestUpdate(context_->ctx, data.data(), data.size()) != 1) die("EVP_DigestUpdate");
}

Sha256Digest Sha256::finish() {
  Sha256Digest digest{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context_->ctx, digest.data(), &length) != 1 || length != digest.size()) {
    die("EVP_DigestFinal_ex");
  }
  if (EVP_DigestInit_ex(context_->ctx, EVP_sha256(), nullptr) != 1) die("EVP_DigestInit_ex(sha256)");
  return digest;
}

std::string Sha256::finish_hex() {
  Sha256Digest digest = finish();
  return to_hex(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

Sha256Digest sha256(std::string_view data) {
  Sha256 hasher;
  hasher.update(data);
  return hasher.finish();
}

std::string sha256_hex(std::string_view data) {
  Sha256 hasher;
  hasher.update(data);
  return hasher.finish_hex();
}

Result<std::string> sha256_file(const std::filesystem::path& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return status_from_errno("cannot open '" + path.string() + "' to hash it", errno);
  Sha256 hasher;
  char buffer[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status status = status_from_errno("cannot read '" + path.string() + "' to hash it", errno);
      ::close(fd);
      return status;
    }
    if (n == 0) break;
    hasher.update(std::string_view(buffer, static_cast<size_t>(n)));
  }
  ::close(fd);
  return hasher.finish_hex();
}

uint64_t xxh3_64(std::string_view data, uint64_t seed) { return XXH3_64bits_withSeed(data.data(), data.size(), seed); }

}  // namespace flywheel
