// SQL on a results database without SQLite's C API: a connection, prepared statements and a
// transaction guard, all RAII; no SQLite type or header appears here, so storage stays the only
// module that sees SQLite. For tests, benchmarks and inspection tools; the program's own reads and
// writes are typed (result_store.hpp). Not thread-safe: a Database and its statements belong to one
// thread at a time. Errors throw StorageError naming the SQLite code and the operation.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace vpgen::sql {

enum class OpenMode {
  kReadOnly,   // an existing file, never written
  kReadWrite,  // an existing file
  kCreate,     // read-write, created if missing (":memory:" allowed)
  // An existing file read as a constant (SQLite's `immutable=1`): no locks, no -shm, and its
  // -wal and -journal files are ignored, so what they hold is not seen and a change made while
  // it is open may be read half-made. For files that this user cannot read otherwise (a
  // read-only folder or mount); ResultStore uses it only when no -wal or -journal has content.
  kImmutable,
};

// The storage class of a value in a result row (SQLite's five).
enum class ValueType { kInteger, kReal, kText, kBlob, kNull };

class Database;

// A prepared statement. Parameters are 1-based and bound by index; columns are 0-based.
// `operation` (a string literal: it is kept by pointer) names what the statement does in errors.
class Statement {
 public:
  Statement() = default;
  // One SQL statement (StorageError if more follow, or if it does not compile). `persistent`:
  // the statement lives for many executions (a hint to SQLite's allocator).
  Statement(Database& db, std::string_view sql, const char* operation = "running a query",
            bool persistent = false);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;

  const char* operation() const { return operation_; }

  void bind_int64(int index, std::int64_t value);
  void bind_bool(int index, bool value);
  // NaN ("does not apply") is stored as NULL.
  void bind_real(int index, double value);
  void bind_null(int index);
  // For text that outlives the statement's next step (enum names: string literals). No copy.
  void bind_static_text(int index, std::string_view value);
  // For any other text: SQLite copies it.
  void bind_text(int index, std::string_view value);

  // Steps once: true if a row is available. At the end of the rows the statement is reset (which
  // also ends its read transaction); on an error it is reset and StorageError is thrown.
  bool step();
  // Runs a statement that returns no rows, and resets it for the next execution.
  void execute();
  void reset();

  int column_count() const;
  std::string_view column_name(int column) const;
  ValueType column_type(int column) const;
  bool column_is_null(int column) const { return column_type(column) == ValueType::kNull; }
  std::int64_t column_int64(int column) const;
  bool column_bool(int column) const { return column_int64(column) != 0; }
  // NULL reads back as NaN, the inverse of bind_real.
  double column_real(int column) const;
  // The bytes of a TEXT (or BLOB) value; valid until the next step or reset; NULL reads as "".
  std::string_view column_text(int column) const;

 private:
  friend struct Internal;
  [[noreturn]] void fail(int rc);
  [[noreturn]] void fail(int rc, std::string_view detail);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  const char* operation_ = "";
};

// One connection. It waits up to 5 s for another connection's lock before reporting it busy.
// Opening reads nothing and runs no schema check (that is ResultStore's); foreign keys are off
// unless `PRAGMA foreign_keys = ON` is executed, as in SQLite.
class Database {
 public:
  // Throws StorageError if the file cannot be opened in `mode`. `path` is a file name; one that
  // begins with "file:" is read as a SQLite URI (ResultStore refuses such names from users).
  Database(const std::string& path, OpenMode mode);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;

  // Runs SQL without results (DDL, pragmas, updates), possibly several statements.
  void execute(std::string_view sql, std::string_view operation = "running SQL");
  // Rows changed by the last INSERT, UPDATE or DELETE.
  std::int64_t changes() const;
  std::int64_t last_insert_rowid() const;
  // False while a transaction is open.
  bool autocommit() const;
  // The file's path; empty for an in-memory database.
  std::string filename() const;
  // True if the connection cannot write (opened read-only, immutable, or a file or place that
  // SQLite found write-protected when it opened it read-write).
  bool read_only() const;
  // For tests: `hook` runs as each statement on this connection starts, before it takes its
  // locks (empty: none). Tests use it to commit on another connection between a reader's
  // statements. The hook must not use this connection.
  void set_statement_hook(std::function<void()> hook);

 private:
  friend class Statement;
  friend struct Internal;
  sqlite3* db_ = nullptr;
  std::unique_ptr<std::function<void()>> hook_;  // on the heap: SQLite keeps its address
};

// A write transaction: begins on construction, rolls back on destruction unless committed. The
// destructor never throws; it does nothing when SQLite has already rolled back by itself (some
// errors, e.g. SQLITE_FULL, end the transaction automatically). The forms with statements reuse
// prepared BEGIN IMMEDIATE and COMMIT statements (a writer's hot loop); the others prepare them.
class Transaction {
 public:
  explicit Transaction(Database& db);
  Transaction(Database& db, Statement& begin);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void commit();
  void commit(Statement& commit);

 private:
  Database& db_;
  bool committed_ = false;
};

}  // namespace vpgen::sql
