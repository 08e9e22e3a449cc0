// Step 5 of ingest_corpus (ingest.h): shards, their metadata, the manifest.
#include <spdlog/spdlog.h>

#include <ctime>
#include <mutex>
#include <optional>
#include <set>

#include "core/atomic_file.h"
#include "core/hash.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "data/ingest_internal.h"
#include "data/text_tokens.h"
#include "data/token_shard.h"

namespace flywheel::data {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kShardSuffix = ".bin";
constexpr std::string_view kMetadataSuffix = ".docs.jsonl";

struct ShardPlan {
  std::string split;
  size_t index = 0;
  std::vector<uint32_t> docs;  // indices into ShardJob::documents
  uint64_t bytes = 0;
};

std::vector<ShardPlan> plan_shards(const std::vector<PlannedDocument>& documents, uint64_t shard_bytes) {
  std::vector<ShardPlan> plans;
  for (const bool valid : {false, true}) {
    ShardPlan current{valid ? "valid" : "train", 0, {}, 0};
    for (uint32_t i = 0; i < documents.size(); ++i) {
      if (documents[i].valid != valid) continue;
      current.docs.push_back(i);
      current.bytes += documents[i].bytes;
      if (current.bytes >= shard_bytes) {
        const size_t next = current.index + 1;
        plans.push_back(std::move(current));
        current = ShardPlan{valid ? "valid" : "train", next, {}, 0};
      }
    }
    if (!current.docs.empty()) plans.push_back(std::move(current));
  }
  return plans;
}

DocumentInfo document_info(const ShardJob& job, uint32_t doc, uint64_t tokens) {
  const PlannedDocument& d = job.documents[doc];
  const Candidate& c = job.candidates[d.candidate];
  DocumentInfo info;
  info.repo = job.sources[c.source].repo;
  info.path = c.path;
  info.language = d.language;
  info.hash = d.hash;
  info.bytes = d.bytes;
  info.tokens = tokens;
  info.source = c.source;
  if (c.is_blob) info.blob = blob_hex(c.blob);
  return info;
}

std::string checksum_hex(uint64_t checksum) {
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(checksum));
  return buffer;
}

// A shard an earlier run finished, with exactly the planned documents.
std::optional<ShardEntry> reusable_shard(const ShardJob& job, const ShardPlan& plan) {
  const fs::path dir = job.options.out;
  ShardEntry entry;
  entry.file = shard_file_name(plan.split, plan.index);
  entry.metadata = shard_metadata_name(plan.split, plan.index);
  entry.split = plan.split;
  std::error_code ec;
  if (!fs::exists(dir / entry.file, ec) || !fs::exists(dir / entry.metadata, ec)) return std::nullopt;
  auto text = read_file(dir / entry.metadata);
  if (!text.ok()) return std::nullopt;
  size_t start = 0, k = 0;
  while (start < text->size()) {
    size_t end = text->find('\n', start);
    if (end == std::string::npos) end = text->size();
    const nlohmann::json line =
        nlohmann::json::parse(std::string_view(*text).substr(start, end - start), nullptr, false);
    start = end + 1;
    if (line.is_discarded() || !line.is_object()) return std::nullopt;
    if (k >= plan.docs.size() || line.value("hash", "") != job.documents[plan.docs[k]].hash) return std::nullopt;
    ++k;
  }
  if (k != plan.docs.size()) return std::nullopt;
  auto shard = TokenShard::open(dir / entry.file, /*verify_checksum=*/true);
  if (!shard.ok()) {
    spdlog::info("rebuilding {}: {}", entry.file, shard.status().message());
    return std::nullopt;
  }
  if (shard->tokenizer_hash() != job.tokenizer.content_hash() || shard->document_count() != plan.docs.size() ||
      shard->token_bytes() != token_bytes_for_vocab(job.tokenizer.vocab_size()))
    return std::nullopt;
  entry.documents = plan.docs.size();
  entry.tokens = shard->token_count();
  entry.bytes = plan.bytes;
  entry.checksum = checksum_hex(shard->checksum());
  return entry;
}

