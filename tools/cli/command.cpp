// What the subcommands of `vpgen` share: flags, exit codes, the MPI gate.
#include "command.hpp"

#include "mpi_cluster.hpp"
#include "vpgen/common/printable.hpp"
#include "vpgen/population/error.hpp"
#include "vpgen/storage/result_store.hpp"

#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

namespace vpgen::cli {

int exit_code_of(const std::exception& e) {
  return dynamic_cast<const InputError*>(&e) != nullptr ? kExitInputError : kExitFailure;
}

int report_error(const std::exception& e) {
  fmt::print(stderr, "vpgen: error: {}\n", printable(e.what()));
  return exit_code_of(e);
}

std::string usage_error_line(const CLI::App* /*app*/, const CLI::Error& e) {
  return fmt::format("vpgen: error: {}; run with --help for more information\n",
                     printable(e.what()));
}

namespace {

bool stdout_was_closed = false;

// Opens `device` on descriptor `fd` if `fd` is closed; true if it was.
bool fill_if_closed(int fd, const char* device, int flags) {
  if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) return false;
  const int opened = ::open(device, flags);
  if (opened >= 0 && opened != fd) {
    ::dup2(opened, fd);
    ::close(opened);
  }
  return true;
}

}  // namespace

void guard_standard_streams() {
  // In descriptor order: open() takes the lowest free one, so each lands where it belongs.
  fill_if_closed(STDIN_FILENO, "/dev/null", O_RDONLY);
  stdout_was_closed = fill_if_closed(STDOUT_FILENO, "/dev/full", O_WRONLY);
  fill_if_closed(STDERR_FILENO, "/dev/null", O_WRONLY);
}

namespace {

// Why what was written to standard output was lost, or nothing.
std::optional<std::string> standard_output_lost() {
  std::cout.flush();
  errno = 0;
  const bool lost = !std::cout || std::fflush(stdout) != 0 || std::ferror(stdout) != 0;
  if (!lost) return std::nullopt;
  if (stdout_was_closed) return "it is closed";
  if (errno != 0) return std::strerror(errno);
  return "the output was cut short";
}

}  // namespace

int finish_output(int code) {
  const auto why = standard_output_lost();
  if (!why) return code;
  fmt::print(stderr, "vpgen: error: cannot write to standard output: {}\n", *why);
  return code == kExitSuccess ? kExitFailure : code;
}

int finish_output_after(const std::exception& e) {
  if (const auto why = standard_output_lost()) {
    fmt::print(stderr, "vpgen: error: cannot write to standard output: {}\n", *why);
    return kExitFailure;
  }
  return report_error(e);
}

namespace {

// "" if `text` is a decimal integer of 64 bits (signed or unsigned), else why not.
std::string decimal_integer_problem(const std::string& text, bool is_signed) {
  const bool negative = !text.empty() && text.front() == '-';
  const std::string_view digits = std::string_view(text).substr(negative ? 1 : 0);
  if (negative && !is_signed) return fmt::format("{} is negative; this flag takes 0 or more", text);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos)
    return fmt::format("{} is not a decimal integer (digits 0-9 only)", printable(text));
  std::errc error{};
  if (is_signed) {
    std::int64_t value = 0;
    error = std::from_chars(text.data(), text.data() + text.size(), value).ec;
  } else {
    std::uint64_t value = 0;
    error = std::from_chars(text.data(), text.data() + text.size(), value).ec;
  }
  if (error != std::errc()) return fmt::format("{} is out of range", text);
  return "";
}

}  // namespace

void accept_decimal_integers_only(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    // CLI11 appends the descriptions of the option's validators: "UINT:UINT in [1 - 100]".
    const std::string full_type = option->get_type_name();
    const std::string type = full_type.substr(0, full_type.find(':'));
    if (type != "INT" && type != "UINT") continue;
    const bool is_signed = type == "INT";
    // Added after any Range or IsMember check, which reads 0x10 as 16 and passes it.
    option->check(CLI::Validator(
        [is_signed](std::string& text) { return decimal_integer_problem(text, is_signed); }, "",
        "decimal integer"));
  }
  for (CLI::App* sub : app.get_subcommands({})) accept_decimal_integers_only(*sub);
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
    if (cluster.rank() == 0) fmt::print(stderr, "vpgen: error: {}\n", printable(e.what()));
    return e.input_error() ? kExitInputError : kExitFailure;
  } catch (const std::exception& e) {
    const int code = exit_code_of(e);
    fmt::print(stderr, "vpgen: error: rank {} of {}: {}\n", cluster.rank(), cluster.size(),
               printable(e.what()));
#ifdef VPGEN_HAVE_MPI
    mpi::abort(code);
#endif
    return code;
  }
}

}  // namespace vpgen::cli
