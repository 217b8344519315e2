// Every file in configs/ loads, and the strict reader refuses what it should.
#include "vpgen/config/population_loader.hpp"
#include "vpgen/config/scenario_loader.hpp"
#include "vpgen/config/toml_reader.hpp"
#include "vpgen/population/error.hpp"
#include "support/files.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <string>

namespace {

namespace fs = std::filesystem;
using namespace vpgen;
using vpgen::testing::line_of;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// `text` with occurrence `occurrence` of `from` replaced by `to`.
std::string replaced(std::string text, const std::string& from, const std::string& to,
                     int occurrence = 0) {
  std::size_t at = text.find(from);
  for (int i = 0; i < occurrence && at != std::string::npos; ++i) at = text.find(from, at + 1);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

// `text` with the whole line that sets `key` (the first one) replaced by `to`; robust to
// recalibrated values.
std::string replaced_key(std::string text, const std::string& key, const std::string& to) {
  std::size_t at = text.find("\n" + key + " = ");
  REQUIRE(at != std::string::npos);
  ++at;
  const std::size_t end = text.find('\n', at);
  return text.replace(at, end - at, to);
}

// The head of a regimen table, every key given.
std::string regimen_head(const std::string& name, const std::string& regimen_class,
                         int max_duration_months = 24) {
  return fmt::format(
      "[{}]\ndescription = \"d\"\nclass = \"{}\"\nmax_duration_months = {}\nonset_scale = 1.0\n"
      "source = \"s\"\n",
      name, regimen_class, max_duration_months);
}

// One [[<regimen>.phases]] table, every key given.
std::string phase_text(const std::string& regimen, const std::string& name, int cycles, double pd1,
                       double ctla4, double kill, double cell_dose, double irae, double ae) {
  return fmt::format(
      "[[{}.phases]]\nname = \"{}\"\nagents = \"a\"\ncycle_length_days = 21\ncycles = {}\n"
      "pd1_blockade = {:.2f}\nctla4_blockade = {:.2f}\nkill_per_month = {:.2f}\n"
      "cell_dose = {:.2f}\nirae_hazard_per_month = {:.2f}\nfrac_severe_irae = 0.3\n"
      "ae_hazard_per_month = {:.2f}\nfrac_severe_ae = 0.5\n",
      regimen, name, cycles, pd1, ctla4, kill, cell_dose, irae, ae);
}

// Induction (4 cycles, both blockades) then open-ended maintenance.
const std::string kImmunotherapy = regimen_head("r", "immunotherapy") +
                                   phase_text("r", "induction", 4, 1, 1, 0, 0, 0.45, 0) +
                                   phase_text("r", "maintenance", 0, 1, 0, 0, 0, 0.25, 0);
const std::string kChemotherapy =
    regimen_head("c", "chemotherapy", 0) + phase_text("c", "doublet", 6, 0, 0, 0.9, 0, 0, 0.66);
// Two one-week phases, no cap: the regimen ends when its phases end.
const std::string kCellTherapy = regimen_head("t", "cell_therapy", 0) +
                                 phase_text("t", "lymphodepletion", 1, 0, 0, 0, 0, 0, 15) +
                                 phase_text("t", "infusion", 1, 0, 0, 0, 1, 0, 10);

std::map<std::string, RegimenSpec> read_regimens_text(const std::string& text,
                                                      const std::string& file) {
  const toml::table doc = config::parse_file_text(text, file);
  config::TableReader root(doc, file, "");
  return config::read_regimens(root);
}

std::string regimen_error(const std::string& text, const std::string& file) {
  return error_of([&] { read_regimens_text(text, file); });
}

std::map<std::string, RegimenSpec> shipped_regimens() {
  const std::string path = VPGEN_SOURCE_DIR "/configs/model/regimens.toml";
  return read_regimens_text(config::read_text_file(path), path);
}

// A scenario bundle (the format of Scenario::source_text) of `scenario` named "s.toml" and the
// shipped model files, so that scenario variants load without touching the disk.
std::string bundle_of(const std::string& scenario) {
  std::string bundle;
  const auto add = [&bundle](const std::string& name, const std::string& text) {
    bundle += fmt::format("# ==> {} ({} bytes) <==\n", name, text.size()) + text + "\n";
  };
  add("s.toml", scenario);
  for (const char* name : {"population", "course", "regimens", "life_table"})
    add(fmt::format("model/{}.toml", name),
        config::read_text_file(fmt::format("{}/configs/model/{}.toml", VPGEN_SOURCE_DIR, name)));
  return bundle;
}

const std::string kScenario = R"([scenario]
name = "s"
description = "d"
seed = 1
patients = 10
horizon_months = 60
store_events = false

[parameters]
population = "model/population.toml"
course = "model/course.toml"
regimens = "model/regimens.toml"
life_table = "model/life_table.toml"

[assessment]
first_interval_weeks = 6
first_phase_months = 12
later_interval_weeks = 12
confirmation_weeks = 4
min_sd_weeks = 6

[cohort]
mix = { nsclc = 1.0 }

[[arms]]
name = "pembrolizumab"
regimen = "anti_pd1"

[[arms]]
name = "chemotherapy"
regimen = "chemotherapy_platinum_doublet"
beyond_progression_probability = 0.5
next_line = { regimen = "anti_pd1", probability = 0.66, delay_weeks = 4 }
)";

std::string scenario_error(const std::string& scenario) {
  return error_of([&] { config::load_scenario_bundle(bundle_of(scenario)); });
}

}  // namespace

