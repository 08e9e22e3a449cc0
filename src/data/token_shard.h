// Token shards: the tokens of many documents in one memory-mapped file.
//
// File layout (version 1; all integers little-endian):
//
//   offset  size  field
//   0       8     magic "FWTOKENS"
//   8       4     u32 format version (1)
//   12      4     u32 token width in bytes: 2 when the vocabulary has at most
//                 65536 ids, else 4 (ids are unsigned)
//   16      8     u64 token count T
//   24      8     u64 document count D
//   32      32    SHA-256 of the tokenizer (Tokenizer::content_hash(), raw bytes)
//   64      8     u64 payload checksum: XXH3-64 (seed 0) of every byte after the header
//   72      8     u64 header checksum: XXH3-64 (seed 0) of bytes 0..71
//   80      16    reserved, zero
//   96      T*w   token ids
//           0..7  zero padding up to a multiple of 8 bytes
//           8*(D+1) document offsets: u64 start token of each document, then T;
//                 nondecreasing, first 0 (document d is tokens [off[d], off[d+1]))
//
// The file size is exactly 96 + T*w + padding + 8*(D+1). Documents are stored
// without separators: <|endoftext|>, <|file_sep|> and FIM markers are added by
// the loader when it packs sequences (loader.h). docs/formats.md has the same
// table and the manifest that lists shards (dataset.h).
//
// Thread-safety: an open TokenShard is immutable; every const method may be
// called from many threads. write_token_shard is safe to call concurrently for
// different paths.
// Errors: open() checks the magic, version, width, header checksum, the exact
// file size (a truncated or extended file), the offsets and (unless disabled)
// the payload checksum, and says which check failed and in which file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace flywheel {

inline constexpr char kTokenShardMagic[8] = {'F', 'W', 'T', 'O', 'K', 'E', 'N', 'S'};
inline constexpr uint32_t kTokenShardVersion = 1;
inline constexpr size_t kTokenShardHeaderBytes = 96;

// 2 when every id of a vocabulary of `vocab_size` fits in 16 bits, else 4.
uint32_t token_bytes_for_vocab(size_t vocab_size);

// Serializes tokens and document offsets (D+1 entries, as in the layout) and
// writes the file atomically (core/atomic_writer.h). Ids that do not fit the
// width, or offsets that do not describe `tokens`, are invalid_argument.
// `checksum` (if given) receives the payload checksum.
Status write_token_shard(const std::filesystem::path& path, std::span<const TokenId> tokens,
                         std::span<const uint64_t> offsets, uint32_t token_bytes, std::string_view tokenizer_hash_hex,
                         uint64_t* checksum = nullptr);

class TokenShard {
 public:
  // Maps the file and validates it (see Errors above). The payload checksum
  // reads the whole file once; pass verify_checksum = false to skip it.
  static Result<TokenShard> open(const std::filesystem::path& path, bool verify_checksum = true);

  const std::filesystem::path& path() const { return path_; }
  uint32_t token_bytes() const { return token_bytes_; }
  uint64_t token_count() const { return token_count_; }
  uint64_t document_count() const { return document_count_; }
  const std::string& tokenizer_hash() const { return tokenizer_hash_; }  // lowercase hex
  uint64_t checksum() const { return checksum_; }

  TokenId token(uint64_t index) const;
  // Copies tokens [begin, end) to out[0 .. end-begin); the range must be inside the shard.
  void read_tokens(uint64_t begin, uint64_t end, TokenId* out) const;
  // The token range [begin, end) of document `doc` (< document_count()).
  uint64_t document_begin(uint64_t doc) const;
  uint64_t document_end(uint64_t doc) const;
  uint64_t document_length(uint64_t doc) const { return document_end(doc) - document_begin(doc); }
  std::vector<TokenId> document(uint64_t doc) const;

  TokenShard(TokenShard&& other) noexcept;
  TokenShard& operator=(TokenShard&& other) noexcept;
  TokenShard(const TokenShard&) = delete;
  TokenShard& operator=(const TokenShard&) = delete;
  ~TokenShard();

 private:
  TokenShard() = default;
  void unmap();

  std::filesystem::path path_;
  const uint8_t* data_ = nullptr;  // the whole file, mapped read-only
  size_t size_ = 0;
  uint32_t token_bytes_ = 0;
  uint64_t token_count_ = 0;
  uint64_t document_count_ = 0;
  uint64_t checksum_ = 0;
  std::string tokenizer_hash_;
  const uint8_t* tokens_ = nullptr;
  const uint8_t* offsets_ = nullptr;
};

}  // namespace flywheel
