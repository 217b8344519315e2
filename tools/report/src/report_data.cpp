#include "vpgen/report/report_data.hpp"

#include "vpgen/engine/course_params.hpp"
#include "vpgen/population/error.hpp"

#include <boost/math/distributions/normal.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string_view>

namespace vpgen {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The pointwise band of R's survfit conf.type = "log", as KaplanMeier computes it.
Interval log_band(double surv, double var_log, double z) {
  const double se = std::sqrt(var_log);
  if (se == 0.0) return {surv, surv, surv};
  if (surv == 0.0) return {surv, kNaN, kNaN};
  const double log_surv = std::log(surv);
  return {surv, std::exp(log_surv - z * se), std::min(std::exp(log_surv + z * se), 1.0)};
}

}  // namespace

std::uint64_t KmCurve::at_risk(double t) const {
  const auto it = std::lower_bound(observed_times.begin(), observed_times.end(), t);
  if (it == observed_times.end()) return 0;
  return subjects - observed_before[static_cast<std::size_t>(it - observed_times.begin())];
}

Interval KmCurve::at(double t) const {
  if (subjects == 0 || !(t <= last_time_months)) return {};
  const auto it = std::upper_bound(time_months.begin(), time_months.end(), t);
  if (it == time_months.begin()) return {};
  const auto i = static_cast<std::size_t>(it - time_months.begin()) - 1;
  return {survival[i], ci_low[i], ci_high[i]};
}

KmCurve read_km_curve(ResultStore& store, std::int64_t run_id, std::uint32_t arm_index,
                      SurvivalEndpoint endpoint, double level) {
  if (!(level > 0.0 && level < 1.0))
    throw Error(fmt::format("confidence level {} is not in (0, 1)", level));
  const double z =
      boost::math::quantile(boost::math::normal_distribution<double>(), 1.0 - (1.0 - level) / 2.0);
  KmCurve curve;
  std::vector<std::uint64_t> events;
  store.survival_times(run_id, arm_index, endpoint, [&](const SurvivalTimeRow& row) {
    curve.observed_times.push_back(row.time_months);
    curve.observed_before.push_back(curve.subjects);
    events.push_back(row.events);
    curve.subjects += row.events + row.censored;
  });
  curve.time_months.push_back(0.0);
  curve.survival.push_back(1.0);
  curve.ci_low.push_back(1.0);
  curve.ci_high.push_back(1.0);
  if (curve.observed_times.empty()) return curve;
  curve.last_time_months = curve.observed_times.back();
  // Product of (n - d) / n and Greenwood's sum, in the order KaplanMeier::survival_at uses, so
  // the curve and the report's landmark rates agree to the last bit.
  double surv = 1.0;
  double var_log = 0.0;
  for (std::size_t i = 0; i < curve.observed_times.size(); ++i) {
    if (events[i] == 0) continue;
    const double at_risk = static_cast<double>(curve.subjects - curve.observed_before[i]);
    const double deaths = static_cast<double>(events[i]);
    surv *= (at_risk - deaths) / at_risk;
    var_log += deaths / (at_risk * (at_risk - deaths));
    const Interval band = log_band(surv, var_log, z);
    if (curve.observed_times[i] == 0.0) {
      curve.survival.back() = band.estimate;
      curve.ci_low.back() = band.low;
      curve.ci_high.back() = band.high;
      continue;
    }
    curve.time_months.push_back(curve.observed_times[i]);
    curve.survival.push_back(band.estimate);
    curve.ci_low.push_back(band.low);
    curve.ci_high.push_back(band.high);
  }
  return curve;
}

std::vector<SubgroupResponses> read_subgroup_responses(ResultStore& store, std::int64_t run_id,
                                                       SubgroupDimension dimension) {
  return store.subgroup_responses(run_id, dimension);
}

std::vector<SampledCourse> read_sampled_courses(ResultStore& store, std::int64_t run_id,
                                                std::uint32_t arm_index, std::uint64_t limit) {
  std::vector<SampledCourse> out;
  for (const ArmOutcome& row : store.first_outcomes(run_id, arm_index, limit)) {
    const Outcome& o = row.outcome;
    SampledCourse& c = out.emplace_back();
    c.patient_index = row.patient_index;
    c.cancer_type = to_string(row.cancer_type);
    c.best_response = o.best_response;
    c.best_percent_change = o.best_percent_change;
    c.time_to_response_months = o.time_to_response_months;
    c.pfs_months = o.pfs_months;
    c.pfs_event = o.pfs_event;
    c.os_months = o.os_months;
    c.os_event = o.os_event;
    c.worst_irae_grade = o.worst_irae_grade;
    c.irae_onset_months = o.irae_onset_months;
    c.treatment_months = o.treatment_months;
    c.next_line_months = o.next_line_months;
  }
  return out;
}

std::vector<CourseMarker> read_course_events(ResultStore& store, std::int64_t run_id,
                                             std::uint32_t arm_index,
                                             std::uint64_t patient_index_end) {
  constexpr std::array<EventKind, 5> kMarked = {EventKind::kResponse, EventKind::kIrae,
                                                EventKind::kProgression, EventKind::kDeath,
                                                EventKind::kNextLine};
  std::vector<CourseMarker> out;
  for (const PatientEvent& row : store.events(run_id, arm_index, patient_index_end, kMarked)) {
    const CourseEvent& e = row.event;
    CourseMarker& m = out.emplace_back();
    m.patient_index = row.patient_index;
    m.time_months = e.day / kDaysPerMonth;
    switch (e.kind) {
      case EventKind::kResponse:
        m.event = e.code == 0 ? SwimmerEvent::kResponseCr : SwimmerEvent::kResponsePr;
        break;
      case EventKind::kIrae:
        m.event = e.code >= 3 ? SwimmerEvent::kIraeGrade3Plus : SwimmerEvent::kIraeGrade1To2;
        break;
      case EventKind::kProgression: m.event = SwimmerEvent::kProgression; break;
      case EventKind::kDeath: m.event = SwimmerEvent::kDeath; break;
      default: m.event = SwimmerEvent::kNextLine;
    }
  }
  return out;
}

std::vector<CourseMarker> markers_from_outcome(const SampledCourse& c) {
  std::vector<CourseMarker> out;
  const auto add = [&](double t, SwimmerEvent e) {
    if (!std::isnan(t)) out.push_back({c.patient_index, t, e});
  };
  if (c.best_response == Response::kCR) add(c.time_to_response_months, SwimmerEvent::kResponseCr);
  if (c.best_response == Response::kPR) add(c.time_to_response_months, SwimmerEvent::kResponsePr);
  if (c.worst_irae_grade > 0)
    add(c.irae_onset_months,
        c.worst_irae_grade >= 3 ? SwimmerEvent::kIraeGrade3Plus : SwimmerEvent::kIraeGrade1To2);
  // A PFS event on the day of death is the death itself (or indistinguishable from it).
  if (c.pfs_event && !(c.os_event && c.pfs_months >= c.os_months))
    add(c.pfs_months, SwimmerEvent::kProgression);
  add(c.next_line_months, SwimmerEvent::kNextLine);
  if (c.os_event) add(c.os_months, SwimmerEvent::kDeath);
  std::stable_sort(out.begin(), out.end(), [](const CourseMarker& a, const CourseMarker& b) {
    return a.time_months < b.time_months;
  });
  return out;
}

std::vector<std::int64_t> list_design_ids(ResultStore& store) { return store.design_ids(); }

StoredDesign read_design(ResultStore& store, std::int64_t design_id) {
  return store.design(design_id);
}

}  // namespace vpgen
