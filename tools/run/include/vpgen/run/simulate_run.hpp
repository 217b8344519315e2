// `vpgen simulate` as a library: a whole run, one shard of a run (--shard K/N), the resumption of
// an incomplete one, and `vpgen merge` of shard files into one run. Used by the CLI, the nightly
// batch and MPI runs. Not thread-safe (each call owns its ResultStore).
#pragma once

#include "vpgen/engine/cluster.hpp"
#include "vpgen/engine/simulator.hpp"
#include "vpgen/storage/merge.hpp"
#include "vpgen/storage/result_store.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace vpgen {

struct ShardSpec {
  std::uint64_t index = 0;
  std::uint64_t count = 1;
};

// "K/N" with 0 <= K < N <= patients; throws InputError naming --shard otherwise.
ShardSpec parse_shard(const std::string& text, std::uint64_t patients);

struct SimulateRequest {
  std::string scenario;                   // scenario file
  std::string db;                         // results database (created if absent)
  std::optional<std::uint64_t> patients;  // default: the scenario's
  std::optional<std::uint64_t> seed;      // default: the scenario's
  int threads = 0;
  std::uint64_t block_size = 2048;
  std::optional<std::string> shard;    // "K/N": only shard K of N of the cohort
  std::optional<std::int64_t> resume;  // finish this incomplete or failed run of `db`
  std::function<void(const Progress&)> on_progress;
};

// Simulates (or resumes) the run into request.db and returns its run id, complete. Everything that
// can be wrong with the input is checked before the database is touched. On a failure the run is
// marked failed (a killed process leaves it incomplete; both resumable) and the error rethrown, a
// storage error with the --resume command that finishes the run; a new file that never got its
// run is removed (only one this call created). Throws InputError for bad input.
std::int64_t simulate_run(const SimulateRequest& request);

// The same run over the ranks of `cluster` (collective; a cluster of one is simulate_run). Rank r
// of N simulates shard r/N into its own file, <db>.shards/shard-r-of-N.db, then rank 0 merges the
// shards into `db` (content equal to a one-process run; docs/SCALING.md says why shard files and
// not one writer) and removes them. A rank that fails or dies leaves its shard incomplete and the
// others intact; running the same command again (same N) resumes each shard where it stopped, skips
// the complete ones, and merges. Returns the merged run id on rank 0, 0 on the other ranks.
// Throws ClusterFailure on every rank when any rank fails. --shard and --resume are refused here.
std::int64_t simulate_collectively(const SimulateRequest& request, Cluster& cluster);

// Fills patients [options.first_patient, + options.patients) of run `run_id` and marks it complete,
// or failed (then rethrows).
void fill_run(const Simulator& simulator, ResultStore& store, std::int64_t run_id,
              const RunOptions& options);

struct MergeSummary {
  std::string into;
  std::int64_t run_id = 0;
  std::uint64_t patients = 0;
  std::uint64_t shards = 0;
  std::uint64_t rows = 0;
  double seconds = 0.0;
};

// Checks the shard files and merges them into `into` as one run, built in a temporary beside it
// (`into`.merging-PID, created exclusively, never through a link) and then linked to `into` if it
// does not exist, or copied into it in one transaction if it does: a failure or a kill -9 leaves
// `into` as it was. Temporaries of killed merges (PID no longer running) are removed first.
MergeSummary merge_files(const std::string& into, const std::vector<std::string>& shard_paths,
                         const std::function<void(const MergeProgress&)>& progress = {});

nlohmann::json merge_json(const MergeSummary& summary);
std::string merge_text(const MergeSummary& summary);

}  // namespace vpgen
