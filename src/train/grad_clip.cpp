#include "train/grad_clip.h"

#include <limits>

namespace flywheel::train {

double clip_gradients(std::vector<torch::Tensor> parameters, double clip) {
  return torch::nn::utils::clip_grad_norm_(parameters, clip > 0 ? clip : std::numeric_limits<double>::infinity());
}

}  // namespace flywheel::train
