// The SQLite results database: schema version 2 (docs/SCHEMA.md), the block writer and the readers.
#include "vpgen/storage/result_store.hpp"

#include "sqlite_raii.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "vpgen/population/error.hpp"

namespace vpgen {
namespace {

using sqlite::Statement;
using sqlite::Transaction;

// PRAGMA application_id marks the file as a vpgen database ("vpgn" in ASCII), so a foreign SQLite
// file that happens to have user_version 1 is not mistaken for one.
constexpr std::int64_t kApplicationId = 0x7670676E;
constexpr int kBusyTimeoutMs = 5000;
// The oldest schema version that is migrated on open: versions 2 and 3 have the same tables (3
// added views), version 4 adds tables and redefines views, and version 5 adds the patient range,
// the shard and the stored counts to `runs` and the table run_parts: all derivable from the rows.
constexpr std::int64_t kOldestMigratedVersion = 2;
constexpr std::uint64_t kMaxStorable = static_cast<std::uint64_t>(
    std::numeric_limits<std::int64_t>::max());  // SQLite integers are signed 64-bit

// The CHECK lists below spell out the enum names of outcome.hpp, course_params.hpp and
// patient.hpp. Appending an enumerator changes what a file accepts, so it must bump kSchemaVersion.
static_assert(kResponseNames.size() == 5, "new Response: update the schema and kSchemaVersion");
static_assert(kStopReasonNames.size() == 5, "new StopReason: update the schema and kSchemaVersion");
static_assert(kDeathCauseNames.size() == 4, "new DeathCause: update the schema and kSchemaVersion");
static_assert(kEventKindNames.size() == 13, "new EventKind: update the schema and kSchemaVersion");
static_assert(kCancerTypeCount == 8, "new CancerType: update the schema and kSchemaVersion");
static_assert(kSchemaVersion == 5,
              "the schema below (kSchemaSql, kTablesV4Sql, kTablesV5Sql, kViewsSql) is version 5");

// The configuration names of RegimenClass (tools/config/src/scenario_loader.cpp reads them too).
// course_params.hpp has no name table; a RegimenClass beyond this list is refused when stored.
constexpr std::array<std::string_view, 4> kRegimenClassNames = {"immunotherapy", "chemotherapy",
                                                                "targeted", "cell_therapy"};
static_assert(static_cast<std::size_t>(RegimenClass::kCellTherapy) + 1 == kRegimenClassNames.size(),
              "new RegimenClass: update kRegimenClassNames, the schema and kSchemaVersion");

// CHECK constraints spell enumerations as OR chains, not `x IN ('a', 'b', 'c')`: SQLite codes an IN
// list of more than two constants as an ephemeral index built on every execution of the
// statement, which for a one-row INSERT multiplied the cost of an insert several times over.
// Primary keys lead with run_id, so every per-run query is a range scan of one key prefix and
// deleting a run (ON DELETE CASCADE) finds its children without extra indexes. Per-patient tables
// are WITHOUT ROWID: rows are stored in key order, which is the order the writer produces, so
// inserts append and nothing depends on an internal rowid. No secondary indexes: each would be
// one more B-tree insert per row, and the report's per-arm queries read one run's key range.
// `events`, by far the largest table, has no foreign key: checking one costs a parent lookup per
// row (about 13% of the writer's instructions); the writer inserts an event only with its outcome,
// in the same transaction, and the trigger keeps deletes cascading as a foreign key would.
// The regimen phases are JSON arrays (one object per phase), readable as they are and queryable
// with json_each/json_extract; the arms table is written once per run, so its JSON checks cost
// nothing that matters.
constexpr std::string_view kSchemaSql = R"sql(
CREATE TABLE runs (
  run_id             INTEGER PRIMARY KEY,
  schema_version     INTEGER NOT NULL,
  scenario_name      TEXT    NOT NULL,
  scenario_text      TEXT    NOT NULL,
  scenario_hash      TEXT    NOT NULL,
  seed               INTEGER NOT NULL CHECK (seed >= 0),
  patients_requested INTEGER NOT NULL CHECK (patients_requested >= 0),
  vpgen_version      TEXT    NOT NULL,
  git_commit         TEXT    NOT NULL,
  compiler           TEXT    NOT NULL,
  boost_version      TEXT    NOT NULL,
  tbb_version        TEXT    NOT NULL,
  sqlite_version     TEXT    NOT NULL,
  rng_scheme         INTEGER NOT NULL,
  threads            INTEGER NOT NULL,
  block_size         INTEGER NOT NULL CHECK (block_size >= 0),
  store_events       INTEGER NOT NULL CHECK (store_events IN (0, 1)),
  started_at         TEXT    NOT NULL,
  finished_at        TEXT,
  wall_seconds       REAL,
  status             TEXT    NOT NULL
                     CHECK (status = 'incomplete' OR status = 'complete' OR status = 'failed')
) STRICT;

CREATE TABLE arms (
  run_id                         INTEGER NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
  arm_index                      INTEGER NOT NULL CHECK (arm_index >= 0),
  name                           TEXT    NOT NULL,
  regimen                        TEXT    NOT NULL,
  regimen_class                  TEXT    NOT NULL
                                   CHECK (regimen_class = 'immunotherapy'
                                     OR regimen_class = 'chemotherapy'
                                     OR regimen_class = 'targeted'
                                     OR regimen_class = 'cell_therapy'),
  regimen_phases                 TEXT    NOT NULL
                                   CHECK (json_valid(regimen_phases)
                                     AND json_type(regimen_phases) = 'array'),
  max_duration_months            REAL    CHECK (max_duration_months > 0),
  beyond_progression_probability REAL    NOT NULL
                                   CHECK (beyond_progression_probability BETWEEN 0 AND 1),
  next_line_regimen              TEXT,
  next_line_regimen_class        TEXT
                                   CHECK (next_line_regimen_class = 'immunotherapy'
                                     OR next_line_regimen_class = 'chemotherapy'
                                     OR next_line_regimen_class = 'targeted'
                                     OR next_line_regimen_class = 'cell_therapy'),
  next_line_phases               TEXT
                                   CHECK (next_line_phases IS NULL
                                     OR (json_valid(next_line_phases)
                                       AND json_type(next_line_phases) = 'array')),
  next_line_max_duration_months  REAL    CHECK (next_line_max_duration_months > 0),
  next_line_probability          REAL    CHECK (next_line_probability BETWEEN 0 AND 1),
  next_line_delay_weeks          REAL    CHECK (next_line_delay_weeks >= 0),
  PRIMARY KEY (run_id, arm_index),
  CHECK ((next_line_regimen IS NULL) = (next_line_regimen_class IS NULL)
    AND (next_line_regimen IS NULL) = (next_line_phases IS NULL)
    AND (next_line_regimen IS NULL) = (next_line_probability IS NULL)
    AND (next_line_regimen IS NULL) = (next_line_delay_weeks IS NULL)
    AND (next_line_regimen IS NOT NULL OR next_line_max_duration_months IS NULL))
) STRICT, WITHOUT ROWID;

CREATE TABLE patients (
  run_id              INTEGER NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
  patient_index       INTEGER NOT NULL CHECK (patient_index >= 0),
  cancer_type         TEXT    NOT NULL CHECK (cancer_type = 'melanoma' OR cancer_type = 'nsclc'
                        OR cancer_type = 'rcc' OR cancer_type = 'urothelial'
                        OR cancer_type = 'head_neck' OR cancer_type = 'crc_msi_high'
                        OR cancer_type = 'crc_mss' OR cancer_type = 'tnbc'),
  tmb_mut_per_mb      REAL    NOT NULL,
  pdl1_tps_percent    REAL    NOT NULL,
  infiltration        REAL    NOT NULL,
  hot                 INTEGER NOT NULL CHECK (hot IN (0, 1)),
  memory_capacity     REAL    NOT NULL,
  tumour_burden_mm    REAL    NOT NULL,
  metastatic_sites    INTEGER NOT NULL,
  age_years           REAL    NOT NULL,
  sex                 TEXT    NOT NULL CHECK (sex IN ('F', 'M')),
  ecog                INTEGER NOT NULL,
  ldh_elevated        INTEGER NOT NULL CHECK (ldh_elevated IN (0, 1)),
  line_of_therapy     INTEGER NOT NULL,
  prior_anti_pd1      INTEGER NOT NULL CHECK (prior_anti_pd1 IN (0, 1)),
  candidates_screened INTEGER NOT NULL CHECK (candidates_screened >= 1),
  PRIMARY KEY (run_id, patient_index)
) STRICT, WITHOUT ROWID;

CREATE TABLE outcomes (
  run_id                      INTEGER NOT NULL,
  patient_index               INTEGER NOT NULL,
  arm_index                   INTEGER NOT NULL,
  best_response               TEXT    NOT NULL
                                CHECK (best_response = 'CR' OR best_response = 'PR'
                                  OR best_response = 'SD' OR best_response = 'PD'
                                  OR best_response = 'NE'),
  best_response_unconfirmed   TEXT    NOT NULL
                                CHECK (best_response_unconfirmed = 'CR'
                                  OR best_response_unconfirmed = 'PR'
                                  OR best_response_unconfirmed = 'SD'
                                  OR best_response_unconfirmed = 'PD'
                                  OR best_response_unconfirmed = 'NE'),
  time_to_response_months     REAL,
  duration_of_response_months REAL,
  dor_event                   INTEGER CHECK (dor_event IN (0, 1)),
  pfs_months                  REAL    NOT NULL,
  pfs_event                   INTEGER NOT NULL CHECK (pfs_event IN (0, 1)),
  os_months                   REAL    NOT NULL,
  os_event                    INTEGER NOT NULL CHECK (os_event IN (0, 1)),
  worst_irae_grade            INTEGER NOT NULL CHECK (worst_irae_grade BETWEEN 0 AND 5),
  irae_onset_months           REAL,
  stop_reason                 TEXT    NOT NULL
                                CHECK (stop_reason = 'progression' OR stop_reason = 'toxicity'
                                  OR stop_reason = 'completed' OR stop_reason = 'death'
                                  OR stop_reason = 'end_of_follow_up'),
  treatment_months            REAL    NOT NULL,
  durable_cr                  INTEGER NOT NULL CHECK (durable_cr IN (0, 1)),
  death_cause                 TEXT    NOT NULL
                                CHECK (death_cause = 'alive' OR death_cause = 'disease'
                                  OR death_cause = 'toxicity' OR death_cause = 'other'),
  eradicated                  INTEGER NOT NULL CHECK (eradicated IN (0, 1)),
  best_percent_change         REAL,
  eradication_months          REAL,
  worst_ae_grade              INTEGER NOT NULL CHECK (worst_ae_grade BETWEEN 0 AND 5),
  treatment_holds             INTEGER NOT NULL CHECK (treatment_holds >= 0),
  best_response_irecist       TEXT    NOT NULL
                                CHECK (best_response_irecist = 'CR'
                                  OR best_response_irecist = 'PR'
                                  OR best_response_irecist = 'SD'
                                  OR best_response_irecist = 'PD'
                                  OR best_response_irecist = 'NE'),
  pfs_irecist_months          REAL    NOT NULL,
  pfs_irecist_event           INTEGER NOT NULL CHECK (pfs_irecist_event IN (0, 1)),
  beyond_progression          INTEGER NOT NULL CHECK (beyond_progression IN (0, 1)),
  pseudo_progression          INTEGER NOT NULL CHECK (pseudo_progression IN (0, 1)),
  next_line_months            REAL,
  pfs2_months                 REAL,
  pfs2_event                  INTEGER NOT NULL CHECK (pfs2_event IN (0, 1)),
  PRIMARY KEY (run_id, patient_index, arm_index),
  FOREIGN KEY (run_id, patient_index) REFERENCES patients (run_id, patient_index)
    ON DELETE CASCADE,
  FOREIGN KEY (run_id, arm_index) REFERENCES arms (run_id, arm_index) ON DELETE CASCADE,
  CHECK (dor_event IS NULL OR best_response IN ('CR', 'PR')),
  CHECK ((eradication_months IS NULL) = (eradicated = 0)),
  CHECK (pseudo_progression = 0 OR best_response_irecist IN ('CR', 'PR')),
  CHECK ((pfs2_months IS NULL) = (next_line_months IS NULL)),
  CHECK (pfs2_months IS NOT NULL OR pfs2_event = 0)
) STRICT, WITHOUT ROWID;

CREATE TABLE events (
  run_id        INTEGER NOT NULL,
  patient_index INTEGER NOT NULL,
  arm_index     INTEGER NOT NULL,
  seq           INTEGER NOT NULL CHECK (seq >= 0),
  day           REAL    NOT NULL,
  kind          TEXT    NOT NULL CHECK (kind = 'treatment_start' OR kind = 'assessment'
                  OR kind = 'irae' OR kind = 'treatment_stop' OR kind = 'progression'
                  OR kind = 'death' OR kind = 'response' OR kind = 'adverse_event'
                  OR kind = 'treatment_hold' OR kind = 'treatment_resume'
                  OR kind = 'confirmed_progression' OR kind = 'next_line'
                  OR kind = 'eradication'),
  code          INTEGER NOT NULL,
  detail        TEXT,
  value         REAL,
  PRIMARY KEY (run_id, patient_index, arm_index, seq)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER outcomes_delete_events AFTER DELETE ON outcomes
BEGIN
  DELETE FROM events
  WHERE run_id = OLD.run_id AND patient_index = OLD.patient_index AND arm_index = OLD.arm_index;
END;

)sql";

// Tables added by schema version 4. subgroup_counts and survival_time_counts are derived data:
// per run, arm and subgroup, the counts that the per-arm and subgroup figures need, and per run,
// arm and distinct time, each endpoint's events and censorings that Kaplan-Meier needs. The
// writer keeps them in the same transaction as each block's rows (so they always match the
// stored rows), and those figures read a few thousand rows instead of every outcome (times are
// whole days, so an arm has at most a few thousand distinct times). designs and design_points
// hold `vpgen size`.
constexpr std::string_view kTablesV4Sql = R"sql(
CREATE TABLE subgroup_counts (
  run_id          INTEGER NOT NULL,
  arm_index       INTEGER NOT NULL,
  cancer_type     TEXT    NOT NULL,
  tmb_band        TEXT    NOT NULL CHECK (tmb_band = '<5' OR tmb_band = '5-<10'
                    OR tmb_band = '10-<20' OR tmb_band = '>=20'),
  pdl1_band       TEXT    NOT NULL CHECK (pdl1_band = '<1' OR pdl1_band = '1-49'
                    OR pdl1_band = '>=50'),
  hot             INTEGER NOT NULL CHECK (hot IN (0, 1)),
  memory_band     TEXT    NOT NULL CHECK (memory_band = 'low' OR memory_band = 'middle'
                    OR memory_band = 'high'),
  line_of_therapy INTEGER NOT NULL,
  n                              INTEGER NOT NULL CHECK (n > 0),
  complete_responses             INTEGER NOT NULL CHECK (complete_responses >= 0),
  partial_responses              INTEGER NOT NULL CHECK (partial_responses >= 0),
  stable_disease                 INTEGER NOT NULL CHECK (stable_disease >= 0),
  progressive_disease            INTEGER NOT NULL CHECK (progressive_disease >= 0),
  not_evaluable                  INTEGER NOT NULL CHECK (not_evaluable >= 0),
  complete_responses_unconfirmed INTEGER NOT NULL CHECK (complete_responses_unconfirmed >= 0),
  partial_responses_unconfirmed  INTEGER NOT NULL CHECK (partial_responses_unconfirmed >= 0),
  complete_responses_irecist     INTEGER NOT NULL CHECK (complete_responses_irecist >= 0),
  partial_responses_irecist      INTEGER NOT NULL CHECK (partial_responses_irecist >= 0),
  durable_cr                     INTEGER NOT NULL CHECK (durable_cr >= 0),
  irae_any                       INTEGER NOT NULL CHECK (irae_any >= 0),
  irae_grade3plus                INTEGER NOT NULL CHECK (irae_grade3plus >= 0),
  ae_grade3plus                  INTEGER NOT NULL CHECK (ae_grade3plus >= 0),
  deaths                         INTEGER NOT NULL CHECK (deaths >= 0),
  progressions_or_deaths         INTEGER NOT NULL CHECK (progressions_or_deaths >= 0),
  beyond_progression             INTEGER NOT NULL CHECK (beyond_progression >= 0),
  pseudo_progressions            INTEGER NOT NULL CHECK (pseudo_progressions >= 0),
  pseudo_progressions_recist_pd  INTEGER NOT NULL CHECK (pseudo_progressions_recist_pd >= 0),
  next_line                      INTEGER NOT NULL CHECK (next_line >= 0),
  eradicated                     INTEGER NOT NULL CHECK (eradicated >= 0),
  treatment_holds                INTEGER NOT NULL CHECK (treatment_holds >= 0),
  treatment_holds_squares        INTEGER NOT NULL CHECK (treatment_holds_squares >= 0),
  PRIMARY KEY (run_id, arm_index, cancer_type, tmb_band, pdl1_band, hot, memory_band,
               line_of_therapy),
  FOREIGN KEY (run_id, arm_index) REFERENCES arms (run_id, arm_index) ON DELETE CASCADE,
  CHECK (n = complete_responses + partial_responses + stable_disease + progressive_disease
           + not_evaluable)
) STRICT, WITHOUT ROWID;

CREATE TABLE survival_time_counts (
  run_id               INTEGER NOT NULL,
  arm_index            INTEGER NOT NULL,
  time_months          REAL    NOT NULL,
  os_events            INTEGER NOT NULL CHECK (os_events >= 0),
  os_censored          INTEGER NOT NULL CHECK (os_censored >= 0),
  pfs_events           INTEGER NOT NULL CHECK (pfs_events >= 0),
  pfs_censored         INTEGER NOT NULL CHECK (pfs_censored >= 0),
  pfs_irecist_events   INTEGER NOT NULL CHECK (pfs_irecist_events >= 0),
  pfs_irecist_censored INTEGER NOT NULL CHECK (pfs_irecist_censored >= 0),
  dor_events           INTEGER NOT NULL CHECK (dor_events >= 0),
  dor_censored         INTEGER NOT NULL CHECK (dor_censored >= 0),
  pfs2_events          INTEGER NOT NULL CHECK (pfs2_events >= 0),
  pfs2_censored        INTEGER NOT NULL CHECK (pfs2_censored >= 0),
  PRIMARY KEY (run_id, arm_index, time_months),
  FOREIGN KEY (run_id, arm_index) REFERENCES arms (run_id, arm_index) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE TABLE designs (
  design_id          INTEGER PRIMARY KEY,
  schema_version     INTEGER NOT NULL,
  name               TEXT    NOT NULL,
  design_text        TEXT    NOT NULL,
  design_hash        TEXT    NOT NULL,
  mode               TEXT    NOT NULL
                     CHECK (mode = 'mechanistic' OR mode = 'parametric' OR mode = 'calculator'),
  endpoint           TEXT    NOT NULL,
  analysis           TEXT    NOT NULL,
  seed               INTEGER NOT NULL CHECK (seed >= 0),
  target_power       REAL,
  recommended_n      REAL,
  recommended_n_low  REAL,
  recommended_n_high REAL,
  result_json        TEXT    NOT NULL CHECK (json_valid(result_json)),
  vpgen_version      TEXT    NOT NULL,
  git_commit         TEXT    NOT NULL,
  created_at         TEXT    NOT NULL,
  wall_seconds       REAL    NOT NULL
) STRICT;

CREATE TABLE design_points (
  design_id                INTEGER NOT NULL REFERENCES designs (design_id) ON DELETE CASCADE,
  n_total                  INTEGER NOT NULL CHECK (n_total >= 0),
  replicates               INTEGER NOT NULL CHECK (replicates >= 0),
  power                    REAL,
  power_mcse               REAL,
  type1_error              REAL,
  type1_mcse               REAL,
  expected_events          REAL,
  expected_duration_months REAL,
  pet_p0                   REAL,
  expected_n_p0            REAL,
  PRIMARY KEY (design_id, n_total)
) STRICT, WITHOUT ROWID;
)sql";

// Version 5: the runs of a sharded or MPI simulation. A shard's run holds the patients
// [first_patient, end_patient) of a cohort of patients_requested; `vpgen merge` combines shards into
// one run whose run_parts rows say where each range came from (provenance, like the timestamps:
// the merged run's other content equals a one-process run's). The columns are added to `runs` by
// ALTER TABLE in new files as in migrated ones (runs_v5_columns_sql): one definition, and the same
// table in both.
constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kRunsV5Columns = {{
    {"first_patient", "INTEGER NOT NULL DEFAULT 0 CHECK (first_patient >= 0)"},
    {"end_patient", "INTEGER NOT NULL DEFAULT 0 CHECK (end_patient >= 0)"},
    {"shard_index", "INTEGER NOT NULL DEFAULT 0 CHECK (shard_index >= 0)"},
    {"shard_count", "INTEGER NOT NULL DEFAULT 1 CHECK (shard_count >= 1)"},
    {"patients_stored", "INTEGER NOT NULL DEFAULT 0 CHECK (patients_stored >= 0)"},
    {"candidates_screened", "INTEGER NOT NULL DEFAULT 0 CHECK (candidates_screened >= 0)"},
}};

constexpr std::string_view kTablesV5Sql = R"sql(
CREATE TABLE run_parts (
  run_id        INTEGER NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
  part_index    INTEGER NOT NULL CHECK (part_index >= 0),
  shard_index   INTEGER NOT NULL CHECK (shard_index >= 0),
  shard_count   INTEGER NOT NULL CHECK (shard_count >= 1),
  first_patient INTEGER NOT NULL CHECK (first_patient >= 0),
  end_patient   INTEGER NOT NULL CHECK (end_patient >= first_patient),
  source        TEXT    NOT NULL,
  source_run_id INTEGER NOT NULL,
  threads       INTEGER NOT NULL,
  block_size    INTEGER NOT NULL,
  started_at    TEXT    NOT NULL,
  finished_at   TEXT,
  wall_seconds  REAL,
  PRIMARY KEY (run_id, part_index)
) STRICT, WITHOUT ROWID;
)sql";

// The views (a file of an older version gets them anew when migrated). arm_summary and the
// subgroup responder fractions, with Wilson score 95% bounds (computable in SQL; needs SQLite's
// math functions, built in since 3.35), read subgroup_counts; survival input per endpoint and the
// CDISC ADaM-shaped
// views: USUBJID is one virtual subject, who appears once per arm (each arm is a counterfactual
// course of the same patient); study day 1 is the first dose (ADY = floor(day) + 1).
constexpr std::string_view kViewsSql = R"sql(
CREATE VIEW arm_summary AS
WITH per_arm AS (
  SELECT run_id, arm_index, SUM(n) AS n,
         SUM(complete_responses) AS complete_responses,
         SUM(partial_responses) AS partial_responses,
         SUM(stable_disease) AS stable_disease,
         SUM(progressive_disease) AS progressive_disease,
         SUM(not_evaluable) AS not_evaluable,
         SUM(complete_responses_unconfirmed) AS complete_responses_unconfirmed,
         SUM(partial_responses_unconfirmed) AS partial_responses_unconfirmed,
         SUM(complete_responses_irecist) AS complete_responses_irecist,
         SUM(partial_responses_irecist) AS partial_responses_irecist,
         SUM(durable_cr) AS durable_cr,
         SUM(irae_any) AS irae_any,
         SUM(irae_grade3plus) AS irae_grade3plus,
         SUM(ae_grade3plus) AS ae_grade3plus,
         SUM(deaths) AS deaths,
         SUM(progressions_or_deaths) AS progressions_or_deaths,
         SUM(beyond_progression) AS beyond_progression,
         SUM(pseudo_progressions) AS pseudo_progressions,
         SUM(pseudo_progressions_recist_pd) AS pseudo_progressions_recist_pd,
         SUM(next_line) AS next_line,
         SUM(eradicated) AS eradicated,
         SUM(treatment_holds) AS treatment_holds,
         SUM(treatment_holds_squares) AS treatment_holds_squares
  FROM subgroup_counts
  GROUP BY run_id, arm_index)
SELECT a.run_id,
       a.arm_index,
       a.name                                                           AS arm,
       a.regimen,
       COALESCE(c.n, 0)                                                 AS n,
       COALESCE(c.complete_responses + c.partial_responses, 0)          AS responders,
       COALESCE(c.complete_responses, 0)                                AS complete_responses,
       COALESCE(c.partial_responses, 0)                                 AS partial_responses,
       COALESCE(c.stable_disease, 0)                                    AS stable_disease,
       COALESCE(c.progressive_disease, 0)                               AS progressive_disease,
       COALESCE(c.not_evaluable, 0)                                     AS not_evaluable,
       CAST(c.complete_responses + c.partial_responses AS REAL) / c.n   AS orr,
       COALESCE(c.complete_responses_unconfirmed + c.partial_responses_unconfirmed, 0)
                                                                        AS responders_unconfirmed,
       COALESCE(c.complete_responses_unconfirmed, 0)          AS complete_responses_unconfirmed,
       COALESCE(c.partial_responses_unconfirmed, 0)           AS partial_responses_unconfirmed,
       CAST(c.complete_responses_unconfirmed + c.partial_responses_unconfirmed AS REAL) / c.n
                                                                        AS orr_unconfirmed,
       CAST(c.complete_responses AS REAL) / c.n                         AS cr_rate,
       CAST(c.complete_responses + c.partial_responses + c.stable_disease AS REAL) / c.n
                                                                        AS dcr,
       COALESCE(c.irae_grade3plus, 0)                                   AS irae_grade3plus,
       CAST(c.irae_grade3plus AS REAL) / c.n                            AS irae_grade3plus_rate,
       COALESCE(c.durable_cr, 0)                                        AS durable_cr,
       CAST(c.durable_cr AS REAL) / c.n                                 AS durable_cr_rate,
       COALESCE(c.deaths, 0)                                            AS deaths,
       COALESCE(c.complete_responses_irecist + c.partial_responses_irecist, 0)
                                                                        AS responders_irecist,
       COALESCE(c.complete_responses_irecist, 0)                  AS complete_responses_irecist,
       COALESCE(c.partial_responses_irecist, 0)                   AS partial_responses_irecist,
       CAST(c.complete_responses_irecist + c.partial_responses_irecist AS REAL) / c.n
                                                                        AS orr_irecist,
       COALESCE(c.ae_grade3plus, 0)                                     AS ae_grade3plus,
       CAST(c.ae_grade3plus AS REAL) / c.n                              AS ae_grade3plus_rate,
       COALESCE(c.treatment_holds, 0)                                   AS treatment_holds,
       CAST(c.treatment_holds AS REAL) / c.n                            AS mean_treatment_holds,
       COALESCE(c.beyond_progression, 0)                                AS beyond_progression,
       COALESCE(c.pseudo_progressions, 0)                               AS pseudo_progressions,
       COALESCE(c.pseudo_progressions_recist_pd, 0)                AS pseudo_progressions_recist_pd,
       CAST(c.pseudo_progressions_recist_pd AS REAL) / NULLIF(c.progressive_disease, 0)
                                                            AS pseudo_progression_rate_recist_pd,
       COALESCE(c.next_line, 0)                                         AS next_line,
       CAST(c.next_line AS REAL) / c.n                                  AS next_line_rate,
       COALESCE(c.eradicated, 0)                                        AS eradicated,
       CAST(c.eradicated AS REAL) / c.n                                 AS eradication_rate
FROM arms AS a
LEFT JOIN per_arm AS c ON c.run_id = a.run_id AND c.arm_index = a.arm_index;

CREATE VIEW responder_fractions AS
WITH groups AS (
  SELECT c.run_id, c.arm_index, a.name AS arm, c.cancer_type, c.tmb_band, c.pdl1_band, c.hot,
         SUM(c.n)                                                                AS n,
         SUM(c.complete_responses + c.partial_responses)                         AS responders,
         SUM(c.complete_responses)                                               AS complete_responses,
         SUM(c.durable_cr)                                                       AS durable_cr
  FROM subgroup_counts AS c
  JOIN arms AS a ON a.run_id = c.run_id AND a.arm_index = c.arm_index
  GROUP BY c.run_id, c.arm_index, c.cancer_type, c.tmb_band, c.pdl1_band, c.hot),
wilson AS (SELECT *, 1.959963984540054 AS z FROM groups)
SELECT run_id, arm_index, arm, cancer_type, tmb_band, pdl1_band, hot, n, responders,
       complete_responses, durable_cr,
       CAST(responders AS REAL) / n                                               AS orr,
       (responders + z * z / 2 - z * sqrt(CAST(responders AS REAL) * (n - responders) / n
          + z * z / 4)) / (n + z * z)                                             AS orr_ci_low,
       (responders + z * z / 2 + z * sqrt(CAST(responders AS REAL) * (n - responders) / n
          + z * z / 4)) / (n + z * z)                                             AS orr_ci_high,
       CAST(complete_responses AS REAL) / n                                       AS cr_rate,
       (complete_responses + z * z / 2 - z * sqrt(CAST(complete_responses AS REAL)
          * (n - complete_responses) / n + z * z / 4)) / (n + z * z)              AS cr_rate_ci_low,
       (complete_responses + z * z / 2 + z * sqrt(CAST(complete_responses AS REAL)
          * (n - complete_responses) / n + z * z / 4)) / (n + z * z)              AS cr_rate_ci_high,
       CAST(durable_cr AS REAL) / n                                               AS durable_cr_rate,
       (durable_cr + z * z / 2 - z * sqrt(CAST(durable_cr AS REAL) * (n - durable_cr) / n
          + z * z / 4)) / (n + z * z)                                       AS durable_cr_rate_ci_low,
       (durable_cr + z * z / 2 + z * sqrt(CAST(durable_cr AS REAL) * (n - durable_cr) / n
          + z * z / 4)) / (n + z * z)                                      AS durable_cr_rate_ci_high
FROM wilson;

CREATE VIEW survival_input AS
SELECT run_id, arm_index, patient_index, 'OS' AS endpoint, os_months AS time_months,
       os_event AS event
FROM outcomes
UNION ALL
SELECT run_id, arm_index, patient_index, 'PFS', pfs_months, pfs_event FROM outcomes
UNION ALL
SELECT run_id, arm_index, patient_index, 'PFS_IRECIST', pfs_irecist_months, pfs_irecist_event
FROM outcomes
UNION ALL
SELECT run_id, arm_index, patient_index, 'DOR', duration_of_response_months, dor_event
FROM outcomes WHERE duration_of_response_months IS NOT NULL
UNION ALL
SELECT run_id, arm_index, patient_index, 'PFS2',
       CASE WHEN pfs2_months IS NOT NULL THEN pfs2_months ELSE os_months END,
       CASE WHEN pfs2_months IS NOT NULL THEN pfs2_event ELSE os_event END
FROM outcomes;

CREATE VIEW survival_counts AS
SELECT run_id, arm_index, 'OS' AS endpoint, time_months, os_events AS events,
       os_censored AS censored
FROM survival_time_counts WHERE os_events + os_censored > 0
UNION ALL
SELECT run_id, arm_index, 'PFS', time_months, pfs_events, pfs_censored
FROM survival_time_counts WHERE pfs_events + pfs_censored > 0
UNION ALL
SELECT run_id, arm_index, 'PFS_IRECIST', time_months, pfs_irecist_events, pfs_irecist_censored
FROM survival_time_counts WHERE pfs_irecist_events + pfs_irecist_censored > 0
UNION ALL
SELECT run_id, arm_index, 'DOR', time_months, dor_events, dor_censored
FROM survival_time_counts WHERE dor_events + dor_censored > 0
UNION ALL
SELECT run_id, arm_index, 'PFS2', time_months, pfs2_events, pfs2_censored
FROM survival_time_counts WHERE pfs2_events + pfs2_censored > 0;

CREATE VIEW kaplan_meier AS
WITH risk AS (
  SELECT run_id, arm_index, endpoint, time_months, events, censored,
         SUM(events + censored) OVER (PARTITION BY run_id, arm_index, endpoint
                                      ORDER BY time_months DESC)         AS at_risk
  FROM survival_counts),
steps AS (
  SELECT *,
         SUM(CASE WHEN events < at_risk THEN ln(1.0 - CAST(events AS REAL) / at_risk) END)
           OVER w                                                        AS log_survival,
         MAX(events = at_risk) OVER w                                    AS reached_zero,
         SUM(CASE WHEN events < at_risk
                  THEN CAST(events AS REAL) / (CAST(at_risk AS REAL) * (at_risk - events))
             END) OVER w                                                 AS greenwood
  FROM risk
  WINDOW w AS (PARTITION BY run_id, arm_index, endpoint ORDER BY time_months
               ROWS UNBOUNDED PRECEDING))
SELECT run_id, arm_index, endpoint, time_months, at_risk, events, censored,
       CASE WHEN reached_zero THEN 0.0 ELSE exp(log_survival) END        AS survival,
       CASE WHEN reached_zero THEN NULL
            ELSE exp(log_survival - 1.959963984540054 * sqrt(greenwood)) END AS survival_ci_low,
       CASE WHEN reached_zero THEN NULL
            ELSE min(1.0, exp(log_survival + 1.959963984540054 * sqrt(greenwood))) END
                                                                         AS survival_ci_high
FROM steps;

CREATE VIEW adsl AS
SELECT o.run_id AS RUNID, r.scenario_name AS STUDYID,
       printf('%s-R%d-%06d', r.scenario_name, o.run_id, o.patient_index) AS USUBJID,
       o.patient_index AS SUBJID, o.arm_index AS TRT01PN, a.name AS ARM, a.name AS TRT01P,
       a.name AS TRT01A, a.regimen AS REGIMEN, CAST(p.age_years AS INTEGER) AS AGE,
       'YEARS' AS AGEU, p.sex AS SEX, p.cancer_type AS CANCTYPE, p.tmb_mut_per_mb AS TMB,
       p.pdl1_tps_percent AS PDL1TPS, p.hot AS HOT, p.ecog AS ECOG, p.ldh_elevated AS LDHELEV,
       p.line_of_therapy AS LINE, p.prior_anti_pd1 AS PRIORPD1, 'Y' AS ITTFL
FROM outcomes AS o
JOIN patients AS p ON p.run_id = o.run_id AND p.patient_index = o.patient_index
JOIN arms AS a ON a.run_id = o.run_id AND a.arm_index = o.arm_index
JOIN runs AS r ON r.run_id = o.run_id;

CREATE VIEW adrs AS
SELECT o.run_id AS RUNID, printf('%s-R%d-%06d', r.scenario_name, o.run_id, o.patient_index)
         AS USUBJID,
       o.arm_index AS TRT01PN, a.name AS TRT01P, 'BOR' AS PARAMCD,
       'Best Overall Response (RECIST 1.1, confirmed)' AS PARAM, o.best_response AS AVALC,
       NULL AS ADY
FROM outcomes AS o
JOIN arms AS a ON a.run_id = o.run_id AND a.arm_index = o.arm_index
JOIN runs AS r ON r.run_id = o.run_id
UNION ALL
SELECT e.run_id, printf('%s-R%d-%06d', r.scenario_name, e.run_id, e.patient_index),
       e.arm_index, a.name, 'OVRLRESP', 'Overall Response (RECIST 1.1, per visit)', e.detail,
       CAST(e.day AS INTEGER) + 1
FROM events AS e
JOIN arms AS a ON a.run_id = e.run_id AND a.arm_index = e.arm_index
JOIN runs AS r ON r.run_id = e.run_id
WHERE e.kind = 'assessment';

CREATE VIEW adtte AS
WITH subject AS (
  SELECT o.*, printf('%s-R%d-%06d', r.scenario_name, o.run_id, o.patient_index) AS USUBJID,
         a.name AS TRT01P
  FROM outcomes AS o
  JOIN arms AS a ON a.run_id = o.run_id AND a.arm_index = o.arm_index
  JOIN runs AS r ON r.run_id = o.run_id)
SELECT run_id AS RUNID, USUBJID, arm_index AS TRT01PN, TRT01P, 'OS' AS PARAMCD,
       'Overall Survival' AS PARAM, os_months AS AVAL, 'MONTHS' AS AVALU, 1 - os_event AS CNSR
FROM subject
UNION ALL
SELECT run_id, USUBJID, arm_index, TRT01P, 'PFS', 'Progression-Free Survival (RECIST 1.1)',
       pfs_months, 'MONTHS', 1 - pfs_event
FROM subject
UNION ALL
SELECT run_id, USUBJID, arm_index, TRT01P, 'DOR', 'Duration of Response (RECIST 1.1)',
       duration_of_response_months, 'MONTHS', 1 - dor_event
FROM subject
WHERE duration_of_response_months IS NOT NULL;

CREATE VIEW adae AS
SELECT e.run_id AS RUNID, printf('%s-R%d-%06d', r.scenario_name, e.run_id, e.patient_index)
         AS USUBJID,
       e.arm_index AS TRT01PN, a.name AS TRT01P, e.seq AS AESEQ,
       'IMMUNE-RELATED ADVERSE EVENT' AS AEDECOD, 'Y' AS AEIRFL, CAST(e.code AS TEXT) AS AETOXGR,
       e.code AS AETOXGRN, CAST(e.day AS INTEGER) + 1 AS ASTDY, e.day / 30.4375 AS ASTMO
FROM events AS e
JOIN arms AS a ON a.run_id = e.run_id AND a.arm_index = e.arm_index
JOIN runs AS r ON r.run_id = e.run_id
WHERE e.kind = 'irae';
)sql";

