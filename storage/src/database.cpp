// The public SQL API over SQLite's C API (vpgen/storage/database.hpp); the store's own code uses it
// too, so there is one statement wrapper in the program.
#include "vpgen/storage/database.hpp"

#include "sqlite_internal.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "vpgen/population/error.hpp"

namespace vpgen::sql {
namespace {

// The fault-injection hook (sqlite_internal.hpp). `armed` is the only state read while unarmed.
std::atomic<bool> fault_armed{false};
std::atomic<std::int64_t> fault_calls{0};
std::int64_t fault_at = 0;
int fault_rc = SQLITE_OK;
bool fault_persistent = false;

// SQLITE_OK, or the code the hook makes this call fail with.
int injected_fault() {
  if (!fault_armed.load(std::memory_order_relaxed)) [[likely]]
    return SQLITE_OK;
  const std::int64_t call = fault_calls.fetch_add(1, std::memory_order_relaxed) + 1;
  return call == fault_at || (fault_persistent && call > fault_at) ? fault_rc : SQLITE_OK;
}

constexpr std::string_view kInjected = "injected fault (test hook)";

std::string file_of(sqlite3* db) {
  const char* file = db != nullptr ? sqlite3_db_filename(db, "main") : nullptr;
  return file != nullptr && *file != '\0' ? std::string(file) : std::string(":memory:");
}

}  // namespace

namespace fault {

void arm(std::int64_t fail_at, int rc, bool persistent) {
  fault_at = fail_at;
  fault_rc = rc;
  fault_persistent = persistent;
  fault_calls.store(0, std::memory_order_relaxed);
  fault_armed.store(true, std::memory_order_relaxed);
}

std::int64_t disarm() {
  fault_armed.store(false, std::memory_order_relaxed);
  return fault_calls.load(std::memory_order_relaxed);
}

}  // namespace fault

BusyError::BusyError(std::string path, std::string operation, std::string_view consequence)
    : StorageError(fmt::format(
          "{} is busy: another process kept it locked for {} s while vpgen was {} (another vpgen "
          "writing to it?); {}",
          path, kBusyTimeoutMs / 1000, operation, consequence)),
      path_(std::move(path)),
      operation_(std::move(operation)) {}

void throw_error(int rc, std::string_view operation, std::string_view detail, int system_errno) {
  const int primary = rc & 0xff;
  std::string message = fmt::format("sqlite error {} ({}) {}: {}", primary, sqlite3_errstr(primary),
                                    operation, detail);
  if (rc != primary) message += fmt::format(" [extended code {}]", rc);
  throw SqliteError(message, rc, system_errno);
}

void throw_error(sqlite3* db, int rc, std::string_view operation) {
  throw_error(db, rc, operation, db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

void throw_error(sqlite3* db, int rc, std::string_view operation, std::string_view detail) {
  const int primary = rc & 0xff;
  if (db != nullptr && (primary == SQLITE_BUSY || primary == SQLITE_LOCKED))
    throw BusyError(file_of(db), std::string(operation));
  throw_error(rc, operation, detail, db != nullptr ? sqlite3_system_errno(db) : 0);
}

std::string file_uri(const std::string& path) {
  std::string uri = "file:";
  // "file://x" would name a host; a path that starts with two slashes means the same with one.
  std::size_t start = 0;
  while (path.size() - start > 1 && path[start] == '/' && path[start + 1] == '/') ++start;
  for (std::size_t i = start; i < path.size(); ++i) {
    const auto c = static_cast<unsigned char>(path[i]);
    if (c == '%' || c == '?' || c == '#' || c < 0x21 || c >= 0x7f) uri += fmt::format("%{:02X}", c);
    else uri += static_cast<char>(c);
  }
  return uri;
}

// ---------------------------------------------------------------------------------------------
// Database

Database::Database(const std::string& path, OpenMode mode) {
  int flags = SQLITE_OPEN_READWRITE;
  std::string name = path;
  if (mode == OpenMode::kReadOnly) flags = SQLITE_OPEN_READONLY;
  if (mode == OpenMode::kCreate) flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (mode == OpenMode::kImmutable) {
    flags = SQLITE_OPEN_READONLY;
    name = file_uri(path) + "?immutable=1";
  }
  // URI names on every connection (as Debian's build has by default), so that ATTACH can name a
  // file with open flags (merge attaches its shards "?mode=ro").
  flags |= SQLITE_OPEN_URI;
  // NOMUTEX: a connection is used by one thread at a time, so SQLite's per-call mutex is waste.
  const int rc = sqlite3_open_v2(name.c_str(), &db_,
                                 flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, nullptr);
  if (rc != SQLITE_OK) {
    // SQLite allocates a connection even when the open fails; it carries the message.
    const std::string detail = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    const int system_errno = db_ != nullptr ? sqlite3_system_errno(db_) : 0;
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw_error(rc, fmt::format("opening {}", path), detail, system_errno);
  }
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
}

// close_v2 defers the close until the last statement is finalized, so the destruction order of a
// database and the statements prepared on it cannot leak or crash.
Database::~Database() { sqlite3_close_v2(db_); }

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), hook_(std::move(other.hook_)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
    hook_ = std::move(other.hook_);
  }
  return *this;
}

bool Database::read_only() const { return sqlite3_db_readonly(db_, "main") == 1; }

void Database::set_statement_hook(std::function<void()> hook) {
  if (!hook) {
    sqlite3_trace_v2(db_, 0, nullptr, nullptr);
    hook_.reset();
    return;
  }
  hook_ = std::make_unique<std::function<void()>>(std::move(hook));
  sqlite3_trace_v2(
      db_, SQLITE_TRACE_STMT,
      [](unsigned, void* context, void*, void*) -> int {
        (*static_cast<std::function<void()>*>(context))();
        return 0;
      },
      hook_.get());
}

void Database::execute(std::string_view sql, std::string_view operation) {
  if (const int injected = injected_fault(); injected != SQLITE_OK) [[unlikely]]
    throw_error(db_, injected, operation, kInjected);
  const std::string text(sql);  // sqlite3_exec needs a terminated string
  char* raw_message = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &raw_message);
  if (rc != SQLITE_OK) {
    const std::string detail = raw_message != nullptr ? raw_message : sqlite3_errstr(rc);
    sqlite3_free(raw_message);
    throw_error(db_, rc, operation, detail);
  }
}

