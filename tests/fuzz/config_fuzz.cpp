// The configuration fuzzer: the shipped configuration files (scenarios, trials, model parameter
// files, designs, the nightly file, the target mapping and table), mutated by
// fuzz_mutator.hpp and fed to the real `vpgen` (simulate, size, validate, batch). A case fails on
// a signal, a sanitizer report, a timeout, an exit code other than 0, 1 or 2, or a refused input
// (exit 2) that left a database or batch output behind. The corpus (tests/fuzz/corpus/, README.md
// there) runs first, each case with its expected exit code. Settings from the environment:
//   VPGEN_FUZZ_SEED    master seed (default 20261207); case k's edits depend on (seed, k) only
//   VPGEN_FUZZ_CASES   number of mutated cases (default: 50 in Release, kSanitizedCases under ASan)
//   VPGEN_FUZZ_FIRST   index of the first case (default 0): FIRST=k CASES=1 replays case k alone
//   VPGEN_FUZZ_CASE_SECONDS  per-case wall-clock limit (default 30, 150 under sanitizers)
//   VPGEN_FUZZ_KEEP    folder where failing cases are kept (default: the scratch folder)
#include "fuzz_mutator.hpp"
#include "fuzz_process.hpp"
#include "support/files.hpp"
#include "vpgen/storage/database.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using vpgen::testing::slurp;
using vpgen::testing::write_text;

#ifdef VPGEN_FUZZ_SANITIZED
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
// Sized so that the whole fuzz run takes about 3 minutes in the ASan build on the 2-core CI
// machine: 300 mutated cases took 140 s there, the control and the corpus 40 s (tests/README.md).
constexpr std::size_t kSanitizedCases = 300;
constexpr std::size_t kReleaseCases = 50;

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  return std::stoull(value);
}

struct Settings {
  std::uint64_t seed = env_number("VPGEN_FUZZ_SEED", 20261207);
  std::uint64_t cases =
      env_number("VPGEN_FUZZ_CASES", kSanitized ? kSanitizedCases : kReleaseCases);
  std::uint64_t first = env_number("VPGEN_FUZZ_FIRST", 0);
  double case_seconds =
      static_cast<double>(env_number("VPGEN_FUZZ_CASE_SECONDS", kSanitized ? 150 : 30));
};

// A vpgen command on a file of the configuration tree (path relative to configs/); the fuzzer
// adds the flags that keep it small and inside the case's folder.
struct Invocation {
  std::string command;  // simulate, size, validate, batch
  std::string file;
  std::vector<std::string> extra;
};

// What the command writes: the database, or batch's output folder.
constexpr const char* kDb = "out.db";
constexpr const char* kOutDir = "out";

std::vector<std::string> argv_of(const Invocation& run) {
  std::vector<std::string> argv = {VPGEN_BINARY, run.command};
  // An absolute file (/dev/zero) is taken as it is.
  const std::string file = run.file.rfind('/', 0) == 0 ? run.file : "configs/" + run.file;
  if (run.command == "simulate")
    argv.insert(argv.end(), {file, "--db", kDb, "--patients", "20", "--threads", "1", "--quiet"});
  else if (run.command == "size")
    argv.insert(argv.end(), {file, "--db", kDb, "--threads", "1", "--quiet"});
  else if (run.command == "validate")
    argv.insert(argv.end(), {"--targets", file, "--patients", "20", "--threads", "1", "--quiet"});
  else if (run.command == "batch")
    argv.insert(argv.end(), {file, "--out", kOutDir, "--threads", "1", "--quiet"});
  else  // a reader of the database (corpus only: patient, runs, report, export); FILE is `-`
    argv.insert(argv.end(), {"--db", kDb});
  argv.insert(argv.end(), run.extra.begin(), run.extra.end());
  return argv;
}

std::string command_line(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& arg : argv) line += (line.empty() ? "" : " ") + arg;
  return line;
}

// One case: files of the tree replaced by new text, then one command.
struct Case {
  std::string name;
  Invocation run;
  std::map<std::string, std::string> replaced;  // path under configs/ -> text
  std::vector<int> expect;  // corpus: the exit codes it may give (any of them); empty: 0, 1 or 2
  std::string needs;        // corpus: the fix it waits for, if any
  std::optional<Invocation> prepare;  // corpus: a run (exit 0) that makes out.db first
  std::string sql;                    // corpus: then this statement on out.db
  bool printable = false;  // corpus: output free of control characters, an error in one line
  std::string log;         // what was done to the files
};

