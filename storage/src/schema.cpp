// The schema of a results file, version kSchemaVersion (docs/SCHEMA.md): the tables written once
// per run or design as SQL text, the per-patient tables from their column tables (tables.cpp), the
// derived count tables from their count columns, and the views.
#include "store_internal.hpp"

#include <fmt/format.h>

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "vpgen/storage/result_store.hpp"

namespace vpgen {
namespace {

// The CHECK lists spell out the enum names of outcome.hpp, course_params.hpp and patient.hpp.
// Appending an enumerator changes what a file accepts, so it must bump kSchemaVersion.
static_assert(kResponseNames.size() == 5, "new Response: update the schema and kSchemaVersion");
static_assert(kStopReasonNames.size() == 5, "new StopReason: update the schema and kSchemaVersion");
static_assert(kDeathCauseNames.size() == 4, "new DeathCause: update the schema and kSchemaVersion");
static_assert(kEventKindNames.size() == 13, "new EventKind: update the schema and kSchemaVersion");
static_assert(kCancerTypeCount == 8, "new CancerType: update the schema and kSchemaVersion");
static_assert(static_cast<std::size_t>(RegimenClass::kCellTherapy) + 1 == kRegimenClassNames.size(),
              "new RegimenClass: update kRegimenClassNames, the schema and kSchemaVersion");
static_assert(kSchemaVersion == 6, "the schema below is version 6");

// CHECK constraints spell enumerations as OR chains, not `x IN ('a', 'b', 'c')`: SQLite codes an IN
// list of more than two constants as an ephemeral index built on every execution of the
// statement, which for a one-row INSERT multiplied the cost of an insert several times over.
// No secondary indexes: each would be one more B-tree insert per row, and the report's per-arm
// queries read one run's key range (the primary keys: tables.cpp).
// The regimen phases are JSON arrays (one object per phase), readable as they are and queryable
// with json_each/json_extract; the arms table is written once per run, so its JSON checks cost
// nothing that matters.
constexpr std::string_view kRunsAndArmsSql = R"sql(
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
)sql";

constexpr std::string_view kTriggerSql = R"sql(
CREATE TRIGGER outcomes_delete_events AFTER DELETE ON outcomes
BEGIN
  DELETE FROM events
  WHERE run_id = OLD.run_id AND patient_index = OLD.patient_index AND arm_index = OLD.arm_index;
END;
)sql";

// One column of a derived table, laid out as the column tables are.
struct CountColumn {
  std::string_view name;
  std::string_view type;
  std::string_view constraints;
};

// subgroup_counts: the keys (arm x cancer type x TMB band x PD-L1 band x hot x memory band x
// line), then one count per SubgroupCount, in that order.
constexpr std::array<CountColumn, 8> kSubgroupKeys = {{
    {"run_id", "INTEGER", "NOT NULL"},
    {"arm_index", "INTEGER", "NOT NULL"},
    {"cancer_type", "TEXT", "NOT NULL"},
    {"tmb_band", "TEXT",
     "NOT NULL CHECK (tmb_band = '<5' OR tmb_band = '5-<10'\n"
     "                    OR tmb_band = '10-<20' OR tmb_band = '>=20')"},
    {"pdl1_band", "TEXT",
     "NOT NULL CHECK (pdl1_band = '<1' OR pdl1_band = '1-49'\n"
     "                    OR pdl1_band = '>=50')"},
    {"hot", "INTEGER", "NOT NULL CHECK (hot IN (0, 1))"},
    {"memory_band", "TEXT",
     "NOT NULL CHECK (memory_band = 'low' OR memory_band = 'middle'\n"
     "                    OR memory_band = 'high')"},
    {"line_of_therapy", "INTEGER", "NOT NULL"},
}};

constexpr std::array<std::string_view, kSubgroupCountColumns> kSubgroupCountNames = {
    "n",
    "complete_responses",
    "partial_responses",
    "stable_disease",
    "progressive_disease",
    "not_evaluable",
    "complete_responses_unconfirmed",
    "partial_responses_unconfirmed",
    "complete_responses_irecist",
    "partial_responses_irecist",
    "durable_cr",
    "irae_any",
    "irae_grade3plus",
    "ae_grade3plus",
    "deaths",
    "progressions_or_deaths",
    "beyond_progression",
    "pseudo_progressions",
    "pseudo_progressions_recist_pd",
    "next_line",
    "eradicated",
    "treatment_holds",
    "treatment_holds_squares",
};

// survival_time_counts: arm x time, then events and censorings per endpoint (SurvivalColumn).
constexpr std::array<CountColumn, 3> kSurvivalKeys = {{
    {"run_id", "INTEGER", "NOT NULL"},
    {"arm_index", "INTEGER", "NOT NULL"},
    {"time_months", "REAL", "NOT NULL"},
}};

