// Private to storage/src: what the store's own code needs beyond the public SQL API
// (vpgen/storage/database.hpp): the raw connection for the few calls that API does not wrap, the
// one function that turns a SQLite result code into a StorageError, and the store's connection.
// Not thread-safe (one connection per thread).
#pragma once

#include "vpgen/storage/database.hpp"
#include "vpgen/storage/result_store.hpp"

#include <sqlite3.h>

#include <string_view>

namespace vpgen::sql {

// "sqlite error 19 (constraint failed) inserting outcomes: CHECK constraint failed: ...". The
// primary code and its name come first because they are what a user searches for; the extended
// code (e.g. 1811 = SQLITE_CONSTRAINT_TRIGGER) is appended when it adds something.
[[noreturn]] void throw_error(int rc, std::string_view operation, std::string_view detail);
// The same with the connection's own message (or the code's, without a connection).
[[noreturn]] void throw_error(sqlite3* db, int rc, std::string_view operation);

struct Internal {
  static sqlite3* handle(Database& db) { return db.db_; }
};

}  // namespace vpgen::sql

namespace vpgen {

// The connection of a ResultStore, for storage's own functions outside the class (merge, reads).
struct StoreAccess {
  static sql::Database& database(ResultStore& store) { return store.db_; }
};

}  // namespace vpgen
