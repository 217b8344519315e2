#include "vpgen/stats/trial_tests.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numbers>
#include <vector>

#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/quadrature/gauss_kronrod.hpp>
#include <boost/math/special_functions/owens_t.hpp>
#include <boost/sort/pdqsort/pdqsort.hpp>
#include <fmt/core.h>

#include "vpgen/population/error.hpp"

namespace vpgen::design {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// R's fisher.test and binom.test count a probability as "no more likely than the observed one"
// within this relative tolerance, so that probabilities equal in exact arithmetic are not split
// by roundoff.
constexpr double kRelErr = 1.0 + 1e-7;

// Standard normal cdf and upper tail through erfc, accurate far into both tails (cheaper than
// boost::math::cdf(normal), which computes the same thing with argument checks).
double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }
double normal_upper(double x) { return 0.5 * std::erfc(x / std::numbers::sqrt2); }

// The z with P(Z >= z) = p: the normal deviate equivalent to an exact one-sided p-value.
double normal_deviate(double p) {
  if (std::isnan(p)) return kNaN;
  if (p <= 0.0) return kInf;
  if (p >= 1.0) return -kInf;
  return boost::math::quantile(
      boost::math::complement(boost::math::normal_distribution<double>(), p));
}

// P(chi-square with 1 df >= x), as R's pchisq(x, 1, lower.tail = FALSE).
double chi_square_1_upper(double x) {
  if (std::isnan(x)) return kNaN;
  return boost::math::cdf(
      boost::math::complement(boost::math::chi_squared_distribution<double>(1.0), x));
}

// A Wald-type result from an estimate and its variance: z = estimate / se, p from the normal.
TestResult wald(double estimate, double variance) {
  TestResult result;
  result.estimate = estimate;
  result.se = std::sqrt(variance);
  if (result.se > 0.0 && std::isfinite(estimate)) {
    result.z = estimate / result.se;
    result.p_one_sided = normal_upper(result.z);
    result.p_two_sided = chi_square_1_upper(result.z * result.z);
  }
  return result;
}

// ---- Time to event ------------------------------------------------------------------------

// Validates the observations and sorts them by time unless they already are. Returns the number
// of patients in arm 1. The check runs before the sort: a NaN time would break std::sort's
// ordering requirement.
std::size_t prepare(std::vector<Observation>& data) {
  std::size_t arm1 = 0;
  bool sorted = true;
  double previous = 0.0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const Observation& o = data[i];
    if (!(o.time >= 0.0 && o.time < kInf))
      throw InputError(
          fmt::format("observation {}: time must be finite and >= 0, got {}", i, o.time));
    if (o.arm != 0 && o.arm != 1)
      throw InputError(fmt::format("observation {}: arm must be 0 or 1, got {}", i, o.arm));
    arm1 += static_cast<std::size_t>(o.arm);
    sorted = sorted && o.time >= previous;
    previous = o.time;
  }
  // Pattern-defeating quicksort with branchless partitioning (Peters, arXiv:2106.05123): about
  // twice as fast as std::sort on random times, which dominates the cost of every test here.
  // The order within tied times is unspecified and does not matter: ties are counted together.
  if (!sorted)
    boost::sort::pdqsort_branchless(
        data.begin(), data.end(),
        [](const Observation& a, const Observation& b) { return a.time < b.time; });
  return arm1;
}

// The patients sharing one follow-up time, by arm.
struct TimeGroup {
  double time = 0.0;
  std::array<int, 2> events{};
  std::array<int, 2> subjects{};  // events + censorings
};

// Calls visit(group) for each distinct time of sorted data, in increasing order. A template (not
// std::function) so the per-group work inlines into the loop.
template <class Visit>
void for_each_time(const std::vector<Observation>& data, Visit&& visit) {
  const std::size_t size = data.size();
  std::size_t i = 0;
  while (i < size) {
    TimeGroup group;
    group.time = data[i].time;
    do {
      const Observation& o = data[i];
      group.events[o.arm] += o.event ? 1 : 0;
      ++group.subjects[o.arm];
      ++i;
    } while (i < size && data[i].time == group.time);
    visit(group);
  }
}

