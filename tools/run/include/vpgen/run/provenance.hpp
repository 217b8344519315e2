// What a run records about where its numbers came from. Pure functions; thread-safe.
#pragma once

#include "vpgen/engine/course_params.hpp"
#include "vpgen/storage/result_store.hpp"

#include <cstdint>

namespace vpgen {

RunProvenance make_provenance(const Scenario& scenario, std::uint64_t seed, std::uint64_t patients,
                              int threads, std::uint64_t block_size);

}  // namespace vpgen
