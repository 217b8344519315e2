// Test helper: what a results file holds, for comparing files byte for byte — the digest of one
// run's content (ResultStore::run_digest) and the whole content of a file as text — through
// storage's SQL API. Not thread-safe (one connection per call).
#pragma once

#include "vpgen/storage/database.hpp"
#include "vpgen/storage/result_store.hpp"

#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace vpgen::testing {

// The digest of run `run_id` of the file at `path` (opened read-only).
inline std::uint64_t run_digest(const std::string& path, std::int64_t run_id) {
  ResultStore store(path, ResultStore::Access::kReadOnly);
  return store.run_digest(run_id);
}

// The whole content of a results file as text: every table (from sqlite_schema), every row in
// primary-key order (rowid order for rowid tables), every value with its type; doubles as their
// exact bits. Excluded, being about when, where and how fast a run was made rather than what it
// holds: runs.started_at, finished_at, wall_seconds, threads and block_size, the run_parts
// table (where each range of a merged run came from) and the run_blocks table (how the run was
// cut into blocks; runs.content_digest, their sum, is kept: it does not depend on the cut).
inline std::string content_dump(sql::Database& db) {
  const std::set<std::string, std::less<>> excluded_runs = {
      "started_at", "finished_at", "wall_seconds", "threads", "block_size"};
  std::vector<std::string> tables;
  {
    sql::Statement names(
        db,
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE "
        "'sqlite_%' AND name <> 'run_parts' AND name <> 'run_blocks' ORDER BY name");
    while (names.step()) tables.emplace_back(names.column_text(0));
  }
  std::string out;
  for (const std::string& table : tables) {
    std::string keys;
    {
      sql::Statement key_columns(db, "SELECT name FROM pragma_table_info('" + table +
                                         "') WHERE pk > 0 ORDER BY pk");
      while (key_columns.step()) {
        if (!keys.empty()) keys += ", ";
        keys += key_columns.column_text(0);
      }
    }
    sql::Statement rows(db,
                        "SELECT * FROM " + table + " ORDER BY " + (keys.empty() ? "rowid" : keys));
    out += "table ";
    out += table;
    out += '\n';
    const int columns = rows.column_count();
    while (rows.step()) {
      for (int c = 0; c < columns; ++c) {
        if (table == "runs" && excluded_runs.count(rows.column_name(c))) continue;
        switch (rows.column_type(c)) {
          case sql::ValueType::kInteger: out += std::to_string(rows.column_int64(c)); break;
          case sql::ValueType::kReal: {
            const double v = rows.column_real(c);
            std::uint64_t bits = 0;
            std::memcpy(&bits, &v, sizeof bits);
            out += 'f';
            out += std::to_string(bits);
            break;
          }
          case sql::ValueType::kNull: out += "NULL"; break;
          default:
            out += '\'';
            out += rows.column_text(c);
            out += '\'';
        }
        out += '|';
      }
      out += '\n';
    }
  }
  return out;
}

// The same for the file at `path` (opened read-only).
inline std::string content_dump(const std::string& path) {
  sql::Database db(path, sql::OpenMode::kReadOnly);
  return content_dump(db);
}

}  // namespace vpgen::testing
