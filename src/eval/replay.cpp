// run_replay: the hunks of a range, typed in parallel by simulated
// developers, merged into one report in replay order.
#include "eval/replay.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <thread>

#include "core/hash.h"
#include "core/progress.h"
#include "data/rng.h"
#include "eval/bootstrap.h"
#include "eval/history.h"
#include "eval/typing.h"

namespace flywheel::eval {
namespace {

std::string new_run_id() {
  std::random_device device;
  const uint64_t random = (static_cast<uint64_t>(device()) << 32) ^ device();
  const std::string bytes(reinterpret_cast<const char*>(&random), sizeof(random));
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return "replay-" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now).count()) + "-" +
         to_hex(bytes).substr(0, 8);
}

// The replay order: a permutation of the hunks fixed by the seed, so that
// --max-hunks and --max-suggestions take a sample spread over the range.
std::vector<size_t> replay_order(size_t n, uint64_t seed) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  data::Rng rng(data::stream_seed({seed, 0x4F52444552 /* "ORDER" */}));
  for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  return order;
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

// The workers' shared state. Hunk i is kept when every hunk before it in
// the replay order is kept and their requests stay under the cap, so the
// result is the same for any number of threads.
class Scheduler {
 public:
  Scheduler(size_t hunks, int64_t max_requests) : results_(hunks), limit_(hunks), max_requests_(max_requests) {}

  std::optional<size_t> next() {
    // Hunks finished out of order already hold the cap's worth of requests:
    // the kept prefix lies among the hunks handed out, so none is started.
    if (enough_.load()) return std::nullopt;
    const size_t i = next_.fetch_add(1);
    if (!wanted(i)) return std::nullopt;
    return i;
  }

  bool wanted(size_t i) const { return i < limit_.load(); }

  // Returns how many requests the kept prefix gained (for the progress bar).
  int64_t finish(size_t i, HunkSession session) {
    std::lock_guard lock(mutex_);
    finished_requests_ += session.counts.requests;
    if (max_requests_ > 0 && finished_requests_ >= max_requests_) enough_.store(true);
    results_[i] = std::move(session);
    int64_t gained = 0;
    while (done_ < limit_.load() && results_[done_]) {
      gained += results_[done_]->counts.requests;
      requests_ += results_[done_]->counts.requests;
      ++done_;
      if (max_requests_ > 0 && requests_ >= max_requests_) limit_.store(done_);
    }
    return gained;
  }

  void fail(Status status) {
    std::lock_guard lock(mutex_);
    if (error_.ok()) error_ = std::move(status);
    limit_.store(0);
  }

  Status error() const { return error_; }
  // The kept sessions, in replay order.
  std::vector<HunkSession> take() {
    std::vector<HunkSession> kept;
    for (size_t i = 0; i < done_; ++i) kept.push_back(std::move(*results_[i]));
    return kept;
  }

 private:
  std::mutex mutex_;
  std::vector<std::optional<HunkSession>> results_;
  std::atomic<size_t> next_{0};
  std::atomic<size_t> limit_;
  size_t done_ = 0;
  int64_t requests_ = 0;
  int64_t finished_requests_ = 0;  // of every finished hunk, kept or not yet
  std::atomic<bool> enough_{false};
  const int64_t max_requests_;
  Status error_;
};

}  // namespace

