#include "report.hpp"

#include <cmath>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "json_number.hpp"
#include "vpgen/population/error.hpp"

namespace vpgen {
namespace {

constexpr std::string_view kProportionMethod =
    "Clopper-Pearson exact binomial interval (Clopper & Pearson, Biometrika 1934)";
constexpr std::string_view kSurvivalMethod =
    "Kaplan-Meier estimate with Greenwood variance; pointwise interval on the log scale, "
    "exp(log S +/- z se(log S)), upper limit clipped at 1 (R survfit conf.type = \"log\")";
constexpr std::string_view kMedianMethod =
    "first time the Kaplan-Meier curve is below 0.5 (midpoint of an exact 0.5 stretch); "
    "Brookmeyer-Crowley interval from the pointwise log-scale band (Biometrics 1982), "
    "as R print.survfit; null where not reached";

constexpr int kLabelWidth = 24;  // text report: width of the figure-name column

struct Endpoint {
  Interval median;
  std::map<int, Interval> rates;
  std::uint64_t events = 0;
};

// Streams the distinct times of one arm and endpoint from SQL into a Kaplan-Meier curve; memory
// is bounded by the number of distinct event times, not the cohort.
Endpoint survival_endpoint(ResultStore& store, std::int64_t run_id, const ArmCounts& counts,
                           SurvivalEndpoint endpoint, double ci_level) {
  KaplanMeier km;
  store.survival_times(run_id, counts.arm_index, endpoint,
                       [&km](const SurvivalTimeRow& row) {
                         km.add(row.time_months, row.events, row.censored);
                       });
  // Every stored patient has an OS and a PFS time; a mismatch means the database is damaged.
  if (km.subjects() != counts.n)
    throw StorageError(fmt::format(
        "run {} arm '{}': {} {} times stored for {} patients", run_id, counts.arm_name,
        km.subjects(), endpoint == SurvivalEndpoint::kOs ? "OS" : "PFS", counts.n));
  Endpoint result;
  result.median = km.median(ci_level);
  for (const int months : kReportLandmarkMonths)
    result.rates.emplace(months, km.survival_at(static_cast<double>(months), ci_level));
  result.events = km.events();
  return result;
}

nlohmann::json interval_json(const Interval& interval) {
  return {{"estimate", number_or_null(interval.estimate)},
          {"ci_low", number_or_null(interval.low)},
          {"ci_high", number_or_null(interval.high)}};
}

nlohmann::json landmarks_json(const std::map<int, Interval>& rates) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [months, interval] : rates) out[std::to_string(months)] = interval_json(interval);
  return out;
}

double screening_ratio(const RunInfo& run) {
  if (run.patients_stored == 0) return std::nan("");
  return static_cast<double>(run.candidates_screened) / static_cast<double>(run.patients_stored);
}

// "43.7% (40.1–47.3)". A bound that does not exist (S = 0 under the log transform) prints "NA";
// a figure without an estimate prints `missing` (no patients, or a time beyond the follow-up).
std::string percent_text(const Interval& interval, std::string_view missing) {
  if (std::isnan(interval.estimate)) return std::string(missing);
  const auto bound = [](double v) {
    return std::isnan(v) ? std::string("NA") : fmt::format("{:.1f}", 100.0 * v);
  };
  return fmt::format("{:.1f}% ({}\u2013{})", 100.0 * interval.estimate, bound(interval.low),
                     bound(interval.high));
}

// "11.2 mo (9.8–12.9)"; "NR" where the curve or a band never falls to 0.5.
std::string median_text(const Interval& interval, std::uint64_t n) {
  if (n == 0) return "n/a";
  const auto value = [](double v) {
    return std::isnan(v) ? std::string("NR") : fmt::format("{:.1f}", v);
  };
  const std::string estimate =
      std::isnan(interval.estimate) ? "NR" : fmt::format("{:.1f} mo", interval.estimate);
  return fmt::format("{} ({}\u2013{})", estimate, value(interval.low), value(interval.high));
}

}  // namespace