TEST_CASE("every scenario in configs/ loads and names its arms' regimens") {
  int scenarios = 0;
  for (const auto& entry : fs::recursive_directory_iterator(VPGEN_SOURCE_DIR "/configs")) {
    const auto folder = entry.path().parent_path().filename();
    if (entry.path().extension() != ".toml" || folder == "model" || folder == "targets" ||
        folder == "designs" || folder == "nightly")
      continue;
    CAPTURE(entry.path().string());
    const Scenario s = config::load_scenario(entry.path().string());
    CHECK_FALSE(s.arms.empty());
    CHECK(s.source_text.find("# ==> ") == 0);
    ++scenarios;
  }
  CHECK(scenarios >= 1);
}

TEST_CASE("the model parameter files load on their own") {
  const std::string dir = VPGEN_SOURCE_DIR "/configs/model/";
  for (const char* name : {"course.toml", "regimens.toml", "population.toml"}) {
    CAPTURE(name);
    const std::string path = dir + name;
    const toml::table doc = config::parse_file_text(config::read_text_file(path), path);
    config::TableReader root(doc, path, "");
    if (std::string(name) == "course.toml") CHECK(config::read_course(root).max_kill_per_month > 0);
    if (std::string(name) == "regimens.toml") CHECK(config::read_regimens(root).count("anti_pd1"));
    if (std::string(name) == "population.toml")
      CHECK(config::read_population(root).hot_threshold > 0);
  }
}

TEST_CASE("the strict reader names file, line and key") {
  const toml::table doc = config::parse_file_text("[a]\nx = 1\ny = \"s\"\nz = 2.5\n", "f.toml");
  config::TableReader root(doc, "f.toml", "");
  config::TableReader a = root.table("a");
  CHECK(error_of([&] { a.string("x"); }) ==
        "f.toml:2: key 'a.x': expected a string, found an integer");
  CHECK(error_of([&] { a.number("z", 0.0, 1.0); }) ==
        "f.toml:4: key 'a.z': 2.5 is out of range [0, 1]");
  CHECK(error_of([&] { a.number("w"); }).find("key 'a.w': missing required key") !=
        std::string::npos);
  config::TableReader b = root.table("a");
  b.number("x");
  b.string("y");
  CHECK(error_of([&] { b.finish(); }) == "f.toml:4: key 'a.z': unknown key");
  CHECK(error_of([] { config::parse_file_text("x = = 1", "g.toml"); }).rfind("g.toml:1:", 0) == 0);
}

TEST_CASE("regimen phases are read in order with all their values") {
  const auto regimens = read_regimens_text(kImmunotherapy + kChemotherapy + kCellTherapy, "r.toml");
  const RegimenSpec& r = regimens.at("r");
  CHECK(r.regimen_class == RegimenClass::kImmunotherapy);
  CHECK(r.max_duration_months == 24);
  CHECK(r.onset_scale == 1.0);
  REQUIRE(r.phases.size() == 2);
  CHECK(r.phases[0].name == "induction");
  CHECK(r.phases[0].agents == "a");
  CHECK(r.phases[0].cycle_length_days == 21);
  CHECK(r.phases[0].cycles == 4);
  CHECK(r.phases[0].ctla4_blockade == 1.0);
  CHECK(r.phases[0].irae_hazard_per_month == 0.45);
  CHECK(r.phases[0].frac_severe_irae == 0.3);
  CHECK(r.phases[0].frac_severe_ae == 0.5);
  CHECK(r.phases[1].name == "maintenance");
  CHECK(r.phases[1].cycles == 0);
  CHECK(r.phases[1].ctla4_blockade == 0.0);
  CHECK(r.phases[1].irae_hazard_per_month == 0.25);
  CHECK(r.phases_end_day() == std::numeric_limits<double>::infinity());
  CHECK(r.blocks_pd1());

  const RegimenSpec& c = regimens.at("c");
  CHECK(c.regimen_class == RegimenClass::kChemotherapy);
  REQUIRE(c.phases.size() == 1);
  CHECK(c.phases[0].kill_per_month == 0.9);
  CHECK(c.phases[0].ae_hazard_per_month == 0.66);
  CHECK(c.phases_end_day() == 6 * 21);
  CHECK_FALSE(c.blocks_pd1());

  // All phases finite and no cap: accepted; the regimen ends with its phases.
  const RegimenSpec& t = regimens.at("t");
  CHECK(t.regimen_class == RegimenClass::kCellTherapy);
  CHECK(t.max_duration_months == 0);
  REQUIRE(t.phases.size() == 2);
  CHECK(t.phases[0].name == "lymphodepletion");
  CHECK(t.phases[1].cell_dose == 1.0);
  CHECK(t.phases_end_day() == 2 * 21);
}

