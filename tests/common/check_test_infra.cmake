# cmake -DFIXTURE=<test_infra_fixture> -P check_test_infra.cmake
# Runs the fixture the way CTest runs a test of gtest_discover_tests (one test
# per run, through --gtest_filter) and checks what CTest would conclude from
# it: "skipped" when the output matches the SKIP_REGULAR_EXPRESSION that
# gtest_discover_tests gives every test (it wins over the exit code), else
# "failed" or "passed" by the exit code.
set(skip_regex "\\[  SKIPPED \\]")  # GoogleTestAddTests.cmake's

function(expect name filter expected)
  execute_process(COMMAND ${FIXTURE} --gtest_filter=${filter} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(out MATCHES "${skip_regex}")
    set(verdict skipped)
  elseif(code EQUAL 0)
    set(verdict passed)
  else()
    set(verdict failed)
  endif()
  if(NOT verdict STREQUAL expected)
    message(FATAL_ERROR "${name}: CTest would count it ${verdict}, expected ${expected} (exit code ${code}):\n${out}")
  endif()
  message(STATUS "${name}: ${verdict}, as expected")
endfunction()

unset(ENV{CI})
expect("a passing test" "PassingSuite.Passes" passed)
expect("a test whose SetUpTestSuite failed" "FailingSuiteSetup.WouldPass" failed)
expect("a missing dependency, CI unset" "MissingDependency.Required" skipped)
set(ENV{CI} true)
expect("a missing dependency, CI=true" "MissingDependency.Required" failed)
unset(ENV{CI})
set(ENV{FLYWHEEL_FAIL_GLOBAL_SETUP} 1)
expect("a test after a failed global setup" "PassingSuite.Passes" failed)