// Calls visit(surv_before, n, n1, d, d1) at each distinct event time: the pooled Kaplan-Meier
// just before the time, the numbers at risk (all, arm 1) and the events (all, arm 1). The
// product-limit update is R survdiff's, km * (n - d) / n.
template <class Visit>
void for_each_event_time(const std::vector<Observation>& data, std::size_t arm1, Visit&& visit) {
  double at_risk = static_cast<double>(data.size());
  double at_risk1 = static_cast<double>(arm1);
  double surv = 1.0;
  for_each_time(data, [&](const TimeGroup& g) {
    const int deaths = g.events[0] + g.events[1];
    if (deaths > 0) {
      const double d = deaths;
      visit(surv, at_risk, at_risk1, d, static_cast<double>(g.events[1]));
      surv *= (at_risk - d) / at_risk;
    }
    at_risk -= g.subjects[0] + g.subjects[1];
    at_risk1 -= g.subjects[1];
  });
}

// x^e for the exponents of the FH weights; 0 and 1 (the common cases) skip std::pow.
double power(double x, double e) {
  if (e == 0.0) return 1.0;
  if (e == 1.0) return x;
  return std::pow(x, e);
}

// One event time's contribution to the log-rank numerator, E1 - O1 (positive when arm 1 has
// fewer events than expected), and the hypergeometric variance of O1 (Mantel, Cancer Chemother
// Rep 1966), zero when a single patient is at risk.
struct LogrankTerm {
  double expected_minus_observed;
  double variance;
};
LogrankTerm logrank_term(double n, double n1, double d, double d1) {
  const double share1 = n1 / n;
  const double variance = n > 1.0 ? d * share1 * (1.0 - share1) * (n - d) / (n - 1.0) : 0.0;
  return {d * share1 - d1, variance};
}

// One arm's Kaplan-Meier curve followed up to a horizon. `last_time` is the arm's largest
// follow-up time: the curve is defined at the horizon if that is reached or the curve is 0.
struct ArmCurve {
  double at_risk = 0.0;
  double surv = 1.0;
  double last_time = -1.0;
  bool defined_at(double horizon) const { return last_time >= horizon || surv == 0.0; }
};

// ---- Discrete exact tests -----------------------------------------------------------------

// Probabilities of a unimodal distribution on lo..hi, scaled so the mode holds 1, by the ratio
// recursion f(x + 1) = f(x) ratio(x) outward from the mode: O(hi - lo) multiplications, no
// log-gamma. Terms below 1e-300 of the mode are set to 0 (a p-value that small is reported as
// 0). The table lives in thread-local scratch that is reused across calls.
template <class Ratio>
const std::vector<double>& unimodal_table(int lo, int hi, int mode, Ratio ratio) {
  constexpr double kNegligible = 1e-300;
  thread_local std::vector<double> table;
  table.assign(static_cast<std::size_t>(hi - lo + 1), 0.0);
  mode = std::clamp(mode, lo, hi);
  table[mode - lo] = 1.0;
  for (int x = mode; x < hi; ++x) {
    const double next = table[x - lo] * ratio(x);
    if (next < kNegligible) break;
    table[x + 1 - lo] = next;
  }
  for (int x = mode; x > lo; --x) {
    const double before = table[x - lo] / ratio(x - 1);
    if (before < kNegligible) break;
    table[x - 1 - lo] = before;
  }
  return table;
}

void check_counts(int responders, int n, const char* arm) {
  if (n < 0 || responders < 0 || responders > n)
    throw InputError(
        fmt::format("{} arm: need 0 <= responders <= n, got {} of {}", arm, responders, n));
}

// ---- Multivariate normal ------------------------------------------------------------------

