#include "vpgen/population/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include <boost/random/normal_distribution.hpp>
#include <fmt/format.h>

#include "marginals.hpp"
#include "vpgen/population/error.hpp"
#include "vpgen/population/random_stream.hpp"

namespace vpgen {

bool Eligibility::accepts(const Patient& p) const {
  if (min_pdl1_tps_percent && p.pdl1_tps_percent < *min_pdl1_tps_percent) return false;
  if (max_pdl1_tps_percent && p.pdl1_tps_percent > *max_pdl1_tps_percent) return false;
  if (min_tmb_mut_per_mb && p.tmb_mut_per_mb < *min_tmb_mut_per_mb) return false;
  if (max_tmb_mut_per_mb && p.tmb_mut_per_mb > *max_tmb_mut_per_mb) return false;
  if (max_ecog && p.ecog > *max_ecog) return false;
  if (lines_of_therapy && std::find(lines_of_therapy->begin(), lines_of_therapy->end(),
                                    p.line_of_therapy) == lines_of_therapy->end())
    return false;
  if (prior_anti_pd1 && p.prior_anti_pd1 != *prior_anti_pd1) return false;
  if (hot && p.hot != *hot) return false;
  if (ldh_elevated && p.ldh_elevated != *ldh_elevated) return false;
  return true;
}

namespace {

using Cholesky = std::array<std::array<double, kCopulaDims>, kCopulaDims>;

// Tolerance for "sums to 1": parameter files write fractions with a few decimals.
constexpr double kSumTolerance = 1e-9;

[[noreturn]] void invalid(const std::string& message) {
  throw InputError("population parameters: " + message);
}

void check_fraction(double value, const std::string& name) {
  if (!(value >= 0.0 && value <= 1.0))
    invalid(fmt::format("{} = {} is not in [0, 1]", name, value));
}

void check_positive(double value, const std::string& name) {
  if (!(value > 0.0) || !std::isfinite(value))
    invalid(fmt::format("{} = {} must be > 0", name, value));
}

template <std::size_t N>
void check_distribution(const std::array<double, N>& probabilities, const std::string& name) {
  double sum = 0.0;
  for (std::size_t k = 0; k < N; ++k) {
    check_fraction(probabilities[k], fmt::format("{}[{}]", name, k));
    sum += probabilities[k];
  }
  if (std::abs(sum - 1.0) > kSumTolerance)
    invalid(fmt::format("{} sum to {:.10g}, not 1", name, sum));
}

// Truncation limits must keep a usable part of the distribution: a quantile restricted to a
// probability interval narrower than this would be dominated by rounding.
constexpr double kMinTruncatedMass = 1e-9;

void check_log_normal(const LogNormalMarginal& m, const std::string& name) {
  check_positive(m.median, name + ".median");
  check_positive(m.sigma_log, name + ".sigma_log");
  if (!(m.min >= 0.0)) invalid(fmt::format("{}.min = {} must be >= 0", name, m.min));
  if (!(m.min < m.max) || !std::isfinite(m.max))
    invalid(fmt::format("{}: min = {} must be < max = {} (finite)", name, m.min, m.max));
  const double a = (std::log(m.min) - std::log(m.median)) / m.sigma_log;
  const double b = (std::log(m.max) - std::log(m.median)) / m.sigma_log;
  if (detail::TruncatedNormalScore::mass(a, b) < kMinTruncatedMass)
    invalid(fmt::format("{}: [min, max] = [{}, {}] holds almost none of the distribution", name,
                        m.min, m.max));
}

void check_normal(const NormalMarginal& m, const std::string& name) {
  if (!std::isfinite(m.mean)) invalid(fmt::format("{}.mean must be finite", name));
  check_positive(m.sd, name + ".sd");
  if (!(m.min < m.max)) invalid(fmt::format("{}: min = {} must be < max = {}", name, m.min, m.max));
  const double a = (m.min - m.mean) / m.sd;
  const double b = (m.max - m.mean) / m.sd;
  if (detail::TruncatedNormalScore::mass(a, b) < kMinTruncatedMass)
    invalid(fmt::format("{}: [min, max] = [{}, {}] holds almost none of the distribution", name,
                        m.min, m.max));
}

void check_type(const CancerTypeParams& t, const std::string& prefix) {
  check_log_normal(t.tmb_mut_per_mb, prefix + ".tmb_mut_per_mb");
  check_distribution(std::array<double, 4>{t.pdl1.frac_zero, t.pdl1.frac_1_4, t.pdl1.frac_5_49,
                                           t.pdl1.frac_50_100},
                     prefix + ".pdl1 fractions (frac_zero, frac_1_4, frac_5_49, frac_50_100)");
  check_positive(t.infiltration.alpha, prefix + ".infiltration.alpha");
  check_positive(t.infiltration.beta, prefix + ".infiltration.beta");
  check_positive(t.memory_capacity.alpha, prefix + ".memory_capacity.alpha");
  check_positive(t.memory_capacity.beta, prefix + ".memory_capacity.beta");
  check_log_normal(t.tumour_burden_mm, prefix + ".tumour_burden_mm");
  if (!(t.mean_extra_sites >= 0.0 && t.mean_extra_sites <= 50.0))
    invalid(fmt::format("{}.metastatic_sites.mean_extra_sites = {} is not in [0, 50]", prefix,
                        t.mean_extra_sites));
  check_normal(t.age_years, prefix + ".age_years");
  check_fraction(t.frac_female, prefix + ".sex.frac_female");
  check_distribution(t.ecog_probs, prefix + ".ecog.probs");
  check_fraction(t.frac_ldh_elevated, prefix + ".ldh.frac_elevated");
  check_distribution(t.line_probs, prefix + ".line_of_therapy.probs");
  check_fraction(t.frac_prior_anti_pd1_if_pretreated,
                 prefix + ".prior_anti_pd1.frac_if_pretreated");
}

// Cholesky factor L (C = L L^T) of the copula correlation matrix, after checking that C is a
// correlation matrix: symmetric, unit diagonal, off-diagonal in (-1, 1), positive definite.
Cholesky cholesky_factor(const CorrelationMatrix& c) {
  auto dim = [](std::size_t i) { return std::string(kCopulaDimNames[i]); };
  for (std::size_t i = 0; i < kCopulaDims; ++i) {
    if (std::abs(c[i][i] - 1.0) > 1e-12)
      invalid(fmt::format("correlation.matrix[{}][{}] ({}, {}) = {} must be 1 (unit diagonal)", i,
                          i, dim(i), dim(i), c[i][i]));
    for (std::size_t j = 0; j < i; ++j) {
      if (!(std::abs(c[i][j]) < 1.0))
        invalid(fmt::format("correlation.matrix[{}][{}] ({}, {}) = {} is not in (-1, 1)", i, j,
                            dim(i), dim(j), c[i][j]));
      if (std::abs(c[i][j] - c[j][i]) > 1e-12)
        invalid(fmt::format(
            "correlation.matrix is not symmetric: [{}][{}] ({}, {}) = {} but [{}][{}] = {}", i, j,
            dim(i), dim(j), c[i][j], j, i, c[j][i]));
    }
  }
  Cholesky l{};
  for (std::size_t i = 0; i < kCopulaDims; ++i) {
    for (std::size_t j = 0; j <= i; ++j) {
      double s = c[i][j];
      for (std::size_t k = 0; k < j; ++k) s -= l[i][k] * l[j][k];
      if (i == j) {
        // A pivot near 0 means dimension i is (almost) a linear combination of the earlier ones.
        if (!(s > 1e-10))
          invalid(fmt::format(
              "correlation.matrix is not positive definite: the Cholesky pivot of row {} ({}) is "
              "{}; its correlations with the earlier dimensions are jointly impossible",
              i, dim(i), s));
        l[i][i] = std::sqrt(s);
      } else {
        l[i][j] = s / l[j][j];
      }
    }
  }
  return l;
}

void check_cohort(const CohortSpec& cohort) {
  if (cohort.mix.empty()) invalid("cohort mix is empty: name at least one cancer type");
  std::array<bool, kCancerTypeCount> seen{};
  for (const auto& [type, weight] : cohort.mix) {
    const auto t = static_cast<std::size_t>(type);
    if (t >= kCancerTypeCount) invalid(fmt::format("cohort mix has an unknown cancer type {}", t));
    if (seen[t]) invalid(fmt::format("cohort mix lists {} twice", to_string(type)));
    seen[t] = true;
    if (!(weight > 0.0) || !std::isfinite(weight))
      invalid(fmt::format("cohort mix weight of {} = {} must be > 0", to_string(type), weight));
  }
  const Eligibility& e = cohort.eligibility;
  auto check_range = [](const std::optional<double>& v, double lo, double hi, const char* name) {
    if (v && !(*v >= lo && *v <= hi))
      invalid(fmt::format("eligibility {} = {} is not in [{}, {}]", name, *v, lo, hi));
  };
  check_range(e.min_pdl1_tps_percent, 0.0, 100.0, "min_pdl1_tps_percent");
  check_range(e.max_pdl1_tps_percent, 0.0, 100.0, "max_pdl1_tps_percent");
  check_range(e.min_tmb_mut_per_mb, 0.0, 1e6, "min_tmb_mut_per_mb");
  check_range(e.max_tmb_mut_per_mb, 0.0, 1e6, "max_tmb_mut_per_mb");
  if (e.min_pdl1_tps_percent && e.max_pdl1_tps_percent &&
      *e.min_pdl1_tps_percent > *e.max_pdl1_tps_percent)
    invalid("eligibility min_pdl1_tps_percent exceeds max_pdl1_tps_percent");
  if (e.min_tmb_mut_per_mb && e.max_tmb_mut_per_mb && *e.min_tmb_mut_per_mb > *e.max_tmb_mut_per_mb)
    invalid("eligibility min_tmb_mut_per_mb exceeds max_tmb_mut_per_mb");
  if (e.max_ecog && (*e.max_ecog < 0 || *e.max_ecog > 2))
    invalid(fmt::format("eligibility max_ecog = {} is not in [0, 2]", *e.max_ecog));
  if (e.lines_of_therapy) {
    if (e.lines_of_therapy->empty()) invalid("eligibility lines_of_therapy is empty");
    for (int line : *e.lines_of_therapy)
      if (line < 1 || line > 3)
        invalid(fmt::format("eligibility lines_of_therapy contains {}; lines are 1, 2, 3", line));
  }
}

// One eligibility restriction on its own, for diagnosing an eligibility that accepts nobody.
struct Restriction {
  std::string description;
  std::function<bool(const Patient&)> passes;
};

std::vector<Restriction> restrictions_of(const Eligibility& e) {
  std::vector<Restriction> out;
  auto add = [&out](std::string description, std::function<bool(const Patient&)> passes) {
    out.push_back({std::move(description), std::move(passes)});
  };
  if (auto v = e.min_pdl1_tps_percent)
    add(fmt::format("min_pdl1_tps_percent = {}", *v),
        [v](const Patient& p) { return p.pdl1_tps_percent >= *v; });
  if (auto v = e.max_pdl1_tps_percent)
    add(fmt::format("max_pdl1_tps_percent = {}", *v),
        [v](const Patient& p) { return p.pdl1_tps_percent <= *v; });
  if (auto v = e.min_tmb_mut_per_mb)
    add(fmt::format("min_tmb_mut_per_mb = {}", *v),
        [v](const Patient& p) { return p.tmb_mut_per_mb >= *v; });
  if (auto v = e.max_tmb_mut_per_mb)
    add(fmt::format("max_tmb_mut_per_mb = {}", *v),
        [v](const Patient& p) { return p.tmb_mut_per_mb <= *v; });
  if (auto v = e.max_ecog)
    add(fmt::format("max_ecog = {}", *v), [v](const Patient& p) { return p.ecog <= *v; });
  if (const auto& lines = e.lines_of_therapy)
    add(fmt::format("lines_of_therapy = [{}]", fmt::join(*lines, ", ")), [lines](const Patient& p) {
      return std::find(lines->begin(), lines->end(), p.line_of_therapy) != lines->end();
    });
  if (auto v = e.prior_anti_pd1)
    add(fmt::format("prior_anti_pd1 = {}", *v),
        [v](const Patient& p) { return p.prior_anti_pd1 == *v; });
  if (auto v = e.hot)
    add(fmt::format("hot = {}", *v), [v](const Patient& p) { return p.hot == *v; });
  if (auto v = e.ldh_elevated)
    add(fmt::format("ldh_elevated = {}", *v),
        [v](const Patient& p) { return p.ldh_elevated == *v; });
  return out;
}

// Gaussian copula (Nelsen, An Introduction to Copulas, 2nd ed., Springer 2006): with e iid
// N(0, 1) and R = L L^T, z = L e is N(0, R), and x_k = F_k^-1(Phi(z_k)) has marginal F_k exactly.
// One unconditional candidate: cancer type from the mix, nine copula scores z = L e, each score
// through its marginal's inverse CDF, then sex, line and prior anti-PD-1 from independent uniforms.
// Every draw comes from `stream`, in a fixed order, so a candidate is a pure function of the
// stream's state.
Patient draw_candidate(const PopulationParams& params, const detail::SamplerTables& tables,
                       const std::vector<double>& mix_cdf, const Cholesky& l, Stream& stream) {
  const double u_type = stream.uniform_open();
  std::size_t type = 0;
  while (!(u_type < mix_cdf[type])) ++type;  // mix_cdf ends at exactly 1 and u < 1
  const CancerTypeParams& p = params.types[type];
  const detail::TypeMarginals& m = *tables.types[type];

  boost::random::normal_distribution<double> standard_normal(0.0, 1.0);
  std::array<double, kCopulaDims> e{};
  for (double& x : e) x = standard_normal(stream);
  std::array<double, kCopulaDims> z{};
  for (std::size_t i = 0; i < kCopulaDims; ++i) {
    double s = 0.0;
    for (std::size_t j = 0; j <= i; ++j) s += l[i][j] * e[j];
    z[i] = s;
  }
  auto score = [&z](CopulaDim d) { return z[static_cast<std::size_t>(d)]; };

  Patient patient;
  patient.cancer_type = static_cast<CancerType>(type);
  patient.tmb_mut_per_mb = m.tmb_mut_per_mb(score(CopulaDim::kTmb));
  patient.pdl1_tps_percent = m.pdl1_tps_percent(score(CopulaDim::kPdl1));
  patient.infiltration = m.infiltration(score(CopulaDim::kInfiltration));
  patient.hot = patient.infiltration >= params.hot_threshold;
  patient.memory_capacity = m.memory_capacity(score(CopulaDim::kMemory));
  patient.tumour_burden_mm = m.tumour_burden_mm(score(CopulaDim::kBurden));
  patient.metastatic_sites = 1 + static_cast<int>(m.extra_sites(score(CopulaDim::kSites)));
  patient.age_years = m.age_years(score(CopulaDim::kAge));
  patient.ecog = static_cast<int>(m.ecog(score(CopulaDim::kEcog)));
  patient.ldh_elevated = m.ldh_elevated(score(CopulaDim::kLdh)) == 1;

  const double u_sex = stream.uniform_open();
  const double u_line = stream.uniform_open();
  const double u_prior = stream.uniform_open();  // drawn for every candidate: a fixed draw count
  patient.sex = u_sex < p.frac_female ? Sex::kFemale : Sex::kMale;
  patient.line_of_therapy = 1 + detail::categorical_from_uniform(u_line, p.line_probs);
  patient.prior_anti_pd1 =
      patient.line_of_therapy >= 2 && u_prior < p.frac_prior_anti_pd1_if_pretreated;
  return patient;
}

}  // namespace

PopulationSampler::PopulationSampler(PopulationParams params, CohortSpec cohort,
                                     std::uint64_t pilot_seed)
    : params_(std::move(params)), cohort_(std::move(cohort)) {
  for (std::size_t t = 0; t < kCancerTypeCount; ++t)
    check_type(params_.types[t], fmt::format("types.{}", kCancerTypeNames[t]));
  check_fraction(params_.hot_threshold, "hot_threshold.value");
  cholesky_ = cholesky_factor(params_.correlation);
  check_cohort(cohort_);

  // Mix in enum order, whatever order the scenario listed it in, so that the same mix always
  // gives the same patients. Entries from the last present type on are exactly 1.
  std::array<double, kCancerTypeCount> weights{};
  for (const auto& [type, weight] : cohort_.mix) weights[static_cast<std::size_t>(type)] = weight;
  double total = 0.0;
  for (double weight : weights) total += weight;
  std::size_t last_present = 0;
  for (std::size_t t = 0; t < kCancerTypeCount; ++t)
    if (weights[t] > 0.0) last_present = t;
  mix_cdf_.assign(kCancerTypeCount, 0.0);
  double cumulative = 0.0;
  for (std::size_t t = 0; t < kCancerTypeCount; ++t) {
    cumulative += weights[t] / total;
    mix_cdf_[t] = t >= last_present ? 1.0 : cumulative;
  }

  auto tables = std::make_shared<detail::SamplerTables>();
  for (std::size_t t = 0; t < kCancerTypeCount; ++t)
    if (weights[t] > 0.0) tables->types[t].emplace(params_.types[t]);
  tables_ = std::move(tables);

  // Pilot: unconditional candidates from a stream no patient uses (patient = UINT64_MAX).
  Stream pilot(pilot_seed, std::numeric_limits<std::uint64_t>::max(), kNoArm, Purpose::kPopulation);
  const std::vector<Restriction> restrictions = restrictions_of(cohort_.eligibility);
  std::vector<std::uint64_t> passed(restrictions.size(), 0);
  std::uint64_t accepted = 0;
  for (std::uint64_t k = 0; k < kPilotCandidates; ++k) {
    const Patient candidate = draw_candidate(params_, *tables_, mix_cdf_, cholesky_, pilot);
    if (cohort_.eligibility.accepts(candidate)) ++accepted;
    for (std::size_t r = 0; r < restrictions.size(); ++r)
      if (restrictions[r].passes(candidate)) ++passed[r];
  }
  if (accepted == 0) {
    std::string detail;
    for (std::size_t r = 0; r < restrictions.size(); ++r)
      detail += fmt::format("{}{} alone accepts {}", r == 0 ? "" : "; ",
                            restrictions[r].description, passed[r]);
    throw InputError(fmt::format(
        "eligibility accepts none of {} screened candidates ({}; the combination accepts none)",
        kPilotCandidates, detail));
  }
  pilot_acceptance_ = static_cast<double>(accepted) / static_cast<double>(kPilotCandidates);
}

Patient PopulationSampler::sample(std::uint64_t seed, std::uint64_t index) const {
  Stream stream(seed, index, kNoArm, Purpose::kPopulation);
  for (std::uint32_t k = 1; k <= kMaxCandidatesPerPatient; ++k) {
    Patient candidate = draw_candidate(params_, *tables_, mix_cdf_, cholesky_, stream);
    if (cohort_.eligibility.accepts(candidate)) {
      candidate.index = index;
      candidate.candidates_screened = k;
      return candidate;
    }
  }
  throw SimulationError(fmt::format(
      "patient {}: none of {} candidates met the cohort eligibility (seed {}); the pilot "
      "acceptance was {}",
      index, kMaxCandidatesPerPatient, seed, pilot_acceptance_));
}

}  // namespace vpgen
