#include "vpgen/run/export.hpp"

#include "vpgen/population/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <algorithm>

namespace vpgen {

namespace {

// Primary-key order of each exported table or view.
std::string_view order_of(std::string_view table) {
  if (table == "runs") return "run_id";
  if (table == "arms" || table == "arm_summary") return "arm_index";
  if (table == "patients") return "patient_index";
  if (table == "outcomes") return "patient_index, arm_index";
  if (table == "subgroup_counts")
    return "arm_index, cancer_type, tmb_band, pdl1_band, hot, memory_band, line_of_therapy";
  if (table == "survival_counts") return "arm_index, endpoint, time_months";
  return "patient_index, arm_index, seq";  // events
}

// A statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK)
      throw Error(fmt::format("export: {}", sqlite3_errmsg(db)));
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// Shortest round-trip text of a REAL; always with a decimal point or exponent.
std::string real_text(double value) {
  std::string text = fmt::format("{}", value);
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";  // n: nan, inf
  return text;
}

}  // namespace

std::string csv_field(std::string_view text) {
  const bool quote = text.find_first_of(",\"\r\n") != std::string_view::npos ||
                     (!text.empty() && (text.front() == ' ' || text.back() == ' '));
  if (!quote) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string runs_text(const std::vector<RunInfo>& runs) {
  if (runs.empty()) return "no runs\n";
  std::string out = fmt::format("{:>4}  {:<10}  {:<24}  {:>20}  {:>21}  {:>7}  {:<20}  {:>9}  {}\n",
                                "run", "status", "scenario", "seed", "patients stored/asked",
                                "threads", "started (UTC)", "wall (s)", "commit");
  std::string shards;
  for (const RunInfo& r : runs) {
    const RunProvenance& p = r.provenance;
    const std::uint64_t range = p.end_patient - p.first_patient;
    out += fmt::format("{:>4}  {:<10}  {:<24}  {:>20}  {:>21}  {:>7}  {:<20}  {:>9.1f}  {}\n", r.id,
                       r.status, p.scenario_name, p.seed,
                       fmt::format("{}/{}", r.patients_stored, range), p.threads, r.started_at,
                       r.wall_seconds, p.git_commit.empty() ? "unknown" : p.git_commit);
    if (p.shard_count > 1)
      shards += fmt::format("run {} is shard {}/{}: patients {}..{} of a cohort of {}{}\n", r.id,
                            p.shard_index, p.shard_count, p.first_patient, p.end_patient - 1,
                            p.patients,
                            r.status == "complete"
                                ? std::string()
                                : fmt::format("; patients {}..{} still to simulate (--resume {})",
                                              p.first_patient + r.patients_stored,
                                              p.end_patient - 1, r.id));
  }
  return out + shards;
}

nlohmann::json runs_json(const std::vector<RunInfo>& runs) {
  nlohmann::json out = nlohmann::json::array();
  for (const RunInfo& r : runs) {
    nlohmann::json arms = nlohmann::json::array();
    for (const ArmSpec& a : r.provenance.arms) arms.push_back(a.name);
    out.push_back({{"run_id", r.id},
                   {"status", r.status},
                   {"scenario", r.provenance.scenario_name},
                   {"scenario_hash", r.provenance.scenario_hash},
                   {"seed", r.provenance.seed},
                   {"patients_requested", r.provenance.patients},
                   {"patients_stored", r.patients_stored},
                   {"first_patient", r.provenance.first_patient},
                   {"end_patient", r.provenance.end_patient},
                   {"shard_index", r.provenance.shard_index},
                   {"shard_count", r.provenance.shard_count},
                   {"arms", arms},
                   {"threads", r.provenance.threads},
                   {"store_events", r.provenance.store_events},
                   {"started_at", r.started_at},
                   {"finished_at", r.finished_at.empty() ? nlohmann::json() : nlohmann::json(r.finished_at)},
                   {"wall_seconds", r.wall_seconds},
                   {"vpgen_version", r.provenance.vpgen_version},
                   {"git_commit", r.provenance.git_commit}});
  }
  return out;
}

std::uint64_t export_table(ResultStore& store, std::int64_t run_id, std::string_view table,
                           std::string_view format, std::ostream& out) {
  if (std::find(kExportTables.begin(), kExportTables.end(), table) == kExportTables.end())
    throw InputError(fmt::format(
        "--table {}: not one of runs, arms, patients, outcomes, events, arm_summary, "
        "subgroup_counts, survival_counts",
        table));
  if (format != "csv" && format != "jsonl")
    throw InputError(fmt::format("--format {}: not one of csv, jsonl", format));
  store.run_info(run_id);  // InputError if the file holds no such run
  Statement select(store.handle(), fmt::format("SELECT * FROM {} WHERE run_id = ?1 ORDER BY {}",
                                               table, order_of(table)));
  sqlite3_bind_int64(select.get(), 1, run_id);
  const int columns = sqlite3_column_count(select.get());
  std::vector<std::string> names;
  for (int c = 0; c < columns; ++c) names.emplace_back(sqlite3_column_name(select.get(), c));
  if (format == "csv") {
    for (int c = 0; c < columns; ++c) out << (c ? "," : "") << csv_field(names[c]);
    out << "\r\n";
  }
  std::uint64_t rows = 0;
  std::string line;
  for (;;) {
    const int step = sqlite3_step(select.get());
    if (step == SQLITE_DONE) break;
    if (step != SQLITE_ROW) throw Error(fmt::format("export: {}", sqlite3_errmsg(store.handle())));
    ++rows;
    if (format == "csv") {
      line.clear();
      for (int c = 0; c < columns; ++c) {
        if (c) line += ',';
        switch (sqlite3_column_type(select.get(), c)) {
          case SQLITE_NULL: break;
          case SQLITE_INTEGER: line += std::to_string(sqlite3_column_int64(select.get(), c)); break;
          case SQLITE_FLOAT: line += real_text(sqlite3_column_double(select.get(), c)); break;
          default:
            line += csv_field(std::string_view(
                reinterpret_cast<const char*>(sqlite3_column_text(select.get(), c)),
                static_cast<std::size_t>(sqlite3_column_bytes(select.get(), c))));
        }
      }
      out << line << "\r\n";
    } else {
      nlohmann::ordered_json object;
      for (int c = 0; c < columns; ++c) {
        switch (sqlite3_column_type(select.get(), c)) {
          case SQLITE_NULL: object[names[c]] = nullptr; break;
          case SQLITE_INTEGER: object[names[c]] = sqlite3_column_int64(select.get(), c); break;
          case SQLITE_FLOAT: object[names[c]] = sqlite3_column_double(select.get(), c); break;
          default:
            object[names[c]] = std::string(
                reinterpret_cast<const char*>(sqlite3_column_text(select.get(), c)),
                static_cast<std::size_t>(sqlite3_column_bytes(select.get(), c)));
        }
      }
      out << object.dump() << '\n';
    }
  }
  if (!out) throw Error("export: writing the output failed");
  return rows;
}

}  // namespace vpgen
