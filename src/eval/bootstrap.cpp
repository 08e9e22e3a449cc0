#include "eval/bootstrap.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <unordered_map>

#include "data/rng.h"

namespace flywheel::eval {
namespace {

constexpr std::array kMetrics = {ReplayMetric::kAcceptance, ReplayMetric::kCharAcceptance, ReplayMetric::kCharsSaved,
                                 ReplayMetric::kExactLine};
constexpr double kLow = 0.025, kHigh = 0.975;

double ratio(int64_t numerator, int64_t denominator) {
  return denominator == 0 ? std::nan("") : static_cast<double>(numerator) / static_cast<double>(denominator);
}

// Point value and percentile interval; resamples where the rate is undefined
// (a zero denominator) are left out.
RateEstimate summarize(double value, std::vector<double>& draws) {
  RateEstimate e;
  if (std::isnan(value)) return e;
  e.value = e.low = e.high = value;
  std::erase_if(draws, [](double d) { return std::isnan(d); });
  if (draws.empty()) return e;
  e.low = quantile(draws, kLow);
  e.high = quantile(draws, kHigh);
  return e;
}

}  // namespace

std::vector<ReplayCounts> commit_sums(std::span<const HunkRecord* const> hunks) {
  std::vector<ReplayCounts> sums;
  std::unordered_map<std::string_view, size_t> index;
  for (const HunkRecord* h : hunks) {
    const auto [it, added] = index.try_emplace(h->commit, sums.size());
    if (added) sums.emplace_back();
    sums[it->second].add(h->counts);
  }
  return sums;
}

double quantile(std::vector<double>& values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double position = q * static_cast<double>(values.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(position));
  const size_t above = std::min(below + 1, values.size() - 1);
  const double weight = position - static_cast<double>(below);
  return values[below] * (1 - weight) + values[above] * weight;
}

ReplayRates estimate_rates(std::span<const ReplayCounts* const> hunks, int resamples, uint64_t seed) {
  ReplayCounts total;
  for (const ReplayCounts* h : hunks) total.add(*h);
  std::array<std::vector<double>, kMetrics.size()> draws;
  data::Rng rng(data::stream_seed({seed, 0x424F4F54 /* "BOOT" */}));
  for (int r = 0; r < resamples && !hunks.empty(); ++r) {
    std::array<std::pair<int64_t, int64_t>, kMetrics.size()> sums{};
    for (size_t i = 0; i < hunks.size(); ++i) {
      const ReplayCounts& h = *hunks[rng.below(hunks.size())];
      for (size_t m = 0; m < kMetrics.size(); ++m) {
        const auto [num, den] = metric_fraction(h, kMetrics[m]);
        sums[m].first += num;
        sums[m].second += den;
      }
    }
    for (size_t m = 0; m < kMetrics.size(); ++m) draws[m].push_back(ratio(sums[m].first, sums[m].second));
  }
  ReplayRates rates;
  RateEstimate* out[] = {&rates.acceptance, &rates.char_acceptance, &rates.chars_saved, &rates.exact_line};
  for (size_t m = 0; m < kMetrics.size(); ++m) {
    const auto [num, den] = metric_fraction(total, kMetrics[m]);
    *out[m] = summarize(ratio(num, den), draws[m]);
  }
  return rates;
}

PairedEstimate paired_bootstrap(std::span<const ReplayCounts* const> candidate,
                                std::span<const ReplayCounts* const> baseline, ReplayMetric metric, int resamples,
                                uint64_t seed) {
  const size_t n = std::min(candidate.size(), baseline.size());
  const auto rates_of = [&](auto&& pick) {
    int64_t cn = 0, cd = 0, bn = 0, bd = 0;
    for (size_t i = 0; i < n; ++i) {
      const size_t k = pick(i);
      const auto [c_num, c_den] = metric_fraction(*candidate[k], metric);
      const auto [b_num, b_den] = metric_fraction(*baseline[k], metric);
      cn += c_num, cd += c_den, bn += b_num, bd += b_den;
    }
    return std::pair{ratio(cn, cd), ratio(bn, bd)};
  };
  const auto [c, b] = rates_of([](size_t i) { return i; });
  std::vector<double> differences, gains;
  data::Rng rng(data::stream_seed({seed, 0x50414952 /* "PAIR" */}));
  for (int r = 0; r < resamples && n > 0; ++r) {
    const auto [rc, rb] = rates_of([&](size_t) { return static_cast<size_t>(rng.below(n)); });
    differences.push_back(rc - rb);
    gains.push_back(rb == 0 ? std::nan("") : rc / rb - 1);
  }
  PairedEstimate e;
  e.difference = summarize(std::isnan(c) || std::isnan(b) ? std::nan("") : c - b, differences);
  e.relative_defined = !std::isnan(c) && !std::isnan(b) && b != 0;
  if (e.relative_defined) e.relative_gain = summarize(c / b - 1, gains);
  return e;
}

}  // namespace flywheel::eval
