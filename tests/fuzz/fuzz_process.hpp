// Runs one `vpgen` command for the configuration fuzzer (config_fuzz.cpp): no shell, its own
// process group, a wall-clock limit, a file-size limit, and sanitizer reports sent to files in the
// case's folder so that they can be found whatever ASAN_OPTIONS the caller set. Not thread-safe
// (fork from one thread at a time).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "support/files.hpp"

extern char** environ;

namespace vpgen::fuzz {

struct ProcessResult {
  int exit_code = -1;  // -1 when a signal ended it
  int signal = 0;      // the signal that ended it (SIGKILL after a timeout too)
  bool timed_out = false;
  double seconds = 0;
  std::string out;
  std::string err;
};

// `options` with `key=value` appended: sanitizers read their options left to right, so the
// appended value wins over one the caller's environment set.
inline std::string with_option(const char* inherited, const std::string& option) {
  const std::string base = inherited != nullptr ? inherited : "";
  return base.empty() ? option : base + ":" + option;
}

// Runs argv[0] (an absolute path) with `cwd` as its working directory, stdin from /dev/null and
// stdout/stderr into `dir`/stdout.txt and stderr.txt; kills its process group after
// `limit_seconds`. ASan and UBSan reports go to `dir`/asan.PID and ubsan.PID (see
// sanitizer_reports); a child may write at most 1 GiB per file (SIGXFSZ beyond), and in a build
// without sanitizers it may map at most 2 GiB (ASan reserves terabytes of address space, so there
// ASan's own hard_rss_limit_mb bounds it instead).
inline ProcessResult run_process(const std::vector<std::string>& argv,
                                 const std::filesystem::path& cwd, const std::filesystem::path& dir,
                                 double limit_seconds, bool sanitized) {
  const std::filesystem::path out = dir / "stdout.txt";
  const std::filesystem::path err = dir / "stderr.txt";
  // Everything the child needs is built before fork: the child only calls async-signal-safe
  // functions.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (entry.rfind("ASAN_OPTIONS=", 0) == 0 || entry.rfind("UBSAN_OPTIONS=", 0) == 0) continue;
    env_strings.push_back(entry);
  }
  env_strings.push_back("ASAN_OPTIONS=" + with_option(std::getenv("ASAN_OPTIONS"),
                                                      "log_path=" + (dir / "asan").string() +
                                                          ":hard_rss_limit_mb=2048"));
  env_strings.push_back("UBSAN_OPTIONS=" + with_option(std::getenv("UBSAN_OPTIONS"),
                                                       "log_path=" + (dir / "ubsan").string()));
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& s : args) argp.push_back(s.data());
  argp.push_back(nullptr);
  const std::string cwd_text = cwd.string();
  const std::string out_text = out.string();
  const std::string err_text = err.string();

  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::setpgid(0, 0);
    const int in_fd = ::open("/dev/null", O_RDONLY);
    const int out_fd = ::open(out_text.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err_fd = ::open(err_text.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in_fd < 0 || out_fd < 0 || err_fd < 0 || ::chdir(cwd_text.c_str()) != 0) ::_exit(126);
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    const rlimit file_size{rlim_t{1} << 30, rlim_t{1} << 30};
    ::setrlimit(RLIMIT_FSIZE, &file_size);
    if (!sanitized) {
      const rlimit address_space{rlim_t{2} << 30, rlim_t{2} << 30};
      ::setrlimit(RLIMIT_AS, &address_space);
    }
    ::execve(argp[0], argp.data(), envp.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here, so that the kill below reaches it whichever runs first

  ProcessResult result;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (done == pid) {
      result.seconds = elapsed;
      break;
    }
    if (elapsed > limit_seconds) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      result.seconds = elapsed;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(elapsed < 1 ? 2 : 10));
  }
  // Anything the command started in its group goes with it.
  ::kill(-pid, SIGKILL);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  result.out = vpgen::testing::slurp(out);
  result.err = vpgen::testing::slurp(err);
  return result;
}

// The sanitizer reports of a run: files written through log_path, and report lines on stderr or
// stdout (where a sanitizer writes when log_path cannot be opened).
inline std::string sanitizer_reports(const std::filesystem::path& dir, const ProcessResult& r) {
  std::string found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("asan.", 0) == 0 || name.rfind("ubsan.", 0) == 0)
      found += "--- " + name + "\n" + vpgen::testing::slurp(entry.path());
  }
  for (const char* marker :
       {"AddressSanitizer", "runtime error:", "LeakSanitizer", "UndefinedBehaviorSanitizer"}) {
    if (r.err.find(marker) != std::string::npos || r.out.find(marker) != std::string::npos)
      found += std::string("--- '") + marker + "' in the output\n";
  }
  return found;
}

}  // namespace vpgen::fuzz
