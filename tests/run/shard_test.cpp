// Sharded runs (issue 9): `vpgen simulate --shard K/N` and `vpgen merge` give the content of a
// one-process run; merge checks its shards and refuses, in one line with exit 2 and no output
// file, what is not one complete run; a killed shard is resumed and then merges.
#include "support/cli_runner.hpp"
#include "support/db_digest.hpp"
#include "vpgen/population/error.hpp"
#include "support/skip.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using vpgen::testing::CliResult;

fs::path temp_dir() { return vpgen::testing::test_dir("shard_test"); }

CliResult run_vpgen(const std::string& args) {
  return vpgen::testing::run_vpgen_in(temp_dir(), args);
}

const std::string kScenario = VPGEN_SOURCE_DIR "/configs/default.toml";

void remove_db(const fs::path& db) {
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db.string() + suffix);
}

std::string dump_file(const fs::path& db) { return vpgen::testing::content_dump(db.string()); }

std::int64_t query_int(const fs::path& db, const std::string& sql) {
  vpgen::sql::Database h(db.string(), vpgen::sql::OpenMode::kReadOnly);
  vpgen::sql::Statement st(h, sql);
  REQUIRE(st.step());
  return st.column_int64(0);
}

// Simulates shard k/n of `patients` into dir/<tag>-k.db; threads and block size vary by shard
// (they must change nothing).
fs::path simulate_shard(const std::string& tag, std::uint64_t patients, std::uint64_t seed,
                        std::uint64_t k, std::uint64_t n, const std::string& scenario = kScenario) {
  const fs::path db = temp_dir() / fmt::format("{}-{}.db", tag, k);
  remove_db(db);
  const CliResult r = run_vpgen(fmt::format(
      "simulate {} --patients {} --seed {} --shard {}/{} --db {} --threads {} --block-size {} "
      "--quiet",
      scenario, patients, seed, k, n, db.string(), 1 + k % 2, 3 + k));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  return db;
}

}  // namespace

TEST_SUITE_BEGIN("cli");

TEST_CASE("merged shards at 1, 2, 3 and 5 shards hold the content of a one-process run") {
  constexpr std::uint64_t kPatients = 41;  // uneven shards: 41 = 8 + 8 + 8 + 8 + 9
  const fs::path one = temp_dir() / "one.db";
  remove_db(one);
  const CliResult r = run_vpgen(fmt::format("simulate {} --patients {} --seed 7 --db {} --quiet",
                                            kScenario, kPatients, one.string()));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const std::string expected = dump_file(one);
  REQUIRE(expected.size() > 10000);  // patients, outcomes, events and counts are there
  for (const std::uint64_t n : {1, 2, 3, 5}) {
    CAPTURE(n);
    std::string shards;
    for (std::uint64_t k = n; k-- > 0;)  // listed in reverse: merge orders them itself
      shards +=
          fmt::format(" {}", simulate_shard(fmt::format("tile{}", n), kPatients, 7, k, n).string());
    const fs::path merged = temp_dir() / fmt::format("merged{}.db", n);
    remove_db(merged);
    const CliResult m =
        run_vpgen(fmt::format("merge --into {} {} --format json", merged.string(), shards));
    REQUIRE_MESSAGE(m.exit_code == 0, m.err);
    CHECK(!fs::exists(merged.string() + "-wal"));  // closed, checkpointed, then renamed
    const nlohmann::json summary = nlohmann::json::parse(m.out);
    CHECK(summary["patients"] == kPatients);
    CHECK(summary["shards"] == n);
    CHECK(summary["run_id"] == 1);
    CHECK(dump_file(merged) == expected);
    CHECK(query_int(merged, "SELECT COUNT(*) FROM run_parts") == static_cast<std::int64_t>(n));
    CHECK(query_int(merged, "SELECT SUM(end_patient - first_patient) FROM run_parts") ==
          static_cast<std::int64_t>(kPatients));
  }
  // Merged into an existing file, the run is added beside the others with the same content.
  const fs::path existing = temp_dir() / "existing.db";
  remove_db(existing);
  fs::copy_file(one, existing);
  std::string shards;
  for (std::uint64_t k = 0; k < 3; ++k)
    shards += fmt::format(" {}", (temp_dir() / fmt::format("tile3-{}.db", k)).string());
  const CliResult again = run_vpgen(fmt::format("merge --into {} {}", existing.string(), shards));
  REQUIRE_MESSAGE(again.exit_code == 0, again.err);
  CHECK(again.out.find("merged 3 shards into run 2") != std::string::npos);
  CHECK(query_int(existing, "SELECT COUNT(*) FROM runs WHERE status = 'complete'") == 2);
  CHECK(vpgen::testing::run_digest(existing.string(), 1) ==
        vpgen::testing::run_digest(existing.string(), 2));
}

