#include "vpgen/stats/sample_size.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/normal.hpp>
#include <fmt/core.h>

#include "vpgen/population/error.hpp"

namespace vpgen::design {
namespace {

constexpr int kSimonMaxN = 500;
constexpr double kRoundUpTolerance = 1e-9;

void check_open_unit(const char* function, const char* name, double value) {
  if (!(value > 0.0 && value < 1.0))
    throw InputError(fmt::format("{}: {} must be in (0, 1), got {}", function, name, value));
}

void check_positive(const char* function, const char* name, double value) {
  if (!(std::isfinite(value) && value > 0.0))
    throw InputError(
        fmt::format("{}: {} must be positive and finite, got {}", function, name, value));
}

void check_non_negative(const char* function, const char* name, double value) {
  if (!(std::isfinite(value) && value >= 0.0))
    throw InputError(
        fmt::format("{}: {} must be non-negative and finite, got {}", function, name, value));
}

void check_response_rates(const char* function, double p0, double p1) {
  check_open_unit(function, "p0", p0);
  check_open_unit(function, "p1", p1);
  if (!(p0 < p1))
    throw InputError(
        fmt::format("{}: p0 must be smaller than p1, got p0 = {}, p1 = {}", function, p0, p1));
}

// z_{1 - alpha/sides} + z_{power}, the numerator of every normal-approximation formula here.
// power > alpha/sides keeps it positive; otherwise the "required size" would be meaningless.
double z_alpha_plus_z_beta(const char* function, double alpha, double power, int sides) {
  check_open_unit(function, "alpha", alpha);
  check_open_unit(function, "power", power);
  if (sides != 1 && sides != 2)
    throw InputError(fmt::format("{}: sides must be 1 or 2, got {}", function, sides));
  const double tail = alpha / sides;
  if (!(power > tail))
    throw InputError(
        fmt::format("{}: power ({}) must exceed alpha/sides ({})", function, power, tail));
  const boost::math::normal_distribution<double> normal;
  return boost::math::quantile(boost::math::complement(normal, tail)) +
         boost::math::quantile(normal, power);
}

// Binomial(m, p) tables for m = 0..n_max: pmf[m][k], cdf[m][k] = P(X <= k), tail[m][k] = P(X > k).
// Tails come from Boost's incomplete beta rather than from 1 - cdf, so that small tail
// probabilities (the alpha of a design) keep their relative accuracy.
struct BinomialTables {
  std::vector<std::vector<double>> pmf, cdf, tail;

  BinomialTables(int n_max, double p) {
    const auto size = static_cast<std::size_t>(n_max) + 1;
    pmf.resize(size);
    cdf.resize(size);
    tail.resize(size);
    for (int m = 0; m <= n_max; ++m) {
      const boost::math::binomial_distribution<double> bin(m, p);
      const auto row = static_cast<std::size_t>(m);
      for (int k = 0; k <= m; ++k) {
        pmf[row].push_back(boost::math::pdf(bin, k));
        cdf[row].push_back(boost::math::cdf(bin, k));
        tail[row].push_back(boost::math::cdf(boost::math::complement(bin, k)));
      }
    }
  }

