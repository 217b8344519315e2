// Night-to-night comparison of `vpgen batch`: exact when nothing that may change the numbers
// changed; otherwise a z test per figure, decided over the whole night by Holm's step-down
// procedure so that a night without a real change lists nothing with probability >= 95%
// (docs/BATCH.md, "Comparison").
#include "vpgen/batch/batch.hpp"

#include <boost/math/distributions/normal.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <utility>

namespace vpgen::batch {

namespace {

using nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The fields of the build that can change a number (summary.json batch.build).
constexpr std::array<std::string_view, 6> kBuildFields = {
    "vpgen_version", "git_commit", "compiler", "boost_version", "tbb_version", "rng_scheme"};

// The key of each element of an array: its "arm", "id" or "n" field when every element has one
// and they are distinct (arms by name, validation targets by id, design points by n), else its
// position. So an arm added in front does not shift every other arm's figures.
std::vector<std::string> element_keys(const json& array) {
  for (const char* field : {"arm", "id", "n"}) {
    std::vector<std::string> keys;
    std::set<std::string> seen;
    for (const json& element : array) {
      if (!element.is_object() || !element.contains(field)) break;
      const json& v = element.at(field);
      std::string key = v.is_string() ? v.get<std::string>() : v.dump();
      key = field == std::string_view("n") ? "n=" + key : key;
      if (!seen.insert(key).second) break;
      keys.push_back(std::move(key));
    }
    if (keys.size() == array.size()) return keys;
  }
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < array.size(); ++i) keys.push_back(std::to_string(i));
  return keys;
}

std::string child_path(const std::string& path, const std::string& key, bool element) {
  if (element) return fmt::format("{}[{}]", path, key);
  return path.empty() ? key : fmt::format("{}.{}", path, key);
}

// Every scalar (number, string, boolean, null) under `j`, by path ("arms[nivo].orr.ci_low").
void collect_leaves(const json& j, const std::string& path, std::map<std::string, json>& out) {
  if (j.is_object()) {
    for (const auto& [key, value] : j.items())
      collect_leaves(value, child_path(path, key, false), out);
  } else if (j.is_array()) {
    const std::vector<std::string> keys = element_keys(j);
    for (std::size_t i = 0; i < j.size(); ++i)
      collect_leaves(j[i], child_path(path, keys[i], true), out);
  } else {
    out[path] = j;
  }
}

// Every figure (an object with "estimate") under `j`, by path ("arms[nivo].orr").
void collect_figures(const json& j, const std::string& path, std::map<std::string, json>& out) {
  if (j.is_object()) {
    if (j.contains("estimate")) {
      out[path] = j;
      return;
    }
    for (const auto& [key, value] : j.items())
      collect_figures(value, child_path(path, key, false), out);
  } else if (j.is_array()) {
    const std::vector<std::string> keys = element_keys(j);
    for (std::size_t i = 0; i < j.size(); ++i)
      collect_figures(j[i], child_path(path, keys[i], true), out);
  }
}

double number(const json& figure, const char* key) {
  const auto it = figure.find(key);
  return it != figure.end() && it->is_number() ? it->get<double>() : kNaN;
}

// The confidence level of the intervals under `figures` (its "ci_level"; 95% if it has none, as
// design figures, whose n* interval is a 95% one).
double ci_level(const json& figures) {
  const double level = number(figures, "ci_level");
  return std::isfinite(level) && level > 0.0 && level < 1.0 ? level : 0.95;
}

// The Monte Carlo standard error of a figure: its "se" (or "mcse" for a simulated power), or the
// half-width of its interval over the normal quantile of the interval's level (1.96 at 95%); NaN
// if it has neither.
double standard_error(const json& figure, double level) {
  for (const char* key : {"se", "mcse"}) {
    const double se = number(figure, key);
    if (std::isfinite(se)) return se;
  }
  const double low = number(figure, "ci_low"), high = number(figure, "ci_high");
  if (std::isfinite(low) && std::isfinite(high)) {
    const boost::math::normal standard_normal;
    return (high - low) / 2.0 / boost::math::quantile(standard_normal, (1.0 + level) / 2.0);
  }
  return kNaN;
}

// Numbers compare by value (an integer and the same double are equal); everything else exactly.
bool same_value(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_number_float() || b.is_number_float()) return a.get<double>() == b.get<double>();
    return a == b;
  }
  return a == b;
}