TEST_CASE(
    "merge refuses what is not one complete run, in one line with exit 2, and writes nothing") {
  constexpr std::uint64_t kPatients = 30;
  std::vector<fs::path> good;
  for (std::uint64_t k = 0; k < 3; ++k) good.push_back(simulate_shard("good", kPatients, 5, k, 3));
  const fs::path out = temp_dir() / "refused.db";
  const auto refused = [&](const std::vector<fs::path>& shards, const std::string& expected) {
    CAPTURE(expected);
    remove_db(out);
    std::string args;
    for (const fs::path& p : shards) args += fmt::format(" {}", p.string());
    const CliResult r = run_vpgen(fmt::format("merge --into {}{}", out.string(), args));
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find(expected) != std::string::npos, r.err);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(!fs::exists(out));
    bool leftovers = false;
    for (const auto& entry : fs::directory_iterator(temp_dir()))
      leftovers |= entry.path().filename().string().find("refused.db") != std::string::npos;
    CHECK(!leftovers);
  };
  // A missing shard is named with its patient range and shard number.
  refused({good[0], good[2]}, "patients 10..19 are missing");
  refused({good[0], good[2]}, "shard 1/3 of this run holds them");
  refused({good[0], good[1]}, "patients 20..29 are missing");
  // The same shard twice, or two shardings of one cohort: overlapping ranges.
  refused({good[0], good[0], good[1], good[2]}, "overlap");
  // Shards of another seed, cohort size or scenario.
  refused({good[0], simulate_shard("seed", kPatients, 6, 1, 3), good[2]}, "seed 6 vs 5");
  refused({good[0], simulate_shard("size", kPatients + 1, 5, 1, 3), good[2]}, "cohort of 31 vs 30");
  refused({good[0], simulate_shard("split", kPatients, 5, 1, 2), good[2]}, "2 shards vs 3");
  const fs::path edited = temp_dir() / "edited.toml";
  {
    std::ifstream in(kScenario);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const char* name : {"population", "course", "regimens", "life_table"}) {
      const std::string from = fmt::format("\"model/{}.toml\"", name);
      text.replace(text.find(from), from.size(),
                   fmt::format("\"{}/configs/model/{}.toml\"", VPGEN_SOURCE_DIR, name));
    }
    std::ofstream(edited) << text << "\n# edited\n";
  }
  refused({good[0], simulate_shard("scenario", kPatients, 5, 1, 3, edited.string()), good[2]},
          "is not a shard of the same run");
  // Another build: the git commit recorded differs.
  const fs::path rebuilt = temp_dir() / "rebuilt.db";
  remove_db(rebuilt);
  fs::copy_file(good[1], rebuilt);
  REQUIRE(run_vpgen(fmt::format("runs --db {}", rebuilt.string())).exit_code == 0);
  vpgen::sql::Database(rebuilt.string(), vpgen::sql::OpenMode::kReadWrite)
      .execute("UPDATE runs SET git_commit = 'feedbeef'");
  refused({good[0], rebuilt, good[2]}, "build");
  // A file of another schema version, a file that is not a database, a file that is absent.
  vpgen::sql::Database(rebuilt.string(), vpgen::sql::OpenMode::kReadWrite)
      .execute("PRAGMA user_version = 7");
  refused({good[0], rebuilt, good[2]}, "schema version 7");
  const fs::path text_file = temp_dir() / "notes.txt";
  std::ofstream(text_file) << "not a database\n";
  refused({good[0], text_file, good[2]}, "notes.txt");
  refused({good[0], temp_dir() / "absent.db", good[2]}, "absent.db: no such file");
  // The inputs are untouched: the good shards still merge.
  remove_db(out);
  CHECK(run_vpgen(fmt::format("merge --into {} {} {} {}", out.string(), good[2].string(),
                              good[0].string(), good[1].string()))
            .exit_code == 0);
}

