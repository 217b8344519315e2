// `vpgen patient`: replays one stored patient from the run's own scenario bundle and seed, and
// compares the replay with the stored rows field by field (bitwise for numbers). Not thread-safe
// (uses one ResultStore).
#pragma once

#include "vpgen/engine/outcome.hpp"
#include "vpgen/storage/result_store.hpp"

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

namespace vpgen {

struct ReplayResult {
  std::int64_t run_id = 0;
  std::vector<std::string> arm_names;
  PatientResult replayed;
  PatientResult stored;
  bool identical = false;
  std::vector<std::string> differences;  // "outcomes[1].os_months: stored 12.5, replayed 12.4"
};

ReplayResult replay_patient(ResultStore& store, std::int64_t run_id, std::uint64_t index);

// Field-by-field differences between two results (empty if identical; NaN equals NaN).
std::vector<std::string> compare_results(const PatientResult& a, const PatientResult& b);

nlohmann::json patient_json(const Patient& patient);
nlohmann::json outcome_json(const Outcome& outcome);
nlohmann::json replay_json(const ReplayResult& replay);
std::string replay_text(const ReplayResult& replay);

}  // namespace vpgen