std::string short_value(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// Why the numbers may legitimately differ: the job's inputs, seed or settings, or the build.
std::vector<std::string> change_reasons(const json& previous_job, const json& current_job,
                                        const json& previous_build, const json& current_build) {
  std::vector<std::string> reasons;
  auto field = [](const json& j, std::string_view key) {
    const auto it = j.find(key);
    return it == j.end() ? json(nullptr) : *it;
  };
  if (!same_value(field(previous_job, "input_hash"), field(current_job, "input_hash")))
    reasons.push_back(fmt::format("input files changed (hash {} -> {})",
                                  short_value(field(previous_job, "input_hash")),
                                  short_value(field(current_job, "input_hash"))));
  // A null seed: each file's own (a validation without a seed override).
  auto seed_text = [&](const json& job) {
    const json seed = field(job, "seed");
    return seed.is_null() ? std::string("(each file's own)") : short_value(seed);
  };
  if (!same_value(field(previous_job, "seed"), field(current_job, "seed")))
    reasons.push_back(
        fmt::format("seed {} -> {}", seed_text(previous_job), seed_text(current_job)));
  std::map<std::string, json> before, after;
  collect_leaves(field(previous_job, "settings"), "", before);
  collect_leaves(field(current_job, "settings"), "", after);
  std::set<std::string> keys;
  for (const auto& [k, v] : before) keys.insert(k);
  for (const auto& [k, v] : after) keys.insert(k);
  for (const std::string& k : keys) {
    const json a = before.count(k) ? before[k] : json(nullptr);
    const json b = after.count(k) ? after[k] : json(nullptr);
    if (!same_value(a, b))
      reasons.push_back(
          fmt::format("{} {} -> {}", k.empty() ? "settings" : k, short_value(a), short_value(b)));
  }
  for (const std::string_view key : kBuildFields) {
    const json a = field(previous_build, key), b = field(current_build, key);
    if (!same_value(a, b))
      reasons.push_back(fmt::format("build {} {} -> {}", key, short_value(a), short_value(b)));
  }
  return reasons;
}

// The figures of one job on both nights, and every leaf value under them, by path.
struct NightValues {
  std::map<std::string, json> before, after;
  std::set<std::string> figure_paths;
  std::map<std::string, json> leaves_before, leaves_after;
  std::set<std::string> leaf_paths;
};

NightValues collect_values(const json& previous_figures, const json& current_figures) {
  NightValues v;
  collect_figures(previous_figures, "", v.before);
  collect_figures(current_figures, "", v.after);
  for (const auto& [k, value] : v.before) v.figure_paths.insert(k);
  for (const auto& [k, value] : v.after) v.figure_paths.insert(k);
  collect_leaves(previous_figures, "", v.leaves_before);
  collect_leaves(current_figures, "", v.leaves_after);
  for (const auto& [k, value] : v.leaves_before) v.leaf_paths.insert(k);
  for (const auto& [k, value] : v.leaves_after) v.leaf_paths.insert(k);
  return v;
}

// Nothing that may change the numbers changed: out gets every differing value and the verdict.
void compare_exactly(NightValues& v, json& out) {
  auto& [before, after, figure_paths, leaves_before, leaves_after, leaf_paths] = v;
  json& differences = out["differences"];
  // Same inputs, seed, settings and build: the reproducibility contract says every value is
  // the same bit for bit, so every difference is listed.
  std::size_t changed_figures = 0;
  for (const std::string& path : figure_paths)
    if (!before.count(path) || !after.count(path) || before[path] != after[path]) ++changed_figures;
  out["figures_changed"] = changed_figures;
  for (const std::string& path : leaf_paths) {
    const bool in_before = leaves_before.count(path) > 0, in_after = leaves_after.count(path) > 0;
    if (in_before && in_after && same_value(leaves_before[path], leaves_after[path])) continue;
    json difference = {{"value", path},
                       {"change", !in_before  ? "appeared"
                                  : !in_after ? "disappeared"
                                              : "value"},
                       {"previous", in_before ? leaves_before[path] : json(nullptr)},
                       {"current", in_after ? leaves_after[path] : json(nullptr)}};
    if (difference["previous"].is_number() && difference["current"].is_number())
      difference["difference"] =
          difference["current"].get<double>() - difference["previous"].get<double>();
    differences.push_back(std::move(difference));
  }
  out["verdict"] = differences.empty() ? "identical" : "changed_unexpectedly";
}

// Something that may change the numbers changed: out gets one test per figure with a Monte Carlo
// error, the changes that cannot be tested, and the verdict.
void compare_statistically(NightValues& v, const json& previous_figures,
                           const json& current_figures, json& out) {
  auto& [before, after, figure_paths, leaves_before, leaves_after, leaf_paths] = v;
  json& differences = out["differences"];
  bool any_leaf_changed = false;
  for (const std::string& path : leaf_paths)
    if (!leaves_before.count(path) || !leaves_after.count(path) ||
        !same_value(leaves_before[path], leaves_after[path]))
      any_leaf_changed = true;

  // Every figure with an estimate both nights and a Monte Carlo error is a test, changed or not:
  // the family is what was compared, not what happened to move.
  const double level_before = ci_level(previous_figures);
  const double level_after = ci_level(current_figures);
  json tests = json::array();
  std::size_t changed_figures = 0;
  for (const std::string& path : figure_paths) {
    const bool in_before = before.count(path) > 0, in_after = after.count(path) > 0;
    if (!in_before || !in_after) {
      ++changed_figures;
      differences.push_back({{"figure", path},
                             {"change", in_before ? "disappeared" : "appeared"},
                             {"previous", in_before ? before[path] : json(nullptr)},
                             {"current", in_after ? after[path] : json(nullptr)}});
      continue;
    }
    const json& a = before[path];
    const json& b = after[path];
    const double x = number(a, "estimate"), y = number(b, "estimate");
    if (std::isnan(x) && std::isnan(y)) continue;  // no estimate either night
    if (std::isnan(x) != std::isnan(y)) {
      // Defined on one night only: a median or landmark rate at the edge of follow-up, reached on
      // one night and not the other. Nothing to test, and by chance near the edge: shown, not
      // listed.
      ++changed_figures;
      out["untested_changes"].push_back({{"figure", path},
                                         {"change", std::isnan(y) ? "undefined" : "defined"},
                                         {"previous", a},
                                         {"current", b}});
      continue;
    }
    if (x != y) ++changed_figures;
    double se_a = standard_error(a, level_before), se_b = standard_error(b, level_after);
    // One night without an error (e.g. an interval bound not reached): the other's for both.
    if (std::isnan(se_a)) se_a = se_b;
    if (std::isnan(se_b)) se_b = se_a;
    const double se = std::hypot(se_a, se_b);
    const double difference = y - x;
    if (!(se > 0.0)) {
      // No Monte Carlo error (none given, or a figure fixed by the inputs such as a design's
      // duration with fixed accrual and follow-up): any change is real, not chance.
      if (x != y)
        differences.push_back({{"figure", path},
                               {"change", "no_mc_error"},
                               {"previous", a},
                               {"current", b},
                               {"difference", difference}});
      continue;
    }
    // The two nights are independent samples, each estimate approximately normal around its
    // expectation: under "nothing changed", z is |N(0, 1)| and p uniform.
    const double z = std::abs(difference) / se;
    tests.push_back({{"figure", path},
                     {"previous", a},
                     {"current", b},
                     {"difference", difference},
                     {"se", se},
                     {"z", z},
                     {"p", std::erfc(z / std::sqrt(2.0))}});
  }
  // Verdicts that flipped (a validation target's "pass"): they follow the simulated value they
  // judge, which is tested above; shown, not listed.
  for (const std::string& path : leaf_paths) {
    if (!leaves_before.count(path) || !leaves_after.count(path)) continue;
    const json& a = leaves_before[path];
    const json& b = leaves_after[path];
    if (a.is_boolean() && b.is_boolean() && a != b)
      out["untested_changes"].push_back(
          {{"value", path}, {"change", "flag"}, {"previous", a}, {"current", b}});
  }
  out["figures_changed"] = changed_figures;
  out["figures_tested"] = tests.size();
  out["tests"] = std::move(tests);
  out["verdict"] = !differences.empty() ? "changed_beyond_mc_error"
                   : any_leaf_changed   ? "changed_within_mc_error"
                                        : "identical";
}

}  // namespace

