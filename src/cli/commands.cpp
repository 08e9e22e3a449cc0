#include "cli/commands.h"

#include <charconv>
#include <cstdint>

namespace flywheel::cli {
namespace {

CLI::Validator integer_at_least(uint64_t minimum, std::string what) {
  return CLI::Validator(
      [minimum, what](std::string& value) -> std::string {
        uint64_t parsed = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
        if (ec != std::errc() || end != value.data() + value.size() || parsed < minimum) {
          return "must be " + what + ", got '" + value + "'";
        }
        return {};
      },
      "");
}

}  // namespace

std::string global_options_footer() {
  return "Global options (also accepted after the subcommand): --json, --config FILE, --log-level LEVEL, "
         "--version.\nEvery option can also come from --config FILE, in the section named by the "
         "subcommand path (see 'flywheel --help').";
}

CLI::Validator positive_integer() { return integer_at_least(1, "a positive integer"); }
CLI::Validator non_negative_integer() { return integer_at_least(0, "a non-negative integer"); }

}  // namespace flywheel::cli