// subgroup_counts computed from the stored rows: the migration fills the table with it, and
// tests compare it with what the writer maintained block by block. The bands' boundaries are the
// writer's (band_of_* below): the same doubles compared the same way.
constexpr std::string_view kSubgroupCountsFromRowsSql = R"sql(
SELECT o.run_id, o.arm_index, p.cancer_type,
       CASE WHEN p.tmb_mut_per_mb < 5 THEN '<5' WHEN p.tmb_mut_per_mb < 10 THEN '5-<10'
            WHEN p.tmb_mut_per_mb < 20 THEN '10-<20' ELSE '>=20' END AS tmb_band,
       CASE WHEN p.pdl1_tps_percent < 1 THEN '<1' WHEN p.pdl1_tps_percent < 50 THEN '1-49'
            ELSE '>=50' END AS pdl1_band,
       p.hot,
       CASE WHEN p.memory_capacity < 1.0 / 3 THEN 'low' WHEN p.memory_capacity < 2.0 / 3
            THEN 'middle' ELSE 'high' END AS memory_band,
       p.line_of_therapy,
       COUNT(*),
       COUNT(*) FILTER (WHERE o.best_response = 'CR'),
       COUNT(*) FILTER (WHERE o.best_response = 'PR'),
       COUNT(*) FILTER (WHERE o.best_response = 'SD'),
       COUNT(*) FILTER (WHERE o.best_response = 'PD'),
       COUNT(*) FILTER (WHERE o.best_response = 'NE'),
       COUNT(*) FILTER (WHERE o.best_response_unconfirmed = 'CR'),
       COUNT(*) FILTER (WHERE o.best_response_unconfirmed = 'PR'),
       COUNT(*) FILTER (WHERE o.best_response_irecist = 'CR'),
       COUNT(*) FILTER (WHERE o.best_response_irecist = 'PR'),
       COUNT(*) FILTER (WHERE o.durable_cr = 1),
       COUNT(*) FILTER (WHERE o.worst_irae_grade >= 1),
       COUNT(*) FILTER (WHERE o.worst_irae_grade >= 3),
       COUNT(*) FILTER (WHERE o.worst_ae_grade >= 3),
       COUNT(*) FILTER (WHERE o.os_event = 1),
       COUNT(*) FILTER (WHERE o.pfs_event = 1),
       COUNT(*) FILTER (WHERE o.beyond_progression = 1),
       COUNT(*) FILTER (WHERE o.pseudo_progression = 1),
       COUNT(*) FILTER (WHERE o.pseudo_progression = 1 AND o.best_response = 'PD'),
       COUNT(*) FILTER (WHERE o.next_line_months IS NOT NULL),
       COUNT(*) FILTER (WHERE o.eradicated = 1),
       SUM(o.treatment_holds),
       SUM(o.treatment_holds * o.treatment_holds)
