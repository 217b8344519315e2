#include "vpgen/config/population_loader.hpp"

#include "vpgen/common/safe_file.hpp"
#include "vpgen/config/toml_reader.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace vpgen::config {
namespace {

double positive(TableReader& t, std::string_view key) {
  const double value = t.number(key);
  if (!(value > 0.0)) t.fail(key, fmt::format("{} must be > 0", value));
  return value;
}

LogNormalMarginal read_log_normal(TableReader& parent, std::string_view key) {
  TableReader t = parent.table(key);
  LogNormalMarginal m;
  m.median = positive(t, "median");
  m.sigma_log = positive(t, "sigma_log");
  m.min = t.number("min", 0.0);
  m.max = t.number("max", 0.0);
  if (!(m.max > m.min))
    t.fail("max", fmt::format("{} must be greater than min = {}", m.max, m.min));
  if (!(m.median > m.min && m.median < m.max))
    t.fail("median", fmt::format("{} must lie strictly between min = {} and max = {}", m.median,
                                 m.min, m.max));
  t.require_source();
  t.finish();
  return m;
}

BetaMarginal read_beta(TableReader& parent, std::string_view key) {
  TableReader t = parent.table(key);
  BetaMarginal m;
  m.alpha = positive(t, "alpha");
  m.beta = positive(t, "beta");
  t.require_source();
  t.finish();
  return m;
}

Pdl1Marginal read_pdl1(TableReader& parent) {
  TableReader t = parent.table("pdl1");
  Pdl1Marginal m;
  m.frac_zero = t.probability("frac_zero");
  m.frac_1_4 = t.probability("frac_1_4");
  m.frac_5_49 = t.probability("frac_5_49");
  m.frac_50_100 = t.probability("frac_50_100");
  const double sum = m.frac_zero + m.frac_1_4 + m.frac_5_49 + m.frac_50_100;
  if (std::abs(sum - 1.0) > TableReader::kSumTolerance)
    parent.fail(
        "pdl1",
        fmt::format("frac_zero + frac_1_4 + frac_5_49 + frac_50_100 = {:.10g}, not 1", sum));
  t.require_source();
  t.finish();
  return m;
}

NormalMarginal read_age(TableReader& parent) {
  TableReader t = parent.table("age_years");
  NormalMarginal m;
  m.mean = t.number("mean", 0.0, 120.0);
  m.sd = positive(t, "sd");
  m.min = t.number("min", 0.0, 120.0);
  m.max = t.number("max", 0.0, 120.0);
  if (!(m.max > m.min))
    t.fail("max", fmt::format("{} must be greater than min = {}", m.max, m.min));
  if (!(m.mean > m.min && m.mean < m.max))
    t.fail("mean",
           fmt::format("{} must lie strictly between min = {} and max = {}", m.mean, m.min, m.max));
  t.require_source();
  t.finish();
  return m;
}

// Reads table `key` holding one value `field` and its source.
template <typename Read>
double single(TableReader& parent, std::string_view key, std::string_view field, Read read) {
  TableReader t = parent.table(key);
  const double value = read(t, field);
  t.require_source();
  t.finish();
  return value;
}

template <std::size_t N>
std::array<double, N> probabilities(TableReader& parent, std::string_view key) {
  TableReader t = parent.table(key);
  const std::array<double, N> out = t.template distribution<N>("probs");
  t.require_source();
  t.finish();
  return out;
}

CancerTypeParams read_type(TableReader& t) {
  auto fraction = [](TableReader& r, std::string_view k) { return r.probability(k); };
  CancerTypeParams p;
  p.tmb_mut_per_mb = read_log_normal(t, "tmb_mut_per_mb");
  p.pdl1 = read_pdl1(t);
  p.infiltration = read_beta(t, "infiltration");
  p.memory_capacity = read_beta(t, "memory_capacity");
  p.tumour_burden_mm = read_log_normal(t, "tumour_burden_mm");
  p.mean_extra_sites =
      single(t, "metastatic_sites", "mean_extra_sites",
             [](TableReader& r, std::string_view k) { return r.number(k, 0.0, 50.0); });
  p.age_years = read_age(t);
  p.frac_female = single(t, "sex", "frac_female", fraction);
  p.ecog_probs = probabilities<3>(t, "ecog");
  p.frac_ldh_elevated = single(t, "ldh", "frac_elevated", fraction);
  p.line_probs = probabilities<3>(t, "line_of_therapy");
  p.frac_prior_anti_pd1_if_pretreated = single(t, "prior_anti_pd1", "frac_if_pretreated", fraction);
  t.finish();
  return p;
}

// The correlation matrix of the copula: rows in kCopulaDimNames order (checked through `dims`),
// symmetric, unit diagonal, positive definite. Errors point at the offending row's line.
CorrelationMatrix read_correlation(TableReader& root) {
  TableReader t = root.table("correlation");
  const std::vector<std::string> dims = t.strings("dims");
  const bool same_dims =
      dims.size() == kCopulaDims && std::equal(dims.begin(), dims.end(), kCopulaDimNames.begin());
  if (!same_dims)
    t.fail("dims",
           fmt::format("must be [\"{}\"] in this order", fmt::join(kCopulaDimNames, "\", \"")));

  const toml::array& rows = t.array("matrix");
  const std::string key = t.key_path("matrix");
  if (rows.size() != kCopulaDims)
    t.fail("matrix", fmt::format("expected {} rows, found {}", kCopulaDims, rows.size()));
  CorrelationMatrix c{};
  for (std::size_t i = 0; i < kCopulaDims; ++i) {
    const toml::array* row = rows[i].as_array();
    if (!row || row->size() != kCopulaDims)
      throw InputError(located(t.file(), rows[i].source(), key,
                               fmt::format("row {} ({}) must be an array of {} numbers", i,
                                           kCopulaDimNames[i], kCopulaDims)));
    for (std::size_t j = 0; j < kCopulaDims; ++j) {
      const toml::node& cell = (*row)[j];
      double value = 0.0;
      if (auto d = cell.value_exact<double>()) value = *d;
      else if (auto n = cell.value_exact<std::int64_t>()) value = static_cast<double>(*n);
      else
        throw InputError(located(t.file(), cell.source(), key,
                                 fmt::format("[{}][{}] must be a number, found {}", i, j,
                                             TableReader::type_name(cell))));
      const bool diagonal = i == j;
      if (diagonal && value != 1.0)
        throw InputError(
            located(t.file(), cell.source(), key,
                    fmt::format("[{}][{}] ({}) = {} must be 1", i, j, kCopulaDimNames[i], value)));
      if (!diagonal && !(std::abs(value) < 1.0))
        throw InputError(located(t.file(), cell.source(), key,
                                 fmt::format("[{}][{}] ({}, {}) = {} is not in (-1, 1)", i, j,
                                             kCopulaDimNames[i], kCopulaDimNames[j], value)));
      c[i][j] = value;
    }
  }
  for (std::size_t i = 0; i < kCopulaDims; ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (c[i][j] != c[j][i])
        throw InputError(
            located(t.file(), (*rows[i].as_array())[j].source(), key,
                    fmt::format("not symmetric: [{}][{}] ({}, {}) = {} but [{}][{}] = {}", i, j,
                                kCopulaDimNames[i], kCopulaDimNames[j], c[i][j], j, i, c[j][i])));
  // Cholesky: a non-positive pivot at row i means the correlations of dimension i with the
  // earlier ones cannot hold together (the sampler checks again; this check knows the line).
  CorrelationMatrix l{};
  for (std::size_t i = 0; i < kCopulaDims; ++i) {
    for (std::size_t j = 0; j <= i; ++j) {
      double s = c[i][j];
      for (std::size_t k = 0; k < j; ++k) s -= l[i][k] * l[j][k];
      if (i != j) {
        l[i][j] = s / l[j][j];
      } else if (s > 1e-10) {
        l[i][i] = std::sqrt(s);
      } else {
        throw InputError(located(
            t.file(), rows[i].source(), key,
            fmt::format("not positive definite: the Cholesky pivot of row {} ({}) is {}; its "
                        "correlations with the earlier dimensions are jointly impossible",
                        i, kCopulaDimNames[i], s)));
      }
    }
  }
  t.require_source();
  t.finish();
  return c;
}

}  // namespace

PopulationParams read_population(TableReader& root) {
  PopulationParams params;
  {
    TableReader hot = root.table("hot_threshold");
    params.hot_threshold = hot.probability("value");
    hot.require_source();
    hot.finish();
  }
  params.correlation = read_correlation(root);
  TableReader types = root.table("types");
  for (std::size_t i = 0; i < kCancerTypeCount; ++i) {
    TableReader type = types.table(kCancerTypeNames[i]);
    params.types[i] = read_type(type);
  }
  types.finish();
  root.finish();
  return params;
}

PopulationParams load_population(const std::string& path) {
  const std::string text = read_input_file(path, "the population parameter file");
  const toml::table table = parse_file_text(text, path);
  TableReader root(table, path, "");
  return read_population(root);
}

CohortSpec read_cohort(TableReader& cohort) {
  CohortSpec spec;
  {
    TableReader mix = cohort.table("mix");
    for (const auto& [name, node] : mix.table()) {
      const std::string type_name(name.str());
      const auto type = cancer_type_from_string(type_name);
      if (!type)
        mix.fail(type_name, fmt::format("unknown cancer type; expected one of {}",
                                        fmt::join(kCancerTypeNames, ", ")));
      const double weight = mix.number(type_name);
      if (!(weight > 0.0)) mix.fail(type_name, fmt::format("weight {} must be > 0", weight));
      spec.mix.emplace_back(*type, weight);
    }
    if (spec.mix.empty()) cohort.fail("mix", "names no cancer type; give at least one weight");
    mix.finish();
  }
  std::sort(spec.mix.begin(), spec.mix.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });

