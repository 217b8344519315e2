// `vpgen verify` (issue 17, item 6): it passes on untouched, resumed and merged runs, and names the
// run, table, patient range and column of a deleted row, an edited value and a stale derived
// table, with exit 1; bad input exits 2.
#include "support/cli_runner.hpp"
#include "support/files.hpp"
#include "vpgen/storage/database.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <string>

namespace {

namespace fs = std::filesystem;
using vpgen::testing::CliResult;

fs::path temp_dir() { return vpgen::testing::test_dir("verify_test"); }

CliResult run_vpgen(const std::string& args) {
  return vpgen::testing::run_vpgen_in(temp_dir(), args);
}

const std::string kScenario = VPGEN_SOURCE_DIR "/configs/default.toml";
const std::string kRun = "--patients 300 --seed 21 --block-size 64 --quiet";

void remove_db(const fs::path& db) {
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db.string() + suffix);
}

std::string content_digest(const fs::path& db, int run = 1) {
  vpgen::sql::Database h(db.string(), vpgen::sql::OpenMode::kReadOnly);
  vpgen::sql::Statement st(h,
                           fmt::format("SELECT content_digest FROM runs WHERE run_id = {}", run));
  REQUIRE(st.step());
  return std::string(st.column_text(0));
}

fs::path simulate(const std::string& name, const std::string& extra = {}) {
  const fs::path db = temp_dir() / name;
  remove_db(db);
  const CliResult r =
      run_vpgen(fmt::format("simulate {} {} {} --db {}", kScenario, kRun, extra, db.string()));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  return db;
}

// A copy of `from` with `sql` applied to it.
fs::path tampered(const fs::path& from, const std::string& name, const std::string& sql) {
  const fs::path db = temp_dir() / name;
  remove_db(db);
  fs::copy_file(from, db);
  vpgen::sql::Database(db.string(), vpgen::sql::OpenMode::kReadWrite).execute(sql);
  return db;
}

bool has(const CliResult& r, const std::string& text) {
  return r.out.find(text) != std::string::npos;
}

}  // namespace

TEST_SUITE_BEGIN("cli");

TEST_CASE("vpgen verify passes on untouched, resumed and merged runs") {
  const fs::path untouched = simulate("untouched.db");
  const CliResult ok = run_vpgen(fmt::format("verify --db {} --replay 4", untouched.string()));
  CHECK_MESSAGE(ok.exit_code == 0, std::string(ok.out + ok.err));
  CHECK(has(ok,
            "run 1: 300 patients, 5 block digests, derived tables, 4 patients replayed: "
            "all agree"));
  const std::string digest = content_digest(untouched);
  CHECK(digest.size() == 64);

  // Killed by the test hook after its second block, then resumed with other threads.
  const fs::path resumed = temp_dir() / "resumed.db";
  remove_db(resumed);
  const CliResult killed = vpgen::testing::run_vpgen_killed_in(
      temp_dir(), 2, fmt::format("simulate {} {} --db {}", kScenario, kRun, resumed.string()));
  REQUIRE_MESSAGE(killed.signal == SIGKILL, killed.err);
  const CliResult partial = run_vpgen(fmt::format("verify --db {}", resumed.string()));
  CHECK_MESSAGE(partial.exit_code == 0,
                std::string(partial.out + partial.err));  // incomplete, but intact
  const CliResult again = run_vpgen(fmt::format("simulate {} {} --db {} --resume 1 --threads 1",
                                                kScenario, kRun, resumed.string()));
  REQUIRE_MESSAGE(again.exit_code == 0, again.err);
  const CliResult resumed_ok =
      run_vpgen(fmt::format("verify --db {} --replay 3 --format json", resumed.string()));
  CHECK_MESSAGE(resumed_ok.exit_code == 0, std::string(resumed_ok.out + resumed_ok.err));
  const nlohmann::json json = nlohmann::json::parse(resumed_ok.out);
  CHECK(json["agrees"] == true);
  CHECK(json["runs"][0]["replayed"].size() == 3);
  CHECK(content_digest(resumed) == digest);

  // Two shards merged: the blocks are the shards', the run's digest the one-process run's.
  std::string shards;
  for (int k = 0; k < 2; ++k)
    shards += fmt::format(
        " {}", simulate(fmt::format("shard-{}.db", k), fmt::format("--shard {}/2", k)).string());
  const fs::path merged = temp_dir() / "merged.db";
  remove_db(merged);
  const CliResult m = run_vpgen(fmt::format("merge --into {}{}", merged.string(), shards));
  REQUIRE_MESSAGE(m.exit_code == 0, m.err);
  const CliResult merged_ok = run_vpgen(fmt::format("verify --db {} --replay 2", merged.string()));
  CHECK_MESSAGE(merged_ok.exit_code == 0, std::string(merged_ok.out + merged_ok.err));
  CHECK(content_digest(merged) == digest);
  // Merged into an existing file: one more run, intact as well.
  const CliResult into_existing =
      run_vpgen(fmt::format("merge --into {}{}", untouched.string(), shards));
  REQUIRE_MESSAGE(into_existing.exit_code == 0, into_existing.err);
  const CliResult both = run_vpgen(fmt::format("verify --db {}", untouched.string()));
  CHECK_MESSAGE(both.exit_code == 0, std::string(both.out + both.err));
  CHECK(content_digest(untouched, 2) == digest);
}

