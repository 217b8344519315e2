// `vpgen calibrate`: fits the model's free parameters to the targets of a role ("fit") with a
// derivative-free NLopt optimiser under common random numbers (the same seed and patients at every
// evaluation, so the objective changes only through the parameters), and writes the fitted
// parameter files with the command line and seed in their header. Not thread-safe; the
// simulations inside use TBB.
#pragma once

#include "vpgen/validation/validate.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace vpgen::calibration {

// One free parameter: `key` in section `table` of `file` (a model file, path relative to the
// calibration file), searched in [min, max], on a log scale if `log_scale`. `table` names a table
// ("immune") or one table of an array of tables ("anti_pd1.phases[0]", counted from 0); the same
// key in each of `tied_tables` (calibration key `also`) takes the same value.
struct Parameter {
  std::string file;  // as written in the calibration file
  std::string path;  // canonical path
  std::string table;
  std::string key;
  double min = 0.0;
  double max = 0.0;
  bool log_scale = false;
  double start = 0.0;                    // the value in the file now
  std::vector<std::string> tied_tables;  // copies set to the same value
};

struct Spec {
  std::string source_path;  // the calibration file
  std::string mapping;      // canonical path of the targets mapping
  std::string role = "fit";
  std::uint64_t patients = 4000;
  std::uint64_t seed = 1;
  std::string algorithm = "LN_SBPLX";
  int max_evaluations = 100;
  double xtol_rel = 1e-3;
  std::string output_dir;  // canonical; fitted files are written here under their names
  std::vector<Parameter> parameters;
};

// Reads and validates a calibration file (InputError "file:line: key 'a.b': why").
Spec read_spec(const std::string& path);

// The number after `key =` in section `[table]` of a TOML text (InputError naming `file` when the
// key is missing or not a plain number).
double read_value(const std::string& text, const std::string& file, const std::string& table,
                  const std::string& key);
// The same text with that number replaced by `value` (shortest round-trip form); comments, sources
// and layout are kept.
std::string replace_value(const std::string& text, const std::string& file,
                          const std::string& table, const std::string& key, double value);

// A fit target's standardised residual: (simulated - published) / 5 points for rates,
// ln(simulated / published) / ln(1.2) for medians, hazard ratios and slopes (the issue's
// tolerances, so |r| <= 1 is within tolerance of the point estimate); a lower bound ("NR", ">x")
// counts only a shortfall; a simulated median that is not reached is read as the follow-up; a
// missing simulated value is r = 3.
double residual(const validation::TargetResult& result);
// Huber loss of a residual (quadratic to |r| = 2, linear beyond): one unreachable target cannot
// dominate the fit.
double loss(double r);

struct FitResult {
  std::vector<double> start;  // parameter values before the fit
  std::vector<double> best;   // after
  double start_objective = 0.0;
  double best_objective = 0.0;
  int evaluations = 0;
  std::string stop_reason;                          // NLopt's result code, in words
  validation::ValidationReport start_report;        // the targets of the role at the start...
  validation::ValidationReport best_report;         // ...and at the optimum
  std::map<std::string, std::string> fitted_texts;  // canonical model path -> fitted text
};

// Fits spec.parameters to the targets of spec.role: objective = mean Huber loss of the residuals,
// every evaluation on the same seed and patient count (common random numbers).
// `on_evaluation(n, objective, best)` reports progress. Mapping must outlive the result.
FitResult fit(const Spec& spec, const validation::Mapping& mapping,
              const std::function<void(int, double, double)>& on_evaluation);

// Writes each fitted model file into spec.output_dir under its own name, with a header that
// records the command line, seed, patients, algorithm, objective and date; returns the paths.
// All files or none (vpgen::write_files_atomic: temporaries created exclusively in output_dir,
// renamed into place). Throws InputError if output_dir refuses, Error on a failed write.
std::vector<std::string> write_fitted(const Spec& spec, const FitResult& result,
                                      const std::string& command_line);

// The fit report: objective before and after, each parameter against its bounds, each target's
// simulated value and residual before and after.
std::string fit_report_text(const Spec& spec, const FitResult& result);
nlohmann::json fit_report_json(const Spec& spec, const FitResult& result);

}  // namespace vpgen::calibration
