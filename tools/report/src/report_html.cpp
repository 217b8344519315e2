#include "vpgen/report/report_html.hpp"

#include "vpgen/common/safe_file.hpp"
#include "vpgen/report/report_data.hpp"
#include "svg_plot.hpp"
#include "vpgen/stats/endpoint.hpp"
#include "vpgen/engine/build_info.hpp"
#include "vpgen/population/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <map>
#include <utility>
#include <variant>

namespace vpgen {
namespace {

namespace fs = std::filesystem;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::string_view kDash = "\u2013";  // en dash, in intervals "40.1–47.3"

// ---- The document: what both HTML and Markdown show ----------------------------------------------

struct Heading {
  int level = 2;
  std::string text;
  std::string id;
};

struct Paragraph {
  std::string text;
  bool warning = false;
};

struct Table {
  std::string id;
  std::string caption;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

struct Figure {
  std::string id;  // unique in the document; Markdown's file name after the prefix
  std::string caption;
  std::string svg;
};

struct Preformatted {
  std::string caption;
  std::string text;
};

using Block = std::variant<Heading, Paragraph, Table, Figure, Preformatted>;

struct Document {
  std::string title;
  std::vector<Block> blocks;
  // The input files verbatim (thousands of lines): after the results, so they come first on paper.
  std::vector<Block> appendix;
};

// ---- Number formatting (as report_text prints the same figures) ---------------------------------

std::string percent_text(const Interval& v, std::string_view missing = "n/a") {
  if (std::isnan(v.estimate)) return std::string(missing);
  const auto bound = [](double x) {
    return std::isnan(x) ? std::string("NA") : fmt::format("{:.1f}", 100.0 * x);
  };
  return fmt::format("{:.1f}% ({}{}{})", 100.0 * v.estimate, bound(v.low), kDash, bound(v.high));
}

std::string median_text(const Interval& v, std::uint64_t n) {
  if (n == 0) return "n/a";
  const auto value = [](double x) {
    return std::isnan(x) ? std::string("NR") : fmt::format("{:.1f}", x);
  };
  const std::string estimate = std::isnan(v.estimate) ? "NR" : fmt::format("{:.1f} mo", v.estimate);
  return fmt::format("{} ({}{}{})", estimate, value(v.low), kDash, value(v.high));
}

std::string number_text(double v, std::string_view format = "{:g}") {
  if (std::isnan(v)) return "n/a";
  return fmt::format(fmt::runtime(format), v);
}

std::string_view regimen_class_name(RegimenClass c) {
  switch (c) {
    case RegimenClass::kImmunotherapy: return "immunotherapy";
    case RegimenClass::kChemotherapy: return "chemotherapy";
    case RegimenClass::kTargeted: return "targeted";
    case RegimenClass::kCellTherapy: return "cell therapy";
  }
  return "?";
}

std::string cancer_type_label(std::string_view code) {
  static const std::map<std::string_view, std::string_view> kLabels = {
      {"melanoma", "melanoma"},
      {"nsclc", "NSCLC"},
      {"rcc", "RCC"},
      {"urothelial", "urothelial"},
      {"head_neck", "head and neck"},
      {"crc_msi_high", "CRC MSI-high"},
      {"crc_mss", "CRC MSS"},
      {"tnbc", "TNBC"}};
  const auto it = kLabels.find(code);
  return it == kLabels.end() ? std::string(code) : std::string(it->second);
}

// Tick spacing of a time axis in months: whole years once the axis spans years.
svg::Ticks month_ticks(double max_months) {
  if (!(max_months > 0.0)) max_months = 12.0;
  double step = 24.0;
  if (max_months <= 12.0) step = 2.0;
  else if (max_months <= 36.0) step = 6.0;
  else if (max_months <= 180.0) step = 12.0;
  return svg::fixed_ticks(0.0, max_months, step);
}

std::string landmark_label(int months) {
  if (months % 12 == 0) {
    const int years = months / 12;
    return fmt::format("{} year{} ({} months)", years, years == 1 ? "" : "s", months);
  }
  return fmt::format("{} months", months);
}

// ---- Run sections -----------------------------------------------------------------------------

struct RunContext {
  ResultStore& store;
  const ReportRequest& request;
  const RunReport& report;
  std::string prefix;  // "r<id>": figure and table ids
  double level_percent = 95.0;
};

void add_provenance(Document& doc, const RunContext& ctx) {
  const RunInfo& run = ctx.report.run;
  const RunProvenance& p = run.provenance;
  Table t;
  t.id = ctx.prefix + "-provenance";
  t.caption = fmt::format("Run {}: scenario and provenance (as stored in the runs table)", run.id);
  t.header = {"Field", "Value"};
  const std::string ratio =
      run.patients_stored == 0
          ? std::string("n/a")
          : fmt::format("{:.2f}", static_cast<double>(run.candidates_screened) /
                                      static_cast<double>(run.patients_stored));
  t.rows = {
      {"Run", fmt::format("{}", run.id)},
      {"Scenario", p.scenario_name},
      {"Scenario fingerprint", p.scenario_hash},
      {"Seed", fmt::format("{}", p.seed)},
      {"Patients requested", fmt::format("{}", p.patients)},
      {"Patients stored", fmt::format("{}", run.patients_stored)},
      {"Screening ratio (candidates per eligible patient)", ratio},
      {"Status", run.status},
      {"Started (UTC)", run.started_at},
      {"Finished (UTC)", run.finished_at.empty() ? std::string("-") : run.finished_at},
      {"Wall time (s)", fmt::format("{:.1f}", run.wall_seconds)},
      {"vpgen version", p.vpgen_version},
      {"Git commit", p.git_commit.empty() ? std::string("-") : p.git_commit},
      {"Compiler", p.compiler},
      {"Boost", p.boost_version},
      {"oneTBB", p.tbb_version},
      {"SQLite", p.sqlite_version},
      {"Random-stream scheme", fmt::format("{}", p.rng_scheme)},
      {"Threads (do not change results)", fmt::format("{}", p.threads)},
      {"Block size (patients per transaction)", fmt::format("{}", p.block_size)},
      {"Course events stored", p.store_events ? "yes" : "no"},
  };
  doc.blocks.emplace_back(std::move(t));

  Table arms;
  arms.id = ctx.prefix + "-arms";
  arms.caption = fmt::format("Run {}: arms (every patient is simulated under every arm)", run.id);
  arms.header = {"Arm",
                 "Name",
                 "Regimen",
                 "Class",
                 "Phases",
                 "Treatment cap",
                 "P(treated beyond progression)",
                 "Next line"};
  for (std::size_t i = 0; i < p.arms.size(); ++i) {
    const ArmSpec& a = p.arms[i];
    std::string phases;
    for (const RegimenPhase& ph : a.regimen.phases) {
      if (!phases.empty()) phases += "; then ";
      phases += fmt::format("{}: {} every {:g} days, {}", ph.name, ph.agents, ph.cycle_length_days,
                            ph.cycles == 0 ? std::string("until stopped")
                                           : fmt::format("{} cycles", ph.cycles));
    }
    const std::string cap = a.regimen.max_duration_months > 0.0
                                ? fmt::format("{:g} months", a.regimen.max_duration_months)
                                : std::string("none");
    const std::string next =
        a.next_line.enabled ? fmt::format("{} ({}), probability {:g}, {:g} weeks after progression",
                                          a.next_line.regimen.name,
                                          regimen_class_name(a.next_line.regimen.regimen_class),
                                          a.next_line.probability, a.next_line.delay_weeks)
                            : std::string("none");
    arms.rows.push_back({fmt::format("{}", i), a.name, a.regimen.name,
                         std::string(regimen_class_name(a.regimen.regimen_class)), phases, cap,
                         fmt::format("{:g}", a.beyond_progression_probability), next});
  }
  doc.blocks.emplace_back(std::move(arms));
}

std::vector<std::string> arm_header(const RunReport& report, std::string_view first) {
  std::vector<std::string> header{std::string(first)};
  for (const ArmReport& a : report.arms) header.push_back(a.counts.arm_name);
  return header;
}

void add_arm_tables(Document& doc, const RunContext& ctx) {
  const RunReport& r = ctx.report;
  const auto row = [&r](std::string label, auto&& cell) {
    std::vector<std::string> out{std::move(label)};
    for (const ArmReport& a : r.arms) out.push_back(cell(a));
    return out;
  };
  Table response;
  response.id = ctx.prefix + "-response";
  response.caption = fmt::format(
      "Run {}: response and toxicity by arm, estimate ({:g}% CI). Proportions of all patients of "
      "the arm with the Clopper–Pearson exact interval; responses confirmed (RECIST 1.1)",
      r.run.id, ctx.level_percent);
  response.header = arm_header(r, "Figure");
  response.rows.push_back(
      row("Patients", [](const ArmReport& a) { return fmt::format("{}", a.counts.n); }));
  response.rows.push_back(row("Best response CR / PR / SD / PD / NE", [](const ArmReport& a) {
    const ArmCounts& c = a.counts;
    return fmt::format("{} / {} / {} / {} / {}", c.cr, c.pr, c.sd, c.pd, c.ne);
  }));
  response.rows.push_back(
      row("ORR (CR + PR)", [](const ArmReport& a) { return percent_text(a.orr); }));
  response.rows.push_back(
      row("CR rate", [](const ArmReport& a) { return percent_text(a.cr_rate); }));
  response.rows.push_back(
      row("DCR (CR + PR + SD)", [](const ArmReport& a) { return percent_text(a.dcr); }));
  response.rows.push_back(row("Durable CR (CR lasting \u2265 5 years)", [](const ArmReport& a) {
    return percent_text(a.durable_cr_5y_rate);
  }));
  response.rows.push_back(row("irAE grade \u2265 3", [](const ArmReport& a) {
    return percent_text(a.irae_grade3plus_rate);
  }));
  doc.blocks.emplace_back(std::move(response));

  Table survival;
  survival.id = ctx.prefix + "-survival";
  survival.caption = fmt::format(
      "Run {}: survival by arm. Kaplan–Meier medians in months with the Brookmeyer–Crowley "
      "{:g}% CI; rates with Greenwood's log-scale {:g}% CI; NR = not reached, NA = bound "
      "undefined, n/a = beyond follow-up",
      r.run.id, ctx.level_percent, ctx.level_percent);
  survival.header = arm_header(r, "Figure");
  survival.rows.push_back(row("Median PFS", [](const ArmReport& a) {
    return median_text(a.median_pfs_months, a.counts.n);
  }));
  survival.rows.push_back(row(
      "Median OS", [](const ArmReport& a) { return median_text(a.median_os_months, a.counts.n); }));
  survival.rows.push_back(row("PFS events (progression or death)",
                              [](const ArmReport& a) { return fmt::format("{}", a.pfs_events); }));
  survival.rows.push_back(
      row("Deaths", [](const ArmReport& a) { return fmt::format("{}", a.os_events); }));
  for (const int months : kReportLandmarkMonths)
    survival.rows.push_back(row("OS at " + landmark_label(months), [months](const ArmReport& a) {
      const auto it = a.os_rate.find(months);
      return it == a.os_rate.end() ? std::string("n/a") : percent_text(it->second);
    }));
  for (const int months : kReportLandmarkMonths)
    survival.rows.push_back(row("PFS at " + landmark_label(months), [months](const ArmReport& a) {
      const auto it = a.pfs_rate.find(months);
      return it == a.pfs_rate.end() ? std::string("n/a") : percent_text(it->second);
    }));
  doc.blocks.emplace_back(std::move(survival));

  Table more;
  more.id = ctx.prefix + "-further";
  more.caption = fmt::format(
      "Run {}: further figures by arm ({:g}% CI). iRECIST after Seymour et al. (Lancet Oncol "
      "2017); PFS2 over all patients (EMA); eradication is model ground truth no trial observes",
      r.run.id, ctx.level_percent);
  more.header = arm_header(r, "Figure");
  more.rows.push_back(row("ORR without confirmation",
                          [](const ArmReport& a) { return percent_text(a.orr_unconfirmed); }));
  more.rows.push_back(
      row("ORR by iRECIST", [](const ArmReport& a) { return percent_text(a.orr_irecist); }));
  more.rows.push_back(row("Median PFS by iRECIST", [](const ArmReport& a) {
    return median_text(a.median_pfs_irecist_months, a.counts.n);
  }));
  more.rows.push_back(row("Pseudo-progression among RECIST PD", [](const ArmReport& a) {
    return percent_text(a.pseudo_progression_rate_recist_pd);
  }));
  more.rows.push_back(row("Other treatment-related AE grade \u2265 3",
                          [](const ArmReport& a) { return percent_text(a.ae_grade3plus_rate); }));
  more.rows.push_back(row("Treatment holds per patient (SE)", [](const ArmReport& a) {
    const MeanEstimate& m = a.treatment_holds_per_patient;
    if (std::isnan(m.estimate)) return std::string("n/a");
    return fmt::format("{:.2f} ({})", m.estimate,
                       std::isnan(m.se) ? std::string("NA") : fmt::format("{:.2f}", m.se));
  }));
  more.rows.push_back(
      row("Next line started", [](const ArmReport& a) { return percent_text(a.next_line_rate); }));
  more.rows.push_back(row("Median PFS2", [](const ArmReport& a) {
    return median_text(a.median_pfs2_months, a.counts.n);
  }));
  more.rows.push_back(row("Eradicated (ground truth)",
                          [](const ArmReport& a) { return percent_text(a.eradication_rate); }));
  doc.blocks.emplace_back(std::move(more));
}

void add_km_figure(Document& doc, const RunContext& ctx, SurvivalEndpoint endpoint) {
  const bool os = endpoint == SurvivalEndpoint::kOs;
  const std::string name = os ? "overall survival" : "progression-free survival";
  std::vector<KmCurve> curves;
  double max_time = 0.0;
  std::uint64_t subjects = 0;
  for (const ArmReport& a : ctx.report.arms) {
    curves.push_back(read_km_curve(ctx.store, ctx.report.run.id, a.counts.arm_index, endpoint,
                                   ctx.report.ci_level));
    max_time = std::max(max_time, curves.back().last_time_months);
    subjects += curves.back().subjects;
  }
  svg::StepChart chart;
  chart.title = fmt::format("Kaplan–Meier curves of {} by arm", name);
  chart.x_label = "Time since start of treatment (months)";
  chart.y_label = os ? "Overall survival (%)" : "Progression-free survival (%)";
  chart.x_ticks = month_ticks(max_time);
  chart.y_ticks = svg::fixed_ticks(0.0, 100.0, 20.0);
  chart.band_legend = fmt::format("shaded: pointwise {:g}% CI", ctx.level_percent);
  chart.risk_title = "Number at risk";
  for (std::size_t i = 0; i < curves.size(); ++i) {
    const KmCurve& c = curves[i];
    svg::StepCurve s;
    s.label = ctx.report.arms[i].counts.arm_name;
    s.colour = std::string(svg::series_colour(i));
    if (c.subjects > 0) {
      for (std::size_t k = 0; k < c.time_months.size(); ++k) {
        s.x.push_back(c.time_months[k]);
        s.y.push_back(100.0 * c.survival[k]);
        s.y_low.push_back(100.0 * c.ci_low[k]);
        s.y_high.push_back(100.0 * c.ci_high[k]);
      }
      // The last step holds until the last observation (a censoring after the last event).
      if (c.last_time_months > s.x.back()) {
        s.x.push_back(c.last_time_months);
        s.y.push_back(s.y.back());
        s.y_low.push_back(s.y_low.back());
        s.y_high.push_back(s.y_high.back());
      }
    }
    chart.curves.push_back(std::move(s));
    std::vector<std::uint64_t> risk;
    for (const double t : chart.x_ticks.values) risk.push_back(c.at_risk(t));
    chart.at_risk.push_back(std::move(risk));
  }
  Figure f;
  f.id = fmt::format("{}-km-{}", ctx.prefix, os ? "os" : "pfs");
  f.caption = fmt::format(
      "Run {}: Kaplan–Meier estimate of {} by arm ({} patient-arm courses), with pointwise "
      "{:g}% confidence bands (Greenwood's variance on the log scale, as R survfit). {}Number "
      "at risk: patients still under observation at each time. Censoring marks are not drawn.",
      ctx.report.run.id, name, subjects, ctx.level_percent,
      os ? "Event: death from any cause. " : "Event: RECIST 1.1 progression or death. ");
  f.svg = svg::render_step_chart(chart);
  doc.blocks.emplace_back(std::move(f));
}

const std::array<svg::Category, 5>& response_categories() {
  static const std::array<svg::Category, 5> kCategories = {{
      {"CR", std::string(svg::kBlue)},
      {"PR", std::string(svg::kSkyBlue)},
      {"SD", std::string(svg::kOrange)},
      {"PD", std::string(svg::kVermillion)},
      {"NE", std::string(svg::kGrey)},
  }};
  return kCategories;
}

void add_waterfall(Document& doc, const RunContext& ctx, const ArmReport& arm,
                   const std::vector<SampledCourse>& sample) {
  std::vector<std::pair<double, std::size_t>> bars;  // (change, position in sample)
  const std::size_t drawn = std::min<std::size_t>(
      sample.size(), static_cast<std::size_t>(ctx.request.waterfall_patients));
  for (std::size_t i = 0; i < drawn; ++i)
    if (!std::isnan(sample[i].best_percent_change))
      bars.emplace_back(sample[i].best_percent_change, i);
  // Largest growth on the left; ties keep patient order, so the plot is deterministic.
  std::stable_sort(bars.begin(), bars.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  double top = 20.0;
  for (const auto& b : bars) top = std::max(top, b.first);
  top = std::min(100.0, std::ceil(top / 20.0) * 20.0);
  svg::BarChart chart;
  chart.title = fmt::format("Waterfall plot of arm {}", arm.counts.arm_name);
  chart.x_label = fmt::format("Patients, ordered by best change (n = {})", bars.size());
  chart.y_label = "Best change in sum of diameters (%)";
  chart.y_ticks = svg::fixed_ticks(-100.0, top, 20.0);
  for (const svg::Category& c : response_categories()) chart.categories.push_back(c);
  chart.reference_lines = {{20.0, "+20%: progression threshold"},
                           {-30.0, "\u221230%: partial-response threshold"}};
  bool cut = false;
  for (const auto& [change, i] : bars) {
    chart.values.push_back(change);
    chart.category.push_back(static_cast<std::size_t>(sample[i].best_response));
    cut = cut || change > top;
  }
  Figure f;
  f.id = fmt::format("{}-waterfall-arm{}", ctx.prefix, arm.counts.arm_index);
  f.caption = fmt::format(
      "Run {}, arm {}: best change from baseline in the sum of target-lesion diameters, coloured "
      "by confirmed best overall response (RECIST 1.1). A deterministic sample: the first {} "
      "patients of the arm by patient index; {} with at least one assessment are drawn, {} never "
      "assessed are not.{}",
      ctx.report.run.id, arm.counts.arm_name, drawn, bars.size(), drawn - bars.size(),
      cut ? fmt::format(" Bars above +{:g}% are cut at the axis (triangle).", top) : "");
  f.svg = svg::render_bar_chart(chart);
  doc.blocks.emplace_back(std::move(f));
}

void add_swimmer(Document& doc, const RunContext& ctx, const ArmReport& arm,
                 const std::vector<SampledCourse>& sample) {
  const std::size_t lanes_n =
      std::min<std::size_t>(sample.size(), static_cast<std::size_t>(ctx.request.swimmer_patients));
  const bool from_events = ctx.report.run.provenance.store_events;
  std::vector<CourseMarker> markers;
  if (from_events && lanes_n > 0)
    markers = read_course_events(ctx.store, ctx.report.run.id, arm.counts.arm_index,
                                 sample[lanes_n - 1].patient_index + 1);
  svg::SwimmerChart chart;
  chart.title = fmt::format("Swimmer plot of arm {}", arm.counts.arm_name);
  chart.x_label = "Time since start of treatment (months)";
  chart.treatment_colour = "#BBBBBB";
  chart.treatment_label = "on treatment";
  chart.follow_up_label = "follow-up";
  chart.ongoing_label = "alive at end of follow-up";
  chart.marker_kinds = {
      {"CR (first confirmed)", std::string(svg::kBlue), svg::Marker::kTriangle},
      {"PR (first confirmed)", std::string(svg::kSkyBlue), svg::Marker::kTriangle},
      {"irAE grade 1\u20132", std::string(svg::kOrange), svg::Marker::kDiamond},
      {"irAE grade \u2265 3", std::string(svg::kReddishPurple), svg::Marker::kDiamond},
      {"progression", std::string(svg::kVermillion), svg::Marker::kCross},
      {"death", std::string(svg::kBlack), svg::Marker::kSquare},
      {"next line starts", std::string(svg::kBluishGreen), svg::Marker::kBar},
  };
  double max_time = 0.0;
  std::size_t next_marker = 0;
  for (std::size_t i = 0; i < lanes_n; ++i) {
    const SampledCourse& c = sample[i];
    svg::SwimLane lane;
    lane.label = fmt::format("#{} {}", c.patient_index, cancer_type_label(c.cancer_type));
    lane.treatment_end = c.treatment_months;
    lane.follow_up_end = c.os_months;
    lane.ongoing = !c.os_event;
    std::vector<CourseMarker> own;
    if (from_events) {
      while (next_marker < markers.size() && markers[next_marker].patient_index < c.patient_index)
        ++next_marker;
      while (next_marker < markers.size() && markers[next_marker].patient_index == c.patient_index)
        own.push_back(markers[next_marker++]);
    } else {
      own = markers_from_outcome(c);
    }
    for (const CourseMarker& m : own)
      lane.markers.push_back({m.time_months, static_cast<std::size_t>(m.event)});
    max_time = std::max(max_time, c.os_months);
    chart.lanes.push_back(std::move(lane));
  }
  chart.x_ticks = month_ticks(max_time);
  Figure f;
  f.id = fmt::format("{}-swimmer-arm{}", ctx.prefix, arm.counts.arm_index);
  f.caption = fmt::format(
      "Run {}, arm {}: course of the first {} patients of the arm by patient index (the same "
      "patients in every arm: each is simulated under all of them). Bar: time on treatment; "
      "line: follow-up to death or the end of follow-up. {}",
      ctx.report.run.id, arm.counts.arm_name, lanes_n,
      from_events
          ? "Markers from the stored course events: the first confirmed response, every irAE, "
            "RECIST progression, death and the start of the next line."
          : "This run did not store course events (store_events = 0), so the markers come from "
            "the outcome row: the first confirmed response, the onset of the worst irAE only, "
            "progression (a PFS event before death), death and the start of the next line.");
  f.svg = svg::render_swimmer_chart(chart);
  doc.blocks.emplace_back(std::move(f));
}

std::string tmb_label(std::string_view band) {
  if (band == "<5") return "<5";
  if (band == "5-<10") return "5 to <10";
  if (band == "10-<20") return "10 to <20";
  if (band == ">=20") return "\u226520";
  return std::string(band);
}

std::string pdl1_label(std::string_view band) {
  if (band == "1-49") return "1\u201349";
  if (band == ">=50") return "\u226550";
  return std::string(band);
}

void add_forest(Document& doc, const RunContext& ctx) {
  const RunReport& r = ctx.report;
  const double level = r.ci_level;
  svg::ForestChart chart;
  chart.title = fmt::format("Forest plot of ORR by subgroup, run {}", r.run.id);
  chart.x_label =
      fmt::format("Objective response rate, CR + PR (%), with {:g}% CI", ctx.level_percent);
  chart.note_title = "Patients";
  chart.series_reference_label = "overall ORR of the arm (dashed)";
  for (std::size_t i = 0; i < r.arms.size(); ++i) {
    chart.series.push_back({r.arms[i].counts.arm_name, std::string(svg::series_colour(i)),
                            svg::Marker::kSquare, true});
    chart.series_reference.push_back(100.0 * r.arms[i].orr.estimate);
  }
  Table table;
  table.id = ctx.prefix + "-subgroups";
  table.caption = fmt::format(
      "Run {}: ORR by subgroup and arm, responders / patients and ORR ({:g}% Clopper–Pearson "
      "CI), from the subgroup_counts table",
      r.run.id, ctx.level_percent);
  table.header = {"Subgroup", "Level"};
  for (const ArmReport& a : r.arms) table.header.push_back(a.counts.arm_name);

  double max_high = 0.0;
  const auto add_level = [&](const std::string& group, const std::string& label,
                             const std::vector<std::pair<std::uint64_t, std::uint64_t>>& counts) {
    svg::ForestRow row;
    row.label = label;
    std::vector<std::string> cells{group, label};
    std::vector<std::uint64_t> ns;
    for (const auto& [responders, n] : counts) {
      const Interval ci = clopper_pearson(responders, n, level);
      row.points.push_back({100.0 * ci.estimate, 100.0 * ci.low, 100.0 * ci.high});
      if (!std::isnan(ci.high)) max_high = std::max(max_high, 100.0 * ci.high);
      cells.push_back(n == 0 ? std::string("0 patients")
                             : fmt::format("{}/{}: {}", responders, n, percent_text(ci)));
      if (std::find(ns.begin(), ns.end(), n) == ns.end()) ns.push_back(n);
    }
    std::string note;
    for (const std::uint64_t n : ns) note += (note.empty() ? "n = " : " / ") + fmt::format("{}", n);
    row.note = note;
    chart.rows.push_back(std::move(row));
    table.rows.push_back(std::move(cells));
  };

  std::vector<std::pair<std::uint64_t, std::uint64_t>> overall;
  for (const ArmReport& a : r.arms) overall.emplace_back(a.counts.cr + a.counts.pr, a.counts.n);
  add_level("All patients", "all", overall);

  const std::array<std::pair<SubgroupDimension, std::string_view>, 4> dimensions = {{
      {SubgroupDimension::kCancerType, "Cancer type"},
      {SubgroupDimension::kTmbBand, "TMB (mut/Mb)"},
      {SubgroupDimension::kPdl1Band, "PD-L1 TPS (%)"},
      {SubgroupDimension::kHot, "Immune infiltration"},
  }};
  for (const auto& [dimension, group] : dimensions) {
    const std::vector<SubgroupResponses> rows =
        read_subgroup_responses(ctx.store, r.run.id, dimension);
    if (rows.empty()) continue;
    svg::ForestRow heading;
    heading.label = std::string(group);
    heading.heading = true;
    chart.rows.push_back(std::move(heading));
    std::size_t i = 0;
    while (i < rows.size()) {
      const std::string level_code = rows[i].level;
      // One entry per arm, zero where the arm has no patient in this level.
      std::vector<std::pair<std::uint64_t, std::uint64_t>> counts(r.arms.size(), {0, 0});
      for (; i < rows.size() && rows[i].level == level_code; ++i)
        for (std::size_t a = 0; a < r.arms.size(); ++a)
          if (r.arms[a].counts.arm_index == rows[i].arm_index)
            counts[a] = {rows[i].responders, rows[i].n};
      std::string label = level_code;
      switch (dimension) {
        case SubgroupDimension::kCancerType: label = cancer_type_label(level_code); break;
        case SubgroupDimension::kTmbBand: label = tmb_label(level_code); break;
        case SubgroupDimension::kPdl1Band: label = pdl1_label(level_code); break;
        case SubgroupDimension::kHot:
          label = level_code == "1" ? "inflamed (hot)" : "non-inflamed (cold)";
          break;
      }
      add_level(std::string(group), label, counts);
    }
  }
  chart.x_ticks = svg::nice_ticks(0.0, std::max(10.0, max_high), 6);
  Figure f;
  f.id = ctx.prefix + "-forest-orr";
  f.caption = fmt::format(
      "Run {}: objective response rate (confirmed CR + PR, RECIST 1.1) by subgroup and arm, with "
      "{:g}% Clopper–Pearson intervals, from the subgroup_counts table (all stored patients). "
      "Dashed lines: each arm's overall ORR. TMB bands in mutations per megabase; PD-L1 as "
      "tumour proportion score; inflamed = infiltration at or above the scenario's threshold.",
      r.run.id, ctx.level_percent);
  f.svg = svg::render_forest_chart(chart);
  doc.blocks.emplace_back(std::move(f));
  doc.blocks.emplace_back(std::move(table));
}

// Returns the run's identity, for the document's title.
RunInfo add_run_section(Document& doc, ResultStore& store, const ReportRequest& request,
                        std::int64_t run_id) {
  const RunReport report = build_report(store, run_id, request.ci_level);
  RunContext ctx{store, request, report, fmt::format("r{}", run_id), 100.0 * request.ci_level};
  const RunInfo& run = report.run;
  doc.blocks.emplace_back(Heading{
      2, fmt::format("Run {}: scenario {}", run.id, run.provenance.scenario_name), ctx.prefix});
  if (run.status != "complete")
    doc.blocks.emplace_back(
        Paragraph{fmt::format("INCOMPLETE RUN: every figure covers the {} of {} patients stored "
                              "(status: {}).",
                              run.patients_stored, run.provenance.patients, run.status),
                  true});
  doc.blocks.emplace_back(Paragraph{fmt::format(
      "{} virtual patients, each simulated under each of the {} arms of scenario {} with seed {}. "
      "Estimates are given with {:g}% confidence intervals, computed by SQL over the stored rows "
      "and the derived tables subgroup_counts and survival_counts; the per-patient plots draw a "
      "deterministic sample of the first patients by index.",
      run.patients_stored, report.arms.size(), run.provenance.scenario_name, run.provenance.seed,
      ctx.level_percent)});
  add_provenance(doc, ctx);
  add_arm_tables(doc, ctx);
  add_km_figure(doc, ctx, SurvivalEndpoint::kOs);
  add_km_figure(doc, ctx, SurvivalEndpoint::kPfs);
  const std::uint64_t sample_size = std::max(request.waterfall_patients, request.swimmer_patients);
  std::vector<std::vector<SampledCourse>> samples;
  for (const ArmReport& a : report.arms)
    samples.push_back(read_sampled_courses(store, run.id, a.counts.arm_index, sample_size));
  for (std::size_t i = 0; i < report.arms.size(); ++i)
    add_waterfall(doc, ctx, report.arms[i], samples[i]);
  for (std::size_t i = 0; i < report.arms.size(); ++i)
    add_swimmer(doc, ctx, report.arms[i], samples[i]);
  add_forest(doc, ctx);
  doc.appendix.emplace_back(Preformatted{
      fmt::format("Run {}: the scenario files, verbatim as stored (runs.scenario_text); the run "
                  "can be repeated from them with seed {}",
                  run.id, run.provenance.seed),
      run.provenance.scenario_text});
  return run;
}

// ---- Design sections -------------------------------------------------------------------------

void add_design_section(Document& doc, ResultStore& store, std::int64_t design_id) {
  const StoredDesign d = read_design(store, design_id);
  const DesignRecord& r = d.record;
  const std::string prefix = fmt::format("d{}", design_id);
  doc.blocks.emplace_back(Heading{2, fmt::format("Design {}: {}", design_id, r.name), prefix});
  const auto percent = [](double v) {
    return std::isnan(v) ? std::string("n/a") : fmt::format("{:.1f}%", 100.0 * v);
  };
  const std::string chosen =
      std::isnan(r.recommended_n)
          ? std::string("not reached in the range evaluated")
          : fmt::format("{:g} patients (95% interval {}{}{})", r.recommended_n,
                        number_text(r.recommended_n_low), kDash, number_text(r.recommended_n_high));
  Table t;
  t.id = prefix + "-design";
  t.caption = fmt::format("Design {}: what was asked and the answer (designs table)", design_id);
  t.header = {"Field", "Value"};
  t.rows = {{"Name", r.name},
            {"Mode", r.mode},
            {"Endpoint", r.endpoint},
            {"Analysis", r.analysis},
            {"Seed", fmt::format("{}", r.seed)},
            {"Target power", percent(r.target_power)},
            {"Chosen n (smallest total n reaching the target power)", chosen},
            {"Design fingerprint", r.design_hash},
            {"vpgen version", r.vpgen_version},
            {"Git commit", r.git_commit.empty() ? std::string("-") : r.git_commit},
            {"Created (UTC)", d.created_at},
            {"Wall time (s)", fmt::format("{:.1f}", r.wall_seconds)}};
  doc.blocks.emplace_back(std::move(t));

  const double z = 1.959963984540054;  // the two-sided 95% normal quantile
  svg::LineSeries power{"power", std::string(svg::kBlue), {}, {}, {}, {}, false, true};
  svg::LineSeries type1{"type I error", std::string(svg::kVermillion), {}, {}, {}, {}, true, true};
  bool any_band = false, any_type1 = false;
  double n_min = std::numeric_limits<double>::infinity(), n_max = -n_min;
  for (const DesignPointRecord& p : d.points) {
    const auto n = static_cast<double>(p.n_total);
    n_min = std::min(n_min, n);
    n_max = std::max(n_max, n);
    power.x.push_back(n);
    power.y.push_back(100.0 * p.power);
    const bool band = !std::isnan(p.power_mcse) && !std::isnan(p.power);
    power.y_low.push_back(band ? 100.0 * std::max(0.0, p.power - z * p.power_mcse) : kNaN);
    power.y_high.push_back(band ? 100.0 * std::min(1.0, p.power + z * p.power_mcse) : kNaN);
    any_band = any_band || band;
    type1.x.push_back(n);
    type1.y.push_back(100.0 * p.type1_error);
    const bool band1 = !std::isnan(p.type1_mcse) && !std::isnan(p.type1_error);
    type1.y_low.push_back(band1 ? 100.0 * std::max(0.0, p.type1_error - z * p.type1_mcse) : kNaN);
    type1.y_high.push_back(band1 ? 100.0 * std::min(1.0, p.type1_error + z * p.type1_mcse) : kNaN);
    any_type1 = any_type1 || !std::isnan(p.type1_error);
  }
  const bool any_power =
      std::any_of(d.points.begin(), d.points.end(),
                  [](const DesignPointRecord& p) { return !std::isnan(p.power); });
  if (any_power) {
    svg::LineChart chart;
    chart.title = fmt::format("Power curve of design {}", r.name);
    chart.x_label = "Total sample size, all arms (patients)";
    chart.y_label = "Probability of rejecting H0 (%)";
    if (!std::isnan(r.recommended_n_low)) n_min = std::min(n_min, r.recommended_n_low);
    if (!std::isnan(r.recommended_n_high)) n_max = std::max(n_max, r.recommended_n_high);
    chart.x_ticks = svg::nice_ticks(n_min, n_max, 7);
    chart.y_ticks = svg::fixed_ticks(0.0, 100.0, 20.0);
    chart.series.push_back(std::move(power));
    if (any_type1) chart.series.push_back(std::move(type1));
    if (any_band) chart.band_legend = "shaded: \u00b11.96 Monte Carlo SE";
    if (!std::isnan(r.target_power))
      chart.horizontal_lines.push_back(
          {100.0 * r.target_power, fmt::format("target power {:g}%", 100.0 * r.target_power)});
    chart.vertical = {r.recommended_n, std::isnan(r.recommended_n)
                                           ? std::string()
                                           : fmt::format("chosen n = {:g}", r.recommended_n)};
    chart.vertical_low = r.recommended_n_low;
    chart.vertical_high = r.recommended_n_high;
    Figure f;
    f.id = prefix + "-power";
    f.caption = fmt::format(
        "Design {}: power against total sample size ({} analysis of {}, {} mode){}. {}{}",
        design_id, r.analysis, r.endpoint, r.mode,
        any_band ? ", each point from simulated trials, with a band of \u00b11.96 Monte Carlo "
                   "standard errors"
                 : "",
        std::isnan(r.recommended_n)
            ? "No n is chosen: the stored design has no recommended n (see vpgen size's output)."
        : (std::isnan(r.recommended_n_low) || std::isnan(r.recommended_n_high))
            ? "Dotted vertical line: the chosen n."
            : "Dotted vertical line: the chosen n, with its 95% interval shaded.",
        any_type1 ? " Dashed: the type I error (both arms given the control)." : "");
    f.svg = svg::render_line_chart(chart);
    doc.blocks.emplace_back(std::move(f));
  }

  Table points;
  points.id = prefix + "-points";
  points.caption = fmt::format(
      "Design {}: operating characteristics at each sample size evaluated (design_points); "
      "MCSE = Monte Carlo standard error, PET = probability of early termination under p0, "
      "EN = expected sample size under p0",
      design_id);
  points.header = {"n (all arms)",    "Replicates",
                   "Power (MCSE)",    "Type I error (MCSE)",
                   "Expected events", "Expected duration (months)",
                   "PET(p0)",         "EN(p0)"};
  const auto with_mcse = [](double v, double mcse) {
    if (std::isnan(v)) return std::string("-");
    if (std::isnan(mcse)) return fmt::format("{:.4f}", v);
    return fmt::format("{:.4f} ({:.4f})", v, mcse);
  };
  const auto plain = [](double v, std::string_view f) {
    return std::isnan(v) ? std::string("-") : fmt::format(fmt::runtime(f), v);
  };
  for (const DesignPointRecord& p : d.points)
    points.rows.push_back({fmt::format("{}", p.n_total), fmt::format("{}", p.replicates),
                           with_mcse(p.power, p.power_mcse), with_mcse(p.type1_error, p.type1_mcse),
                           plain(p.expected_events, "{:.1f}"),
                           plain(p.expected_duration_months, "{:.1f}"), plain(p.pet_p0, "{:.4f}"),
                           plain(p.expected_n_p0, "{:.1f}")});
  doc.blocks.emplace_back(std::move(points));
  doc.appendix.emplace_back(Preformatted{
      fmt::format("Design {}: the design file and every file it names, verbatim (designs."
                  "design_text)",
                  design_id),
      r.design_text});
}

// ---- Validation section ----------------------------------------------------------------------

double json_number(const nlohmann::json& o, std::string_view key, std::string_view id) {
  const auto it = o.find(key);
  if (it == o.end() || it->is_null()) return kNaN;
  if (!it->is_number())
    throw InputError(
        fmt::format("validation JSON: target '{}': '{}' is not a number or null", id, key));
  return it->get<double>();
}

std::string json_text(const nlohmann::json& o, std::string_view key) {
  const auto it = o.find(key);
  if (it == o.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

// One forest plot per comparison scale (rates, medians, hazard ratios, slopes) of the validation
// targets, each axis spanning every value of its scale (`ranges`).
void add_validation_figures(Document& doc, std::map<stats::Scale, svg::ForestChart>& charts,
                            const std::map<stats::Scale, std::pair<double, double>>& ranges,
                            double ci_level) {
  using stats::Scale;
  for (auto& [scale, chart] : charts) {
    std::string axis, key;
    switch (scale) {
      case Scale::kRatePercent:
        axis = "Rate (%)";
        key = "rates";
        break;
      case Scale::kMedianMonths:
        axis = "Median (months)";
        key = "medians";
        break;
      case Scale::kHazardRatio:
        axis = "Hazard ratio";
        key = "hazard-ratios";
        break;
      case Scale::kSlope:
        axis = "Slope of ORR (percentage points) on ln TMB";
        key = "slopes";
        break;
    }
    auto [low, high] = ranges.at(scale);
    if (scale == Scale::kRatePercent || scale == Scale::kMedianMonths) low = std::min(low, 0.0);
    if (scale == Scale::kHazardRatio) {
      low = std::min(low, 0.0);
      high = std::max(high, 1.1);  // HR = 1 inside the axis, its label clear of the edge
      chart.reference_lines.push_back({1.0, "HR = 1"});
    }
    chart.title = fmt::format("Validation: simulated against published, {}", axis);
    chart.x_label = axis;
    chart.x_ticks = svg::nice_ticks(low, high, 7);
    chart.note_title = "Within";
    chart.series = {
        {"published (interval as stated)", std::string(svg::kBlack), svg::Marker::kDiamond, false},
        {fmt::format("simulated ({:g}% CI)", 100.0 * ci_level), std::string(svg::kBlue),
         svg::Marker::kCircle, true}};
    Figure f;
    f.id = "validation-" + key;
    f.caption = fmt::format(
        "Validation, {}: each target's published value (open diamond) with its stated interval, "
        "and the simulated value (filled circle) with its {:g}% Monte Carlo CI. An arrow: a bound "
        "beyond the axis or open (a median not reached is a lower bound). Within: agreement "
        "under the target's tolerance rule (see the table).",
        axis, 100.0 * ci_level);
    f.svg = svg::render_forest_chart(chart);
    doc.blocks.emplace_back(std::move(f));
  }
}

void add_validation_section(Document& doc, const nlohmann::json& input, const std::string& source,
                            double ci_level) {
  const nlohmann::json* targets = &input;
  if (input.is_object()) {
    const auto it = input.find("targets");
    if (it == input.end())
      throw InputError(
          "validation JSON: an object without \"targets\" (expected the output of "
          "vpgen validate --format json or json-report)");
    targets = &*it;
  }
  if (!targets->is_array()) throw InputError("validation JSON: \"targets\" is not an array");
  doc.blocks.emplace_back(
      Heading{2, "Validation: simulated against published values", "validation"});
  std::size_t within = 0;
  Table table;
  table.id = "validation-targets";
  table.caption = fmt::format(
      "Validation targets{}: published figure with its interval, simulated figure with its "
      "{:g}% Monte Carlo CI, and whether they agree under the target's tolerance rule",
      source.empty() ? std::string() : fmt::format(" from {}", source), 100.0 * ci_level);
  table.header = {"Target",   "Role",      "Trial",     "Endpoint", "Arm",
                  "Subgroup", "Published", "Simulated", "Within"};
  using stats::Scale;
  std::map<Scale, svg::ForestChart> charts;
  std::map<Scale, std::pair<double, double>> ranges;
  for (const nlohmann::json& t : *targets) {
    if (!t.is_object() || !t.contains("id") || !t.contains("endpoint") ||
        !t.contains("within_tolerance") || !t["within_tolerance"].is_boolean())
      throw InputError(
          "validation JSON: every target needs \"id\", \"endpoint\" and a boolean "
          "\"within_tolerance\"");
    const std::string id = json_text(t, "id");
    const std::string endpoint = json_text(t, "endpoint");
    const auto name =
        std::find(stats::kEndpointNames.begin(), stats::kEndpointNames.end(), endpoint);
    if (name == stats::kEndpointNames.end())
      throw InputError(
          fmt::format("validation JSON: target '{}': unknown endpoint '{}'", id, endpoint));
    const Scale scale =
        stats::scale_of(static_cast<stats::Endpoint>(name - stats::kEndpointNames.begin()));
    const bool ok = t["within_tolerance"].get<bool>();
    within += ok ? 1 : 0;

    std::string endpoint_label = endpoint;
    if (t.contains("from_months"))
      endpoint_label += fmt::format(" {:g}\u2192{:g} mo", json_number(t, "from_months", id),
                                    json_number(t, "months", id));
    else if (t.contains("months"))
      endpoint_label += fmt::format(" {:g} mo", json_number(t, "months", id));
    std::string arm = json_text(t, "arm");
    if (t.contains("reference_arm")) arm += " vs " + json_text(t, "reference_arm");
    std::string trial = json_text(t, "source");
    trial = trial.substr(0, trial.find(" | "));
    std::string published = json_text(t, "published_text");
    if (published.empty()) published = number_text(json_number(t, "published", id));
    const std::string published_ci = json_text(t, "published_ci_text");
    if (!published_ci.empty()) {
      published += " " + published_ci;
      const std::string kind = json_text(t, "published_interval");
      if (!kind.empty() && kind != "95% CI") published += " (" + kind + ")";
    }
    std::string simulated = json_text(t, "simulated_text");
    if (simulated.empty())
      simulated = fmt::format("{} [{}, {}]", number_text(json_number(t, "simulated", id)),
                              number_text(json_number(t, "sim_ci_low", id)),
                              number_text(json_number(t, "sim_ci_high", id)));
    table.rows.push_back({id, json_text(t, "role"), trial, endpoint_label, arm,
                          json_text(t, "subgroup"), published, simulated, ok ? "yes" : "NO"});

    // Published lower bounds ("NR", ">x") and an open upper limit run to the axis edge.
    svg::PointInterval pub{json_number(t, "published", id), json_number(t, "published_ci_low", id),
                           json_number(t, "published_ci_high", id)};
    const bool lower_bound = t.value("published_is_lower_bound", false);
    if (lower_bound) {
      if (std::isnan(pub.low)) pub.low = pub.estimate;
      pub.high = std::numeric_limits<double>::infinity();
    } else if (!std::isnan(pub.low) && std::isnan(pub.high)) {
      pub.high = std::numeric_limits<double>::infinity();
    }
    if (std::isnan(pub.estimate) && !std::isnan(pub.low) && std::isfinite(pub.high))
      pub.estimate = (pub.low + pub.high) / 2.0;  // a range without a point: its midpoint
    svg::PointInterval sim{json_number(t, "simulated", id), json_number(t, "sim_ci_low", id),
                           json_number(t, "sim_ci_high", id)};
    auto& range = ranges
                      .try_emplace(scale, std::numeric_limits<double>::infinity(),
                                   -std::numeric_limits<double>::infinity())
                      .first->second;
    for (const double v : {pub.estimate, pub.low, pub.high, sim.estimate, sim.low, sim.high})
      if (std::isfinite(v)) {
        range.first = std::min(range.first, v);
        range.second = std::max(range.second, v);
      }
    svg::ForestRow row;
    row.label = fmt::format("{} {} {}", id, endpoint_label, arm);
    row.points = {pub, sim};
    row.note = ok ? "yes" : "NO";
    if (t.value("simulated_not_reached", false)) row.note += " (sim. NR)";
    charts[scale].rows.push_back(std::move(row));
  }
  doc.blocks.emplace_back(
      Paragraph{fmt::format("{} of {} targets within tolerance.{}", within, targets->size(),
                            source.empty() ? std::string() : fmt::format(" Source: {}.", source))});

  add_validation_figures(doc, charts, ranges, ci_level);
  doc.blocks.emplace_back(std::move(table));
}

// ---- HTML ------------------------------------------------------------------------------------

constexpr std::string_view kCss = R"css(
body { font-family: sans-serif; font-size: 14px; line-height: 1.4; color: #000; background: #fff;
       max-width: 1000px; margin: 0 auto; padding: 16px; }
h1 { font-size: 22px; }
h2 { font-size: 18px; border-bottom: 1px solid #999; margin-top: 32px; }
table { border-collapse: collapse; margin: 8px 0 20px; font-size: 13px; }
caption { text-align: left; padding: 4px 0; caption-side: top; }
th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: left; vertical-align: top; }
thead th { background: #eee; }
figure { margin: 20px 0; page-break-inside: avoid; break-inside: avoid; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 13px; margin-top: 4px; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 11px; background: #f6f6f6;
      padding: 8px; border: 1px solid #ddd; }
.warning { border: 2px solid #D55E00; padding: 8px; font-weight: bold; }
@page { margin: 15mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  table, figure { page-break-inside: avoid; break-inside: avoid; }
  thead th, pre { background: none; }
  thead { display: table-header-group; }
}
)css";

// The inline form of a chart: the xmlns attribute is implied inside HTML.
std::string inline_svg(const std::string& svg) {
  constexpr std::string_view kNamespace = " xmlns=\"http://www.w3.org/2000/svg\"";
  std::string out = svg;
  const std::size_t at = out.find(kNamespace);
  if (at != std::string::npos) out.erase(at, kNamespace.size());
  return out;
}

std::string to_html(const Document& doc) {
  using svg::escape_xml;
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += fmt::format("<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n",
                     escape_xml(doc.title), kCss);
  out += fmt::format("<h1>{}</h1>\n", escape_xml(doc.title));
  int table_number = 0, figure_number = 0;
  for (const Block& block : doc.blocks) {
    if (const auto* h = std::get_if<Heading>(&block)) {
      out += fmt::format("<h{0} id=\"{1}\">{2}</h{0}>\n", h->level, escape_xml(h->id),
                         escape_xml(h->text));
    } else if (const auto* p = std::get_if<Paragraph>(&block)) {
      out +=
          fmt::format("<p{}>{}</p>\n", p->warning ? " class=\"warning\"" : "", escape_xml(p->text));
    } else if (const auto* t = std::get_if<Table>(&block)) {
      out += fmt::format("<table id=\"{}\">\n<caption><b>Table {}.</b> {}</caption>\n<thead><tr>",
                         escape_xml(t->id), ++table_number, escape_xml(t->caption));
      for (const std::string& name : t->header) out += "<th>" + escape_xml(name) + "</th>";
      out += "</tr></thead>\n<tbody>\n";
      for (const auto& row : t->rows) {
        out += "<tr>";
        for (std::size_t c = 0; c < row.size(); ++c)
          out += (c == 0 ? "<th scope=\"row\">" : "<td>") + escape_xml(row[c]) +
                 (c == 0 ? "</th>" : "</td>");
        out += "</tr>\n";
      }
      out += "</tbody>\n</table>\n";
    } else if (const auto* f = std::get_if<Figure>(&block)) {
      out += fmt::format(
          "<figure id=\"{}\">\n{}<figcaption><b>Figure {}.</b> {}</figcaption>\n"
          "</figure>\n",
          escape_xml(f->id), inline_svg(f->svg), ++figure_number, escape_xml(f->caption));
    } else if (const auto* pre = std::get_if<Preformatted>(&block)) {
      out += fmt::format("<p><b>{}</b></p>\n<pre>{}</pre>\n", escape_xml(pre->caption),
                         escape_xml(pre->text));
    }
  }
  out += fmt::format(
      "<p>Rendered by vpgen {} from the results database; the same database "
      "renders to the same file.</p>\n",
      escape_xml(build_info().vpgen_version));
  out += "</body>\n</html>\n";
  return out;
}

// ---- Markdown --------------------------------------------------------------------------------

// Text that Markdown shows as written, on one line (table cells, captions).
std::string markdown_text(std::string_view text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '\\':
      case '|':
      case '*':
      case '_':
      case '`':
      case '[':
      case ']':
      case '<':
        out += '\\';
        out += c;
        break;
      case '\n':
      case '\r': out += ' '; break;
      default: out += c;
    }
  }
  return out;
}

std::string to_markdown(const Document& doc, std::string_view prefix,
                        std::vector<ReportFile>& figures) {
  std::string out = "# " + markdown_text(doc.title) + "\n";
  int table_number = 0, figure_number = 0;
  for (const Block& block : doc.blocks) {
    out += '\n';
    if (const auto* h = std::get_if<Heading>(&block)) {
      out += std::string(static_cast<std::size_t>(h->level), '#') + " " + markdown_text(h->text) +
             "\n";
    } else if (const auto* p = std::get_if<Paragraph>(&block)) {
      out += (p->warning ? "> **" + markdown_text(p->text) + "**" : markdown_text(p->text)) + "\n";
    } else if (const auto* t = std::get_if<Table>(&block)) {
      out += fmt::format("**Table {}.** {}\n\n", ++table_number, markdown_text(t->caption));
      out += "|";
      for (const std::string& name : t->header) {
        out += ' ';
        out += markdown_text(name);
        out += " |";
      }
      out += "\n|";
      for (std::size_t c = 0; c < t->header.size(); ++c) out += "---|";
      out += "\n";
      for (const auto& row : t->rows) {
        out += "|";
        for (const std::string& cell : row) {
          out += ' ';
          out += markdown_text(cell);
          out += " |";
        }
        out += "\n";
      }
    } else if (const auto* f = std::get_if<Figure>(&block)) {
      const std::string name = fmt::format("{}-{}.svg", prefix, f->id);
      figures.push_back({name, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + f->svg});
      ++figure_number;
      out += fmt::format("![Figure {}]({})\n\n**Figure {}.** {}\n", figure_number, name,
                         figure_number, markdown_text(f->caption));
    } else if (const auto* pre = std::get_if<Preformatted>(&block)) {
      // A fence longer than any run of backticks in the text.
      std::size_t longest = 0, run = 0;
      for (const char c : pre->text) {
        run = c == '`' ? run + 1 : 0;
        longest = std::max(longest, run);
      }
      const std::string fence(std::max<std::size_t>(3, longest + 1), '`');
      out += "**" + markdown_text(pre->caption) + "**\n\n" + fence + "text\n" + pre->text;
      if (!pre->text.empty() && pre->text.back() != '\n') out += '\n';
      out += fence + "\n";
    }
  }
  out += fmt::format("\nRendered by vpgen {} from the results database.\n",
                     markdown_text(build_info().vpgen_version));
  return out;
}

Document build_document(ResultStore& store, const ReportRequest& request) {
  Document doc;
  doc.title = "vpgen report";
  for (const std::int64_t id : request.run_ids) {
    // run_info counts the stored patients (a scan of the run's rows): read it once per run.
    const RunInfo info = add_run_section(doc, store, request, id);
    if (request.run_ids.size() == 1 && request.design_ids.empty() && !request.validation)
      doc.title =
          fmt::format("vpgen report: run {}, scenario {}", info.id, info.provenance.scenario_name);
  }
  for (const std::int64_t id : request.design_ids) add_design_section(doc, store, id);
  if (request.validation)
    add_validation_section(doc, *request.validation, request.validation_source, request.ci_level);
  if (!doc.appendix.empty()) {
    doc.blocks.emplace_back(Heading{2, "Appendix: the input files, verbatim", "appendix"});
    for (Block& block : doc.appendix) doc.blocks.push_back(std::move(block));
    doc.appendix.clear();
  }
  return doc;
}

}  // namespace

ReportFormat parse_report_format(std::string_view name) {
  if (name == "html") return ReportFormat::kHtml;
  if (name == "md") return ReportFormat::kMarkdown;
  if (name == "json") return ReportFormat::kJson;
  if (name == "text") return ReportFormat::kText;
  throw InputError(fmt::format("--format {}: expected html, md, json or text", name));
}

RenderedReport render_report(ResultStore& store, const ReportRequest& request, ReportFormat format,
                             std::string_view figure_prefix) {
  if (!(request.ci_level > 0.0 && request.ci_level < 1.0))
    throw InputError(fmt::format("confidence level {} is not in (0, 1)", request.ci_level));
  // Every table and figure from one state of a file being written.
  const ReadSnapshot snapshot(store);
  RenderedReport out;
  if (format == ReportFormat::kJson || format == ReportFormat::kText) {
    if (request.run_ids.size() != 1 || !request.design_ids.empty() || request.validation)
      throw InputError(fmt::format("--format {} covers exactly one run (no designs, no validation)",
                                   format == ReportFormat::kJson ? "json" : "text"));
    const RunReport report = build_report(store, request.run_ids.front(), request.ci_level);
    out.document =
        format == ReportFormat::kJson ? report_json(report).dump(2) + "\n" : report_text(report);
    return out;
  }
  // Figure and table ids name their run or design, so each may appear once.
  for (const auto* ids : {&request.run_ids, &request.design_ids})
    for (std::size_t i = 0; i < ids->size(); ++i)
      if (std::find(ids->begin(), ids->begin() + static_cast<std::ptrdiff_t>(i), (*ids)[i]) !=
          ids->begin() + static_cast<std::ptrdiff_t>(i))
        throw InputError(fmt::format("{} {} is requested twice",
                                     ids == &request.run_ids ? "run" : "design", (*ids)[i]));
  if (request.run_ids.empty() && request.design_ids.empty() && !request.validation)
    throw InputError("a report needs a run, a design or validation results");
  const Document doc = build_document(store, request);
  if (format == ReportFormat::kHtml) out.document = to_html(doc);
  else out.document = to_markdown(doc, figure_prefix, out.figures);
  return out;
}

void write_report(ResultStore& store, const ReportRequest& request, ReportFormat format,
                  const std::string& out_path) {
  const fs::path target(out_path);
  if (target.filename().empty())
    throw InputError(fmt::format("--out {}: names a directory, not a file", out_path));
  const fs::path directory = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(directory, ec))
    throw InputError(
        fmt::format("--out {}: directory {} does not exist", out_path, directory.string()));
  const RenderedReport rendered = render_report(store, request, format, target.stem().string());

  // Everything is written beside its final name first (temporaries created exclusively, never
  // through a link planted in the folder); the document is renamed last, so a reader who sees it
  // also sees its figures. All files or none.
  std::vector<std::pair<fs::path, std::string>> files;
  files.reserve(rendered.figures.size() + 1);
  for (const ReportFile& f : rendered.figures) files.emplace_back(directory / f.name, f.content);
  files.emplace_back(target, rendered.document);
  write_files_atomic(files);
}

}  // namespace vpgen
