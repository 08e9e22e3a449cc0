// AdamW with decoupled weight decay (Loshchilov & Hutter), step for step the
// arithmetic of torch.optim.AdamW, with its state exposed as named tensors so
// a checkpoint resumes exactly. Weight decay applies to matrices only: not to
// norms, biases or embeddings.
//
// Thread-safety: one trainer thread.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace flywheel::train {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
};

class AdamW {
 public:
  // `named` are the module's named parameters; names decide weight decay.
  AdamW(std::vector<std::pair<std::string, torch::Tensor>> named, AdamWOptions options);

  // One update at learning rate `lr` with the gradients in .grad().
  void step(double lr);
  int64_t steps() const { return step_; }

  // "exp_avg.<name>" and "exp_avg_sq.<name>" for every parameter.
  std::vector<std::pair<std::string, torch::Tensor>> state_tensors() const;
  // Restores from state_tensors() and the step count; errors name a missing or
  // mis-shaped tensor.
  Status load_state(const std::map<std::string, torch::Tensor>& tensors, int64_t step);

  static bool decays(const std::string& name, const torch::Tensor& param);

 private:
  struct Slot {
    std::string name;
    torch::Tensor param, exp_avg, exp_avg_sq;
    bool decay;
  };
  std::vector<Slot> slots_;
  AdamWOptions options_;
  int64_t step_ = 0;
};

}  // namespace flywheel::train
