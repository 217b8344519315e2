#include "vpgen/report/report_data.hpp"

#include "vpgen/engine/course_params.hpp"
#include "vpgen/population/error.hpp"

#include <boost/math/distributions/normal.hpp>
#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>

namespace vpgen {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A prepared statement that finalizes itself; errors name what was being read.
class Query {
 public:
  Query(sqlite3* db, std::string_view sql, std::string_view what) : db_(db), what_(what) {
    if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr) !=
        SQLITE_OK)
      fail(sqlite3_errcode(db));
  }
  ~Query() { sqlite3_finalize(stmt_); }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  void bind(int index, std::int64_t value) {
    if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK) fail(sqlite3_errcode(db_));
  }
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(rc);
    return false;
  }
  std::int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::uint64_t count(int column) const {
    return static_cast<std::uint64_t>(std::max<std::int64_t>(0, integer(column)));
  }
  // NULL reads as NaN ("does not apply").
  double real(int column) const {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL ? kNaN
                                                             : sqlite3_column_double(stmt_, column);
  }
  std::string text(int column) const {
    const unsigned char* t = sqlite3_column_text(stmt_, column);
    return t == nullptr ? std::string()
                        : std::string(reinterpret_cast<const char*>(t),
                                      static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
  }

 private:
  [[noreturn]] void fail(int code) const {
    throw StorageError(fmt::format("{}: {} (SQLite code {})", what_, sqlite3_errmsg(db_), code));
  }
  sqlite3* db_;
  std::string what_;
  sqlite3_stmt* stmt_ = nullptr;
};

Response response_from(std::string_view text) {
  for (std::size_t i = 0; i < kResponseNames.size(); ++i)
    if (kResponseNames[i] == text) return static_cast<Response>(i);
  return Response::kNE;
}

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
  const double z = boost::math::quantile(boost::math::normal_distribution<double>(),
                                         1.0 - (1.0 - level) / 2.0);
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
  std::string_view column = "cancer_type";
  std::string_view order = "cancer_type";
  switch (dimension) {
    case SubgroupDimension::kCancerType: break;
    case SubgroupDimension::kTmbBand:
      column = "tmb_band";
      order = "CASE tmb_band WHEN '<5' THEN 0 WHEN '5-<10' THEN 1 WHEN '10-<20' THEN 2 ELSE 3 END";
      break;
    case SubgroupDimension::kPdl1Band:
      column = "pdl1_band";
      order = "CASE pdl1_band WHEN '<1' THEN 0 WHEN '1-49' THEN 1 ELSE 2 END";
      break;
    case SubgroupDimension::kHot:
      column = "hot";
      order = "hot DESC";
      break;
  }
  const std::string sql = fmt::format(
      "SELECT arm_index, CAST({0} AS TEXT), SUM(n), SUM(complete_responses + partial_responses)"
      " FROM subgroup_counts WHERE run_id = ?1 GROUP BY {0}, arm_index ORDER BY {1}, arm_index",
      column, order);
  Query query(store.handle(), sql, "reading subgroup_counts");
  query.bind(1, run_id);
  std::vector<SubgroupResponses> out;
  while (query.step())
    out.push_back({static_cast<std::uint32_t>(query.integer(0)), query.text(1), query.count(2),
                   query.count(3)});
  return out;
}

