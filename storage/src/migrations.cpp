// Opening a results file: a new file gets the schema, a file of schema version 2 to 4 is migrated
// in place (one transaction), any other is checked and refused with a reason. Migrations fill what
// a newer version adds from the stored rows, so nothing is simulated again.
#include "store_internal.hpp"

#include "sqlite_internal.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "vpgen/population/error.hpp"
#include "vpgen/storage/result_store.hpp"

namespace vpgen {
namespace {

using sql::Statement;
using sql::Transaction;

// subgroup_counts computed from the stored rows: the version-4 migration fills the table with
// it. The bands' boundaries are the writer's (tmb_band and the others in writer.cpp): the same
// doubles compared the same way.
constexpr std::string_view kSubgroupCountsSelectSql = R"sql(
SELECT o.run_id, o.arm_index, p.cancer_type,
       CASE WHEN p.tmb_mut_per_mb < 5 THEN '<5' WHEN p.tmb_mut_per_mb < 10 THEN '5-<10'
            WHEN p.tmb_mut_per_mb < 20 THEN '10-<20' ELSE '>=20' END AS tmb_band,
       CASE WHEN p.pdl1_tps_percent < 1 THEN '<1' WHEN p.pdl1_tps_percent < 50 THEN '1-49'
            ELSE '>=50' END AS pdl1_band,
       p.hot,
       CASE WHEN p.memory_capacity < 1.0 / 3 THEN 'low' WHEN p.memory_capacity < 2.0 / 3
            THEN 'middle' ELSE 'high' END AS memory_band,
       p.line_of_therapy,
       COUNT(*),
       COUNT(*) FILTER (WHERE o.best_response = 'CR'),
       COUNT(*) FILTER (WHERE o.best_response = 'PR'),
       COUNT(*) FILTER (WHERE o.best_response = 'SD'),
       COUNT(*) FILTER (WHERE o.best_response = 'PD'),
       COUNT(*) FILTER (WHERE o.best_response = 'NE'),
       COUNT(*) FILTER (WHERE o.best_response_unconfirmed = 'CR'),
       COUNT(*) FILTER (WHERE o.best_response_unconfirmed = 'PR'),
       COUNT(*) FILTER (WHERE o.best_response_irecist = 'CR'),
       COUNT(*) FILTER (WHERE o.best_response_irecist = 'PR'),
       COUNT(*) FILTER (WHERE o.durable_cr = 1),
       COUNT(*) FILTER (WHERE o.worst_irae_grade >= 1),
       COUNT(*) FILTER (WHERE o.worst_irae_grade >= 3),
       COUNT(*) FILTER (WHERE o.worst_ae_grade >= 3),
       COUNT(*) FILTER (WHERE o.os_event = 1),
       COUNT(*) FILTER (WHERE o.pfs_event = 1),
       COUNT(*) FILTER (WHERE o.beyond_progression = 1),
       COUNT(*) FILTER (WHERE o.pseudo_progression = 1),
       COUNT(*) FILTER (WHERE o.pseudo_progression = 1 AND o.best_response = 'PD'),
       COUNT(*) FILTER (WHERE o.next_line_months IS NOT NULL),
       COUNT(*) FILTER (WHERE o.eradicated = 1),
       SUM(o.treatment_holds),
       SUM(o.treatment_holds * o.treatment_holds)
FROM outcomes AS o
JOIN patients AS p ON p.run_id = o.run_id AND p.patient_index = o.patient_index
)sql";
constexpr std::string_view kSubgroupCountsGroupSql = R"sql(
GROUP BY o.run_id, o.arm_index, p.cancer_type, tmb_band, pdl1_band, p.hot, memory_band,
         p.line_of_therapy
)sql";

struct SchemaState {
  std::int64_t application_id = 0;
  std::int64_t user_version = 0;
  std::int64_t objects = 0;  // tables, indexes, views, triggers

  bool empty() const { return application_id == 0 && user_version == 0 && objects == 0; }
  bool migratable() const {
    return application_id == kApplicationId && user_version >= kOldestMigratedVersion &&
           user_version < kSchemaVersion;
  }
};

