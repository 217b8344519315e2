// The vpgen executable as a user meets it: help, exit codes, one-line errors that name file, line
// and key, nothing written on bad input, and a run that is killed staying visibly incomplete.
#include "support/cli_runner.hpp"
#include "support/configs.hpp"
#include "support/db_digest.hpp"
#include "vpgen/population/error.hpp"
#include "support/skip.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

namespace {

namespace fs = std::filesystem;

using Result = vpgen::testing::CliResult;
using vpgen::testing::line_of;
using vpgen::testing::parse_csv;
using vpgen::testing::replace_once;
using vpgen::testing::slurp;

fs::path temp_dir() { return vpgen::testing::test_dir("cli_test"); }

Result run_vpgen(const std::string& args) { return vpgen::testing::run_vpgen_in(temp_dir(), args); }

const std::string kModel = vpgen::testing::kModelDir;

std::string scenario_text() { return vpgen::testing::default_scenario_text(); }

fs::path write_scenario(const std::string& name, const std::string& text) {
  const fs::path p = temp_dir() / name;
  std::ofstream(p) << text;
  return p;
}

void remove_db(const fs::path& db) {
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db.string() + suffix);
}

}  // namespace

TEST_SUITE_BEGIN("cli");

TEST_CASE("every command has --help and the program has --version") {
  const Result top = run_vpgen("--help");
  CHECK(top.exit_code == 0);
  for (const char* command : {"simulate", "merge", "report", "patient", "validate", "calibrate",
                              "runs", "export", "size", "batch", "upgrade", "verify"}) {
    CAPTURE(command);
    CHECK(top.out.find(fmt::format("  {}", command)) != std::string::npos);  // listed
    const Result r = run_vpgen(fmt::format("{} --help", command));
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("Usage") != std::string::npos);
  }
  const Result v = run_vpgen("--version");
  CHECK(v.exit_code == 0);
  CHECK(v.out.find("vpgen 0.") != std::string::npos);
}

TEST_CASE("bad flags exit with code 2") {
  CHECK(run_vpgen("").exit_code == 2);
  CHECK(run_vpgen("simulate").exit_code == 2);
  CHECK(run_vpgen("frobnicate").exit_code == 2);
  CHECK(run_vpgen(fmt::format("simulate {} --db x.db --threads -3",
                              write_scenario("ok.toml", scenario_text()).string()))
            .exit_code == 2);
  CHECK(run_vpgen("report --db /nonexistent/file.db").exit_code == 2);
}

TEST_CASE("each malformed scenario gives one line naming file, line and key, exit 2, no database") {
  const std::string good = scenario_text();
  struct Case {
    const char* label;
    std::string text;
    std::string key;  // must appear in the message
    int line;         // must appear as file:line
  };
  const std::vector<Case> cases = {
      {"syntax error", replace_once(good, "horizon_months = 120", "horizon_months = = 120"),
       "syntax error", line_of(good, "horizon_months = 120")},
      {"missing key", replace_once(good, "horizon_months = 120\n", ""), "scenario.horizon_months",
       line_of(good, "[scenario]")},
      {"wrong type", replace_once(good, "horizon_months = 120", "horizon_months = \"long\""),
       "scenario.horizon_months", line_of(good, "horizon_months = 120")},
      {"unknown key", replace_once(good, "horizon_months = 120", "horizon_month = 120"),
       "scenario.horizon_month", line_of(good, "horizon_months = 120")},
      {"out-of-range value", replace_once(good, "max_ecog = 1", "max_ecog = 7"), "max_ecog",
       line_of(good, "max_ecog = 1")},
      {"unknown regimen", replace_once(good, "regimen = \"anti_pd1\"", "regimen = \"anti_pd2\""),
       "arms[1].regimen", line_of(good, "regimen = \"anti_pd1\"")},
  };
  for (const Case& c : cases) {
    CAPTURE(c.label);
    const fs::path scenario = write_scenario("bad.toml", c.text);
    const fs::path db = temp_dir() / "bad.db";
    fs::remove(db);
    const Result r =
        run_vpgen(fmt::format("simulate {} --db {} --quiet", scenario.string(), db.string()));
    CHECK(r.exit_code == 2);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.find(fmt::format("{}:{}", scenario.string(), c.line)) != std::string::npos);
    CHECK(r.err.find(c.key) != std::string::npos);
    CHECK_FALSE(fs::exists(db));
    MESSAGE(r.err);
  }
}

TEST_CASE("an out-of-range probability in a parameter file names that file, line and key") {
  const std::string course = slurp(kModel + "course.toml");
  const fs::path bad_course = temp_dir() / "course_bad.toml";
  std::ofstream(bad_course) << replace_once(course, "steroid_kill_factor = 0.85",
                                            "steroid_kill_factor = 1.5");
  const fs::path scenario =
      write_scenario("bad_course.toml",
                     replace_once(scenario_text(), kModel + "course.toml", bad_course.string()));
  const Result r = run_vpgen(fmt::format("simulate {} --db {} --quiet", scenario.string(),
                                         (temp_dir() / "never.db").string()));
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(fmt::format("{}:{}", bad_course.string(),
                               line_of(course, "steroid_kill_factor"))) != std::string::npos);
  CHECK(r.err.find("toxicity.steroid_kill_factor") != std::string::npos);
  CHECK_FALSE(fs::exists(temp_dir() / "never.db"));
}

