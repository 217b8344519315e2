#include "vpgen/validation/calibrate.hpp"

#include "vpgen/common/safe_file.hpp"
#include "vpgen/config/scenario_loader.hpp"
#include "vpgen/config/toml_reader.hpp"
#include "vpgen/population/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <nlopt.hpp>

#include <charconv>
#include <exception>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <set>

namespace vpgen::calibration {
namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 4> kAlgorithms = {"LN_SBPLX", "LN_NELDERMEAD", "LN_BOBYQA",
                                                         "LN_COBYLA"};

// The lines of `text` with their offsets.
struct Line {
  std::size_t begin = 0;
  std::size_t end = 0;  // excluding the newline
};

std::vector<Line> lines_of(const std::string& text) {
  std::vector<Line> lines;
  std::size_t at = 0;
  while (at <= text.size()) {
    const std::size_t newline = text.find('\n', at);
    const std::size_t end = newline == std::string::npos ? text.size() : newline;
    lines.push_back(Line{at, end});
    if (newline == std::string::npos) break;
    at = newline + 1;
  }
  return lines;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// A section address: "name" is the table [name]; "name[k]" is the k-th (from 0) table of the array
// [[name]], e.g. "anti_pd1.phases[0]".
struct Address {
  std::string name;
  long index = -1;  // -1: a plain table
};

Address address_of(const std::string& table) {
  Address a{table, -1};
  const std::size_t open = table.rfind('[');
  if (open == std::string::npos || table.empty() || table.back() != ']') return a;
  const std::string digits = table.substr(open + 1, table.size() - open - 2);
  long k = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), k);
  if (error != std::errc() || end != digits.data() + digits.size() || digits.empty() || k < 0)
    return a;
  return Address{table.substr(0, open), k};
}

// Where the number of `key` in section `table` (see Address) is: [begin, end) in `text`.
std::pair<std::size_t, std::size_t> locate(const std::string& text, const std::string& file,
                                           const std::string& table, const std::string& key) {
  const Address wanted = address_of(table);
  bool inside = false;
  long occurrence = -1;  // of [[wanted.name]] so far
  for (const Line& line : lines_of(text)) {
    const std::string_view content =
        trim(std::string_view(text).substr(line.begin, line.end - line.begin));
    if (content.empty() || content.front() == '#') continue;
    if (content.front() == '[') {
      const bool array = content.size() > 1 && content[1] == '[';
      const std::size_t first = array ? 2 : 1;
      const std::size_t close = content.find(']', first);
      const std::string section = close == std::string_view::npos
                                      ? std::string()
                                      : std::string(trim(content.substr(first, close - first)));
      if (array && section == wanted.name) ++occurrence;
      inside = section == wanted.name &&
               (wanted.index < 0 ? !array : (array && occurrence == wanted.index));
      continue;
    }
    if (!inside) continue;
    const std::size_t equals = content.find('=');
    if (equals == std::string_view::npos || trim(content.substr(0, equals)) != key) continue;
    std::string_view value = content.substr(equals + 1);
    const std::size_t comment = value.find('#');
    if (comment != std::string_view::npos) value = value.substr(0, comment);
    value = trim(value);
    double number = 0.0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (error != std::errc() || end != value.data() + value.size())
      throw InputError(
          fmt::format("{}: key '{}.{}': expected a plain number to calibrate, found '{}'", file,
                      table, key, value));
    const std::size_t begin = static_cast<std::size_t>(value.data() - text.data());
    return {begin, begin + value.size()};
  }
  throw InputError(fmt::format("{}: key '{}.{}': not found", file, table, key));
}

}  // namespace

double read_value(const std::string& text, const std::string& file, const std::string& table,
                  const std::string& key) {
  const auto [begin, end] = locate(text, file, table, key);
  double number = 0.0;
  std::from_chars(text.data() + begin, text.data() + end, number);
  return number;
}

