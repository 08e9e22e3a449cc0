// The embedded default model: everything flywheel starts from on a machine
// with no download. Trains a tokenizer on the embedded corpus, ingests the
// corpus into token shards, and pretrains the "default" model shape with FIM
// within a time budget. Each stage is skipped when its output exists, so a
// second call reuses the model (make demo builds it once).
//
// Layout under `dir`: tokenizer.json, dataset/, run/ (checkpoints, metrics),
// model/ (the final checkpoint, servable).
#pragma once

#include <filesystem>

#include "core/status.h"
#include "train/train.h"

namespace flywheel {

struct DefaultModelOptions {
  std::filesystem::path dir = "flywheel-default";
  double max_seconds = 500;  // training budget (the whole build stays under 10 minutes)
  int64_t max_steps = 4000;
  int threads = 0;
  uint64_t seed = 0;
};

struct DefaultModelSummary {
  std::filesystem::path model;  // dir/model
  bool reused = false;          // it existed already
  TrainSummary train;           // empty when reused
  double tokenizer_seconds = 0, ingest_seconds = 0;
};

Result<DefaultModelSummary> build_default_model(const DefaultModelOptions& options);

}  // namespace flywheel
