// Not a test of flywheel: a binary that fails on purpose, run by
// check_test_infra.cmake to show what CTest concludes with test_main.cpp and
// dependency.h.
//   FailingSuiteSetup.WouldPass: SetUpTestSuite fails (a failure, not a skip).
//   PassingSuite.Passes: passes; with FLYWHEEL_FAIL_GLOBAL_SETUP=1 a global
//     Environment's SetUp fails first (a failure, not a skip).
//   MissingDependency.Required: a dependency is missing (a skip; under CI a failure).
#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/common/dependency.h"

namespace {

class FailingEnvironment : public ::testing::Environment {
  void SetUp() override { FAIL() << "deliberate failure in a global Environment's SetUp"; }
};

::testing::Environment* const environment =
    std::getenv("FLYWHEEL_FAIL_GLOBAL_SETUP") ? ::testing::AddGlobalTestEnvironment(new FailingEnvironment) : nullptr;

class FailingSuiteSetup : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { FAIL() << "deliberate failure in SetUpTestSuite"; }
};

TEST_F(FailingSuiteSetup, WouldPass) { SUCCEED(); }

TEST(PassingSuite, Passes) { SUCCEED(); }

TEST(MissingDependency, Required) {
  FLYWHEEL_REQUIRE_DEPENDENCY(false, "a dependency this fixture lacks on purpose");
  SUCCEED();
}

}  // namespace
