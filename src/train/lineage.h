// What a checkpoint says about how it was made: flywheel.json holds the
// parent checkpoint, the datasets, the recipe (the run's options), the step
// and the training loss, plus any fields the caller adds (the cycle's
// lineage). Shared by the trainer and the learn module.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "train/train.h"

namespace flywheel::train {

// The options of a run as its recipe.
nlohmann::json recipe_json(const TrainOptions& options);

// flywheel.json's text. `extra_json` is a JSON object whose fields are
// merged in (ignored when empty or not an object).
std::string lineage_json(const nlohmann::json& parent, const nlohmann::json& datasets, const nlohmann::json& recipe,
                         int64_t step, double train_loss, const std::string& extra_json);

}  // namespace flywheel::train
