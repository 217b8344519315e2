#include "vpgen/run/provenance.hpp"

#include "vpgen/config/scenario_loader.hpp"
#include "vpgen/engine/build_info.hpp"

namespace vpgen {

RunProvenance make_provenance(const Scenario& scenario, std::uint64_t seed, std::uint64_t patients,
                              int threads, std::uint64_t block_size) {
  const BuildInfo build = build_info();
  RunProvenance p;
  p.scenario_name = scenario.name;
  p.scenario_text = scenario.source_text;
  p.scenario_hash = config::fingerprint(scenario.source_text);
  p.seed = seed;
  p.patients = patients;
  p.vpgen_version = build.vpgen_version;
  p.git_commit = build.git_commit;
  p.compiler = build.compiler;
  p.boost_version = build.boost_version;
  p.tbb_version = build.tbb_version;
  p.rng_scheme = build.rng_scheme;
  p.threads = threads;
  p.block_size = block_size;
  p.store_events = scenario.store_events;
  p.arms = scenario.arms;
  return p;
}

}  // namespace vpgen
