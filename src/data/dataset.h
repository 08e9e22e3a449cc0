// A token dataset on disk: the folder `flywheel data ingest` writes, and the
// reader the loader and the trainer use.
//
//   DATASET/
//     manifest.json            written last: its presence means the dataset is complete
//     ingest.json              the arguments it was made with (for resume and checks)
//     train-00000.bin          token shards (token_shard.h)
//     train-00000.docs.jsonl   one line per document of the shard, in shard order
//     valid-00000.bin, valid-00000.docs.jsonl, ...
//
// manifest.json (format "flywheel-token-dataset", version 1):
//   {"format", "version", "created",
//    "tokenizer": {"hash": sha256 hex, "path": as given, "vocab_size", "kind"},
//    "token_bytes": 2|4,
//    "sources": [{"input", "kind": directory|git|file, "path", "repo", "revision", "commit", "history",
//                 "documents", "bytes"}],
//    "splits": {"train": {"documents", "tokens", "bytes", "shards"}, "valid": {...}},
//    "shards": [{"file", "metadata", "split", "documents", "tokens", "bytes", "checksum"}],
//    "stats": {...ingest counts, skipped files by reason...},
//    "options": {...the ingest arguments that shape the output...}}
// Each *.docs.jsonl line: {"repo", "path", "language", "hash" (SHA-256 hex of
// the text), "bytes", "tokens", "source" (index into "sources"), "blob" (git
// blob id, git sources only)}. docs/formats.md describes the same.
//
// Thread-safety: a Dataset is an immutable value once opened.
// Errors: a missing or malformed manifest names the file and what is wrong;
// a tokenizer that differs from the one the shards were made with is an
// invalid_argument naming both hashes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "data/token_shard.h"
#include "tokenizer/tokenizer.h"

namespace flywheel {

inline constexpr std::string_view kDatasetFormat = "flywheel-token-dataset";
inline constexpr int kDatasetVersion = 1;
inline constexpr std::string_view kManifestFileName = "manifest.json";

// One document's metadata (a line of a shard's .docs.jsonl).
struct DocumentInfo {
  std::string repo;      // the source's name: repository or folder name
  std::string path;      // inside the source, '/'-separated
  std::string language;  // see docs/formats.md for the names
  std::string hash;      // SHA-256 hex of the text
  uint64_t bytes = 0;    // bytes of text
  uint64_t tokens = 0;
  uint32_t source = 0;  // index into the manifest's "sources"
  std::string blob;     // git blob id (hex), empty for files on disk
};

nlohmann::json document_info_to_json(const DocumentInfo& info);
Result<DocumentInfo> document_info_from_json(const nlohmann::json& value);

struct ShardEntry {
  std::string file;      // relative to the dataset folder
  std::string metadata;  // the .docs.jsonl beside it
  std::string split;     // "train" or "valid"
  uint64_t documents = 0;
  uint64_t tokens = 0;
  uint64_t bytes = 0;    // bytes of text the tokens stand for
  std::string checksum;  // payload checksum (16 hex digits), as in the shard header
};

class Dataset {
 public:
  // Reads and checks DATASET/manifest.json.
  static Result<Dataset> open(const std::filesystem::path& dir);
  // The same, then check_tokenizer(tokenizer).
  static Result<Dataset> open(const std::filesystem::path& dir, const Tokenizer& tokenizer);

  // OK when `tokenizer` is the one the shards were made with (same content hash).
  Status check_tokenizer(const Tokenizer& tokenizer) const;

  const std::filesystem::path& dir() const { return dir_; }
  const nlohmann::json& manifest() const { return manifest_; }
  const std::string& tokenizer_hash() const { return tokenizer_hash_; }
  uint32_t token_bytes() const { return token_bytes_; }

  // Shards of one split in order ("" for all).
  std::vector<ShardEntry> shards(std::string_view split = {}) const;
  uint64_t document_count(std::string_view split) const;
  uint64_t token_count(std::string_view split) const;

  // Opens a shard and checks it against the manifest (tokenizer hash, counts).
  Result<TokenShard> open_shard(const ShardEntry& entry, bool verify_checksum = true) const;
  // The metadata of a shard's documents, in shard order.
  Result<std::vector<DocumentInfo>> read_documents(const ShardEntry& entry) const;

 private:
  std::filesystem::path dir_;
  nlohmann::json manifest_;
  std::string tokenizer_hash_;
  uint32_t token_bytes_ = 2;
  std::vector<ShardEntry> shards_;
};

}  // namespace flywheel
