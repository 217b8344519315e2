// `vpgen report --format html|md|json|text --out PATH`: a stored run rendered as a document. HTML
// is one self-contained file (inline SVG, no scripts, no external resources, print CSS); Markdown
// has the same tables and writes each plot as an SVG file beside it; JSON and text are
// report_json and report_text. Per run: the
// scenario and its provenance, the per-arm tables (build_report's figures), Kaplan-Meier curves of
// OS and PFS with bands and numbers at risk, a waterfall and a swimmer plot of the first patients
// of each arm, and a forest plot of ORR by subgroup; per stored design, the power curve; and,
// given `vpgen validate` JSON, simulated against published values. Statistics come from SQL over
// the derived tables and key-range reads, never from loading the cohort. The same database and
// request give byte-identical output. Functions over a ResultStore the caller owns; not
// thread-safe beyond ResultStore's own rules.
#pragma once

#include "vpgen/report/report.hpp"
#include "vpgen/storage/result_store.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpgen {

enum class ReportFormat : std::uint8_t { kHtml, kMarkdown, kJson, kText };

// "html", "md", "json" or "text". Throws InputError otherwise.
ReportFormat parse_report_format(std::string_view name);

// How many patients the per-patient plots draw: the first ones of each arm by patient index, a
// deterministic sample that a key-range read fetches whatever the cohort size.
inline constexpr std::uint64_t kWaterfallPatients = 300;
inline constexpr std::uint64_t kSwimmerPatients = 25;

struct ReportRequest {
  std::vector<std::int64_t> run_ids;     // one section per run, in this order
  std::vector<std::int64_t> design_ids;  // one section per stored design (`vpgen size --db`)
  // The output of `vpgen validate --format json` (an array of targets) or `--format json-report`
  // (an object with "targets"); rendered as a section when set.
  std::optional<nlohmann::json> validation;
  std::string validation_source;  // shown in that section, e.g. the file name
  std::uint64_t waterfall_patients = kWaterfallPatients;
  std::uint64_t swimmer_patients = kSwimmerPatients;
  double ci_level = kReportCiLevel;
};

struct ReportFile {
  std::string name;  // file name, no directory
  std::string content;
};

struct RenderedReport {
  std::string document;             // the HTML, Markdown or JSON text
  std::vector<ReportFile> figures;  // Markdown: the SVG files the document links to
};

// Renders the request. Markdown figures are named "<figure_prefix>-<figure id>.svg" (e.g.
// "report-r1-km-os.svg"). JSON and text cover exactly one run and nothing else (report_json,
// report_text). Throws InputError for an unknown or repeated run or design, JSON or text for
// other than one run, or validation JSON of another shape; StorageError on a database failure.
RenderedReport render_report(ResultStore& store, const ReportRequest& request, ReportFormat format,
                             std::string_view figure_prefix);

// Renders and writes to `out_path` (Markdown: its SVG files beside it, named after its stem).
// Every file is written to a temporary NAME.<random>.partial created exclusively in the folder
// (never through a symlink planted there; vpgen/common/safe_file.hpp) and renamed when all are
// complete; on any failure the temporaries are removed and no output file is left (an existing
// file of the same name is replaced only on success). Throws InputError if the directory cannot
// be written or a target cannot be replaced, the errors of render_report, and Error on a write
// failure.
void write_report(ResultStore& store, const ReportRequest& request, ReportFormat format,
                  const std::string& out_path);

}  // namespace vpgen