RunReport build_report(ResultStore& store, std::int64_t run_id, double ci_level) {
  RunReport report;
  report.run = store.run_info(run_id);
  report.ci_level = ci_level;
  for (const ArmCounts& counts : store.arm_counts(run_id)) {
    ArmReport arm;
    arm.counts = counts;
    arm.orr = clopper_pearson(counts.cr + counts.pr, counts.n, ci_level);
    arm.orr_unconfirmed =
        clopper_pearson(counts.cr_unconfirmed + counts.pr_unconfirmed, counts.n, ci_level);
    arm.cr_rate = clopper_pearson(counts.cr, counts.n, ci_level);
    arm.dcr = clopper_pearson(counts.cr + counts.pr + counts.sd, counts.n, ci_level);
    arm.irae_grade3plus_rate = clopper_pearson(counts.irae_grade3plus, counts.n, ci_level);
    arm.durable_cr_5y_rate = clopper_pearson(counts.durable_cr, counts.n, ci_level);
    Endpoint os = survival_endpoint(store, run_id, counts, SurvivalEndpoint::kOs, ci_level);
    Endpoint pfs = survival_endpoint(store, run_id, counts, SurvivalEndpoint::kPfs, ci_level);
    arm.median_os_months = os.median;
    arm.os_rate = std::move(os.rates);
    arm.os_events = os.events;
    arm.median_pfs_months = pfs.median;
    arm.pfs_rate = std::move(pfs.rates);
    arm.pfs_events = pfs.events;
    report.arms.push_back(std::move(arm));
  }
  return report;
}

nlohmann::json report_json(const RunReport& report) {
  const RunInfo& run = report.run;
  const RunProvenance& p = run.provenance;
  nlohmann::json run_json = {
      {"id", run.id},
      {"scenario_name", p.scenario_name},
      {"scenario_hash", p.scenario_hash},
      {"seed", p.seed},
      {"patients_requested", p.patients},
      {"patients_stored", run.patients_stored},
      {"screening_ratio", number_or_null(screening_ratio(run))},
      {"status", run.status},
      {"started_at", run.started_at},
      {"finished_at", run.finished_at.empty() ? nlohmann::json(nullptr)
                                              : nlohmann::json(run.finished_at)},
      {"wall_seconds", number_or_null(run.wall_seconds)},
      {"vpgen_version", p.vpgen_version},
      {"git_commit", p.git_commit},
      {"threads", p.threads},
  };
  nlohmann::json arms = nlohmann::json::array();
  for (const ArmReport& arm : report.arms) {
    const ArmCounts& c = arm.counts;
    arms.push_back({
        {"arm_index", c.arm_index},
        {"arm", c.arm_name},
        {"regimen", c.regimen},
        {"n", c.n},
        {"counts",
         {{"cr", c.cr},
          {"pr", c.pr},
          {"sd", c.sd},
          {"pd", c.pd},
          {"ne", c.ne},
          {"cr_unconfirmed", c.cr_unconfirmed},
          {"pr_unconfirmed", c.pr_unconfirmed},
          {"irae_grade3plus", c.irae_grade3plus},
          {"durable_cr", c.durable_cr},
          {"os_events", arm.os_events},
          {"pfs_events", arm.pfs_events}}},
        {"orr", interval_json(arm.orr)},
        {"orr_unconfirmed", interval_json(arm.orr_unconfirmed)},
        {"cr_rate", interval_json(arm.cr_rate)},
        {"dcr", interval_json(arm.dcr)},
        {"irae_grade3plus_rate", interval_json(arm.irae_grade3plus_rate)},
        {"durable_cr_5y_rate", interval_json(arm.durable_cr_5y_rate)},
        {"median_pfs_months", interval_json(arm.median_pfs_months)},
        {"median_os_months", interval_json(arm.median_os_months)},
        {"os_rate", landmarks_json(arm.os_rate)},
        {"pfs_rate", landmarks_json(arm.pfs_rate)},
    });
  }
  return {{"run", std::move(run_json)},
          {"ci_level", report.ci_level},
          {"methods",
           {{"proportions", kProportionMethod},
            {"survival_rates", kSurvivalMethod},
            {"medians", kMedianMethod},
            {"landmark_months", kReportLandmarkMonths}}},
          {"arms", std::move(arms)}};
}