FROM outcomes AS o
JOIN patients AS p ON p.run_id = o.run_id AND p.patient_index = o.patient_index
GROUP BY o.run_id, o.arm_index, p.cancer_type, tmb_band, pdl1_band, p.hot, memory_band,
         p.line_of_therapy
)sql";

// What a file of this version must contain, checked when an existing file is opened.
constexpr std::array<std::pair<std::string_view, std::string_view>, 20> kSchemaObjects = {{
    {"table", "runs"},
    {"table", "run_parts"},
    {"table", "arms"},
    {"table", "patients"},
    {"table", "outcomes"},
    {"table", "events"},
    {"table", "subgroup_counts"},
    {"table", "survival_time_counts"},
    {"view", "survival_counts"},
    {"table", "designs"},
    {"table", "design_points"},
    {"trigger", "outcomes_delete_events"},
    {"view", "arm_summary"},
    {"view", "responder_fractions"},
    {"view", "survival_input"},
    {"view", "kaplan_meier"},
    {"view", "adsl"},
    {"view", "adrs"},
    {"view", "adtte"},
    {"view", "adae"},
}};

constexpr std::string_view kNowUtc = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')";

constexpr std::array<std::string_view, 6> kGradeLabels = {"grade 0", "grade 1", "grade 2",
                                                          "grade 3", "grade 4", "grade 5"};
