#include "vpgen/engine/simulator.hpp"

#include "course.hpp"
#include "vpgen/population/error.hpp"

#include <fmt/format.h>

#include <exception>

namespace vpgen {

namespace {

void validate(const Scenario& scenario) {
  if (scenario.arms.empty())
    throw InputError(fmt::format("scenario '{}' has no arms", scenario.name));
  if (!(scenario.horizon_months > 0.0))
    throw InputError(fmt::format("scenario '{}': horizon_months must be > 0", scenario.name));
}

}  // namespace

Simulator::Simulator(Scenario scenario)
    : scenario_((validate(scenario), std::move(scenario))),
      sampler_(scenario_.population, scenario_.cohort),
      assessment_days_(detail::assessment_days(scenario_.assessment,
                                               scenario_.horizon_months * kDaysPerMonth)) {}

PatientResult Simulator::simulate_patient(std::uint64_t seed, std::uint64_t index) const {
  PatientResult result;
  simulate_patient(seed, index, result);
  return result;
}

void Simulator::simulate_patient(std::uint64_t seed, std::uint64_t index,
                                 PatientResult& result) const {
  result.outcomes.clear();
  result.events.clear();
  result.error.reset();
  try {
    result.patient = sampler_.sample(seed, index);
    const detail::PatientBiology biology =
        detail::draw_biology(scenario_.course, result.patient, seed);
    std::vector<CourseEvent>* events = scenario_.store_events ? &result.events : nullptr;
    for (std::uint32_t arm = 0; arm < scenario_.arms.size(); ++arm) {
      result.outcomes.push_back(detail::simulate_course(scenario_, assessment_days_, result.patient,
                                                        biology, seed, arm, events));
    }
  } catch (const std::exception& e) {
    result.error = fmt::format("patient {}: {}", index, e.what());
  }
}

}  // namespace vpgen
