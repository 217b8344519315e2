// Private to vpgen_population. The per-cancer-type marginal distributions as transforms of a
// standard-normal score z: attribute = F^-1(Phi(z)). The Gaussian copula in sampler.cpp produces
// correlated scores; these classes turn each score into an attribute value. Built once per sampler
// from validated parameters, immutable afterwards, so concurrent use from many threads is safe.
#pragma once

#include "vpgen/population/population_params.hpp"

#include <array>
#include <cstddef>
#include <optional>
#include <vector>

namespace vpgen::detail {

// Standard normal CDF Phi(z), accurate in both tails (computed from erfc).
double normal_cdf(double z);

// Phi^-1(p) for p in [0, 1]; -inf at 0 and +inf at 1.
double normal_quantile(double p);

// Phi^-1 of a probability given as the pair (lower, upper) with lower + upper = 1, each computed
// accurately: the smaller of the two is inverted, so tail probabilities keep full precision.
double normal_score(double lower, double upper);

// A function of the score tabulated on the uniform grid z = -kZMax + k / kStepsPerUnit and
// linearly interpolated. Inside |z| <= kZMax (probability 1 - 1.2e-17) callers use the table;
// outside it they evaluate the exact function, so the tails stay exact.
class ScoreTable {
 public:
  static constexpr double kZMax = 8.5;
  static constexpr int kStepsPerUnit = 128;
  static constexpr std::size_t kPoints = static_cast<std::size_t>(2 * kZMax * kStepsPerUnit) + 1;

  ScoreTable() = default;
  template <typename Function>
  explicit ScoreTable(const Function& exact) : values_(kPoints) {
    for (std::size_t k = 0; k < kPoints; ++k) values_[k] = exact(grid_point(k));
  }

  static double grid_point(std::size_t k) {
    return -kZMax + static_cast<double>(k) / kStepsPerUnit;
  }

  // REQUIRES: |z| <= kZMax.
  double interpolate(double z) const {
    const double position = (z + kZMax) * kStepsPerUnit;
    std::size_t k = static_cast<std::size_t>(position);
    if (k >= kPoints - 1) k = kPoints - 2;
    const double fraction = position - static_cast<double>(k);
    return values_[k] + fraction * (values_[k + 1] - values_[k]);
  }

 private:
  std::vector<double> values_;
};

// The standard normal truncated to [a, b] (either may be infinite), by quantile:
// t(z) = Phi^-1(Phi(a) + Phi(z) (Phi(b) - Phi(a))). No rejection, so one score gives one value.
class TruncatedNormalScore {
 public:
  TruncatedNormalScore() = default;
  TruncatedNormalScore(double a, double b);

  // Probability mass of [a, b] under the standard normal.
  static double mass(double a, double b);

  double exact(double z) const;
  double operator()(double z) const {
    return (z >= -ScoreTable::kZMax && z <= ScoreTable::kZMax) ? table_.interpolate(z) : exact(z);
  }

 private:
  double a_ = 0.0, b_ = 0.0;
  double lower_a_ = 0.0;  // Phi(a)
  double upper_b_ = 0.0;  // 1 - Phi(b)
  double mass_ = 1.0;     // Phi(b) - Phi(a)
  ScoreTable table_;
};

// Log-normal truncated to [min, max]: x = exp(log(median) + sigma_log * t(z)).
class LogNormalScore {
 public:
  LogNormalScore() = default;
  explicit LogNormalScore(const LogNormalMarginal& marginal);
  double operator()(double z) const;

 private:
  double mu_ = 0.0, sigma_ = 1.0, min_ = 0.0, max_ = 0.0;
  TruncatedNormalScore standard_;
};

// Normal truncated to [min, max]: x = mean + sd * t(z).
class NormalScore {
 public:
  NormalScore() = default;
  explicit NormalScore(const NormalMarginal& marginal);
  double operator()(double z) const;

 private:
  double mean_ = 0.0, sd_ = 1.0, min_ = 0.0, max_ = 0.0;
  TruncatedNormalScore standard_;
};

// Beta(alpha, beta) by quantile. Boost's ibeta_inv costs about a microsecond per call, so the
// quantile is tabulated once per sampler (see ScoreTable) and exact only beyond |z| > kZMax.
class BetaScore {
 public:
  BetaScore() = default;
  explicit BetaScore(const BetaMarginal& marginal);
  double exact(double z) const;
  double operator()(double z) const {
    return (z >= -ScoreTable::kZMax && z <= ScoreTable::kZMax) ? table_.interpolate(z) : exact(z);
  }

 private:
  double alpha_ = 1.0, beta_ = 1.0;
  ScoreTable table_;
};

// A categorical variable by inverse CDF on u = Phi(z): category k when F(k-1) < u <= F(k).
// Compared on the score scale (thresholds Phi^-1(F(k))), so no CDF is evaluated per draw.
// A category of probability 0 is never returned.
class CategoricalScore {
 public:
  CategoricalScore() = default;
  // REQUIRES: probabilities >= 0 summing to 1 (they are renormalised).
  explicit CategoricalScore(const std::vector<double>& probabilities);

  std::size_t operator()(double z) const;

  // F(k - 1) and 1 - F(k - 1): the probability below and above the start of category k.
  double lower_before(std::size_t k) const { return lower_[k]; }
  double upper_before(std::size_t k) const { return upper_[k]; }
  double probability(std::size_t k) const { return probabilities_[k]; }

 private:
  std::vector<double> probabilities_;
  std::vector<double> lower_, upper_;  // size categories + 1
  std::vector<double> thresholds_;     // Phi^-1(F(k)) for k = 0 .. categories - 2
};

// PD-L1 TPS: point mass at 0, then uniform within [1,5), [5,50), [50,100] (Pdl1Marginal).
class Pdl1Score {
 public:
  Pdl1Score() = default;
  explicit Pdl1Score(const Pdl1Marginal& marginal);
  double operator()(double z) const;

 private:
  CategoricalScore band_;
};

// 1 + Poisson(mean_extra_sites) by inverse CDF. The Poisson tail beyond the last tabulated count
// has probability below 1e-20 and is assigned to that count.
CategoricalScore poisson_categories(double mean);

// Every transform one cancer type needs.
struct TypeMarginals {
  explicit TypeMarginals(const CancerTypeParams& params);

  LogNormalScore tmb_mut_per_mb;
  Pdl1Score pdl1_tps_percent;
  BetaScore infiltration;
  BetaScore memory_capacity;
  LogNormalScore tumour_burden_mm;
  CategoricalScore extra_sites;
  NormalScore age_years;
  CategoricalScore ecog;
  CategoricalScore ldh_elevated;
};

// The precomputed state of one PopulationSampler: marginals of the cancer types in its cohort mix
// (types with weight 0 are never drawn and get no tables).
struct SamplerTables {
  std::array<std::optional<TypeMarginals>, kCancerTypeCount> types;
};

// Category for a uniform u in (0, 1): the first k with u < F(k), skipping categories that have
// probability 0 (so rounding in F never selects one).
template <std::size_t N>
int categorical_from_uniform(double u, const std::array<double, N>& probabilities) {
  double total = 0.0;
  for (double p : probabilities) total += p;
  double cumulative = 0.0;
  for (std::size_t k = 0; k < N; ++k) {
    cumulative += probabilities[k] / total;
    double above = 0.0;
    for (std::size_t j = k + 1; j < N; ++j) above += probabilities[j];
    if (above == 0.0 || (probabilities[k] > 0.0 && u < cumulative)) return static_cast<int>(k);
  }
  return static_cast<int>(N) - 1;
}

}  // namespace vpgen::detail
