// RAII over the SQLite C API, private to storage/src: a prepared statement that finalizes itself, a
// transaction guard that rolls back on scope exit and never throws, and the one function that turns
// a SQLite result code into a StorageError. Not thread-safe (one connection per thread).
#pragma once

#include "vpgen/population/error.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace vpgen::sqlite {

// "sqlite error 19 (constraint failed) inserting outcomes: CHECK constraint failed: ...". The
// primary code and its name come first because they are what a user searches for; the extended
// code (e.g. 1811 = SQLITE_CONSTRAINT_TRIGGER) is appended when it adds something.
[[noreturn]] inline void throw_error(int rc, std::string_view operation, std::string_view detail) {
  const int primary = rc & 0xff;
  std::string message = fmt::format("sqlite error {} ({}) {}: {}", primary, sqlite3_errstr(primary),
                                    operation, detail);
  if (rc != primary) message += fmt::format(" [extended code {}]", rc);
  throw StorageError(message);
}

[[noreturn]] inline void throw_error(sqlite3* db, int rc, std::string_view operation) {
  throw_error(rc, operation, db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

struct ConnectionCloser {
  // close_v2 defers the close until the last statement is finalized, so destruction order of a
  // store and the statements prepared on it cannot leak or crash.
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using Connection = std::unique_ptr<sqlite3, ConnectionCloser>;

// Runs SQL without results (DDL, pragmas), possibly several statements.
inline void exec(sqlite3* db, const char* sql, std::string_view operation) {
  char* raw_message = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &raw_message);
  if (rc != SQLITE_OK) {
    const std::string detail = raw_message != nullptr ? raw_message : sqlite3_errstr(rc);
    sqlite3_free(raw_message);
    throw_error(rc, operation, detail);
  }
}

// A prepared statement. Parameters are 1-based and bound by index. `operation` (a string literal:
// it is kept by pointer) names what the statement does in error messages.
class Statement {
 public:
  Statement() = default;
  // `persistent`: the statement lives for many executions (a hint to SQLite's allocator).
  Statement(sqlite3* db, std::string_view sql, const char* operation, bool persistent = false)
      : db_(db), operation_(operation) {
    const unsigned flags = persistent ? SQLITE_PREPARE_PERSISTENT : 0U;
    const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), flags, &stmt_,
                                      nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt_);
      stmt_ = nullptr;
      throw_error(db, rc, fmt::format("preparing the statement for {}", operation));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }  // finalize(nullptr) is a harmless no-op

  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept
      : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), operation_(other.operation_) {}
  Statement& operator=(Statement&& other) noexcept {
    if (this != &other) {
      sqlite3_finalize(stmt_);
      db_ = other.db_;
      stmt_ = std::exchange(other.stmt_, nullptr);
      operation_ = other.operation_;
    }
    return *this;
  }

  const char* operation() const { return operation_; }

  void bind_int64(int index, std::int64_t value) {
    check_bind(sqlite3_bind_int64(stmt_, index, value));
  }
  void bind_bool(int index, bool value) { check_bind(sqlite3_bind_int(stmt_, index, value ? 1 : 0)); }
  // NaN ("does not apply") is stored as NULL.
  void bind_real(int index, double value) {
    check_bind(std::isnan(value) ? sqlite3_bind_null(stmt_, index)
                                 : sqlite3_bind_double(stmt_, index, value));
  }
  void bind_null(int index) { check_bind(sqlite3_bind_null(stmt_, index)); }
  // For text that outlives the statement's next step (enum names: string literals). No copy.
  void bind_static_text(int index, std::string_view value) {
    check_bind(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                                 SQLITE_STATIC));
  }
  // For any other text: SQLite copies it.
  void bind_text(int index, std::string_view value) {
    check_bind(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                                   SQLITE_UTF8));
  }

  // Steps once: true if a row is available. At the end of the rows the statement is reset (which
  // also ends its read transaction); on an error it is reset and StorageError is thrown.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) {
      sqlite3_reset(stmt_);
      return false;
    }
    fail(rc);
  }
  // Runs a statement that returns no rows, and resets it for the next execution.
  void execute() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) [[likely]] {
      sqlite3_reset(stmt_);
      return;
    }
    fail(rc);
  }
  void reset() { sqlite3_reset(stmt_); }

  bool column_is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::int64_t column_int64(int column) const { return sqlite3_column_int64(stmt_, column); }
  bool column_bool(int column) const { return sqlite3_column_int64(stmt_, column) != 0; }
  // NULL reads back as NaN, the inverse of bind_real.
  double column_real(int column) const {
    return column_is_null(column) ? std::numeric_limits<double>::quiet_NaN()
                                  : sqlite3_column_double(stmt_, column);
  }
  // Valid until the next step or reset; NULL reads as "".
  std::string_view column_text(int column) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    if (text == nullptr) return {};
    return {text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
  }

 private:
  void check_bind(int rc) {
    if (rc != SQLITE_OK) [[unlikely]]
      throw_error(db_, rc, fmt::format("binding a parameter for {}", operation_));
  }
  [[noreturn]] void fail(int rc) {
    // The message must be read before the reset, which may replace it.
    const std::string detail = sqlite3_errmsg(db_);
    sqlite3_reset(stmt_);
    throw_error(rc, operation_, detail);
  }

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  const char* operation_ = "";
};

// A write transaction: begins on construction, rolls back on destruction unless committed. The
// destructor never throws; it does nothing when SQLite has already rolled back by itself (some
// errors, e.g. SQLITE_FULL, end the transaction automatically).
class Transaction {
 public:
  Transaction(sqlite3* db, Statement& begin) : db_(db) { begin.execute(); }
  ~Transaction() {
    if (!committed_ && sqlite3_get_autocommit(db_) == 0)
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void commit(Statement& commit) {
    commit.execute();
    committed_ = true;
  }

 private:
  sqlite3* db_;
  bool committed_ = false;
};

}  // namespace vpgen::sqlite
