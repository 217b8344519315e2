// Writing results: a run's `runs` and `arms` rows, its blocks of patients with the derived counts
// kept in the same transaction, its end; and `vpgen size` designs.
#include "vpgen/storage/result_store.hpp"

#include "content_digest.hpp"
#include "sqlite_internal.hpp"
#include "store_internal.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "vpgen/population/error.hpp"

namespace vpgen {
namespace {

using sql::Statement;
using sql::Transaction;

// JSON text of a string: quotes, backslashes and control characters escaped (RFC 8259); other
// bytes, including UTF-8 sequences, pass through.
void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        else out += c;
    }
  }
  out += '"';
}

// "{}" is the shortest text that reads back as the same double; JSON has no NaN or infinity, and
// the scenario loader admits neither, so one here is a caller's error.
void append_json_number(std::string& out, double value, std::string_view regimen,
                        std::string_view phase, std::string_view key) {
  if (!std::isfinite(value))
    throw InputError(fmt::format("regimen '{}', phase '{}': {} = {} cannot be stored (not finite)",
                                 regimen, phase, key, value));
  out += fmt::format("{}", value);
}

// The `regimen_phases` JSON array: one object per phase, every RegimenPhase field by its name.
std::string phases_json(const RegimenSpec& regimen) {
  std::string out = "[";
  for (const RegimenPhase& phase : regimen.phases) {
    if (out.size() > 1) out += ", ";
    const auto number = [&](std::string_view key, double value) {
      out += ", ";
      append_json_string(out, key);
      out += ": ";
      append_json_number(out, value, regimen.name, phase.name, key);
    };
    out += "{\"name\": ";
    append_json_string(out, phase.name);
    out += ", \"agents\": ";
    append_json_string(out, phase.agents);
    number("cycle_length_days", phase.cycle_length_days);
    out += fmt::format(", \"cycles\": {}", phase.cycles);
    number("pd1_blockade", phase.pd1_blockade);
    number("ctla4_blockade", phase.ctla4_blockade);
    number("kill_per_month", phase.kill_per_month);
    number("cell_dose", phase.cell_dose);
    number("irae_hazard_per_month", phase.irae_hazard_per_month);
    number("frac_severe_irae", phase.frac_severe_irae);
    number("ae_hazard_per_month", phase.ae_hazard_per_month);
    number("frac_severe_ae", phase.frac_severe_ae);
    out += '}';
  }
  out += ']';
  return out;
}

// Binds the duration cap: NULL when there is none (RegimenSpec's 0).
void bind_cap(Statement& statement, int index, double max_duration_months) {
  if (max_duration_months > 0.0) statement.bind_real(index, max_duration_months);
  else statement.bind_null(index);
}

}  // namespace

