// Files vpgen writes and reads, as an attacker or a careless user meets them (issue 17, items 1
// and 10): a symlink planted at a name vpgen would write (the output, a temporary beside it) is
// replaced or ignored, never followed, so the file it points at keeps its bytes; an input that is
// not a regular file, or is larger than the documented cap, is refused with one line and exit 2
// before anything is created. The tests run as whoever runs ctest; as root they stand for the
// unprivileged case, which the last test also runs as `nobody` where setpriv can drop privileges.
#include "support/cli_runner.hpp"
#include "support/configs.hpp"
#include "support/skip.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

using Result = vpgen::testing::CliResult;
using vpgen::testing::replace_once;
using vpgen::testing::slurp;
using vpgen::testing::write_text;

// The documented input cap (docs/RELIABILITY.md, README "Input files"): 16 MiB.
constexpr std::uintmax_t kInputCapBytes = 16u * 1024u * 1024u;

fs::path temp_dir() { return vpgen::testing::test_dir("files_test"); }

// A fresh folder per test case inside this process's scratch folder.
fs::path fresh_dir(const std::string& name) {
  const fs::path dir = temp_dir() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Runs vpgen with a hang guard: a read that blocks (a FIFO with no writer) ends the process
// after a minute instead of the test's timeout.
Result run_vpgen(const std::string& args) {
  return vpgen::testing::run_command_in(
      temp_dir(), fmt::format("timeout -s KILL 60 {} {}", VPGEN_BINARY, args));
}

const std::string kModel = vpgen::testing::kModelDir;

std::string scenario_text() { return vpgen::testing::default_scenario_text(); }

// A small results file, simulated once per process.
fs::path small_db() {
  static const fs::path db = [] {
    const fs::path dir = fresh_dir("db");
    const fs::path scenario = dir / "s.toml";
    write_text(scenario, scenario_text());
    const fs::path path = dir / "small.db";
    const Result r = run_vpgen(fmt::format("simulate {} --db {} --patients 60 --seed 3 --quiet",
                                           scenario.string(), path.string()));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return path;
  }();
  return db;
}

// A file only its owner may read, whose bytes must survive every command below.
constexpr const char* kVictimText = "victim: must never change\n";
fs::path make_victim(const fs::path& dir) {
  const fs::path victim = dir / "victim.txt";
  write_text(victim, kVictimText);
  fs::permissions(victim, fs::perms::owner_read | fs::perms::owner_write);
  return victim;
}

// The names of the entries of `dir` (not recursive).
std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename());
  return names;
}

bool one_line(const std::string& err) {
  return std::count(err.begin(), err.end(), '\n') == 1 && err.back() == '\n';
}

}  // namespace

TEST_SUITE_BEGIN("cli");

TEST_CASE("report --out never writes through a symlink at the output, its figures or a .partial") {
  const fs::path db = small_db();
  for (const std::string format : {"html", "md"}) {
    CAPTURE(format);
    // The names the report writes, learnt from a run into an empty folder.
    const fs::path clean = fresh_dir(fmt::format("report_clean_{}", format));
    const fs::path clean_out = clean / fmt::format("r.{}", format);
    const Result first = run_vpgen(fmt::format("report --db {} --format {} --out {}", db.string(),
                                               format, clean_out.string()));
    REQUIRE_MESSAGE(first.exit_code == 0, first.err);
    const std::set<std::string> written = names_in(clean);
    REQUIRE(written.count(clean_out.filename()) == 1);

    // The same run into a folder where every such name and NAME.partial is a link to the victim.
    const fs::path dir = fresh_dir(fmt::format("report_links_{}", format));
    const fs::path victim = make_victim(dir);
    for (const std::string& name : written) {
      fs::create_symlink(victim, dir / (name + ".partial"));
      fs::create_symlink(victim, dir / name);
    }
    const fs::path out = dir / clean_out.filename();
    const Result r = run_vpgen(
        fmt::format("report --db {} --format {} --out {}", db.string(), format, out.string()));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(slurp(victim) == kVictimText);
    for (const std::string& name : written) {
      CAPTURE(name);
      // Each output is now a regular file of its own with the clean run's bytes, the link gone.
      CHECK_FALSE(fs::is_symlink(dir / name));
      CHECK(fs::is_regular_file(dir / name));
      CHECK(slurp(dir / name) == slurp(clean / name));
      // The planted .partial links were neither followed nor needed.
      CHECK(fs::is_symlink(dir / (name + ".partial")));
    }
    // Nothing else is left behind (no temporary).
    std::set<std::string> expected = {victim.filename()};
    for (const std::string& name : written) {
      expected.insert(name);
      expected.insert(name + ".partial");
    }
    CHECK(names_in(dir) == expected);
  }
}