// next_line events: code = line of therapy of the new regimen (2 = second line). One subsequent
// line is modelled; the labels reach far beyond it.
constexpr int kFirstNextLine = 2;
constexpr std::array<std::string_view, 8> kLineLabels = {"line 2", "line 3", "line 4", "line 5",
                                                         "line 6", "line 7", "line 8", "line 9"};

// The valid `code` values of an event kind, [min, max].
struct CodeRange {
  int min = 0;
  int max = 0;
};

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

template <typename Enum, std::size_t N>
std::string_view checked_name(Enum value, const std::array<std::string_view, N>& names,
                              const char* what) {
  const auto index = static_cast<std::size_t>(value);
  if (index >= N)
    throw StorageError(fmt::format("invalid {} value {}; refusing to store it", what, index));
  return names[index];
}

template <typename Enum, std::size_t N>
Enum enum_from_name(std::string_view name, const std::array<std::string_view, N>& names,
                    const char* what) {
  for (std::size_t i = 0; i < N; ++i)
    if (names[i] == name) return static_cast<Enum>(i);
  throw StorageError(fmt::format("the database holds an unknown {} '{}'", what, name));
}

std::string db_name(sqlite3* db) {
  const char* file = sqlite3_db_filename(db, "main");
  return file != nullptr && *file != '\0' ? std::string(file) : std::string(":memory:");
}

