#include "train/checkpointing.h"

#include "core/atomic_file.h"
#include "model/checkpoint.h"
#include "model/transformer.h"

namespace flywheel::train {

namespace fs = std::filesystem;
using nlohmann::json;

Result<fs::path> save_training_checkpoint(const RunDir& run, int64_t step, Model& model,
                                          const std::string& lineage_json, const AdamW& optimizer, json state,
                                          int64_t keep, const std::function<Status(const fs::path&)>& extra) {
  const fs::path dir = run.checkpoint_path(step);
  {
    // A diverged step must never reach the disk: a resume would start from it.
    torch::NoGradGuard no_grad;
    for (const auto& p : model.module().named_parameters())
      if (!torch::isfinite(p.value()).all().item<bool>())
        return Status::internal("refusing to save " + dir.string() + ": parameter " + p.key() +
                                " is not finite (training diverged)");
  }
  state["step"] = step;
  state["optimizer_steps"] = optimizer.steps();
  FW_RETURN_IF_ERROR(model.save(dir, lineage_json, [&](const fs::path& tmp) -> Status {
    FW_RETURN_IF_ERROR(model::save_tensors(tmp / "optimizer.safetensors", optimizer.state_tensors()));
    FW_RETURN_IF_ERROR(write_file_atomically(tmp / "trainer_state.json", state.dump(2) + "\n"));
    return extra ? extra(tmp) : Status::OK();
  }));
  FW_RETURN_IF_ERROR(run.set_latest(dir));
  FW_RETURN_IF_ERROR(run.prune(keep));
  return dir;
}

Result<json> restore_training_checkpoint(const fs::path& checkpoint, AdamW& optimizer) {
  FW_ASSIGN_OR_RETURN(std::string text, read_file(checkpoint / "trainer_state.json"));
  json state = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (state.is_discarded() || !state.is_object() || !state.contains("step") || !state["step"].is_number_integer())
    return Status::corruption(checkpoint.string() + "/trainer_state.json is not a trainer state");
  const int64_t step = state["step"].get<int64_t>();
  FW_ASSIGN_OR_RETURN(auto tensors, model::load_tensors(checkpoint / "optimizer.safetensors"));
  FW_RETURN_IF_ERROR(optimizer.load_state(tensors, state.value("optimizer_steps", step)));
  return state;
}

}  // namespace flywheel::train
