// Policy gradient (learn.h, pg): REINFORCE on logged completions with fixed
// advantages (learn/advantages.h) and a k3 KL penalty to a frozen reference.
#include <cmath>

#include "learn/advantages.h"
#include "learn/feedback_rows.h"
#include "learn/objective.h"

namespace flywheel::learn {
namespace {

class PolicyGradientObjective final : public Objective {
 public:
  PolicyGradientObjective(const LearnOptions& options, Model& reference, TokenId eot,
                          std::vector<data::PromptCompletionTokens> tokens, std::vector<double> rewards,
                          std::vector<double> advantages)
      : tokens_(std::move(tokens)),
        rewards_(std::move(rewards)),
        advantages_(std::move(advantages)),
        kl_coef_(options.kl_coef),
        reference_(reference),
        eot_(eot) {}

  size_t rows() const override { return tokens_.size(); }

  Result<ObjectiveLoss> loss(Model& policy, std::span<const size_t> rows) override {
    const auto n = static_cast<int64_t>(rows.size());
    std::vector<data::PromptCompletionTokens> sequences;
    std::vector<double> advantage, reward;
    for (size_t i : rows) {
      sequences.push_back(tokens_[i]);
      advantage.push_back(advantages_[i]);
      reward.push_back(rewards_[i]);
    }
    const SequenceBatch batch = make_sequence_batch(sequences, eot_);
    const torch::Tensor policy_tokens = token_logprobs(policy.module().forward(batch.inputs), batch);
    torch::Tensor reference_tokens;
    {
      torch::NoGradGuard no_grad;
      reference_tokens = token_logprobs(reference_.module().forward(batch.inputs), batch);
    }
    // k3 per token: exp(d) - d - 1 >= 0 with d = log ref - log pi; 0 where masked (d = 0 there).
    const torch::Tensor d = reference_tokens - policy_tokens;
    const torch::Tensor kl = ((d.exp() - d - 1.0) * batch.mask).sum(1);
    const torch::Tensor a = torch::from_blob(advantage.data(), {n}, torch::kFloat64).to(torch::kFloat32);
    const torch::Tensor losses = -a * policy_tokens.sum(1) + kl_coef_ * kl;
    ObjectiveLoss out;
    out.loss = losses.mean();
    out.positions = batch.positions;
    torch::NoGradGuard no_grad;
    double reward_sum = 0;
    for (double r : reward) reward_sum += r;
    out.metrics = {{"kl", kl.mean().item<double>()},
                   {"reward", reward_sum / static_cast<double>(n)},
                   {"advantage", a.mean().item<double>()}};
    return out;
  }

 private:
  std::vector<data::PromptCompletionTokens> tokens_;
  std::vector<double> rewards_, advantages_;
  double kl_coef_;
  Model& reference_;
  TokenId eot_;
};

}  // namespace

Result<std::unique_ptr<Objective>> make_pg_objective(const LearnOptions& options, const std::filesystem::path& file,
                                                     const Tokenizer& tokenizer, Model& reference) {
  FW_RETURN_IF_ERROR(check_same_tokenizer(tokenizer, reference, "reference model"));
  FW_ASSIGN_OR_RETURN(TokenId eot, end_of_text(tokenizer));
  FW_ASSIGN_OR_RETURN(std::vector<RewardRow> rows, read_reward_rows(file));
  if (rows.empty()) return Status::invalid_argument(file.string() + " has no reward rows");
  std::vector<double> rewards;
  std::vector<std::string> groups;
  std::vector<data::PromptCompletionTokens> tokens;
  const auto width = static_cast<size_t>(options.train.seq_len + 1);
  for (const RewardRow& r : rows) {
    rewards.push_back(r.reward);
    groups.push_back(r.group);
    tokens.push_back(data::encode_prompt_completion(tokenizer, r.prompt, r.completion, eot, width));
  }
  std::vector<double> advantages = compute_advantages(rewards, groups);
  bool signal = false;
  for (double a : advantages) signal |= std::abs(a) > 1e-9;
  // E.g. every suggestion accepted: each group's rewards are equal and the
  // running baseline catches up at once, so there is nothing to climb.
  if (!signal)
    return Status::invalid_argument(file.string() + ": every advantage is 0 (" + std::to_string(rows.size()) +
                                    " rows with the same reward within each group and against the running "
                                    "baseline); policy gradient has no signal to learn from");
  return std::unique_ptr<Objective>(std::make_unique<PolicyGradientObjective>(
      options, reference, eot, std::move(tokens), std::move(rewards), std::move(advantages)));
}

}  // namespace flywheel::learn
