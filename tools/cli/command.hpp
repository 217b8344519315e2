// The subcommands of the `vpgen` executable and what they share (private to tools/cli). Each
// <subcommand>.cpp defines one Command: it adds its flags to the CLI11 app and runs once they are
// parsed; main.cpp holds the dispatch table. Exceptions become exit codes in main and, for the
// commands that share their work between MPI ranks, in run_collectively. Main thread only.
#pragma once

#include "vpgen/engine/cluster.hpp"

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace vpgen {
class ResultStore;
}  // namespace vpgen

namespace vpgen::cli {

// Exit codes of every command (batch adds its own, docs/BATCH.md).
inline constexpr int kExitSuccess = 0;
inline constexpr int kExitFailure = 1;     // anything but bad input
inline constexpr int kExitInputError = 2;  // bad input: scenario, design, flags (InputError)

// kExitInputError for an InputError, kExitFailure for any other exception.
int exit_code_of(const std::exception& e);
// Prints "vpgen: error: WHAT" on stderr and returns exit_code_of(e).
int report_error(const std::exception& e);

// What a parsed command may need besides its own flags.
struct Invocation {
  Cluster& cluster;          // this process's ranks: a LocalCluster outside an MPI launcher
  std::string command_line;  // "vpgen" and every argument, recorded with what a command stores
};

class Command {
 public:
  virtual ~Command() = default;

  // Adds the subcommand and its flags to `app`; parsing then writes the flags into this object.
  void add_to(CLI::App& app) { subcommand_ = define(app); }
  // After parsing: whether the command line chose this subcommand, and its name.
  bool chosen() const;
  std::string name() const;

  // Runs the chosen command and returns its exit code; throws what the libraries throw.
  virtual int run(const Invocation& invocation) = 0;
  // Whether the command shares its work between MPI ranks (simulate, size); any other command
  // would run once per rank, so it refuses to run under mpirun.
  virtual bool shares_work_between_ranks() const { return false; }

 private:
  virtual CLI::App* define(CLI::App& app) = 0;

  CLI::App* subcommand_ = nullptr;
};

// One factory per subcommand file.
std::unique_ptr<Command> make_simulate_command();
std::unique_ptr<Command> make_merge_command();
std::unique_ptr<Command> make_report_command();
std::unique_ptr<Command> make_patient_command();
std::unique_ptr<Command> make_runs_command();
std::unique_ptr<Command> make_export_command();
std::unique_ptr<Command> make_validate_command();
std::unique_ptr<Command> make_calibrate_command();
std::unique_ptr<Command> make_size_command();
std::unique_ptr<Command> make_batch_command();
std::unique_ptr<Command> make_upgrade_command();
std::unique_ptr<Command> make_verify_command();

// Flags that several commands spell alike.
CLI::Option* add_db_option(CLI::App& command, std::string& db);  // --db, required
CLI::Option* add_format_option(CLI::App& command, std::string& format,
                               const std::string& description);  // text or json
CLI::Option* add_threads_option(CLI::App& command, int& threads);
CLI::Option* add_quiet_flag(CLI::App& command, bool& quiet);

// `run`, or the latest run of `store` (InputError when it holds none).
std::int64_t run_or_latest(ResultStore& store, const std::string& db,
                           std::optional<std::int64_t> run);

// The cluster of this process (mpi_cluster.hpp): MPI starts under an MPI launcher or with --mpi,
// before anything reads argv. Keep it alive until main returns (it finalises MPI). Throws Error
// when MPI cannot start, InputError when MPI is asked for in a build without it.
std::unique_ptr<Cluster> start_cluster(int& argc, char**& argv);

// Under mpirun only simulate and size share their work: for any other command rank 0 prints why
// and this returns false.
bool may_run_on(const Cluster& cluster, const Command& command);

// Runs a command that may run on several MPI ranks. A ClusterFailure is every rank's: rank 0
// reports it and every rank exits with its code. Any other exception on one rank of several may
// leave the others waiting for it in a collective: that rank reports it and ends them all
// (MPI_Abort). With one process, exceptions reach main's handlers as for any command.
int run_collectively(Cluster& cluster, const std::function<int()>& command);

}  // namespace vpgen::cli