// Plackett's integrand for one varying correlation r_ab (Plackett, Biometrika 1954): the bivariate
// normal density of (X_a, X_b) at (h_a, h_b) times 2 pi sqrt(1 - r_ab^2) (the Jacobian of
// r_ab = sin(theta) cancels the square root), times P(X_c < h_c | X_a = h_a, X_b = h_b).
// one_minus_r2 = 1 - r_ab^2 is passed in, computed as cos^2 to keep precision near |r| = 1.
// The conditional variance is det(R) / (1 - r_ab^2), written as in Genz (2004) to avoid
// cancellation when r_ac and r_bc are close; a singular conditional contributes 0.
double plackett_term(double h_a, double h_b, double h_c, double r_ab, double one_minus_r2,
                     double r_ac, double r_bc) {
  const double det_scaled = one_minus_r2 * (one_minus_r2 - (r_ac - r_bc) * (r_ac - r_bc) -
                                            2.0 * r_ac * r_bc * (1.0 - r_ab));
  if (!(det_scaled > 0.0)) return 0.0;
  const double b = (h_c * one_minus_r2 + h_a * (r_ab * r_bc - r_ac) + h_b * (r_ab * r_ac - r_bc)) /
                   std::sqrt(det_scaled);
  const double q = (h_a - r_ab * h_b) * (h_a - r_ab * h_b) / one_minus_r2 + h_b * h_b;
  return std::exp(-0.5 * q) * normal_cdf(b);
}

// Integral of f over [0, 1] by globally adaptive Gauss-Kronrod (7-15 point rule, Boost's nodes):
// the piece with the largest error estimate |K15 - G7| is halved until the estimates sum to
// less than abs_tol or 100 pieces are in use. Fixed storage, no allocation.
template <class F>
double integrate_unit_interval(const F& f, double abs_tol) {
  struct Piece {
    double a, b, value, error;
  };
  constexpr int kMaxPieces = 100;
  std::array<Piece, kMaxPieces> pieces;
  auto rule = [&f](double a, double b) {
    double error = 0.0;
    const double value =
        boost::math::quadrature::gauss_kronrod<double, 15>::integrate(f, a, b, 0, 0.0, &error);
    return Piece{a, b, value, error};
  };
  pieces[0] = rule(0.0, 1.0);
  int count = 1;
  while (true) {
    double total = 0.0;
    double error = 0.0;
    int worst = 0;
    for (int i = 0; i < count; ++i) {
      total += pieces[i].value;
      error += pieces[i].error;
      if (pieces[i].error > pieces[worst].error) worst = i;
    }
    if (error <= abs_tol || count == kMaxPieces) return total;
    const double a = pieces[worst].a;
    const double b = pieces[worst].b;
    const double mid = 0.5 * (a + b);
    pieces[worst] = rule(a, mid);
    pieces[count++] = rule(mid, b);
  }
}

void check_correlation(double r) {
  if (!(r >= -1.0 && r <= 1.0))
    throw InputError(fmt::format("correlation must be in [-1, 1], got {}", r));
}

}  // namespace

TestResult weighted_logrank(std::vector<Observation>& data, double rho, double gamma) {
  if (!(rho >= 0.0 && rho < kInf) || !(gamma >= 0.0 && gamma < kInf))
    throw InputError(
        fmt::format("Fleming-Harrington rho and gamma must be finite and >= 0, got "
                    "rho = {}, gamma = {}",
                    rho, gamma));
  const std::size_t arm1 = prepare(data);
  double numerator = 0.0;
  double variance = 0.0;
  for_each_event_time(data, arm1, [&](double surv, double n, double n1, double d, double d1) {
    const double w = power(surv, rho) * power(1.0 - surv, gamma);
    const LogrankTerm term = logrank_term(n, n1, d, d1);
    numerator += w * term.expected_minus_observed;
    variance += w * w * term.variance;
  });
  return wald(numerator, variance);
}

