// index.html of `vpgen batch`: one self-contained page (inline CSS, no scripts, no external
// resources) rendered from the batch summary alone, so it says exactly what summary.json says.
#include "vpgen/batch/batch.hpp"
#include "batch_internal.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <string>

namespace vpgen::batch {

namespace {

using nlohmann::json;

std::string text_of(const json& j, std::string_view key, std::string_view missing = "") {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::string(missing);
  return it->is_string() ? it->get<std::string>() : it->dump();
}

double number_of(const json& j, std::string_view key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>()
                                          : std::numeric_limits<double>::quiet_NaN();
}

// "44.8% (40.1-49.5)" for a proportion figure, "30.0 (25.1-35.0)" with `scale` 1 and `digits` 1.
std::string figure_text(const json& figure, double scale, int digits, std::string_view unit) {
  if (!figure.is_object()) return "-";
  const double estimate = number_of(figure, "estimate");
  if (std::isnan(estimate)) return "-";
  auto fixed = [&](double v) {
    return std::isnan(v) ? std::string("NR") : fmt::format("{:.{}f}", v * scale, digits);
  };
  std::string text = fixed(estimate) + std::string(unit);
  if (figure.contains("ci_low") || figure.contains("ci_high"))
    text += fmt::format(" ({}-{})", fixed(number_of(figure, "ci_low")),
                        fixed(number_of(figure, "ci_high")));
  else if (figure.contains("mcse") && !std::isnan(number_of(figure, "mcse")))
    text += fmt::format(" (MCSE {:.{}f})", number_of(figure, "mcse") * scale, digits);
  else if (figure.contains("se") && !std::isnan(number_of(figure, "se")))
    text += fmt::format(" (SE {:.{}f})", number_of(figure, "se") * scale, digits);
  return text;
}

// A difference's value: a figure as estimate and interval, anything else as JSON.
std::string value_text(const json& v) {
  if (v.is_object() && v.contains("estimate")) {
    std::string text = text_of(v, "estimate", "null");
    if (v.contains("ci_low") || v.contains("ci_high"))
      text += fmt::format(" [{}, {}]", text_of(v, "ci_low", "null"), text_of(v, "ci_high", "null"));
    for (const char* key : {"se", "mcse"})
      if (v.contains(key)) text += fmt::format(" ({} {})", key, text_of(v, key, "null"));
    return text;
  }
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string key_figures(const json& job) {
  const json& figures = job.at("figures");
  if (!figures.is_object()) return "";
  const std::string kind = job.at("kind");
  std::string html;
  if (kind == "scenario") {
    for (const json& arm : figures.at("arms"))
      html += fmt::format("<div><b>{}</b> (n {}): ORR {}; median PFS {}; median OS {}</div>",
                          escape_html(text_of(arm, "arm")), text_of(arm, "n"),
                          figure_text(arm.value("orr", json()), 100.0, 1, "%"),
                          figure_text(arm.value("median_pfs_months", json()), 1.0, 1, " mo"),
                          figure_text(arm.value("median_os_months", json()), 1.0, 1, " mo"));
  } else if (kind == "design") {
    const double target = number_of(figures, "target_power");
    if (figures.contains("n_star") && figures.at("n_star").is_object()) {
      html += fmt::format(
          "<div>n* = {} for power {:g}{}</div>", figure_text(figures.at("n_star"), 1.0, 0, ""),
          target, figures.at("n_star").value("extrapolated", false) ? " (extrapolated)" : "");
    } else if (figures.contains("simon")) {
      const json& s = figures.at("simon");
      html += fmt::format("<div>Simon: n1 = {}, r1 = {}, n = {}, r = {}</div>", text_of(s, "n1"),
                          text_of(s, "r1"), text_of(s, "n"), text_of(s, "r"));
    } else {
      html += fmt::format("<div>no n*: {}</div>", escape_html(text_of(figures, "fit_note", "-")));
    }
    std::string powers;
    for (const json& p : figures.at("points"))
      powers += fmt::format("{}n {}: {}", powers.empty() ? "" : "; ", text_of(p, "n"),
                            figure_text(p.value("power", json()), 1.0, 3, ""));
    html += fmt::format("<div class=\"small\">power: {}</div>", powers);
  } else if (kind == "validation") {
    const json& s = figures.at("summary");
    auto role = [&](const char* name) {
      const json& r = s.at(name);
      return fmt::format("{}/{}", text_of(r, "within"), text_of(r, "targets"));
    };
    html += fmt::format("<div>within tolerance: {} (fit {}, holdout {})</div>", role("overall"),
                        role("fit"), role("holdout"));
  }
  return html;
}

std::string verdict_label(const std::string& verdict) {
  if (verdict == "identical") return "identical";
  if (verdict == "changed_unexpectedly") return "CHANGED UNEXPECTEDLY";
  if (verdict == "changed_within_mc_error") return "changed, within Monte Carlo error";
  if (verdict == "changed_beyond_mc_error") return "changed beyond Monte Carlo error";
  if (verdict == "new") return "new job";
  return "not compared";
}

std::string verdict_class(const std::string& verdict) {
  if (verdict == "changed_unexpectedly") return "bad";
  if (verdict == "changed_beyond_mc_error") return "warn";
  if (verdict == "identical" || verdict == "changed_within_mc_error") return "good";
  return "muted";
}

std::string comparison_cell(const json& job, std::size_t index) {
  const json& c = job.at("comparison");
  const std::string verdict = c.at("verdict");
  std::string html =
      fmt::format("<span class=\"{}\">{}</span>", verdict_class(verdict), verdict_label(verdict));
  if (c.contains("figures_changed") && verdict != "identical" && verdict != "not_compared")
    html += fmt::format(
        "<div class=\"small\">{} of {} figures changed, {} tested; <a "
        "href=\"#diff-{}\">{} listed</a></div>",
        text_of(c, "figures_changed"), text_of(c, "figures_compared"),
        text_of(c, "figures_tested", "0"), index, c.at("differences").size());
  if (c.contains("reasons") && !c.at("reasons").empty()) {
    std::string reasons;
    for (const json& r : c.at("reasons"))
      reasons += (reasons.empty() ? "" : "; ") + escape_html(r.get<std::string>());
    html += fmt::format("<div class=\"small\">because: {}</div>", reasons);
  }
  if (c.contains("note"))
    html += fmt::format("<div class=\"small\">{}</div>", escape_html(text_of(c, "note")));
  return html;
}

constexpr std::string_view kStyle = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 2em auto; max-width: 78em; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left;
         vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.banner { padding: 0.6em 1em; border-radius: 4px; font-weight: 600; }
.banner.good { background: #e3f4ea; } .banner.bad { background: #fbe4e0; }
.banner.warn { background: #fdf1d8; }
.good { color: #00704a; } .bad { color: #b0300b; font-weight: 600; } .warn { color: #8a5a00; }
.muted { color: #666; }
.small { font-size: 0.85em; color: #444; }
.error { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.85em;
         color: #b0300b; white-space: pre-wrap; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9em; }
@media print { a { color: inherit; text-decoration: none; } .banner { border: 1px solid #999; } }
)";

// The page in sections, top to bottom; each returns its HTML.

// One sentence under the title: whether every job ran and whether a figure changed.
std::string banner_html(const json& summary) {
  const json& jobs = summary.at("jobs");
  const json& counts = summary.at("counts");
  const int exit_code = summary.at("exit_code");
  const std::size_t failed = counts.at("failed");
  const std::size_t unexpected = counts.at("comparison").at("changed_unexpectedly");
  const std::size_t beyond = counts.at("comparison").at("changed_beyond_mc_error");
  std::string banner;
  if (failed > 0)
    banner = fmt::format("<p class=\"banner bad\">{} of {} jobs FAILED (exit {}).", failed,
                         jobs.size(), exit_code);
  else if (unexpected > 0)
    banner = fmt::format(
        "<p class=\"banner bad\">All {} jobs ran, but {} changed unexpectedly: "
        "same inputs, seed and build, different figures (exit {}).",
        jobs.size(), unexpected, exit_code);
  else
    banner = fmt::format(
        "<p class=\"banner good\">All {} jobs ran; no figure changed "
        "unexpectedly (exit {}).",
        jobs.size(), exit_code);
  if (failed > 0 && unexpected > 0)
    banner +=
        fmt::format(" {} job{} changed unexpectedly.", unexpected, unexpected == 1 ? "" : "s");
  if (beyond > 0)
    banner += fmt::format(
        " {} job{} changed beyond Monte Carlo error after an input or build "
        "change.",
        beyond, beyond == 1 ? "" : "s");
  return banner + "</p>\n";
}

// When, where, which build and nightly file, and what tonight was compared with.
std::string overview_html(const json& summary) {
  const json& batch = summary.at("batch");
  const json& build = batch.at("build");
  std::string html = "<table>\n";
  auto row = [&](std::string_view name, const std::string& value) {
    html += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", name, value);
  };
  row("Started / finished (UTC)", escape_html(text_of(batch, "started_at")) + " / " +
                                      escape_html(text_of(batch, "finished_at")));
  row("Wall time", fmt::format("{:.1f} s", number_of(batch, "wall_seconds")));
  row("Host", escape_html(text_of(batch, "host")));
  row("Build", escape_html(fmt::format(
                   "vpgen {}, commit {}, {}, Boost {}, oneTBB {}, RNG scheme {}",
                   text_of(build, "vpgen_version"), text_of(build, "git_commit", "unknown"),
                   text_of(build, "compiler"), text_of(build, "boost_version"),
                   text_of(build, "tbb_version"), text_of(build, "rng_scheme"))));
  if (!batch.value("build_identified", true))
    row("Build note",
        "<span class=\"warn\">the commit is unknown or has local changes "
        "(-dirty): two such builds cannot be told apart</span>");
  row("Threads", text_of(batch, "threads"));
  row("Nightly file",
      fmt::format("<code>{}</code> (hash {})", escape_html(text_of(batch, "nightly_file")),
                  escape_html(text_of(batch, "nightly_hash"))));
  const json& previous = summary.at("previous");
  if (previous.is_null()) {
    row("Compared with", "nothing (no previous summary)");
  } else if (previous.contains("error")) {
    row("Compared with", fmt::format("<span class=\"warn\">nothing: {}</span>",
                                     escape_html(text_of(previous, "error"))));
  } else {
    const json& pb = previous.at("build");
    row("Compared with", fmt::format("<code>{}</code>, batch of {} (vpgen {}, commit {})",
                                     escape_html(text_of(previous, "file")),
                                     escape_html(text_of(previous, "started_at")),
                                     escape_html(text_of(pb, "vpgen_version")),
                                     escape_html(text_of(pb, "git_commit", "unknown"))));
  }
  if (summary.contains("comparison") && !previous.is_null() && !previous.contains("error")) {
    const json& night = summary.at("comparison");
    row("Multiplicity",
        fmt::format("{} figures tested after a change, {} listed: Holm step-down, family-wise "
                    "alpha {:g}",
                    text_of(night, "figures_tested"), text_of(night, "figures_listed"),
                    number_of(night, "family_alpha")));
  }
  return html + "</table>\n";
}

// One row per job: status, key figures, comparison, report link.
std::string jobs_html(const json& jobs) {
  std::string html =
      "<h2>Jobs</h2>\n<table>\n<tr><th>#</th><th>Job</th><th>Kind</th><th>Status</th>"
      "<th>Key figures</th><th>Compared with the previous night</th><th>Report</th>"
      "<th>Wall s</th></tr>\n";
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const json& job = jobs[i];
    const bool ok = job.at("status") == "ok";
    std::string status =
        ok ? "<span class=\"good\">ok</span>" : "<span class=\"bad\">failed</span>";
    if (!ok)
      status += fmt::format("<div class=\"error\">{}</div>", escape_html(text_of(job, "error")));
    const std::string report = job.at("report").is_string()
                                   ? fmt::format("<a href=\"{0}\">{0}</a>",
                                                 escape_html(job.at("report").get<std::string>()))
                                   : std::string("-");
    html += fmt::format(
        "<tr><td class=\"num\">{}</td><td><b>{}</b><div class=\"small\"><code>{}</code> seed {}"
        "</div></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td class=\"num\">{:.1f}</td></tr>\n",
        i + 1, escape_html(text_of(job, "name")), escape_html(text_of(job, "file")),
        escape_html(text_of(job, "seed", "(each file's)")), escape_html(text_of(job, "kind")),
        status, key_figures(job), comparison_cell(job, i + 1), report,
        number_of(job, "wall_seconds"));
  }
  return html + "</table>\n";
}

// The listed differences of one job (c: its "comparison"), a table.
std::string differences_table_html(const json& c) {
  auto number_cell = [](const json& d, std::string_view key, std::string_view format) {
    const double v = number_of(d, key);
    return std::isnan(v) ? std::string() : fmt::format(fmt::runtime(format), v);
  };
  std::string html =
      "<table>\n<tr><th>Figure</th><th>Change</th><th>Previous</th><th>Current</th>"
      "<th>Difference</th><th>z</th><th>p</th><th>Holm p</th></tr>\n";
  for (const json& d : c.at("differences")) {
    const std::string what = d.contains("figure") ? text_of(d, "figure") : text_of(d, "value");
    html += fmt::format(
        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}"
        "</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
        "</tr>\n",
        escape_html(what), escape_html(text_of(d, "change")),
        escape_html(value_text(d.value("previous", json()))),
        escape_html(value_text(d.value("current", json()))),
        escape_html(text_of(d, "difference", "")), number_cell(d, "z", "{:.2f}"),
        number_cell(d, "p", "{:.3g}"), number_cell(d, "p_holm", "{:.3g}"));
  }
  return html + "</table>\n";
}

// The changes of one job (c: its "comparison") that were not tested, one paragraph.
std::string untested_changes_html(const json& c) {
  std::string items;
  for (const json& u : c.at("untested_changes")) {
    const std::string what = u.contains("figure") ? text_of(u, "figure") : text_of(u, "value");
    items += fmt::format("{}<code>{}</code> {}: {} -&gt; {}", items.empty() ? "" : "; ",
                         escape_html(what), escape_html(text_of(u, "change")),
                         escape_html(value_text(u.value("previous", json()))),
                         escape_html(value_text(u.value("current", json()))));
  }
  return fmt::format(
      "<p class=\"small\">Changed but not tested, not listed (a figure "
      "defined on one night only, at the edge of follow-up; a verdict that "
      "follows a tested value): {}</p>\n",
      items);
}

// A section per job with a difference, under one heading that states the rules; empty when no
// job has one.
std::string differences_html(const json& summary) {
  const json& jobs = summary.at("jobs");
  std::string html;
  bool heading = false;
  const json night = summary.value("comparison", json::object());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const json& c = jobs[i].at("comparison");
    const bool listed = c.contains("differences") && !c.at("differences").empty();
    const bool untested = c.contains("untested_changes") && !c.at("untested_changes").empty();
    if (!listed && !untested) continue;
    if (!heading) {
      html += fmt::format(
          "<h2>Differences from the previous night</h2>\n<p class=\"small\">With the same "
          "inputs, seed and build every value must be identical and every difference is listed. "
          "Otherwise each figure is a test, z = |current - previous| / "
          "sqrt(se<sub>prev</sub><sup>2</sup> + se<sub>cur</sub><sup>2</sup>) (se the standard "
          "error, or the 95% interval's half-width / 1.96), p two-sided, and a figure is listed "
          "when its Holm-adjusted p over all {} figures tested tonight is at most {:g}: after a "
          "change that moves nothing, nothing is listed with probability at least {:g}% "
          "(docs/BATCH.md).</p>\n",
          text_of(night, "figures_tested", "?"), number_of(night, "family_alpha"),
          100.0 * (1.0 - number_of(night, "family_alpha")));
      heading = true;
    }
    html += fmt::format("<h3 id=\"diff-{}\">{} {}: {}</h3>\n", i + 1,
                        escape_html(text_of(jobs[i], "kind")),
                        escape_html(text_of(jobs[i], "name")), verdict_label(c.at("verdict")));
    if (listed) html += differences_table_html(c);
    if (untested) html += untested_changes_html(c);
  }
  return html;
}

}  // namespace

std::string render_index(const json& summary) {
  const json& batch = summary.at("batch");
  std::string html;
  html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += fmt::format("<title>vpgen batch {} - {}</title>\n", escape_html(text_of(batch, "name")),
                      escape_html(text_of(batch, "started_at")));
  html += fmt::format("<style>{}</style>\n</head>\n<body>\n", kStyle);
  html += fmt::format("<h1>vpgen batch: {}</h1>\n", escape_html(text_of(batch, "name")));
  html += banner_html(summary);
  html += overview_html(summary);
  html += jobs_html(summary.at("jobs"));
  html += differences_html(summary);

  const json& previous = summary.at("previous");
  if (previous.is_object() && previous.contains("jobs_not_run_tonight") &&
      !previous.at("jobs_not_run_tonight").empty()) {
    std::string names;
    for (const json& n : previous.at("jobs_not_run_tonight"))
      names += (names.empty() ? "" : ", ") + escape_html(n.get<std::string>());
    html += fmt::format("<p class=\"small\">Jobs of the previous night not run tonight: {}</p>\n",
                        names);
  }
  html +=
      "<p class=\"small\">Machine-readable: <a href=\"summary.json\">summary.json</a>; log: "
      "<a href=\"batch.log\">batch.log</a>; every run and design: <code>results.db</code>."
      "</p>\n</body>\n</html>\n";
  return html;
}

}  // namespace vpgen::batch