// ---- The configuration tree ---------------------------------------------------------------------

// configs/ copied to `base`, with the sizes that make a run slow cut down (patients of batch jobs,
// design pools and replicates): the fuzzer looks for crashes, not for statistics.
void make_base_tree(const fs::path& base) {
  fs::remove_all(base);
  fs::create_directories(base);
  fs::copy(VPGEN_SOURCE_DIR "/configs", base / "configs", fs::copy_options::recursive);
  const auto edit = [&](const fs::path& file,
                        const std::vector<std::pair<std::string, std::string>>& rules) {
    std::string text = slurp(file);
    for (const auto& [pattern, replacement] : rules)
      text = std::regex_replace(text, std::regex(pattern), replacement);
    write_text(file, text);
  };
  for (const auto& entry : fs::directory_iterator(base / "configs/designs"))
    edit(entry.path(), {{R"((\n)pool_patients = \d+)", "$1pool_patients = 300"},
                        {R"((\[replicates\]\n)min = \d+\nmax = \d+)", "$1min = 20\nmax = 40"},
                        {R"((\n)batch = \d+)", "$1batch = 20"}});
  edit(base / "configs/nightly/nightly.toml", {{R"((\n)patients = \d+)", "$1patients = 20"}});
}

// The commands that read each file, and the strings a path in it may become.
struct Target {
  std::string file;  // under configs/
  Invocation run;
  std::vector<std::string> names;  // files it names that may be mutated with it
};

std::vector<Target> targets() {
  std::vector<Target> all;
  const std::vector<std::string> model = {"model/population.toml", "model/course.toml",
                                          "model/regimens.toml", "model/life_table.toml"};
  for (const char* scenario : {"default.toml", "keynote024.toml", "til_melanoma.toml"})
    all.push_back({scenario, {"simulate", scenario, {}}, model});
  for (const auto& entry : fs::directory_iterator(VPGEN_SOURCE_DIR "/configs/trials")) {
    const std::string file = "trials/" + entry.path().filename().string();
    all.push_back({file, {"simulate", file, {}}, model});
  }
  // A parameter file, through the scenario that names it (twice as likely as any one scenario).
  for (const auto& file : model) {
    all.push_back({file, {"simulate", "default.toml", {}}, {}});
    all.push_back({file, {"simulate", "keynote024.toml", {}}, {}});
  }
  for (const auto& entry : fs::directory_iterator(VPGEN_SOURCE_DIR "/configs/designs")) {
    const std::string file = "designs/" + entry.path().filename().string();
    all.push_back({file, {"size", file, {}}, {"default.toml", "keynote024.toml"}});
  }
  const Target nightly = {"nightly/nightly.toml",
                          {"batch", "nightly/nightly.toml", {}},
                          {"default.toml", "designs/parametric_exponential_logrank.toml"}};
  for (int i = 0; i < 3; ++i) all.push_back(nightly);
  for (const char* file : {"targets/mapping.toml", "targets/targets.csv"})
    all.push_back({file, {"validate", "targets/mapping.toml", {}}, {"trials/checkmate067.toml"}});
  return all;
}

// Strings a path value may become, relative to a file under configs/<dir>/ or absolute: other
// files of the tree (of the wrong kind too), the file itself, folders, missing and odd paths.
std::vector<std::string> path_values(const fs::path& case_dir, const std::string& file) {
  const std::string up = fs::path(file).has_parent_path() ? "../" : "";
  std::vector<std::string> paths = {up + "default.toml",
                                    up + "model/regimens.toml",
                                    up + "model/population.toml",
                                    up + "targets/targets.csv",
                                    up + "nightly/nightly.toml",
                                    fs::path(file).filename().string(),
                                    "",
                                    ".",
                                    "/",
                                    "/dev/null",
                                    "/nonexistent/x.toml",
                                    "../../../../../../../../etc/passwd",
                                    (case_dir / "configs").string(),
                                    std::string(5000, 'a') + ".toml",
                                    "a\\u0000b.toml",
                                    "\\u001b[2J.toml"};
  return paths;
}

// ---- Running and judging a case -----------------------------------------------------------------

