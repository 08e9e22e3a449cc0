// The train module's public API: pretraining, continued pretraining and SFT
// of a Llama-family model on token shards, with exact resume from
// checkpoints and data parallelism over c10d (see train/distributed.h).
//
// A run writes into `out`:
//   checkpoints/step-00000100/  checkpoint layout + optimizer.safetensors + trainer_state.json
//   latest                      name of the newest complete checkpoint (written after it)
//   metrics.jsonl               one JSON object per logged step and per validation
//
// Thread-safety: one run per process. Errors: Status naming the bad option,
// file or tensor; SIGINT/SIGTERM save a checkpoint and return kCancelled.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "core/status.h"

namespace flywheel {

struct TrainOptions {
  std::string mode = "pretrain";    // pretrain | continue | sft
  std::filesystem::path data;       // dataset directory (manifest.json) for pretrain/continue
  std::filesystem::path sft_data;   // JSONL of {"prompt", "completion"} for sft
  std::filesystem::path init;       // checkpoint to start from (continue, sft)
  std::filesystem::path tokenizer;  // pretrain: tokenizer.json (default: the dataset's)
  std::string arch = "llama";       // pretrain: llama | qwen2 | mistral
  std::string preset = "small";     // pretrain: model shape (ModelConfig::preset)
  std::filesystem::path out = "run";

  int64_t steps = 1000;    // optimizer steps
  int64_t batch_size = 8;  // sequences per micro-batch per rank
  int64_t seq_len = 256;
  int64_t grad_accum = 1;  // micro-batches per step
  double lr = 1e-3, min_lr = 1e-4;
  int64_t warmup = 100;
  std::string schedule = "cosine";  // cosine | linear | constant
  double weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double clip = 1.0;  // global gradient-norm clip; 0: off

  int64_t log_every = 10;
  int64_t eval_every = 100;  // 0: only at the end
  int64_t eval_batches = 20;
  int64_t save_every = 500;  // 0: only at the end
  int64_t keep = 3;          // checkpoints kept

  uint64_t seed = 0;
  double fim_rate = 0.5, fim_spm_rate = 0.5;
  bool repo_level = false;
  int64_t chunk_tokens = -1;  // documents cut into shuffled chunks (-1: seq_len; 0: whole documents)
  int threads = 0;            // 0: all cores
  bool resume = true;         // continue from out/latest when it exists
  double max_seconds = 0;     // stop (saving) after this much wall time; 0: no limit
  int64_t stop_at_step = 0;   // stop (saving) at this step, as a signal would; 0: never
  std::string lineage_json;   // extra lineage fields for flywheel.json (JSON object or empty)

  Status validate() const;
  // The checks shared with the learn module's modes: step counts, batch
  // shape, clipping, weight decay and the learning-rate schedule.
  Status validate_optimization() const;
};

struct TrainSummary {
  int64_t start_step = 0;  // > 0 when resumed
  int64_t steps = 0;       // step reached
  double last_loss = 0;
  std::optional<double> valid_loss, valid_bits_per_byte;
  double seconds = 0;
  double tokens_per_second = 0;
  double mfu = 0;  // model FLOPs / measured sgemm peak
  double sgemm_peak_flops = 0;
  int64_t parameters = 0;
  std::filesystem::path checkpoint;  // the newest checkpoint written
  bool interrupted = false;          // stopped by a signal or max_seconds
  bool main_rank = true;             // false on data-parallel ranks other than 0 (they stay quiet)
};

Result<TrainSummary> run_training(const TrainOptions& options);

}  // namespace flywheel
