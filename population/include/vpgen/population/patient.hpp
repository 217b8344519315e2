// A virtual patient: the attributes that decide how a course of immunotherapy goes.
// Plain value types; thread-safe to read concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace vpgen {

enum class CancerType : std::uint8_t {
  kMelanoma = 0,
  kNsclc = 1,
  kRcc = 2,
  kUrothelial = 3,
  kHeadNeck = 4,
  kCrcMsiHigh = 5,
  kCrcMss = 6,
  kTnbc = 7,
};
inline constexpr std::size_t kCancerTypeCount = 8;

// Names used in configs, the database and reports. Index = enumerator value.
inline constexpr std::array<std::string_view, kCancerTypeCount> kCancerTypeNames = {
    "melanoma", "nsclc", "rcc", "urothelial", "head_neck", "crc_msi_high", "crc_mss", "tnbc"};

inline std::string_view to_string(CancerType type) {
  return kCancerTypeNames[static_cast<std::size_t>(type)];
}
inline std::optional<CancerType> cancer_type_from_string(std::string_view name) {
  for (std::size_t i = 0; i < kCancerTypeCount; ++i)
    if (kCancerTypeNames[i] == name) return static_cast<CancerType>(i);
  return std::nullopt;
}

enum class Sex : std::uint8_t { kFemale = 0, kMale = 1 };
inline std::string_view to_string(Sex sex) { return sex == Sex::kFemale ? "F" : "M"; }

struct Patient {
  std::uint64_t index = 0;  // position in the cohort, 0-based
  CancerType cancer_type = CancerType::kMelanoma;
  double tmb_mut_per_mb = 0.0;    // tumour mutational burden, mutations per megabase
  double pdl1_tps_percent = 0.0;  // PD-L1 tumour proportion score, 0..100 %
  double infiltration = 0.0;      // CD8+ T-cell infiltration score, 0..1 (dimensionless)
  bool hot = false;               // infiltration >= the configured hot threshold
  double memory_capacity = 0.0;   // capacity for durable immune memory, 0..1
  double tumour_burden_mm = 0.0;  // baseline sum of target-lesion diameters (RECIST), mm
  int metastatic_sites = 1;       // number of organ sites with metastases, >= 1
  double age_years = 0.0;
  Sex sex = Sex::kFemale;
  int ecog = 0;                 // ECOG performance status 0..2
  bool ldh_elevated = false;    // serum LDH above the upper limit of normal
  int line_of_therapy = 1;      // 1 = first line for advanced disease, 2, 3 (= 3 or later)
  bool prior_anti_pd1 = false;  // received anti-PD-(L)1 before (only when line >= 2)
  std::uint32_t candidates_screened = 1;  // candidates drawn until one met the eligibility (>= 1)
};

}  // namespace vpgen