std::string replace_value(const std::string& text, const std::string& file,
                          const std::string& table, const std::string& key, double value) {
  const auto [begin, end] = locate(text, file, table, key);
  // Shortest round-trip form, always with a decimal point or exponent so TOML reads a float.
  std::string number = fmt::format("{}", value);
  if (number.find_first_of(".eE") == std::string::npos) number += ".0";
  return text.substr(0, begin) + number + text.substr(end);
}

Spec read_spec(const std::string& path) {
  const std::string text = config::read_text_file(path);
  const toml::table document = config::parse_file_text(text, path);
  config::TableReader root(document, path, "");
  const fs::path folder = fs::path(path).parent_path();
  Spec spec;
  spec.source_path = path;
  {
    config::TableReader t = root.table("calibration");
    const std::string targets = t.path("targets");
    if (!fs::exists(folder / targets))
      t.fail("targets", fmt::format("file '{}' does not exist", (folder / targets).string()));
    spec.mapping = config::canonical_path((folder / targets).string());
    spec.role = t.string("role");
    if (spec.role != "fit" && spec.role != "holdout" && spec.role != "all")
      t.fail("role", fmt::format("'{}' is not one of fit, holdout, all", spec.role));
    spec.patients = static_cast<std::uint64_t>(t.integer("patients", 100, 10'000'000));
    spec.seed = static_cast<std::uint64_t>(t.integer("seed", 0));
    spec.algorithm = t.string("algorithm");
    bool known = false;
    for (std::string_view a : kAlgorithms) known = known || a == spec.algorithm;
    if (!known)
      t.fail("algorithm",
             fmt::format("'{}' is not one of LN_SBPLX, LN_NELDERMEAD, LN_BOBYQA, LN_COBYLA",
                         spec.algorithm));
    spec.max_evaluations = static_cast<int>(t.integer("max_evaluations", 1, 100000));
    spec.xtol_rel = t.number("xtol_rel", 1e-12, 1.0);
    const std::string output = t.path("output_dir");
    spec.output_dir = config::canonical_path((folder / output).string());
    t.finish();
  }
  const toml::array& parameters = root.array("parameters");
  if (parameters.empty()) root.fail("parameters", "a calibration needs at least one parameter");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const std::string prefix = fmt::format("parameters[{}]", i);
    const toml::table* table = parameters[i].as_table();
    if (!table)
      throw InputError(config::located(path, parameters[i].source(), prefix,
                                       "expected a table ([[parameters]])"));
    config::TableReader t(*table, path, prefix);
    Parameter p;
    p.file = t.path("file");
    const fs::path file = folder / p.file;
    if (!fs::exists(file)) t.fail("file", fmt::format("file '{}' does not exist", file.string()));
    p.path = config::canonical_path(file.string());
    p.table = t.string("table");
    p.key = t.string("key");
    p.min = t.number("min");
    p.max = t.number("max");
    if (!(p.min < p.max)) t.fail("max", fmt::format("must exceed min ({})", p.min));
    const std::string scale = t.string("scale");
    if (scale != "log" && scale != "linear") t.fail("scale", "must be \"log\" or \"linear\"");
    p.log_scale = scale == "log";
    if (p.log_scale && p.min <= 0.0) t.fail("min", "a log-scale parameter needs min > 0");
    if (!seen.insert(p.path + "|" + p.table + "." + p.key).second)
      t.fail("key", fmt::format("'{}.{}' of '{}' is listed twice", p.table, p.key, p.file));
    // Fitted files are written into output_dir under their own names: two different files with
    // one name would overwrite each other.
    for (const Parameter& other : spec.parameters)
      if (other.path != p.path && fs::path(other.path).filename() == fs::path(p.path).filename())
        t.fail("file", fmt::format("'{}' and '{}' have the same name; output_dir holds one of them",
                                   other.file, p.file));
    const std::string model_text = config::read_text_file(p.path);
    p.start = read_value(model_text, p.file, p.table, p.key);
    if (p.start < p.min || p.start > p.max)
      t.fail("min", fmt::format("the current value {} of '{}.{}' lies outside [{}, {}]", p.start,
                                p.table, p.key, p.min, p.max));
    // Copies of one quantity (the same phase in several regimens) move together: one parameter.
    if (t.has("also")) {
      const toml::array& also = t.array("also");
      for (std::size_t j = 0; j < also.size(); ++j) {
        const std::optional<std::string> other = also[j].value<std::string>();
        if (!other) t.fail("also", "expected a list of table names");
        const double value = read_value(model_text, p.file, *other, p.key);
        if (value != p.start)
          t.fail("also",
                 fmt::format("'{}.{}' is {}, not {} like '{}.{}': tied copies must start equal",
                             *other, p.key, value, p.start, p.table, p.key));
        if (!seen.insert(p.path + "|" + *other + "." + p.key).second)
          t.fail("also", fmt::format("'{}.{}' of '{}' is listed twice", *other, p.key, p.file));
        p.tied_tables.push_back(*other);
      }
    }
    t.finish();
    spec.parameters.push_back(std::move(p));
  }
  root.finish();
  return spec;
}

