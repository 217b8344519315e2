// Private to storage/src: what the store's own code needs beyond the public SQL API
// (vpgen/storage/database.hpp): the raw connection for the few calls that API does not wrap, the
// one function that turns a SQLite result code into a StorageError, and the store's connection.
// Not thread-safe (one connection per thread).
#pragma once

#include "vpgen/population/error.hpp"
#include "vpgen/storage/database.hpp"
#include "vpgen/storage/result_store.hpp"

#include <sqlite3.h>

#include <string>
#include <string_view>

namespace vpgen::sql {

// The StorageError of a failed SQLite call, with its (extended) result code and the operating
// system's errno behind it (0 if none), so that opening a file can tell a path the user gave wrong
// (a folder, a foreign file, no permission) from a failure of the system.
class SqliteError : public StorageError {
 public:
  SqliteError(const std::string& message, int code, int system_errno)
      : StorageError(message), code_(code), system_errno_(system_errno) {}
  int code() const { return code_; }
  int primary_code() const { return code_ & 0xff; }
  int system_errno() const { return system_errno_; }

 private:
  int code_;
  int system_errno_;
};

// "sqlite error 19 (constraint failed) inserting outcomes: CHECK constraint failed: ...". The
// primary code and its name come first because they are what a user searches for; the extended
// code (e.g. 1811 = SQLITE_CONSTRAINT_TRIGGER) is appended when it adds something.
[[noreturn]] void throw_error(int rc, std::string_view operation, std::string_view detail,
                              int system_errno = 0);
// The same with the connection's own message (or the code's, without a connection).
[[noreturn]] void throw_error(sqlite3* db, int rc, std::string_view operation);

// "file:" followed by `path` with the characters a URI gives a meaning to ('%', '?', '#', space,
// control and non-ASCII bytes) percent-encoded: the URI of that file, to append "?key=value" to.
std::string file_uri(const std::string& path);

struct Internal {
  static sqlite3* handle(Database& db) { return db.db_; }
};

}  // namespace vpgen::sql

namespace vpgen {

// The URI under which a reader ATTACHes `path` (merge's shards): "?mode=ro", or "?immutable=1"
// where ResultStore::Access::kReadOnly would read it as a constant (result_store.cpp). Throws as
// that opening does.
std::string reader_uri(const std::string& path);

// The connection of a ResultStore, for storage's own functions outside the class (merge, reads).
struct StoreAccess {
  static sql::Database& database(ResultStore& store) { return store.db_; }
};

}  // namespace vpgen