TEST_CASE("export --out never writes through a symlink at the output or its .partial") {
  const fs::path db = small_db();
  const fs::path dir = fresh_dir("export_links");
  const fs::path victim = make_victim(dir);
  const fs::path out = dir / "arms.csv";
  fs::create_symlink(victim, out.string() + ".partial");
  fs::create_symlink(victim, out);
  const Result r = run_vpgen(
      fmt::format("export --db {} --run 1 --table arms --out {}", db.string(), out.string()));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(slurp(victim) == kVictimText);
  CHECK_FALSE(fs::is_symlink(out));
  const Result to_stdout =
      run_vpgen(fmt::format("export --db {} --run 1 --table arms", db.string()));
  REQUIRE(to_stdout.exit_code == 0);
  CHECK(slurp(out) == to_stdout.out);
  CHECK(names_in(dir) == std::set<std::string>{"victim.txt", "arms.csv", "arms.csv.partial"});

  // A target that cannot be replaced (a folder): exit 2, one line naming it, no temporary left.
  const fs::path folder = dir / "a_folder";
  fs::create_directory(folder);
  const Result bad = run_vpgen(
      fmt::format("export --db {} --run 1 --table arms --out {}", db.string(), folder.string()));
  CHECK(bad.exit_code == 2);
  CHECK(one_line(bad.err));
  CHECK(bad.err.find(folder.string()) != std::string::npos);
  CHECK(names_in(dir) ==
        std::set<std::string>{"victim.txt", "arms.csv", "arms.csv.partial", "a_folder"});
  CHECK(fs::is_empty(folder));
}

TEST_CASE("an input that is not a regular file or is over the cap is refused, no database") {
  const fs::path dir = fresh_dir("inputs");
  const fs::path db = dir / "never.db";
  const fs::path fifo = dir / "fifo.toml";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const fs::path folder = dir / "folder.toml";
  fs::create_directory(folder);
  // A valid scenario padded with comment lines to one byte over the cap.
  const fs::path big = dir / "big.toml";
  {
    std::string text = scenario_text();
    const std::string comment = "# padding\n";
    while (text.size() + comment.size() <= kInputCapBytes) text += comment;
    text += std::string(kInputCapBytes + 1 - text.size() - 1, '#') + "\n";
    REQUIRE(text.size() == kInputCapBytes + 1);
    write_text(big, text);
  }
  auto with_population = [&](const std::string& name, const std::string& path) {
    const fs::path p = dir / name;
    write_text(p, replace_once(scenario_text(), kModel + "population.toml", path));
    return p;
  };
  struct Case {
    const char* label;
    std::string scenario;
    std::string named;  // the file the message must name
  };
  const std::vector<Case> cases = {
      {"/dev/zero as the scenario", "/dev/zero", "/dev/zero"},
      {"/dev/zero as the population file",
       with_population("zero_population.toml", "/dev/zero").string(), "/dev/zero"},
      {"a FIFO as the scenario", fifo.string(), fifo.string()},
      {"a FIFO as the population file",
       with_population("fifo_population.toml", fifo.string()).string(), fifo.string()},
      {"a folder as the scenario", folder.string(), folder.string()},
      {"a file one byte over the cap", big.string(), big.string()},
  };
  for (const Case& c : cases) {
    const std::string label = c.label;
    CAPTURE(label);
    const Result r = run_vpgen(fmt::format("simulate {} --db {} --quiet", c.scenario, db.string()));
    MESSAGE(r.err);
    CHECK(r.exit_code == 2);
    CHECK(one_line(r.err));
    CHECK(r.err.find(c.named) != std::string::npos);
    CHECK_FALSE(fs::exists(db));
  }
  fs::remove(big);  // 16 MiB
}