namespace {

// The model texts with every parameter set to x (in the parameters' own units).
std::map<std::string, std::string> texts_for(const Spec& spec, const std::vector<double>& x) {
  std::map<std::string, std::string> texts;
  for (std::size_t i = 0; i < spec.parameters.size(); ++i) {
    const Parameter& p = spec.parameters[i];
    auto [it, fresh] = texts.try_emplace(p.path);
    if (fresh) it->second = config::read_text_file(p.path);
    it->second = replace_value(it->second, p.file, p.table, p.key, x[i]);
    for (const std::string& tied : p.tied_tables)
      it->second = replace_value(it->second, p.file, tied, p.key, x[i]);
  }
  return texts;
}

// Runs the targets of the spec's role under the model texts; the report points into `mapping`.
validation::ValidationReport evaluate_with(const Spec& spec, const validation::Mapping& mapping,
                                           const std::map<std::string, std::string>& texts) {
  validation::Mapping work = mapping;
  const fs::path folder = fs::path(mapping.file).parent_path();
  for (validation::MappedScenario& s : work.scenarios) {
    s.scenario = config::load_scenario_with((folder / s.path).string(), texts);
    s.scenario.store_events = false;
  }
  validation::ValidationOptions options;
  options.patients = spec.patients;
  options.seed = spec.seed;
  if (spec.role == "fit") options.role = validation::Role::kFit;
  if (spec.role == "holdout") options.role = validation::Role::kHoldout;
  validation::ValidationReport report = validation::run_validation(work, options);
  for (validation::TargetResult& r : report.targets)
    r.target = &mapping.targets[static_cast<std::size_t>(r.target - work.targets.data())];
  return report;
}

double objective_of(const validation::ValidationReport& report) {
  if (report.targets.empty()) return 0.0;
  double total = 0.0;
  for (const validation::TargetResult& r : report.targets) total += loss(residual(r));
  return total / static_cast<double>(report.targets.size());
}

std::string result_name(nlopt::result r) {
  switch (r) {
    case nlopt::SUCCESS: return "success";
    case nlopt::STOPVAL_REACHED: return "objective reached stopval";
    case nlopt::FTOL_REACHED: return "ftol reached";
    case nlopt::XTOL_REACHED: return "xtol_rel reached";
    case nlopt::MAXEVAL_REACHED: return "max_evaluations reached";
    case nlopt::MAXTIME_REACHED: return "max time reached";
    default: return fmt::format("nlopt result {}", static_cast<int>(r));
  }
}

nlopt::algorithm algorithm_of(const std::string& name) {
  if (name == "LN_NELDERMEAD") return nlopt::LN_NELDERMEAD;
  if (name == "LN_BOBYQA") return nlopt::LN_BOBYQA;
  if (name == "LN_COBYLA") return nlopt::LN_COBYLA;
  return nlopt::LN_SBPLX;
}

}  // namespace

