#include "vpgen/engine/parallel.hpp"

#include "vpgen/engine/simulator.hpp"
#include "vpgen/population/error.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

namespace vpgen {

void parallel_ranges(std::uint64_t count, int threads, std::uint64_t grain,
                     const std::function<void(std::uint64_t begin, std::uint64_t end)>& body) {
  if (grain == 0) throw Error("parallel_ranges: grain must be at least 1");
  if (count == 0) return;
  tbb::task_arena arena(resolve_threads(threads));
  arena.execute([&] {
    tbb::parallel_for(
        tbb::blocked_range<std::uint64_t>(0, count, grain),
        [&](const tbb::blocked_range<std::uint64_t>& range) { body(range.begin(), range.end()); });
  });
}

}  // namespace vpgen
