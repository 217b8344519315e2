#include "vpgen/storage/integrity.hpp"
#include "vpgen/storage/result_store.hpp"
#include "vpgen/storage/merge.hpp"
#include "vpgen/storage/tables.hpp"

#include "sqlite_internal.hpp"  // storage/src: the store's connection, for injected faults
#include "store_internal.hpp"   // storage/src: the schema of older versions, for migrations

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <grp.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vpgen/population/error.hpp"

using namespace vpgen;

namespace {

// A database file in the temp directory, removed (with its WAL and shared-memory files) before
// and after the test.
class TempDb {
 public:
  explicit TempDb(std::string_view tag)
      : path_((std::filesystem::temp_directory_path() /
               fmt::format("vpgen_storage_test_{}_{}.db", ::getpid(), tag))
                  .string()) {
    remove();
  }
  ~TempDb() { remove(); }
  TempDb(const TempDb&) = delete;
  TempDb& operator=(const TempDb&) = delete;
  const std::string& path() const { return path_; }

 private:
  void remove() const {
    std::error_code ignored;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
      std::filesystem::remove(path_ + suffix, ignored);
  }
  std::string path_;
};

// The store's own SQLite connection (white-box: faults are injected through it).
sqlite3* handle(ResultStore& store) { return sql::Internal::handle(StoreAccess::database(store)); }

void exec_sql(sqlite3* db, const std::string& sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
  const std::string text = message != nullptr ? message : "";
  sqlite3_free(message);
  REQUIRE_MESSAGE(rc == SQLITE_OK, sql, ": ", text);
}

// The first column of the first row, as text ("NULL" for NULL).
std::string query_text(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  REQUIRE_MESSAGE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK, sql, ": ",
                  sqlite3_errmsg(db));
  std::string result = "NULL";
  const int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL)
    result = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  REQUIRE_MESSAGE((rc == SQLITE_ROW || rc == SQLITE_DONE), sql);
  return result;
}

std::int64_t query_int(sqlite3* db, const std::string& sql) {
  return std::stoll(query_text(db, sql));
}

// Every row of a query, one string per row, with doubles printed to round-trip precision.
std::vector<std::string> dump(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  std::vector<std::string> rows;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    std::string row;
    for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
      switch (sqlite3_column_type(stmt, c)) {
        case SQLITE_NULL: row += "NULL"; break;
        case SQLITE_INTEGER: row += std::to_string(sqlite3_column_int64(stmt, c)); break;
        case SQLITE_FLOAT: row += fmt::format("{}", sqlite3_column_double(stmt, c)); break;
        default: row += reinterpret_cast<const char*>(sqlite3_column_text(stmt, c)); break;
      }
      row += '|';
    }
    rows.push_back(std::move(row));
  }
  sqlite3_finalize(stmt);
  return rows;
}

template <typename Exception, typename F>
std::string thrown_message(F&& f) {
  try {
    f();
  } catch (const Exception& e) {
    return e.what();
  }
  FAIL("expected an exception");
  return {};
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// Arm 0: nivolumab alone, one open-ended phase, capped at 24 months, no next line. Arms >= 1:
// nivolumab + ipilimumab induction then nivolumab maintenance, treatment beyond progression, and
// a next line (a cell therapy with two phases and an awkward name that JSON must escape).
ArmSpec make_arm(std::uint32_t a) {
  ArmSpec arm;
  arm.name = fmt::format("arm_{}", a);
  RegimenPhase nivolumab;
  nivolumab.name = "monotherapy";
  nivolumab.agents = "nivolumab 240 mg flat";
  nivolumab.cycle_length_days = 14.0;
  nivolumab.cycles = 0;
  nivolumab.pd1_blockade = 0.9;
  nivolumab.irae_hazard_per_month = 0.035;
  nivolumab.frac_severe_irae = 0.2;
  if (a == 0) {
    arm.regimen.name = "nivolumab";
    arm.regimen.max_duration_months = 24.0;
    arm.regimen.phases = {nivolumab};
    return arm;
  }
  arm.regimen.name = "ipilimumab_nivolumab";
  RegimenPhase induction;
  induction.name = "induction";
  induction.agents = "nivolumab 1 mg/kg + ipilimumab 3 mg/kg";
  induction.cycle_length_days = 21.0;
  induction.cycles = 4;
  induction.pd1_blockade = 0.85;
  induction.ctla4_blockade = 0.7;
  induction.irae_hazard_per_month = 0.12;
  induction.frac_severe_irae = 0.45;
  induction.ae_hazard_per_month = 0.01;
  induction.frac_severe_ae = 0.125;
  nivolumab.name = "maintenance";
  arm.regimen.phases = {induction, nivolumab};
  arm.beyond_progression_probability = 0.35;
  arm.next_line.enabled = true;
  arm.next_line.probability = 0.6;
  arm.next_line.delay_weeks = 4.5;
  arm.next_line.regimen.name = "TIL \"lifileucel\"\tafter lymphodepletion";
  arm.next_line.regimen.regimen_class = RegimenClass::kCellTherapy;
  RegimenPhase lymphodepletion;
  lymphodepletion.name = "lymphodepletion";
  lymphodepletion.agents = "cyclophosphamide 60 mg/kg x2, fludarabine 25 mg/m\u00b2 x5";
  lymphodepletion.cycle_length_days = 7.0;
  lymphodepletion.cycles = 1;
  lymphodepletion.kill_per_month = 0.25;
  lymphodepletion.ae_hazard_per_month = 3.0;
  lymphodepletion.frac_severe_ae = 0.8;
  RegimenPhase infusion;
  infusion.name = "infusion + IL-2";
  infusion.agents = "TIL + aldesleukin 600,000 IU/kg";
  infusion.cycle_length_days = 5.0;
  infusion.cycles = 1;
  infusion.cell_dose = 2.5;
  infusion.ae_hazard_per_month = 6.0;
  infusion.frac_severe_ae = 0.9;
  arm.next_line.regimen.phases = {lymphodepletion, infusion};
  arm.next_line.regimen.max_duration_months = 1.5;
  return arm;
}

RunProvenance make_provenance(std::uint32_t arms, bool store_events = true) {
  RunProvenance p;
  p.scenario_name = "test_scenario";
  p.scenario_text = "[scenario]\nname = \"test_scenario\"\n";
  p.scenario_hash = "0123456789abcdef";
  p.seed = 20261127;
  p.patients = 1000;  // more than any test writes: blocks must lie inside the run's range
  p.vpgen_version = "0.1.0";
  p.git_commit = "abcdef123456";
  p.compiler = "g++ 12.2.0";
  p.boost_version = "1.74.0";
  p.tbb_version = "2021.8.0";
  p.sqlite_version = sqlite3_libversion();
  p.rng_scheme = 1;
  p.threads = 4;
  p.block_size = 5;
  p.store_events = store_events;
  for (std::uint32_t a = 0; a < arms; ++a) p.arms.push_back(make_arm(a));
  return p;
}

bool responded(Response r) { return r == Response::kCR || r == Response::kPR; }

// A patient with every field set, values varying with the index so that over ten patients every
// enumerator occurs, some optional fields are NaN, and survival times repeat (ties to group).
PatientResult make_result(std::uint64_t index, std::uint32_t arms) {
  PatientResult r;
  Patient& p = r.patient;
  const auto i = static_cast<int>(index);
  const double x = static_cast<double>(index);
  p.index = index;
  p.cancer_type = static_cast<CancerType>(index % kCancerTypeCount);
  p.tmb_mut_per_mb = 0.1 + 3.7 * x;
  p.pdl1_tps_percent = 12.5 + x / 7.0;
  p.infiltration = 0.05 + 0.09 * x;
  p.hot = index % 2 == 0;
  p.memory_capacity = 1.0 / (3.0 + x);
  p.tumour_burden_mm = 45.25 + x * 1.1;
  p.metastatic_sites = 1 + i % 4;
  p.age_years = 40.0 + x / 3.0;
  p.sex = index % 3 == 0 ? Sex::kFemale : Sex::kMale;
  p.ecog = i % 3;
  p.ldh_elevated = index % 4 == 1;
  p.line_of_therapy = 1 + i % 3;
  p.prior_anti_pd1 = p.line_of_therapy >= 2 && index % 2 == 1;
  p.candidates_screened = static_cast<std::uint32_t>(1 + index % 5);
  for (std::uint32_t arm = 0; arm < arms; ++arm) {
    Outcome& o = r.outcomes.emplace_back();
    const int k = i + static_cast<int>(arm);
    o.arm_index = arm;
    o.best_response = static_cast<Response>(k % 5);
    const bool resp = responded(o.best_response);
    // Without confirmation some SD and PD patients had a single responding visit.
    const bool sd_or_pd = o.best_response == Response::kSD || o.best_response == Response::kPD;
    o.best_response_unconfirmed = !sd_or_pd || index % 3 == 2 ? o.best_response
                                  : index % 3 == 0            ? Response::kPR
                                                              : Response::kCR;
    o.time_to_response_months = resp ? 2.1 + 0.3 * arm : kNoValue;
    o.duration_of_response_months = resp ? 7.3 * (x + 1.0) : kNoValue;
    o.dor_event = resp && index % 2 == 0;
    o.pfs_months = 3.5 + static_cast<double>(k % 4) * 0.75;  // ties across patients
    o.pfs_event = k % 3 != 0;
    o.os_months = 10.0 + static_cast<double>(k % 3) / 3.0;  // ties across patients
    o.os_event = k % 2 == 0;
    o.worst_irae_grade = (i + 2 * static_cast<int>(arm)) % 6;
    o.irae_onset_months = o.worst_irae_grade > 0 ? 1.5 + 0.1 * x : kNoValue;
    o.stop_reason = static_cast<StopReason>(k % 5);
    o.treatment_months = 1.0 + 0.5 * x;
    o.durable_cr = o.best_response == Response::kCR && index % 2 == 0;
    o.death_cause = o.os_event ? static_cast<DeathCause>(1 + k % 3) : DeathCause::kAlive;
    o.eradicated = o.durable_cr;
    o.best_percent_change = index % 4 == 3 ? kNoValue : -35.5 + x;
    o.eradication_months = o.eradicated ? 20.0 + x / 8.0 : kNoValue;
    o.worst_ae_grade = (i + 3 * static_cast<int>(arm)) % 6;
    o.treatment_holds = k % 3;
    // A RECIST PD that iRECIST reads as a response after pseudo-progression, on even patients.
    o.pseudo_progression = o.best_response == Response::kPD && index % 2 == 0;
    o.best_response_irecist = !o.pseudo_progression ? o.best_response
                              : index % 4 == 0      ? Response::kPR
                                                    : Response::kCR;
    o.beyond_progression = o.pseudo_progression || (index % 5 == 1 && o.pfs_event);
    o.pfs_irecist_months = o.beyond_progression ? o.pfs_months + 2.75 : o.pfs_months;
    o.pfs_irecist_event = o.pseudo_progression ? false : o.pfs_event;
    if (k % 4 == 1) {
      o.next_line_months = o.pfs_months + 1.25;
      o.pfs2_months = o.next_line_months + 4.5 + x / 16.0;
      o.pfs2_event = index % 2 == 0;
    }

    const auto event = [&](double day, EventKind kind, int code, double value) {
      r.events.push_back(CourseEvent{arm, day, kind, code, value});
    };
    event(0.0, EventKind::kTreatmentStart, 0, kNoValue);
    if (o.worst_irae_grade > 0) event(30.5, EventKind::kIrae, o.worst_irae_grade, kNoValue);
    event(56.0, EventKind::kAssessment, static_cast<int>(o.best_response), 40.0 - x);
    if (resp) event(84.0, EventKind::kResponse, static_cast<int>(o.best_response), kNoValue);
    event(120.25, EventKind::kTreatmentStop, static_cast<int>(o.stop_reason), kNoValue);
    if (o.worst_ae_grade > 0) event(35.0, EventKind::kAdverseEvent, o.worst_ae_grade, kNoValue);
    if (o.treatment_holds > 0) {
      event(36.0, EventKind::kTreatmentHold, 0, 50.5);  // value = planned resumption day
      event(50.5, EventKind::kTreatmentResume, 0, kNoValue);
    }
    if (o.pfs_event) event(150.0, EventKind::kProgression, 0, kNoValue);
    if (o.beyond_progression && !o.pseudo_progression)
      event(192.0, EventKind::kConfirmedProgression, 0, kNoValue);
    if (!std::isnan(o.next_line_months))
      event(o.next_line_months * kDaysPerMonth, EventKind::kNextLine, 2, kNoValue);
    if (o.eradicated)
      event(o.eradication_months * kDaysPerMonth, EventKind::kEradication, 0, kNoValue);
    if (o.os_event) event(300.0, EventKind::kDeath, static_cast<int>(o.death_cause), kNoValue);
  }
  return r;
}

Block make_block(std::uint64_t first, std::uint64_t count, std::uint32_t arms) {
  Block block;
  block.first_index = first;
  for (std::uint64_t i = first; i < first + count; ++i)
    block.results.push_back(make_result(i, arms));
  return block;
}

bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

void check_same(const PatientResult& got, const PatientResult& want) {
  const Patient& g = got.patient;
  const Patient& w = want.patient;
  CHECK(g.index == w.index);
  CHECK(g.cancer_type == w.cancer_type);
  CHECK(g.tmb_mut_per_mb == w.tmb_mut_per_mb);
  CHECK(g.pdl1_tps_percent == w.pdl1_tps_percent);
  CHECK(g.infiltration == w.infiltration);
  CHECK(g.hot == w.hot);
  CHECK(g.memory_capacity == w.memory_capacity);
  CHECK(g.tumour_burden_mm == w.tumour_burden_mm);
  CHECK(g.metastatic_sites == w.metastatic_sites);
  CHECK(g.age_years == w.age_years);
  CHECK(g.sex == w.sex);
  CHECK(g.ecog == w.ecog);
  CHECK(g.ldh_elevated == w.ldh_elevated);
  CHECK(g.line_of_therapy == w.line_of_therapy);
  CHECK(g.prior_anti_pd1 == w.prior_anti_pd1);
  CHECK(g.candidates_screened == w.candidates_screened);
  CHECK_FALSE(got.error.has_value());
  REQUIRE(got.outcomes.size() == want.outcomes.size());
  for (std::size_t a = 0; a < want.outcomes.size(); ++a) {
    const Outcome& go = got.outcomes[a];
    const Outcome& wo = want.outcomes[a];
    CAPTURE(a);
    CHECK(go.arm_index == wo.arm_index);
    CHECK(go.best_response == wo.best_response);
    CHECK(go.best_response_unconfirmed == wo.best_response_unconfirmed);
    CHECK(same(go.time_to_response_months, wo.time_to_response_months));
    CHECK(same(go.duration_of_response_months, wo.duration_of_response_months));
    CHECK(go.dor_event == wo.dor_event);
    CHECK(go.pfs_months == wo.pfs_months);
    CHECK(go.pfs_event == wo.pfs_event);
    CHECK(go.os_months == wo.os_months);
    CHECK(go.os_event == wo.os_event);
    CHECK(go.worst_irae_grade == wo.worst_irae_grade);
    CHECK(same(go.irae_onset_months, wo.irae_onset_months));
    CHECK(go.stop_reason == wo.stop_reason);
    CHECK(go.treatment_months == wo.treatment_months);
    CHECK(go.durable_cr == wo.durable_cr);
    CHECK(go.death_cause == wo.death_cause);
    CHECK(go.eradicated == wo.eradicated);
    CHECK(same(go.best_percent_change, wo.best_percent_change));
    CHECK(same(go.eradication_months, wo.eradication_months));
    CHECK(go.worst_ae_grade == wo.worst_ae_grade);
    CHECK(go.treatment_holds == wo.treatment_holds);
    CHECK(go.best_response_irecist == wo.best_response_irecist);
    CHECK(go.pfs_irecist_months == wo.pfs_irecist_months);
    CHECK(go.pfs_irecist_event == wo.pfs_irecist_event);
    CHECK(go.beyond_progression == wo.beyond_progression);
    CHECK(go.pseudo_progression == wo.pseudo_progression);
    CHECK(same(go.next_line_months, wo.next_line_months));
    CHECK(same(go.pfs2_months, wo.pfs2_months));
    CHECK(go.pfs2_event == wo.pfs2_event);
  }
  REQUIRE(got.events.size() == want.events.size());
  for (std::size_t e = 0; e < want.events.size(); ++e) {
    CAPTURE(e);
    CHECK(got.events[e].arm_index == want.events[e].arm_index);
    CHECK(got.events[e].day == want.events[e].day);
    CHECK(got.events[e].kind == want.events[e].kind);
    CHECK(got.events[e].code == want.events[e].code);
    CHECK(same(got.events[e].value, want.events[e].value));
  }
}

std::int64_t count_rows(sqlite3* db, std::string_view table, std::int64_t run_id) {
  return query_int(db, fmt::format("SELECT COUNT(*) FROM {} WHERE run_id = {}", table, run_id));
}

}  // namespace