TEST_CASE("the shipped regimens have the phases the trials gave") {
  const auto regimens = shipped_regimens();
  for (const auto& [name, regimen] : regimens) {
    CAPTURE(name);
    CHECK_FALSE(regimen.phases.empty());
  }
  const RegimenSpec& combo = regimens.at("anti_pd1_plus_anti_ctla4");
  REQUIRE(combo.phases.size() == 2);
  CHECK(combo.phases[0].name == "induction");
  CHECK(combo.phases[0].cycles == 4);
  CHECK(combo.phases[0].ctla4_blockade == 1.0);
  CHECK(combo.phases[1].name == "maintenance");
  CHECK(combo.phases[1].cycles == 0);
  CHECK(combo.phases[1].ctla4_blockade == 0.0);
  CHECK(combo.max_duration_months == 24);
  CHECK(regimens.at("anti_ctla4").phases_end_day() == 4 * 21);
  CHECK(regimens.at("chemotherapy_platinum_doublet").phases_end_day() == 6 * 21);

  const RegimenSpec& til = regimens.at("til");
  CHECK(til.regimen_class == RegimenClass::kCellTherapy);
  CHECK(til.onset_scale == 0.3);
  REQUIRE(til.phases.size() == 2);
  CHECK(til.phases[0].name == "lymphodepletion");
  CHECK(til.phases[0].cell_dose == 0.0);
  CHECK(til.phases[1].name == "infusion_il2");
  CHECK(til.phases[1].cell_dose > 0.0);
  CHECK(til.phases_end_day() == 14);
  CHECK_FALSE(til.blocks_pd1());
  CHECK(regimens.at("til_plus_anti_pd1").blocks_pd1());

  // Non-immune AEs are recurrent events, each graded on its own: over the exposure T the source
  // strings state, 1 - exp(-hazard T) reproduces the trial's any-grade treatment-related AE rate
  // and 1 - exp(-hazard frac_severe_ae T) its grade >= 3 rate (two-digit rounding: within 0.01).
  struct Published {
    const char* regimen;
    double exposure_months, any_grade, grade3_plus;
  };
  for (const Published& p :
       {Published{"chemotherapy_platinum_doublet", 6 * 21 / kDaysPerMonth, 0.900, 0.533},
        Published{"chemotherapy_docetaxel", 2.8, 0.86, 0.55},
        Published{"chemotherapy_dacarbazine", 2.2, 0.574, 0.176},
        Published{"sunitinib", 8.4, 0.97, 0.63}}) {
    CAPTURE(p.regimen);
    const RegimenPhase& phase = regimens.at(p.regimen).phases.at(0);
    const double exposure = phase.ae_hazard_per_month * p.exposure_months;
    CHECK(std::abs(1.0 - std::exp(-exposure) - p.any_grade) < 0.01);
    CHECK(std::abs(1.0 - std::exp(-exposure * phase.frac_severe_ae) - p.grade3_plus) < 0.01);
    CHECK(phase.irae_hazard_per_month == 0.0);
  }
}

TEST_CASE("only the last phase of a regimen may be open-ended, and a regimen needs a phase") {
  const std::string early_open = replaced(kImmunotherapy, "cycles = 4", "cycles = 0");
  CHECK(regimen_error(early_open, "r.toml") ==
        fmt::format("r.toml:{}: key 'r.phases[0].cycles': only the last phase may be open-ended "
                    "(cycles = 0)",
                    line_of(early_open, "cycles = 0")));
  const std::string head = regimen_head("r", "immunotherapy");
  CHECK(regimen_error(head, "r.toml").find("key 'r.phases': missing required key") !=
        std::string::npos);
  CHECK(regimen_error(head + "phases = []\n", "r.toml") ==
        fmt::format("r.toml:{}: key 'r.phases': a regimen needs at least one phase "
                    "([[<name>.phases]])",
                    line_of(head + "phases = []\n", "phases")));
  CHECK(regimen_error(head + "phases = [1]\n", "r.toml")
            .find("key 'r.phases[0]': expected a table ([[r.phases]])") != std::string::npos);
  const std::string twice = replaced(kImmunotherapy, "\"maintenance\"", "\"induction\"");
  CHECK(regimen_error(twice, "r.toml") ==
        fmt::format("r.toml:{}: key 'r.phases[1].name': duplicate phase 'induction'",
                    line_of(twice, "name = \"induction\"", 1)));
}