  // P(X > k) for X ~ Bin(m, p), any integer k.
  double tail_above(int m, int k) const {
    if (k < 0) return 1.0;
    if (k >= m) return 0.0;
    return tail[static_cast<std::size_t>(m)][static_cast<std::size_t>(k)];
  }
};

bool better_design(const SimonDesign& candidate, const SimonDesign& incumbent,
                   SimonCriterion criterion) {
  if (incumbent.n == 0) return true;
  const double en_c = candidate.expected_n_p0;
  const double en_i = incumbent.expected_n_p0;
  if (criterion == SimonCriterion::kOptimal) {
    if (en_c != en_i) return en_c < en_i;
    if (candidate.n != incumbent.n) return candidate.n < incumbent.n;
  } else {
    if (candidate.n != incumbent.n) return candidate.n < incumbent.n;
    if (en_c != en_i) return en_c < en_i;
  }
  if (candidate.n1 != incumbent.n1) return candidate.n1 < incumbent.n1;
  return candidate.r1 < incumbent.r1;
}

// Contribution of one arm to the expected events at time t (months since the first entry) when
// it accrues at rate_per_month over [0, accrual_months]:
//   rate * integral_0^a lambda/c (1 - e^{-c (t - s)}) ds,  a = min(t, A), c = lambda + eta,
// = rate lambda / c^2 [g(c a) + (1 - e^{-c (t - a)}) (1 - e^{-c a})],  g(x) = x - 1 + e^{-x}.
// Every term is non-negative, so there is no cancellation at small t.
double expected_events_one_arm(double t, double accrual_months, double rate_per_month,
                               double hazard, double dropout) {
  const double c = hazard + dropout;
  const double a = std::min(t, accrual_months);
  const double x = c * a;
  // g(x) = x + expm1(-x) loses its digits to cancellation below x ~ 1e-3; use its Taylor series.
  const double g = x < 1e-3 ? x * x * (0.5 - x / 6.0 + x * x / 24.0) : x + std::expm1(-x);
  const double total = g + (-std::expm1(-c * (t - a))) * (-std::expm1(-x));
  return rate_per_month * hazard / (c * c) * total;
}

struct TimeArgs {
  double accrual_months;
  double rate_control_per_month;
  double rate_experimental_per_month;
  double hazard_control;
  double hazard_experimental;
  double dropout;
};

TimeArgs check_time_args(const char* function, int total_patients, double accrual_rate_per_month,
                         double hazard_control_per_month, double hazard_ratio,
                         double allocation_ratio, double dropout_hazard_per_month) {
  if (total_patients < 1)
    throw InputError(
        fmt::format("{}: total_patients must be at least 1, got {}", function, total_patients));
  check_positive(function, "accrual_rate_per_month", accrual_rate_per_month);
  check_positive(function, "hazard_control_per_month", hazard_control_per_month);
  check_positive(function, "hazard_ratio", hazard_ratio);
  check_positive(function, "allocation_ratio", allocation_ratio);
  check_non_negative(function, "dropout_hazard_per_month", dropout_hazard_per_month);
  const double control_fraction = 1.0 / (1.0 + allocation_ratio);
  return TimeArgs{static_cast<double>(total_patients) / accrual_rate_per_month,
                  accrual_rate_per_month * control_fraction,
                  accrual_rate_per_month * (1.0 - control_fraction),
                  hazard_control_per_month,
                  hazard_control_per_month * hazard_ratio,
                  dropout_hazard_per_month};
}

double expected_events(double t, const TimeArgs& a) {
  return expected_events_one_arm(t, a.accrual_months, a.rate_control_per_month, a.hazard_control,
                                 a.dropout) +
         expected_events_one_arm(t, a.accrual_months, a.rate_experimental_per_month,
                                 a.hazard_experimental, a.dropout);
}

}  // namespace

int round_up_count(double value) {
  if (!(std::isfinite(value) && value >= 0.0))
    throw InputError(
        fmt::format("round_up_count: value must be non-negative and finite, got {}", value));
  const double rounded = std::ceil(value - kRoundUpTolerance * std::max(1.0, value));
  if (rounded >= static_cast<double>(INT_MAX))
    throw InputError(fmt::format("round_up_count: {} is too large to be a count", value));
  return std::max(0, static_cast<int>(rounded));
}

double binomial_tail_above(int n, int r, double p) {
  if (n < 0) throw InputError(fmt::format("binomial_tail_above: n must be >= 0, got {}", n));
  if (!(p >= 0.0 && p <= 1.0))
    throw InputError(fmt::format("binomial_tail_above: p must be in [0, 1], got {}", p));
  if (r < 0) return 1.0;
  if (r >= n) return 0.0;
  return boost::math::cdf(
      boost::math::complement(boost::math::binomial_distribution<double>(n, p), r));
}

SingleStageDesign exact_binomial_design(double p0, double p1, double alpha, double power,
                                        int n_max) {
  constexpr const char* kFunction = "exact_binomial_design";
  check_response_rates(kFunction, p0, p1);
  check_open_unit(kFunction, "alpha", alpha);
  check_open_unit(kFunction, "power", power);
  if (n_max < 1)
    throw InputError(fmt::format("{}: n_max must be at least 1, got {}", kFunction, n_max));
  // P(X > r | p0) grows with n for a fixed r, so the smallest admissible boundary never
  // decreases with n and the scan for r can resume where the previous n stopped.
  int r = 0;
  for (int n = 1; n <= n_max; ++n) {
    double alpha_actual = binomial_tail_above(n, r, p0);
    while (alpha_actual > alpha) {
      ++r;
      alpha_actual = binomial_tail_above(n, r, p0);
    }
    const double power_actual = binomial_tail_above(n, r, p1);
    if (power_actual >= power) return SingleStageDesign{n, r, alpha_actual, power_actual};
  }
  return SingleStageDesign{};
}

// Simon (Controlled Clinical Trials 10:1-10, 1989), section 2: for each n and n1 < n, search r1
// and, for each r1, the largest r meeting the type II error constraint, then check the type I
// error constraint. For fixed (n, n1) the rejection probability
//   R(r1, r) = sum_{x1 = r1+1}^{n1} b(x1; n1, p) P(X2 > r - x1),  X2 ~ Bin(n - n1, p),
// is accumulated over decreasing r1 (R(r1 - 1, r) = R(r1, r) + b(r1; n1, p) P(X2 > r - r1)),
// so every (n, n1) costs O(n1 n) instead of O(n1^2 n).
SimonDesign simon_two_stage(double p0, double p1, double alpha, double power, SimonCriterion c,
                            int n_max) {
  constexpr const char* kFunction = "simon_two_stage";
  check_response_rates(kFunction, p0, p1);
  check_open_unit(kFunction, "alpha", alpha);
  check_open_unit(kFunction, "power", power);
  if (n_max < 2 || n_max > kSimonMaxN)
    throw InputError(
        fmt::format("{}: n_max must be in [2, {}], got {}", kFunction, kSimonMaxN, n_max));
  const BinomialTables null_tables(n_max, p0);
  const BinomialTables alt_tables(n_max, p1);

  SimonDesign best;
  const auto size = static_cast<std::size_t>(n_max);
  std::vector<double> alpha_by_r(size);  // indexed by the final boundary r = 0..n-1
  std::vector<double> power_by_r(size);
  for (int n = 2; n <= n_max; ++n) {
    // Minimax: the first n with a feasible design wins; larger n cannot.
    if (c == SimonCriterion::kMinimax && best.n != 0) break;
    for (int n1 = 1; n1 < n; ++n1) {
      const int n2 = n - n1;
      const auto un1 = static_cast<std::size_t>(n1);
      std::fill(alpha_by_r.begin(), alpha_by_r.begin() + n, 0.0);
      std::fill(power_by_r.begin(), power_by_r.begin() + n, 0.0);
      for (int r1 = n1 - 1; r1 >= 0; --r1) {
        const int x1 = r1 + 1;  // the stage-1 count newly allowed to continue
        const double b_null = null_tables.pmf[un1][static_cast<std::size_t>(x1)];
        const double b_alt = alt_tables.pmf[un1][static_cast<std::size_t>(x1)];
        // P(X2 > r - x1) is 1 for r < x1 and 0 for r >= x1 + n2.
        for (int r = 0; r < std::min(x1, n); ++r) {
          alpha_by_r[static_cast<std::size_t>(r)] += b_null;
          power_by_r[static_cast<std::size_t>(r)] += b_alt;
        }
        for (int r = x1; r < std::min(x1 + n2, n); ++r) {
          alpha_by_r[static_cast<std::size_t>(r)] += b_null * null_tables.tail_above(n2, r - x1);
          power_by_r[static_cast<std::size_t>(r)] += b_alt * alt_tables.tail_above(n2, r - x1);
        }

        SimonDesign candidate;
        candidate.n1 = n1;
        candidate.r1 = r1;
        candidate.n = n;
        candidate.pet_p0 = null_tables.cdf[un1][static_cast<std::size_t>(r1)];
        candidate.expected_n_p0 = n1 + (1.0 - candidate.pet_p0) * n2;
        if (!better_design(candidate, best, c)) continue;  // EN and n do not depend on r
        // Power falls as r grows: find the largest r in [r1, n) that still has enough power.
        int r = n - 1;
        while (r >= r1 && power_by_r[static_cast<std::size_t>(r)] < power) --r;
        if (r < r1) continue;
        if (alpha_by_r[static_cast<std::size_t>(r)] > alpha) continue;
        candidate.r = r;
        candidate.alpha_actual = alpha_by_r[static_cast<std::size_t>(r)];
        candidate.power_actual = power_by_r[static_cast<std::size_t>(r)];
        best = candidate;
      }
    }
  }
  return best;
}

SimonCharacteristics simon_characteristics(const SimonDesign& d, double p) {
  constexpr const char* kFunction = "simon_characteristics";
  if (!(d.n1 >= 1 && d.n1 < d.n && d.r1 >= 0 && d.r1 < d.n1 && d.r >= d.r1 && d.r < d.n))
    throw InputError(fmt::format(
        "{}: need 1 <= n1 < n, 0 <= r1 < n1, r1 <= r < n; got r1/n1 = {}/{}, r/n = {}/{}",
        kFunction, d.r1, d.n1, d.r, d.n));
  if (!(p >= 0.0 && p <= 1.0))
    throw InputError(fmt::format("{}: p must be in [0, 1], got {}", kFunction, p));
  const int n2 = d.n - d.n1;
  const boost::math::binomial_distribution<double> stage1(d.n1, p);
  double reject = 0.0;
  for (int x1 = d.r1 + 1; x1 <= d.n1; ++x1)
    reject += boost::math::pdf(stage1, x1) * binomial_tail_above(n2, d.r - x1, p);
  const double pet = boost::math::cdf(stage1, d.r1);
  return SimonCharacteristics{reject, pet, d.n1 + (1.0 - pet) * n2};
}

// Fleiss, Tytun & Ury (Biometrics 36:343-346, 1980), in the notation of Fleiss, Levin & Paik
// (Statistical Methods for Rates and Proportions, 2003, ch. 4), group 1 = control, n2 = k n1.
TwoArmSize two_proportions_size(double p_control, double p_experimental, double alpha, double power,
                                int sides, bool continuity_correction, double allocation_ratio) {
  constexpr const char* kFunction = "two_proportions_size";
  check_open_unit(kFunction, "p_control", p_control);
  check_open_unit(kFunction, "p_experimental", p_experimental);
  if (p_control == p_experimental)
    throw InputError(
        fmt::format("{}: the two proportions must differ, both are {}", kFunction, p_control));
  check_positive(kFunction, "allocation_ratio", allocation_ratio);
  const boost::math::normal_distribution<double> normal;
  // Checks alpha, power and sides; the two quantiles are needed separately below.
  z_alpha_plus_z_beta(kFunction, alpha, power, sides);
  const double z_a = boost::math::quantile(boost::math::complement(normal, alpha / sides));
  const double z_b = boost::math::quantile(normal, power);

  const double k = allocation_ratio;
  const double delta = std::abs(p_experimental - p_control);
  const double p_bar = (p_control + k * p_experimental) / (1.0 + k);
  const double root =
      z_a * std::sqrt((k + 1.0) * p_bar * (1.0 - p_bar)) +
      z_b * std::sqrt(k * p_control * (1.0 - p_control) + p_experimental * (1.0 - p_experimental));
  double n_control = root * root / (k * delta * delta);
  if (continuity_correction) {
    const double s = 1.0 + std::sqrt(1.0 + 2.0 * (k + 1.0) / (k * n_control * delta));
    n_control = n_control / 4.0 * s * s;
  }
  return TwoArmSize{round_up_count(n_control), round_up_count(k * n_control)};
}

// Schoenfeld (Biometrika 68:316-319, 1981), with the allocation fraction of Schoenfeld
// (Biometrics 39:499-503, 1983).
double schoenfeld_events(double hazard_ratio, double alpha, double power, int sides,
                         double allocation_ratio) {
  constexpr const char* kFunction = "schoenfeld_events";
  check_positive(kFunction, "hazard_ratio", hazard_ratio);
  if (hazard_ratio == 1.0)
    throw InputError(fmt::format("{}: hazard_ratio must differ from 1", kFunction));
  check_positive(kFunction, "allocation_ratio", allocation_ratio);
  const double z = z_alpha_plus_z_beta(kFunction, alpha, power, sides);
  const double fraction = allocation_ratio / (1.0 + allocation_ratio);
  const double log_hr = std::log(hazard_ratio);
  return z * z / (fraction * (1.0 - fraction) * log_hr * log_hr);
}

// Freedman (Statistics in Medicine 1:121-129, 1982) with allocation ratio k: per event in the
// experimental arm, E[O - E] = k HR/(1 + k HR) - k/(1 + k) and Var(O - E) = k/(1 + k)^2 under H0,
// so D = (z_a + z_b)^2 Var / E^2; k = 1 gives Freedman's ((1 + HR)/(1 - HR))^2 (z_a + z_b)^2.
double freedman_events(double hazard_ratio, double alpha, double power, int sides,
                       double allocation_ratio) {
  constexpr const char* kFunction = "freedman_events";
  check_positive(kFunction, "hazard_ratio", hazard_ratio);
  if (hazard_ratio == 1.0)
    throw InputError(fmt::format("{}: hazard_ratio must differ from 1", kFunction));
  check_positive(kFunction, "allocation_ratio", allocation_ratio);
  const double z = z_alpha_plus_z_beta(kFunction, alpha, power, sides);
  const double k = allocation_ratio;
  const double numerator = 1.0 + k * hazard_ratio;
  const double denominator = 1.0 - hazard_ratio;
  return z * z * numerator * numerator / (k * denominator * denominator);
}

int schoenfeld_events_required(double hazard_ratio, double alpha, double power, int sides,
                               double allocation_ratio) {
  return round_up_count(schoenfeld_events(hazard_ratio, alpha, power, sides, allocation_ratio));
}

int freedman_events_required(double hazard_ratio, double alpha, double power, int sides,
                             double allocation_ratio) {
  return round_up_count(freedman_events(hazard_ratio, alpha, power, sides, allocation_ratio));
}

// Lachin & Foulkes (Biometrics 42:507-519, 1986): averaging the probability of an observed event
// by follow-up time, lambda/c (1 - e^{-c u}), over u uniform on [F, A + F].
double event_probability(double hazard_per_month, double accrual_months, double followup_months,
                         double dropout_hazard_per_month) {
  constexpr const char* kFunction = "event_probability";
  check_non_negative(kFunction, "hazard_per_month", hazard_per_month);
  check_non_negative(kFunction, "accrual_months", accrual_months);
  check_non_negative(kFunction, "followup_months", followup_months);
  check_non_negative(kFunction, "dropout_hazard_per_month", dropout_hazard_per_month);
  if (hazard_per_month == 0.0) return 0.0;
  const double c = hazard_per_month + dropout_hazard_per_month;
  const double share = hazard_per_month / c;
  if (accrual_months == 0.0) return share * -std::expm1(-c * followup_months);
  // (e^{-cF} - e^{-c(A+F)}) / (cA) = e^{-cF} (1 - e^{-cA}) / (cA), written with expm1 so that a
  // short accrual does not lose digits.
  const double x = c * accrual_months;
  return share * (1.0 - std::exp(-c * followup_months) * (-std::expm1(-x)) / x);
}

int patients_for_events(double events, double hazard_control_per_month, double hazard_ratio,
                        double allocation_ratio, double accrual_months, double followup_months,
                        double dropout_hazard_per_month) {
  constexpr const char* kFunction = "patients_for_events";
  check_positive(kFunction, "events", events);
  check_positive(kFunction, "hazard_control_per_month", hazard_control_per_month);
  check_positive(kFunction, "hazard_ratio", hazard_ratio);
  check_positive(kFunction, "allocation_ratio", allocation_ratio);
  const double p_control = event_probability(hazard_control_per_month, accrual_months,
                                             followup_months, dropout_hazard_per_month);
  const double p_experimental =
      event_probability(hazard_control_per_month * hazard_ratio, accrual_months, followup_months,
                        dropout_hazard_per_month);
  const double p_bar = (p_control + allocation_ratio * p_experimental) / (1.0 + allocation_ratio);
  if (!(p_bar > 0.0))
    throw InputError(
        fmt::format("{}: no events can be observed with accrual {} months and follow-up {} months",
                    kFunction, accrual_months, followup_months));
  return round_up_count(events / p_bar);
}

double expected_events_at(double months, int total_patients, double accrual_rate_per_month,
                          double hazard_control_per_month, double hazard_ratio,
                          double allocation_ratio, double dropout_hazard_per_month) {
  constexpr const char* kFunction = "expected_events_at";
  check_non_negative(kFunction, "months", months);
  const TimeArgs args =
      check_time_args(kFunction, total_patients, accrual_rate_per_month, hazard_control_per_month,
                      hazard_ratio, allocation_ratio, dropout_hazard_per_month);
  return expected_events(months, args);
}

double time_to_events(double events, int total_patients, double accrual_rate_per_month,
                      double hazard_control_per_month, double hazard_ratio, double allocation_ratio,
                      double dropout_hazard_per_month) {
  constexpr const char* kFunction = "time_to_events";
  check_non_negative(kFunction, "events", events);
  const TimeArgs args =
      check_time_args(kFunction, total_patients, accrual_rate_per_month, hazard_control_per_month,
                      hazard_ratio, allocation_ratio, dropout_hazard_per_month);
  if (events == 0.0) return 0.0;
  // As t -> infinity every patient has had the event or dropped out: N_arm lambda / c per arm.
  const double n_control = args.rate_control_per_month * args.accrual_months;
  const double n_experimental = args.rate_experimental_per_month * args.accrual_months;
  const double ceiling =
      n_control * args.hazard_control / (args.hazard_control + args.dropout) +
      n_experimental * args.hazard_experimental / (args.hazard_experimental + args.dropout);
  if (events >= ceiling) return std::numeric_limits<double>::infinity();

  // Expected events increase strictly in t; bracket the root by doubling, then bisect.
  double low = 0.0;
  double high = std::max(args.accrual_months, 1.0);
  while (expected_events(high, args) < events) {
    low = high;
    high *= 2.0;
    if (!std::isfinite(high)) return std::numeric_limits<double>::infinity();
  }
  for (int iteration = 0; iteration < 200 && high - low > 1e-12 * high; ++iteration) {
    const double mid = 0.5 * (low + high);
    if (expected_events(mid, args) < events) low = mid;
    else high = mid;
  }
  return 0.5 * (low + high);
}

}  // namespace vpgen::design