TEST_CASE("a shard killed midway is named by merge with its range, resumed, and then merges" *
          doctest::test_suite("cli slow")) {
  constexpr std::uint64_t kPatients = 6000;
  const std::string common = fmt::format("--patients {} --seed 11 --block-size 64", kPatients);
  const fs::path first = simulate_shard("killed", kPatients, 11, 0, 2);
  const fs::path second = temp_dir() / "killed-1.db";
  remove_db(second);
  // The test hook kills shard 1/2 without warning right after its second block is committed.
  const CliResult killed =
      vpgen::testing::run_vpgen_killed_in(temp_dir(), 2,
                                          fmt::format("simulate {} {} --shard 1/2 --db {} --quiet",
                                                      kScenario, common, second.string()));
  REQUIRE_MESSAGE(killed.signal == SIGKILL, killed.err);
  CHECK(query_int(second, "SELECT patients_stored FROM runs") == 128);
  const fs::path merged = temp_dir() / "killed-merged.db";
  remove_db(merged);
  const CliResult refused = run_vpgen(
      fmt::format("merge --into {} {} {}", merged.string(), first.string(), second.string()));
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find("shard 1/2 (patients 3000..5999) is incomplete") != std::string::npos);
  CHECK(refused.err.find("--shard 1/2") != std::string::npos);
  CHECK(refused.err.find("--resume 1") != std::string::npos);
  CHECK(!fs::exists(merged));
  // The resume command the message gives, with other threads: then the merge is a one-process run.
  const CliResult resumed =
      run_vpgen(fmt::format("simulate {} {} --shard 1/2 --db {} --resume 1 "
                            "--threads 1 --quiet",
                            kScenario, common, second.string()));
  REQUIRE_MESSAGE(resumed.exit_code == 0, resumed.err);
  const CliResult ok = run_vpgen(
      fmt::format("merge --into {} {} {}", merged.string(), second.string(), first.string()));
  REQUIRE_MESSAGE(ok.exit_code == 0, ok.err);
  const fs::path one = temp_dir() / "killed-one.db";
  remove_db(one);
  REQUIRE(run_vpgen(fmt::format("simulate {} {} --db {} --quiet", kScenario, common, one.string()))
              .exit_code == 0);
  CHECK(dump_file(merged) == dump_file(one));
}