std::vector<SampledCourse> read_sampled_courses(ResultStore& store, std::int64_t run_id,
                                                std::uint32_t arm_index, std::uint64_t limit) {
  // A key-range read: outcomes and patients are keyed by (run_id, patient_index, ...), so the
  // first `limit` patients cost the same in any cohort size.
  Query query(store.handle(),
              "SELECT o.patient_index, p.cancer_type, o.best_response, o.best_percent_change,"
              " o.time_to_response_months, o.pfs_months, o.pfs_event, o.os_months, o.os_event,"
              " o.worst_irae_grade, o.irae_onset_months, o.treatment_months, o.next_line_months"
              " FROM outcomes AS o"
              " JOIN patients AS p ON p.run_id = o.run_id AND p.patient_index = o.patient_index"
              " WHERE o.run_id = ?1 AND o.arm_index = ?2"
              " ORDER BY o.patient_index LIMIT ?3",
              "reading the sampled patients");
  query.bind(1, run_id);
  query.bind(2, arm_index);
  query.bind(3, static_cast<std::int64_t>(
                    std::min<std::uint64_t>(limit, std::numeric_limits<std::int64_t>::max())));
  std::vector<SampledCourse> out;
  while (query.step()) {
    SampledCourse c;
    c.patient_index = query.count(0);
    c.cancer_type = query.text(1);
    c.best_response = response_from(query.text(2));
    c.best_percent_change = query.real(3);
    c.time_to_response_months = query.real(4);
    c.pfs_months = query.real(5);
    c.pfs_event = query.integer(6) != 0;
    c.os_months = query.real(7);
    c.os_event = query.integer(8) != 0;
    c.worst_irae_grade = static_cast<int>(query.integer(9));
    c.irae_onset_months = query.real(10);
    c.treatment_months = query.real(11);
    c.next_line_months = query.real(12);
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<CourseMarker> read_course_events(ResultStore& store, std::int64_t run_id,
                                             std::uint32_t arm_index,
                                             std::uint64_t patient_index_end) {
  Query query(store.handle(),
              "SELECT patient_index, day, kind, code FROM events"
              " WHERE run_id = ?1 AND patient_index < ?2 AND arm_index = ?3"
              " AND kind IN ('response', 'irae', 'progression', 'death', 'next_line')"
              " ORDER BY patient_index, seq",
              "reading the sampled patients' events");
  query.bind(1, run_id);
  query.bind(2, static_cast<std::int64_t>(std::min<std::uint64_t>(
                    patient_index_end, std::numeric_limits<std::int64_t>::max())));
  query.bind(3, arm_index);
  std::vector<CourseMarker> out;
  while (query.step()) {
    CourseMarker m;
    m.patient_index = query.count(0);
    m.time_months = query.real(1) / kDaysPerMonth;
    const std::string kind = query.text(2);
    const std::int64_t code = query.integer(3);
    if (kind == "response") m.event = code == 0 ? SwimmerEvent::kResponseCr : SwimmerEvent::kResponsePr;
    else if (kind == "irae")
      m.event = code >= 3 ? SwimmerEvent::kIraeGrade3Plus : SwimmerEvent::kIraeGrade1To2;
    else if (kind == "progression") m.event = SwimmerEvent::kProgression;
    else if (kind == "death") m.event = SwimmerEvent::kDeath;
    else m.event = SwimmerEvent::kNextLine;
    out.push_back(m);
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
    add(c.irae_onset_months, c.worst_irae_grade >= 3 ? SwimmerEvent::kIraeGrade3Plus
                                                     : SwimmerEvent::kIraeGrade1To2);
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

std::vector<std::int64_t> list_design_ids(ResultStore& store) {
  Query query(store.handle(), "SELECT design_id FROM designs ORDER BY design_id",
              "listing designs");
  std::vector<std::int64_t> out;
  while (query.step()) out.push_back(query.integer(0));
  return out;
}

StoredDesign read_design(ResultStore& store, std::int64_t design_id) {
  StoredDesign d;
  d.design_id = design_id;
  {
    Query query(store.handle(),
                "SELECT name, design_text, design_hash, mode, endpoint, analysis, seed,"
                " target_power, recommended_n, recommended_n_low, recommended_n_high,"
                " result_json, vpgen_version, git_commit, created_at, wall_seconds"
                " FROM designs WHERE design_id = ?1",
                "reading a design");
    query.bind(1, design_id);
    if (!query.step())
      throw InputError(fmt::format("design {}: no such design in the file", design_id));
    DesignRecord& r = d.record;
    r.name = query.text(0);
    r.design_text = query.text(1);
    r.design_hash = query.text(2);
    r.mode = query.text(3);
    r.endpoint = query.text(4);
    r.analysis = query.text(5);
    r.seed = query.count(6);
    r.target_power = query.real(7);
    r.recommended_n = query.real(8);
    r.recommended_n_low = query.real(9);
    r.recommended_n_high = query.real(10);
    r.result_json = query.text(11);
    r.vpgen_version = query.text(12);
    r.git_commit = query.text(13);
    d.created_at = query.text(14);
    r.wall_seconds = query.real(15);
  }
  Query points(store.handle(),
               "SELECT n_total, replicates, power, power_mcse, type1_error, type1_mcse,"
               " expected_events, expected_duration_months, pet_p0, expected_n_p0"
               " FROM design_points WHERE design_id = ?1 ORDER BY n_total",
               "reading a design's points");
  points.bind(1, design_id);
  while (points.step()) {
    DesignPointRecord p;
    p.n_total = points.integer(0);
    p.replicates = points.count(1);
    p.power = points.real(2);
    p.power_mcse = points.real(3);
    p.type1_error = points.real(4);
    p.type1_mcse = points.real(5);
    p.expected_events = points.real(6);
    p.expected_duration_months = points.real(7);
    p.pet_p0 = points.real(8);
    p.expected_n_p0 = points.real(9);
    d.points.push_back(p);
  }
  return d;
}

}  // namespace vpgen
