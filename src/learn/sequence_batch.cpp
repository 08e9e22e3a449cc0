#include "learn/sequence_batch.h"

#include <algorithm>

namespace flywheel::learn {

SequenceBatch make_sequence_batch(std::span<const data::PromptCompletionTokens> rows, TokenId pad) {
  size_t width = 2;
  for (const auto& r : rows) width = std::max(width, r.prompt.size() + r.completion.size());
  const auto n = static_cast<int64_t>(rows.size()), w = static_cast<int64_t>(width);
  std::vector<int64_t> tokens(rows.size() * width, pad);
  std::vector<float> mask(rows.size() * (width - 1), 0.0f);
  for (size_t i = 0; i < rows.size(); ++i) {
    int64_t* row = tokens.data() + i * width;
    std::copy(rows[i].prompt.begin(), rows[i].prompt.end(), row);
    std::copy(rows[i].completion.begin(), rows[i].completion.end(), row + rows[i].prompt.size());
    // Target t (predicted from position t-1) counts when it is a completion token.
    const size_t first = std::max<size_t>(rows[i].prompt.size(), 1);
    const size_t end = rows[i].prompt.size() + rows[i].completion.size();
    for (size_t t = first; t < end; ++t) mask[i * (width - 1) + t - 1] = 1.0f;
  }
  torch::Tensor all = torch::from_blob(tokens.data(), {n, w}, torch::kInt64).clone();
  SequenceBatch batch;
  batch.inputs = all.narrow(1, 0, w - 1);
  batch.targets = all.narrow(1, 1, w - 1);
  batch.mask = torch::from_blob(mask.data(), {n, w - 1}, torch::kFloat32).clone();
  batch.positions = n * (w - 1);
  return batch;
}

torch::Tensor token_logprobs(const torch::Tensor& logits, const SequenceBatch& batch) {
  torch::Tensor logp = logits.log_softmax(-1).gather(2, batch.targets.unsqueeze(2)).squeeze(2);
  return logp.masked_fill(batch.mask == 0, 0.0);
}

torch::Tensor sequence_logprobs(model::CausalLmImpl& module, const SequenceBatch& batch) {
  return token_logprobs(module.forward(batch.inputs), batch).sum(1);
}

}  // namespace flywheel::learn
