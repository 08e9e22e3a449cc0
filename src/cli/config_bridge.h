// Connects core's Config (TOML, dotted keys) to CLI11: `--config FILE` on the
// root command fills every option the user did not give on the command line
// from the file's section named by the subcommand's path:
//
//   [tokenizer.train]
//   vocab_size = 8192            # or "vocab-size"; fills --vocab-size
//   input = ["src", "/usr/include"]
//
// Top-level keys fill global options (log_level = "debug"). A key that names
// no subcommand or no option is an error naming the key, its line, and the
// keys that section accepts. Values are converted and validated by the
// option exactly as if given on the command line.
//
// Thread-safety: used from main's thread only.
// Errors: thrown as CLI::ConfigError (CLI11's way), caught by main.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "core/config.h"

namespace flywheel::cli {

// Adds `--config FILE` to `root` and makes CLI11 read it as TOML.
void enable_config_file(CLI::App& root);

// The CLI11 items for every key of `config`, or an invalid_argument naming
// the first key that does not name an option. Exposed for tests.
Result<std::vector<CLI::ConfigItem>> config_items_for(const Config& config, const CLI::App& root);

}  // namespace flywheel::cli