TEST_CASE("simulate, report and patient work end to end and agree") {
  const fs::path scenario = write_scenario("ok.toml", scenario_text());
  const fs::path db = temp_dir() / "e2e.db";
  fs::remove(db);
  const Result sim =
      run_vpgen(fmt::format("simulate {} --db {} --patients 400 --seed 5 --threads 2 "
                            "--quiet --format json",
                            scenario.string(), db.string()));
  REQUIRE_MESSAGE(sim.exit_code == 0, sim.err);
  const auto summary = nlohmann::json::parse(sim.out);
  CHECK(summary["arms"].size() == 3);
  const Result rep = run_vpgen(fmt::format("report --db {} --format json", db.string()));
  REQUIRE(rep.exit_code == 0);
  const auto report = nlohmann::json::parse(rep.out);
  CHECK(report["arms"] == summary["arms"]);
  for (const auto& arm : report["arms"]) {
    CHECK(arm["n"] == 400);
    for (const char* key : {"orr", "cr_rate", "dcr", "irae_grade3plus_rate", "durable_cr_5y_rate",
                            "median_pfs_months", "median_os_months"}) {
      CHECK_MESSAGE(arm[key].contains("estimate"), key);
      CHECK(arm[key].contains("ci_low"));
      CHECK(arm[key].contains("ci_high"));
    }
    for (const char* month : {"12", "24", "60", "120"}) {
      CHECK(arm["os_rate"].contains(month));
      CHECK(arm["pfs_rate"].contains(month));
    }
  }
  const Result text = run_vpgen(fmt::format("report --db {}", db.string()));
  CHECK(text.exit_code == 0);
  CHECK(text.out.find("nivo+ipi") != std::string::npos);
  const Result patient =
      run_vpgen(fmt::format("patient --db {} --run 1 --patient 123", db.string()));
  CHECK_MESSAGE(patient.exit_code == 0, patient.out);
  CHECK(patient.out.find("replay identical") != std::string::npos);
  const Result missing =
      run_vpgen(fmt::format("patient --db {} --run 1 --patient 400", db.string()));
  CHECK(missing.exit_code == 2);
}

TEST_CASE("a run killed midway stays marked incomplete") {
  const fs::path scenario = write_scenario("ok.toml", scenario_text());
  const fs::path db = temp_dir() / "killed.db";
  remove_db(db);
  // The test hook kills the run without warning right after its third block is committed.
  const Result killed = vpgen::testing::run_vpgen_killed_in(
      temp_dir(), 3,
      fmt::format("simulate {} --db {} --patients 5000 --block-size 100 --threads 2 --quiet",
                  scenario.string(), db.string()));
  REQUIRE_MESSAGE(killed.signal == SIGKILL, killed.err);
  {
    vpgen::sql::Database handle(db.string(), vpgen::sql::OpenMode::kReadOnly);
    vpgen::sql::Statement stmt(handle, "SELECT status, (SELECT COUNT(*) FROM patients) FROM runs");
    REQUIRE(stmt.step());
    CHECK(stmt.column_text(0) == "incomplete");
    CHECK(stmt.column_int64(1) == 300);  // the three committed blocks, nothing more
  }
  // The report says so.
  const Result rep = run_vpgen(fmt::format("report --db {}", db.string()));
  CHECK(rep.exit_code == 0);
  CHECK(rep.out.find("INCOMPLETE") != std::string::npos);
}

