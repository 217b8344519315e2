// The column tables of patients, outcomes and events (vpgen/storage/tables.hpp). The constraint
// texts are the schema's own, line breaks and alignment included: SQLite keeps each CREATE TABLE
// verbatim, and a file's schema reads as docs/SCHEMA.md prints it.
#include "vpgen/storage/tables.hpp"

#include "content_digest.hpp"
#include "store_internal.hpp"

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "vpgen/population/error.hpp"

namespace vpgen {
namespace {

constexpr std::array<std::string_view, 6> kGradeLabels = {"grade 0", "grade 1", "grade 2",
                                                          "grade 3", "grade 4", "grade 5"};
// next_line events: code = line of therapy of the new regimen (2 = second line). One subsequent
// line is modelled; the labels reach far beyond it.
constexpr int kFirstNextLine = 2;
constexpr std::array<std::string_view, 8> kLineLabels = {"line 2", "line 3", "line 4", "line 5",
                                                         "line 6", "line 7", "line 8", "line 9"};

// The stored names of each enumeration, and what its values are called when one is unknown.
template <typename Enum>
struct EnumNames;
template <>
struct EnumNames<CancerType> {
  static constexpr const auto& kNames = kCancerTypeNames;
  static constexpr std::string_view kWhat = "cancer type";
};
template <>
struct EnumNames<Response> {
  static constexpr const auto& kNames = kResponseNames;
  static constexpr std::string_view kWhat = "response";
};
template <>
struct EnumNames<StopReason> {
  static constexpr const auto& kNames = kStopReasonNames;
  static constexpr std::string_view kWhat = "stop reason";
};
template <>
struct EnumNames<DeathCause> {
  static constexpr const auto& kNames = kDeathCauseNames;
  static constexpr std::string_view kWhat = "death cause";
};
template <>
struct EnumNames<EventKind> {
  static constexpr const auto& kNames = kEventKindNames;
  static constexpr std::string_view kWhat = "event kind";
};

// A column that stores the field `Member` of Row as its type says: a double as REAL (NaN as
// NULL), a bool as 0/1, an integer as INTEGER, Sex as 'F'/'M', another enum by its name.
template <typename Row, auto Member>
void bind_field(sql::Statement& statement, int index, const Row& row, const Column<Row>& column) {
  const auto& value = row.*Member;
  using T = std::remove_cvref_t<decltype(value)>;
  if constexpr (std::is_same_v<T, double>) statement.bind_real(index, value);
  else if constexpr (std::is_same_v<T, bool>) statement.bind_bool(index, value);
  else if constexpr (std::is_same_v<T, Sex>) statement.bind_static_text(index, to_string(value));
  else if constexpr (std::is_enum_v<T>)
    statement.bind_static_text(index, checked_name(value, EnumNames<T>::kNames, column.label));
  else statement.bind_int64(index, static_cast<std::int64_t>(value));
}

template <typename Row, auto Member>
void read_field(const sql::Statement& statement, int column, Row& row) {
  auto& value = row.*Member;
  using T = std::remove_cvref_t<decltype(value)>;
  if constexpr (std::is_same_v<T, double>) {
    value = statement.column_real(column);
  } else if constexpr (std::is_same_v<T, bool>) {
    value = statement.column_bool(column);  // NULL reads as false
  } else if constexpr (std::is_same_v<T, Sex>) {
    const std::string_view sex = statement.column_text(column);
    if (sex != "F" && sex != "M")
      throw StorageError(fmt::format("the database holds an unknown sex '{}'", sex));
    value = sex == "F" ? Sex::kFemale : Sex::kMale;
  } else if constexpr (std::is_enum_v<T>) {
    value =
        enum_from_name<T>(statement.column_text(column), EnumNames<T>::kNames, EnumNames<T>::kWhat);
  } else {
    value = static_cast<T>(statement.column_int64(column));
  }
}

// The digest feed of bind_field: the same value, as the type SQLite stores it.
template <typename Row, auto Member>
void feed_field(std::string& out, const Row& row) {
  const auto& value = row.*Member;
  using T = std::remove_cvref_t<decltype(value)>;
  if constexpr (std::is_same_v<T, double>) digest::real(out, value);
  else if constexpr (std::is_same_v<T, bool>) digest::integer(out, value ? 1 : 0);
  else if constexpr (std::is_same_v<T, Sex>) digest::text(out, to_string(value));
  else if constexpr (std::is_enum_v<T>)
    digest::text(out, checked_name(value, EnumNames<T>::kNames, EnumNames<T>::kWhat));
  else digest::integer(out, static_cast<std::int64_t>(value));
}

template <typename Row, auto Member>
constexpr Column<Row> field(std::string_view name, std::string_view type,
                            std::string_view constraints, std::string_view label = {}) {
  return {name,
          type,
          constraints,
          label,
          &bind_field<Row, Member>,
          &read_field<Row, Member>,
          &feed_field<Row, Member>};
}

// A key column the caller binds (run_id, patient_index, seq).
template <typename Row>
constexpr Column<Row> key(std::string_view name, std::string_view constraints) {
  return {name, "INTEGER", constraints, {}, nullptr, nullptr, nullptr};
}

constexpr std::array<Column<Patient>, 17> kPatientColumns = {{
    key<Patient>("run_id", "NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE"),
    field<Patient, &Patient::index>("patient_index", "INTEGER",
                                    "NOT NULL CHECK (patient_index >= 0)"),
    field<Patient, &Patient::cancer_type>(
        "cancer_type", "TEXT",
        "NOT NULL CHECK (cancer_type = 'melanoma' OR cancer_type = 'nsclc'\n"
        "                        OR cancer_type = 'rcc' OR cancer_type = 'urothelial'\n"
        "                        OR cancer_type = 'head_neck' OR cancer_type = 'crc_msi_high'\n"
        "                        OR cancer_type = 'crc_mss' OR cancer_type = 'tnbc')",
        "cancer type"),
    field<Patient, &Patient::tmb_mut_per_mb>("tmb_mut_per_mb", "REAL", "NOT NULL"),
    field<Patient, &Patient::pdl1_tps_percent>("pdl1_tps_percent", "REAL", "NOT NULL"),
    field<Patient, &Patient::infiltration>("infiltration", "REAL", "NOT NULL"),
    field<Patient, &Patient::hot>("hot", "INTEGER", "NOT NULL CHECK (hot IN (0, 1))"),
    field<Patient, &Patient::memory_capacity>("memory_capacity", "REAL", "NOT NULL"),
    field<Patient, &Patient::tumour_burden_mm>("tumour_burden_mm", "REAL", "NOT NULL"),
    field<Patient, &Patient::metastatic_sites>("metastatic_sites", "INTEGER", "NOT NULL"),
    field<Patient, &Patient::age_years>("age_years", "REAL", "NOT NULL"),
    field<Patient, &Patient::sex>("sex", "TEXT", "NOT NULL CHECK (sex IN ('F', 'M'))"),
    field<Patient, &Patient::ecog>("ecog", "INTEGER", "NOT NULL"),
    field<Patient, &Patient::ldh_elevated>("ldh_elevated", "INTEGER",
                                           "NOT NULL CHECK (ldh_elevated IN (0, 1))"),
    field<Patient, &Patient::line_of_therapy>("line_of_therapy", "INTEGER", "NOT NULL"),
    field<Patient, &Patient::prior_anti_pd1>("prior_anti_pd1", "INTEGER",
                                             "NOT NULL CHECK (prior_anti_pd1 IN (0, 1))"),
    field<Patient, &Patient::candidates_screened>("candidates_screened", "INTEGER",
                                                  "NOT NULL CHECK (candidates_screened >= 1)"),
}};

// A duration of response is only defined for a responder: NULL otherwise (a CHECK holds to it).
void bind_dor_event(sql::Statement& statement, int index, const Outcome& o,
                    const Column<Outcome>&) {
  if (o.best_response == Response::kCR || o.best_response == Response::kPR)
    statement.bind_bool(index, o.dor_event);
  else statement.bind_null(index);
}

void feed_dor_event(std::string& out, const Outcome& o) {
  if (o.best_response == Response::kCR || o.best_response == Response::kPR)
    digest::integer(out, o.dor_event ? 1 : 0);
  else digest::null(out);
}

constexpr std::array<Column<Outcome>, 31> kOutcomeColumns = {{
    key<Outcome>("run_id", "NOT NULL"),
    key<Outcome>("patient_index", "NOT NULL"),
    field<Outcome, &Outcome::arm_index>("arm_index", "INTEGER", "NOT NULL"),
    field<Outcome, &Outcome::best_response>(
        "best_response", "TEXT",
        "NOT NULL\n"
        "                                CHECK (best_response = 'CR' OR best_response = 'PR'\n"
        "                                  OR best_response = 'SD' OR best_response = 'PD'\n"
        "                                  OR best_response = 'NE')",
        "response"),
    field<Outcome, &Outcome::best_response_unconfirmed>(
        "best_response_unconfirmed", "TEXT",
        "NOT NULL\n"
        "                                CHECK (best_response_unconfirmed = 'CR'\n"
        "                                  OR best_response_unconfirmed = 'PR'\n"
        "                                  OR best_response_unconfirmed = 'SD'\n"
        "                                  OR best_response_unconfirmed = 'PD'\n"
        "                                  OR best_response_unconfirmed = 'NE')",
        "response"),
    field<Outcome, &Outcome::time_to_response_months>("time_to_response_months", "REAL", ""),
    field<Outcome, &Outcome::duration_of_response_months>("duration_of_response_months", "REAL",
                                                          ""),
    {"dor_event",
     "INTEGER",
     "CHECK (dor_event IN (0, 1))",
     {},
     &bind_dor_event,
     &read_field<Outcome, &Outcome::dor_event>,
     &feed_dor_event},
    field<Outcome, &Outcome::pfs_months>("pfs_months", "REAL", "NOT NULL"),
    field<Outcome, &Outcome::pfs_event>("pfs_event", "INTEGER",
                                        "NOT NULL CHECK (pfs_event IN (0, 1))"),
    field<Outcome, &Outcome::os_months>("os_months", "REAL", "NOT NULL"),
    field<Outcome, &Outcome::os_event>("os_event", "INTEGER",
                                       "NOT NULL CHECK (os_event IN (0, 1))"),
    field<Outcome, &Outcome::worst_irae_grade>("worst_irae_grade", "INTEGER",
                                               "NOT NULL CHECK (worst_irae_grade BETWEEN 0 AND 5)"),
    field<Outcome, &Outcome::irae_onset_months>("irae_onset_months", "REAL", ""),
    field<Outcome, &Outcome::stop_reason>(
        "stop_reason", "TEXT",
        "NOT NULL\n"
        "                                CHECK (stop_reason = 'progression' OR stop_reason = "
        "'toxicity'\n"
        "                                  OR stop_reason = 'completed' OR stop_reason = 'death'\n"
        "                                  OR stop_reason = 'end_of_follow_up')",
        "stop reason"),
    field<Outcome, &Outcome::treatment_months>("treatment_months", "REAL", "NOT NULL"),
    field<Outcome, &Outcome::durable_cr>("durable_cr", "INTEGER",
                                         "NOT NULL CHECK (durable_cr IN (0, 1))"),
    field<Outcome, &Outcome::death_cause>(
        "death_cause", "TEXT",
        "NOT NULL\n"
        "                                CHECK (death_cause = 'alive' OR death_cause = 'disease'\n"
        "                                  OR death_cause = 'toxicity' OR death_cause = 'other')",
        "death cause"),
    field<Outcome, &Outcome::eradicated>("eradicated", "INTEGER",
                                         "NOT NULL CHECK (eradicated IN (0, 1))"),
    field<Outcome, &Outcome::best_percent_change>("best_percent_change", "REAL", ""),
    field<Outcome, &Outcome::eradication_months>("eradication_months", "REAL", ""),
    field<Outcome, &Outcome::worst_ae_grade>("worst_ae_grade", "INTEGER",
                                             "NOT NULL CHECK (worst_ae_grade BETWEEN 0 AND 5)"),
    field<Outcome, &Outcome::treatment_holds>("treatment_holds", "INTEGER",
                                              "NOT NULL CHECK (treatment_holds >= 0)"),
    field<Outcome, &Outcome::best_response_irecist>(
        "best_response_irecist", "TEXT",
        "NOT NULL\n"
        "                                CHECK (best_response_irecist = 'CR'\n"
        "                                  OR best_response_irecist = 'PR'\n"
        "                                  OR best_response_irecist = 'SD'\n"
        "                                  OR best_response_irecist = 'PD'\n"
        "                                  OR best_response_irecist = 'NE')",
        "iRECIST response"),
    field<Outcome, &Outcome::pfs_irecist_months>("pfs_irecist_months", "REAL", "NOT NULL"),
    field<Outcome, &Outcome::pfs_irecist_event>("pfs_irecist_event", "INTEGER",
                                                "NOT NULL CHECK (pfs_irecist_event IN (0, 1))"),
    field<Outcome, &Outcome::beyond_progression>("beyond_progression", "INTEGER",
                                                 "NOT NULL CHECK (beyond_progression IN (0, 1))"),
    field<Outcome, &Outcome::pseudo_progression>("pseudo_progression", "INTEGER",
                                                 "NOT NULL CHECK (pseudo_progression IN (0, 1))"),
    field<Outcome, &Outcome::next_line_months>("next_line_months", "REAL", ""),
    field<Outcome, &Outcome::pfs2_months>("pfs2_months", "REAL", ""),
    field<Outcome, &Outcome::pfs2_event>("pfs2_event", "INTEGER",
                                         "NOT NULL CHECK (pfs2_event IN (0, 1))"),
}};

// The label is stored rather than generated by SQL: a generated column, even VIRTUAL, is
// evaluated on every INSERT, which cost more than storing the few bytes.
void bind_detail(sql::Statement& statement, int index, const CourseEvent& e,
                 const Column<CourseEvent>&) {
  const std::string_view detail = event_detail(e.kind, e.code);
  if (detail.empty()) statement.bind_null(index);
  else statement.bind_static_text(index, detail);
}

void feed_detail(std::string& out, const CourseEvent& e) {
  const std::string_view detail = event_detail(e.kind, e.code);
  if (detail.empty()) digest::null(out);
  else digest::text(out, detail);
}

constexpr std::array<Column<CourseEvent>, 9> kEventColumns = {{
    key<CourseEvent>("run_id", "NOT NULL"),
    key<CourseEvent>("patient_index", "NOT NULL"),
    field<CourseEvent, &CourseEvent::arm_index>("arm_index", "INTEGER", "NOT NULL"),
    key<CourseEvent>("seq", "NOT NULL CHECK (seq >= 0)"),
    field<CourseEvent, &CourseEvent::day>("day", "REAL", "NOT NULL"),
    field<CourseEvent, &CourseEvent::kind>(
        "kind", "TEXT",
        "NOT NULL CHECK (kind = 'treatment_start' OR kind = 'assessment'\n"
        "                  OR kind = 'irae' OR kind = 'treatment_stop' OR kind = 'progression'\n"
        "                  OR kind = 'death' OR kind = 'response' OR kind = 'adverse_event'\n"
        "                  OR kind = 'treatment_hold' OR kind = 'treatment_resume'\n"
        "                  OR kind = 'confirmed_progression' OR kind = 'next_line'\n"
        "                  OR kind = 'eradication')",
        "event kind"),
    field<CourseEvent, &CourseEvent::code>("code", "INTEGER", "NOT NULL"),
    {"detail", "TEXT", "", {}, &bind_detail, nullptr, &feed_detail},
    field<CourseEvent, &CourseEvent::value>("value", "REAL", ""),
}};

}  // namespace

// Primary keys lead with run_id, so every per-run query is a range scan of one key prefix and
// deleting a run (ON DELETE CASCADE) finds its children without extra indexes. Per-patient tables
// are WITHOUT ROWID: rows are stored in key order, which is the order the writer produces, so
// inserts append and nothing depends on an internal rowid. `events`, by far the largest table,
// has no foreign key: checking one costs a parent lookup per row (about 13% of the writer's
// instructions); the writer inserts an event only with its outcome, in the same transaction, and
// the trigger outcomes_delete_events keeps deletes cascading as a foreign key would.
const Table<Patient> kPatientsTable = {
    "patients", kPatientColumns, "  PRIMARY KEY (run_id, patient_index)", "STRICT, WITHOUT ROWID"};

const Table<Outcome> kOutcomesTable = {
    "outcomes", kOutcomeColumns,
    "  PRIMARY KEY (run_id, patient_index, arm_index),\n"
    "  FOREIGN KEY (run_id, patient_index) REFERENCES patients (run_id, patient_index)\n"
    "    ON DELETE CASCADE,\n"
    "  FOREIGN KEY (run_id, arm_index) REFERENCES arms (run_id, arm_index) ON DELETE CASCADE,\n"
    "  CHECK (dor_event IS NULL OR best_response IN ('CR', 'PR')),\n"
    "  CHECK ((eradication_months IS NULL) = (eradicated = 0)),\n"
    "  CHECK (pseudo_progression = 0 OR best_response_irecist IN ('CR', 'PR')),\n"
    "  CHECK ((pfs2_months IS NULL) = (next_line_months IS NULL)),\n"
    "  CHECK (pfs2_months IS NOT NULL OR pfs2_event = 0)",
    "STRICT, WITHOUT ROWID"};

const Table<CourseEvent> kEventsTable = {"events", kEventColumns,
                                         "  PRIMARY KEY (run_id, patient_index, arm_index, seq)",
                                         "STRICT, WITHOUT ROWID"};

// ---------------------------------------------------------------------------------------------
// Table

template <typename Row>
int Table<Row>::parameter(std::string_view column) const {
  for (std::size_t i = 0; i < columns.size(); ++i)
    if (columns[i].name == column) return static_cast<int>(i) + 1;
  throw StorageError(fmt::format("table {} has no column {}", name, column));
}

template <typename Row>
std::string Table<Row>::insert_sql() const {
  std::string names;
  std::string values;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    names += fmt::format("{}{}", i == 0 ? "" : ", ", columns[i].name);
    values += fmt::format("{}?{}", i == 0 ? "" : ", ", i + 1);
  }
  return fmt::format("INSERT INTO {} ({}) VALUES ({})", name, names, values);
}