std::int64_t Database::changes() const { return sqlite3_changes64(db_); }

std::int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

bool Database::autocommit() const { return sqlite3_get_autocommit(db_) != 0; }

std::string Database::filename() const {
  const char* file = sqlite3_db_filename(db_, "main");
  return file != nullptr ? std::string(file) : std::string();
}

// ---------------------------------------------------------------------------------------------
// Statement

Statement::Statement(Database& db, std::string_view sql, const char* operation, bool persistent)
    : db_(db.db_), operation_(operation) {
  if (const int injected = injected_fault(); injected != SQLITE_OK) [[unlikely]]
    throw_error(db_, injected, fmt::format("preparing the statement for {}", operation), kInjected);
  const unsigned flags = persistent ? SQLITE_PREPARE_PERSISTENT : 0U;
  const char* tail = nullptr;
  const int rc =
      sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), flags, &stmt_, &tail);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
    throw_error(db_, rc, fmt::format("preparing the statement for {}", operation));
  }
  // SQLite prepares the first statement only; a second one would silently never run.
  const std::string_view rest = sql.substr(static_cast<std::size_t>(tail - sql.data()));
  if (rest.find_first_not_of(" \t\r\n;") != std::string_view::npos) {
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
    throw_error(SQLITE_MISUSE, fmt::format("preparing the statement for {}", operation),
                "more than one SQL statement");
  }
}