TEST_CASE("a new database gets the current schema version, the vpgen application id and WAL") {
  TempDb file("new");
  {
    ResultStore store(file.path());
    sqlite3* db = handle(store);
    CHECK(kSchemaVersion == 6);
    CHECK(query_int(db, "PRAGMA user_version") == kSchemaVersion);
    CHECK(query_int(db, "PRAGMA application_id") == 0x7670676E);
    CHECK(query_text(db, "PRAGMA journal_mode") == "wal");
    CHECK(query_int(db, "PRAGMA foreign_keys") == 1);
    CHECK(query_int(db, "PRAGMA synchronous") == 1);  // NORMAL
    CHECK(
        query_int(
            db,
            "SELECT COUNT(*) FROM sqlite_schema WHERE name IN ('runs', 'arms',"
            " 'patients', 'outcomes', 'events', 'arm_summary', 'responder_fractions',"
            " 'survival_input', 'adsl', 'adrs', 'adtte', 'adae', 'subgroup_counts',"
            " 'designs', 'design_points', 'survival_time_counts', 'survival_counts', 'kaplan_meier', 'run_parts', 'run_blocks')") ==
        20);
    const std::int64_t run = store.begin_run(make_provenance(2));
    CHECK(query_int(db, fmt::format("SELECT schema_version FROM runs WHERE run_id = {}", run)) ==
          kSchemaVersion);
  }
  // Reopening an existing vpgen file accepts it and keeps its data.
  ResultStore again(file.path());
  CHECK(again.list_runs().size() == 1);
  CHECK(std::string(schema_sql()).find("CREATE TABLE outcomes") != std::string::npos);
}

TEST_CASE("STRICT tables refuse values of the wrong type") {
  ResultStore store(":memory:");
  const std::int64_t run = store.begin_run(make_provenance(1));
  sqlite3* db = handle(store);
  char* message = nullptr;
  const int rc = sqlite3_exec(
      db,
      fmt::format("INSERT INTO patients VALUES ({}, 0, 'nsclc', 'high', 1, 0.5, 1, 0.5, 40, 1,"
                  " 60, 'F', 0, 0, 1, 0, 1)",
                  run)
          .c_str(),
      nullptr, nullptr, &message);
  sqlite3_free(message);
  CHECK(rc == SQLITE_CONSTRAINT_DATATYPE);  // extended codes are on: SQLITE_OPEN_EXRESCODE
}

TEST_CASE("a stored block reads back exactly, with NaN as NaN") {
  TempDb file("round_trip");
  std::string path = ":memory:";
  SUBCASE("in memory") {}
  SUBCASE("on a file") { path = file.path(); }
  CAPTURE(path);
  constexpr std::uint32_t kArms = 2;
  const Block first = make_block(0, 5, kArms);
  const Block second = make_block(5, 5, kArms);

  // The fixture covers every enumerator, so the CHECK lists of the schema are exercised.
  std::set<int> responses, unconfirmed, irecist, stops, causes, kinds, types, ae_grades;
  std::size_t unconfirmed_differs = 0;
  std::set<bool> pseudo, beyond, next_line, pfs2_events;
  for (const Block* b : {&first, &second})
    for (const PatientResult& r : b->results) {
      types.insert(static_cast<int>(r.patient.cancer_type));
      for (const Outcome& o : r.outcomes) {
        responses.insert(static_cast<int>(o.best_response));
        unconfirmed.insert(static_cast<int>(o.best_response_unconfirmed));
        if (o.best_response_unconfirmed != o.best_response) ++unconfirmed_differs;
        irecist.insert(static_cast<int>(o.best_response_irecist));
        ae_grades.insert(o.worst_ae_grade);
        pseudo.insert(o.pseudo_progression);
        beyond.insert(o.beyond_progression);
        next_line.insert(!std::isnan(o.next_line_months));
        if (!std::isnan(o.next_line_months)) pfs2_events.insert(o.pfs2_event);
        stops.insert(static_cast<int>(o.stop_reason));
        causes.insert(static_cast<int>(o.death_cause));
      }
      for (const CourseEvent& e : r.events) kinds.insert(static_cast<int>(e.kind));
    }
  REQUIRE(responses.size() == kResponseNames.size());
  REQUIRE(unconfirmed.size() == kResponseNames.size());
  REQUIRE(unconfirmed_differs > 0);  // a column swap or copy would not read back exactly
  REQUIRE(stops.size() == kStopReasonNames.size());
  REQUIRE(causes.size() == kDeathCauseNames.size());
  REQUIRE(kinds.size() == kEventKindNames.size());
  REQUIRE(irecist.size() == kResponseNames.size());
  REQUIRE(ae_grades.size() == 6);
  REQUIRE((pseudo.size() == 2 && beyond.size() == 2 && next_line.size() == 2));
  REQUIRE(pfs2_events.size() == 2);
  REQUIRE(types.size() == kCancerTypeCount);

  std::int64_t run = 0;
  {
    ResultStore store(path);
    run = store.begin_run(make_provenance(kArms));
    RunWriter writer(store, run, true);
    writer.write_block(first);
    writer.write_block(second);
    for (const Block* b : {&first, &second})
      for (const PatientResult& want : b->results) {
        CAPTURE(want.patient.index);
        check_same(store.patient(run, want.patient.index).result, want);
      }
    // NaN became NULL, and dor_event is NULL exactly for the non-responders.
    sqlite3* db = handle(store);
    CHECK(query_int(db, "SELECT COUNT(*) FROM outcomes WHERE best_percent_change IS NULL") == 4);
    CHECK(query_int(db,
                    "SELECT COUNT(*) FROM outcomes WHERE (dor_event IS NULL) <>"
                    " (best_response NOT IN ('CR', 'PR'))") == 0);
    CHECK(query_int(db, "SELECT COUNT(*) FROM outcomes WHERE dor_event IS NULL") > 0);
    // The generated labels of events.
    CHECK(query_int(db,
                    "SELECT COUNT(*) FROM events WHERE kind = 'irae'"
                    " AND detail <> 'grade ' || code") == 0);
    CHECK(query_text(db,
                     "SELECT detail FROM events WHERE kind = 'assessment' AND code = 0"
                     " LIMIT 1") == "CR");
    CHECK(query_text(db,
                     "SELECT detail FROM events WHERE kind = 'treatment_stop' AND code = 4"
                     " LIMIT 1") == "end_of_follow_up");
    CHECK(query_text(db,
                     "SELECT detail FROM events WHERE kind = 'death' AND code = 2"
                     " LIMIT 1") == "toxicity");
    CHECK(query_int(db,
                    "SELECT COUNT(*) FROM events WHERE kind IN ('treatment_start',"
                    " 'progression') AND detail IS NOT NULL") == 0);
    // The kinds of schema version 2 and their details.
    CHECK(query_int(db,
                    "SELECT COUNT(*) FROM events WHERE kind = 'adverse_event'"
                    " AND detail = 'grade ' || code") ==
          query_int(db, "SELECT COUNT(*) FROM outcomes WHERE worst_ae_grade > 0"));
    CHECK(query_text(db, "SELECT DISTINCT detail FROM events WHERE kind = 'next_line'") ==
          "line 2");
    CHECK(query_int(db, "SELECT COUNT(*) FROM events WHERE kind = 'next_line'") ==
          query_int(db, "SELECT COUNT(*) FROM outcomes WHERE next_line_months IS NOT NULL"));
    CHECK(query_int(db,
                    "SELECT COUNT(*) FROM events WHERE kind IN ('treatment_hold',"
                    " 'treatment_resume', 'confirmed_progression', 'eradication')"
                    " AND detail IS NOT NULL") == 0);
    CHECK(query_text(db, "SELECT DISTINCT value FROM events WHERE kind = 'treatment_hold'") ==
          "50.5");
    CHECK(query_int(db, "SELECT COUNT(*) FROM events WHERE kind = 'treatment_hold'") ==
          query_int(db, "SELECT COUNT(*) FROM outcomes WHERE treatment_holds > 0"));
    CHECK(query_int(db, "SELECT COUNT(*) FROM events WHERE kind = 'eradication'") ==
          query_int(db, "SELECT COUNT(*) FROM outcomes WHERE eradicated = 1"));
    // NaN of the new optional fields became NULL, exactly where it does not apply.
    CHECK(query_int(db,
                    "SELECT COUNT(*) FROM outcomes WHERE (eradication_months IS NULL)"
                    " <> (eradicated = 0)") == 0);
    CHECK(query_int(db, "SELECT COUNT(*) FROM outcomes WHERE eradication_months IS NULL") > 0);
    CHECK(query_int(db, "SELECT COUNT(*) FROM outcomes WHERE next_line_months IS NULL") > 0);
    CHECK(query_int(db,
                    "SELECT COUNT(*) FROM outcomes WHERE (pfs2_months IS NULL)"
                    " <> (next_line_months IS NULL)") == 0);
    CHECK(query_int(db,
                    "SELECT COUNT(*) FROM outcomes WHERE pseudo_progression = 1"
                    " AND best_response = 'PD' AND best_response_irecist IN ('CR', 'PR')") > 0);
    // seq restarts at 0 for every (patient, arm).
    CHECK(query_int(db, "SELECT COUNT(*) FROM events WHERE seq = 0") == 10 * kArms);
    CHECK(query_text(db, "PRAGMA integrity_check") == "ok");
    CHECK(dump(db, "PRAGMA foreign_key_check").empty());
    CHECK(query_int(db,
                    "SELECT COUNT(*) FROM events AS e WHERE NOT EXISTS (SELECT 1 FROM"
                    " outcomes AS o WHERE o.run_id = e.run_id AND o.patient_index ="
                    " e.patient_index AND o.arm_index = e.arm_index)") == 0);
  }
  if (path != ":memory:") {
    ResultStore reopened(path);
    check_same(reopened.patient(run, 7).result, second.results[2]);
  }
}

