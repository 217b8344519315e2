// The figures that published trials report and vpgen estimates (`vpgen validate` targets, the
// report's validation section): their names as written in targets and JSON, and the scale on which
// each is compared. Pure constants; thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vpgen::stats {

enum class Endpoint : std::uint8_t {
  kOrr,
  kCrRate,
  kMedianPfs,
  kMedianOs,
  kPfsAt,
  kOsAt,
  kConditionalOs,
  kHrOs,
  kHrPfs,
  kTraeG3,
  kTraeAny,
  kIraeAny,
  kDurableCrAmongCr,
  kOrrLnTmbSlope,
  kCrOngoingAt,
};
inline constexpr std::array<std::string_view, 15> kEndpointNames = {"orr",
                                                                    "cr_rate",
                                                                    "median_pfs",
                                                                    "median_os",
                                                                    "pfs_at",
                                                                    "os_at",
                                                                    "conditional_os",
                                                                    "hr_os",
                                                                    "hr_pfs",
                                                                    "trae_g3",
                                                                    "trae_any",
                                                                    "irae_any",
                                                                    "durable_cr_among_cr",
                                                                    "orr_lntmb_slope",
                                                                    "cr_ongoing_at"};
inline std::string_view to_string(Endpoint e) {
  return kEndpointNames[static_cast<std::size_t>(e)];
}

// How a figure is compared: rates in % (+-5 points), medians in months, hazard ratios and the
// ORR-ln(TMB) slope (+-20% relative).
enum class Scale : std::uint8_t { kRatePercent, kMedianMonths, kHazardRatio, kSlope };
constexpr Scale scale_of(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::kMedianPfs:
    case Endpoint::kMedianOs: return Scale::kMedianMonths;
    case Endpoint::kHrOs:
    case Endpoint::kHrPfs: return Scale::kHazardRatio;
    case Endpoint::kOrrLnTmbSlope: return Scale::kSlope;
    default: return Scale::kRatePercent;
  }
}

}  // namespace vpgen::stats
