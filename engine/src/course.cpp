// The therapy-course model. docs/MODEL.md gives the equations, their symbols and sources; the
// comments here name the symbols.
#include "course.hpp"

#include "vpgen/population/random_stream.hpp"

#include <boost/random/beta_distribution.hpp>
#include <boost/random/exponential_distribution.hpp>
#include <boost/random/gamma_distribution.hpp>
#include <boost/random/normal_distribution.hpp>

#include <algorithm>
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

// Everything about one course that does not change while it runs.
struct CourseSetup {
  double kill_immune_per_day = 0.0;  // k_I while treated, after onset
  double activation = 0.0;           // therapy-added effector activity (drives irAEs too)
  double kill_chemo_per_day = 0.0;   // k_C on sensitive cells while treated
  double memory_tau_days = 0.0;      // decay time of immune control after the last dose
  double planned_stop_day = kInfinity;
  double irae_hazard_per_day = 0.0;  // at the first dose
  double irae_early_days = 1.0;      // the on-treatment hazard falls with this time constant...
  double irae_late_fraction = 1.0;   // ...to this fraction of its initial level
  double irae_decay_days = 1.0;      // after the last dose it decays with this time constant
};

CourseSetup setup_course(const CourseParams& params, const RegimenSpec& regimen,
                         const Patient& patient, const PatientBiology& biology) {
  CourseSetup setup;
  const double antigenicity = 1.0 - std::exp(-patient.tmb_mut_per_mb / params.tmb_scale_mut_per_mb);
  const double brake = params.pdl1_brake_max * patient.pdl1_tps_percent /
                       (patient.pdl1_tps_percent + params.pdl1_half_percent);
  if (regimen.regimen_class == RegimenClass::kImmunotherapy) {
    const double untreated = effector_potential(params, antigenicity, patient.infiltration, brake,
                                                0.0, 0.0);
    const double treated = effector_potential(params, antigenicity, patient.infiltration, brake,
                                              regimen.pd1_blockade, regimen.ctla4_blockade);
    double strength = biology.effector_strength;
    if (patient.prior_anti_pd1) strength *= params.prior_anti_pd1_factor;
    setup.activation = strength * std::max(0.0, treated - untreated);
    setup.kill_immune_per_day = params.max_kill_per_month * setup.activation / kDaysPerMonth;
  }
  const auto type = static_cast<std::size_t>(patient.cancer_type);
  const double sensitivity = regimen.regimen_class == RegimenClass::kTargeted
                                 ? regimen.targeted_sensitivity[type]
                                 : params.types[type].chemo_sensitivity;
  setup.kill_chemo_per_day = regimen.chemo_kill_per_month * sensitivity / kDaysPerMonth;
  setup.memory_tau_days = std::max(1.0, months_to_days(params.memory_tau_max_months) *
                                            patient.memory_capacity);
  if (regimen.max_duration_months > 0.0)
    setup.planned_stop_day = months_to_days(regimen.max_duration_months);
  if (regimen.max_cycles > 0)
    setup.planned_stop_day = std::min(setup.planned_stop_day,
                                      regimen.max_cycles * regimen.cycle_length_days);
  setup.irae_hazard_per_day = regimen.irae_hazard_per_month *
                              (1.0 + params.irae_activation_coupling * setup.activation) /
                              kDaysPerMonth;
  setup.irae_early_days = months_to_days(params.irae_early_months);
  setup.irae_late_fraction = params.irae_late_fraction;
  setup.irae_decay_days = months_to_days(params.irae_post_treatment_decay_months);
  return setup;
}

// Integral of exp(-(t - t_stop) / tau) over [a, b] with a >= t_stop.
double decayed_integral(double a, double b, double stop, double tau) {
  return tau * (std::exp(-(a - stop) / tau) - std::exp(-(b - stop) / tau));
}

// Integral over [a, b] of a rate that is `rate` while treated (t < stop), decays with time
// constant tau after the stop, and is zero before `onset`.
double rate_integral(double rate, double a, double b, double onset, double stop, double tau) {
  if (rate <= 0.0) return 0.0;
  a = std::max(a, onset);
  if (b <= a) return 0.0;
  double total = 0.0;
  if (a < stop) total += rate * (std::min(b, stop) - a);
  if (b > stop) total += rate * decayed_integral(std::max(a, stop), b, stop, tau);
  return total;
}

