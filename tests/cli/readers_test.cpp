// Commands that read a results database, as a user meets them: a bad --db path is one line and
// exit 2 from every command; a read never creates, converts or changes a file; and a user who
// cannot write beside a file (another user's file, a read-only folder or mount) reads it.
#include "support/cli_runner.hpp"
#include "support/files.hpp"
#include "support/skip.hpp"
#include "vpgen/storage/database.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

using Result = vpgen::testing::CliResult;
using vpgen::testing::replace_once;
using vpgen::testing::slurp;

fs::path temp_dir() { return vpgen::testing::test_dir("cli_readers"); }

Result run_vpgen(const std::string& args) { return vpgen::testing::run_vpgen_in(temp_dir(), args); }

const std::string kConfigs = VPGEN_SOURCE_DIR "/configs/";

// A fresh, empty folder under temp_dir().
fs::path fresh_folder(const std::string& name) {
  const fs::path dir = temp_dir() / name;
  std::error_code ignored;
  fs::permissions(dir, fs::perms(0755), ignored);
  fs::remove_all(dir, ignored);
  fs::create_directories(dir);
  return dir;
}

std::string quoted(const std::string& text) { return "'" + text + "'"; }

// One line on stderr: "vpgen: error: " and a message naming `path`.
void check_one_line_naming(const Result& r, const std::string& path) {
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.starts_with("vpgen: error: "));
  CHECK(r.err.find(path) != std::string::npos);
  CHECK(r.err.find("sqlite error 14") == std::string::npos);  // not a raw "unable to open"
}

struct FileState {
  std::uintmax_t size = 0;
  std::string bytes;
  long mtime_ns = 0;
  bool operator==(const FileState&) const = default;
};

FileState file_state(const fs::path& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return {fs::file_size(path), slurp(path),
          st.st_mtim.tv_sec * 1'000'000'000L + st.st_mtim.tv_nsec};
}

// The command that runs vpgen as user nobody when the tests run as root (root ignores file
// modes, so a read as root would prove nothing), else as this user.
std::string as_non_owner() {
  if (::geteuid() != 0) return "";
  return "setpriv --reuid=nobody --regid=nogroup --clear-groups ";
}

// The four reading commands over `db` (run 1, patient 0), each expected to exit 0.
std::vector<std::string> reading_commands(const std::string& db) {
  return {fmt::format("runs --db {}", db), fmt::format("report --db {} --format json", db),
          fmt::format("export --db {} --run 1 --table outcomes", db),
          fmt::format("patient --db {} --run 1 --patient 0", db),
          fmt::format("verify --db {} --replay 2", db)};
}

}  // namespace

TEST_CASE("a bad --db path is one line naming it and exit 2, from every command") {
  const fs::path dir = fresh_folder("bad_paths");
  // A shard file for merge, a scenario for simulate.
  const std::string scenario = kConfigs + "default.toml";
  const std::string shard = (dir / "shard.db").string();
  REQUIRE(run_vpgen(
              fmt::format("simulate {} --db {} --patients 6 --shard 0/1 --quiet", scenario, shard))
              .exit_code == 0);
  const std::string folder = (dir / "a_folder").string();
  fs::create_directories(folder);
  const std::string no_folder = (dir / "no_folder" / "x.db").string();
  const std::string uri = fmt::format("file:{}?mode=memory", (dir / "uri.db").string());
  const std::string text = (dir / "text.db").string();
  vpgen::testing::write_text(text, "patient,arm,response\n0,0,CR\nnot a database at all\n");
  const std::string foreign = (dir / "foreign.db").string();
  {
    vpgen::sql::Database db(foreign, vpgen::sql::OpenMode::kCreate);
    db.execute("CREATE TABLE measurements (x REAL); INSERT INTO measurements VALUES (1.5);");
  }
  const FileState text_before = file_state(text);
  const FileState foreign_before = file_state(foreign);
  const std::vector<std::string> commands = {
      fmt::format("simulate {} --db {{}} --patients 5 --quiet", scenario),
      "report --db {}",
      "runs --db {}",
      "export --db {} --run 1 --table runs",
      "patient --db {} --run 1 --patient 0",
      "size --calc simon --p0 0.1 --p1 0.3 --alpha 0.05 --power 0.8 --db {}",
      fmt::format("merge --into {{}} {} --quiet", shard),
      fmt::format("merge --into {} {{}} --quiet", (dir / "merged.db").string()),
      "upgrade --db {}",
  };
  for (const std::string& command : commands) {
    for (const std::string& path : {folder, no_folder, uri, text, foreign}) {
      const std::string args = fmt::format(fmt::runtime(command), quoted(path));
      CAPTURE(args);
      check_one_line_naming(run_vpgen(args), path);
    }
  }
  CHECK_FALSE(fs::exists(dir / "no_folder"));
  CHECK_FALSE(fs::exists(dir / "uri.db"));
  CHECK_FALSE(fs::exists(dir / "merged.db"));
  CHECK(file_state(text) == text_before);
  CHECK(file_state(foreign) == foreign_before);
}

