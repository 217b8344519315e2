// `vpgen calibrate`: fit the free parameters a calibration file names to its targets (NLopt,
// common random numbers) and write the fitted parameter files.
#include "command.hpp"

#include "vpgen/common/printable.hpp"
#include "vpgen/config/data_path.hpp"
#include "vpgen/validation/calibrate.hpp"
#include "vpgen/validation/validate.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

namespace vpgen::cli {
namespace {

namespace c = calibration;

class CalibrateCommand final : public Command {
 public:
  int run(const Invocation& invocation) override {
    const c::Spec spec = c::read_spec(config::find_data_file(file_));
    const validation::Mapping mapping = validation::load_mapping(spec.mapping);
    const bool show = !quiet_ && isatty(STDERR_FILENO);
    const auto start = std::chrono::steady_clock::now();
    const c::FitResult result = c::fit(spec, mapping, [&](int n, double value, double best) {
      if (!show) return;
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      fmt::print(stderr, "\r  evaluation {}/{}: objective {:.4f}, best {:.4f}, {:.0f} s   ", n,
                 spec.max_evaluations, value, best, seconds);
    });
    if (show) fmt::print(stderr, "\n");
    std::vector<std::string> written;
    if (!dry_run_) written = c::write_fitted(spec, result, invocation.command_line);
    if (format_ == "json") {
      nlohmann::json out = c::fit_report_json(spec, result);
      out["written"] = written;
      fmt::print("{}\n", out.dump(2));
    } else {
      fmt::print("{}", printable_lines(c::fit_report_text(spec, result)));
      for (const std::string& path : written) fmt::print("wrote {}\n", printable(path));
    }
    return kExitSuccess;
  }

 private:
  CLI::App* define(CLI::App& app) override {
    CLI::App* cmd = app.add_subcommand(
        "calibrate",
        "Fit the free parameters a calibration file names to its targets (NLopt, "
        "common random numbers) and write the fitted parameter files");
    cmd->add_option("CALIBRATION.toml", file_, "Calibration file")->required();
    add_format_option(*cmd, format_, "Fit report format");
    cmd->add_flag("--dry-run", dry_run_, "Fit and report, but write no file");
    add_quiet_flag(*cmd, quiet_);
    return cmd;
  }

  std::string file_;
  std::string format_ = "text";
  bool dry_run_ = false;
  bool quiet_ = false;
};

}  // namespace

std::unique_ptr<Command> make_calibrate_command() { return std::make_unique<CalibrateCommand>(); }

}  // namespace vpgen::cli