MaxComboResult maxcombo(std::vector<Observation>& data) {
  const std::size_t arm1 = prepare(data);
  std::array<double, 3> numerator{};
  std::array<std::array<double, 3>, 3> cov{};
  for_each_event_time(data, arm1, [&](double surv, double n, double n1, double d, double d1) {
    // FH(0,0), FH(0,1), FH(1,1)
    const std::array<double, 3> w{1.0, 1.0 - surv, surv * (1.0 - surv)};
    const LogrankTerm term = logrank_term(n, n1, d, d1);
    for (int j = 0; j < 3; ++j) {
      numerator[j] += w[j] * term.expected_minus_observed;
      for (int k = j; k < 3; ++k) cov[j][k] += w[j] * w[k] * term.variance;
    }
  });

  MaxComboResult result;
  if (!(cov[0][0] > 0.0)) return result;
  std::array<int, 3> used{};  // indices of the components with positive variance
  int count = 0;
  for (int j = 0; j < 3; ++j) {
    if (!(cov[j][j] > 0.0)) continue;
    used[count++] = j;
    result.z[j] = numerator[j] / std::sqrt(cov[j][j]);
    if (!(result.z[j] <= result.z_max)) result.z_max = result.z[j];  // NaN z_max at first
  }
  for (int a = 0; a < count; ++a) {
    for (int b = a; b < count; ++b) {
      const int j = used[a];
      const int k = used[b];
      const double r =
          j == k ? 1.0 : std::clamp(cov[j][k] / std::sqrt(cov[j][j] * cov[k][k]), -1.0, 1.0);
      result.correlation[j][k] = r;
      result.correlation[k][j] = r;
    }
  }
  const double z = result.z_max;
  const auto& r = result.correlation;
  if (count == 1) {
    result.p_one_sided = normal_upper(z);
  } else if (count == 2) {
    result.p_one_sided = 1.0 - bivariate_normal_cdf(z, z, r[used[0]][used[1]]);
  } else {
    result.p_one_sided = 1.0 - trivariate_normal_cdf(z, z, z, r[0][1], r[0][2], r[1][2]);
  }
  result.p_one_sided = std::clamp(result.p_one_sided, 0.0, 1.0);
  return result;
}

TestResult rmst_difference(std::vector<Observation>& data, double tau) {
  if (!(tau > 0.0 && tau < kInf))
    throw InputError(fmt::format("RMST horizon tau must be finite and > 0, got {}", tau));
  const std::size_t arm1 = prepare(data);
  const std::size_t arm0 = data.size() - arm1;
  if (arm0 == 0 || arm1 == 0) return {};

  // Per arm: the curve, the area under it so far and, for the variance, the running weighted
  // mean and sum of squares (West, Commun ACM 1979) of the area up to each event time x_i with
  // weights g_i = d_i / (n_i (n_i - d_i)). With A_i = RMST - x_i,
  //   sum g_i A_i^2 = sum g_i (x_i - mean)^2 + (sum g_i) (RMST - mean)^2,
  // two non-negative terms: no cancellation and no per-event storage.
  struct Arm {
    ArmCurve curve;
    double area = 0.0;
    double previous_time = 0.0;
    double weight_sum = 0.0;
    double mean = 0.0;
    double sum_squares = 0.0;
  };
  std::array<Arm, 2> arms;
  arms[0].curve.at_risk = static_cast<double>(arm0);
  arms[1].curve.at_risk = static_cast<double>(arm1);
  for_each_time(data, [&](const TimeGroup& g) {
    for (int a = 0; a < 2; ++a) {
      if (g.subjects[a] == 0) continue;
      Arm& arm = arms[a];
      arm.curve.last_time = g.time;
      if (g.events[a] > 0 && g.time <= tau) {
        const double n = arm.curve.at_risk;
        const double d = g.events[a];
        arm.area += arm.curve.surv * (g.time - arm.previous_time);
        arm.previous_time = g.time;
        if (n > d) {
          const double weight = d / (n * (n - d));
          arm.weight_sum += weight;
          const double delta = arm.area - arm.mean;
          arm.mean += delta * weight / arm.weight_sum;
          arm.sum_squares += weight * delta * (arm.area - arm.mean);
        }
        arm.curve.surv *= (n - d) / n;
      }
      arm.curve.at_risk -= g.subjects[a];
    }
  });

  std::array<double, 2> rmst{};
  double variance = 0.0;
  for (int a = 0; a < 2; ++a) {
    Arm& arm = arms[a];
    if (!arm.curve.defined_at(tau)) return {};
    rmst[a] = arm.area + arm.curve.surv * (tau - arm.previous_time);
    variance += arm.sum_squares + arm.weight_sum * (rmst[a] - arm.mean) * (rmst[a] - arm.mean);
  }
  return wald(rmst[1] - rmst[0], variance);
}

