// The vpgen command line. Exit codes: 0 success, 2 bad input (scenario, flags), 1 anything else.
// This is the only place where an exception becomes an exit code.
#include "vpgen/run/patient_view.hpp"
#include "vpgen/run/provenance.hpp"
#include "vpgen/report/report.hpp"
#include "vpgen/report/report_data.hpp"
#include "vpgen/report/report_html.hpp"
#include "vpgen/config/scenario_loader.hpp"
#include "vpgen/run/simulate_run.hpp"
#include "vpgen/trial_design/trial_design.hpp"
#include "mpi_cluster.hpp"
#include "vpgen/batch/batch.hpp"
#include "vpgen/validation/calibrate.hpp"
#include "vpgen/run/export.hpp"
#include "vpgen/validation/validate.hpp"
#include "vpgen/engine/build_info.hpp"
#include "vpgen/engine/simulator.hpp"
#include "vpgen/population/error.hpp"
#include "vpgen/storage/result_store.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>

namespace {

using Clock = std::chrono::steady_clock;

// Rate and ETA on stderr, only when stderr is a terminal and the run lasts over two seconds.
class ProgressMeter {
 public:
  explicit ProgressMeter(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO)) {}
  ~ProgressMeter() {
    if (shown_) std::fputc('\n', stderr);
  }

  void update(const vpgen::Progress& progress) {
    if (!enabled_) return;
    const auto now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    if (elapsed < 2.0 || (shown_ && now - last_ < std::chrono::milliseconds(500) &&
                          progress.done < progress.total))
      return;
    last_ = now;
    shown_ = true;
    const double rate = static_cast<double>(progress.done) / elapsed;
    const double eta = rate > 0 ? static_cast<double>(progress.total - progress.done) / rate : 0.0;
    fmt::print(stderr, "\r  {:>12}/{} patients  {:>9.0f} patients/s  {:5.1f}%  ETA {:>4.0f} s ",
               progress.done, progress.total, rate,
               100.0 * static_cast<double>(progress.done) / static_cast<double>(progress.total),
               eta);
    std::fflush(stderr);
  }

 private:
  bool enabled_;
  bool shown_ = false;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_ = start_;
};

void print_report(const vpgen::RunReport& report, const std::string& format) {
  if (format == "json") fmt::print("{}\n", vpgen::report_json(report).dump(2));
  else fmt::print("{}", vpgen::report_text(report));
}

void require_existing(const std::string& db);

struct SimulateArgs {
  vpgen::SimulateRequest request;
  bool mpi = false;  // acted on at the top of main, before parsing
  bool quiet = false;
  std::string format = "text";
};

// Under MPI (more than one rank) each rank simulates its shard and rank 0 merges, shows progress
// and prints the summary.
int simulate(SimulateArgs& args, vpgen::Cluster& cluster) {
  ProgressMeter meter(!args.quiet && cluster.rank() == 0);
  args.request.on_progress = [&](const vpgen::Progress& p) { meter.update(p); };
  const std::int64_t run_id = vpgen::simulate_collectively(args.request, cluster);
  if (cluster.rank() != 0) return 0;
  vpgen::ResultStore store(args.request.db);
  print_report(vpgen::build_report(store, run_id), args.format);
  return 0;
}

struct MergeArgs {
  std::string into;
  std::vector<std::string> shards;
  std::string format = "text";
  bool quiet = false;
};

int merge(const MergeArgs& args) {
  const bool show = !args.quiet && isatty(STDERR_FILENO);
  const vpgen::MergeSummary summary =
      vpgen::merge_files(args.into, args.shards, [&](const vpgen::MergeProgress& p) {
        if (show)
          fmt::print(stderr, "\rmerging: {}/{} shards, {}/{} patients", p.shards_done,
                     p.shards_total, p.patients_done, p.patients_total);
      });
  if (show) std::fputc('\n', stderr);
  if (args.format == "json") fmt::print("{}\n", vpgen::merge_json(summary).dump(2));
  else fmt::print("{}", vpgen::merge_text(summary));
  return 0;
}

struct ValidateArgs {
  std::string targets = "configs/targets/mapping.toml";
  std::uint64_t patients = vpgen::validation::kDefaultPatients;
  std::optional<std::uint64_t> seed;
  int threads = 0;
  std::string format = "text";
  std::string role = "all";
  bool quiet = false;
};

