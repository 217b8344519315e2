// The reproducibility contract (docs/ARCHITECTURE.md): for a fixed build, scenario and seed the
// stored content is identical at any thread count, block size and patient order, and any patient
// replayed alone gives what was stored.
#include "vpgen/run/patient_view.hpp"
#include "vpgen/run/provenance.hpp"
#include "vpgen/config/scenario_loader.hpp"
#include "vpgen/engine/simulator.hpp"
#include "vpgen/storage/result_store.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstdlib>
#include <fstream>

namespace {

using namespace vpgen;

const Simulator& default_simulator() {
  static const Simulator simulator(
      config::load_scenario(VPGEN_SOURCE_DIR "/configs/default.toml"));
  return simulator;
}

struct Stored {
  std::uint64_t digest;
  std::int64_t run_id;
};

Stored simulate_into(ResultStore& store, const Simulator& simulator, std::uint64_t patients,
                     int threads, std::uint64_t block_size, bool reverse, std::uint64_t seed = 7) {
  const std::int64_t run_id = store.begin_run(
      make_provenance(simulator.scenario(), seed, patients, threads, block_size));
  RunWriter writer(store, run_id, simulator.scenario().store_events);
  RunOptions options;
  options.seed = seed;
  options.patients = patients;
  options.threads = threads;
  options.block_size = block_size;
  options.reverse_within_block = reverse;
  run_cohort(simulator, options, writer);
  store.finish_run(run_id, true, 0.0);
  return Stored{store.run_digest(run_id), run_id};
}

}  // namespace

TEST_CASE("the stored run is identical at 1, 2 and 4 threads, any block size and reversed order") {
  ResultStore store(":memory:");
  const Simulator& simulator = default_simulator();
  const std::uint64_t n = 1500;
  const Stored reference = simulate_into(store, simulator, n, 1, 256, false);
  CHECK(simulate_into(store, simulator, n, 2, 256, false).digest == reference.digest);
  CHECK(simulate_into(store, simulator, n, 4, 97, false).digest == reference.digest);
  CHECK(simulate_into(store, simulator, n, 2, 1000, true).digest == reference.digest);
  CHECK(simulate_into(store, simulator, n, 4, 1, true).digest == reference.digest);
  // A different seed must change the content (the digest is not blind).
  CHECK(simulate_into(store, simulator, n, 2, 256, false, 8).digest != reference.digest);
}

TEST_CASE("a patient does not depend on the cohort size") {
  ResultStore store(":memory:");
  const Simulator& simulator = default_simulator();
  const Stored small = simulate_into(store, simulator, 50, 2, 16, false);
  const Stored large = simulate_into(store, simulator, 400, 2, 64, false);
  for (std::uint64_t i : {0u, 17u, 49u}) {
    const PatientResult a = store.patient(small.run_id, i).result;
    const PatientResult b = store.patient(large.run_id, i).result;
    CHECK(compare_results(a, b).empty());
  }
}

TEST_CASE("every patient replayed alone equals the stored rows") {
  ResultStore store(":memory:");
  const Simulator& simulator = default_simulator();
  const Stored run = simulate_into(store, simulator, 300, 2, 64, false);
  for (std::uint64_t i = 0; i < 300; i += 7) {
    const ReplayResult replay = replay_patient(store, run.run_id, i);
    INFO("patient " << i << ": " << (replay.differences.empty() ? "" : replay.differences[0]));
    CHECK(replay.identical);
  }
}

TEST_CASE("the scenario bundle stored in a run rebuilds the same scenario") {
  const Scenario& original = default_simulator().scenario();
  const Scenario rebuilt = config::load_scenario_bundle(original.source_text);
  CHECK(rebuilt.source_text == original.source_text);
  CHECK(rebuilt.arms.size() == original.arms.size());
  CHECK(rebuilt.course.max_kill_per_month == original.course.max_kill_per_month);
}

// Golden regression: a small run of the default scenario, compared exactly with the digest in
// tests/regression/default_200.digest. Any change to the model, the streams or the schema changes
// it; regenerate deliberately with `VPGEN_REGENERATE_GOLDEN=1 ctest -R golden` and review the diff.
TEST_CASE("golden: the default scenario's first 200 patients match the recorded digest") {
  ResultStore store(":memory:");
  const Stored run = simulate_into(store, default_simulator(), 200, 2, 50, false, 20261127);
  const std::string digest = fmt::format("{:016x}", run.digest);
  const std::string path = VPGEN_SOURCE_DIR "/tests/regression/default_200.digest";
  if (std::getenv("VPGEN_REGENERATE_GOLDEN")) {
    std::ofstream(path) << digest << "\n";
    MESSAGE("regenerated " << path);
  }
  std::ifstream in(path);
  std::string recorded;
  in >> recorded;
  CHECK(recorded == digest);
}
