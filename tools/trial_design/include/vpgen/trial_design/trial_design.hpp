// Trial design (`vpgen size`): a trial's sample size from simulated replicate trials, either from
// the virtual population (mechanistic mode: each replicate resamples patients of a simulated pool
// and takes each one's outcome under the assigned arm) or from parametric survival models and
// fixed response rates, and the deterministic sample-size calculators. docs/DESIGN.md describes
// the design file and output. read_design throws InputError "file:line: key 'a.b': why"; run_design
// is deterministic (the same design file gives the same result at any thread count) and reentrant.
#pragma once

#include "vpgen/stats/statistics.hpp"

#include "vpgen/engine/cluster.hpp"
#include "vpgen/engine/course_params.hpp"
#include "vpgen/storage/result_store.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpgen::trial_design {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

enum class Mode : std::uint8_t { kMechanistic, kParametric };
inline constexpr std::array<std::string_view, 2> kModeNames = {"mechanistic", "parametric"};

enum class Endpoint : std::uint8_t { kOrr, kCrRate, kDurableCr, kPfs, kOs, kMilestone, kRmst };
inline constexpr std::array<std::string_view, 7> kEndpointNames = {
    "orr", "cr_rate", "durable_cr", "pfs", "os", "milestone", "rmst"};

enum class Analysis : std::uint8_t {
  kExactBinomial,
  kSimon,
  kFisher,
  kChiSquare,
  kLogrank,
  kRmst,
  kMilestone,
  kMaxCombo
};
inline constexpr std::array<std::string_view, 8> kAnalysisNames = {
    "exact_binomial", "simon", "fisher", "chi_square", "logrank", "rmst", "milestone", "maxcombo"};

// How patients enter: i.i.d. uniform over the accrual period, or patient i of n (1-based) at
// i * accrual / n (rpact's getSimulationSurvival).
enum class Entry : std::uint8_t { kRandom, kEven };
inline constexpr std::array<std::string_view, 2> kEntryNames = {"random", "even"};

template <typename E, std::size_t N>
std::string_view name_of(E value, const std::array<std::string_view, N>& names) {
  return names[static_cast<std::size_t>(value)];
}
inline std::string_view to_string(Mode v) { return name_of(v, kModeNames); }
inline std::string_view to_string(Endpoint v) { return name_of(v, kEndpointNames); }
inline std::string_view to_string(Analysis v) { return name_of(v, kAnalysisNames); }
inline std::string_view to_string(Entry v) { return name_of(v, kEntryNames); }

bool is_rate(Endpoint endpoint);
bool is_single_arm(Analysis analysis);

// A parametric time-to-event distribution (months), defined by its cumulative hazard H(t):
// exponential, piecewise exponential or mixture cure, optionally transformed by a hazard ratio
// that starts after a delay (H'(t) = H(min(t, d)) + hr (H(t) - H(d)) for t > d). Immutable, cheap
// to copy, thread-safe.
class SurvivalModel {
 public:
  enum class Kind : std::uint8_t { kExponential, kPiecewiseExponential, kMixtureCure };

  SurvivalModel() = default;
  static SurvivalModel exponential(double hazard_per_month);
  // Hazard hazards_per_month[k] on [breaks[k-1], breaks[k]) with breaks[-1] = 0; the last hazard
  // runs to infinity. REQUIRES: breaks strictly increasing and > 0, hazards.size() ==
  // breaks.size() + 1, hazards >= 0 with the last > 0.
  static SurvivalModel piecewise(std::vector<double> breaks_months,
                                 std::vector<double> hazards_per_month);
  // S(t) = cure + (1 - cure) exp(-hazard t) (Boag, JRSS B 1949; Berkson & Gage, JASA 1952).
  static SurvivalModel mixture_cure(double cure_fraction, double hazard_uncured_per_month);
  // This model with its hazard multiplied by `hazard_ratio` from `delay_months` on.
  SurvivalModel with_hazard_ratio(double hazard_ratio, double delay_months) const;

