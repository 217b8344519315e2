// What people and programs read from vpgen, made safe (issue 17, items 7 and 8): CSV cells a
// spreadsheet would evaluate, names with control characters (refused in configuration files,
// escaped when they come from a database), one-line errors, standard output that cannot be
// written, impossible calculator input, unusable paths, a damaged stored scenario, and integer
// flags that take decimal digits only.
#include "support/cli_runner.hpp"
#include "support/files.hpp"
#include "support/skip.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

using Result = vpgen::testing::CliResult;
using vpgen::testing::line_of;
using vpgen::testing::replace_once;
using vpgen::testing::slurp;
using vpgen::testing::write_text;

fs::path temp_dir() { return vpgen::testing::test_dir("text_safety_test"); }

Result run_vpgen(const std::string& args) { return vpgen::testing::run_vpgen_in(temp_dir(), args); }

// `vpgen ARGS` with its standard output sent where `stdout_redirection` says (">/dev/full",
// ">&-"); stderr is captured.
Result run_vpgen_stdout(const std::string& args, const std::string& stdout_redirection) {
  const fs::path err = temp_dir() / "stderr.txt";
  const std::string cmd =
      fmt::format("{} {} {} 2>{} </dev/null", VPGEN_BINARY, args, stdout_redirection, err.string());
  return vpgen::testing::result_of(std::system(cmd.c_str()), temp_dir() / "none", err);
}

const std::string kModel = VPGEN_SOURCE_DIR "/configs/model/";

// The default scenario with its parameter paths made absolute.
std::string scenario_text() {
  std::string text = slurp(VPGEN_SOURCE_DIR "/configs/default.toml");
  for (const char* name : {"population", "course", "regimens", "life_table"}) {
    const std::string from = fmt::format("\"model/{}.toml\"", name);
    text = replace_once(text, from, fmt::format("\"{}{}.toml\"", kModel, name));
  }
  return text;
}

fs::path write_scenario(const std::string& name, const std::string& text) {
  const fs::path p = temp_dir() / name;
  write_text(p, text);
  return p;
}

std::size_t lines_in(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// RFC 4180 records (fields in double quotes may hold commas, "" and line breaks; CRLF or LF).
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> records(1, std::vector<std::string>(1));
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    std::string& field = records.back().back();
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') field += text[++i];
      else if (c == '"') quoted = false;
      else field += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      records.back().emplace_back();
    } else if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      records.emplace_back(1);
    } else {
      field += c;
    }
  }
  if (records.back().size() == 1 && records.back()[0].empty()) records.pop_back();
  return records;
}

std::size_t column(const std::vector<std::string>& header, const std::string& name) {
  const auto at = std::find(header.begin(), header.end(), name);
  REQUIRE_MESSAGE(at != header.end(), "no column " << name);
  return static_cast<std::size_t>(at - header.begin());
}

// A small run of the default scenario (its names edited by the caller) in a fresh database.
fs::path simulate(const std::string& name, const std::string& text) {
  const fs::path scenario = write_scenario(name + ".toml", text);
  const fs::path db = temp_dir() / (name + ".db");
  fs::remove(db);
  const Result sim = run_vpgen(
      fmt::format("simulate {} --db {} --patients 4 --quiet", scenario.string(), db.string()));
  REQUIRE_MESSAGE(sim.exit_code == 0, sim.err);
  return db;
}

// Runs SQL on `db` with the sqlite3 shell; false (and the test skipped) when it is absent.
bool run_sql(const fs::path& db, const std::string& sql) {
  if (!vpgen::testing::have_program("sqlite3")) {
    vpgen::testing::skip_test("the sqlite3 shell is absent (Debian package sqlite3)");
    return false;
  }
  const fs::path script = temp_dir() / "edit.sql";
  write_text(script, sql);
  const Result r = vpgen::testing::run_command_in(
      temp_dir(), fmt::format("sqlite3 {} '.read {}'", db.string(), script.string()));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  return true;
}

}  // namespace

TEST_SUITE_BEGIN("cli");

// ---- Item 7: CSV formula injection ----------------------------------------------------------

