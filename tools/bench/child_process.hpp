// For the benchmarks: runs work in a forked child process, so that its peak memory is measured
// alone (the parent's own allocations do not count). Call from a single-threaded parent (fork).
#pragma once

#include "vpgen/population/error.hpp"

#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <string_view>

namespace vpgen {

// Runs `work()` in a child process and returns the child's peak resident set size in MiB. Throws
// Error naming `what` if the child fails (its error is printed on stderr by the child).
template <class Work>
double peak_rss_of_child_mib(Work&& work, std::string_view what) {
  const pid_t child = ::fork();
  if (child < 0) throw Error(fmt::format("{}: fork failed", what));
  if (child == 0) {
    try {
      work();
      ::_exit(0);
    } catch (const std::exception& e) {
      fmt::print(stderr, "{}: {}\n", what, e.what());
      ::_exit(1);
    } catch (...) {
      ::_exit(1);
    }
  }
  int status = 0;
  rusage usage{};
  if (::wait4(child, &status, 0, &usage) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error(fmt::format("{}: the child process failed", what));
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

}  // namespace vpgen
