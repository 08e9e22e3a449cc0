// The eval module's public API: replay of a git repository's history as
// simulated developers typing it (DESIGN.md "Replay: git history as
// developers"), the report it makes, and the comparison of two reports that
// decides a promotion. The rules (trigger points, the whitespace rule,
// partial accepts, characters saved, the bootstrap) are in docs/replay.md.
//
//   run_replay()        commits of a range -> added hunks -> typing sessions -> ReplayReport
//   CompletionBackend   where suggestions come from: a model in this process
//                       (model_backend_factory) or a running `flywheel serve`
//                       (server_backend_factory); tests script their own
//   compare_reports()   candidate vs baseline on the same replay set, paired bootstrap
//
// Everything else in src/eval/ is private to the module.
//
// Thread-safety: run_replay calls the BackendFactory once per worker thread
// (concurrently) and uses each backend from its own thread only. Reports are
// plain values.
// Errors: Status values: a path that is not a git repository, a repository
// without commits, a range that does not resolve or selects nothing, a
// backend that fails (the first failure stops the replay).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace flywheel::feedback {
class EventWriter;
}

namespace flywheel::eval {

// One completion request at a trigger point of a simulated session.
struct CompletionQuery {
  std::string prefix, suffix;  // file text before / after the cursor
  std::string path, language, repo;
  int64_t cursor = 0;        // byte offset of the cursor in the file (prefix.size())
  bool single_line = false;  // mid-line cursor: stop at the first newline after text (docs/replay.md)
  uint64_t seed = 0;         // sampling seed of this request (from the replay seed, hunk and position)
  std::string session;       // the replay run's id
  std::string request_key;   // unique within a run and deterministic ("<hunk id>@<offset>")
};

struct Completion {
  std::string text;  // "" means nothing to show
  double latency_ms = 0;
  std::string id;  // the suggestion's id in the event store (server's "cmpl-..." or made locally)
};

enum class SuggestionOutcome { kNotShown, kAccepted, kPartiallyAccepted, kRejected };

// "not_shown", "accepted", "partially_accepted", "rejected" (the feedback API's kind names).
std::string_view suggestion_outcome_name(SuggestionOutcome outcome);

// What the simulated developer did with a shown suggestion.
struct OutcomeReport {
  SuggestionOutcome outcome = SuggestionOutcome::kRejected;
  int64_t accepted_length = 0;  // bytes of the suggestion kept
  std::string final_text;       // what the developer actually typed over the suggestion's lines
};

class CompletionBackend {
 public:
  virtual ~CompletionBackend() = default;
  virtual Result<Completion> complete(const CompletionQuery& query) = 0;
  // Called once per shown suggestion (never for an empty one) after it was judged.
  virtual Status report_outcome(const CompletionQuery& query, const Completion& completion,
                                const OutcomeReport& outcome) = 0;
};

// Makes the backend of one worker thread; called concurrently from the workers.
using BackendFactory = std::function<Result<std::unique_ptr<CompletionBackend>>()>;

// Generation settings shared by both backends.
struct GenerationOptions {
  int max_tokens = 64;
  float temperature = 0.0f;  // 0: greedy (then the seed does not matter)
  // End a suggestion before its first token below this probability (an
  // empty one is not shown); 0: off. SamplingParams::min_token_prob.
  float min_token_prob = 0.0f;
  // Withhold a suggestion when the model's show head puts P(accept) below
  // this (SamplingParams::min_show_prob); 0 or a model without a head: off.
  float min_show_prob = 0.0f;
};

// A checkpoint run in this process: build_fim_prompt + generate(). The
// prompt keeps the text nearest the cursor (3/4 of the room for the prefix,
// 1/4 for the suffix) when the file does not fit the context.
struct ModelBackendOptions {
  std::filesystem::path model_dir;
  GenerationOptions generation;
  bool bf16 = false;
  // true: one Model per worker, each loaded on its worker's thread with
  // `threads_per_model` libtorch threads (an OpenMP per-thread setting).
  // false: one shared Model, calls serialized by a mutex (threads_per_model
  // then applies to the calling thread; 0 = all cores).
  bool model_per_worker = true;
  int threads_per_model = 1;
};

// Loads the model once now (so a bad directory fails before any work) and
// returns a factory that hands out backends over it (shared) or over a copy
// loaded per worker.
// Each backend makes completion ids "<session>-<request_key>".
Result<BackendFactory> model_backend_factory(const ModelBackendOptions& options);

// A running `flywheel serve`: POST /v1/completions with the "flywheel"
// event context (source "replay"), then POST /v1/feedback with the outcome.
struct ServerBackendOptions {
  std::string url;      // "http://host:port" (or https://)
  std::string api_key;  // sent as "Authorization: Bearer ..." when set
  std::string model = "auto";
  GenerationOptions generation;
  double timeout_seconds = 120;
};

// Checks the URL's form; a server that is down shows at the first request.
Result<BackendFactory> server_backend_factory(const ServerBackendOptions& options);

// Wraps each backend `inner` makes so that every suggestion (empty ones too)
// and every outcome is also written to the event store through `writer`,
// with source "replay" and the query's session: what a server does for
// --server. `model_id` names the checkpoint in the events. Suggestions are
// recorded as they come (committed within the writer's delay); call
// writer->flush() after the replay.
BackendFactory recording_backend_factory(BackendFactory inner, std::shared_ptr<feedback::EventWriter> writer,
                                         std::string model_id);

struct ReplayOptions {
  std::filesystem::path repo;
  // "OLDER..NEWER" (OLDER excluded), or one revision: its whole first-parent history.
  std::string range;
  uint64_t seed = 0;
  int threads = 1;                    // workers over hunks
  int64_t skip_hunks = 0;             // the first N of the seeded order are left out (a second, disjoint sample)
  int64_t max_hunks = 0;              // 0: all (hunks are taken in the seeded order, after skip_hunks)
  int64_t max_suggestions = 0;        // requests, in whole hunks; 0: no limit
  uint64_t max_file_bytes = 1 << 20;  // larger files are skipped ("too_large")
  int max_hunk_lines = 10;            // longer added blocks are typed in pieces of this many lines
  int bootstrap_resamples = 1000;
  std::string run_id;        // the session of the events; "" = "replay-<time>-<random>"
  std::string backend_name;  // for the report ("model:DIR", "server:URL")
  bool show_progress = true;
};

// Sums over suggestions (or over the hunks of a language, or one hunk).
struct ReplayCounts {
  int64_t hunks = 0;
  int64_t requests = 0;
  int64_t shown = 0;  // non-empty suggestions
  int64_t accepted = 0, partially_accepted = 0, rejected = 0;
  int64_t suggested_chars = 0;  // bytes of shown suggestions (trailing whitespace trimmed)
  int64_t accepted_chars = 0;   // bytes kept: whole accepted suggestions plus the kept part of partial ones
  int64_t typed_chars = 0;      // bytes of the added text (what the developer had to produce)
  int64_t chars_saved = 0;      // keystrokes saved: accepted_chars less one accept key per kept suggestion
  int64_t exact_lines = 0;      // shown suggestions whose first line equals the developer's line

