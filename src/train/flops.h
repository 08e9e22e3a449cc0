// Model FLOPs for MFU: the training cost per token (6 x parameters in the
// matmuls plus attention, as in the PaLM paper's appendix) and the machine's
// fp32 matmul peak measured by a short sgemm probe.
#pragma once

#include <cstdint>

#include "model/config.h"

namespace flywheel::train {

// Forward + backward FLOPs per trained token at sequence length `seq_len`.
double training_flops_per_token(const ModelConfig& config, int64_t seq_len);

// FLOP/s of a square fp32 torch::mm at the current thread count (best of a
// few runs; about 0.2 s).
double measure_sgemm_peak();

}  // namespace flywheel::train
