// The seam between the engine and whatever stores its results. The driver calls write_block()
// from one thread at a time, in patient order; implementations need not be thread-safe.
#pragma once

#include "vpgen/engine/outcome.hpp"

namespace vpgen {

class OutcomeSink {
 public:
  virtual ~OutcomeSink() = default;
  // Stores one block. Blocks arrive in increasing first_index order, contiguous, never twice.
  // A block whose results carry an error is never passed: the driver stops before it.
  virtual void write_block(const Block& block) = 0;
};

// Discards everything (benchmarks of the engine alone).
class NullSink final : public OutcomeSink {
 public:
  void write_block(const Block& block) override { patients_ += block.results.size(); }
  std::uint64_t patients() const { return patients_; }

 private:
  std::uint64_t patients_ = 0;
};

}  // namespace vpgen