template <typename Row>
std::string Table<Row>::read_list(std::string_view prefix) const {
  std::string list;
  for (const Column<Row>& column : columns) {
    if (column.read == nullptr) continue;
    list += fmt::format("{}{}{}", list.empty() ? "" : ", ", prefix, column.name);
  }
  return list;
}

template <typename Row>
void Table<Row>::bind(sql::Statement& statement, const Row& row) const {
  for (std::size_t i = 0; i < columns.size(); ++i)
    if (columns[i].bind != nullptr)
      columns[i].bind(statement, static_cast<int>(i) + 1, row, columns[i]);
}

template <typename Row>
void Table<Row>::read(const sql::Statement& statement, Row& row, int first) const {
  int column = first;
  for (const Column<Row>& c : columns)
    if (c.read != nullptr) c.read(statement, column++, row);
}

template <typename Row>
std::string Table<Row>::stored_list() const {
  std::string list;
  for (const Column<Row>& column : columns) {
    if (column.name == "run_id") continue;
    list += fmt::format("{}{}", list.empty() ? "" : ", ", column.name);
  }
  return list;
}

template <typename Row>
void Table<Row>::feed(std::string& out, const Row& row, std::span<const std::int64_t> keys) const {
  std::size_t key = 0;
  for (const Column<Row>& column : columns) {
    if (column.name == "run_id") continue;
    if (column.feed != nullptr) column.feed(out, row);
    else if (key < keys.size()) digest::integer(out, keys[key++]);
    else throw StorageError(fmt::format("table {}: no value for key {}", name, column.name));
  }
}

