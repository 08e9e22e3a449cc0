#include "train/divergence.h"

#include <cmath>
#include <string>

namespace flywheel::train {
namespace {
constexpr const char* kDiverged = "training diverged: ";
}  // namespace

Status check_divergence(double loss, double grad_norm, int64_t step, const std::filesystem::path& last_good) {
  if (std::isfinite(loss) && std::isfinite(grad_norm)) return Status::OK();
  return Status::internal(
      std::string(kDiverged) + "loss " + std::to_string(loss) + ", gradient norm " + std::to_string(grad_norm) +
      " at step " + std::to_string(step + 1) +
      "; the step was not applied and nothing was saved for it; the last good checkpoint is " +
      (last_good.empty() ? std::string("none (no checkpoint was written yet)") : last_good.string()));
}

bool is_divergence(const Status& status) {
  return status.code() == StatusCode::kInternal && status.message().find(kDiverged) != std::string::npos;
}

}  // namespace flywheel::train
