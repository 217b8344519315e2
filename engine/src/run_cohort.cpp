// The parallel driver: a TBB pipeline of (serial) block numbering -> (parallel) simulation ->
// (serial, in order) storage. Tokens bound the blocks alive at once, so memory does not grow with
// the cohort. Each patient's result depends only on (scenario, seed, index): the pipeline changes
// when a patient is simulated, never what is simulated.
#include "vpgen/engine/simulator.hpp"

#include "vpgen/population/error.hpp"

#include <fmt/format.h>
#include <tbb/concurrent_queue.h>
#include <tbb/info.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <memory>
#include <vector>

namespace vpgen {
namespace {

// Event capacity a recycled patient slot may keep (a typical patient has ~16 events per arm).
constexpr std::size_t kRetainedEventsPerPatient = 64;

}  // namespace

int resolve_threads(int requested) {
  return requested > 0 ? requested : tbb::info::default_concurrency();
}

void run_cohort(const Simulator& simulator, const RunOptions& options, OutcomeSink& sink) {
  if (options.block_size == 0) throw InputError("block size must be at least 1");
  const int threads = resolve_threads(options.threads);
  const std::uint64_t total = options.patients;
  const std::uint64_t blocks = (total + options.block_size - 1) / options.block_size;
  const std::size_t tokens = 2 * static_cast<std::size_t>(threads) + 2;

  // Blocks are recycled so their vectors keep their capacity across the run.
  std::vector<std::unique_ptr<Block>> storage;
  tbb::concurrent_queue<Block*> free_blocks;
  for (std::size_t i = 0; i < tokens; ++i) {
    storage.push_back(std::make_unique<Block>());
    free_blocks.push(storage.back().get());
  }

  std::uint64_t next_block = 0;
  std::uint64_t done = 0;
  // The arena alone bounds this run's parallelism. No tbb::global_control: it is process-wide
  // (the smallest active limit wins), so it would throttle every other run_cohort or
  // parallel_ranges call in the process while this one runs.
  tbb::task_arena arena(threads);
  arena.execute([&] {
    tbb::parallel_pipeline(
        tokens,
        tbb::make_filter<void, Block*>(
            tbb::filter_mode::serial_in_order,
            [&](tbb::flow_control& control) -> Block* {
              if (next_block == blocks) {
                control.stop();
                return nullptr;
              }
              Block* block = nullptr;
              if (!free_blocks.try_pop(block)) block = new Block();  // cannot happen: tokens
              const std::uint64_t first = options.first_patient + next_block * options.block_size;
              const std::uint64_t count =
                  std::min(options.block_size, total - next_block * options.block_size);
              block->first_index = first;
              block->results.resize(count);
              ++next_block;
              return block;
            }) &
            tbb::make_filter<Block*, Block*>(
                tbb::filter_mode::parallel,
                [&](Block* block) {
                  const std::size_t count = block->results.size();
                  for (std::size_t k = 0; k < count; ++k) {
                    const std::size_t slot = options.reverse_within_block ? count - 1 - k : k;
                    simulator.simulate_patient(options.seed, block->first_index + slot,
                                               block->results[slot]);
                  }
                  return block;
                }) &
            tbb::make_filter<Block*, void>(tbb::filter_mode::serial_in_order, [&](Block* block) {
              // The lowest failing index in patient order: the same at any thread count.
              for (const PatientResult& result : block->results)
                if (result.error) throw SimulationError(*result.error);
              sink.write_block(*block);
              done += block->results.size();
              // Recycled slots keep their vectors' capacity, which would ratchet up to the
              // largest patient ever seen in that slot and make memory grow with the cohort:
              // release event buffers beyond the typical size so memory stays flat.
              for (PatientResult& result : block->results)
                if (result.events.capacity() > kRetainedEventsPerPatient)
                  std::vector<CourseEvent>().swap(result.events);
              free_blocks.push(block);
              if (options.on_progress) options.on_progress(Progress{done, total});
            }));
  });
}

}  // namespace vpgen
