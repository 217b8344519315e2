#include "vpgen/report/report.hpp"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "vpgen/common/json_number.hpp"
#include "vpgen/common/printable.hpp"
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

constexpr std::string_view kMeanMethod =
    "sample mean per patient with its standard error s / sqrt(n), s the sample standard deviation";
constexpr std::string_view kIrecistMethod =
    "iRECIST (Seymour et al., Lancet Oncol 2017): a first RECIST progression (iUPD) counts only "
    "once confirmed (iCPD) at the next assessment; ORR = (iCR + iPR) / n; PFS ends at iCPD or "
    "death";
constexpr std::string_view kPfs2Method =
    "PFS2 over all patients of the arm: from the start of first-line treatment to progression on "
    "the next line or death (EMA). A patient whose next line started contributes pfs2_months and "
    "pfs2_event; a patient who died without a next line is an event at death; a patient alive "
    "without a next line is censored when last known alive (os_months)";
constexpr std::string_view kPseudoProgressionMethod =
    "patients with pseudo_progression = 1 among those whose RECIST 1.1 best overall response is "
    "PD (Clopper-Pearson); null without RECIST PD";

constexpr int kLabelWidth = 24;  // text report: width of the figure-name column

std::string_view endpoint_name(SurvivalEndpoint endpoint) {
  switch (endpoint) {
    case SurvivalEndpoint::kOs: return "OS";
    case SurvivalEndpoint::kPfs: return "PFS";
    case SurvivalEndpoint::kPfsIrecist: return "iRECIST PFS";
    case SurvivalEndpoint::kPfs2: return "PFS2";
  }
  return "?";
}

// Mean holds per patient and its standard error, from the per-arm sums of holds and of squares.
// The variance (n sum x^2 - (sum x)^2) / (n (n - 1)) is exact in doubles while both products stay
// below 2^53, far beyond any cohort's hold counts.
MeanEstimate mean_holds(const ArmCounts& c) {
  MeanEstimate m;
  if (c.n == 0) return m;
  const auto n = static_cast<double>(c.n);
  const auto sum = static_cast<double>(c.treatment_holds);
  m.estimate = sum / n;
  if (c.n < 2) return m;
  const double numerator = n * static_cast<double>(c.treatment_holds_squares) - sum * sum;
  const double variance = std::max(0.0, numerator) / (n * (n - 1.0));
  m.se = std::sqrt(variance / n);
  return m;
}

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
  store.survival_times(run_id, counts.arm_index, endpoint, [&km](const SurvivalTimeRow& row) {
    km.add(row.time_months, row.events, row.censored);
  });
  // Every stored patient has an OS and a PFS time; a mismatch means the database is damaged.
  if (km.subjects() != counts.n)
    throw StorageError(fmt::format("run {} arm '{}': {} {} times stored for {} patients", run_id,
                                   counts.arm_name, km.subjects(), endpoint_name(endpoint),
                                   counts.n));
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

nlohmann::json mean_json(const MeanEstimate& mean) {
  return {{"estimate", number_or_null(mean.estimate)}, {"se", number_or_null(mean.se)}};
}

nlohmann::json landmarks_json(const std::map<int, Interval>& rates) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [months, interval] : rates)
    out[std::to_string(months)] = interval_json(interval);
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

// "0.42 (SE 0.03)".
std::string mean_text(const MeanEstimate& mean) {
  if (std::isnan(mean.estimate)) return "n/a";
  const std::string se = std::isnan(mean.se) ? std::string("NA") : fmt::format("{:.2f}", mean.se);
  return fmt::format("{:.2f} (SE {})", mean.estimate, se);
}

}  // namespace

