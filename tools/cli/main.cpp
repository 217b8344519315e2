// The vpgen command line: a dispatch table over the subcommands, one file each in tools/cli/.
// Exit codes: 0 success, 2 bad input (scenario, flags), 1 anything else (batch adds 3). This and
// run_collectively (command.hpp) are the only places where an exception becomes an exit code.
#include "command.hpp"

#include "vpgen/config/data_path.hpp"
#include "vpgen/engine/build_info.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <array>
#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace cli = vpgen::cli;

// The subcommands, in the order `vpgen --help` lists them.
constexpr std::array kCommands = {
    &cli::make_simulate_command, &cli::make_merge_command,     &cli::make_report_command,
    &cli::make_patient_command,  &cli::make_runs_command,      &cli::make_export_command,
    &cli::make_validate_command, &cli::make_calibrate_command, &cli::make_size_command,
    &cli::make_batch_command,    &cli::make_upgrade_command,   &cli::make_verify_command,
};

std::string version_text() {
  const vpgen::BuildInfo b = vpgen::build_info();
  return fmt::format("vpgen {} (commit {}; {}; Boost {}; oneTBB {}; rng scheme {})",
                     b.vpgen_version, b.git_commit.empty() ? "unknown" : b.git_commit, b.compiler,
                     b.boost_version, b.tbb_version, b.rng_scheme);
}

std::string command_line(int argc, char** argv) {
  std::string line = "vpgen";
  for (int i = 1; i < argc; ++i) line += std::string(" ") + argv[i];
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  cli::guard_standard_streams();
  // MPI starts before anything reads argv (MPI_Init may take its own arguments out).
  std::unique_ptr<vpgen::Cluster> cluster;
  try {
    cluster = cli::start_cluster(argc, argv);
  } catch (const std::exception& e) {
    return cli::report_error(e);
  }
  CLI::App app{"vpgen: virtual patients on cancer immunotherapy, simulated and stored in SQLite"};
  app.require_subcommand(1);
  app.footer(vpgen::config::data_search_help());  // before the subcommands: they inherit it
  app.set_version_flag("--version", version_text);
  app.failure_message(cli::usage_error_line);  // before the subcommands: they inherit it
  std::vector<std::unique_ptr<cli::Command>> commands;
  for (const auto make : kCommands) {
    commands.push_back(make());
    commands.back()->add_to(app);
  }
  cli::accept_decimal_integers_only(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Under mpirun, help, version and usage errors are printed once, by rank 0.
    const int code = cluster->rank() == 0 ? app.exit(e) : e.get_exit_code();
    return cli::finish_output(code == 0 ? cli::kExitSuccess : cli::kExitInputError);
  }
  for (const auto& command : commands) {
    if (!command->chosen()) continue;
    if (!cli::may_run_on(*cluster, *command)) return cli::kExitInputError;
    int code = cli::kExitFailure;
    try {
      code = command->run({*cluster, command_line(argc, argv)});
    } catch (const std::exception& e) {
      return cli::finish_output_after(e);
    }
    return cli::finish_output(code);
  }
  return cli::kExitFailure;
}