TEST_CASE("runs lists the runs, and export writes a table as CSV or JSON Lines, or nothing") {
  const fs::path scenario = write_scenario("export.toml", scenario_text());
  const fs::path db = temp_dir() / "export.db";
  fs::remove(db);
  for (const char* seed : {"5", "6"}) {
    const Result sim = run_vpgen(fmt::format("simulate {} --db {} --patients 60 --seed {} --quiet",
                                             scenario.string(), db.string(), seed));
    REQUIRE_MESSAGE(sim.exit_code == 0, sim.err);
  }
  const Result runs = run_vpgen(fmt::format("runs --db {} --format json", db.string()));
  REQUIRE(runs.exit_code == 0);
  const auto listed = nlohmann::json::parse(runs.out);
  REQUIRE(listed.size() == 2);
  CHECK(listed[1]["run_id"] == 2);
  CHECK(listed[1]["seed"] == 6);
  CHECK(listed[1]["status"] == "complete");
  CHECK(listed[1]["patients_stored"] == 60);
  CHECK(listed[1]["arms"].size() == 3);
  CHECK(run_vpgen(fmt::format("runs --db {}", db.string())).out.find("complete") !=
        std::string::npos);

  // CSV: a header and one row per patient and arm of run 2 only, in key order, values as stored.
  const Result csv = run_vpgen(fmt::format("export --db {} --run 2 --table outcomes", db.string()));
  REQUIRE_MESSAGE(csv.exit_code == 0, csv.err);
  const auto records = parse_csv(csv.out);
  REQUIRE(records.size() == 1 + 60 * 3);
  const auto& header = records[0];
  const auto column = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  REQUIRE(column("os_months") < header.size());
  vpgen::sql::Database handle(db.string(), vpgen::sql::OpenMode::kReadOnly);
  vpgen::sql::Statement select(handle,
                               "SELECT patient_index, arm_index, os_months, best_response, "
                               "irae_onset_months FROM outcomes WHERE run_id = 2 "
                               "ORDER BY patient_index, arm_index");
  for (std::size_t row = 1; select.step(); ++row) {
    const auto& f = records[row];
    CHECK(f[column("run_id")] == "2");
    CHECK(f[column("patient_index")] == std::to_string(select.column_int64(0)));
    CHECK(f[column("arm_index")] == std::to_string(select.column_int64(1)));
    CHECK(std::stod(f[column("os_months")]) == select.column_real(2));  // round trip
    CHECK(f[column("best_response")] == select.column_text(3));
    CHECK(f[column("irae_onset_months")].empty() == select.column_is_null(4));
  }

  // Quoted fields: the arms' phases are JSON text with commas and quotes.
  const auto arms =
      parse_csv(run_vpgen(fmt::format("export --db {} --run 1 --table arms", db.string())).out);
  REQUIRE(arms.size() == 4);
  const std::size_t phases = static_cast<std::size_t>(
      std::find(arms[0].begin(), arms[0].end(), "regimen_phases") - arms[0].begin());
  REQUIRE(phases < arms[0].size());
  CHECK(nlohmann::json::parse(arms[1][phases]).is_array());
  CHECK(arms[1][phases].find("\"pd1_blockade\"") != std::string::npos);

  // JSON Lines to a file: one object per row with SQL NULL as null.
  const fs::path events = temp_dir() / "events.jsonl";
  const Result jsonl =
      run_vpgen(fmt::format("export --db {} --run 1 --table events --format jsonl --out {}",
                            db.string(), events.string()));
  REQUIRE_MESSAGE(jsonl.exit_code == 0, jsonl.err);
  std::ifstream in(events);
  std::string line;
  std::size_t lines = 0;
  bool saw_null = false;
  while (std::getline(in, line)) {
    const auto object = nlohmann::json::parse(line);
    CHECK(object["run_id"] == 1);
    saw_null = saw_null || object["detail"].is_null();
    ++lines;
  }
  CHECK(lines > 60 * 3);
  CHECK(saw_null);

  // A run the file does not hold: exit 2, one line, no output file and no partial file.
  const fs::path absent = temp_dir() / "absent.csv";
  const Result bad = run_vpgen(
      fmt::format("export --db {} --run 9 --table arms --out {}", db.string(), absent.string()));
  CHECK(bad.exit_code == 2);
  CHECK(bad.err == fmt::format("vpgen: error: no run 9 in {}\n", db.string()));
  CHECK_FALSE(fs::exists(absent));
  CHECK_FALSE(fs::exists(absent.string() + ".partial"));
  CHECK(run_vpgen(fmt::format("export --db {} --run 1 --table secrets", db.string())).exit_code ==
        2);
  CHECK(run_vpgen(fmt::format("runs --db {}", (temp_dir() / "none.db").string())).exit_code == 2);
  // The derived counts export too: subgroup cells add up to the arm sizes, survival rows to
  // every patient of every arm for each endpoint but DOR.
  const auto cells = parse_csv(
      run_vpgen(fmt::format("export --db {} --run 1 --table subgroup_counts", db.string())).out);
  REQUIRE(cells.size() > 1);
  REQUIRE(cells[0].size() > 8);
  CHECK(cells[0][8] == "n");
  double patients = 0;
  for (std::size_t r = 1; r < cells.size(); ++r) patients += std::stod(cells[r][8]);
  const auto runs_json =
      nlohmann::json::parse(run_vpgen(fmt::format("runs --db {} --format json", db.string())).out);
  CHECK(patients == 3.0 * runs_json[0]["patients_stored"].get<double>());
  const auto times =
      parse_csv(run_vpgen(fmt::format("export --db {} --run 1 --table survival_counts --format csv",
                                      db.string()))
                    .out);
  REQUIRE(times.size() > 1);
  CHECK(times[0] == std::vector<std::string>{"run_id", "arm_index", "endpoint", "time_months",
                                             "events", "censored"});
}

TEST_CASE("the analysis views agree with the tables they are built on") {
  const fs::path scenario = write_scenario("views.toml", scenario_text());
  const fs::path db = temp_dir() / "views.db";
  fs::remove(db);
  REQUIRE(run_vpgen(fmt::format("simulate {} --db {} --patients 300 --seed 11 --quiet",
                                scenario.string(), db.string()))
              .exit_code == 0);
  vpgen::sql::Database h(db.string(), vpgen::sql::OpenMode::kReadOnly);
  const auto one = [&](const std::string& sql) {
    vpgen::sql::Statement st(h, sql);
    REQUIRE(st.step());
    return st.column_is_null(0) ? 0.0 : st.column_real(0);  // NULL as 0, as SQLite reads it
  };
  // responder_fractions partitions each arm: its n and responders add up to arm_summary's.
  CHECK(one("SELECT COUNT(*) FROM (SELECT r.arm_index FROM responder_fractions r GROUP BY"
            " r.arm_index HAVING SUM(r.n) = 300 AND SUM(r.responders) = (SELECT responders FROM"
            " arm_summary s WHERE s.arm_index = r.arm_index) AND SUM(r.complete_responses) ="
            " (SELECT complete_responses FROM arm_summary s WHERE s.arm_index = r.arm_index))") ==
        3);
  // Wilson bounds bracket the estimate, inside [0, 1]; a group of 0 of n has a lower bound of 0.
  CHECK(one("SELECT COUNT(*) FROM responder_fractions WHERE NOT (orr_ci_low <= orr + 1e-12 AND"
            " orr <= orr_ci_high + 1e-12 AND orr_ci_low >= -1e-12 AND orr_ci_high <= 1 + 1e-12"
            " AND cr_rate_ci_low <= cr_rate + 1e-12 AND cr_rate <= cr_rate_ci_high + 1e-12)") == 0);
  CHECK(one("SELECT MAX(ABS(orr_ci_low)) FROM responder_fractions WHERE responders = 0") < 1e-12);
  // survival_input: one OS, PFS and PFS2 row per outcome, one DOR row per responder.
  CHECK(one("SELECT COUNT(*) FROM survival_input WHERE endpoint = 'OS'") == 900);
  CHECK(one("SELECT COUNT(*) FROM survival_input WHERE endpoint = 'DOR'") ==
        one("SELECT SUM(responders) FROM arm_summary"));
  CHECK(one("SELECT COUNT(*) FROM survival_input s JOIN outcomes o USING (run_id, arm_index,"
            " patient_index) WHERE s.endpoint = 'PFS' AND (s.time_months != o.pfs_months OR"
            " s.event != o.pfs_event)") == 0);
  // ADaM: one adsl row per subject and arm; one subject keeps its USUBJID across arms.
  CHECK(one("SELECT COUNT(*) FROM adsl") == 900);
  CHECK(one("SELECT COUNT(DISTINCT USUBJID) FROM adsl") == 300);
  CHECK(one("SELECT COUNT(*) FROM adtte a JOIN adsl s USING (USUBJID, TRT01PN) WHERE"
            " a.PARAMCD = 'OS'") == 900);
  // CNSR is 1 for censored, as ADaM defines it.
  CHECK(one("SELECT COUNT(*) FROM adtte a JOIN outcomes o ON o.run_id = a.RUNID AND"
            " o.arm_index = a.TRT01PN AND printf('%06d', o.patient_index) ="
            " substr(a.USUBJID, -6) WHERE a.PARAMCD = 'OS' AND (a.CNSR != 1 - o.os_event OR"
            " a.AVAL != o.os_months)") == 0);
  CHECK(one("SELECT COUNT(*) FROM adrs WHERE PARAMCD = 'BOR'") == 900);
  CHECK(one("SELECT COUNT(*) FROM adrs WHERE PARAMCD = 'OVRLRESP'") ==
        one("SELECT COUNT(*) FROM events WHERE kind = 'assessment'"));
  CHECK(one("SELECT COUNT(*) FROM adae") == one("SELECT COUNT(*) FROM events WHERE kind = 'irae'"));
  CHECK(one("SELECT COUNT(*) FROM adae") > 0);
  CHECK(one("SELECT MIN(ASTDY) FROM adae") >= 1);
}