TEST_CASE("a phase may not do what its regimen's class cannot") {
  struct Case {
    std::string text;
    std::string key;     // located key
    std::string needle;  // the line it is on
    int occurrence;
    std::string why;
  };
  const std::string sensitivity =
      "sensitivity_by_type = { melanoma = 0, nsclc = 0, rcc = 1, urothelial = 0, head_neck = 0, "
      "crc_msi_high = 0, crc_mss = 0, tnbc = 0 }\ntargeted_resistant_fraction_median = 0.05\n";
  const std::string targeted = regimen_head("c", "targeted", 0) + sensitivity +
                               phase_text("c", "monotherapy", 0, 0, 0, 0.3, 0, 0, 0.4);
  const std::vector<Case> cases = {
      {replaced(kChemotherapy, "pd1_blockade = 0.00", "pd1_blockade = 0.50"),
       "c.phases[0].pd1_blockade", "pd1_blockade = 0.50", 0,
       "chemotherapy regimens cannot have PD-1 blockade"},
      {replaced(targeted, "ctla4_blockade = 0.00", "ctla4_blockade = 1.00"),
       "c.phases[0].ctla4_blockade", "ctla4_blockade = 1.00", 0,
       "targeted regimens cannot have CTLA-4 blockade"},
      {replaced(kChemotherapy, "cell_dose = 0.00", "cell_dose = 1.00"), "c.phases[0].cell_dose",
       "cell_dose = 1.00", 0, "chemotherapy regimens cannot have a cell dose"},
      {replaced(kChemotherapy, "irae_hazard_per_month = 0.00", "irae_hazard_per_month = 0.20"),
       "c.phases[0].irae_hazard_per_month", "irae_hazard_per_month = 0.20", 0,
       "chemotherapy regimens cannot have immune-related AEs (use ae_hazard_per_month)"},
      {replaced(kImmunotherapy, "kill_per_month = 0.00", "kill_per_month = 0.90", 1),
       "r.phases[1].kill_per_month", "kill_per_month = 0.90", 0,
       "immunotherapy regimens cannot have direct kill (kill_per_month)"},
      {replaced(kImmunotherapy, "cell_dose = 0.00", "cell_dose = 1.00"), "r.phases[0].cell_dose",
       "cell_dose = 1.00", 0, "immunotherapy regimens cannot have a cell dose"},
      {replaced(kCellTherapy, "kill_per_month = 0.00", "kill_per_month = 0.90"),
       "t.phases[0].kill_per_month", "kill_per_month = 0.90", 0,
       "cell_therapy regimens cannot have direct kill (lymphodepletion is modelled by its AEs, "
       "not by kill)"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.key);
    CHECK(regimen_error(c.text, "x.toml") == fmt::format("x.toml:{}: key '{}': {}",
                                                         line_of(c.text, c.needle, c.occurrence),
                                                         c.key, c.why));
  }
  // Cell therapy needs infused cells somewhere; PD-1 blockade alongside is allowed.
  const std::string no_cells = replaced(kCellTherapy, "cell_dose = 1.00", "cell_dose = 0.00");
  CHECK(regimen_error(no_cells, "x.toml") ==
        fmt::format("x.toml:{}: key 't.phases': a cell_therapy regimen needs cell_dose > 0 in at "
                    "least one phase",
                    line_of(no_cells, "[[t.phases]]")));
  CHECK(regimen_error(replaced(kCellTherapy, "pd1_blockade = 0.00", "pd1_blockade = 1.00", 1),
                      "x.toml")
            .empty());
  // Chemotherapy with its own (non-immune) AEs and immunotherapy with none are both fine.
  CHECK(regimen_error(kChemotherapy + kImmunotherapy, "x.toml").empty());
}