bool is_file_database(sqlite3* db) {
  const char* file = sqlite3_db_filename(db, "main");
  return file != nullptr && *file != '\0';
}

struct SchemaState {
  std::int64_t application_id = 0;
  std::int64_t user_version = 0;
  std::int64_t objects = 0;  // tables, indexes, views, triggers

  bool empty() const { return application_id == 0 && user_version == 0 && objects == 0; }
};

SchemaState read_schema_state(sqlite3* db) {
  Statement query(db,
                  "SELECT (SELECT application_id FROM pragma_application_id),"
                  " (SELECT user_version FROM pragma_user_version),"
                  " (SELECT COUNT(*) FROM sqlite_schema)",
                  "reading the schema version");
  SchemaState state;
  if (query.step()) {
    state.application_id = query.column_int64(0);
    state.user_version = query.column_int64(1);
    state.objects = query.column_int64(2);
  }
  return state;
}

// Why an existing file is not a complete vpgen schema of this version, or nullopt if it is.
std::optional<std::string> refusal(sqlite3* db, const SchemaState& state, const std::string& path) {
  if (state.application_id != kApplicationId)
    return fmt::format(
        "{} is not a vpgen results database (SQLite application_id {:#x}, user_version {}, {} "
        "schema objects; vpgen files have application_id {:#x}); refusing to use it",
        path, state.application_id, state.user_version, state.objects, kApplicationId);
  // Files older than version 2 are not migrated: they lack columns (for version 1: iRECIST,
  // adverse events, holds, next lines) that no conversion could fill in without simulating again.
  if (state.user_version < kSchemaVersion)
    return fmt::format(
        "{} was written by schema version {}; this vpgen reads version {} and does not convert "
        "older files (they lack columns that only a new simulation can fill): simulate again "
        "into a new file (runs.scenario_text and runs.seed of the old file hold each run's "
        "inputs), or read the old file with the vpgen release that wrote it",
        path, state.user_version, kSchemaVersion);
  if (state.user_version != kSchemaVersion)
    return fmt::format(
        "{} was written by schema version {}; this vpgen reads version {}: use a newer vpgen",
        path, state.user_version, kSchemaVersion);
  Statement query(db, "SELECT 1 FROM sqlite_schema WHERE type = ?1 AND name = ?2",
                  "checking the schema objects");
  for (const auto& [type, name] : kSchemaObjects) {
    query.bind_static_text(1, type);
    query.bind_static_text(2, name);
    if (!query.step())
      return fmt::format("{} is marked as vpgen schema version {} but has no {} '{}'; it is damaged",
                         path, kSchemaVersion, type, name);
    query.reset();
  }
  return std::nullopt;
}

// Switching the journal mode needs a moment with no other connection in a transaction, and SQLite
// does not wait for that through the busy handler: while another process creates the schema or
// writes a block, the switch fails with SQLITE_BUSY/LOCKED at once. It is retried for the busy
// timeout; a file that stays busy is refused with a message that says so.
void set_wal(sqlite3* db, const std::string& path) {
  // An in-memory database has no WAL; it keeps its "memory" journal.
  if (!is_file_database(db)) return;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
  for (;;) {
    const int rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) return;
    const int primary = rc & 0xff;
    if (primary != SQLITE_BUSY && primary != SQLITE_LOCKED)
      sqlite::throw_error(db, rc, "switching to the WAL journal");
    if (std::chrono::steady_clock::now() >= deadline)
      throw StorageError(fmt::format(
          "{} is busy: another process kept it locked for {} s (another vpgen writing to it?); "
          "nothing was written, try again when that process has finished",
          path, kBusyTimeoutMs / 1000));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string add_runs_column_sql(std::string_view name, std::string_view definition) {
  return fmt::format("ALTER TABLE runs ADD COLUMN {} {};\n", name, definition);
}

// Adds the version-5 columns of `runs` (those not there yet: a column could exist in a file that
// was hand-edited) and fills them from the stored rows; creates run_parts.
void migrate_runs_to_v5(sqlite3* db) {
  for (const auto& [name, definition] : kRunsV5Columns) {
    Statement has(db, "SELECT 1 FROM pragma_table_info('runs') WHERE name = ?1",
                  "migrating the schema: reading the columns of runs");
    has.bind_static_text(1, name);
    if (has.step()) continue;
    sqlite::exec(db, add_runs_column_sql(name, definition).c_str(),
                 "migrating the schema: adding a column to runs");
  }
  sqlite::exec(db,
               "UPDATE runs SET first_patient = 0, end_patient = patients_requested,"
               " shard_index = 0, shard_count = 1,"
               " patients_stored = (SELECT COUNT(*) FROM patients AS p"
               "  WHERE p.run_id = runs.run_id),"
               " candidates_screened = (SELECT COALESCE(SUM(p.candidates_screened), 0)"
               "  FROM patients AS p WHERE p.run_id = runs.run_id);",
               "migrating the schema: counting each run's stored patients");
  sqlite::exec(db, std::string(kTablesV5Sql).c_str(), "migrating the schema: adding run_parts");
}

// Creates the schema in a new (empty) database, or checks an existing one. Returns why the file
// is refused, if it is; SQLite failures throw.
std::optional<std::string> open_schema(sqlite3* db, const std::string& path) {
  SchemaState state = read_schema_state(db);
  if (state.empty()) {
    set_wal(db, path);
    Statement begin(db, "BEGIN IMMEDIATE", "creating the schema");
    Statement commit(db, "COMMIT", "committing the new schema");
    Transaction transaction(db, begin);
    // Another process may have created the schema between the first look and the write lock.
    state = read_schema_state(db);
    if (state.empty()) {
      sqlite::exec(db, std::string(schema_sql()).c_str(), "creating the schema");
      sqlite::exec(db,
                   fmt::format("PRAGMA application_id = {}; PRAGMA user_version = {};",
                               kApplicationId, kSchemaVersion)
                       .c_str(),
                   "setting the schema version");
      transaction.commit(commit);
      return std::nullopt;
    }
  }
  // Versions 2 to 4 are migrated in place, in one transaction (a failure leaves the file as it
  // was). From 2 and 3: the views are replaced, the version-4 tables created, and subgroup_counts
  // filled from the stored rows (one pass over the outcomes). From 4: the version-5 columns of
  // `runs` are added and filled from the rows (every run of an older file covers patients
  // 0 .. patients_requested - 1, as one shard). runs.schema_version keeps the version that wrote
  // each run.
  if (state.application_id == kApplicationId && state.user_version >= kOldestMigratedVersion &&
      state.user_version < kSchemaVersion) {
    Statement begin(db, "BEGIN IMMEDIATE", "migrating the schema");
    Statement commit(db, "COMMIT", "committing the migrated schema");
    Transaction transaction(db, begin);
    state = read_schema_state(db);
    if (state.user_version >= kOldestMigratedVersion && state.user_version < 4) {
      for (const std::string_view view : {"arm_summary", "responder_fractions", "survival_input",
                                          "survival_counts", "kaplan_meier", "adsl", "adrs",
                                          "adtte", "adae"})
        sqlite::exec(db, fmt::format("DROP VIEW IF EXISTS {};", view).c_str(),
                     "migrating the schema: replacing the views");
      sqlite::exec(db, std::string(kTablesV4Sql).c_str(), "migrating the schema: adding tables");
      sqlite::exec(db,
                   fmt::format("INSERT INTO subgroup_counts {}", kSubgroupCountsFromRowsSql).c_str(),
                   "migrating the schema: counting the stored outcomes by subgroup");
      sqlite::exec(db, std::string(kViewsSql).c_str(), "migrating the schema: adding views");
      sqlite::exec(db,
                   "INSERT INTO survival_time_counts SELECT run_id, arm_index, time_months,"
                   " SUM(CASE WHEN endpoint = 'OS' THEN event ELSE 0 END),"
                   " SUM(CASE WHEN endpoint = 'OS' THEN 1 - event ELSE 0 END),"
                   " SUM(CASE WHEN endpoint = 'PFS' THEN event ELSE 0 END),"
                   " SUM(CASE WHEN endpoint = 'PFS' THEN 1 - event ELSE 0 END),"
                   " SUM(CASE WHEN endpoint = 'PFS_IRECIST' THEN event ELSE 0 END),"
                   " SUM(CASE WHEN endpoint = 'PFS_IRECIST' THEN 1 - event ELSE 0 END),"
                   " SUM(CASE WHEN endpoint = 'DOR' THEN event ELSE 0 END),"
                   " SUM(CASE WHEN endpoint = 'DOR' THEN 1 - event ELSE 0 END),"
                   " SUM(CASE WHEN endpoint = 'PFS2' THEN event ELSE 0 END),"
                   " SUM(CASE WHEN endpoint = 'PFS2' THEN 1 - event ELSE 0 END)"
                   " FROM survival_input GROUP BY run_id, arm_index, time_months",
                   "migrating the schema: counting the stored survival times");
    }
    if (state.user_version >= kOldestMigratedVersion && state.user_version < kSchemaVersion) {
      migrate_runs_to_v5(db);
      sqlite::exec(db, fmt::format("PRAGMA user_version = {};", kSchemaVersion).c_str(),
                   "migrating the schema: setting the version");
      transaction.commit(commit);
      state = read_schema_state(db);
    }
  }
  // Checked before anything is written, so a foreign file is never modified.
  std::optional<std::string> why = refusal(db, state, path);
  if (!why) set_wal(db, path);
  return why;
}

std::int64_t storable(std::uint64_t value, std::string_view what) {
  if (value > kMaxStorable)
    throw InputError(fmt::format("{} {} exceeds {}, the largest integer the results database "
                                 "stores (SQLite integers are signed 64-bit)",
                                 what, value, kMaxStorable));
  return static_cast<std::int64_t>(value);
}

const char* const kRunColumns =
    "SELECT r.run_id, r.scenario_name, r.scenario_text, r.scenario_hash, r.seed,"
    " r.patients_requested, r.vpgen_version, r.git_commit, r.compiler, r.boost_version,"
    " r.tbb_version, r.sqlite_version, r.rng_scheme, r.threads, r.block_size, r.store_events,"
    " r.started_at, r.finished_at, r.wall_seconds, r.status, r.patients_stored,"
    " r.candidates_screened,"
    " (SELECT COALESCE(MAX(p.patient_index) + 1, 0) FROM patients AS p WHERE p.run_id = r.run_id),"
    " r.first_patient, r.end_patient, r.shard_index, r.shard_count"
    " FROM runs AS r";

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
        else
          out += c;
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
  if (max_duration_months > 0.0)
    statement.bind_real(index, max_duration_months);
  else
    statement.bind_null(index);
}

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

}  // namespace

