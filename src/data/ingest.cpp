// ingest_corpus (ingest.h): list, scan, dedup, split, then shards (shard_builder.cpp).
#include "data/ingest.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "core/atomic_file.h"
#include "core/hash.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "data/filters.h"
#include "data/ingest_internal.h"
#include "data/language.h"
#include "data/minhash.h"
#include "data/source.h"
#include "data/token_shard.h"

namespace flywheel {
namespace data {
namespace fs = std::filesystem;

void parallel_for(size_t count, int threads, const std::function<void(size_t index, int thread)>& fn) {
  const int n = std::max(1, std::min<int>(threads, static_cast<int>(std::max<size_t>(count, 1))));
  std::atomic<size_t> next{0};
  auto work = [&](int thread) {
    for (size_t i = next++; i < count; i = next++) fn(i, thread);
  };
  if (n == 1) {
    work(0);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(n - 1));
  for (int t = 1; t < n; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& t : pool) t.join();
}

int resolve_threads(int threads) {
  if (threads > 0) return threads;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

bool in_valid_split(const Sha256Digest& hash, double valid_fraction) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | hash[static_cast<size_t>(i)];
  // v / 2^64 < fraction, without rounding v through a double near 2^64.
  return static_cast<long double>(v) < static_cast<long double>(valid_fraction) * 18446744073709551616.0L;
}

namespace {

struct Scanned {
  std::string_view reason;  // "" when kept
  std::string language;
  Sha256Digest hash{};
  uint64_t bytes = 0;
  MinHashSignature signature;
};

nlohmann::json filter_json(const FilterOptions& f) {
  return {{"max_file_bytes", f.max_file_bytes},           {"max_line_bytes", f.max_line_bytes},
          {"max_mean_line_bytes", f.max_mean_line_bytes}, {"min_alphanumeric", f.min_alphanumeric},
          {"skip_generated", f.skip_generated},           {"keep_unknown_languages", f.keep_unknown_languages}};
}

nlohmann::json near_dedup_json(const NearDedupOptions& n) {
  return {{"enabled", n.enabled},
          {"shingle", n.shingle},
          {"permutations", n.permutations},
          {"bands", n.bands},
          {"threshold", n.threshold}};
}

// What shapes the output; a re-run must match it to resume.
nlohmann::json ingest_args(const IngestOptions& o, const std::vector<Source>& sources, const Tokenizer& tokenizer) {
  nlohmann::json src = nlohmann::json::array();
  for (const Source& s : sources)
    src.push_back({{"input", s.input}, {"path", s.path.string()}, {"kind", source_kind_name(s.kind)}});
  return {{"format", "flywheel-ingest"},
          {"version", 1},
          {"sources", src},
          {"revision", o.revision},
          {"history", o.history},
          {"valid_fraction", o.valid_fraction},
          {"shard_bytes", o.shard_bytes},
          {"filter", filter_json(o.filter)},
          {"near_dedup", near_dedup_json(o.near_dedup)},
          {"token_bytes", token_bytes_for_vocab(tokenizer.vocab_size())},
          {"tokenizer", {{"hash", tokenizer.content_hash()}, {"path", o.tokenizer_path.string()}}}};
}

// The keys whose values differ, ignoring what does not change the output.
std::vector<std::string> changed_args(const nlohmann::json& before, const nlohmann::json& now) {
  std::vector<std::string> changed;
  for (const auto& [key, value] : now.items()) {
    if (key == "tokenizer") continue;
    if (key == "sources") {
      auto paths = [](const nlohmann::json& list) {
        std::vector<std::string> out;
        if (list.is_array())
          for (const auto& s : list) out.push_back(s.value("kind", "") + ":" + s.value("path", ""));
        return out;
      };
      if (!before.contains(key) || paths(before[key]) != paths(value)) changed.push_back(key);
      continue;
    }
    if (!before.contains(key) || before[key] != value) changed.push_back(key);
  }
  return changed;
}

bool is_dataset_file(const std::string& name) {
  if (name == kManifestFileName || name == kIngestFileName) return true;
  if (is_atomic_temp_file_name(name)) return true;
  return parse_shard_file_name(name).has_value();
}

Status remove_dataset_files(const fs::path& out) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(out, ec)) {
    const std::string name = entry.path().filename().string();
    if (!is_dataset_file(name)) continue;
    fs::remove(entry.path(), ec);
    if (ec) return status_from_errno("cannot remove '" + entry.path().string() + "'", ec.value());
  }
  return Status::OK();
}

enum class OutState { kFresh, kResume, kComplete };

// Checks what OUT already holds against this run's arguments.
Result<OutState> check_out(const IngestOptions& o, const nlohmann::json& args, const Tokenizer& tokenizer) {
  const fs::path& out = o.out;
  std::error_code ec;
  if (!fs::exists(out, ec)) {
    FW_RETURN_IF_ERROR(default_file_system().create_directories(out));
    return OutState::kFresh;
  }
  if (!fs::is_directory(out, ec)) return Status::invalid_argument("--out '" + out.string() + "' is not a folder");
  if (o.overwrite) {
    FW_RETURN_IF_ERROR(remove_dataset_files(out));
    return OutState::kFresh;
  }
  const fs::path ingest_path = out / kIngestFileName;
  if (!fs::exists(ingest_path, ec)) {
    for (const auto& entry : fs::directory_iterator(out, ec)) {
      const std::string name = entry.path().filename().string();
      if (!is_atomic_temp_file_name(name))
        return Status::already_exists("--out '" + out.string() +
                                      "' is not empty and holds no flywheel ingest; choose a new or empty folder, "
                                      "or pass --overwrite to write the dataset into it anyway");
    }
    return OutState::kFresh;
  }
  FW_ASSIGN_OR_RETURN(std::string text, read_file(ingest_path));
  const nlohmann::json before = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (before.is_discarded() || !before.is_object())
    return Status::corruption("'" + ingest_path.string() + "' is not valid JSON; pass --overwrite to start over");
  const std::string before_hash = before.contains("tokenizer") ? before["tokenizer"].value("hash", "") : "";
  if (before_hash != tokenizer.content_hash()) {
    const std::string before_path = before.contains("tokenizer") ? before["tokenizer"].value("path", "") : "";
    return Status::invalid_argument(
        "--out '" + out.string() + "' holds a dataset made with tokenizer sha256:" + before_hash +
        (before_path.empty() ? "" : " (" + before_path + ")") + ", but --tokenizer '" + o.tokenizer_path.string() +
        "' is sha256:" + tokenizer.content_hash() +
        "; a dataset has one tokenizer: use the same tokenizer, another --out, or --overwrite to start over");
  }
  const auto changed = changed_args(before, args);
  if (!changed.empty()) {
    std::string list;
    for (const auto& c : changed) list += (list.empty() ? "" : ", ") + c;
    return Status::invalid_argument("--out '" + out.string() + "' holds an ingest made with other arguments (" + list +
                                    " differ); run the same command to resume it, choose another --out, or pass "
                                    "--overwrite to start over");
  }
  return fs::exists(out / kManifestFileName, ec) ? OutState::kComplete : OutState::kResume;
}

IngestStats stats_from_manifest(const nlohmann::json& m) {
  IngestStats s;
  const nlohmann::json st = m.value("stats", nlohmann::json::object());
  s.files_seen = st.value("files_seen", uint64_t{0});
  s.bytes_seen = st.value("bytes_seen", uint64_t{0});
  if (st.contains("skipped") && st["skipped"].is_object())
    for (const auto& [k, v] : st["skipped"].items()) s.skipped[k] = v.get<uint64_t>();
  const nlohmann::json splits = m.value("splits", nlohmann::json::object());
  const nlohmann::json train = splits.value("train", nlohmann::json::object());
  const nlohmann::json valid = splits.value("valid", nlohmann::json::object());
  s.train_documents = train.value("documents", uint64_t{0});
  s.train_tokens = train.value("tokens", uint64_t{0});
  s.valid_documents = valid.value("documents", uint64_t{0});
  s.valid_tokens = valid.value("tokens", uint64_t{0});
  s.documents = s.train_documents + s.valid_documents;
  s.tokens = s.train_tokens + s.valid_tokens;
  s.bytes = train.value("bytes", uint64_t{0}) + valid.value("bytes", uint64_t{0});
  s.up_to_date = true;
  return s;
}

Status validate(const IngestOptions& o) {
  if (o.sources.empty()) return Status::invalid_argument("no --source given: name folders, files or git repositories");
  if (o.out.empty()) return Status::invalid_argument("--out DATASET is required");
  if (!(o.valid_fraction >= 0.0 && o.valid_fraction < 1.0))
    return Status::invalid_argument("--valid-fraction must be in [0, 1), got " + std::to_string(o.valid_fraction));
  if (o.shard_bytes == 0) return Status::invalid_argument("--shard-bytes must be positive");
  const NearDedupOptions& n = o.near_dedup;
  if (n.enabled) {
    if (n.shingle < 1 || n.permutations < 1 || n.bands < 1 || n.bands > n.permutations || n.permutations % n.bands != 0)
      return Status::invalid_argument("near-dedup needs shingle >= 1 and bands dividing permutations, got shingle " +
                                      std::to_string(n.shingle) + ", " + std::to_string(n.permutations) +
                                      " permutations, " + std::to_string(n.bands) + " bands");
    if (!(n.threshold > 0.0 && n.threshold <= 1.0))
      return Status::invalid_argument("near-dedup threshold must be in (0, 1]");
  }
  return Status::OK();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

Result<IngestStats> ingest_corpus_impl(const IngestOptions& options, const Tokenizer& tokenizer) {
  const auto start = std::chrono::steady_clock::now();
  FW_RETURN_IF_ERROR(validate(options));
  FW_ASSIGN_OR_RETURN(std::vector<Source> sources, resolve_sources(options.sources, options.revision));
  const nlohmann::json args = ingest_args(options, sources, tokenizer);
  FW_ASSIGN_OR_RETURN(OutState state, check_out(options, args, tokenizer));
  if (state == OutState::kComplete) {
    auto dataset = Dataset::open(options.out);
    if (dataset.ok()) {
      IngestStats stats = stats_from_manifest(dataset->manifest());
      stats.seconds = seconds_since(start);
      return stats;
    }
    spdlog::warn("{}; building the dataset again", dataset.status().message());
  }
  if (state == OutState::kFresh)
    FW_RETURN_IF_ERROR(write_file_atomically(options.out / kIngestFileName, args.dump(2) + "\n"));
  const int threads = resolve_threads(options.threads);

  // 1. list
  IngestStats stats;
  std::vector<Candidate> candidates;
  ListingStats listing;
  FW_RETURN_IF_ERROR(list_candidates(sources, options.history, options.filter, candidates, listing));
  stats.files_seen = listing.files_seen;
  stats.skipped = listing.skipped;

  // 2. scan
  std::vector<Scanned> scanned(candidates.size());
  std::optional<ProgressBar> bar;
  if (options.show_progress) bar.emplace("scanning", candidates.size(), "files");
  std::vector<std::unique_ptr<SourceReader>> readers;
  for (int t = 0; t < threads; ++t) readers.push_back(std::make_unique<SourceReader>(sources));
  std::atomic<uint64_t> bytes_seen{0};
  std::mutex warn_mutex;
  int warnings = 0;
  parallel_for(candidates.size(), threads, [&](size_t i, int thread) {
    const Candidate& c = candidates[i];
    Scanned& s = scanned[i];
    std::string text;
    bool too_large = false;
    Status read = readers[static_cast<size_t>(thread)]->read(c, options.filter.max_file_bytes, text, &too_large);
    if (bar) bar->advance();
    if (!read.ok()) {
      s.reason = kSkipUnreadable;
      std::lock_guard lock(warn_mutex);
      if (warnings++ < 5) spdlog::warn("skipping an unreadable file: {}", read.message());
      return;
    }
    if (too_large) {
      s.reason = kSkipTooLarge;
      return;
    }
    bytes_seen += text.size();
    s.language = c.language;
    if (s.language.empty()) s.language = std::string(language_from_shebang(std::string_view(text).substr(0, 256)));
    if (s.language.empty()) {
      if (!options.filter.keep_unknown_languages) {
        s.reason = kSkipUnknownLanguage;
        return;
      }
      s.language = "unknown";
    }
    s.reason = content_skip_reason(text, s.language, options.filter);
    if (!s.reason.empty()) return;
    s.hash = sha256(text);
    s.bytes = text.size();
    if (options.near_dedup.enabled) s.signature = minhash_signature(text, options.near_dedup);
  });
  if (bar) bar->finish();
  bar.reset();
  readers.clear();
  stats.bytes_seen = bytes_seen;

  // 3. dedup and 4. split, in list order
  std::vector<PlannedDocument> planned;
  std::unordered_set<std::string> seen_hashes;
  LshIndex lsh(options.near_dedup);
  for (size_t i = 0; i < candidates.size(); ++i) {
    Scanned& s = scanned[i];
    if (!s.reason.empty()) {
      ++stats.skipped[std::string(s.reason)];
      continue;
    }
    if (!seen_hashes.insert(std::string(reinterpret_cast<const char*>(s.hash.data()), s.hash.size())).second) {
      ++stats.skipped[std::string(kSkipExactDuplicate)];
      continue;
    }
    if (options.near_dedup.enabled) {
      if (lsh.find(s.signature)) {
        ++stats.skipped[std::string(kSkipNearDuplicate)];
        continue;
      }
      lsh.insert(static_cast<uint32_t>(i), std::move(s.signature));
    }
    PlannedDocument d;
    d.candidate = static_cast<uint32_t>(i);
    d.hash = to_hex(std::string_view(reinterpret_cast<const char*>(s.hash.data()), s.hash.size()));
    d.language = std::move(s.language);
    d.bytes = s.bytes;
    d.valid = in_valid_split(s.hash, options.valid_fraction);
    planned.push_back(std::move(d));
  }
  scanned.clear();
  scanned.shrink_to_fit();
  stats.scan_seconds = seconds_since(start);
  if (planned.empty())
    return Status::invalid_argument("no documents left to ingest: " + std::to_string(stats.files_seen) +
                                    " files seen, all filtered out or duplicates (see the skipped counts with "
                                    "--json, or check the --source paths)");

  // 5. shards and manifest
  const auto shard_start = std::chrono::steady_clock::now();
  ShardJob job{options, tokenizer, sources, candidates, planned, args, threads};
  FW_RETURN_IF_ERROR(build_shards_and_manifest(job, stats));
  stats.tokenize_seconds = seconds_since(shard_start);
  stats.seconds = seconds_since(start);
  return stats;
}

}  // namespace data

Result<IngestStats> ingest_corpus(const IngestOptions& options, const Tokenizer& tokenizer) {
  return data::ingest_corpus_impl(options, tokenizer);
}

}  // namespace flywheel
