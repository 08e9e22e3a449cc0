#include "learn/advantages.h"

#include <cmath>
#include <unordered_map>

namespace flywheel::learn {

std::vector<double> compute_advantages(const std::vector<double>& rewards, const std::vector<std::string>& groups) {
  std::unordered_map<std::string, std::vector<size_t>> members;
  for (size_t i = 0; i < groups.size(); ++i) members[groups[i]].push_back(i);
  std::vector<double> advantages(rewards.size(), 0.0);
  double lone_sum = 0;
  int64_t lone_count = 0;
  for (size_t i = 0; i < rewards.size(); ++i) {
    const std::vector<size_t>& group = members[groups[i]];
    if (group.size() == 1) {
      const double baseline = lone_count > 0 ? lone_sum / static_cast<double>(lone_count) : 0.0;
      advantages[i] = rewards[i] - baseline;
      lone_sum += rewards[i];
      ++lone_count;
      continue;
    }
    double mean = 0;
    for (size_t j : group) mean += rewards[j];
    mean /= static_cast<double>(group.size());
    double squares = 0;
    for (size_t j : group) squares += (rewards[j] - mean) * (rewards[j] - mean);
    const double std = std::sqrt(squares / static_cast<double>(group.size() - 1));
    advantages[i] = (rewards[i] - mean) / (std + kGroupStdEps);
  }
  return advantages;
}

}  // namespace flywheel::learn
