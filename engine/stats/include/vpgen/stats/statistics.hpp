// Interval estimates for reports: exact binomial (Clopper-Pearson) intervals for proportions, the
// Kaplan-Meier estimator with Greenwood log-scale intervals and the Brookmeyer-Crowley interval
// for the median, computed the way R's survival package (survfit, print.survfit) does, and the Cox
// hazard ratio between two groups (coxph with ties = "breslow"). Free functions are pure; a
// KaplanMeier is safe to read from many threads once it is no longer fed.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace vpgen {

// A point estimate with a two-sided confidence interval. NaN marks a value that is undefined or
// not reached (e.g. a median of a curve that never falls to 0.5).
struct Interval {
  double estimate = std::numeric_limits<double>::quiet_NaN();
  double low = std::numeric_limits<double>::quiet_NaN();
  double high = std::numeric_limits<double>::quiet_NaN();
};

// Exact two-sided interval for a binomial proportion k/n (Clopper & Pearson, Biometrika 1934):
// low = Beta quantile (alpha/2; k, n-k+1), high = Beta quantile (1-alpha/2; k+1, n-k), with
// low = 0 when k = 0 and high = 1 when k = n. Returns NaNs when n == 0.
// REQUIRES: successes <= n, 0 < level < 1. Throws vpgen::Error otherwise.
Interval clopper_pearson(std::uint64_t successes, std::uint64_t n, double level = 0.95);

// The Kaplan-Meier product-limit estimator (Kaplan & Meier, JASA 1958), fed one distinct time at a
// time in increasing order, e.g. straight from a SQL GROUP BY. At a time with both events and
// censorings the events come first (the censored subjects are still at risk). Memory is
// O(number of distinct event times); censor-only times only update counters.
// Not thread-safe while being fed; const members are safe to call concurrently.
class KaplanMeier {
 public:
  // Adds the subjects observed at `time` (any unit; the queries use the same unit).
  // REQUIRES: time is finite and greater than every earlier time, events + censored > 0.
  // Throws vpgen::Error otherwise.
  void add(double time, std::uint64_t events, std::uint64_t censored);

  std::uint64_t subjects() const { return subjects_; }
  std::uint64_t events() const { return events_; }

  // S(t) = product over event times t_i <= t of (1 - d_i/n_i), with a pointwise interval on the
  // log scale (R survfit's default conf.type = "log"): exp(log S +/- z se), se^2 = Greenwood's
  // sum d_i / (n_i (n_i - d_i)), upper bound clipped at 1. Before the first event the interval is
  // (1, 1); where S = 0 the bounds are NaN (as R's NA). Returns NaNs if t is after the last
  // observed time or nothing was added (not estimable without extrapolation).
  // REQUIRES: 0 < level < 1.
  Interval survival_at(double t, double level = 0.95) const;

  // Median survival and its confidence interval as printed by R's print.survfit (survival 3.x,
  // survmean/minmin): the median is the first time S(t) < 0.5; if S is exactly 0.5 (to within
  // sqrt(machine epsilon)) on a stretch that a later event ends, it is the midpoint of that stretch
  // (first time S = 0.5 and the next event time); if the stretch runs to the end of follow-up it
  // is the first time S = 0.5. The interval inverts the pointwise log-scale band (Brookmeyer &
  // Crowley, Biometrics 1982): low = the same rule applied to the lower band, high = applied to the
  // upper band. NaN where the curve or band never reaches 0.5.
  // REQUIRES: 0 < level < 1.
  Interval median(double level = 0.95) const;

 private:
  // One distinct time with at least one event. The number at risk is only known once every
  // subject has been added: n_i = subjects_ - observed_before.
  struct EventTime {
    double time;
    std::uint64_t events;
    std::uint64_t observed_before;  // subjects (events + censored) at strictly earlier times
  };

  std::vector<EventTime> event_times_;
  std::uint64_t subjects_ = 0;
  std::uint64_t events_ = 0;
  double last_time_ = 0.0;
  bool empty_ = true;
};

// One subject's follow-up: the time (any unit) and whether it ended in the event (else censored).
struct SurvivalTime {
  double time = 0.0;
  bool event = false;
};

// The fit of a Cox proportional-hazards model with one binary covariate.
struct CoxFit {
  Interval hazard_ratio;  // exp(beta), Wald interval exp(beta -/+ z se)
  double log_hazard_ratio = std::numeric_limits<double>::quiet_NaN();     // beta
  double se_log_hazard_ratio = std::numeric_limits<double>::quiet_NaN();  // 1 / sqrt(I(beta))
  int iterations = 0;  // Newton-Raphson steps taken
};

// The hazard ratio of `group` (covariate 1) against `reference` (covariate 0) by Cox's partial
// likelihood (Cox, JRSS B 1972) with Breslow's handling of tied event times (Breslow, Biometrics
// 1974), maximised by Newton-Raphson with step halving from beta = 0, as R's
// coxph(Surv(time, event) ~ x, ties = "breslow") does; the interval is Wald's on the log scale
// with the observed information. At a time with both events and censorings the censored subjects
// are still at risk. Returns NaNs when the ratio is not estimable: no events, or a monotone
// likelihood (e.g. every event in one group) whose maximum lies at beta = +/- infinity.
// REQUIRES: every time finite, 0 < level < 1. Throws vpgen::Error otherwise, or if Newton-Raphson
// fails to converge (it cannot for a finite maximum: the log likelihood is strictly concave).
CoxFit cox_hazard_ratio(const std::vector<SurvivalTime>& group,
                        const std::vector<SurvivalTime>& reference, double level = 0.95);

// The ordinary least-squares slope of proportions p_k = successes[k] / n[k] on x[k], every group
// weighted equally (as in cross-tumour regressions such as Yarchoan et al., NEJM 2017, where each
// cancer type is one point): b = sum_k w_k p_k with w_k = (x_k - mean x) / S_xx. The interval is
// normal with Var(b) = sum_k w_k^2 p_k (1 - p_k) / n_k, the binomial error of each p_k; x is
// taken as known. NaN when there are fewer than two groups or every x is equal.
// REQUIRES: x, successes and n of equal size, n[k] > 0, successes[k] <= n[k], x finite,
// 0 < level < 1. Throws vpgen::Error otherwise.
Interval proportion_slope(const std::vector<double>& x, const std::vector<std::uint64_t>& successes,
                          const std::vector<std::uint64_t>& n, double level = 0.95);

}  // namespace vpgen
