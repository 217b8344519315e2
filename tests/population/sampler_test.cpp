#include "vpgen/population/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include <boost/math/distributions/beta.hpp>
#include <boost/math/distributions/normal.hpp>
#include <doctest/doctest.h>

#include "vpgen/population/error.hpp"

// Statistical checks use a fixed seed and a tolerance of 4 Monte Carlo standard errors (SE). For a
// proportion p estimated from n independent patients SE = sqrt(p (1 - p) / n); for a mean
// SE = sd / sqrt(n). With ~40 such checks, the chance that a correct sampler fails any of them at
// 4 SE is below 0.3%; the seeds are fixed, so a pass or fail is reproducible.

namespace vpgen {
namespace {

constexpr double kPi = 3.14159265358979323846;

double phi_cdf(double x) { return boost::math::cdf(boost::math::normal_distribution<double>(), x); }

double phi_pdf(double x) { return boost::math::pdf(boost::math::normal_distribution<double>(), x); }

double proportion_se(double p, double n) { return std::sqrt(p * (1.0 - p) / n); }

void set_correlation(PopulationParams& params, CopulaDim a, CopulaDim b, double r) {
  params.correlation[static_cast<std::size_t>(a)][static_cast<std::size_t>(b)] = r;
  params.correlation[static_cast<std::size_t>(b)][static_cast<std::size_t>(a)] = r;
}

// Realistic but test-only parameters: every type the same except melanoma's TMB.
PopulationParams test_params() {
  PopulationParams params;
  for (CancerTypeParams& t : params.types) {
    t.tmb_mut_per_mb = {8.0, 1.0, 0.5, 300.0};
    t.pdl1 = {0.40, 0.10, 0.25, 0.25};
    t.infiltration = {1.8, 2.2};
    t.memory_capacity = {2.0, 3.0};
    t.tumour_burden_mm = {80.0, 0.7, 10.0, 400.0};
    t.mean_extra_sites = 1.3;
    t.age_years = {62.0, 11.0, 18.0, 90.0};
    t.frac_female = 0.4;
    t.ecog_probs = {0.55, 0.40, 0.05};
    t.frac_ldh_elevated = 0.35;
    t.line_probs = {0.6, 0.3, 0.1};
    t.frac_prior_anti_pd1_if_pretreated = 0.5;
  }
  params.types[static_cast<std::size_t>(CancerType::kMelanoma)].tmb_mut_per_mb = {13.5, 1.2, 0.1,
                                                                                  500.0};
  params.hot_threshold = 0.5;
  for (std::size_t i = 0; i < kCopulaDims; ++i) params.correlation[i][i] = 1.0;
  set_correlation(params, CopulaDim::kTmb, CopulaDim::kInfiltration, 0.5);
  set_correlation(params, CopulaDim::kPdl1, CopulaDim::kInfiltration, 0.4);
  set_correlation(params, CopulaDim::kInfiltration, CopulaDim::kMemory, 0.3);
  set_correlation(params, CopulaDim::kBurden, CopulaDim::kAge, -0.4);
  set_correlation(params, CopulaDim::kBurden, CopulaDim::kLdh, 0.5);
  return params;
}

CohortSpec single_type(CancerType type, Eligibility eligibility = {}) {
  CohortSpec cohort;
  cohort.mix = {{type, 1.0}};
  cohort.eligibility = std::move(eligibility);
  return cohort;
}

std::vector<Patient> sample_many(const PopulationSampler& sampler, std::uint64_t seed, int n) {
  std::vector<Patient> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) out.push_back(sampler.sample(seed, static_cast<std::uint64_t>(i)));
  return out;
}

template <typename Predicate>
double fraction(const std::vector<Patient>& patients, Predicate predicate) {
  const auto count = std::count_if(patients.begin(), patients.end(), predicate);
  return static_cast<double>(count) / static_cast<double>(patients.size());
}

template <typename Field>
std::pair<double, double> mean_and_sd(const std::vector<Patient>& patients, Field field) {
  double sum = 0.0, sum_sq = 0.0;
  for (const Patient& p : patients) {
    const double x = field(p);
    sum += x;
    sum_sq += x * x;
  }
  const double n = static_cast<double>(patients.size());
  const double mean = sum / n;
  return {mean, std::sqrt(std::max(0.0, sum_sq / n - mean * mean))};
}

// Fraction of a log-normal truncated to [min, max] that lies below x.
double truncated_log_normal_cdf(const LogNormalMarginal& m, double x) {
  const double a = phi_cdf((std::log(m.min) - std::log(m.median)) / m.sigma_log);
  const double b = phi_cdf((std::log(m.max) - std::log(m.median)) / m.sigma_log);
  const double v = phi_cdf((std::log(x) - std::log(m.median)) / m.sigma_log);
  return (v - a) / (b - a);
}

void check_same_patient(const Patient& a, const Patient& b) {
  CHECK(a.index == b.index);
  CHECK(a.cancer_type == b.cancer_type);
  CHECK(a.tmb_mut_per_mb == b.tmb_mut_per_mb);
  CHECK(a.pdl1_tps_percent == b.pdl1_tps_percent);
  CHECK(a.infiltration == b.infiltration);
  CHECK(a.hot == b.hot);
  CHECK(a.memory_capacity == b.memory_capacity);
  CHECK(a.tumour_burden_mm == b.tumour_burden_mm);
  CHECK(a.metastatic_sites == b.metastatic_sites);
  CHECK(a.age_years == b.age_years);
  CHECK(a.sex == b.sex);
  CHECK(a.ecog == b.ecog);
  CHECK(a.ldh_elevated == b.ldh_elevated);
  CHECK(a.line_of_therapy == b.line_of_therapy);
  CHECK(a.prior_anti_pd1 == b.prior_anti_pd1);
  CHECK(a.candidates_screened == b.candidates_screened);
}

std::vector<double> ranks(const std::vector<double>& x) {
  std::vector<std::size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&x](std::size_t i, std::size_t j) { return x[i] < x[j]; });
  std::vector<double> r(x.size());
  for (std::size_t k = 0; k < order.size(); ++k) r[order[k]] = static_cast<double>(k);
  return r;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0.0, sxx = 0.0, syy = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxy / std::sqrt(sxx * syy);
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  return pearson(ranks(x), ranks(y));
}

