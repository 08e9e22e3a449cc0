// compare_reports: the judge of issue 7's cycle (candidate vs the serving
// model on the same held-out replay).
#include <unordered_map>

#include "eval/bootstrap.h"
#include "eval/replay.h"

namespace flywheel::eval {
Result<ReportComparison> compare_reports(const ReplayReport& candidate, const ReplayReport& baseline,
                                         ReplayMetric metric, int resamples, uint64_t seed) {
  // Pairs by hunk id: the two runs typed the same hunks, each along its own
  // path (accepts move the cursor differently), so the hunk is the unit of
  // pairing; the bootstrap resamples the paired hunks' commits.
  std::unordered_map<std::string, const HunkRecord*> base;
  for (const HunkRecord& h : baseline.hunks) base.emplace(h.id, &h);
  std::vector<const HunkRecord*> c, b;
  for (const HunkRecord& h : candidate.hunks) {
    auto it = base.find(h.id);
    if (it == base.end()) continue;
    c.push_back(&h);
    b.push_back(it->second);
  }
  if (c.empty())
    return Status::invalid_argument("the reports share no replayed hunk (replay the same range with the same seed)");
  ReportComparison out;
  out.metric = metric;
  out.paired_hunks = static_cast<int64_t>(c.size());
  out.resamples = resamples;
  // The same hunks in the same order on both sides: their commits line up.
  const std::vector<ReplayCounts> c_commits = commit_sums(c), b_commits = commit_sums(b);
  out.paired_commits = static_cast<int64_t>(c_commits.size());
  ReplayCounts c_total, b_total;
  std::vector<const ReplayCounts*> c_clusters, b_clusters;
  for (size_t i = 0; i < c_commits.size(); ++i) {
    c_total.add(c_commits[i]);
    b_total.add(b_commits[i]);
    c_clusters.push_back(&c_commits[i]);
    b_clusters.push_back(&b_commits[i]);
  }
  const auto rate = [metric](const ReplayCounts& counts) {
    const auto [num, den] = metric_fraction(counts, metric);
    return den == 0 ? 0.0 : static_cast<double>(num) / static_cast<double>(den);
  };
  out.candidate = rate(c_total);
  out.baseline = rate(b_total);
  const PairedEstimate paired = paired_bootstrap(c_clusters, b_clusters, metric, resamples, seed);
  out.difference = paired.difference;
  if (paired.relative_defined) out.relative_gain = paired.relative_gain;
  return out;
}

}  // namespace flywheel::eval