std::int64_t ResultStore::begin_run(const RunProvenance& provenance) {
  const std::int64_t seed = storable(provenance.seed, "seed");
  const std::int64_t patients = storable(provenance.patients, "patient count");
  const std::int64_t block_size = storable(provenance.block_size, "block size");
  if (provenance.arms.empty()) throw InputError("a run needs at least one arm");
  // {0, 0}: the whole cohort. A shard's range lies inside it; shard_count <= patients keeps every
  // shard non-empty, so {0, 0} never means an empty shard.
  const bool whole = provenance.first_patient == 0 && provenance.end_patient == 0;
  const std::uint64_t first_patient = whole ? 0 : provenance.first_patient;
  const std::uint64_t end_patient = whole ? provenance.patients : provenance.end_patient;
  if (first_patient >= end_patient && provenance.patients > 0)
    throw InputError(fmt::format("patient range {}..{} is empty", first_patient, end_patient));
  if (end_patient > provenance.patients)
    throw InputError(fmt::format("patient range {}..{} ends beyond the cohort of {}", first_patient,
                                 end_patient, provenance.patients));
  if (provenance.shard_count == 0 || provenance.shard_index >= provenance.shard_count)
    throw InputError(fmt::format("shard {}/{} does not exist (shards are numbered 0 .. {})",
                                 provenance.shard_index, provenance.shard_count,
                                 provenance.shard_count == 0 ? 0 : provenance.shard_count - 1));
  // The JSON is built before the transaction, so a value that cannot be stored writes nothing.
  std::vector<std::string> phases;
  std::vector<std::string> next_line_phases;
  for (const ArmSpec& arm : provenance.arms) {
    phases.push_back(phases_json(arm.regimen));
    next_line_phases.push_back(arm.next_line.enabled ? phases_json(arm.next_line.regimen)
                                                     : std::string());
  }

  Statement begin(db_, "BEGIN IMMEDIATE", "starting a run");
  Statement commit(db_, "COMMIT", "committing the new run");
  Statement insert_run(
      db_,
      fmt::format("INSERT INTO runs (schema_version, scenario_name, scenario_text, scenario_hash,"
                  " seed, patients_requested, vpgen_version, git_commit, compiler, boost_version,"
                  " tbb_version, sqlite_version, rng_scheme, threads, block_size, store_events,"
                  " first_patient, end_patient, shard_index, shard_count, started_at, status)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
                  " ?17, ?18, ?19, ?20, {}, 'incomplete')",
                  kNowUtc),
      "inserting the run");
  // json() stores the phases in SQLite's canonical (minified) form; the CHECKs validate them.
  Statement insert_arm(
      db_,
      "INSERT INTO arms (run_id, arm_index, name, regimen, regimen_class, regimen_phases,"
      " max_duration_months, beyond_progression_probability, next_line_regimen,"
      " next_line_regimen_class, next_line_phases, next_line_max_duration_months,"
      " next_line_probability, next_line_delay_weeks) VALUES (?1, ?2, ?3, ?4, ?5, json(?6), ?7,"
      " ?8, ?9, ?10, json(?11), ?12, ?13, ?14)",
      "inserting the arms");

  Transaction transaction(db_, begin);
  insert_run.bind_int64(1, kSchemaVersion);
  insert_run.bind_text(2, provenance.scenario_name);
  insert_run.bind_text(3, provenance.scenario_text);
  insert_run.bind_text(4, provenance.scenario_hash);
  insert_run.bind_int64(5, seed);
  insert_run.bind_int64(6, patients);
  insert_run.bind_text(7, provenance.vpgen_version);
  insert_run.bind_text(8, provenance.git_commit);
  insert_run.bind_text(9, provenance.compiler);
  insert_run.bind_text(10, provenance.boost_version);
  insert_run.bind_text(11, provenance.tbb_version);
  // The library actually linked, whatever the caller believes it to be.
  insert_run.bind_text(12, std::string_view(sqlite3_libversion()));
  insert_run.bind_int64(13, provenance.rng_scheme);
  insert_run.bind_int64(14, provenance.threads);
  insert_run.bind_int64(15, block_size);
  insert_run.bind_bool(16, provenance.store_events);
  insert_run.bind_int64(17, storable(first_patient, "first patient"));
  insert_run.bind_int64(18, storable(end_patient, "end patient"));
  insert_run.bind_int64(19, storable(provenance.shard_index, "shard index"));
  insert_run.bind_int64(20, storable(provenance.shard_count, "shard count"));
  insert_run.execute();
  const std::int64_t run_id = db_.last_insert_rowid();
  for (std::size_t index = 0; index < provenance.arms.size(); ++index) {
    const ArmSpec& arm = provenance.arms[index];
    insert_arm.bind_int64(1, run_id);
    insert_arm.bind_int64(2, static_cast<std::int64_t>(index));
    insert_arm.bind_text(3, arm.name);
    insert_arm.bind_text(4, arm.regimen.name);
    insert_arm.bind_static_text(
        5, checked_name(arm.regimen.regimen_class, kRegimenClassNames, "regimen class"));
    insert_arm.bind_text(6, phases[index]);
    bind_cap(insert_arm, 7, arm.regimen.max_duration_months);
    insert_arm.bind_real(8, arm.beyond_progression_probability);
    if (arm.next_line.enabled) {
      const RegimenSpec& next = arm.next_line.regimen;
      insert_arm.bind_text(9, next.name);
      insert_arm.bind_static_text(
          10, checked_name(next.regimen_class, kRegimenClassNames, "regimen class"));
      insert_arm.bind_text(11, next_line_phases[index]);
      bind_cap(insert_arm, 12, next.max_duration_months);
      insert_arm.bind_real(13, arm.next_line.probability);
      insert_arm.bind_real(14, arm.next_line.delay_weeks);
    } else {
      for (int column = 9; column <= 14; ++column) insert_arm.bind_null(column);
    }
    insert_arm.execute();
  }
  transaction.commit(commit);
  return run_id;
}

