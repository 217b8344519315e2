// JSON for a number that may be NaN ("does not apply"): NaN becomes null. Thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>

namespace vpgen {

inline nlohmann::json number_or_null(double value) {
  return std::isnan(value) ? nlohmann::json(nullptr) : nlohmann::json(value);
}

}  // namespace vpgen