TEST_CASE(
    "merge checks each shard's rows, not its counters: a deleted patient or outcome is refused") {
  constexpr std::uint64_t kPatients = 30;
  std::vector<fs::path> good;
  for (std::uint64_t k = 0; k < 3; ++k) good.push_back(simulate_shard("rows", kPatients, 5, k, 3));
  const fs::path out = temp_dir() / "rows-merged.db";
  // A copy of shard 1/3 (patients 10..19) with `sql` applied to it: its counters still say whole.
  const auto damaged = [&](const std::string& tag, const std::string& sql) {
    const fs::path copy = temp_dir() / fmt::format("rows-{}.db", tag);
    remove_db(copy);
    fs::copy_file(good[1], copy);
    vpgen::sql::Database(copy.string(), vpgen::sql::OpenMode::kReadWrite).execute(sql);
    return copy;
  };
  const auto refused = [&](const fs::path& shard, const std::string& expected) {
    CAPTURE(expected);
    remove_db(out);
    const CliResult r = run_vpgen(fmt::format("merge --into {} {} {} {}", out.string(),
                                              good[0].string(), shard.string(), good[2].string()));
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find(shard.string() + ": run 1 (shard 1/3, patients 10..19) is damaged") !=
                      std::string::npos,
                  r.err);
    CHECK_MESSAGE(r.err.find(expected) != std::string::npos, r.err);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(!fs::exists(out));
  };
  refused(damaged("patient",
                  "DELETE FROM events WHERE patient_index = 13;"
                  " DELETE FROM outcomes WHERE patient_index = 13;"
                  " DELETE FROM patients WHERE patient_index = 13"),
          "patient 13 has no row in patients");
  refused(damaged("outcome",
                  "DELETE FROM events WHERE patient_index = 15 AND arm_index = 1;"
                  " DELETE FROM outcomes WHERE patient_index = 15 AND arm_index = 1"),
          "patient 15 lacks an outcome row");
  refused(damaged("moved", "UPDATE patients SET patient_index = 25 WHERE patient_index = 19"),
          "patient 25 lies outside the declared range");
  // What the counts cannot see, the block digests do: a deleted event, an edited value.
  refused(damaged("event",
                  "DELETE FROM events WHERE patient_index = 12 AND arm_index = 0 AND"
                  " seq = 1"),
          "run_blocks, patients 10..");
  refused(damaged("edited",
                  "UPDATE outcomes SET pfs_months = pfs_months + 0.5 WHERE"
                  " patient_index = 17 AND arm_index = 2"),
          "digest differs");
  // The untouched shards merge as before.
  remove_db(out);
  const CliResult ok = run_vpgen(fmt::format("merge --into {} {} {} {}", out.string(),
                                             good[0].string(), good[1].string(), good[2].string()));
  CHECK_MESSAGE(ok.exit_code == 0, ok.err);
}

// A PID that no process has: a child that has exited and been reaped.
long dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

std::vector<std::string> leftovers(const std::string& stem) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(temp_dir()))
    if (entry.path().filename().string().rfind(stem + ".merging-", 0) == 0)
      names.push_back(entry.path().filename().string());
  return names;
}

TEST_CASE("a merge killed midway leaves its target as it was, and the next merge cleans up") {
  constexpr std::uint64_t kPatients = 30;
  std::string shards;
  for (std::uint64_t k = 0; k < 3; ++k)
    shards += fmt::format(" {}", simulate_shard("killmerge", kPatients, 8, k, 3).string());
  const auto killed_merge = [&](const fs::path& into) {
    return vpgen::testing::run_command_in(
        temp_dir(), fmt::format("exec env VPGEN_TEST_KILL_AFTER_SHARD=2 {} merge --into {}{}",
                                VPGEN_BINARY, into.string(), shards));
  };
  // Into a new file: no file appears; the temporary stays until the next merge into that name.
  const fs::path fresh = temp_dir() / "killmerge-new.db";
  remove_db(fresh);
  for (const std::string& name : leftovers("killmerge-new.db")) fs::remove(temp_dir() / name);
  const CliResult killed = killed_merge(fresh);
  REQUIRE_MESSAGE(killed.signal == SIGKILL, killed.err);
  CHECK(!fs::exists(fresh));
  CHECK(!leftovers("killmerge-new.db").empty());
  // Temporaries of merges that no longer run are removed; one whose PID runs (1) is left alone.
  const fs::path stale = temp_dir() / fmt::format("killmerge-new.db.merging-{}", dead_pid());
  std::ofstream(stale.string()) << "left by a killed merge";
  std::ofstream(stale.string() + "-wal") << "";
  const fs::path live = temp_dir() / "killmerge-new.db.merging-1";
  std::ofstream(live.string()) << "a merge that still runs";
  const CliResult ok = run_vpgen(fmt::format("merge --into {}{} --quiet", fresh.string(), shards));
  REQUIRE_MESSAGE(ok.exit_code == 0, ok.err);
  CHECK(leftovers("killmerge-new.db") == std::vector<std::string>{"killmerge-new.db.merging-1"});
  fs::remove(live);
  CHECK(query_int(fresh, "SELECT COUNT(*) FROM runs WHERE status = 'complete'") == 1);
  // Into an existing file: the kill leaves it as it was, with no incomplete run to become latest.
  const fs::path existing = temp_dir() / "killmerge-existing.db";
  remove_db(existing);
  fs::copy_file(fresh, existing);
  const std::string before = dump_file(existing);
  const CliResult killed_existing = killed_merge(existing);
  REQUIRE_MESSAGE(killed_existing.signal == SIGKILL, killed_existing.err);
  CHECK(dump_file(existing) == before);
  CHECK(query_int(existing, "SELECT COUNT(*) FROM runs") == 1);
  const CliResult again =
      run_vpgen(fmt::format("merge --into {}{} --quiet", existing.string(), shards));
  REQUIRE_MESSAGE(again.exit_code == 0, again.err);
  CHECK(query_int(existing, "SELECT COUNT(*) FROM runs WHERE status = 'complete'") == 2);
  CHECK(leftovers("killmerge-existing.db").empty());
  CHECK(vpgen::testing::run_digest(existing.string(), 1) ==
        vpgen::testing::run_digest(existing.string(), 2));
}

