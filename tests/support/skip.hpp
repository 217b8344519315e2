// Tests that need a program vpgen does not ship (R, rpact, Chromium, mpirun) call skip_test()
// when it is absent: ctest then reports the test as Skipped, not Passed (tests/CMakeLists.txt sets
// SKIP_REGULAR_EXPRESSION to kSkipMarker), and with VPGEN_NO_SKIP=1 (set by CI) the test fails
// instead, naming what is missing. Thread-safe (reads the environment only).
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <iostream>
#include <string>

namespace vpgen::testing {

// Printed on stdout by a skipped test; the ctest property SKIP_REGULAR_EXPRESSION matches it.
inline constexpr const char* kSkipMarker = "VPGEN-TEST-SKIPPED:";

// Ends nothing by itself: the caller returns right after. Under VPGEN_NO_SKIP=1 it fails the
// test case (FAIL throws), so the caller's return is never reached.
inline void skip_test(const std::string& why) {
  const char* no_skip = std::getenv("VPGEN_NO_SKIP");
  if (no_skip != nullptr && std::string(no_skip) == "1")
    FAIL("VPGEN_NO_SKIP=1 and this test cannot run: " << why);
  std::cout << kSkipMarker << ' ' << why << std::endl;
}

// True if `name` is a program on PATH.
inline bool have_program(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

}  // namespace vpgen::testing