double residual(const validation::TargetResult& result) {
  const validation::PublishedValue& published = result.target->published;
  const validation::Scale scale = validation::scale_of(result.target->spec.endpoint);
  double simulated = result.simulated.value.estimate;
  if (result.simulated.not_reached) simulated = result.target->horizon_months;
  double reference = published.value;
  if (std::isnan(reference) && published.lower_bound) reference = result.target->horizon_months;
  if (std::isnan(reference) && published.has_interval())
    reference = 0.5 * (published.ci_low + published.ci_high);
  if (std::isnan(simulated) || std::isnan(reference)) return 3.0;
  double r = 0.0;
  if (scale == validation::Scale::kRatePercent) {
    r = (simulated - reference) / validation::kRateTolerancePoints;
  } else if (scale == validation::Scale::kSlope || simulated <= 0.0 || reference <= 0.0) {
    r = (simulated - reference) / (validation::kRelativeTolerance * std::abs(reference));
  } else {
    r = std::log(simulated / reference) / std::log1p(validation::kRelativeTolerance);
  }
  if (published.lower_bound) r = std::min(r, 0.0);
  return r;
}

double loss(double r) {
  const double a = std::abs(r);
  return a <= 2.0 ? r * r : 4.0 * a - 4.0;
}

FitResult fit(const Spec& spec, const validation::Mapping& mapping,
              const std::function<void(int, double, double)>& on_evaluation) {
  FitResult result;
  const std::size_t n = spec.parameters.size();
  // The optimiser works on u in [0, 1]^n, log or linear in each parameter's own bounds, so that
  // NLopt's relative tolerances and initial steps mean the same for every parameter.
  std::vector<double> u0(n);
  auto to_value = [&](const std::vector<double>& u) {
    std::vector<double> x(n);
    for (std::size_t i = 0; i < n; ++i) {
      const Parameter& p = spec.parameters[i];
      if (u[i] == u0[i]) {  // unchanged: the file's value exactly, not a log/exp round trip
        x[i] = p.start;
        continue;
      }
      x[i] = p.log_scale ? std::exp(std::log(p.min) + u[i] * (std::log(p.max) - std::log(p.min)))
                         : p.min + u[i] * (p.max - p.min);
      x[i] = std::clamp(x[i], p.min, p.max);
    }
    return x;
  };
  for (std::size_t i = 0; i < n; ++i) {
    const Parameter& p = spec.parameters[i];
    result.start.push_back(p.start);
    u0[i] = p.log_scale
                ? (std::log(p.start) - std::log(p.min)) / (std::log(p.max) - std::log(p.min))
                : (p.start - p.min) / (p.max - p.min);
  }
  result.start_report = evaluate_with(spec, mapping, texts_for(spec, result.start));
  result.start_objective = objective_of(result.start_report);
  result.best = result.start;
  result.best_objective = result.start_objective;
  result.evaluations = 1;
  if (on_evaluation) on_evaluation(1, result.start_objective, result.best_objective);

  struct Context {
    const Spec* spec;
    const validation::Mapping* mapping;
    FitResult* result;
    const std::function<std::vector<double>(const std::vector<double>&)>* to_value;
    const std::function<void(int, double, double)>* on_evaluation;
    std::exception_ptr error;  // NLopt swallows exceptions: keep the first and stop
  };
  const std::function<std::vector<double>(const std::vector<double>&)> to_value_fn = to_value;
  Context context{&spec, &mapping, &result, &to_value_fn, &on_evaluation, nullptr};
  auto objective = [](const std::vector<double>& u, std::vector<double>&, void* data) {
    Context& c = *static_cast<Context*>(data);
    const std::vector<double> x = (*c.to_value)(u);
    // The simulations are deterministic: the start point (NLopt's first call) is not run twice,
    // and the best point's report is kept rather than recomputed at the end.
    double value = c.result->start_objective;
    if (x != c.result->start) {
      try {
        validation::ValidationReport report =
            evaluate_with(*c.spec, *c.mapping, texts_for(*c.spec, x));
        value = objective_of(report);
        if (value < c.result->best_objective) {
          c.result->best_objective = value;
          c.result->best = x;
          c.result->best_report = std::move(report);
        }
      } catch (...) {
        c.error = std::current_exception();
        throw nlopt::forced_stop();
      }
    }
    ++c.result->evaluations;
    if (*c.on_evaluation)
      (*c.on_evaluation)(c.result->evaluations, value, c.result->best_objective);
    return value;
  };
  nlopt::opt optimiser(algorithm_of(spec.algorithm), static_cast<unsigned>(n));
  optimiser.set_lower_bounds(std::vector<double>(n, 0.0));
  optimiser.set_upper_bounds(std::vector<double>(n, 1.0));
  optimiser.set_min_objective(objective, &context);
  optimiser.set_maxeval(std::max(1, spec.max_evaluations - 1));
  optimiser.set_xtol_rel(spec.xtol_rel);
  optimiser.set_initial_step(std::vector<double>(n, 0.1));
  double value = 0.0;
  std::vector<double> u = u0;
  try {
    result.stop_reason = result_name(optimiser.optimize(u, value));
  } catch (const nlopt::roundoff_limited&) {
    result.stop_reason = "stopped by roundoff (the best point so far is kept)";
  } catch (const nlopt::forced_stop&) {
  } catch (const std::runtime_error&) {
    if (!context.error) throw;  // NLopt's own failure, or the objective's error rethrown below
  }
  if (context.error) std::rethrow_exception(context.error);
  if (result.best == result.start) result.best_report = result.start_report;
  result.fitted_texts = texts_for(spec, result.best);
  return result;
}