// Integral over [a, b] of the irAE hazard h(t) = h0 (f + (1 - f) e^{-t/T}) while treated
// (t < stop), and h(stop) e^{-(t - stop)/tau} after the last dose.
double irae_integral(const CourseSetup& s, double a, double b, double stop) {
  const double h0 = s.irae_hazard_per_day;
  const double f = s.irae_late_fraction;
  const double early = s.irae_early_days;
  double total = 0.0;
  if (a < stop) {
    const double end = std::min(b, stop);
    total += h0 * (f * (end - a) +
                   (1.0 - f) * early * (std::exp(-a / early) - std::exp(-end / early)));
  }
  if (b > stop) {
    const double level = h0 * (f + (1.0 - f) * std::exp(-stop / early));
    total += level * decayed_integral(std::max(a, stop), b, stop, s.irae_decay_days);
  }
  return total;
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

  biology.death_hazard_per_day =
      type.disease_death_hazard_per_month / kDaysPerMonth *
      std::pow(params.ecog_death_hr, patient.ecog) *
      (patient.ldh_elevated ? params.ldh_death_hr : 1.0) *
      std::pow(params.sites_death_hr, patient.metastatic_sites - 1);
  return biology;
}

std::vector<double> assessment_days(const AssessmentSchedule& schedule, double horizon_days) {
  std::vector<double> days;
  const double first = schedule.first_interval_weeks * kWeek;
  const double later = schedule.later_interval_weeks * kWeek;
  const double phase_end = months_to_days(schedule.first_phase_months);
  double day = first;
  while (day <= horizon_days) {
    days.push_back(day);
    day += day + 1e-9 < phase_end ? first : later;
  }
  return days;
}