TEST_CASE("each attribute follows its configured marginal distribution" *
          doctest::test_suite("statistical")) {
  const PopulationParams params = test_params();
  const CancerTypeParams& t = params.types[static_cast<std::size_t>(CancerType::kMelanoma)];
  const PopulationSampler sampler(params, single_type(CancerType::kMelanoma));
  constexpr int kN = 100'000;
  const std::vector<Patient> patients = sample_many(sampler, 20240501, kN);
  const double n = kN;

  // Support of every attribute; counted, then checked once, to keep the suite fast.
  int outside = 0;
  for (const Patient& p : patients) {
    const bool ok =
        p.cancer_type == CancerType::kMelanoma && p.candidates_screened == 1 &&
        p.tmb_mut_per_mb >= t.tmb_mut_per_mb.min && p.tmb_mut_per_mb <= t.tmb_mut_per_mb.max &&
        p.tumour_burden_mm >= t.tumour_burden_mm.min &&
        p.tumour_burden_mm <= t.tumour_burden_mm.max && p.age_years >= t.age_years.min &&
        p.age_years <= t.age_years.max && p.infiltration > 0.0 && p.infiltration < 1.0 &&
        p.memory_capacity > 0.0 && p.memory_capacity < 1.0 &&
        p.hot == (p.infiltration >= params.hot_threshold) && p.metastatic_sites >= 1 &&
        p.ecog >= 0 && p.ecog <= 2 && p.line_of_therapy >= 1 && p.line_of_therapy <= 3 &&
        (!p.prior_anti_pd1 || p.line_of_therapy >= 2) && p.pdl1_tps_percent >= 0.0 &&
        p.pdl1_tps_percent <= 100.0;
    outside += ok ? 0 : 1;
  }
  CHECK(outside == 0);

  SUBCASE("TMB: truncated log-normal, checked at its median and at 20 mut/Mb") {
    for (double x : {t.tmb_mut_per_mb.median, 20.0}) {
      const double expected = truncated_log_normal_cdf(t.tmb_mut_per_mb, x);
      const double observed =
          fraction(patients, [x](const Patient& p) { return p.tmb_mut_per_mb < x; });
      CHECK(std::abs(observed - expected) < 4.0 * proportion_se(expected, n));
    }
  }
  SUBCASE("PD-L1: point mass at 0 and the three bands, uniform within a band") {
    const std::vector<std::pair<double, double>> bands = {{1.0, 5.0}, {5.0, 50.0}, {50.0, 100.01}};
    const std::vector<double> expected = {t.pdl1.frac_1_4, t.pdl1.frac_5_49, t.pdl1.frac_50_100};
    const double zero =
        fraction(patients, [](const Patient& p) { return p.pdl1_tps_percent == 0.0; });
    CHECK(std::abs(zero - t.pdl1.frac_zero) < 4.0 * proportion_se(t.pdl1.frac_zero, n));
    for (std::size_t k = 0; k < bands.size(); ++k) {
      const auto [lo, hi] = bands[k];
      std::vector<Patient> in_band;
      for (const Patient& p : patients)
        if (p.pdl1_tps_percent >= lo && p.pdl1_tps_percent < hi) in_band.push_back(p);
      const double observed = static_cast<double>(in_band.size()) / n;
      CHECK(std::abs(observed - expected[k]) < 4.0 * proportion_se(expected[k], n));
      // Uniform on [lo, hi): mean (lo + hi) / 2, sd (hi - lo) / sqrt(12).
      const double top = std::min(hi, 100.0);
      const auto [mean, sd] =
          mean_and_sd(in_band, [](const Patient& p) { return p.pdl1_tps_percent; });
      const double n_band = static_cast<double>(in_band.size());
      CHECK(std::abs(mean - (lo + top) / 2.0) < 4.0 * (top - lo) / std::sqrt(12.0 * n_band));
    }
    // Nothing falls strictly between 0 and 1 %.
    CHECK(fraction(patients, [](const Patient& p) {
            return p.pdl1_tps_percent > 0.0 && p.pdl1_tps_percent < 1.0;
          }) == 0.0);
  }
  SUBCASE("infiltration and memory: Beta means, and the hot fraction") {
    for (const auto& [beta, field] : {std::pair{t.infiltration, &Patient::infiltration},
                                      std::pair{t.memory_capacity, &Patient::memory_capacity}}) {
      const double a = beta.alpha, b = beta.beta;
      const double expected = a / (a + b);
      const double sd = std::sqrt(a * b / ((a + b) * (a + b) * (a + b + 1.0)));
      const auto [mean, observed_sd] =
          mean_and_sd(patients, [f = field](const Patient& p) { return p.*f; });
      CHECK(std::abs(mean - expected) < 4.0 * sd / std::sqrt(n));
      CHECK(observed_sd == doctest::Approx(sd).epsilon(0.02));
    }
    const double hot_expected = boost::math::cdf(boost::math::complement(
        boost::math::beta_distribution<double>(t.infiltration.alpha, t.infiltration.beta),
        params.hot_threshold));
    const double hot = fraction(patients, [](const Patient& p) { return p.hot; });
    CHECK(std::abs(hot - hot_expected) < 4.0 * proportion_se(hot_expected, n));
  }
  SUBCASE("tumour burden: truncated log-normal at its median") {
    const double expected = truncated_log_normal_cdf(t.tumour_burden_mm, t.tumour_burden_mm.median);
    const double observed = fraction(patients, [&t](const Patient& p) {
      return p.tumour_burden_mm < t.tumour_burden_mm.median;
    });
    CHECK(std::abs(observed - expected) < 4.0 * proportion_se(expected, n));
  }
  SUBCASE("metastatic sites: 1 + Poisson(mean_extra_sites)") {
    const double lambda = t.mean_extra_sites;
    const auto [mean, sd] =
        mean_and_sd(patients, [](const Patient& p) { return p.metastatic_sites; });
    CHECK(std::abs(mean - (1.0 + lambda)) < 4.0 * std::sqrt(lambda / n));
    const double p_one = std::exp(-lambda);
    const double one = fraction(patients, [](const Patient& p) { return p.metastatic_sites == 1; });
    CHECK(std::abs(one - p_one) < 4.0 * proportion_se(p_one, n));
  }
  SUBCASE("age: truncated normal mean") {
    const NormalMarginal& m = t.age_years;
    const double a = (m.min - m.mean) / m.sd, b = (m.max - m.mean) / m.sd;
    const double expected = m.mean + m.sd * (phi_pdf(a) - phi_pdf(b)) / (phi_cdf(b) - phi_cdf(a));
    const auto [mean, sd] = mean_and_sd(patients, [](const Patient& p) { return p.age_years; });
    CHECK(std::abs(mean - expected) < 4.0 * m.sd / std::sqrt(n));
  }
  SUBCASE("sex, ECOG, LDH, line of therapy and prior anti-PD-1 proportions") {
    const double female =
        fraction(patients, [](const Patient& p) { return p.sex == Sex::kFemale; });
    CHECK(std::abs(female - t.frac_female) < 4.0 * proportion_se(t.frac_female, n));
    for (int k = 0; k < 3; ++k) {
      const double expected = t.ecog_probs[k];
      const double observed = fraction(patients, [k](const Patient& p) { return p.ecog == k; });
      CHECK(std::abs(observed - expected) < 4.0 * proportion_se(expected, n));
      const double line_expected = t.line_probs[k];
      const double line =
          fraction(patients, [k](const Patient& p) { return p.line_of_therapy == k + 1; });
      CHECK(std::abs(line - line_expected) < 4.0 * proportion_se(line_expected, n));
    }
    const double ldh = fraction(patients, [](const Patient& p) { return p.ldh_elevated; });
    CHECK(std::abs(ldh - t.frac_ldh_elevated) < 4.0 * proportion_se(t.frac_ldh_elevated, n));
    std::vector<Patient> pretreated;
    for (const Patient& p : patients)
      if (p.line_of_therapy >= 2) pretreated.push_back(p);
    const double prior = fraction(pretreated, [](const Patient& p) { return p.prior_anti_pd1; });
    const double expected_prior = t.frac_prior_anti_pd1_if_pretreated;
    CHECK(std::abs(prior - expected_prior) <
          4.0 * proportion_se(expected_prior, static_cast<double>(pretreated.size())));
  }
}

