// KTO (learn.h): unpaired desirable / undesirable completions against a
// frozen reference, with the batch's mismatched-pair KL estimate as z0.
#include <spdlog/spdlog.h>

#include "learn/feedback_rows.h"
#include "learn/objective.h"

namespace flywheel::learn {
namespace {

class KtoObjective final : public Objective {
 public:
  KtoObjective(const LearnOptions& options, const Tokenizer& tokenizer, Model& reference, TokenId eot,
               std::vector<UnpairedRow> rows)
      : rows_(std::move(rows)),
        beta_(options.beta),
        lambda_d_(options.lambda_d),
        lambda_u_(options.lambda_u),
        width_(static_cast<size_t>(options.train.seq_len + 1)),
        tokenizer_(tokenizer),
        reference_(reference),
        eot_(eot) {
    for (const UnpairedRow& r : rows_)
      tokens_.push_back(data::encode_prompt_completion(tokenizer_, r.prompt, r.completion, eot_, width_));
  }

  size_t rows() const override { return rows_.size(); }

  Result<ObjectiveLoss> loss(Model& policy, std::span<const size_t> rows) override {
    const auto n = static_cast<int64_t>(rows.size());
    if (n < 2) return Status::invalid_argument("KTO needs at least 2 rows per batch for its KL estimate");
    std::vector<data::PromptCompletionTokens> sequences, mismatched;
    std::vector<float> desirable;
    for (int64_t k = 0; k < n; ++k) {
      const size_t i = rows[static_cast<size_t>(k)];
      sequences.push_back(tokens_[i]);
      desirable.push_back(rows_[i].desirable ? 1.0f : 0.0f);
      // Row k's prompt with the previous row's completion: a sample of y' ~ (not x).
      const size_t previous = rows[static_cast<size_t>((k + n - 1) % n)];
      mismatched.push_back(
          data::encode_prompt_completion(tokenizer_, rows_[i].prompt, rows_[previous].completion, eot_, width_));
    }
    const SequenceBatch batch = make_sequence_batch(sequences, eot_);
    const SequenceBatch kl_batch = make_sequence_batch(mismatched, eot_);
    const torch::Tensor ratio = sequence_logprobs(policy.module(), batch) - frozen_sequence_logprobs(reference_, batch);
    const torch::Tensor kl_estimate =
        (frozen_sequence_logprobs(policy, kl_batch) - frozen_sequence_logprobs(reference_, kl_batch)).mean();
    const torch::Tensor z0 = kl_estimate.clamp_min(0.0);
    const torch::Tensor is_desirable = torch::from_blob(desirable.data(), {n}, torch::kFloat32).clone();
    const torch::Tensor desirable_loss = lambda_d_ * (1.0 - torch::sigmoid(beta_ * (ratio - z0)));
    const torch::Tensor undesirable_loss = lambda_u_ * (1.0 - torch::sigmoid(beta_ * (z0 - ratio)));
    const torch::Tensor losses = torch::where(is_desirable > 0, desirable_loss, undesirable_loss);
    ObjectiveLoss out;
    out.loss = losses.mean();
    out.positions = batch.positions + kl_batch.positions;
    torch::NoGradGuard no_grad;
    out.metrics = {{"kl", z0.item<double>()},
                   {"kl_estimate", kl_estimate.item<double>()},
                   {"desirable_share", is_desirable.mean().item<double>()},
                   {"reward", (beta_ * ratio).mean().item<double>()}};
    return out;
  }

 private:
  std::vector<UnpairedRow> rows_;
  std::vector<data::PromptCompletionTokens> tokens_;
  double beta_, lambda_d_, lambda_u_;
  size_t width_;
  const Tokenizer& tokenizer_;
  Model& reference_;
  TokenId eot_;
};

}  // namespace

Result<std::unique_ptr<Objective>> make_kto_objective(const LearnOptions& options, const std::filesystem::path& file,
                                                      const Tokenizer& tokenizer, Model& reference) {
  FW_RETURN_IF_ERROR(check_same_tokenizer(tokenizer, reference, "reference model"));
  FW_ASSIGN_OR_RETURN(TokenId eot, end_of_text(tokenizer));
  FW_ASSIGN_OR_RETURN(std::vector<UnpairedRow> rows, read_unpaired_rows(file));
  // With one label only, the loss can only push every completion one way
  // (and z0 has nothing to be measured against); refuse rather than drift.
  FW_RETURN_IF_ERROR(require_both_labels(file, rows, "KTO"));
  int64_t desirable = 0;
  for (const UnpairedRow& r : rows) desirable += r.desirable ? 1 : 0;
  const int64_t undesirable = static_cast<int64_t>(rows.size()) - desirable;
  const double balance =
      options.lambda_d * static_cast<double>(desirable) / (options.lambda_u * static_cast<double>(undesirable));
  if (balance < 1.0 || balance > 4.0 / 3.0)
    spdlog::warn(
        "KTO: lambda_d * desirable / (lambda_u * undesirable) = {:.2f}; the paper recommends 1 to 4/3 "
        "(set --lambda-d / --lambda-u)",
        balance);
  return std::unique_ptr<Objective>(
      std::make_unique<KtoObjective>(options, tokenizer, reference, eot, std::move(rows)));
}

}  // namespace flywheel::learn
