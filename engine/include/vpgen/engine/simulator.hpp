// Simulating patients: one patient alone (the replay), and a whole cohort on a TBB pipeline
// feeding one sink. simulate_patient() is const and thread-safe; run_cohort() is reentrant: its
// parallelism is bounded by its own task arena, with no process-wide limit.
#pragma once

#include "vpgen/engine/course_params.hpp"
#include "vpgen/engine/outcome.hpp"
#include "vpgen/engine/sink.hpp"
#include "vpgen/population/sampler.hpp"

#include <cstdint>
#include <functional>
#include <vector>

namespace vpgen {

// Binds a validated scenario to its population sampler. Construction throws InputError for an
// invalid scenario (including an infeasible eligibility).
class Simulator {
 public:
  explicit Simulator(Scenario scenario);

  const Scenario& scenario() const { return scenario_; }
  const PopulationSampler& sampler() const { return sampler_; }

  // Patient `index` under `seed`, every arm, with events if the scenario stores them. A pure
  // function of (scenario, seed, index). Never throws: a failure is recorded in result.error.
  PatientResult simulate_patient(std::uint64_t seed, std::uint64_t index) const;

  // Same, into an existing result (reuses its vectors; the hot path).
  void simulate_patient(std::uint64_t seed, std::uint64_t index, PatientResult& result) const;

 private:
  Scenario scenario_;
  PopulationSampler sampler_;
  std::vector<double> assessment_days_;  // of the scenario's schedule, up to the horizon
};

struct Progress {
  std::uint64_t done = 0;
  std::uint64_t total = 0;
};

struct RunOptions {
  std::uint64_t seed = 1;
  std::uint64_t first_patient = 0;  // simulate [first_patient, first_patient + patients)
  std::uint64_t patients = 0;
  int threads = 0;                    // 0 = all cores
  std::uint64_t block_size = 2048;    // patients per block (one transaction per block)
  bool reverse_within_block = false;  // tests: simulate each block's patients in reverse
  std::function<void(const Progress&)> on_progress;  // called from the writer thread
};

// The number of worker threads `requested` means: itself if > 0, else all cores.
int resolve_threads(int requested);

// Simulates the cohort block by block and passes the blocks to `sink` in patient order. Memory is
// bounded by (2 * threads + 2) blocks whatever the cohort size. Throws SimulationError naming the
// lowest failing patient index (the same at any thread count); blocks before it are stored.
void run_cohort(const Simulator& simulator, const RunOptions& options, OutcomeSink& sink);

}  // namespace vpgen