TEST_CASE("cancer types follow the normalised mix weights, whatever order the mix lists them in" *
          doctest::test_suite("statistical")) {
  CohortSpec cohort;
  cohort.mix = {{CancerType::kNsclc, 3.0}, {CancerType::kMelanoma, 1.0}};
  const PopulationSampler sampler(test_params(), cohort);
  constexpr int kN = 40'000;
  const std::vector<Patient> patients = sample_many(sampler, 11, kN);
  const double melanoma =
      fraction(patients, [](const Patient& p) { return p.cancer_type == CancerType::kMelanoma; });
  CHECK(std::abs(melanoma - 0.25) < 4.0 * proportion_se(0.25, kN));
  CHECK(fraction(patients, [](const Patient& p) {
          return p.cancer_type != CancerType::kMelanoma && p.cancer_type != CancerType::kNsclc;
        }) == 0.0);
  // Melanoma's own TMB marginal applies to melanoma patients (median 13.5 vs 8 for NSCLC).
  std::vector<Patient> mel;
  for (const Patient& p : patients)
    if (p.cancer_type == CancerType::kMelanoma) mel.push_back(p);
  const PopulationParams params = test_params();
  const LogNormalMarginal& m = params.types[0].tmb_mut_per_mb;
  const double expected = truncated_log_normal_cdf(m, m.median);
  const double observed =
      fraction(mel, [&m](const Patient& p) { return p.tmb_mut_per_mb < m.median; });
  CHECK(std::abs(observed - expected) <
        4.0 * proportion_se(expected, static_cast<double>(mel.size())));

  CohortSpec reversed;
  reversed.mix = {{CancerType::kMelanoma, 1.0}, {CancerType::kNsclc, 3.0}};
  const PopulationSampler same(test_params(), reversed);
  for (std::uint64_t i = 0; i < 50; ++i)
    check_same_patient(sampler.sample(11, i), same.sample(11, i));
}