std::string_view schema_sql() {
  static const std::string full = [] {
    std::string sql(kSchemaSql);
    for (const auto& [name, definition] : kRunsV5Columns) sql += add_runs_column_sql(name, definition);
    return sql + std::string(kTablesV4Sql) + std::string(kTablesV5Sql) + std::string(kViewsSql);
  }();
  return full;
}

// The labels are stored rather than generated by SQL: a generated column, even VIRTUAL, is
// evaluated on every INSERT, which cost more than storing the few bytes.
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
// ResultStore

ResultStore::ResultStore(const std::string& path, Access access) {
  if (path.empty()) throw InputError("the results database path is empty");
  const bool read_only = access == Access::kReadOnly;
  sqlite3* raw = nullptr;
  // NOMUTEX: a ResultStore is used by one thread at a time, so SQLite's per-call mutex is waste.
  const int rc = sqlite3_open_v2(
      path.c_str(), &raw,
      (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
          SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
      nullptr);
  sqlite::Connection db(raw);  // closes on every exit below, including a failed open
  if (rc != SQLITE_OK) sqlite::throw_error(raw, rc, fmt::format("opening {}", path));
  std::optional<std::string> refused;
  try {
    sqlite3_busy_timeout(raw, kBusyTimeoutMs);
    sqlite::exec(raw, "PRAGMA foreign_keys = ON", "enabling foreign keys");
    if (read_only) {
      const SchemaState state = read_schema_state(raw);
      if (state.empty())
        refused = fmt::format("{} is empty: not a vpgen results database", path);
      else if (state.application_id == kApplicationId &&
               state.user_version >= kOldestMigratedVersion && state.user_version < kSchemaVersion)
        refused = fmt::format("{} is schema version {}; open it once with this vpgen (e.g. "
                              "`vpgen runs --db {}`) to migrate it to version {}",
                              path, state.user_version, path, kSchemaVersion);
      else
        refused = refusal(raw, state, path);
    } else {
      refused = open_schema(raw, path);
    }
    if (!refused && !read_only)
      sqlite::exec(raw, "PRAGMA synchronous = NORMAL", "setting synchronous = NORMAL");
  } catch (const StorageError& e) {
    throw StorageError(fmt::format("{} (opening {})", e.what(), path));
  }
  if (refused) throw StorageError(*refused);
  db_ = db.release();
}

ResultStore::~ResultStore() { sqlite::ConnectionCloser{}(db_); }

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
    throw InputError(fmt::format("patient range {}..{} ends beyond the cohort of {}",
                                 first_patient, end_patient, provenance.patients));
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
  const std::int64_t run_id = sqlite3_last_insert_rowid(db_);
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
  Statement update(db_,
                   fmt::format("UPDATE runs SET status = ?2, finished_at = {}, wall_seconds = ?3"
                               " WHERE run_id = ?1",
                               kNowUtc),
                   "finishing the run");
  update.bind_int64(1, run_id);
  update.bind_static_text(2, success ? std::string_view("complete") : std::string_view("failed"));
  update.bind_real(3, wall_seconds);
  update.execute();
  if (sqlite3_changes(db_) == 0)
    throw InputError(fmt::format("no run {} in {}", run_id, db_name(db_)));
}