TEST_CASE("arm_counts and the arm_summary view agree with counts by hand") {
  constexpr std::uint32_t kArms = 3;
  ResultStore store(":memory:");
  const std::int64_t run = store.begin_run(make_provenance(kArms));
  const Block block = make_block(0, 23, kArms);
  RunWriter(store, run, true).write_block(block);

  struct Hand {
    std::uint64_t n = 0, cr = 0, pr = 0, sd = 0, pd = 0, ne = 0, g3 = 0, durable = 0, deaths = 0;
    std::uint64_t cr_unconfirmed = 0, pr_unconfirmed = 0;
    std::uint64_t cr_irecist = 0, pr_irecist = 0, ae3 = 0, next_line = 0, beyond = 0, pseudo = 0;
    std::uint64_t pseudo_pd = 0, eradicated = 0, holds = 0, holds_squares = 0;
  };
  std::vector<Hand> hand(kArms);
  for (const PatientResult& r : block.results)
    for (const Outcome& o : r.outcomes) {
      Hand& h = hand[o.arm_index];
      ++h.n;
      switch (o.best_response) {
        case Response::kCR: ++h.cr; break;
        case Response::kPR: ++h.pr; break;
        case Response::kSD: ++h.sd; break;
        case Response::kPD: ++h.pd; break;
        case Response::kNE: ++h.ne; break;
      }
      if (o.best_response_unconfirmed == Response::kCR) ++h.cr_unconfirmed;
      if (o.best_response_unconfirmed == Response::kPR) ++h.pr_unconfirmed;
      if (o.worst_irae_grade >= 3) ++h.g3;
      if (o.durable_cr) ++h.durable;
      if (o.os_event) ++h.deaths;
      if (o.best_response_irecist == Response::kCR) ++h.cr_irecist;
      if (o.best_response_irecist == Response::kPR) ++h.pr_irecist;
      if (o.worst_ae_grade >= 3) ++h.ae3;
      if (!std::isnan(o.next_line_months)) ++h.next_line;
      if (o.beyond_progression) ++h.beyond;
      if (o.pseudo_progression) ++h.pseudo;
      if (o.pseudo_progression && o.best_response == Response::kPD) ++h.pseudo_pd;
      if (o.eradicated) ++h.eradicated;
      const auto holds = static_cast<std::uint64_t>(o.treatment_holds);
      h.holds += holds;
      h.holds_squares += holds * holds;
    }

  const std::vector<ArmCounts> counts = store.arm_counts(run);
  REQUIRE(counts.size() == kArms);
  for (std::uint32_t a = 0; a < kArms; ++a) {
    CAPTURE(a);
    const ArmCounts& c = counts[a];
    const Hand& h = hand[a];
    CHECK(c.arm_index == a);
    CHECK(c.arm_name == fmt::format("arm_{}", a));
    CHECK(c.regimen == (a == 0 ? "nivolumab" : "ipilimumab_nivolumab"));
    CHECK(c.n == h.n);
    CHECK(c.cr == h.cr);
    CHECK(c.pr == h.pr);
    CHECK(c.sd == h.sd);
    CHECK(c.pd == h.pd);
    CHECK(c.ne == h.ne);
    CHECK(c.irae_grade3plus == h.g3);
    CHECK(c.durable_cr == h.durable);
    CHECK(c.cr_unconfirmed == h.cr_unconfirmed);
    CHECK(c.pr_unconfirmed == h.pr_unconfirmed);
    CHECK(h.cr_unconfirmed + h.pr_unconfirmed > h.cr + h.pr);  // the fixture tells them apart
    CHECK(c.cr_irecist == h.cr_irecist);
    CHECK(c.pr_irecist == h.pr_irecist);
    CHECK(h.cr_irecist + h.pr_irecist > h.cr + h.pr);  // pseudo-progressions tell them apart
    CHECK(c.ae_grade3plus == h.ae3);
    CHECK(c.next_line == h.next_line);
    CHECK(c.beyond_progression == h.beyond);
    CHECK(c.pseudo_progression == h.pseudo);
    CHECK(c.pseudo_progression_recist_pd == h.pseudo_pd);
    CHECK(c.eradicated == h.eradicated);
    CHECK(c.treatment_holds == h.holds);
    CHECK(c.treatment_holds_squares == h.holds_squares);
    CHECK(h.holds_squares > h.holds);  // some patient has 2 holds: squares are not the counts
  }

  // The view: counts, and rates as fractions (the same IEEE division, so exactly equal).
  sqlite3* db = handle(store);
  const auto rate = [](std::uint64_t k, std::uint64_t n) {
    return fmt::format("{}", static_cast<double>(k) / static_cast<double>(n));
  };
  const std::vector<std::string> rows =
      dump(db, fmt::format("SELECT arm_index, arm, regimen, n, responders, complete_responses,"
                           " partial_responses, stable_disease, progressive_disease, not_evaluable,"
                           " orr, cr_rate, dcr, irae_grade3plus, irae_grade3plus_rate, durable_cr,"
                           " durable_cr_rate, deaths, responders_unconfirmed,"
                           " complete_responses_unconfirmed, partial_responses_unconfirmed,"
                           " orr_unconfirmed FROM arm_summary WHERE run_id = {}"
                           " ORDER BY arm_index",
                           run));
  REQUIRE(rows.size() == kArms);
  for (std::uint32_t a = 0; a < kArms; ++a) {
    const Hand& h = hand[a];
    const std::string want = fmt::format(
        "{}|arm_{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|", a, a,
        a == 0 ? "nivolumab" : "ipilimumab_nivolumab", h.n, h.cr + h.pr, h.cr, h.pr, h.sd, h.pd,
        h.ne, rate(h.cr + h.pr, h.n), rate(h.cr, h.n), rate(h.cr + h.pr + h.sd, h.n), h.g3,
        rate(h.g3, h.n), h.durable, rate(h.durable, h.n), h.deaths,
        h.cr_unconfirmed + h.pr_unconfirmed, h.cr_unconfirmed, h.pr_unconfirmed,
        rate(h.cr_unconfirmed + h.pr_unconfirmed, h.n));
    CHECK(rows[a] == want);
  }

  // The view's columns of schema version 2.
  const auto mean = [](std::uint64_t total, std::uint64_t n) {
    return fmt::format("{}", static_cast<double>(total) / static_cast<double>(n));
  };
  const std::vector<std::string> rows_v2 = dump(
      db, fmt::format("SELECT responders_irecist, complete_responses_irecist,"
                      " partial_responses_irecist, orr_irecist, ae_grade3plus, ae_grade3plus_rate,"
                      " treatment_holds, mean_treatment_holds, beyond_progression,"
                      " pseudo_progressions, pseudo_progressions_recist_pd,"
                      " pseudo_progression_rate_recist_pd, next_line, next_line_rate, eradicated,"
                      " eradication_rate FROM arm_summary WHERE run_id = {} ORDER BY arm_index",
                      run));
  REQUIRE(rows_v2.size() == kArms);
  for (std::uint32_t a = 0; a < kArms; ++a) {
    const Hand& h = hand[a];
    const std::string want = fmt::format(
        "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|", h.cr_irecist + h.pr_irecist,
        h.cr_irecist, h.pr_irecist, rate(h.cr_irecist + h.pr_irecist, h.n), h.ae3, rate(h.ae3, h.n),
        h.holds, mean(h.holds, h.n), h.beyond, h.pseudo, h.pseudo_pd, rate(h.pseudo_pd, h.pd),
        h.next_line, rate(h.next_line, h.n), h.eradicated, rate(h.eradicated, h.n));
    CHECK(rows_v2[a] == want);
  }

  // A run with nothing stored yet: zero counts, and NULL (not 0) rates.
  const std::int64_t empty_run = store.begin_run(make_provenance(2));
  const std::vector<ArmCounts> empty = store.arm_counts(empty_run);
  REQUIRE(empty.size() == 2);
  CHECK(empty[1].n == 0);
  CHECK(empty[1].cr == 0);
  CHECK(query_text(db, fmt::format("SELECT orr FROM arm_summary WHERE run_id = {}", empty_run)) ==
        "NULL");
  CHECK(query_text(db, fmt::format("SELECT orr_unconfirmed FROM arm_summary WHERE run_id = {}",
                                   empty_run)) == "NULL");
  CHECK(dump(db, fmt::format("SELECT orr_irecist, ae_grade3plus_rate, mean_treatment_holds,"
                             " pseudo_progression_rate_recist_pd, next_line_rate, eradication_rate,"
                             " treatment_holds, next_line FROM arm_summary WHERE run_id = {}"
                             " AND arm_index = 0",
                             empty_run)) ==
        std::vector<std::string>{"NULL|NULL|NULL|NULL|NULL|NULL|0|0|"});
  CHECK(empty[0].treatment_holds == 0);
  CHECK(empty[0].treatment_holds_squares == 0);
}

TEST_CASE("survival_times groups equal times in increasing order with events and censorings") {
  constexpr std::uint32_t kArms = 2;
  TempDb file("survival");
  ResultStore store(file.path());
  const std::int64_t run = store.begin_run(make_provenance(kArms));
  const Block block = make_block(0, 17, kArms);
  RunWriter(store, run, false).write_block(block);
  // A second run must not leak into the first.
  const std::int64_t other = store.begin_run(make_provenance(kArms));
  RunWriter(store, other, false).write_block(make_block(0, 4, kArms));

  // (time, event) of one patient for one endpoint, as result_store.hpp defines it.
  const auto observation = [](const Outcome& o, SurvivalEndpoint endpoint) {
    switch (endpoint) {
      case SurvivalEndpoint::kOs: return std::pair{o.os_months, o.os_event};
      case SurvivalEndpoint::kPfs: return std::pair{o.pfs_months, o.pfs_event};
      case SurvivalEndpoint::kPfsIrecist:
        return std::pair{o.pfs_irecist_months, o.pfs_irecist_event};
      case SurvivalEndpoint::kPfs2:
        // A next line: its PFS2; none: the OS observation (death = event, alive = censored).
        return std::isnan(o.next_line_months) ? std::pair{o.os_months, o.os_event}
                                              : std::pair{o.pfs2_months, o.pfs2_event};
    }
    return std::pair{kNoValue, false};
  };
  for (std::uint32_t arm = 0; arm < kArms; ++arm)
    for (const SurvivalEndpoint endpoint :
         {SurvivalEndpoint::kOs, SurvivalEndpoint::kPfs, SurvivalEndpoint::kPfsIrecist,
          SurvivalEndpoint::kPfs2}) {
      CAPTURE(arm);
      CAPTURE(static_cast<int>(endpoint));
      std::map<double, std::pair<std::uint64_t, std::uint64_t>> want;  // time -> (events, censored)
      for (const PatientResult& r : block.results) {
        const auto [time, event] = observation(r.outcomes[arm], endpoint);
        auto& cell = want[time];
        (event ? cell.first : cell.second) += 1;
      }
      std::vector<SurvivalTimeRow> got;
      store.survival_times(run, arm, endpoint,
                           [&](const SurvivalTimeRow& row) { got.push_back(row); });
      REQUIRE(got.size() == want.size());
      REQUIRE(got.size() < block.results.size());  // the fixture has ties, so grouping happened
      std::size_t i = 0;
      for (const auto& [time, cell] : want) {
        CHECK(got[i].time_months == time);
        CHECK(got[i].events == cell.first);
        CHECK(got[i].censored == cell.second);
        ++i;
      }
    }
}

TEST_CASE("a run is incomplete after begin_run and complete or failed after finish_run") {
  TempDb file("lifecycle");
  ResultStore store(file.path());
  CHECK_FALSE(store.latest_run_id().has_value());
  CHECK(store.list_runs().empty());

  const RunProvenance provenance = make_provenance(2);
  const std::int64_t run = store.begin_run(provenance);
  CHECK(store.latest_run_id() == run);
  RunInfo info = store.run_info(run);
  CHECK(info.id == run);
  CHECK(info.status == "incomplete");
  CHECK(info.finished_at.empty());
  CHECK(info.patients_stored == 0);
  // ISO 8601 UTC to the second: 2026-11-27T12:00:00Z.
  REQUIRE(info.started_at.size() == 20);
  CHECK(info.started_at[4] == '-');
  CHECK(info.started_at[10] == 'T');
  CHECK(info.started_at[19] == 'Z');
  const RunProvenance& p = info.provenance;
  CHECK(p.scenario_name == provenance.scenario_name);
  CHECK(p.scenario_text == provenance.scenario_text);
  CHECK(p.scenario_hash == provenance.scenario_hash);
  CHECK(p.seed == provenance.seed);
  CHECK(p.patients == provenance.patients);
  CHECK(p.vpgen_version == provenance.vpgen_version);
  CHECK(p.git_commit == provenance.git_commit);
  CHECK(p.compiler == provenance.compiler);
  CHECK(p.boost_version == provenance.boost_version);
  CHECK(p.tbb_version == provenance.tbb_version);
  CHECK(p.sqlite_version == provenance.sqlite_version);
  CHECK(p.rng_scheme == provenance.rng_scheme);
  CHECK(p.threads == provenance.threads);
  CHECK(p.block_size == provenance.block_size);
  CHECK(p.store_events == provenance.store_events);
  REQUIRE(p.arms.size() == provenance.arms.size());
  for (std::size_t a = 0; a < p.arms.size(); ++a) {
    CHECK(p.arms[a].name == provenance.arms[a].name);
    CHECK(p.arms[a].regimen.name == provenance.arms[a].regimen.name);
  }

  {
    RunWriter writer(store, run, true);
    writer.write_block(make_block(0, 5, 2));
    writer.write_block(make_block(5, 3, 2));
  }
  info = store.run_info(run);
  CHECK(info.status == "incomplete");
  CHECK(info.patients_stored == 8);
  std::uint64_t screened = 0;
  for (std::uint64_t i = 0; i < 8; ++i) screened += make_result(i, 2).patient.candidates_screened;
  CHECK(info.candidates_screened == screened);

  store.finish_run(run, true, 12.5);
  info = store.run_info(run);
  CHECK(info.status == "complete");
  CHECK(info.wall_seconds == 12.5);
  CHECK(info.finished_at.size() == 20);
  CHECK(info.finished_at >= info.started_at);
  // A complete run cannot be written to again.
  CHECK(contains(thrown_message<StorageError>([&] { RunWriter late(store, run, true); }),
                 "already complete"));

  const std::int64_t failed = store.begin_run(make_provenance(1, false));
  CHECK(failed > run);
  store.finish_run(failed, false, 0.25);
  const std::vector<RunInfo> runs = store.list_runs();
  REQUIRE(runs.size() == 2);
  CHECK(runs[0].id == run);
  CHECK(runs[0].provenance.arms.size() == 2);
  CHECK(runs[1].id == failed);
  CHECK(runs[1].status == "failed");
  REQUIRE(runs[1].provenance.arms.size() == 1);
  CHECK(runs[1].provenance.arms[0].name == "arm_0");
  CHECK(runs[1].provenance.arms[0].regimen.phases.size() == 1);
  CHECK_FALSE(runs[1].provenance.store_events);
  CHECK(store.latest_run_id() == failed);

  // The status column refuses anything else.
  char* message = nullptr;
  CHECK(sqlite3_exec(handle(store), "UPDATE runs SET status = 'done'", nullptr, nullptr,
                     &message) == SQLITE_CONSTRAINT_CHECK);
  sqlite3_free(message);
}

TEST_CASE("refuses a vpgen file of a newer schema version and says which") {
  TempDb file("version");
  { ResultStore store(file.path()); }
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(file.path().c_str(), &raw) == SQLITE_OK);
  exec_sql(raw, "PRAGMA user_version = 7");
  sqlite3_close(raw);
  const std::string message = thrown_message<InputError>([&] { ResultStore store(file.path()); });
  CHECK(contains(message, file.path()));
  CHECK(contains(message, "was written by schema version 7; this vpgen reads version 6"));
  CHECK(contains(message, "use a newer vpgen"));
}

// Turns a current file into one as vpgen of schema version `version` (2 to 5) wrote it: the same
// tables without the version-4 ones; version 2 had only the arm_summary view, version 3 all seven
// (their old definitions read outcomes; a stand-in is enough, the migration replaces views).
void make_old_version(const std::string& path, int version) {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
  // Version 6 added run_blocks and runs.content_digest.
  exec_sql(raw, "DROP TABLE run_blocks; ALTER TABLE runs DROP COLUMN content_digest;");
  if (version == 5) {
    exec_sql(raw, "PRAGMA user_version = 5; UPDATE runs SET schema_version = 5;");
    sqlite3_close(raw);
    return;
  }
  // Version 5 added run_parts and six columns of runs.
  exec_sql(raw,
           "DROP TABLE run_parts; ALTER TABLE runs DROP COLUMN first_patient;"
           " ALTER TABLE runs DROP COLUMN end_patient; ALTER TABLE runs DROP COLUMN shard_index;"
           " ALTER TABLE runs DROP COLUMN shard_count; ALTER TABLE runs DROP COLUMN"
           " patients_stored; ALTER TABLE runs DROP COLUMN candidates_screened;");
  if (version == 4) {
    exec_sql(raw, "PRAGMA user_version = 4; UPDATE runs SET schema_version = 4;");
    sqlite3_close(raw);
    return;
  }
  exec_sql(raw,
           "DROP VIEW arm_summary; DROP VIEW responder_fractions; DROP VIEW survival_input;"
           " DROP VIEW adsl; DROP VIEW adrs; DROP VIEW adtte; DROP VIEW adae;"
           " DROP VIEW kaplan_meier; DROP VIEW survival_counts; DROP TABLE subgroup_counts;"
           " DROP TABLE survival_time_counts;"
           " DROP TABLE design_points; DROP TABLE designs;"
           " CREATE VIEW arm_summary AS SELECT run_id, arm_index FROM arms;");
  if (version == 3)
    exec_sql(raw,
             "CREATE VIEW responder_fractions AS SELECT 1; CREATE VIEW survival_input AS"
             " SELECT 1; CREATE VIEW adsl AS SELECT 1; CREATE VIEW adrs AS SELECT 1;"
             " CREATE VIEW adtte AS SELECT 1; CREATE VIEW adae AS SELECT 1;");
  exec_sql(raw, fmt::format("PRAGMA user_version = {0}; UPDATE runs SET schema_version = {0};",
                            version));
  sqlite3_close(raw);
}