TEST_CASE("--shard is checked: K/N with K below N and no more shards than patients") {
  const fs::path db = temp_dir() / "badshard.db";
  for (const char* bad : {"3", "3/3", "a/4", "1/0", "-1/4", "1/4/2"}) {
    CAPTURE(bad);
    remove_db(db);
    const CliResult r = run_vpgen(fmt::format(
        "simulate {} --patients 10 --shard {} --db {} --quiet", kScenario, bad, db.string()));
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--shard") != std::string::npos);
    CHECK(!fs::exists(db));
  }
  const CliResult many = run_vpgen(fmt::format(
      "simulate {} --patients 10 --shard 3/11 --db {} --quiet", kScenario, db.string()));
  CHECK(many.exit_code == 2);
  CHECK(many.err.find("11 shards for 10 patients") != std::string::npos);
}

TEST_CASE("vpgen simulate under mpirun at 1, 2 and 3 ranks stores the one-process run" *
          doctest::test_suite("cli external slow")) {
  std::string why_not;
  const std::string mpirun = vpgen::testing::find_mpirun(temp_dir(), why_not);
  if (mpirun.empty()) {
    vpgen::testing::skip_test(why_not);
    return;
  }
  constexpr std::uint64_t kPatients = 53;
  const std::string common = fmt::format("--patients {} --seed 13", kPatients);
  const fs::path one = temp_dir() / "mpi-one.db";
  remove_db(one);
  REQUIRE(run_vpgen(fmt::format("simulate {} {} --db {} --quiet", kScenario, common, one.string()))
              .exit_code == 0);
  const std::string expected = dump_file(one);
  for (const int ranks : {1, 2, 3}) {
    CAPTURE(ranks);
    const fs::path db = temp_dir() / fmt::format("mpi-{}.db", ranks);
    remove_db(db);
    const CliResult r = vpgen::testing::run_command_in(
        temp_dir(),
        fmt::format("{} -n {} {} simulate {} {} --db {} --threads 1 --quiet --format json", mpirun,
                    ranks, VPGEN_BINARY, kScenario, common, db.string()));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(nlohmann::json::parse(r.out).is_object());  // one summary, from rank 0 alone
    CHECK(!fs::exists(db.string() + ".shards"));      // merged, then removed
    CHECK(dump_file(db) == expected);
    CHECK(query_int(db, "SELECT COUNT(*) FROM run_parts") == (ranks == 1 ? 0 : ranks));
  }
  // A rank whose shard file is already complete keeps it; one whose file belongs to another run
  // refuses, every rank exits 2, nothing is merged, and the other shards stay for the rerun.
  const fs::path db = temp_dir() / "mpi-rerun.db";
  remove_db(db);
  fs::create_directories(db.string() + ".shards");
  const fs::path planted = db.string() + ".shards/shard-00001-of-00002.db";
  REQUIRE(run_vpgen(fmt::format("simulate {} --patients {} --seed 14 --shard 1/2 --db {} --quiet",
                                kScenario, kPatients, planted.string()))
              .exit_code == 0);
  const std::string launch = fmt::format("{} -n 2 {} simulate {} {} --db {} --threads 1 --quiet",
                                         mpirun, VPGEN_BINARY, kScenario, common, db.string());
  const CliResult stale = vpgen::testing::run_command_in(temp_dir(), launch);
  CHECK(stale.exit_code == 2);
  CHECK_MESSAGE(stale.err.find("rank 1 of 2") != std::string::npos, stale.err);
  CHECK(stale.err.find("is a shard of another run") != std::string::npos);
  CHECK(stale.err.find("the run is incomplete") != std::string::npos);
  CHECK(!fs::exists(db));
  CHECK(fs::exists(db.string() + ".shards/shard-00000-of-00002.db"));  // rank 0's work is kept
  fs::remove(planted);
  REQUIRE(run_vpgen(fmt::format("simulate {} {} --shard 1/2 --db {} --quiet", kScenario, common,
                                planted.string()))
              .exit_code == 0);
  const CliResult rerun = vpgen::testing::run_command_in(temp_dir(), launch);
  REQUIRE_MESSAGE(rerun.exit_code == 0, rerun.err);
  CHECK(dump_file(db) == expected);
  // Commands that do not share their work refuse to run once per rank (merge would write one file
  // from every rank).
  const fs::path into = temp_dir() / "mpi-merge.db";
  const CliResult merge = vpgen::testing::run_command_in(
      temp_dir(), fmt::format("{} -n 2 {} merge --into {} {}", mpirun, VPGEN_BINARY, into.string(),
                              one.string()));
  CHECK(merge.exit_code == 2);
  CHECK(merge.err.find("`vpgen merge` runs in one process") != std::string::npos);
  CHECK(!fs::exists(into));
}

