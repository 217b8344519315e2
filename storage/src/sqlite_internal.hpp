// Private to storage/src: what the store's own code needs beyond the public SQL API
// (vpgen/storage/database.hpp): the raw connection for the few calls that API does not wrap, the
// one function that turns a SQLite result code into a StorageError (BusyError for a lock held too
// long), the store's connection, and the fault-injection hook of tests/storage. Not thread-safe
// (one connection per thread).
#pragma once

#include "vpgen/population/error.hpp"
#include "vpgen/storage/database.hpp"
#include "vpgen/storage/result_store.hpp"

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "vpgen/population/error.hpp"

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

// How long a connection waits for another connection's lock before giving up (SQLITE_BUSY).
inline constexpr int kBusyTimeoutMs = 5000;

// A file that another connection kept locked beyond the busy timeout (SQLITE_BUSY or
// SQLITE_LOCKED). The message is the one line docs/SCHEMA.md promises: "FILE is busy: another
// process kept it locked for 5 s while vpgen was OPERATION (another vpgen writing to it?);
// CONSEQUENCE", the consequence by default "nothing was written, try again when that process has
// finished" (the operation's transaction was rolled back, or never began).
class BusyError : public StorageError {
 public:
  BusyError(std::string path, std::string operation,
            std::string_view consequence =
                "nothing was written, try again when that process has finished");
  const std::string& path() const { return path_; }
  const std::string& operation() const { return operation_; }

 private:
  std::string path_;
  std::string operation_;
};

// "sqlite error 19 (constraint failed) inserting outcomes: CHECK constraint failed: ...". The
// primary code and its name come first because they are what a user searches for; the extended
// code (e.g. 1811 = SQLITE_CONSTRAINT_TRIGGER) is appended when it adds something.
[[noreturn]] void throw_error(int rc, std::string_view operation, std::string_view detail,
                              int system_errno = 0);
// The same with the connection's own message (or the code's, without a connection).
[[noreturn]] void throw_error(sqlite3* db, int rc, std::string_view operation);
// With the connection: SQLITE_BUSY and SQLITE_LOCKED throw BusyError naming its file.
[[noreturn]] void throw_error(sqlite3* db, int rc, std::string_view operation,
                              std::string_view detail);

// Test hook (SQLite's own way of testing I/O failures), for tests/storage only: once armed, every
// SQLite call the wrappers of database.hpp make (preparing a statement, Statement::step and
// execute, Database::execute) is counted, and the `fail_at`-th one after arming (1-based) does not
// reach SQLite but fails with `rc` (e.g. SQLITE_IOERR, SQLITE_FULL, SQLITE_BUSY) as if SQLite had
// returned it; with `persistent` every later call fails too (a disk that stays full). Unarmed, the
// cost is one relaxed atomic load per call. Not thread-safe: arm, run one connection, disarm.
namespace fault {
void arm(std::int64_t fail_at, int rc, bool persistent = false);
// Disarms, and returns how many calls were counted since arm() (injected failures included).
std::int64_t disarm();
}  // namespace fault

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
