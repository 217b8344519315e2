// Reading a `vpgen size` design file into a validated Design (docs/DESIGN.md lists every key).
#include "vpgen/trial_design/trial_design.hpp"

#include "vpgen/config/scenario_loader.hpp"
#include "vpgen/config/toml_reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

namespace vpgen::trial_design {

namespace {

namespace fs = std::filesystem;
using config::TableReader;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::int64_t kMaxPatients = 1'000'000;
constexpr std::uint64_t kMaxReplicates = 100'000'000;

template <typename E, std::size_t N>
E choose(TableReader& t, std::string_view key, const std::array<std::string_view, N>& names) {
  const std::string value = t.string(key);
  for (std::size_t i = 0; i < N; ++i)
    if (names[i] == value) return static_cast<E>(i);
  std::string allowed;
  for (std::size_t i = 0; i < N; ++i) allowed += fmt::format("{}\"{}\"", i ? ", " : "", names[i]);
  t.fail(key, fmt::format("\"{}\" is not one of {}", value, allowed));
}

// Exactly one of two keys (e.g. a fixed follow-up or an event count): the second is refused when
// both are given, and a design with neither is located at the table.
void one_of(TableReader& t, std::string_view first, std::string_view second) {
  if (t.has(first) && t.has(second))
    t.fail(second, fmt::format("give either {} or {}, not both", first, second));
  if (!t.has(first) && !t.has(second))
    t.fail(first, fmt::format("missing: give {} or {}", first, second));
}

// A key that only some designs take: refused with the reason when present in the others.
void refuse(TableReader& t, std::string_view key, std::string_view why) {
  if (t.has(key)) t.fail(key, fmt::format("not allowed: {}", why));
}

double positive(TableReader& t, std::string_view key, double max = kInf) {
  const double v = t.number(key, 0.0, max);
  if (v <= 0.0) t.fail(key, "must be greater than 0");
  return v;
}

// The survival model of one arm: { model = "exponential", median_months | hazard_per_month },
// { model = "piecewise_exponential", breaks_months, hazards_per_month }, { model =
// "mixture_cure", cure_fraction, median_months_uncured }; the experimental arm may instead give
// { hazard_ratio, delay_months (optional, default 0) } relative to the control arm.
SurvivalModel read_model(TableReader t, const SurvivalModel* relative_to) {
  if (relative_to && t.has("hazard_ratio")) {
    refuse(t, "model", "give either a model or hazard_ratio relative to the control arm");
    const double hr = positive(t, "hazard_ratio", 100.0);
    double delay = 0.0;
    if (t.has("delay_months")) delay = t.number("delay_months", 0.0, 1200.0);
    t.finish();
    return relative_to->with_hazard_ratio(hr, delay);
  }
  static constexpr std::array<std::string_view, 3> kModels = {
      "exponential", "piecewise_exponential", "mixture_cure"};
  const auto kind = choose<SurvivalModel::Kind>(t, "model", kModels);
  SurvivalModel model;
  switch (kind) {
    case SurvivalModel::Kind::kExponential: {
      one_of(t, "median_months", "hazard_per_month");
      const double hazard = t.has("median_months")
                                ? std::log(2.0) / positive(t, "median_months", 1e4)
                                : positive(t, "hazard_per_month", 100.0);
      model = SurvivalModel::exponential(hazard);
      break;
    }
    case SurvivalModel::Kind::kPiecewiseExponential: {
      const std::vector<double> breaks = t.numbers("breaks_months", 0, 0.0, 1e4);
      const std::vector<double> hazards = t.numbers("hazards_per_month", 0, 0.0, 100.0);
      if (breaks.empty()) t.fail("breaks_months", "needs at least one break (else: exponential)");
      for (std::size_t i = 0; i < breaks.size(); ++i)
        if (breaks[i] <= 0.0 || (i > 0 && breaks[i] <= breaks[i - 1]))
          t.fail("breaks_months", "must be strictly increasing and greater than 0");
      if (hazards.size() != breaks.size() + 1)
        t.fail("hazards_per_month",
               fmt::format("needs one hazard per piece: {} breaks make {} pieces, found {}",
                           breaks.size(), breaks.size() + 1, hazards.size()));
      if (hazards.back() <= 0.0) t.fail("hazards_per_month", "the last hazard must be > 0");
      model = SurvivalModel::piecewise(breaks, hazards);
      break;
    }
    case SurvivalModel::Kind::kMixtureCure: {
      const double cure = t.number("cure_fraction", 0.0, 1.0);
      if (cure >= 1.0) t.fail("cure_fraction", "must be below 1");
      model = SurvivalModel::mixture_cure(cure, std::log(2.0) /
                                                    positive(t, "median_months_uncured", 1e4));
      break;
    }
  }
  if (relative_to) refuse(t, "delay_months", "only with hazard_ratio");
  t.finish();
  return model;
}

std::vector<std::int64_t> read_grid(TableReader& t) {
  const toml::node* node = t.table().get("grid");
  std::vector<std::int64_t> grid;
  if (node && node->is_table()) {
    TableReader range = t.table("grid");
    const std::int64_t from = range.integer("from", 1, kMaxPatients);
    const std::int64_t to = range.integer("to", from, kMaxPatients);
    const std::int64_t step = range.integer("step", 1, kMaxPatients);
    range.finish();
    if ((to - from) / step + 1 > 200) t.fail("grid", "more than 200 sample sizes");
    for (std::int64_t n = from; n <= to; n += step) grid.push_back(n);
    return grid;
  }
  if (node && !node->is_array())
    t.fail("grid", "expected an array of sample sizes or a table { from, to, step }");
  const toml::array& a = t.array("grid");
  for (const toml::node& element : a) {
    const auto value = element.value_exact<std::int64_t>();
    if (!value || *value < 1 || *value > kMaxPatients)
      throw InputError(config::located(t.file(), element.source(), t.key_path("grid"),
                                       fmt::format("expected integers in [1, {}]", kMaxPatients)));
    if (!grid.empty() && *value <= grid.back())
      throw InputError(config::located(t.file(), element.source(), t.key_path("grid"),
                                       "sample sizes must be strictly increasing"));
    grid.push_back(*value);
  }
  if (grid.empty()) t.fail("grid", "needs at least one sample size");
  if (grid.size() > 200) t.fail("grid", "more than 200 sample sizes");
  return grid;
}

std::size_t arm_index(TableReader& t, std::string_view key, const Scenario& scenario) {
  const std::string name = t.string(key);
  std::string names;
  for (std::size_t i = 0; i < scenario.arms.size(); ++i) {
    if (scenario.arms[i].name == name) return i;
    names += fmt::format("{}\"{}\"", i ? ", " : "", scenario.arms[i].name);
  }
  t.fail(key, fmt::format("the scenario has no arm \"{}\" (its arms: {})", name, names));
}

// One reader per table of the design file, in the order read_design_text calls them: a later
// table's checks may use what an earlier one set (the endpoint decides the analysis, the analysis
// the grid).

void read_design_table(TableReader& root, Design& d) {
  TableReader t = root.table("design");
  d.name = t.string("name");
  if (d.name.empty()) t.fail("name", "must not be empty");
  if (t.has("description")) d.description = t.text("description");
  d.seed =
      static_cast<std::uint64_t>(t.integer("seed", 0, std::numeric_limits<std::int64_t>::max()));
  d.mode = choose<Mode>(t, "mode", kModeNames);
  t.finish();
}

void read_endpoint(TableReader& root, Design& d) {
  TableReader t = root.table("endpoint");
  d.endpoint = choose<Endpoint>(t, "kind", kEndpointNames);
  if (d.endpoint == Endpoint::kMilestone || d.endpoint == Endpoint::kRmst) {
    static constexpr std::array<std::string_view, 2> kTimes = {"pfs", "os"};
    d.time_to_event = choose<int>(t, "time_to_event", kTimes) == 0 ? Endpoint::kPfs : Endpoint::kOs;
  } else {
    d.time_to_event = d.endpoint;
    refuse(t, "time_to_event", "only for the milestone and rmst endpoints");
  }
  if (d.endpoint == Endpoint::kMilestone) d.milestone_months = positive(t, "time_months", 1200);
  else refuse(t, "time_months", "only for the milestone endpoint");
  if (d.endpoint == Endpoint::kRmst) d.tau_months = positive(t, "tau_months", 1200);
  else refuse(t, "tau_months", "only for the rmst endpoint");
  t.finish();
}

void read_analysis(TableReader& root, Design& d) {
  TableReader t = root.table("analysis");
  d.analysis = choose<Analysis>(t, "test", kAnalysisNames);
  const Analysis a = d.analysis;
  const bool rate_test = a == Analysis::kExactBinomial || a == Analysis::kSimon ||
                         a == Analysis::kFisher || a == Analysis::kChiSquare;
  if (is_rate(d.endpoint) != rate_test)
    t.fail("test", fmt::format("the {} test does not apply to the endpoint \"{}\"", to_string(a),
                               to_string(d.endpoint)));
  if ((d.endpoint == Endpoint::kMilestone) != (a == Analysis::kMilestone) ||
      (d.endpoint == Endpoint::kRmst) != (a == Analysis::kRmst))
    t.fail("test", fmt::format("endpoint \"{}\" is analysed by test \"{}\"", to_string(d.endpoint),
                               d.endpoint == Endpoint::kMilestone ? "milestone"
                               : d.endpoint == Endpoint::kRmst    ? "rmst"
                                                                  : "logrank or maxcombo"));
  d.alpha = t.number("alpha", 0.0, 0.5);
  if (d.alpha <= 0.0) t.fail("alpha", "must be greater than 0");
  d.sides = static_cast<int>(t.integer("sides", 1, 2));
  if (d.sides == 2 && (is_single_arm(a) || a == Analysis::kMaxCombo))
    t.fail("sides", fmt::format("the {} test is one-sided here (sides = 1)", to_string(a)));
  d.target_power = t.number("target_power", 0.0, 1.0);
  if (d.target_power <= d.alpha || d.target_power >= 1.0)
    t.fail("target_power", "must lie between alpha and 1 (exclusive)");
  if (is_single_arm(a)) {
    refuse(t, "allocation_ratio", "single-arm analyses have one arm");
    d.p0 = t.number("p0", 0.0, 1.0);
    if (d.p0 <= 0.0 || d.p0 >= 1.0) t.fail("p0", "must lie strictly between 0 and 1");
  } else {
    d.allocation_ratio = t.number("allocation_ratio", 0.1, 10.0);
    refuse(t, "p0", "only for single-arm analyses (exact_binomial, simon)");
  }
  if (a == Analysis::kSimon) {
    d.p1 = t.number("p1", 0.0, 1.0);
    if (d.p1 <= d.p0 || d.p1 >= 1.0) t.fail("p1", "must lie strictly between p0 and 1");
    static constexpr std::array<std::string_view, 2> kCriteria = {"optimal", "minimax"};
    d.simon_minimax = choose<int>(t, "simon", kCriteria) == 1;
  } else {
    refuse(t, "p1", "only for the simon test (its design alternative)");
    refuse(t, "simon", "only for the simon test");
  }
  if (a == Analysis::kChiSquare) d.continuity_correction = t.boolean("continuity_correction");
  else refuse(t, "continuity_correction", "only for the chi_square test (Yates)");
  t.finish();
}

void read_conduct(TableReader& root, Design& d) {
  TableReader t = root.table("conduct");
  Conduct& c = d.conduct;
  one_of(t, "accrual_months", "accrual_rate_per_month");
  if (t.has("accrual_months")) c.accrual_months = positive(t, "accrual_months", 1200);
  else c.accrual_rate_per_month = positive(t, "accrual_rate_per_month", 1e6);
  if (is_rate(d.endpoint)) {
    const char* why = "response endpoints count every enrolled patient (no timing)";
    refuse(t, "entry", why);
    refuse(t, "events", why);
    refuse(t, "dropout_probability_per_year", why);
    c.followup_months = t.number("followup_months", 0.0, 1200.0);
  } else {
    c.entry = choose<Entry>(t, "entry", kEntryNames);
    one_of(t, "events", "followup_months");
    if (t.has("events")) c.events = t.integer("events", 1, kMaxPatients);
    else c.followup_months = t.number("followup_months", 0.0, 1200.0);
    c.dropout_probability_per_year = t.number("dropout_probability_per_year", 0.0, 1.0);
    if (c.dropout_probability_per_year >= 1.0)
      t.fail("dropout_probability_per_year", "must be below 1");
  }
  t.finish();
}

void read_sample_size(TableReader& root, Design& d) {
  if (d.analysis == Analysis::kSimon) {
    refuse(root, "sample_size", "a Simon design fixes its own n1 and n");
    return;
  }
  TableReader t = root.table("sample_size");
  d.grid = read_grid(t);
  for (const std::int64_t n : d.grid) {
    if (!is_single_arm(d.analysis)) {
      const auto [nc, ne] = d.arm_sizes(n);
      if (nc < 1 || ne < 1)
        t.fail("grid", fmt::format("n = {} leaves an arm empty at allocation ratio {}", n,
                                   d.allocation_ratio));
    }
    if (d.conduct.events && n < *d.conduct.events)
      t.fail("grid", fmt::format("n = {} is below the {} events the analysis waits for", n,
                                 *d.conduct.events));
  }
  t.finish();
}

void read_replicates(TableReader& root, Design& d) {
  TableReader t = root.table("replicates");
  ReplicateSettings& r = d.replicates;
  r.min = static_cast<std::uint64_t>(t.integer("min", 1, kMaxReplicates));
  r.max = static_cast<std::uint64_t>(
      t.integer("max", static_cast<std::int64_t>(r.min), kMaxReplicates));
  r.target_mcse = t.number("target_mcse", 0.0, 0.5);
  if (r.target_mcse <= 0.0) t.fail("target_mcse", "must be greater than 0");
  r.batch = static_cast<std::uint64_t>(t.integer("batch", 1, kMaxReplicates));
  t.finish();
}

// Parametric mode: response rates or one survival model per arm.
void read_parametric(TableReader& root, Design& d) {
  refuse(root, "scenario", "only in mechanistic mode (parametric mode uses [parametric])");
  refuse(root, "enrichment_sweep", "only in mechanistic mode (it needs the biomarkers)");
  TableReader t = root.table("parametric");
  if (is_rate(d.endpoint)) {
    refuse(t, "control", "survival models apply to time-to-event endpoints");
    refuse(t, "experimental", "survival models apply to time-to-event endpoints");
    d.p_experimental = t.probability("p_experimental");
    if (is_single_arm(d.analysis)) refuse(t, "p_control", "single-arm analyses have one arm");
    else d.p_control = t.probability("p_control");
  } else {
    refuse(t, "p_control", "response rates apply to response endpoints");
    refuse(t, "p_experimental", "response rates apply to response endpoints");
    d.control_model = read_model(t.table("control"), nullptr);
    d.experimental_model = read_model(t.table("experimental"), &d.control_model);
    if (d.endpoint == Endpoint::kRmst)
      if (!(d.control_model.survival(d.tau_months) < 1.0))
        t.fail("control", "no events before tau_months: the RMST difference is undefined");
  }
  t.finish();
}

// The endpoint's time must lie within the scenario's horizon, where outcomes are censored.
void check_horizon(TableReader& root, const Design& d) {
  const double horizon = d.scenario.horizon_months;
  // A durable CR lasts >= 60 months (outcome.hpp): a shorter horizon never sees one.
  if (d.endpoint == Endpoint::kDurableCr && horizon < 60.0)
    root.fail("endpoint", fmt::format("durable_cr needs a scenario horizon of at least 60 "
                                      "months (the scenario's is {})",
                                      horizon));
  if (d.endpoint == Endpoint::kRmst && d.tau_months > horizon)
    root.fail("endpoint", fmt::format("tau_months {} is beyond the scenario's horizon of {} "
                                      "months (outcomes are censored there)",
                                      d.tau_months, horizon));
  if (d.endpoint == Endpoint::kMilestone && d.milestone_months > horizon)
    root.fail("endpoint", fmt::format("time_months {} is beyond the scenario's horizon of {} "
                                      "months",
                                      d.milestone_months, horizon));
}

// Mechanistic mode: the scenario file (relative to `folder`), its arms, the pool and an optional
// enrichment; the scenario's text is appended to the design's.
void read_scenario(TableReader& root, Design& d, const std::string& folder) {
  refuse(root, "parametric", "only in parametric mode");
  TableReader t = root.table("scenario");
  const fs::path scenario_path = fs::path(folder) / t.path("file");
  if (!fs::exists(scenario_path))
    t.fail("file", fmt::format("file '{}' does not exist", scenario_path.string()));
  d.scenario_file = scenario_path.string();
  d.scenario = config::load_scenario(d.scenario_file);
  d.experimental_arm_index = arm_index(t, "experimental_arm", d.scenario);
  d.experimental_arm = d.scenario.arms[d.experimental_arm_index].name;
  if (is_single_arm(d.analysis)) {
    refuse(t, "control_arm", "single-arm analyses use the experimental arm only");
  } else {
    d.control_arm_index = arm_index(t, "control_arm", d.scenario);
    d.control_arm = d.scenario.arms[d.control_arm_index].name;
    if (d.control_arm_index == d.experimental_arm_index)
      t.fail("control_arm", "must differ from experimental_arm");
  }
  d.pool_patients = static_cast<std::uint64_t>(t.integer("pool_patients", 100, 10'000'000));
  if (t.has("enrichment")) {
    TableReader e = t.table("enrichment");
    if (e.has("tmb_min_mut_per_mb"))
      d.enrichment.tmb_min_mut_per_mb = e.number("tmb_min_mut_per_mb", 0.0, 1e4);
    if (e.has("pdl1_min_percent"))
      d.enrichment.pdl1_min_percent = e.number("pdl1_min_percent", 0.0, 100.0);
    if (!d.enrichment.active())
      t.fail("enrichment", "give tmb_min_mut_per_mb and/or pdl1_min_percent");
    e.finish();
  }
  check_horizon(root, d);
  t.finish();
  d.text += "\n" + d.scenario.source_text;
}

// Mechanistic mode, optional: the grid of biomarker cut-offs to size the trial at.
void read_enrichment_sweep(TableReader& root, Design& d) {
  if (!root.has("enrichment_sweep")) return;
  if (d.analysis == Analysis::kSimon)
    root.fail("enrichment_sweep", "needs a grid of sample sizes (not a Simon design)");
  TableReader s = root.table("enrichment_sweep");
  if (s.has("tmb_cutoffs_mut_per_mb"))
    d.sweep_tmb_cutoffs = s.numbers("tmb_cutoffs_mut_per_mb", 0, 0.0, 1e4);
  if (s.has("pdl1_cutoffs_percent"))
    d.sweep_pdl1_cutoffs = s.numbers("pdl1_cutoffs_percent", 0, 0.0, 100.0);
  if (d.sweep_tmb_cutoffs.empty() && d.sweep_pdl1_cutoffs.empty())
    root.fail("enrichment_sweep",
              "give tmb_cutoffs_mut_per_mb and/or pdl1_cutoffs_percent (non-empty)");
  if (d.sweep_tmb_cutoffs.empty()) d.sweep_tmb_cutoffs = {0.0};
  if (d.sweep_pdl1_cutoffs.empty()) d.sweep_pdl1_cutoffs = {0.0};
  if (d.sweep_tmb_cutoffs.size() * d.sweep_pdl1_cutoffs.size() > 100)
    root.fail("enrichment_sweep", "more than 100 cut-off combinations");
  d.sweep = true;
  s.finish();
}

}  // namespace

Design read_design(const std::string& path) {
  return read_design_text(config::read_text_file(path), path,
                          fs::path(path).parent_path().string());
}

Design read_design_text(const std::string& text, const std::string& file,
                        const std::string& folder) {
  const toml::table doc = config::parse_file_text(text, file);
  TableReader root(doc, file, "");
  Design d;
  d.file = file;
  d.text = text;
  read_design_table(root, d);
  read_endpoint(root, d);
  read_analysis(root, d);
  read_conduct(root, d);
  read_sample_size(root, d);
  read_replicates(root, d);
  if (d.mode == Mode::kParametric) {
    read_parametric(root, d);
  } else {
    read_scenario(root, d, folder);
    read_enrichment_sweep(root, d);
  }
  root.finish();
  return d;
}

}  // namespace vpgen::trial_design
