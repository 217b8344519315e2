#include "vpgen/storage/merge.hpp"

#include "vpgen/storage/integrity.hpp"

#include "sqlite_internal.hpp"
#include "vpgen/engine/cluster.hpp"
#include "vpgen/population/error.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <optional>

namespace vpgen {
namespace {

using sql::Statement;
using sql::Transaction;

std::string range_text(PatientRange range) {
  return fmt::format("patients {}..{}", range.first, range.end - 1);
}

std::string resume_hint(const ShardFile& shard) {
  const RunProvenance& p = shard.run.provenance;
  return fmt::format(
      "finish it with `vpgen simulate <scenario file> --patients {} --seed {} --shard {}/{} --db "
      "{} --resume {}`",
      p.patients, p.seed, p.shard_index, p.shard_count, shard.path, shard.run.id);
}

// The first field in which `shard` differs from `reference` as part of one run, or empty.
std::string difference(const RunProvenance& a, const RunProvenance& b) {
  if (a.scenario_hash != b.scenario_hash)
    return fmt::format("scenario {} (fingerprint {}) vs {} ({})", a.scenario_name, a.scenario_hash,
                       b.scenario_name, b.scenario_hash);
  if (a.seed != b.seed) return fmt::format("seed {} vs {}", a.seed, b.seed);
  if (a.patients != b.patients) return fmt::format("cohort of {} vs {}", a.patients, b.patients);
  if (a.shard_count != b.shard_count)
    return fmt::format("{} shards vs {}", a.shard_count, b.shard_count);
  if (a.store_events != b.store_events)
    return fmt::format("events stored {} vs {}", a.store_events, b.store_events);
  // The build: what can change a patient's numbers. TBB and SQLite versions cannot (results do not
  // depend on scheduling; values are stored as computed), so shards from machines that differ only
  // there merge.
  if (a.vpgen_version != b.vpgen_version || a.git_commit != b.git_commit)
    return fmt::format("build {} ({}) vs {} ({})", a.vpgen_version, a.git_commit, b.vpgen_version,
                       b.git_commit);
  if (a.compiler != b.compiler) return fmt::format("compiler {} vs {}", a.compiler, b.compiler);
  if (a.boost_version != b.boost_version)
    return fmt::format("Boost {} vs {}", a.boost_version, b.boost_version);
  if (a.rng_scheme != b.rng_scheme)
    return fmt::format("RNG scheme {} vs {}", a.rng_scheme, b.rng_scheme);
  return {};
}

std::vector<std::string> column_names(sql::Database& db, std::string_view table, bool keys_only) {
  Statement query(db,
                  keys_only
                      ? "SELECT name FROM pragma_table_info(?1, 'main') WHERE pk > 0 ORDER BY pk"
                      : "SELECT name FROM pragma_table_info(?1, 'main') ORDER BY cid",
                  "reading the columns of a table");
  query.bind_text(1, table);
  std::vector<std::string> names;
  while (query.step()) names.emplace_back(query.column_text(0));
  return names;
}

std::string joined(const std::vector<std::string>& names, std::string_view prefix = {}) {
  std::string out;
  for (const std::string& name : names) {
    if (!out.empty()) out += ", ";
    out += prefix;
    out += name;
  }
  return out;
}

// INSERT INTO main.<table> ... SELECT ... FROM shard.<table> of run ?2, with run_id set to ?1, in
// key order (WITHOUT ROWID tables: appends). With `sum_on_conflict`, rows whose key exists are
// added column by column (the derived counts).
std::string copy_sql(sql::Database& db, std::string_view table, bool sum_on_conflict) {
  const std::vector<std::string> columns = column_names(db, table, false);
  const std::vector<std::string> keys = column_names(db, table, true);
  std::string select;
  for (const std::string& column : columns) {
    if (!select.empty()) select += ", ";
    select += column == "run_id" ? std::string("?1") : column;
  }
  std::string sql = fmt::format(
      "INSERT INTO main.{0} ({1}) SELECT {2} FROM shard.{0} WHERE run_id = ?2 ORDER BY {3}", table,
      joined(columns), select, joined(keys));
  if (sum_on_conflict) {
    std::string updates;
    for (const std::string& column : columns) {
      if (std::find(keys.begin(), keys.end(), column) != keys.end()) continue;
      if (!updates.empty()) updates += ", ";
      updates += fmt::format("{0} = {0} + excluded.{0}", column);
    }
    sql += fmt::format(" ON CONFLICT ({}) DO UPDATE SET {}", joined(keys), updates);
  }
  return sql;
}

// The shard attached as "shard" for the lifetime of the object.
class Attached {
 public:
  Attached(sql::Database& db, const std::string& path) : db_(db) {
    Statement attach(db, "ATTACH DATABASE ?1 AS shard", "attaching a shard");
    attach.bind_text(1, reader_uri(path));  // read-only: a shard is never written
    attach.execute();
  }
  ~Attached() {
    sqlite3_exec(sql::Internal::handle(db_), "DETACH DATABASE shard", nullptr, nullptr, nullptr);
  }
  Attached(const Attached&) = delete;
  Attached& operator=(const Attached&) = delete;