TEST_CASE("the life table loads verbatim and a bad value is named by file, line and key") {
  const std::string path = VPGEN_SOURCE_DIR "/configs/model/life_table.toml";
  const toml::table real = config::parse_file_text(config::read_text_file(path), path);
  config::TableReader real_root(real, path, "");
  const LifeTable table = config::read_life_table(real_root);
  REQUIRE(table.age_years.size() == 102);
  CHECK(table.age_years.front() == 18);
  CHECK(table.age_years.back() == 119);
  // SSA period life table 2017 (TR 2020), q(60): males 0.011519, females 0.006886.
  CHECK(table.q_male[60 - 18] == 0.011519);
  CHECK(table.q_female[60 - 18] == 0.006886);
  const Scenario scenario = config::load_scenario(VPGEN_SOURCE_DIR "/configs/default.toml");
  CHECK(scenario.course.life_table.q_male == table.q_male);
  CHECK(scenario.source_text.find("# ==> model/life_table.toml") != std::string::npos);

  const auto error_for = [](const std::string& text) {
    const toml::table doc = config::parse_file_text(text, "lt.toml");
    config::TableReader root(doc, "lt.toml", "");
    return error_of([&] { config::read_life_table(root); });
  };
  const std::string good =
      "source = \"s\"\nage_years = [60, 61, 62]\nq_male = [0.01, 0.02, 0.03]\n"
      "q_female = [0.005, 0.01, 0.02]\n";
  CHECK(error_for(good).empty());
  CHECK(error_for(
            "source = \"s\"\nage_years = [60, 61, 62]\nq_male = [\n  0.01,\n  1.5,\n  0.03,\n]\n"
            "q_female = [0.005, 0.01, 0.02]\n") ==
        "lt.toml:5: key 'q_male': 1.5 is out of range [0, 1]");
  CHECK(error_for("source = \"s\"\nage_years = [60, 61, 62]\nq_male = [0.01, 0.02, 1.0]\n"
                  "q_female = [0.005, 0.01, 0.02]\n") ==
        "lt.toml:3: key 'q_male': must be below 1: q = 1 has no finite hazard");
  CHECK(error_for("source = \"s\"\nage_years = [60, 62, 61]\nq_male = [0.01, 0.02, 0.03]\n"
                  "q_female = [0.005, 0.01, 0.02]\n") ==
        "lt.toml:2: key 'age_years': ages must increase: 61 follows 62");
  CHECK(error_for("source = \"s\"\nage_years = [60, 61, 62]\nq_male = [0.01, 0.02, 0.03]\n"
                  "q_female = [0.005, 0.01]\n") ==
        "lt.toml:4: key 'q_female': expected 3 numbers, found 2");
  CHECK(error_for(good + "q_other = [0.1, 0.1, 0.1]\n") == "lt.toml:5: key 'q_other': unknown key");
  CHECK(error_for("source = \"\"\n" + good.substr(good.find('\n') + 1)) ==
        "lt.toml:1: key 'source': must name the source or assumption");

  // A course file that still carries the old Gompertz section says where mortality went.
  const std::string course_path = VPGEN_SOURCE_DIR "/configs/model/course.toml";
  const std::string old_course = config::read_text_file(course_path) +
                                 "\n[mortality]\nother_death_gompertz_a_per_year = 6e-5\n";
  const toml::table course = config::parse_file_text(old_course, "course.toml");
  config::TableReader course_root(course, "course.toml", "");
  CHECK(error_of([&] { config::read_course(course_root); })
            .find("key 'mortality': background "
                  "mortality is the life table") != std::string::npos);
}

TEST_CASE("regimen and phase values are type- and range-checked") {
  struct Case {
    std::string from, to;
    int occurrence;
    std::string key, why;
  };
  const std::vector<Case> cases = {
      {"frac_severe_ae = 0.5", "frac_severe_ae = 1.5", 1, "r.phases[1].frac_severe_ae",
       "1.5 is out of range [0, 1]"},
      {"ae_hazard_per_month = 0.00", "ae_hazard_per_month = -1", 0,
       "r.phases[0].ae_hazard_per_month", "-1 is out of range [0, 100]"},
      {"irae_hazard_per_month = 0.45", "irae_hazard_per_month = -0.1", 0,
       "r.phases[0].irae_hazard_per_month", "-0.1 is out of range [0, 100]"},
      {"pd1_blockade = 1.00", "pd1_blockade = 1.2", 0, "r.phases[0].pd1_blockade",
       "1.2 is out of range [0, 1]"},
      {"cycle_length_days = 21", "cycle_length_days = 0", 1, "r.phases[1].cycle_length_days",
       "0 is out of range [1, 365]"},
      {"cycles = 4", "cycles = 2.5", 0, "r.phases[0].cycles",
       "expected an integer, found a number"},
      {"cycles = 4", "cycles = -1", 0, "r.phases[0].cycles", "-1 is out of range [0, 10000]"},
      {"onset_scale = 1.0", "onset_scale = 0", 0, "r.onset_scale", "must be > 0, found 0"},
      {"max_duration_months = 24", "max_duration_months = -1", 0, "r.max_duration_months",
       "-1 is out of range [0, 1200]"},
      {"class = \"immunotherapy\"", "class = \"radiation\"", 0, "r.class",
       "'radiation' is not one of: immunotherapy, chemotherapy, targeted, cell_therapy"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.key);
    const std::string text = replaced(kImmunotherapy, c.from, c.to, c.occurrence);
    CHECK(regimen_error(text, "r.toml") ==
          fmt::format("r.toml:{}: key '{}': {}", line_of(text, c.to), c.key, c.why));
  }
  const std::string no_source = replaced(kImmunotherapy, "source = \"s\"\n", "");
  CHECK(regimen_error(no_source, "r.toml").find("key 'r.source': missing required key") !=
        std::string::npos);
}

TEST_CASE("a misspelt, unknown or retired regimen key is refused") {
  const std::string misspelt =
      replaced(kImmunotherapy, "cycle_length_days = 21", "cycle_lenght_days = 21");
  CHECK(regimen_error(misspelt, "r.toml") ==
        fmt::format("r.toml:{}: key 'r.phases[0].cycle_lenght_days': unknown key (did you mean "
                    "'cycle_length_days'?)",
                    line_of(misspelt, "cycle_lenght_days")));
  const std::string extra = kImmunotherapy + "dose_mg = 240\n";
  CHECK(
      regimen_error(extra, "r.toml") ==
      fmt::format("r.toml:{}: key 'r.phases[1].dose_mg': unknown key", line_of(extra, "dose_mg")));
  // The regimen-level keys of the single-phase format are refused, not silently ignored.
  const std::string retired =
      replaced(kImmunotherapy, "source = \"s\"\n", "source = \"s\"\nmax_cycles = 4\n");
  CHECK(regimen_error(retired, "r.toml") ==
        fmt::format("r.toml:{}: key 'r.max_cycles': unknown key", line_of(retired, "max_cycles")));
}