void ResultStore::finish_run(std::int64_t run_id, bool success, double wall_seconds) {
  // A complete run is sealed with the sum of its block digests when they cover its range.
  const std::optional<std::string> digest = success ? sealed_digest(db_, run_id) : std::nullopt;
  Statement update(db_,
                   fmt::format("UPDATE runs SET status = ?2, finished_at = {}, wall_seconds = ?3,"
                               " content_digest = ?4 WHERE run_id = ?1",
                               kNowUtc),
                   "finishing the run");
  update.bind_int64(1, run_id);
  update.bind_static_text(2, success ? std::string_view("complete") : std::string_view("failed"));
  update.bind_real(3, wall_seconds);
  if (digest) update.bind_text(4, *digest);
  else update.bind_null(4);
  update.execute();
  if (db_.changes() == 0) throw InputError(fmt::format("no run {} in {}", run_id, db_name(db_)));
}

void ResultStore::reopen_run(std::int64_t run_id) {
  Statement update(db_,
                   "UPDATE runs SET status = 'incomplete', finished_at = NULL, wall_seconds = NULL"
                   " WHERE run_id = ?1 AND status = 'failed'",
                   "reopening the failed run");
  update.bind_int64(1, run_id);
  update.execute();
  if (db_.changes() > 0) return;
  Statement query(db_, "SELECT status FROM runs WHERE run_id = ?1", "looking up the run");
  query.bind_int64(1, run_id);
  if (!query.step()) throw InputError(fmt::format("no run {} in {}", run_id, db_name(db_)));
  if (query.column_text(0) != "incomplete")
    throw StorageError(
        fmt::format("run {} in {} is {}; only a failed or incomplete run can be "
                    "resumed",
                    run_id, db_name(db_), query.column_text(0)));
}

std::int64_t ResultStore::record_design(const DesignRecord& design,
                                        const std::vector<DesignPointRecord>& points) {
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (points[i].n_total < 0)
      throw InputError(
          fmt::format("design '{}': sample size {} is negative", design.name, points[i].n_total));
    for (std::size_t j = 0; j < i; ++j)
      if (points[j].n_total == points[i].n_total)
        throw InputError(fmt::format("design '{}': sample size {} appears twice", design.name,
                                     points[i].n_total));
  }
  Statement begin(db_, "BEGIN IMMEDIATE", "storing a design");
  Statement commit(db_, "COMMIT", "committing a design");
  Transaction transaction(db_, begin);
  {
    Statement valid(db_, "SELECT json_valid(?1)", "checking the design's JSON");
    valid.bind_text(1, design.result_json);
    if (!valid.step() || valid.column_int64(0) != 1)
      throw InputError(fmt::format("design '{}': its result is not valid JSON", design.name));
  }
  Statement insert(
      db_,
      fmt::format("INSERT INTO designs (schema_version, name, design_text, design_hash, mode,"
                  " endpoint, analysis, seed, target_power, recommended_n, recommended_n_low,"
                  " recommended_n_high, result_json, vpgen_version, git_commit, created_at,"
                  " wall_seconds) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
                  " ?14, ?15, {}, ?16)",
                  kNowUtc),
      "storing a design");
  insert.bind_int64(1, kSchemaVersion);
  insert.bind_text(2, design.name);
  insert.bind_text(3, design.design_text);
  insert.bind_text(4, design.design_hash);
  insert.bind_text(5, design.mode);
  insert.bind_text(6, design.endpoint);
  insert.bind_text(7, design.analysis);
  insert.bind_int64(8, storable(design.seed, "seed"));
  insert.bind_real(9, design.target_power);
  insert.bind_real(10, design.recommended_n);
  insert.bind_real(11, design.recommended_n_low);
  insert.bind_real(12, design.recommended_n_high);
  insert.bind_text(13, design.result_json);
  insert.bind_text(14, design.vpgen_version);
  insert.bind_text(15, design.git_commit);
  insert.bind_real(16, design.wall_seconds);
  insert.execute();
  const std::int64_t design_id = db_.last_insert_rowid();
  Statement point(db_,
                  "INSERT INTO design_points (design_id, n_total, replicates, power, power_mcse,"
                  " type1_error, type1_mcse, expected_events, expected_duration_months, pet_p0,"
                  " expected_n_p0) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                  "storing a design point");
  for (const DesignPointRecord& p : points) {
    point.bind_int64(1, design_id);
    point.bind_int64(2, p.n_total);
    point.bind_int64(3, storable(p.replicates, "replicate count"));
    point.bind_real(4, p.power);
    point.bind_real(5, p.power_mcse);
    point.bind_real(6, p.type1_error);
    point.bind_real(7, p.type1_mcse);
    point.bind_real(8, p.expected_events);
    point.bind_real(9, p.expected_duration_months);
    point.bind_real(10, p.pet_p0);
    point.bind_real(11, p.expected_n_p0);
    point.execute();
  }
  transaction.commit(commit);
  return design_id;
}

