// Tamper evidence (integrity.hpp): a run's block digests recomputed from its rows, its counters
// and derived tables recomputed from its rows, all inside one read transaction.
#include "vpgen/storage/integrity.hpp"

#include "content_digest.hpp"
#include "sqlite_internal.hpp"
#include "store_internal.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vpgen/population/error.hpp"

namespace vpgen {
namespace {

using sql::Statement;
using sql::ValueType;

struct StoredBlock {
  std::int64_t first = 0;
  std::int64_t end = 0;
  std::int64_t row_count = 0;
  std::string digest;
  digest::Value computed{};  // from the rows
  std::int64_t rows = 0;     // rows found
};

std::vector<StoredBlock> read_blocks(sql::Database& db, std::int64_t run_id) {
  Statement query(db,
                  "SELECT first_patient, end_patient, row_count, digest FROM run_blocks"
                  " WHERE run_id = ?1 ORDER BY first_patient",
                  "reading the run's blocks");
  query.bind_int64(1, run_id);
  std::vector<StoredBlock> blocks;
  while (query.step())
    blocks.push_back({query.column_int64(0), query.column_int64(1), query.column_int64(2),
                      std::string(query.column_text(3))});
  return blocks;
}

std::string range_text(std::int64_t first, std::int64_t end) {
  return fmt::format("patients {}..{}", first, end - 1);
}

// Appends result column `column` of `row` as stored: its type and exact value.
void feed_value(std::string& out, const Statement& row, int column) {
  switch (row.column_type(column)) {
    case ValueType::kInteger: digest::integer(out, row.column_int64(column)); break;
    case ValueType::kReal: digest::real(out, row.column_real(column)); break;
    case ValueType::kNull: digest::null(out); break;
    default: digest::text(out, row.column_text(column));
  }
}

// A value as text for messages: integers and text as they are, doubles exactly (shortest form
// that reads back as the same double), NULL as NULL.
std::string show_value(const Statement& row, int column) {
  switch (row.column_type(column)) {
    case ValueType::kInteger: return std::to_string(row.column_int64(column));
    case ValueType::kReal: return fmt::format("{}", row.column_real(column));
    case ValueType::kNull: return "NULL";
    default: return fmt::format("'{}'", row.column_text(column));
  }
}

// Collects findings, at most `limit` of each kind; the rest are counted in one more.
class Findings {
 public:
  Findings(std::vector<IntegrityFinding>& out, std::size_t limit) : out_(out), limit_(limit) {}
  void add(std::string_view kind, IntegrityFinding finding) {
    std::size_t& n = counts_[std::string(kind)];
    if (n++ < limit_) out_.push_back(std::move(finding));
  }
  void close() {
    for (const auto& [kind, n] : counts_)
      if (n > limit_)
        out_.push_back({kind, "", fmt::format("and {} more such findings", n - limit_)});
  }

