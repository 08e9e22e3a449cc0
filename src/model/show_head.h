// The show/no-show head: a logistic regression on the model's final hidden
// state (after the final norm) at the last prompt token, estimating the
// probability that the developer accepts a suggestion made there. A request
// with SamplingParams::min_show_prob > 0 shows a suggestion only when that
// probability reaches it (Model::load loads the head; ForwardItem asks for the
// probability in the prefill pass), so shown suggestions are fewer and better. `flywheel train --mode show`
// (learn/learn.h) trains it on accepted/rejected feedback.
//
// Stored in the checkpoint's model.safetensors beside the weights:
//   flywheel.show_head.weight  F32 [hidden_size]
//   flywheel.show_head.bias    F32 [1]
// (Hugging Face loaders ignore the two extra tensors.) The head belongs to
// the hidden states of the weights it was trained with: training the weights
// again (sft, dpo, ...) writes checkpoints without it.
//
// Thread-safety: ShowHead is a plain value; show_probability() runs a forward
// pass, so it must be serialized with the model's other calls (model.h).
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <vector>

#include "core/status.h"
#include "model/model.h"

namespace flywheel {

inline constexpr const char* kShowHeadWeight = "flywheel.show_head.weight";
inline constexpr const char* kShowHeadBias = "flywheel.show_head.bias";

struct ShowHead {
  std::vector<float> weight;  // hidden_size
  float bias = 0.0f;
};

// The head stored in checkpoint `dir`, or nullopt when it has none. Errors:
// unreadable weights, or head tensors whose dtype or shape do not fit
// `hidden_size`.
Result<std::optional<ShowHead>> load_show_head(const std::filesystem::path& dir, int64_t hidden_size);

// P(accept) = sigmoid(weight . h + bias), h the final hidden state at the last
// of `prompt` (the tokens the model would complete; only the last
// max_position_embeddings count). Errors: an empty prompt, or a head of
// another hidden size.
Result<float> show_probability(Model& model, const ShowHead& head, std::span<const TokenId> prompt);

// sigmoid(weight . hidden + bias) for one final hidden state (hidden_size floats).
float apply_show_head(const ShowHead& head, std::span<const float> hidden);

}  // namespace flywheel