TEST_CASE("version-2 to 5 files are migrated in place: derived counts rebuilt, data kept") {
  for (const int version : {2, 3, 4, 5}) {
    CAPTURE(version);
    TempDb file(fmt::format("version{}", version));
    constexpr std::uint32_t kArms = 2;
    std::vector<std::string> counts_before;
    std::vector<std::string> summary_before;
    std::vector<std::string> outcomes_before;
    std::vector<std::string> times_before;
    std::vector<std::string> run_before;
    {
      ResultStore store(file.path());
      const std::int64_t run = store.begin_run(make_provenance(kArms));
      {
        RunWriter writer(store, run, true);
        writer.write_block(make_block(0, 7, kArms));
        writer.write_block(make_block(7, 9, kArms));
      }
      store.finish_run(run, true, 1.0);
      counts_before = dump(handle(store), "SELECT * FROM subgroup_counts");
      summary_before = dump(handle(store), "SELECT * FROM arm_summary");
      outcomes_before = dump(handle(store), "SELECT * FROM outcomes");
      times_before = dump(handle(store), "SELECT * FROM survival_counts");
      run_before = dump(handle(store),
                        "SELECT first_patient, end_patient, shard_index,"
                        " shard_count, patients_stored, candidates_screened"
                        " FROM runs");
    }
    REQUIRE(counts_before.size() > 4);
    make_old_version(file.path(), version);
    ResultStore store(file.path());
    sqlite3* db = handle(store);
    CHECK(query_int(db, "PRAGMA user_version") == kSchemaVersion);
    CHECK(query_int(db, "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'view'") == 9);
    CHECK(query_int(db, "SELECT schema_version FROM runs") ==
          version);  // the version that wrote it
    CHECK(query_text(db, "SELECT status FROM runs") == "complete");
    // Rebuilt from the rows, the counts equal what the writer kept block by block.
    CHECK(dump(db, "SELECT * FROM subgroup_counts") == counts_before);
    CHECK(dump(db, "SELECT * FROM arm_summary") == summary_before);
    CHECK(dump(db, "SELECT * FROM outcomes") == outcomes_before);
    CHECK(dump(db, "SELECT * FROM survival_counts") == times_before);
    // The version-5 columns are filled from the rows as the writer would have kept them.
    CHECK(dump(db,
               "SELECT first_patient, end_patient, shard_index, shard_count,"
               " patients_stored, candidates_screened FROM runs") == run_before);
    CHECK(query_int(db, "SELECT COUNT(*) FROM run_parts") == 0);
    CHECK(query_int(db, "SELECT COUNT(*) FROM kaplan_meier") ==
          static_cast<std::int64_t>(times_before.size()));
    CHECK(store.list_runs().size() == 1);
    // No digest for a run written before version 6, and nothing else to disagree about.
    CHECK(query_int(db, "SELECT COUNT(*) FROM run_blocks") == 0);
    CHECK(query_int(db, "SELECT content_digest IS NULL FROM runs") == 1);
    const IntegrityReport report = check_run_integrity(store, 1);
    CHECK(!report.digest_recorded);
    CHECK(report.patients == 16);
    CHECK(report.findings.empty());
  }
}

// The findings of `report` as one line each: "table|where|what".
std::vector<std::string> lines(const IntegrityReport& report) {
  std::vector<std::string> out;
  for (const IntegrityFinding& f : report.findings)
    out.push_back(fmt::format("{}|{}|{}", f.table, f.where, f.what));
  return out;
}

bool any_line(const IntegrityReport& report, std::string_view part) {
  for (const std::string& line : lines(report))
    if (contains(line, part)) return true;
  return false;
}

TEST_CASE("a run begun before schema 6 and finished after it is checked from its first digest") {
  constexpr std::uint32_t kArms = 2;
  TempDb file("begun5");
  RunProvenance provenance = make_provenance(kArms);
  provenance.patients = 16;
  {
    ResultStore store(file.path());
    const std::int64_t run = store.begin_run(provenance);
    RunWriter(store, run, true).write_block(make_block(0, 7, kArms));
  }
  make_old_version(file.path(), 5);  // the first block was written by a version-5 vpgen
  ResultStore store(file.path());
  {
    RunWriter writer(store, 1, true);  // --resume
    writer.write_block(make_block(7, 9, kArms));
  }
  store.finish_run(1, true, 1.0);
  sqlite3* db = handle(store);
  CHECK(query_int(db, "SELECT COUNT(*) FROM run_blocks") == 1);
  CHECK(query_int(db, "SELECT content_digest IS NULL FROM runs") == 1);  // not the whole run
  const IntegrityReport report = check_run_integrity(store, 1);
  CHECK(report.digest_recorded);
  CHECK(report.patients == 16);
  CHECK_MESSAGE(report.findings.empty(), fmt::format("{}", fmt::join(lines(report), "\n")));
  exec_sql(db, "UPDATE outcomes SET os_months = os_months + 1 WHERE patient_index = 9");
  CHECK(any_line(check_run_integrity(store, 1), "run_blocks|patients 7..15|digest differs"));
}

TEST_CASE("each block's digest covers its rows, and the run's does not depend on the blocks") {
  constexpr std::uint32_t kArms = 2;
  TempDb file("digest");
  ResultStore store(file.path());
  RunProvenance provenance = make_provenance(kArms);
  provenance.patients = 10;  // complete with the 10 written
  const std::int64_t run_a = store.begin_run(provenance);
  const std::int64_t run_b = store.begin_run(provenance);
  RunWriter(store, run_a, true).write_block(make_block(0, 10, kArms));
  {
    RunWriter writer(store, run_b, true);
    writer.write_block(make_block(0, 3, kArms));
    writer.write_block(make_block(3, 3, kArms));
    writer.write_block(make_block(6, 4, kArms));
  }
  store.finish_run(run_a, true, 1.0);
  store.finish_run(run_b, true, 1.0);
  sqlite3* db = handle(store);
  CHECK(query_int(db, "SELECT COUNT(*) FROM run_blocks WHERE run_id = 2") == 3);
  CHECK(query_int(db, "SELECT SUM(row_count) FROM run_blocks WHERE run_id = 2") ==
        count_rows(db, "patients", 2) + count_rows(db, "outcomes", 2) +
            count_rows(db, "events", 2));
  const std::string digest = query_text(db, "SELECT content_digest FROM runs WHERE run_id = 1");
  CHECK(digest.size() == 64);
  CHECK(query_text(db, "SELECT content_digest FROM runs WHERE run_id = 2") == digest);
  for (const std::int64_t run : {run_a, run_b}) {
    const IntegrityReport report = check_run_integrity(store, run);
    CHECK(report.digest_recorded);
    CHECK(report.patients == 10);
    CHECK_MESSAGE(report.findings.empty(), fmt::format("{}", fmt::join(lines(report), "\n")));
  }
  // An edited value: the block that holds it, and the survival counts that read it.
  exec_sql(db,
           "UPDATE outcomes SET os_months = os_months + 0.5 WHERE run_id = 2 AND"
           " patient_index = 4 AND arm_index = 1");
  IntegrityReport edited = check_run_integrity(store, run_b);
  CHECK(any_line(edited, "run_blocks|patients 3..5|digest differs"));
  CHECK(!any_line(edited, "patients 0..2"));
  CHECK(any_line(edited, "survival_time_counts|"));
  // A deleted outcome: its patient is named, the block's row count is short.
  exec_sql(db, "DELETE FROM outcomes WHERE run_id = 2 AND patient_index = 7 AND arm_index = 0");
  const IntegrityReport deleted = check_run_integrity(store, run_b);
  CHECK(any_line(deleted, "outcomes|patient 7|1 outcome rows for 2 arms"));
  CHECK(any_line(deleted, "run_blocks|patients 6..9|row count stored"));
  // A stale derived table alone: run 1 is untouched but for one subgroup count.
  exec_sql(db,
           "UPDATE subgroup_counts SET n = n + 1, stable_disease = stable_disease + 1"
           " WHERE (run_id, arm_index, cancer_type, tmb_band, pdl1_band, hot, memory_band,"
           " line_of_therapy) = (SELECT run_id, arm_index, cancer_type, tmb_band, pdl1_band,"
           " hot, memory_band, line_of_therapy FROM subgroup_counts WHERE run_id = 1 AND"
           " arm_index = 0 ORDER BY 3, 4, 5, 6, 7, 8 LIMIT 1)");
  const IntegrityReport stale = check_run_integrity(store, run_a);
  CHECK(any_line(stale, "subgroup_counts|0, "));
  CHECK(any_line(stale, "n: stored"));
  CHECK(!any_line(stale, "run_blocks"));
  // A deleted block row: the range is in no block, and the run's digest no longer adds up.
  exec_sql(db, "DELETE FROM run_blocks WHERE run_id = 2 AND first_patient = 0");
  const IntegrityReport unsealed = check_run_integrity(store, run_b);
  CHECK(any_line(unsealed, "run_blocks|patients 0..2|in no block"));
  CHECK(any_line(unsealed, "runs|content_digest|stored"));
}

TEST_CASE("subgroup_counts equals counting the stored rows by subgroup, band edges included") {
  constexpr std::uint32_t kArms = 3;
  ResultStore store(":memory:");
  const std::int64_t run = store.begin_run(make_provenance(kArms));
  {
    RunWriter writer(store, run, false);
    writer.write_block(make_block(0, 13, kArms));
    writer.write_block(make_block(13, 20, kArms));
  }
  sqlite3* db = handle(store);
  // Patient 0 has memory capacity exactly 1/3 (make_result): the lower edge of 'middle'.
  CHECK(query_int(db, "SELECT COUNT(*) FROM subgroup_counts WHERE memory_band = 'middle'") > 0);
  CHECK(query_int(db, "SELECT COUNT(DISTINCT tmb_band) FROM subgroup_counts") == 4);
  // The documented bands, counted here independently of the writer.
  const std::vector<std::string> expected = dump(db, R"sql(
    SELECT o.arm_index, p.cancer_type,
           CASE WHEN p.tmb_mut_per_mb >= 20 THEN '>=20' WHEN p.tmb_mut_per_mb >= 10 THEN '10-<20'
                WHEN p.tmb_mut_per_mb >= 5 THEN '5-<10' ELSE '<5' END AS tmb,
           CASE WHEN p.pdl1_tps_percent >= 50 THEN '>=50' WHEN p.pdl1_tps_percent >= 1 THEN '1-49'
                ELSE '<1' END AS pdl1, p.hot,
           CASE WHEN p.memory_capacity >= 2.0 / 3 THEN 'high' WHEN p.memory_capacity >= 1.0 / 3
                THEN 'middle' ELSE 'low' END AS memory, p.line_of_therapy,
           COUNT(*), SUM(o.best_response = 'CR'), SUM(o.best_response = 'NE'),
           SUM(o.durable_cr), SUM(o.worst_irae_grade >= 3), SUM(o.pfs_event),
           SUM(o.next_line_months IS NOT NULL), SUM(o.treatment_holds * o.treatment_holds)
    FROM outcomes AS o JOIN patients AS p USING (run_id, patient_index)
    GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7)sql");
  const std::vector<std::string> stored = dump(db, R"sql(
    SELECT arm_index, cancer_type, tmb_band, pdl1_band, hot, memory_band, line_of_therapy, n,
           complete_responses, not_evaluable, durable_cr, irae_grade3plus, progressions_or_deaths,
           next_line, treatment_holds_squares
    FROM subgroup_counts ORDER BY 1, 2, 3, 4, 5, 6, 7)sql");
  CHECK(expected.size() > 20);
  CHECK(stored == expected);
}

TEST_CASE("refuses a version-1 file, says it is not converted, and leaves it untouched") {
  // A version-1 file as vpgen 0.1 wrote it: its own tables, application id and user_version 1
  // (the outcomes table without the iRECIST, adverse-event, hold and next-line columns).
  TempDb file("version1");
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(file.path().c_str(), &raw) == SQLITE_OK);
  exec_sql(raw, fmt::format("CREATE TABLE runs (run_id INTEGER PRIMARY KEY,"
                            " schema_version INTEGER NOT NULL);"
                            "CREATE TABLE outcomes (run_id INTEGER, patient_index INTEGER,"
                            " arm_index INTEGER, best_response TEXT);"
                            "INSERT INTO runs VALUES (1, 1);"
                            "PRAGMA application_id = {}; PRAGMA user_version = 1;",
                            0x7670676E));
  sqlite3_close(raw);
  const std::string message = thrown_message<InputError>([&] { ResultStore store(file.path()); });
  CHECK(contains(message, file.path()));
  CHECK(contains(message, "was written by schema version 1; this vpgen reads version 6"));
  CHECK(contains(message, "does not convert older files"));
  CHECK(contains(message, "simulate again"));

  REQUIRE(sqlite3_open(file.path().c_str(), &raw) == SQLITE_OK);
  CHECK(query_int(raw, "PRAGMA user_version") == 1);
  CHECK(query_text(raw, "PRAGMA journal_mode") == "delete");  // not switched to WAL
  CHECK(query_int(raw, "SELECT COUNT(*) FROM sqlite_schema") == 2);
  CHECK(query_int(raw, "SELECT COUNT(*) FROM runs") == 1);
  sqlite3_close(raw);
}

