#include "vpgen/run/verify.hpp"

#include "vpgen/config/scenario_loader.hpp"
#include "vpgen/engine/simulator.hpp"
#include "vpgen/population/error.hpp"
#include "vpgen/run/patient_view.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <random>
#include <set>

namespace vpgen {
namespace {

// Replays the sampled patients of `run` and adds a finding per difference (or per patient that
// cannot be read back).
void replay_run(ResultStore& store, const RunInfo& info, std::uint64_t count,
                RunVerification& out) {
  const RunProvenance& p = info.provenance;
  const std::uint64_t end = std::min(p.end_patient, info.patient_index_end);
  out.replayed = replay_sample(p.seed, p.first_patient, end, count);
  if (out.replayed.empty()) return;
  const Simulator simulator(config::load_scenario_bundle(p.scenario_text));
  for (const std::uint64_t index : out.replayed) {
    const std::string where = fmt::format("patient {}", index);
    PatientResult stored;
    try {
      stored = store.patient(info.id, index).result;
    } catch (const InputError& e) {
      out.integrity.findings.push_back({"replay", where, e.what()});
      continue;
    }
    PatientResult replayed = simulator.simulate_patient(p.seed, index);
    if (replayed.error) {
      out.integrity.findings.push_back(
          {"replay", where, fmt::format("the replay failed: {}", *replayed.error)});
      continue;
    }
    if (!p.store_events) stored.events = replayed.events = {};
    for (const std::string& difference : compare_results(stored, replayed))
      out.integrity.findings.push_back({"replay", where, difference});
  }
}

}  // namespace

bool VerifyResult::agrees() const {
  return std::all_of(runs.begin(), runs.end(),
                     [](const RunVerification& r) { return r.integrity.findings.empty(); });
}

std::vector<std::uint64_t> replay_sample(std::uint64_t seed, std::uint64_t first, std::uint64_t end,
                                         std::uint64_t count) {
  std::vector<std::uint64_t> out;
  if (end <= first) return out;
  const std::uint64_t n = end - first;
  if (count >= n) {
    for (std::uint64_t i = first; i < end; ++i) out.push_back(i);
    return out;
  }
  // Floyd's sampling with the raw output of mt19937_64 (its sequence is fixed by the standard;
  // std:: distributions are not), so the sample is the same with any standard library.
  std::mt19937_64 generator(seed);
  std::set<std::uint64_t> chosen;
  for (std::uint64_t j = n - count; j < n; ++j) {
    const std::uint64_t t = generator() % (j + 1);
    if (!chosen.insert(first + t).second) chosen.insert(first + j);
  }
  return {chosen.begin(), chosen.end()};
}

VerifyResult verify_store(ResultStore& store, const std::string& db, const VerifyOptions& options) {
  VerifyResult result;
  result.db = db;
  std::vector<RunInfo> runs;
  if (options.run) runs.push_back(store.run_info(*options.run));
  else runs = store.list_runs();
  for (const RunInfo& info : runs) {
    RunVerification& run = result.runs.emplace_back();
    run.integrity = check_run_integrity(store, info.id);
    if (options.replay > 0) replay_run(store, info, options.replay, run);
  }
  return result;
}

nlohmann::json verify_json(const VerifyResult& result) {
  nlohmann::json runs = nlohmann::json::array();
  for (const RunVerification& r : result.runs) {
    nlohmann::json findings = nlohmann::json::array();
    for (const IntegrityFinding& f : r.integrity.findings)
      findings.push_back({{"table", f.table}, {"where", f.where}, {"what", f.what}});
    runs.push_back({{"run", r.integrity.run_id},
                    {"digest_recorded", r.integrity.digest_recorded},
                    {"blocks", r.integrity.blocks},
                    {"patients", r.integrity.patients},
                    {"replayed", r.replayed},
                    {"agrees", r.integrity.findings.empty()},
                    {"findings", findings}});
  }
  return {{"db", result.db}, {"agrees", result.agrees()}, {"runs", runs}};
}

std::string verify_text(const VerifyResult& result) {
  std::string out;
  for (const RunVerification& r : result.runs) {
    const IntegrityReport& i = r.integrity;
    out += fmt::format("run {}: {} patients, ", i.run_id, i.patients);
    out += i.digest_recorded ? fmt::format("{} block digests", i.blocks)
                             : std::string("no digest recorded (run written before schema 6)");
    out += fmt::format(", derived tables, {} patients replayed: ", r.replayed.size());
    out += i.findings.empty() ? "all agree\n" : fmt::format("{} DIFFER\n", i.findings.size());
    for (const IntegrityFinding& f : i.findings)
      out += fmt::format("  run {}, {}{}{}: {}\n", i.run_id, f.table, f.where.empty() ? "" : ", ",
                         f.where, f.what);
  }
  if (result.runs.empty()) out += fmt::format("{} holds no runs\n", result.db);
  return out;
}

}  // namespace vpgen
