// What the rendered report (report_html) reads from a results database beyond build_report: the
// Kaplan-Meier curves with their bands and numbers at risk (from survival_counts), ORR by subgroup
// (subgroup_counts), a deterministic sample of the first patients of an arm for the waterfall and
// swimmer plots (a key-range read of outcomes and events), and stored trial designs, all through
// ResultStore's typed reads. Every read costs the same on 2,000 patients as on 10 million: nothing
// loads the cohort. Functions over a ResultStore the caller owns; not thread-safe beyond
// ResultStore's own rules.
#pragma once

#include "vpgen/engine/outcome.hpp"
#include "vpgen/stats/statistics.hpp"
#include "vpgen/storage/result_store.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace vpgen {

// A Kaplan-Meier curve as a step function: survival[i] holds from time_months[i] until the next
// time; the first step is (0, 1) and the others are the event times. The band is Greenwood's on
// the log scale, upper bound clipped at 1, NaN once S = 0 — exactly KaplanMeier::survival_at and
// the kaplan_meier view (R survfit's conf.type = "log").
struct KmCurve {
  std::vector<double> time_months;
  std::vector<double> survival, ci_low, ci_high;
  double last_time_months = 0.0;  // the last observed time (event or censoring)
  std::uint64_t subjects = 0;
  // Every distinct observed time with the number of subjects observed strictly before it, for
  // numbers at risk.
  std::vector<double> observed_times;
  std::vector<std::uint64_t> observed_before;

  // Subjects still observed at `t` months (time >= t): the number at risk just before t.
  std::uint64_t at_risk(double t) const;
  // S(t) with its band; NaNs after the last observed time (as KaplanMeier::survival_at).
  Interval at(double t) const;
};

// REQUIRES: 0 < level < 1. Throws InputError if there is no such run.
KmCurve read_km_curve(ResultStore& store, std::int64_t run_id, std::uint32_t arm_index,
                      SurvivalEndpoint endpoint, double level);

// Patients and responders by level of one dimension of the forest plot (SubgroupResponses and
// SubgroupDimension: result_store.hpp). Levels in their natural order (cancer types alphabetically, bands from low to high, hot before
// cold), arms in index order within each level.
std::vector<SubgroupResponses> read_subgroup_responses(ResultStore& store, std::int64_t run_id,
                                                       SubgroupDimension dimension);

// The first `limit` patients of an arm by patient index, with what the waterfall and swimmer
// plots draw. Times in months.
struct SampledCourse {
  std::uint64_t patient_index = 0;
  std::string cancer_type;
  Response best_response = Response::kNE;
  double best_percent_change = kNoValue;  // NaN: never assessed
  double time_to_response_months = kNoValue;
  double pfs_months = 0.0;
  bool pfs_event = false;
  double os_months = 0.0;
  bool os_event = false;
  int worst_irae_grade = 0;
  double irae_onset_months = kNoValue;
  double treatment_months = 0.0;
  double next_line_months = kNoValue;
};

std::vector<SampledCourse> read_sampled_courses(ResultStore& store, std::int64_t run_id,
                                                std::uint32_t arm_index, std::uint64_t limit);

// The events of those courses that a swimmer plot marks.
enum class SwimmerEvent : std::uint8_t {
  kResponseCr,
  kResponsePr,
  kIraeGrade1To2,
  kIraeGrade3Plus,
  kProgression,
  kDeath,
  kNextLine
};

struct CourseMarker {
  std::uint64_t patient_index = 0;
  double time_months = 0.0;
  SwimmerEvent event = SwimmerEvent::kProgression;
};

// From the stored events of patients [0, patient_index_end) of the arm (runs with
// store_events = 1), in patient and time order: the first confirmed response, every irAE, RECIST
// progression, death and the start of the next line.
std::vector<CourseMarker> read_course_events(ResultStore& store, std::int64_t run_id,
                                             std::uint32_t arm_index,
                                             std::uint64_t patient_index_end);

// The same markers as far as the outcome row tells them (runs without stored events): the first
// confirmed response at time_to_response_months (CR or PR by best response), the irAE of the
// worst grade at its onset, progression at pfs_months when the PFS event is not the death, death,
// and the start of the next line.
std::vector<CourseMarker> markers_from_outcome(const SampledCourse& course);

// Stored `vpgen size` designs (StoredDesign: result_store.hpp).
std::vector<std::int64_t> list_design_ids(ResultStore& store);
// Throws InputError if the file has no such design.
StoredDesign read_design(ResultStore& store, std::int64_t design_id);

}  // namespace vpgen
