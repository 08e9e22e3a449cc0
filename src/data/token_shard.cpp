#include "data/token_shard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>

#include "core/atomic_writer.h"
#include "core/file_system.h"
#include "core/hash.h"

namespace flywheel {
namespace {

static_assert(std::endian::native == std::endian::little || std::endian::native == std::endian::big);

void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

size_t padding_after_tokens(uint64_t token_count, uint32_t width) {
  const uint64_t end = kTokenShardHeaderBytes + token_count * width;
  return static_cast<size_t>((8 - end % 8) % 8);
}

Status shard_error(const std::filesystem::path& path, const std::string& what) {
  return Status::corruption("token shard '" + path.string() + "' " + what +
                            "; the file is damaged or was not written by flywheel: run `flywheel data ingest` "
                            "again to rebuild it");
}

}  // namespace

uint32_t token_bytes_for_vocab(size_t vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

Status write_token_shard(const std::filesystem::path& path, std::span<const TokenId> tokens,
                         std::span<const uint64_t> offsets, uint32_t token_bytes, std::string_view tokenizer_hash_hex,
                         uint64_t* checksum) {
  if (token_bytes != 2 && token_bytes != 4)
    return Status::invalid_argument("token width must be 2 or 4 bytes, got " + std::to_string(token_bytes));
  if (offsets.empty() || offsets.front() != 0 || offsets.back() != tokens.size())
    return Status::invalid_argument("document offsets of '" + path.string() +
                                    "' must start at 0 and end at the token count");
  for (size_t i = 1; i < offsets.size(); ++i)
    if (offsets[i] < offsets[i - 1])
      return Status::invalid_argument("document offsets of '" + path.string() + "' decrease at document " +
                                      std::to_string(i - 1));
  FW_ASSIGN_OR_RETURN(std::string hash_bytes, from_hex(tokenizer_hash_hex));
  if (hash_bytes.size() != 32)
    return Status::invalid_argument("tokenizer hash must be 64 hex digits (SHA-256), got '" +
                                    std::string(tokenizer_hash_hex) + "'");
  const uint64_t limit = token_bytes == 2 ? 0xFFFFull : 0xFFFFFFFFull;

  const size_t pad = padding_after_tokens(tokens.size(), token_bytes);
  std::string payload(tokens.size() * token_bytes + pad + offsets.size() * 8, '\0');
  auto* out = reinterpret_cast<uint8_t*>(payload.data());
  for (size_t i = 0; i < tokens.size(); ++i) {
    const TokenId id = tokens[i];
    if (id < 0 || static_cast<uint64_t>(id) > limit)
      return Status::invalid_argument("token id " + std::to_string(id) + " does not fit a " +
                                      std::to_string(token_bytes) + "-byte token shard");
    const auto v = static_cast<uint32_t>(id);
    if (token_bytes == 2) {
      out[2 * i] = static_cast<uint8_t>(v);
      out[2 * i + 1] = static_cast<uint8_t>(v >> 8);
    } else {
      put_u32(out + 4 * i, v);
    }
  }
  uint8_t* off = out + tokens.size() * token_bytes + pad;
  for (size_t i = 0; i < offsets.size(); ++i) put_u64(off + 8 * i, offsets[i]);

  uint8_t header[kTokenShardHeaderBytes] = {};
  std::memcpy(header, kTokenShardMagic, 8);
  put_u32(header + 8, kTokenShardVersion);
  put_u32(header + 12, token_bytes);
  put_u64(header + 16, tokens.size());
  put_u64(header + 24, offsets.size() - 1);
  std::memcpy(header + 32, hash_bytes.data(), 32);
  const uint64_t payload_checksum = xxh3_64(payload);
  put_u64(header + 64, payload_checksum);
  put_u64(header + 72, xxh3_64(std::string_view(reinterpret_cast<const char*>(header), 72)));
  if (checksum != nullptr) *checksum = payload_checksum;

  FW_ASSIGN_OR_RETURN(AtomicFileWriter writer, AtomicFileWriter::create(path));
  FW_RETURN_IF_ERROR(writer.append(std::string_view(reinterpret_cast<const char*>(header), sizeof header)));
  FW_RETURN_IF_ERROR(writer.append(payload));
  return writer.commit();
}

Result<TokenShard> TokenShard::open(const std::filesystem::path& path, bool verify_checksum) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return status_from_errno("cannot open token shard '" + path.string() + "'", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return status_from_errno("cannot stat token shard '" + path.string() + "'", err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::invalid_argument("token shard '" + path.string() + "' is not a regular file");
  }
  const auto size = static_cast<size_t>(st.st_size);
  if (size < kTokenShardHeaderBytes) {
    ::close(fd);
    return shard_error(path, "is truncated: " + std::to_string(size) + " bytes, shorter than the " +
                                 std::to_string(kTokenShardHeaderBytes) + "-byte header");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  const int map_err = errno;
  ::close(fd);
  if (map == MAP_FAILED) return status_from_errno("cannot map token shard '" + path.string() + "'", map_err);

  TokenShard shard;
  shard.path_ = path;
  shard.data_ = static_cast<const uint8_t*>(map);
  shard.size_ = size;
  const uint8_t* h = shard.data_;
  if (std::memcmp(h, kTokenShardMagic, 8) != 0) return shard_error(path, "does not start with the magic FWTOKENS");
  const uint32_t version = get_u32(h + 8);
  if (version != kTokenShardVersion)
    return Status::unsupported("token shard '" + path.string() + "' has format version " + std::to_string(version) +
                               "; this flywheel reads version " + std::to_string(kTokenShardVersion));
  if (get_u64(h + 72) != xxh3_64(std::string_view(reinterpret_cast<const char*>(h), 72)))
    return shard_error(path, "has a header whose checksum does not match");
  shard.token_bytes_ = get_u32(h + 12);
  if (shard.token_bytes_ != 2 && shard.token_bytes_ != 4)
    return shard_error(path, "has token width " + std::to_string(shard.token_bytes_) + " (expected 2 or 4)");
  shard.token_count_ = get_u64(h + 16);
  shard.document_count_ = get_u64(h + 24);
  shard.tokenizer_hash_ = to_hex(std::string_view(reinterpret_cast<const char*>(h + 32), 32));
  shard.checksum_ = get_u64(h + 64);

  // Sizes in 128 bits: a corrupt count must not wrap around into a match.
  const unsigned __int128 tokens_end = static_cast<unsigned __int128>(kTokenShardHeaderBytes) +
                                       static_cast<unsigned __int128>(shard.token_count_) * shard.token_bytes_;
  const unsigned __int128 expected = tokens_end + (8 - static_cast<uint64_t>(tokens_end % 8)) % 8 +
                                     (static_cast<unsigned __int128>(shard.document_count_) + 1) * 8;
  if (expected != size) {
    const std::string want = expected > std::numeric_limits<uint64_t>::max()
                                 ? std::string("an impossible size")
                                 : std::to_string(static_cast<uint64_t>(expected)) + " bytes";
    return shard_error(path, std::string(expected > size ? "is truncated" : "has trailing bytes") + ": its header (" +
                                 std::to_string(shard.token_count_) + " tokens, " +
                                 std::to_string(shard.document_count_) + " documents) needs " + want +
                                 ", the file has " + std::to_string(size));
  }
  shard.tokens_ = h + kTokenShardHeaderBytes;
  shard.offsets_ = shard.tokens_ + shard.token_count_ * shard.token_bytes_ +
                   padding_after_tokens(shard.token_count_, shard.token_bytes_);
  if (get_u64(shard.offsets_) != 0 || get_u64(shard.offsets_ + 8 * shard.document_count_) != shard.token_count_)
    return shard_error(path, "has document offsets that do not span its tokens");
  uint64_t previous = 0;
  for (uint64_t d = 1; d <= shard.document_count_; ++d) {
    const uint64_t value = get_u64(shard.offsets_ + 8 * d);
    if (value < previous) return shard_error(path, "has decreasing document offsets at document " + std::to_string(d));
    previous = value;
  }
  if (verify_checksum) {
    const std::string_view payload(reinterpret_cast<const char*>(shard.tokens_), size - kTokenShardHeaderBytes);
    if (xxh3_64(payload) != shard.checksum_) return shard_error(path, "fails its payload checksum");
  }
  return shard;
}

TokenId TokenShard::token(uint64_t index) const {
  const uint8_t* p = tokens_ + index * token_bytes_;
  if (token_bytes_ == 2) return static_cast<TokenId>(p[0] | (p[1] << 8));
  return static_cast<TokenId>(get_u32(p));
}

void TokenShard::read_tokens(uint64_t begin, uint64_t end, TokenId* out) const {
  if (token_bytes_ == 2) {
    const uint8_t* p = tokens_ + begin * 2;
    if constexpr (std::endian::native == std::endian::little) {
      for (uint64_t i = 0, n = end - begin; i < n; ++i) {
        uint16_t v;
        std::memcpy(&v, p + 2 * i, 2);
        out[i] = v;
      }
    } else {
      for (uint64_t i = 0, n = end - begin; i < n; ++i) out[i] = static_cast<TokenId>(p[2 * i] | (p[2 * i + 1] << 8));
    }
    return;
  }
  const uint8_t* p = tokens_ + begin * 4;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(out, p, (end - begin) * 4);
  } else {
    for (uint64_t i = 0, n = end - begin; i < n; ++i) out[i] = static_cast<TokenId>(get_u32(p + 4 * i));
  }
}

uint64_t TokenShard::document_begin(uint64_t doc) const { return get_u64(offsets_ + 8 * doc); }
uint64_t TokenShard::document_end(uint64_t doc) const { return get_u64(offsets_ + 8 * (doc + 1)); }

std::vector<TokenId> TokenShard::document(uint64_t doc) const {
  const uint64_t begin = document_begin(doc), end = document_end(doc);
  std::vector<TokenId> out(end - begin);
  read_tokens(begin, end, out.data());
  return out;
}

void TokenShard::unmap() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

TokenShard::TokenShard(TokenShard&& other) noexcept { *this = std::move(other); }

TokenShard& TokenShard::operator=(TokenShard&& other) noexcept {
  if (this == &other) return *this;
  unmap();
  path_ = std::move(other.path_);
  data_ = other.data_;
  size_ = other.size_;
  token_bytes_ = other.token_bytes_;
  token_count_ = other.token_count_;
  document_count_ = other.document_count_;
  checksum_ = other.checksum_;
  tokenizer_hash_ = std::move(other.tokenizer_hash_);
  tokens_ = other.tokens_;
  offsets_ = other.offsets_;
  other.data_ = nullptr;
  other.size_ = 0;
  other.tokens_ = other.offsets_ = nullptr;
  return *this;
}

TokenShard::~TokenShard() { unmap(); }

}  // namespace flywheel