template struct Table<Patient>;
template struct Table<Outcome>;
template struct Table<CourseEvent>;

// ---------------------------------------------------------------------------------------------
// Events

CodeRange event_code_range(EventKind kind) {
  constexpr int kUnused = std::numeric_limits<int>::max();  // code carries nothing; any >= 0
  switch (kind) {
    case EventKind::kAssessment:
    case EventKind::kResponse: return {0, static_cast<int>(kResponseNames.size()) - 1};
    case EventKind::kIrae:
    case EventKind::kAdverseEvent:
      return {0, static_cast<int>(kGradeLabels.size()) - 1};  // CTCAE grade
    case EventKind::kTreatmentStop: return {0, static_cast<int>(kStopReasonNames.size()) - 1};
    case EventKind::kDeath: return {0, static_cast<int>(kDeathCauseNames.size()) - 1};
    case EventKind::kNextLine:
      return {kFirstNextLine, kFirstNextLine + static_cast<int>(kLineLabels.size()) - 1};
    case EventKind::kTreatmentStart:
    case EventKind::kProgression:
    case EventKind::kTreatmentHold:
    case EventKind::kTreatmentResume:
    case EventKind::kConfirmedProgression:
    case EventKind::kEradication: return {0, kUnused};
  }
  return {0, -1};  // an unknown kind: no code is valid
}

