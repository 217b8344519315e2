// Parameters of the therapy-course model (docs/MODEL.md gives the equations, units and sources),
// of the regimens, and of a scenario. Plain value types, read-only once loaded.
#pragma once

#include "vpgen/population/patient.hpp"
#include "vpgen/population/population_params.hpp"

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace vpgen {

// Immunotherapy acts through the immune model; chemotherapy and targeted therapy kill sensitive
// tumour cells directly, independent of the immune biomarkers, and meet pre-existing resistance;
// adoptive cell therapy delivers effector cells directly, bypassing priming.
enum class RegimenClass : std::uint8_t {
  kImmunotherapy = 0,
  kChemotherapy = 1,
  kTargeted = 2,
  kCellTherapy = 3,
};

// One phase of a regimen (induction, maintenance, lymphodepletion, infusion + IL-2): what is given,
// how often and for how many cycles. Phases follow one another on the calendar from the first dose;
// doses missed during a hold are not made up. Blockade levels are fractions 0..1 of the target's
// brake released while the phase is given.
struct RegimenPhase {
  std::string name;    // e.g. "induction"
  std::string agents;  // agents and doses, for people: "nivolumab 1 mg/kg + ..."
  double cycle_length_days = 21.0;
  int cycles = 0;                      // 0 = open-ended (last phase only): until the regimen stops
  double pd1_blockade = 0.0;           // anti-PD-1 / anti-PD-L1
  double ctla4_blockade = 0.0;         // anti-CTLA-4
  double kill_per_month = 0.0;         // direct kill of sensitive cells (chemo/targeted), 1/month
  double cell_dose = 0.0;              // cell therapy: infused effector activity (activation units)
  double irae_hazard_per_month = 0.0;  // immune-related AE hazard at zero activation, 1/month
  double frac_severe_irae = 0.0;       // P(grade >= 3 | irAE)
  double ae_hazard_per_month = 0.0;    // other treatment-related AEs (cytotoxic, lymphodepletion,
                                       // IL-2, VEGFR inhibition), 1/month
  double frac_severe_ae = 0.0;         // P(grade >= 3 | AE)
};

inline constexpr std::size_t kMaxRegimenPhases = 8;

// One treatment regimen: its phases in order (1 to kMaxRegimenPhases), and what caps it.
struct RegimenSpec {
  std::string name;
  std::string description;
  RegimenClass regimen_class = RegimenClass::kImmunotherapy;
  std::vector<RegimenPhase> phases;  // at least one; only the last may be open-ended
  double max_duration_months = 0.0;  // cap from the first dose; 0 = no cap but the phases'
  double onset_scale = 1.0;          // multiplies the patient's immune onset delay
  // Targeted therapy only: sensitivity of each cancer type (index = CancerType), multiplying the
  // phases' kill_per_month. Chemotherapy uses the type's own chemo_sensitivity instead.
  std::array<double, kCancerTypeCount> targeted_sensitivity{};
  double targeted_resistant_fraction_median = 0.0;  // targeted only: resistant cells at baseline

  // Day on which the phases end (infinity when the last phase is open-ended).
  double phases_end_day() const {
    double day = 0.0;
    for (const RegimenPhase& phase : phases) {
      if (phase.cycles <= 0) return std::numeric_limits<double>::infinity();
      day += phase.cycles * phase.cycle_length_days;
    }
    return day;
  }
  bool blocks_pd1() const {
    for (const RegimenPhase& phase : phases)
      if (phase.pd1_blockade > 0.0) return true;
    return false;
  }
};

// Per-cancer-type parameters of the course model.
struct CourseTypeParams {
  double doubling_time_median_months = 3.0;       // tumour volume doubling time, median
  double doubling_time_sigma_log = 0.5;           // its log-normal spread
  double disease_death_hazard_per_month = 0.03;   // at baseline burden, ECOG 0, normal LDH, 1 site
  double chemo_sensitivity = 1.0;                 // multiplies the regimen's chemo_kill_per_month
  double chemo_resistant_fraction_median = 0.01;  // cells resistant to chemotherapy at baseline
};

// Background (other-cause) mortality: a period life table by age and sex. Interval i covers the
// ages [age_years[i], age_years[i+1]); the last is open-ended. q is the probability of dying within
// the interval (one year for the last), so the hazard there is -ln(1 - q) / width per year. Ages
// below the first use the first interval's hazard. An empty table means no other-cause death.
struct LifeTable {
  std::vector<double> age_years;  // strictly increasing
  std::vector<double> q_female;   // one per age, 0 <= q < 1
  std::vector<double> q_male;
};

// Parameters of the immune response and the rest of the course model. docs/MODEL.md gives the
// equations; the comments give the symbol used there. Scalar defaults equal configs/model/course.toml
// (per-type defaults are generic), so tests that build parameters in code use the shipped values.
struct CourseParams {
  std::array<CourseTypeParams, kCancerTypeCount> types;
  double tmb_scale_mut_per_mb = 12.217111269022846;  // antigenicity a = 1 - exp(-TMB / this)
  double ctla4_priming_gain = 0.49112973695266415;   // priming p = I + gain * ctla4 * (1 - I)
  double pdl1_brake_max = 0.8625010098177881;        // PD-L1 brake b = max * P / (P + half)
  double pdl1_half_percent = 10.057374810102873;
  double exhaustion_brake = 0.5;                   // PD-1 exhaustion brake e, independent of PD-L1
  double max_kill_per_month = 2.1815890443302735;  // kill rate at unit potential, 1/month
  double effector_sigma_log = 1.5450942363778917;  // spread of the patient's effector strength Z
  double onset_mean_months = 1.2671784983136467;   // delay before immune killing starts (gamma)
  double onset_shape = 2.0;
  double escape_per_cell_month =
      1.2381156530340804e-12;              // immune-escape hazard per surviving cell under attack
  double escape_clone_cells = 1e6;         // size of the escape clone when it emerges, cells
  double chemo_resistant_sigma_log = 1.0;  // spread of the chemo-resistant fraction
  double memory_tau_max_months =
      59.43672582777968;  // decay time of control after treatment at memory 1
  double prior_anti_pd1_factor =
      0.31379610139833114;  // Z multiplier for immunotherapy after anti-PD-(L)1
  double prior_anti_pd1_cell_factor =
      0.4275736687169304;  // Z multiplier for cell therapy after anti-PD-(L)1
  double later_line_effector_factor =
      0.40686546529518125;  // Z multiplier per earlier line of therapy
  // Infused cells persist for less time than a primed response: after a cell-therapy line the
  // immune level decays with this * memory capacity instead of memory_tau_max * memory capacity.
  double cell_persistence_months = 8.0;
  // Effector stimulation needs antigen: therapy-driven kill is k * N / (N + half), N the viable
  // cells, so it fades below detection and leaves minimal residual disease in equilibrium...
  double antigen_half_cells = 1e7;
  // ...that only memory surveillance M = this * memory^k * min(1, peak activation) clears; M starts
  // with the immune onset and does not depend on therapy continuing, 1/month.
  double memory_surveillance_per_month = 1.484964856800555;
  double memory_surveillance_exponent = 3.0;  // k
  // Pseudo-progression: T-cell infiltrate swells the lesions after the onset, by this fraction of
  // the baseline tumour volume at unit activation, peaking this long after the onset.
  double pseudo_progression_swelling = 0.5;
  double pseudo_progression_peak_months = 1.0;
  double cells_per_cm3 = 1e9;          // tumour cells per cm^3
  double burden_death_exponent = 1.0;  // disease-death hazard ~ (cells / baseline)^this
  double ecog_death_hr = 1.5;          // per ECOG point
  double ldh_death_hr = 1.8;           // LDH above normal
  double sites_death_hr = 1.1;         // per metastatic site beyond the first
  double later_line_death_hr = 1.3;    // per earlier line of therapy
  double post_progression_growth_factor =
      0.22293788172597884;  // growth multiplier under later-line therapy
  double new_lesion_rate_per_month =
      0.015653873684754037;     // detectable new lesions per month at baseline burden
  double residual_alpha = 3.0;  // Beta(alpha, beta) of the residual-mass fraction s0
  double residual_beta = 5.0;
  double residual_resolution_months = 36.0;  // the residual mass shrinks as exp(-t / this)
  double irae_activation_coupling =
      1.5030639172359845;           // irAE hazard multiplier per unit activation
  double irae_early_months = 3.0;   // on-treatment irAE hazard falls with this constant
  double irae_late_fraction = 0.1;  // to this fraction of its initial level
  double irae_post_treatment_decay_months = 2.0;  // irAE hazard decay after the last dose
  double frac_grade2_of_mild = 0.45;              // P(grade 2 | grade 1-2)
  std::array<double, 3> severe_grade_probs{0.8, 0.17, 0.03};  // P(grade 3,4,5 | grade >= 3)
  double steroid_kill_factor = 0.85;  // immune kill multiplier after grade >= 3 steroids
  // Treatment rules after a severe irAE: grade 3 holds therapy (steroids) and discontinues it with
  // this probability, else therapy resumes after the event resolves (exponential, this mean); a
  // second grade >= 3 irAE, or grade 4, discontinues; grade 5 is fatal.
  double irae_grade3_discontinue_probability = 0.5;
  double irae_resolution_months = 1.5;
  // Other treatment-related AEs (chemotherapy, targeted therapy, lymphodepletion, IL-2): grades,
  // and after grade >= 3 a hold (exponential, this mean) or discontinuation with this probability.
  double ae_frac_grade2_of_mild = 0.5;                            // P(grade 2 | grade 1-2)
  std::array<double, 3> ae_severe_grade_probs{0.75, 0.23, 0.02};  // P(grade 3,4,5 | grade >= 3)
  double ae_discontinue_probability = 0.15;
  double ae_resolution_months = 0.5;
  double measurement_sigma_log = 0.05;  // RECIST measurement noise on log(SLD)
  double cr_diameter_fraction = 0.1;    // SLD below this fraction of baseline reads as 0
  LifeTable life_table;                 // background (other-cause) mortality
};

// RECIST assessment schedule: a first visit at first_visit_weeks, then every first_interval_weeks
// until first_phase_months, then every later_interval_weeks; CR/PR need confirmation >=
// confirmation_weeks later; SD counts only from min_sd_weeks.
struct AssessmentSchedule {
  double first_visit_weeks = 6.0;
  double first_interval_weeks = 6.0;
  double first_phase_months = 12.0;
  double later_interval_weeks = 12.0;
  double confirmation_weeks = 4.0;
  double min_sd_weeks = 6.0;
};

// What happens after RECIST progression on an arm's regimen: with `probability`, a patient who is
// alive `delay_weeks` after the progression starts `regimen` (crossover or second line).
struct NextLineSpec {
  bool enabled = false;
  RegimenSpec regimen;
  double probability = 0.0;
  double delay_weeks = 4.0;
};

struct ArmSpec {
  std::string name;  // as the scenario names the arm, e.g. "nivo+ipi"
  RegimenSpec regimen;
  // P(treated beyond the first RECIST progression | clinically stable); the iRECIST reading then
  // needs confirmation (iCPD) at the next visit. 0 = treatment stops at RECIST progression.
  double beyond_progression_probability = 0.0;
  NextLineSpec next_line;
};

// A complete, validated scenario: who, what, how long. Everything a run depends on.
struct Scenario {
  std::string name;
  std::string description;
  std::uint64_t seed = 1;         // default seed (--seed overrides)
  std::uint64_t patients = 1000;  // default cohort size (--patients overrides)
  double horizon_months = 120.0;  // follow-up from start of treatment
  bool store_events = true;       // write the per-patient timeline to `events`
  AssessmentSchedule assessment;
  CohortSpec cohort;
  PopulationParams population;
  CourseParams course;
  std::vector<ArmSpec> arms;
  std::string source_text;  // every input file, verbatim, with a header per file
};

inline constexpr double kDaysPerMonth = 30.4375;

}  // namespace vpgen
