// Global gradient-norm clipping for one optimizer step.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace flywheel::train {

// Scales the gradients so their global L2 norm is at most `clip` (0: no
// clipping) and returns the norm before clipping (NaN/inf when a gradient
// is, which train/divergence.h then reports).
double clip_gradients(std::vector<torch::Tensor> parameters, double clip);

}  // namespace flywheel::train
