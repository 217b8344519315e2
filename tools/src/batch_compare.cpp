// Night-to-night comparison of `vpgen batch`: exact when nothing that may change the numbers
// changed, within Monte Carlo error otherwise (docs/BATCH.md, "Comparison").
#include "batch.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <set>

namespace vpgen::batch {

namespace {

using nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// The standard normal 0.975 quantile: a 95% interval spans 1.96 standard errors either side.
constexpr double kZ95 = 1.959963984540054;

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
    for (const auto& [key, value] : j.items()) collect_leaves(value, child_path(path, key, false), out);
  } else if (j.is_array()) {
    const std::vector<std::string> keys = element_keys(j);
    for (std::size_t i = 0; i < j.size(); ++i) collect_leaves(j[i], child_path(path, keys[i], true), out);
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
    for (const auto& [key, value] : j.items()) collect_figures(value, child_path(path, key, false), out);
  } else if (j.is_array()) {
    const std::vector<std::string> keys = element_keys(j);
    for (std::size_t i = 0; i < j.size(); ++i) collect_figures(j[i], child_path(path, keys[i], true), out);
  }
}

double number(const json& figure, const char* key) {
  const auto it = figure.find(key);
  return it != figure.end() && it->is_number() ? it->get<double>() : kNaN;
}

// The Monte Carlo half-width of a figure: half its 95% interval, or 1.96 times its standard error
// ("se", or "mcse" for a simulated power); NaN if it has neither.
double half_width(const json& figure) {
  const double low = number(figure, "ci_low"), high = number(figure, "ci_high");
  if (std::isfinite(low) && std::isfinite(high)) return (high - low) / 2.0;
  for (const char* key : {"se", "mcse"}) {
    const double se = number(figure, key);
    if (std::isfinite(se)) return kZ95 * se;
  }
  return kNaN;
}

json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// Numbers compare by value (an integer and the same double are equal); everything else exactly.
bool same_value(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_number_float() || b.is_number_float()) return a.get<double>() == b.get<double>();
    return a == b;
  }
  return a == b;
}

std::string short_value(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

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
    reasons.push_back(fmt::format("seed {} -> {}", seed_text(previous_job),
                                  seed_text(current_job)));
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
      reasons.push_back(fmt::format("{} {} -> {}", k.empty() ? "settings" : k, short_value(a),
                                    short_value(b)));
  }
  for (const std::string_view key : kBuildFields) {
    const json a = field(previous_build, key), b = field(current_build, key);
    if (!same_value(a, b))
      reasons.push_back(fmt::format("build {} {} -> {}", key, short_value(a), short_value(b)));
  }
  return reasons;
}

}  // namespace

json compare_job(const json& previous_job, const json& current_job, const json& previous_build,
                 const json& current_build) {
  json out = {{"verdict", "not_compared"},
              {"reasons", json::array()},
              {"figures_compared", 0},
              {"figures_changed", 0},
              {"differences", json::array()}};
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

  std::map<std::string, json> before, after;
  collect_figures(*previous_figures, "", before);
  collect_figures(*current_figures, "", after);
  std::set<std::string> figure_paths;
  for (const auto& [k, v] : before) figure_paths.insert(k);
  for (const auto& [k, v] : after) figure_paths.insert(k);
  out["figures_compared"] = figure_paths.size();

  std::map<std::string, json> leaves_before, leaves_after;
  collect_leaves(*previous_figures, "", leaves_before);
  collect_leaves(*current_figures, "", leaves_after);
  std::set<std::string> leaf_paths;
  for (const auto& [k, v] : leaves_before) leaf_paths.insert(k);
  for (const auto& [k, v] : leaves_after) leaf_paths.insert(k);
  json& differences = out["differences"];

  if (reasons.empty()) {
    // Same inputs, seed, settings and build: the reproducibility contract says every value is
    // the same bit for bit, so every difference is listed.
    std::size_t changed_figures = 0;
    for (const std::string& path : figure_paths)
      if (!before.count(path) || !after.count(path) || before[path] != after[path])
        ++changed_figures;
    out["figures_changed"] = changed_figures;
    for (const std::string& path : leaf_paths) {
      const bool in_before = leaves_before.count(path) > 0, in_after = leaves_after.count(path) > 0;
      if (in_before && in_after && same_value(leaves_before[path], leaves_after[path])) continue;
      json difference = {{"value", path},
                         {"change", !in_before ? "appeared" : !in_after ? "disappeared" : "value"},
                         {"previous", in_before ? leaves_before[path] : json(nullptr)},
                         {"current", in_after ? leaves_after[path] : json(nullptr)}};
      if (difference["previous"].is_number() && difference["current"].is_number())
        difference["difference"] =
            difference["current"].get<double>() - difference["previous"].get<double>();
      differences.push_back(std::move(difference));
    }
    out["verdict"] = differences.empty() ? "identical" : "changed_unexpectedly";
    return out;
  }

  bool any_leaf_changed = false;
  for (const std::string& path : leaf_paths)
    if (!leaves_before.count(path) || !leaves_after.count(path) ||
        !same_value(leaves_before[path], leaves_after[path]))
      any_leaf_changed = true;
  if (!any_leaf_changed) {
    out["verdict"] = "identical";
    return out;
  }

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
    if (a == b) continue;
    const double x = number(a, "estimate"), y = number(b, "estimate");
    if (std::isnan(x) && std::isnan(y)) continue;  // the interval moved, no estimate either night
    if (std::isnan(x) != std::isnan(y)) {
      ++changed_figures;
      differences.push_back({{"figure", path},
                             {"change", std::isnan(y) ? "undefined" : "defined"},
                             {"previous", a},
                             {"current", b}});
      continue;
    }
    if (x == y) continue;  // only the interval moved
    ++changed_figures;
    double ha = half_width(a), hb = half_width(b);
    // One night without an interval (e.g. an upper bound not reached): take the other's for both.
    if (std::isnan(ha)) ha = hb;
    if (std::isnan(hb)) hb = ha;
    const double threshold = std::sqrt(ha * ha + hb * hb);
    const double difference = y - x;
    if (std::isnan(threshold)) {
      differences.push_back({{"figure", path},
                             {"change", "no_mc_error"},
                             {"previous", a},
                             {"current", b},
                             {"difference", difference},
                             {"threshold", nullptr}});
    } else if (std::abs(difference) > threshold) {
      differences.push_back({{"figure", path},
                             {"change", "beyond_mc_error"},
                             {"previous", a},
                             {"current", b},
                             {"difference", difference},
                             {"threshold", number_or_null(threshold)}});
    }
  }
  // Verdicts that flipped (a validation target's "pass").
  for (const std::string& path : leaf_paths) {
    if (!leaves_before.count(path) || !leaves_after.count(path)) continue;
    const json& a = leaves_before[path];
    const json& b = leaves_after[path];
    if (a.is_boolean() && b.is_boolean() && a != b)
      differences.push_back({{"value", path}, {"change", "flag"}, {"previous", a}, {"current", b}});
  }
  out["figures_changed"] = changed_figures;
  out["verdict"] = differences.empty() ? "changed_within_mc_error" : "changed_beyond_mc_error";
  return out;
}

}  // namespace vpgen::batch
