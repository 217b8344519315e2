// `vpgen batch NIGHTLY.toml --out DIR`: runs the scenarios, designs and validation suite a nightly
// file lists, one after another, into DIR (results.db, a report per job, index.html, summary.json,
// batch.log), and compares every figure with the previous night's summary. A failing job is
// recorded and the others still run. docs/BATCH.md describes the nightly file, the outputs, the
// comparison rules and the exit codes. holm_adjust, compare_job, apply_holm and compare_night do
// no I/O (thread-safe on distinct arguments); run_batch writes only under DIR and holds an
// exclusive lock on DIR for the whole night, so two batches never interleave there.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpgen::batch {

// Exit codes of run_batch (and of `vpgen batch`). A bad nightly file or option, or a DIR locked by
// another batch, is InputError (exit 2 in main) and writes nothing.
inline constexpr int kExitOk = 0;         // every job ran; no figure changed unexpectedly
inline constexpr int kExitJobFailed = 1;  // at least one job failed (takes precedence over 3)
inline constexpr int kExitChangedUnexpectedly = 3;  // all ran, but a job with the same inputs,
                                                    // seed and build gave a different figure

inline constexpr std::string_view kSummaryFormat = "vpgen-batch-summary";
// Version 2: comparisons list figures by a Holm step-down test over the night (z, p, p_holm)
// instead of a per-figure threshold; version-1 summaries are still read as the previous night.
inline constexpr int kSummaryFormatVersion = 2;

// The family-wise error rate of one night's comparison: after a change that moves nothing, the
// probability that any tested figure is listed is at most this (docs/BATCH.md, "Comparison").
inline constexpr double kFamilyAlpha = 0.05;

enum class JobKind : std::uint8_t { kScenario, kDesign, kValidation };
std::string_view to_string(JobKind kind);

// One job of the nightly file. Paths are resolved against the nightly file's folder.
struct JobSpec {
  JobKind kind = JobKind::kScenario;
  std::string name;                       // unique among the jobs; default the file's stem
  std::string file;                       // as the nightly file writes it
  std::string path;                       // resolved
  std::optional<std::uint64_t> seed;      // the job's, else [batch] seed, else the file's own
  std::optional<std::uint64_t> patients;  // scenario: default the scenario's; validation: per
                                          // scenario, default vpgen validate's
  std::string role = "all";               // validation: fit | holdout | all
  std::string location;                   // "nightly.toml:12", for messages
};

struct Nightly {
  std::string file;
  std::string text;                   // verbatim
  std::string name;                   // [batch] name
  std::optional<std::uint64_t> seed;  // [batch] seed
  std::optional<int> threads;         // [batch] threads (0 = all cores)
  std::vector<JobSpec> jobs;          // scenarios in file order, then designs, then validation
};

// Reads and checks a nightly file (not the files it names: a missing scenario is a failed job, not
// a bad nightly file). Throws InputError "file:line: key 'scenario[1].patients': why" for an
// unknown, missing or ill-typed key, a repeated job name, or a file without jobs.
Nightly read_nightly(const std::string& path);

// Holm's step-down adjusted p-values (Holm 1979, Scand J Statist 6:65-70), in the order of `p`:
// with p_(1) <= ... <= p_(m), adjusted p_(i) = max over j <= i of min(1, (m - j + 1) p_(j)), as R's
// p.adjust(p, "holm"). A hypothesis is rejected at family-wise level alpha when its adjusted p is
// <= alpha. REQUIRES: every p in [0, 1].
std::vector<double> holm_adjust(const std::vector<double>& p);