TEST_CASE("R's survival package reads adtte and finds vpgen's medians" *
          doctest::test_suite("cli external slow")) {
  if (std::system("command -v Rscript >/dev/null 2>&1 && Rscript -e 'library(survival);"
                  " library(RSQLite)' >/dev/null 2>&1") != 0) {
    vpgen::testing::skip_test(
        "Rscript with the survival and RSQLite packages is not installed "
        "(Debian: r-base-core r-cran-survival r-cran-rsqlite; "
        "./tools/setup.sh test installs them)");
    return;
  }
  const fs::path scenario = write_scenario("r.toml", scenario_text());
  const fs::path db = temp_dir() / "r.db";
  fs::remove(db);
  REQUIRE(run_vpgen(fmt::format("simulate {} --db {} --patients 2000 --seed 3 --quiet",
                                scenario.string(), db.string()))
              .exit_code == 0);
  const auto report = nlohmann::json::parse(
      run_vpgen(fmt::format("report --db {} --format json", db.string())).out);
  const fs::path out = temp_dir() / "r_medians.txt";
  const std::string command =
      fmt::format("Rscript {} {} 1 > {} 2>&1", VPGEN_SOURCE_DIR "/tests/cli/data/adtte_medians.R",
                  db.string(), out.string());
  REQUIRE_MESSAGE(std::system(command.c_str()) == 0, slurp(out));
  std::istringstream lines(slurp(out));
  std::string param, arm, median;
  int compared = 0;
  while (std::getline(lines, param, '\t') && std::getline(lines, arm, '\t') &&
         std::getline(lines, median)) {
    const std::string key = param == "PFS" ? "median_pfs_months" : "median_os_months";
    for (const auto& a : report["arms"]) {
      if (a["arm"] != arm) continue;
      CAPTURE(param);
      CAPTURE(arm);
      if (median == "NA") {
        CHECK(a[key]["estimate"].is_null());
      } else {
        REQUIRE(a[key]["estimate"].is_number());
        CHECK(std::stod(median) ==
              doctest::Approx(a[key]["estimate"].get<double>()).epsilon(1e-12));
      }
      ++compared;
    }
  }
  CHECK(compared == 9);  // OS and PFS of three arms, and OS again from survival_counts
}

TEST_CASE(
    "two simulate processes on one new file both finish, serialised, with the content of solo runs" *
    doctest::test_suite("cli slow")) {
  const fs::path scenario = write_scenario("concurrent.toml", scenario_text());
  const fs::path shared = temp_dir() / "shared.db";
  const fs::path solo = temp_dir() / "solo.db";
  for (const fs::path& p : {shared, solo}) {
    fs::remove(p);
    fs::remove(p.string() + "-wal");
    fs::remove(p.string() + "-shm");
  }
  // Both start on an absent file at once: both race to create the schema and switch to WAL.
  const std::string base = fmt::format("{} simulate {} --patients 3000 --quiet --block-size 64",
                                       VPGEN_BINARY, scenario.string());
  const std::string both = fmt::format(
      "( {0} --seed 1 --db {1} >/dev/null 2>{2}/c1.err & p1=$!; {0} --seed 2 --db {1} "
      ">/dev/null 2>{2}/c2.err & p2=$!; wait $p1; a=$?; wait $p2; b=$?; exit $((a + b)) )",
      base, shared.string(), temp_dir().string());
  const int status = std::system(both.c_str());
  const std::string errors = slurp(temp_dir() / "c1.err") + slurp(temp_dir() / "c2.err");
  CHECK_MESSAGE(status == 0, errors);
  REQUIRE(
      run_vpgen(fmt::format("simulate {} --patients 3000 --quiet --block-size 64 --seed 2 --db {}",
                            scenario.string(), solo.string()))
          .exit_code == 0);
  std::int64_t run = 0;
  {
    vpgen::sql::Database db(shared.string(), vpgen::sql::OpenMode::kReadOnly);
    vpgen::sql::Statement check(db, "PRAGMA integrity_check");
    REQUIRE(check.step());
    CHECK(check.column_text(0) == "ok");
    vpgen::sql::Statement st(db,
                             "SELECT run_id, status FROM runs JOIN (SELECT run_id FROM runs"
                             " WHERE seed = 2) USING (run_id)");
    REQUIRE(st.step());
    run = st.column_int64(0);
    CHECK(st.column_text(1) == "complete");
  }
  // The seed-2 run written beside another is the seed-2 run written alone.
  CHECK(vpgen::testing::run_digest(shared.string(), run) ==
        vpgen::testing::run_digest(solo.string(), 1));
}

