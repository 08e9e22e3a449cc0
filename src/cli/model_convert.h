// `flywheel model convert` (Hugging Face checkpoint <-> GGUF) and the GGUF
// half of `flywheel model info`.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/commands.h"
#include "core/status.h"

namespace flywheel::cli {

void add_model_convert_command(CLI::App& model, const GlobalOptions& global, CommandAction* action);
// Describes a GGUF model file: architecture, shape, tensor types, tokenizer,
// and the CPU's kernel path.
Status run_gguf_info(const std::string& path, const GlobalOptions& global);

}  // namespace flywheel::cli
