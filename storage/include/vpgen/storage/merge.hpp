// Sharded runs: the patient range of shard k of n, and `vpgen merge`, which checks shard files
// (same scenario, seed, build and schema; complete; ranges that tile the cohort) and combines them
// into one run whose content equals a one-process run's. Not thread-safe: one call per store.
#pragma once

#include "vpgen/storage/result_store.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace vpgen {

// Patients [first, end) of a cohort.
struct PatientRange {
  std::uint64_t first = 0;
  std::uint64_t end = 0;
  bool operator==(const PatientRange&) const = default;
};

inline constexpr std::uint64_t kMaxShards = 2147483647;  // shard numbers are MPI ranks (int)

// Shard `index` of `count` over `patients`: floor(patients * index / count) up to
// floor(patients * (index + 1) / count). Contiguous, in order, sizes differ by at most one; exact
// for any patient count. Throws InputError unless index < count <= kMaxShards.
PatientRange shard_range(std::uint64_t patients, std::uint64_t index, std::uint64_t count);

// One checked shard file and the run it holds.
struct ShardFile {
  std::string path;
  RunInfo run;
};

// Opens every file read-only and checks that together they are one run: each holds exactly one
// run, of the current schema version, complete with every patient of its declared range stored
// (checked in the rows: each index of the range has its patient row and one outcome per arm, no
// row lies outside it, no outcome or event lacks its patient, candidates_screened adds up; then
// check_run_integrity: its block digests and derived counts agree with its rows);
// all share the scenario (fingerprint), seed, cohort size, shard count, events setting and build
// (vpgen version, git commit, compiler, Boost, RNG scheme); their ranges tile 0 .. patients - 1
// without overlap. Throws InputError with a one-line reason otherwise: it names the file, and for
// an incomplete or missing shard the patient range and the command that fills it. Returns the
// shards in patient order. Nothing is written.
std::vector<ShardFile> check_shards(const std::vector<std::string>& paths);

struct MergeProgress {
  std::uint64_t shards_done = 0;
  std::uint64_t shards_total = 0;
  std::uint64_t patients_done = 0;
  std::uint64_t patients_total = 0;
};

struct MergeResult {
  std::int64_t run_id = 0;
  std::uint64_t patients = 0;
  std::uint64_t rows = 0;  // rows copied: patients, outcomes, events and derived counts
};

// Copies checked shards (from check_shards) into `into` as one new run covering the whole cohort:
// rows copied in patient order, subgroup and survival-time counts summed, one run_parts row per
// shard, and the shards' run_blocks rows (so the run's content_digest, set when it completes, is
// the one-process run's). One transaction per shard; the run is 'incomplete' until the last one
// commits and is deleted again if any step fails (the error is rethrown). Killed midway, it stays
// 'incomplete': merge_files therefore builds a merge in a new file of its own and copies it into
// an existing file with copy_run. `progress` is called after each shard.
MergeResult merge_shards(ResultStore& into, const std::vector<ShardFile>& shards,
                         const std::function<void(const MergeProgress&)>& progress = {});

// Copies run `run_id` of the results file `from` (same schema version) into `into` as a new run,
// every row of it, in one transaction: the run appears whole or not at all. Returns its id in
// `into`. Throws InputError if `from` has no such run, StorageError if SQLite fails.
std::int64_t copy_run(ResultStore& into, const std::string& from, std::int64_t run_id);

}  // namespace vpgen
