#include "vpgen/stats/statistics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <boost/math/distributions/beta.hpp>
#include <boost/math/distributions/normal.hpp>
#include <fmt/core.h>

#include "vpgen/population/error.hpp"

namespace vpgen {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr Interval kNotEstimable{kNaN, kNaN, kNaN};

// R's survmean compares survival with 0.5 to within all.equal()'s tolerance, sqrt(.Machine$
// double.eps), so that e.g. 50 of 100 uncensored deaths count as exactly 0.5 despite roundoff.
const double kHalfTolerance = std::sqrt(std::numeric_limits<double>::epsilon());

void check_level(double level) {
  if (!(level > 0.0 && level < 1.0))
    throw Error(fmt::format("confidence level must be in (0, 1), got {}", level));
}

// Two-sided standard normal quantile z_{1 - (1 - level)/2} (R: qnorm(1 - (1 - level)/2)).
double two_sided_z(double level) {
  return boost::math::quantile(boost::math::normal_distribution<double>(),
                               1.0 - (1.0 - level) / 2.0);
}

// The pointwise band of R's survfit_confint(conf.type = "log"): se is the standard error of
// log S. R's edge rules: se == 0 gives (S, S); S == 0 gives NA bounds.
Interval log_band(double surv, double se, double z) {
  if (se == 0.0) return {surv, surv, surv};
  if (surv == 0.0) return {surv, kNaN, kNaN};
  const double log_surv = std::log(surv);
  return {surv, std::exp(log_surv - z * se), std::min(std::exp(log_surv + z * se), 1.0)};
}

// R's print.survfit median rule (survival:::survmean, inner function minmin), applied to one
// curve fed its values at successive event times. Censor-only times repeat the previous value and
// cannot change the answer, so they are not fed. NaN values (R's NA) are skipped, as R drops them.
class FirstBelowHalf {
 public:
  void feed(double time, double value) {
    if (done_ || std::isnan(value)) return;
    if (!found_) {
      if (value < 0.5 + kHalfTolerance) {
        found_ = true;
        first_time_ = time;
        first_value_ = value;
        if (std::abs(value - 0.5) >= kHalfTolerance) {
          result_ = time;
          done_ = true;
        }
      }
      return;
    }
    // On a stretch where the curve equals 0.5: the midpoint up to the next time it drops.
    if (value < first_value_) {
      result_ = (first_time_ + time) / 2.0;
      done_ = true;
    }
  }

  // A 0.5 stretch that lasts to the end of follow-up gives its start (R: x[1]).
  double result() const {
    if (done_) return result_;
    return found_ ? first_time_ : kNaN;
  }

 private:
  bool found_ = false;
  bool done_ = false;
  double first_time_ = kNaN;
  double first_value_ = kNaN;
  double result_ = kNaN;
};

// The risk set at one distinct event time of a two-group comparison (group = covariate 1).
struct RiskSet {
  double at_risk_reference;
  double at_risk_group;
  double events;        // d_j, both groups
  double events_group;  // d1_j
};

std::vector<RiskSet> risk_sets(const std::vector<SurvivalTime>& group,
                               const std::vector<SurvivalTime>& reference) {
  struct Entry {
    double time;
    bool in_group;
    bool event;
  };
  std::vector<Entry> all;
  all.reserve(group.size() + reference.size());
  for (const auto* subjects : {&group, &reference}) {
    for (const SurvivalTime& s : *subjects) {
      if (!std::isfinite(s.time))
        throw Error(fmt::format("cox_hazard_ratio: time {} is not finite", s.time));
      all.push_back({s.time, subjects == &group, s.event});
    }
  }
  // Only the counts at each time matter, so the order within a time is irrelevant.
  std::sort(all.begin(), all.end(), [](const Entry& a, const Entry& b) { return a.time < b.time; });
  std::vector<RiskSet> sets;
  double at_risk_group = static_cast<double>(group.size());
  double at_risk_reference = static_cast<double>(reference.size());
  for (std::size_t i = 0; i < all.size();) {
    double events = 0.0, events_group = 0.0, leaving_group = 0.0, leaving_reference = 0.0;
    std::size_t j = i;
    for (; j < all.size() && all[j].time == all[i].time; ++j) {
      (all[j].in_group ? leaving_group : leaving_reference) += 1.0;
      if (all[j].event) {
        events += 1.0;
        if (all[j].in_group) events_group += 1.0;
      }
    }
    if (events > 0.0) sets.push_back({at_risk_reference, at_risk_group, events, events_group});
    at_risk_group -= leaving_group;
    at_risk_reference -= leaving_reference;
    i = j;
  }
  return sets;
}

// Breslow's log partial likelihood l(beta) = sum_j [d1_j beta - d_j log(n0_j + n1_j e^beta)], its
// score U = sum_j [d1_j - d_j p_j] and information I = sum_j d_j p_j (1 - p_j), where
// p_j = n1_j e^beta / (n0_j + n1_j e^beta) (Breslow, Biometrics 1974; one binary covariate).
struct PartialLikelihood {
  double log_likelihood = 0.0;
  double score = 0.0;
  double information = 0.0;
};

PartialLikelihood breslow(const std::vector<RiskSet>& sets, double beta) {
  PartialLikelihood out;
  for (const RiskSet& s : sets) {
    double log_denominator = 0.0;
    double p = 0.0;
    if (s.at_risk_group == 0.0) {
      log_denominator = std::log(s.at_risk_reference);
    } else if (s.at_risk_reference == 0.0) {
      log_denominator = std::log(s.at_risk_group) + beta;
      p = 1.0;
    } else {  // log-sum-exp, so that a large |beta| during the search cannot overflow
      const double a = std::log(s.at_risk_reference);
      const double b = std::log(s.at_risk_group) + beta;
      const double m = std::max(a, b);
      log_denominator = m + std::log(std::exp(a - m) + std::exp(b - m));
      p = std::exp(b - log_denominator);
    }
    out.log_likelihood += s.events_group * beta - s.events * log_denominator;
    out.score += s.events_group - s.events * p;
    out.information += s.events * p * (1.0 - p);
  }
  return out;
}

}  // namespace

