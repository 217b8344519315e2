#include "vpgen/config/scenario_loader.hpp"

#include "vpgen/common/safe_file.hpp"
#include "vpgen/config/data_path.hpp"
#include "vpgen/config/population_loader.hpp"
#include "vpgen/config/toml_reader.hpp"
#include "vpgen/population/error.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <functional>
#include <string_view>
#include <tuple>
#include <utility>

namespace vpgen::config {
namespace {

namespace fs = std::filesystem;

CourseTypeParams read_course_type(TableReader t) {
  CourseTypeParams p;
  p.doubling_time_median_months = t.number("doubling_time_median_months", 0.05, 1200.0);
  p.doubling_time_sigma_log = t.number("doubling_time_sigma_log", 0.0, 5.0);
  p.disease_death_hazard_per_month = t.number("disease_death_hazard_per_month", 0.0, 10.0);
  p.chemo_sensitivity = t.number("chemo_sensitivity", 0.0, 10.0);
  p.chemo_resistant_fraction_median = t.number("chemo_resistant_fraction_median", 1e-12, 1.0);
  t.require_source();
  t.finish();
  return p;
}

// A number that must be strictly positive (TableReader ranges are closed).
double positive(TableReader& t, std::string_view key, double max) {
  const double value = t.number(key, 0.0, max);
  if (value <= 0.0) t.fail(key, fmt::format("must be > 0, found {}", value));
  return value;
}

RegimenClass read_regimen_class(TableReader& t) {
  const std::string name = t.string("class");
  if (name == "immunotherapy") return RegimenClass::kImmunotherapy;
  if (name == "chemotherapy") return RegimenClass::kChemotherapy;
  if (name == "targeted") return RegimenClass::kTargeted;
  if (name == "cell_therapy") return RegimenClass::kCellTherapy;
  t.fail("class", fmt::format("'{}' is not one of: immunotherapy, chemotherapy, targeted, "
                              "cell_therapy",
                              name));
}

std::string_view class_name(RegimenClass regimen_class) {
  switch (regimen_class) {
    case RegimenClass::kImmunotherapy: return "immunotherapy";
    case RegimenClass::kChemotherapy: return "chemotherapy";
    case RegimenClass::kTargeted: return "targeted";
    case RegimenClass::kCellTherapy: return "cell_therapy";
  }
  return "unknown";
}

// One [[<regimen>.phases]] table. What a phase may contain depends on the regimen's class: direct
// kill belongs to chemotherapy and targeted therapy, checkpoint blockade and irAEs to immune
// therapies, infused cells to cell therapy.
RegimenPhase read_phase(TableReader t, RegimenClass regimen_class, bool last) {
  RegimenPhase p;
  p.name = t.string("name");
  if (p.name.empty()) t.fail("name", "must not be empty");
  p.agents = t.string("agents");
  p.cycle_length_days = t.number("cycle_length_days", 1.0, 365.0);
  p.cycles = static_cast<int>(t.integer("cycles", 0, 10000));
  p.pd1_blockade = t.probability("pd1_blockade");
  p.ctla4_blockade = t.probability("ctla4_blockade");
  p.kill_per_month = t.number("kill_per_month", 0.0, 100.0);
  p.cell_dose = t.number("cell_dose", 0.0, 100.0);
  p.irae_hazard_per_month = t.number("irae_hazard_per_month", 0.0, 100.0);
  p.frac_severe_irae = t.probability("frac_severe_irae");
  p.ae_hazard_per_month = t.number("ae_hazard_per_month", 0.0, 100.0);
  p.frac_severe_ae = t.probability("frac_severe_ae");
  t.finish();

  if (p.cycles == 0 && !last)
    t.fail("cycles", "only the last phase may be open-ended (cycles = 0)");
  const std::string_view kind = class_name(regimen_class);
  const auto refuse_positive = [&](std::string_view key, double value, std::string_view what) {
    if (value > 0.0) t.fail(key, fmt::format("{} regimens cannot have {}", kind, what));
  };
  switch (regimen_class) {
    case RegimenClass::kChemotherapy:
    case RegimenClass::kTargeted:
      refuse_positive("pd1_blockade", p.pd1_blockade, "PD-1 blockade");
      refuse_positive("ctla4_blockade", p.ctla4_blockade, "CTLA-4 blockade");
      refuse_positive("cell_dose", p.cell_dose, "a cell dose");
      refuse_positive("irae_hazard_per_month", p.irae_hazard_per_month,
                      "immune-related AEs (use ae_hazard_per_month)");
      break;
    case RegimenClass::kImmunotherapy:
      refuse_positive("kill_per_month", p.kill_per_month, "direct kill (kill_per_month)");
      refuse_positive("cell_dose", p.cell_dose, "a cell dose");
      break;
    case RegimenClass::kCellTherapy:
      refuse_positive("kill_per_month", p.kill_per_month,
                      "direct kill (lymphodepletion is modelled by its AEs, not by kill)");
      break;
  }
  return p;
}

RegimenSpec read_regimen(TableReader t, const std::string& name) {
  RegimenSpec r;
  r.name = name;
  r.description = t.text("description");
  r.regimen_class = read_regimen_class(t);
  r.max_duration_months = t.number("max_duration_months", 0.0, 1200.0);
  r.onset_scale = positive(t, "onset_scale", 100.0);
  if (r.regimen_class == RegimenClass::kTargeted) {
    // Only targeted regimens have this table; on any other class finish() refuses it.
    TableReader sensitivity = t.table("sensitivity_by_type");
    for (std::size_t i = 0; i < kCancerTypeCount; ++i)
      r.targeted_sensitivity[i] = sensitivity.number(kCancerTypeNames[i], 0.0, 10.0);
    sensitivity.finish();
    r.targeted_resistant_fraction_median =
        t.number("targeted_resistant_fraction_median", 1e-12, 1.0);
  }
  // [[<name>.phases]]: an array of tables, in the order they are given.
  const toml::array& phases = t.array("phases");
  if (phases.empty()) t.fail("phases", "a regimen needs at least one phase ([[<name>.phases]])");
  if (phases.size() > kMaxRegimenPhases)
    t.fail("phases", fmt::format("a regimen has at most {} phases, found {}", kMaxRegimenPhases,
                                 phases.size()));
  for (std::size_t i = 0; i < phases.size(); ++i) {
    const std::string prefix = fmt::format("{}[{}]", t.key_path("phases"), i);
    const toml::table* phase_table = phases[i].as_table();
    if (!phase_table)
      throw InputError(located(t.file(), phases[i].source(), prefix,
                               fmt::format("expected a table ([[{}.phases]])", name)));
    TableReader phase_reader(*phase_table, t.file(), prefix);
    RegimenPhase phase = read_phase(phase_reader, r.regimen_class, i + 1 == phases.size());
    for (const RegimenPhase& earlier : r.phases)
      if (earlier.name == phase.name)
        phase_reader.fail("name", fmt::format("duplicate phase '{}'", phase.name));
    r.phases.push_back(std::move(phase));
  }
  t.require_source();
  t.finish();
  if (r.regimen_class == RegimenClass::kCellTherapy &&
      std::none_of(r.phases.begin(), r.phases.end(),
                   [](const RegimenPhase& p) { return p.cell_dose > 0.0; }))
    t.fail("phases", "a cell_therapy regimen needs cell_dose > 0 in at least one phase");
  return r;
}

AssessmentSchedule read_assessment(TableReader t) {
  AssessmentSchedule a;
  a.first_interval_weeks = t.number("first_interval_weeks", 1.0, 104.0);
  // Optional: trials often image first at week 8-12, then every 6-9 weeks.
  a.first_visit_weeks = t.has("first_visit_weeks") ? t.number("first_visit_weeks", 1.0, 104.0)
                                                   : a.first_interval_weeks;
  a.first_phase_months = t.number("first_phase_months", 0.0, 1200.0);
  a.later_interval_weeks = t.number("later_interval_weeks", 1.0, 104.0);
  a.confirmation_weeks = t.number("confirmation_weeks", 0.0, 52.0);
  a.min_sd_weeks = t.number("min_sd_weeks", 0.0, 52.0);
  t.finish();
  return a;
}

// One file of a scenario bundle: "# ==> NAME (N bytes) <==\n" followed by exactly N bytes and a
// newline. Lengths make the bundle unambiguous whatever the files contain.
void append_to_bundle(std::string& bundle, const std::string& name, const std::string& text) {
  bundle += fmt::format("# ==> {} ({} bytes) <==\n", name, text.size());
  bundle += text;
  bundle += '\n';
}

// Returns (path to show in messages, text) of a file named relative to the scenario.
using FileProvider =
    std::function<std::pair<std::string, std::string>(const std::string& relative)>;

Scenario load_with(const std::string& path, const std::string& text, const FileProvider& provide);

}  // namespace

std::string read_text_file(const std::string& path) { return read_input_file(path); }

std::string fingerprint(const std::string& text) {
  // FNV-1a, 64 bit (Fowler, Noll, Vo): a content fingerprint, not a cryptographic hash.
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return fmt::format("{:016x}", hash);
}

CourseParams read_course(TableReader& root) {
  CourseParams p;
  {
    TableReader t = root.table("immune");
    p.tmb_scale_mut_per_mb = t.number("tmb_scale_mut_per_mb", 0.01, 1000.0);
    p.ctla4_priming_gain = t.number("ctla4_priming_gain", 0.0, 1.0);
    p.pdl1_brake_max = t.probability("pdl1_brake_max");
    p.pdl1_half_percent = t.number("pdl1_half_percent", 0.01, 100.0);
    p.exhaustion_brake = t.probability("exhaustion_brake");
    p.max_kill_per_month = t.number("max_kill_per_month", 0.0, 100.0);
    p.effector_sigma_log = t.number("effector_sigma_log", 0.0, 5.0);
    p.onset_mean_months = t.number("onset_mean_months", 0.01, 24.0);
    p.onset_shape = t.number("onset_shape", 0.1, 100.0);
    p.escape_per_cell_month = t.number("escape_per_cell_month", 0.0, 1.0);
    p.escape_clone_cells = t.number("escape_clone_cells", 1.0, 1e12);
    p.memory_tau_max_months = t.number("memory_tau_max_months", 0.01, 1e4);
    p.prior_anti_pd1_factor = t.number("prior_anti_pd1_factor", 0.0, 1.0);
    p.prior_anti_pd1_cell_factor = t.number("prior_anti_pd1_cell_factor", 0.0, 1.0);
    p.antigen_half_cells = t.number("antigen_half_cells", 1.0, 1e12);
    p.memory_surveillance_per_month = t.number("memory_surveillance_per_month", 0.0, 100.0);
    p.memory_surveillance_exponent = t.number("memory_surveillance_exponent", 0.0, 10.0);
    p.later_line_effector_factor = t.number("later_line_effector_factor", 0.0, 1.0);
    p.cell_persistence_months = t.number("cell_persistence_months", 0.01, 1e4);
    p.pseudo_progression_swelling = t.number("pseudo_progression_swelling", 0.0, 10.0);
    p.pseudo_progression_peak_months = positive(t, "pseudo_progression_peak_months", 120.0);
    t.require_source();
    t.finish();
  }
  {
    TableReader t = root.table("chemotherapy");
    p.chemo_resistant_sigma_log = t.number("chemo_resistant_sigma_log", 0.0, 5.0);
    t.require_source();
    t.finish();
  }
  {
    TableReader t = root.table("tumour");
    p.cells_per_cm3 = t.number("cells_per_cm3", 1e6, 1e12);
    p.burden_death_exponent = t.number("burden_death_exponent", 0.0, 5.0);
    p.ecog_death_hr = t.number("ecog_death_hr", 0.1, 20.0);
    p.ldh_death_hr = t.number("ldh_death_hr", 0.1, 20.0);
    p.sites_death_hr = t.number("sites_death_hr", 0.1, 20.0);
    p.later_line_death_hr = t.number("later_line_death_hr", 0.1, 20.0);
    p.post_progression_growth_factor = t.number("post_progression_growth_factor", 0.0, 10.0);
    p.new_lesion_rate_per_month = t.number("new_lesion_rate_per_month", 0.0, 100.0);
    p.residual_alpha = t.number("residual_alpha", 0.01, 1000.0);
    p.residual_beta = t.number("residual_beta", 0.01, 1000.0);
    p.residual_resolution_months = t.number("residual_resolution_months", 0.1, 1200.0);
    t.require_source();
    t.finish();
  }
  {
    TableReader t = root.table("toxicity");
    p.irae_activation_coupling = t.number("irae_activation_coupling", 0.0, 100.0);
    p.irae_early_months = t.number("irae_early_months", 0.01, 1200.0);
    p.irae_late_fraction = t.probability("irae_late_fraction");
    p.irae_post_treatment_decay_months = t.number("irae_post_treatment_decay_months", 0.01, 120.0);
    p.frac_grade2_of_mild = t.probability("frac_grade2_of_mild");
    p.severe_grade_probs = t.distribution<3>("severe_grade_probs");  // P(grade 3, 4, 5)
    p.steroid_kill_factor = t.probability("steroid_kill_factor");
    p.irae_grade3_discontinue_probability = t.probability("irae_grade3_discontinue_probability");
    p.irae_resolution_months = positive(t, "irae_resolution_months", 120.0);
    p.ae_frac_grade2_of_mild = t.probability("ae_frac_grade2_of_mild");
    p.ae_severe_grade_probs = t.distribution<3>("ae_severe_grade_probs");  // P(grade 3, 4, 5)
    p.ae_discontinue_probability = t.probability("ae_discontinue_probability");
    p.ae_resolution_months = positive(t, "ae_resolution_months", 120.0);
    t.require_source();
    t.finish();
  }
  {
    TableReader t = root.table("assessment");
    p.measurement_sigma_log = t.number("measurement_sigma_log", 0.0, 1.0);
    p.cr_diameter_fraction = t.number("cr_diameter_fraction", 0.0, 0.7);
    t.require_source();
    t.finish();
  }
  // Older course files carried a Gompertz [mortality] section; say where it went.
  if (root.has("mortality"))
    root.fail("mortality",
              "background mortality is the life table named by the scenario's [parameters] "
              "life_table, not a course-file section");
  {
    TableReader types = root.table("types");
    for (std::size_t i = 0; i < kCancerTypeCount; ++i)
      p.types[i] = read_course_type(types.table(kCancerTypeNames[i]));
    types.finish();
  }
  root.finish();
  return p;
}

LifeTable read_life_table(TableReader& root) {
  LifeTable table;
  root.require_source();
  table.age_years = root.numbers("age_years", 0, 0.0, 150.0);
  if (table.age_years.empty()) root.fail("age_years", "needs at least one age");
  const toml::array& ages = root.array("age_years");
  for (std::size_t i = 1; i < table.age_years.size(); ++i)
    if (table.age_years[i] <= table.age_years[i - 1])
      throw InputError(located(root.file(), ages[i].source(), root.key_path("age_years"),
                               fmt::format("ages must increase: {} follows {}", table.age_years[i],
                                           table.age_years[i - 1])));
  for (const auto& [key, q] :
       {std::pair{"q_female", &table.q_female}, std::pair{"q_male", &table.q_male}}) {
    *q = root.numbers(key, table.age_years.size(), 0.0, 1.0);
    // A constant hazard -ln(1 - q) needs q < 1 (a table's closing "1" belongs to no hazard).
    const toml::array& values = root.array(key);
    for (std::size_t i = 0; i < q->size(); ++i)
      if ((*q)[i] >= 1.0)
        throw InputError(located(root.file(), values[i].source(), root.key_path(key),
                                 "must be below 1: q = 1 has no finite hazard"));
  }
  root.finish();
  return table;
}

std::map<std::string, RegimenSpec> read_regimens(TableReader& root) {
  std::map<std::string, RegimenSpec> regimens;
  for (const auto& [key, node] : root.table()) {
    const std::string name(key.str());
    root.check_key_name(name);
    regimens.emplace(name, read_regimen(root.table(name), name));
  }
  if (regimens.empty()) throw InputError(fmt::format("{}: defines no regimen", root.file()));
  root.finish();
  return regimens;
}

namespace {

// The regimen that `key` of `t` names; unknown names list the known ones.
const RegimenSpec& find_regimen(const std::map<std::string, RegimenSpec>& regimens, TableReader& t,
                                std::string_view key) {
  const std::string name = t.string(key);
  const auto found = regimens.find(name);
  if (found == regimens.end()) {
    std::string known;
    for (const auto& [known_name, unused] : regimens)
      known += (known.empty() ? "" : ", ") + known_name;
    t.fail(key, fmt::format("unknown regimen '{}' (known: {})", name, known));
  }
  return found->second;
}

Scenario load_with(const std::string& path, const std::string& text, const FileProvider& provide) {
  Scenario scenario;
  append_to_bundle(scenario.source_text, fs::path(path).filename().string(), text);
  const toml::table document = parse_file_text(text, path);
  TableReader root(document, path, "");

  {
    TableReader t = root.table("scenario");
    scenario.name = t.string("name");
    if (scenario.name.empty()) t.fail("name", "must not be empty");
    scenario.description = t.text("description");
    scenario.seed =
        static_cast<std::uint64_t>(t.integer("seed", 0, std::numeric_limits<std::int64_t>::max()));
    scenario.patients = static_cast<std::uint64_t>(t.integer("patients", 1, 1'000'000'000'000));
    scenario.horizon_months = t.number("horizon_months", 1.0, 1200.0);
    scenario.store_events = t.boolean("store_events");
    t.finish();
  }

  std::map<std::string, RegimenSpec> regimens;
  {
    TableReader t = root.table("parameters");
    // Each included file is read, appended verbatim to the bundle, then parsed.
    struct Included {
      std::string name;  // shown in messages
      std::string text;
      toml::table document;
    };
    auto include = [&](std::string_view key) {
      Included file;
      const std::string relative = t.path(key);
      try {
        std::tie(file.name, file.text) = provide(relative);
      } catch (const InputError& e) {
        t.fail(key, e.what());
      }
      append_to_bundle(scenario.source_text, relative, file.text);
      file.document = parse_file_text(file.text, file.name);
      return file;
    };
    const Included population = include("population");
    const Included course = include("course");
    const Included regimen_file = include("regimens");
    const Included life_table = include("life_table");
    t.finish();

    TableReader population_root(population.document, population.name, "");
    scenario.population = read_population(population_root);
    TableReader course_root(course.document, course.name, "");
    scenario.course = read_course(course_root);
    TableReader life_table_root(life_table.document, life_table.name, "");
    scenario.course.life_table = read_life_table(life_table_root);
    TableReader regimens_root(regimen_file.document, regimen_file.name, "");
    regimens = read_regimens(regimens_root);
  }

  scenario.assessment = read_assessment(root.table("assessment"));
  {
    TableReader t = root.table("cohort");
    scenario.cohort = read_cohort(t);
    t.finish();
  }

  const toml::array& arms = root.array("arms");
  if (arms.empty()) root.fail("arms", "a scenario needs at least one arm");
  for (std::size_t i = 0; i < arms.size(); ++i) {
    const toml::table* arm_table = arms[i].as_table();
    const std::string prefix = fmt::format("arms[{}]", i);
    if (!arm_table)
      throw InputError(located(path, arms[i].source(), prefix, "expected a table ([[arms]])"));
    TableReader arm(*arm_table, path, prefix);
    ArmSpec spec;
    spec.name = arm.string("name");
    if (spec.name.empty()) arm.fail("name", "must not be empty");
    for (const ArmSpec& other : scenario.arms)
      if (other.name == spec.name) arm.fail("name", fmt::format("duplicate arm '{}'", spec.name));
    spec.regimen = find_regimen(regimens, arm, "regimen");
    if (arm.has("beyond_progression_probability"))
      spec.beyond_progression_probability = arm.probability("beyond_progression_probability");
    if (arm.has("next_line")) {
      // next_line = { regimen = "...", probability = p, delay_weeks = w }
      TableReader next = arm.table("next_line");
      spec.next_line.enabled = true;
      spec.next_line.regimen = find_regimen(regimens, next, "regimen");
      spec.next_line.probability = next.probability("probability");
      spec.next_line.delay_weeks = next.number("delay_weeks", 0.0, 520.0);
      next.finish();
    }
    arm.finish();
    scenario.arms.push_back(std::move(spec));
  }
  root.finish();
  return scenario;
}

}  // namespace

Scenario load_scenario(const std::string& path) {
  const std::string scenario_file = find_data_file(path);
  const std::string folder = fs::path(scenario_file).parent_path().string();
  // Included files are named relative to the scenario; errors inside them name their full path.
  return load_with(scenario_file, read_text_file(scenario_file), [&](const std::string& relative) {
    const std::string file = find_data_file(relative, folder);
    return std::make_pair(file, read_text_file(file));
  });
}

std::string canonical_path(const std::string& path) {
  return fs::weakly_canonical(fs::path(path)).string();
}

Scenario load_scenario_with(const std::string& path,
                            const std::map<std::string, std::string>& replaced) {
  const std::string scenario_file = find_data_file(path);
  const std::string folder = fs::path(scenario_file).parent_path().string();
  return load_with(scenario_file, read_text_file(scenario_file), [&](const std::string& relative) {
    // The replaced files were read from the disk, so they are where the search finds them.
    const std::string file = find_data_file(relative, folder);
    const auto found = replaced.find(canonical_path(file));
    if (found != replaced.end()) return std::make_pair(file, found->second);
    return std::make_pair(file, read_text_file(file));
  });
}

Scenario load_scenario_bundle(const std::string& bundle) {
  std::map<std::string, std::string> files;
  std::string first_name;
  std::size_t at = 0;
  while (at < bundle.size()) {
    const std::size_t line_end = bundle.find('\n', at);
    const std::string header = bundle.substr(at, line_end - at);
    const std::size_t open = header.rfind(" (");
    const std::size_t bytes = header.rfind(" bytes) <==");
    if (line_end == std::string::npos || header.rfind("# ==> ", 0) != 0 ||
        open == std::string::npos || bytes == std::string::npos || bytes < open)
      throw InputError("stored scenario text is not a vpgen scenario bundle");
    const std::string name = header.substr(6, open - 6);
    const std::string size_text = header.substr(open + 2, bytes - open - 2);
    std::size_t size = 0;
    const auto [end, error] =
        std::from_chars(size_text.data(), size_text.data() + size_text.size(), size);
    if (size_text.empty() || error != std::errc() || end != size_text.data() + size_text.size())
      throw InputError(
          fmt::format("stored scenario text is damaged: the header of '{}' gives "
                      "'{}' as its size, not a number of bytes",
                      name, size_text));
    if (size > bundle.size() - (line_end + 1))
      throw InputError("stored scenario text is truncated");
    files[name] = bundle.substr(line_end + 1, size);
    if (first_name.empty()) first_name = name;
    at = line_end + 1 + size + 1;
  }
  if (first_name.empty()) throw InputError("stored scenario text is empty");
  return load_with(first_name, files[first_name], [&](const std::string& relative) {
    const auto found = files.find(relative);
    if (found == files.end())
      throw InputError(fmt::format("file '{}' is not in the stored scenario", relative));
    return std::make_pair(relative, found->second);
  });
}

}  // namespace vpgen::config
