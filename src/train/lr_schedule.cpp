#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace flywheel::train {

Status LrSchedule::validate() const {
  if (shape != "cosine" && shape != "linear" && shape != "constant")
    return Status::invalid_argument("unknown schedule '" + shape + "' (cosine, linear, constant)");
  if (peak <= 0) return Status::invalid_argument("lr must be positive");
  if (floor < 0 || floor > peak) return Status::invalid_argument("min_lr must be between 0 and lr");
  if (warmup_steps < 0 || total_steps < 1) return Status::invalid_argument("warmup and steps must be non-negative");
  return Status::OK();
}

double LrSchedule::at(int64_t step) const {
  if (step < warmup_steps) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  if (shape == "constant") return peak;
  const int64_t decay_steps = std::max<int64_t>(1, total_steps - warmup_steps);
  const double progress = std::clamp(static_cast<double>(step - warmup_steps) / static_cast<double>(decay_steps), 0.0, 1.0);
  const double factor = shape == "cosine" ? 0.5 * (1 + std::cos(M_PI * progress)) : 1 - progress;
  return floor + (peak - floor) * factor;
}

}  // namespace flywheel::train
