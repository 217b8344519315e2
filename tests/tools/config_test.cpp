// Every file in configs/ loads, and the strict reader refuses what it should.
#include "population_loader.hpp"
#include "scenario_loader.hpp"
#include "toml_reader.hpp"
#include "vpgen/population/error.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <functional>

namespace {

namespace fs = std::filesystem;
using namespace vpgen;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("every scenario in configs/ loads and names its arms' regimens") {
  int scenarios = 0;
  for (const auto& entry : fs::recursive_directory_iterator(VPGEN_SOURCE_DIR "/configs")) {
    if (entry.path().extension() != ".toml" || entry.path().parent_path().filename() == "model")
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
  CHECK(error_of([&] { a.string("x"); }) == "f.toml:2: key 'a.x': expected a string, found an integer");
  CHECK(error_of([&] { a.number("z", 0.0, 1.0); }) ==
        "f.toml:4: key 'a.z': 2.5 is out of range [0, 1]");
  CHECK(error_of([&] { a.number("w"); }).find("key 'a.w': missing required key") !=
        std::string::npos);
  config::TableReader b = root.table("a");
  b.number("x");
  b.string("y");
  CHECK(error_of([&] { b.finish(); }) == "f.toml:4: key 'a.z': unknown key");
  CHECK(error_of([] { config::parse_file_text("x = = 1", "g.toml"); }).rfind("g.toml:1:", 0) ==
        0);
}

TEST_CASE("a regimen with an unknown class or a missing source is refused") {
  const std::string text =
      "[r]\ndescription = \"d\"\nclass = \"radiation\"\npd1_blockade = 0\nctla4_blockade = 0\n"
      "cycle_length_days = 21\nmax_duration_months = 0\nmax_cycles = 4\nchemo_kill_per_month = 0\n"
      "irae_hazard_per_month = 0\nfrac_severe_irae = 0\nsource = \"s\"\n";
  const toml::table doc = config::parse_file_text(text, "r.toml");
  config::TableReader root(doc, "r.toml", "");
  CHECK(error_of([&] { config::read_regimens(root); }).rfind("r.toml:3: key 'r.class'", 0) == 0);
  std::string no_source = text.substr(0, text.find("source"));
  no_source.replace(no_source.find("radiation"), 9, "chemotherapy");
  const toml::table doc2 = config::parse_file_text(no_source, "r.toml");
  config::TableReader root2(doc2, "r.toml", "");
  CHECK(error_of([&] { config::read_regimens(root2); }).find("key 'r.source': missing") !=
        std::string::npos);
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
  CHECK(error_for("source = \"s\"\nage_years = [60, 61, 62]\nq_male = [\n  0.01,\n  1.5,\n  0.03,\n]\n"
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
  CHECK(error_of([&] { config::read_course(course_root); }).find("key 'mortality': background "
                                                                 "mortality is the life table") !=
        std::string::npos);
}

TEST_CASE("a targeted regimen needs its per-type sensitivity; other classes refuse it") {
  const std::string common =
      "pd1_blockade = 0\nctla4_blockade = 0\ncycle_length_days = 42\nmax_duration_months = 0\n"
      "max_cycles = 0\nchemo_kill_per_month = 0.3\nirae_hazard_per_month = 0\n"
      "frac_severe_irae = 0\nsource = \"s\"\n";
  const std::string table =
      "sensitivity_by_type = { melanoma = 0, nsclc = 0, rcc = 1, urothelial = 0, head_neck = 0, "
      "crc_msi_high = 0, crc_mss = 0, tnbc = 0 }\n";
  {
    const toml::table doc = config::parse_file_text(
        "[t]\ndescription = \"d\"\nclass = \"targeted\"\n" + common + table +
            "targeted_resistant_fraction_median = 0.05\n",
        "t.toml");
    config::TableReader root(doc, "t.toml", "");
    const auto regimens = config::read_regimens(root);
    CHECK(regimens.at("t").regimen_class == RegimenClass::kTargeted);
    CHECK(regimens.at("t").targeted_sensitivity[static_cast<std::size_t>(CancerType::kRcc)] == 1.0);
    CHECK(regimens.at("t").targeted_resistant_fraction_median == 0.05);
  }
  {
    const toml::table doc = config::parse_file_text(
        "[t]\ndescription = \"d\"\nclass = \"targeted\"\n" + common, "t.toml");
    config::TableReader root(doc, "t.toml", "");
    CHECK(error_of([&] { config::read_regimens(root); }).find("key 't.sensitivity_by_type'") !=
          std::string::npos);
  }
  {
    const toml::table doc = config::parse_file_text(
        "[c]\ndescription = \"d\"\nclass = \"chemotherapy\"\n" + common + table, "c.toml");
    config::TableReader root(doc, "c.toml", "");
    CHECK(error_of([&] { config::read_regimens(root); }) ==
          "c.toml:13: key 'c.sensitivity_by_type': unknown key");
  }
}
