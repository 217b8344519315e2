// The therapy-course model. docs/MODEL.md gives the equations, their symbols and sources; the
// comments here name the symbols.
#include "course.hpp"

#include "vpgen/population/error.hpp"
#include "vpgen/population/random_stream.hpp"

#include <boost/random/beta_distribution.hpp>
#include <boost/random/exponential_distribution.hpp>
#include <boost/random/gamma_distribution.hpp>
#include <boost/random/normal_distribution.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace vpgen::detail {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kDaysPerYear = 365.25;
constexpr double kWeek = 7.0;
// Time grid of the dynamics: weekly for the first two years, when responses, progression and
// toxicity happen; four-weekly after. Assessments, onsets and planned stops are extra boundaries.
constexpr double kFineStepDays = 7.0;
constexpr double kFineUntilDays = 104.0 * kWeek;
constexpr double kCoarseStepDays = 28.0;
// RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009;45:228-247): PR is a 30 % decrease of the sum
// of diameters from baseline; PD a 20 % increase from the nadir that is also >= 5 mm.
constexpr double kPrThreshold = -30.0;
constexpr double kPdRelative = 1.2;
constexpr double kPdAbsoluteMm = 5.0;
constexpr double kDurableCrMonths = 60.0;

double months_to_days(double months) { return months * kDaysPerMonth; }
double days_to_months(double days) { return days / kDaysPerMonth; }

// Effector potential with PD-1 blockade `pd1` and CTLA-4 blockade `ctla4` (fractions 0..1):
// E = a * p * (1 - b (1 - pd1)) * (1 - e (1 - pd1)), p = I + gain * ctla4 * (1 - I).
double effector_potential(const CourseParams& params, double antigenicity, double infiltration,
                          double brake, double pd1, double ctla4) {
  const double priming = infiltration + params.ctla4_priming_gain * ctla4 * (1.0 - infiltration);
  return antigenicity * priming * (1.0 - brake * (1.0 - pd1)) *
         (1.0 - params.exhaustion_brake * (1.0 - pd1));
}

constexpr std::size_t kMaxPhases = kMaxRegimenPhases;

// One phase of one line, as it acts on this patient. Days are from the line's first dose.
struct PhaseSetup {
  double end_day = kInfinity;   // the phase ends here (infinity when open-ended)
  double activation = 0.0;      // A_p: therapy-added effector activity while it is given
  double immune_per_day = 0.0;  // k_I = max_kill * A_p, the target of the immune level L
  double chemo_per_day = 0.0;   // k_C on cells that are not resistant to the drug
  double irae_per_day = 0.0;    // irAE hazard at the line's first dose
  double frac_severe_irae = 0.0;
  double ae_per_day = 0.0;  // other treatment-related AEs
  double frac_severe_ae = 0.0;
};

// Everything about one line of therapy that does not change while it runs.
struct LineSetup {
  std::array<PhaseSetup, kMaxPhases> phases{};
  std::size_t phase_count = 0;
  double start_day = 0.0;
  double planned_stop_day = kInfinity;  // phases done or maximum duration reached
  double onset_day = 0.0;               // immune killing starts here
  double peak_activation = 0.0;
  double memory_per_day = 0.0;      // M, from the onset on
  double decay_tau_days = 1.0;      // the immune level's decay time when its target falls
  double resistant_fraction = 0.0;  // cytotoxic lines: cells resistant to the drug
  bool cytotoxic = false;           // some phase kills directly
  bool holds = true;                // severe AEs hold or stop it (not cell therapy)

  const PhaseSetup& phase_at(double day) const {
    for (std::size_t i = 0; i + 1 < phase_count; ++i)
      if (start_day + phases[i].end_day > day) return phases[i];
    return phases[phase_count - 1];
  }
  // The first phase boundary after `day` (infinity if none).
  double next_boundary(double day) const {
    for (std::size_t i = 0; i < phase_count; ++i)
      if (start_day + phases[i].end_day > day) return start_day + phases[i].end_day;
    return kInfinity;
  }
};

LineSetup setup_line(const CourseParams& params, const RegimenSpec& regimen, const Patient& patient,
                     const PatientBiology& biology, double start_day, bool prior_anti_pd1,
                     int earlier_lines) {
  if (regimen.phases.empty() || regimen.phases.size() > kMaxPhases)
    throw SimulationError("regimen '" + regimen.name + "' must have 1 to 8 phases");
  LineSetup line;
  line.start_day = start_day;
  const double antigenicity = 1.0 - std::exp(-patient.tmb_mut_per_mb / params.tmb_scale_mut_per_mb);
  const double brake = params.pdl1_brake_max * patient.pdl1_tps_percent /
                       (patient.pdl1_tps_percent + params.pdl1_half_percent);
  const double untreated =
      effector_potential(params, antigenicity, patient.infiltration, brake, 0.0, 0.0);
  // Each earlier line of therapy for advanced disease (chemotherapy, targeted therapy) leaves a
  // less fit immune system and a selected tumour: Z x later_line_effector_factor^(line - 1).
  const double strength =
      biology.effector_strength * std::pow(params.later_line_effector_factor, earlier_lines);
  const double checkpoint_strength =
      strength * (prior_anti_pd1 ? params.prior_anti_pd1_factor : 1.0);
  const double cell_strength =
      strength * (prior_anti_pd1 ? params.prior_anti_pd1_cell_factor : 1.0);
  const auto type = static_cast<std::size_t>(patient.cancer_type);
  const double sensitivity = regimen.regimen_class == RegimenClass::kTargeted
                                 ? regimen.targeted_sensitivity[type]
                                 : params.types[type].chemo_sensitivity;
  double phase_start = 0.0;
  for (const RegimenPhase& spec : regimen.phases) {
    PhaseSetup& phase = line.phases[line.phase_count++];
    const double treated = effector_potential(params, antigenicity, patient.infiltration, brake,
                                              spec.pd1_blockade, spec.ctla4_blockade);
    // Checkpoint blockade releases brakes on the patient's own response; infused cells bypass
    // priming (p = 1) and exhaustion but still meet the PD-L1 brake unless PD-1 is blocked too.
    phase.activation =
        checkpoint_strength * std::max(0.0, treated - untreated) +
        cell_strength * spec.cell_dose * antigenicity * (1.0 - brake * (1.0 - spec.pd1_blockade));
    phase.immune_per_day = params.max_kill_per_month * phase.activation / kDaysPerMonth;
    phase.chemo_per_day = spec.kill_per_month * sensitivity / kDaysPerMonth;
    phase.irae_per_day = spec.irae_hazard_per_month *
                         (1.0 + params.irae_activation_coupling * phase.activation) / kDaysPerMonth;
    phase.frac_severe_irae = spec.frac_severe_irae;
    phase.ae_per_day = spec.ae_hazard_per_month / kDaysPerMonth;
    phase.frac_severe_ae = spec.frac_severe_ae;
    phase_start = spec.cycles > 0 ? phase_start + spec.cycles * spec.cycle_length_days : kInfinity;
    phase.end_day = phase_start;
    line.peak_activation = std::max(line.peak_activation, phase.activation);
    line.cytotoxic = line.cytotoxic || phase.chemo_per_day > 0.0;
  }
  double planned = regimen.phases_end_day();
  if (regimen.max_duration_months > 0.0)
    planned = std::min(planned, months_to_days(regimen.max_duration_months));
  line.planned_stop_day = start_day + planned;
  line.onset_day = start_day + biology.onset_days * regimen.onset_scale;
  line.memory_per_day = params.memory_surveillance_per_month *
                        std::pow(patient.memory_capacity, params.memory_surveillance_exponent) *
                        std::min(1.0, line.peak_activation) / kDaysPerMonth;
  if (regimen.regimen_class == RegimenClass::kTargeted)
    line.resistant_fraction =
        std::min(1.0, regimen.targeted_resistant_fraction_median * biology.resistance_factor);
  else if (line.cytotoxic) line.resistant_fraction = biology.chemo_resistant_fraction;
  line.holds = regimen.regimen_class != RegimenClass::kCellTherapy;
  const double decay_months = regimen.regimen_class == RegimenClass::kCellTherapy
                                  ? params.cell_persistence_months
                                  : params.memory_tau_max_months;
  line.decay_tau_days = std::max(1.0, months_to_days(decay_months) * patient.memory_capacity);
  return line;
}