TEST_CASE("readers and --resume never create, convert or change a file: empty or missing --db") {
  const fs::path dir = fresh_folder("never_write");
  const fs::path empty = dir / "empty.db";
  vpgen::testing::write_text(empty, "");
  const FileState before = file_state(empty);
  const fs::path missing = dir / "missing.db";
  for (const fs::path& db : {empty, missing}) {
    std::vector<std::string> commands = reading_commands(db.string());
    commands.push_back(fmt::format("upgrade --db {}", db.string()));
    commands.push_back(
        fmt::format("simulate {}default.toml --db {} --resume 1 --quiet", kConfigs, db.string()));
    for (const std::string& args : commands) {
      CAPTURE(args);
      const Result r = run_vpgen(args);
      check_one_line_naming(r, db.string());
      CHECK(r.err.find(db == empty ? "is empty: not a vpgen results database" : ": no such file") !=
            std::string::npos);
      CHECK(file_state(empty) == before);
      CHECK_FALSE(fs::exists(missing));
      CHECK_FALSE(fs::exists(empty.string() + "-wal"));
      CHECK_FALSE(fs::exists(empty.string() + "-shm"));
    }
  }
}

namespace {

// The databases of the shipped examples, small: the three scenarios, a merged run of two shards,
// a trial design of configs/designs (stored alone, and beside the default run).
std::vector<std::string> build_example_databases(const fs::path& dir) {
  std::vector<std::string> dbs;
  for (const char* name : {"default", "keynote024", "til_melanoma"}) {
    const std::string db = (dir / fmt::format("{}.db", name)).string();
    const Result r = run_vpgen(fmt::format(
        "simulate {}{}.toml --db {} --patients 12 --quiet --format json", kConfigs, name, db));
    INFO(name << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    dbs.push_back(db);
  }
  std::vector<std::string> shards;
  for (int k = 0; k < 2; ++k) {
    shards.push_back((dir / fmt::format("shard{}.db", k)).string());
    REQUIRE(run_vpgen(fmt::format("simulate {}default.toml --db {} --patients 12 --shard {}/2 "
                                  "--quiet --format json",
                                  kConfigs, shards.back(), k))
                .exit_code == 0);
  }
  const std::string merged = (dir / "merged.db").string();
  REQUIRE(run_vpgen(fmt::format("merge --into {} {} {} --quiet --format json", merged, shards[0],
                                shards[1]))
              .exit_code == 0);
  dbs.push_back(merged);
  for (const std::string& shard : shards) fs::remove(shard);
  // A design of configs/designs with a small pool and few replicates (the test's time).
  std::string design = slurp(kConfigs + "designs/simon_orr_nivolumab.toml");
  design = replace_once(design, "file = \"../default.toml\"",
                        fmt::format("file = \"{}default.toml\"", kConfigs));
  design = replace_once(design, "pool_patients = 20000", "pool_patients = 200");
  design = replace_once(design, "min = 10000\nmax = 100000\ntarget_mcse = 0.002\nbatch = 10000",
                        "min = 200\nmax = 200\ntarget_mcse = 0.5\nbatch = 200");
  const fs::path design_file = temp_dir() / "simon_small.toml";
  vpgen::testing::write_text(design_file, design);
  const std::string design_db = (dir / "design.db").string();
  for (const std::string& db : {design_db, dbs.front()}) {
    const Result r =
        run_vpgen(fmt::format("size {} --db {} --format json", design_file.string(), db));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  dbs.push_back(design_db);
  return dbs;
}

// The reading commands that apply to `db` (a design-only file holds no run), each with exit 0.
void check_reads(const std::string& prefix, const std::string& db, bool has_run) {
  std::vector<std::string> commands = {fmt::format("runs --db {}", db)};
  if (has_run) {
    commands = reading_commands(db);
    commands.push_back(fmt::format("report --db {} --all-designs --format html", db));
  }
  for (const std::string& args : commands) {
    CAPTURE(args);
    const Result r = vpgen::testing::run_command_in(
        temp_dir(),
        fmt::format("{}{} {}", prefix, vpgen::testing::vpgen_binary_for_others(), args));
    INFO("stderr: " << r.err);
    CHECK(r.exit_code == 0);
    CHECK(!r.out.empty());
  }
}

}  // namespace

TEST_CASE("a non-owner reads every shipped example database in a read-only folder") {
  const fs::path dir = fresh_folder("examples_ro");
  const std::vector<std::string> dbs = build_example_databases(dir);
  std::vector<FileState> before;
  for (const std::string& db : dbs) {
    REQUIRE_FALSE(fs::exists(db + "-wal"));
    fs::permissions(db, fs::perms(0444));
    before.push_back(file_state(db));
  }
  fs::permissions(dir, fs::perms(0555));
  for (std::size_t i = 0; i < dbs.size(); ++i) {
    CAPTURE(dbs[i]);
    check_reads(as_non_owner(), dbs[i], dbs[i] != dbs.back());
    CHECK(file_state(dbs[i]) == before[i]);
  }
  fs::permissions(dir, fs::perms(0755));
}

TEST_CASE("every shipped example database is read on a read-only mount") {
  // A private mount namespace (unshare -rm) with the folder bind-mounted read-only: even root
  // cannot write there, as on a read-only NFS export or a mounted archive.
  if (vpgen::testing::run_command_in(temp_dir(), "unshare -rm true").exit_code != 0) {
    vpgen::testing::skip_test("unshare -rm is not permitted here (no user namespaces)");
    return;
  }
  const fs::path dir = fresh_folder("examples_mount");
  const std::vector<std::string> dbs = build_example_databases(dir);
  const std::string mount = fmt::format(
      "unshare -rm sh -c 'mount --bind -o ro {0} {0} && exec \"$0\" \"$@\"' ", dir.string());
  for (const std::string& db : dbs) {
    CAPTURE(db);
    const FileState before = file_state(db);
    check_reads(mount, db, db != dbs.back());
    CHECK(file_state(db) == before);
  }
}

TEST_CASE("merge reads shards that a non-owner cannot write, in a read-only folder") {
  const fs::path shards_dir = fresh_folder("merge_ro_shards");
  const fs::path out_dir = fresh_folder("merge_ro_out");
  std::vector<std::string> shards;
  for (int k = 0; k < 2; ++k) {
    shards.push_back((shards_dir / fmt::format("shard{}.db", k)).string());
    REQUIRE(run_vpgen(fmt::format("simulate {}default.toml --db {} --patients 10 --shard {}/2 "
                                  "--quiet --format json",
                                  kConfigs, shards.back(), k))
                .exit_code == 0);
    fs::permissions(shards.back(), fs::perms(0444));
  }
  fs::permissions(shards_dir, fs::perms(0555));
  // The merged file goes to a folder the non-owner may write.
  if (::geteuid() == 0) REQUIRE(::chown(out_dir.c_str(), 65534, 65534) == 0);
  const FileState before = file_state(shards[0]);
  const std::string merged = (out_dir / "merged.db").string();
  const Result r = vpgen::testing::run_command_in(
      temp_dir(),
      fmt::format("{}{} merge --into {} {} {} --quiet --format json", as_non_owner(),
                  vpgen::testing::vpgen_binary_for_others(), merged, shards[0], shards[1]));
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(fs::exists(merged));
  CHECK(file_state(shards[0]) == before);
  CHECK_FALSE(fs::exists(shards[0] + "-wal"));
  fs::permissions(shards_dir, fs::perms(0755));
}

TEST_CASE("a reader refuses an older schema version, naming vpgen upgrade, which migrates it") {
  const fs::path dir = fresh_folder("upgrade");
  const std::string db = (dir / "old.db").string();
  REQUIRE(
      run_vpgen(fmt::format("simulate {}default.toml --db {} --patients 6 --quiet --format json",
                            kConfigs, db))
          .exit_code == 0);
  {
    // Back to version 4 as it was written: no run_parts, no version-5 columns of runs.
    vpgen::sql::Database file(db, vpgen::sql::OpenMode::kReadWrite);
    file.execute(
        "DROP TABLE run_parts; ALTER TABLE runs DROP COLUMN first_patient;"
        " ALTER TABLE runs DROP COLUMN end_patient; ALTER TABLE runs DROP COLUMN shard_index;"
        " ALTER TABLE runs DROP COLUMN shard_count; ALTER TABLE runs DROP COLUMN patients_stored;"
        " ALTER TABLE runs DROP COLUMN candidates_screened;"
        " DROP TABLE run_blocks; ALTER TABLE runs DROP COLUMN content_digest;"
        " PRAGMA user_version = 4; UPDATE runs SET schema_version = 4;");
  }
  const FileState before = file_state(db);
  for (const std::string& args : reading_commands(db)) {
    CAPTURE(args);
    const Result r = run_vpgen(args);
    check_one_line_naming(r, db);
    CHECK(r.err.find("is schema version 4 and this vpgen reads version 6") != std::string::npos);
    CHECK(r.err.find(fmt::format("run `vpgen upgrade --db {}`", db)) != std::string::npos);
    CHECK(file_state(db) == before);
  }
  CHECK(run_vpgen("upgrade --help").out.find("Usage") != std::string::npos);
  Result r = run_vpgen(fmt::format("upgrade --db {}", db));
  CHECK(r.exit_code == 0);
  CHECK(r.out == fmt::format("{}: migrated from schema version 4 to 6\n", db));
  CHECK_FALSE(fs::exists(db + "-wal"));  // the writer's close folded it in
  CHECK(run_vpgen(fmt::format("runs --db {}", db)).exit_code == 0);
  r = run_vpgen(fmt::format("upgrade --db {}", db));
  CHECK(r.exit_code == 0);
  CHECK(r.out == fmt::format("{}: already schema version 6; nothing to migrate\n", db));
}
