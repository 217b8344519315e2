// Parameters of the virtual population: per-cancer-type marginal distributions of every attribute
// and the Gaussian-copula correlation that joins them; plus the cohort definition of a scenario
// (cancer-type mix and eligibility). Plain value types, validated by the loader (file:line:key)
// and again by PopulationSampler; read-only after.
#pragma once

#include "vpgen/population/patient.hpp"

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace vpgen {

// Log-normal, truncated to [min, max]: median exp(mu), sigma on the natural-log scale.
struct LogNormalMarginal {
  double median = 1.0;
  double sigma_log = 1.0;
  double min = 0.0;
  double max = 1e300;
};

// Normal truncated to [min, max].
struct NormalMarginal {
  double mean = 0.0;
  double sd = 1.0;
  double min = -1e300;
  double max = 1e300;
};

struct BetaMarginal {
  double alpha = 1.0;
  double beta = 1.0;
};

// PD-L1 tumour proportion score with the point mass at 0 % that IHC assays report, then bands
// [1,5), [5,50), [50,100] %, uniform within each band. Fractions are of all patients; sum to 1.
struct Pdl1Marginal {
  double frac_zero = 0.4;
  double frac_1_4 = 0.1;
  double frac_5_49 = 0.25;
  double frac_50_100 = 0.25;
};

// The dimensions joined by the Gaussian copula, in the order of the correlation matrix.
enum class CopulaDim : std::size_t {
  kTmb = 0,
  kPdl1 = 1,
  kInfiltration = 2,
  kMemory = 3,
  kBurden = 4,
  kSites = 5,
  kAge = 6,
  kEcog = 7,
  kLdh = 8,
};
inline constexpr std::size_t kCopulaDims = 9;
inline constexpr std::array<std::string_view, kCopulaDims> kCopulaDimNames = {
    "tmb", "pdl1", "infiltration", "memory", "burden", "sites", "age", "ecog", "ldh"};

using CorrelationMatrix = std::array<std::array<double, kCopulaDims>, kCopulaDims>;

struct CancerTypeParams {
  LogNormalMarginal tmb_mut_per_mb;
  Pdl1Marginal pdl1;
  BetaMarginal infiltration;
  BetaMarginal memory_capacity;
  LogNormalMarginal tumour_burden_mm;
  double mean_extra_sites = 1.0;  // metastatic sites = 1 + Poisson(mean_extra_sites)
  NormalMarginal age_years;
  double frac_female = 0.5;
  std::array<double, 3> ecog_probs{0.5, 0.45, 0.05};  // P(ECOG = 0, 1, 2)
  double frac_ldh_elevated = 0.35;
  std::array<double, 3> line_probs{0.6, 0.3, 0.1};  // P(line = 1, 2, 3+)
  double frac_prior_anti_pd1_if_pretreated = 0.3;   // P(prior anti-PD-(L)1 | line >= 2)
};

struct PopulationParams {
  std::array<CancerTypeParams, kCancerTypeCount> types;  // index = CancerType
  double hot_threshold = 0.5;                            // infiltration >= this is "hot"
  CorrelationMatrix correlation{};                       // symmetric, unit diagonal, pos. definite
};

// Restrictions a scenario places on its cohort. Unset = no restriction.
struct Eligibility {
  std::optional<double> min_pdl1_tps_percent;
  std::optional<double> max_pdl1_tps_percent;
  std::optional<double> min_tmb_mut_per_mb;
  std::optional<double> max_tmb_mut_per_mb;
  std::optional<int> max_ecog;
  std::optional<std::vector<int>> lines_of_therapy;  // allowed lines, e.g. {1}
  std::optional<bool> prior_anti_pd1;
  std::optional<bool> hot;
  std::optional<bool> ldh_elevated;

  bool accepts(const Patient& patient) const;
};

// Who enters a scenario: cancer types with their weights (need not sum to 1), then eligibility.
struct CohortSpec {
  std::vector<std::pair<CancerType, double>> mix;
  Eligibility eligibility;
};

}  // namespace vpgen