TestResult milestone_difference(std::vector<Observation>& data, double t) {
  if (!(t > 0.0 && t < kInf))
    throw InputError(fmt::format("milestone time must be finite and > 0, got {}", t));
  const std::size_t arm1 = prepare(data);
  const std::size_t arm0 = data.size() - arm1;
  if (arm0 == 0 || arm1 == 0) return {};

  std::array<ArmCurve, 2> curves;
  std::array<double, 2> greenwood{};  // sum d / (n (n - d))
  curves[0].at_risk = static_cast<double>(arm0);
  curves[1].at_risk = static_cast<double>(arm1);
  for_each_time(data, [&](const TimeGroup& g) {
    for (int a = 0; a < 2; ++a) {
      if (g.subjects[a] == 0) continue;
      ArmCurve& curve = curves[a];
      curve.last_time = g.time;
      if (g.events[a] > 0 && g.time <= t) {
        const double n = curve.at_risk;
        const double d = g.events[a];
        if (n > d) greenwood[a] += d / (n * (n - d));
        curve.surv *= (n - d) / n;
      }
      curve.at_risk -= g.subjects[a];
    }
  });

  double variance = 0.0;
  for (int a = 0; a < 2; ++a) {
    if (!curves[a].defined_at(t)) return {};
    // Greenwood's S^2 sum is 0 once S = 0 (its limit as the last n - d goes to 0).
    if (curves[a].surv > 0.0) variance += curves[a].surv * curves[a].surv * greenwood[a];
  }
  return wald(curves[1].surv - curves[0].surv, variance);
}

TestResult fisher_exact(int responders_control, int n_control, int responders_experimental,
                        int n_experimental) {
  check_counts(responders_control, n_control, "control");
  check_counts(responders_experimental, n_experimental, "experimental");
  if (n_control == 0 || n_experimental == 0) return {};

  const int responders = responders_control + responders_experimental;
  const int n = n_control + n_experimental;
  // X1 ~ hypergeometric: n_experimental draws from n patients of whom `responders` responded.
  const int lo = std::max(0, n_experimental - (n - responders));
  const int hi = std::min(responders, n_experimental);
  const double big_k = responders;
  const double n1 = n_experimental;
  const double rest = n_control - responders;  // n - K - n1
  const auto ratio = [&](int x) {
    const double xd = x;
    return (big_k - xd) * (n1 - xd) / ((xd + 1.0) * (rest + xd + 1.0));
  };
  const int mode = static_cast<int>(std::floor((big_k + 1.0) * (n1 + 1.0) / (n + 2.0)));
  const std::vector<double>& table = unimodal_table(lo, hi, mode, ratio);

  const int observed = responders_experimental - lo;
  const double threshold = table[observed] * kRelErr;
  double total = 0.0;
  double upper = 0.0;
  double as_extreme = 0.0;
  for (int i = 0; i <= hi - lo; ++i) {
    const double w = table[i];
    total += w;
    if (i >= observed) upper += w;
    if (w <= threshold) as_extreme += w;
  }

  const double p0 = responders_control / static_cast<double>(n_control);
  const double p1 = responders_experimental / n1;
  TestResult result;
  result.estimate = p1 - p0;
  result.se = std::sqrt(p0 * (1.0 - p0) / n_control + p1 * (1.0 - p1) / n1);
  result.p_one_sided = std::min(1.0, upper / total);
  result.p_two_sided = std::min(1.0, as_extreme / total);
  result.z = normal_deviate(result.p_one_sided);
  return result;
}

