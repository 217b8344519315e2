// Reading results: runs with their arms, per-arm and subgroup counts, survival times, one
// patient, the first patients of an arm, the rows of a run for export, a run's content digest,
// and stored designs. Every read is a key-range read of one run (or design): none loads a cohort.
// A read of several statements holds a ReadSnapshot, so it sees one state of a file being written.
#include "vpgen/storage/result_store.hpp"

#include "store_internal.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vpgen/population/error.hpp"

namespace vpgen {
namespace {

using sql::Statement;

const char* const kRunColumns =
    "SELECT r.run_id, r.scenario_name, r.scenario_text, r.scenario_hash, r.seed,"
    " r.patients_requested, r.vpgen_version, r.git_commit, r.compiler, r.boost_version,"
    " r.tbb_version, r.sqlite_version, r.rng_scheme, r.threads, r.block_size, r.store_events,"
    " r.started_at, r.finished_at, r.wall_seconds, r.status, r.patients_stored,"
    " r.candidates_screened,"
    " (SELECT COALESCE(MAX(p.patient_index) + 1, 0) FROM patients AS p WHERE p.run_id = r.run_id),"
    " r.first_patient, r.end_patient, r.shard_index, r.shard_count"
    " FROM runs AS r";

RunInfo read_run_row(const Statement& row) {
  RunInfo info;
  info.id = row.column_int64(0);
  RunProvenance& p = info.provenance;
  p.scenario_name = row.column_text(1);
  p.scenario_text = row.column_text(2);
  p.scenario_hash = row.column_text(3);
  p.seed = static_cast<std::uint64_t>(row.column_int64(4));
  p.patients = static_cast<std::uint64_t>(row.column_int64(5));
  p.vpgen_version = row.column_text(6);
  p.git_commit = row.column_text(7);
  p.compiler = row.column_text(8);
  p.boost_version = row.column_text(9);
  p.tbb_version = row.column_text(10);
  p.sqlite_version = row.column_text(11);
  p.rng_scheme = static_cast<int>(row.column_int64(12));
  p.threads = static_cast<int>(row.column_int64(13));
  p.block_size = static_cast<std::uint64_t>(row.column_int64(14));
  p.store_events = row.column_bool(15);
  info.started_at = row.column_text(16);
  info.finished_at = row.column_text(17);
  info.wall_seconds = row.column_is_null(18) ? 0.0 : row.column_real(18);
  info.status = row.column_text(19);
  info.patients_stored = static_cast<std::uint64_t>(row.column_int64(20));
  info.candidates_screened = static_cast<std::uint64_t>(row.column_int64(21));
  info.patient_index_end = static_cast<std::uint64_t>(row.column_int64(22));
  p.first_patient = static_cast<std::uint64_t>(row.column_int64(23));
  p.end_patient = static_cast<std::uint64_t>(row.column_int64(24));
  p.shard_index = static_cast<std::uint64_t>(row.column_int64(25));
  p.shard_count = static_cast<std::uint64_t>(row.column_int64(26));
  return info;
}

void require_run(sql::Database& db, std::int64_t run_id) {
  Statement query(db, "SELECT 1 FROM runs WHERE run_id = ?1", "looking up the run");
  query.bind_int64(1, run_id);
  if (!query.step()) throw InputError(fmt::format("no run {} in {}", run_id, db_name(db)));
}

RegimenClass regimen_class_from_name(std::string_view name) {
  return enum_from_name<RegimenClass>(name, kRegimenClassNames, "regimen class");
}

// The RunInfo of `run_id` among `runs` (in run order), or nullptr.
RunInfo* find_run(std::vector<RunInfo>& runs, std::int64_t run_id) {
  const auto it = std::lower_bound(runs.begin(), runs.end(), run_id,
                                   [](const RunInfo& run, std::int64_t id) { return run.id < id; });
  return it != runs.end() && it->id == run_id ? &*it : nullptr;
}

// Arms of the selected runs in (run, arm) order, appended to the matching RunInfo, then their
// regimens' phases from the JSON columns.
void attach_arms(sql::Database& db, std::vector<RunInfo>& runs, std::optional<std::int64_t> only) {
  {
    Statement arms(db,
                   fmt::format("SELECT run_id, name, regimen, regimen_class, max_duration_months,"
                               " beyond_progression_probability, next_line_regimen,"
                               " next_line_regimen_class, next_line_max_duration_months,"
                               " next_line_probability, next_line_delay_weeks FROM arms{}"
                               " ORDER BY run_id, arm_index",
                               only ? " WHERE run_id = ?1" : ""),
                   "reading the arms");
    if (only) arms.bind_int64(1, *only);
    while (arms.step()) {
      RunInfo* run = find_run(runs, arms.column_int64(0));
      if (run == nullptr) continue;
      ArmSpec& arm = run->provenance.arms.emplace_back();
      arm.name = arms.column_text(1);
      arm.regimen.name = arms.column_text(2);
      arm.regimen.regimen_class = regimen_class_from_name(arms.column_text(3));
      arm.regimen.max_duration_months = arms.column_is_null(4) ? 0.0 : arms.column_real(4);
      arm.beyond_progression_probability = arms.column_real(5);
      arm.next_line.enabled = !arms.column_is_null(6);
      if (arm.next_line.enabled) {
        RegimenSpec& next = arm.next_line.regimen;
        next.name = arms.column_text(6);
        next.regimen_class = regimen_class_from_name(arms.column_text(7));
        next.max_duration_months = arms.column_is_null(8) ? 0.0 : arms.column_real(8);
        arm.next_line.probability = arms.column_real(9);
        arm.next_line.delay_weeks = arms.column_real(10);
      }
    }
  }
  // line 1 = the arm's regimen, 2 = its next line; phases in array order.
  const auto select_phases = [&](int line, std::string_view column) {
    return fmt::format(
        "SELECT a.run_id, a.arm_index, {} AS line, p.key, json_extract(p.value, '$.name'),"
        " json_extract(p.value, '$.agents'), json_extract(p.value, '$.cycle_length_days'),"
        " json_extract(p.value, '$.cycles'), json_extract(p.value, '$.pd1_blockade'),"
        " json_extract(p.value, '$.ctla4_blockade'), json_extract(p.value, '$.kill_per_month'),"
        " json_extract(p.value, '$.cell_dose'), json_extract(p.value, '$.irae_hazard_per_month'),"
        " json_extract(p.value, '$.frac_severe_irae'),"
        " json_extract(p.value, '$.ae_hazard_per_month'), json_extract(p.value, '$.frac_severe_ae')"
        " FROM arms AS a, json_each(a.{}) AS p{}",
        line, column, only ? " WHERE a.run_id = ?1" : "");
  };
  Statement phases(db,
                   fmt::format("{} UNION ALL {} ORDER BY 1, 2, 3, 4",
                               select_phases(1, "regimen_phases"),
                               select_phases(2, "next_line_phases")),
                   "reading the regimen phases");
  if (only) phases.bind_int64(1, *only);
  while (phases.step()) {
    RunInfo* run = find_run(runs, phases.column_int64(0));
    const auto arm_index = static_cast<std::size_t>(phases.column_int64(1));
    if (run == nullptr || arm_index >= run->provenance.arms.size()) continue;
    ArmSpec& arm = run->provenance.arms[arm_index];
    RegimenSpec& regimen = phases.column_int64(2) == 1 ? arm.regimen : arm.next_line.regimen;
    RegimenPhase& phase = regimen.phases.emplace_back();
    phase.name = phases.column_text(4);
    phase.agents = phases.column_text(5);
    phase.cycle_length_days = phases.column_real(6);
    phase.cycles = static_cast<int>(phases.column_int64(7));
    phase.pd1_blockade = phases.column_real(8);
    phase.ctla4_blockade = phases.column_real(9);
    phase.kill_per_month = phases.column_real(10);
    phase.cell_dose = phases.column_real(11);
    phase.irae_hazard_per_month = phases.column_real(12);
    phase.frac_severe_irae = phases.column_real(13);
    phase.ae_hazard_per_month = phases.column_real(14);
    phase.frac_severe_ae = phases.column_real(15);
  }
}

}  // namespace

std::vector<RunInfo> ResultStore::list_runs() {
  const ReadSnapshot snapshot(*this);  // several statements, one state of the file
  std::vector<RunInfo> runs;
  {
    Statement query(db_, fmt::format("{} ORDER BY r.run_id", kRunColumns), "listing the runs");
    while (query.step()) runs.push_back(read_run_row(query));
  }
  attach_arms(db_, runs, std::nullopt);
  return runs;
}

RunInfo ResultStore::run_info(std::int64_t run_id) {
  const ReadSnapshot snapshot(*this);  // several statements, one state of the file
  std::vector<RunInfo> runs;
  {
    Statement query(db_, fmt::format("{} WHERE r.run_id = ?1", kRunColumns), "reading the run");
    query.bind_int64(1, run_id);
    while (query.step()) runs.push_back(read_run_row(query));
  }
  if (runs.empty()) throw InputError(fmt::format("no run {} in {}", run_id, db_name(db_)));
  attach_arms(db_, runs, run_id);
  return std::move(runs.front());
}

std::optional<std::int64_t> ResultStore::latest_run_id() {
  Statement query(db_, "SELECT MAX(run_id) FROM runs", "finding the latest run");
  if (!query.step() || query.column_is_null(0)) return std::nullopt;
  return query.column_int64(0);
}

std::vector<ArmCounts> ResultStore::arm_counts(std::int64_t run_id) {
  const ReadSnapshot snapshot(*this);  // several statements, one state of the file
  require_run(db_, run_id);
  // The report reads the same view analysts query, so the two cannot disagree. The sum of squared
  // holds (for the standard error of their mean) is no figure for the view, so it is read here.
  // Both read subgroup_counts: a few thousand rows whatever the cohort size.
  Statement query(db_,
                  "SELECT s.arm_index, s.arm, s.regimen, s.n, s.complete_responses,"
                  " s.partial_responses, s.stable_disease, s.progressive_disease, s.not_evaluable,"
                  " s.irae_grade3plus, s.durable_cr, s.complete_responses_unconfirmed,"
                  " s.partial_responses_unconfirmed, s.complete_responses_irecist,"
                  " s.partial_responses_irecist, s.ae_grade3plus, s.next_line,"
                  " s.beyond_progression, s.pseudo_progressions, s.pseudo_progressions_recist_pd,"
                  " s.eradicated, s.treatment_holds,"
                  " (SELECT COALESCE(SUM(c.treatment_holds_squares), 0) FROM subgroup_counts AS c"
                  "  WHERE c.run_id = s.run_id AND c.arm_index = s.arm_index)"
                  " FROM arm_summary AS s WHERE s.run_id = ?1 ORDER BY s.arm_index",
                  "counting outcomes per arm");
  query.bind_int64(1, run_id);
  std::vector<ArmCounts> counts;
  while (query.step()) {
    ArmCounts c;
    const auto count = [&query](int column) {
      return static_cast<std::uint64_t>(query.column_int64(column));
    };
    c.arm_index = static_cast<std::uint32_t>(query.column_int64(0));
    c.arm_name = query.column_text(1);
    c.regimen = query.column_text(2);
    c.n = count(3);
    c.cr = count(4);
    c.pr = count(5);
    c.sd = count(6);
    c.pd = count(7);
    c.ne = count(8);
    c.irae_grade3plus = count(9);
    c.durable_cr = count(10);
    c.cr_unconfirmed = count(11);
    c.pr_unconfirmed = count(12);
    c.cr_irecist = count(13);
    c.pr_irecist = count(14);
    c.ae_grade3plus = count(15);
    c.next_line = count(16);
    c.beyond_progression = count(17);
    c.pseudo_progression = count(18);
    c.pseudo_progression_recist_pd = count(19);
    c.eradicated = count(20);
    c.treatment_holds = count(21);
    c.treatment_holds_squares = count(22);
    counts.push_back(std::move(c));
  }
  return counts;
}

void ResultStore::survival_times(std::int64_t run_id, std::uint32_t arm_index,
                                 SurvivalEndpoint endpoint,
                                 const std::function<void(const SurvivalTimeRow&)>& visit) {
  const ReadSnapshot snapshot(*this);  // several statements, one state of the file
  require_run(db_, run_id);
  // survival_counts holds the same observations as the survival_input view (PFS2: the definition
  // in result_store.hpp), already grouped by time.
  std::string_view name = "OS";
  switch (endpoint) {
    case SurvivalEndpoint::kOs: break;
    case SurvivalEndpoint::kPfs: name = "PFS"; break;
    case SurvivalEndpoint::kPfsIrecist: name = "PFS_IRECIST"; break;
    case SurvivalEndpoint::kPfs2: name = "PFS2"; break;
  }
  Statement query(db_,
                  "SELECT time_months, events, censored FROM survival_counts"
                  " WHERE run_id = ?1 AND arm_index = ?2 AND endpoint = ?3 ORDER BY time_months",
                  "reading survival times");
  query.bind_int64(1, run_id);
  query.bind_int64(2, arm_index);
  query.bind_static_text(3, name);
  SurvivalTimeRow row;
  while (query.step()) {
    row.time_months = query.column_real(0);
    row.events = static_cast<std::uint64_t>(query.column_int64(1));
    row.censored = static_cast<std::uint64_t>(query.column_int64(2));
    visit(row);
  }
}
StoredPatient ResultStore::patient(std::int64_t run_id, std::uint64_t patient_index) {
  const ReadSnapshot snapshot(*this);  // several statements, one state of the file
  require_run(db_, run_id);
  const auto not_stored = [&] {
    return InputError(
        fmt::format("no patient {} in run {} of {}", patient_index, run_id, db_name(db_)));
  };
  if (patient_index > kMaxStorable) throw not_stored();
  const auto index = static_cast<std::int64_t>(patient_index);

  StoredPatient stored;
  PatientResult& result = stored.result;
  {
    Statement query(db_,
                    fmt::format("SELECT {} FROM patients WHERE run_id = ?1 AND patient_index = ?2",
                                kPatientsTable.read_list()),
                    "reading the patient");
    query.bind_int64(1, run_id);
    query.bind_int64(2, index);
    if (!query.step()) throw not_stored();
    kPatientsTable.read(query, result.patient);
    query.reset();
  }
  {
    Statement query(db_,
                    fmt::format("SELECT {} FROM outcomes WHERE run_id = ?1 AND patient_index = ?2"
                                " ORDER BY arm_index",
                                kOutcomesTable.read_list()),
                    "reading the patient's outcomes");
    query.bind_int64(1, run_id);
    query.bind_int64(2, index);
    while (query.step()) kOutcomesTable.read(query, result.outcomes.emplace_back());
  }
  {
    Statement query(db_,
                    fmt::format("SELECT {} FROM events WHERE run_id = ?1 AND patient_index = ?2"
                                " ORDER BY arm_index, seq",
                                kEventsTable.read_list()),
                    "reading the patient's events");
    query.bind_int64(1, run_id);
    query.bind_int64(2, index);
    while (query.step()) kEventsTable.read(query, result.events.emplace_back());
  }
  return stored;
}

std::vector<SubgroupResponses> ResultStore::subgroup_responses(std::int64_t run_id,
                                                               SubgroupDimension dimension) {
  std::string_view column = "cancer_type";
  std::string_view order = "cancer_type";
  switch (dimension) {
    case SubgroupDimension::kCancerType: break;
    case SubgroupDimension::kTmbBand:
      column = "tmb_band";
      order = "CASE tmb_band WHEN '<5' THEN 0 WHEN '5-<10' THEN 1 WHEN '10-<20' THEN 2 ELSE 3 END";
      break;
    case SubgroupDimension::kPdl1Band:
      column = "pdl1_band";
      order = "CASE pdl1_band WHEN '<1' THEN 0 WHEN '1-49' THEN 1 ELSE 2 END";
      break;
    case SubgroupDimension::kHot:
      column = "hot";
      order = "hot DESC";
      break;
  }
  Statement query(db_,
                  fmt::format("SELECT arm_index, CAST({0} AS TEXT), SUM(n),"
                              " SUM(complete_responses + partial_responses) FROM subgroup_counts"
                              " WHERE run_id = ?1 GROUP BY {0}, arm_index ORDER BY {1}, arm_index",
                              column, order),
                  "reading subgroup_counts");
  query.bind_int64(1, run_id);
  const auto count = [&query](int index) {
    return static_cast<std::uint64_t>(std::max<std::int64_t>(0, query.column_int64(index)));
  };
  std::vector<SubgroupResponses> out;
  while (query.step())
    out.push_back({static_cast<std::uint32_t>(query.column_int64(0)),
                   std::string(query.column_text(1)), count(2), count(3)});
  return out;
}

std::vector<ArmOutcome> ResultStore::first_outcomes(std::int64_t run_id, std::uint32_t arm_index,
                                                    std::uint64_t limit) {
  // outcomes and patients are keyed by (run_id, patient_index, ...), so the first `limit`
  // patients cost the same in any cohort size.
  Statement query(db_,
                  fmt::format("SELECT o.patient_index, p.cancer_type, {} FROM outcomes AS o"
                              " JOIN patients AS p ON p.run_id = o.run_id"
                              " AND p.patient_index = o.patient_index"
                              " WHERE o.run_id = ?1 AND o.arm_index = ?2"
                              " ORDER BY o.patient_index LIMIT ?3",
                              kOutcomesTable.read_list("o.")),
                  "reading the sampled patients");
  query.bind_int64(1, run_id);
  query.bind_int64(2, arm_index);
  query.bind_int64(3, static_cast<std::int64_t>(std::min(limit, kMaxStorable)));
  std::vector<ArmOutcome> out;
  while (query.step()) {
    ArmOutcome& row = out.emplace_back();
    row.patient_index = static_cast<std::uint64_t>(query.column_int64(0));
    row.cancer_type =
        enum_from_name<CancerType>(query.column_text(1), kCancerTypeNames, "cancer type");
    kOutcomesTable.read(query, row.outcome, 2);
  }
  return out;
}

std::vector<PatientEvent> ResultStore::events(std::int64_t run_id, std::uint32_t arm_index,
                                              std::uint64_t patient_index_end,
                                              std::span<const EventKind> kinds) {
  if (kinds.empty()) return {};
  std::string names;
  for (const EventKind kind : kinds)
    names += fmt::format("{}'{}'", names.empty() ? "" : ", ",
                         checked_name(kind, kEventKindNames, "event kind"));
  Statement query(db_,
                  fmt::format("SELECT patient_index, {} FROM events"
                              " WHERE run_id = ?1 AND patient_index < ?2 AND arm_index = ?3"
                              " AND kind IN ({}) ORDER BY patient_index, seq",
                              kEventsTable.read_list(), names),
                  "reading the sampled patients' events");
  query.bind_int64(1, run_id);
  query.bind_int64(2, static_cast<std::int64_t>(std::min(patient_index_end, kMaxStorable)));
  query.bind_int64(3, arm_index);
  std::vector<PatientEvent> out;
  while (query.step()) {
    PatientEvent& row = out.emplace_back();
    row.patient_index = static_cast<std::uint64_t>(query.column_int64(0));
    kEventsTable.read(query, row.event, 1);
  }
  return out;
}

namespace {

// The primary-key order of each table and view of kRunTables.
std::string_view key_order(std::string_view table) {
  if (table == "runs") return "run_id";
  if (table == "arms" || table == "arm_summary") return "arm_index";
  if (table == "patients") return "patient_index";
  if (table == "outcomes") return "patient_index, arm_index";
  if (table == "events") return "patient_index, arm_index, seq";
  if (table == "subgroup_counts")
    return "arm_index, cancer_type, tmb_band, pdl1_band, hot, memory_band, line_of_therapy";
  if (table == "survival_counts") return "arm_index, endpoint, time_months";
  return {};
}

}  // namespace

sql::Statement ResultStore::run_rows(std::int64_t run_id, std::string_view table) {
  const std::string_view order = key_order(table);
  if (order.empty())
    throw InputError(fmt::format("{}: not a table of a run's rows (one of {})", table,
                                 fmt::join(kRunTables, ", ")));
  Statement select(db_, fmt::format("SELECT * FROM {} WHERE run_id = ?1 ORDER BY {}", table, order),
                   "reading a run's rows");
  select.bind_int64(1, run_id);
  return select;
}

namespace {

std::uint64_t fnv1a(std::uint64_t hash, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// FNV-1a over `SELECT * FROM table WHERE run_id = ? ORDER BY <key>`: every value but run_id,
// each after its SQLite type code, integers and doubles as their bytes, text as its bytes.
std::uint64_t table_digest(sql::Database& db, std::string_view table, std::int64_t run_id,
                           std::string_view order_by) {
  Statement query(db,
                  fmt::format("SELECT * FROM {} WHERE run_id = ?1 ORDER BY {}", table, order_by),
                  "computing a run's digest");
  query.bind_int64(1, run_id);
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  const int columns = query.column_count();
  while (query.step()) {
    for (int c = 0; c < columns; ++c) {
      if (query.column_name(c) == "run_id") continue;
      // SQLite's own type codes (1 integer .. 5 null): recorded digests depend on them.
      int type = SQLITE_NULL;
      switch (query.column_type(c)) {
        case sql::ValueType::kInteger: type = SQLITE_INTEGER; break;
        case sql::ValueType::kReal: type = SQLITE_FLOAT; break;
        case sql::ValueType::kText: type = SQLITE_TEXT; break;
        case sql::ValueType::kBlob: type = SQLITE_BLOB; break;
        case sql::ValueType::kNull: break;
      }
      hash = fnv1a(hash, &type, sizeof type);
      if (type == SQLITE_INTEGER) {
        const std::int64_t v = query.column_int64(c);
        hash = fnv1a(hash, &v, sizeof v);
      } else if (type == SQLITE_FLOAT) {
        const double v = query.column_real(c);
        hash = fnv1a(hash, &v, sizeof v);
      } else if (type != SQLITE_NULL) {
        const std::string_view bytes = query.column_text(c);
        hash = fnv1a(hash, bytes.data(), bytes.size());
      }
    }
  }
  return hash;
}

}  // namespace

std::uint64_t ResultStore::run_digest(std::int64_t run_id) {
  const ReadSnapshot snapshot(*this);  // several statements, one state of the file
  std::uint64_t h = table_digest(db_, "patients", run_id, key_order("patients"));
  h ^= table_digest(db_, "outcomes", run_id, key_order("outcomes")) * 31;
  h ^= table_digest(db_, "events", run_id, key_order("events")) * 131;
  // The derived counts the writer keeps block by block: equal whatever the threads, the block
  // size, or an interruption and resume.
  h ^= table_digest(db_, "subgroup_counts", run_id, key_order("subgroup_counts")) * 1031;
  h ^= table_digest(db_, "survival_counts", run_id, key_order("survival_counts")) * 8191;
  return h;
}

std::vector<std::int64_t> ResultStore::design_ids() {
  Statement query(db_, "SELECT design_id FROM designs ORDER BY design_id", "listing designs");
  std::vector<std::int64_t> out;
  while (query.step()) out.push_back(query.column_int64(0));
  return out;
}

StoredDesign ResultStore::design(std::int64_t design_id) {
  const ReadSnapshot snapshot(*this);  // several statements, one state of the file
  StoredDesign d;
  d.design_id = design_id;
  {
    Statement query(db_,
                    "SELECT name, design_text, design_hash, mode, endpoint, analysis, seed,"
                    " target_power, recommended_n, recommended_n_low, recommended_n_high,"
                    " result_json, vpgen_version, git_commit, created_at, wall_seconds"
                    " FROM designs WHERE design_id = ?1",
                    "reading a design");
    query.bind_int64(1, design_id);
    if (!query.step())
      throw InputError(fmt::format("design {}: no such design in the file", design_id));
    DesignRecord& r = d.record;
    r.name = query.column_text(0);
    r.design_text = query.column_text(1);
    r.design_hash = query.column_text(2);
    r.mode = query.column_text(3);
    r.endpoint = query.column_text(4);
    r.analysis = query.column_text(5);
    r.seed = static_cast<std::uint64_t>(std::max<std::int64_t>(0, query.column_int64(6)));
    r.target_power = query.column_real(7);
    r.recommended_n = query.column_real(8);
    r.recommended_n_low = query.column_real(9);
    r.recommended_n_high = query.column_real(10);
    r.result_json = query.column_text(11);
    r.vpgen_version = query.column_text(12);
    r.git_commit = query.column_text(13);
    d.created_at = query.column_text(14);
    r.wall_seconds = query.column_real(15);
    query.reset();
  }
  Statement points(db_,
                   "SELECT n_total, replicates, power, power_mcse, type1_error, type1_mcse,"
                   " expected_events, expected_duration_months, pet_p0, expected_n_p0"
                   " FROM design_points WHERE design_id = ?1 ORDER BY n_total",
                   "reading a design's points");
  points.bind_int64(1, design_id);
  while (points.step()) {
    DesignPointRecord& p = d.points.emplace_back();
    p.n_total = points.column_int64(0);
    p.replicates = static_cast<std::uint64_t>(std::max<std::int64_t>(0, points.column_int64(1)));
    p.power = points.column_real(2);
    p.power_mcse = points.column_real(3);
    p.type1_error = points.column_real(4);
    p.type1_mcse = points.column_real(5);
    p.expected_events = points.column_real(6);
    p.expected_duration_months = points.column_real(7);
    p.pet_p0 = points.column_real(8);
    p.expected_n_p0 = points.column_real(9);
  }
  return d;
}

}  // namespace vpgen
