// Private to storage/src: what the schema, migrations, writer and readers share — enum names
// checked on the way in and out, the largest storable integer, the file's name for messages, the
// schema's SQL and the column layout of the derived tables. Thread-safe: functions and constants.
#pragma once

#include "vpgen/population/error.hpp"
#include "vpgen/storage/database.hpp"
#include "vpgen/storage/result_store.hpp"
#include "vpgen/storage/tables.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace vpgen {

// PRAGMA application_id marks the file as a vpgen database ("vpgn" in ASCII), so a foreign SQLite
// file that happens to have user_version 1 is not mistaken for one.
inline constexpr std::int64_t kApplicationId = 0x7670676E;
// The oldest schema version that is migrated on open: versions 2 and 3 have the same tables (3
// added views), version 4 adds tables and redefines views, and version 5 adds the patient range,
// the shard and the stored counts to `runs` and the table run_parts: all derivable from the rows.
// Version 6 adds run_blocks and runs.content_digest, which stay empty for the runs migrated: a
// digest is only worth what the writer computed from the values it stored.
inline constexpr std::int64_t kOldestMigratedVersion = 2;
inline constexpr std::uint64_t kMaxStorable = static_cast<std::uint64_t>(
    std::numeric_limits<std::int64_t>::max());  // SQLite integers are signed 64-bit
inline constexpr std::string_view kNowUtc = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')";

// The configuration names of RegimenClass (tools/config reads the same names). course_params.hpp
// has no name table; a RegimenClass beyond this list is refused when stored.
inline constexpr std::array<std::string_view, 4> kRegimenClassNames = {
    "immunotherapy", "chemotherapy", "targeted", "cell_therapy"};

template <typename Enum, std::size_t N>
std::string_view checked_name(Enum value, const std::array<std::string_view, N>& names,
                              std::string_view what) {
  const auto index = static_cast<std::size_t>(value);
  if (index >= N)
    throw StorageError(fmt::format("invalid {} value {}; refusing to store it", what, index));
  return names[index];
}

template <typename Enum, std::size_t N>
Enum enum_from_name(std::string_view name, const std::array<std::string_view, N>& names,
                    std::string_view what) {
  for (std::size_t i = 0; i < N; ++i)
    if (names[i] == name) return static_cast<Enum>(i);
  throw StorageError(fmt::format("the database holds an unknown {} '{}'", what, name));
}

// Throws InputError naming `what` if `value` exceeds what SQLite stores.
std::int64_t storable(std::uint64_t value, std::string_view what);

// The database's file name for messages (":memory:" for an in-memory one).
std::string db_name(const sql::Database& db);

// The valid `code` values of an event kind, [min, max].
struct CodeRange {
  int min = 0;
  int max = 0;
};
CodeRange event_code_range(EventKind kind);

// ---------------------------------------------------------------------------------------------
// The schema (schema.cpp)

// Appends one definition line per column ("  name  TYPE    constraints,"), the names padded to
// the longest of `columns` and the type to the longest type, as docs/SCHEMA.md shows the tables.
template <typename Columns>
void append_column_lines(std::string& out, const Columns& columns) {
  std::size_t width = 0;
  for (const auto& column : columns) width = std::max(width, column.name.size());
  for (const auto& column : columns) {
    if (column.constraints.empty())
      out += fmt::format("  {:<{}} {},\n", column.name, width, column.type);
    else
      out +=
          fmt::format("  {:<{}} {:<7} {},\n", column.name, width, column.type, column.constraints);
  }
}

// The CREATE TABLE statement of a column table.
template <typename Row>
std::string create_table_sql(const Table<Row>& table) {
  std::string sql = fmt::format("CREATE TABLE {} (\n", table.name);
  append_column_lines(sql, table.columns);
  return sql + fmt::format("{}\n) {};\n", table.constraints, table.options);
}