std::string report_text(const RunReport& report) {
  const RunInfo& run = report.run;
  const RunProvenance& p = run.provenance;
  const double level_percent = 100.0 * report.ci_level;
  std::string out;
  auto line = [&out](const std::string& text) {
    out += text;
    out += '\n';
  };

  line(fmt::format("vpgen report: run {}, scenario '{}' ({}), seed {}", run.id, p.scenario_name,
                   p.scenario_hash.substr(0, 12), p.seed));
  line(fmt::format("status {}: {} of {} patients stored, screening ratio {}", run.status,
                   run.patients_stored, p.patients,
                   run.patients_stored == 0 ? std::string("n/a")
                                            : fmt::format("{:.2f}", screening_ratio(run))));
  line(fmt::format("started {}, finished {}, wall time {:.1f} s, vpgen {} ({}), {} threads",
                   run.started_at, run.finished_at.empty() ? "-" : run.finished_at,
                   run.wall_seconds, p.vpgen_version,
                   p.git_commit.empty() ? "no git commit" : p.git_commit, p.threads));
  if (run.status != "complete") {
    const std::string warning =
        fmt::format("INCOMPLETE RUN: figures cover {} of {} patients (status: {})",
                    run.patients_stored, p.patients, run.status);
    line(std::string(warning.size(), '!'));
    line(warning);
    line(std::string(warning.size(), '!'));
  }
  line(fmt::format("Estimate ({:g}% CI). Proportions: Clopper-Pearson exact. Survival rates:",
                   level_percent));
  line("Kaplan-Meier, Greenwood log-scale CI. Medians (months): Brookmeyer-Crowley CI.");
  line("NR = not reached; NA = bound undefined; n/a = no patients or beyond follow-up.");

  const auto row = [&line](std::string_view label, const std::string& value) {
    line(fmt::format("  {:<{}}{}", label, kLabelWidth, value));
  };
  for (const ArmReport& arm : report.arms) {
    const ArmCounts& c = arm.counts;
    line("");
    line(fmt::format("Arm {} '{}' (regimen {}), n = {}", c.arm_index, c.arm_name, c.regimen, c.n));
    row("Best response", fmt::format("CR {}  PR {}  SD {}  PD {}  NE {}", c.cr, c.pr, c.sd, c.pd,
                                     c.ne));
    row("ORR (CR+PR)", percent_text(arm.orr, "n/a"));
    row("ORR unconfirmed", percent_text(arm.orr_unconfirmed, "n/a"));
    row("CR rate", percent_text(arm.cr_rate, "n/a"));
    row("DCR (CR+PR+SD)", percent_text(arm.dcr, "n/a"));
    row("irAE grade >= 3", percent_text(arm.irae_grade3plus_rate, "n/a"));
    row("Durable CR (>= 5 y)", percent_text(arm.durable_cr_5y_rate, "n/a"));
    row("Median PFS", fmt::format("{}, {} events", median_text(arm.median_pfs_months, c.n),
                                  arm.pfs_events));
    row("Median OS", fmt::format("{}, {} deaths", median_text(arm.median_os_months, c.n),
                                 arm.os_events));
    const std::string_view no_rate = c.n == 0 ? "n/a" : "n/a (beyond follow-up)";
    for (const auto& [months, rate] : arm.pfs_rate)
      row(fmt::format("PFS at {} months", months), percent_text(rate, no_rate));
    for (const auto& [months, rate] : arm.os_rate)
      row(fmt::format("OS at {} months", months), percent_text(rate, no_rate));
  }
  return out;
}

}  // namespace vpgen
