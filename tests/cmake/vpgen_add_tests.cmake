# Run after each test executable is linked (cmake -P, from vpgen_add_test_suite in
# tests/CMakeLists.txt): writes CTEST_FILE with one ctest test per doctest test case, each with its
# labels and timeout (tests/README.md).
#   labels:  the words of the test case's doctest suite (TEST_SUITE_BEGIN("cli") over a file, or
#            `* doctest::test_suite("cli slow")` on one test case), and unit unless they say cli.
#   timeout: the largest of TIMEOUTS (label=seconds pairs) over the test's labels, times
#            TIMEOUT_SCALE (sanitizer builds run several times slower).
#   skipped: output matching SKIP_REGEX (tests/support/skip.hpp) makes ctest report Skipped.
# doctest's own doctest_discover_tests gives one label per test and one timeout per executable;
# this is its discovery step with those two generalised.

cmake_minimum_required(VERSION 3.25)  # a -P script: sets the policies (IN_LIST)

function(doctest_list out)
  execute_process(COMMAND "${TEST_EXECUTABLE}" ${ARGN} OUTPUT_VARIABLE output
                  RESULT_VARIABLE result WORKING_DIRECTORY "${WORKING_DIR}")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${TEST_EXECUTABLE} ${ARGN} failed (${result}):\n${output}")
  endif()
  # One item per line; doctest's banner lines start with [doctest] or a rule of '='. Names may hold
  # ';' only at CMake's peril (tests/cli/cli_test.cpp checks that none does).
  string(REPLACE "\n" ";" lines "${output}")
  set(items "")
  foreach(line IN LISTS lines)
    if(line STREQUAL "" OR line MATCHES "^\\[doctest\\] " OR line MATCHES "^=+$")
      continue()
    endif()
    list(APPEND items "${line}")
  endforeach()
  set(${out} "${items}" PARENT_SCOPE)
endfunction()

doctest_list(test_cases --list-test-cases)
doctest_list(suites --list-test-suites)

# The suite of each test case: doctest filters on suites, not the other way round.
foreach(suite IN LISTS suites)
  doctest_list(members "--test-suite=${suite}" --list-test-cases)
  string(MAKE_C_IDENTIFIER "${suite}" key)
  set(members_${key} "${members}")
endforeach()

set(script "")
foreach(test_case IN LISTS test_cases)
  set(labels "")
  foreach(suite IN LISTS suites)
    string(MAKE_C_IDENTIFIER "${suite}" key)
    if("${test_case}" IN_LIST members_${key})
      string(REPLACE " " ";" labels "${suite}")
    endif()
  endforeach()
  if(NOT "cli" IN_LIST labels)
    list(PREPEND labels unit)
  endif()
  list(REMOVE_DUPLICATES labels)
  set(timeout 0)
  foreach(pair IN LISTS TIMEOUTS)
    string(REPLACE "=" ";" pair "${pair}")
    list(GET pair 0 label)
    list(GET pair 1 seconds)
    if(label IN_LIST labels AND seconds GREATER timeout)
      set(timeout ${seconds})
    endif()
  endforeach()
  math(EXPR timeout "${timeout} * ${TIMEOUT_SCALE}")
  # doctest's filter splits on ',' unless escaped.
  string(REPLACE "," "\\," filter "${test_case}")
  set(name "${TEST_PREFIX}${test_case}")
  string(APPEND script
         "add_test([==[${name}]==] \"${TEST_EXECUTABLE}\" [==[--test-case=${filter}]==])\n"
         "set_tests_properties([==[${name}]==] PROPERTIES WORKING_DIRECTORY \"${WORKING_DIR}\" "
         "LABELS \"${labels}\" TIMEOUT ${timeout} SKIP_REGULAR_EXPRESSION [==[${SKIP_REGEX}]==])\n")
endforeach()
file(WRITE "${CTEST_FILE}" "${script}")