Outcome simulate_course(const Scenario& scenario, const std::vector<double>& assessments,
                        const Patient& patient, const PatientBiology& biology,
                        std::uint64_t seed, std::uint32_t arm_index,
                        std::vector<CourseEvent>* events) {
  const CourseParams& params = scenario.course;
  const RegimenSpec& regimen = scenario.arms[arm_index].regimen;
  const CourseSetup setup = setup_course(params, regimen, patient, biology);
  const double horizon = months_to_days(scenario.horizon_months);
  const double log_cells0 = std::log(biology.baseline_cells);

  Stream toxicity(seed, patient.index, arm_index, Purpose::kToxicity);
  Stream measurement(seed, patient.index, arm_index, Purpose::kAssessment);
  Stream new_lesions(seed, patient.index, arm_index, Purpose::kNewLesions);
  boost::random::normal_distribution<double> normal;
  boost::random::exponential_distribution<double> exponential;

  const std::size_t first_event = events ? events->size() : 0;
  auto record = [&](double day, EventKind kind, int code, double value) {
    if (events) events->push_back(CourseEvent{arm_index, day, kind, code, value});
  };

  Outcome out;
  out.arm_index = arm_index;
  record(0.0, EventKind::kTreatmentStart, 0, kNoValue);

  // State: log of sensitive and resistant cells relative to baseline cells.
  // Chemotherapy and targeted therapy: a pre-existing resistant clone (Goldie-Coldman).
  const bool chemo = regimen.regimen_class != RegimenClass::kImmunotherapy;
  const double resistant_fraction =
      regimen.regimen_class == RegimenClass::kTargeted
          ? std::min(1.0, regimen.targeted_resistant_fraction_median * biology.resistance_factor)
          : biology.chemo_resistant_fraction;
  double log_sensitive = chemo ? std::log1p(-std::min(resistant_fraction, 0.999999)) : 0.0;
  bool sensitive_alive = true;
  double log_resistant = chemo ? std::log(resistant_fraction) : 0.0;
  bool resistant_alive = chemo;
  double escape_hazard = 0.0;

  bool on_treatment = true;
  double stop_day = setup.planned_stop_day;  // becomes the actual stop when treatment ends
  bool steroids = false;
  bool progressed = false;
  double progression_day = kInfinity;
  double death_day = kInfinity;
  DeathCause death_cause = DeathCause::kAlive;
  double disease_hazard = 0.0;
  double irae_hazard = 0.0;
  double irae_threshold = exponential(toxicity);
  // New lesions: seeded at a rate proportional to the viable tumour; the first one that becomes
  // detectable is progression at the next visit (RECIST 1.1: an unequivocal new lesion is PD).
  const double new_lesion_rate_per_day = params.new_lesion_rate_per_month / kDaysPerMonth;
  const double new_lesion_threshold = exponential(new_lesions);
  double new_lesion_hazard = 0.0;
  bool new_lesion = false;

  const double baseline_mm = patient.tumour_burden_mm;
  double nadir_mm = baseline_mm;
  double best_change = kInfinity;
  // Scratch space reused by each worker thread: no allocation per course on the hot path. It holds
  // only this course's visits, so its reuse cannot carry state from one patient to the next.
  thread_local std::vector<Visit> visits;
  visits.clear();
  std::size_t next_assessment = 0;

  // Disease-death hazard per day at `cells` (relative to baseline); pow only when gamma != 1.
  const double gamma = params.burden_death_exponent;
  auto death_hazard = [&](double cells) {
    return biology.death_hazard_per_day * (gamma == 1.0 ? cells : std::pow(cells, gamma));
  };
  auto stop_treatment = [&](double day, StopReason reason) {
    if (!on_treatment) return;
    on_treatment = false;
    stop_day = day;
    out.stop_reason = reason;
    out.treatment_months = days_to_months(day);
    record(day, EventKind::kTreatmentStop, static_cast<int>(reason), kNoValue);
  };

  double t0 = 0.0;
  double sensitive0 = sensitive_alive ? std::exp(log_sensitive) : 0.0;  // relative cells at t0
  double cells0 = sensitive0 + (resistant_alive ? std::exp(log_resistant) : 0.0);
  double hazard0 = death_hazard(cells0);
  while (t0 < horizon && death_day == kInfinity) {
    double t1 = std::min(horizon, t0 + (t0 < kFineUntilDays ? kFineStepDays : kCoarseStepDays));
    if (next_assessment < assessments.size()) t1 = std::min(t1, assessments[next_assessment]);
    if (on_treatment && stop_day > t0) t1 = std::min(t1, stop_day);
    if (biology.onset_days > t0) t1 = std::min(t1, biology.onset_days);
    const double dt = t1 - t0;
    const double growth = biology.growth_per_day *
                          (progressed ? params.post_progression_growth_factor : 1.0);
    const double treat_end = on_treatment ? kInfinity : stop_day;

    // Tumour: d log S / dt = g - k_I(t) - k_C(t); d log R / dt = g.
    const double immune_rate =
        setup.kill_immune_per_day * (steroids ? params.steroid_kill_factor : 1.0);
    const double immune_kill = rate_integral(immune_rate, t0, t1, biology.onset_days, treat_end,
                                             setup.memory_tau_days);
    const double chemo_kill = on_treatment ? setup.kill_chemo_per_day * dt : 0.0;
    if (sensitive_alive) {
      log_sensitive += growth * dt - immune_kill - chemo_kill;
      if (log_sensitive + log_cells0 < 0.0) sensitive_alive = false;  // fewer than one cell
    }
    const double sensitive1 = sensitive_alive ? std::exp(log_sensitive) : 0.0;
    if (resistant_alive) log_resistant += growth * dt;

    // Immune escape: hazard mu * (cells under attack); a clone of escape_clone_cells emerges.
    if (!chemo && !resistant_alive && immune_kill > 0.0) {
      const double mean_cells = biology.baseline_cells * 0.5 * (sensitive0 + sensitive1);
      escape_hazard += params.escape_per_cell_month / kDaysPerMonth * mean_cells *
                       (immune_kill / std::max(immune_rate, 1e-300));
      if (escape_hazard >= biology.escape_threshold) {
        resistant_alive = true;
        log_resistant = std::log(params.escape_clone_cells) - log_cells0;
      }
    }
    const double cells1 = sensitive1 + (resistant_alive ? std::exp(log_resistant) : 0.0);
    if (!new_lesion && !progressed) {
      new_lesion_hazard += new_lesion_rate_per_day * 0.5 * (cells0 + cells1) * dt;
      new_lesion = new_lesion_hazard >= new_lesion_threshold;
    }

    // irAEs: hazard h (1 + c * activation) while treated, decaying after the last dose; each
    // crossing of an Exp(1) threshold is one event, then a new threshold is drawn.
    // Forty decay times after the last dose the hazard is below e^-40 of its level: skip it.
    if (setup.irae_hazard_per_day > 0.0 &&
        (on_treatment || t0 - stop_day < 40.0 * setup.irae_decay_days)) {
      double a = t0;
      while (a < t1 && death_day == kInfinity) {
        const double increment =
            irae_integral(setup, a, t1, on_treatment ? kInfinity : stop_day);
        if (irae_hazard + increment < irae_threshold) {
          irae_hazard += increment;
          break;
        }
        // Onset inside [a, t1]: the hazard is close to constant over one step, so interpolate.
        const double onset = a + (t1 - a) * (irae_threshold - irae_hazard) / increment;
        int grade = 0;
        if (toxicity.uniform_open() < regimen.frac_severe_irae) {
          const double u = toxicity.uniform_open();
          const auto& p = params.severe_grade_probs;
          grade = u < p[0] ? 3 : (u < p[0] + p[1] ? 4 : 5);
        } else {
          grade = toxicity.uniform_open() < params.frac_grade2_of_mild ? 2 : 1;
        }
        record(onset, EventKind::kIrae, grade, kNoValue);
        if (grade > out.worst_irae_grade) {
          out.worst_irae_grade = grade;
          out.irae_onset_months = days_to_months(onset);
        }
        if (grade >= 3) {
          steroids = true;
          stop_treatment(onset, StopReason::kToxicity);
        }
        if (grade == 5) {
          death_day = onset;
          death_cause = DeathCause::kToxicity;
        }
        irae_hazard = 0.0;
        irae_threshold = exponential(toxicity);
        a = onset;
      }
    }

    // Disease death: hazard h0 * (cells / baseline)^gamma, trapezoid over the step.
    {
      const double hazard1 = death_hazard(cells1);
      const double increment = 0.5 * (hazard0 + hazard1) * dt;
      hazard0 = hazard1;
      if (disease_hazard + increment >= biology.disease_death_threshold && increment > 0.0) {
        const double day =
            t0 + dt * (biology.disease_death_threshold - disease_hazard) / increment;
        if (day < death_day) {
          death_day = day;
          death_cause = DeathCause::kDisease;
        }
      }
      disease_hazard += increment;
    }
    if (biology.other_death_day <= t1 && biology.other_death_day < death_day) {
      death_day = biology.other_death_day;
      death_cause = DeathCause::kOther;
    }
    if (death_day != kInfinity) {
      stop_treatment(death_day, StopReason::kDeath);
      record(death_day, EventKind::kDeath, static_cast<int>(death_cause), kNoValue);
      break;
    }

    // Planned end of treatment.
    if (on_treatment && t1 >= stop_day) stop_treatment(stop_day, StopReason::kCompleted);

    // RECIST assessment at t1.
    if (next_assessment < assessments.size() && assessments[next_assessment] <= t1) {
      ++next_assessment;
      if (!progressed) {
        // Lesions shrink to a non-viable residual mass (fibrosis, necrosis) that resolves slowly:
        // measured diameter ratio = (1 - s(t)) * viable ratio + s(t), s(t) = s0 exp(-t / resolution),
        // while the tumour is below baseline; growth beyond baseline is all viable tissue.
        const double viable_ratio = std::cbrt(cells1);
        const double residual =
            biology.residual_fraction *
            std::exp(-t1 / months_to_days(params.residual_resolution_months));
        const double diameter_ratio =
            viable_ratio >= 1.0 ? viable_ratio : (1.0 - residual) * viable_ratio + residual;
        const double measured =
            diameter_ratio < params.cr_diameter_fraction
                ? 0.0
                : baseline_mm * diameter_ratio *
                      std::exp(params.measurement_sigma_log * normal(measurement));
        const Response visit =
            new_lesion ? Response::kPD : classify_visit(measured, baseline_mm, nadir_mm);
        nadir_mm = std::min(nadir_mm, measured);
        best_change = std::min(best_change, 100.0 * (measured - baseline_mm) / baseline_mm);
        visits.push_back(Visit{t1, visit});
        record(t1, EventKind::kAssessment, static_cast<int>(visit), measured);
        if (visit == Response::kPD) {
          progressed = true;
          progression_day = t1;
          record(t1, EventKind::kProgression, 0, kNoValue);
          stop_treatment(t1, StopReason::kProgression);
        }
      }
    }
    t0 = t1;
    sensitive0 = sensitive1;
    cells0 = cells1;
  }
  if (on_treatment) {
    out.stop_reason = StopReason::kEndOfFollowUp;
    out.treatment_months = days_to_months(std::min(horizon, t0));
  }

  // Best overall response with confirmation: a CR (PR) counts when the next assessment, at least
  // confirmation_weeks later, shows CR (CR or PR). SD counts from min_sd_weeks.
  const double confirm_days = scenario.assessment.confirmation_weeks * kWeek;
  const double min_sd_days = scenario.assessment.min_sd_weeks * kWeek;
  Response best = Response::kNE;
  double response_day = kInfinity;
  Response first_response = Response::kNE;   // the category of the first confirmed response
  double cr_day = kInfinity;
  auto rank = [](Response r) {
    switch (r) {
      case Response::kCR: return 0;
      case Response::kPR: return 1;
      case Response::kSD: return 2;
      case Response::kPD: return 3;
      default: return 4;
    }
  };
  for (std::size_t v = 0; v < visits.size(); ++v) {
    const Response r = visits[v].response;
    Response counted = r;
    if (is_response(r)) {
      const bool confirmed = v + 1 < visits.size() &&
                             visits[v + 1].day - visits[v].day >= confirm_days &&
                             (r == Response::kCR ? visits[v + 1].response == Response::kCR
                                                 : is_response(visits[v + 1].response));
      if (confirmed) {
        if (response_day == kInfinity) {
          response_day = visits[v].day;
          first_response = r;
        }
        if (r == Response::kCR && cr_day == kInfinity) cr_day = visits[v].day;
      } else {
        counted = Response::kSD;
      }
    }
    if (counted == Response::kSD && visits[v].day < min_sd_days) continue;
    if (rank(counted) < rank(best)) best = counted;
  }
  out.best_response = best;
  // Without confirmation: every visit counts as it stands, so a single CR/PR visit is a response.
  Response best_unconfirmed = Response::kNE;
  for (const auto& visit : visits) {
    if (visit.response == Response::kSD && visit.day < min_sd_days) continue;
    if (rank(visit.response) < rank(best_unconfirmed)) best_unconfirmed = visit.response;
  }
  out.best_response_unconfirmed = best_unconfirmed;
  if (!visits.empty()) out.best_percent_change = best_change;

  const double last_visit = visits.empty() ? 0.0 : visits.back().day;
  const double pfs_day = std::min(progression_day, death_day);
  out.pfs_event = pfs_day != kInfinity && pfs_day <= horizon;
  out.pfs_months = days_to_months(out.pfs_event ? pfs_day : last_visit);
  out.os_event = death_day != kInfinity;
  out.os_months = days_to_months(out.os_event ? death_day : horizon);
  out.death_cause = death_cause;
  out.eradicated = !sensitive_alive && !resistant_alive;

  if (response_day != kInfinity) {
    out.time_to_response_months = days_to_months(response_day);
    out.dor_event = out.pfs_event;
    out.duration_of_response_months =
        days_to_months((out.pfs_event ? pfs_day : last_visit) - response_day);
    record(response_day, EventKind::kResponse, static_cast<int>(first_response), kNoValue);
  }
  if (cr_day != kInfinity) {
    const double durable_until = cr_day + months_to_days(kDurableCrMonths);
    out.durable_cr = durable_until <= horizon && pfs_day > durable_until;
  }

  if (events) {
    std::stable_sort(events->begin() + static_cast<std::ptrdiff_t>(first_event), events->end(),
                     [](const CourseEvent& x, const CourseEvent& y) { return x.day < y.day; });
  }
  return out;
}

}  // namespace vpgen::detail
