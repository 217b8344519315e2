#include "marginals.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <boost/math/policies/policy.hpp>
#include <boost/math/special_functions/beta.hpp>
#include <boost/math/special_functions/erf.hpp>
#include <boost/math/special_functions/gamma.hpp>

namespace vpgen::detail {
namespace {

// Boost promotes double arithmetic to long double by default; that makes erfc ~4x and ibeta_inv
// ~10x slower for no accuracy we can use (results are stored as double). Errors still throw.
using Policy = boost::math::policies::policy<boost::math::policies::promote_double<false>>;

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kSqrt2 = 1.41421356237309504880;

// Beyond |z| = 37.5 Phi(z) underflows to denormals; a score that large has probability
// below 1e-300, so clamping it changes no distribution.
constexpr double kZClamp = 37.5;

}  // namespace

double normal_cdf(double z) {
  if (z == -kInfinity) return 0.0;
  if (z == kInfinity) return 1.0;
  return 0.5 * boost::math::erfc(-z / kSqrt2, Policy());
}

double normal_quantile(double p) {
  if (p <= 0.0) return -kInfinity;
  if (p >= 1.0) return kInfinity;
  return -kSqrt2 * boost::math::erfc_inv(2.0 * p, Policy());
}

double normal_score(double lower, double upper) {
  return lower <= upper ? normal_quantile(lower) : -normal_quantile(upper);
}

// ---------------------------------------------------------------------------------------------

double TruncatedNormalScore::mass(double a, double b) {
  if (b <= 0.0) return normal_cdf(b) - normal_cdf(a);
  if (a >= 0.0) return normal_cdf(-a) - normal_cdf(-b);
  return 1.0 - normal_cdf(a) - normal_cdf(-b);
}

TruncatedNormalScore::TruncatedNormalScore(double a, double b)
    : a_(a), b_(b), lower_a_(normal_cdf(a)), upper_b_(normal_cdf(-b)), mass_(mass(a, b)) {
  table_ = ScoreTable([this](double z) { return exact(z); });
}

double TruncatedNormalScore::exact(double z) const {
  const double zc = std::clamp(z, -kZClamp, kZClamp);
  // lower + upper = 1; both are formed from tail probabilities so neither loses precision.
  const double lower = lower_a_ + normal_cdf(zc) * mass_;
  const double upper = upper_b_ + normal_cdf(-zc) * mass_;
  return std::clamp(normal_score(lower, upper), a_, b_);
}

LogNormalScore::LogNormalScore(const LogNormalMarginal& m)
    : mu_(std::log(m.median)),
      sigma_(m.sigma_log),
      min_(m.min),
      max_(m.max),
      standard_((std::log(m.min) - std::log(m.median)) / m.sigma_log,
                (std::log(m.max) - std::log(m.median)) / m.sigma_log) {}

double LogNormalScore::operator()(double z) const {
  return std::clamp(std::exp(mu_ + sigma_ * standard_(z)), min_, max_);
}

NormalScore::NormalScore(const NormalMarginal& m)
    : mean_(m.mean),
      sd_(m.sd),
      min_(m.min),
      max_(m.max),
      standard_((m.min - m.mean) / m.sd, (m.max - m.mean) / m.sd) {}

double NormalScore::operator()(double z) const {
  return std::clamp(mean_ + sd_ * standard_(z), min_, max_);
}

BetaScore::BetaScore(const BetaMarginal& m) : alpha_(m.alpha), beta_(m.beta) {
  table_ = ScoreTable([this](double z) { return exact(z); });
}

double BetaScore::exact(double z) const {
  const double zc = std::clamp(z, -kZClamp, kZClamp);
  // The upper half uses the complementary inverse so that quantiles near 1 stay accurate.
  if (zc <= 0.0) return boost::math::ibeta_inv(alpha_, beta_, normal_cdf(zc), Policy());
  return boost::math::ibetac_inv(alpha_, beta_, normal_cdf(-zc), Policy());
}

// ---------------------------------------------------------------------------------------------

CategoricalScore::CategoricalScore(const std::vector<double>& probabilities)
    : probabilities_(probabilities) {
  double total = 0.0;
  for (double p : probabilities_) total += p;
  for (double& p : probabilities_) p /= total;
  const std::size_t n = probabilities_.size();
  lower_.assign(n + 1, 0.0);
  upper_.assign(n + 1, 0.0);
  for (std::size_t k = 0; k < n; ++k) lower_[k + 1] = lower_[k] + probabilities_[k];
  // Summed from the top, so that small upper tails (e.g. of a Poisson) keep their precision.
  for (std::size_t k = n; k-- > 0;) upper_[k] = upper_[k + 1] + probabilities_[k];
  for (std::size_t k = 0; k + 1 < n; ++k) {
    if (upper_[k + 1] == 0.0) thresholds_.push_back(kInfinity);
    else if (lower_[k + 1] == 0.0) thresholds_.push_back(-kInfinity);
    else thresholds_.push_back(normal_score(lower_[k + 1], upper_[k + 1]));
  }
}

std::size_t CategoricalScore::operator()(double z) const {
  for (std::size_t k = 0; k < thresholds_.size(); ++k)
    if (z <= thresholds_[k]) return k;
  return thresholds_.size();
}

Pdl1Score::Pdl1Score(const Pdl1Marginal& m)
    : band_({m.frac_zero, m.frac_1_4, m.frac_5_49, m.frac_50_100}) {}

double Pdl1Score::operator()(double z) const {
  static constexpr std::array<double, 4> kLow = {0.0, 1.0, 5.0, 50.0};
  static constexpr std::array<double, 4> kHigh = {0.0, 5.0, 50.0, 100.0};
  const std::size_t band = band_(z);
  if (band == 0) return 0.0;
  // Position of u = Phi(z) within the band's probability interval, uniform in [0, 1].
  const double width = band_.probability(band);
  const double position = z <= 0.0 ? (normal_cdf(z) - band_.lower_before(band)) / width
                                   : (band_.upper_before(band) - normal_cdf(-z)) / width;
  double value = kLow[band] + (kHigh[band] - kLow[band]) * std::clamp(position, 0.0, 1.0);
  // [1,5) and [5,50) are half-open: rounding must not push a value into the next band.
  if (band < 3 && value >= kHigh[band]) value = std::nextafter(kHigh[band], 0.0);
  return value;
}

CategoricalScore poisson_categories(double mean) {
  if (mean <= 0.0) return CategoricalScore({1.0});
  std::vector<double> probabilities;
  double pmf = std::exp(-mean);
  for (int k = 0;; ++k) {
    probabilities.push_back(pmf);
    pmf *= mean / (k + 1);
    // P(X >= k + 1) is the regularised lower incomplete gamma P(k + 1, mean).
    const double tail = boost::math::gamma_p(static_cast<double>(k + 1), mean, Policy());
    if (tail < 1e-20 || k >= 1000) {
      probabilities.push_back(tail);
      break;
    }
  }
  return CategoricalScore(probabilities);
}

TypeMarginals::TypeMarginals(const CancerTypeParams& p)
    : tmb_mut_per_mb(p.tmb_mut_per_mb),
      pdl1_tps_percent(p.pdl1),
      infiltration(p.infiltration),
      memory_capacity(p.memory_capacity),
      tumour_burden_mm(p.tumour_burden_mm),
      extra_sites(poisson_categories(p.mean_extra_sites)),
      age_years(p.age_years),
      ecog({p.ecog_probs[0], p.ecog_probs[1], p.ecog_probs[2]}),
      ldh_elevated({1.0 - p.frac_ldh_elevated, p.frac_ldh_elevated}) {}

}  // namespace vpgen::detail
