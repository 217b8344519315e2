// The course simulator: one patient, one arm, from the first dose to death or the horizon.
// Private to the engine. Every function here is a pure function of its arguments; thread-safe.
#pragma once

#include "vpgen/engine/course_params.hpp"
#include "vpgen/engine/outcome.hpp"
#include "vpgen/population/patient.hpp"

#include <cstdint>
#include <vector>

namespace vpgen::detail {

// Traits of the patient's tumour and immune system that do not depend on the arm: drawn once per
// patient from Stream(seed, index, kNoArm, kCourse) (and kOtherDeath) so that every arm sees the
// same biology and counterfactual outcomes of one patient differ only by the treatment.
struct PatientBiology {
  double growth_per_day = 0.0;            // net tumour growth rate without therapy, 1/day
  double effector_strength = 1.0;         // Z: log-normal multiplier of therapy-induced killing
  double onset_days = 0.0;                // delay before immune killing starts
  double escape_threshold = 0.0;          // Exp(1): escape when its cumulative hazard passes it
  double chemo_resistant_fraction = 0.0;  // of baseline cells: type median x resistance_factor
  double resistance_factor = 1.0;         // log-normal factor of the patient's resistant fraction
  double disease_death_threshold = 0.0;   // Exp(1) for the disease-death cumulative hazard
  double other_death_day = 0.0;           // death from other causes (life table), days from start
  double baseline_cells = 0.0;            // tumour cells at baseline
  double death_hazard_per_day = 0.0;      // disease-death hazard at baseline burden, covariates in
  double residual_fraction = 0.0;         // s0: non-viable residual mass, fraction of baseline SLD
};

PatientBiology draw_biology(const CourseParams& params, const Patient& patient, std::uint64_t seed);

// The assessment days (days since start) of a schedule, up to and including the horizon.
std::vector<double> assessment_days(const AssessmentSchedule& schedule, double horizon_days);

// Simulates one course under arm `arm_index` of `scenario`. `assessments` are the scenario's
// assessment days. Appends this arm's events, in time order, to `events` if it is non-null.
Outcome simulate_course(const Scenario& scenario, const std::vector<double>& assessments,
                        const Patient& patient, const PatientBiology& biology, std::uint64_t seed,
                        std::uint32_t arm_index, std::vector<CourseEvent>* events);

}  // namespace vpgen::detail