TEST_CASE("the arms table records each regimen's class, phases as JSON, and the next line") {
  ResultStore store(":memory:");
  const RunProvenance provenance = make_provenance(2);
  const std::int64_t run = store.begin_run(provenance);
  sqlite3* db = handle(store);
  const std::string where = fmt::format(" FROM arms WHERE run_id = {} AND arm_index = ", run);

  // Arm 0: no next line, so every next-line column is NULL.
  CHECK(dump(db,
             "SELECT regimen, regimen_class, max_duration_months,"
             " beyond_progression_probability, next_line_regimen, next_line_regimen_class,"
             " next_line_phases, next_line_max_duration_months, next_line_probability,"
             " next_line_delay_weeks" +
                 where + "0") ==
        std::vector<std::string>{"nivolumab|immunotherapy|24|0|NULL|NULL|NULL|NULL|NULL|NULL|"});
  // The phases read as people write them, in order, with every field.
  CHECK(query_text(db, "SELECT regimen_phases" + where + "0") ==
        "[{\"name\":\"monotherapy\",\"agents\":\"nivolumab 240 mg flat\","
        "\"cycle_length_days\":14,\"cycles\":0,\"pd1_blockade\":0.9,\"ctla4_blockade\":0,"
        "\"kill_per_month\":0,\"cell_dose\":0,\"irae_hazard_per_month\":0.035,"
        "\"frac_severe_irae\":0.2,\"ae_hazard_per_month\":0,\"frac_severe_ae\":0}]");
  CHECK(dump(db,
             "SELECT p.key, json_extract(p.value, '$.name'), json_extract(p.value, '$.cycles'),"
             " json_extract(p.value, '$.ctla4_blockade') FROM arms AS a,"
             " json_each(a.regimen_phases) AS p WHERE a.arm_index = 1 ORDER BY p.key") ==
        std::vector<std::string>{"0|induction|4|0.7|", "1|maintenance|0|0|"});
  CHECK(dump(db,
             "SELECT next_line_regimen, next_line_regimen_class,"
             " json_array_length(next_line_phases), next_line_max_duration_months,"
             " next_line_probability, next_line_delay_weeks, beyond_progression_probability" +
                 where + "1") ==
        std::vector<std::string>{
            "TIL \"lifileucel\"\tafter lymphodepletion|cell_therapy|2|1.5|0.6|4.5|0.35|"});
  CHECK(query_text(db, "SELECT json_extract(next_line_phases, '$[0].agents')" + where + "1") ==
        "cyclophosphamide 60 mg/kg x2, fludarabine 25 mg/m\u00b2 x5");
  CHECK(query_text(db, "SELECT json_extract(next_line_phases, '$[1].cell_dose')" + where + "1") ==
        "2.5");

  // Read back: every recorded field, phases included, equals what was stored.
  const RunInfo info = store.run_info(run);
  REQUIRE(info.provenance.arms.size() == 2);
  for (std::size_t a = 0; a < 2; ++a) {
    CAPTURE(a);
    const ArmSpec& got = info.provenance.arms[a];
    const ArmSpec& want = provenance.arms[a];
    CHECK(got.name == want.name);
    CHECK(got.beyond_progression_probability == want.beyond_progression_probability);
    CHECK(got.next_line.enabled == want.next_line.enabled);
    CHECK(got.next_line.probability == want.next_line.probability);
    CHECK(got.next_line.delay_weeks == want.next_line.delay_weeks);
    for (const auto& [g, w] : {std::pair{&got.regimen, &want.regimen},
                               std::pair{&got.next_line.regimen, &want.next_line.regimen}}) {
      CHECK(g->name == w->name);
      CHECK(g->regimen_class == w->regimen_class);
      CHECK(g->max_duration_months == w->max_duration_months);
      REQUIRE(g->phases.size() == w->phases.size());
      for (std::size_t i = 0; i < w->phases.size(); ++i) {
        CAPTURE(i);
        const RegimenPhase& gp = g->phases[i];
        const RegimenPhase& wp = w->phases[i];
        CHECK(gp.name == wp.name);
        CHECK(gp.agents == wp.agents);
        CHECK(gp.cycle_length_days == wp.cycle_length_days);
        CHECK(gp.cycles == wp.cycles);
        CHECK(gp.pd1_blockade == wp.pd1_blockade);
        CHECK(gp.ctla4_blockade == wp.ctla4_blockade);
        CHECK(gp.kill_per_month == wp.kill_per_month);
        CHECK(gp.cell_dose == wp.cell_dose);
        CHECK(gp.irae_hazard_per_month == wp.irae_hazard_per_month);
        CHECK(gp.frac_severe_irae == wp.frac_severe_irae);
        CHECK(gp.ae_hazard_per_month == wp.ae_hazard_per_month);
        CHECK(gp.frac_severe_ae == wp.frac_severe_ae);
      }
    }
  }

  // The CHECKs: classes by name, phases as a JSON array, next-line columns all or none.
  for (const char* bad : {"UPDATE arms SET regimen_class = 'radiotherapy'",
                          "UPDATE arms SET regimen_phases = '{\"name\": \"x\"}'",
                          "UPDATE arms SET regimen_phases = '[{'",
                          "UPDATE arms SET beyond_progression_probability = 1.5",
                          "UPDATE arms SET next_line_probability = NULL WHERE arm_index = 1",
                          "UPDATE arms SET next_line_regimen = 'x' WHERE arm_index = 0"}) {
    CAPTURE(bad);
    char* message = nullptr;
    CHECK(sqlite3_exec(db, bad, nullptr, nullptr, &message) == SQLITE_CONSTRAINT_CHECK);
    sqlite3_free(message);
  }
}

TEST_CASE("begin_run refuses a regimen value JSON cannot hold and stores nothing") {
  ResultStore store(":memory:");
  RunProvenance provenance = make_provenance(2);
  provenance.arms[1].next_line.regimen.phases[1].cell_dose = std::nan("");
  CHECK(thrown_message<InputError>([&] { store.begin_run(provenance); }) ==
        "regimen 'TIL \"lifileucel\"\tafter lymphodepletion', phase 'infusion + IL-2': "
        "cell_dose = nan cannot be stored (not finite)");
  CHECK_FALSE(store.latest_run_id().has_value());
}

TEST_CASE("outcomes refuse new fields that contradict each other") {
  ResultStore store(":memory:");
  const std::int64_t run = store.begin_run(make_provenance(2));
  const Block block = make_block(0, 10, 2);
  RunWriter(store, run, true).write_block(block);
  sqlite3* db = handle(store);
  for (const char* bad :
       {"UPDATE outcomes SET eradication_months = NULL WHERE eradicated = 1",
        "UPDATE outcomes SET eradication_months = 3.0 WHERE eradicated = 0",
        "UPDATE outcomes SET pfs2_months = NULL WHERE next_line_months IS NOT NULL",
        "UPDATE outcomes SET pfs2_months = 7.0 WHERE next_line_months IS NULL",
        "UPDATE outcomes SET pfs2_event = 1 WHERE next_line_months IS NULL",
        "UPDATE outcomes SET pseudo_progression = 1 WHERE best_response_irecist = 'PD'",
        "UPDATE outcomes SET best_response_irecist = 'iCR'",
        "UPDATE outcomes SET worst_ae_grade = 6", "UPDATE outcomes SET treatment_holds = -1",
        "UPDATE outcomes SET beyond_progression = 2", "UPDATE outcomes SET pfs_irecist_event = 2",
        "UPDATE events SET kind = 'crossover' WHERE kind = 'next_line'"}) {
    CAPTURE(bad);
    char* message = nullptr;
    CHECK(sqlite3_exec(db, bad, nullptr, nullptr, &message) == SQLITE_CONSTRAINT_CHECK);
    sqlite3_free(message);
  }
  char* message = nullptr;
  CHECK(sqlite3_exec(db, "UPDATE outcomes SET pfs_irecist_months = NULL", nullptr, nullptr,
                     &message) == SQLITE_CONSTRAINT_NOTNULL);
  sqlite3_free(message);
  // The fixture exercised each guarded combination, so the updates above were not vacuous.
  CHECK(query_int(db, "SELECT COUNT(*) FROM outcomes WHERE eradicated = 1") > 0);
  CHECK(query_int(db, "SELECT COUNT(*) FROM outcomes WHERE next_line_months IS NOT NULL") > 0);
  CHECK(query_int(db, "SELECT COUNT(*) FROM outcomes WHERE best_response_irecist = 'PD'") > 0);
  CHECK(query_int(db, "SELECT COUNT(*) FROM events WHERE kind = 'next_line'") > 0);

  // The writer refuses the same contradiction before SQLite sees half a block.
  Block next = make_block(10, 2, 2);
  next.results[1].outcomes[0].eradicated = true;
  next.results[1].outcomes[0].eradication_months = kNoValue;
  const std::string refused =
      thrown_message<StorageError>([&] { RunWriter(store, run, true).write_block(next); });
  CHECK(contains(refused, "CHECK constraint failed"));
  CHECK(contains(refused, "patient 11"));
  CHECK(count_rows(db, "patients", run) == 10);
}

TEST_CASE("event details label the codes of every kind, and only valid codes") {
  CHECK(event_detail(EventKind::kAdverseEvent, 3) == "grade 3");
  CHECK(event_detail(EventKind::kAdverseEvent, 0) == "grade 0");
  CHECK(event_detail(EventKind::kAdverseEvent, 6).empty());
  CHECK(event_detail(EventKind::kIrae, 5) == "grade 5");
  CHECK(event_detail(EventKind::kNextLine, 2) == "line 2");
  CHECK(event_detail(EventKind::kNextLine, 9) == "line 9");
  CHECK(event_detail(EventKind::kNextLine, 1).empty());
  CHECK(event_detail(EventKind::kNextLine, 10).empty());
  CHECK(event_detail(EventKind::kAssessment, 3) == "PD");
  CHECK(event_detail(EventKind::kTreatmentStop, 1) == "toxicity");
  CHECK(event_detail(EventKind::kDeath, 3) == "other");
  CHECK(event_detail(EventKind::kResponse, -1).empty());
  for (const EventKind kind :
       {EventKind::kTreatmentStart, EventKind::kProgression, EventKind::kTreatmentHold,
        EventKind::kTreatmentResume, EventKind::kConfirmedProgression, EventKind::kEradication})
    CHECK(event_detail(kind, 0).empty());
}

TEST_CASE("refuses a SQLite file that is not a vpgen database and leaves it untouched") {
  TempDb file("foreign");
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(file.path().c_str(), &raw) == SQLITE_OK);
  // Even with user_version 1 and a table named like ours, it is not ours.
  exec_sql(raw, "CREATE TABLE runs (x INTEGER); PRAGMA user_version = 1");
  sqlite3_close(raw);

  const std::string message = thrown_message<InputError>([&] { ResultStore store(file.path()); });
  CHECK(contains(message, "is not a vpgen results database"));
  CHECK(contains(message, "application_id 0x0"));

  REQUIRE(sqlite3_open(file.path().c_str(), &raw) == SQLITE_OK);
  CHECK(query_text(raw, "PRAGMA journal_mode") == "delete");
  CHECK(query_int(raw, "SELECT COUNT(*) FROM sqlite_schema") == 1);
  sqlite3_close(raw);
}

TEST_CASE("refuses a vpgen-marked file whose tables are missing") {
  TempDb file("damaged");
  { ResultStore store(file.path()); }
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(file.path().c_str(), &raw) == SQLITE_OK);
  exec_sql(raw, "DROP TABLE events");
  sqlite3_close(raw);
  const std::string message = thrown_message<InputError>([&] { ResultStore store(file.path()); });
  CHECK(contains(message, "has no table 'events'"));
}

TEST_CASE("refuses a file that is not SQLite at all and names the SQLite code") {
  TempDb file("text");
  std::ofstream(file.path()) << "patient,arm,response\n0,0,CR\n1,0,PD\n"
                                "this is a CSV file and not a database at all\n";
  const std::string message = thrown_message<InputError>([&] { ResultStore store(file.path()); });
  CHECK(contains(message, "sqlite error 26 (file is not a database)"));
  CHECK(contains(message, file.path()));
  CHECK(contains(thrown_message<InputError>([] { ResultStore store("/nonexistent/dir/x.db"); }),
                 "/nonexistent/dir/x.db: no such folder /nonexistent/dir"));
}

TEST_CASE("a failure injected mid-block rolls back the whole block and names the SQLite code") {
  constexpr std::uint32_t kArms = 2;
  TempDb file("inject");
  std::string path = ":memory:";
  std::string table = "outcomes";
  SUBCASE("in memory, failing in outcomes") {}
  SUBCASE("on a file, failing in outcomes") { path = file.path(); }
  SUBCASE("on a file, failing in events") {
    path = file.path();
    table = "events";
  }
  CAPTURE(path);
  CAPTURE(table);
  ResultStore store(path);
  sqlite3* db = handle(store);
  const std::int64_t run = store.begin_run(make_provenance(kArms));
  RunWriter writer(store, run, true);
  const Block first = make_block(0, 5, kArms);
  const Block second = make_block(5, 5, kArms);
  writer.write_block(first);
  std::int64_t first_events = 0;
  for (const PatientResult& r : first.results)
    first_events += static_cast<std::int64_t>(r.events.size());

  // Patient 7 (the third of the second block), arm 1: rows of patients 5, 6 and of patient 7's
  // arm 0 are already inserted when it fires, and must be rolled back too.
  exec_sql(db, fmt::format("CREATE TRIGGER inject BEFORE INSERT ON {} WHEN NEW.patient_index = 7"
                           " AND NEW.arm_index = 1 BEGIN SELECT RAISE(ABORT, 'injected failure');"
                           " END",
                           table));
  const std::string message = thrown_message<StorageError>([&] { writer.write_block(second); });
  CHECK(contains(message, fmt::format("sqlite error 19 (constraint failed) inserting {}", table)));
  CHECK(contains(message, "injected failure"));
  CHECK(contains(message, "patient 7"));
  CHECK(sqlite3_get_autocommit(db) != 0);  // no transaction left open
  CHECK(count_rows(db, "patients", run) == 5);
  CHECK(count_rows(db, "outcomes", run) == 5 * kArms);
  CHECK(count_rows(db, "events", run) == first_events);
  CHECK(query_int(db, "SELECT MAX(patient_index) FROM patients") == 4);

  // The writer is usable after the failure: the same block goes in once the cause is gone.
  exec_sql(db, "DROP TRIGGER inject");
  writer.write_block(second);
  CHECK(count_rows(db, "patients", run) == 10);
  check_same(store.patient(run, 7).result, second.results[2]);
}

// ---------------------------------------------------------------------------------------------
// Faults at every statement (SQLite's own approach: sql::fault in sqlite_internal.hpp) and locks

// What a run holds whatever happened to it: its stored counters equal its rows, its patients are
// first_patient .. first_patient + patients_stored - 1, each with every arm's outcome, and the
// derived counts count exactly those outcomes.
void check_counters_match_rows(sqlite3* db, std::int64_t run, std::uint32_t arms) {
  const std::int64_t stored =
      query_int(db, fmt::format("SELECT patients_stored FROM runs WHERE run_id = {}", run));
  CHECK(count_rows(db, "patients", run) == stored);
  CHECK(count_rows(db, "outcomes", run) == stored * arms);
  CHECK(query_int(db, fmt::format("SELECT candidates_screened = (SELECT COALESCE(SUM("
                                  "candidates_screened), 0) FROM patients WHERE run_id = {0})"
                                  " FROM runs WHERE run_id = {0}",
                                  run)) == 1);
  CHECK(query_int(db, fmt::format("SELECT COALESCE(MAX(patient_index) + 1, 0) FROM patients"
                                  " WHERE run_id = {}",
                                  run)) == stored);
  CHECK(query_int(db, fmt::format("SELECT COALESCE(SUM(n), 0) FROM subgroup_counts WHERE"
                                  " run_id = {}",
                                  run)) == stored * arms);
  CHECK(query_int(db, fmt::format("SELECT COALESCE(SUM(os_events + os_censored), 0) FROM"
                                  " survival_time_counts WHERE run_id = {}",
                                  run)) == stored * arms);
}