namespace {

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
void attach_arms(sqlite3* db, std::vector<RunInfo>& runs, std::optional<std::int64_t> only) {
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
  std::vector<RunInfo> runs;
  {
    Statement query(db_, fmt::format("{} ORDER BY r.run_id", kRunColumns), "listing the runs");
    while (query.step()) runs.push_back(read_run_row(query));
  }
  attach_arms(db_, runs, std::nullopt);
  return runs;
}

RunInfo ResultStore::run_info(std::int64_t run_id) {
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

namespace {

void require_run(sqlite3* db, std::int64_t run_id) {
  Statement query(db, "SELECT 1 FROM runs WHERE run_id = ?1", "looking up the run");
  query.bind_int64(1, run_id);
  if (!query.step()) throw InputError(fmt::format("no run {} in {}", run_id, db_name(db)));
}

}  // namespace

std::vector<ArmCounts> ResultStore::arm_counts(std::int64_t run_id) {
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

std::int64_t ResultStore::record_design(const DesignRecord& design,
                                        const std::vector<DesignPointRecord>& points) {
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (points[i].n_total < 0)
      throw InputError(fmt::format("design '{}': sample size {} is negative", design.name,
                                   points[i].n_total));
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
  const std::int64_t design_id = sqlite3_last_insert_rowid(db_);
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

StoredPatient ResultStore::patient(std::int64_t run_id, std::uint64_t patient_index) {
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
                    "SELECT cancer_type, tmb_mut_per_mb, pdl1_tps_percent, infiltration, hot,"
                    " memory_capacity, tumour_burden_mm, metastatic_sites, age_years, sex, ecog,"
                    " ldh_elevated, line_of_therapy, prior_anti_pd1, candidates_screened"
                    " FROM patients WHERE run_id = ?1 AND patient_index = ?2",
                    "reading the patient");
    query.bind_int64(1, run_id);
    query.bind_int64(2, index);
    if (!query.step()) throw not_stored();
    Patient& p = result.patient;
    p.index = patient_index;
    p.cancer_type = enum_from_name<CancerType>(query.column_text(0), kCancerTypeNames, "cancer type");
    p.tmb_mut_per_mb = query.column_real(1);
    p.pdl1_tps_percent = query.column_real(2);
    p.infiltration = query.column_real(3);
    p.hot = query.column_bool(4);
    p.memory_capacity = query.column_real(5);
    p.tumour_burden_mm = query.column_real(6);
    p.metastatic_sites = static_cast<int>(query.column_int64(7));
    p.age_years = query.column_real(8);
    const std::string_view sex = query.column_text(9);
    if (sex != "F" && sex != "M")
      throw StorageError(fmt::format("the database holds an unknown sex '{}'", sex));
    p.sex = sex == "F" ? Sex::kFemale : Sex::kMale;
    p.ecog = static_cast<int>(query.column_int64(10));
    p.ldh_elevated = query.column_bool(11);
    p.line_of_therapy = static_cast<int>(query.column_int64(12));
    p.prior_anti_pd1 = query.column_bool(13);
    p.candidates_screened = static_cast<std::uint32_t>(query.column_int64(14));
    query.reset();
  }
  {
    Statement query(db_,
                    "SELECT arm_index, best_response, time_to_response_months,"
                    " duration_of_response_months, dor_event, pfs_months, pfs_event, os_months,"
                    " os_event, worst_irae_grade, irae_onset_months, stop_reason,"
                    " treatment_months, durable_cr, death_cause, eradicated, best_percent_change,"
                    " best_response_unconfirmed, eradication_months, worst_ae_grade,"
                    " treatment_holds, best_response_irecist, pfs_irecist_months,"
                    " pfs_irecist_event, beyond_progression, pseudo_progression, next_line_months,"
                    " pfs2_months, pfs2_event"
                    " FROM outcomes WHERE run_id = ?1 AND patient_index = ?2 ORDER BY arm_index",
                    "reading the patient's outcomes");
    query.bind_int64(1, run_id);
    query.bind_int64(2, index);
    while (query.step()) {
      Outcome& o = result.outcomes.emplace_back();
      o.arm_index = static_cast<std::uint32_t>(query.column_int64(0));
      o.best_response = enum_from_name<Response>(query.column_text(1), kResponseNames, "response");
      o.time_to_response_months = query.column_real(2);
      o.duration_of_response_months = query.column_real(3);
      o.dor_event = query.column_bool(4);  // NULL (no response) reads as false
      o.pfs_months = query.column_real(5);
      o.pfs_event = query.column_bool(6);
      o.os_months = query.column_real(7);
      o.os_event = query.column_bool(8);
      o.worst_irae_grade = static_cast<int>(query.column_int64(9));
      o.irae_onset_months = query.column_real(10);
      o.stop_reason =
          enum_from_name<StopReason>(query.column_text(11), kStopReasonNames, "stop reason");
      o.treatment_months = query.column_real(12);
      o.durable_cr = query.column_bool(13);
      o.death_cause =
          enum_from_name<DeathCause>(query.column_text(14), kDeathCauseNames, "death cause");
      o.eradicated = query.column_bool(15);
      o.best_percent_change = query.column_real(16);
      o.best_response_unconfirmed =
          enum_from_name<Response>(query.column_text(17), kResponseNames, "response");
      o.eradication_months = query.column_real(18);
      o.worst_ae_grade = static_cast<int>(query.column_int64(19));
      o.treatment_holds = static_cast<int>(query.column_int64(20));
      o.best_response_irecist =
          enum_from_name<Response>(query.column_text(21), kResponseNames, "response");
      o.pfs_irecist_months = query.column_real(22);
      o.pfs_irecist_event = query.column_bool(23);
      o.beyond_progression = query.column_bool(24);
      o.pseudo_progression = query.column_bool(25);
      o.next_line_months = query.column_real(26);
      o.pfs2_months = query.column_real(27);
      o.pfs2_event = query.column_bool(28);
    }
  }
  {
    Statement query(db_,
                    "SELECT arm_index, day, kind, code, value FROM events"
                    " WHERE run_id = ?1 AND patient_index = ?2 ORDER BY arm_index, seq",
                    "reading the patient's events");
    query.bind_int64(1, run_id);
    query.bind_int64(2, index);
    while (query.step()) {
      CourseEvent& e = result.events.emplace_back();
      e.arm_index = static_cast<std::uint32_t>(query.column_int64(0));
      e.day = query.column_real(1);
      e.kind = enum_from_name<EventKind>(query.column_text(2), kEventKindNames, "event kind");
      e.code = static_cast<int>(query.column_int64(3));
      e.value = query.column_real(4);
    }
  }
  return stored;
}

// ---------------------------------------------------------------------------------------------
// RunWriter

// One cell of subgroup_counts: arm x cancer type x TMB band x PD-L1 band x hot x memory band x
// line. The bands are those of kSubgroupCountsFromRowsSql, computed from the same doubles.
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
int memory_band(double capacity) {
  return capacity < 1.0 / 3 ? 0 : capacity < 2.0 / 3 ? 1 : 2;
}

// The count columns of subgroup_counts, in table order.
enum SubgroupCount : std::size_t {
  kN,
  kCompleteResponses,
  kPartialResponses,
  kStableDisease,
  kProgressiveDisease,
  kNotEvaluable,
  kCompleteResponsesUnconfirmed,
  kPartialResponsesUnconfirmed,
  kCompleteResponsesIrecist,
  kPartialResponsesIrecist,
  kDurableCr,
  kIraeAny,
  kIraeGrade3plus,
  kAeGrade3plus,
  kDeaths,
  kProgressionsOrDeaths,
  kBeyondProgression,
  kPseudoProgressions,
  kPseudoProgressionsRecistPd,
  kNextLine,
  kEradicated,
  kTreatmentHolds,
  kTreatmentHoldsSquares,
  kSubgroupCountColumns
};
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
// events and censorings of each endpoint at that time.
enum SurvivalColumn : std::size_t {
  kOsEvents, kOsCensored, kPfsEvents, kPfsCensored, kPfsIrecistEvents, kPfsIrecistCensored,
  kDorEvents, kDorCensored, kPfs2Events, kPfs2Censored, kSurvivalColumns
};
struct SurvivalKey {
  std::uint32_t arm = 0;
  double time_months = 0.0;
  auto operator<=>(const SurvivalKey&) const = default;
};
using SurvivalCounts = std::array<std::int64_t, kSurvivalColumns>;

// The survival_input view's observations of one outcome, added to `times`.
void count_times(std::uint32_t arm, const Outcome& o, std::map<SurvivalKey, SurvivalCounts>& times) {
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
  if (std::isnan(o.next_line_months))
    add(kPfs2Events, o.os_months, o.os_event);
  else
    add(kPfs2Events, o.pfs2_months, o.pfs2_event);
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
  std::uint32_t arm_count = 0;
  std::uint64_t first_patient = 0;  // the run's range: a block outside it is refused
  std::uint64_t end_patient = 0;
  std::map<SubgroupKey, SubgroupCounts> cells;  // of the block being written
  std::map<SurvivalKey, SurvivalCounts> times;  // of the block being written
};

RunWriter::RunWriter(ResultStore& store, std::int64_t run_id, bool store_events)
    : store_(store), run_id_(run_id), store_events_(store_events) {
  sqlite3* db = store_.db_;
  {
    Statement query(db,
                    "SELECT status, (SELECT COUNT(*) FROM arms AS a WHERE a.run_id = r.run_id),"
                    " first_patient, end_patient FROM runs AS r WHERE run_id = ?1",
                    "looking up the run to write");
    query.bind_int64(1, run_id);
    if (!query.step()) throw InputError(fmt::format("no run {} in {}", run_id, db_name(db)));
    if (query.column_text(0) != "incomplete")
      throw StorageError(fmt::format("run {} in {} is already {}; its results cannot change",
                                     run_id, db_name(db), query.column_text(0)));
    statements_ = std::make_unique<Statements>();
    statements_->arm_count = static_cast<std::uint32_t>(query.column_int64(1));
    statements_->first_patient = static_cast<std::uint64_t>(query.column_int64(2));
    statements_->end_patient = static_cast<std::uint64_t>(query.column_int64(3));
    query.reset();
  }
  Statements& s = *statements_;
  s.begin = Statement(db, "BEGIN IMMEDIATE", "starting a block transaction", true);
  s.commit = Statement(db, "COMMIT", "committing a block", true);
  s.patient = Statement(
      db,
      "INSERT INTO patients (run_id, patient_index, cancer_type, tmb_mut_per_mb,"
      " pdl1_tps_percent, infiltration, hot, memory_capacity, tumour_burden_mm, metastatic_sites,"
      " age_years, sex, ecog, ldh_elevated, line_of_therapy, prior_anti_pd1, candidates_screened)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
      "inserting patients", true);
  s.outcome = Statement(
      db,
      "INSERT INTO outcomes (run_id, patient_index, arm_index, best_response,"
      " best_response_unconfirmed, time_to_response_months, duration_of_response_months,"
      " dor_event, pfs_months, pfs_event, os_months, os_event, worst_irae_grade,"
      " irae_onset_months, stop_reason, treatment_months, durable_cr, death_cause, eradicated,"
      " best_percent_change, eradication_months, worst_ae_grade, treatment_holds,"
      " best_response_irecist, pfs_irecist_months, pfs_irecist_event, beyond_progression,"
      " pseudo_progression, next_line_months, pfs2_months, pfs2_event) VALUES (?1, ?2, ?3, ?4,"
      " ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23,"
      " ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31)",
      "inserting outcomes", true);
  s.subgroup = Statement(
      db,
      "INSERT INTO subgroup_counts (run_id, arm_index, cancer_type, tmb_band, pdl1_band, hot, "
      "memory_band, line_of_therapy, n, complete_responses, partial_responses, stable_disease, "
      "progressive_disease, not_evaluable, complete_responses_unconfirmed, "
      "partial_responses_unconfirmed, complete_responses_irecist, partial_responses_irecist, "
      "durable_cr, irae_any, irae_grade3plus, ae_grade3plus, deaths, progressions_or_deaths, "
      "beyond_progression, pseudo_progressions, pseudo_progressions_recist_pd, next_line, "
      "eradicated, treatment_holds, treatment_holds_squares) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
      "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, "
      "?25, ?26, ?27, ?28, ?29, ?30, ?31) ON CONFLICT (run_id, arm_index, cancer_type, "
      "tmb_band, pdl1_band, hot, memory_band, line_of_therapy) DO UPDATE SET n = n + "
      "excluded.n, complete_responses = complete_responses + excluded.complete_responses, "
      "partial_responses = partial_responses + excluded.partial_responses, stable_disease = "
      "stable_disease + excluded.stable_disease, progressive_disease = progressive_disease + "
      "excluded.progressive_disease, not_evaluable = not_evaluable + excluded.not_evaluable, "
      "complete_responses_unconfirmed = complete_responses_unconfirmed + "
      "excluded.complete_responses_unconfirmed, partial_responses_unconfirmed = "
      "partial_responses_unconfirmed + excluded.partial_responses_unconfirmed, "
      "complete_responses_irecist = complete_responses_irecist + "
      "excluded.complete_responses_irecist, partial_responses_irecist = "
      "partial_responses_irecist + excluded.partial_responses_irecist, durable_cr = durable_cr "
      "+ excluded.durable_cr, irae_any = irae_any + excluded.irae_any, irae_grade3plus = "
      "irae_grade3plus + excluded.irae_grade3plus, ae_grade3plus = ae_grade3plus + "
      "excluded.ae_grade3plus, deaths = deaths + excluded.deaths, progressions_or_deaths = "
      "progressions_or_deaths + excluded.progressions_or_deaths, beyond_progression = "
      "beyond_progression + excluded.beyond_progression, pseudo_progressions = "
      "pseudo_progressions + excluded.pseudo_progressions, pseudo_progressions_recist_pd = "
      "pseudo_progressions_recist_pd + excluded.pseudo_progressions_recist_pd, next_line = "
      "next_line + excluded.next_line, eradicated = eradicated + excluded.eradicated, "
      "treatment_holds = treatment_holds + excluded.treatment_holds, treatment_holds_squares = "
      "treatment_holds_squares + excluded.treatment_holds_squares",
      "counting outcomes by subgroup", true);
  // One row per arm and time holds every endpoint (whole-day times are shared between them), and
  // most of a block's times are already in the table after the first blocks: an UPDATE finds
  // them with one seek, and only a time it did not find is inserted. (One row per endpoint,
  // upserted, made these counts a third of the writer's time with events off.)
  s.survival_update = Statement(
      db,
      "UPDATE survival_time_counts SET os_events = os_events + ?4, os_censored = os_censored "
      "+ ?5, pfs_events = pfs_events + ?6, pfs_censored = pfs_censored + ?7, "
      "pfs_irecist_events = pfs_irecist_events + ?8, pfs_irecist_censored = "
      "pfs_irecist_censored + ?9, dor_events = dor_events + ?10, dor_censored = dor_censored "
      "+ ?11, pfs2_events = pfs2_events + ?12, pfs2_censored = pfs2_censored + ?13 WHERE "
      "run_id = ?1 AND arm_index = ?2 AND time_months = ?3",
      "counting survival times", true);
  s.survival_insert = Statement(
      db,
      "INSERT INTO survival_time_counts (run_id, arm_index, time_months, os_events, "
      "os_censored, pfs_events, pfs_censored, pfs_irecist_events, pfs_irecist_censored, "
      "dor_events, dor_censored, pfs2_events, pfs2_censored) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
      "?7, ?8, ?9, ?10, ?11, ?12, ?13)",
      "counting survival times", true);
  s.run_counts = Statement(db,
                           "UPDATE runs SET patients_stored = patients_stored + ?2,"
                           " candidates_screened = candidates_screened + ?3 WHERE run_id = ?1",
                           "counting the run's stored patients", true);
  if (store_events_)
    s.event = Statement(db,
                        "INSERT INTO events (run_id, patient_index, arm_index, seq, day, kind, code,"
                        " detail, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        "inserting events", true);
}

RunWriter::~RunWriter() = default;

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
    Transaction transaction(store_.db_, s.begin);
    std::int64_t candidates = 0;
    for (const PatientResult& result : block.results) {
      const Patient& p = result.patient;
      if (result.error)
        throw StorageError(fmt::format("the simulation failed ({}); refusing to store it",
                                       *result.error));
      if (p.index != index)
        throw StorageError(fmt::format("the patient record carries index {} at that position",
                                       p.index));
      const auto stored_index = static_cast<std::int64_t>(index);

      Statement& patient = s.patient;
      patient.bind_int64(1, run_id_);
      patient.bind_int64(2, stored_index);
      patient.bind_static_text(3, checked_name(p.cancer_type, kCancerTypeNames, "cancer type"));
      patient.bind_real(4, p.tmb_mut_per_mb);
      patient.bind_real(5, p.pdl1_tps_percent);
      patient.bind_real(6, p.infiltration);
      patient.bind_bool(7, p.hot);
      patient.bind_real(8, p.memory_capacity);
      patient.bind_real(9, p.tumour_burden_mm);
      patient.bind_int64(10, p.metastatic_sites);
      patient.bind_real(11, p.age_years);
      patient.bind_static_text(12, to_string(p.sex));
      patient.bind_int64(13, p.ecog);
      patient.bind_bool(14, p.ldh_elevated);
      patient.bind_int64(15, p.line_of_therapy);
      patient.bind_bool(16, p.prior_anti_pd1);
      patient.bind_int64(17, p.candidates_screened);
      patient.execute();
      candidates += static_cast<std::int64_t>(p.candidates_screened);

      // One outcome per arm, in arm order: the view's n and the replay rely on it.
      if (result.outcomes.size() != s.arm_count)
        throw StorageError(fmt::format("the patient has {} outcomes but the run has {} arms",
                                       result.outcomes.size(), s.arm_count));
      Statement& outcome = s.outcome;
      for (std::uint32_t arm = 0; arm < s.arm_count; ++arm) {
        const Outcome& o = result.outcomes[arm];
        if (o.arm_index != arm)
          throw StorageError(fmt::format("outcome {} is for arm {}; outcomes must be in arm order",
                                         arm, o.arm_index));
        const bool responded =
            o.best_response == Response::kCR || o.best_response == Response::kPR;
        outcome.bind_int64(1, run_id_);
        outcome.bind_int64(2, stored_index);
        outcome.bind_int64(3, arm);
        outcome.bind_static_text(4, checked_name(o.best_response, kResponseNames, "response"));
        outcome.bind_static_text(
            5, checked_name(o.best_response_unconfirmed, kResponseNames, "response"));
        outcome.bind_real(6, o.time_to_response_months);
        outcome.bind_real(7, o.duration_of_response_months);
        if (responded)
          outcome.bind_bool(8, o.dor_event);
        else
          outcome.bind_null(8);
        outcome.bind_real(9, o.pfs_months);
        outcome.bind_bool(10, o.pfs_event);
        outcome.bind_real(11, o.os_months);
        outcome.bind_bool(12, o.os_event);
        outcome.bind_int64(13, o.worst_irae_grade);
        outcome.bind_real(14, o.irae_onset_months);
        outcome.bind_static_text(15, checked_name(o.stop_reason, kStopReasonNames, "stop reason"));
        outcome.bind_real(16, o.treatment_months);
        outcome.bind_bool(17, o.durable_cr);
        outcome.bind_static_text(18, checked_name(o.death_cause, kDeathCauseNames, "death cause"));
        outcome.bind_bool(19, o.eradicated);
        outcome.bind_real(20, o.best_percent_change);
        outcome.bind_real(21, o.eradication_months);
        outcome.bind_int64(22, o.worst_ae_grade);
        outcome.bind_int64(23, o.treatment_holds);
        outcome.bind_static_text(
            24, checked_name(o.best_response_irecist, kResponseNames, "iRECIST response"));
        outcome.bind_real(25, o.pfs_irecist_months);
        outcome.bind_bool(26, o.pfs_irecist_event);
        outcome.bind_bool(27, o.beyond_progression);
        outcome.bind_bool(28, o.pseudo_progression);
        outcome.bind_real(29, o.next_line_months);
        outcome.bind_real(30, o.pfs2_months);
        outcome.bind_bool(31, o.pfs2_event);
        outcome.execute();
        const SubgroupKey key{arm,
                              static_cast<int>(p.cancer_type),
                              tmb_band(p.tmb_mut_per_mb),
                              pdl1_band(p.pdl1_tps_percent),
                              p.hot ? 1 : 0,
                              memory_band(p.memory_capacity),
                              p.line_of_therapy};
        count_outcome(o, s.cells.try_emplace(key, SubgroupCounts{}).first->second);
        count_times(arm, o, s.times);
      }

      if (!store_events_) {
        ++index;
        continue;
      }
      Statement& event = s.event;
      std::uint32_t arm = 0;
      std::int64_t seq = 0;
      for (const CourseEvent& e : result.events) {
        if (e.arm_index != arm) {
          if (e.arm_index < arm || e.arm_index >= s.arm_count)
            throw StorageError(fmt::format(
                "an event of arm {} follows one of arm {} (the run has {} arms); events must be "
                "in arm order",
                e.arm_index, arm, s.arm_count));
          arm = e.arm_index;
          seq = 0;
        }
        const std::string_view kind = checked_name(e.kind, kEventKindNames, "event kind");
        const CodeRange range = event_code_range(e.kind);
        if (e.code < range.min || e.code > range.max)
          throw StorageError(fmt::format("a {} event of arm {} has invalid code {}", kind,
                                         e.arm_index, e.code));
        event.bind_int64(1, run_id_);
        event.bind_int64(2, stored_index);
        event.bind_int64(3, arm);
        event.bind_int64(4, seq);
        event.bind_real(5, e.day);
        event.bind_static_text(6, kind);
        event.bind_int64(7, e.code);
        const std::string_view detail = event_detail(e.kind, e.code);
        if (detail.empty())
          event.bind_null(8);
        else
          event.bind_static_text(8, detail);
        event.bind_real(9, e.value);
        event.execute();
        ++seq;
      }
      ++index;
    }
    Statement& subgroup = s.subgroup;
    for (const auto& [key, counts] : s.cells) {
      subgroup.bind_int64(1, run_id_);
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
    for (const auto& [key, counts] : s.times) {
      for (Statement* survival : {&s.survival_update, &s.survival_insert}) {
        survival->bind_int64(1, run_id_);
        survival->bind_int64(2, key.arm);
        survival->bind_real(3, key.time_months);
        for (std::size_t c = 0; c < counts.size(); ++c)
          survival->bind_int64(static_cast<int>(4 + c), counts[c]);
        survival->execute();
        if (sqlite3_changes(store_.db_) > 0) break;  // updated: no insert
      }
    }
    s.run_counts.bind_int64(1, run_id_);
    s.run_counts.bind_int64(2, static_cast<std::int64_t>(block.results.size()));
    s.run_counts.bind_int64(3, candidates);
    s.run_counts.execute();
    transaction.commit(s.commit);
  } catch (const Error& e) {
    // The transaction guard has rolled the block back by now.
    throw StorageError(fmt::format("{} (run {}, patient {}; patients {}..{} of this block were "
                                   "not stored)",
                                   e.what(), run_id_, index, block.first_index, last_index));
  }
}

}  // namespace vpgen
