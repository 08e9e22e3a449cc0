// Reading and writing the weights of a CausalLm in the Hugging Face checkpoint
// layout (internal to the model module; includes torch through transformer.h).
//
// Errors name the checkpoint and the tensor: a missing tensor, a shape or
// dtype that does not match the config.
#pragma once

#include <filesystem>
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
Status save_checkpoint(const std::filesystem::path& dir, const ModelConfig& config, const Tokenizer& tokenizer,
                       CausalLmImpl& module, const std::string& lineage_json);

}  // namespace flywheel::model