// A run written as `vpgen simulate` writes one (run::simulate_run and fill_run): begin_run, the
// blocks, finish_run; on an error the run is marked failed if that still works, and the error is
// the caller's. Returns the run id (0 if begin_run failed) and whether an error was thrown.
struct WrittenRun {
  std::int64_t id = 0;
  bool threw = false;
};

WrittenRun write_run(ResultStore& store, const RunProvenance& provenance,
                     const std::vector<Block>& blocks) {
  WrittenRun run;
  try {
    run.id = store.begin_run(provenance);
    RunWriter writer(store, run.id, provenance.store_events);
    for (const Block& block : blocks) writer.write_block(block);
    store.finish_run(run.id, true, 1.0);
  } catch (const StorageError&) {
    run.threw = true;
    if (run.id != 0) {
      try {
        store.finish_run(run.id, false, 1.0);
      } catch (const StorageError&) {
        // The run stays incomplete, as fill_run leaves it.
      }
    }
  }
  return run;
}

TEST_CASE(
    "an error injected at any statement of a run's writes leaves earlier runs intact, never a "
    "complete run with missing rows, and a run that resumes to the uninterrupted content") {
  constexpr std::uint32_t kArms = 2;
  constexpr std::uint64_t kPatients = 5;
  RunProvenance provenance = make_provenance(kArms);
  provenance.patients = kPatients;
  const std::vector<Block> blocks = {make_block(0, 2, kArms), make_block(2, 2, kArms),
                                     make_block(4, 1, kArms)};
  TempDb base("fault_base");
  TempDb file("fault");
  std::int64_t earlier = 0;
  std::uint64_t earlier_digest = 0;
  std::uint64_t want_digest = 0;  // of the run written without a fault
  {
    ResultStore store(base.path());
    earlier = write_run(store, make_provenance(kArms), {make_block(0, 3, kArms)}).id;
    earlier_digest = store.run_digest(earlier);
  }  // closed: the WAL is checkpointed into the file, which each iteration copies
  const auto fresh_copy = [&] {
    for (const char* suffix : {"-wal", "-shm"}) std::filesystem::remove(file.path() + suffix);
    std::filesystem::copy_file(base.path(), file.path(),
                               std::filesystem::copy_options::overwrite_existing);
  };

  // How many statements the writes make: counted, not assumed (the block write may grow).
  std::int64_t statements = 0;
  {
    fresh_copy();
    ResultStore store(file.path());
    sql::fault::arm(std::numeric_limits<std::int64_t>::max(), SQLITE_IOERR);
    const WrittenRun clean = write_run(store, provenance, blocks);
    statements = sql::fault::disarm();
    REQUIRE_FALSE(clean.threw);
    want_digest = store.run_digest(clean.id);
    CHECK(store.run_info(clean.id).status == "complete");
  }
  REQUIRE(statements > 20);
  MESSAGE("statements of begin_run, 3 blocks and finish_run: ", statements);

  // One-shot SQLITE_FULL (space freed at once: the run is marked failed) and a persistent
  // SQLITE_IOERR (the disk stays broken: the run stays incomplete).
  for (const bool persistent : {false, true}) {
    for (std::int64_t k = 1; k <= statements; ++k) {
      CAPTURE(persistent);
      CAPTURE(k);
      fresh_copy();
      ResultStore store(file.path());
      // No fsync (the injected faults do not reach SQLite's I/O): hundreds of iterations in seconds.
      exec_sql(handle(store), "PRAGMA synchronous = OFF");
      sql::fault::arm(k, persistent ? SQLITE_IOERR : SQLITE_FULL, persistent);
      const WrittenRun faulty = write_run(store, provenance, blocks);
      sql::fault::disarm();
      REQUIRE(faulty.threw);
      sqlite3* db = handle(store);
      CHECK(sqlite3_get_autocommit(db) != 0);  // no transaction left open
      CHECK(store.run_digest(earlier) == earlier_digest);
      CHECK(store.run_info(earlier).status == "complete");
      if (faulty.id == 0) {
        // begin_run wrote nothing.
        CHECK(query_int(db, "SELECT COUNT(*) FROM runs") == 1);
        CHECK(query_int(db, fmt::format("SELECT COUNT(*) FROM arms WHERE run_id <> {}", earlier)) ==
              0);
        const WrittenRun again = write_run(store, provenance, blocks);
        REQUIRE_FALSE(again.threw);
        CHECK(store.run_digest(again.id) == want_digest);
        continue;
      }
      const RunInfo info = store.run_info(faulty.id);
      CHECK(info.status == (persistent ? "incomplete" : "failed"));
      check_counters_match_rows(db, faulty.id, kArms);
      // Resumed as `vpgen simulate --resume` does: from the first patient not stored.
      store.reopen_run(faulty.id);
      CHECK(store.run_info(faulty.id).status == "incomplete");
      const std::uint64_t first = info.patients_stored;
      {
        RunWriter writer(store, faulty.id, true);
        if (first < kPatients) writer.write_block(make_block(first, kPatients - first, kArms));
      }
      store.finish_run(faulty.id, true, 1.0);
      CHECK(store.run_info(faulty.id).status == "complete");
      check_counters_match_rows(db, faulty.id, kArms);
      CHECK(store.run_digest(faulty.id) == want_digest);
    }
  }
}

TEST_CASE(
    "a writer that gives up on a locked file says FILE is busy and that nothing was written") {
  constexpr std::uint32_t kArms = 2;
  TempDb file("busy");
  ResultStore store(file.path());
  const std::string busy = fmt::format(
      "{} is busy: another process kept it locked for 5 s while vpgen was ", file.path());
  const std::string nothing =
      " (another vpgen writing to it?); nothing was written, try again when that process has "
      "finished";
  // A message is the promised line, whichever statement met the lock.
  const auto check_busy_line = [&](const std::string& message, const std::string& ending) {
    CAPTURE(message);
    CHECK(message.rfind(busy, 0) == 0);
    CHECK(message.size() >= ending.size());
    CHECK(message.compare(message.size() - ending.size(), ending.size(), ending) == 0);
    CHECK(message.find('\n') == std::string::npos);
  };
  // Every statement of `write`, made to meet a lock in turn (SQLITE_BUSY, as after the 5 s wait).
  // The statements are counted on `twin`, the same write on a twin of what `write` writes to (a
  // write that succeeds changes what the next one does).
  const auto each_statement = [&](const auto& twin, const auto& write, const std::string& ending,
                                  const auto& check) {
    sql::fault::arm(std::numeric_limits<std::int64_t>::max(), SQLITE_BUSY);
    twin();
    const std::int64_t statements = sql::fault::disarm();
    REQUIRE(statements > 0);
    for (std::int64_t k = 1; k <= statements; ++k) {
      CAPTURE(k);
      sql::fault::arm(k, SQLITE_BUSY);
      std::string message;
      try {
        write();
      } catch (const sql::BusyError& e) {
        message = e.what();
      } catch (const std::exception& e) {
        FAIL("not a BusyError: ", e.what());
      }
      sql::fault::disarm();
      check_busy_line(message, ending);
      check();
    }
  };

  // begin_run: no run.
  const std::int64_t runs_before = query_int(handle(store), "SELECT COUNT(*) FROM runs");
  std::int64_t run = 0;
  const auto begin = [&] { run = store.begin_run(make_provenance(kArms)); };
  each_statement(begin, begin, nothing, [&] {
    CHECK(query_int(handle(store), "SELECT COUNT(*) FROM runs") == runs_before + 1);
  });  // the counting pass's run only
  REQUIRE(run != 0);

  // A block: none of its patients, those before it kept.
  const std::int64_t twin_run = store.begin_run(make_provenance(kArms));
  RunWriter twin_writer(store, twin_run, true);
  twin_writer.write_block(make_block(0, 5, kArms));
  RunWriter writer(store, run, true);
  writer.write_block(make_block(0, 5, kArms));
  each_statement(
      [&] { twin_writer.write_block(make_block(5, 5, kArms)); },
      [&] { writer.write_block(make_block(5, 5, kArms)); },
      fmt::format("; patients 5..9 of run {} were not stored (those before them stay), try again "
                  "when that process has finished",
                  run),
      [&] { CHECK(count_rows(handle(store), "patients", run) == 5); });

  // finish_run: the status stays.
  const auto finish = [&] { store.finish_run(run, false, 1.0); };
  each_statement(finish, finish, nothing, [&] {});
  exec_sql(handle(store),
           fmt::format("UPDATE runs SET status = 'incomplete' WHERE run_id = {}", run));
  sql::fault::arm(1, SQLITE_BUSY, true);
  CHECK_THROWS_AS(store.finish_run(run, true, 1.0), sql::BusyError);
  sql::fault::disarm();
  CHECK(store.run_info(run).status == "incomplete");

  // record_design: no design.
  DesignRecord design;
  design.name = "busy";
  design.design_text = "[design]\n";
  design.design_hash = "abc";
  design.mode = "calculator";
  design.endpoint = "orr";
  design.analysis = "simon";
  design.result_json = "{}";
  DesignPointRecord point;
  point.n_total = 29;
  std::size_t designs = 0;
  const auto record = [&] { store.record_design(design, {point}); };
  each_statement(record, record, nothing, [&] {
    CHECK(store.design_ids().size() == designs + 1);  // the counting pass's design only
  });
  designs = store.design_ids().size();
  CHECK(designs == 1);
}

TEST_CASE("a real lock held beyond the busy timeout gives the busy line, not a SQLite code" *
          doctest::test_suite("unit slow")) {
  TempDb file("real_lock");
  ResultStore store(file.path());
  sql::Database other(file.path(), sql::OpenMode::kReadWrite);
  other.execute("BEGIN IMMEDIATE");
  const std::string message =
      thrown_message<StorageError>([&] { store.begin_run(make_provenance(1)); });
  other.execute("ROLLBACK");
  CHECK(message == fmt::format("{} is busy: another process kept it locked for 5 s while vpgen was "
                               "starting a run (another vpgen writing to it?); nothing was "
                               "written, try again when that process has finished",
                               file.path()));
  CHECK_FALSE(store.latest_run_id().has_value());
}

TEST_CASE(
    "a version-4 file that already has run_parts or a version-5 column migrates; one of "
    "another shape is refused and left as it was") {
  TempDb file("v4_run_parts");
  {
    ResultStore store(file.path());
    const std::int64_t run = store.begin_run(make_provenance(2));
    RunWriter(store, run, true).write_block(make_block(0, 4, 2));
    store.finish_run(run, true, 1.0);
  }
  make_old_version(file.path(), 4);
  std::string extra_sql;
  bool migrates = true;
  std::string refusal;
  SUBCASE("run_parts as version 5 defines it (a migration re-run by hand)") {
    extra_sql = std::string(tables_v5_sql());
  }
  SUBCASE("run_parts written differently (spacing, case), the same shape") {
    extra_sql =
        "create table run_parts(run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE "
        "CASCADE, part_index INTEGER NOT NULL CHECK(part_index>=0), shard_index INTEGER NOT NULL,"
        " shard_count INTEGER NOT NULL, first_patient INTEGER NOT NULL, end_patient INTEGER NOT"
        " NULL, source TEXT NOT NULL, source_run_id INTEGER NOT NULL, threads INTEGER NOT NULL,"
        " block_size INTEGER NOT NULL, started_at TEXT NOT NULL, finished_at TEXT, wall_seconds"
        " REAL, PRIMARY KEY(run_id, part_index)) STRICT, WITHOUT ROWID;";
  }
  SUBCASE("run_parts and two of the version-5 columns of runs") {
    extra_sql = std::string(tables_v5_sql()) + add_runs_column_sql(kRunsV5Columns[0]) +
                add_runs_column_sql(kRunsV5Columns[4]);
  }
  SUBCASE("a run_parts of another shape") {
    extra_sql = "CREATE TABLE run_parts (run_id INTEGER, note TEXT);";
    migrates = false;
    refusal = "table run_parts exists but not as version 5 defines it";
  }
  SUBCASE("a version-5 column of another type") {
    extra_sql = "ALTER TABLE runs ADD COLUMN shard_count TEXT;";
    migrates = false;
    refusal = "column runs.shard_count exists as TEXT";
  }
  SUBCASE("a view where version 5 has the table run_parts") {
    extra_sql = "CREATE VIEW run_parts AS SELECT 1;";
    migrates = false;
    refusal = "it has a view named run_parts where version 5 has a table";
  }
  {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(file.path().c_str(), &raw) == SQLITE_OK);
    exec_sql(raw, extra_sql);
    sqlite3_close(raw);
  }
  const std::string before = [&] {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(file.path().c_str(), &raw) == SQLITE_OK);
    std::string text;
    for (const std::string& row : dump(raw, "SELECT type, name, sql FROM sqlite_schema"))
      text += row + "\n";
    text += query_text(raw, "PRAGMA user_version");
    sqlite3_close(raw);
    return text;
  }();
  if (migrates) {
    ResultStore store(file.path());
    sqlite3* db = handle(store);
    CHECK(query_int(db, "PRAGMA user_version") == kSchemaVersion);
    CHECK(store.list_runs().size() == 1);
    CHECK(store.run_info(1).patients_stored == 4);
    CHECK(store.run_info(1).provenance.shard_count == 1);
    CHECK(query_int(db, "SELECT COUNT(*) FROM run_parts") == 0);
    return;
  }
  const std::string message = thrown_message<StorageError>([&] { ResultStore store(file.path()); });
  CHECK(contains(message, file.path()));
  CHECK(contains(message, "cannot migrate to schema version 5"));
  CHECK(contains(message, refusal));
  CHECK(contains(message, "the file is unchanged"));
  CHECK(message.find('\n') == std::string::npos);
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(file.path().c_str(), &raw) == SQLITE_OK);
  std::string after;
  for (const std::string& row : dump(raw, "SELECT type, name, sql FROM sqlite_schema"))
    after += row + "\n";
  after += query_text(raw, "PRAGMA user_version");
  sqlite3_close(raw);
  CHECK(after == before);
}

TEST_CASE("store_events = false writes outcomes but no events") {
  ResultStore store(":memory:");
  const std::int64_t run = store.begin_run(make_provenance(2, false));
  const Block block = make_block(0, 6, 2);
  RunWriter(store, run, false).write_block(block);
  sqlite3* db = handle(store);
  CHECK(count_rows(db, "patients", run) == 6);
  CHECK(count_rows(db, "outcomes", run) == 12);
  CHECK(count_rows(db, "events", run) == 0);
  PatientResult want = block.results[3];
  want.events.clear();
  check_same(store.patient(run, 3).result, want);
}

