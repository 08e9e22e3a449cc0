// DPO (learn.h): the sigmoid loss over preference pairs against a frozen reference.
#include <spdlog/spdlog.h>

#include "learn/feedback_rows.h"
#include "learn/objective.h"

namespace flywheel::learn {
namespace {

class DpoObjective final : public Objective {
 public:
  DpoObjective(const LearnOptions& options, Model& reference, TokenId eot,
               std::vector<data::PromptCompletionTokens> chosen, std::vector<data::PromptCompletionTokens> rejected)
      : chosen_(std::move(chosen)),
        rejected_(std::move(rejected)),
        beta_(options.beta),
        smoothing_(options.label_smoothing),
        reference_(reference),
        eot_(eot) {}

  size_t rows() const override { return chosen_.size(); }

  Result<ObjectiveLoss> loss(Model& policy, std::span<const size_t> rows) override {
    const auto n = static_cast<int64_t>(rows.size());
    // One forward over chosen rows then rejected rows.
    std::vector<data::PromptCompletionTokens> sequences;
    for (size_t i : rows) sequences.push_back(chosen_[i]);
    for (size_t i : rows) sequences.push_back(rejected_[i]);
    const SequenceBatch batch = make_sequence_batch(sequences, eot_);
    const torch::Tensor policy_lp = sequence_logprobs(policy.module(), batch);
    const torch::Tensor reference_lp = frozen_sequence_logprobs(reference_, batch);
    const torch::Tensor chosen_ratio = policy_lp.narrow(0, 0, n) - reference_lp.narrow(0, 0, n);
    const torch::Tensor rejected_ratio = policy_lp.narrow(0, n, n) - reference_lp.narrow(0, n, n);
    const torch::Tensor h = chosen_ratio - rejected_ratio;
    const torch::Tensor losses = -(1.0 - smoothing_) * torch::nn::functional::logsigmoid(beta_ * h) -
                                 smoothing_ * torch::nn::functional::logsigmoid(-beta_ * h);
    ObjectiveLoss out;
    out.loss = losses.mean();
    out.positions = batch.positions;
    torch::NoGradGuard no_grad;
    out.metrics = {{"reward_accuracy", (h > 0).to(torch::kFloat64).mean().item<double>()},
                   {"reward_margin", (beta_ * h).mean().item<double>()},
                   {"chosen_reward", (beta_ * chosen_ratio).mean().item<double>()},
                   {"rejected_reward", (beta_ * rejected_ratio).mean().item<double>()}};
    return out;
  }

 private:
  std::vector<data::PromptCompletionTokens> chosen_, rejected_;
  double beta_, smoothing_;
  Model& reference_;
  TokenId eot_;
};

}  // namespace

Result<std::unique_ptr<Objective>> make_dpo_objective(const LearnOptions& options, const std::filesystem::path& file,
                                                      const Tokenizer& tokenizer, Model& reference) {
  FW_RETURN_IF_ERROR(check_same_tokenizer(tokenizer, reference, "reference model"));
  FW_ASSIGN_OR_RETURN(TokenId eot, end_of_text(tokenizer));
  FW_ASSIGN_OR_RETURN(std::vector<PreferenceRow> rows, read_preference_rows(file));
  std::vector<data::PromptCompletionTokens> chosen, rejected;
  const auto width = static_cast<size_t>(options.train.seq_len + 1);
  size_t ties = 0;
  for (const PreferenceRow& row : rows) {
    // A pair whose two sides are the same text teaches nothing (its gradient is 0).
    if (row.chosen == row.rejected) {
      ++ties;
      continue;
    }
    chosen.push_back(data::encode_prompt_completion(tokenizer, row.prompt, row.chosen, eot, width));
    rejected.push_back(data::encode_prompt_completion(tokenizer, row.prompt, row.rejected, eot, width));
  }
  if (chosen.empty())
    return Status::invalid_argument(file.string() + " has no preference pairs to learn from (" +
                                    std::to_string(rows.size()) + " rows, " + std::to_string(ties) +
                                    " with chosen == rejected); DPO needs {\"prompt\", \"chosen\", \"rejected\"} "
                                    "rows where a kept text beat a rejected suggestion");
  if (ties > 0) spdlog::warn("{}: skipped {} pairs whose chosen and rejected texts are the same", file.string(), ties);
  return std::unique_ptr<Objective>(
      std::make_unique<DpoObjective>(options, reference, eot, std::move(chosen), std::move(rejected)));
}

}  // namespace flywheel::learn
