// The learn module's public API: objectives that learn from feedback, each a
// mode of `flywheel train` (train.h for the shared options and run layout).
//
//   dpo      preferences.jsonl {"prompt", "chosen", "rejected"}: DPO sigmoid loss
//            -[(1-e) log s(b h) + e log s(-b h)], h = (log pi(c) - log pi(r)) - (log ref(c) - log ref(r))
//            (Rafailov et al. 2023; e = --label-smoothing, the conservative variant; 0 by default).
//   kto      unpaired.jsonl {"prompt", "completion", "label": bool}: KTO (Ethayarajh et al. 2024)
//            with r = log pi(y|x) - log ref(y|x) and the reference point
//            z0 = max(0, mean over the batch of log pi(y'|x) - log ref(y'|x)), detached, where y'
//            is the completion of the previous row of the batch (cyclically: TRL's mismatched
//            pairs); loss per row lD (1 - s(b (r - z0))) if desirable, lU (1 - s(b (z0 - r)))
//            otherwise, averaged over the batch. Needs both labels in the data and batch_size >= 2.
//   pg       rewards.jsonl {"prompt", "completion", "reward", "group"}: REINFORCE with a KL anchor,
//            loss per row -A log pi(y|x) + c sum_t k3_t, averaged over the batch, where
//            k3_t = exp(d_t) - d_t - 1, d_t = log ref(y_t|..) - log pi(y_t|..) over the completion's
//            tokens (Schulman's k3 estimator, as GRPO uses; c = --kl-coef). Advantages, fixed when
//            the file is read: a group of n >= 2 rows (same "group": samples at one cursor point)
//            gets A = (r - mean) / (std + 1e-4) with the unbiased std (GRPO); a row alone in its
//            group gets A = r - b with b the mean reward of the earlier lone rows in file order
//            (0 for the first): a running-mean baseline.
//   distill  prompts.jsonl {"prompt"[, "completion"]} and --teacher (a checkpoint directory or an
//            OpenAI-compatible URL). The teacher writes a completion for every prompt without one
//            (out/teacher_completions.jsonl, reused on resume). Then
//            - logit (default for a local teacher): T^2 KL(teacher_T || student_T) per completion
//              position (softmax at temperature T = --temperature), averaged over those positions
//              (Hinton et al. 2015). The tokenizers must be identical (same content hash);
//            - sequence (the only kind for a URL): SFT on the teacher's completions through the
//              trainer's SFT mode (train.h), in the same run directory.
//            A teacher that times out, fails or answers garbage for a row: the row is skipped and
//            counted (with a warning naming the URL); more than half failing is an error.
//   show     unpaired.jsonl (label = accepted): the show/no-show head (model/show_head.h), a
//            logistic regression on the policy's final hidden state at the last prompt token,
//            binary cross-entropy averaged over the batch; the policy's weights stay frozen and
//            the checkpoint is --init's weights plus the head (starting from --init's head if it
//            has one). Needs both labels.
//
// Shared by all: the policy starts from --init; the reference is a frozen copy of --init
// (or --reference DIR); log-probabilities are summed over the completion's tokens only,
// its final <|endoftext|> included; rows are tokenized and cut exactly like SFT rows
// (data/prompt_completion.h: special-token strings in the prompt are special tokens).
// Rows are drawn in an order shuffled per epoch from --seed, so a run resumes
// exactly from out/latest. The run directory is the trainer's (checkpoints/step-N with
// optimizer.safetensors and trainer_state.json, latest, metrics.jsonl, keep K).
// A NaN or inf loss or gradient norm stops the run before the step is applied;
// the error names the last good checkpoint (nothing is written for the bad step).
// Single process (no data parallelism in these modes).
//
// Thread-safety: one run per process. Errors: Status naming the file, line, option
// or URL.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/status.h"
#include "train/train.h"

namespace flywheel {

struct LearnOptions {
  // mode is dpo | kto | pg | distill | show; `data` is the JSONL file or a directory
  // holding the mode's file (preferences.jsonl, unpaired.jsonl, rewards.jsonl,
  // prompts.jsonl); init, out, steps, batch size (pairs for dpo), seq_len, the
  // optimizer, schedule, logging and checkpoint options are the trainer's.
  TrainOptions train;
  std::filesystem::path reference;  // frozen reference model (default: train.init)

  double beta = 0.1;             // dpo, kto
  double label_smoothing = 0.0;  // dpo: [0, 0.5)
  double lambda_d = 1.0;         // kto: weight of desirable rows
  double lambda_u = 1.0;         // kto: weight of undesirable rows
  double kl_coef = 0.05;         // pg: weight of the k3 KL estimate to the reference

  std::string teacher;               // distill: checkpoint directory or http(s):// URL
  std::string distill;               // distill: logit | sequence (default: logit for a directory, sequence for a URL)
  double temperature = 2.0;          // distill (logit): softening temperature T
  std::string teacher_model;         // URL teacher: the request's "model" (omitted when empty)
  int64_t teacher_max_tokens = 64;   // teacher completion length
  double teacher_temperature = 0.0;  // teacher sampling temperature (0: greedy)
  double teacher_timeout = 60.0;     // seconds per URL request

  Status validate() const;
};

// True for the modes run_learning() handles.
bool is_learn_mode(std::string_view mode);

struct LearnSummary {
  TrainSummary train;
  int64_t rows = 0;              // usable rows of the dataset
  int64_t teacher_requests = 0;  // distill: completions asked of the teacher this run
  int64_t teacher_failures = 0;  // distill: of those, skipped rows (timeout, error, garbage)
};

Result<LearnSummary> run_learning(const LearnOptions& options);

}  // namespace flywheel