TEST_CASE("a targeted regimen needs its per-type sensitivity, and other classes refuse it") {
  const std::string table =
      "sensitivity_by_type = { melanoma = 0, nsclc = 0, rcc = 1, urothelial = 0, head_neck = 0, "
      "crc_msi_high = 0, crc_mss = 0, tnbc = 0 }\n";
  const std::string phase = phase_text("t", "monotherapy", 0, 0, 0, 0.3, 0, 0, 0.4);
  {
    const auto regimens =
        read_regimens_text(regimen_head("t", "targeted", 0) + table +
                               "targeted_resistant_fraction_median = 0.05\n" + phase,
                           "t.toml");
    CHECK(regimens.at("t").regimen_class == RegimenClass::kTargeted);
    CHECK(regimens.at("t").targeted_sensitivity[static_cast<std::size_t>(CancerType::kRcc)] == 1.0);
    CHECK(regimens.at("t").targeted_resistant_fraction_median == 0.05);
    CHECK(regimens.at("t").phases.at(0).kill_per_month == 0.3);
  }
  CHECK(regimen_error(regimen_head("t", "targeted", 0) + phase, "t.toml")
            .find("key 't.sensitivity_by_type'") != std::string::npos);
  const std::string chemo = regimen_head("c", "chemotherapy", 0) + table +
                            phase_text("c", "monotherapy", 0, 0, 0, 0.3, 0, 0, 0.4);
  CHECK(regimen_error(chemo, "c.toml") ==
        fmt::format("c.toml:{}: key 'c.sensitivity_by_type': unknown key",
                    line_of(chemo, "sensitivity_by_type")));
}

TEST_CASE("an arm reads beyond_progression_probability and next_line, both optional") {
  const Scenario s = config::load_scenario_bundle(bundle_of(kScenario));
  REQUIRE(s.arms.size() == 2);
  CHECK(s.arms[0].beyond_progression_probability == 0.0);
  CHECK_FALSE(s.arms[0].next_line.enabled);
  CHECK(s.arms[1].beyond_progression_probability == 0.5);
  const NextLineSpec& next = s.arms[1].next_line;
  CHECK(next.enabled);
  CHECK(next.regimen.name == "anti_pd1");
  CHECK(next.regimen.phases.size() == s.arms[0].regimen.phases.size());
  CHECK(next.probability == 0.66);
  CHECK(next.delay_weeks == 4);
  // delay_weeks = 0 (immediate next line) is allowed.
  CHECK(scenario_error(replaced(kScenario, "delay_weeks = 4", "delay_weeks = 0")).empty());
}

TEST_CASE("a bad next_line or beyond-progression probability names file, line and key") {
  const int arm_line = line_of(kScenario, "next_line");
  struct Case {
    std::string from, to, message;
  };
  const std::vector<Case> cases = {
      {"regimen = \"anti_pd1\", probability", "regimen = \"anti_pd2\", probability",
       "key 'arms[1].next_line.regimen': unknown regimen 'anti_pd2' (known: anti_ctla4, "
       "anti_pd1, "},
      {"probability = 0.66", "probability = 1.5",
       "key 'arms[1].next_line.probability': 1.5 is out of range [0, 1]"},
      {"delay_weeks = 4", "delay_weeks = -1",
       "key 'arms[1].next_line.delay_weeks': -1 is out of range [0, 520]"},
      {"delay_weeks = 4", "delay_week = 4",
       "key 'arms[1].next_line.delay_week': unknown key (did you mean 'delay_weeks'?)"},
      {"delay_weeks = 4", "delay_weeks = 4, line = 2", "key 'arms[1].next_line.line': unknown key"},
      {"probability = 0.66, ", "", "key 'arms[1].next_line.probability': missing required key"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.to);
    const std::string error = scenario_error(replaced(kScenario, c.from, c.to));
    CHECK(error.rfind(fmt::format("s.toml:{}: {}", arm_line, c.message), 0) == 0);
  }
  const std::string beyond = replaced(kScenario, "beyond_progression_probability = 0.5",
                                      "beyond_progression_probability = 2");
  CHECK(scenario_error(beyond) ==
        fmt::format("s.toml:{}: key 'arms[1].beyond_progression_probability': 2 is out of range "
                    "[0, 1]",
                    line_of(beyond, "beyond_progression")));
  // A misspelt optional key cannot fall back to the default.
  const std::string misspelt =
      replaced(kScenario, "beyond_progression_probability", "beyond_progression_probabilty");
  CHECK(scenario_error(misspelt) ==
        fmt::format("s.toml:{}: key 'arms[1].beyond_progression_probabilty': unknown key",
                    line_of(misspelt, "beyond_progression")));
}

