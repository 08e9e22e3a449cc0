// Advantages for the policy-gradient mode (learn.h, pg), fixed once when the
// rewards file is read:
//   - rows sharing a group with n >= 2 members (several samples at one cursor
//     point): A = (r - mean) / (std + eps), std unbiased (n - 1), eps = 1e-4,
//     GRPO's group normalization (Shao et al. 2024, as TRL computes it);
//   - a row alone in its group: A = r - b, where b is the mean reward of the
//     lone rows before it in file order (0 for the first): a running-mean
//     baseline that needs no state, so resumed runs see the same values.
// Thread-safety: pure function.
#pragma once

#include <string>
#include <vector>

namespace flywheel::learn {

inline constexpr double kGroupStdEps = 1e-4;

// `rewards[i]` and `groups[i]` belong to row i (file order).
std::vector<double> compute_advantages(const std::vector<double>& rewards, const std::vector<std::string>& groups);

}  // namespace flywheel::learn
