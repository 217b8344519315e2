// Opening a results file (ResultStore's connection); the schema and its migrations are in
// migrations.cpp, the writes in writer.cpp, the reads in readers.cpp.
#include "vpgen/storage/result_store.hpp"

#include "store_internal.hpp"

#include <fmt/format.h>

#include <optional>
#include <string>

#include "vpgen/population/error.hpp"

namespace vpgen {
namespace {

const std::string& nonempty(const std::string& path) {
  if (path.empty()) throw InputError("the results database path is empty");
  return path;
}

}  // namespace

ResultStore::ResultStore(const std::string& path, Access access)
    : db_(nonempty(path),
          access == Access::kReadOnly ? sql::OpenMode::kReadOnly : sql::OpenMode::kCreate) {
  const bool read_only = access == Access::kReadOnly;
  std::optional<std::string> refused;
  try {
    db_.execute("PRAGMA foreign_keys = ON", "enabling foreign keys");
    refused = open_schema(db_, path, read_only);
    if (!refused && !read_only)
      db_.execute("PRAGMA synchronous = NORMAL", "setting synchronous = NORMAL");
  } catch (const StorageError& e) {
    throw StorageError(fmt::format("{} (opening {})", e.what(), path));
  }
  if (refused) throw StorageError(*refused);
}

ResultStore::~ResultStore() = default;

}  // namespace vpgen
