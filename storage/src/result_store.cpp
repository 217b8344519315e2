// Opening a results file (ResultStore's connection) and reading it in one snapshot; the schema and
// its migrations are in migrations.cpp, the writes in writer.cpp, the reads in readers.cpp.
//
// Opening tells what the user can fix (a wrong path, a foreign file, no permission: InputError)
// from failures of the system (StorageError), and a reader never writes: it opens read-only, or as
// a constant where SQLite cannot make the shared-memory file a WAL reader needs.
#include "vpgen/storage/result_store.hpp"

#include "sqlite_internal.hpp"
#include "store_internal.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "vpgen/population/error.hpp"

namespace vpgen {
namespace {

using Access = ResultStore::Access;

bool is_memory(const std::string& path) { return path == ":memory:"; }

std::string folder_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// What can be said about `path` before SQLite opens it; throws InputError for a path no store can
// be opened at.
void check_path(const std::string& path, Access access) {
  if (path.empty()) throw InputError("the results database path is empty");
  // SQLite (built with URI names, as Debian's is) would read it as a URI: "file:x?mode=memory"
  // writes nowhere, "file:x?immutable=1" reads without locks.
  if (path.starts_with("file:"))
    throw InputError(fmt::format(
        "{}: a SQLite URI, not a file path; vpgen takes a file path (write ./{} for a file of "
        "that name)",
        path, path));
  if (is_memory(path)) {
    if (access != Access::kReadWrite)
      throw InputError(
          fmt::format("{}: no such file (an in-memory database holds no results)", path));
    return;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int error = errno;
    if (error == ENOENT && access == Access::kReadWrite) {
      struct stat folder {};
      if (::stat(folder_of(path).c_str(), &folder) != 0 || !S_ISDIR(folder.st_mode))
        throw InputError(fmt::format("{}: no such folder {}", path, folder_of(path)));
      return;  // created by SQLite
    }
    if (error == ENOENT) throw InputError(fmt::format("{}: no such file", path));
    throw InputError(fmt::format("{}: {}", path, std::strerror(error)));
  }
  if (S_ISDIR(st.st_mode))
    throw InputError(fmt::format("{}: a folder, not a results database file", path));
  if (!S_ISREG(st.st_mode))
    throw InputError(fmt::format("{}: not a regular file (a results database is one)", path));
  if (st.st_size == 0 && access != Access::kReadWrite)
    throw InputError(fmt::format("{} is empty: not a vpgen results database", path));
}

// InputError for the SQLite failures at open that the user's path or file explains; nullopt for
// the others (an I/O error, a lock held too long), which stay StorageErrors.
std::optional<InputError> user_error(const sql::SqliteError& e, const std::string& path,
                                     bool writing) {
  const std::string code =
      fmt::format("sqlite error {} ({})", e.primary_code(), sqlite3_errstr(e.primary_code()));
  const std::string os =
      e.system_errno() != 0 ? fmt::format(": {}", std::strerror(e.system_errno())) : "";
  switch (e.primary_code()) {
    case SQLITE_CANTOPEN: {
      // SQLite's errno is that of its last attempt (a read-only retry: ENOENT for a file it could
      // not create); the folder says why.
      const std::string folder = folder_of(path);
      if (writing && ::access(folder.c_str(), W_OK) != 0)
        return InputError(fmt::format(
            "{}: cannot write in its folder {}: {} ({}); vpgen writes the file and, beside it, "
            "its -wal and -shm files",
            path, folder, std::strerror(errno), code));
      return InputError(fmt::format("{}: cannot open it{} ({})", path, os, code));
    }
    case SQLITE_NOTADB:
      return InputError(fmt::format(
          "{}: not a SQLite database, so not a vpgen results database ({})", path, code));
    case SQLITE_READONLY:
      return InputError(fmt::format(
          "{}: cannot write to it: the file, its folder or the file system is read-only ({}); "
          "reading commands (report, runs, export, patient) read it as it is",
          path, code));
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return InputError(fmt::format("{}: permission denied{} ({})", path, os, code));
    case SQLITE_CORRUPT:
      return InputError(fmt::format("{}: damaged, SQLite cannot read it ({})", path, code));
    default: return std::nullopt;
  }
}

[[noreturn]] void rethrow_opening(const sql::SqliteError& e, const std::string& path,
                                  bool writing) {
  if (auto input = user_error(e, path, writing)) throw *input;
  throw StorageError(fmt::format("{} (opening {})", e.what(), path));
}

// The first read of a connection: the header and the schema, where a file that is not SQLite, or
// a WAL file whose -shm cannot be made, fails.
void probe(sql::Database& db) {
  sql::Statement query(db, "SELECT COUNT(*) FROM sqlite_schema", "reading the schema");
  while (query.step()) {
  }
}

// SQLite cannot set up WAL reading without write access to the folder (the -shm file) or to an
// existing -shm: SQLITE_CANTOPEN or SQLITE_READONLY (3.40: CANTINIT and its kin), or an error
// mapping the shared memory.
bool shared_memory_unavailable(const sql::SqliteError& e) {
  const int code = e.code();
  return e.primary_code() == SQLITE_CANTOPEN || e.primary_code() == SQLITE_READONLY ||
         code == SQLITE_IOERR_SHMOPEN || code == SQLITE_IOERR_SHMSIZE ||
         code == SQLITE_IOERR_SHMMAP || code == SQLITE_IOERR_SHMLOCK;
}

// A -wal or -journal beside `path` with content: what it holds (committed results, or the undo of
// an interrupted write) is not in the file alone, and an immutable read would ignore it.
std::optional<std::string> side_file_with_content(const std::string& path) {
  for (const char* suffix : {"-wal", "-journal"}) {
    struct stat st {};
    const std::string side = path + suffix;
    if (::stat(side.c_str(), &st) == 0 && st.st_size > 0) return side;
  }
  return std::nullopt;
}

// A reader's connection: read-only, or immutable where the -shm cannot be made and nothing lies
// outside the main file. Sets `immutable`.
sql::Database open_reader(const std::string& path, bool& immutable) {
  try {
    sql::Database db(path, sql::OpenMode::kReadOnly);
    probe(db);
    return db;
  } catch (const sql::SqliteError& e) {
    if (!shared_memory_unavailable(e)) rethrow_opening(e, path, false);
  }
  if (const auto side = side_file_with_content(path))
    throw InputError(fmt::format(
        "{}: {} holds changes that are not yet in the file, and reading them needs to create "
        "{}-shm, which this user cannot (a read-only folder or file system, or another user's "
        "file): ask the file's owner to run `vpgen upgrade --db {}` (it folds them into the "
        "file), or copy the file with its {} to a folder you can write",
        path, *side, path, path, *side));
  try {
    sql::Database db(path, sql::OpenMode::kImmutable);
    probe(db);
    immutable = true;
    return db;
  } catch (const sql::SqliteError& e) {
    rethrow_opening(e, path, false);
  }
}

sql::Database open_connection(const std::string& path, Access access, bool& immutable) {
  check_path(path, access);
  if (access == Access::kReadOnly) return open_reader(path, immutable);
  try {
    sql::Database db(path, access == Access::kReadWrite ? sql::OpenMode::kCreate
                                                        : sql::OpenMode::kReadWrite);
    probe(db);
    return db;
  } catch (const sql::SqliteError& e) {
    rethrow_opening(e, path, true);
  }
}

}  // namespace

std::string reader_uri(const std::string& path) {
  check_path(path, Access::kReadOnly);
  bool immutable = false;
  { const sql::Database probe_only = open_reader(path, immutable); }
  return sql::file_uri(path) + (immutable ? "?immutable=1" : "?mode=ro");
}

ResultStore::ResultStore(const std::string& path, Access access)
    : db_(open_connection(path, access, immutable_)) {
  const bool read_only = access == Access::kReadOnly;
  // SQLite opens a write-protected file read-only without a word; a writer would fail at its
  // first write, after the simulation.
  if (!read_only && db_.read_only())
    throw InputError(fmt::format(
        "{}: cannot write to it: the file, its folder or the file system is read-only; reading "
        "commands (report, runs, export, patient) read it as it is",
        path));
  OpenedSchema opened;
  try {
    db_.execute("PRAGMA foreign_keys = ON", "enabling foreign keys");
    opened = open_schema(db_, path, access);
    if (!opened.refused && !read_only)
      db_.execute("PRAGMA synchronous = NORMAL", "setting synchronous = NORMAL");
  } catch (const sql::SqliteError& e) {
    rethrow_opening(e, path, !read_only);
  }
  // A file that is not a vpgen database of a usable version is the user's input.
  if (opened.refused) throw InputError(*opened.refused);
  migrated_from_ = opened.migrated_from;
}

ResultStore::~ResultStore() = default;

void ResultStore::set_statement_hook(std::function<void()> hook) {
  db_.set_statement_hook(std::move(hook));
}

// ---------------------------------------------------------------------------------------------
// ReadSnapshot

ReadSnapshot::ReadSnapshot(ResultStore& store) : db_(store.db_) {
  if (!db_.autocommit()) return;  // nested: the open transaction is the snapshot
  db_.execute("BEGIN DEFERRED", "beginning a read");
  began_ = true;
  try {
    // BEGIN DEFERRED takes no lock; the first read does, and fixes the snapshot.
    probe(db_);
  } catch (...) {
    sqlite3_exec(sql::Internal::handle(db_), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

ReadSnapshot::~ReadSnapshot() {
  if (!began_ || db_.autocommit()) return;
  // A read transaction changes nothing: COMMIT and ROLLBACK both just end it.
  sqlite3* raw = sql::Internal::handle(db_);
  if (sqlite3_exec(raw, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
    sqlite3_exec(raw, "ROLLBACK", nullptr, nullptr, nullptr);
}

}  // namespace vpgen