json compare_job(const json& previous_job, const json& current_job, const json& previous_build,
                 const json& current_build) {
  json out = {{"verdict", "not_compared"},
              {"reasons", json::array()},
              {"figures_compared", 0},
              {"figures_changed", 0},
              {"figures_tested", 0},
              {"differences", json::array()},
              {"untested_changes", json::array()}};
  const auto previous_figures = previous_job.find("figures");
  const auto current_figures = current_job.find("figures");
  if (previous_figures == previous_job.end() || previous_figures->is_null()) {
    out["note"] = "the previous night has no figures for this job (it failed)";
    return out;
  }
  if (current_figures == current_job.end() || current_figures->is_null()) {
    out["note"] = "no figures tonight (the job failed)";
    return out;
  }
  const std::vector<std::string> reasons =
      change_reasons(previous_job, current_job, previous_build, current_build);
  out["reasons"] = reasons;
  NightValues values = collect_values(*previous_figures, *current_figures);
  out["figures_compared"] = values.figure_paths.size();
  if (reasons.empty()) compare_exactly(values, out);
  else compare_statistically(values, *previous_figures, *current_figures, out);
  return out;
}

std::vector<double> holm_adjust(const std::vector<double>& p) {
  const std::size_t m = p.size();
  std::vector<std::size_t> order(m);
  std::iota(order.begin(), order.end(), std::size_t{0});
  // Ties keep their input order; their adjusted values are equal whatever the order.
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t i, std::size_t j) { return p[i] < p[j]; });
  std::vector<double> adjusted(m);
  double running_max = 0.0;
  for (std::size_t rank = 0; rank < m; ++rank) {
    const std::size_t i = order[rank];
    running_max = std::max(running_max, std::min(1.0, static_cast<double>(m - rank) * p[i]));
    adjusted[i] = running_max;
  }
  return adjusted;
}

