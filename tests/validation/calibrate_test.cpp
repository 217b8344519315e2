// `vpgen calibrate`'s pieces that need no optimisation run: editing a parameter in a model file's
// text without losing its comments, reading and refusing calibration files, and the residuals
// the objective is made of.
#include "vpgen/validation/calibrate.hpp"
#include "vpgen/config/scenario_loader.hpp"
#include "vpgen/population/error.hpp"
#include "support/files.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace c = vpgen::calibration;
namespace fs = std::filesystem;

const std::string kModel =
    "# a comment that must survive\n"
    "[immune]\n"
    "max_kill_per_month = 2.5   # kill rate\n"
    "other = 1\n"
    "[types.melanoma]\n"
    "max_kill_per_month = 7\n";

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const vpgen::InputError& e) {
    return e.what();
  }
  return "";
}

fs::path temp_dir() { return vpgen::testing::test_dir("calibrate_test"); }

void write(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

}  // namespace

TEST_CASE("a parameter is read and replaced in its own table only, keeping comments") {
  CHECK(c::read_value(kModel, "m.toml", "immune", "max_kill_per_month") == 2.5);
  CHECK(c::read_value(kModel, "m.toml", "types.melanoma", "max_kill_per_month") == 7.0);
  const std::string edited =
      c::replace_value(kModel, "m.toml", "immune", "max_kill_per_month", 3.25);
  CHECK(edited.find("# a comment that must survive") != std::string::npos);
  CHECK(edited.find("max_kill_per_month = 3.25   # kill rate") != std::string::npos);
  CHECK(c::read_value(edited, "m.toml", "types.melanoma", "max_kill_per_month") == 7.0);
  // An integral value stays a TOML float.
  const std::string whole = c::replace_value(kModel, "m.toml", "immune", "max_kill_per_month", 3.0);
  CHECK(whole.find("max_kill_per_month = 3.0   # kill rate") != std::string::npos);
  CHECK(error_of([] { c::read_value(kModel, "m.toml", "immune", "missing"); }) ==
        "m.toml: key 'immune.missing': not found");
}

TEST_CASE("one table of an array of tables is addressed by its index") {
  const std::string regimens =
      "[a]\nx = 1.0\n[[a.phases]]\nx = 2.0\n[[b.phases]]\nx = 5.0\n[[a.phases]]\nx = 3.0\n"
      "[a.phases_note]\nx = 9.0\n";
  CHECK(c::read_value(regimens, "r.toml", "a", "x") == 1.0);
  CHECK(c::read_value(regimens, "r.toml", "a.phases[0]", "x") == 2.0);
  CHECK(c::read_value(regimens, "r.toml", "a.phases[1]", "x") == 3.0);
  CHECK(c::read_value(regimens, "r.toml", "b.phases[0]", "x") == 5.0);
  const std::string edited = c::replace_value(regimens, "r.toml", "a.phases[1]", "x", 4.5);
  CHECK(c::read_value(edited, "r.toml", "a.phases[1]", "x") == 4.5);
  CHECK(c::read_value(edited, "r.toml", "a.phases[0]", "x") == 2.0);
  CHECK(c::read_value(edited, "r.toml", "a.phases_note", "x") == 9.0);
  CHECK(error_of([&] { c::read_value(regimens, "r.toml", "a.phases[2]", "x"); }) ==
        "r.toml: key 'a.phases[2].x': not found");
  // [[a.phases]] is not the table [a.phases].
  CHECK(error_of([&] { c::read_value(regimens, "r.toml", "a.phases", "x"); }) ==
        "r.toml: key 'a.phases.x': not found");
}

TEST_CASE("tied copies must start equal and move together") {
  const fs::path dir = temp_dir() / "tied";
  fs::create_directories(dir);
  write(dir / "reg.toml",
        "[[a.phases]]\nh = 0.25\n[[b.phases]]\nh = 0.25\n[[c.phases]]\nh = 0.3\n");
  write(dir / "mapping.toml", "");
  const std::string head =
      "[calibration]\ntargets = \"mapping.toml\"\nrole = \"fit\"\npatients = 100\nseed = 1\n"
      "algorithm = \"LN_SBPLX\"\nmax_evaluations = 10\nxtol_rel = 0.001\noutput_dir = \".\"\n"
      "[[parameters]]\nfile = \"reg.toml\"\ntable = \"a.phases[0]\"\nkey = \"h\"\nmin = 0.1\n"
      "max = 1.0\nscale = \"log\"\n";
  write(dir / "good.toml", head + "also = [\"b.phases[0]\"]\n");
  const c::Spec spec = c::read_spec((dir / "good.toml").string());
  REQUIRE(spec.parameters.size() == 1);
  CHECK(spec.parameters[0].tied_tables == std::vector<std::string>{"b.phases[0]"});
  write(dir / "bad.toml", head + "also = [\"c.phases[0]\"]\n");
  CHECK(error_of([&] { c::read_spec((dir / "bad.toml").string()); }) ==
        (dir / "bad.toml").string() +
            ":17: key 'parameters[0].also': 'c.phases[0].h' is 0.3, not 0.25 like 'a.phases[0].h': "
            "tied copies must start equal");
}

TEST_CASE("every key the shipped calibration fits is in the model file, inside its bounds") {
  const c::Spec spec = c::read_spec(VPGEN_SOURCE_DIR "/configs/targets/calibration.toml");
  CHECK(spec.role == "fit");
  CHECK(spec.parameters.size() >= 5);
  for (const c::Parameter& p : spec.parameters) {
    CAPTURE(p.key);
    CHECK(p.start >= p.min);
    CHECK(p.start <= p.max);
  }
}

