// Helpers for the tests that run the real `vpgen` binary (VPGEN_BINARY): its exit code and output,
// captured through files in a folder the caller owns. Not thread-safe (one run at a time per
// folder).
#pragma once

#include <fmt/format.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace vpgen::testing {

struct CliResult {
  int exit_code;
  std::string out;
  std::string err;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `vpgen ARGS` with stdin closed; stdout and stderr go through files in `dir`.
inline CliResult run_vpgen_in(const std::filesystem::path& dir, const std::string& args) {
  const std::filesystem::path out = dir / "stdout.txt";
  const std::filesystem::path err = dir / "stderr.txt";
  const std::string cmd =
      fmt::format("{} {} >{} 2>{} </dev/null", VPGEN_BINARY, args, out.string(), err.string());
  const int status = std::system(cmd.c_str());
  return CliResult{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

}  // namespace vpgen::testing
