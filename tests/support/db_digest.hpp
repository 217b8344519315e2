// Test helper: a digest of a run's stored content (every row of patients, outcomes and events,
// in key order, every value with its SQLite type), so two runs can be compared byte for byte.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <set>
#include <string>
#include <vector>

namespace vpgen::testing {

inline std::uint64_t fnv1a(std::uint64_t hash, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// Digest of `SELECT * FROM table WHERE run_id = ? ORDER BY <primary key>` over all rows.
inline std::uint64_t table_digest(sqlite3* db, const std::string& table, std::int64_t run_id,
                                  const std::string& order_by, std::uint64_t* rows = nullptr) {
  const std::string sql = "SELECT * FROM " + table + " WHERE run_id = ? ORDER BY " + order_by;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
    throw std::runtime_error(sqlite3_errmsg(db));
  sqlite3_bind_int64(stmt, 1, run_id);
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  std::uint64_t count = 0;
  const int columns = sqlite3_column_count(stmt);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    ++count;
    for (int c = 0; c < columns; ++c) {
      if (std::strcmp(sqlite3_column_name(stmt, c), "run_id") == 0) continue;
      const int type = sqlite3_column_type(stmt, c);
      hash = fnv1a(hash, &type, sizeof type);
      if (type == SQLITE_INTEGER) {
        const sqlite3_int64 v = sqlite3_column_int64(stmt, c);
        hash = fnv1a(hash, &v, sizeof v);
      } else if (type == SQLITE_FLOAT) {
        const double v = sqlite3_column_double(stmt, c);
        hash = fnv1a(hash, &v, sizeof v);
      } else if (type != SQLITE_NULL) {
        hash = fnv1a(hash, sqlite3_column_blob(stmt, c),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt, c)));
      }
    }
  }
  sqlite3_finalize(stmt);
  if (rows) *rows = count;
  return hash;
}

// Digest of a whole run's content (timestamps, threads and host details excluded by design: they
// live only in `runs`).
inline std::uint64_t run_digest(sqlite3* db, std::int64_t run_id) {
  std::uint64_t h = table_digest(db, "patients", run_id, "patient_index");
  h ^= table_digest(db, "outcomes", run_id, "patient_index, arm_index") * 31;
  h ^= table_digest(db, "events", run_id, "patient_index, arm_index, seq") * 131;
  // The derived counts the writer keeps block by block: equal whatever the threads, the block
  // size, or an interruption and resume.
  h ^= table_digest(db, "subgroup_counts", run_id,
                    "arm_index, cancer_type, tmb_band, pdl1_band, hot, memory_band, line_of_therapy") *
       1031;
  h ^= table_digest(db, "survival_counts", run_id, "arm_index, endpoint, time_months") * 8191;
  return h;
}

// The whole content of a results file as text: every table (from sqlite_schema), every row in
// primary-key order (rowid order for rowid tables), every value with its SQLite type; doubles as
// their exact bits. Excluded, being about when, where and how fast a run was made rather than what
// it holds: runs.started_at, finished_at, wall_seconds, threads and block_size, and the run_parts
// table (where each range of a merged run came from).
inline std::string content_dump(sqlite3* db) {
  const std::set<std::string> excluded_runs = {"started_at", "finished_at", "wall_seconds",
                                               "threads", "block_size"};
  std::vector<std::string> tables;
  {
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db,
                       "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE "
                       "'sqlite_%' AND name <> 'run_parts' ORDER BY name",
                       -1, &stmt, nullptr);
    while (sqlite3_step(stmt) == SQLITE_ROW)
      tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
    sqlite3_finalize(stmt);
  }
  std::string out;
  for (const std::string& table : tables) {
    std::string keys;
    {
      sqlite3_stmt* stmt = nullptr;
      sqlite3_prepare_v2(db, ("SELECT name FROM pragma_table_info('" + table + "') WHERE pk > 0 "
                              "ORDER BY pk").c_str(), -1, &stmt, nullptr);
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        if (!keys.empty()) keys += ", ";
        keys += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      }
      sqlite3_finalize(stmt);
    }
    sqlite3_stmt* stmt = nullptr;
    const std::string sql = "SELECT * FROM " + table + " ORDER BY " + (keys.empty() ? "rowid" : keys);
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
      throw std::runtime_error(sqlite3_errmsg(db));
    out += "table " + table + "\n";
    const int columns = sqlite3_column_count(stmt);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      for (int c = 0; c < columns; ++c) {
        if (table == "runs" && excluded_runs.count(sqlite3_column_name(stmt, c))) continue;
        const int type = sqlite3_column_type(stmt, c);
        if (type == SQLITE_INTEGER) {
          out += std::to_string(sqlite3_column_int64(stmt, c));
        } else if (type == SQLITE_FLOAT) {
          const double v = sqlite3_column_double(stmt, c);
          std::uint64_t bits = 0;
          std::memcpy(&bits, &v, sizeof bits);
          out += 'f';  // appended piecewise: GCC 12 warns (-Wrestrict) on "f" + std::string&&
          out += std::to_string(bits);
        } else if (type == SQLITE_NULL) {
          out += "NULL";
        } else {
          out += '\'';
          out.append(reinterpret_cast<const char*>(sqlite3_column_blob(stmt, c)),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt, c)));
          out += '\'';
        }
        out += '|';
      }
      out += '\n';
    }
    sqlite3_finalize(stmt);
  }
  return out;
}

}  // namespace vpgen::testing