TEST_CASE("Spearman correlations of continuous attributes match the Gaussian copula" *
          doctest::test_suite("statistical")) {
  // For a Gaussian copula with correlation r, Spearman's rho_S = 6/pi * asin(r/2), whatever the
  // (continuous, strictly increasing) marginals. On Fisher's z scale atanh(rho_S) has
  // SE ~ sqrt(1.06 / (n - 3)) (Fieller, Hartley & Pearson, Biometrika 1957); tolerance 4 SE.
  const PopulationParams params = test_params();
  const PopulationSampler sampler(params, single_type(CancerType::kNsclc));
  constexpr int kN = 20'000;
  const std::vector<Patient> patients = sample_many(sampler, 777, kN);
  auto column = [&patients](double Patient::*field) {
    std::vector<double> out;
    for (const Patient& p : patients) out.push_back(p.*field);
    return out;
  };
  struct Pair {
    double Patient::*x;
    double Patient::*y;
    CopulaDim dx, dy;
  };
  const std::vector<Pair> pairs = {
      {&Patient::tmb_mut_per_mb, &Patient::infiltration, CopulaDim::kTmb, CopulaDim::kInfiltration},
      {&Patient::infiltration, &Patient::memory_capacity, CopulaDim::kInfiltration,
       CopulaDim::kMemory},
      {&Patient::tumour_burden_mm, &Patient::age_years, CopulaDim::kBurden, CopulaDim::kAge},
      {&Patient::tmb_mut_per_mb, &Patient::age_years, CopulaDim::kTmb, CopulaDim::kAge},
      {&Patient::memory_capacity, &Patient::tumour_burden_mm, CopulaDim::kMemory,
       CopulaDim::kBurden},
  };
  const double tolerance = 4.0 * std::sqrt(1.06 / (kN - 3));
  for (const Pair& pair : pairs) {
    const double r =
        params.correlation[static_cast<std::size_t>(pair.dx)][static_cast<std::size_t>(pair.dy)];
    const double expected = 6.0 / kPi * std::asin(r / 2.0);
    const double observed = spearman(column(pair.x), column(pair.y));
    INFO("pair ", kCopulaDimNames[static_cast<std::size_t>(pair.dx)], "-",
         kCopulaDimNames[static_cast<std::size_t>(pair.dy)], ": r = ", r, ", rho_S = ", observed);
    CHECK(std::abs(std::atanh(observed) - std::atanh(expected)) < tolerance);
  }
}