TestResult chi_square(int responders_control, int n_control, int responders_experimental,
                      int n_experimental, bool yates) {
  check_counts(responders_control, n_control, "control");
  check_counts(responders_experimental, n_experimental, "experimental");
  TestResult result;
  if (n_control == 0 || n_experimental == 0) return result;
  const double n0 = n_control;
  const double n1 = n_experimental;
  const double n = n0 + n1;
  const double k = responders_control + responders_experimental;
  const double p0 = responders_control / n0;
  const double p1 = responders_experimental / n1;
  result.estimate = p1 - p0;
  if (k == 0.0 || k == n) return result;  // an expected count is 0: R gives NaN

  const double pooled = k / n;
  result.se = std::sqrt(pooled * (1.0 - pooled) * (1.0 / n0 + 1.0 / n1));
  // |O - E| is the same in all four cells; sum 1/E = n^3 / (n0 n1 k (n - k)).
  const double deviation = std::abs(responders_experimental - n1 * k / n);
  const double correction = yates ? std::min(0.5, deviation) : 0.0;
  const double excess = deviation - correction;
  const double chi2 = excess * excess * (n / n0) * (n / n1) * (n / k) / (n - k);
  const double sign = p1 > p0 ? 1.0 : (p1 < p0 ? -1.0 : 0.0);
  result.z = sign * std::sqrt(chi2);
  result.p_one_sided = normal_upper(result.z);
  result.p_two_sided = chi_square_1_upper(chi2);
  return result;
}

TestResult exact_binomial(int responders, int n, double p0) {
  check_counts(responders, n, "single");
  if (!(p0 > 0.0 && p0 < 1.0))
    throw InputError(fmt::format("null response rate p0 must be in (0, 1), got {}", p0));
  if (n == 0) return {};

  const double nd = n;
  const double odds = p0 / (1.0 - p0);
  const auto ratio = [&](int x) { return (nd - x) / (x + 1.0) * odds; };
  const int mode = static_cast<int>(std::floor((nd + 1.0) * p0));
  const std::vector<double>& table = unimodal_table(0, n, mode, ratio);

  double total = 0.0;
  double upper = 0.0;
  for (int i = 0; i <= n; ++i) {
    total += table[i];
    if (i >= responders) upper += table[i];
  }
  // binom.test's two-sided rule: the observed tail in full plus the probabilities on the other
  // side of the mean m = n p0 that are no larger than the observed one.
  const double m = nd * p0;
  const double threshold = table[responders] * kRelErr;
  double two_sided = 0.0;
  if (responders == m) {
    two_sided = total;
  } else if (responders < m) {
    for (int i = 0; i <= responders; ++i) two_sided += table[i];
    for (int i = static_cast<int>(std::ceil(m)); i <= n; ++i)
      if (table[i] <= threshold) two_sided += table[i];
  } else {
    for (int i = responders; i <= n; ++i) two_sided += table[i];
    for (int i = 0; i <= static_cast<int>(std::floor(m)); ++i)
      if (table[i] <= threshold) two_sided += table[i];
  }

  TestResult result;
  result.estimate = responders / nd;
  result.se = std::sqrt(p0 * (1.0 - p0) / nd);
  result.p_one_sided = std::min(1.0, upper / total);
  result.p_two_sided = std::min(1.0, two_sided / total);
  result.z = normal_deviate(result.p_one_sided);
  return result;
}

// Owen (Ann Math Stat 1956), eq. (2.1): with s = sqrt(1 - r^2),
//   P(X < h, Y < k) = Phi(h)/2 + Phi(k)/2 - T(h, (k - r h)/(h s)) - T(k, (h - r k)/(k s)) - beta,
// beta = 1/2 when h and k have opposite signs, else 0; for h = 0 the limit is
// Phi(k)/2 + T(k, r/s) (and symmetrically for k = 0).
double bivariate_normal_cdf(double h, double k, double r) {
  check_correlation(r);
  if (std::isnan(h) || std::isnan(k)) return kNaN;
  if (h == -kInf || k == -kInf) return 0.0;
  if (h == kInf) return normal_cdf(k);
  if (k == kInf) return normal_cdf(h);
  if (r == 1.0) return normal_cdf(std::min(h, k));
  if (r == -1.0) return std::max(0.0, normal_cdf(h) - normal_cdf(-k));
  const double s = std::sqrt((1.0 - r) * (1.0 + r));
  if (h == 0.0 && k == 0.0) return 0.25 + std::asin(r) / (2.0 * std::numbers::pi);
  const double a_h = (k - r * h) / (h * s);
  const double a_k = (h - r * k) / (k * s);
  // A limit too close to 0 for its Owen's T argument to be finite is 0 to within 1e-300.
  if (h == 0.0 || !std::isfinite(a_h)) return 0.5 * normal_cdf(k) + boost::math::owens_t(k, r / s);
  if (k == 0.0 || !std::isfinite(a_k)) return 0.5 * normal_cdf(h) + boost::math::owens_t(h, r / s);
  const double beta = (h < 0.0) != (k < 0.0) ? 0.5 : 0.0;
  const double p = 0.5 * normal_cdf(h) + 0.5 * normal_cdf(k) - boost::math::owens_t(h, a_h) -
                   boost::math::owens_t(k, a_k) - beta;
  return std::clamp(p, 0.0, 1.0);
}

