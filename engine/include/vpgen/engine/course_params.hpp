// Parameters of the therapy-course model (docs/MODEL.md gives the equations, units and sources),
// of the regimens, and of a scenario. Plain value types, read-only once loaded.
#pragma once

#include "vpgen/population/patient.hpp"
#include "vpgen/population/population_params.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace vpgen {

enum class RegimenClass : std::uint8_t { kImmunotherapy = 0, kChemotherapy = 1 };

// One treatment regimen. Blockade levels are fractions 0..1 of the target blocked while the drug
// is given; the anti-CTLA-4 component is given only for its first `ctla4_doses` cycles.
struct RegimenSpec {
  std::string name;
  std::string description;
  RegimenClass regimen_class = RegimenClass::kImmunotherapy;
  double pd1_blockade = 0.0;             // anti-PD-1 / anti-PD-L1 fraction of the brake released
  double ctla4_blockade = 0.0;           // anti-CTLA-4 fraction of the priming brake released
  int ctla4_doses = 0;                   // cycles that carry anti-CTLA-4 (e.g. 4 for ipilimumab)
  double cycle_length_days = 21.0;
  double max_duration_months = 24.0;     // planned treatment length (or until progression)
  int max_cycles = 0;                    // 0 = no cap on cycles other than max_duration_months
  double chemo_kill_per_month = 0.0;     // cytotoxic kill rate of sensitive cells, 1/month
  double irae_hazard_per_month = 0.0;    // baseline irAE hazard while on treatment, 1/month
  double frac_severe_irae = 0.0;         // P(grade >= 3 | an irAE occurs)
};

// Per-cancer-type parameters of the course model.
struct CourseTypeParams {
  double doubling_time_median_months = 3.0;   // tumour volume doubling time, median
  double doubling_time_sigma_log = 0.5;       // its log-normal spread
  double disease_death_hazard_per_month = 0.03;  // at baseline burden, ECOG 0, normal LDH
  double chemo_sensitivity = 1.0;             // multiplies regimen chemo_kill_per_month
  double chemo_resistant_fraction_median = 0.01;  // fraction of cells resistant to chemotherapy
};

// Parameters of the immune response and the rest of the course model (see docs/MODEL.md).
struct CourseParams {
  std::array<CourseTypeParams, kCancerTypeCount> types;
  // Antigenicity: alpha = 1 - exp(-TMB / tmb_scale)
  double tmb_scale_mut_per_mb = 10.0;
  // Priming: pi = infiltration + ctla4_priming_gain * ctla4 * (1 - infiltration)
  double ctla4_priming_gain = 0.5;
  // PD-L1 brake: b = pdl1_brake_max * P / (P + pdl1_half_percent), released by PD-1 blockade
  double pdl1_brake_max = 0.8;
  double pdl1_half_percent = 10.0;
  double exhaustion_brake = 0.5;              // PD-1-dependent exhaustion independent of PD-L1
  double max_kill_per_month = 3.0;            // effector kill rate at full potential, 1/month
  double effector_sigma_log = 1.0;            // patient-to-patient spread of effector strength
  double onset_mean_months = 2.0;             // delay before the immune effect starts
  double onset_shape = 2.0;                   // gamma shape of that delay
  double escape_fraction_median = 1e-4;       // fraction of cells that escape immune killing
  double escape_fraction_sigma_log = 2.0;
  double memory_tau_max_months = 120.0;       // decay time of control after treatment at memory 1
  double prior_anti_pd1_factor = 0.3;         // effector potential multiplier after anti-PD-1
  double cells_per_cm3 = 1e9;                 // tumour cells per cm^3
  double burden_death_exponent = 1.0;         // disease-death hazard ~ (volume / baseline)^this
  double ecog_death_hr = 1.5;                 // per ECOG point
  double ldh_death_hr = 1.8;                  // LDH above normal
  double sites_death_hr = 1.1;                // per metastatic site beyond the first
  double post_progression_growth_factor = 0.7;  // growth multiplier under later-line therapy
  double irae_activation_coupling = 2.0;      // irAE hazard multiplier per unit effector potential
  std::array<double, 3> severe_grade_probs{0.8, 0.17, 0.03};  // P(grade 3,4,5 | grade >= 3)
  double steroid_kill_factor = 0.8;           // immune kill multiplier after grade >= 3 steroids
  double measurement_sigma_log = 0.05;        // RECIST measurement noise on log(SLD)
  double cr_diameter_fraction = 0.1;          // SLD below this fraction of baseline reads as 0
  double other_death_gompertz_a_per_year = 2e-5;  // background mortality a * exp(b * age)
  double other_death_gompertz_b_per_year = 0.09;
};

// RECIST assessment schedule: every first_interval_weeks until first_phase_months, then every
// later_interval_weeks; CR/PR need confirmation >= confirmation_weeks later; SD counts only from
// min_sd_weeks.
struct AssessmentSchedule {
  double first_interval_weeks = 6.0;
  double first_phase_months = 12.0;
  double later_interval_weeks = 12.0;
  double confirmation_weeks = 4.0;
  double min_sd_weeks = 6.0;
};

struct ArmSpec {
  std::string name;      // as the scenario names the arm, e.g. "nivo+ipi"
  RegimenSpec regimen;
};

// A complete, validated scenario: who, what, how long. Everything a run depends on.
struct Scenario {
  std::string name;
  std::string description;
  std::uint64_t seed = 1;                 // default seed (--seed overrides)
  std::uint64_t patients = 1000;          // default cohort size (--patients overrides)
  double horizon_months = 120.0;          // follow-up from start of treatment
  bool store_events = true;               // write the per-patient timeline to `events`
  AssessmentSchedule assessment;
  CohortSpec cohort;
  PopulationParams population;
  CourseParams course;
  std::vector<ArmSpec> arms;
  std::string source_text;                // every input file, verbatim, with a header per file
};

inline constexpr double kDaysPerMonth = 30.4375;

}  // namespace vpgen