TEST_CASE("export quotes text cells a spreadsheet would evaluate, and leaves numbers alone") {
  std::string text = replace_once(scenario_text(), "name = \"default\"", "name = \"=1+2\"");
  text = replace_once(text, "name = \"nivo+ipi\"", "name = \"@SUM(A1)\"");
  text = replace_once(text, "name = \"nivo\"", "name = \"-2+3, \\\"x\\\"\"");
  text = replace_once(text, "name = \"ipi\"", "name = \"+ipi\"");
  const fs::path db = simulate("formula", text);

  const Result arms = run_vpgen(fmt::format("export --db {} --run 1 --table arms", db.string()));
  REQUIRE_MESSAGE(arms.exit_code == 0, arms.err);
  // RFC 4180: the prefixed cell is quoted, its quotes doubled.
  CHECK(arms.out.find("\"'@SUM(A1)\"") != std::string::npos);
  CHECK(arms.out.find("\"'-2+3, \"\"x\"\"\"") != std::string::npos);
  const auto records = parse_csv(arms.out);
  REQUIRE(records.size() == 4);
  const std::size_t name = column(records[0], "name");
  CHECK(records[1][name] == "'@SUM(A1)");
  CHECK(records[2][name] == "'-2+3, \"x\"");
  CHECK(records[3][name] == "'+ipi");
  const std::size_t index = column(records[0], "arm_index");
  CHECK(records[2][index] == "1");  // an INTEGER cell is a number, unquoted

  const Result runs = run_vpgen(fmt::format("export --db {} --run 1 --table runs", db.string()));
  REQUIRE_MESSAGE(runs.exit_code == 0, runs.err);
  const auto run_records = parse_csv(runs.out);
  REQUIRE(run_records.size() == 2);
  CHECK(run_records[1][column(run_records[0], "scenario_name")] == "'=1+2");

  // JSON Lines keeps the text as it is: no spreadsheet reads it.
  const Result jsonl =
      run_vpgen(fmt::format("export --db {} --run 1 --table arms --format jsonl", db.string()));
  REQUIRE(jsonl.exit_code == 0);
  CHECK(nlohmann::json::parse(jsonl.out.substr(0, jsonl.out.find('\n')))["name"] == "@SUM(A1)");

  // A REAL that is negative stays a number; TEXT that looks like one is still text.
  if (!run_sql(db, "UPDATE runs SET wall_seconds = -1.5, git_commit = '-1.5';")) return;
  const Result edited = run_vpgen(fmt::format("export --db {} --run 1 --table runs", db.string()));
  REQUIRE(edited.exit_code == 0);
  const auto edited_records = parse_csv(edited.out);
  CHECK(edited_records[1][column(edited_records[0], "wall_seconds")] == "-1.5");
  CHECK(edited_records[1][column(edited_records[0], "git_commit")] == "'-1.5");
}

// ---- Item 7: control characters in names -----------------------------------------------------

TEST_CASE("names with control characters are refused: one line naming file, line and key") {
  const std::string good = scenario_text();
  struct Case {
    const char* label;
    std::string text;
    std::string key;
    int line;
    std::string shown;  // how the character appears in the message
  };
  const std::vector<Case> cases = {
      {"terminal escape in the scenario name",
       replace_once(good, "name = \"default\"", "name = \"a\\u001b[2Jb\""), "scenario.name",
       line_of(good, "name = \"default\""), "\\x1B"},
      {"line break in an arm name",
       replace_once(good, "name = \"nivo\"", "name = \"nivo\\nipi  complete\""), "arms[1].name",
       line_of(good, "name = \"nivo\""), "\\x0A"},
      {"bidi override in an arm name",
       replace_once(good, "name = \"ipi\"", "name = \"ipi\\u202Eevil\""), "arms[2].name",
       line_of(good, "name = \"ipi\""), "\\u{202E}"},
      {"C1 control in a regimen reference",
       replace_once(good, "regimen = \"anti_pd1\"", "regimen = \"anti\\u009Bpd1\""),
       "arms[1].regimen", line_of(good, "regimen = \"anti_pd1\""), "\\u{9B}"},
      {"bell in the description",
       replace_once(good, "description = \"1L", "description = \"\\u0007 1L"),
       "scenario.description", line_of(good, "description = \"1L"), "\\x07"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.label);
    const fs::path scenario = write_scenario("control.toml", c.text);
    const fs::path db = temp_dir() / "control.db";
    fs::remove(db);
    const Result r =
        run_vpgen(fmt::format("simulate {} --db {} --quiet", scenario.string(), db.string()));
    CHECK(r.exit_code == 2);
    CHECK(lines_in(r.err) == 1);
    CHECK(r.err.find(fmt::format("{}:{}", scenario.string(), c.line)) != std::string::npos);
    CHECK(r.err.find(c.key) != std::string::npos);
    CHECK(r.err.find(c.shown) != std::string::npos);
    CHECK_FALSE(fs::exists(db));
    MESSAGE(r.err);
  }
  // A multi-line description is free text: line breaks and tabs stay allowed there.
  const fs::path multi = write_scenario(
      "multi.toml", replace_once(good, "description = \"1L", "description = \"two\\n\\tlines, 1L"));
  const fs::path db = temp_dir() / "multi.db";
  fs::remove(db);
  const Result r = run_vpgen(
      fmt::format("simulate {} --db {} --patients 2 --quiet", multi.string(), db.string()));
  CHECK_MESSAGE(r.exit_code == 0, r.err);
}