Interval clopper_pearson(std::uint64_t successes, std::uint64_t n, double level) {
  check_level(level);
  if (successes > n)
    throw Error(fmt::format("clopper_pearson: {} successes out of {} trials", successes, n));
  if (n == 0) return kNotEstimable;
  const double k = static_cast<double>(successes);
  const double trials = static_cast<double>(n);
  const double alpha = 1.0 - level;
  // Clopper & Pearson (1934); the Beta-quantile form is e.g. Agresti & Coull (1998), eq. 2.
  const double low =
      successes == 0
          ? 0.0
          : boost::math::quantile(boost::math::beta_distribution<double>(k, trials - k + 1.0),
                                  alpha / 2.0);
  const double high =
      successes == n
          ? 1.0
          : boost::math::quantile(boost::math::beta_distribution<double>(k + 1.0, trials - k),
                                  1.0 - alpha / 2.0);
  return {k / trials, low, high};
}

void KaplanMeier::add(double time, std::uint64_t events, std::uint64_t censored) {
  if (!std::isfinite(time))
    throw Error(fmt::format("KaplanMeier::add: time {} is not finite", time));
  if (!empty_ && !(time > last_time_))
    throw Error(
        fmt::format("KaplanMeier::add: times must be distinct and increasing, got {} after {}",
                    time, last_time_));
  if (events == 0 && censored == 0)
    throw Error(fmt::format("KaplanMeier::add: no subjects at time {}", time));
  if (events > 0) event_times_.push_back({time, events, subjects_});
  subjects_ += events + censored;
  events_ += events;
  last_time_ = time;
  empty_ = false;
}

// Kaplan & Meier (1958) product limit; Greenwood (1926) variance of log S, accumulated exactly as
// R's survfitkm.c does (km *= (n - d)/n; v += d/(n (n - d))), so estimates agree to the last bits.
Interval KaplanMeier::survival_at(double t, double level) const {
  check_level(level);
  if (empty_ || !(t <= last_time_)) return kNotEstimable;
  double surv = 1.0;
  double var_log = 0.0;
  for (const EventTime& e : event_times_) {
    if (e.time > t) break;
    const double at_risk = static_cast<double>(subjects_ - e.observed_before);
    const double deaths = static_cast<double>(e.events);
    surv *= (at_risk - deaths) / at_risk;
    var_log += deaths / (at_risk * (at_risk - deaths));  // +inf when everyone at risk dies
  }
  return log_band(surv, std::sqrt(var_log), two_sided_z(level));
}

Interval KaplanMeier::median(double level) const {
  check_level(level);
  const double z = two_sided_z(level);
  FirstBelowHalf estimate, lower_band, upper_band;
  double surv = 1.0;
  double var_log = 0.0;
  for (const EventTime& e : event_times_) {
    const double at_risk = static_cast<double>(subjects_ - e.observed_before);
    const double deaths = static_cast<double>(e.events);
    surv *= (at_risk - deaths) / at_risk;
    var_log += deaths / (at_risk * (at_risk - deaths));
    const Interval band = log_band(surv, std::sqrt(var_log), z);
    estimate.feed(e.time, surv);
    lower_band.feed(e.time, band.low);
    upper_band.feed(e.time, band.high);
  }
  // The lower band reaches 0.5 first, so it gives the lower limit of the median.
  return {estimate.result(), lower_band.result(), upper_band.result()};
}

