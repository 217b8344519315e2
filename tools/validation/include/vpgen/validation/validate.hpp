// `vpgen validate`: runs the trial scenarios that a target mapping (configs/targets/mapping.toml)
// names, computes each mapped endpoint on the simulated cohort with its Monte Carlo confidence
// interval, and sets it beside the published figure from targets.csv with a within-tolerance
// verdict. Loading throws InputError "file:line: key 'k': why"; the rest is pure and deterministic
// (the same mapping, seed and patient count give the same report at any thread count).
// Not thread-safe to share a Cohort while it is being filled; run_validation is reentrant.
#pragma once

#include "vpgen/engine/course_params.hpp"
#include "vpgen/engine/outcome.hpp"
#include "vpgen/engine/simulator.hpp"
#include "vpgen/stats/endpoint.hpp"
#include "vpgen/stats/statistics.hpp"

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpgen::validation {

inline constexpr double kValidationCiLevel = 0.95;
inline constexpr std::uint64_t kDefaultPatients = 20000;
// The tolerance when a simulated value is outside the published interval.
inline constexpr double kRateTolerancePoints = 5.0;  // rates, in percentage points
inline constexpr double kRelativeTolerance = 0.20;   // medians, hazard ratios, the TMB slope

// ---- CSV (RFC 4180) ---------------------------------------------------------------------------

// One record and the line on which it starts (1-based; a quoted field may span lines).
struct CsvRecord {
  std::size_t line = 0;
  std::vector<std::string> fields;
};

// Parses RFC 4180 text: comma-separated fields, CRLF or LF records, fields in double quotes may
// hold commas, line breaks and "" for a quote. A leading UTF-8 byte-order mark and blank lines are
// skipped. Throws InputError "file:line: why" on a quote inside an unquoted field, text after a
// closing quote, or an unterminated quoted field.
std::vector<CsvRecord> parse_csv(std::string_view text, const std::string& file);

// ---- Vocabularies -----------------------------------------------------------------------------

// The endpoint vocabulary (names and scales) is shared with the report: vpgen/stats/endpoint.hpp.
using stats::Endpoint;
using stats::kEndpointNames;
using stats::Scale;
using stats::scale_of;
using stats::to_string;

enum class Subgroup : std::uint8_t {
  kAll,
  kPdl1Lt1,
  kPdl1Ge1,
  kPdl1Lt5,
  kPdl1Ge5,
  kPdl1From1To49,
  kPdl1Ge50,
  kLdhNormal,
  kLdhElevated,
  kEcog0,
  kEcogGe1,
  kHot,
  kCold,
  kTmbGe10,
  kTmbLt10,
  kPriorAntiPd1,
  kNoPriorAntiPd1,
  kAgeLt65,
  kAgeGe65,
  kSitesLe2,
  kSitesGe3,
};
inline constexpr std::array<std::string_view, 21> kSubgroupNames = {
    "all",        "pdl1_lt_1",  "pdl1_ge_1",    "pdl1_lt_5",      "pdl1_ge_5",         "pdl1_1_49",
    "pdl1_ge_50", "ldh_normal", "ldh_elevated", "ecog_0",         "ecog_ge_1",         "hot",
    "cold",       "tmb_ge_10",  "tmb_lt_10",    "prior_anti_pd1", "no_prior_anti_pd1", "age_lt_65",
    "age_ge_65",  "sites_le_2", "sites_ge_3"};
inline std::string_view to_string(Subgroup s) {
  return kSubgroupNames[static_cast<std::size_t>(s)];
}

// Whether a patient belongs to a subgroup. PD-L1 bands are on the tumour proportion score in %
// (pdl1_1_49 is 1 <= TPS < 50), TMB in mut/Mb, age in years, sites = metastatic organ sites.
bool in_subgroup(Subgroup subgroup, const Patient& patient);

enum class Role : std::uint8_t { kFit, kHoldout };
inline std::string_view to_string(Role r) { return r == Role::kFit ? "fit" : "holdout"; }

// kDefault: inside the published interval, or within the tolerance of the published
// figure. kCiOnly: inside the published interval only.
enum class ToleranceMode : std::uint8_t { kDefault, kCiOnly };

// ---- Published figures ------------------------------------------------------------------------

// A figure as targets.csv states it. An estimate "NR" (median not reached) or ">x" is a lower
// bound; an empty estimate with both interval columns is a range with no point.
struct PublishedValue {
  std::string text;  // the estimate column verbatim ("58", "NR", ">60.0 (NR)", "")
  double value = std::numeric_limits<double>::quiet_NaN();  // the number or the bound; NaN for NR
  bool lower_bound = false;  // "NR" or ">x": the true value is at least `value`
  double ci_low = std::numeric_limits<double>::quiet_NaN();   // NaN: no interval
  double ci_high = std::numeric_limits<double>::quiet_NaN();  // +infinity for "NR"
  std::string interval_kind;  // "95% CI", "99.5% CI", "range (not a CI)" or "" (none)
  std::string ci_text;        // the interval columns verbatim, "[38.2, NR]", or ""
  bool has_interval() const { return !interval_kind.empty(); }
};

// Reads the estimate, ci_low, ci_high and notes columns of one row. The interval is a 95% CI
// unless the notes name another level ("99.5% CI") or say it is not a CI ("NOT a CI", "not CI").
// Throws InputError "`where`: why" for a value that is neither a number, "NR" nor ">number".
PublishedValue parse_published(const std::string& estimate, const std::string& ci_low,
                               const std::string& ci_high, const std::string& notes,
                               const std::string& where);

// ---- The mapping ------------------------------------------------------------------------------

// What to compute, on which arm and which patients.
struct EndpointSpec {
  Endpoint endpoint = Endpoint::kOrr;
  Subgroup subgroup = Subgroup::kAll;
  std::size_t arm_index = 0;
  std::size_t reference_arm_index = 0;  // hr_* only
  double months = 0.0;                  // *_at and conditional_os: the landmark
  double from_months = 0.0;             // conditional_os: alive at this time
};

struct MappedTarget {
  std::string id;
  std::string source;        // targets.csv `source`
  std::string csv_endpoint;  // targets.csv `endpoint` (e.g. "OS_5y")
  std::string unit;          // targets.csv `unit`
  PublishedValue published;
  std::size_t scenario_index = 0;  // into Mapping::scenarios
  std::string scenario;            // its path as the mapping names it
  double horizon_months = 0.0;     // its follow-up
  std::string arm;
  std::string reference_arm;  // hr_* only
  EndpointSpec spec;
  Role role = Role::kFit;
  ToleranceMode tolerance = ToleranceMode::kDefault;
  std::string note;
  std::string location;  // "mapping.toml:12", for messages
};

struct MappedScenario {
  std::string path;   // as the mapping names it (relative to mapping.toml)
  Scenario scenario;  // loaded, with store_events = false
};

struct Mapping {
  std::string file;
  std::string targets_csv;                // targets.csv beside the mapping
  std::vector<MappedScenario> scenarios;  // in order of first use
  std::vector<MappedTarget> targets;      // in mapping order
};

// Reads `path` (one [[target]] table per target: id, scenario, arm, subgroup, endpoint, role,
// tolerance, and as the endpoint needs months, from_months, reference_arm; note optional) and
// targets.csv in the same folder; loads every scenario it names. Unknown keys, unknown ids,
// arms, subgroups or endpoints, a unit that does not fit the endpoint, and ci_only without a
// published interval are InputError "file:line: key 'target[i].k': why".
Mapping load_mapping(const std::string& path);

// ---- Simulated cohorts and endpoints ----------------------------------------------------------

// What validation keeps of one patient's course under one arm.
struct ArmOutcome {
  double pfs_months = 0.0;
  double os_months = 0.0;
  bool pfs_event = false;
  bool os_event = false;
  bool durable_cr = false;
  double dor_months = 0.0;                 // duration of response (responders only)
  bool dor_event = false;                  // progression or death ended it
  Response best_response = Response::kNE;  // confirmed RECIST 1.1
  std::uint8_t worst_irae_grade = 0;       // first line, CTCAE
  std::uint8_t worst_ae_grade = 0;         // other treatment-related AEs, first line
};

// The simulated patients of one scenario, in patient order.
class Cohort {
 public:
  explicit Cohort(std::size_t arms) : arms_(arms) {}
  // REQUIRES: outcomes.size() == arms(). Throws vpgen::Error otherwise.
  void add(const Patient& patient, const std::vector<Outcome>& outcomes);
  std::size_t arms() const { return arms_; }
  std::size_t size() const { return patients_.size(); }
  const Patient& patient(std::size_t i) const { return patients_[i]; }
  const ArmOutcome& outcome(std::size_t i, std::size_t arm) const {
    return outcomes_[i * arms_ + arm];
  }

 private:
  std::size_t arms_;
  std::vector<Patient> patients_;
  std::vector<ArmOutcome> outcomes_;  // patient-major
};

// A simulated endpoint: estimate and CI in the endpoint's unit (% for rates), and the number of
// patients behind it (the denominator; for conditional_os those alive at from_months; for hazard
// ratios both arms' patients, counted once; for the slope all patients of the arm).
struct EndpointEstimate {
  Interval value;
  std::uint64_t n = 0;
  bool not_reached = false;  // a median the Kaplan-Meier curve never reaches (n > 0)
};

// Rates: Clopper-Pearson. Medians: Kaplan-Meier with the Brookmeyer-Crowley interval. Landmarks:
// Kaplan-Meier with Greenwood's log-scale interval; conditional_os is the Kaplan-Meier curve of
// those alive at from_months, which equals S(months)/S(from_months) with Greenwood's sum over
// (from_months, months]. Hazard ratios: Cox, Breslow ties, Wald interval. The slope: least
// squares of ORR (%) on ln(median TMB) over the cancer types present, with the normal interval of
// sum_k w_k^2 p_k (1 - p_k) / n_k (w_k the least-squares weights; the median TMB is taken as
// known).
EndpointEstimate estimate_endpoint(const Cohort& cohort, const EndpointSpec& spec,
                                   double level = kValidationCiLevel);

// ---- Verdicts ---------------------------------------------------------------------------------

struct Verdict {
  bool within = false;
  std::string rule;  // the rule applied, in words: "inside the published 95% CI [53, 64] or ..."
};

// Decides whether a simulated value agrees with a published one. The acceptance set is the
// published interval (when there is one) united, under ToleranceMode::kDefault, with the published
// figure widened by the tolerance of its scale (a lower bound L becomes [L - 5, inf) for rates and
// [0.8 L, inf) otherwise; a bare "NR" is a lower bound at `horizon_months`, the scenario's
// follow-up). A simulated median that is not reached lies beyond `horizon_months` and is within
// when the acceptance set reaches past it. A simulated NaN that is not "not reached" is a miss.
Verdict decide(Scale scale, const PublishedValue& published, ToleranceMode mode,
               const EndpointEstimate& simulated, double horizon_months);

// ---- The run ----------------------------------------------------------------------------------

struct ValidationProgress {
  std::size_t scenario = 0;  // 0-based, among the scenarios that run
  std::size_t scenarios = 0;
  std::string name;  // the scenario's path as the mapping names it
  Progress patients;
};

struct ValidationOptions {
  std::uint64_t patients = kDefaultPatients;
  std::optional<std::uint64_t> seed;  // default: each scenario's own seed
  int threads = 0;                    // 0 = all cores
  std::optional<Role> role;           // only these targets (default all)
  std::function<void(const ValidationProgress&)> on_progress;
};

struct TargetResult {
  const MappedTarget* target = nullptr;  // into the Mapping, which must outlive the report
  EndpointEstimate simulated;
  Verdict verdict;
};

struct ScenarioRun {
  std::string path;
  std::string name;
  std::uint64_t seed = 0;
  std::uint64_t patients = 0;
  double horizon_months = 0.0;
};

struct RoleSummary {
  std::size_t targets = 0;
  std::size_t within = 0;
  double fraction() const {
    return targets == 0 ? std::numeric_limits<double>::quiet_NaN()
                        : static_cast<double>(within) / static_cast<double>(targets);
  }
};

struct ValidationReport {
  std::string mapping_file;
  std::uint64_t patients = 0;
  std::vector<ScenarioRun> runs;
  std::vector<TargetResult> targets;
  RoleSummary overall, fit, holdout;
  double ci_level = kValidationCiLevel;
};

// Simulates each scenario the selected targets need once, in memory, and evaluates the targets.
// Throws InputError for a bad patient count or seed, SimulationError if a patient fails.
ValidationReport run_validation(const Mapping& mapping, const ValidationOptions& options);

// Evaluates the targets on cohorts already simulated (one per scenario of the mapping, with
// `runs` describing them); run_validation's second half, for tests.
ValidationReport evaluate(const Mapping& mapping, const std::vector<const Cohort*>& cohorts,
                          const std::vector<ScenarioRun>& runs, std::optional<Role> role);

// {"vpgen", "ci_level", "runs": [...], "targets": [{"id", "source", "endpoint", "published",
// "simulated", "sim_ci_low", "sim_ci_high", "within_tolerance", ...}], "summary": {...}}.
nlohmann::json validation_json(const ValidationReport& report);
std::string validation_text(const ValidationReport& report);
std::string validation_markdown(const ValidationReport& report);

}  // namespace vpgen::validation
