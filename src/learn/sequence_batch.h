// Prompt + completion rows as one padded batch, and the log-probabilities
// the learn objectives are made of. Rows are right-padded to the longest
// (causal attention never looks right, so padding changes nothing before
// it); a target counts when it is a completion token (its <|endoftext|>
// included), as SFT counts them.
//
// Thread-safety: no shared state.
#pragma once

#include <torch/torch.h>

#include <span>

#include "data/prompt_completion.h"
#include "model/transformer.h"

namespace flywheel::learn {

struct SequenceBatch {
  torch::Tensor inputs;   // int64 [N, L-1]: row tokens 0..L-2
  torch::Tensor targets;  // int64 [N, L-1]: row tokens 1..L-1
  torch::Tensor mask;     // float [N, L-1]: 1 where the target is a completion token
  int64_t positions = 0;  // N * (L-1)
};

SequenceBatch make_sequence_batch(std::span<const data::PromptCompletionTokens> rows, TokenId pad);

// log p(target) at every position [N, L-1] from logits [N, L-1, V]; 0 where
// the mask is 0.
torch::Tensor token_logprobs(const torch::Tensor& logits, const SequenceBatch& batch);

// log p(completion | prompt) of each row [N]: token_logprobs summed.
torch::Tensor sequence_logprobs(model::CausalLmImpl& module, const SequenceBatch& batch);

}  // namespace flywheel::learn
