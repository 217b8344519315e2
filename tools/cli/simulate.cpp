// `vpgen simulate`: sample a cohort, simulate every patient under every arm, store the run.
#include "command.hpp"
#include "progress_meter.hpp"

#include "vpgen/common/printable.hpp"
#include "vpgen/report/report.hpp"
#include "vpgen/run/simulate_run.hpp"
#include "vpgen/storage/result_store.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace vpgen::cli {
namespace {

class SimulateCommand final : public Command {
 public:
  // Under MPI (more than one rank) each rank simulates its shard and rank 0 merges, shows progress
  // and prints the summary.
  int run(const Invocation& invocation) override {
    Cluster& cluster = invocation.cluster;
    return run_collectively(cluster, [&] {
      ProgressMeter meter(!quiet_ && cluster.rank() == 0);
      request_.on_progress = [&](const Progress& p) { meter.update(p); };
      const std::int64_t run_id = simulate_collectively(request_, cluster);
      if (cluster.rank() != 0) return kExitSuccess;
      // The file this command wrote, opened as its writer did: closing it folds the -wal in.
      ResultStore store(request_.db);
      const RunReport report = build_report(store, run_id);
      if (format_ == "json") fmt::print("{}\n", report_json(report).dump(2));
      else fmt::print("{}", printable_lines(report_text(report)));
      return kExitSuccess;
    });
  }

  bool shares_work_between_ranks() const override { return true; }

 private:
  CLI::App* define(CLI::App& app) override {
    CLI::App* cmd = app.add_subcommand(
        "simulate", "Sample a cohort, simulate every patient under every arm, store the run");
    cmd->add_option("scenario", request_.scenario, "Scenario file (TOML)")->required();
    cmd->add_option("--db", request_.db, "Results database (created if absent)")->required();
    cmd->add_option("--patients", request_.patients, "Cohort size (default: the scenario's)")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000'000'000}));
    cmd->add_option("--seed", request_.seed, "Master seed (default: the scenario's)");
    add_threads_option(*cmd, request_.threads);
    cmd->add_option("--block-size", request_.block_size,
                    "Patients per stored block (one transaction each)")
        ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000}));
    cmd->add_option("--shard", request_.shard,
                    "K/N: simulate only shard K (0 .. N-1) of N of the cohort into --db; "
                    "combine the N shard files with `vpgen merge`");
    add_quiet_flag(*cmd, quiet_);
    // Acted on by start_cluster, before parsing; declared here for --help and the parser.
    cmd->add_flag("--mpi", mpi_,
                  "Share the cohort between MPI ranks, one shard file each, merged by rank "
                  "0 into --db (implied under mpirun; use --threads 1 with one rank per "
                  "core)");
    cmd->add_option("--resume", request_.resume,
                    "Finish incomplete or failed run RUN of --db (same scenario files, seed and "
                    "size): the result equals an uninterrupted run");
    add_format_option(*cmd, format_, "Summary format");
    return cmd;
  }

  SimulateRequest request_;
  bool mpi_ = false;
  bool quiet_ = false;
  std::string format_ = "text";
};

}  // namespace

std::unique_ptr<Command> make_simulate_command() { return std::make_unique<SimulateCommand>(); }

}  // namespace vpgen::cli