// Genz (Stat Comput 2004, section 3): order the variables so that |r23| is the largest
// correlation, then move r12 = sin(t asin r12) and r13 = sin(t asin r13) from 0 (where the
// probability factorises as Phi(h1) P(X2 < h2, X3 < h3)) to their values, t in [0, 1]. By
// Plackett's identity dP/dr_ij = phi2(h_i, h_j; r_ij) P(X_k < h_k | X_i = h_i, X_j = h_j), so
//   P = Phi(h1) Phi2(h2, h3; r23) + 1/(2 pi) integral_0^1 [asin(r12) g12(t) + asin(r13) g13(t)] dt
// with g the plackett_term integrands.
double trivariate_normal_cdf(double h1, double h2, double h3, double r12, double r13, double r23) {
  check_correlation(r12);
  check_correlation(r13);
  check_correlation(r23);
  if (std::isnan(h1) || std::isnan(h2) || std::isnan(h3)) return kNaN;
  if (h1 == -kInf || h2 == -kInf || h3 == -kInf) return 0.0;
  if (h1 == kInf) return bivariate_normal_cdf(h2, h3, r23);
  if (h2 == kInf) return bivariate_normal_cdf(h1, h3, r13);
  if (h3 == kInf) return bivariate_normal_cdf(h1, h2, r12);
  if (std::abs(r12) > std::abs(r13)) {  // swap variables 2 and 3
    std::swap(h2, h3);
    std::swap(r12, r13);
  }
  if (std::abs(r13) > std::abs(r23)) {  // swap variables 1 and 2
    std::swap(h1, h2);
    std::swap(r13, r23);
  }
  constexpr double kSingular = 1e-14;
  if (1.0 - r23 < kSingular) return bivariate_normal_cdf(h1, std::min(h2, h3), r12);  // X3 = X2
  if (r23 + 1.0 < kSingular) {  // X3 = -X2: -h3 < X2 < h2
    if (h2 <= -h3) return 0.0;
    return std::max(0.0, bivariate_normal_cdf(h1, h2, r12) - bivariate_normal_cdf(h1, -h3, r12));
  }
  const double base = normal_cdf(h1) * bivariate_normal_cdf(h2, h3, r23);
  const double a12 = std::asin(r12);
  const double a13 = std::asin(r13);
  if (a12 == 0.0 && a13 == 0.0) return base;
  const auto integrand = [=](double t) {
    double f = 0.0;
    const double s12 = std::sin(a12 * t);
    const double s13 = std::sin(a13 * t);
    if (a12 != 0.0) {
      const double c = std::cos(a12 * t);
      f += a12 * plackett_term(h1, h2, h3, s12, c * c, s13, r23);
    }
    if (a13 != 0.0) {
      const double c = std::cos(a13 * t);
      f += a13 * plackett_term(h1, h3, h2, s13, c * c, s12, r23);
    }
    return f;
  };
  constexpr double kAbsTol = 1e-12;
  const double p = base + integrate_unit_interval(integrand, kAbsTol) / (2.0 * std::numbers::pi);
  return std::clamp(p, 0.0, 1.0);
}

}  // namespace vpgen::design