  Kind kind() const { return kind_; }
  double cumulative_hazard(double t_months) const;
  double survival(double t_months) const { return std::exp(-cumulative_hazard(t_months)); }
  // The time T with H(T) = h, +infinity when H never reaches h (a cured patient).
  double inverse_cumulative_hazard(double h) const;
  // A draw from the distribution, given e ~ Exp(1): T = H^-1(e).
  double time_from_exponential(double e) const { return inverse_cumulative_hazard(e); }
  double median_months() const { return inverse_cumulative_hazard(std::log(2.0)); }
  // Restricted mean survival time, integral of S on [0, tau] (closed form piece by piece).
  double rmst(double tau_months) const;
  // The constant hazard ratio to `other` if both are proportional-hazards transforms of one
  // exponential (no delay), else NaN.
  double constant_hazard_ratio_to(const SurvivalModel& other) const;
  // The hazard of a plain exponential (NaN otherwise).
  double exponential_hazard() const;
  nlohmann::json json() const;

 private:
  double base_cumulative_hazard(double t) const;
  double base_inverse(double h) const;

  Kind kind_ = Kind::kExponential;
  std::vector<double> breaks_;               // piecewise: starts of pieces 1..K-1
  std::vector<double> hazards_{1.0};         // one per piece
  std::vector<double> cumulative_at_break_;  // H at each break
  double cure_fraction_ = 0.0;
  double hazard_ratio_ = 1.0;
  double delay_months_ = 0.0;
  bool transformed_ = false;
};

struct Enrichment {
  std::optional<double> tmb_min_mut_per_mb;
  std::optional<double> pdl1_min_percent;
  bool active() const { return tmb_min_mut_per_mb || pdl1_min_percent; }
  std::string label() const;
};

struct Conduct {
  std::optional<double> accrual_months;          // fixed accrual duration, whatever n
  std::optional<double> accrual_rate_per_month;  // or a constant rate: duration n / rate
  Entry entry = Entry::kRandom;
  std::optional<double> followup_months;      // analysis at accrual end + this...
  std::optional<std::int64_t> events;         // ...or at the calendar time of this event
  double dropout_probability_per_year = 0.0;  // P(drop out within 12 months), exponential
  double accrual_duration_months(std::int64_t n) const;
  double dropout_hazard_per_month() const;
};

struct ReplicateSettings {
  std::uint64_t min = 1000;
  std::uint64_t max = 10000;
  double target_mcse = 0.005;
  std::uint64_t batch = 1000;
};

// A validated design file. Times in months.
struct Design {
  std::string file;  // the design file as named
  std::string text;  // the design file verbatim, then the scenario bundle if any
  std::string name;
  std::string description;
  std::uint64_t seed = 1;
  Mode mode = Mode::kParametric;

  // Mechanistic mode.
  std::string scenario_file;  // resolved path
  Scenario scenario;
  std::string control_arm, experimental_arm;
  std::size_t control_arm_index = 0, experimental_arm_index = 0;
  std::uint64_t pool_patients = 0;
  Enrichment enrichment;
  std::vector<double> sweep_tmb_cutoffs;  // empty: no sweep (a single 0 if only PD-L1 given)
  std::vector<double> sweep_pdl1_cutoffs;
  bool sweep = false;

  Endpoint endpoint = Endpoint::kOs;
  Endpoint time_to_event = Endpoint::kOs;  // milestone / rmst: OS or PFS
  double milestone_months = kNaN;
  double tau_months = kNaN;

  Analysis analysis = Analysis::kLogrank;
  double alpha = 0.025;
  int sides = 1;
  double target_power = 0.8;
  double allocation_ratio = 1.0;  // experimental : control
  double p0 = kNaN, p1 = kNaN;    // single-arm
  bool simon_minimax = false;
  bool continuity_correction = false;  // chi_square: Yates