TEST_CASE("course parameter defaults equal the shipped course.toml") {
  const std::string path = VPGEN_SOURCE_DIR "/configs/model/course.toml";
  const toml::table doc = config::parse_file_text(config::read_text_file(path), path);
  config::TableReader root(doc, path, "");
  const CourseParams shipped = config::read_course(root);
  const CourseParams defaults;
  // Every scalar of CourseParams (the per-type defaults are generic and the life table is a file
  // of its own).
#define VPGEN_SAME(field) CHECK_MESSAGE(shipped.field == defaults.field, #field)
  VPGEN_SAME(tmb_scale_mut_per_mb);
  VPGEN_SAME(ctla4_priming_gain);
  VPGEN_SAME(pdl1_brake_max);
  VPGEN_SAME(pdl1_half_percent);
  VPGEN_SAME(exhaustion_brake);
  VPGEN_SAME(max_kill_per_month);
  VPGEN_SAME(effector_sigma_log);
  VPGEN_SAME(onset_mean_months);
  VPGEN_SAME(onset_shape);
  VPGEN_SAME(escape_per_cell_month);
  VPGEN_SAME(escape_clone_cells);
  VPGEN_SAME(chemo_resistant_sigma_log);
  VPGEN_SAME(memory_tau_max_months);
  VPGEN_SAME(prior_anti_pd1_factor);
  VPGEN_SAME(prior_anti_pd1_cell_factor);
  VPGEN_SAME(antigen_half_cells);
  VPGEN_SAME(memory_surveillance_per_month);
  VPGEN_SAME(memory_surveillance_exponent);
  VPGEN_SAME(later_line_effector_factor);
  VPGEN_SAME(later_line_death_hr);
  VPGEN_SAME(cell_persistence_months);
  VPGEN_SAME(pseudo_progression_swelling);
  VPGEN_SAME(pseudo_progression_peak_months);
  VPGEN_SAME(cells_per_cm3);
  VPGEN_SAME(burden_death_exponent);
  VPGEN_SAME(ecog_death_hr);
  VPGEN_SAME(ldh_death_hr);
  VPGEN_SAME(sites_death_hr);
  VPGEN_SAME(post_progression_growth_factor);
  VPGEN_SAME(new_lesion_rate_per_month);
  VPGEN_SAME(residual_alpha);
  VPGEN_SAME(residual_beta);
  VPGEN_SAME(residual_resolution_months);
  VPGEN_SAME(irae_activation_coupling);
  VPGEN_SAME(irae_early_months);
  VPGEN_SAME(irae_late_fraction);
  VPGEN_SAME(irae_post_treatment_decay_months);
  VPGEN_SAME(frac_grade2_of_mild);
  VPGEN_SAME(severe_grade_probs);
  VPGEN_SAME(steroid_kill_factor);
  VPGEN_SAME(irae_grade3_discontinue_probability);
  VPGEN_SAME(irae_resolution_months);
  VPGEN_SAME(ae_frac_grade2_of_mild);
  VPGEN_SAME(ae_severe_grade_probs);
  VPGEN_SAME(ae_discontinue_probability);
  VPGEN_SAME(ae_resolution_months);
  VPGEN_SAME(measurement_sigma_log);
  VPGEN_SAME(cr_diameter_fraction);
#undef VPGEN_SAME
}

TEST_CASE("the new course keys are required and range-checked") {
  const std::string path = VPGEN_SOURCE_DIR "/configs/model/course.toml";
  const std::string course = config::read_text_file(path);
  const auto error_for = [](const std::string& text) {
    const toml::table doc = config::parse_file_text(text, "course.toml");
    config::TableReader root(doc, "course.toml", "");
    return error_of([&] { config::read_course(root); });
  };
  CHECK(error_for(course).empty());
  struct Case {
    std::string from, to, message;
  };
  const std::vector<Case> cases = {
      {"ae_severe_grade_probs", "ae_severe_grade_probs = [0.75, 0.23, 0.03]",
       "key 'toxicity.ae_severe_grade_probs': probabilities sum to 1.01, not 1"},
      {"irae_grade3_discontinue_probability", "irae_grade3_discontinue_probability = 1.5",
       "key 'toxicity.irae_grade3_discontinue_probability': 1.5 is out of range [0, 1]"},
      {"ae_resolution_months", "ae_resolution_months = 0",
       "key 'toxicity.ae_resolution_months': must be > 0, found 0"},
      {"antigen_half_cells", "antigen_half_cells = 0",
       "key 'immune.antigen_half_cells': 0 is out of range [1, 1000000000000]"},
      {"prior_anti_pd1_cell_factor", "prior_anti_pd1_cell_factor = 1.6",
       "key 'immune.prior_anti_pd1_cell_factor': 1.6 is out of range [0, 1]"},
      {"pseudo_progression_peak_months", "pseudo_progression_peak_month = 1.0",
       "key 'immune.pseudo_progression_peak_month': unknown key (did you mean "
       "'pseudo_progression_peak_months'?)"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.to);
    const std::string text = replaced_key(course, c.from, c.to);
    CHECK(error_for(text) == fmt::format("course.toml:{}: {}", line_of(text, c.to), c.message));
  }
  CHECK(error_for(replaced_key(course, "memory_surveillance_per_month", ""))
            .find("key 'immune.memory_surveillance_per_month': missing required key") !=
        std::string::npos);
}

