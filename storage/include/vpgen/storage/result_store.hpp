// The results database: one SQLite file holds many runs (schema in docs/SCHEMA.md). ResultStore
// owns one connection and offers typed reads and writes, so no SQL leaves storage; it is not
// thread-safe — use one per thread. RunWriter is the engine's OutcomeSink: one transaction per
// block, prepared statements reused, WAL journal.
#pragma once

#include "vpgen/engine/course_params.hpp"
#include "vpgen/engine/outcome.hpp"
#include "vpgen/engine/sink.hpp"
#include "vpgen/population/patient.hpp"
#include "vpgen/storage/database.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vpgen {

inline constexpr int kSchemaVersion = 6;

// The SQL that creates schema version kSchemaVersion (tables, views) on a new file; docs/SCHEMA.md
// describes it.
std::string_view schema_sql();

// The tables and views whose rows of one run ResultStore::run_rows serves (`vpgen export`).
inline constexpr std::array<std::string_view, 8> kRunTables = {
    "runs",   "arms",        "patients",        "outcomes",
    "events", "arm_summary", "subgroup_counts", "survival_counts"};

// Provenance recorded in `runs` when a run starts.
struct RunProvenance {
  std::string scenario_name;
  std::string scenario_text;  // every input file verbatim (Scenario::source_text)
  std::string scenario_hash;  // hex digest of scenario_text
  std::uint64_t seed = 0;
  std::uint64_t patients = 0;  // cohort size requested
  std::string vpgen_version;
  std::string git_commit;
  std::string compiler;
  std::string boost_version;
  std::string tbb_version;
  std::string sqlite_version;  // begin_run records the linked library's own version
  int rng_scheme = 0;
  int threads = 0;
  std::uint64_t block_size = 0;
  bool store_events = true;
  // The patients of this run: [first_patient, end_patient) of the cohort of `patients`; {0, 0}
  // means the whole cohort. A shard (`--shard K/N`, an MPI rank) holds one range; shard_count is 1
  // for a whole run. Read back by run_info, the stored range is always explicit.
  std::uint64_t first_patient = 0;
  std::uint64_t end_patient = 0;
  std::uint64_t shard_index = 0;
  std::uint64_t shard_count = 1;
  // The scenario's arms, arm index = position. begin_run records in `arms` each arm's name, its
  // regimen's name, class, phases (every RegimenPhase field) and duration cap, the probability of
  // treatment beyond progression, and the next line (regimen name, class, phases and cap,
  // probability, delay). Read back by list_runs/run_info, exactly those fields are filled; the
  // other RegimenSpec fields keep their defaults (scenario_text holds the complete definitions).
  std::vector<ArmSpec> arms;
};

struct RunInfo {
  std::int64_t id = 0;
  RunProvenance provenance;
  std::string started_at;                 // ISO 8601 UTC
  std::string finished_at;                // empty while incomplete
  std::string status;                     // "incomplete" | "complete" | "failed"
  std::uint64_t patients_stored = 0;      // kept by the writer block by block (no scan)
  std::uint64_t patient_index_end = 0;    // 1 + the largest stored patient index (0: none)
  std::uint64_t candidates_screened = 0;  // sum over stored patients
  double wall_seconds = 0.0;
};

// Per-arm counts for the report (all from SQL over stored rows).
struct ArmCounts {
  std::uint32_t arm_index = 0;
  std::string arm_name;
  std::string regimen;
  std::uint64_t n = 0;
  std::uint64_t cr = 0, pr = 0, sd = 0, pd = 0, ne = 0;
  std::uint64_t cr_unconfirmed = 0, pr_unconfirmed = 0;  // best response without confirmation
  std::uint64_t irae_grade3plus = 0;
  std::uint64_t durable_cr = 0;
  std::uint64_t cr_irecist = 0, pr_irecist = 0;    // iRECIST best overall response
  std::uint64_t ae_grade3plus = 0;                 // other treatment-related AE, grade >= 3
  std::uint64_t next_line = 0;                     // a subsequent line started
  std::uint64_t beyond_progression = 0;            // treated beyond RECIST progression
  std::uint64_t pseudo_progression = 0;            // all pseudo-progressions
  std::uint64_t pseudo_progression_recist_pd = 0;  // ... of patients with RECIST BOR PD
  std::uint64_t eradicated = 0;                    // ground truth
  std::uint64_t treatment_holds = 0;               // holds summed over patients
  std::uint64_t treatment_holds_squares = 0;       // sum over patients of holds^2 (for SE)
};

// A distinct event time with its number of events and censorings (input to Kaplan-Meier).
struct SurvivalTimeRow {
  double time_months = 0.0;
  std::uint64_t events = 0;
  std::uint64_t censored = 0;
};

// kPfs2: PFS2 over every patient of the arm. A patient whose next line started contributes
// (pfs2_months, pfs2_event); any other patient contributes (os_months, os_event): a death without
// a next line is a PFS2 event, and a patient alive without one is censored when last known alive.
enum class SurvivalEndpoint { kOs, kPfs, kPfsIrecist, kPfs2 };

