// The main of every GoogleTest binary (instead of GTest::gtest_main): the
// same, plus a listener that turns "skipped because the setup failed" into a
// failure.
//
// When a suite's SetUpTestSuite (or a global Environment's SetUp) fails,
// GoogleTest does not run the suite's tests: it marks each one skipped. The
// binary exits 1, but CTest's gtest_discover_tests gives every test
// SKIP_REGULAR_EXPRESSION "[  SKIPPED ]", which wins over the exit code, so
// `ctest` would report the whole suite as skipped and stay green. The listener
// adds a failure to each such test: it then prints "[  FAILED  ]", never
// "[  SKIPPED ]", and CTest counts it as failed.
#include <gtest/gtest.h>

namespace {

class SetupFailureIsAFailure : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo& test) override {
    const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
    const ::testing::TestSuite* suite = unit.current_test_suite();
    if (suite != nullptr && suite->ad_hoc_test_result().Failed())
      ADD_FAILURE() << test.test_suite_name() << ".SetUpTestSuite() failed (see above): " << test.name()
                    << " did not run";
    else if (unit.ad_hoc_test_result().HasFatalFailure())
      ADD_FAILURE() << "a global test environment's SetUp() failed (see above): " << test.test_suite_name() << "."
                    << test.name() << " did not run";
  }
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest::GetInstance()->listeners().Append(new SetupFailureIsAFailure);
  return RUN_ALL_TESTS();
}
