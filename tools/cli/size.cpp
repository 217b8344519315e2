// `vpgen size DESIGN.toml` or `vpgen size --calc KIND ...`: trial design by replicate trials of
// the virtual population or of parametric models, or a closed-form sample-size calculator.
#include "command.hpp"

#include "vpgen/common/printable.hpp"
#include "vpgen/config/data_path.hpp"
#include "vpgen/population/error.hpp"
#include "vpgen/storage/result_store.hpp"
#include "vpgen/trial_design/trial_design.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>

namespace vpgen::cli {
namespace {

namespace td = trial_design;
using Clock = std::chrono::steady_clock;

// The stage of a long design run on stderr, only when stderr is a terminal and the run lasts
// over two seconds; finish() ends the line once the run is done.
class DesignProgressLine {
 public:
  explicit DesignProgressLine(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO)) {}

  void finish() const {
    if (shown_) std::fputc('\n', stderr);
  }

  void update(const td::DesignProgress& p) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (now - start_ < std::chrono::seconds(2) || now - last_ < std::chrono::milliseconds(500))
      return;
    last_ = now;
    shown_ = true;
    fmt::print(stderr, "\r  {}: {}/{} {}   {:.0f} s        ", p.stage, p.done, p.total,
               p.stage.rfind("pool", 0) == 0 ? "patients" : "replicates (at most)",
               std::chrono::duration<double>(now - start_).count());
    std::fflush(stderr);
  }

 private:
  bool enabled_;
  bool shown_ = false;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_ = start_;
};

class SizeCommand final : public Command {
 public:
  // Input is checked, and the run done, before the database is opened: a bad design writes
  // nothing. Under MPI every rank runs its share of the replicates and holds the whole result;
  // rank 0 alone shows progress, prints and writes --db. Each step ends in agree_on_failure, so a
  // failure on any rank ends every rank alike.
  int run(const Invocation& invocation) override {
    Cluster& cluster = invocation.cluster;
    return run_collectively(cluster, [&] {
      std::optional<td::Design> design;
      std::exception_ptr input_failure;
      try {
        design = read_input(invocation);
      } catch (...) {
        input_failure = std::current_exception();
      }
      agree_on_failure(cluster, input_failure);
      if (!design) return kExitSuccess;  // the calculator's answer
      DesignProgressLine progress(!quiet_ && cluster.rank() == 0);
      td::RunOptions options;
      options.threads = threads_;
      options.on_progress = [&](const td::DesignProgress& p) { progress.update(p); };
      options.cluster = &cluster;
      const td::DesignResult result = td::run_design(*design, options);
      progress.finish();
      std::exception_ptr output_failure;
      try {
        if (cluster.rank() == 0) write_result(result);
      } catch (...) {
        output_failure = std::current_exception();
      }
      agree_on_failure(cluster, output_failure);
      return kExitSuccess;
    });
  }

  bool shares_work_between_ranks() const override { return true; }

 private:
  // The calculator's answer, printed and stored (rank 0), and no design; or the design file, read
  // and checked.
  std::optional<td::Design> read_input(const Invocation& invocation) const {
    const bool root = invocation.cluster.rank() == 0;
    if (design_file_.empty() == calc_.kind.empty())
      throw InputError("give either a design file or --calc KIND (not both)");
    if (!calc_.kind.empty()) {
      const nlohmann::json answer = td::calculate(calc_);
      if (root && !db_.empty()) {
        ResultStore store(db_);
        store.record_design(td::calculator_record(answer, invocation.command_line),
                            td::calculator_points(answer));
      }
      if (root && format_ == "json") fmt::print("{}\n", answer.dump(2));
      else if (root) fmt::print("{}", printable_lines(td::calculator_text(answer)));
      return std::nullopt;
    }
    td::Design design = td::read_design(config::find_data_file(design_file_));
    // A run can be long: a --db that cannot be created fails now, not after it.
    if (!db_.empty()) {
      const std::filesystem::path folder = std::filesystem::path(db_).parent_path();
      if (!folder.empty() && !std::filesystem::is_directory(folder))
        throw InputError(fmt::format("--db {}: no such folder", db_));
    }
    return design;
  }