RunReport build_report(ResultStore& store, std::int64_t run_id, double ci_level) {
  // The counts, the survival times and the run's row from one state of a file being written.
  const ReadSnapshot snapshot(store);
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
    arm.orr_irecist = clopper_pearson(counts.cr_irecist + counts.pr_irecist, counts.n, ci_level);
    Endpoint ipfs =
        survival_endpoint(store, run_id, counts, SurvivalEndpoint::kPfsIrecist, ci_level);
    arm.median_pfs_irecist_months = ipfs.median;
    arm.pfs_irecist_rate = std::move(ipfs.rates);
    arm.pfs_irecist_events = ipfs.events;
    arm.ae_grade3plus_rate = clopper_pearson(counts.ae_grade3plus, counts.n, ci_level);
    arm.treatment_holds_per_patient = mean_holds(counts);
    arm.pseudo_progression_rate_recist_pd =
        clopper_pearson(counts.pseudo_progression_recist_pd, counts.pd, ci_level);
    arm.next_line_rate = clopper_pearson(counts.next_line, counts.n, ci_level);
    Endpoint pfs2 = survival_endpoint(store, run_id, counts, SurvivalEndpoint::kPfs2, ci_level);
    arm.median_pfs2_months = pfs2.median;
    arm.pfs2_rate = std::move(pfs2.rates);
    arm.pfs2_events = pfs2.events;
    arm.eradication_rate = clopper_pearson(counts.eradicated, counts.n, ci_level);
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
      {"finished_at",
       run.finished_at.empty() ? nlohmann::json(nullptr) : nlohmann::json(run.finished_at)},
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
          {"pfs_events", arm.pfs_events},
          {"cr_irecist", c.cr_irecist},
          {"pr_irecist", c.pr_irecist},
          {"pfs_irecist_events", arm.pfs_irecist_events},
          {"ae_grade3plus", c.ae_grade3plus},
          {"treatment_holds", c.treatment_holds},
          {"beyond_progression", c.beyond_progression},
          {"pseudo_progression", c.pseudo_progression},
          {"pseudo_progression_recist_pd", c.pseudo_progression_recist_pd},
          {"next_line", c.next_line},
          {"pfs2_events", arm.pfs2_events},
          {"eradicated", c.eradicated}}},
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
        {"orr_irecist", interval_json(arm.orr_irecist)},
        {"median_pfs_irecist_months", interval_json(arm.median_pfs_irecist_months)},
        {"pfs_irecist_rate", landmarks_json(arm.pfs_irecist_rate)},
        {"ae_grade3plus_rate", interval_json(arm.ae_grade3plus_rate)},
        {"treatment_holds_per_patient", mean_json(arm.treatment_holds_per_patient)},
        {"pseudo_progression_rate_recist_pd", interval_json(arm.pseudo_progression_rate_recist_pd)},
        {"next_line_rate", interval_json(arm.next_line_rate)},
        {"median_pfs2_months", interval_json(arm.median_pfs2_months)},
        {"pfs2_rate", landmarks_json(arm.pfs2_rate)},
        {"ground_truth", {{"eradication_rate", interval_json(arm.eradication_rate)}}},
    });
  }
  return {{"run", std::move(run_json)},
          {"ci_level", report.ci_level},
          {"methods",
           {{"proportions", kProportionMethod},
            {"survival_rates", kSurvivalMethod},
            {"medians", kMedianMethod},
            {"means", kMeanMethod},
            {"irecist", kIrecistMethod},
            {"pfs2", kPfs2Method},
            {"pseudo_progression", kPseudoProgressionMethod},
            {"ground_truth", "model quantities no trial observes"},
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

  // Text from the database is printable(): a name cannot forge a line or send a terminal escape.
  line(fmt::format("vpgen report: run {}, scenario '{}' ({}), seed {}", run.id,
                   printable(p.scenario_name), printable(p.scenario_hash.substr(0, 12)), p.seed));
  line(fmt::format("status {}: {} of {} patients stored, screening ratio {}", printable(run.status),
                   run.patients_stored, p.patients,
                   run.patients_stored == 0 ? std::string("n/a")
                                            : fmt::format("{:.2f}", screening_ratio(run))));
  line(fmt::format("started {}, finished {}, wall time {:.1f} s, vpgen {} ({}), {} threads",
                   printable(run.started_at),
                   run.finished_at.empty() ? "-" : printable(run.finished_at), run.wall_seconds,
                   printable(p.vpgen_version),
                   p.git_commit.empty() ? "no git commit" : printable(p.git_commit), p.threads));
  if (run.status != "complete") {
    const std::string warning =
        fmt::format("INCOMPLETE RUN: figures cover {} of {} patients (status: {})",
                    run.patients_stored, p.patients, printable(run.status));
    line(std::string(warning.size(), '!'));
    line(warning);
    line(std::string(warning.size(), '!'));
  }
  line(fmt::format("Estimate ({:g}% CI). Proportions: Clopper-Pearson exact. Survival rates:",
                   level_percent));
  line("Kaplan-Meier, Greenwood log-scale CI. Medians (months): Brookmeyer-Crowley CI.");
  line("NR = not reached; NA = bound undefined; n/a = no patients or beyond follow-up.");
  line("Holds: mean per patient (SE). PFS2: a next line's PFS2, else death = event, alive =");
  line("censored at last contact. Pseudo-progression: among RECIST best response PD.");

  const auto row = [&line](std::string_view label, const std::string& value) {
    line(fmt::format("  {:<{}}{}", label, kLabelWidth, value));
  };
  for (const ArmReport& arm : report.arms) {
    const ArmCounts& c = arm.counts;
    line("");
    line(fmt::format("Arm {} '{}' (regimen {}), n = {}", c.arm_index, printable(c.arm_name),
                     printable(c.regimen), c.n));
    row("Best response",
        fmt::format("CR {}  PR {}  SD {}  PD {}  NE {}", c.cr, c.pr, c.sd, c.pd, c.ne));
    row("ORR (CR+PR)", percent_text(arm.orr, "n/a"));
    row("ORR unconfirmed", percent_text(arm.orr_unconfirmed, "n/a"));
    row("CR rate", percent_text(arm.cr_rate, "n/a"));
    row("DCR (CR+PR+SD)", percent_text(arm.dcr, "n/a"));
    row("irAE grade >= 3", percent_text(arm.irae_grade3plus_rate, "n/a"));
    row("Durable CR (>= 5 y)", percent_text(arm.durable_cr_5y_rate, "n/a"));
    row("Median PFS",
        fmt::format("{}, {} events", median_text(arm.median_pfs_months, c.n), arm.pfs_events));
    row("Median OS",
        fmt::format("{}, {} deaths", median_text(arm.median_os_months, c.n), arm.os_events));
    const std::string_view no_rate = c.n == 0 ? "n/a" : "n/a (beyond follow-up)";
    for (const auto& [months, rate] : arm.pfs_rate)
      row(fmt::format("PFS at {} months", months), percent_text(rate, no_rate));
    for (const auto& [months, rate] : arm.os_rate)
      row(fmt::format("OS at {} months", months), percent_text(rate, no_rate));
    row("ORR iRECIST", percent_text(arm.orr_irecist, "n/a"));
    row("Median PFS iRECIST",
        fmt::format("{}, {} events", median_text(arm.median_pfs_irecist_months, c.n),
                    arm.pfs_irecist_events));
    row("Pseudo-progression/PD",
        fmt::format("{}, {} of {}", percent_text(arm.pseudo_progression_rate_recist_pd, "n/a"),
                    c.pseudo_progression_recist_pd, c.pd));
    row("Other AE grade >= 3", percent_text(arm.ae_grade3plus_rate, "n/a"));
    row("Treatment holds",
        fmt::format("{} per patient, {} in all", mean_text(arm.treatment_holds_per_patient),
                    c.treatment_holds));
    row("Next line started", percent_text(arm.next_line_rate, "n/a"));
    row("Median PFS2",
        fmt::format("{}, {} events", median_text(arm.median_pfs2_months, c.n), arm.pfs2_events));
    row("Eradicated (truth)", percent_text(arm.eradication_rate, "n/a"));
  }
  return out;
}

}  // namespace vpgen