 private:
  sql::Database& db_;
};

// What the rows of `run` in `db` lack against what its `runs` row declares: every patient of
// [first_patient, end_patient) once and no other, the stored counts, one outcome per patient and
// arm and no outcome or event without its patient; empty if they agree. The first gap is named.
std::string missing_rows(sql::Database& db, const RunInfo& run) {
  const RunProvenance& p = run.provenance;
  const auto first = static_cast<std::int64_t>(p.first_patient);
  const auto end = static_cast<std::int64_t>(p.end_patient);
  const auto arms = static_cast<std::int64_t>(p.arms.size());
  const auto one = [&](std::string_view sql) {
    Statement query(db, sql, "checking a shard's rows");
    const std::array<std::int64_t, 4> values = {run.id, first, end, arms};
    for (std::size_t i = 0; i < values.size(); ++i)  // ?1 .. ?4, those the query uses
      if (sql.find(fmt::format("?{}", i + 1)) != std::string_view::npos)
        query.bind_int64(static_cast<int>(i) + 1, values[i]);
    std::optional<std::int64_t> value;
    if (query.step() && !query.column_is_null(0)) value = query.column_int64(0);
    return value;
  };
  if (const auto outside = one("SELECT MIN(patient_index) FROM patients WHERE run_id = ?1 AND"
                               " (patient_index < ?2 OR patient_index >= ?3)"))
    return fmt::format("patient {} lies outside the declared range", *outside);
  // Patients are keyed by index: with none outside, the count says whether the range is whole,
  // and only a short one is searched for its first gap.
  if (one("SELECT COUNT(*) FROM patients WHERE run_id = ?1").value_or(0) != end - first) {
    if (const auto gap = one("WITH RECURSIVE i(x) AS (SELECT ?2 UNION ALL SELECT x + 1 FROM i"
                             " WHERE x + 1 < ?3) SELECT MIN(x) FROM i WHERE NOT EXISTS (SELECT 1"
                             " FROM patients WHERE run_id = ?1 AND patient_index = x)"))
      return fmt::format("patient {} has no row in patients", *gap);
  }
  if (const auto candidates = one("SELECT COALESCE(SUM(candidates_screened), 0) FROM patients"
                                  " WHERE run_id = ?1");
      candidates && static_cast<std::uint64_t>(*candidates) != run.candidates_screened)
    return fmt::format("its patients' candidates_screened sum to {}, not the {} the run declares",
                       *candidates, run.candidates_screened);
  if (const auto short_patient =
          one("SELECT MIN(p.patient_index) FROM patients AS p WHERE p.run_id = ?1 AND"
              " (SELECT COUNT(*) FROM outcomes AS o WHERE o.run_id = ?1 AND"
              " o.patient_index = p.patient_index AND o.arm_index >= 0 AND o.arm_index < ?4)"
              " <> ?4"))
    return fmt::format("patient {} lacks an outcome row (the run has {} arms)", *short_patient,
                       arms);
  if (const auto stray = one("SELECT MIN(o.patient_index) FROM outcomes AS o WHERE o.run_id = ?1"
                             " AND (o.arm_index < 0 OR o.arm_index >= ?4 OR NOT EXISTS (SELECT 1"
                             " FROM patients AS p WHERE p.run_id = ?1 AND"
                             " p.patient_index = o.patient_index))"))
    return fmt::format("patient {} has an outcome row without its patient or arm", *stray);
  if (const auto stray = one("SELECT MIN(e.patient_index) FROM events AS e WHERE e.run_id = ?1"
                             " AND NOT EXISTS (SELECT 1 FROM outcomes AS o WHERE o.run_id = ?1"
                             " AND o.patient_index = e.patient_index AND"
                             " o.arm_index = e.arm_index)"))
    return fmt::format("patient {} has events without their outcome row", *stray);
  return {};
}

std::int64_t execute_counted(Statement& statement, sql::Database& db) {
  statement.execute();
  return db.changes();
}

}  // namespace

PatientRange shard_range(std::uint64_t patients, std::uint64_t index, std::uint64_t count) {
  if (count == 0 || index >= count || count > kMaxShards)
    throw InputError(
        fmt::format("shard {}/{} does not exist (shards are numbered 0 .. N-1, N at "
                    "most {})",
                    index, count, kMaxShards));
  // The same split as the ranks of an MPI run (cluster_slice), so shard K of N and rank K of N
  // hold the same patients.
  const auto [first, end] =
      cluster_slice(patients, static_cast<int>(index), static_cast<int>(count));
  return {first, end};
}

std::vector<ShardFile> check_shards(const std::vector<std::string>& paths) {
  if (paths.empty()) throw InputError("no shard files to merge");
  std::vector<ShardFile> shards;
  for (const std::string& path : paths) {
    if (!std::filesystem::exists(path)) throw InputError(fmt::format("{}: no such file", path));
    std::vector<RunInfo> runs;
    std::string missing;
    try {
      ResultStore store(path, ResultStore::Access::kReadOnly);
      runs = store.list_runs();
      if (runs.size() == 1 && runs.front().status == "complete") {
        missing = missing_rows(StoreAccess::database(store), runs.front());
        // Then the digests of its blocks, recomputed from the rows (an edited value, a deleted
        // event) and its derived counts, which the merged run would otherwise sum as they are.
        if (missing.empty()) {
          const IntegrityReport report = check_run_integrity(store, runs.front().id, 1);
          if (!report.findings.empty()) {
            const IntegrityFinding& f = report.findings.front();
            missing = fmt::format("{}{}{}: {} (`vpgen verify --db {}` lists every difference)",
                                  f.table, f.where.empty() ? "" : ", ", f.where, f.what, path);
          }
        }
      }
    } catch (const StorageError& e) {
      throw InputError(e.what());
    }
    if (runs.size() != 1)
      throw InputError(
          fmt::format("{} holds {} runs; a shard file holds exactly one", path, runs.size()));
    // Checked, not trusted: the counters of a file whose rows were deleted still look whole.
    if (!missing.empty()) {
      const RunProvenance& p = runs.front().provenance;
      throw InputError(fmt::format(
          "{}: run {} (shard {}/{}, {}) is damaged: {}; simulate the shard again into a new file",
          path, runs.front().id, p.shard_index, p.shard_count,
          range_text({p.first_patient, p.end_patient}), missing));
    }
    shards.push_back({path, std::move(runs.front())});
  }
  const ShardFile& reference = shards.front();
  for (const ShardFile& shard : shards) {
    const std::string why = difference(shard.run.provenance, reference.run.provenance);
    if (!why.empty())
      throw InputError(fmt::format("{} is not a shard of the same run as {}: {}", shard.path,
                                   reference.path, why));
  }
  for (const ShardFile& shard : shards) {
    const RunProvenance& p = shard.run.provenance;
    const PatientRange range{p.first_patient, p.end_patient};
    const std::uint64_t expected = range.end - range.first;
    if (shard.run.status != "complete")
      throw InputError(fmt::format("{}: shard {}/{} ({}) is {} with {} of {} patients stored; {}",
                                   shard.path, p.shard_index, p.shard_count, range_text(range),
                                   shard.run.status, shard.run.patients_stored, expected,
                                   resume_hint(shard)));
    // Checked, not trusted: the stored rows must be the declared range, whatever the status says.
    if (shard.run.patients_stored != expected || shard.run.patient_index_end != range.end)
      throw InputError(fmt::format(
          "{}: shard {}/{} declares {} but stores {} patients ending at index {}; simulate it "
          "again into a new file",
          shard.path, p.shard_index, p.shard_count, range_text(range), shard.run.patients_stored,
          shard.run.patient_index_end));
  }
  std::stable_sort(shards.begin(), shards.end(), [](const ShardFile& a, const ShardFile& b) {
    return a.run.provenance.first_patient < b.run.provenance.first_patient;
  });
  const std::uint64_t patients = reference.run.provenance.patients;
  const std::uint64_t count = reference.run.provenance.shard_count;
  // The shards that would cover a missing range, so that the user reruns exactly those.
  const auto missing = [&](PatientRange gap) {
    std::string names;
    for (std::uint64_t k = 0; k < count; ++k) {
      const PatientRange r = shard_range(patients, k, count);
      if (r.first < gap.end && gap.first < r.end)
        names += fmt::format("{}{}/{}", names.empty() ? "" : ", ", k, count);
    }
    return InputError(fmt::format(
        "{} are missing (no shard file covers them; shard {} of this run holds them): simulate "
        "it with `vpgen simulate <scenario file> --patients {} --seed {} --shard K/{} --db FILE` "
        "and merge again",
        range_text(gap), names, patients, reference.run.provenance.seed, count));
  };
  std::uint64_t covered = 0;
  const ShardFile* previous = nullptr;
  for (const ShardFile& shard : shards) {
    const RunProvenance& p = shard.run.provenance;
    if (p.first_patient < covered)
      throw InputError(fmt::format("{} ({}) and {} ({}) overlap", previous->path,
                                   range_text({previous->run.provenance.first_patient,
                                               previous->run.provenance.end_patient}),
                                   shard.path, range_text({p.first_patient, p.end_patient})));
    if (p.first_patient > covered) throw missing({covered, p.first_patient});
    covered = p.end_patient;
    previous = &shard;
  }
  if (covered < patients) throw missing({covered, patients});
  return shards;
}

MergeResult merge_shards(ResultStore& into, const std::vector<ShardFile>& shards,
                         const std::function<void(const MergeProgress&)>& progress) {
  if (shards.empty()) throw InputError("no shard files to merge");
  const auto start = std::chrono::steady_clock::now();
  sql::Database& db = StoreAccess::database(into);
  const RunProvenance& first = shards.front().run.provenance;
  MergeResult result;
  result.patients = first.patients;
  MergeProgress state{0, shards.size(), 0, first.patients};

  // The run row and arms of the first shard, as a whole run: the merged content does not depend on
  // which shard they came from (check_shards found them equal where it matters).
  std::int64_t run_id = 0;
  {
    Attached attached(db, shards.front().path);
    Statement begin(db, "BEGIN IMMEDIATE", "starting the merged run");
    Statement commit(db, "COMMIT", "committing the merged run");
    Transaction transaction(db, begin);
    std::vector<std::string> columns = column_names(db, "runs", false);
    std::erase(columns, std::string("run_id"));
    std::string select;
    for (const std::string& column : columns) {
      if (!select.empty()) select += ", ";
      if (column == "first_patient" || column == "shard_index" || column == "patients_stored" ||
          column == "candidates_screened")
        select += "0";
      else if (column == "end_patient") select += "patients_requested";
      else if (column == "shard_count") select += "1";
      else if (column == "started_at") select += "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')";
      else if (column == "finished_at" || column == "wall_seconds") select += "NULL";
      else if (column == "status") select += "'incomplete'";
      else select += column;
    }
    Statement insert_run(db,
                         fmt::format("INSERT INTO main.runs ({}) SELECT {} FROM shard.runs WHERE"
                                     " run_id = ?1",
                                     joined(columns), select),
                         "inserting the merged run");
    insert_run.bind_int64(1, shards.front().run.id);
    insert_run.execute();
    run_id = db.last_insert_rowid();
    Statement arms(db, copy_sql(db, "arms", false), "copying the arms");
    arms.bind_int64(1, run_id);
    arms.bind_int64(2, shards.front().run.id);
    arms.execute();
    transaction.commit(commit);
  }
  result.run_id = run_id;

  try {
    for (std::size_t part = 0; part < shards.size(); ++part) {
      const ShardFile& shard = shards[part];
      const RunProvenance& p = shard.run.provenance;
      Attached attached(db, shard.path);
      Statement begin(db, "BEGIN IMMEDIATE", "starting a shard's copy");
      Statement commit(db, "COMMIT", "committing a shard's copy");
      Transaction transaction(db, begin);
      for (const auto& [table, sum] : {std::pair<std::string_view, bool>{"patients", false},
                                       {"outcomes", false},
                                       {"events", false},
                                       {"subgroup_counts", true},
                                       {"survival_time_counts", true},
                                       {"run_blocks", false}}) {
        Statement copy(db, copy_sql(db, table, sum), "copying a shard's rows");
        copy.bind_int64(1, run_id);
        copy.bind_int64(2, shard.run.id);
        result.rows += static_cast<std::uint64_t>(execute_counted(copy, db));
      }
      Statement counts(db,
                       "UPDATE main.runs SET patients_stored = patients_stored + ?2,"
                       " candidates_screened = candidates_screened + ?3 WHERE run_id = ?1",
                       "counting the merged patients");
      counts.bind_int64(1, run_id);
      counts.bind_int64(2, static_cast<std::int64_t>(shard.run.patients_stored));
      counts.bind_int64(3, static_cast<std::int64_t>(shard.run.candidates_screened));
      counts.execute();
      Statement part_row(db,
                         "INSERT INTO main.run_parts (run_id, part_index, shard_index, shard_count,"
                         " first_patient, end_patient, source, source_run_id, threads, block_size,"
                         " started_at, finished_at, wall_seconds) SELECT ?1, ?2, shard_index,"
                         " shard_count, first_patient, end_patient, ?3, run_id, threads,"
                         " block_size, started_at, finished_at, wall_seconds FROM shard.runs"
                         " WHERE run_id = ?4",
                         "recording the shard in run_parts");
      part_row.bind_int64(1, run_id);
      part_row.bind_int64(2, static_cast<std::int64_t>(part));
      part_row.bind_text(3, std::filesystem::absolute(shard.path).lexically_normal().string());
      part_row.bind_int64(4, shard.run.id);
      part_row.execute();
      transaction.commit(commit);
      state.shards_done = part + 1;
      state.patients_done += p.end_patient - p.first_patient;
      if (progress) progress(state);
    }
    into.finish_run(
        run_id, true,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  } catch (...) {
    // Nothing of a failed merge stays: the run's rows go with it (cascades and the events trigger).
    try {
      Statement erase(db, "DELETE FROM main.runs WHERE run_id = ?1", "deleting the failed merge");
      erase.bind_int64(1, run_id);
      erase.execute();
    } catch (...) {
      // The run stays 'incomplete'; the original error is the one to report.
    }
    throw;
  }
  return result;
}

std::int64_t copy_run(ResultStore& into, const std::string& from, std::int64_t run_id) {
  sql::Database& db = StoreAccess::database(into);
  Attached attached(db, from);
  Statement begin(db, "BEGIN IMMEDIATE", "starting the copy of a run");
  Statement commit(db, "COMMIT", "committing the copy of a run");
  Transaction transaction(db, begin);
  std::vector<std::string> columns = column_names(db, "runs", false);
  std::erase(columns, std::string("run_id"));
  Statement insert_run(db,
                       fmt::format("INSERT INTO main.runs ({0}) SELECT {0} FROM shard.runs WHERE"
                                   " run_id = ?1",
                                   joined(columns)),
                       "copying the run");
  insert_run.bind_int64(1, run_id);
  insert_run.execute();
  if (db.changes() != 1) throw InputError(fmt::format("{} holds no run {}", from, run_id));
  const std::int64_t copy = db.last_insert_rowid();
  for (const std::string_view table : {"arms", "run_parts", "run_blocks", "patients", "outcomes",
                                       "events", "subgroup_counts", "survival_time_counts"}) {
    Statement rows(db, copy_sql(db, table, false), "copying the run's rows");
    rows.bind_int64(1, copy);
    rows.bind_int64(2, run_id);
    rows.execute();
  }
  transaction.commit(commit);
  return copy;
}

}  // namespace vpgen