// ---------------------------------------------------------------------------------------------
// RunWriter

// One cell of subgroup_counts: arm x cancer type x TMB band x PD-L1 band x hot x memory band x
// line. The bands are those of the version-4 migration's SQL (migrations.cpp), computed from
// the same doubles.
struct SubgroupKey {
  std::uint32_t arm = 0;
  int cancer_type = 0;
  int tmb_band = 0;
  int pdl1_band = 0;
  int hot = 0;
  int memory_band = 0;
  int line_of_therapy = 0;
  auto operator<=>(const SubgroupKey&) const = default;
};

constexpr std::array<std::string_view, 4> kTmbBands = {"<5", "5-<10", "10-<20", ">=20"};
constexpr std::array<std::string_view, 3> kPdl1Bands = {"<1", "1-49", ">=50"};
constexpr std::array<std::string_view, 3> kMemoryBands = {"low", "middle", "high"};

int tmb_band(double tmb_mut_per_mb) {
  return tmb_mut_per_mb < 5 ? 0 : tmb_mut_per_mb < 10 ? 1 : tmb_mut_per_mb < 20 ? 2 : 3;
}
int pdl1_band(double tps_percent) { return tps_percent < 1 ? 0 : tps_percent < 50 ? 1 : 2; }
int memory_band(double capacity) { return capacity < 1.0 / 3 ? 0 : capacity < 2.0 / 3 ? 1 : 2; }

// Counts in SubgroupCount order (store_internal.hpp), the columns of subgroup_counts.
using SubgroupCounts = std::array<std::int64_t, kSubgroupCountColumns>;

void count_outcome(const Outcome& o, SubgroupCounts& c) {
  const auto add = [&c](SubgroupCount column, bool yes) { c[column] += yes ? 1 : 0; };
  add(kN, true);
  add(kCompleteResponses, o.best_response == Response::kCR);
  add(kPartialResponses, o.best_response == Response::kPR);
  add(kStableDisease, o.best_response == Response::kSD);
  add(kProgressiveDisease, o.best_response == Response::kPD);
  add(kNotEvaluable, o.best_response == Response::kNE);
  add(kCompleteResponsesUnconfirmed, o.best_response_unconfirmed == Response::kCR);
  add(kPartialResponsesUnconfirmed, o.best_response_unconfirmed == Response::kPR);
  add(kCompleteResponsesIrecist, o.best_response_irecist == Response::kCR);
  add(kPartialResponsesIrecist, o.best_response_irecist == Response::kPR);
  add(kDurableCr, o.durable_cr);
  add(kIraeAny, o.worst_irae_grade >= 1);
  add(kIraeGrade3plus, o.worst_irae_grade >= 3);
  add(kAeGrade3plus, o.worst_ae_grade >= 3);
  add(kDeaths, o.os_event);
  add(kProgressionsOrDeaths, o.pfs_event);
  add(kBeyondProgression, o.beyond_progression);
  add(kPseudoProgressions, o.pseudo_progression);
  add(kPseudoProgressionsRecistPd, o.pseudo_progression && o.best_response == Response::kPD);
  add(kNextLine, !std::isnan(o.next_line_months));
  add(kEradicated, o.eradicated);
  c[kTreatmentHolds] += o.treatment_holds;
  c[kTreatmentHoldsSquares] += static_cast<std::int64_t>(o.treatment_holds) * o.treatment_holds;
}

