// The parts of ingest_corpus (ingest.h) shared between ingest.cpp (list,
// scan, dedup, split) and shard_builder.cpp (shards, manifest). Private to
// the data module.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/ingest.h"
#include "data/source.h"

namespace flywheel::data {

inline constexpr std::string_view kIngestFileName = "ingest.json";

// Runs fn(i, thread) for i in [0, count) on `threads` threads (thread 0 is
// the caller), handing out indices in order as threads become free.
void parallel_for(size_t count, int threads, const std::function<void(size_t index, int thread)>& fn);
int resolve_threads(int threads);

// A document that survived filters and dedup.
struct PlannedDocument {
  uint32_t candidate = 0;
  std::string hash;  // SHA-256 hex
  std::string language;
  uint64_t bytes = 0;
  bool valid = false;
};

// "train-00003.bin" / "train-00003.docs.jsonl".
std::string shard_file_name(std::string_view split, size_t index);
std::string shard_metadata_name(std::string_view split, size_t index);
// The split and index of a shard or metadata file name.
std::optional<std::pair<std::string, size_t>> parse_shard_file_name(std::string_view name);

struct ShardJob {
  const IngestOptions& options;
  const Tokenizer& tokenizer;
  const std::vector<Source>& sources;
  const std::vector<Candidate>& candidates;
  const std::vector<PlannedDocument>& documents;
  const nlohmann::json& args;
  int threads = 1;
};

// Cuts the documents into shards, keeps the finished ones, tokenizes and
// writes the rest, removes stale files and writes manifest.json last.
Status build_shards_and_manifest(const ShardJob& job, IngestStats& stats);

}  // namespace flywheel::data