// Integral of exp(-(t - t_stop) / tau) over [a, b] with a >= t_stop.
double decayed_integral(double a, double b, double stop, double tau) {
  return tau * (std::exp(-(a - stop) / tau) - std::exp(-(b - stop) / tau));
}
// Per-visit RECIST category before confirmation.
Response classify_visit(double measured_mm, double baseline_mm, double nadir_mm) {
  if (measured_mm >= kPdRelative * nadir_mm && measured_mm - nadir_mm >= kPdAbsoluteMm)
    return Response::kPD;
  if (measured_mm <= 0.0) return Response::kCR;
  if (100.0 * (measured_mm - baseline_mm) / baseline_mm <= kPrThreshold) return Response::kPR;
  return Response::kSD;
}

bool is_response(Response r) { return r == Response::kCR || r == Response::kPR; }

struct Visit {
  double day;
  Response response;
};

// Years from `age` until the cumulative background hazard reaches `target` (an Exp(1) draw), so
// that the death time has the life table's survival S(t) = exp(-H(age, age + t)), H the integral of
// the piecewise-constant hazard mu_i = -ln(1 - q_i) / width_i of interval i: the constant-force
// relation q = 1 - exp(-mu * width) of life-table construction (Preston, Heuveline & Guillot,
// Demography, Blackwell 2001, ch. 3). Beyond the last age its hazard continues; below the first
// age the first hazard applies.
double other_death_years(const LifeTable& table, Sex sex, double age, double target) {
  const std::vector<double>& ages = table.age_years;
  const std::vector<double>& q = sex == Sex::kMale ? table.q_male : table.q_female;
  if (ages.empty()) return kInfinity;
  // The interval that holds `age`: the last one starting at or before it, else the first.
  const auto after = std::upper_bound(ages.begin(), ages.end(), age);
  std::size_t i = after == ages.begin() ? 0 : static_cast<std::size_t>(after - ages.begin()) - 1;
  double at = age;
  double remaining = target;
  for (;; ++i) {
    const bool last = i + 1 == ages.size();
    const double width = last ? 1.0 : ages[i + 1] - ages[i];
    const double hazard_per_year = -std::log1p(-q[i]) / width;
    if (last) return hazard_per_year > 0.0 ? at + remaining / hazard_per_year - age : kInfinity;
    const double span = hazard_per_year * (ages[i + 1] - at);
    if (hazard_per_year > 0.0 && remaining <= span) return at + remaining / hazard_per_year - age;
    remaining -= span;
    at = ages[i + 1];
  }
}

}  // namespace

PatientBiology draw_biology(const CourseParams& params, const Patient& patient,
                            std::uint64_t seed) {
  const CourseTypeParams& type = params.types[static_cast<std::size_t>(patient.cancer_type)];
  PatientBiology biology;
  Stream course(seed, patient.index, kNoArm, Purpose::kCourse);
  boost::random::normal_distribution<double> normal;
  boost::random::exponential_distribution<double> exponential;
  const double doubling_months =
      type.doubling_time_median_months * std::exp(type.doubling_time_sigma_log * normal(course));
  biology.growth_per_day = std::log(2.0) / months_to_days(doubling_months);
  biology.effector_strength = std::exp(params.effector_sigma_log * normal(course));
  boost::random::gamma_distribution<double> onset(params.onset_shape,
                                                  params.onset_mean_months / params.onset_shape);
  biology.onset_days = months_to_days(onset(course));
  biology.escape_threshold = exponential(course);
  biology.resistance_factor = std::exp(params.chemo_resistant_sigma_log * normal(course));
  biology.chemo_resistant_fraction =
      std::min(1.0, type.chemo_resistant_fraction_median * biology.resistance_factor);
  biology.disease_death_threshold = exponential(course);
  boost::random::beta_distribution<double> residual(params.residual_alpha, params.residual_beta);
  biology.residual_fraction = residual(course);

  // Background mortality from the life table: one Exp(1) draw, inverted through the cumulative
  // hazard from the patient's age.
  Stream other(seed, patient.index, kNoArm, Purpose::kOtherDeath);
  const double target = exponential(other);
  biology.other_death_day =
      other_death_years(params.life_table, patient.sex, patient.age_years, target) * kDaysPerYear;

  // The sum of diameters split evenly over up to five target lesions (RECIST 1.1 maximum), each a
  // sphere: V = n * pi/6 * (D / n)^3.
  const double lesions = std::clamp(static_cast<double>(patient.metastatic_sites), 1.0, 5.0);
  const double lesion_cm = patient.tumour_burden_mm / 10.0 / lesions;
  biology.baseline_cells =
      params.cells_per_cm3 * lesions * (M_PI / 6.0) * lesion_cm * lesion_cm * lesion_cm;

  biology.death_hazard_per_day = type.disease_death_hazard_per_month / kDaysPerMonth *
                                 std::pow(params.ecog_death_hr, patient.ecog) *
                                 (patient.ldh_elevated ? params.ldh_death_hr : 1.0) *
                                 std::pow(params.sites_death_hr, patient.metastatic_sites - 1) *
                                 std::pow(params.later_line_death_hr, patient.line_of_therapy - 1);
  return biology;
}