Statement::~Statement() { sqlite3_finalize(stmt_); }  // finalize(nullptr) is a harmless no-op

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), operation_(other.operation_) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = std::exchange(other.stmt_, nullptr);
    operation_ = other.operation_;
  }
  return *this;
}

namespace {

void check_bind(sqlite3* db, int rc, const char* operation) {
  if (rc != SQLITE_OK) [[unlikely]]
    throw_error(db, rc, fmt::format("binding a parameter for {}", operation));
}

}  // namespace

void Statement::bind_int64(int index, std::int64_t value) {
  check_bind(db_, sqlite3_bind_int64(stmt_, index, value), operation_);
}

void Statement::bind_bool(int index, bool value) {
  check_bind(db_, sqlite3_bind_int(stmt_, index, value ? 1 : 0), operation_);
}

void Statement::bind_real(int index, double value) {
  check_bind(db_,
             std::isnan(value) ? sqlite3_bind_null(stmt_, index)
                               : sqlite3_bind_double(stmt_, index, value),
             operation_);
}

void Statement::bind_null(int index) {
  check_bind(db_, sqlite3_bind_null(stmt_, index), operation_);
}

void Statement::bind_static_text(int index, std::string_view value) {
  check_bind(
      db_,
      sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_STATIC),
      operation_);
}

void Statement::bind_text(int index, std::string_view value) {
  check_bind(
      db_,
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
      operation_);
}

bool Statement::step() {
  if (const int injected = injected_fault(); injected != SQLITE_OK) [[unlikely]]
    fail(injected, kInjected);
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) {
    sqlite3_reset(stmt_);
    return false;
  }
  fail(rc);
}

void Statement::execute() {
  if (const int injected = injected_fault(); injected != SQLITE_OK) [[unlikely]]
    fail(injected, kInjected);
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) [[likely]] {
    sqlite3_reset(stmt_);
    return;
  }
  fail(rc);
}

void Statement::reset() { sqlite3_reset(stmt_); }

void Statement::fail(int rc) {
  // The message must be read before the reset, which may replace it.
  const std::string detail = sqlite3_errmsg(db_);
  fail(rc, detail);
}

void Statement::fail(int rc, std::string_view detail) {
  sqlite3_reset(stmt_);
  throw_error(db_, rc, operation_, detail);
}

int Statement::column_count() const { return sqlite3_column_count(stmt_); }

std::string_view Statement::column_name(int column) const {
  const char* name = sqlite3_column_name(stmt_, column);
  return name != nullptr ? std::string_view(name) : std::string_view();
}

ValueType Statement::column_type(int column) const {
  switch (sqlite3_column_type(stmt_, column)) {
    case SQLITE_INTEGER: return ValueType::kInteger;
    case SQLITE_FLOAT: return ValueType::kReal;
    case SQLITE_TEXT: return ValueType::kText;
    case SQLITE_BLOB: return ValueType::kBlob;
    default: return ValueType::kNull;
  }
}

std::int64_t Statement::column_int64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

double Statement::column_real(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL
             ? std::numeric_limits<double>::quiet_NaN()
             : sqlite3_column_double(stmt_, column);
}

std::string_view Statement::column_text(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  if (text == nullptr) return {};
  return {text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
}

// ---------------------------------------------------------------------------------------------
// Transaction

Transaction::Transaction(Database& db) : db_(db) { db.execute("BEGIN IMMEDIATE", "beginning"); }

Transaction::Transaction(Database& db, Statement& begin) : db_(db) { begin.execute(); }

Transaction::~Transaction() {
  sqlite3* db = Internal::handle(db_);
  if (!committed_ && sqlite3_get_autocommit(db) == 0)
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_.execute("COMMIT", "committing");
  committed_ = true;
}

void Transaction::commit(Statement& commit) {
  commit.execute();
  committed_ = true;
}

}  // namespace vpgen::sql