 private:
  std::vector<IntegrityFinding>& out_;
  std::size_t limit_;
  std::map<std::string, std::size_t> counts_;
};

// One cursor over the rows of one per-patient table of the run, in key order.
struct Cursor {
  Statement rows;
  char tag = 0;
  bool valid = false;
  std::int64_t patient() const { return rows.column_int64(0); }
  void next() { valid = rows.step(); }
};

template <typename Row>
Cursor open_cursor(sql::Database& db, const Table<Row>& table, std::int64_t run_id, char tag) {
  std::string keys;
  {
    Statement key_columns(db,
                          fmt::format("SELECT name FROM pragma_table_info('{}') WHERE pk > 0 AND"
                                      " name <> 'run_id' ORDER BY pk",
                                      table.name),
                          "reading a table's keys");
    while (key_columns.step())
      keys += fmt::format("{}{}", keys.empty() ? "" : ", ", key_columns.column_text(0));
  }
  Cursor cursor{Statement(db,
                          fmt::format("SELECT {} FROM {} WHERE run_id = ?1 ORDER BY {}",
                                      table.stored_list(), table.name, keys),
                          "reading the run's rows"),
                tag};
  cursor.rows.bind_int64(1, run_id);
  cursor.next();
  return cursor;
}

// Block digests and row counts from the rows; per-patient shape (a patient row, one outcome per
// arm, no rows outside a block).
constexpr std::int64_t kNoBlocks = std::numeric_limits<std::int64_t>::max();

// `sealed_from`: the first patient whose rows must lie in a block (kNoBlocks: none).
void check_rows(sql::Database& db, std::int64_t run_id, std::int64_t arms, std::int64_t sealed_from,
                std::vector<StoredBlock>& blocks, IntegrityReport& report, Findings& findings) {
  std::array<Cursor, 3> cursors = {open_cursor(db, kPatientsTable, run_id, 'p'),
                                   open_cursor(db, kOutcomesTable, run_id, 'o'),
                                   open_cursor(db, kEventsTable, run_id, 'e')};
  std::string feed;
  std::size_t block = 0;
  for (;;) {
    std::optional<std::int64_t> index;
    for (const Cursor& c : cursors)
      if (c.valid && (!index || c.patient() < *index)) index = c.patient();
    if (!index) break;
    ++report.patients;
    feed.clear();
    std::array<std::int64_t, 3> counts{};
    for (std::size_t t = 0; t < cursors.size(); ++t) {
      Cursor& c = cursors[t];
      while (c.valid && c.patient() == *index) {
        digest::row(feed, c.tag);
        for (int column = 0; column < c.rows.column_count(); ++column)
          feed_value(feed, c.rows, column);
        ++counts[t];
        c.next();
      }
    }
    const std::string where = fmt::format("patient {}", *index);
    if (counts[0] == 0) findings.add("patients", {"patients", where, "no patient row"});
    if (counts[1] != arms)
      findings.add("outcomes", {"outcomes", where,
                                fmt::format("{} outcome rows for {} arms", counts[1], arms)});
    while (block < blocks.size() && blocks[block].end <= *index) ++block;
    if (block < blocks.size() && blocks[block].first <= *index) {
      digest::add(blocks[block].computed, digest::sha256(feed));
      blocks[block].rows += counts[0] + counts[1] + counts[2];
    } else if (*index >= sealed_from) {
      findings.add("run_blocks", {"run_blocks", where, "rows of a patient that no block holds"});
    }
  }
}

// Stored and recomputed rows of a derived table, by key: each value as text.
using Keyed = std::map<std::string, std::vector<std::string>>;

Keyed keyed_rows(sql::Database& db, const std::string& sql, std::int64_t run_id, int keys,
                 std::vector<std::string>& names) {
  Statement query(db, sql, "recomputing a derived table");
  query.bind_int64(1, run_id);
  Keyed out;
  while (query.step()) {
    if (names.empty())
      for (int c = 0; c < query.column_count(); ++c) names.emplace_back(query.column_name(c));
    std::string key;
    for (int c = 1; c < keys; ++c)  // column 0 is run_id
      key += fmt::format("{}{}", c == 1 ? "" : ", ", show_value(query, c));
    std::vector<std::string>& values = out[key];
    for (int c = keys; c < query.column_count(); ++c) values.push_back(show_value(query, c));
  }
  return out;
}

void compare_derived(sql::Database& db, std::int64_t run_id, std::string_view table, int keys,
                     const std::string& from_rows, Findings& findings) {
  std::vector<std::string> names;
  const Keyed stored =
      keyed_rows(db, fmt::format("SELECT * FROM {} WHERE run_id = ?1", table), run_id, keys, names);
  std::vector<std::string> ignored;
  const Keyed computed = keyed_rows(db, from_rows, run_id, keys, ignored);
  const std::string kind(table);
  for (const auto& [key, values] : stored) {
    const auto it = computed.find(key);
    if (it == computed.end()) {
      findings.add(kind, {kind, key, "a row the stored rows do not give"});
      continue;
    }
    for (std::size_t c = 0; c < values.size() && c < it->second.size(); ++c)
      if (values[c] != it->second[c])
        findings.add(kind, {kind, key,
                            fmt::format("{}: stored {}, the rows give {}",
                                        names.size() > c + static_cast<std::size_t>(keys)
                                            ? names[c + static_cast<std::size_t>(keys)]
                                            : std::to_string(c),
                                        values[c], it->second[c])});
  }
  for (const auto& [key, values] : computed)
    if (stored.find(key) == stored.end())
      findings.add(kind, {kind, key, "missing: the stored rows give this row"});
}

}  // namespace

std::optional<std::string> sealed_digest(sql::Database& db, std::int64_t run_id) {
  Statement range(db, "SELECT first_patient, end_patient FROM runs WHERE run_id = ?1",
                  "reading the run's range");
  range.bind_int64(1, run_id);
  if (!range.step()) return std::nullopt;
  std::int64_t covered = range.column_int64(0);
  const std::int64_t end = range.column_int64(1);
  range.reset();
  digest::Value sum{};
  for (const StoredBlock& b : read_blocks(db, run_id)) {
    digest::Value value{};
    if (b.first != covered || !digest::parse(b.digest, value)) return std::nullopt;
    digest::add(sum, value);
    covered = b.end;
  }
  if (covered != end) return std::nullopt;
  return digest::hex(sum);
}

IntegrityReport check_run_integrity(ResultStore& store, std::int64_t run_id, std::size_t limit) {
  sql::Database& db = StoreAccess::database(store);
  Statement begin(db, "BEGIN", "starting the read of the run");
  Statement commit(db, "COMMIT", "ending the read of the run");
  sql::Transaction transaction(db, begin);  // one snapshot for every read below
  IntegrityReport report;
  report.run_id = run_id;
  Findings findings(report.findings, limit);

  Statement run(db,
                "SELECT first_patient, end_patient, patients_stored, candidates_screened,"
                " content_digest, status, (SELECT COUNT(*) FROM arms AS a WHERE a.run_id ="
                " r.run_id), (SELECT COUNT(*) FROM patients AS p WHERE p.run_id = r.run_id),"
                " (SELECT COALESCE(SUM(candidates_screened), 0) FROM patients AS p WHERE"
                " p.run_id = r.run_id), schema_version FROM runs AS r WHERE run_id = ?1",
                "reading the run");
  run.bind_int64(1, run_id);
  if (!run.step()) throw InputError(fmt::format("run {}: no such run in {}", run_id, db_name(db)));
  const std::int64_t first = run.column_int64(0);
  const std::int64_t end = run.column_int64(1);
  const std::int64_t patients_stored = run.column_int64(2);
  const std::int64_t candidates = run.column_int64(3);
  const std::optional<std::string> content_digest =
      run.column_is_null(4) ? std::nullopt : std::optional<std::string>(run.column_text(4));
  const bool complete = run.column_text(5) == "complete";
  const std::int64_t arms = run.column_int64(6);
  const std::int64_t patient_rows = run.column_int64(7);
  const std::int64_t candidate_rows = run.column_int64(8);
  // A run begun before schema 6 and resumed since has digests from its first block after the
  // migration on: the patients before it were never digested, which is not a gap.
  const bool begun_before_digests = run.column_int64(9) < 6;
  run.reset();

  if (patient_rows != patients_stored)
    findings.add("runs", {"runs", "patients_stored",
                          fmt::format("stored {}, the patients table holds {}", patients_stored,
                                      patient_rows)});
  if (candidate_rows != candidates)
    findings.add("runs", {"runs", "candidates_screened",
                          fmt::format("stored {}, the patients' rows sum to {}", candidates,
                                      candidate_rows)});

  std::vector<StoredBlock> blocks = read_blocks(db, run_id);
  report.blocks = blocks.size();
  report.digest_recorded = !blocks.empty() || content_digest.has_value();
  const std::int64_t sealed_from =
      begun_before_digests && !blocks.empty() ? std::max(first, blocks.front().first) : first;
  if (report.digest_recorded) {
    // The blocks tile [first, end): every patient in exactly one (up to the last one written).
    std::int64_t covered = sealed_from;
    for (const StoredBlock& b : blocks) {
      if (b.first > covered)
        findings.add("run_blocks", {"run_blocks", range_text(covered, b.first),
                                    "in no block: a block row is missing"});
      else if (b.first < covered)
        findings.add("run_blocks",
                     {"run_blocks", range_text(b.first, b.end),
                      fmt::format("overlaps the block before (which ends at {})", covered - 1)});
      covered = std::max(covered, b.end);
    }
    if (complete && covered < end)
      findings.add("run_blocks", {"run_blocks", range_text(covered, end),
                                  "in no block although the run is complete"});
    if (covered > end)
      findings.add("run_blocks", {"run_blocks", range_text(end, covered),
                                  "blocks beyond the run's declared range"});
  }
  check_rows(db, run_id, arms, report.digest_recorded ? sealed_from : kNoBlocks, blocks, report,
             findings);
  digest::Value sum{};
  for (const StoredBlock& b : blocks) {
    digest::Value stored{};
    if (!digest::parse(b.digest, stored)) {
      findings.add("run_blocks", {"run_blocks", range_text(b.first, b.end),
                                  fmt::format("digest '{}' is not 64 hex digits", b.digest)});
      continue;
    }
    digest::add(sum, stored);
    if (b.rows != b.row_count)
      findings.add("run_blocks",
                   {"run_blocks", range_text(b.first, b.end),
                    fmt::format("row count stored {}, the tables hold {} rows of these patients",
                                b.row_count, b.rows)});
    if (stored != b.computed)
      findings.add("run_blocks", {"run_blocks", range_text(b.first, b.end),
                                  fmt::format("digest differs: stored {}, the rows give {}",
                                              b.digest, digest::hex(b.computed))});
  }
  if (content_digest && *content_digest != digest::hex(sum))
    findings.add("runs", {"runs", "content_digest",
                          fmt::format("stored {}, the blocks sum to {}", *content_digest,
                                      digest::hex(sum))});
  if (complete && !content_digest && !blocks.empty() && !begun_before_digests)
    findings.add("runs", {"runs", "content_digest", "missing although the run is complete"});

  compare_derived(db, run_id, "subgroup_counts", 8,
                  subgroup_counts_from_rows_sql("WHERE o.run_id = ?1"), findings);
  compare_derived(db, run_id, "survival_time_counts", 3,
                  survival_counts_from_rows_sql("WHERE run_id = ?1"), findings);
  findings.close();
  transaction.commit(commit);
  return report;
}

}  // namespace vpgen
