#include "model/show_head.h"

#include <cmath>
#include <cstring>

#include "model/safetensors.h"
#include "model/transformer.h"

namespace flywheel {

Result<std::optional<ShowHead>> load_show_head(const std::filesystem::path& dir, int64_t hidden_size) {
  FW_ASSIGN_OR_RETURN(SafetensorsCheckpoint checkpoint, SafetensorsCheckpoint::open(dir));
  const TensorView* weight = checkpoint.find(kShowHeadWeight);
  const TensorView* bias = checkpoint.find(kShowHeadBias);
  if (weight == nullptr && bias == nullptr) return std::optional<ShowHead>();
  const auto fits = [](const TensorView* t, int64_t n) {
    return t != nullptr && t->dtype == DType::kF32 && t->shape == std::vector<int64_t>{n};
  };
  if (!fits(weight, hidden_size) || !fits(bias, 1))
    return Status::corruption(dir.string() + ": the show head needs F32 tensors " + kShowHeadWeight + " [" +
                              std::to_string(hidden_size) + "] and " + kShowHeadBias + " [1]");
  ShowHead head;
  head.weight.resize(static_cast<size_t>(hidden_size));
  std::memcpy(head.weight.data(), weight->data.data(), weight->data.size());
  std::memcpy(&head.bias, bias->data.data(), sizeof(float));
  return std::optional<ShowHead>(std::move(head));
}

Result<float> show_probability(Model& model, const ShowHead& head, std::span<const TokenId> prompt) {
  if (prompt.empty()) return Status::invalid_argument("show_probability needs at least one prompt token");
  const int64_t hidden_size = model.config().hidden_size;
  if (static_cast<int64_t>(head.weight.size()) != hidden_size)
    return Status::invalid_argument("the show head has " + std::to_string(head.weight.size()) +
                                    " weights but the model's hidden size is " + std::to_string(hidden_size));
  const auto keep = std::min<size_t>(prompt.size(), static_cast<size_t>(model.config().max_position_embeddings));
  std::vector<int64_t> ids(prompt.end() - static_cast<std::ptrdiff_t>(keep), prompt.end());
  torch::NoGradGuard no_grad;
  const torch::Tensor tokens = torch::from_blob(ids.data(), {1, static_cast<int64_t>(keep)}, torch::kInt64);
  const torch::Tensor h = model.module().hidden_states(tokens)[0][-1].to(torch::kFloat32).contiguous();
  return apply_show_head(head, std::span<const float>(h.data_ptr<float>(), static_cast<size_t>(hidden_size)));
}

float apply_show_head(const ShowHead& head, std::span<const float> hidden) {
  double z = head.bias;
  for (size_t i = 0; i < hidden.size() && i < head.weight.size(); ++i)
    z += static_cast<double>(hidden[i]) * head.weight[i];
  return static_cast<float>(1.0 / (1.0 + std::exp(-z)));
}

}  // namespace flywheel
