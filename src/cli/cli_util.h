// Helpers shared by the subcommand files: reading input, loading what a
// command names, printing results.
// Thread-safety: main's thread only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace flywheel::cli {

// Writes text to stdout as is (no newline added).
void print_text(const std::string& text);

// All of standard input (with a hint on stderr when it is a terminal).
Result<std::string> read_stdin();

// The checkout flywheel was built from, if this binary runs inside one (it
// adds the project's own source to the default corpus). Looks above the
// binary and above the working directory for the tree's marker files.
std::filesystem::path find_project_root();

// Loads a tokenizer.json named by --tokenizer, with errors that name the flag and file.
Result<Tokenizer> load_tokenizer(const std::string& path);

std::string join(const std::vector<std::string>& items, std::string_view separator);

// The command line main was started with (for commands that re-run flywheel,
// such as `train --nproc N`).
void set_original_arguments(int argc, char** argv);
const std::vector<std::string>& original_arguments();

// 1234567 -> "1.2 MB".
std::string human_bytes(uint64_t bytes);

}  // namespace flywheel::cli