TEST_CASE("two stores on one file: one reads while the other writes a block (WAL)") {
  constexpr std::uint32_t kArms = 2;
  TempDb file("concurrent");
  ResultStore writer_store(file.path());
  ResultStore reader_store(file.path());
  const std::int64_t run = writer_store.begin_run(make_provenance(kArms));
  RunWriter writer(writer_store, run, true);
  writer.write_block(make_block(0, 4, kArms));

  // The reader is in the middle of a query (its read transaction is open) while the writer
  // commits the next block; with a rollback journal the writer would time out with SQLITE_BUSY.
  std::uint64_t seen = 0;
  bool wrote = false;
  reader_store.survival_times(run, 0, SurvivalEndpoint::kOs, [&](const SurvivalTimeRow& row) {
    seen += row.events + row.censored;
    if (!wrote) {
      writer.write_block(make_block(4, 4, kArms));
      wrote = true;
    }
  });
  CHECK(wrote);
  CHECK(seen == 4);  // the reader's snapshot predates the second block
  CHECK(reader_store.run_info(run).patients_stored == 8);
  CHECK(reader_store.arm_counts(run)[1].n == 8);
  check_same(reader_store.patient(run, 6).result, make_result(6, kArms));
}

TEST_CASE("begin_run refuses a seed above 2^63-1 and stores 2^63-1 as is") {
  ResultStore store(":memory:");
  RunProvenance provenance = make_provenance(1);
  provenance.seed = std::uint64_t{1} << 63U;
  CHECK(contains(thrown_message<InputError>([&] { store.begin_run(provenance); }),
                 "seed 9223372036854775808 exceeds 9223372036854775807"));
  CHECK_FALSE(store.latest_run_id().has_value());
  provenance.seed = (std::uint64_t{1} << 63U) - 1;
  const std::int64_t run = store.begin_run(provenance);
  CHECK(store.run_info(run).provenance.seed == provenance.seed);
  CHECK(query_text(handle(store), "SELECT seed FROM runs") == "9223372036854775807");

  provenance.arms.clear();
  CHECK(thrown_message<InputError>([&] { store.begin_run(provenance); }) ==
        "a run needs at least one arm");
}

TEST_CASE("lookups of what is not stored throw InputError naming it") {
  ResultStore store(":memory:");
  const std::int64_t run = store.begin_run(make_provenance(1));
  RunWriter(store, run, true).write_block(make_block(0, 2, 1));
  CHECK(thrown_message<InputError>([&] { store.run_info(99); }) == "no run 99 in :memory:");
  CHECK(thrown_message<InputError>([&] { store.patient(run, 2); }) ==
        fmt::format("no patient 2 in run {} of :memory:", run));
  CHECK_THROWS_AS(store.patient(99, 0), InputError);
  CHECK_THROWS_AS(store.arm_counts(99), InputError);
  CHECK_THROWS_AS(store.survival_times(99, 0, SurvivalEndpoint::kOs, [](const SurvivalTimeRow&) {}),
                  InputError);
  CHECK_THROWS_AS(store.finish_run(99, true, 1.0), InputError);
  CHECK_THROWS_AS(RunWriter(store, 99, true), InputError);
}

TEST_CASE("the writer refuses blocks that break the sink contract and stores none of them") {
  constexpr std::uint32_t kArms = 2;
  ResultStore store(":memory:");
  const std::int64_t run = store.begin_run(make_provenance(kArms));
  RunWriter writer(store, run, true);
  writer.write_block(make_block(0, 3, kArms));
  Block block = make_block(3, 3, kArms);
  std::string expected;
  SUBCASE("a patient index that does not match its position") {
    block.results[1].patient.index = 9;
    expected = "carries index 9";
  }
  SUBCASE("a missing arm") {
    block.results[2].outcomes.pop_back();
    expected = "has 1 outcomes but the run has 2 arms";
  }
  SUBCASE("outcomes out of arm order") {
    std::swap(block.results[2].outcomes[0], block.results[2].outcomes[1]);
    expected = "outcomes must be in arm order";
  }
  SUBCASE("events out of arm order") {
    std::swap(block.results[1].events.front(), block.results[1].events.back());
    expected = "events must be in arm order";
  }
  SUBCASE("an event code outside its kind's range") {
    block.results[1].events[0] = CourseEvent{0, 10.0, EventKind::kIrae, 6, kNoValue};
    expected = "irae event of arm 0 has invalid code 6";
  }
  SUBCASE("a next line numbered below line 2") {
    block.results[1].events[0] = CourseEvent{1, 10.0, EventKind::kNextLine, 1, kNoValue};
    block.results[1].events.erase(block.results[1].events.begin() + 1,
                                  block.results[1].events.end());
    expected = "next_line event of arm 1 has invalid code 1";
  }
  SUBCASE("an adverse event of grade 6") {
    block.results[1].events[0] = CourseEvent{0, 10.0, EventKind::kAdverseEvent, 6, kNoValue};
    expected = "adverse_event event of arm 0 has invalid code 6";
  }
  SUBCASE("an invalid iRECIST response") {
    block.results[2].outcomes[0].best_response_irecist = static_cast<Response>(5);
    expected = "invalid iRECIST response value 5";
  }
  SUBCASE("an invalid enum value") {
    block.results[2].outcomes[1].stop_reason = static_cast<StopReason>(17);
    expected = "invalid stop reason value 17";
  }
  SUBCASE("a NaN in a required field") {
    block.results[2].outcomes[0].os_months = kNoValue;
    expected = "NOT NULL constraint failed: outcomes.os_months";
  }
  SUBCASE("a simulation error") {
    block.results[1].error = "boom";
    expected = "the simulation failed (boom)";
  }
  const std::string message = thrown_message<StorageError>([&] { writer.write_block(block); });
  CHECK(contains(message, expected));
  CHECK(contains(message, "patients 3..5 of this block were not stored"));
  CHECK(count_rows(handle(store), "patients", run) == 3);
  CHECK(count_rows(handle(store), "outcomes", run) == 3 * kArms);
}

TEST_CASE("stored rows do not depend on how the cohort was cut into blocks") {
  constexpr std::uint32_t kArms = 2;
  ResultStore one_block(":memory:");
  ResultStore three_blocks(":memory:");
  const std::int64_t run_a = one_block.begin_run(make_provenance(kArms));
  const std::int64_t run_b = three_blocks.begin_run(make_provenance(kArms));
  RunWriter(one_block, run_a, true).write_block(make_block(0, 10, kArms));
  {
    RunWriter writer(three_blocks, run_b, true);
    writer.write_block(make_block(0, 3, kArms));
    writer.write_block(make_block(3, 3, kArms));
    writer.write_block(make_block(6, 4, kArms));
  }
  for (const char* table : {"arms", "patients", "outcomes", "events", "subgroup_counts"}) {
    CAPTURE(table);
    const std::string sql = fmt::format("SELECT * FROM {}", table);
    const std::vector<std::string> a = dump(handle(one_block), sql);
    CHECK(a.size() > 0);
    CHECK(a == dump(handle(three_blocks), sql));
  }
}

TEST_CASE("deleting a run removes all of its rows and nothing else") {
  constexpr std::uint32_t kArms = 2;
  ResultStore store(":memory:");
  const std::int64_t keep = store.begin_run(make_provenance(kArms));
  const std::int64_t drop = store.begin_run(make_provenance(kArms));
  RunWriter(store, keep, true).write_block(make_block(0, 4, kArms));
  RunWriter(store, drop, true).write_block(make_block(0, 4, kArms));
  sqlite3* db = handle(store);
  const std::int64_t kept_events = count_rows(db, "events", keep);
  exec_sql(db, fmt::format("DELETE FROM runs WHERE run_id = {}", drop));
  for (const char* table : {"arms", "patients", "outcomes", "events", "subgroup_counts"}) {
    CAPTURE(table);
    CHECK(count_rows(db, table, drop) == 0);
  }
  CHECK(count_rows(db, "patients", keep) == 4);
  CHECK(count_rows(db, "events", keep) == kept_events);
}

TEST_CASE("best_response_unconfirmed refuses anything but a RECIST response") {
  ResultStore store(":memory:");
  const std::int64_t run = store.begin_run(make_provenance(2));
  RunWriter(store, run, false).write_block(make_block(0, 3, 2));
  sqlite3* db = handle(store);
  char* message = nullptr;
  CHECK(sqlite3_exec(db, "UPDATE outcomes SET best_response_unconfirmed = 'uPR'", nullptr, nullptr,
                     &message) == SQLITE_CONSTRAINT_CHECK);
  sqlite3_free(message);
  message = nullptr;
  CHECK(sqlite3_exec(db, "UPDATE outcomes SET best_response_unconfirmed = NULL", nullptr, nullptr,
                     &message) == SQLITE_CONSTRAINT_NOTNULL);
  sqlite3_free(message);
  CHECK(query_int(db, "SELECT COUNT(*) FROM outcomes WHERE best_response_unconfirmed = 'PR'") > 0);
}

TEST_CASE(
    "survival_counts equals survival_input grouped by time, and kaplan_meier multiplies it out") {
  constexpr std::uint32_t kArms = 2;
  ResultStore store(":memory:");
  const std::int64_t run = store.begin_run(make_provenance(kArms));
  {
    RunWriter writer(store, run, false);
    writer.write_block(make_block(0, 11, kArms));
    writer.write_block(make_block(11, 25, kArms));
  }
  sqlite3* db = handle(store);
  const std::vector<std::string> expected =
      dump(db,
           "SELECT run_id, arm_index, endpoint, time_months, SUM(event), SUM(1 - event)"
           " FROM survival_input GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4");
  CHECK(expected.size() > 50);
  CHECK(dump(db, "SELECT * FROM survival_counts ORDER BY 1, 2, 3, 4") == expected);
  // The view's curve against the product-limit estimator computed here row by row.
  for (const char* endpoint : {"OS", "PFS", "DOR"}) {
    CAPTURE(endpoint);
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db,
                               fmt::format("SELECT time_months, events, censored, at_risk,"
                                           " survival FROM kaplan_meier WHERE arm_index = 1"
                                           " AND endpoint = '{}' ORDER BY time_months",
                                           endpoint)
                                   .c_str(),
                               -1, &stmt, nullptr) == SQLITE_OK);
    std::int64_t remaining = query_int(db, fmt::format("SELECT COUNT(*) FROM survival_input WHERE"
                                                       " arm_index = 1 AND endpoint = '{}'",
                                                       endpoint));
    double survival = 1.0;
    int rows = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      const std::int64_t events = sqlite3_column_int64(stmt, 1);
      const std::int64_t censored = sqlite3_column_int64(stmt, 2);
      CHECK(sqlite3_column_int64(stmt, 3) == remaining);
      survival *= 1.0 - static_cast<double>(events) / static_cast<double>(remaining);
      CHECK(sqlite3_column_double(stmt, 4) == doctest::Approx(survival).epsilon(1e-12));
      remaining -= events + censored;
      ++rows;
    }
    sqlite3_finalize(stmt);
    CHECK(remaining == 0);
    CHECK(rows >= 3);
  }
}

TEST_CASE("record_design stores a design and one row per sample size, NaN as NULL") {
  ResultStore store(":memory:");
  DesignRecord design;
  design.name = "simon_orr";
  design.design_text = "[design]\nname = \"simon_orr\"\n";
  design.design_hash = "abc";
  design.mode = "parametric";
  design.endpoint = "orr";
  design.analysis = "simon";
  design.seed = 7;
  design.target_power = 0.8;
  design.recommended_n = 29.0;
  design.result_json = R"({"n": 29})";
  DesignPointRecord a;
  a.n_total = 29;
  a.replicates = 1000;
  a.power = 0.81;
  a.power_mcse = 0.0124;
  a.pet_p0 = 0.74;
  DesignPointRecord b = a;
  b.n_total = 35;
  const std::int64_t id = store.record_design(design, {a, b});
  sqlite3* db = handle(store);
  CHECK(dump(db,
             "SELECT name, mode, analysis, seed, target_power, recommended_n,"
             " recommended_n_low IS NULL, json_extract(result_json, '$.n'), schema_version"
             " FROM designs") ==
        std::vector<std::string>{"simon_orr|parametric|simon|7|0.8|29|1|29|6|"});
  CHECK(query_int(db, fmt::format("SELECT COUNT(*) FROM design_points WHERE design_id = {}"
                                  " AND type1_error IS NULL AND pet_p0 = 0.74",
                                  id)) == 2);
  // A repeated n or invalid JSON stores nothing.
  CHECK_THROWS_AS(store.record_design(design, {a, a}), InputError);
  design.result_json = "{not json";
  CHECK_THROWS_AS(store.record_design(design, {b}), InputError);
  CHECK(query_int(db, "SELECT COUNT(*) FROM designs") == 1);
  // Deleting the design removes its points.
  exec_sql(db, "DELETE FROM designs");
  CHECK(query_int(db, "SELECT COUNT(*) FROM design_points") == 0);
}

TEST_CASE("shard ranges tile the cohort in order, sizes differing by at most one") {
  for (const std::uint64_t patients : {1ULL, 7ULL, 61ULL, 1000ULL, 100'000'000ULL}) {
    for (const std::uint64_t count : {1ULL, 2ULL, 3ULL, 5ULL, 7ULL, 64ULL}) {
      if (count > patients) continue;
      CAPTURE(patients);
      CAPTURE(count);
      std::uint64_t covered = 0, smallest = patients, largest = 0;
      for (std::uint64_t k = 0; k < count; ++k) {
        const PatientRange r = shard_range(patients, k, count);
        CHECK(r.first == covered);
        covered = r.end;
        smallest = std::min(smallest, r.end - r.first);
        largest = std::max(largest, r.end - r.first);
      }
      CHECK(covered == patients);
      CHECK(largest - smallest <= 1);
      CHECK(smallest >= 1);
    }
  }
  // No overflow where patients * index exceeds 64 bits.
  const std::uint64_t huge = std::uint64_t{1} << 62;
  CHECK(shard_range(huge, 3, 4) == PatientRange{3 * (huge / 4), huge});
  CHECK(shard_range(huge + 3, kMaxShards - 1, kMaxShards).end == huge + 3);
  CHECK_THROWS_AS(shard_range(10, 4, 4), InputError);
  CHECK_THROWS_AS(shard_range(10, 0, 0), InputError);
}