SchemaState read_schema_state(sql::Database& db) {
  Statement query(db,
                  "SELECT (SELECT application_id FROM pragma_application_id),"
                  " (SELECT user_version FROM pragma_user_version),"
                  " (SELECT COUNT(*) FROM sqlite_schema)",
                  "reading the schema version");
  SchemaState state;
  if (query.step()) {
    state.application_id = query.column_int64(0);
    state.user_version = query.column_int64(1);
    state.objects = query.column_int64(2);
  }
  return state;
}

// Why an existing file is not a complete vpgen schema of this version, or nullopt if it is.
std::optional<std::string> refusal(sql::Database& db, const SchemaState& state,
                                   const std::string& path) {
  if (state.application_id != kApplicationId)
    return fmt::format(
        "{} is not a vpgen results database (SQLite application_id {:#x}, user_version {}, {} "
        "schema objects; vpgen files have application_id {:#x}); refusing to use it",
        path, state.application_id, state.user_version, state.objects, kApplicationId);
  // Files older than version 2 are not migrated: they lack columns (for version 1: iRECIST,
  // adverse events, holds, next lines) that no conversion could fill in without simulating again.
  if (state.user_version < kSchemaVersion)
    return fmt::format(
        "{} was written by schema version {}; this vpgen reads version {} and does not convert "
        "older files (they lack columns that only a new simulation can fill): simulate again "
        "into a new file (runs.scenario_text and runs.seed of the old file hold each run's "
        "inputs), or read the old file with the vpgen release that wrote it",
        path, state.user_version, kSchemaVersion);
  if (state.user_version != kSchemaVersion)
    return fmt::format(
        "{} was written by schema version {}; this vpgen reads version {}: use a newer vpgen", path,
        state.user_version, kSchemaVersion);
  Statement query(db, "SELECT 1 FROM sqlite_schema WHERE type = ?1 AND name = ?2",
                  "checking the schema objects");
  for (const SchemaObject& object : kSchemaObjects) {
    query.bind_static_text(1, object.type);
    query.bind_static_text(2, object.name);
    if (!query.step())
      return fmt::format(
          "{} is marked as vpgen schema version {} but has no {} '{}'; it is damaged", path,
          kSchemaVersion, object.type, object.name);
    query.reset();
  }
  return std::nullopt;
}

