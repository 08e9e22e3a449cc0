#include "learn/objective.h"

namespace flywheel::learn {

std::vector<std::pair<std::string, torch::Tensor>> Objective::parameters(Model& policy) {
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (auto& p : policy.module().named_parameters()) named.emplace_back(p.key(), p.value());
  return named;
}

Result<TokenId> end_of_text(const Tokenizer& tokenizer) {
  std::optional<TokenId> eot = tokenizer.token_to_id("<|endoftext|>");
  if (!eot) return Status::invalid_argument("the model's tokenizer has no <|endoftext|> token to end completions with");
  return *eot;
}

torch::Tensor frozen_sequence_logprobs(Model& model, const SequenceBatch& batch) {
  torch::NoGradGuard no_grad;
  return sequence_logprobs(model.module(), batch);
}

Status check_same_tokenizer(const Tokenizer& policy, const Model& other, const std::string& role) {
  if (other.tokenizer().content_hash() == policy.content_hash()) return Status::OK();
  return Status::invalid_argument("the " + role + "'s tokenizer differs from the policy's (content hash " +
                                  other.tokenizer().content_hash().substr(0, 16) + " vs " +
                                  policy.content_hash().substr(0, 16) + "); token ids would not line up");
}

}  // namespace flywheel::learn