  void write_result(const td::DesignResult& result) const {
    const std::string json_text = td::result_json(result).dump(2);
    if (!db_.empty()) {
      ResultStore store(db_);
      store.record_design(td::design_record(result, json_text), td::design_points(result));
    }
    if (format_ == "json") fmt::print("{}\n", json_text);
    else fmt::print("{}", printable_lines(td::result_text(result)));
  }

  CLI::App* define(CLI::App& app) override {
    CLI::App* cmd = app.add_subcommand(
        "size",
        "Size a trial from replicate trials of the virtual population or of parametric "
        "models (DESIGN.toml), or run a sample-size calculator (--calc)");
    cmd->add_option("design", design_file_, "Design file (TOML; docs/DESIGN.md)");
    add_format_option(*cmd, format_, "Output format");
    add_threads_option(*cmd, threads_);
    cmd->add_option("--db", db_, "Store the design and one row per n in this database");
    add_quiet_flag(*cmd, quiet_);
    // Acted on by start_cluster, before parsing; declared here for --help and the parser.
    cmd->add_flag("--mpi", mpi_,
                  "Share the replicates between MPI ranks (implied under mpirun; without a "
                  "launcher, a run of one rank): the result is the one-process result");
    define_calculator(*cmd);
    return cmd;
  }

  void define_calculator(CLI::App& cmd) {
    cmd.add_option("--calc", calc_.kind,
                   "Calculator instead of a design: binomial, simon, proportions, events, "
                   "duration")
        ->check(CLI::IsMember({"binomial", "simon", "proportions", "events", "duration"}));
    cmd.add_option("--p0", calc_.p0, "Response rate under H0 (binomial, simon)");
    cmd.add_option("--p1", calc_.p1, "Response rate to detect (binomial, simon)");
    cmd.add_option("--p-control", calc_.p_control, "Control response rate (proportions)");
    cmd.add_option("--p-experimental", calc_.p_experimental,
                   "Experimental response rate (proportions)");
    cmd.add_option("--alpha", calc_.alpha, "Type I error (one-sided for binomial, simon)");
    cmd.add_option("--power", calc_.power, "Target power");
    cmd.add_option("--sides", calc_.sides, "1 or 2 (proportions, events)")
        ->capture_default_str()
        ->check(CLI::IsMember({1, 2}));
    cmd.add_option("--allocation-ratio", calc_.allocation_ratio,
                   "n_experimental / n_control (proportions, events, duration)")
        ->capture_default_str();
    cmd.add_option("--criterion", calc_.criterion, "simon: optimal, minimax or both")
        ->capture_default_str()
        ->check(CLI::IsMember({"optimal", "minimax", "both"}));
    cmd.add_option("--n-max", calc_.n_max, "Largest n searched (binomial 1000, simon 100)")
        ->check(CLI::Range(2, 100000));
    cmd.add_option("--hr", calc_.hazard_ratio,
                   "Hazard ratio experimental/control (events, duration)");
    cmd.add_option("--median-control-months", calc_.median_control_months,
                   "Control median survival, exponential (events, duration)");
    cmd.add_option("--hazard-control-per-month", calc_.hazard_control_per_month,
                   "Control hazard (instead of the median)");
    cmd.add_option("--accrual-months", calc_.accrual_months, "Accrual duration (events)");
    cmd.add_option("--accrual-rate-per-month", calc_.accrual_rate_per_month,
                   "Patients per month (duration)");
    cmd.add_option("--followup-months", calc_.followup_months,
                   "Follow-up after the last patient enters (events)");
    cmd.add_option("--dropout-probability-per-year", calc_.dropout_probability_per_year,
                   "P(drop out within 12 months), exponential (events, duration)");
    cmd.add_option("--events", calc_.events, "Events to wait for (duration)");
    cmd.add_option("--patients", calc_.patients, "Patients enrolled (duration)");
  }

  std::string design_file_;  // DESIGN.toml, or empty with --calc
  std::string format_ = "text";
  int threads_ = 0;
  std::string db_;  // empty: nothing is stored
  bool quiet_ = false;
  td::CalculatorRequest calc_;  // calc_.kind empty: no calculator
  bool mpi_ = false;
};

}  // namespace

std::unique_ptr<Command> make_size_command() { return std::make_unique<SizeCommand>(); }

}  // namespace vpgen::cli