TEST_CASE(
    "an MPI rank killed midway leaves the shards resumable, and the same command finishes the run" *
    doctest::test_suite("cli external slow")) {
  std::string why_not;
  const std::string mpirun = vpgen::testing::find_mpirun(temp_dir(), why_not);
  if (mpirun.empty()) {
    vpgen::testing::skip_test(why_not);
    return;
  }
  const std::string common = "--patients 6000 --seed 17 --block-size 64 --threads 1 --quiet";
  const fs::path db = temp_dir() / "mpi-killed.db";
  remove_db(db);
  fs::remove_all(db.string() + ".shards");
  const std::string args = fmt::format("simulate {} {} --db {}", kScenario, common, db.string());
  const std::string launch = fmt::format("{} -n 2 {} {}", mpirun, VPGEN_BINARY, args);
  // Rank 1 alone runs with the test hook, which kills it without warning right after its second
  // block is committed (Open MPI's MPMD form: one app context per rank); mpirun then ends rank 0.
  const CliResult killed = vpgen::testing::run_command_in(
      temp_dir(), fmt::format("{} -n 1 {} {} : -n 1 env VPGEN_TEST_KILL_AFTER_BLOCK=2 {} {}",
                              mpirun, VPGEN_BINARY, args, VPGEN_BINARY, args));
  CHECK(killed.exit_code != 0);
  const fs::path shard1 = db.string() + ".shards/shard-00001-of-00002.db";
  CHECK(!fs::exists(db));  // nothing merged: no file that looks complete
  CHECK(query_int(shard1, "SELECT patients_stored FROM runs") == 128);
  CHECK(query_int(shard1, "SELECT status = 'incomplete' FROM runs") == 1);
  // The same command again: each rank resumes its own shard; rank 0 merges.
  const CliResult rerun = vpgen::testing::run_command_in(temp_dir(), launch);
  REQUIRE_MESSAGE(rerun.exit_code == 0, rerun.err);
  const fs::path one = temp_dir() / "mpi-killed-one.db";
  remove_db(one);
  REQUIRE(
      run_vpgen(fmt::format("simulate {} {} --db {}", kScenario, common, one.string())).exit_code ==
      0);
  CHECK(dump_file(db) == dump_file(one));
}

TEST_SUITE_END();