constexpr std::array<std::string_view, kSurvivalColumns> kSurvivalCountNames = {
    "os_events",          "os_censored",          "pfs_events", "pfs_censored",
    "pfs_irecist_events", "pfs_irecist_censored", "dor_events", "dor_censored",
    "pfs2_events",        "pfs2_censored"};

// The count columns as definitions: non-negative integers (n of a subgroup is positive: a cell
// exists because a patient is in it).
template <std::size_t N>
std::array<CountColumn, N> count_columns(const std::array<std::string_view, N>& names,
                                         std::array<std::string, N>& constraints) {
  std::array<CountColumn, N> columns;
  for (std::size_t i = 0; i < N; ++i) {
    constraints[i] =
        fmt::format("NOT NULL CHECK ({} {} 0)", names[i], names[i] == "n" ? ">" : ">=");
    columns[i] = {names[i], "INTEGER", constraints[i]};
  }
  return columns;
}

// `aligned_apart`: the keys' names are padded to the longest key, the counts' to the longest
// count (subgroup_counts); otherwise all to the longest name (survival_time_counts).
template <typename Keys, std::size_t N>
std::string create_count_table_sql(std::string_view name, const Keys& keys,
                                   const std::array<std::string_view, N>& counts,
                                   std::string_view constraints, bool aligned_apart) {
  std::array<std::string, N> texts;
  const std::array<CountColumn, N> count_definitions = count_columns(counts, texts);
  std::string sql = fmt::format("CREATE TABLE {} (\n", name);
  if (aligned_apart) {
    append_column_lines(sql, keys);
    append_column_lines(sql, count_definitions);
  } else {
    std::vector<CountColumn> all(keys.begin(), keys.end());
    all.insert(all.end(), count_definitions.begin(), count_definitions.end());
    append_column_lines(sql, all);
  }
  return sql + fmt::format("{}\n) STRICT, WITHOUT ROWID;\n", constraints);
}

template <typename Keys, typename Counts>
std::string joined_names(const Keys& keys, const Counts& counts) {
  std::string out;
  for (const auto& key : keys) out += fmt::format("{}{}", out.empty() ? "" : ", ", key.name);
  for (const std::string_view count : counts) out += fmt::format(", {}", count);
  return out;
}

std::string parameters(std::size_t count) {
  std::string out;
  for (std::size_t i = 1; i <= count; ++i) out += fmt::format("{}?{}", i == 1 ? "" : ", ", i);
  return out;
}

// Tables designs and design_points hold `vpgen size`.
constexpr std::string_view kDesignsSql = R"sql(
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

constexpr std::string_view kRunPartsSql = R"sql(
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

// Version 6: tamper evidence. One row per block the writer committed (in the block's
// transaction), or copied from a shard by merge: its patient range, its row count (patients,
// outcomes and events) and the digest of its rows (content_digest.hpp); runs.content_digest is
// their sum, set when the run completes.
constexpr std::string_view kRunBlocksSql = R"sql(
CREATE TABLE run_blocks (
  run_id        INTEGER NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
  first_patient INTEGER NOT NULL CHECK (first_patient >= 0),
  end_patient   INTEGER NOT NULL CHECK (end_patient > first_patient),
  row_count     INTEGER NOT NULL CHECK (row_count >= end_patient - first_patient),
  digest        TEXT    NOT NULL CHECK (length(digest) = 64),
  PRIMARY KEY (run_id, first_patient)
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

}  // namespace

// Version 5: the runs of a sharded or MPI simulation. A shard's run holds the patients
// [first_patient, end_patient) of a cohort of patients_requested; `vpgen merge` combines shards into
// one run whose run_parts rows say where each range came from (provenance, like the timestamps:
// the merged run's other content equals a one-process run's). The columns are added to `runs` by
// ALTER TABLE in new files as in migrated ones: one definition, and the same table in both.
const std::array<RunsColumn, 6> kRunsV5Columns = {{
    {"first_patient", "INTEGER NOT NULL DEFAULT 0 CHECK (first_patient >= 0)"},
    {"end_patient", "INTEGER NOT NULL DEFAULT 0 CHECK (end_patient >= 0)"},
    {"shard_index", "INTEGER NOT NULL DEFAULT 0 CHECK (shard_index >= 0)"},
    {"shard_count", "INTEGER NOT NULL DEFAULT 1 CHECK (shard_count >= 1)"},
    {"patients_stored", "INTEGER NOT NULL DEFAULT 0 CHECK (patients_stored >= 0)"},
    {"candidates_screened", "INTEGER NOT NULL DEFAULT 0 CHECK (candidates_screened >= 0)"},
}};