// The main file's bytes, and whether a non-empty WAL holds more (an exit-2 run must change neither).
std::string db_state(const fs::path& db) {
  if (!fs::exists(db)) return "absent";
  const fs::path wal = db.string() + "-wal";
  const bool wal_data = fs::exists(wal) && fs::file_size(wal) > 0;
  return slurp(db) + (wal_data ? "+wal" : "");
}

// What is wrong with a finished run; empty if nothing is.
std::string judge(const Case& c, const vpgen::fuzz::ProcessResult& r, const fs::path& dir,
                  const std::optional<std::string>& db_before) {
  std::string wrong;
  if (r.timed_out) wrong += fmt::format("timed out after {:.0f} s\n", r.seconds);
  else if (r.signal != 0)
    wrong += fmt::format("ended by signal {} ({})\n", r.signal, strsignal(r.signal));
  else if (r.exit_code < 0 || r.exit_code > 2) wrong += fmt::format("exit code {}\n", r.exit_code);
  wrong += vpgen::fuzz::sanitizer_reports(dir, r);
  if (!c.expect.empty() && !r.timed_out && r.signal == 0 &&
      std::find(c.expect.begin(), c.expect.end(), r.exit_code) == c.expect.end())
    wrong += fmt::format("exit code {}, expected {}{}\n", r.exit_code, fmt::join(c.expect, " or "),
                         c.needs.empty() ? "" : " (needs " + c.needs + ")");
  if (c.printable) {
    for (const auto& [name, text] : {std::pair{"stdout", r.out}, std::pair{"stderr", r.err}}) {
      const auto bad = std::find_if(text.begin(), text.end(), [](char ch) {
        const auto u = static_cast<unsigned char>(ch);
        return (u < 0x20 && ch != '\n') || u == 0x7f;
      });
      if (bad != text.end())
        wrong += fmt::format("{} holds control character 0x{:02x}\n", name,
                             static_cast<unsigned char>(*bad));
    }
    const auto lines = std::count(r.err.begin(), r.err.end(), '\n');
    if (r.exit_code != 0 && lines != 1)
      wrong += fmt::format("exit {} with {} lines on stderr, not one\n", r.exit_code, lines);
  }
  if (r.exit_code == 2) {
    if (db_before) {
      if (db_state(dir / kDb) != *db_before) wrong += "exit 2, but out.db changed\n";
    } else {
      for (const char* suffix : {"", "-wal", "-shm", "-journal"})
        if (fs::exists(dir / (std::string(kDb) + suffix)))
          wrong += fmt::format("exit 2, but {}{} was left behind\n", kDb, suffix);
    }
    for (const char* name : {"results.db", "summary.json", "index.html"})
      if (fs::exists(dir / kOutDir / name))
        wrong += fmt::format("exit 2, but {}/{} was left behind\n", kOutDir, name);
  }
  return wrong;
}

fs::path keep_root(const fs::path& scratch) {
  const char* keep = std::getenv("VPGEN_FUZZ_KEEP");
  return keep != nullptr && *keep != '\0' ? fs::path(keep) : scratch / "failed";
}

// A failing case as a corpus entry (tests/fuzz/corpus/README.md): NAME.case and its files.
void keep_case(const Case& c, const fs::path& dir, const std::vector<std::string>& argv,
               const std::string& wrong, int exit_code) {
  fs::create_directories(dir);
  std::string sidecar = "# " + std::regex_replace(wrong, std::regex("\n(?=.)"), "\n# ");
  sidecar += "# edits:\n# " + std::regex_replace(c.log, std::regex("\n(?=.)"), "\n# ");
  sidecar += "run = " + c.run.command + " " + c.run.file;
  for (const auto& arg : c.run.extra) sidecar += " " + arg;
  sidecar += fmt::format("\nexpect = {}\n", exit_code >= 0 && exit_code <= 2 ? exit_code : 2);
  int n = 0;
  for (const auto& [path, text] : c.replaced) {
    const std::string file =
        fmt::format("{}.{}.{}", c.name, n++, fs::path(path).filename().string());
    write_text(dir / file, text);
    sidecar += fmt::format("replace {} = {}\n", path, file);
  }
  write_text(dir / (c.name + ".case"), sidecar);
  write_text(dir / (c.name + ".command"), command_line(argv) + "\n");
}

