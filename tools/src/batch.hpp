// `vpgen batch NIGHTLY.toml --out DIR`: runs the scenarios, designs and validation suite a nightly
// file lists, one after another, into DIR (results.db, a report per job, index.html, summary.json,
// batch.log), and compares every figure with the previous night's summary. A failing job is
// recorded and the others still run. docs/BATCH.md describes the nightly file, the outputs, the
// comparison rules and the exit codes. read_nightly and compare_job are pure; run_batch writes
// only under DIR and is not meant to run twice at once on the same DIR.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpgen::batch {

// Exit codes of run_batch (and of `vpgen batch`). A bad nightly file or option is InputError
// (exit 2 in main) and writes nothing.
inline constexpr int kExitOk = 0;          // every job ran; no figure changed unexpectedly
inline constexpr int kExitJobFailed = 1;   // at least one job failed (takes precedence over 3)
inline constexpr int kExitChangedUnexpectedly = 3;  // all ran, but a job with the same inputs,
                                                    // seed and build gave a different figure

inline constexpr std::string_view kSummaryFormat = "vpgen-batch-summary";
inline constexpr int kSummaryFormatVersion = 1;

enum class JobKind : std::uint8_t { kScenario, kDesign, kValidation };
std::string_view to_string(JobKind kind);

// One job of the nightly file. Paths are resolved against the nightly file's folder.
struct JobSpec {
  JobKind kind = JobKind::kScenario;
  std::string name;                         // unique among the jobs; default the file's stem
  std::string file;                         // as the nightly file writes it
  std::string path;                         // resolved
  std::optional<std::uint64_t> seed;        // the job's, else [batch] seed, else the file's own
  std::optional<std::uint64_t> patients;    // scenario: default the scenario's; validation: per
                                            // scenario, default vpgen validate's
  std::string role = "all";                 // validation: fit | holdout | all
  std::string location;                     // "nightly.toml:12", for messages
};

struct Nightly {
  std::string file;
  std::string text;                         // verbatim
  std::string name;                         // [batch] name
  std::optional<std::uint64_t> seed;        // [batch] seed
  std::optional<int> threads;               // [batch] threads (0 = all cores)
  std::vector<JobSpec> jobs;                // scenarios in file order, then designs, then validation
};

// Reads and checks a nightly file (not the files it names: a missing scenario is a failed job, not
// a bad nightly file). Throws InputError "file:line: key 'scenario[1].patients': why" for an
// unknown, missing or ill-typed key, a repeated job name, or a file without jobs.
Nightly read_nightly(const std::string& path);

// Compares one job of the previous summary with the same job of this one (both as summary.json
// holds them) given the two builds ({"vpgen_version", "git_commit", ...}). Returns the
// "comparison" object of the job: {"verdict", "reasons", "figures_compared", "figures_changed",
// "differences"}. Verdicts: "identical" (every figure bit-identical), "changed_unexpectedly" (same
// input hash, seed, settings and build, yet some value differs: every differing value is listed),
// "changed_within_mc_error" / "changed_beyond_mc_error" (inputs or build changed: the figures whose
// difference exceeds Monte Carlo error are listed, with figures that appeared, disappeared or
// changed definedness and flipped verdicts), "not_compared" (either job failed or has no figures).
// A figure is an object with "estimate" and either "ci_low"/"ci_high" (a 95% interval) or
// "se"/"mcse"; it differs beyond Monte Carlo error when |a - b| > sqrt(h_a^2 + h_b^2), h the
// interval's half-width or 1.96 standard errors, i.e. |a - b| > 1.96 sqrt(se_a^2 + se_b^2).
nlohmann::json compare_job(const nlohmann::json& previous_job, const nlohmann::json& current_job,
                           const nlohmann::json& previous_build,
                           const nlohmann::json& current_build);

struct BatchOptions {
  std::string nightly_file;
  std::string out_dir;
  // A previous summary.json, or a folder holding one. Empty: DIR's own, moved to
  // summary.previous.json at the start (docs/BATCH.md).
  std::string compare;
  std::optional<int> threads;               // overrides [batch] threads; 0 = all cores
  // Called with every line written to batch.log (main prints them on stderr unless --quiet).
  std::function<void(std::string_view line)> on_log;
};

// Runs the batch and returns its exit code (kExitOk, kExitJobFailed or kExitChangedUnexpectedly).
// Throws InputError, before anything is written, for a bad nightly file, a --compare that is not
// a batch summary, or a DIR that cannot be created; Error if an output cannot be written.
int run_batch(const BatchOptions& options);

}  // namespace vpgen::batch
