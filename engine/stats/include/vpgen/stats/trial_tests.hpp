// The hypothesis tests applied to every simulated replicate trial of `vpgen size`: two-arm rates
// (Fisher exact, Pearson chi-square), a single-arm rate against p0 (exact binomial), and time to
// event (Fleming-Harrington weighted log-rank, MaxCombo, RMST and milestone differences). They
// run millions of times, so each is O(n log n) (the sort) or O(n) and allocates nothing once a
// thread's scratch has grown. Thread-safe: no shared state (scratch is thread_local).
#pragma once

#include <array>
#include <limits>
#include <vector>

namespace vpgen::design {

// One patient of a two-arm trial: follow-up time (any unit, the same for every patient and for
// tau / the milestone time), whether it ended in the event (else censored), and the arm.
struct Observation {
  double time;
  bool event;
  int arm;  // 0 = control, 1 = experimental
};

// Every statistic is oriented so that z > 0 favours the experimental arm (fewer events, longer
// survival, higher response rate in arm 1). p_one_sided = P(Z >= z) under H0, i.e. the p-value
// of the one-sided test "arm 1 better". NaN marks a test that is not defined for the data
// (no events, an empty arm, a zero margin); a NaN p-value never rejects. Where only the standard
// error is 0, estimate and se are still reported and z and both p-values are NaN.
struct TestResult {
  double estimate = std::numeric_limits<double>::quiet_NaN();
  double se = std::numeric_limits<double>::quiet_NaN();
  double z = std::numeric_limits<double>::quiet_NaN();
  double p_one_sided = std::numeric_limits<double>::quiet_NaN();
  double p_two_sided = std::numeric_limits<double>::quiet_NaN();
};

// Time-to-event data: every function below validates its input and throws vpgen::InputError if a
// time is negative or not finite or an arm is not 0 or 1. It may sort `data` by time in place
// (an already sorted vector is detected in O(n) and not re-sorted; the sort is most of the cost,
// so running several tests on one replicate pays it once). At a time with both events
// and censorings the censored patients are still at risk. Tied times are exactly equal doubles
// (R's survival package would also merge times within sqrt(machine epsilon): aeqSurv).

// Fleming-Harrington G(rho, gamma) weighted log-rank test (Harrington & Fleming, Biometrika 1982;
// Fleming & Harrington, Counting Processes and Survival Analysis, 1991). At each distinct event
// time t_i the weight is w_i = S(t_i-)^rho (1 - S(t_i-))^gamma, S the pooled Kaplan-Meier
// estimate just before t_i (0^0 = 1). With O1, E1 the observed and expected events of arm 1 and
// the hypergeometric variance as R's survival::survdiff (rho) computes it,
//   estimate = sum_i w_i (E1_i - O1_i)   (the weighted O - E of arm 1, sign flipped),
//   se^2     = sum_i w_i^2 d_i (n1_i / n_i)(1 - n1_i / n_i)(n_i - d_i) / (n_i - 1),
//   z = estimate / se, two-sided p = P(chi-square(1) >= z^2) = survdiff's p for gamma = 0.
// G(0, 0) is the log-rank test, G(rho, 0) is survdiff(rho = rho). z and p are NaN when se = 0
// (no events, an empty arm, or all weight on times where the variance vanishes).
// REQUIRES: rho >= 0 and gamma >= 0, finite. Throws vpgen::InputError otherwise.
TestResult weighted_logrank(std::vector<Observation>& data, double rho, double gamma);

// MaxCombo: the largest of the FH(0,0), FH(0,1), FH(1,1) statistics (Karrison, Stat Biopharm Res
// 2016; Lin et al., Stat Biopharm Res 2020). The correlation of the three is estimated from
// cov_jk = sum_i w_ij w_ik V_i (V_i the hypergeometric variance term above), and
// p_one_sided = 1 - P(Z1 < z_max, Z2 < z_max, Z3 < z_max) under the trivariate normal with that
// correlation (trivariate_normal_cdf, absolute error well below 1e-9). A component whose variance
// is zero (e.g. FH(0,1) when every event happens at the first event time) has z = NaN and a NaN
// row in `correlation`; the maximum and its p-value then run over the components that remain.
// All NaN when the log-rank variance is zero.
struct MaxComboResult {
  static constexpr double kUndefined = std::numeric_limits<double>::quiet_NaN();
  std::array<double, 3> z{kUndefined, kUndefined, kUndefined};  // FH(0,0), FH(0,1), FH(1,1)
  std::array<std::array<double, 3>, 3> correlation{{{kUndefined, kUndefined, kUndefined},
                                                    {kUndefined, kUndefined, kUndefined},
                                                    {kUndefined, kUndefined, kUndefined}}};
  double z_max = kUndefined;
  double p_one_sided = kUndefined;
};
MaxComboResult maxcombo(std::vector<Observation>& data);

// Difference in restricted mean survival time to tau, RMST1 - RMST0 (Royston & Parmar, BMC Med
// Res Methodol 2013; Uno et al., J Clin Oncol 2014): the area under each arm's Kaplan-Meier curve
// on [0, tau], with the variance of R's survRM2::rmst2,
//   Var(RMST) = sum over event times t_i <= tau of A_i^2 d_i / (n_i (n_i - d_i)),
// A_i the area under the curve from t_i to tau (a term with n_i = d_i counts 0, as in survRM2).
// z = estimate / se. NaN when an arm is empty, when a curve is not defined up to tau (tau after
// the arm's last follow-up time while its curve is still above 0; survRM2 refuses such a tau)
// or when se = 0.
// REQUIRES: tau > 0 and finite. Throws vpgen::InputError otherwise.
TestResult rmst_difference(std::vector<Observation>& data, double tau);

// Difference in Kaplan-Meier survival at a milestone time t, S1(t) - S0(t), each with Greenwood's
// variance on the plain scale, S^2 sum_{t_i <= t} d_i / (n_i (n_i - d_i)) (R: summary(survfit,
// times = t)$std.err), taken as 0 where S has reached 0 (its limit; R reports NaN there).
// z = estimate / se. NaN when an arm is empty, a curve is not defined at t (t after the arm's
// last follow-up while S > 0), or se = 0.
// REQUIRES: t > 0 and finite. Throws vpgen::InputError otherwise.
TestResult milestone_difference(std::vector<Observation>& data, double t);

// Rates. For the two exact tests, z is the standard normal deviate of the one-sided p-value,
// z = Phi^-1(1 - p_one_sided) (+infinity when p = 0, -infinity when p = 1), so that z >= z_alpha
// exactly when the exact test rejects at one-sided level alpha.

// Fisher's exact test of a 2x2 table (Fisher 1935), conditional on both margins: X1, the
// responders of the experimental arm, is hypergeometric. p_one_sided = P(X1 >= x1) (R:
// fisher.test(alternative = "greater") with the experimental arm in the first column);
// p_two_sided = sum of the probabilities <= P(X1 = x1) * (1 + 1e-7) (R: fisher.test default).
// estimate = p1 - p0, se = the unpooled Wald standard error of the difference.
// NaN when an arm is empty.
// REQUIRES: 0 <= responders <= n for each arm. Throws vpgen::InputError otherwise.
TestResult fisher_exact(int responders_control, int n_control, int responders_experimental,
                        int n_experimental);

// Pearson's chi-square test of a 2x2 table, with Yates's continuity correction if `yates` (the
// correction is min(0.5, |O - E|), as R's chisq.test and prop.test apply it). z = sign(p1 - p0)
// sqrt(chi2) (without correction this is the pooled two-proportion z); p_two_sided =
// P(chi-square(1) >= chi2) (R: chisq.test / prop.test), p_one_sided = P(Z >= z) (R: prop.test(
// alternative = "greater")). estimate = p1 - p0, se = the pooled standard error under H0.
// NaN when an expected count is zero (an empty arm, no responders or no non-responders).
// REQUIRES: 0 <= responders <= n for each arm. Throws vpgen::InputError otherwise.
TestResult chi_square(int responders_control, int n_control, int responders_experimental,
                      int n_experimental, bool yates);

// Exact binomial test of one arm's response rate against p0 (R: binom.test). p_one_sided =
// P(X >= k | n, p0) (alternative = "greater"); p_two_sided = binom.test's default: the
// probabilities <= P(X = k) * (1 + 1e-7), summed over both tails. estimate = k / n, se =
// sqrt(p0 (1 - p0) / n), the standard error under H0. NaN when n = 0.
// REQUIRES: 0 <= responders <= n, 0 < p0 < 1. Throws vpgen::InputError otherwise.
TestResult exact_binomial(int responders, int n, double p0);

// P(X < h, Y < k) for a standard bivariate normal with correlation r, from Owen's T function
// (Owen, Ann Math Stat 1956), accurate to about 1e-15. Infinite limits are allowed.
// REQUIRES: -1 <= r <= 1. Throws vpgen::InputError otherwise.
double bivariate_normal_cdf(double h, double k, double r);

// P(X1 < h1, X2 < h2, X3 < h3) for a standard trivariate normal with correlations r12, r13, r23,
// by Plackett's reduction to a one-dimensional integral (Plackett, Biometrika 1954) along the
// path of Genz (Stat Comput 2004), integrated by adaptive Gauss-Kronrod to an absolute error of
// about 1e-12. Infinite limits are allowed.
// REQUIRES: correlations in [-1, 1] forming a positive semi-definite matrix. Throws
// vpgen::InputError if a correlation is outside [-1, 1].
double trivariate_normal_cdf(double h1, double h2, double h3, double r12, double r13, double r23);

}  // namespace vpgen::design
