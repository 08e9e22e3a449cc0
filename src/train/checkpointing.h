// Training checkpoints shared by the trainer and the learn module: the model
// in checkpoint layout plus optimizer.safetensors and trainer_state.json,
// written together atomically (all or nothing), then `latest` points at it
// and all but the newest `keep` are pruned (run_dir.h).
//
// Thread-safety: rank 0's trainer thread only.
// Errors: a weight that is NaN or inf is never written (kInternal, naming the
// tensor); a missing or malformed state names the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "model/model.h"
#include "train/adamw.h"
#include "train/run_dir.h"

namespace flywheel::train {

// Writes run.checkpoint_path(step). `state` is stored as trainer_state.json
// with "step" and "optimizer_steps" set; `extra` may write more files into the
// checkpoint's temporary directory. Returns the checkpoint directory.
Result<std::filesystem::path> save_training_checkpoint(
    const RunDir& run, int64_t step, Model& model, const std::string& lineage_json, const AdamW& optimizer,
    nlohmann::json state, int64_t keep, const std::function<Status(const std::filesystem::path& temp_dir)>& extra = {});

// Reads `checkpoint`/trainer_state.json (which must hold "step") and restores
// the optimizer from its optimizer.safetensors. Returns the state.
Result<nlohmann::json> restore_training_checkpoint(const std::filesystem::path& checkpoint, AdamW& optimizer);

}  // namespace flywheel::train
