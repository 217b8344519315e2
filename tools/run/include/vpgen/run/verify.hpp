// `vpgen verify`: a results file's tamper evidence checked (storage's check_run_integrity: block
// digests, tiling, counters, derived tables) and K patients per run replayed from the run's own
// scenario text and seed and compared with the stored rows bit for bit. Not thread-safe (uses one
// ResultStore).
#pragma once

#include "vpgen/storage/integrity.hpp"
#include "vpgen/storage/result_store.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vpgen {

struct VerifyOptions {
  std::optional<std::int64_t> run;  // every run of the file when empty
  std::uint64_t replay = 0;         // patients replayed per run
};

struct RunVerification {
  IntegrityReport integrity;  // its findings include those of the replays (table "replay")
  std::vector<std::uint64_t> replayed;  // the patient indices replayed, in increasing order
};

struct VerifyResult {
  std::string db;
  std::vector<RunVerification> runs;
  bool agrees() const;  // no finding in any run
};

// The patients a run's replay samples: `count` distinct indices of [first, end) (all of them if
// there are fewer), chosen by a generator seeded with the run's seed, in increasing order; the
// same for the same arguments on any machine.
std::vector<std::uint64_t> replay_sample(std::uint64_t seed, std::uint64_t first, std::uint64_t end,
                                         std::uint64_t count);

// Checks the runs of `store`. Throws InputError for a run id the file does not hold.
VerifyResult verify_store(ResultStore& store, const std::string& db, const VerifyOptions& options);

nlohmann::json verify_json(const VerifyResult& result);
std::string verify_text(const VerifyResult& result);

}  // namespace vpgen
