// Learning-rate schedules: linear warmup, then cosine or linear decay to a
// floor. Pure functions of the step, so a resumed run follows the same curve.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace flywheel::train {

struct LrSchedule {
  double peak = 1e-3;
  double floor = 1e-4;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  std::string shape = "cosine";  // cosine | linear | constant

  Status validate() const;
  // The rate for optimizer step `step` (0-based).
  double at(int64_t step) const;
};

}  // namespace flywheel::train