int validate(const ValidateArgs& args) {
  namespace v = vpgen::validation;
  const v::Mapping mapping = v::load_mapping(args.targets);
  v::ValidationOptions options;
  options.patients = args.patients;
  options.seed = args.seed;
  options.threads = args.threads;
  if (args.role == "fit") options.role = v::Role::kFit;
  else if (args.role == "holdout") options.role = v::Role::kHoldout;
  // One progress line per scenario, as `simulate` shows it, led by the scenario's name.
  std::optional<ProgressMeter> meter;
  std::size_t shown_scenario = 0;
  options.on_progress = [&](const v::ValidationProgress& p) {
    if (!meter || p.scenario != shown_scenario) {
      meter.reset();
      if (!args.quiet && isatty(STDERR_FILENO))
        fmt::print(stderr, "[{}/{}] {}\n", p.scenario + 1, p.scenarios, p.name);
      meter.emplace(!args.quiet);
      shown_scenario = p.scenario;
    }
    meter->update(p.patients);
  };
  v::ValidationReport report = v::run_validation(mapping, options);
  meter.reset();
  // "json" is the list of target objects; "json-report" adds the runs and the summary.
  if (args.format == "json") fmt::print("{}\n", v::validation_json(report).at("targets").dump(2));
  else if (args.format == "json-report") fmt::print("{}\n", v::validation_json(report).dump(2));
  else if (args.format == "md") fmt::print("{}", v::validation_markdown(report));
  else fmt::print("{}", v::validation_text(report));
  return 0;
}

struct CalibrateArgs {
  std::string file;
  std::string format = "text";
  bool dry_run = false;
  bool quiet = false;
};

int calibrate(const CalibrateArgs& args, const std::string& command_line) {
  namespace c = vpgen::calibration;
  const c::Spec spec = c::read_spec(args.file);
  const vpgen::validation::Mapping mapping = vpgen::validation::load_mapping(spec.mapping);
  const bool show = !args.quiet && isatty(STDERR_FILENO);
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
  if (!args.dry_run) written = c::write_fitted(spec, result, command_line);
  if (args.format == "json") {
    nlohmann::json out = c::fit_report_json(spec, result);
    out["written"] = written;
    fmt::print("{}\n", out.dump(2));
  } else {
    fmt::print("{}", c::fit_report_text(spec, result));
    for (const std::string& path : written) fmt::print("wrote {}\n", path);
  }
  return 0;
}

struct SizeArgs {
  std::string design;                       // DESIGN.toml, or empty with --calc
  std::string format = "text";
  int threads = 0;
  std::string db;                           // empty: nothing is stored
  bool quiet = false;
  vpgen::trial_design::CalculatorRequest calc;    // calc.kind empty: no calculator
  bool mpi = false;                         // acted on at the top of main, before parsing
};

// Runs a command that may run on several MPI ranks. A ClusterFailure is every rank's: rank 0
// reports it and every rank exits with its code. Any other exception on one rank of several may
// leave the others waiting for it in a collective: that rank reports it and ends them all
// (MPI_Abort). With one process, exceptions reach main's handlers as for any command.
int run_collectively(vpgen::Cluster& cluster, const std::function<int()>& command) {
  if (cluster.size() == 1) return command();
  try {
    return command();
  } catch (const vpgen::ClusterFailure& e) {
    if (cluster.rank() == 0) fmt::print(stderr, "vpgen: error: {}\n", e.what());
    return e.input_error() ? 2 : 1;
  } catch (const std::exception& e) {
    const int code = dynamic_cast<const vpgen::InputError*>(&e) ? 2 : 1;
    fmt::print(stderr, "vpgen: error: rank {} of {}: {}\n", cluster.rank(), cluster.size(),
               e.what());
#ifdef VPGEN_HAVE_MPI
    vpgen::mpi::abort(code);
#endif
    return code;
  }
}