TEST_CASE("an error is one line whatever the file puts in it") {
  // An unknown key with a line break and a terminal escape in its (quoted) name.
  const fs::path scenario = write_scenario(
      "key.toml", replace_once(scenario_text(), "seed = ", "\"x\\n\\u001b[2Jy\" = 1\nseed = "));
  const Result r = run_vpgen(fmt::format("simulate {} --db {} --quiet", scenario.string(),
                                         (temp_dir() / "key.db").string()));
  CHECK(r.exit_code == 2);
  CHECK(lines_in(r.err) == 1);
  CHECK(r.err.find('\x1b') == std::string::npos);
  CHECK(r.err.find("x\\x0A\\x1B[2Jy") != std::string::npos);
  MESSAGE(r.err);
}

TEST_CASE("names from a database are escaped in text output and JSON") {
  const fs::path db = simulate("escaped", scenario_text());
  if (!run_sql(db,
               "UPDATE runs SET scenario_name = 'evil' || char(27) || '[2J' || char(10) || "
               "'   9  complete' || char(8238) || 'x';\n"
               "UPDATE arms SET name = 'arm' || char(13) || 'forged' WHERE arm_index = 0;"))
    return;
  const Result runs = run_vpgen(fmt::format("runs --db {}", db.string()));
  REQUIRE_MESSAGE(runs.exit_code == 0, runs.err);
  CHECK(lines_in(runs.out) == 2);  // the header and one run
  CHECK(runs.out.find('\x1b') == std::string::npos);
  CHECK(runs.out.find("evil\\x1B[2J\\x0A   9  complete\\u{202E}x") != std::string::npos);

  const Result report = run_vpgen(fmt::format("report --db {} --format text", db.string()));
  REQUIRE_MESSAGE(report.exit_code == 0, report.err);
  CHECK(report.out.find('\x1b') == std::string::npos);
  CHECK(report.out.find('\r') == std::string::npos);
  CHECK(report.out.find("arm\\x0Dforged") != std::string::npos);

  const Result patient = run_vpgen(fmt::format("patient --db {} --run 1 --patient 0", db.string()));
  REQUIRE_MESSAGE(patient.exit_code == 0, patient.err);
  CHECK(patient.out.find('\r') == std::string::npos);

  // JSON (nlohmann-json) escapes control characters itself, and reads back the stored name.
  const Result json = run_vpgen(fmt::format("runs --db {} --format json", db.string()));
  REQUIRE(json.exit_code == 0);
  CHECK(json.out.find('\x1b') == std::string::npos);
  CHECK(json.out.find("\\u001b[2J\\n") != std::string::npos);
  CHECK(nlohmann::json::parse(json.out)[0]["scenario"] == "evil\x1b[2J\n   9  complete\u202Ex");
}

// ---- Item 8: exit codes and messages ----------------------------------------------------------

TEST_CASE("a standard output that cannot be written fails with exit 1 and one line") {
  const fs::path db = simulate("stdout", scenario_text());
  const std::vector<std::string> commands = {
      fmt::format("runs --db {}", db.string()),
      "size --calc binomial --p0 0.1 --p1 0.3 --alpha 0.05 --power 0.8",
      "--help",
      fmt::format("export --db {} --run 1 --table outcomes", db.string()),
  };
  for (const std::string& args : commands) {
    for (const char* where : {">/dev/full", ">&-"}) {
      CAPTURE(args);
      CAPTURE(where);
      const Result r = run_vpgen_stdout(args, where);
      CHECK(r.exit_code == 1);
      CHECK(lines_in(r.err) == 1);
      CHECK(r.err.find("standard output") != std::string::npos);
      MESSAGE(r.err);
    }
  }
  // A command that writes nothing to a closed stdout still succeeds.
  const Result quiet =
      run_vpgen_stdout(fmt::format("export --db {} --run 1 --table arms --out {}", db.string(),
                                   (temp_dir() / "arms.csv").string()),
                       ">&-");
  CHECK_MESSAGE(quiet.exit_code == 0, quiet.err);
}