const RunsColumn kRunsV6Column = {
    "content_digest", "TEXT CHECK (content_digest IS NULL OR length(content_digest) = 64)"};

const std::array<SchemaObject, 21> kSchemaObjects = {{
    {"table", "runs"},
    {"table", "run_parts"},
    {"table", "run_blocks"},
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

std::string add_runs_column_sql(const RunsColumn& column) {
  return fmt::format("ALTER TABLE runs ADD COLUMN {} {};\n", column.name, column.definition);
}

// Tables added by schema version 4. subgroup_counts and survival_time_counts are derived data:
// per run, arm and subgroup, the counts that the per-arm and subgroup figures need, and per run,
// arm and distinct time, each endpoint's events and censorings that Kaplan-Meier needs. The
// writer keeps them in the same transaction as each block's rows (so they always match the
// stored rows), and those figures read a few thousand rows instead of every outcome (times are
// whole days, so an arm has at most a few thousand distinct times).
std::string_view tables_v4_sql() {
  static const std::string sql = [] {
    std::string text = create_count_table_sql(
        "subgroup_counts", kSubgroupKeys, kSubgroupCountNames,
        "  PRIMARY KEY (run_id, arm_index, cancer_type, tmb_band, pdl1_band, hot, memory_band,\n"
        "               line_of_therapy),\n"
        "  FOREIGN KEY (run_id, arm_index) REFERENCES arms (run_id, arm_index) ON DELETE CASCADE,\n"
        "  CHECK (n = complete_responses + partial_responses + stable_disease + progressive_disease\n"
        "           + not_evaluable)",
        true);
    text += '\n';
    text += create_count_table_sql(
        "survival_time_counts", kSurvivalKeys, kSurvivalCountNames,
        "  PRIMARY KEY (run_id, arm_index, time_months),\n"
        "  FOREIGN KEY (run_id, arm_index) REFERENCES arms (run_id, arm_index) ON DELETE CASCADE",
        false);
    text += kDesignsSql;
    return text;
  }();
  return sql;
}

std::string_view tables_v5_sql() { return kRunPartsSql; }

std::string_view tables_v6_sql() { return kRunBlocksSql; }

std::string_view views_sql() { return kViewsSql; }

std::string_view schema_sql() {
  static const std::string full = [] {
    std::string sql(kRunsAndArmsSql);
    for (const std::string& table :
         {create_table_sql(kPatientsTable), create_table_sql(kOutcomesTable),
          create_table_sql(kEventsTable)}) {
      sql += '\n';
      sql += table;
    }
    sql += kTriggerSql;
    for (const RunsColumn& column : kRunsV5Columns) sql += add_runs_column_sql(column);
    sql += tables_v4_sql();
    sql += tables_v5_sql();
    sql += add_runs_column_sql(kRunsV6Column);
    sql += tables_v6_sql();
    sql += views_sql();
    return sql;
  }();
  return full;
}

std::string subgroup_upsert_sql() {
  std::string updates;
  for (const std::string_view count : kSubgroupCountNames)
    updates += fmt::format("{0}{1} = {1} + excluded.{1}", updates.empty() ? "" : ", ", count);
  std::string keys;
  for (std::size_t i = 1; i < kSubgroupKeys.size(); ++i)  // run_id is part of the key as well
    keys += fmt::format(", {}", kSubgroupKeys[i].name);
  return fmt::format(
      "INSERT INTO subgroup_counts ({}) VALUES ({}) ON CONFLICT (run_id{}) DO UPDATE SET {}",
      joined_names(kSubgroupKeys, kSubgroupCountNames),
      parameters(kSubgroupKeys.size() + kSubgroupCountNames.size()), keys, updates);
}

std::string survival_update_sql() {
  std::string updates;
  for (std::size_t i = 0; i < kSurvivalCountNames.size(); ++i)
    updates += fmt::format("{}{} = {} + ?{}", i == 0 ? "" : ", ", kSurvivalCountNames[i],
                           kSurvivalCountNames[i], kSurvivalKeys.size() + i + 1);
  return fmt::format(
      "UPDATE survival_time_counts SET {} WHERE run_id = ?1 AND arm_index = ?2 AND time_months = ?3",
      updates);
}

std::string survival_insert_sql() {
  return fmt::format("INSERT INTO survival_time_counts ({}) VALUES ({})",
                     joined_names(kSurvivalKeys, kSurvivalCountNames),
                     parameters(kSurvivalKeys.size() + kSurvivalCountNames.size()));
}

}  // namespace vpgen
