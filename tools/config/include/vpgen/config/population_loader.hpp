// Reads the population parameter file (configs/model/population.toml) and a scenario's [cohort]
// table into validated PopulationParams / CohortSpec. Every scientific key is required, typed and
// range-checked; unknown keys are rejected; errors are InputError "file:line: key 'a.b': why".
// Not thread-safe (TableReader is not); the returned structs are plain values.
#pragma once

#include "vpgen/population/population_params.hpp"

#include <string>

namespace vpgen::config {

class TableReader;  // vpgen/config/toml_reader.hpp (toml++ stays out of this header)

// Reads a whole population parameter file from its root table: [hot_threshold], [correlation] and
// [types.<name>] for each of the 8 cancer types (kCancerTypeNames), each parameter table with a
// non-empty `source` string. Calls root.finish(), so the root may hold nothing else.
// Checks ranges, sums of probabilities (1 within 1e-9) and that the correlation matrix is
// symmetric, unit-diagonal and positive definite. Throws InputError.
PopulationParams read_population(TableReader& root);

// Reads and parses the file at `path`, then read_population(). Throws InputError if the file
// cannot be read or is not valid TOML.
PopulationParams load_population(const std::string& path);

// Reads a scenario's [cohort] table: `mix` (cancer type -> weight > 0, at least one; returned in
// CancerType order) and the optional [cohort.eligibility] table whose keys are all optional:
// min_pdl1_tps_percent, max_pdl1_tps_percent (0..100), min_tmb_mut_per_mb, max_tmb_mut_per_mb
// (>= 0), max_ecog (0..2), lines_of_therapy (non-empty list of distinct 1, 2, 3), prior_anti_pd1,
// hot, ldh_elevated (booleans). Calls finish() on both tables, so [cohort] may hold nothing else.
// Throws InputError.
CohortSpec read_cohort(TableReader& cohort);

}  // namespace vpgen::config