TEST_CASE("the KEYNOTE-024 and TIL scenarios load with their cohorts, arms and crossover") {
  const Scenario keynote = config::load_scenario(VPGEN_SOURCE_DIR "/configs/keynote024.toml");
  REQUIRE(keynote.cohort.mix.size() == 1);
  CHECK(keynote.cohort.mix[0].first == CancerType::kNsclc);
  CHECK(keynote.cohort.eligibility.min_pdl1_tps_percent == 50.0);
  CHECK(keynote.cohort.eligibility.max_ecog == 1);
  CHECK(keynote.cohort.eligibility.lines_of_therapy == std::vector<int>{1});
  CHECK(keynote.assessment.first_interval_weeks == 9);
  CHECK(keynote.assessment.first_visit_weeks == 9);  // absent: the first interval
  CHECK(keynote.assessment.later_interval_weeks == 9);
  const Scenario checkmate =
      config::load_scenario(VPGEN_SOURCE_DIR "/configs/trials/checkmate067.toml");
  CHECK(checkmate.assessment.first_visit_weeks == 12);
  CHECK(checkmate.assessment.first_interval_weeks == 6);
  REQUIRE(keynote.arms.size() == 2);
  CHECK(keynote.arms[0].name == "pembrolizumab");
  CHECK(keynote.arms[0].regimen.name == "anti_pd1");
  CHECK_FALSE(keynote.arms[0].next_line.enabled);
  CHECK(keynote.arms[1].name == "chemotherapy");
  CHECK(keynote.arms[1].regimen.name == "chemotherapy_platinum_doublet");
  CHECK(keynote.arms[1].next_line.enabled);
  CHECK(keynote.arms[1].next_line.regimen.name == "anti_pd1");
  CHECK(keynote.arms[1].next_line.probability == 0.66);
  CHECK(keynote.arms[1].next_line.delay_weeks == 4);

  const Scenario til = config::load_scenario(VPGEN_SOURCE_DIR "/configs/til_melanoma.toml");
  REQUIRE(til.cohort.mix.size() == 1);
  CHECK(til.cohort.mix[0].first == CancerType::kMelanoma);
  CHECK(til.cohort.eligibility.lines_of_therapy == std::vector<int>{2, 3});
  CHECK(til.cohort.eligibility.prior_anti_pd1 == true);
  CHECK(til.cohort.eligibility.max_ecog == 1);
  REQUIRE(til.arms.size() == 2);
  CHECK(til.arms[0].name == "til");
  CHECK(til.arms[0].regimen.regimen_class == RegimenClass::kCellTherapy);
  CHECK(til.arms[1].name == "ipilimumab");
  CHECK(til.arms[1].regimen.name == "anti_ctla4");
}

// Issue 17 item 10: every input goes through read_text_file, which reads regular files of at most
// 16 MiB (the documented cap) and refuses the rest with one line naming the file, before reading
// more than the cap: /dev/zero would otherwise be read until memory runs out.
TEST_CASE("read_text_file reads regular files up to the cap and refuses anything else") {
  constexpr std::size_t kCap = 16u * 1024u * 1024u;
  const fs::path dir = vpgen::testing::test_dir("config_test") / "read_cap";
  fs::create_directories(dir);
  const fs::path at_cap = dir / "at_cap.toml";
  vpgen::testing::write_text(at_cap, std::string(kCap, 'x'));
  CHECK(config::read_text_file(at_cap.string()).size() == kCap);
  const fs::path over = dir / "over.toml";
  vpgen::testing::write_text(over, std::string(kCap + 1, 'x'));
  const std::string over_error = error_of([&] { config::read_text_file(over.string()); });
  CHECK(over_error.rfind(over.string() + ": ", 0) == 0);
  CHECK(over_error.find("16 MiB") != std::string::npos);
  const fs::path fifo = dir / "fifo";
  fs::remove(fifo);
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  for (const std::string& path : {std::string("/dev/zero"), fifo.string(), dir.string()}) {
    CAPTURE(path);
    const std::string error = error_of([&] { config::read_text_file(path); });
    CHECK(error.rfind(path + ": ", 0) == 0);
    CHECK(error.find("not a regular file") != std::string::npos);
    CHECK(error.find('\n') == std::string::npos);
  }
  CHECK(error_of([&] {
          config::read_text_file((dir / "absent.toml").string());
        }).rfind((dir / "absent.toml").string() + ": ", 0) == 0);
  // The population loader reads through it too.
  CHECK(error_of([] { config::load_population("/dev/zero"); }).rfind("/dev/zero: ", 0) == 0);
  fs::remove_all(dir);  // 32 MiB
}
