// An objective of the learn module (learn.h has the math of each): it owns
// its dataset (read and tokenized once) and, given the policy and a list of
// row indices, returns the batch's loss with autograd to the policy.
// Reference and teacher models are frozen (no gradients, eval mode).
//
// Thread-safety: one training thread.
// Errors: the factories refuse data an objective cannot learn from (no
// pairs, a single KTO label, rewards with no signal, mismatched tokenizers)
// with a message that says why and what to do.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "data/prompt_completion.h"
#include "learn/learn.h"
#include "learn/sequence_batch.h"
#include "model/model.h"
#include "model/show_head.h"

namespace flywheel::learn {

struct ObjectiveLoss {
  torch::Tensor loss;                                   // scalar, differentiable w.r.t. the policy
  int64_t positions = 0;                                // token positions the policy computed
  std::vector<std::pair<std::string, double>> metrics;  // logged to metrics.jsonl (batch means)
};

class Objective {
 public:
  virtual ~Objective() = default;
  virtual size_t rows() const = 0;
  virtual Result<ObjectiveLoss> loss(Model& policy, std::span<const size_t> rows) = 0;

  // The tensors the optimizer trains, by name: all the policy's weights,
  // except for the show head, which trains only its own.
  virtual std::vector<std::pair<std::string, torch::Tensor>> parameters(Model& policy);
  // The show/no-show head trained beside the frozen policy, saved with it
  // (Model::set_show_head); none for the other objectives.
  virtual std::optional<ShowHead> show_head() const { return std::nullopt; }
  // Takes the trained head back from a checkpoint being resumed.
  virtual Status restore(const std::filesystem::path& checkpoint) { return Status::OK(); }
};

// Each reads `file` and tokenizes its rows with `tokenizer` (the policy's;
// the reference or teacher must have the same one) into rows of at most
// options.train.seq_len + 1 tokens, as SFT rows.
Result<std::unique_ptr<Objective>> make_dpo_objective(const LearnOptions& options, const std::filesystem::path& file,
                                                      const Tokenizer& tokenizer, Model& reference);
Result<std::unique_ptr<Objective>> make_kto_objective(const LearnOptions& options, const std::filesystem::path& file,
                                                      const Tokenizer& tokenizer, Model& reference);
Result<std::unique_ptr<Objective>> make_pg_objective(const LearnOptions& options, const std::filesystem::path& file,
                                                     const Tokenizer& tokenizer, Model& reference);
// Logit distillation over prompt + completion rows (the teacher's
// completions, or the file's own).
struct DistillRow {
  std::string prompt, completion;
};
inline constexpr std::string_view kNeedsSameTokenizer =
    "logit distillation needs identical tokenizers (use --distill sequence to learn from the teacher's text)";
Result<std::unique_ptr<Objective>> make_logit_distill_objective(const LearnOptions& options,
                                                                const std::vector<DistillRow>& rows,
                                                                const Tokenizer& tokenizer, Model& teacher);

// The show/no-show head (model/show_head.h) on unpaired.jsonl's labels: a
// logistic regression on the frozen policy's final hidden state at the last
// prompt token, with the binary cross-entropy loss averaged over the batch.
// It starts from the head already in `init` when there is one, else zeros.
Result<std::unique_ptr<Objective>> make_show_objective(const LearnOptions& options, const std::filesystem::path& file,
                                                       const Tokenizer& tokenizer, Model& policy,
                                                       const std::filesystem::path& init);

// The helpers the objectives share.
// <|endoftext|>, which ends every completion (an error names the tokenizer's lack of it).
Result<TokenId> end_of_text(const Tokenizer& tokenizer);
// log p(completion | prompt) [N] under a frozen model: no autograd.
torch::Tensor frozen_sequence_logprobs(Model& model, const SequenceBatch& batch);
// OK when `other` (a reference or teacher, named by `role`) has the policy's
// tokenizer: the same content hash. Else an error naming both hashes.
Status check_same_tokenizer(const Tokenizer& policy, const Model& other, const std::string& role);

}  // namespace flywheel::learn