std::vector<std::string> write_fitted(const Spec& spec, const FitResult& result,
                                      const std::string& command_line) {
  fs::create_directories(spec.output_dir);
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  std::vector<std::string> written;
  std::vector<std::pair<fs::path, std::string>> files;
  for (const auto& [path, text] : result.fitted_texts) {
    std::string header = fmt::format(
        "# Fitted by `{}` ({}): seed {}, {} patients per scenario, {}, {} evaluations ({}),\n"
        "# objective (mean Huber loss of the {} targets' residuals) {:.4f} -> {:.4f}. Fitted keys\n"
        "# (start -> fitted; the start values make the run reproducible from this file):",
        command_line, date, spec.seed, spec.patients, spec.algorithm, result.evaluations,
        result.stop_reason, spec.role, result.start_objective, result.best_objective);
    for (std::size_t i = 0; i < spec.parameters.size(); ++i)
      if (spec.parameters[i].path == path)
        header += fmt::format(" {}.{} {} -> {};", spec.parameters[i].table, spec.parameters[i].key,
                              result.start[i], result.best[i]);
    header += "\n";
    // A previous fit's header (three lines) is replaced, not stacked.
    std::string body = text;
    while (body.rfind("# Fitted by `", 0) == 0) {
      std::size_t end = 0;
      for (int line = 0; line < 3 && end != std::string::npos; ++line) {
        end = body.find('\n', end);
        if (end != std::string::npos) ++end;
      }
      body = end == std::string::npos ? std::string() : body.substr(end);
    }
    const fs::path target = fs::path(spec.output_dir) / fs::path(path).filename();
    files.emplace_back(target, header + body);
    written.push_back(target.string());
  }
  // All fitted files or none, each complete or absent, through temporaries created exclusively in
  // output_dir (never through a symlink planted there).
  write_files_atomic(files);
  return written;
}

