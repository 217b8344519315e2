// `vpgen report`: the headline figures of one stored run, per arm, each with its confidence
// interval, computed from SQL over the stored rows (counts and distinct survival times; the cohort
// is never loaded), and rendered as JSON or as an aligned text table. Pure functions over a
// ResultStore that the caller owns; not thread-safe beyond ResultStore's own rules.
#pragma once

#include "vpgen/stats/statistics.hpp"
#include "vpgen/storage/result_store.hpp"

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace vpgen {

inline constexpr double kReportCiLevel = 0.95;
// Landmark times of the OS and PFS rates, months from the start of treatment.
inline constexpr std::array<int, 4> kReportLandmarkMonths = {12, 24, 60, 120};

// A sample mean with its standard error s / sqrt(n) (s the sample standard deviation); NaN where
// undefined (no patients; the SE also with one patient).
struct MeanEstimate {
  double estimate = std::numeric_limits<double>::quiet_NaN();
  double se = std::numeric_limits<double>::quiet_NaN();
};

struct ArmReport {
  ArmCounts counts;
  Interval orr;                   // (CR + PR) / n, Clopper-Pearson; CR/PR confirmed
  Interval orr_unconfirmed;       // the same without requiring confirmation
  Interval cr_rate;               // CR / n
  Interval dcr;                   // (CR + PR + SD) / n, disease control
  Interval irae_grade3plus_rate;  // worst irAE of CTCAE grade >= 3
  Interval durable_cr_5y_rate;    // confirmed CR lasting >= 60 months
  Interval median_pfs_months;     // Kaplan-Meier median, Brookmeyer-Crowley interval
  Interval median_os_months;
  std::map<int, Interval> os_rate;  // keyed by kReportLandmarkMonths: KM S(t), Greenwood log CI
  std::map<int, Interval> pfs_rate;
  std::uint64_t os_events = 0;         // deaths behind the OS curve
  std::uint64_t pfs_events = 0;        // progressions or deaths behind the PFS curve
  Interval orr_irecist;                // iCR + iPR by iRECIST, over n
  Interval median_pfs_irecist_months;  // progression = iRECIST-confirmed (iCPD) or death
  std::map<int, Interval> pfs_irecist_rate;
  std::uint64_t pfs_irecist_events = 0;
  Interval ae_grade3plus_rate;  // other treatment-related AE of grade >= 3
  MeanEstimate treatment_holds_per_patient;
  // Among patients whose RECIST 1.1 best overall response is PD: the fraction that iRECIST reads
  // as a response (pseudo-progression); NaN without RECIST PD.
  Interval pseudo_progression_rate_recist_pd;
  Interval next_line_rate;      // a subsequent line started
  Interval median_pfs2_months;  // PFS2 as SurvivalEndpoint::kPfs2 defines it
  std::map<int, Interval> pfs2_rate;
  std::uint64_t pfs2_events = 0;
  Interval eradication_rate;  // ground truth: every tumour cell killed (no trial sees it)
};

struct RunReport {
  RunInfo run;
  std::vector<ArmReport> arms;
  double ci_level = kReportCiLevel;
};

// Builds the report of `run_id`. Throws InputError if there is no such run, StorageError on a
// database failure. An incomplete or failed run is reported over the patients it stored.
RunReport build_report(ResultStore& store, std::int64_t run_id, double ci_level = kReportCiLevel);

// {"run": {...}, "ci_level": 0.95, "methods": {...}, "arms": [...]}; every figure is
// {"estimate", "ci_low", "ci_high"} (a mean: {"estimate", "se"}) with null where undefined or not
// reached.
nlohmann::json report_json(const RunReport& report);

// The same figures as a human-readable table, one block per arm, headed by the run's identity
// and a loud warning if the run is not complete.
std::string report_text(const RunReport& report);

}  // namespace vpgen