Result<ShardEntry> build_shard(const ShardJob& job, const ShardPlan& plan, const PlainTextEncoder& encoder,
                               std::vector<std::unique_ptr<SourceReader>>& readers, ProgressBar* bar) {
  std::vector<std::vector<TokenId>> tokens(plan.docs.size());
  std::mutex error_mutex;
  Status error;
  parallel_for(plan.docs.size(), job.threads, [&](size_t k, int thread) {
    const PlannedDocument& d = job.documents[plan.docs[k]];
    const Candidate& c = job.candidates[d.candidate];
    std::string text;
    bool too_large = false;
    Status s = readers[static_cast<size_t>(thread)]->read(c, 0, text, &too_large);
    if (s.ok() && sha256_hex(text) != d.hash)
      s = Status(StatusCode::kUnavailable, "'" + c.path + "' of source '" + job.sources[c.source].input +
                                               "' changed while it was being ingested; run the command again");
    if (!s.ok()) {
      std::lock_guard lock(error_mutex);
      if (error.ok()) error = s;
      return;
    }
    tokens[k] = encoder.encode(text);
    if (bar != nullptr) bar->advance(text.size());
  });
  FW_RETURN_IF_ERROR(error);

  std::vector<TokenId> all;
  std::vector<uint64_t> offsets{0};
  std::string metadata;
  size_t total = 0;
  for (const auto& t : tokens) total += t.size();
  all.reserve(total);
  for (size_t k = 0; k < tokens.size(); ++k) {
    all.insert(all.end(), tokens[k].begin(), tokens[k].end());
    offsets.push_back(all.size());
    metadata += document_info_to_json(document_info(job, plan.docs[k], tokens[k].size())).dump() + "\n";
    std::vector<TokenId>().swap(tokens[k]);
  }
  ShardEntry entry;
  entry.file = shard_file_name(plan.split, plan.index);
  entry.metadata = shard_metadata_name(plan.split, plan.index);
  entry.split = plan.split;
  // Metadata first: a shard file with no metadata beside it is never reused.
  FW_RETURN_IF_ERROR(write_file_atomically(job.options.out / entry.metadata, metadata));
  uint64_t checksum = 0;
  FW_RETURN_IF_ERROR(write_token_shard(job.options.out / entry.file, all, offsets,
                                       token_bytes_for_vocab(job.tokenizer.vocab_size()), job.tokenizer.content_hash(),
                                       &checksum));
  entry.documents = plan.docs.size();
  entry.tokens = all.size();
  entry.bytes = plan.bytes;
  entry.checksum = checksum_hex(checksum);
  return entry;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

nlohmann::json manifest_json(const ShardJob& job, const std::vector<ShardEntry>& shards, const IngestStats& stats) {
  nlohmann::json sources = nlohmann::json::array();
  std::vector<uint64_t> source_docs(job.sources.size()), source_bytes(job.sources.size());
  for (const PlannedDocument& d : job.documents) {
    const uint32_t s = job.candidates[d.candidate].source;
    ++source_docs[s];
    source_bytes[s] += d.bytes;
  }
  for (size_t i = 0; i < job.sources.size(); ++i) {
    const Source& s = job.sources[i];
    nlohmann::json j = {{"input", s.input}, {"kind", source_kind_name(s.kind)}, {"path", s.path.string()},
                        {"repo", s.repo},   {"documents", source_docs[i]},      {"bytes", source_bytes[i]}};
    if (s.kind == Source::Kind::kGit) {
      j["revision"] = job.options.revision;
      j["commit"] = s.commit;
      j["history"] = job.options.history;
    }
    sources.push_back(std::move(j));
  }
  nlohmann::json splits = nlohmann::json::object();
  nlohmann::json shard_list = nlohmann::json::array();
  for (const ShardEntry& e : shards) {
    nlohmann::json& split = splits[e.split];
    if (split.is_null()) split = {{"documents", 0}, {"tokens", 0}, {"bytes", 0}, {"shards", 0}};
    split["documents"] = split["documents"].get<uint64_t>() + e.documents;
    split["tokens"] = split["tokens"].get<uint64_t>() + e.tokens;
    split["bytes"] = split["bytes"].get<uint64_t>() + e.bytes;
    split["shards"] = split["shards"].get<uint64_t>() + 1;
    shard_list.push_back({{"file", e.file},
                          {"metadata", e.metadata},
                          {"split", e.split},
                          {"documents", e.documents},
                          {"tokens", e.tokens},
                          {"bytes", e.bytes},
                          {"checksum", e.checksum}});
  }
  for (const char* name : {"train", "valid"})
    if (!splits.contains(name)) splits[name] = {{"documents", 0}, {"tokens", 0}, {"bytes", 0}, {"shards", 0}};
  nlohmann::json skipped = nlohmann::json::object();
  for (const auto& [k, v] : stats.skipped) skipped[k] = v;
  return {{"format", kDatasetFormat},
          {"version", kDatasetVersion},
          {"created", utc_now()},
          {"tokenizer",
           {{"hash", job.tokenizer.content_hash()},
            {"path", job.options.tokenizer_path.string()},
            {"vocab_size", job.tokenizer.vocab_size()},
            {"kind", std::string(job.tokenizer.kind())}}},
          {"token_bytes", token_bytes_for_vocab(job.tokenizer.vocab_size())},
          {"sources", sources},
          {"splits", splits},
          {"shards", shard_list},
          {"stats",
           {{"files_seen", stats.files_seen},
            {"bytes_seen", stats.bytes_seen},
            {"skipped", skipped},
            {"documents", stats.documents},
            {"bytes", stats.bytes},
            {"tokens", stats.tokens}}},
          {"options", job.args}};
}

}  // namespace