  Conduct conduct;
  std::vector<std::int64_t> grid;  // total patients randomised (Simon: its own n)
  ReplicateSettings replicates;

  // Parametric mode.
  SurvivalModel control_model, experimental_model;
  double p_control = kNaN, p_experimental = kNaN;

  // n -> (control, experimental) patients: n_E = round(n r / (1 + r)), n_C = n - n_E.
  std::pair<std::int64_t, std::int64_t> arm_sizes(std::int64_t n) const;
};

// Reads and validates a design file; InputError "file:line: key 'a.b': why" on any bad value.
Design read_design(const std::string& path);
// The same from text; `file` names it in errors, relative paths are resolved from `folder`.
Design read_design_text(const std::string& text, const std::string& file,
                        const std::string& folder);

// ---- Results ------------------------------------------------------------------------------------

struct MeanSe {
  double mean = kNaN;
  double se = kNaN;
};

// Operating characteristics at one sample size, over `replicates` simulated trials.
struct PointResult {
  std::int64_t n = 0, n_control = 0, n_experimental = 0;
  std::uint64_t replicates = 0;
  std::uint64_t rejections = 0;  // under the alternative
  double power = kNaN, power_mcse = kNaN;
  std::uint64_t null_rejections = 0;
  double type1_error = kNaN, type1_mcse = kNaN;
  MeanSe events, duration_months, analysed;  // analysed: patients enrolled by the analysis
  double events_not_reached = kNaN;          // event-driven: fraction that never saw the D events
  double test_undefined = 0.0;               // fraction whose test had no p-value (not rejected)
  // Simon two-stage, simulated: stop after stage 1 and patients used, under the alternative
  // (the population's own outcomes) and under p0.
  double pet = kNaN, pet_p0 = kNaN;
  MeanSe expected_n, expected_n_p0;
  double approximate_power = kNaN;  // a standard formula where one applies (see json)
};

// probit(power) = a + b sqrt(n), fitted by binomial maximum likelihood to the grid's simulated
// power (Fisher scoring); n* solves it for the target power, its interval by the delta method on
// sqrt(n*), the covariance scaled by max(1, deviance / df) when the model fits less well than
// binomial noise allows.
struct PowerFit {
  bool ok = false;
  std::string note;  // why there is no fit, or that n* is extrapolated
  double a = kNaN, b = kNaN;
  std::array<double, 3> covariance{kNaN, kNaN, kNaN};  // var a, cov ab, var b
  double n_star = kNaN, n_low = kNaN, n_high = kNaN;
  double deviance = kNaN;
  int df = 0;
  double dispersion = kNaN;  // max(1, deviance / df): scales the covariance
  double gof_p = kNaN;       // P(chi-square(df) >= deviance)
  bool extrapolated = false;
};
struct FitPoint {
  double n = 0;
  std::uint64_t successes = 0;
  std::uint64_t trials = 0;
};
PowerFit fit_power_curve(const std::vector<FitPoint>& points, double target_power);

// The pool's outcomes under one arm, each with its 95% interval: proportions Clopper-Pearson,
// medians Kaplan-Meier with the Brookmeyer-Crowley interval (statistics.hpp).
struct PoolArmSummary {
  std::string arm;
  Interval orr, cr_rate, durable_cr;
  Interval median_pfs_months, median_os_months;
  double endpoint_rate = kNaN;  // the design's rate endpoint
};
struct PoolSummary {
  std::uint64_t patients = 0;        // simulated
  std::uint64_t eligible = 0;        // meeting the design's enrichment
  double screening_ratio = kNaN;     // candidates drawn per pool patient (eligibility)
  std::vector<PoolArmSummary> arms;  // control (if any), experimental
};