TEST_CASE("every command that reads an input file refuses /dev/zero: one line, exit 2, no output") {
  const fs::path dir = fresh_dir("zero_everywhere");
  const fs::path db = dir / "never.db";
  const fs::path out = dir / "never_out";
  const std::vector<std::string> commands = {
      fmt::format("size /dev/zero --db {} --quiet", db.string()),
      "validate --targets /dev/zero --quiet",
      "calibrate /dev/zero --quiet",
      fmt::format("batch /dev/zero --out {} --quiet", out.string()),
      fmt::format("report --db {} --validation /dev/zero --format html --out {}",
                  small_db().string(), out.string()),
  };
  for (const std::string& command : commands) {
    CAPTURE(command);
    const Result r = run_vpgen(command);
    CHECK(r.exit_code == 2);
    CHECK(one_line(r.err));
    CHECK(r.err.find("/dev/zero: not a regular file") != std::string::npos);
    CHECK_FALSE(fs::exists(db));
    CHECK_FALSE(fs::exists(out));
  }
}

TEST_CASE(
    "as nobody, export --out in a shared sticky folder ignores a link planted by another user") {
  // The unprivileged case itself: the folder is like /tmp (mode 1777), the victim is the user's
  // own file, and the link is planted by another user (root here). Needs root to set it up and
  // setpriv to drop to nobody.
  if (::geteuid() != 0) {
    vpgen::testing::skip_test("needs root to plant a link as another user and run as nobody");
    return;
  }
  if (!vpgen::testing::have_program("setpriv")) {
    vpgen::testing::skip_test("setpriv (util-linux) is not installed");
    return;
  }
  const fs::path shared =
      fs::temp_directory_path() / fmt::format("vpgen_files_shared_{}", ::getpid());
  fs::remove_all(shared);
  fs::create_directory(shared);
  fs::permissions(shared, fs::perms::all | fs::perms::sticky_bit);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } cleanup{shared};
  const fs::path db = shared / "small.db";
  fs::copy_file(small_db(), db);
  const fs::path victim = shared / "victim.txt";
  write_text(victim, kVictimText);
  fs::permissions(victim, fs::perms::owner_read | fs::perms::owner_write);
  const std::string nobody = "setpriv --reuid=nobody --regid=nogroup --clear-groups";
  for (const fs::path& p : {db, victim})
    REQUIRE(vpgen::testing::run_command_in(temp_dir(),
                                           fmt::format("chown nobody:nogroup {}", p.string()))
                .exit_code == 0);
  const fs::path out = shared / "arms.csv";
  fs::create_symlink(victim, out.string() + ".partial");  // planted by root, "another user"
  const Result r = vpgen::testing::run_command_in(
      temp_dir(),
      fmt::format("{} {} export --db {} --run 1 --table arms --out {}", nobody,
                  vpgen::testing::vpgen_binary_for_others(), db.string(), out.string()));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(slurp(victim) == kVictimText);
  struct stat info {};
  REQUIRE(::lstat(out.c_str(), &info) == 0);
  CHECK(S_ISREG(info.st_mode));
  CHECK(info.st_uid != 0);  // written by nobody
  CHECK(slurp(out) ==
        run_vpgen(fmt::format("export --db {} --run 1 --table arms", small_db().string())).out);
}

TEST_SUITE_END();