std::string_view event_detail(EventKind kind, int code) {
  const CodeRange range = event_code_range(kind);
  if (code < range.min || code > range.max) return {};
  const auto index = static_cast<std::size_t>(code);  // >= 0: every range starts at 0 or above
  switch (kind) {
    case EventKind::kAssessment:
    case EventKind::kResponse: return kResponseNames[index];
    case EventKind::kIrae:
    case EventKind::kAdverseEvent: return kGradeLabels[index];
    case EventKind::kTreatmentStop: return kStopReasonNames[index];
    case EventKind::kDeath: return kDeathCauseNames[index];
    case EventKind::kNextLine: return kLineLabels[static_cast<std::size_t>(code - kFirstNextLine)];
    case EventKind::kTreatmentStart:
    case EventKind::kProgression:
    case EventKind::kTreatmentHold:
    case EventKind::kTreatmentResume:
    case EventKind::kConfirmedProgression:
    case EventKind::kEradication: return {};
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

std::int64_t storable(std::uint64_t value, std::string_view what) {
  if (value > kMaxStorable)
    throw InputError(
        fmt::format("{} {} exceeds {}, the largest integer the results database "
                    "stores (SQLite integers are signed 64-bit)",
                    what, value, kMaxStorable));
  return static_cast<std::int64_t>(value);
}

std::string db_name(const sql::Database& db) {
  std::string file = db.filename();
  return file.empty() ? std::string(":memory:") : file;
}

}  // namespace vpgen