// `vpgen size DESIGN.toml` or `vpgen size --calc KIND ...`. Input is checked, and the run done,
// before the database is opened: a bad design writes nothing. Under MPI every rank runs its share
// of the replicates and holds the whole result; rank 0 alone shows progress, prints and writes
// --db. Each step ends in agree_on_failure, so a failure on any rank ends every rank alike.
int run_size(const SizeArgs& args, const std::string& command_line, vpgen::Cluster& cluster) {
  namespace s = vpgen::trial_design;
  const bool root = cluster.rank() == 0;
  std::optional<s::Design> design;
  std::exception_ptr input_failure;
  try {
    if (args.design.empty() == args.calc.kind.empty())
      throw vpgen::InputError("give either a design file or --calc KIND (not both)");
    if (!args.calc.kind.empty()) {
      const nlohmann::json answer = s::calculate(args.calc);
      if (root && !args.db.empty()) {
        vpgen::ResultStore store(args.db);
        store.record_design(s::calculator_record(answer, command_line),
                            s::calculator_points(answer));
      }
      if (root && args.format == "json") fmt::print("{}\n", answer.dump(2));
      else if (root) fmt::print("{}", s::calculator_text(answer));
    } else {
      design = s::read_design(args.design);
      // A run can be long: a --db that cannot be created fails now, not after it.
      if (!args.db.empty()) {
        const std::filesystem::path folder = std::filesystem::path(args.db).parent_path();
        if (!folder.empty() && !std::filesystem::is_directory(folder))
          throw vpgen::InputError(fmt::format("--db {}: no such folder", args.db));
      }
    }
  } catch (...) {
    input_failure = std::current_exception();
  }
  vpgen::agree_on_failure(cluster, input_failure);
  if (!design) return 0;  // the calculator's answer
  const bool show = root && !args.quiet && isatty(STDERR_FILENO);
  const auto start = Clock::now();
  auto last = start;
  bool shown = false;
  s::RunOptions options;
  options.threads = args.threads;
  options.on_progress = [&](const s::DesignProgress& p) {
    if (!show) return;
    const auto now = Clock::now();
    if (now - start < std::chrono::seconds(2) || now - last < std::chrono::milliseconds(500))
      return;
    last = now;
    shown = true;
    fmt::print(stderr, "\r  {}: {}/{} {}   {:.0f} s        ", p.stage, p.done, p.total,
               p.stage.rfind("pool", 0) == 0 ? "patients" : "replicates (at most)",
               std::chrono::duration<double>(now - start).count());
    std::fflush(stderr);
  };
  options.cluster = &cluster;
  const s::DesignResult result = s::run_design(*design, options);
  if (shown) std::fputc('\n', stderr);
  std::exception_ptr output_failure;
  try {
    if (root) {
      const std::string json_text = s::result_json(result).dump(2);
      if (!args.db.empty()) {
        vpgen::ResultStore store(args.db);
        store.record_design(s::design_record(result, json_text), s::design_points(result));
      }
      if (args.format == "json") fmt::print("{}\n", json_text);
      else fmt::print("{}", s::result_text(result));
    }
  } catch (...) {
    output_failure = std::current_exception();
  }
  vpgen::agree_on_failure(cluster, output_failure);
  return 0;
}

std::int64_t run_or_latest(vpgen::ResultStore& store, const std::string& db,
                           std::optional<std::int64_t> run) {
  if (run) return *run;
  const auto latest = store.latest_run_id();
  if (!latest) throw vpgen::InputError(fmt::format("{}: holds no runs", db));
  return *latest;
}

void require_existing(const std::string& db) {
  if (::access(db.c_str(), F_OK) != 0)
    throw vpgen::InputError(fmt::format("--db {}: no such file", db));
}

struct ExportArgs {
  std::string db;
  std::int64_t run = 0;
  std::string table;
  std::string format = "csv";
  std::string out;  // empty: stdout
};

