// Tamper evidence (docs/SCHEMA.md, run_blocks): what `vpgen verify` checks in storage — a run's
// block digests recomputed from its rows, the blocks' tiling of its patient range, its stored
// counters, and its derived tables recomputed from its rows. The replays are tools/run's. Not
// thread-safe: one call per store.
#pragma once

#include "vpgen/storage/result_store.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace vpgen {

// One disagreement: where, in which table, and what differs.
struct IntegrityFinding {
  std::string table;  // e.g. "run_blocks", "patients", "outcomes", "subgroup_counts"
  std::string where;  // e.g. "patients 10..19", "patient 13", "arm 0, time 4.5"
  std::string what;   // e.g. "digest differs: stored 1f2e..., the rows give 9a0b..."
};

struct IntegrityReport {
  std::int64_t run_id = 0;
  bool digest_recorded = false;            // false: the run was written before schema 6
  std::uint64_t blocks = 0;                // run_blocks rows checked
  std::uint64_t patients = 0;              // patient indices with rows
  std::vector<IntegrityFinding> findings;  // empty: everything agrees
};

// Reads run `run_id` (one read transaction) and compares: each block's digest and row count with
// the rows of its range (content_digest.hpp), the blocks' tiling of [first_patient, end_patient)
// (up to the last block while the run is incomplete), runs.content_digest with the blocks' sum,
// patients_stored and candidates_screened with the rows, one outcome per patient and arm, and
// subgroup_counts and survival_time_counts (so arm_summary and survival_counts) with the counts
// of the rows. Findings of one kind are capped at `limit`, the rest counted in one more.
// Throws InputError if there is no such run.
IntegrityReport check_run_integrity(ResultStore& store, std::int64_t run_id,
                                    std::size_t limit = 20);

}  // namespace vpgen
