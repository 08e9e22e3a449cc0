// Logit-level distillation (learn.h, distill logit): T^2 KL(teacher_T ||
// student_T) at every completion position, averaged over those positions.
#include "learn/objective.h"

namespace flywheel::learn {
namespace {

class LogitDistillObjective final : public Objective {
 public:
  LogitDistillObjective(const LearnOptions& options, Model& teacher, TokenId eot,
                        std::vector<data::PromptCompletionTokens> tokens)
      : tokens_(std::move(tokens)), temperature_(options.temperature), teacher_(teacher), eot_(eot) {}

  size_t rows() const override { return tokens_.size(); }

  Result<ObjectiveLoss> loss(Model& policy, std::span<const size_t> rows) override {
    std::vector<data::PromptCompletionTokens> sequences;
    for (size_t i : rows) sequences.push_back(tokens_[i]);
    const SequenceBatch batch = make_sequence_batch(sequences, eot_);
    const torch::Tensor student = policy.module().forward(batch.inputs);
    torch::Tensor teacher;
    {
      torch::NoGradGuard no_grad;
      teacher = teacher_.module().forward(batch.inputs);
    }
    if (teacher.size(-1) != student.size(-1))
      return Status::invalid_argument("the teacher has " + std::to_string(teacher.size(-1)) +
                                      " logits per token and the student " + std::to_string(student.size(-1)) +
                                      "; logit distillation needs the same vocabulary");
    const torch::Tensor teacher_logp = (teacher / temperature_).log_softmax(-1);
    const torch::Tensor student_logp = (student / temperature_).log_softmax(-1);
    const torch::Tensor kl = (teacher_logp.exp() * (teacher_logp - student_logp)).sum(-1);  // [N, L-1]
    const torch::Tensor counted = batch.mask.sum().clamp_min(1.0);
    ObjectiveLoss out;
    out.loss = temperature_ * temperature_ * (kl * batch.mask).sum() / counted;
    out.positions = batch.positions;
    torch::NoGradGuard no_grad;
    out.metrics = {{"kl", ((kl * batch.mask).sum() / counted).item<double>()}};
    return out;
  }

 private:
  std::vector<data::PromptCompletionTokens> tokens_;
  double temperature_;
  Model& teacher_;
  TokenId eot_;
};

}  // namespace

Result<std::unique_ptr<Objective>> make_logit_distill_objective(const LearnOptions& options,
                                                                const std::vector<DistillRow>& rows,
                                                                const Tokenizer& tokenizer, Model& teacher) {
  FW_RETURN_IF_ERROR(check_same_tokenizer(tokenizer, teacher, "teacher").with_context(kNeedsSameTokenizer));
  FW_ASSIGN_OR_RETURN(TokenId eot, end_of_text(tokenizer));
  if (rows.empty()) return Status::invalid_argument("no prompts with completions to distill on");
  std::vector<data::PromptCompletionTokens> tokens;
  const auto width = static_cast<size_t>(options.train.seq_len + 1);
  for (const DistillRow& r : rows)
    tokens.push_back(data::encode_prompt_completion(tokenizer, r.prompt, r.completion, eot, width));
  return std::unique_ptr<Objective>(std::make_unique<LogitDistillObjective>(options, teacher, eot, std::move(tokens)));
}

}  // namespace flywheel::learn
