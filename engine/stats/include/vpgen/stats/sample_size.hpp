// Deterministic trial-design calculators behind `vpgen size`: exact single-stage binomial designs,
// Simon's two-stage designs, two-proportion sample sizes (with and without the Fleiss continuity
// correction), log-rank event counts (Schoenfeld, Freedman) and the conversion of events into
// patients and calendar time under exponential survival with uniform accrual.
// All functions are pure and thread-safe; invalid arguments throw vpgen::InputError.
#pragma once

#include <limits>

namespace vpgen::design {

// Counts computed from a real-valued requirement are rounded up with round_up_count, which
// forgives a relative roundoff of 1e-9 so that a requirement that is an integer in exact
// arithmetic (e.g. 82.0000000001) is not bumped to the next integer.
// REQUIRES: value finite, 0 <= value < INT_MAX. Throws InputError otherwise.
int round_up_count(double value);

// ---------------------------------------------------------------------------------------------
// Single-stage exact binomial design (one arm, one-sided): declare the treatment active when the
// number of responses among n patients exceeds r.

struct SingleStageDesign {
  int n = 0;  // 0 when no design with n <= n_max meets both constraints
  int r = 0;
  double alpha_actual = std::numeric_limits<double>::quiet_NaN();  // P(X > r | p0)
  double power_actual = std::numeric_limits<double>::quiet_NaN();  // P(X > r | p1)
};

// P(X > r) for X ~ Binomial(n, p); 1 when r < 0, 0 when r >= n.
// REQUIRES: n >= 0, 0 <= p <= 1. Throws InputError otherwise.
double binomial_tail_above(int n, int r, double p);

// The smallest n <= n_max for which the smallest boundary r with P(X > r | p0) <= alpha also has
// P(X > r | p1) >= power. Exact power is not monotone in n (saw-tooth), so a larger n than the
// one returned can fail; the answer is the first n that works, as in A'Hern (Stat Med 2001).
// REQUIRES: 0 < p0 < p1 < 1, alpha and power in (0, 1), n_max >= 1. Throws InputError otherwise.
SingleStageDesign exact_binomial_design(double p0, double p1, double alpha, double power,
                                        int n_max = 1000);

// ---------------------------------------------------------------------------------------------
// Simon's two-stage design (Simon, Controlled Clinical Trials 10:1-10, 1989): treat n1 patients;
// stop for futility if at most r1 respond; otherwise treat n - n1 more and declare the treatment
// active if more than r of all n respond. alpha is one-sided.

enum class SimonCriterion {
  kOptimal,  // minimum expected sample size under p0
  kMinimax,  // minimum maximum sample size n
};

struct SimonDesign {
  int n1 = 0;  // first-stage size; all sizes are 0 when no design with n <= n_max exists
  int r1 = 0;  // futility boundary: stop if responses in stage 1 <= r1
  int n = 0;   // total size
  int r = 0;   // final boundary: active if responses in n > r
  double alpha_actual = std::numeric_limits<double>::quiet_NaN();   // P(declare active | p0)
  double power_actual = std::numeric_limits<double>::quiet_NaN();   // P(declare active | p1)
  double pet_p0 = std::numeric_limits<double>::quiet_NaN();         // P(early termination | p0)
  double expected_n_p0 = std::numeric_limits<double>::quiet_NaN();  // EN(p0), patients
};

// Exhaustive search over 2 <= n <= n_max, 1 <= n1 < n, 0 <= r1 < n1, r1 <= r < n, following
// Simon's procedure: for each (n, n1, r1) take the largest r meeting the power constraint, then
// keep the design if it also meets the alpha constraint (so among equivalent designs the most
// conservative r is reported). Feasible: alpha_actual <= alpha and power_actual >= power.
// Tie rules (exact floating-point comparisons, so the result does not depend on search order):
//   kOptimal: minimum EN(p0); ties -> smaller n, then smaller n1, then smaller r1.
//   kMinimax: minimum n; ties -> smaller EN(p0), then smaller n1, then smaller r1.
// Cost: about n_max^4 / 4 multiply-adds (under 0.1 s at n_max = 100), so n_max is limited to 500.
// REQUIRES: 0 < p0 < p1 < 1, alpha and power in (0, 1), 2 <= n_max <= 500.
// Throws InputError otherwise. Returns a design with n == 0 when none exists.
SimonDesign simon_two_stage(double p0, double p1, double alpha, double power, SimonCriterion c,
                            int n_max = 100);

// Operating characteristics of a two-stage design at true response rate p.
struct SimonCharacteristics {
  double reject_probability = std::numeric_limits<double>::quiet_NaN();  // P(declare active)
  double pet = std::numeric_limits<double>::quiet_NaN();                 // P(stop after stage 1)
  double expected_n = std::numeric_limits<double>::quiet_NaN();          // patients
};

// REQUIRES: 1 <= d.n1 < d.n, 0 <= d.r1 < d.n1, d.r1 <= d.r < d.n, 0 <= p <= 1.
// Throws InputError otherwise.
SimonCharacteristics simon_characteristics(const SimonDesign& d, double p);

// ---------------------------------------------------------------------------------------------
// Two independent proportions, normal approximation.

struct TwoArmSize {
  int n_control = 0;
  int n_experimental = 0;
};

// With k = allocation_ratio = n_experimental / n_control, Delta = |p_e - p_c|,
// pbar = (p_c + k p_e) / (1 + k), z_a = z_{1 - alpha/sides}, z_b = z_{power}
// (Fleiss, Levin & Paik, Statistical Methods for Rates and Proportions, 3rd ed. 2003, ch. 4):
//   n' = [z_a sqrt((k+1) pbar (1-pbar)) + z_b sqrt(k p_c (1-p_c) + p_e (1-p_e))]^2 / (k Delta^2)
// and with the continuity correction of Fleiss, Tytun & Ury (Biometrics 36:343-346, 1980):
//   n = n'/4 [1 + sqrt(1 + 2 (k+1) / (k n' Delta))]^2.
// n_control = round_up_count(n), n_experimental = round_up_count(k n).
// REQUIRES: p_control, p_experimental in (0, 1) and different; alpha, power in (0, 1);
// power > alpha / sides; sides 1 or 2; allocation_ratio > 0 and finite. Throws InputError.
TwoArmSize two_proportions_size(double p_control, double p_experimental, double alpha, double power,
                                int sides, bool continuity_correction,
                                double allocation_ratio = 1.0);

// ---------------------------------------------------------------------------------------------
// Number of events for a log-rank test of hazard_ratio = hazard_experimental / hazard_control,
// allocation_ratio k = n_experimental / n_control, z_a = z_{1 - alpha/sides}, z_b = z_{power}.
// Both return the real-valued requirement; round_up_count gives the event count to plan for.
// REQUIRES: hazard_ratio > 0, != 1 and finite; alpha, power in (0, 1); power > alpha / sides;
// sides 1 or 2; allocation_ratio > 0 and finite. Throw InputError otherwise.

// Schoenfeld (Biometrika 68:316-319, 1981; Biometrics 39:499-503, 1983):
//   D = (z_a + z_b)^2 / (pi (1 - pi) ln^2 HR), pi = k / (1 + k).
double schoenfeld_events(double hazard_ratio, double alpha, double power, int sides,
                         double allocation_ratio = 1.0);

// Freedman (Statistics in Medicine 1:121-129, 1982):
//   D = (z_a + z_b)^2 (1 + k HR)^2 / (k (1 - HR)^2).
double freedman_events(double hazard_ratio, double alpha, double power, int sides,
                       double allocation_ratio = 1.0);

// Schoenfeld / Freedman requirement rounded up (round_up_count).
int schoenfeld_events_required(double hazard_ratio, double alpha, double power, int sides,
                               double allocation_ratio = 1.0);
int freedman_events_required(double hazard_ratio, double alpha, double power, int sides,
                             double allocation_ratio = 1.0);

// ---------------------------------------------------------------------------------------------
// Events to patients and time. Survival in each arm is exponential (hazard lambda per month),
// dropout is an independent exponential (hazard eta per month), patients enter uniformly over
// [0, A] months and the analysis is at A + F months (Lachin & Foulkes, Biometrics 42:507-519,
// 1986).

// Probability that a patient of one arm has an observed event by the analysis:
//   lambda/(lambda+eta) [1 - (exp(-(lambda+eta) F) - exp(-(lambda+eta)(A+F))) / ((lambda+eta) A)],
// and lambda/(lambda+eta) (1 - exp(-(lambda+eta) F)) when A = 0.
// REQUIRES: hazard_per_month >= 0, accrual_months >= 0, followup_months >= 0,
// dropout_hazard_per_month >= 0, all finite. Throws InputError otherwise.
double event_probability(double hazard_per_month, double accrual_months, double followup_months,
                         double dropout_hazard_per_month);

// Total patients (both arms, split by allocation_ratio = n_experimental / n_control) needed to
// expect `events` observed events: round_up_count(events / pbar), where
// pbar = (P_control + k P_experimental) / (1 + k) and the experimental hazard is
// hazard_control_per_month * hazard_ratio.
// REQUIRES: events > 0; hazard_control_per_month > 0; hazard_ratio > 0; allocation_ratio > 0;
// accrual and follow-up months >= 0 with a positive event probability; dropout hazard >= 0; all
// finite. Throws InputError otherwise.
int patients_for_events(double events, double hazard_control_per_month, double hazard_ratio,
                        double allocation_ratio, double accrual_months, double followup_months,
                        double dropout_hazard_per_month);

// Expected number of observed events at `months` after the first patient entered, when
// total_patients enter uniformly at accrual_rate_per_month (accrual lasts
// total_patients / accrual_rate_per_month months). Closed form of
//   sum over arms of rate_arm * integral_0^min(t, A) lambda/(lambda+eta) (1 - e^{-(lambda+eta)(t-s)}) ds.
// REQUIRES: as time_to_events, months >= 0. Throws InputError otherwise.
double expected_events_at(double months, int total_patients, double accrual_rate_per_month,
                          double hazard_control_per_month, double hazard_ratio,
                          double allocation_ratio, double dropout_hazard_per_month);

// Months from the first patient until `events` events are expected (expected_events_at inverted
// by bisection to a relative tolerance of 1e-12). Returns +infinity when the cohort can never
// produce that many expected events (events >= N times the weighted lambda/(lambda+eta)), and 0
// for events == 0.
// REQUIRES: events >= 0; total_patients >= 1; accrual_rate_per_month > 0;
// hazard_control_per_month > 0; hazard_ratio > 0; allocation_ratio > 0;
// dropout_hazard_per_month >= 0; all finite. Throws InputError otherwise.
double time_to_events(double events, int total_patients, double accrual_rate_per_month,
                      double hazard_control_per_month, double hazard_ratio, double allocation_ratio,
                      double dropout_hazard_per_month);

}  // namespace vpgen::design
