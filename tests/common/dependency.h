// What a test does when a dependency outside the build is missing (node and
// the npm packages, python3-torch, mpirun, PostgreSQL, ...): on a developer's
// machine it skips, saying how to get the dependency; under CI (the CI
// variable set, as .ci/run and CI services do) it fails, so that a CI machine
// without it cannot pass by not running the test.
//
//   FLYWHEEL_REQUIRE_DEPENDENCY(has_mpirun(), "mpirun (Debian openmpi-bin)");
//     returns from the test (skip, or failure under CI) when it is missing;
//   flywheel::testing::report_missing_dependency("...") for a test that
//     checks what it can without it: a failure under CI, else a note.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace flywheel::testing {

// CI is set to anything but "", "0" or "false".
inline bool running_in_ci() {
  const char* ci = std::getenv("CI");
  if (ci == nullptr) return false;
  const std::string_view value(ci);
  return !value.empty() && value != "0" && value != "false";
}

inline std::string missing_dependency_message(std::string_view what) {
  return "missing test dependency: " + std::string(what) +
         (running_in_ci() ? " (CI is set: a missing dependency is a failure, not a skip)"
                          : " (a failure under CI=true; scripts/install-deps and scripts/install-npm-deps "
                            "install the test dependencies)");
}

inline void report_missing_dependency(std::string_view what) {
  if (running_in_ci())
    ADD_FAILURE() << missing_dependency_message(what);
  else
    std::printf("%s\n", missing_dependency_message(what).c_str());
}

}  // namespace flywheel::testing

#define FLYWHEEL_REQUIRE_DEPENDENCY(available, what)                           \
  do {                                                                         \
    if (!(available)) {                                                        \
      if (::flywheel::testing::running_in_ci())                                \
        FAIL() << ::flywheel::testing::missing_dependency_message(what);       \
      else                                                                     \
        GTEST_SKIP() << ::flywheel::testing::missing_dependency_message(what); \
    }                                                                          \
  } while (0)