std::vector<double> assessment_days(const AssessmentSchedule& schedule, double horizon_days) {
  std::vector<double> days;
  const double first = schedule.first_interval_weeks * kWeek;
  const double later = schedule.later_interval_weeks * kWeek;
  const double phase_end = months_to_days(schedule.first_phase_months);
  double day = schedule.first_visit_weeks * kWeek;
  while (day <= horizon_days) {
    days.push_back(day);
    day += day + 1e-9 < phase_end ? first : later;
  }
  return days;
}

namespace {

// Best overall response of a sequence of visits: a CR (PR) counts when the next visit, at least
// `confirm_days` later, shows CR (CR or PR); unconfirmed responses count as SD; SD counts from
// `min_sd_days`. Returns the best category, the day and category of the first confirmed response,
// and the day of the first confirmed CR.
struct BestResponse {
  Response best = Response::kNE;
  double response_day = kInfinity;
  Response first_response = Response::kNE;
  double cr_day = kInfinity;
};

int rank(Response r) {
  switch (r) {
    case Response::kCR: return 0;
    case Response::kPR: return 1;
    case Response::kSD: return 2;
    case Response::kPD: return 3;
    default: return 4;
  }
}

BestResponse best_response(const Visit* begin, const Visit* end, double confirm_days,
                           double min_sd_days) {
  BestResponse result;
  const std::size_t count = static_cast<std::size_t>(end - begin);
  const Visit* visits = begin;
  for (std::size_t v = 0; v < count; ++v) {
    const Response r = visits[v].response;
    Response counted = r;
    if (is_response(r)) {
      const bool confirmed = v + 1 < count && visits[v + 1].day - visits[v].day >= confirm_days &&
                             (r == Response::kCR ? visits[v + 1].response == Response::kCR
                                                 : is_response(visits[v + 1].response));
      if (confirmed) {
        if (result.response_day == kInfinity) {
          result.response_day = visits[v].day;
          result.first_response = r;
        }
        if (r == Response::kCR && result.cr_day == kInfinity) result.cr_day = visits[v].day;
      } else {
        counted = Response::kSD;
      }
    }
    if (counted == Response::kSD && visits[v].day < min_sd_days) continue;
    if (rank(counted) < rank(result.best)) result.best = counted;
  }
  return result;
}

// iRECIST state of the first line (Seymour et al., Lancet Oncol 2017;18:e143-e152).
enum class Irecist : std::uint8_t { kNone, kUnconfirmed, kConfirmed };

// One course: the first line, and the next line if the arm has one. Holds the state of the
// tumour compartments, the immune level, treatment and toxicity, and the readings of the scans.
class Course {
 public:
  Course(const Scenario& scenario, const std::vector<double>& assessments, const Patient& patient,
         const PatientBiology& biology, std::uint64_t seed, std::uint32_t arm_index,
         std::vector<CourseEvent>* events)
      : scenario_(scenario),
        params_(scenario.course),
        arm_(scenario.arms[arm_index]),
        assessments_(assessments),
        patient_(patient),
        biology_(biology),
        arm_index_(arm_index),
        events_(events),
        toxicity_(seed, patient.index, arm_index, Purpose::kToxicity),
        measurement_(seed, patient.index, arm_index, Purpose::kAssessment),
        new_lesions_(seed, patient.index, arm_index, Purpose::kNewLesions),
        decision_(seed, patient.index, arm_index, Purpose::kTreatmentDecision),
        log_cells0_(std::log(biology.baseline_cells)),
        horizon_(months_to_days(scenario.horizon_months)),
        first_event_(events ? events->size() : 0) {}

  Outcome run();

 private:
  void record(double day, EventKind kind, int code, double value) {
    if (events_) events_->push_back(CourseEvent{arm_index_, day, kind, code, value});
  }
  void start_line(int number, const RegimenSpec& regimen, double day, bool prior_anti_pd1);
  void stop_treatment(double day, StopReason reason);
  void end_line_by_progression(double day);
  bool dosing() const { return on_treatment_ && !held_; }
  double growth_per_day() const {
    return biology_.growth_per_day *
           (line_progressed_ && !on_treatment_ && next_line_day_ == kInfinity
                ? params_.post_progression_growth_factor
                : 1.0);
  }
  double viable_cells() const { return cells_s_ + cells_c_ + cells_e_; }  // relative to baseline
  // The linear sizes follow the logs: one exp per compartment and change.
  static double cells_of(bool alive, double log_cells) { return alive ? std::exp(log_cells) : 0.0; }
  double death_hazard(double cells) const {
    const double gamma = params_.burden_death_exponent;
    return biology_.death_hazard_per_day * (gamma == 1.0 ? cells : std::pow(cells, gamma));
  }
  void advance_tumour(double t0, double t1);
  double irae_dosing_rate(double day) const;
  double irae_integral(double a, double b) const;
  double ae_integral(double a, double b) const;
  void toxicity_events(double t0, double t1);
  void adverse_event(double day, bool immune);
  double measured_diameter(double day);
  void assess(double day);
  void assess_first_line(double day, double measured);
  Outcome finish();

  const Scenario& scenario_;
  const CourseParams& params_;
  const ArmSpec& arm_;
  const std::vector<double>& assessments_;
  const Patient& patient_;
  const PatientBiology& biology_;
  std::uint32_t arm_index_;
  std::vector<CourseEvent>* events_;
  Stream toxicity_;
  Stream measurement_;
  Stream new_lesions_;
  Stream decision_;
  boost::random::normal_distribution<double> normal_;
  boost::random::exponential_distribution<double> exponential_;
  double log_cells0_;
  double horizon_;
  std::size_t first_event_;
  Outcome out_;

