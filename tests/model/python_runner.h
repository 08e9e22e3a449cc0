// Runs a Python script with /usr/bin/python3 (numpy only; torch optional) for
// the model tests that compare against an independent implementation.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>

#include "tests/common/dependency.h"

namespace flywheel::testing_util {

inline constexpr const char* kPython = "/usr/bin/python3";

// True when /usr/bin/python3 can import numpy.
inline bool python_with_numpy() {
  static const bool ok = std::system((std::string(kPython) + " -c 'import numpy' >/dev/null 2>&1").c_str()) == 0;
  return ok;
}

// The paths, each in single quotes, separated by spaces (for run_python's args).
inline std::string quoted_args(std::initializer_list<std::filesystem::path> paths) {
  std::string out;
  for (const auto& path : paths) {
    if (!out.empty()) out += ' ';
    out += '\'';
    out += path.string();
    out += '\'';
  }
  return out;
}

// Writes `script` to dir/name and runs it with `args`; returns its exit code
// and puts its combined output in *log.
inline int run_python(const std::filesystem::path& dir, const std::string& name, const std::string& script,
                      const std::string& args, std::string* log) {
  const std::filesystem::path script_path = dir / name;
  const std::filesystem::path log_path = dir / (name + ".log");
  {
    std::ofstream out(script_path);
    out << script;
  }
  const std::string command =
      std::string(kPython) + " '" + script_path.string() + "' " + args + " >'" + log_path.string() + "' 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream in(log_path);
  std::stringstream text;
  text << in.rdbuf();
  *log = text.str();
  return status;
}

}  // namespace flywheel::testing_util

// Skips the test (fails it under CI) when /usr/bin/python3 with numpy is
// missing (scripts/install-deps installs it).
#define FW_REQUIRE_PYTHON_NUMPY()                                            \
  FLYWHEEL_REQUIRE_DEPENDENCY(::flywheel::testing_util::python_with_numpy(), \
                              "/usr/bin/python3 with numpy (Debian python3-numpy)")
