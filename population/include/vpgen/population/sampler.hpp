// Samples virtual patients: cancer type from the cohort mix, then all attributes jointly through a
// Gaussian copula over the per-type marginals, then eligibility by rejection within the patient's
// own stream. sample() is const and thread-safe; a patient is a pure function of (seed, index).
#pragma once

#include "vpgen/population/patient.hpp"
#include "vpgen/population/population_params.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

namespace vpgen {

namespace detail {
struct SamplerTables;  // per-type inverse-CDF tables (population/src/marginals.hpp)
}  // namespace detail

class PopulationSampler {
 public:
  // Largest number of candidates one patient may screen before sampling is declared infeasible.
  static constexpr std::uint32_t kMaxCandidatesPerPatient = 1'000'000;

  // Throws InputError if the parameters are invalid (correlation not positive definite, fractions
  // that do not sum to 1, empty mix) or if the eligibility accepts (almost) nobody: a pilot of
  // kPilotCandidates candidates must accept at least one, else the message says which restriction.
  PopulationSampler(PopulationParams params, CohortSpec cohort, std::uint64_t pilot_seed = 0);

  // Patient `index` of the cohort for `seed`: draws candidates from the stream
  // (seed, index, kNoArm, kPopulation) until one is eligible. Throws SimulationError naming the
  // index if kMaxCandidatesPerPatient is exceeded.
  Patient sample(std::uint64_t seed, std::uint64_t index) const;

  // Fraction of unconditional candidates that the eligibility accepts, from the pilot.
  double pilot_acceptance() const { return pilot_acceptance_; }

  const PopulationParams& params() const { return params_; }
  const CohortSpec& cohort() const { return cohort_; }

  static constexpr std::uint64_t kPilotCandidates = 20'000;

 private:
  PopulationParams params_;
  CohortSpec cohort_;
  std::array<std::array<double, kCopulaDims>, kCopulaDims> cholesky_{};  // lower triangular
  std::vector<double> mix_cdf_;
  // Built once in the constructor, immutable, shared by copies of the sampler.
  std::shared_ptr<const detail::SamplerTables> tables_;
  double pilot_acceptance_ = 1.0;
};

}  // namespace vpgen