  // Line of therapy.
  LineSetup line_;
  int line_number_ = 1;
  bool on_treatment_ = false;
  bool held_ = false;
  double resume_day_ = kInfinity;
  double dosing_end_day_ = 0.0;     // when dosing last stopped (hold or stop)
  double irae_level_at_end_ = 0.0;  // irAE hazard per day at that moment
  bool line_progressed_ = false;    // RECIST progression on the current line
  double next_line_day_ = kInfinity;
  int severe_iraes_ = 0;
  bool steroids_ = false;

  // Tumour: log cells relative to baseline in three compartments. S is killed by the drug and
  // the immune system; C (resistant to the cytotoxic or targeted drug) only by the immune
  // system; E (the immune-escape clone) only by the drug.
  double log_s_ = 0.0, log_c_ = 0.0, log_e_ = 0.0;
  double cells_s_ = 1.0, cells_c_ = 0.0, cells_e_ = 0.0;  // exp of the logs, 0 when extinct
  bool s_alive_ = true, c_alive_ = false, e_alive_ = false;
  bool c_created_ = false;
  bool e_created_ = false;
  double irae_early_days_ = 1.0;
  double irae_decay_days_ = 1.0;
  double immune_level_ = 0.0;     // L: therapy-driven kill rate per day (before saturation)
  double memory_per_day_ = 0.0;   // M once established
  double first_onset_day_ = 0.0;  // the first line's immune onset
  double escape_hazard_ = 0.0;
  double eradication_day_ = kInfinity;

  // Hazards and their Exp(1) thresholds.
  double disease_hazard_ = 0.0;
  double irae_hazard_ = 0.0, irae_threshold_ = 0.0;
  double ae_hazard_ = 0.0, ae_threshold_ = 0.0;
  double new_lesion_hazard_ = 0.0, new_lesion_threshold_ = 0.0;
  bool new_lesion_ = false;
  double death_day_ = kInfinity;
  DeathCause death_cause_ = DeathCause::kAlive;

  // Readings of the first line: RECIST 1.1, and iRECIST beside it.
  double baseline_mm_ = 0.0;
  double nadir_mm_ = 0.0;
  double inadir_mm_ = 0.0;  // iRECIST nadir (excludes iUPD visits)
  double best_change_ = kInfinity;
  bool recist_progressed_ = false;
  double progression_day_ = kInfinity;
  bool assessing_first_line_ = true;
  Irecist irecist_ = Irecist::kNone;
  double iupd_day_ = kInfinity;
  double iupd_mm_ = 0.0;
  double irecist_progression_day_ = kInfinity;
  std::size_t recist_visit_count_ = 0;  // visits up to the first RECIST PD
  double last_first_line_visit_ = 0.0;
  // The next line: its own baseline (the tumour when it starts) and nadir.
  double line2_baseline_mm_ = 0.0;
  double line2_nadir_mm_ = 0.0;
  double progression2_day_ = kInfinity;
  double last_visit_ = 0.0;

