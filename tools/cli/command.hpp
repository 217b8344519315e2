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
class Error;
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
// Prints "vpgen: error: WHAT" on stderr, WHAT made printable() (one line whatever a file or
// database put in it), and returns exit_code_of(e).
int report_error(const std::exception& e);
// The line CLI11 prints for a usage error (unknown flag, bad value): "vpgen: error: WHAT; run
// with --help for more information", one line.
std::string usage_error_line(const CLI::App* app, const CLI::Error& e);

// Standard output that cannot take what a command writes (a full disk, /dev/full, a closed
// descriptor, a reader gone) must not end in success. Call guard_standard_streams() first thing
// in main: a closed descriptor 0, 1 or 2 is opened on /dev/null (stdin, stderr) or /dev/full
// (stdout, so that any write to it fails), so that no file a command opens takes its place.
void guard_standard_streams();
// Flushes std::cout and stdout. If anything written to them was lost, prints "vpgen: error:
// cannot write to standard output: WHY" and returns kExitFailure (or `code` if that already says
// failure); otherwise returns `code`.
int finish_output(int code);
// For a command that threw `e`: when standard output was lost, that is the one line printed (the
// exception is its consequence: a failed write); otherwise report_error(e).
int finish_output_after(const std::exception& e);

// Every integer flag of `app` and its subcommands (CLI11 type INT or UINT) accepts decimal digits
// only, with a leading - for signed ones, within 64 bits: CLI11 alone reads 0x10 as 16, 0o7 and
// 0b1 as numbers, and -1 for an unsigned flag as 2^64-1. Call once all commands are defined.
void accept_decimal_integers_only(CLI::App& app);

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
