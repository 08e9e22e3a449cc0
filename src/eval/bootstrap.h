// Bootstrap confidence intervals over clusters (the commits of a replay):
// each resample draws as many clusters as there are, with replacement, and
// recomputes each rate as a ratio of sums. Percentile method, 95%. Private
// to the eval module; docs/replay.md says why commits are the clusters.
//
// Thread-safety: pure functions. Deterministic for a seed on every platform
// (data/rng.h's generator, no std distributions).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "eval/replay.h"

namespace flywheel::eval {

// The clusters of a replay: the counts of each commit's hunks summed, in the
// order the commits first appear. Hunks of one commit are not independent
// (one author, one change: they succeed or fail together), so resampling
// them one by one would make the interval too narrow.
std::vector<ReplayCounts> commit_sums(std::span<const HunkRecord* const> hunks);

// The rates of the sum of `clusters`, each with its interval.
ReplayRates estimate_rates(std::span<const ReplayCounts* const> clusters, int resamples, uint64_t seed);

// The q-quantile (0..1) of `values` by linear interpolation between order
// statistics; 0 for an empty vector. Sorts `values`.
double quantile(std::vector<double>& values, double q);

// Paired: the same resampled clusters for both sides (candidate[i] and
// baseline[i] are the same cluster).
struct PairedEstimate {
  RateEstimate difference;
  RateEstimate relative_gain;
  bool relative_defined = false;  // the baseline's rate is not 0
};
PairedEstimate paired_bootstrap(std::span<const ReplayCounts* const> candidate,
                                std::span<const ReplayCounts* const> baseline, ReplayMetric metric, int resamples,
                                uint64_t seed);

}  // namespace flywheel::eval