// What is stored about one patient in one run (for `vpgen patient` and replay tests).
struct StoredPatient {
  PatientResult result;  // patient, outcomes (arm order), events (arm, then time order)
};

// Patients and responders (confirmed CR + PR) of one arm in one level of one subgroup dimension.
struct SubgroupResponses {
  std::uint32_t arm_index = 0;
  std::string level;  // e.g. "melanoma", "10-<20", ">=50", "1" (hot)
  std::uint64_t n = 0;
  std::uint64_t responders = 0;
};

// The subgroup dimensions of subgroup_counts that the report's forest plot draws.
enum class SubgroupDimension : std::uint8_t { kCancerType, kTmbBand, kPdl1Band, kHot };

// One stored outcome with its patient's index and cancer type.
struct ArmOutcome {
  std::uint64_t patient_index = 0;
  CancerType cancer_type = CancerType::kMelanoma;
  Outcome outcome;
};

// One stored event with its patient's index.
struct PatientEvent {
  std::uint64_t patient_index = 0;
  CourseEvent event;
};

// One sample size of a stored trial design (`vpgen size`): operating characteristics estimated
// from `replicates` simulated trials. NaN is stored as NULL (a figure the analysis has none of,
// e.g. PET outside Simon designs or the type I error of a calculator).
struct DesignPointRecord {
  std::int64_t n_total = 0;       // patients randomised (all arms)
  std::uint64_t replicates = 0;   // simulated trials behind the figures (0: exact)
  double power = kNoValue;        // P(reject H0) under the design's alternative
  double power_mcse = kNoValue;   // its Monte Carlo standard error
  double type1_error = kNoValue;  // P(reject H0) with both arms given the control
  double type1_mcse = kNoValue;
  double expected_events = kNoValue;  // mean events at the analysis (time-to-event endpoints)
  double expected_duration_months = kNoValue;  // mean time from first patient in to the analysis
  double pet_p0 = kNoValue;                    // Simon: probability of early termination under p0
  double expected_n_p0 = kNoValue;             // Simon: expected sample size under p0
};

// A stored trial design: what was asked (the design file verbatim), how, and the answer.
struct DesignRecord {
  std::string name;
  std::string design_text;  // the design file and every file it names, verbatim
  std::string design_hash;  // hex digest of design_text
  std::string mode;         // "mechanistic" | "parametric" | "calculator"
  std::string endpoint;     // e.g. "orr", "os", "rmst"
  std::string analysis;     // e.g. "simon", "logrank", "maxcombo"
  std::string vpgen_version;
  std::string git_commit;
  std::uint64_t seed = 0;
  double target_power = kNoValue;
  double recommended_n = kNoValue;      // smallest n reaching target_power (monotone fit)
  double recommended_n_low = kNoValue;  // its 95% interval
  double recommended_n_high = kNoValue;
  std::string result_json;  // the full result as `vpgen size --format json` prints it
  double wall_seconds = 0.0;
};

// A stored `vpgen size` design with its points in order of n_total.
struct StoredDesign {
  std::int64_t design_id = 0;
  DesignRecord record;  // result_json and design_text included
  std::string created_at;
  std::vector<DesignPointRecord> points;
};

class ResultStore {
 public:
  enum class Access {
    // Opens `path`, creating it if missing (":memory:" allowed); creates the schema in an empty
    // file, migrates an older version in place, sets WAL. For commands that add results.
    kReadWrite,
    // Opens an existing vpgen file and writes nothing to it, ever: SQLITE_OPEN_READONLY, or, where
    // SQLite cannot create or open the -shm file (a read-only folder or mount, a file of another
    // user), the file read as a constant (`immutable=1`) provided no -wal or -journal beside it
    // holds anything; else refused. A file of an older schema version is refused with the
    // command that migrates it (`vpgen upgrade`), never migrated. For report, runs, export,
    // patient, verify and merge inputs.
    kReadOnly,
    // Opens an existing vpgen file for writing, migrating an older version in place; never
    // creates a file or a schema (an empty or foreign file is refused unchanged). For --resume
    // and `vpgen upgrade`.
    kWriteExisting,
  };
  // Throws InputError, naming the file and the problem in one line, for what the user can fix:
  // an empty path, a "file:" URI, a folder, a missing file (kReadOnly, kWriteExisting) or folder,
  // an empty file where one is required to exist, a file that is not SQLite or not vpgen's, a
  // damaged or unknown schema version, no permission, a read-only place for a writer. Throws
  // StorageError (with the SQLite code) for other failures (I/O errors, a file kept busy).
  explicit ResultStore(const std::string& path, Access access = Access::kReadWrite);
  ~ResultStore();
  ResultStore(const ResultStore&) = delete;
  ResultStore& operator=(const ResultStore&) = delete;

  // True if the file is read as a constant (kReadOnly fallback; see Access).
  bool immutable() const { return immutable_; }
  // The schema version the file had before this open migrated it; nullopt if it was not migrated
  // (new, current, or read-only).
  std::optional<std::int64_t> migrated_from() const { return migrated_from_; }
  // For tests: `hook` runs as each SQL statement of this store starts (sql::Database).
  void set_statement_hook(std::function<void()> hook);