// Switching the journal mode needs a moment with no other connection in a transaction, and SQLite
// does not wait for that through the busy handler: while another process creates the schema or
// writes a block, the switch fails with SQLITE_BUSY/LOCKED at once. It is retried for the busy
// timeout; a file that stays busy is refused with a message that says so.
void set_wal(sql::Database& db, const std::string& path) {
  // An in-memory database has no WAL; it keeps its "memory" journal.
  if (db.filename().empty()) return;
  sqlite3* raw = sql::Internal::handle(db);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(sql::kBusyTimeoutMs);
  for (;;) {
    const int rc = sqlite3_exec(raw, "PRAGMA journal_mode = WAL", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) return;
    const int primary = rc & 0xff;
    if (primary != SQLITE_BUSY && primary != SQLITE_LOCKED)
      sql::throw_error(raw, rc, "switching to the WAL journal");
    if (std::chrono::steady_clock::now() >= deadline)
      throw sql::BusyError(path, "switching to the WAL journal");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// A file that cannot be migrated as it is (an object exists in a shape the new version does not
// define): open_schema returns the message as its refusal; the migration's transaction is rolled
// back, so the file is unchanged.
struct MigrationRefused {
  std::string message;
};

// The shape of table `name` as lines of text: its columns (name, declared type, NOT NULL, default,
// position in the primary key), its foreign keys, and whether it is STRICT and WITHOUT ROWID.
std::vector<std::string> table_shape(sql::Database& db, std::string_view name) {
  std::vector<std::string> shape;
  Statement columns(db,
                    "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1)"
                    " ORDER BY cid",
                    "migrating the schema: reading a table's columns");
  columns.bind_text(1, name);
  while (columns.step())
    shape.push_back(
        fmt::format("column {} {}{}{}{}", columns.column_text(0), columns.column_text(1),
                    columns.column_int64(2) != 0 ? " NOT NULL" : "",
                    columns.column_is_null(3) ? std::string()
                                              : fmt::format(" DEFAULT {}", columns.column_text(3)),
                    columns.column_int64(4) != 0 ? fmt::format(" key {}", columns.column_int64(4))
                                                 : std::string()));
  Statement keys(db,
                 "SELECT \"table\", \"from\", \"to\", on_update, on_delete"
                 " FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
                 "migrating the schema: reading a table's foreign keys");
  keys.bind_text(1, name);
  while (keys.step())
    shape.push_back(fmt::format("foreign key {} references {} ({}) on update {} on delete {}",
                                keys.column_text(1), keys.column_text(0), keys.column_text(2),
                                keys.column_text(3), keys.column_text(4)));
  Statement kind(db, "SELECT strict, wr FROM pragma_table_list(?1) WHERE schema = 'main'",
                 "migrating the schema: reading a table's kind");
  kind.bind_text(1, name);
  if (kind.step())
    shape.push_back(fmt::format("{}{}", kind.column_int64(0) != 0 ? "STRICT" : "not STRICT",
                                kind.column_int64(1) != 0 ? ", WITHOUT ROWID" : ""));
  return shape;
}

// The first line of `want` that `have` lacks (or has differently), for a refusal.
std::string first_difference(const std::vector<std::string>& have,
                             const std::vector<std::string>& want) {
  for (std::size_t i = 0; i < want.size(); ++i)
    if (i >= have.size() || have[i] != want[i])
      return i < have.size()
                 ? fmt::format("has {} where version {} has {}", have[i], kSchemaVersion, want[i])
                 : fmt::format("lacks {}", want[i]);
  return fmt::format("has {} beyond those version {} defines", have[want.size()], kSchemaVersion);
}

// Creates the tables (and indexes) of `ddl` that `db` lacks. One that exists already (a file that
// was hand-edited, or a migration re-run by hand) is kept if it has the shape `ddl` gives it, and
// refused otherwise. Returns the names of the tables that existed.
std::vector<std::string> create_missing_tables(sql::Database& db, std::string_view ddl,
                                               const std::string& path) {
  // What `ddl` makes, made in a scratch in-memory database to compare shapes with.
  sql::Database expected(":memory:", sql::OpenMode::kCreate);
  expected.execute(ddl, "migrating the schema: reading the new tables");
  Statement objects(expected,
                    "SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL"
                    " AND (type = 'table' OR type = 'index') ORDER BY rowid",
                    "migrating the schema: listing the new tables");
  Statement exists(db, "SELECT type FROM sqlite_schema WHERE name = ?1",
                   "migrating the schema: looking for an existing table");
  std::vector<std::string> existed;
  while (objects.step()) {
    const std::string type(objects.column_text(0));
    const std::string name(objects.column_text(1));
    exists.bind_text(1, name);
    const bool present = exists.step();
    const std::string present_type = present ? std::string(exists.column_text(0)) : "";
    exists.reset();
    if (!present) {
      db.execute(objects.column_text(2), "migrating the schema: adding tables");
      continue;
    }
    if (present_type != type)
      throw MigrationRefused{fmt::format(
          "{}: cannot migrate to schema version {}: it has a {} named {} where version {} has a "
          "{}; the file is unchanged",
          path, kSchemaVersion, present_type, name, kSchemaVersion, type)};
    if (type != "table") continue;
    const std::vector<std::string> have = table_shape(db, name);
    const std::vector<std::string> want = table_shape(expected, name);
    if (have != want)
      throw MigrationRefused{fmt::format(
          "{}: cannot migrate to schema version {}: table {} exists but not as version {} defines "
          "it (it {}); the file is unchanged",
          path, kSchemaVersion, name, kSchemaVersion, first_difference(have, want))};
    existed.push_back(name);
  }
  return existed;
}

// From version 2 or 3: the views are replaced, the version-4 tables created, and subgroup_counts
// and survival_time_counts filled from the stored rows (one pass over the outcomes each). Derived
// tables that exist already (hand-made) are emptied and filled the same way.
void migrate_to_v4(sql::Database& db, const std::string& path) {
  for (const std::string_view view :
       {"arm_summary", "responder_fractions", "survival_input", "survival_counts", "kaplan_meier",
        "adsl", "adrs", "adtte", "adae"})
    db.execute(fmt::format("DROP VIEW IF EXISTS {};", view),
               "migrating the schema: replacing the views");
  for (const std::string& table : create_missing_tables(db, tables_v4_sql(), path))
    if (table == "subgroup_counts" || table == "survival_time_counts")
      db.execute(fmt::format("DELETE FROM {};", table),
                 "migrating the schema: emptying a derived table to count it anew");
  db.execute(fmt::format("INSERT INTO subgroup_counts {}", subgroup_counts_from_rows_sql("")),
             "migrating the schema: counting the stored outcomes by subgroup");
  db.execute(views_sql(), "migrating the schema: adding views");
  db.execute(fmt::format("INSERT INTO survival_time_counts {}", survival_counts_from_rows_sql("")),
             "migrating the schema: counting the stored survival times");
}

}  // namespace

std::string subgroup_counts_from_rows_sql(std::string_view where) {
  return fmt::format("{}{}{}", kSubgroupCountsSelectSql, where, kSubgroupCountsGroupSql);
}

std::string survival_counts_from_rows_sql(std::string_view where) {
  return fmt::format(
      "SELECT run_id, arm_index, time_months,"
      " SUM(CASE WHEN endpoint = 'OS' THEN event ELSE 0 END),"
      " SUM(CASE WHEN endpoint = 'OS' THEN 1 - event ELSE 0 END),"
      " SUM(CASE WHEN endpoint = 'PFS' THEN event ELSE 0 END),"
      " SUM(CASE WHEN endpoint = 'PFS' THEN 1 - event ELSE 0 END),"
      " SUM(CASE WHEN endpoint = 'PFS_IRECIST' THEN event ELSE 0 END),"
      " SUM(CASE WHEN endpoint = 'PFS_IRECIST' THEN 1 - event ELSE 0 END),"
      " SUM(CASE WHEN endpoint = 'DOR' THEN event ELSE 0 END),"
      " SUM(CASE WHEN endpoint = 'DOR' THEN 1 - event ELSE 0 END),"
      " SUM(CASE WHEN endpoint = 'PFS2' THEN event ELSE 0 END),"
      " SUM(CASE WHEN endpoint = 'PFS2' THEN 1 - event ELSE 0 END)"
      " FROM survival_input {} GROUP BY run_id, arm_index, time_months",
      where);
}

namespace {

// Adds the version-5 columns of `runs` (those not there yet: a column could exist in a file that
// was hand-edited; one that exists must have the definition version 5 gives it) and fills them from
// the stored rows (every run of an older file covers patients 0 .. patients_requested - 1, as one
// shard); creates run_parts unless it exists with the shape version 5 defines.
void migrate_runs_to_v5(sql::Database& db, const std::string& path) {
  // The columns as version 5 defines them, added to a scratch table to compare with.
  sql::Database expected(":memory:", sql::OpenMode::kCreate);
  expected.execute("CREATE TABLE runs (run_id INTEGER PRIMARY KEY);",
                   "migrating the schema: reading the new columns");
  for (const RunsColumn& column : kRunsV5Columns)
    expected.execute(add_runs_column_sql(column), "migrating the schema: reading the new columns");
  const auto definition = [](sql::Database& in, std::string_view name) {
    Statement column(in,
                     "SELECT type, \"notnull\", dflt_value FROM pragma_table_info('runs')"
                     " WHERE name = ?1",
                     "migrating the schema: reading the columns of runs");
    column.bind_text(1, name);
    return column.step() ? std::optional<std::string>(fmt::format(
                               "{} {} DEFAULT {}", column.column_text(0),
                               column.column_int64(1) != 0 ? "NOT NULL" : "NULL",
                               column.column_is_null(2) ? "NULL" : column.column_text(2)))
                         : std::nullopt;
  };
  for (const RunsColumn& column : kRunsV5Columns) {
    const std::optional<std::string> have = definition(db, column.name);
    if (!have) {
      db.execute(add_runs_column_sql(column), "migrating the schema: adding a column to runs");
      continue;
    }
    const std::string want = *definition(expected, column.name);
    if (*have != want)
      throw MigrationRefused{fmt::format(
          "{}: cannot migrate to schema version {}: column runs.{} exists as {} where version {} "
          "defines {}; the file is unchanged",
          path, kSchemaVersion, column.name, *have, kSchemaVersion, want)};
  }
  db.execute(
      "UPDATE runs SET first_patient = 0, end_patient = patients_requested,"
      " shard_index = 0, shard_count = 1,"
      " patients_stored = (SELECT COUNT(*) FROM patients AS p"
      "  WHERE p.run_id = runs.run_id),"
      " candidates_screened = (SELECT COALESCE(SUM(p.candidates_screened), 0)"
      "  FROM patients AS p WHERE p.run_id = runs.run_id);",
      "migrating the schema: counting each run's stored patients");
  create_missing_tables(db, tables_v5_sql(), path);
}

// From version 5: run_blocks and runs.content_digest (if a hand-edited file lacks them), empty:
// the runs written before have no digests, and verify says so.
void migrate_to_v6(sql::Database& db, const std::string& path) {
  Statement has(db, "SELECT 1 FROM pragma_table_info('runs') WHERE name = ?1",
                "migrating the schema: reading the columns of runs");
  has.bind_static_text(1, kRunsV6Column.name);
  const bool has_column = has.step();
  has.reset();
  if (!has_column)
    db.execute(add_runs_column_sql(kRunsV6Column), "migrating the schema: adding content_digest");
  create_missing_tables(db, tables_v6_sql(), path);
}

// Versions 2 to 4 are migrated in place, in one transaction (a failure leaves the file as it
// was). runs.schema_version keeps the version that wrote each run. Returns the state after.
SchemaState migrate(sql::Database& db, const std::string& path) {
  Statement begin(db, "BEGIN IMMEDIATE", "migrating the schema");
  Statement commit(db, "COMMIT", "committing the migrated schema");
  Transaction transaction(db, begin);
  SchemaState state = read_schema_state(db);
  if (!state.migratable()) return state;  // another process migrated it meanwhile
  if (state.user_version < 4) migrate_to_v4(db, path);
  if (state.user_version < 5) migrate_runs_to_v5(db, path);
  migrate_to_v6(db, path);
  db.execute(fmt::format("PRAGMA user_version = {};", kSchemaVersion),
             "migrating the schema: setting the version");
  transaction.commit(commit);
  return read_schema_state(db);
}

// Creates the schema in an empty file; false if another process created one meanwhile.
bool create_schema(sql::Database& db, const std::string& path) {
  set_wal(db, path);
  Statement begin(db, "BEGIN IMMEDIATE", "creating the schema");
  Statement commit(db, "COMMIT", "committing the new schema");
  Transaction transaction(db, begin);
  // Another process may have created the schema between the first look and the write lock.
  if (!read_schema_state(db).empty()) return false;
  db.execute(schema_sql(), "creating the schema");
  db.execute(fmt::format("PRAGMA application_id = {}; PRAGMA user_version = {};", kApplicationId,
                         kSchemaVersion),
             "setting the schema version");
  transaction.commit(commit);
  return true;
}

}  // namespace

OpenedSchema open_schema(sql::Database& db, const std::string& path, ResultStore::Access access) {
  SchemaState state = read_schema_state(db);
  OpenedSchema opened;
  if (access == ResultStore::Access::kReadOnly) {
    if (state.empty())
      opened.refused = fmt::format("{} holds no tables: not a vpgen results database", path);
    else if (state.migratable())
      opened.refused = fmt::format(
          "{} is schema version {} and this vpgen reads version {}; a read never converts a "
          "file: run `vpgen upgrade --db {}` to migrate it in place (a copy keeps the old one)",
          path, state.user_version, kSchemaVersion, path);
    else opened.refused = refusal(db, state, path);
    return opened;
  }
  if (state.empty()) {
    if (access != ResultStore::Access::kReadWrite) {
      opened.refused = fmt::format(
          "{} holds no tables: not a vpgen results database; refusing to make it one", path);
      return opened;
    }
    if (create_schema(db, path)) return opened;
    state = read_schema_state(db);
  }
  if (state.migratable()) {
    const std::int64_t before = state.user_version;
    try {
      state = migrate(db, path);
    } catch (const MigrationRefused& refused) {
      opened.refused = refused.message;
      return opened;
    }
    if (state.user_version != before) opened.migrated_from = before;
  }
  // Checked before anything is written, so a foreign file is never modified.
  opened.refused = refusal(db, state, path);
  if (!opened.refused) set_wal(db, path);
  return opened;
}

}  // namespace vpgen
