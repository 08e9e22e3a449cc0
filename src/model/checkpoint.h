// Reading and writing the weights of a CausalLm in the Hugging Face checkpoint
// layout (internal to the model module; includes torch through transformer.h).
//
// Errors name the checkpoint and the tensor: a missing tensor, a shape or
// dtype that does not match the config.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "model/config.h"
#include "model/transformer.h"
#include "tokenizer/tokenizer.h"

namespace flywheel::model {

// Copies every parameter of `module` from the safetensors of `dir`
// (model.safetensors or a sharded index), converting F16/BF16/F64 to fp32.
Status load_weights(const std::filesystem::path& dir, CausalLmImpl& module);

// Writes config.json, generation_config.json, tokenizer.json, flywheel.json
// and model.safetensors into `dir`, atomically (temp dir renamed into place).
// `extra` writes more files into the same temporary directory (the trainer's
// optimizer and state), so they appear together or not at all.
// `extra_tensors` go into model.safetensors after the module's (the show head).
Status save_checkpoint(const std::filesystem::path& dir, const ModelConfig& config, const Tokenizer& tokenizer,
                       CausalLmImpl& module, const std::string& lineage_json,
                       const std::function<Status(const std::filesystem::path& temp_dir)>& extra = {},
                       const std::vector<std::pair<std::string, torch::Tensor>>& extra_tensors = {});

// Writes named tensors (F32, BF16 or F16) as one safetensors file, atomically.
Status save_tensors(const std::filesystem::path& path,
                    const std::vector<std::pair<std::string, torch::Tensor>>& tensors);

// Reads every tensor of a safetensors file into memory (copies, fp dtypes kept).
Result<std::map<std::string, torch::Tensor>> load_tensors(const std::filesystem::path& path);

}  // namespace flywheel::model