  // Inserts the `runs` and `arms` rows with status "incomplete" and returns the run id. Throws
  // InputError if there are no arms or a regimen value cannot be stored (e.g. not finite).
  std::int64_t begin_run(const RunProvenance& provenance);
  // Marks the run complete (or failed), with end time and wall time.
  void finish_run(std::int64_t run_id, bool success, double wall_seconds);
  // Makes a failed run incomplete again, so that a RunWriter may add its missing blocks (--resume;
  // the blocks stored before the failure stay). Nothing to do for an incomplete run. Throws
  // InputError if there is no such run, StorageError if it is complete.
  void reopen_run(std::int64_t run_id);

  std::vector<RunInfo> list_runs();
  RunInfo run_info(std::int64_t run_id);  // throws InputError if no such run
  std::optional<std::int64_t> latest_run_id();

  std::vector<ArmCounts> arm_counts(std::int64_t run_id);
  // Distinct times in increasing order, for one arm and endpoint (one time per stored patient).
  // Streams rows through `visit`.
  void survival_times(std::int64_t run_id, std::uint32_t arm_index, SurvivalEndpoint endpoint,
                      const std::function<void(const SurvivalTimeRow&)>& visit);
  // Throws InputError if the patient is not stored in that run.
  StoredPatient patient(std::int64_t run_id, std::uint64_t patient_index);

  // Patients and responders per level of `dimension` and arm, from subgroup_counts: levels in
  // their natural order (cancer types alphabetically, bands from low to high, hot before cold),
  // arms in index order within each level.
  std::vector<SubgroupResponses> subgroup_responses(std::int64_t run_id,
                                                    SubgroupDimension dimension);
  // The outcomes of the first `limit` patients of an arm by patient index: a key-range read that
  // costs the same in any cohort size.
  std::vector<ArmOutcome> first_outcomes(std::int64_t run_id, std::uint32_t arm_index,
                                         std::uint64_t limit);
  // The events of `kinds` of patients [0, patient_index_end) under an arm, in patient and then
  // time order (runs with store_events = 1; none otherwise).
  std::vector<PatientEvent> events(std::int64_t run_id, std::uint32_t arm_index,
                                   std::uint64_t patient_index_end,
                                   std::span<const EventKind> kinds);
  // The rows of run `run_id` in `table` (one of kRunTables) in primary-key order, every column, as
  // a statement to step through. REQUIRES: the store outlives the statement. Throws InputError
  // for another table name.
  sql::Statement run_rows(std::int64_t run_id, std::string_view table);
  // A digest of the run's stored content: every row of patients, outcomes, events and the derived
  // counts, in key order, every value with its type; run ids, timestamps, threads and host
  // details are left out, so two runs with the same content have the same digest.
  std::uint64_t run_digest(std::int64_t run_id);

  // Stores a design and its points in one transaction and returns its design_id. Throws
  // InputError if a point's n_total repeats or is negative, or result_json is not valid JSON.
  std::int64_t record_design(const DesignRecord& design,
                             const std::vector<DesignPointRecord>& points);
  std::vector<std::int64_t> design_ids();
  // Throws InputError if the file has no such design.
  StoredDesign design(std::int64_t design_id);

 private:
  friend class RunWriter;
  friend class ReadSnapshot;
  friend struct StoreAccess;  // storage/src
  bool immutable_ = false;    // before db_: opening db_ sets it
  sql::Database db_;
  std::optional<std::int64_t> migrated_from_;
};

// One consistent view of a store for as long as it lives: BEGIN DEFERRED and a first read, which
// fixes the WAL snapshot that every later read of the store sees, so a reader of a run that is
// being written never mixes two states of it (counts of one block with times of the next).
// Nestable: inside another snapshot or any open transaction it does nothing, and the outer one
// decides. Ends the read transaction on destruction (never throws). A reader that makes
// several reads (a report, an export, a listing, a patient view, verify) holds one for all of
// them. It blocks no writer; a checkpoint cannot pass it, so the -wal grows while it lives.
// Not thread-safe (as its store).
class ReadSnapshot {
 public:
  // Throws StorageError if the first read fails.
  explicit ReadSnapshot(ResultStore& store);
  ~ReadSnapshot();
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;

 private:
  sql::Database& db_;
  bool began_ = false;  // false when nested: the outer snapshot or transaction ends it
};

// Writes the blocks of one run. One transaction per block: a block is stored whole or not at all.
class RunWriter final : public OutcomeSink {
 public:
  // REQUIRES: `store` outlives the writer. Throws InputError if there is no such run, StorageError
  // if the run is no longer incomplete. write_block() throws StorageError (block rolled back).
  RunWriter(ResultStore& store, std::int64_t run_id, bool store_events);
  ~RunWriter() override;
  void write_block(const Block& block) override;

 private:
  struct Statements;
  ResultStore& store_;
  std::int64_t run_id_;
  bool store_events_;
  std::unique_ptr<Statements> statements_;
};

}  // namespace vpgen
