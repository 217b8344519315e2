// `vpgen report`: the per-arm summary of a run as text or JSON, or a document (HTML, Markdown)
// that can add stored designs and a validation output.
#include "command.hpp"

#include "vpgen/common/printable.hpp"
#include "vpgen/common/safe_file.hpp"
#include "vpgen/population/error.hpp"
#include "vpgen/report/report_data.hpp"
#include "vpgen/report/report_html.hpp"
#include "vpgen/storage/result_store.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace vpgen::cli {
namespace {

// The `vpgen validate --format json` output named by --validation, into `request`.
void read_validation(const std::string& path, ReportRequest& request) {
  // A regular file of at most kMaxInputFileBytes, as every input.
  const std::string text = read_input_file(path);
  try {
    request.validation = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(fmt::format("--validation {}: not JSON: {}", path, e.what()));
  }
  request.validation_source = std::filesystem::path(path).filename().string();
}

class ReportCommand final : public Command {
 public:
  int run(const Invocation&) override {
    ResultStore store(db_, ResultStore::Access::kReadOnly);
    const ReadSnapshot snapshot(store);  // everything this command reads, from one state
    ReportRequest request;
    request.run_ids = {run_or_latest(store, db_, run_)};
    request.design_ids = all_designs_ ? list_design_ids(store) : designs_;
    if (!validation_.empty()) read_validation(validation_, request);
    const ReportFormat format = parse_report_format(format_);
    if (out_.empty()) {
      if (format == ReportFormat::kMarkdown)
        throw InputError("--format md needs --out PATH (its plots are written beside it)");
      const std::string document = render_report(store, request, format, "").document;
      fmt::print("{}", format == ReportFormat::kText ? printable_lines(document) : document);
    } else {
      write_report(store, request, format, out_);
    }
    return kExitSuccess;
  }

 private:
  CLI::App* define(CLI::App& app) override {
    CLI::App* cmd = app.add_subcommand(
        "report", "Per-arm summary of a run: ORR, CR, DCR, irAE, durable CR, PFS, OS with 95% CIs");
    add_db_option(*cmd, db_);
    cmd->add_option("--run", run_, "Run id (default: the latest run)");
    cmd->add_option("--format", format_,
                    "text, json, html (one self-contained file: tables, Kaplan-Meier, waterfall, "
                    "swimmer and forest plots) or md (Markdown; its plots as SVG files beside it)")
        ->check(CLI::IsMember({"text", "json", "html", "md"}));
    cmd->add_option("--out", out_,
                    "Write to this file, complete or not at all (md needs it; else stdout)");
    cmd->add_option("--design", designs_,
                    "html/md: also render stored design ID (vpgen size --db); repeatable");
    cmd->add_flag("--all-designs", all_designs_, "html/md: render every stored design");
    cmd->add_option("--validation", validation_,
                    "html/md: also render this `vpgen validate --format json` output");
    return cmd;
  }

  std::string db_;
  std::optional<std::int64_t> run_;
  std::string format_ = "text";
  std::string out_;
  std::string validation_;
  std::vector<std::int64_t> designs_;
  bool all_designs_ = false;
};

}  // namespace

std::unique_ptr<Command> make_report_command() { return std::make_unique<ReportCommand>(); }

}  // namespace vpgen::cli