// One row of survival_time_counts: arm x time (the stored double, compared exactly), with the
// events and censorings of each endpoint at that time (SurvivalColumn order).
struct SurvivalKey {
  std::uint32_t arm = 0;
  double time_months = 0.0;
  auto operator<=>(const SurvivalKey&) const = default;
};
using SurvivalCounts = std::array<std::int64_t, kSurvivalColumns>;

// The survival_input view's observations of one outcome, added to `times`.
void count_times(std::uint32_t arm, const Outcome& o,
                 std::map<SurvivalKey, SurvivalCounts>& times) {
  const auto add = [&](SurvivalColumn events_column, double time_months, bool event) {
    SurvivalCounts& c =
        times.try_emplace(SurvivalKey{arm, time_months}, SurvivalCounts{}).first->second;
    c[event ? events_column : events_column + 1] += 1;  // the censored column follows
  };
  add(kOsEvents, o.os_months, o.os_event);
  add(kPfsEvents, o.pfs_months, o.pfs_event);
  add(kPfsIrecistEvents, o.pfs_irecist_months, o.pfs_irecist_event);
  if (!std::isnan(o.duration_of_response_months))
    add(kDorEvents, o.duration_of_response_months, o.dor_event);
  if (std::isnan(o.next_line_months)) add(kPfs2Events, o.os_months, o.os_event);
  else add(kPfs2Events, o.pfs2_months, o.pfs2_event);
}

struct RunWriter::Statements {
  Statement begin;
  Statement commit;
  Statement patient;
  Statement outcome;
  Statement event;
  Statement subgroup;
  Statement survival_update;
  Statement survival_insert;
  Statement run_counts;
  Statement block_row;
  int event_seq = 0;  // the parameter of events.seq
  std::uint32_t arm_count = 0;
  std::uint64_t first_patient = 0;  // the run's range: a block outside it is refused
  std::uint64_t end_patient = 0;
  std::map<SubgroupKey, SubgroupCounts> cells;  // of the block being written
  std::map<SurvivalKey, SurvivalCounts> times;  // of the block being written
  std::string feed;                             // the patient's rows, encoded for its digest
  digest::Value block_digest{};                 // of the block being written
  std::int64_t block_rows = 0;

  void prepare(sql::Database& db, bool store_events);
  // The patient's row, its outcomes (one per arm, in arm order: the view's n and the replay rely
  // on it), counted into `cells` and `times`, and with `store_events` its events.
  void write_patient(std::int64_t run_id, const PatientResult& result, bool store_events);
  void write_events(std::int64_t run_id, std::int64_t index, const PatientResult& result);
  // The block's derived counts, added to the stored ones.
  void write_counts(sql::Database& db, std::int64_t run_id);
};

void RunWriter::Statements::prepare(sql::Database& db, bool store_events) {
  begin = Statement(db, "BEGIN IMMEDIATE", "starting a block transaction", true);
  commit = Statement(db, "COMMIT", "committing a block", true);
  patient = Statement(db, kPatientsTable.insert_sql(), "inserting patients", true);
  outcome = Statement(db, kOutcomesTable.insert_sql(), "inserting outcomes", true);
  subgroup = Statement(db, subgroup_upsert_sql(), "counting outcomes by subgroup", true);
  // One row per arm and time holds every endpoint (whole-day times are shared between them), and
  // most of a block's times are already in the table after the first blocks: an UPDATE finds
  // them with one seek, and only a time it did not find is inserted. (One row per endpoint,
  // upserted, made these counts a third of the writer's time with events off.)
  survival_update = Statement(db, survival_update_sql(), "counting survival times", true);
  survival_insert = Statement(db, survival_insert_sql(), "counting survival times", true);
  run_counts = Statement(db,
                         "UPDATE runs SET patients_stored = patients_stored + ?2,"
                         " candidates_screened = candidates_screened + ?3 WHERE run_id = ?1",
                         "counting the run's stored patients", true);
  block_row = Statement(db,
                        "INSERT INTO run_blocks (run_id, first_patient, end_patient, row_count,"
                        " digest) VALUES (?1, ?2, ?3, ?4, ?5)",
                        "recording the block's digest", true);
  if (store_events) {
    event = Statement(db, kEventsTable.insert_sql(), "inserting events", true);
    event_seq = kEventsTable.parameter("seq");
  }
}

