// `flywheel`: the command-line program. A thin layer over the modules: it
// parses options (and --config files), runs the chosen subcommand's action,
// and turns every failure into one clear line on stderr (or one JSON object
// on stdout with --json) and a non-zero exit code (core/json_output.h). No
// exception leaves main.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/config_bridge.h"
#include "core/json_output.h"
#include "core/log.h"
#include "core/openmp_wait.h"
#include "core/version.h"

namespace flywheel::cli {
namespace {

// --json must shape errors that happen before CLI11 has seen the flag (or
// while parsing fails), so look for it in argv first.
bool argv_has_json(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) return false;
    if (std::strcmp(argv[i], "--json") == 0) return true;
  }
  return false;
}

// The subcommand named on the command line (the first word that is not an
// option or a global option's value), or "".
std::string first_command(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" || a == "--log-level") {
      ++i;
    } else if (!a.empty() && a[0] != '-') {
      return a;
    }
  }
  return "";
}

// The deepest subcommand the command line selected, for "see --help" hints.
std::string selected_command(const CLI::App& app) {
  std::string path = app.get_name();
  const CLI::App* current = &app;
  while (!current->get_subcommands().empty()) {
    current = current->get_subcommands().front();
    path += " " + current->get_name();
  }
  return path;
}

int report_error(const Status& status, const GlobalOptions& global, const std::string& hint = "") {
  if (global.json) {
    print_json_line(error_json(status));
  } else {
    std::string line = "flywheel: error: " + status.message();
    if (!hint.empty()) line += " (" + hint + ")";
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  return exit_code_for(status);
}

Status run_action(const CommandAction& action) {
  try {
    return action();
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted("out of memory");
  } catch (const std::exception& e) {
    return Status::internal(std::string("unexpected exception: ") + e.what());
  } catch (...) {
    return Status::internal("unexpected exception of unknown type");
  }
}

int run(int argc, char** argv) {
  GlobalOptions global;
  global.json = argv_has_json(argc, argv);
  set_original_arguments(argc, argv);
  (void)init_logging("info");

  CLI::App app{"flywheel: a code-completion model that learns from its users.", "flywheel"};
  // Global options may follow a subcommand: `flywheel tokenizer encode --json`.
  app.fallthrough();
  app.require_subcommand(1);
  app.set_version_flag("--version", "flywheel " + std::string(kVersion));
  app.add_flag("--json", global.json, "Print results (and errors) as one JSON object per line on stdout");
  app.add_option("--log-level", global.log_level, "Log level on stderr: " + std::string(kLogLevelNames))
      ->envname("FLYWHEEL_LOG_LEVEL")
      ->type_name("LEVEL")
      ->check(CLI::Validator(
          [](const std::string& value) {
            auto level = parse_log_level(value);
            return level.ok() ? std::string() : level.status().message();
          },
          ""));
  enable_config_file(app);
  app.footer(
      "Environment: FLYWHEEL_LOG_LEVEL (default log level), FLYWHEEL_NO_PROGRESS (no progress bars).\n"
      "Run 'flywheel SUBCOMMAND --help' for a subcommand's options.");

  CommandAction action;
  add_tokenizer_command(app, global, &action);
  add_data_command(app, global, &action);
  add_model_command(app, global, &action);
  add_generate_command(app, global, &action);
  add_train_command(app, global, &action);
  add_keys_command(app, global, &action);
  add_usage_command(app, global, &action);
  add_serve_command(app, global, &action);
  add_replay_command(app, global, &action);
  add_models_command(app, global, &action);
  add_datasets_command(app, global, &action);
  add_cycle_command(app, global, &action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return 0;
  } catch (const CLI::CallForVersion& e) {
    std::printf("%s\n", e.what());
    return 0;
  } catch (const CLI::ConfigError& e) {
    // Names the file, line and key already; --help would not help.
    return report_error(Status::invalid_argument(e.what()), global);
  } catch (const CLI::ParseError& e) {
    std::string message = e.what();
    // CLI11 checks for a missing subcommand before it reports unknown
    // arguments; the unknown argument is the more useful of the two.
    if (std::vector<std::string> unexpected = app.remaining(true);
        dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && !unexpected.empty()) {
      message = "unknown argument '" + unexpected.front() + "'";
    }
    std::string command = selected_command(app);
    return report_error(Status::invalid_argument(message), global, "run '" + command + " --help' for usage");
  } catch (const std::exception& e) {
    return report_error(Status::internal(std::string("parsing the command line: ") + e.what()), global);
  }

  if (Status status = set_log_level(global.log_level); !status.is_ok()) return report_error(status, global);
  if (!action) {
    return report_error(Status::invalid_argument("no command given"), global,
                        "run '" + selected_command(app) + " --help' for usage");
  }
  Status status = run_action(action);
  // A full disk or a closed pipe on stdout must not pass as success.
  if (status.is_ok()) {
    errno = 0;
    const bool flushed = std::fflush(stdout) == 0;
    if (!flushed || std::ferror(stdout)) {
      status = Status::io_error(std::string("cannot write to standard output") +
                                (!flushed && errno != 0 ? std::string(": ") + std::strerror(errno) : std::string()));
    }
  }
  if (!status.is_ok()) return report_error(status, global);
  return 0;
}

}  // namespace

}  // namespace flywheel::cli

int main(int argc, char** argv) {
  // Training wants OpenMP's idle threads asleep (core/openmp_wait.h); serving does not.
  if (flywheel::cli::first_command(argc, argv) == "train") flywheel::reexec_with_passive_openmp_wait(argv);
  try {
    return flywheel::cli::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flywheel: error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "flywheel: error: unexpected exception of unknown type\n");
  }
  return 1;
}