TEST_CASE("a reader during a run sees whole blocks only: every stored patient has every arm" *
          doctest::test_suite("cli slow")) {
  const fs::path scenario = write_scenario("reader.toml", scenario_text());
  const fs::path db = temp_dir() / "reader.db";
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db.string() + suffix);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::execl(VPGEN_BINARY, VPGEN_BINARY, "simulate", scenario.c_str(), "--db", db.c_str(),
            "--patients", "30000", "--block-size", "100", "--quiet", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (int i = 0; i < 500 && !fs::exists(db.string() + "-wal"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::optional<vpgen::sql::Database> handle;  // waits up to 5 s for the writer's lock
  handle.emplace(db.string(), vpgen::sql::OpenMode::kReadOnly);
  // One statement is one read transaction: patients, outcomes and events are counted on one
  // snapshot. Blocks are consecutive patient ranges committed whole.
  // The last stored patient's events (a key-prefix lookup) stand for the block's events.
  const char* sql =
      "SELECT (SELECT COUNT(*) FROM patients), (SELECT COUNT(*) FROM outcomes),"
      " (SELECT COUNT(DISTINCT arm_index) FROM events WHERE run_id = 1 AND patient_index ="
      "  (SELECT MAX(patient_index) FROM patients)),"
      " (SELECT COALESCE(MAX(patient_index), -1) FROM patients)";
  int snapshots = 0, during = 0;
  bool consistent = true;
  int status = 0;
  bool exited = false;
  for (int i = 0; i < 2000 && !exited; ++i) {
    exited = ::waitpid(child, &status, WNOHANG) == child;
    std::optional<vpgen::sql::Statement> st;
    try {
      st.emplace(*handle, sql);
    } catch (const vpgen::StorageError&) {  // schema not there yet
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    if (st->step()) {
      const std::int64_t patients = st->column_int64(0);
      const std::int64_t outcomes = st->column_int64(1);
      const std::int64_t started = st->column_int64(2);
      const std::int64_t last = st->column_int64(3);
      consistent = consistent && outcomes == 3 * patients && started == (patients > 0 ? 3 : 0) &&
                   last + 1 == patients && patients % 100 == 0;
      ++snapshots;
      if (patients > 0 && patients < 30000) ++during;
    }
    st.reset();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  handle.reset();
  if (!exited) ::waitpid(child, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(consistent);
  CHECK(snapshots > 0);
  MESSAGE(fmt::format("{} snapshots, {} of them while the run was writing", snapshots, during));
  CHECK(during > 0);
}

TEST_CASE("a run killed at any point is resumed to exactly the uninterrupted run" *
          doctest::test_suite("cli slow")) {
  const fs::path scenario = write_scenario("resume.toml", scenario_text());
  const fs::path reference = temp_dir() / "uninterrupted.db";
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(reference.string() + suffix);
  const std::string size = "--patients 12000 --seed 9 --block-size 256 --quiet";
  REQUIRE(
      run_vpgen(fmt::format("simulate {} --db {} {}", scenario.string(), reference.string(), size))
          .exit_code == 0);
  const std::uint64_t expected = vpgen::testing::run_digest(reference.string(), 1);
  // Killed without warning (the test hook) once the run is recorded but holds no block, after the
  // first block, midway, and one block before the end (47 blocks); then resumed with other threads.
  const fs::path other = write_scenario("other.toml", scenario_text() + "\n# edited\n");
  for (const int blocks : {0, 1, 23, 46}) {
    CAPTURE(blocks);
    const fs::path db = temp_dir() / fmt::format("resumed_{}.db", blocks);
    remove_db(db);
    const Result killed = vpgen::testing::run_vpgen_killed_in(
        temp_dir(), static_cast<std::uint64_t>(blocks),
        fmt::format("simulate {} --db {} {}", scenario.string(), db.string(), size));
    REQUIRE_MESSAGE(killed.signal == SIGKILL, killed.err);
    {
      vpgen::sql::Database h(db.string(), vpgen::sql::OpenMode::kReadWrite);
      vpgen::sql::Statement check(h, "PRAGMA integrity_check");
      REQUIRE(check.step());
      CHECK(check.column_text(0) == "ok");
      vpgen::sql::Statement st(h, "SELECT status, patients_stored FROM runs WHERE run_id = 1");
      REQUIRE(st.step());
      CHECK(st.column_text(0) == "incomplete");
      CHECK(st.column_int64(1) == 256 * blocks);
    }
    // Resuming needs the same scenario files and seed; a refusal changes nothing.
    const Result changed = run_vpgen(
        fmt::format("simulate {} --db {} --resume 1 --quiet", other.string(), db.string()));
    CHECK(changed.exit_code == 2);
    CHECK(changed.err.find("is not the scenario of run 1") != std::string::npos);
    const Result reseeded = run_vpgen(fmt::format(
        "simulate {} --db {} --resume 1 --seed 10 --quiet", scenario.string(), db.string()));
    CHECK(reseeded.exit_code == 2);
    CHECK(reseeded.err.find("differs from the run's seed 9") != std::string::npos);
    const Result resumed = run_vpgen(fmt::format("simulate {} --db {} --resume 1 --threads 1 {}",
                                                 scenario.string(), db.string(), size));
    REQUIRE_MESSAGE(resumed.exit_code == 0, resumed.err);
    CHECK(vpgen::testing::run_digest(db.string(), 1) == expected);
    vpgen::sql::Database h(db.string(), vpgen::sql::OpenMode::kReadOnly);
    vpgen::sql::Statement st(h, "SELECT status FROM runs WHERE run_id = 1");
    REQUIRE(st.step());
    CHECK(st.column_text(0) == "complete");
  }
  // A complete run, or one the file does not hold, is not resumed.
  const fs::path db = temp_dir() / "resumed_46.db";
  const Result complete = run_vpgen(
      fmt::format("simulate {} --db {} --resume 1 --quiet", scenario.string(), db.string()));
  CHECK(complete.exit_code == 2);
  CHECK(complete.err.find("only an incomplete or failed run can be resumed") != std::string::npos);
  CHECK(run_vpgen(
            fmt::format("simulate {} --db {} --resume 7 --quiet", scenario.string(), db.string()))
            .exit_code == 2);
}

// A db's run `run_id`: its status and stored patients, read-only.
std::pair<std::string, std::int64_t> run_state(const fs::path& db, int run_id) {
  vpgen::sql::Database h(db.string(), vpgen::sql::OpenMode::kReadOnly);
  vpgen::sql::Statement st(h, "SELECT status, patients_stored FROM runs WHERE run_id = ?1");
  st.bind_int64(1, run_id);
  REQUIRE(st.step());
  return {std::string(st.column_text(0)), st.column_int64(1)};
}

// `vpgen ARGS` with at most `bytes` per file it writes (RLIMIT_FSIZE) and SIGXFSZ ignored, so that
// a write beyond the limit fails as on a full disk instead of killing the process.
Result run_vpgen_file_limited(std::uint64_t bytes, const std::string& args) {
  return vpgen::testing::run_command_in(
      temp_dir(), fmt::format("sh -c \"trap '' XFSZ; exec prlimit --fsize={} {} {}\"", bytes,
                              VPGEN_BINARY, args));
}

TEST_CASE(
    "a run that failed at its first block on a full disk resumes once space is freed, and a "
    "new file that never got its run is removed" *
    doctest::test_suite("cli")) {
  if (!vpgen::testing::have_program("prlimit")) {
    vpgen::testing::skip_test("prlimit (util-linux) is absent: no way to fill a disk unprivileged");
    return;
  }
  const fs::path scenario = write_scenario("full.toml", scenario_text());
  const std::string size = "--patients 400 --seed 3 --block-size 200 --quiet";
  const fs::path reference = temp_dir() / "full_reference.db";
  remove_db(reference);
  REQUIRE(
      run_vpgen(fmt::format("simulate {} --db {} {}", scenario.string(), reference.string(), size))
          .exit_code == 0);
  const std::uint64_t expected = vpgen::testing::run_digest(reference.string(), 1);

  // An existing file with one run; the next run's first block does not fit (its schema, run and
  // arms rows do). SQLite sees a write error; a disk that is full gives SQLITE_FULL, and the run
  // is then marked failed (finish_run fits where the block did not): both are resumed.
  for (const bool mark_failed : {false, true}) {
    CAPTURE(mark_failed);
    const fs::path db = temp_dir() / "full.db";
    remove_db(db);
    REQUIRE(run_vpgen(fmt::format("simulate {} --db {} --patients 20 --quiet", scenario.string(),
                                  db.string()))
                .exit_code == 0);
    const Result full = run_vpgen_file_limited(
        100000, fmt::format("simulate {} --db {} {}", scenario.string(), db.string(), size));
    CHECK(full.exit_code == 1);
    CHECK_MESSAGE(full.err.find(fmt::format("--db {} --resume 2` finishes it", db.string())) !=
                      std::string::npos,
                  full.err);
    CHECK(std::count(full.err.begin(), full.err.end(), '\n') == 1);
    const auto [status, stored] = run_state(db, 2);
    CHECK(status != "complete");
    CHECK(stored == 0);
    if (mark_failed) {
      vpgen::sql::Database h(db.string(), vpgen::sql::OpenMode::kReadWrite);
      h.execute("UPDATE runs SET status = 'failed' WHERE run_id = 2");
    }
    const Result resumed = run_vpgen(fmt::format("simulate {} --db {} --resume 2 --threads 1 {}",
                                                 scenario.string(), db.string(), size));
    REQUIRE_MESSAGE(resumed.exit_code == 0, resumed.err);
    CHECK(run_state(db, 2) == std::pair<std::string, std::int64_t>("complete", 400));
    CHECK(vpgen::testing::run_digest(db.string(), 2) == expected);
  }

  // A new file on a disk that is full from the start (2 KB: not even the first page fits) or after
  // a page (60 KB: the schema does not fit): nothing is left behind, not even an empty file.
  for (const std::uint64_t bytes : {2048, 60000}) {
    CAPTURE(bytes);
    const fs::path db = temp_dir() / "full_new.db";
    remove_db(db);
    const Result full = run_vpgen_file_limited(
        bytes, fmt::format("simulate {} --db {} {}", scenario.string(), db.string(), size));
    CHECK(full.exit_code == 1);
    CHECK(std::count(full.err.begin(), full.err.end(), '\n') == 1);
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
      CHECK_MESSAGE(!fs::exists(db.string() + suffix), (db.string() + suffix + " was left behind"));
  }
}

TEST_CASE(
    "writers that give up on a file another process keeps locked say it is busy, exit 1, and "
    "write nothing" *
    doctest::test_suite("cli")) {
  const fs::path scenario = write_scenario("locked.toml", scenario_text());
  const fs::path db = temp_dir() / "locked.db";
  remove_db(db);
  REQUIRE(run_vpgen(fmt::format("simulate {} --db {} --patients 20 --quiet", scenario.string(),
                                db.string()))
              .exit_code == 0);
  const std::string before = vpgen::testing::content_dump(db.string());
  // The lock is held by this process from before both writers start until both have given up
  // (each waits the 5 s busy timeout, side by side).
  vpgen::sql::Database holder(db.string(), vpgen::sql::OpenMode::kReadWrite);
  holder.execute("BEGIN IMMEDIATE");
  const fs::path dir = temp_dir();
  const auto command = [&](const std::string& name, const std::string& args) {
    return fmt::format("( {} {} >{}/{}.out 2>{}/{}.err; echo $? >{}/{}.rc ) &", VPGEN_BINARY, args,
                       dir.string(), name, dir.string(), name, dir.string(), name);
  };
  const std::string both =
      command("simulate", fmt::format("simulate {} --db {} --patients 20 --seed 4 --quiet",
                                      scenario.string(), db.string())) +
      " " +
      command("size", fmt::format("size --calc simon --p0 0.1 --p1 0.3 --alpha 0.05 --power 0.8 "
                                  "--db {}",
                                  db.string())) +
      " wait";
  REQUIRE(std::system(both.c_str()) == 0);
  holder.execute("ROLLBACK");
  for (const auto& [name, operation] :
       {std::pair<std::string, std::string>("simulate", "starting a run"),
        std::pair<std::string, std::string>("size", "storing a design")}) {
    CAPTURE(name);
    CHECK(slurp(dir / (name + ".rc")) == "1\n");
    CHECK(slurp(dir / (name + ".err")) ==
          fmt::format("vpgen: error: {} is busy: another process kept it locked for 5 s while "
                      "vpgen was {} (another vpgen writing to it?); nothing was written, try "
                      "again when that process has finished\n",
                      db.string(), operation));
  }
  CHECK(vpgen::testing::content_dump(db.string()) == before);
}

TEST_CASE("every SQL query in docs/SCHEMA.md runs on a generated database and gives its answer") {
  const fs::path scenario = write_scenario("schema_doc.toml", scenario_text());
  const fs::path db = temp_dir() / "schema_doc.db";
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db.string() + suffix);
  REQUIRE(run_vpgen(fmt::format("simulate {} --db {} --patients 2000 --seed 21 --quiet",
                                scenario.string(), db.string()))
              .exit_code == 0);
  // The ```sql blocks of the document, in order.
  const std::string doc = slurp(VPGEN_SOURCE_DIR "/docs/SCHEMA.md");
  std::vector<std::string> queries;
  for (std::size_t at = doc.find("```sql\n"); at != std::string::npos;
       at = doc.find("```sql\n", at)) {
    at += 7;
    const std::size_t end = doc.find("```", at);
    REQUIRE(end != std::string::npos);
    queries.push_back(doc.substr(at, end - at));
    at = end + 3;
  }
  REQUIRE(queries.size() >= 13);
  vpgen::sql::Database h(db.string(), vpgen::sql::OpenMode::kReadOnly);
  // Runs a query (one statement per block: more is an error); returns its rows as text cells.
  const auto rows_of = [&](const std::string& sql) {
    std::vector<std::vector<std::string>> rows;
    try {
      vpgen::sql::Statement st(h, sql);
      while (st.step()) {
        std::vector<std::string> row;
        for (int c = 0; c < st.column_count(); ++c)
          row.emplace_back(st.column_is_null(c) ? "NULL" : std::string(st.column_text(c)));
        rows.push_back(std::move(row));
      }
    } catch (const vpgen::StorageError& e) {
      FAIL(e.what() << "\n" << sql);
    }
    return rows;
  };
  const auto scalar = [&](const std::string& sql) { return std::stod(rows_of(sql).at(0).at(0)); };
  for (const std::string& sql : queries) {
    CAPTURE(sql);
    CHECK_FALSE(rows_of(sql).empty());  // each answers something on a 2,000-patient run
  }
  const auto find = [&](std::string_view needle) {
    for (const std::string& q : queries)
      if (q.find(needle) != std::string::npos) return q;
    FAIL("no query containing " << needle);
    return std::string();
  };
  // The overview is arm_summary: three arms of 2,000 patients.
  const auto overview = rows_of(find("FROM arm_summary"));
  REQUIRE(overview.size() == 3);
  for (const auto& row : overview) CHECK(row.at(2) == "2000");
  // Responders by arm and type add up to each arm's responders.
  double by_type = 0.0;
  for (const auto& row : rows_of(find("AS responder_fraction"))) by_type += std::stod(row.at(3));
  CHECK(by_type == scalar("SELECT SUM(responders) FROM arm_summary WHERE run_id = 1"));
  // Kaplan-Meier input: the first at-risk count is the whole arm, events add up to deaths.
  const auto km = rows_of(find("FROM survival_counts\nWHERE run_id = 1 AND arm_index = 0"));
  CHECK(km.front().at(3) == "2000");
  double events = 0.0;
  for (const auto& row : km) events += std::stod(row.at(1));
  CHECK(events == scalar("SELECT deaths FROM arm_summary WHERE run_id = 1 AND arm_index = 0"));
  CHECK(events == scalar("SELECT SUM(os_event) FROM outcomes WHERE run_id = 1 AND arm_index = 0"));
  // The SQL Kaplan-Meier curve is vpgen report's: S at 12 months.
  const auto report = nlohmann::json::parse(
      run_vpgen(fmt::format("report --db {} --format json", db.string())).out);
  double s12 = 1.0;
  for (const auto& row : rows_of(find("AS survival")))
    if (std::stod(row.at(0)) <= 12.0) s12 = std::stod(row.at(3));
  CHECK(s12 == doctest::Approx(report["arms"][0]["os_rate"]["12"]["estimate"].get<double>()));
  // The biomarker-profile query agrees with a direct count, and its interval brackets it.
  const auto profile = rows_of(find("WITH profile AS"));
  REQUIRE(profile.size() == 3);
  CHECK(std::stod(profile[0].at(1)) ==
        scalar("SELECT COUNT(*) FROM patients WHERE run_id = 1 AND cancer_type = 'melanoma' AND"
               " tmb_mut_per_mb >= 10 AND pdl1_tps_percent >= 1 AND hot = 1"));
  for (const auto& row : profile)
    CHECK((std::stod(row.at(4)) <= std::stod(row.at(3)) &&
           std::stod(row.at(3)) <= std::stod(row.at(5))));
  // survival_input's per-patient PFS rows: one per patient, the outcomes table's events.
  const auto pfs = rows_of(find("FROM survival_input"));
  CHECK(pfs.size() == 2000);
  double pfs_events = 0.0;
  for (const auto& row : pfs) pfs_events += std::stod(row.at(2));
  CHECK(pfs_events ==
        scalar("SELECT SUM(pfs_event) FROM outcomes WHERE run_id = 1 AND arm_index = 1"));
  // Memory bands partition each arm; their durable CRs are the arm's, and the bands are the
  // documented ones (counted here from the patients table).
  const auto memory = rows_of(find("c.memory_band,"));
  REQUIRE(memory.size() == 9);
  CHECK(std::stod(memory[0].at(2)) ==
        scalar("SELECT COUNT(*) FROM patients WHERE run_id = 1 AND memory_capacity < 1.0 / 3"));
  double arm0 = 0.0;
  for (std::size_t k = 0; k < 3; ++k) arm0 += std::stod(memory[k].at(2));
  CHECK(arm0 == 2000);
  // Beyond progression by type adds up to the outcomes' count.
  double beyond = 0.0;
  for (const auto& row : rows_of(find("AS treated_beyond_progression")))
    beyond += std::stod(row.at(2));
  CHECK(beyond == scalar("SELECT SUM(beyond_progression) FROM outcomes WHERE run_id = 1"));
}

TEST_CASE("vpgen batch runs a nightly file through the binary: 0 when it ran, 2 on a bad file") {
  const fs::path scenario = write_scenario("nightly_scenario.toml", scenario_text());
  const fs::path nightly = temp_dir() / "nightly.toml";
  {
    std::ofstream out(nightly);
    out << "[batch]\nname = \"cli nightly\"\n\n[[scenario]]\nname = \"small\"\nfile = \""
        << scenario.filename().string() << "\"\npatients = 300\n";
  }
  const fs::path dir = temp_dir() / "nightly_out";
  fs::remove_all(dir);
  const Result first =
      run_vpgen(fmt::format("batch {} --out {} --quiet", nightly.string(), dir.string()));
  REQUIRE_MESSAGE(first.exit_code == 0, first.err);
  for (const char* file : {"summary.json", "index.html", "batch.log", "results.db"})
    CHECK_MESSAGE(fs::exists(dir / file), file);
  const Result second =
      run_vpgen(fmt::format("batch {} --out {} --quiet", nightly.string(), dir.string()));
  CHECK(second.exit_code == 0);  // same build, seed and inputs: identical, nothing flagged
  CHECK(fs::exists(dir / "summary.previous.json"));
  // A bad key: one line naming file, line and key; exit 2; the folder is not created.
  const fs::path bad = temp_dir() / "nightly_bad.toml";
  {
    std::ofstream out(bad);
    out << "[batch]\nname = \"bad\"\nfrobnicate = 1\n";
  }
  const fs::path none = temp_dir() / "nightly_none";
  fs::remove_all(none);
  const Result refused =
      run_vpgen(fmt::format("batch {} --out {} --quiet", bad.string(), none.string()));
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find("nightly_bad.toml:3") != std::string::npos);
  CHECK(refused.err.find("frobnicate") != std::string::npos);
  CHECK_FALSE(fs::exists(none));
}

TEST_CASE("no test name holds a semicolon, which ctest would split into names that run nothing" *
          doctest::test_suite("unit")) {
  // doctest_discover_tests hands each name to CMake, where ';' separates list items: a name with
  // one became two ctest tests whose filters matched no test case, so they passed without running.
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(VPGEN_SOURCE_DIR "/tests")) {
    if (entry.path().extension() != ".cpp") continue;
    ++files;
    const std::string text = slurp(entry.path());
    for (std::size_t at = text.find("TEST_CASE(\""); at != std::string::npos;
         at = text.find("TEST_CASE(\"", at + 1)) {
      const std::size_t begin = at + 11;
      const std::string name = text.substr(begin, text.find('"', begin) - begin);
      CHECK_MESSAGE(name.find(';') == std::string::npos, entry.path().string() << ": " << name);
    }
  }
  CHECK(files > 10);
}

TEST_SUITE_END();