  if (cohort.has("eligibility")) {
    TableReader t = cohort.table("eligibility");
    Eligibility& e = spec.eligibility;
    if (t.has("min_pdl1_tps_percent"))
      e.min_pdl1_tps_percent = t.number("min_pdl1_tps_percent", 0.0, 100.0);
    if (t.has("max_pdl1_tps_percent"))
      e.max_pdl1_tps_percent = t.number("max_pdl1_tps_percent", 0.0, 100.0);
    if (e.min_pdl1_tps_percent && e.max_pdl1_tps_percent &&
        *e.min_pdl1_tps_percent > *e.max_pdl1_tps_percent)
      t.fail("max_pdl1_tps_percent", "must not be below min_pdl1_tps_percent");
    if (t.has("min_tmb_mut_per_mb"))
      e.min_tmb_mut_per_mb = t.number("min_tmb_mut_per_mb", 0.0, 1e4);
    if (t.has("max_tmb_mut_per_mb"))
      e.max_tmb_mut_per_mb = t.number("max_tmb_mut_per_mb", 0.0, 1e4);
    if (e.min_tmb_mut_per_mb && e.max_tmb_mut_per_mb &&
        *e.min_tmb_mut_per_mb > *e.max_tmb_mut_per_mb)
      t.fail("max_tmb_mut_per_mb", "must not be below min_tmb_mut_per_mb");
    if (t.has("max_ecog")) e.max_ecog = static_cast<int>(t.integer("max_ecog", 0, 2));
    if (t.has("lines_of_therapy")) {
      const toml::array& lines = t.array("lines_of_therapy");
      const std::string key = t.key_path("lines_of_therapy");
      if (lines.empty()) t.fail("lines_of_therapy", "must list at least one line (1, 2 or 3)");
      std::vector<int> values;
      for (const toml::node& element : lines) {
        const auto line = element.value_exact<std::int64_t>();
        if (!line || *line < 1 || *line > 3)
          throw InputError(located(t.file(), element.source(), key,
                                   "lines are the integers 1, 2 and 3 (3 = third or later)"));
        if (std::find(values.begin(), values.end(), *line) != values.end())
          throw InputError(located(t.file(), element.source(), key,
                                   fmt::format("line {} is listed twice", *line)));
        values.push_back(static_cast<int>(*line));
      }
      e.lines_of_therapy = std::move(values);
    }
    if (t.has("prior_anti_pd1")) e.prior_anti_pd1 = t.boolean("prior_anti_pd1");
    if (t.has("hot")) e.hot = t.boolean("hot");
    if (t.has("ldh_elevated")) e.ldh_elevated = t.boolean("ldh_elevated");
    t.finish();
  }
  cohort.finish();
  return spec;
}

}  // namespace vpgen::config
