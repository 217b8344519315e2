// The column tables of the per-patient tables (patients, outcomes, events; docs/SCHEMA.md): one
// entry per column, in table order, with its SQL type and constraints and how its value is bound
// from, and read back into, the engine's struct. Storage generates the CREATE TABLE, the INSERT,
// the binds and the reads from them, so a new outcome column is one entry in kOutcomesTable (with
// its field in Outcome and its line in SCHEMA.md). Public so that a benchmark's plain insert binds
// the very same rows. Thread-safe: constant data.
#pragma once

#include "vpgen/engine/outcome.hpp"
#include "vpgen/population/patient.hpp"
#include "vpgen/storage/database.hpp"

#include <span>
#include <string>
#include <string_view>

namespace vpgen {

template <typename Row>
struct Column {
  std::string_view name;
  std::string_view type;         // INTEGER, REAL or TEXT
  std::string_view constraints;  // the SQL after the type, verbatim (may span lines)
  std::string_view label;        // what an enumerated value is, in error messages
  // Binds the column's value of `row` to parameter `index`. nullptr: a key the caller binds.
  // Throws StorageError for a value that cannot be stored (an enum value out of range).
  void (*bind)(sql::Statement& statement, int index, const Row& row,
               const Column& column) = nullptr;
  // Reads result column `column` into `row`. nullptr: not read back. Throws StorageError for a
  // value the struct cannot hold (an unknown enum name).
  void (*read)(const sql::Statement& statement, int column, Row& row) = nullptr;
  // Appends the value `bind` stores, in the canonical encoding of a block's content digest
  // (docs/SCHEMA.md, run_blocks). nullptr exactly where `bind` is: a key the caller feeds.
  void (*feed)(std::string& out, const Row& row) = nullptr;
};

template <typename Row>
struct Table {
  std::string_view name;
  std::span<const Column<Row>> columns;
  std::string_view constraints;  // the table constraints after the columns, verbatim
  std::string_view options;      // e.g. "STRICT, WITHOUT ROWID"

  // The 1-based parameter of column `column` in insert_sql(). REQUIRES: the table has it.
  int parameter(std::string_view column) const;
  // INSERT INTO <name> (<every column>) VALUES (?1, ..., ?N).
  std::string insert_sql() const;
  // The columns that are read back, comma-separated, each name after `prefix` (e.g. "o.").
  std::string read_list(std::string_view prefix = {}) const;
  // Binds every column that has a binder; the caller binds the others (the keys).
  void bind(sql::Statement& statement, const Row& row) const;
  // Reads the columns of read_list() from result column `first` on.
  void read(const sql::Statement& statement, Row& row, int first = 0) const;
  // Every column but run_id, comma-separated, in table order: what a content digest covers.
  std::string stored_list() const;
  // Appends the encoding of every column but run_id, in table order, as stored: `keys` are the
  // values of the other key columns the caller binds, in table order (events: patient_index, seq).
  void feed(std::string& out, const Row& row, std::span<const std::int64_t> keys) const;
};

// patients: the caller binds run_id. Reads fill every Patient field (index = patient_index).
extern const Table<Patient> kPatientsTable;
// outcomes: the caller binds run_id and patient_index. dor_event is NULL unless the best response
// is CR or PR (and reads back as false).
extern const Table<Outcome> kOutcomesTable;
// events: the caller binds run_id, patient_index and seq (the event's number within its arm).
// detail is event_detail(kind, code), NULL when empty; seq and detail are not read back.
extern const Table<CourseEvent> kEventsTable;

// The readable label stored in events.detail for an event of `kind` with `code` ("grade 3", "CR",
// "progression", "line 2"), or empty where the kind's code carries no label or is out of its range
// (stored as NULL). Thread-safe; the view points to static storage.
std::string_view event_detail(EventKind kind, int code);

}  // namespace vpgen