TEST_CASE("vpgen verify names a deleted row, an edited value and a stale derived table: exit 1") {
  const fs::path db = simulate("reference.db");
  // A deleted outcome row (and its events): the patient, and the block that held it.
  const CliResult deleted = run_vpgen(fmt::format(
      "verify --db {}", tampered(db, "deleted.db",
                                 "DELETE FROM events WHERE patient_index = 70 AND arm_index = 2;"
                                 " DELETE FROM outcomes WHERE patient_index = 70 AND arm_index = 2")
                            .string()));
  CHECK(deleted.exit_code == 1);
  CHECK_MESSAGE(has(deleted, "run 1, outcomes, patient 70: 2 outcome rows for 3 arms"),
                deleted.out);
  CHECK_MESSAGE(has(deleted, "run 1, run_blocks, patients 64..127: digest differs"), deleted.out);
  CHECK(has(deleted, "DIFFER"));
  // An edited value: the block, the derived counts it feeds, and a replay of that patient names
  // the column.
  const fs::path edited_db = tampered(db, "edited.db",
                                      "UPDATE outcomes SET os_months = os_months + 1.0 WHERE"
                                      " patient_index = 200 AND arm_index = 0");
  const CliResult edited =
      run_vpgen(fmt::format("verify --db {} --replay 300", edited_db.string()));
  CHECK(edited.exit_code == 1);
  CHECK_MESSAGE(has(edited, "run 1, run_blocks, patients 192..255: digest differs"), edited.out);
  CHECK_MESSAGE(has(edited, "run 1, replay, patient 200: outcomes[0].os_months: stored"),
                edited.out);
  CHECK(has(edited, "run 1, survival_time_counts, 0, "));
  CHECK(!has(edited, "patients 0..63"));
  // A stale derived table, rows untouched: the subgroup and the column.
  const CliResult stale = run_vpgen(fmt::format(
      "verify --db {} --format json",
      tampered(db, "stale.db",
               "UPDATE subgroup_counts SET n = n + 1, stable_disease = stable_disease + 1 WHERE"
               " (arm_index, cancer_type, tmb_band, pdl1_band, hot, memory_band,"
               " line_of_therapy) = (SELECT arm_index, cancer_type, tmb_band, pdl1_band, hot,"
               " memory_band, line_of_therapy FROM subgroup_counts WHERE arm_index = 1 ORDER BY"
               " 2, 3, 4, 5, 6, 7 LIMIT 1)")
          .string()));
  CHECK(stale.exit_code == 1);
  const nlohmann::json json = nlohmann::json::parse(stale.out);
  CHECK(json["agrees"] == false);
  bool named = false;
  for (const nlohmann::json& f : json["runs"][0]["findings"]) {
    CHECK(f["table"] == "subgroup_counts");
    named |= f["what"].get<std::string>().rfind("n: stored ", 0) == 0;
  }
  CHECK(named);
  // Bad input: exit 2, one line.
  const CliResult absent =
      run_vpgen(fmt::format("verify --db {}", (temp_dir() / "absent.db").string()));
  CHECK(absent.exit_code == 2);
  const CliResult no_run = run_vpgen(fmt::format("verify --db {} --run 9", db.string()));
  CHECK(no_run.exit_code == 2);
  CHECK_MESSAGE(no_run.err.find("run 9") != std::string::npos, no_run.err);
}

TEST_SUITE_END();