std::string fit_report_text(const Spec& spec, const FitResult& result) {
  std::string out = fmt::format(
      "vpgen calibrate: {} parameters, {} targets (role {}), {} patients per scenario, seed {}\n"
      "objective (mean Huber loss of residuals) {:.4f} -> {:.4f} after {} evaluations ({})\n"
      "within tolerance: {} of {} -> {} of {}\n\nParameters (bounds):\n",
      spec.parameters.size(), result.best_report.targets.size(), spec.role, spec.patients,
      spec.seed, result.start_objective, result.best_objective, result.evaluations,
      result.stop_reason, result.start_report.overall.within, result.start_report.overall.targets,
      result.best_report.overall.within, result.best_report.overall.targets);
  for (std::size_t i = 0; i < spec.parameters.size(); ++i) {
    const Parameter& p = spec.parameters[i];
    const double span = p.log_scale ? std::log(p.max / p.min) : p.max - p.min;
    const double at =
        p.log_scale ? std::log(result.best[i] / p.min) / span : (result.best[i] - p.min) / span;
    out += fmt::format("  {:<45} {:>10.4g} -> {:>10.4g}  [{:g}, {:g}]{}\n",
                       fmt::format("{}:{}.{}", p.file, p.table, p.key), result.start[i],
                       result.best[i], p.min, p.max,
                       at < 0.01 ? "  AT LOWER BOUND" : (at > 0.99 ? "  AT UPPER BOUND" : ""));
  }
  out += "\nTargets: published | simulated before -> after | residual before -> after\n";
  for (std::size_t i = 0; i < result.best_report.targets.size(); ++i) {
    const validation::TargetResult& before = result.start_report.targets[i];
    const validation::TargetResult& after = result.best_report.targets[i];
    out += fmt::format(
        "  {:<8} {:<28} {:>10} | {:>8.3g} -> {:>8.3g} | {:>6.2f} -> {:>6.2f}{}\n", after.target->id,
        fmt::format("{} {}", after.target->arm, validation::to_string(after.target->spec.endpoint)),
        after.target->published.text, before.simulated.value.estimate,
        after.simulated.value.estimate, residual(before), residual(after),
        after.verdict.within ? "" : "  (outside tolerance)");
  }
  return out;
}

nlohmann::json fit_report_json(const Spec& spec, const FitResult& result) {
  nlohmann::json parameters = nlohmann::json::array();
  for (std::size_t i = 0; i < spec.parameters.size(); ++i) {
    const Parameter& p = spec.parameters[i];
    parameters.push_back({{"file", p.file},
                          {"table", p.table},
                          {"key", p.key},
                          {"min", p.min},
                          {"max", p.max},
                          {"scale", p.log_scale ? "log" : "linear"},
                          {"start", result.start[i]},
                          {"fitted", result.best[i]}});
  }
  nlohmann::json targets = nlohmann::json::array();
  for (std::size_t i = 0; i < result.best_report.targets.size(); ++i) {
    const validation::TargetResult& before = result.start_report.targets[i];
    const validation::TargetResult& after = result.best_report.targets[i];
    targets.push_back({{"id", after.target->id},
                       {"endpoint", validation::to_string(after.target->spec.endpoint)},
                       {"published", after.target->published.text},
                       {"simulated_start", before.simulated.value.estimate},
                       {"simulated_fitted", after.simulated.value.estimate},
                       {"residual_start", residual(before)},
                       {"residual_fitted", residual(after)},
                       {"within_tolerance", after.verdict.within}});
  }
  return {{"role", spec.role},
          {"patients", spec.patients},
          {"seed", spec.seed},
          {"algorithm", spec.algorithm},
          {"evaluations", result.evaluations},
          {"stop_reason", result.stop_reason},
          {"objective_start", result.start_objective},
          {"objective_fitted", result.best_objective},
          {"parameters", parameters},
          {"targets", targets}};
}

}  // namespace vpgen::calibration
