// `vpgen validate`: run the trial scenarios a target mapping names and compare each mapped endpoint
// with its published value (exit 0 even when targets miss).
#include "command.hpp"
#include "progress_meter.hpp"

#include "vpgen/common/printable.hpp"
#include "vpgen/config/data_path.hpp"
#include "vpgen/validation/validate.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <optional>
#include <string>

namespace vpgen::cli {
namespace {

namespace v = validation;

class ValidateCommand final : public Command {
 public:
  int run(const Invocation&) override {
    const v::Mapping mapping = v::load_mapping(config::find_data_file(targets_));
    v::ValidationOptions options;
    options.patients = patients_;
    options.seed = seed_;
    options.threads = threads_;
    if (role_ == "fit") options.role = v::Role::kFit;
    else if (role_ == "holdout") options.role = v::Role::kHoldout;
    // One progress line per scenario, as `simulate` shows it, led by the scenario's name.
    std::optional<ProgressMeter> meter;
    std::size_t shown_scenario = 0;
    options.on_progress = [&](const v::ValidationProgress& p) {
      if (!meter || p.scenario != shown_scenario) {
        meter.reset();
        if (!quiet_ && isatty(STDERR_FILENO))
          fmt::print(stderr, "[{}/{}] {}\n", p.scenario + 1, p.scenarios, printable(p.name));
        meter.emplace(!quiet_);
        shown_scenario = p.scenario;
      }
      meter->update(p.patients);
    };
    v::ValidationReport report = v::run_validation(mapping, options);
    meter.reset();
    // "json" is the list of target objects; "json-report" adds the runs and the summary.
    if (format_ == "json") fmt::print("{}\n", v::validation_json(report).at("targets").dump(2));
    else if (format_ == "json-report") fmt::print("{}\n", v::validation_json(report).dump(2));
    else if (format_ == "md") fmt::print("{}", printable_lines(v::validation_markdown(report)));
    else fmt::print("{}", printable_lines(v::validation_text(report)));
    return kExitSuccess;
  }

 private:
  CLI::App* define(CLI::App& app) override {
    CLI::App* cmd =
        app.add_subcommand("validate",
                           "Run the trial scenarios a target mapping names and compare each mapped "
                           "endpoint with its published value (exit 0 even when targets miss)");
    cmd->add_option("--targets", targets_,
                    "Target mapping (TOML); targets.csv is read from the same folder")
        ->capture_default_str();
    cmd->add_option("--patients", patients_, "Patients per scenario")
        ->capture_default_str()
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000'000}));
    cmd->add_option("--seed", seed_, "Master seed (default: each scenario's)");
    add_threads_option(*cmd, threads_);
    cmd->add_option("--format", format_,
                    "Output format: text, json (a list of target objects), json-report "
                    "(targets, runs and summary) or md")
        ->capture_default_str()
        ->check(CLI::IsMember({"text", "json", "json-report", "md"}));
    cmd->add_option("--role", role_, "Targets to evaluate")
        ->capture_default_str()
        ->check(CLI::IsMember({"fit", "holdout", "all"}));
    add_quiet_flag(*cmd, quiet_);
    return cmd;
  }

  std::string targets_ = "configs/targets/mapping.toml";
  std::uint64_t patients_ = v::kDefaultPatients;
  std::optional<std::uint64_t> seed_;
  int threads_ = 0;
  std::string format_ = "text";
  std::string role_ = "all";
  bool quiet_ = false;
};

}  // namespace

std::unique_ptr<Command> make_validate_command() { return std::make_unique<ValidateCommand>(); }

}  // namespace vpgen::cli