// To stdout, or to a temporary file renamed over --out at the end: a failed export leaves no file
// that looks complete.
int export_run(const ExportArgs& args) {
  require_existing(args.db);
  vpgen::ResultStore store(args.db);
  if (args.out.empty()) {
    vpgen::export_table(store, args.run, args.table, args.format, std::cout);
    std::cout.flush();
    return 0;
  }
  const std::filesystem::path target(args.out);
  const std::filesystem::path temporary = target.string() + ".partial";
  try {
    {
      std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
      if (!file) throw vpgen::InputError(fmt::format("--out {}: cannot write here", args.out));
      vpgen::export_table(store, args.run, args.table, args.format, file);
      file.close();
      if (!file) throw vpgen::Error(fmt::format("--out {}: writing failed", args.out));
    }
    std::filesystem::rename(temporary, target);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // MPI starts before anything reads argv (MPI_Init may take its own arguments out): under an MPI
  // launcher or with --mpi. The cluster finalises MPI when main returns.
  std::unique_ptr<vpgen::Cluster> cluster;
#ifdef VPGEN_HAVE_MPI
  try {
    cluster = vpgen::mpi::start(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "vpgen: error: {}\n", e.what());
    return 1;
  }
#else
  // Without MPI, N launched copies would each run the whole command: refuse instead.
  if (vpgen::mpi::requested(argc, argv) || vpgen::mpi::launched_by_launcher()) {
    fmt::print(stderr, "vpgen: error: {}\n", vpgen::mpi::kWithoutMpiMessage);
    return 2;
  }
  cluster = std::make_unique<vpgen::LocalCluster>();
#endif
  CLI::App app{"vpgen: virtual patients on cancer immunotherapy, simulated and stored in SQLite"};
  app.require_subcommand(1);
  app.set_version_flag("--version", [] {
    const vpgen::BuildInfo b = vpgen::build_info();
    return fmt::format("vpgen {} (commit {}; {}; Boost {}; oneTBB {}; rng scheme {})",
                       b.vpgen_version, b.git_commit.empty() ? "unknown" : b.git_commit,
                       b.compiler, b.boost_version, b.tbb_version, b.rng_scheme);
  });

  SimulateArgs sim;
  CLI::App* simulate_cmd = app.add_subcommand(
      "simulate", "Sample a cohort, simulate every patient under every arm, store the run");
  simulate_cmd->add_option("scenario", sim.request.scenario, "Scenario file (TOML)")->required();
  simulate_cmd->add_option("--db", sim.request.db, "Results database (created if absent)")
      ->required();
  simulate_cmd
      ->add_option("--patients", sim.request.patients, "Cohort size (default: the scenario's)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000'000'000}));
  simulate_cmd->add_option("--seed", sim.request.seed, "Master seed (default: the scenario's)");
  simulate_cmd->add_option("--threads", sim.request.threads, "Worker threads (0 = all cores)")
      ->check(CLI::Range(0, 1024));
  simulate_cmd->add_option("--block-size", sim.request.block_size,
                           "Patients per stored block (one transaction each)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000}));
  simulate_cmd->add_option("--shard", sim.request.shard,
                           "K/N: simulate only shard K (0 .. N-1) of N of the cohort into --db; "
                           "combine the N shard files with `vpgen merge`");
  simulate_cmd->add_flag("--quiet", sim.quiet, "No progress on stderr");
  simulate_cmd->add_flag("--mpi", sim.mpi,
                         "Share the cohort between MPI ranks, one shard file each, merged by rank "
                         "0 into --db (implied under mpirun; use --threads 1 with one rank per "
                         "core)");
  simulate_cmd->add_option("--resume", sim.request.resume,
                           "Finish incomplete run RUN of --db (same scenario files, seed and size): "
                           "the result equals an uninterrupted run");
  simulate_cmd->add_option("--format", sim.format, "Summary format")
      ->check(CLI::IsMember({"text", "json"}));

  MergeArgs mrg;
  CLI::App* merge_cmd = app.add_subcommand(
      "merge", "Check shard files (vpgen simulate --shard K/N) and combine them into one run");
  merge_cmd->add_option("--into", mrg.into,
                        "Results database to add the run to (created if absent; a new file "
                        "appears only when the merge is complete)")
      ->required();
  merge_cmd->add_option("shards", mrg.shards, "Shard files, in any order")->required();
  merge_cmd->add_option("--format", mrg.format, "Summary format")
      ->check(CLI::IsMember({"text", "json"}));
  merge_cmd->add_flag("--quiet", mrg.quiet, "No progress on stderr");

  std::string report_db;
  std::optional<std::int64_t> report_run;
  std::string report_format = "text";
  CLI::App* report_cmd = app.add_subcommand(
      "report", "Per-arm summary of a run: ORR, CR, DCR, irAE, durable CR, PFS, OS with 95% CIs");
  report_cmd->add_option("--db", report_db, "Results database")->required();
  report_cmd->add_option("--run", report_run, "Run id (default: the latest run)");
  std::string report_out;
  std::string report_validation;
  std::vector<std::int64_t> report_designs;
  bool report_all_designs = false;
  report_cmd
      ->add_option("--format", report_format,
                   "text, json, html (one self-contained file: tables, Kaplan-Meier, waterfall, "
                   "swimmer and forest plots) or md (Markdown; its plots as SVG files beside it)")
      ->check(CLI::IsMember({"text", "json", "html", "md"}));
  report_cmd->add_option("--out", report_out,
                         "Write to this file, complete or not at all (md needs it; else stdout)");
  report_cmd->add_option("--design", report_designs,
                         "html/md: also render stored design ID (vpgen size --db); repeatable");
  report_cmd->add_flag("--all-designs", report_all_designs, "html/md: render every stored design");
  report_cmd->add_option("--validation", report_validation,
                         "html/md: also render this `vpgen validate --format json` output");

  std::string patient_db;
  std::int64_t patient_run = 0;
  std::uint64_t patient_index = 0;
  std::string patient_format = "text";
  CLI::App* patient_cmd = app.add_subcommand(
      "patient", "Replay one patient alone from the stored scenario and seed, and compare it "
                 "with what the run stored");
  patient_cmd->add_option("--db", patient_db, "Results database")->required();
  patient_cmd->add_option("--run", patient_run, "Run id")->required();
  patient_cmd->add_option("--patient", patient_index, "Patient index (0-based)")->required();
  patient_cmd->add_option("--format", patient_format, "Output format")
      ->check(CLI::IsMember({"text", "json"}));

  std::string runs_db;
  std::string runs_format = "text";
  CLI::App* runs_cmd =
      app.add_subcommand("runs", "List the runs of a results database with their provenance");
  runs_cmd->add_option("--db", runs_db, "Results database")->required();
  runs_cmd->add_option("--format", runs_format, "Output format")
      ->check(CLI::IsMember({"text", "json"}));

  ExportArgs exp;
  CLI::App* export_cmd = app.add_subcommand(
      "export", "Write one table of one run as CSV or JSON Lines (for use outside SQL)");
  export_cmd->add_option("--db", exp.db, "Results database")->required();
  export_cmd->add_option("--run", exp.run, "Run id")->required();
  export_cmd->add_option("--table", exp.table,
                         "runs, arms, patients, outcomes, events, arm_summary, subgroup_counts or "
                         "survival_counts")
      ->required()
      ->check(CLI::IsMember(std::vector<std::string>(vpgen::kExportTables.begin(),
                                                     vpgen::kExportTables.end())));
  export_cmd->add_option("--format", exp.format, "csv (RFC 4180, header row) or jsonl")
      ->capture_default_str()
      ->check(CLI::IsMember({"csv", "jsonl"}));
  export_cmd->add_option("--out", exp.out, "Output file (default: standard output)");

  ValidateArgs val;
  CLI::App* validate_cmd = app.add_subcommand(
      "validate", "Run the trial scenarios a target mapping names and compare each mapped endpoint "
                  "with its published value (exit 0 even when targets miss)");
  validate_cmd->add_option("--targets", val.targets,
                           "Target mapping (TOML); targets.csv is read from the same folder")
      ->capture_default_str();
  validate_cmd->add_option("--patients", val.patients, "Patients per scenario")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000'000}));
  validate_cmd->add_option("--seed", val.seed, "Master seed (default: each scenario's)");
  validate_cmd->add_option("--threads", val.threads, "Worker threads (0 = all cores)")
      ->check(CLI::Range(0, 1024));
  validate_cmd->add_option("--format", val.format,
                           "Output format: text, json (a list of target objects), json-report "
                           "(targets, runs and summary) or md")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json", "json-report", "md"}));
  validate_cmd->add_option("--role", val.role, "Targets to evaluate")
      ->capture_default_str()
      ->check(CLI::IsMember({"fit", "holdout", "all"}));
  validate_cmd->add_flag("--quiet", val.quiet, "No progress on stderr");

  CalibrateArgs cal;
  CLI::App* calibrate_cmd = app.add_subcommand(
      "calibrate", "Fit the free parameters a calibration file names to its targets (NLopt, common "
                   "random numbers) and write the fitted parameter files");
  calibrate_cmd->add_option("CALIBRATION.toml", cal.file, "Calibration file")->required();
  calibrate_cmd->add_option("--format", cal.format, "Fit report format")
      ->check(CLI::IsMember({"text", "json"}));
  calibrate_cmd->add_flag("--dry-run", cal.dry_run, "Fit and report, but write no file");
  calibrate_cmd->add_flag("--quiet", cal.quiet, "No progress on stderr");

  SizeArgs sz;
  CLI::App* size_cmd = app.add_subcommand(
      "size", "Size a trial from replicate trials of the virtual population or of parametric "
              "models (DESIGN.toml), or run a sample-size calculator (--calc)");
  size_cmd->add_option("design", sz.design, "Design file (TOML; docs/DESIGN.md)");
  size_cmd->add_option("--format", sz.format, "Output format")
      ->check(CLI::IsMember({"text", "json"}));
  size_cmd->add_option("--threads", sz.threads, "Worker threads (0 = all cores)")
      ->check(CLI::Range(0, 1024));
  size_cmd->add_option("--db", sz.db, "Store the design and one row per n in this database");
  size_cmd->add_flag("--quiet", sz.quiet, "No progress on stderr");
  size_cmd->add_flag("--mpi", sz.mpi,
                     "Share the replicates between MPI ranks (implied under mpirun; without a "
                     "launcher, a run of one rank): the result is the one-process result");
  vpgen::trial_design::CalculatorRequest& calc = sz.calc;
  size_cmd->add_option("--calc", calc.kind,
                       "Calculator instead of a design: binomial, simon, proportions, events, "
                       "duration")
      ->check(CLI::IsMember({"binomial", "simon", "proportions", "events", "duration"}));
  size_cmd->add_option("--p0", calc.p0, "Response rate under H0 (binomial, simon)");
  size_cmd->add_option("--p1", calc.p1, "Response rate to detect (binomial, simon)");
  size_cmd->add_option("--p-control", calc.p_control, "Control response rate (proportions)");
  size_cmd->add_option("--p-experimental", calc.p_experimental,
                       "Experimental response rate (proportions)");
  size_cmd->add_option("--alpha", calc.alpha, "Type I error (one-sided for binomial, simon)");
  size_cmd->add_option("--power", calc.power, "Target power");
  size_cmd->add_option("--sides", calc.sides, "1 or 2 (proportions, events)")
      ->capture_default_str()
      ->check(CLI::IsMember({1, 2}));
  size_cmd->add_option("--allocation-ratio", calc.allocation_ratio,
                       "n_experimental / n_control (proportions, events, duration)")
      ->capture_default_str();
  size_cmd->add_option("--criterion", calc.criterion, "simon: optimal, minimax or both")
      ->capture_default_str()
      ->check(CLI::IsMember({"optimal", "minimax", "both"}));
  size_cmd->add_option("--n-max", calc.n_max, "Largest n searched (binomial 1000, simon 100)")
      ->check(CLI::Range(2, 100000));
  size_cmd->add_option("--hr", calc.hazard_ratio, "Hazard ratio experimental/control (events, "
                                                  "duration)");
  size_cmd->add_option("--median-control-months", calc.median_control_months,
                       "Control median survival, exponential (events, duration)");
  size_cmd->add_option("--hazard-control-per-month", calc.hazard_control_per_month,
                       "Control hazard (instead of the median)");
  size_cmd->add_option("--accrual-months", calc.accrual_months, "Accrual duration (events)");
  size_cmd->add_option("--accrual-rate-per-month", calc.accrual_rate_per_month,
                       "Patients per month (duration)");
  size_cmd->add_option("--followup-months", calc.followup_months,
                       "Follow-up after the last patient enters (events)");
  size_cmd->add_option("--dropout-probability-per-year", calc.dropout_probability_per_year,
                       "P(drop out within 12 months), exponential (events, duration)");
  size_cmd->add_option("--events", calc.events, "Events to wait for (duration)");
  size_cmd->add_option("--patients", calc.patients, "Patients enrolled (duration)");

  vpgen::batch::BatchOptions bat;
  bool batch_quiet = false;
  CLI::App* batch_cmd = app.add_subcommand(
      "batch", "Run the scenarios, designs and validation suite of a nightly file into a folder "
               "(a report per job, index.html, summary.json, batch.log) and compare every figure "
               "with the previous night's (exit 0 ok, 1 a job failed, 3 a figure changed with the "
               "same inputs, seed and build; docs/BATCH.md)");
  batch_cmd->add_option("NIGHTLY.toml", bat.nightly_file, "Nightly file (TOML; docs/BATCH.md)")
      ->required();
  batch_cmd->add_option("--out", bat.out_dir,
                        "Output folder, created if absent; its summary.json and results.db of "
                        "the previous night are moved aside and compared with")
      ->required();
  batch_cmd->add_option("--compare", bat.compare,
                        "Compare with this summary.json (or a folder holding one) instead");
  batch_cmd->add_option("--threads", bat.threads,
                        "Worker threads (0 = all cores; default: the nightly file's, else all)")
      ->check(CLI::Range(0, 1024));
  batch_cmd->add_flag("--quiet", batch_quiet, "No log lines on stderr (batch.log has them all)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Under mpirun, help, version and usage errors are printed once, by rank 0.
    const int code = cluster->rank() == 0 ? app.exit(e) : e.get_exit_code();
    return code == 0 ? 0 : 2;
  }
  // Under mpirun only simulate and size share their work; any other command would run once per
  // rank (and merge, batch or calibrate would write the same files from every rank).
  if (cluster->size() > 1 && !*simulate_cmd && !*size_cmd) {
    if (cluster->rank() == 0)
      fmt::print(stderr,
                 "vpgen: error: `vpgen {}` runs in one process; under mpirun only simulate and size "
                 "share their work between ranks\n",
                 app.get_subcommands().front()->get_name());
    return 2;
  }

  try {
    if (*simulate_cmd)
      return run_collectively(*cluster, [&] { return simulate(sim, *cluster); });
    if (*merge_cmd) return merge(mrg);
    if (*validate_cmd) return validate(val);
    if (*calibrate_cmd) {
      std::string command_line = "vpgen";
      for (int i = 1; i < argc; ++i) command_line += std::string(" ") + argv[i];
      return calibrate(cal, command_line);
    }
    if (*size_cmd) {
      std::string command_line = "vpgen";
      for (int i = 1; i < argc; ++i) command_line += std::string(" ") + argv[i];
      return run_collectively(*cluster, [&] { return run_size(sz, command_line, *cluster); });
    }
    if (*batch_cmd) {
      if (!batch_quiet)
        bat.on_log = [](std::string_view line) { fmt::print(stderr, "{}\n", line); };
      return vpgen::batch::run_batch(bat);
    }
    if (*report_cmd) {
      require_existing(report_db);
      vpgen::ResultStore store(report_db);
      vpgen::ReportRequest request;
      request.run_ids = {run_or_latest(store, report_db, report_run)};
      request.design_ids = report_all_designs ? vpgen::list_design_ids(store) : report_designs;
      if (!report_validation.empty()) {
        std::ifstream in(report_validation);
        if (!in)
          throw vpgen::InputError(fmt::format("--validation {}: cannot read", report_validation));
        try {
          request.validation = nlohmann::json::parse(in);
        } catch (const nlohmann::json::parse_error& e) {
          throw vpgen::InputError(
              fmt::format("--validation {}: not JSON: {}", report_validation, e.what()));
        }
        request.validation_source = std::filesystem::path(report_validation).filename().string();
      }
      const vpgen::ReportFormat format = vpgen::parse_report_format(report_format);
      if (report_out.empty()) {
        if (format == vpgen::ReportFormat::kMarkdown)
          throw vpgen::InputError("--format md needs --out PATH (its plots are written beside it)");
        fmt::print("{}", vpgen::render_report(store, request, format, "").document);
      } else {
        vpgen::write_report(store, request, format, report_out);
      }
      return 0;
    }
    if (*runs_cmd) {
      require_existing(runs_db);
      vpgen::ResultStore store(runs_db);
      const std::vector<vpgen::RunInfo> runs = store.list_runs();
      if (runs_format == "json") fmt::print("{}\n", vpgen::runs_json(runs).dump(2));
      else fmt::print("{}", vpgen::runs_text(runs));
      return 0;
    }
    if (*export_cmd) return export_run(exp);
    if (*patient_cmd) {
      require_existing(patient_db);
      vpgen::ResultStore store(patient_db);
      const vpgen::ReplayResult replay = vpgen::replay_patient(store, patient_run, patient_index);
      if (patient_format == "json") fmt::print("{}\n", vpgen::replay_json(replay).dump(2));
      else fmt::print("{}", vpgen::replay_text(replay));
      return replay.identical ? 0 : 1;
    }
  } catch (const vpgen::InputError& e) {
    fmt::print(stderr, "vpgen: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "vpgen: error: {}\n", e.what());
    return 1;
  }
  return 1;
}