TEST_CASE("a calibration file with a bad parameter is refused with file, line and key") {
  const fs::path dir = temp_dir();
  write(dir / "model.toml", kModel);
  write(dir / "mapping.toml", "");
  const std::string head =
      "[calibration]\ntargets = \"mapping.toml\"\nrole = \"fit\"\npatients = 1000\nseed = 1\n"
      "algorithm = \"LN_SBPLX\"\nmax_evaluations = 10\nxtol_rel = 1e-3\noutput_dir = \".\"\n";
  const auto error_for = [&](const std::string& parameter) {
    write(dir / "cal.toml", head + "[[parameters]]\nfile = \"model.toml\"\n" + parameter);
    return error_of([&] { c::read_spec((dir / "cal.toml").string()); });
  };
  const std::string path = (dir / "cal.toml").string();
  CHECK(error_for(
            "table = \"immune\"\nkey = \"max_kill_per_month\"\nmin = 1\nmax = 8\nscale = \"log\"\n")
            .empty());
  CHECK(
      error_for(
          "table = \"immune\"\nkey = \"max_kill_per_month\"\nmin = 3\nmax = 8\nscale = \"log\"\n") ==
      path +
          ":14: key 'parameters[0].min': the current value 2.5 of 'immune.max_kill_per_month' "
          "lies outside [3, 8]");
  CHECK(
      error_for(
          "table = \"immune\"\nkey = \"max_kill_per_month\"\nmin = 1\nmax = 8\nscale = \"cubic\"\n") ==
      path + ":16: key 'parameters[0].scale': must be \"log\" or \"linear\"");
  CHECK(
      error_for(
          "table = \"immune\"\nkey = \"max_kill_per_month\"\nmin = 0\nmax = 8\nscale = \"log\"\n") ==
      path + ":14: key 'parameters[0].min': a log-scale parameter needs min > 0");
  CHECK(error_for("table = \"immune\"\nkey = \"absent\"\nmin = 1\nmax = 8\nscale = \"log\"\n") ==
        "model.toml: key 'immune.absent': not found");
  // Two parameter files with one name would overwrite each other in output_dir.
  fs::create_directories(dir / "other");
  write(dir / "other" / "model.toml", kModel);
  CHECK(error_for(
            "table = \"immune\"\nkey = \"max_kill_per_month\"\nmin = 1\nmax = 8\nscale = \"log\"\n"
            "[[parameters]]\nfile = \"other/model.toml\"\ntable = \"immune\"\nkey = \"other\"\n"
            "min = 0\nmax = 2\nscale = \"linear\"\n") ==
        path +
            ":18: key 'parameters[1].file': 'model.toml' and 'other/model.toml' have the same "
            "name; output_dir holds one of them");
}

TEST_CASE("the loss is quadratic near zero and linear beyond two tolerances") {
  CHECK(c::loss(0.0) == 0.0);
  CHECK(c::loss(1.0) == 1.0);
  CHECK(c::loss(-2.0) == 4.0);
  CHECK(c::loss(3.0) == doctest::Approx(8.0));  // 4 |r| - 4: continuous at 2 with slope 4
  CHECK(c::loss(-5.0) == doctest::Approx(16.0));
}

TEST_CASE("load_scenario_with reads a replaced model file from memory") {
  const std::string scenario = VPGEN_SOURCE_DIR "/configs/default.toml";
  const std::string course = VPGEN_SOURCE_DIR "/configs/model/course.toml";
  const std::string text = vpgen::config::read_text_file(course);
  const double current = c::read_value(text, "course.toml", "immune", "max_kill_per_month");
  const std::string edited =
      c::replace_value(text, "course.toml", "immune", "max_kill_per_month", current * 2.0);
  const vpgen::Scenario base = vpgen::config::load_scenario(scenario);
  const vpgen::Scenario changed = vpgen::config::load_scenario_with(
      scenario, {{vpgen::config::canonical_path(course), edited}});
  CHECK(base.course.max_kill_per_month == current);
  CHECK(changed.course.max_kill_per_month == current * 2.0);
  CHECK(changed.source_text.find(edited) != std::string::npos);
}

// Issue 17 item 1: a symlink planted at the fitted file's name or at its temporary's name (the
// output folder may be shared) is replaced or ignored, never written through.
TEST_CASE("write_fitted never writes through a symlink at the fitted file or its temporary") {
  const fs::path dir = temp_dir() / "fitted_links";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path victim = dir / "victim.txt";
  write(victim, "victim: must never change\n");
  fs::permissions(victim, fs::perms::owner_read | fs::perms::owner_write);
  for (const char* name : {"course.toml", "course.toml.tmp", "course.toml.partial"})
    fs::create_symlink(victim, dir / name);
  c::Spec spec;
  spec.output_dir = dir.string();
  c::FitResult result;
  result.fitted_texts["/somewhere/model/course.toml"] = "[a]\nb = 1\n";
  const std::vector<std::string> written = c::write_fitted(spec, result, "vpgen calibrate x");
  REQUIRE(written.size() == 1);
  CHECK(written[0] == (dir / "course.toml").string());
  CHECK(vpgen::testing::slurp(victim) == "victim: must never change\n");
  CHECK_FALSE(fs::is_symlink(dir / "course.toml"));
  const std::string fitted = vpgen::testing::slurp(dir / "course.toml");
  CHECK(fitted.rfind("# Fitted by `vpgen calibrate x`", 0) == 0);
  CHECK(fitted.ends_with("[a]\nb = 1\n"));
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++entries;
  CHECK(entries == 4);  // victim, the fitted file and the two planted links: no temporary left
}