std::string shard_file_name(std::string_view split, size_t index) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*s-%05zu", static_cast<int>(split.size()), split.data(), index);
  return std::string(buffer) + std::string(kShardSuffix);
}

std::string shard_metadata_name(std::string_view split, size_t index) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*s-%05zu", static_cast<int>(split.size()), split.data(), index);
  return std::string(buffer) + std::string(kMetadataSuffix);
}

std::optional<std::pair<std::string, size_t>> parse_shard_file_name(std::string_view name) {
  std::string_view stem;
  if (name.ends_with(kMetadataSuffix)) {
    stem = name.substr(0, name.size() - kMetadataSuffix.size());
  } else if (name.ends_with(kShardSuffix)) {
    stem = name.substr(0, name.size() - kShardSuffix.size());
  } else {
    return std::nullopt;
  }
  const size_t dash = stem.rfind('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const std::string_view split = stem.substr(0, dash), digits = stem.substr(dash + 1);
  if ((split != "train" && split != "valid") || digits.size() < 5) return std::nullopt;
  size_t index = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    index = index * 10 + static_cast<size_t>(c - '0');
  }
  return std::make_pair(std::string(split), index);
}

Status build_shards_and_manifest(const ShardJob& job, IngestStats& stats) {
  const std::vector<ShardPlan> plans = plan_shards(job.documents, job.options.shard_bytes);
  std::vector<std::optional<ShardEntry>> entries(plans.size());
  uint64_t bytes_to_do = 0;
  for (size_t i = 0; i < plans.size(); ++i) {
    entries[i] = reusable_shard(job, plans[i]);
    if (entries[i]) {
      ++stats.shards_reused;
    } else {
      bytes_to_do += plans[i].bytes;
    }
  }
  if (stats.shards_reused > 0)
    spdlog::info("resuming: {} of {} shards were finished by an earlier run", stats.shards_reused, plans.size());

  std::optional<ProgressBar> bar;
  if (job.options.show_progress && bytes_to_do > 0) bar.emplace("tokenizing", bytes_to_do, "B");
  const PlainTextEncoder encoder(job.tokenizer);
  std::vector<std::unique_ptr<SourceReader>> readers;
  for (int t = 0; t < job.threads; ++t) readers.push_back(std::make_unique<SourceReader>(job.sources));
  for (size_t i = 0; i < plans.size(); ++i) {
    if (entries[i]) continue;
    FW_ASSIGN_OR_RETURN(ShardEntry entry, build_shard(job, plans[i], encoder, readers, bar ? &*bar : nullptr));
    entries[i] = std::move(entry);
    ++stats.shards_written;
  }
  if (bar) bar->finish();

  std::vector<ShardEntry> shards;
  std::set<std::string> keep;
  for (auto& e : entries) {
    keep.insert(e->file);
    keep.insert(e->metadata);
    if (e->split == "train") {
      stats.train_documents += e->documents;
      stats.train_tokens += e->tokens;
    } else {
      stats.valid_documents += e->documents;
      stats.valid_tokens += e->tokens;
    }
    stats.bytes += e->bytes;
    shards.push_back(std::move(*e));
  }
  stats.documents = stats.train_documents + stats.valid_documents;
  stats.tokens = stats.train_tokens + stats.valid_tokens;

  // Shards of an earlier plan that this one does not have, and temporary
  // files of a run that was killed mid-write.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(job.options.out, ec)) {
    const std::string name = entry.path().filename().string();
    if ((parse_shard_file_name(name) && !keep.count(name)) || is_atomic_temp_file_name(name)) {
      std::error_code remove_ec;
      fs::remove(entry.path(), remove_ec);
    }
  }
  return write_file_atomically(job.options.out / kManifestFileName, manifest_json(job, shards, stats).dump(2) + "\n");
}

}  // namespace flywheel::data