HolmDecision apply_holm(const std::vector<json*>& comparisons, double family_alpha) {
  std::vector<std::pair<json*, std::size_t>> where;
  std::vector<double> p;
  for (json* comparison : comparisons) {
    const auto tests = comparison->find("tests");
    if (tests == comparison->end()) continue;
    for (std::size_t i = 0; i < tests->size(); ++i) {
      where.emplace_back(comparison, i);
      p.push_back(tests->at(i).at("p").get<double>());
    }
  }
  const std::vector<double> adjusted = holm_adjust(p);
  HolmDecision decision;
  decision.figures_tested = p.size();
  for (std::size_t k = 0; k < p.size(); ++k) {
    if (!(adjusted[k] <= family_alpha)) continue;
    json& comparison = *where[k].first;
    const json& test = comparison.at("tests").at(where[k].second);
    comparison["differences"].push_back({{"figure", test.at("figure")},
                                         {"change", "beyond_mc_error"},
                                         {"previous", test.at("previous")},
                                         {"current", test.at("current")},
                                         {"difference", test.at("difference")},
                                         {"se", test.at("se")},
                                         {"z", test.at("z")},
                                         {"p", test.at("p")},
                                         {"p_holm", adjusted[k]}});
    comparison["verdict"] = "changed_beyond_mc_error";
    ++decision.figures_listed;
  }
  for (json* comparison : comparisons) {
    comparison->erase("tests");
    const auto differences = comparison->find("differences");
    if (differences == comparison->end()) continue;
    auto path_of = [](const json& d) {
      return d.contains("figure") ? d.at("figure").get<std::string>()
                                  : d.at("value").get<std::string>();
    };
    std::stable_sort(differences->begin(), differences->end(),
                     [&](const json& a, const json& b) { return path_of(a) < path_of(b); });
  }
  return decision;
}

NightComparison compare_night(json& jobs, const json* previous, std::string_view no_previous_note,
                              const json& current_build, double family_alpha) {
  NightComparison night;
  for (const char* verdict : {"identical", "changed_unexpectedly", "changed_within_mc_error",
                              "changed_beyond_mc_error", "new", "not_compared"})
    night.verdicts[verdict] = 0;
  std::set<std::string> tonight;
  for (json& job : jobs) {
    const std::string name = job.at("name");
    tonight.insert(name);
    if (!previous) {
      job["comparison"] = {{"verdict", "not_compared"}, {"note", no_previous_note}};
      continue;
    }
    const json* match = nullptr;
    for (const json& candidate : previous->at("jobs"))
      if (candidate.at("name") == name) match = &candidate;
    if (!match) {
      job["comparison"] = {{"verdict", "new"}, {"note", "no job of this name the previous night"}};
    } else if (match->at("kind") != job.at("kind")) {
      job["comparison"] = {{"verdict", "new"},
                           {"note", fmt::format("the previous night's job of this name was a {}",
                                                match->at("kind").get<std::string>())}};
    } else {
      job["comparison"] =
          compare_job(*match, job, previous->at("batch").at("build"), current_build);
    }
  }
  std::vector<json*> comparisons;
  for (json& job : jobs) comparisons.push_back(&job.at("comparison"));
  night.holm = apply_holm(comparisons, family_alpha);
  for (const json& job : jobs)
    ++night.verdicts[job.at("comparison").at("verdict").get<std::string>()];
  if (previous)
    for (const json& job : previous->at("jobs"))
      if (!tonight.count(job.at("name").get<std::string>()))
        night.jobs_not_run_tonight.push_back(job.at("name"));
  return night;
}

}  // namespace vpgen::batch