TEST_CASE("size --calc duration refuses more events than the patients can have") {
  const std::string base =
      "size --calc duration --accrual-rate-per-month 10 --hr 0.7 --median-control-months 12 ";
  for (const char* extra : {"--events 200 --patients 100",
                            "--events 100 --patients 100 --dropout-probability-per-year 0.2"}) {
    CAPTURE(extra);
    const Result r = run_vpgen(base + extra);
    CHECK(r.exit_code == 2);
    CHECK(lines_in(r.err) == 1);
    CHECK(r.err.find("--events") != std::string::npos);
    CHECK(r.out.find("inf") == std::string::npos);
    MESSAGE(r.err);
  }
  const Result ok = run_vpgen(base + "--events 50 --patients 100");
  CHECK_MESSAGE(ok.exit_code == 0, ok.err);
  CHECK(ok.out.find("months") != std::string::npos);
}

TEST_CASE("an empty, NUL-holding or over-long parameter path is one line naming the key") {
  const std::string good = scenario_text();
  const std::string population = fmt::format("population = \"{}population.toml\"", kModel);
  const int line = line_of(good, population);
  for (const std::string& value :
       {std::string(""), std::string("a\\u0000b"), std::string(5000, 'a'),
        std::string("a/") + std::string(300, 'b') + "/c.toml"}) {
    CAPTURE(value.substr(0, 20));
    const fs::path scenario = write_scenario(
        "path.toml", replace_once(good, population, fmt::format("population = \"{}\"", value)));
    const fs::path db = temp_dir() / "path.db";
    fs::remove(db);
    const Result r =
        run_vpgen(fmt::format("simulate {} --db {} --quiet", scenario.string(), db.string()));
    CHECK(r.exit_code == 2);
    CHECK(lines_in(r.err) == 1);
    CHECK(r.err.find(fmt::format("{}:{}", scenario.string(), line)) != std::string::npos);
    CHECK(r.err.find("parameters.population") != std::string::npos);
    CHECK(r.err.size() < 400);  // a long path is shown by its start only
    CHECK_FALSE(fs::exists(db));
    MESSAGE(r.err);
  }
  for (const std::string& path : {std::string("''"), std::string(5000, 'a')}) {
    const Result r =
        run_vpgen(fmt::format("simulate {} --db {} --quiet", path, (temp_dir() / "p.db").string()));
    CHECK(r.exit_code == 2);
    CHECK(lines_in(r.err) == 1);
    CHECK(r.err.size() < 400);
    MESSAGE(r.err);
  }
}

TEST_CASE("a stored scenario with a damaged size is one line naming the run, exit 2") {
  const fs::path db = simulate("bundle", scenario_text());
  if (!run_sql(db,
               "UPDATE runs SET scenario_text = "
               "replace(scenario_text, ' bytes) <==', 'x bytes) <==');"))
    return;
  const Result r = run_vpgen(fmt::format("patient --db {} --run 1 --patient 0", db.string()));
  CHECK(r.exit_code == 2);
  CHECK(lines_in(r.err) == 1);
  CHECK(r.err.find("stoull") == std::string::npos);
  CHECK(r.err.find("run 1") != std::string::npos);
  CHECK(r.err.find("stored scenario text is damaged") != std::string::npos);
  MESSAGE(r.err);
}

TEST_CASE("integer flags take decimal digits within range only: one line naming the flag") {
  const fs::path scenario = write_scenario("flags.toml", scenario_text());
  const fs::path db = temp_dir() / "flags.db";
  struct Case {
    std::string args;
    std::string flag;
  };
  const std::string simulate =
      fmt::format("simulate {} --db {} --quiet ", scenario.string(), db.string());
  const std::vector<Case> cases = {
      {simulate + "--patients 0x10", "--patients"},
      {simulate + "--patients -1", "--patients"},
      {simulate + "--patients 99999999999999999999", "--patients"},
      {simulate + "--seed -5", "--seed"},
      {simulate + "--seed 0b101", "--seed"},
      {simulate + "--threads 0x2", "--threads"},
      {simulate + "--threads 1e3", "--threads"},
      {simulate + "--patients ' 7'", "--patients"},
      {"export --db x.db --run 0x1 --table runs", "--run"},
      {"size --calc duration --events 10 --patients 0x64 --accrual-rate-per-month 1 --hr 0.7 "
       "--median-control-months 12",
       "--patients"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.args);
    fs::remove(db);
    const Result r = run_vpgen(c.args);
    CHECK(r.exit_code == 2);
    CHECK(lines_in(r.err) == 1);
    CHECK(r.err.find(c.flag) != std::string::npos);
    CHECK(r.err.find("18446744073709551615") == std::string::npos);
    CHECK_FALSE(fs::exists(db));
    MESSAGE(r.err);
  }
}

TEST_SUITE_END();