Result<ReplayReport> run_replay(const ReplayOptions& options, const BackendFactory& backend) {
  if (options.threads < 1) return Status::invalid_argument("--threads must be at least 1");
  if (options.max_hunk_lines < 1) return Status::invalid_argument("max_hunk_lines must be at least 1");
  if (options.bootstrap_resamples < 0) return Status::invalid_argument("bootstrap resamples must be >= 0");
  if (options.skip_hunks < 0) return Status::invalid_argument("skip_hunks must be >= 0");
  const auto started = std::chrono::steady_clock::now();
  FW_ASSIGN_OR_RETURN(History history,
                      read_history(options.repo, {options.range, options.max_file_bytes, options.max_hunk_lines}));

  std::vector<size_t> order = replay_order(history.hunks.size(), options.seed);
  if (options.skip_hunks > 0)
    order.erase(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(
                                                   order.size(), static_cast<size_t>(options.skip_hunks))));
  if (options.max_hunks > 0 && order.size() > static_cast<size_t>(options.max_hunks))
    order.resize(static_cast<size_t>(options.max_hunks));
  const SessionContext context{options.seed, options.run_id.empty() ? new_run_id() : options.run_id, history.repo_name};

  Scheduler scheduler(order.size(), options.max_suggestions);
  std::optional<ProgressBar> progress;
  const bool by_requests = options.max_suggestions > 0;
  if (options.show_progress)
    progress.emplace("replay", by_requests ? static_cast<uint64_t>(options.max_suggestions) : order.size(),
                     by_requests ? "requests" : "hunks");
  const auto work = [&] {
    auto made = backend();
    if (!made.ok()) return scheduler.fail(made.status());
    CompletionBackend& worker_backend = **made;
    while (auto i = scheduler.next()) {
      // A hunk past the cap (reached meanwhile by earlier hunks) is dropped
      // at its next request rather than typed to the end.
      auto session = type_hunk(history.hunks[order[*i]], worker_backend, context,
                               [&scheduler, i = *i] { return !scheduler.wanted(i); });
      if (!session.ok() && !scheduler.wanted(*i)) continue;
      if (!session.ok()) return scheduler.fail(session.status().with_context("hunk " + history.hunks[order[*i]].id));
      const int64_t gained = scheduler.finish(*i, std::move(*session));
      if (progress) progress->advance(by_requests ? static_cast<uint64_t>(gained) : 1);
    }
  };
  const size_t workers = std::min<size_t>(static_cast<size_t>(options.threads), std::max<size_t>(order.size(), 1));
  std::vector<std::thread> threads;
  for (size_t w = 1; w < workers; ++w) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  if (progress) progress->finish();
  FW_RETURN_IF_ERROR(scheduler.error());
  std::vector<HunkSession> sessions = scheduler.take();

  ReplayReport report;
  report.repo = history.repo_name;
  report.range = options.range;
  report.backend = options.backend_name;
  report.run_id = context.session;
  report.seed = options.seed;
  report.bootstrap_resamples = options.bootstrap_resamples;
  report.commits = history.commits;
  report.files = history.files;
  report.renamed_files = history.renamed_files;
  report.hunks_available = static_cast<int64_t>(history.hunks.size());
  report.skipped = history.skipped;
  std::vector<double> latencies;
  for (size_t i = 0; i < sessions.size(); ++i) {
    const ReplayHunk& hunk = history.hunks[order[i]];
    report.hunks.push_back({hunk.id, hunk.commit, hunk.path, hunk.language, sessions[i].counts});
    latencies.insert(latencies.end(), sessions[i].latencies_ms.begin(), sessions[i].latencies_ms.end());
  }
  // Intervals resample commits (bootstrap.h): the clusters of all hunks, and
  // of each language's.
  const auto rates_of = [&](const std::vector<const HunkRecord*>& hunks) {
    const std::vector<ReplayCounts> sums = commit_sums(hunks);
    std::vector<const ReplayCounts*> clusters;
    for (const ReplayCounts& s : sums) clusters.push_back(&s);
    return estimate_rates(clusters, options.bootstrap_resamples, options.seed);
  };
  std::vector<const HunkRecord*> all;
  std::map<std::string, std::vector<const HunkRecord*>> by_language;
  for (const HunkRecord& h : report.hunks) {
    report.totals.add(h.counts);
    all.push_back(&h);
    by_language[h.language].push_back(&h);
  }
  report.rates = rates_of(all);
  for (const auto& [language, hunks] : by_language) {
    LanguageReport l{language, {}, rates_of(hunks)};
    for (const HunkRecord* h : hunks) l.counts.add(h->counts);
    report.languages.push_back(std::move(l));
  }
  std::stable_sort(
      report.languages.begin(), report.languages.end(),
      [](const LanguageReport& a, const LanguageReport& b) { return a.counts.requests > b.counts.requests; });
  if (!latencies.empty()) {
    report.latency_mean_ms =
        std::accumulate(latencies.begin(), latencies.end(), 0.0) / static_cast<double>(latencies.size());
    std::sort(latencies.begin(), latencies.end());
    report.latency_p50_ms = percentile(latencies, 0.50);
    report.latency_p99_ms = percentile(latencies, 0.99);
  }
  report.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace flywheel::eval
