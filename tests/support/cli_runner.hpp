// Helpers for the tests that run the real `vpgen` binary (VPGEN_BINARY): its exit code and output,
// captured through files in a folder the caller owns. Not thread-safe (one run at a time per
// folder).
#pragma once

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "support/files.hpp"

namespace vpgen::testing {

struct CliResult {
  int exit_code;  // -1 if a signal ended the process
  std::string out;
  std::string err;
  int signal = 0;  // the signal that ended the process; 0 if it exited
};

inline CliResult result_of(int status, const std::filesystem::path& out,
                           const std::filesystem::path& err) {
  return CliResult{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err),
                   WIFSIGNALED(status) ? WTERMSIG(status) : 0};
}

// The vpgen binary as another user (`nobody`, through setpriv) can run it: VPGEN_BINARY itself
// when it and every folder above it let others in, else a copy in a folder of the system's
// temporary folder (a checkout under /root, mode 0700, keeps nobody out of the build tree). The
// binary links no library of the build tree, so a copy runs alike. Made once per process.
inline std::string vpgen_binary_for_others() {
  namespace fs = std::filesystem;
  static const std::string binary = [] {
    const fs::path original = fs::absolute(VPGEN_BINARY);
    bool reachable =
        (fs::status(original).permissions() & fs::perms::others_exec) != fs::perms::none;
    for (fs::path dir = original.parent_path(); reachable && !dir.empty();
         dir = dir.parent_path()) {
      reachable = (fs::status(dir).permissions() & fs::perms::others_exec) != fs::perms::none;
      if (dir == dir.root_path()) break;
    }
    if (reachable) return original.string();
    const fs::path dir = fs::temp_directory_path() / fmt::format("vpgen_binary_{}", ::getpid());
    fs::create_directories(dir);
    fs::permissions(dir, fs::perms(0755));
    const fs::path copy = dir / "vpgen";
    fs::copy_file(original, copy, fs::copy_options::overwrite_existing);
    fs::permissions(copy, fs::perms(0755));
    static const struct RemoveAtExit {
      fs::path dir;
      ~RemoveAtExit() {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
      }
    } remove_at_exit{dir};
    return copy.string();
  }();
  return binary;
}

// Runs `vpgen ARGS` with stdin closed; stdout and stderr go through files in `dir`.
inline CliResult run_vpgen_in(const std::filesystem::path& dir, const std::string& args) {
  const std::filesystem::path out = dir / "stdout.txt";
  const std::filesystem::path err = dir / "stderr.txt";
  const std::string cmd =
      fmt::format("{} {} >{} 2>{} </dev/null", VPGEN_BINARY, args, out.string(), err.string());
  return result_of(std::system(cmd.c_str()), out, err);
}

// Runs `vpgen ARGS` with the test hook VPGEN_TEST_KILL_AFTER_BLOCK=blocks
// (tools/run/src/simulate_run.cpp): a simulate run SIGKILLs itself right after its blocks-th block
// is committed (0: once the run is recorded). The shell execs vpgen, so `signal` is vpgen's own.
inline CliResult run_vpgen_killed_in(const std::filesystem::path& dir, std::uint64_t blocks,
                                     const std::string& args) {
  const std::filesystem::path out = dir / "stdout.txt";
  const std::filesystem::path err = dir / "stderr.txt";
  const std::string cmd =
      fmt::format("exec env VPGEN_TEST_KILL_AFTER_BLOCK={} {} {} >{} 2>{} </dev/null", blocks,
                  VPGEN_BINARY, args, out.string(), err.string());
  return result_of(std::system(cmd.c_str()), out, err);
}

// Runs a shell command; stdout and stderr go through files in `dir`.
inline CliResult run_command_in(const std::filesystem::path& dir, const std::string& command) {
  const std::filesystem::path out = dir / "stdout.txt";
  const std::filesystem::path err = dir / "stderr.txt";
  const std::string cmd =
      fmt::format("{} >{} 2>{} </dev/null", command, out.string(), err.string());
  return result_of(std::system(cmd.c_str()), out, err);
}

// Environment assignments to put before a command that starts MPI (mpirun, or vpgen --mpi alone).
// Open MPI never frees some of what MPI_Init allocates; under LeakSanitizer (the sanitizer pass of
// tools/setup.sh) tests/sanitizer/lsan.supp names its libraries, which only full stacks show, as
// Open MPI has no frame pointers: hence the slow unwinder, and its components kept loaded so that
// their frames have names. Without sanitizers these variables change nothing.
inline std::string mpi_environment() {
  return "OMPI_MCA_mca_base_component_disable_dlclose=1 "
         "ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:fast_unwind_on_malloc=0\" ";
}

// The Open MPI mpirun command line to drive (with --oversubscribe: more ranks than the CI machine's
// 2 cores), or empty with the reason in `why_not`: the build has no MPI (VPGEN_MPIEXEC is defined
// only for test sources of an MPI build), mpirun is absent, or it is not Open MPI's.
inline std::string find_mpirun(const std::filesystem::path& dir, std::string& why_not) {
#ifndef VPGEN_MPIEXEC
  (void)dir;
  why_not = "this build has no MPI (VPGEN_MPI=OFF)";
  return "";
#else
  const std::string exec = VPGEN_MPIEXEC;
  if (exec.empty() || !std::filesystem::exists(exec)) {
    why_not = fmt::format("mpirun is absent ('{}')", exec);
    return "";
  }
  // --oversubscribe and the run-as-root variables are Open MPI's.
  const std::string version = run_command_in(dir, exec + " --version").out;
  if (version.find("OpenRTE") == std::string::npos &&
      version.find("Open MPI") == std::string::npos) {
    why_not = exec + " is not Open MPI's";
    return "";
  }
  // Root in CI containers: Open MPI refuses root unless told twice.
  return mpi_environment() + "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " + exec +
         " --oversubscribe";
#endif
}

}  // namespace vpgen::testing