TEST_CASE("discrete attributes are coupled through the copula too" *
          doctest::test_suite("statistical")) {
  // burden-LDH copula correlation 0.5: LDH is elevated more often when the burden is above its
  // median. Without coupling the two conditional fractions differ only by noise,
  // SE = sqrt(p(1-p)(1/n1 + 1/n2)) ~ 0.0067 here; the copula makes the gap ~0.3.
  const PopulationSampler sampler(test_params(), single_type(CancerType::kNsclc));
  const std::vector<Patient> patients = sample_many(sampler, 4242, 20'000);
  std::vector<Patient> large, small;
  for (const Patient& p : patients) (p.tumour_burden_mm > 80.0 ? large : small).push_back(p);
  const double ldh_large = fraction(large, [](const Patient& p) { return p.ldh_elevated; });
  const double ldh_small = fraction(small, [](const Patient& p) { return p.ldh_elevated; });
  const double se = std::sqrt(
      0.35 * 0.65 *
      (1.0 / static_cast<double>(large.size()) + 1.0 / static_cast<double>(small.size())));
  CHECK(ldh_large - ldh_small > 20.0 * se);
}

TEST_CASE("every patient accepted by the eligibility satisfies it") {
  Eligibility e;
  e.min_pdl1_tps_percent = 50.0;
  e.max_ecog = 1;
  e.lines_of_therapy = std::vector<int>{1};
  e.hot = true;
  e.max_tmb_mut_per_mb = 40.0;
  const PopulationSampler sampler(test_params(), single_type(CancerType::kMelanoma, e));
  for (const Patient& p : sample_many(sampler, 5, 3000)) {
    CHECK(e.accepts(p));
    CHECK(p.pdl1_tps_percent >= 50.0);
    CHECK(p.ecog <= 1);
    CHECK(p.line_of_therapy == 1);
    CHECK(p.hot);
    CHECK(p.tmb_mut_per_mb <= 40.0);
    CHECK(p.candidates_screened >= 1);
  }
}

TEST_CASE("Eligibility::accepts checks each restriction") {
  Patient p;
  p.pdl1_tps_percent = 30.0;
  p.tmb_mut_per_mb = 12.0;
  p.ecog = 1;
  p.line_of_therapy = 2;
  p.prior_anti_pd1 = true;
  p.hot = false;
  p.ldh_elevated = true;
  CHECK(Eligibility{}.accepts(p));
  auto with = [](auto setter) {
    Eligibility e;
    setter(e);
    return e;
  };
  CHECK(with([](Eligibility& e) { e.min_pdl1_tps_percent = 30.0; }).accepts(p));
  CHECK_FALSE(with([](Eligibility& e) { e.min_pdl1_tps_percent = 31.0; }).accepts(p));
  CHECK_FALSE(with([](Eligibility& e) { e.max_pdl1_tps_percent = 29.0; }).accepts(p));
  CHECK_FALSE(with([](Eligibility& e) { e.min_tmb_mut_per_mb = 12.5; }).accepts(p));
  CHECK_FALSE(with([](Eligibility& e) { e.max_tmb_mut_per_mb = 10.0; }).accepts(p));
  CHECK_FALSE(with([](Eligibility& e) { e.max_ecog = 0; }).accepts(p));
  CHECK(with([](Eligibility& e) { e.lines_of_therapy = std::vector<int>{2, 3}; }).accepts(p));
  CHECK_FALSE(with([](Eligibility& e) { e.lines_of_therapy = std::vector<int>{1}; }).accepts(p));
  CHECK_FALSE(with([](Eligibility& e) { e.prior_anti_pd1 = false; }).accepts(p));
  CHECK_FALSE(with([](Eligibility& e) { e.hot = true; }).accepts(p));
  CHECK_FALSE(with([](Eligibility& e) { e.ldh_elevated = false; }).accepts(p));
}

TEST_CASE("eligible patients have the unconditional distribution restricted to the eligible set" *
          doctest::test_suite("statistical")) {
  // Rejection sampling is exact: patients accepted under "PD-L1 >= 50" must look like the
  // unconditional candidates with PD-L1 >= 50. With PD-L1-infiltration correlation 0.4 the
  // restriction shifts infiltration up, so the comparison has power. Two-sample tests, 4 SE.
  const PopulationParams params = test_params();
  const PopulationSampler unconditional(params, single_type(CancerType::kNsclc));
  std::vector<Patient> restricted;
  for (const Patient& p : sample_many(unconditional, 1001, 100'000))
    if (p.pdl1_tps_percent >= 50.0) restricted.push_back(p);

  Eligibility e;
  e.min_pdl1_tps_percent = 50.0;
  const PopulationSampler conditional(params, single_type(CancerType::kNsclc, e));
  const std::vector<Patient> accepted = sample_many(conditional, 2002, 25'000);
  const double n1 = static_cast<double>(restricted.size());
  const double n2 = static_cast<double>(accepted.size());

  const auto [m1, sd1] = mean_and_sd(restricted, [](const Patient& p) { return p.infiltration; });
  const auto [m2, sd2] = mean_and_sd(accepted, [](const Patient& p) { return p.infiltration; });
  CHECK(std::abs(m1 - m2) < 4.0 * std::sqrt(sd1 * sd1 / n1 + sd2 * sd2 / n2));

  const double h1 = fraction(restricted, [](const Patient& p) { return p.hot; });
  const double h2 = fraction(accepted, [](const Patient& p) { return p.hot; });
  const double pooled = (h1 * n1 + h2 * n2) / (n1 + n2);
  CHECK(std::abs(h1 - h2) < 4.0 * std::sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)));

  const auto [t1, tsd1] =
      mean_and_sd(restricted, [](const Patient& p) { return std::log(p.tmb_mut_per_mb); });
  const auto [t2, tsd2] =
      mean_and_sd(accepted, [](const Patient& p) { return std::log(p.tmb_mut_per_mb); });
  CHECK(std::abs(t1 - t2) < 4.0 * std::sqrt(tsd1 * tsd1 / n1 + tsd2 * tsd2 / n2));

  // The conditioning matters: the unconditional infiltration mean 1.8 / 4 = 0.45 is far away.
  CHECK(m2 - 0.45 > 10.0 * sd2 / std::sqrt(n2));
}

TEST_CASE("the screening ratio estimates the pilot acceptance" *
          doctest::test_suite("statistical")) {
  // P(PD-L1 >= 50) = frac_50_100 = 0.25 and P(ECOG <= 1) = 0.95; the copula does not couple
  // PD-L1 and ECOG here, so the acceptance is 0.2375. candidates_screened is geometric with that p:
  // P(screened = 1) = p and n / sum(screened) estimates p.
  Eligibility e;
  e.min_pdl1_tps_percent = 50.0;
  e.max_ecog = 1;
  const PopulationSampler sampler(test_params(), single_type(CancerType::kNsclc, e), 31337);
  const double p = 0.25 * 0.95;
  const double pilot_se = proportion_se(p, PopulationSampler::kPilotCandidates);
  CHECK(std::abs(sampler.pilot_acceptance() - p) < 4.0 * pilot_se);

  constexpr int kN = 20'000;
  const std::vector<Patient> patients = sample_many(sampler, 8, kN);
  double screened = 0.0;
  for (const Patient& patient : patients) screened += patient.candidates_screened;
  const double ratio = kN / screened;
  // n / N over N ~ n / p candidates: SE ~ sqrt(p (1 - p) / N), plus the pilot's own SE.
  CHECK(std::abs(ratio - sampler.pilot_acceptance()) <
        4.0 * std::sqrt(p * (1.0 - p) / screened + pilot_se * pilot_se));
  const double first =
      fraction(patients, [](const Patient& x) { return x.candidates_screened == 1; });
  CHECK(std::abs(first - p) < 4.0 * proportion_se(p, kN));
}

TEST_CASE("an eligibility that accepts nobody is an InputError naming the restrictions") {
  Eligibility impossible;
  impossible.min_pdl1_tps_percent = 100.0;  // the top band is uniform on [50, 100]: P(100) = 0
  CHECK_THROWS_WITH_AS(
      PopulationSampler(test_params(), single_type(CancerType::kNsclc, impossible)),
      doctest::Contains("min_pdl1_tps_percent = 100 alone accepts 0"), InputError);
  CHECK_THROWS_WITH_AS(
      PopulationSampler(test_params(), single_type(CancerType::kNsclc, impossible)),
      doctest::Contains("none of 20000 screened candidates"), InputError);

  Eligibility contradictory;  // prior anti-PD-1 exists only from the second line on
  contradictory.lines_of_therapy = std::vector<int>{1};
  contradictory.prior_anti_pd1 = true;
  CHECK_THROWS_WITH_AS(
      PopulationSampler(test_params(), single_type(CancerType::kNsclc, contradictory)),
      doctest::Contains("the combination accepts none"), InputError);
}

TEST_CASE("invalid correlation matrices are rejected, naming the entry") {
  {
    PopulationParams params = test_params();
    set_correlation(params, CopulaDim::kTmb, CopulaDim::kPdl1, 0.9);
    set_correlation(params, CopulaDim::kTmb, CopulaDim::kInfiltration, 0.9);
    set_correlation(params, CopulaDim::kPdl1, CopulaDim::kInfiltration, -0.9);
    CHECK_THROWS_WITH_AS(
        PopulationSampler(params, single_type(CancerType::kNsclc)),
        doctest::Contains("not positive definite: the Cholesky pivot of row 2 (infiltration)"),
        InputError);
  }
  {
    PopulationParams params = test_params();
    params.correlation[1][0] = 0.3;
    CHECK_THROWS_WITH_AS(PopulationSampler(params, single_type(CancerType::kNsclc)),
                         doctest::Contains("not symmetric: [1][0] (pdl1, tmb) = 0.3"), InputError);
  }
  {
    PopulationParams params = test_params();
    params.correlation[3][3] = 0.9;
    CHECK_THROWS_WITH_AS(PopulationSampler(params, single_type(CancerType::kNsclc)),
                         doctest::Contains("[3][3] (memory, memory) = 0.9 must be 1"), InputError);
  }
  {
    PopulationParams params = test_params();
    set_correlation(params, CopulaDim::kAge, CopulaDim::kEcog, 1.0);
    CHECK_THROWS_WITH_AS(PopulationSampler(params, single_type(CancerType::kNsclc)),
                         doctest::Contains("(ecog, age) = 1 is not in (-1, 1)"), InputError);
  }
}

TEST_CASE("invalid marginal parameters and cohorts are rejected, naming the parameter") {
  auto rejects = [](auto mutate, const char* expected) {
    PopulationParams params = test_params();
    CohortSpec cohort = single_type(CancerType::kNsclc);
    mutate(params, cohort);
    CHECK_THROWS_WITH_AS(PopulationSampler(params, cohort), doctest::Contains(expected),
                         InputError);
  };
  rejects([](PopulationParams& p, CohortSpec&) { p.types[1].pdl1.frac_zero = 0.3; },
          "types.nsclc.pdl1 fractions");
  rejects([](PopulationParams& p, CohortSpec&) { p.types[2].tmb_mut_per_mb.sigma_log = 0.0; },
          "types.rcc.tmb_mut_per_mb.sigma_log = 0 must be > 0");
  rejects(
      [](PopulationParams& p, CohortSpec&) {
        p.types[7].ecog_probs = {0.5, 0.5, 0.1};
      },
      "types.tnbc.ecog.probs sum to");
  rejects([](PopulationParams& p, CohortSpec&) { p.types[3].infiltration.alpha = -1.0; },
          "types.urothelial.infiltration.alpha");
  rejects([](PopulationParams& p, CohortSpec&) { p.types[4].age_years.min = 95.0; },
          "types.head_neck.age_years: min = 95 must be < max = 90");
  rejects([](PopulationParams& p, CohortSpec&) { p.types[5].frac_female = 1.5; },
          "types.crc_msi_high.sex.frac_female = 1.5 is not in [0, 1]");
  rejects([](PopulationParams& p, CohortSpec&) { p.hot_threshold = -0.1; }, "hot_threshold");
  rejects([](PopulationParams&, CohortSpec& c) { c.mix.clear(); }, "cohort mix is empty");
  rejects(
      [](PopulationParams&, CohortSpec& c) {
        c.mix.push_back({CancerType::kNsclc, 1.0});
      },
      "cohort mix lists nsclc twice");
  rejects([](PopulationParams&, CohortSpec& c) { c.mix[0].second = 0.0; },
          "cohort mix weight of nsclc = 0 must be > 0");
  rejects([](PopulationParams&, CohortSpec& c) { c.eligibility.max_ecog = 3; },
          "eligibility max_ecog = 3");
  rejects([](PopulationParams&,
             CohortSpec& c) { c.eligibility.lines_of_therapy = std::vector<int>{0}; },
          "eligibility lines_of_therapy contains 0");
}

TEST_CASE("a patient depends only on (seed, index), not on the order or the sampler instance") {
  Eligibility e;
  e.min_pdl1_tps_percent = 1.0;  // some patients screen several candidates
  const PopulationSampler sampler(test_params(), single_type(CancerType::kHeadNeck, e), 1);
  constexpr std::uint64_t kCount = 200;
  std::vector<Patient> forward;
  for (std::uint64_t i = 0; i < kCount; ++i) forward.push_back(sampler.sample(99, i));
  std::vector<Patient> backward(kCount);
  for (std::uint64_t i = kCount; i-- > 0;) backward[i] = sampler.sample(99, i);
  // A different pilot seed changes only the pilot, never a patient.
  const PopulationSampler other(test_params(), single_type(CancerType::kHeadNeck, e), 2);
  const PopulationSampler copy = sampler;
  for (std::uint64_t i = 0; i < kCount; ++i) {
    CHECK(forward[i].index == i);
    check_same_patient(forward[i], backward[i]);
    check_same_patient(forward[i], other.sample(99, i));
    check_same_patient(forward[i], copy.sample(99, i));
  }
  CHECK(std::any_of(forward.begin(), forward.end(),
                    [](const Patient& p) { return p.candidates_screened > 1; }));
  // Another seed gives other patients.
  int same = 0;
  for (std::uint64_t i = 0; i < kCount; ++i)
    same += sampler.sample(100, i).tmb_mut_per_mb == forward[i].tmb_mut_per_mb;
  CHECK(same == 0);
}

}  // namespace
}  // namespace vpgen