  void add(const ReplayCounts& other);
};

enum class ReplayMetric {
  kAcceptance,      // accepted / shown
  kCharAcceptance,  // accepted_chars / suggested_chars
  kCharsSaved,      // chars_saved / typed_chars
  kExactLine,       // exact_lines / shown
};
std::string_view replay_metric_name(ReplayMetric metric);  // "acceptance_rate", ...
Result<ReplayMetric> replay_metric_from_name(std::string_view name);
// The metric's (numerator, denominator) in `counts`.
std::pair<int64_t, int64_t> metric_fraction(const ReplayCounts& counts, ReplayMetric metric);

// A rate and its bootstrap 95% interval (percentile method; commits resampled
// as clusters). All 0 when the denominator is 0.
struct RateEstimate {
  double value = 0, low = 0, high = 0;
};

struct ReplayRates {
  RateEstimate acceptance, char_acceptance, chars_saved, exact_line;
  const RateEstimate& get(ReplayMetric metric) const;
};

struct LanguageReport {
  std::string language;  // "" grouped as "unknown"
  ReplayCounts counts;
  ReplayRates rates;
};

// One replayed hunk: the unit of pairing two reports (the bootstrap resamples
// their commits).
struct HunkRecord {
  std::string id;  // "<commit>:<path>:<block>.<piece>", stable for a repository
  std::string commit, path, language;
  ReplayCounts counts;
};

struct ReplayReport {
  std::string repo, range, backend, run_id;
  uint64_t seed = 0;
  int bootstrap_resamples = 0;
  int64_t commits = 0;
  int64_t files = 0;          // changed files looked at
  int64_t renamed_files = 0;  // renames (replayed against the old path's text)
  int64_t hunks_available = 0;
  std::map<std::string, int64_t> skipped;  // files: binary, too_large, deleted, not_a_file; hunks: no_trigger
  ReplayCounts totals;
  ReplayRates rates;
  double latency_p50_ms = 0, latency_p99_ms = 0, latency_mean_ms = 0;
  std::vector<LanguageReport> languages;  // most requests first
  std::vector<HunkRecord> hunks;          // in replay order
  double wall_seconds = 0;
};

Result<ReplayReport> run_replay(const ReplayOptions& options, const BackendFactory& backend);

nlohmann::json report_to_json(const ReplayReport& report);
Result<ReplayReport> report_from_json(const nlohmann::json& json);
// Written atomically (core/atomic_file.h), pretty-printed.
Status write_report(const std::filesystem::path& path, const ReplayReport& report);
Result<ReplayReport> read_report(const std::filesystem::path& path);
// The table `flywheel replay` prints: totals, rates with intervals, latency, per language.
std::string format_report_table(const ReplayReport& report);

// Candidate against baseline on the hunks both reports replayed (matched by
// id): the metric of each and its difference, with a paired bootstrap 95%
// interval (the same commits resampled for both, `resamples` times, seeded).
struct ReportComparison {
  ReplayMetric metric = ReplayMetric::kAcceptance;
  int64_t paired_hunks = 0;
  int64_t paired_commits = 0;  // the bootstrap's clusters: under 2, the interval is only the point
  double baseline = 0, candidate = 0;
  RateEstimate difference;                    // candidate - baseline
  std::optional<RateEstimate> relative_gain;  // candidate / baseline - 1; unset when the baseline is 0
  int resamples = 0;
};

// Errors: invalid_argument when the reports share no hunk.
Result<ReportComparison> compare_reports(const ReplayReport& candidate, const ReplayReport& baseline,
                                         ReplayMetric metric = ReplayMetric::kAcceptance, int resamples = 1000,
                                         uint64_t seed = 0);
nlohmann::json comparison_to_json(const ReportComparison& comparison);

}  // namespace flywheel::eval
