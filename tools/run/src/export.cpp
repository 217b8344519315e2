#include "vpgen/run/export.hpp"

#include "vpgen/common/printable.hpp"
#include "vpgen/population/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace vpgen {

namespace {

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

std::string csv_text_cell(std::string_view text) {
  if (text.empty() || std::string_view("=+-@\t\r").find(text.front()) == std::string_view::npos)
    return csv_field(text);
  std::string out = "\"'";
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
                       printable(r.status), printable(p.scenario_name), p.seed,
                       fmt::format("{}/{}", r.patients_stored, range), p.threads,
                       printable(r.started_at), r.wall_seconds,
                       p.git_commit.empty() ? "unknown" : printable(p.git_commit));
    if (p.shard_count > 1)
      shards += fmt::format(
          "run {} is shard {}/{}: patients {}..{} of a cohort of {}{}\n", r.id, p.shard_index,
          p.shard_count, p.first_patient, p.end_patient - 1, p.patients,
          r.status == "complete"
              ? std::string()
              : fmt::format("; patients {}..{} still to simulate (--resume {})",
                            p.first_patient + r.patients_stored, p.end_patient - 1, r.id));
  }
  return out + shards;
}

nlohmann::json runs_json(const std::vector<RunInfo>& runs) {
  nlohmann::json out = nlohmann::json::array();
  for (const RunInfo& r : runs) {
    nlohmann::json arms = nlohmann::json::array();
    for (const ArmSpec& a : r.provenance.arms) arms.push_back(a.name);
    out.push_back(
        {{"run_id", r.id},
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
    throw InputError(
        fmt::format("--table {}: not one of runs, arms, patients, outcomes, events, arm_summary, "
                    "subgroup_counts, survival_counts",
                    table));
  if (format != "csv" && format != "jsonl")
    throw InputError(fmt::format("--format {}: not one of csv, jsonl", format));
  const ReadSnapshot snapshot(store);  // the rows of one state of a file being written
  store.run_info(run_id);              // InputError if the file holds no such run
  sql::Statement select = store.run_rows(run_id, table);
  const int columns = select.column_count();
  std::vector<std::string> names;
  for (int c = 0; c < columns; ++c) names.emplace_back(select.column_name(c));
  if (format == "csv") {
    for (int c = 0; c < columns; ++c) out << (c ? "," : "") << csv_field(names[c]);
    out << "\r\n";
  }
  std::uint64_t rows = 0;
  std::string line;
  while (select.step()) {
    ++rows;
    if (format == "csv") {
      line.clear();
      for (int c = 0; c < columns; ++c) {
        if (c) line += ',';
        switch (select.column_type(c)) {
          case sql::ValueType::kNull: break;
          case sql::ValueType::kInteger: line += std::to_string(select.column_int64(c)); break;
          case sql::ValueType::kReal: line += real_text(select.column_real(c)); break;
          default: line += csv_text_cell(select.column_text(c));
        }
      }
      out << line << "\r\n";
    } else {
      nlohmann::ordered_json object;
      for (int c = 0; c < columns; ++c) {
        switch (select.column_type(c)) {
          case sql::ValueType::kNull: object[names[c]] = nullptr; break;
          case sql::ValueType::kInteger: object[names[c]] = select.column_int64(c); break;
          case sql::ValueType::kReal: object[names[c]] = select.column_real(c); break;
          default: object[names[c]] = std::string(select.column_text(c));
        }
      }
      out << object.dump() << '\n';
    }
  }
  if (!out) throw Error("export: writing the output failed");
  return rows;
}

}  // namespace vpgen
