#include "vpgen/engine/statistics.hpp"

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
  return boost::math::quantile(boost::math::normal_distribution<double>(), 1.0 - (1.0 - level) / 2.0);
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
    throw Error(fmt::format(
        "KaplanMeier::add: times must be distinct and increasing, got {} after {}", time,
        last_time_));
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

}  // namespace vpgen
