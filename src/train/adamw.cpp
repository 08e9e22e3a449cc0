#include "train/adamw.h"

#include <cmath>

namespace flywheel::train {

bool AdamW::decays(const std::string& name, const torch::Tensor& param) {
  if (param.dim() < 2) return false;  // norms and biases
  return name.find("embed_tokens") == std::string::npos;
}

AdamW::AdamW(std::vector<std::pair<std::string, torch::Tensor>> named, AdamWOptions options) : options_(options) {
  for (auto& [name, param] : named) {
    Slot slot{name, param, torch::zeros_like(param), torch::zeros_like(param), decays(name, param)};
    slots_.push_back(std::move(slot));
  }
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++step_;
  const double bias_correction1 = 1 - std::pow(options_.beta1, static_cast<double>(step_));
  const double bias_correction2_sqrt = std::sqrt(1 - std::pow(options_.beta2, static_cast<double>(step_)));
  const double step_size = lr / bias_correction1;
  for (Slot& s : slots_) {
    const torch::Tensor& grad = s.param.grad();
    if (!grad.defined()) continue;
    if (s.decay && options_.weight_decay != 0) s.param.mul_(1 - lr * options_.weight_decay);
    s.exp_avg.lerp_(grad, 1 - options_.beta1);
    s.exp_avg_sq.mul_(options_.beta2).addcmul_(grad, grad, 1 - options_.beta2);
    torch::Tensor denom = (s.exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(options_.eps);
    s.param.addcdiv_(s.exp_avg, denom, -step_size);
  }
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::state_tensors() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const Slot& s : slots_) {
    out.emplace_back("exp_avg." + s.name, s.exp_avg);
    out.emplace_back("exp_avg_sq." + s.name, s.exp_avg_sq);
  }
  return out;
}

Status AdamW::load_state(const std::map<std::string, torch::Tensor>& tensors, int64_t step) {
  torch::NoGradGuard no_grad;
  for (Slot& s : slots_) {
    for (auto [prefix, target] : {std::pair{"exp_avg.", &s.exp_avg}, std::pair{"exp_avg_sq.", &s.exp_avg_sq}}) {
      auto it = tensors.find(prefix + s.name);
      if (it == tensors.end())
        return Status::corruption("optimizer state has no tensor '" + std::string(prefix) + s.name + "'");
      if (it->second.sizes() != target->sizes())
        return Status::corruption("optimizer state tensor '" + std::string(prefix) + s.name + "' has the wrong shape");
      target->copy_(it->second);
    }
  }
  step_ = step;
  return Status::OK();
}

}  // namespace flywheel::train