RunWriter::RunWriter(ResultStore& store, std::int64_t run_id, bool store_events)
    : store_(store), run_id_(run_id), store_events_(store_events) {
  sql::Database& db = store_.db_;
  Statement query(db,
                  "SELECT status, (SELECT COUNT(*) FROM arms AS a WHERE a.run_id = r.run_id),"
                  " first_patient, end_patient FROM runs AS r WHERE run_id = ?1",
                  "looking up the run to write");
  query.bind_int64(1, run_id);
  if (!query.step()) throw InputError(fmt::format("no run {} in {}", run_id, db_name(db)));
  if (query.column_text(0) != "incomplete")
    throw StorageError(fmt::format("run {} in {} is already {}; its results cannot change", run_id,
                                   db_name(db), query.column_text(0)));
  statements_ = std::make_unique<Statements>();
  statements_->arm_count = static_cast<std::uint32_t>(query.column_int64(1));
  statements_->first_patient = static_cast<std::uint64_t>(query.column_int64(2));
  statements_->end_patient = static_cast<std::uint64_t>(query.column_int64(3));
  query.reset();
  statements_->prepare(db, store_events_);
}

RunWriter::~RunWriter() = default;

void RunWriter::Statements::write_patient(std::int64_t run_id, const PatientResult& result,
                                          bool store_events) {
  const Patient& p = result.patient;
  const auto index = static_cast<std::int64_t>(p.index);
  patient.bind_int64(1, run_id);
  kPatientsTable.bind(patient, p);
  patient.execute();
  // The digest is fed the values bound, column by column from the same tables (content_digest.hpp).
  feed.clear();
  digest::row(feed, 'p');
  kPatientsTable.feed(feed, p, {});
  ++block_rows;

  if (result.outcomes.size() != arm_count)
    throw StorageError(fmt::format("the patient has {} outcomes but the run has {} arms",
                                   result.outcomes.size(), arm_count));
  const SubgroupKey cell{0,
                         static_cast<int>(p.cancer_type),
                         tmb_band(p.tmb_mut_per_mb),
                         pdl1_band(p.pdl1_tps_percent),
                         p.hot ? 1 : 0,
                         memory_band(p.memory_capacity),
                         p.line_of_therapy};
  for (std::uint32_t arm = 0; arm < arm_count; ++arm) {
    const Outcome& o = result.outcomes[arm];
    if (o.arm_index != arm)
      throw StorageError(
          fmt::format("outcome {} is for arm {}; outcomes must be in arm order", arm, o.arm_index));
    outcome.bind_int64(1, run_id);
    outcome.bind_int64(2, index);
    kOutcomesTable.bind(outcome, o);
    outcome.execute();
    digest::row(feed, 'o');
    const std::array<std::int64_t, 1> keys = {index};
    kOutcomesTable.feed(feed, o, keys);
    ++block_rows;
    SubgroupKey key = cell;
    key.arm = arm;
    count_outcome(o, cells.try_emplace(key, SubgroupCounts{}).first->second);
    count_times(arm, o, times);
  }
  if (store_events) write_events(run_id, index, result);
  digest::add(block_digest, digest::sha256(feed));
}

void RunWriter::Statements::write_events(std::int64_t run_id, std::int64_t index,
                                         const PatientResult& result) {
  std::uint32_t arm = 0;
  std::int64_t seq = 0;
  for (const CourseEvent& e : result.events) {
    if (e.arm_index != arm) {
      if (e.arm_index < arm || e.arm_index >= arm_count)
        throw StorageError(fmt::format(
            "an event of arm {} follows one of arm {} (the run has {} arms); events must be "
            "in arm order",
            e.arm_index, arm, arm_count));
      arm = e.arm_index;
      seq = 0;
    }
    const std::string_view kind = checked_name(e.kind, kEventKindNames, "event kind");
    const CodeRange range = event_code_range(e.kind);
    if (e.code < range.min || e.code > range.max)
      throw StorageError(
          fmt::format("a {} event of arm {} has invalid code {}", kind, e.arm_index, e.code));
    event.bind_int64(1, run_id);
    event.bind_int64(2, index);
    event.bind_int64(event_seq, seq);
    kEventsTable.bind(event, e);
    event.execute();
    digest::row(feed, 'e');
    const std::array<std::int64_t, 2> keys = {index, seq};
    kEventsTable.feed(feed, e, keys);
    ++block_rows;
    ++seq;
  }
}