TEST_CASE("a run's patient range is stored and the writer refuses blocks outside it") {
  TempDb file("range");
  ResultStore store(file.path());
  RunProvenance p = make_provenance(2);
  p.patients = 20;
  p.first_patient = 5;
  p.end_patient = 12;
  p.shard_index = 1;
  p.shard_count = 3;
  const std::int64_t run = store.begin_run(p);
  {
    RunWriter writer(store, run, true);
    CHECK_THROWS_AS(writer.write_block(make_block(0, 6, 2)), StorageError);  // starts before 5
    writer.write_block(make_block(5, 4, 2));
    CHECK_THROWS_AS(writer.write_block(make_block(9, 4, 2)), StorageError);  // ends after 11
    writer.write_block(make_block(9, 3, 2));
  }
  const RunInfo info = store.run_info(run);
  CHECK(info.provenance.first_patient == 5);
  CHECK(info.provenance.end_patient == 12);
  CHECK(info.provenance.shard_index == 1);
  CHECK(info.provenance.shard_count == 3);
  CHECK(info.patients_stored == 7);  // kept by the writer, refused blocks not counted
  CHECK(info.patient_index_end == 12);
  CHECK(info.patients_stored ==
        static_cast<std::uint64_t>(query_int(handle(store), "SELECT COUNT(*) FROM patients")));
  CHECK(static_cast<std::int64_t>(info.candidates_screened) ==
        query_int(handle(store), "SELECT SUM(candidates_screened) FROM patients"));
  // A whole run ({0, 0}) covers the cohort; impossible ranges are refused before anything is written.
  RunProvenance whole = make_provenance(2);
  CHECK(store.run_info(store.begin_run(whole)).provenance.end_patient == whole.patients);
  RunProvenance beyond = make_provenance(2);
  beyond.end_patient = beyond.patients + 1;
  CHECK_THROWS_AS(store.begin_run(beyond), InputError);
  RunProvenance no_shard = make_provenance(2);
  no_shard.shard_index = 2;
  no_shard.shard_count = 2;
  CHECK_THROWS_AS(store.begin_run(no_shard), InputError);
  CHECK(store.list_runs().size() == 2);
}

TEST_CASE("read-only opening writes nothing and refuses, not migrates, an older version") {
  TempDb file("readonly");
  {
    ResultStore store(file.path());
    const std::int64_t run = store.begin_run(make_provenance(2));
    RunWriter writer(store, run, true);
    writer.write_block(make_block(0, 3, 2));
  }
  {
    ResultStore reader(file.path(), ResultStore::Access::kReadOnly);
    CHECK(reader.list_runs().size() == 1);
    CHECK_THROWS_AS(reader.begin_run(make_provenance(2)), StorageError);
  }
  make_old_version(file.path(), 4);
  const std::string message = thrown_message<InputError>(
      [&] { ResultStore reader(file.path(), ResultStore::Access::kReadOnly); });
  CHECK(contains(message, "is schema version 4"));
  CHECK(contains(message, fmt::format("run `vpgen upgrade --db {}` to migrate it", file.path())));
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(file.path().c_str(), &raw) == SQLITE_OK);
  CHECK(query_int(raw, "PRAGMA user_version") == 4);  // untouched
  sqlite3_close(raw);
  TempDb empty("readonly_empty");
  { std::ofstream touch(empty.path()); }
  CHECK(contains(thrown_message<InputError>(
                     [&] { ResultStore reader(empty.path(), ResultStore::Access::kReadOnly); }),
                 "is empty"));
}

// ---------------------------------------------------------------------------------------------
// Readers: one snapshot, read-only opening, never writing (issue 17 items 2, 3, 4, 8)

namespace {

// A folder of its own in the temp directory, made writable again and removed at the end.
class TempFolder {
 public:
  explicit TempFolder(std::string_view tag)
      : path_(std::filesystem::temp_directory_path() /
              fmt::format("vpgen_storage_test_{}_{}", ::getpid(), tag)) {
    clear();
    std::filesystem::create_directories(path_);
    std::filesystem::permissions(path_, std::filesystem::perms(0755));
  }
  ~TempFolder() { clear(); }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  std::string file(std::string_view name) const { return (path_ / name).string(); }
  // chmod 555 on the folder and 444 on every file in it.
  void make_read_only() const {
    for (const auto& entry : std::filesystem::directory_iterator(path_))
      std::filesystem::permissions(entry.path(), std::filesystem::perms(0444));
    std::filesystem::permissions(path_, std::filesystem::perms(0555));
  }

 private:
  void clear() const {
    std::error_code ignored;
    std::filesystem::permissions(path_, std::filesystem::perms(0755), ignored);
    std::filesystem::remove_all(path_, ignored);
  }
  std::filesystem::path path_;
};

struct ChildResult {
  int exit_code = -1;  // 0: `body` returned; 1: it threw; 2: could not drop privileges
  std::string output;  // what `body` returned, or the exception's message
};

// Runs `body` in a forked child as user nobody (uid and gid 65534, no groups) if this process is
// root, else as this user: root ignores file modes, so a read-only test run as root would prove
// nothing. The child reports through a pipe and ends with _exit (no doctest in the child).
ChildResult run_as_non_owner(const std::function<std::string()>& body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    int code = 0;
    std::string text;
    if (::geteuid() == 0 &&
        (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0)) {
      code = 2;
    } else {
      try {
        text = body();
      } catch (const std::exception& e) {
        code = 1;
        text = e.what();
      }
    }
    const char* at = text.data();
    std::size_t left = text.size();
    while (left > 0) {
      const ssize_t n = ::write(fds[1], at, left);
      if (n <= 0) break;
      at += n;
      left -= static_cast<std::size_t>(n);
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  ChildResult result;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;)
    result.output.append(buffer, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// A file's bytes and modification time, to show that a reader left it as it was.
struct FileState {
  std::string bytes;
  struct timespec mtime {};
  bool operator==(const FileState& o) const {
    return bytes == o.bytes && mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec;
  }
};

FileState file_state(const std::string& path) {
  FileState state;
  std::ifstream in(path, std::ios::binary);
  state.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  state.mtime = st.st_mtim;
  return state;
}

// A complete run of `patients` patients (2 arms) in a new file.
std::int64_t write_file_run(const std::string& path, std::uint64_t patients) {
  ResultStore store(path);
  const std::int64_t run = store.begin_run(make_provenance(2));
  {
    RunWriter writer(store, run, true);
    writer.write_block(make_block(0, patients, 2));
  }
  store.finish_run(run, true, 1.0);
  return run;
}

}  // namespace

TEST_CASE("a ReadSnapshot sees one state of a file that another connection writes between reads") {
  constexpr std::uint32_t kArms = 2;
  TempDb file("snapshot");
  ResultStore writer_store(file.path());
  const std::int64_t run = writer_store.begin_run(make_provenance(kArms));
  RunWriter writer(writer_store, run, true);
  writer.write_block(make_block(0, 4, kArms));
  ResultStore reader(file.path(), ResultStore::Access::kReadOnly);
  // Before each statement of the reader, the writer commits one more patient (a block of one).
  std::uint64_t next = 4;
  reader.set_statement_hook([&] {
    if (next < 200) writer.write_block(make_block(next++, 1, kArms));
  });
  {
    const ReadSnapshot snapshot(reader);
    const std::uint64_t stored = reader.run_info(run).patients_stored;
    const std::vector<ArmCounts> counts = reader.arm_counts(run);
    std::uint64_t times = 0;
    reader.survival_times(run, 1, SurvivalEndpoint::kOs,
                          [&](const SurvivalTimeRow& row) { times += row.events + row.censored; });
    {
      const ReadSnapshot nested(reader);  // inside a snapshot: the same one
      CHECK(reader.run_info(run).patients_stored == stored);
    }
    CHECK(next > stored + 3);  // the writer did commit between the reads
    REQUIRE(counts.size() == kArms);
    CHECK(counts[0].n == stored);
    CHECK(counts[1].n == stored);
    CHECK(times == stored);
    CHECK(reader.run_info(run).patients_stored == stored);
  }
  reader.set_statement_hook({});
  // The snapshot has ended: the reader sees the latest state.
  CHECK(reader.run_info(run).patients_stored == next);
}

TEST_CASE("a non-owner reads a WAL file in a folder it cannot write, changing nothing") {
  TempFolder folder("ro_reader");
  const std::string path = folder.file("results.db");
  const std::int64_t run = write_file_run(path, 6);
  REQUIRE_FALSE(std::filesystem::exists(path + "-wal"));  // closed cleanly: all in the file
  folder.make_read_only();
  const FileState before = file_state(path);
  const ChildResult child = run_as_non_owner([&] {
    ResultStore reader(path, ResultStore::Access::kReadOnly);
    const ReadSnapshot snapshot(reader);
    return fmt::format("immutable={} runs={} n={} patient={}", reader.immutable(),
                       reader.list_runs().size(), reader.arm_counts(run).at(1).n,
                       reader.patient(run, 5).result.patient.index);
  });
  INFO(child.output);
  CHECK(child.exit_code == 0);
  // SQLite cannot create results.db-shm here, so the file is read as a constant.
  CHECK(child.output == "immutable=true runs=1 n=6 patient=5");
  CHECK(file_state(path) == before);
  CHECK_FALSE(std::filesystem::exists(path + "-wal"));
  CHECK_FALSE(std::filesystem::exists(path + "-shm"));
}

TEST_CASE("a non-owner reads a file that its owner is writing, through the owner's -shm") {
  TempFolder folder("ro_live");
  const std::string path = folder.file("results.db");
  ResultStore owner(path);
  const std::int64_t run = owner.begin_run(make_provenance(2));
  RunWriter writer(owner, run, true);
  writer.write_block(make_block(0, 3, 2));
  REQUIRE(std::filesystem::file_size(path + "-wal") > 0);  // the block is in the WAL only
  folder.make_read_only();
  const ChildResult child = run_as_non_owner([&] {
    ResultStore reader(path, ResultStore::Access::kReadOnly);
    return fmt::format("immutable={} stored={}", reader.immutable(),
                       reader.run_info(run).patients_stored);
  });
  INFO(child.output);
  CHECK(child.exit_code == 0);
  CHECK(child.output == "immutable=false stored=3");
}

TEST_CASE("a reader refuses, not misreads, a -wal it cannot read, and says what to do") {
  TempFolder source("ro_walsource");
  TempFolder folder("ro_wal");
  const std::string live = source.file("results.db");
  const std::string path = folder.file("results.db");
  {
    ResultStore owner(live);
    const std::int64_t run = owner.begin_run(make_provenance(2));
    RunWriter writer(owner, run, true);
    writer.write_block(make_block(0, 3, 2));
    // What a killed writer leaves: the file and a -wal that holds committed blocks, no -shm.
    std::filesystem::copy_file(live, path);
    std::filesystem::copy_file(live + "-wal", path + "-wal");
  }
  folder.make_read_only();
  const FileState before = file_state(path);
  const ChildResult child = run_as_non_owner([&] {
    ResultStore reader(path, ResultStore::Access::kReadOnly);
    return std::string("opened");
  });
  CHECK(child.exit_code == 1);
  CHECK(contains(child.output,
                 fmt::format("{}: {}-wal holds changes that are not yet in the file", path, path)));
  CHECK(contains(child.output, fmt::format("`vpgen upgrade --db {}`", path)));
  CHECK(file_state(path) == before);
}

TEST_CASE("readers never create, convert or change a file: missing, empty, folder, URI") {
  TempFolder folder("never_write");
  const std::string missing = folder.file("missing.db");
  const std::string empty = folder.file("empty.db");
  { std::ofstream touch(empty); }
  const FileState empty_before = file_state(empty);
  for (const auto access : {ResultStore::Access::kReadOnly, ResultStore::Access::kWriteExisting}) {
    CAPTURE(static_cast<int>(access));
    CHECK(thrown_message<InputError>([&] { ResultStore store(missing, access); }) ==
          fmt::format("{}: no such file", missing));
    CHECK_FALSE(std::filesystem::exists(missing));
    CHECK(thrown_message<InputError>([&] { ResultStore store(empty, access); }) ==
          fmt::format("{} is empty: not a vpgen results database", empty));
    CHECK(file_state(empty) == empty_before);
    CHECK_FALSE(std::filesystem::exists(empty + "-wal"));
  }
  for (const auto access : {ResultStore::Access::kReadOnly, ResultStore::Access::kWriteExisting,
                            ResultStore::Access::kReadWrite}) {
    CAPTURE(static_cast<int>(access));
    const std::string dir = folder.file("");
    CHECK(contains(thrown_message<InputError>([&] { ResultStore store(dir, access); }),
                   "a folder, not a results database file"));
    const std::string uri = "file:" + missing + "?mode=memory";
    CHECK(contains(thrown_message<InputError>([&] { ResultStore store(uri, access); }),
                   fmt::format("{}: a SQLite URI, not a file path", uri)));
  }
  CHECK(thrown_message<InputError>([&] {
          ResultStore store(folder.file("no/such/folder.db"), ResultStore::Access::kReadWrite);
        }) == fmt::format("{}: no such folder {}", folder.file("no/such/folder.db"),
                          folder.file("no/such")));
  // A writer that must not create (--resume) refuses a SQLite file without tables, unchanged.
  const std::string blank = folder.file("blank.db");
  {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(blank.c_str(), &raw) == SQLITE_OK);
    exec_sql(raw, "CREATE TABLE x (a); DROP TABLE x;");
    sqlite3_close(raw);
  }
  const FileState blank_before = file_state(blank);
  CHECK(contains(thrown_message<InputError>(
                     [&] { ResultStore store(blank, ResultStore::Access::kWriteExisting); }),
                 "holds no tables: not a vpgen results database; refusing to make it one"));
  CHECK(file_state(blank) == blank_before);
}

TEST_CASE("a writer refuses a file it cannot write at once, as the user's input") {
  TempFolder folder("ro_writer");
  const std::string path = folder.file("results.db");
  write_file_run(path, 2);
  folder.make_read_only();
  const ChildResult child = run_as_non_owner([&] {
    ResultStore store(path, ResultStore::Access::kWriteExisting);
    return std::string("opened for writing");
  });
  CHECK(child.exit_code == 1);
  CHECK(contains(child.output, fmt::format("{}: cannot write to it", path)));
  const ChildResult create = run_as_non_owner([&] {
    ResultStore store(folder.file("new.db"));
    return std::string("created");
  });
  CHECK(create.exit_code == 1);
  CHECK(contains(create.output,
                 fmt::format("{}: cannot write in its folder {}", folder.file("new.db"),
                             folder.file("new.db").substr(0, folder.file("new.db").rfind('/')))));
  CHECK_FALSE(std::filesystem::exists(folder.file("new.db")));
}

TEST_CASE("kWriteExisting migrates an older version in place and says from which") {
  TempDb file("upgrade");
  write_file_run(file.path(), 3);
  {
    ResultStore current(file.path(), ResultStore::Access::kWriteExisting);
    CHECK_FALSE(current.migrated_from());
  }
  make_old_version(file.path(), 4);
  {
    ResultStore upgraded(file.path(), ResultStore::Access::kWriteExisting);
    REQUIRE(upgraded.migrated_from());
    CHECK(*upgraded.migrated_from() == 4);
  }
  ResultStore reader(file.path(), ResultStore::Access::kReadOnly);
  CHECK(reader.list_runs().at(0).patients_stored == 3);
}
