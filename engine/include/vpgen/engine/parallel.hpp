// A parallel loop over an index range on the engine's thread pool, for callers outside the engine
// (replicate trials of `vpgen size`), so that only engine/src sees TBB (STYLE.md). Reentrant.
#pragma once

#include <cstdint>
#include <functional>

namespace vpgen {

// Calls body(begin, end) on disjoint chunks covering [0, count), each of at least `grain` indexes
// except the last, on `threads` worker threads (0 = all cores; resolve_threads()). Which thread
// runs which chunk is unspecified: body must write only results indexed by its range, or
// thread-local scratch, so that results do not depend on scheduling. An exception from body
// propagates to the caller (others may still run).
// REQUIRES: grain >= 1.
void parallel_ranges(std::uint64_t count, int threads, std::uint64_t grain,
                     const std::function<void(std::uint64_t begin, std::uint64_t end)>& body);

}  // namespace vpgen