// Runs one case in scratch/NAME (removed if it passes); returns what went wrong, empty if nothing.
// `exit_code` receives the command's exit code (-1: a signal).
std::string run_case(const Case& c, const fs::path& scratch, const Settings& settings,
                     int* exit_code = nullptr) {
  const fs::path dir = scratch / c.name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy(scratch / "base" / "configs", dir / "configs", fs::copy_options::recursive);
  for (const auto& [path, text] : c.replaced) write_text(dir / "configs" / path, text);

  std::optional<std::string> db_before;
  if (c.prepare) {
    const auto argv = argv_of(*c.prepare);
    const auto r = vpgen::fuzz::run_process(argv, dir, dir, settings.case_seconds, kSanitized);
    if (r.exit_code != 0)
      return fmt::format("preparing run `{}` gave exit {}: {}", command_line(argv), r.exit_code,
                         r.err);
    if (!c.sql.empty()) {
      vpgen::sql::Database db((dir / kDb).string(), vpgen::sql::OpenMode::kReadWrite);
      db.execute(c.sql);
    }
    db_before = db_state(dir / kDb);
  }
  const auto argv = argv_of(c.run);
  const auto r = vpgen::fuzz::run_process(argv, dir, dir, settings.case_seconds, kSanitized);
  if (exit_code != nullptr) *exit_code = r.exit_code;
  const std::string wrong = judge(c, r, dir, db_before);
  if (wrong.empty()) {
    fs::remove_all(dir);
    return "";
  }
  const fs::path kept = keep_root(scratch) / c.name;
  keep_case(c, kept, argv, wrong, r.exit_code);
  fs::copy(dir, kept / "tree", fs::copy_options::recursive);
  std::string tail = r.err.size() > 2000 ? r.err.substr(r.err.size() - 2000) : r.err;
  return fmt::format("{}edits:\n{}command (in {}): {}\nstderr: {}\nkept in {}", wrong, c.log,
                     (kept / "tree").string(), command_line(argv), tail, kept.string());
}

fs::path scratch_dir() {
  static const fs::path dir = [] {
    const fs::path d = vpgen::testing::test_dir("fuzz");
    make_base_tree(d / "base");
    return d;
  }();
  return dir;
}

// ---- The corpus ---------------------------------------------------------------------------------

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

Invocation parse_invocation(const std::string& text) {
  std::istringstream words(text);
  Invocation run;
  words >> run.command >> run.file;
  for (std::string w; words >> w;) run.extra.push_back(w);
  return run;
}

// NAME.case (tests/fuzz/corpus/README.md): `run = COMMAND FILE [ARGS]`, `expect = CODE [CODE]`,
// `replace PATH = FILE` (any number), optional `needs = ...`, `prepare = COMMAND FILE [ARGS]`,
// `sql = STATEMENT` and `printable = yes`; # comments.
Case load_corpus_case(const fs::path& sidecar) {
  Case c;
  c.name = "corpus-" + sidecar.stem().string();
  std::istringstream lines(slurp(sidecar));
  for (std::string line; std::getline(lines, line);) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find(" = ");
    REQUIRE_MESSAGE(eq != std::string::npos, sidecar.string() << ": not `key = value`: " << line);
    const std::string key = trim(line.substr(0, eq));
    const std::string value = trim(line.substr(eq + 3));
    if (key == "run") c.run = parse_invocation(value);
    else if (key == "expect") {
      std::istringstream codes(value);
      for (int code = 0; codes >> code;) c.expect.push_back(code);
    } else if (key == "needs") c.needs = value;
    else if (key == "prepare") c.prepare = parse_invocation(value);
    else if (key == "sql") c.sql = value;
    else if (key == "printable") c.printable = value == "yes";
    else if (key.rfind("replace ", 0) == 0)
      c.replaced[trim(key.substr(8))] = slurp(sidecar.parent_path() / value);
    else FAIL(sidecar.string() << ": unknown key '" << key << "'");
  }
  REQUIRE_MESSAGE(!c.run.command.empty(), sidecar.string() << ": no `run`");
  REQUIRE_MESSAGE(!c.expect.empty(), sidecar.string() << ": no `expect`");
  for (const auto& [path, text] : c.replaced) {
    REQUIRE_MESSAGE(fs::exists(fs::path(VPGEN_SOURCE_DIR "/configs") / path),
                    sidecar.string() << ": replaces " << path << ", which configs/ lacks");
    c.log += "replace " + path + "\n";
  }
  return c;
}