// Compares one job of the previous summary with the same job of this one (both as summary.json
// holds them) given the two builds ({"vpgen_version", "git_commit", ...}). Returns the
// "comparison" object of the job: {"verdict", "reasons", "figures_compared", "figures_changed",
// "figures_tested", "differences", "untested_changes"}.
// - Same input hash, seed, settings and build: every value must be bit-identical; verdict
//   "identical", or "changed_unexpectedly" with every differing value listed.
// - Otherwise ("reasons" says what changed) each figure present with an estimate both nights and a
//   Monte Carlo error is a test: z = |b - a| / sqrt(se_a^2 + se_b^2), se = "se", "mcse", or the
//   half-width of the figure's interval at the figures' "ci_level" (default 0.95) over the normal
//   quantile; p = 2 (1 - Phi(z)). These are returned in "tests" ({"figure", "previous",
//   "current", "difference", "se", "z", "p"}) for apply_holm to decide over the whole night.
//   Listed at once: figures that appeared, disappeared, or changed without any Monte Carlo error
//   ("no_mc_error"). Shown in "untested_changes" but not listed: figures defined on one night only
//   ("defined", "undefined": a median or landmark rate at the edge of follow-up) and validation
//   verdicts that flipped ("flag": they follow the simulated value, which is tested).
//   The verdict assumes no test is listed: "changed_beyond_mc_error" if anything is listed, else
//   "changed_within_mc_error", or "identical" if no value differs.
// - "not_compared" if either job has no figures (it failed).
nlohmann::json compare_job(const nlohmann::json& previous_job, const nlohmann::json& current_job,
                           const nlohmann::json& previous_build,
                           const nlohmann::json& current_build);

struct HolmDecision {
  std::size_t figures_tested = 0;  // m, the family: every test of every comparison given
  std::size_t figures_listed = 0;  // with Holm-adjusted p <= family_alpha
};

// Decides the tests of compare_job over one family (a night): the figures whose Holm-adjusted p is
// <= family_alpha join their comparison's "differences" as {"figure", "change": "beyond_mc_error",
// "previous", "current", "difference", "se", "z", "p", "p_holm"} (differences sorted by path), and
// make its verdict "changed_beyond_mc_error". Removes "tests" from every comparison.
HolmDecision apply_holm(const std::vector<nlohmann::json*>& comparisons,
                        double family_alpha = kFamilyAlpha);

struct NightComparison {
  std::map<std::string, std::size_t> verdicts;  // jobs per verdict; every verdict present
  HolmDecision holm;
  nlohmann::json jobs_not_run_tonight = nlohmann::json::array();  // previous jobs gone tonight
};

// Sets the "comparison" of every job of `jobs` (summary.json's array) against `previous` (a
// summary; nullptr: none, then every job is "not_compared" with `no_previous_note`): jobs are
// matched by name and kind ("new" otherwise), compared with compare_job, and the tests of the whole
// night decided together by apply_holm at `family_alpha`.
NightComparison compare_night(nlohmann::json& jobs, const nlohmann::json* previous,
                              std::string_view no_previous_note,
                              const nlohmann::json& current_build,
                              double family_alpha = kFamilyAlpha);

struct BatchOptions {
  std::string nightly_file;
  std::string out_dir;
  // A previous summary.json, or a folder holding one. Empty: DIR's own, moved to
  // summary.previous.json at the start (docs/BATCH.md).
  std::string compare;
  std::optional<int> threads;  // overrides [batch] threads; 0 = all cores
  // Called with every line written to batch.log (main prints them on stderr unless --quiet).
  std::function<void(std::string_view line)> on_log;
};

// Runs the batch and returns its exit code (kExitOk, kExitJobFailed or kExitChangedUnexpectedly).
// Holds an exclusive advisory lock (flock) on DIR/.batch.lock, with its pid written in it, from
// before anything in DIR is touched until it returns. Throws InputError, before anything is
// written, for a bad nightly file, a --compare that is not a batch summary, a DIR that cannot be
// created, or a DIR whose lock another process holds (the message names DIR and that process's
// pid; nothing in DIR is touched); Error if an output cannot be written.
int run_batch(const BatchOptions& options);

}  // namespace vpgen::batch