CoxFit cox_hazard_ratio(const std::vector<SurvivalTime>& group,
                        const std::vector<SurvivalTime>& reference, double level) {
  check_level(level);
  const std::vector<RiskSet> sets = risk_sets(group, reference);
  // U(beta) falls strictly from U(-inf) = sum_j [d1_j - d_j 1{n0_j = 0}] to
  // U(+inf) = sum_j [d1_j - d_j 1{n1_j > 0}]; the maximum is finite iff U changes sign.
  double score_at_minus_infinity = 0.0, score_at_plus_infinity = 0.0;
  for (const RiskSet& s : sets) {
    score_at_minus_infinity += s.events_group - (s.at_risk_reference == 0.0 ? s.events : 0.0);
    score_at_plus_infinity += s.events_group - (s.at_risk_group > 0.0 ? s.events : 0.0);
  }
  if (!(score_at_minus_infinity > 0.0 && score_at_plus_infinity < 0.0)) return CoxFit{};

  // Newton-Raphson on a strictly concave function: the step halving only guards the first steps
  // of a search that starts far from the maximum (as coxph's does). Near the maximum the score is
  // a sum of thousands of terms whose rounding (~1e-16 of their total) bounds the attainable
  // step at ~1e-11, and a change of the log likelihood below ~1e-12 of it is rounding, not a
  // decrease: hence the step tolerance 1e-9 (the step that follows it, which is taken, leaves an
  // error of order its square) and the halving threshold.
  constexpr int kMaxIterations = 100;
  constexpr int kMaxHalvings = 60;
  constexpr double kStepTolerance = 1e-9;
  constexpr double kLikelihoodRounding = 1e-12;
  CoxFit fit;
  double beta = 0.0;
  PartialLikelihood current = breslow(sets, beta);
  bool converged = false;
  while (fit.iterations < kMaxIterations) {
    ++fit.iterations;
    double step = current.score / current.information;
    if (std::abs(step) <= kStepTolerance * (1.0 + std::abs(beta))) {
      beta += step;
      current = breslow(sets, beta);
      converged = true;
      break;
    }
    PartialLikelihood next = breslow(sets, beta + step);
    const double lowest_accepted =
        current.log_likelihood - kLikelihoodRounding * std::abs(current.log_likelihood);
    for (int halving = 0; next.log_likelihood < lowest_accepted && halving < kMaxHalvings;
         ++halving) {
      step /= 2.0;
      next = breslow(sets, beta + step);
    }
    beta += step;
    current = next;
  }
  if (!converged)
    throw Error(fmt::format("cox_hazard_ratio: Newton-Raphson did not converge in {} steps",
                            kMaxIterations));
  const double se = 1.0 / std::sqrt(current.information);
  const double z = two_sided_z(level);
  fit.log_hazard_ratio = beta;
  fit.se_log_hazard_ratio = se;
  fit.hazard_ratio = {std::exp(beta), std::exp(beta - z * se), std::exp(beta + z * se)};
  return fit;
}

Interval proportion_slope(const std::vector<double>& x, const std::vector<std::uint64_t>& successes,
                          const std::vector<std::uint64_t>& n, double level) {
  check_level(level);
  if (x.size() != successes.size() || x.size() != n.size())
    throw Error(fmt::format("proportion_slope: {} x, {} successes and {} group sizes", x.size(),
                            successes.size(), n.size()));
  double x_sum = 0.0;
  for (std::size_t k = 0; k < x.size(); ++k) {
    if (!std::isfinite(x[k]))
      throw Error(fmt::format("proportion_slope: x {} is not finite", x[k]));
    if (n[k] == 0 || successes[k] > n[k])
      throw Error(fmt::format("proportion_slope: {} successes out of {}", successes[k], n[k]));
    x_sum += x[k];
  }
  if (x.size() < 2) return kNotEstimable;
  const double x_mean = x_sum / static_cast<double>(x.size());
  double sxx = 0.0;
  for (double xk : x) sxx += (xk - x_mean) * (xk - x_mean);
  if (!(sxx > 0.0)) return kNotEstimable;
  double slope = 0.0;
  double variance = 0.0;
  for (std::size_t k = 0; k < x.size(); ++k) {
    const double w = (x[k] - x_mean) / sxx;
    const double p = static_cast<double>(successes[k]) / static_cast<double>(n[k]);
    slope += w * p;
    variance += w * w * p * (1.0 - p) / static_cast<double>(n[k]);
  }
  const double half_width = two_sided_z(level) * std::sqrt(variance);
  return {slope, slope - half_width, slope + half_width};
}

}  // namespace vpgen