// ---- A mutated case -----------------------------------------------------------------------------

Case mutated_case(std::uint64_t seed, std::uint64_t index, const std::vector<Target>& all,
                  const fs::path& scratch) {
  // Each case its own stream: case k is the same whatever ran before it.
  vpgen::fuzz::Mutator m(seed * 0x9E3779B97F4A7C15ULL + index * 0xBF58476D1CE4E5B9ULL + 1);
  const Target& target = m.one_of(all);
  // Each copy of a [[scenario]] or [[design]] of a nightly file is a whole job.
  if (target.run.command == "batch") m = vpgen::fuzz::Mutator(m.pick(~0ULL), 3);
  Case c;
  c.name = fmt::format("case-{}-{}", seed, index);
  c.run = target.run;
  const fs::path base = scratch / "base" / "configs";
  const auto mutate = [&](const std::string& file) {
    c.log += file + ":\n";
    c.replaced[file] = m.mutate(slurp(base / file), path_values(scratch / c.name, file), c.log);
  };
  mutate(target.file);
  // Files that name other files: sometimes the named file is mutated too.
  if (!target.names.empty() && m.chance(25)) mutate(m.one_of(target.names));
  return c;
}

}  // namespace

TEST_SUITE_BEGIN("cli fuzz slow");

TEST_CASE("config fuzz: the unmutated commands succeed (the fuzzer's control)") {
  const fs::path scratch = scratch_dir();
  const Settings settings;
  std::map<std::string, Invocation> commands;
  for (const auto& t : targets()) commands.emplace(t.run.command, t.run);
  for (const auto& [name, run] : commands) {
    Case c;
    c.name = "control-" + name;
    c.run = run;
    c.expect = {0};
    const std::string wrong = run_case(c, scratch, settings);
    CHECK_MESSAGE(wrong.empty(), c.name << ": " << wrong);
  }
}

TEST_CASE("config fuzz: every corpus input gives its expected exit code and nothing worse") {
  const fs::path scratch = scratch_dir();
  const Settings settings;
  const fs::path corpus = VPGEN_SOURCE_DIR "/tests/fuzz/corpus";
  std::vector<fs::path> sidecars;
  for (const auto& entry : fs::directory_iterator(corpus))
    if (entry.path().extension() == ".case") sidecars.push_back(entry.path());
  std::sort(sidecars.begin(), sidecars.end());
  REQUIRE_MESSAGE(!sidecars.empty(), "no .case files in " << corpus.string());
  for (const auto& sidecar : sidecars) {
    const Case c = load_corpus_case(sidecar);
    const std::string wrong = run_case(c, scratch, settings);
    CHECK_MESSAGE(wrong.empty(), sidecar.filename().string() << ": " << wrong);
  }
}

TEST_CASE("config fuzz: mutated configurations never crash, hang or leave a refused run behind") {
  const fs::path scratch = scratch_dir();
  const Settings settings;
  const std::vector<Target> all = targets();
  MESSAGE(fmt::format("VPGEN_FUZZ_SEED={} VPGEN_FUZZ_FIRST={} VPGEN_FUZZ_CASES={}", settings.seed,
                      settings.first, settings.cases));
  std::map<int, int> exits;
  std::size_t failures = 0;
  for (std::uint64_t k = settings.first; k < settings.first + settings.cases; ++k) {
    const Case c = mutated_case(settings.seed, k, all, scratch);
    int exit_code = -1;
    const std::string wrong = run_case(c, scratch, settings, &exit_code);
    ++exits[exit_code];
    if (!wrong.empty()) {
      ++failures;
      FAIL_CHECK(
          fmt::format("seed {} case {} (replay: VPGEN_FUZZ_SEED={} VPGEN_FUZZ_FIRST={} "
                      "VPGEN_FUZZ_CASES=1): {}",
                      settings.seed, k, settings.seed, k, wrong));
    }
  }
  std::string counts;
  for (const auto& [code, n] : exits) counts += fmt::format(" exit {}: {};", code, n);
  MESSAGE(fmt::format("{} cases, {} failed;{}", settings.cases, failures, counts));
}

TEST_SUITE_END();
