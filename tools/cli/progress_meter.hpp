// The progress line of `vpgen simulate` and `vpgen validate` (private to tools/cli): rate and ETA
// on stderr, only when stderr is a terminal and the run lasts over two seconds. Main thread only.
#pragma once

#include "vpgen/engine/simulator.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace vpgen::cli {

class ProgressMeter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ProgressMeter(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO)) {}
  ~ProgressMeter() {
    if (shown_) std::fputc('\n', stderr);
  }
  ProgressMeter(const ProgressMeter&) = delete;
  ProgressMeter& operator=(const ProgressMeter&) = delete;

  void update(const Progress& progress) {
    if (!enabled_) return;
    const auto now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    if (elapsed < 2.0 ||
        (shown_ && now - last_ < std::chrono::milliseconds(500) && progress.done < progress.total))
      return;
    last_ = now;
    shown_ = true;
    const double rate = static_cast<double>(progress.done) / elapsed;
    const double eta = rate > 0 ? static_cast<double>(progress.total - progress.done) / rate : 0.0;
    fmt::print(stderr, "\r  {:>12}/{} patients  {:>9.0f} patients/s  {:5.1f}%  ETA {:>4.0f} s ",
               progress.done, progress.total, rate,
               100.0 * static_cast<double>(progress.done) / static_cast<double>(progress.total),
               eta);
    std::fflush(stderr);
  }

 private:
  bool enabled_;
  bool shown_ = false;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_ = start_;
};

}  // namespace vpgen::cli