void RunWriter::Statements::write_counts(sql::Database& db, std::int64_t run_id) {
  for (const auto& [key, counts] : cells) {
    subgroup.bind_int64(1, run_id);
    subgroup.bind_int64(2, key.arm);
    subgroup.bind_static_text(3, kCancerTypeNames[static_cast<std::size_t>(key.cancer_type)]);
    subgroup.bind_static_text(4, kTmbBands[static_cast<std::size_t>(key.tmb_band)]);
    subgroup.bind_static_text(5, kPdl1Bands[static_cast<std::size_t>(key.pdl1_band)]);
    subgroup.bind_int64(6, key.hot);
    subgroup.bind_static_text(7, kMemoryBands[static_cast<std::size_t>(key.memory_band)]);
    subgroup.bind_int64(8, key.line_of_therapy);
    for (std::size_t c = 0; c < counts.size(); ++c)
      subgroup.bind_int64(static_cast<int>(9 + c), counts[c]);
    subgroup.execute();
  }
  for (const auto& [key, counts] : times) {
    for (Statement* survival : {&survival_update, &survival_insert}) {
      survival->bind_int64(1, run_id);
      survival->bind_int64(2, key.arm);
      survival->bind_real(3, key.time_months);
      for (std::size_t c = 0; c < counts.size(); ++c)
        survival->bind_int64(static_cast<int>(4 + c), counts[c]);
      survival->execute();
      if (db.changes() > 0) break;  // updated: no insert
    }
  }
}

void RunWriter::write_block(const Block& block) {
  if (block.results.empty()) return;
  Statements& s = *statements_;
  std::uint64_t index = block.first_index;  // the patient being written, for error messages
  const std::uint64_t last_index = block.first_index + block.results.size() - 1;
  try {
    storable(last_index, "patient index");
    if (block.first_index < s.first_patient || last_index >= s.end_patient)
      throw StorageError(fmt::format("the block lies outside the run's patients {}..{}",
                                     s.first_patient, s.end_patient - 1));
    s.cells.clear();
    s.times.clear();
    s.block_digest = {};
    s.block_rows = 0;
    Transaction transaction(store_.db_, s.begin);
    std::int64_t candidates = 0;
    for (const PatientResult& result : block.results) {
      if (result.error)
        throw StorageError(
            fmt::format("the simulation failed ({}); refusing to store it", *result.error));
      if (result.patient.index != index)
        throw StorageError(fmt::format("the patient record carries index {} at that position",
                                       result.patient.index));
      s.write_patient(run_id_, result, store_events_);
      candidates += static_cast<std::int64_t>(result.patient.candidates_screened);
      ++index;
    }
    s.write_counts(store_.db_, run_id_);
    s.run_counts.bind_int64(1, run_id_);
    s.run_counts.bind_int64(2, static_cast<std::int64_t>(block.results.size()));
    s.run_counts.bind_int64(3, candidates);
    s.run_counts.execute();
    s.block_row.bind_int64(1, run_id_);
    s.block_row.bind_int64(2, static_cast<std::int64_t>(block.first_index));
    s.block_row.bind_int64(3, static_cast<std::int64_t>(last_index + 1));
    s.block_row.bind_int64(4, s.block_rows);
    s.block_row.bind_text(5, digest::hex(s.block_digest));
    s.block_row.execute();
    transaction.commit(s.commit);
  } catch (const sql::BusyError& e) {
    throw sql::BusyError(
        e.path(), e.operation(),
        fmt::format("patients {}..{} of run {} were not stored (those before them stay), try "
                    "again when that process has finished",
                    block.first_index, last_index, run_id_));
  } catch (const Error& e) {
    // The transaction guard has rolled the block back by now.
    throw StorageError(
        fmt::format("{} (run {}, patient {}; patients {}..{} of this block were "
                    "not stored)",
                    e.what(), run_id_, index, block.first_index, last_index));
  }
}

}  // namespace vpgen
