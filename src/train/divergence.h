// Stops a run whose loss or gradient norm is not finite (NaN or inf) before
// the optimizer applies that step, so the weights in memory and on disk stay
// those of the last good step; the error names the last good checkpoint.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <filesystem>

#include "core/status.h"

namespace flywheel::train {

// OK when both are finite; else kInternal "training diverged: loss nan
// (grad norm ...) at step N; nothing was saved for this step; the last good
// checkpoint is <last_good>" (or "none was written yet").
Status check_divergence(double loss, double grad_norm, int64_t step, const std::filesystem::path& last_good);

// Whether `status` is check_divergence's error (also after with_context).
bool is_divergence(const Status& status);

}  // namespace flywheel::train
