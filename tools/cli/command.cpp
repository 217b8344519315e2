// What the subcommands of `vpgen` share: flags, exit codes, the MPI gate.
#include "command.hpp"

#include "mpi_cluster.hpp"
#include "vpgen/population/error.hpp"
#include "vpgen/storage/result_store.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

namespace vpgen::cli {

int exit_code_of(const std::exception& e) {
  return dynamic_cast<const InputError*>(&e) != nullptr ? kExitInputError : kExitFailure;
}

int report_error(const std::exception& e) {
  fmt::print(stderr, "vpgen: error: {}\n", e.what());
  return exit_code_of(e);
}

bool Command::chosen() const { return static_cast<bool>(*subcommand_); }

std::string Command::name() const { return subcommand_->get_name(); }

CLI::Option* add_db_option(CLI::App& command, std::string& db) {
  return command.add_option("--db", db, "Results database")->required();
}

CLI::Option* add_format_option(CLI::App& command, std::string& format,
                               const std::string& description) {
  return command.add_option("--format", format, description)
      ->check(CLI::IsMember({"text", "json"}));
}

CLI::Option* add_threads_option(CLI::App& command, int& threads) {
  return command.add_option("--threads", threads, "Worker threads (0 = all cores)")
      ->check(CLI::Range(0, 1024));
}

CLI::Option* add_quiet_flag(CLI::App& command, bool& quiet) {
  return command.add_flag("--quiet", quiet, "No progress on stderr");
}

std::int64_t run_or_latest(ResultStore& store, const std::string& db,
                           std::optional<std::int64_t> run) {
  if (run) return *run;
  const auto latest = store.latest_run_id();
  if (!latest) throw InputError(fmt::format("{}: holds no runs", db));
  return *latest;
}

std::unique_ptr<Cluster> start_cluster(int& argc, char**& argv) {
#ifdef VPGEN_HAVE_MPI
  return mpi::start(argc, argv);
#else
  // Without MPI, N launched copies would each run the whole command: refuse instead.
  if (mpi::requested(argc, argv) || mpi::launched_by_launcher())
    throw InputError(std::string(mpi::kWithoutMpiMessage));
  return std::make_unique<LocalCluster>();
#endif
}

bool may_run_on(const Cluster& cluster, const Command& command) {
  if (cluster.size() == 1 || command.shares_work_between_ranks()) return true;
  // merge, batch or calibrate would write the same files from every rank.
  if (cluster.rank() == 0)
    fmt::print(stderr,
               "vpgen: error: `vpgen {}` runs in one process; under mpirun only simulate and size "
               "share their work between ranks\n",
               command.name());
  return false;
}

int run_collectively(Cluster& cluster, const std::function<int()>& command) {
  if (cluster.size() == 1) return command();
  try {
    return command();
  } catch (const ClusterFailure& e) {
    if (cluster.rank() == 0) fmt::print(stderr, "vpgen: error: {}\n", e.what());
    return e.input_error() ? kExitInputError : kExitFailure;
  } catch (const std::exception& e) {
    const int code = exit_code_of(e);
    fmt::print(stderr, "vpgen: error: rank {} of {}: {}\n", cluster.rank(), cluster.size(),
               e.what());
#ifdef VPGEN_HAVE_MPI
    mpi::abort(code);
#endif
    return code;
  }
}

}  // namespace vpgen::cli