  std::size_t next_assessment_ = 0;
};

// Scratch space reused by each worker thread: no allocation per course on the hot path. It holds
// only this course's visits, so its reuse cannot carry state from one patient to the next.
thread_local std::vector<Visit> recist_visits;
thread_local std::vector<Visit> irecist_visits;

void Course::start_line(int number, const RegimenSpec& regimen, double day, bool prior_anti_pd1) {
  line_number_ = number;
  // The arm's next line is one more line of therapy for the patient.
  line_ = setup_line(params_, regimen, patient_, biology_, day, prior_anti_pd1,
                     patient_.line_of_therapy - 1 + (number - 1));
  on_treatment_ = true;
  held_ = false;
  resume_day_ = kInfinity;
  line_progressed_ = false;
  severe_iraes_ = 0;
  // Cells resistant to a cytotoxic or targeted drug exist before it is first given
  // (Goldie & Coldman, Cancer Treat Rep 1979;63:1727-1733).
  if (line_.cytotoxic && !c_created_ && s_alive_ && line_.resistant_fraction > 0.0) {
    const double fraction = std::min(line_.resistant_fraction, 0.999999);
    log_c_ = log_s_ + std::log(fraction);
    c_alive_ = log_c_ + log_cells0_ >= 0.0;
    log_s_ += std::log1p(-fraction);
    cells_s_ = cells_of(s_alive_, log_s_);
    cells_c_ = cells_of(c_alive_, log_c_);
    c_created_ = true;
  }
  if (number == 1) {
    record(day, EventKind::kTreatmentStart, 0, kNoValue);
  } else {
    record(day, EventKind::kNextLine, number, kNoValue);
    out_.next_line_months = days_to_months(day);
    // A new baseline: the tumour as it stands when the next line starts.
    line2_baseline_mm_ = measured_diameter(day);
    line2_nadir_mm_ = line2_baseline_mm_;
    new_lesion_ = false;
    new_lesion_hazard_ = 0.0;
    new_lesion_threshold_ = exponential_(new_lesions_);
  }
}

void Course::stop_treatment(double day, StopReason reason) {
  if (!on_treatment_) return;
  if (!held_) {
    irae_level_at_end_ = irae_dosing_rate(day);
    dosing_end_day_ = day;
  }
  on_treatment_ = false;
  held_ = false;
  if (line_number_ == 1) {
    out_.stop_reason = reason;
    out_.treatment_months = days_to_months(day - line_.start_day);
  }
  record(day, EventKind::kTreatmentStop, static_cast<int>(reason), kNoValue);
}

void Course::end_line_by_progression(double day) {
  line_progressed_ = true;
  stop_treatment(day, StopReason::kProgression);
  if (line_number_ != 1) return;
  assessing_first_line_ = false;
  const NextLineSpec& next = arm_.next_line;
  if (next.enabled && decision_.uniform_open() < next.probability)
    next_line_day_ = day + next.delay_weeks * kWeek;
}

double Course::irae_dosing_rate(double day) const {
  const double f = params_.irae_late_fraction;
  return line_.phase_at(day).irae_per_day *
         (f + (1.0 - f) * std::exp(-(day - line_.start_day) / irae_early_days_));
}

// Integral over [a, b] (one phase, one treatment state) of the irAE hazard: while dosing,
// h_p (f + (1 - f) e^{-(t - s)/T}) with s the line's first dose; after dosing stops (hold or stop)
// its level at that moment decays with the post-treatment time constant.
double Course::irae_integral(double a, double b) const {
  if (dosing()) {
    const double f = params_.irae_late_fraction;
    const double early = irae_early_days_;
    const double s = line_.start_day;
    return line_.phase_at(a).irae_per_day *
           (f * (b - a) +
            (1.0 - f) * early * (std::exp(-(a - s) / early) - std::exp(-(b - s) / early)));
  }
  // Forty decay times after the last dose the hazard is below e^-40 of its level: skip it.
  if (irae_level_at_end_ <= 0.0 || a - dosing_end_day_ > 40.0 * irae_decay_days_) return 0.0;
  return irae_level_at_end_ * decayed_integral(a, b, dosing_end_day_, irae_decay_days_);
}

double Course::ae_integral(double a, double b) const {
  return dosing() ? line_.phase_at(a).ae_per_day * (b - a) : 0.0;
}

// irAEs and other AEs over [t0, t1]: each crossing of an Exp(1) threshold by a cumulative hazard is
// one event, after which a new threshold is drawn. The earlier of the two next events is applied
// first, since it can hold or stop treatment and so change both hazards.
void Course::toxicity_events(double t0, double t1) {
  double a = t0;
  while (a < t1 && death_day_ == kInfinity) {
    const double irae = irae_integral(a, t1);
    const double ae = ae_integral(a, t1);
    // Onsets inside [a, t1]: the hazards are close to constant over one step, so interpolate.
    const double irae_day = irae > 0.0 && irae_hazard_ + irae >= irae_threshold_
                                ? a + (t1 - a) * (irae_threshold_ - irae_hazard_) / irae
                                : kInfinity;
    const double ae_day = ae > 0.0 && ae_hazard_ + ae >= ae_threshold_
                              ? a + (t1 - a) * (ae_threshold_ - ae_hazard_) / ae
                              : kInfinity;
    if (irae_day == kInfinity && ae_day == kInfinity) {
      irae_hazard_ += irae;
      ae_hazard_ += ae;
      return;
    }
    const bool immune = irae_day <= ae_day;
    const double day = immune ? irae_day : ae_day;
    if (immune) {
      ae_hazard_ += ae_integral(a, day);
      irae_hazard_ = 0.0;
      irae_threshold_ = exponential_(toxicity_);
    } else {
      irae_hazard_ += irae_integral(a, day);
      ae_hazard_ = 0.0;
      ae_threshold_ = exponential_(toxicity_);
    }
    adverse_event(day, immune);
    a = day;
  }
}

// One adverse event: its CTCAE grade, then the treatment rules. Grade 3 irAEs are treated with
// steroids and hold therapy, which resumes when the event resolves unless it is discontinued;
// grade 4, or a second severe irAE, discontinues (Brahmer et al., JCO 2018;36:1714-1768). Severe
// other AEs hold or discontinue. Cell therapy is given once: its AEs change nothing but the grade.
void Course::adverse_event(double day, bool immune) {
  const PhaseSetup& phase =
      line_.phase_at(dosing() ? day : std::max(line_.start_day, dosing_end_day_ - 1e-9));
  const double frac_severe = immune ? phase.frac_severe_irae : phase.frac_severe_ae;
  int grade = 0;
  if (toxicity_.uniform_open() < frac_severe) {
    const auto& p = immune ? params_.severe_grade_probs : params_.ae_severe_grade_probs;
    const double u = toxicity_.uniform_open();
    grade = u < p[0] ? 3 : (u < p[0] + p[1] ? 4 : 5);
  } else {
    const double grade2 = immune ? params_.frac_grade2_of_mild : params_.ae_frac_grade2_of_mild;
    grade = toxicity_.uniform_open() < grade2 ? 2 : 1;
  }
  record(day, immune ? EventKind::kIrae : EventKind::kAdverseEvent, grade, kNoValue);
  // The outcome's worst grades are the first line's, as trials report them for the assigned
  // treatment; a next line's events are in the timeline.
  if (line_number_ == 1 && immune && grade > out_.worst_irae_grade) {
    out_.worst_irae_grade = grade;
    out_.irae_onset_months = days_to_months(day);
  }
  if (line_number_ == 1 && !immune) out_.worst_ae_grade = std::max(out_.worst_ae_grade, grade);
  if (grade == 5) {
    stop_treatment(day, StopReason::kToxicity);
    death_day_ = day;
    death_cause_ = DeathCause::kToxicity;
    return;
  }
  if (grade < 3) return;
  if (immune) {
    steroids_ = true;
    ++severe_iraes_;
  }
  if (!on_treatment_ || !line_.holds) return;
  const double discontinue =
      immune ? params_.irae_grade3_discontinue_probability : params_.ae_discontinue_probability;
  const bool stop =
      (immune && (grade >= 4 || severe_iraes_ > 1)) || toxicity_.uniform_open() < discontinue;
  const double resolution_days =
      months_to_days(immune ? params_.irae_resolution_months : params_.ae_resolution_months) *
      exponential_(toxicity_);
  const double resume = std::max(held_ ? resume_day_ : 0.0, day + resolution_days);
  if (stop || resume >= line_.planned_stop_day) {
    stop_treatment(day, StopReason::kToxicity);
    return;
  }
  if (!held_) {
    irae_level_at_end_ = irae_dosing_rate(day);
    dosing_end_day_ = day;
    held_ = true;
  }
  resume_day_ = resume;
  record(day, EventKind::kTreatmentHold, 0, resume);
}

// Tumour over [t0, t1], one phase and one treatment state: d log S/dt = g - k_I(t) s(N) - M - k_C,
// d log C/dt = g - k_I(t) s(N) - M, d log E/dt = g - k_C, with s(N) = N / (N + N_half) the antigen
// stimulation of the effectors by the N = S + C cells they can see. The immune level L relaxes
// towards its target (k_I of the phase while dosing, else 0; it kills only from the onset) with the patient's
// memory time constant when the target falls, and jumps to it when it rises. Where s(N) can change
// within the step, substeps keep each one's immune log-kill below 0.25, so the explicit
// stimulation term stays accurate.
void Course::advance_tumour(double t0, double t1) {
  const double dt = t1 - t0;
  const double growth = growth_per_day();
  const bool give = dosing();
  const PhaseSetup& phase = line_.phase_at(t0);
  // Killing starts at the first line's onset (a step boundary), whatever was given before it:
  // priming by the first doses carries over a hold or stop, decaying like any other activity. A
  // next line's own activity joins at its onset, while what the first line left keeps killing.
  const bool killing = t0 >= first_onset_day_;
  const bool line_active = line_number_ == 1 || t0 >= line_.onset_day;
  const double target = give && line_active ? phase.immune_per_day : 0.0;
  if (t0 >= line_.onset_day) memory_per_day_ = std::max(memory_per_day_, line_.memory_per_day);
  const double chemo = give ? phase.chemo_per_day : 0.0;
  const double steroid = steroids_ ? params_.steroid_kill_factor : 1.0;
  if (immune_level_ < target) immune_level_ = target;
  // Substeps only where the stimulation can change within the step: predict the visible cells at
  // the step's end from the rates at its start; if s(N) moves by less than 0.01, one step is
  // accurate (far above or below the half-saturation, or in equilibrium).
  const double top = (killing ? immune_level_ * steroid : 0.0) + memory_per_day_;
  int substeps = 1;
  if (top > 0.0) {
    const double visible0 = biology_.baseline_cells * (cells_s_ + cells_c_);
    const double s0 = visible0 / (visible0 + params_.antigen_half_cells);
    const double net = growth - (killing ? immune_level_ * steroid * s0 : 0.0) - memory_per_day_;
    const double visible1 = visible0 * std::exp(net * dt);
    const double s1 = visible1 / (visible1 + params_.antigen_half_cells);
    if (std::abs(s1 - s0) > 0.01)
      substeps = std::clamp(static_cast<int>(std::ceil(top * dt / 0.25)), 1, 64);
  }
  const double h = dt / substeps;
  const double decay = immune_level_ > target ? std::exp(-h / line_.decay_tau_days) : 1.0;
  const double escape_per_cell_day = params_.escape_per_cell_month / kDaysPerMonth;
  for (int i = 0; i < substeps; ++i) {
    const double level_integral =
        target * h + (immune_level_ - target) * line_.decay_tau_days * (1.0 - decay);
    immune_level_ = target + (immune_level_ - target) * decay;
    const double visible = biology_.baseline_cells * (cells_s_ + cells_c_);
    const double stimulation = visible / (visible + params_.antigen_half_cells);
    const double immune_kill =
        (killing ? steroid * level_integral * stimulation : 0.0) + memory_per_day_ * h;
    if (s_alive_) {
      log_s_ += growth * h - immune_kill - chemo * h;
      s_alive_ = log_s_ + log_cells0_ >= 0.0;  // at least one cell
      cells_s_ = cells_of(s_alive_, log_s_);
    }
    if (c_alive_) {
      log_c_ += growth * h - immune_kill;
      c_alive_ = log_c_ + log_cells0_ >= 0.0;
      cells_c_ = cells_of(c_alive_, log_c_);
    }
    if (e_alive_) {
      log_e_ += growth * h - chemo * h;
      e_alive_ = log_e_ + log_cells0_ >= 0.0;
      cells_e_ = cells_of(e_alive_, log_e_);
    }
    // Immune escape (antigen loss, B2M or JAK loss): hazard mu per cell under attack; the clone
    // emerges with escape_clone_cells cells, once.
    if (!e_created_ && immune_kill > 0.0 && visible > 0.0) {
      escape_hazard_ += escape_per_cell_day * visible * h;
      if (escape_hazard_ >= biology_.escape_threshold) {
        e_created_ = true;
        e_alive_ = true;
        log_e_ = std::log(params_.escape_clone_cells) - log_cells0_;
        cells_e_ = std::exp(log_e_);
      }
    }
  }
  if (!s_alive_ && !c_alive_ && !e_alive_ && eradication_day_ == kInfinity) {
    eradication_day_ = t1;
    record(t1, EventKind::kEradication, 0, kNoValue);
  }
}

// The measured sum of diameters. Lesions shrink to a non-viable residual mass (fibrosis,
// necrosis) that resolves slowly: diameter ratio = (1 - s(t)) * viable ratio + s(t), s(t) = s0
// exp(-t / resolution), while the tumour is below baseline; growth beyond baseline is all viable
// tissue. After the immune onset, T-cell infiltrate swells the lesions (pseudo-progression):
// psi * min(1, A) * u e^{1 - u} of the baseline volume, u = (t - onset) / peak time.
double Course::measured_diameter(double day) {
  double volume = viable_cells();
  if (line_.peak_activation > 0.0 && day > line_.onset_day) {
    const double u =
        (day - line_.onset_day) / months_to_days(params_.pseudo_progression_peak_months);
    volume += params_.pseudo_progression_swelling * std::min(1.0, line_.peak_activation) * u *
              std::exp(1.0 - u);
  }
  const double viable_ratio = std::cbrt(volume);
  const double residual = biology_.residual_fraction *
                          std::exp(-day / months_to_days(params_.residual_resolution_months));
  const double ratio =
      viable_ratio >= 1.0 ? viable_ratio : (1.0 - residual) * viable_ratio + residual;
  if (ratio < params_.cr_diameter_fraction) return 0.0;
  return baseline_mm_ * ratio * std::exp(params_.measurement_sigma_log * normal_(measurement_));
}

void Course::assess(double day) {
  if (line_number_ == 1) {
    if (!assessing_first_line_) return;
    const double measured = measured_diameter(day);
    assess_first_line(day, measured);
    return;
  }
  if (line_progressed_) return;
  const double measured = measured_diameter(day);
  const Response category =
      new_lesion_ ? Response::kPD : classify_visit(measured, line2_baseline_mm_, line2_nadir_mm_);
  line2_nadir_mm_ = std::min(line2_nadir_mm_, measured);
  last_visit_ = day;
  record(day, EventKind::kAssessment, static_cast<int>(category), measured);
  if (category == Response::kPD) {
    progression2_day_ = day;
    record(day, EventKind::kProgression, 2, kNoValue);
    line_progressed_ = true;
    stop_treatment(day, StopReason::kProgression);
  }
}

// A first-line visit, read by RECIST 1.1 (until its first PD) and by iRECIST. The first PD is
// iUPD; treated beyond it, the next visit confirms it (iCPD: the sum grew >= 5 mm more, or a new
// lesion appeared) or resets the reading (SD or better against baseline and nadir). Not treated
// beyond it, it cannot be confirmed and is the iRECIST progression.
void Course::assess_first_line(double day, double measured) {
  const Response category =
      new_lesion_
          ? Response::kPD
          : classify_visit(measured, baseline_mm_, recist_progressed_ ? inadir_mm_ : nadir_mm_);
  last_visit_ = day;
  last_first_line_visit_ = day;
  record(day, EventKind::kAssessment, static_cast<int>(category), measured);
  if (!recist_progressed_) {
    recist_visits.push_back(Visit{day, category});
    nadir_mm_ = std::min(nadir_mm_, measured);
    // Clamped: 100 * (0 - b) / b can round to -100.00000000000001 when every lesion is gone.
    best_change_ =
        std::min(best_change_, std::max(-100.0, 100.0 * (measured - baseline_mm_) / baseline_mm_));
  }
  if (irecist_ == Irecist::kUnconfirmed) {
    if (measured - iupd_mm_ >= kPdAbsoluteMm || new_lesion_) {
      irecist_ = Irecist::kConfirmed;
      irecist_progression_day_ = iupd_day_;
      irecist_visits.push_back(Visit{day, Response::kPD});
      record(day, EventKind::kConfirmedProgression, 0, kNoValue);
      end_line_by_progression(day);
      return;
    }
    const Response reading = classify_visit(measured, baseline_mm_, inadir_mm_);
    irecist_visits.push_back(Visit{day, reading});
    if (reading != Response::kPD) {
      irecist_ = Irecist::kNone;
      inadir_mm_ = std::min(inadir_mm_, measured);
    }
    return;
  }
  irecist_visits.push_back(Visit{day, category});
  if (category != Response::kPD) {
    inadir_mm_ = std::min(inadir_mm_, measured);
    return;
  }
  // iUPD.
  const bool first = !recist_progressed_;
  if (first) {
    recist_progressed_ = true;
    progression_day_ = day;
    line_progressed_ = true;
    record(day, EventKind::kProgression, 1, kNoValue);
  }
  irecist_ = Irecist::kUnconfirmed;
  iupd_day_ = day;
  iupd_mm_ = measured;
  new_lesion_ = false;  // a further new lesion confirms the progression
  new_lesion_hazard_ = 0.0;
  new_lesion_threshold_ = exponential_(new_lesions_);
  bool beyond = on_treatment_ && out_.beyond_progression;  // continuing beyond an earlier iUPD
  if (first && on_treatment_ && arm_.beyond_progression_probability > 0.0)
    beyond = decision_.uniform_open() < arm_.beyond_progression_probability;
  if (beyond) {
    out_.beyond_progression = true;
    return;
  }
  irecist_ = Irecist::kConfirmed;
  irecist_progression_day_ = day;
  end_line_by_progression(day);
}

Outcome Course::run() {
  out_.arm_index = arm_index_;
  baseline_mm_ = patient_.tumour_burden_mm;
  nadir_mm_ = baseline_mm_;
  inadir_mm_ = baseline_mm_;
  irae_early_days_ = months_to_days(params_.irae_early_months);
  irae_decay_days_ = months_to_days(params_.irae_post_treatment_decay_months);
  irae_threshold_ = exponential_(toxicity_);
  ae_threshold_ = exponential_(toxicity_);
  new_lesion_threshold_ = exponential_(new_lesions_);
  recist_visits.clear();
  irecist_visits.clear();
  start_line(1, arm_.regimen, 0.0, patient_.prior_anti_pd1);
  first_onset_day_ = line_.onset_day;

  const double new_lesion_rate_per_day = params_.new_lesion_rate_per_month / kDaysPerMonth;
  double t0 = 0.0;
  double cells0 = viable_cells();
  double hazard0 = death_hazard(cells0);
  while (t0 < horizon_ && death_day_ == kInfinity) {
    double t1 = std::min(horizon_, t0 + (t0 < kFineUntilDays ? kFineStepDays : kCoarseStepDays));
    if (next_assessment_ < assessments_.size()) t1 = std::min(t1, assessments_[next_assessment_]);
    if (on_treatment_) {
      t1 = std::min(t1, line_.planned_stop_day);
      t1 = std::min(t1, line_.next_boundary(t0));
    }
    if (held_) t1 = std::min(t1, resume_day_);
    if (line_.onset_day > t0) t1 = std::min(t1, line_.onset_day);
    if (next_line_day_ > t0) t1 = std::min(t1, next_line_day_);
    if (!(t1 > t0)) throw SimulationError("the course's clock did not advance");
    const double dt = t1 - t0;

    advance_tumour(t0, t1);
    const double cells1 = viable_cells();
    // New lesions: seeded at a rate proportional to the viable tumour; the first that becomes
    // detectable is progression at the next visit (RECIST 1.1: an unequivocal new lesion is PD).
    const bool watching = line_number_ == 1 ? assessing_first_line_ : !line_progressed_;
    if (watching && !new_lesion_) {
      new_lesion_hazard_ += new_lesion_rate_per_day * 0.5 * (cells0 + cells1) * dt;
      new_lesion_ = new_lesion_hazard_ >= new_lesion_threshold_;
    }
    // Deaths from the disease and from other causes inside the step come first: adverse events
    // are only drawn while the patient is alive, and a fatal one can only come earlier.
    // Disease death: hazard h0 * (cells / baseline)^gamma, trapezoid over the step.
    double natural_death = kInfinity;
    DeathCause natural_cause = DeathCause::kAlive;
    const double hazard1 = death_hazard(cells1);
    const double increment = 0.5 * (hazard0 + hazard1) * dt;
    if (increment > 0.0 && disease_hazard_ + increment >= biology_.disease_death_threshold) {
      natural_death = t0 + dt * (biology_.disease_death_threshold - disease_hazard_) / increment;
      natural_cause = DeathCause::kDisease;
    }
    disease_hazard_ += increment;
    hazard0 = hazard1;
    cells0 = cells1;
    if (biology_.other_death_day <= t1 && biology_.other_death_day < natural_death) {
      natural_death = biology_.other_death_day;
      natural_cause = DeathCause::kOther;
    }
    toxicity_events(t0, std::min(t1, natural_death));
    if (natural_death < death_day_) {
      death_day_ = natural_death;
      death_cause_ = natural_cause;
    }
    if (death_day_ != kInfinity) {
      // Recorded on the day it happens, as a trial records the date of death: the first whole
      // day at or after the model's continuous time, or the last whole day of follow-up when
      // that day would fall after the horizon (a death at the horizon itself would read as an
      // event at the end of every curve). Outcome times are then whole days (assessments already
      // are), so a cohort's survival times take a few thousand distinct values whatever its
      // size, and the stored Kaplan-Meier counts stay small.
      death_day_ = std::ceil(death_day_);
      if (death_day_ > horizon_) death_day_ = std::floor(horizon_);
      stop_treatment(death_day_, StopReason::kDeath);
      record(death_day_, EventKind::kDeath, static_cast<int>(death_cause_), kNoValue);
      t0 = death_day_;
      break;
    }

    if (held_ && t1 >= resume_day_) {
      held_ = false;
      resume_day_ = kInfinity;
      if (line_number_ == 1) ++out_.treatment_holds;
      record(t1, EventKind::kTreatmentResume, 0, kNoValue);
    }
    if (on_treatment_ && t1 >= line_.planned_stop_day)
      stop_treatment(line_.planned_stop_day, StopReason::kCompleted);
    if (next_assessment_ < assessments_.size() && assessments_[next_assessment_] <= t1) {
      ++next_assessment_;
      assess(t1);
    }
    // After the visit, so that a next line without delay starts at the progression it follows.
    if (line_number_ == 1 && t1 >= next_line_day_) {
      next_line_day_ = kInfinity;
      start_line(2, arm_.next_line.regimen, t1,
                 patient_.prior_anti_pd1 || arm_.regimen.blocks_pd1());
    }
    t0 = t1;
  }
  if (on_treatment_ && line_number_ == 1) {
    out_.stop_reason = StopReason::kEndOfFollowUp;
    out_.treatment_months = days_to_months(std::min(horizon_, t0));
  }
  return finish();
}

Outcome Course::finish() {
  const double confirm_days = scenario_.assessment.confirmation_weeks * kWeek;
  const double min_sd_days = scenario_.assessment.min_sd_weeks * kWeek;
  const Visit* first = recist_visits.data();
  const BestResponse recist =
      best_response(first, first + recist_visits.size(), confirm_days, min_sd_days);
  out_.best_response = recist.best;
  // Without confirmation: every visit counts as it stands, so a single CR/PR visit is a response.
  Response best_unconfirmed = Response::kNE;
  for (const Visit& visit : recist_visits) {
    if (visit.response == Response::kSD && visit.day < min_sd_days) continue;
    if (rank(visit.response) < rank(best_unconfirmed)) best_unconfirmed = visit.response;
  }
  out_.best_response_unconfirmed = best_unconfirmed;
  if (!recist_visits.empty()) out_.best_percent_change = best_change_;

  const double last_recist_visit = recist_visits.empty() ? 0.0 : recist_visits.back().day;
  const double pfs_day = std::min(progression_day_, death_day_);
  out_.pfs_event = pfs_day != kInfinity && pfs_day <= horizon_;
  out_.pfs_months = days_to_months(out_.pfs_event ? pfs_day : last_recist_visit);
  out_.os_event = death_day_ != kInfinity;
  out_.os_months = days_to_months(out_.os_event ? death_day_ : horizon_);
  out_.death_cause = death_cause_;
  out_.eradicated = !s_alive_ && !c_alive_ && !e_alive_;
  if (eradication_day_ != kInfinity) out_.eradication_months = days_to_months(eradication_day_);

  if (recist.response_day != kInfinity) {
    out_.time_to_response_months = days_to_months(recist.response_day);
    out_.dor_event = out_.pfs_event;
    out_.duration_of_response_months =
        days_to_months((out_.pfs_event ? pfs_day : last_recist_visit) - recist.response_day);
    record(recist.response_day, EventKind::kResponse, static_cast<int>(recist.first_response),
           kNoValue);
  }
  if (recist.cr_day != kInfinity) {
    const double durable_until = recist.cr_day + months_to_days(kDurableCrMonths);
    out_.durable_cr = durable_until <= horizon_ && pfs_day > durable_until;
  }

  // iRECIST: an iUPD still awaiting confirmation at the end counts as the progression.
  const Visit* ifirst = irecist_visits.data();
  const Visit* ilast = ifirst + irecist_visits.size();
  out_.best_response_irecist = best_response(ifirst, ilast, confirm_days, min_sd_days).best;
  double irecist_day = irecist_progression_day_;
  if (irecist_ == Irecist::kUnconfirmed) irecist_day = iupd_day_;
  irecist_day = std::min(irecist_day, death_day_);
  out_.pfs_irecist_event = irecist_day != kInfinity && irecist_day <= horizon_;
  out_.pfs_irecist_months =
      days_to_months(out_.pfs_irecist_event ? irecist_day : last_first_line_visit_);
  if (recist_progressed_) {
    const Visit* after =
        std::find_if(ifirst, ilast, [&](const Visit& v) { return v.day > progression_day_; });
    out_.pseudo_progression =
        best_response(after, ilast, confirm_days, min_sd_days).response_day != kInfinity;
  }

  if (!std::isnan(out_.next_line_months)) {
    const double day = std::min(progression2_day_, death_day_);
    out_.pfs2_event = day != kInfinity && day <= horizon_;
    out_.pfs2_months = days_to_months(
        out_.pfs2_event ? day : std::max(last_visit_, months_to_days(out_.next_line_months)));
  }

  if (events_) {
    std::stable_sort(events_->begin() + static_cast<std::ptrdiff_t>(first_event_), events_->end(),
                     [](const CourseEvent& x, const CourseEvent& y) { return x.day < y.day; });
  }
  return out_;
}

}  // namespace

Outcome simulate_course(const Scenario& scenario, const std::vector<double>& assessments,
                        const Patient& patient, const PatientBiology& biology, std::uint64_t seed,
                        std::uint32_t arm_index, std::vector<CourseEvent>* events) {
  Course course(scenario, assessments, patient, biology, seed, arm_index, events);
  return course.run();
}

}  // namespace vpgen::detail
