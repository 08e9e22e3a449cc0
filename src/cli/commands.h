// The `flywheel` command line: global options and the registration of each
// subcommand (one file per subcommand, e.g. tokenizer_command.cpp).
//
// A subcommand's CLI11 callback only chooses what to run (sets *action);
// main runs the action after the whole command line and config file have been
// parsed and checked, so a usage error never leaves work half done, and every
// failure comes back as a Status that main prints as one line (or one JSON
// object with --json) with the exit code of core/json_output.h.
//
// Thread-safety: used from main's thread only.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "core/status.h"

namespace flywheel::cli {

struct GlobalOptions {
  bool json = false;               // results and errors as JSON lines on stdout
  std::string log_level = "info";  // trace|debug|info|warn|error|off
};

using CommandAction = std::function<Status()>;

// The footer every subcommand's --help ends with, naming the global options
// that may also be given after the subcommand.
std::string global_options_footer();

// Checks with one-line messages ("must be a positive integer, got 'abc'")
// instead of CLI11's numeric range dumps.
CLI::Validator positive_integer();
CLI::Validator non_negative_integer();

// `flywheel tokenizer train|encode|decode|info`.
void add_tokenizer_command(CLI::App& app, const GlobalOptions& global, CommandAction* action);

// `flywheel model init|info`.
void add_model_command(CLI::App& app, const GlobalOptions& global, CommandAction* action);

// `flywheel train`.
void add_train_command(CLI::App& app, const GlobalOptions& global, CommandAction* action);

// `flywheel data ingest|info|peek`.
void add_data_command(CLI::App& app, const GlobalOptions& global, CommandAction* action);

// `flywheel generate`.
void add_generate_command(CLI::App& app, const GlobalOptions& global, CommandAction* action);

// `flywheel keys create|list|revoke`.
void add_keys_command(CLI::App& app, const GlobalOptions& global, CommandAction* action);

// `flywheel usage`.
void add_usage_command(CLI::App& app, const GlobalOptions& global, CommandAction* action);

// `flywheel serve`.
void add_serve_command(CLI::App& app, const GlobalOptions& global, CommandAction* action);

// `flywheel replay`.
void add_replay_command(CLI::App& app, const GlobalOptions& global, CommandAction* action);

// `flywheel models list|show|add|promote|rollback|deploy`.
void add_models_command(CLI::App& app, const GlobalOptions& global, CommandAction* action);

// `flywheel datasets build`.
void add_datasets_command(CLI::App& app, const GlobalOptions& global, CommandAction* action);

// `flywheel cycle`.
void add_cycle_command(CLI::App& app, const GlobalOptions& global, CommandAction* action);

}  // namespace flywheel::cli