// Tables and views added by schema version 4, and by version 5 (run_parts); the views of the
// current version (a migrated file gets them anew).
std::string_view tables_v4_sql();
std::string_view tables_v5_sql();
std::string_view tables_v6_sql();  // run_blocks
std::string_view views_sql();
// The version-5 columns of `runs`, added by ALTER TABLE in new files as in migrated ones.
struct RunsColumn {
  std::string_view name;
  std::string_view definition;
};
extern const std::array<RunsColumn, 6> kRunsV5Columns;
extern const RunsColumn kRunsV6Column;  // content_digest
std::string add_runs_column_sql(const RunsColumn& column);

// What a file of this version must contain, checked when an existing file is opened.
struct SchemaObject {
  std::string_view type;
  std::string_view name;
};
extern const std::array<SchemaObject, 21> kSchemaObjects;

// The count columns of subgroup_counts and survival_time_counts, in table order (after the keys):
// the writer counts into arrays indexed by these enums, and the SQL of both tables is generated
// from the column names.
enum SubgroupCount : std::size_t {
  kN,
  kCompleteResponses,
  kPartialResponses,
  kStableDisease,
  kProgressiveDisease,
  kNotEvaluable,
  kCompleteResponsesUnconfirmed,
  kPartialResponsesUnconfirmed,
  kCompleteResponsesIrecist,
  kPartialResponsesIrecist,
  kDurableCr,
  kIraeAny,
  kIraeGrade3plus,
  kAeGrade3plus,
  kDeaths,
  kProgressionsOrDeaths,
  kBeyondProgression,
  kPseudoProgressions,
  kPseudoProgressionsRecistPd,
  kNextLine,
  kEradicated,
  kTreatmentHolds,
  kTreatmentHoldsSquares,
  kSubgroupCountColumns
};
enum SurvivalColumn : std::size_t {
  kOsEvents,
  kOsCensored,
  kPfsEvents,
  kPfsCensored,
  kPfsIrecistEvents,
  kPfsIrecistCensored,
  kDorEvents,
  kDorCensored,
  kPfs2Events,
  kPfs2Censored,
  kSurvivalColumns
};
// The upsert of one subgroup_counts row: the keys (?1..?8), then the counts in SubgroupCount
// order, added to an existing row.
std::string subgroup_upsert_sql();
// survival_time_counts: the keys (run_id, arm_index, time_months: ?1..?3), then the counts in
// SurvivalColumn order; the UPDATE adds them to an existing row, the INSERT makes a new one.
std::string survival_update_sql();
std::string survival_insert_sql();

// subgroup_counts and survival_time_counts as computed from the stored rows (the version-4
// migration fills them with it, verify compares): `where` filters the outcomes (e.g.
// "WHERE o.run_id = ?1" for the subgroups, "WHERE run_id = ?1" for the survival times) or is
// empty. The columns are the tables', in order.
std::string subgroup_counts_from_rows_sql(std::string_view where);
std::string survival_counts_from_rows_sql(std::string_view where);

// ---------------------------------------------------------------------------------------------
// Content digests (integrity.cpp)

// The hex sum of run `run_id`'s block digests when its run_blocks rows tile its patient range
// [first_patient, end_patient) exactly; nullopt otherwise (a run begun before schema 6).
std::optional<std::string> sealed_digest(sql::Database& db, std::int64_t run_id);

// ---------------------------------------------------------------------------------------------
// Opening (migrations.cpp)

struct OpenedSchema {
  std::optional<std::string> refused;         // why the file is refused, if it is
  std::optional<std::int64_t> migrated_from;  // the version before a migration, if one ran
};
// Creates the schema in a new (empty) database (kReadWrite only), migrates a file of an older
// version in place (not kReadOnly), or checks an existing one; sets WAL (not kReadOnly). SQLite
// failures throw. kReadOnly: nothing is created, migrated or changed, and an older version is
// refused with the command that migrates it.
OpenedSchema open_schema(sql::Database& db, const std::string& path, ResultStore::Access access);

}  // namespace vpgen