struct EnrichmentRow {
  double tmb_min = 0.0, pdl1_min = 0.0;
  std::uint64_t pool_patients = 0;
  double prevalence = kNaN;  // fraction of the pool meeting both cut-offs
  double prevalence_low = kNaN, prevalence_high = kNaN;  // Clopper-Pearson 95%
  std::vector<PointResult> points;                       // power only
  PowerFit fit;
  std::int64_t smallest_grid_n = -1;
  double screen = kNaN, screen_low = kNaN, screen_high = kNaN;  // to screen for n* randomised
  double screen_candidates = kNaN;  // including the scenario's own eligibility
  std::string note;
};

struct SimonSummary {
  int n1 = 0, r1 = 0, n = 0, r = 0;
  double alpha_actual = kNaN, power_actual = kNaN, pet_p0 = kNaN, expected_n_p0 = kNaN;
  double true_rate = kNaN;  // p_experimental or the pool's rate
  double reject_at_true = kNaN, pet_at_true = kNaN, expected_n_at_true = kNaN;  // exact
};

struct DesignResult {
  Design design;
  std::vector<PointResult> points;
  PowerFit fit;
  std::int64_t smallest_grid_n = -1;  // smallest grid n whose power estimate >= target
  std::optional<SimonSummary> simon;
  std::optional<PoolSummary> pool;
  std::vector<EnrichmentRow> enrichment;
  nlohmann::json formulas;    // deterministic calculators on the design's figures
  double wall_seconds = 0.0;  // not part of the JSON (which is thread-independent)
};

struct DesignProgress {
  std::string stage;  // "pool", "n = 300", "sweep TMB >= 10 ..."
  std::uint64_t done = 0, total = 0;
};
struct RunOptions {
  int threads = 0;  // 0 = all cores (of this process)
  std::function<void(const DesignProgress&)> on_progress;
  // The processes sharing the replicates (null: this process alone). Every rank calls run_design
  // with the same design and gets the same DesignResult; the call is then collective.
  Cluster* cluster = nullptr;
};

// With a cluster of several ranks: each rank runs its share of every batch of replicates and all
// ranks exchange the outcomes, so the result is the one-process result; a failure on any rank is
// thrown on every rank as a ClusterFailure (cluster.hpp).
DesignResult run_design(const Design& design, const RunOptions& options);

// Simulates `replicates` trials of `n` patients (the first replicates of run_design's sequence),
// with or without the null hypothesis; for benchmarks and tests. Parametric designs only.
PointResult simulate_point(const Design& design, std::int64_t n, std::uint64_t replicates,
                           bool with_null, int threads);

nlohmann::json result_json(const DesignResult& result);
std::string result_text(const DesignResult& result);

// The database rows: the design and one row per n.
DesignRecord design_record(const DesignResult& result, const std::string& json_text);
std::vector<DesignPointRecord> design_points(const DesignResult& result);

// ---- Deterministic calculators (`vpgen size --calc KIND`) ------------------------------------

struct CalculatorRequest {
  std::string kind;  // binomial | simon | proportions | events | duration
  std::optional<double> p0, p1, p_control, p_experimental, alpha, power, hazard_ratio;
  std::optional<double> median_control_months, hazard_control_per_month, accrual_months,
      accrual_rate_per_month, followup_months, dropout_probability_per_year, events;
  std::optional<std::int64_t> patients;
  int sides = 1;
  double allocation_ratio = 1.0;
  std::string criterion = "both";  // simon: optimal | minimax | both
  int n_max = 0;                   // 0: the calculator's default
};

// The answer as JSON; InputError naming the missing or bad option.
nlohmann::json calculate(const CalculatorRequest& request);
std::string calculator_text(const nlohmann::json& answer);
// The database rows of a calculator answer: design_text is the command line, one row at n_total
// with replicates = 0 (exact).
DesignRecord calculator_record(const nlohmann::json& answer, const std::string& command_line);
std::vector<DesignPointRecord> calculator_points(const nlohmann::json& answer);

}  // namespace vpgen::trial_design
