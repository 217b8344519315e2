// `vpgen batch`: two nights with the same inputs agree bit for bit, a failing job stops nothing
// else, a changed seed lists only differences beyond Monte Carlo error, a changed figure with the
// same inputs exits 3, summary.json and batch.log have the documented shape, and a bad nightly
// file writes nothing. Sizes are tiny (a few hundred patients and replicates) to keep the suite
// to seconds.
#include "cli_runner.hpp"
#include "batch.hpp"

#include "vpgen/population/error.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;
namespace b = vpgen::batch;
using nlohmann::json;

const std::string kSource = VPGEN_SOURCE_DIR;

// All folders of this process, removed when the tests end.
const fs::path& test_root() {
  struct Root {
    fs::path path = fs::temp_directory_path() / fmt::format("vpgen_batch_test_{}", ::getpid());
    ~Root() {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  };
  static const Root root;
  return root.path;
}

// A fresh folder per test case.
fs::path fresh_dir(const std::string& name) {
  const fs::path dir = test_root() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

using vpgen::testing::slurp;

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

json read_json(const fs::path& p) { return json::parse(slurp(p)); }

int line_of(const std::string& text, const std::string& needle) {
  const auto at = text.find(needle);
  REQUIRE_MESSAGE(at != std::string::npos, "test setup: '" << needle << "' not in the text");
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
}

// A parametric log-rank design small enough to run in a fraction of a second.
std::string tiny_design() {
  return R"([design]
name = "tiny log-rank"
seed = 5
mode = "parametric"
[endpoint]
kind = "os"
[analysis]
test = "logrank"
alpha = 0.025
sides = 1
target_power = 0.8
allocation_ratio = 1
[conduct]
accrual_months = 12
entry = "even"
followup_months = 12
dropout_probability_per_year = 0.0
[sample_size]
grid = [100, 200, 300]
[replicates]
min = 200
max = 200
target_mcse = 0.05
batch = 100
[parametric]
control = { model = "exponential", median_months = 12 }
experimental = { hazard_ratio = 0.6 }
)";
}

struct Setup {
  fs::path dir;       // inputs
  fs::path out;       // the batch's DIR
  fs::path nightly;
};

// A nightly file in a fresh folder, with the tiny design beside it.
Setup setup(const std::string& name, const std::string& nightly_text) {
  Setup s;
  s.dir = fresh_dir(name);
  s.out = s.dir / "out";
  s.nightly = s.dir / "nightly.toml";
  write(s.dir / "tiny_design.toml", tiny_design());
  write(s.nightly, nightly_text);
  return s;
}

std::string scenario_job(const std::string& name, const std::string& file, int patients,
                         std::optional<int> seed = std::nullopt) {
  std::string text = fmt::format("[[scenario]]\nname = \"{}\"\nfile = \"{}\"\npatients = {}\n",
                                 name, file, patients);
  if (seed) text += fmt::format("seed = {}\n", *seed);
  return text;
}

int run(const Setup& s, std::vector<std::string>* log_lines = nullptr,
        const std::string& compare = "") {
  b::BatchOptions options;
  options.nightly_file = s.nightly.string();
  options.out_dir = s.out.string();
  options.compare = compare;
  options.threads = 2;
  if (log_lines) options.on_log = [log_lines](std::string_view line) {
    log_lines->emplace_back(line);
  };
  return b::run_batch(options);
}

const json& job_named(const json& summary, const std::string& name) {
  for (const json& job : summary.at("jobs"))
    if (job.at("name") == name) return job;
  FAIL("no job named " << name);
  return summary;
}

// "2026-01-05T02:00:00.123Z": ISO 8601 UTC with milliseconds.
bool is_timestamp(std::string_view text) {
  constexpr std::string_view kPattern = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (text.size() != kPattern.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool ok = kPattern[i] == 'd' ? std::isdigit(static_cast<unsigned char>(text[i])) != 0
                                       : text[i] == kPattern[i];
    if (!ok) return false;
  }
  return true;
}

bool no_partial_files(const fs::path& dir) {
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.path().string().ends_with(".partial")) return false;
  return true;
}

// The Monte Carlo half-width the documented rule uses: half the 95% interval, or 1.96 SE.
double half_width(const json& figure) {
  if (figure.contains("ci_low") && figure.at("ci_low").is_number() &&
      figure.contains("ci_high") && figure.at("ci_high").is_number())
    return (figure.at("ci_high").get<double>() - figure.at("ci_low").get<double>()) / 2.0;
  for (const char* key : {"se", "mcse"})
    if (figure.contains(key) && figure.at(key).is_number())
      return 1.959963984540054 * figure.at(key).get<double>();
  return std::nan("");
}

}  // namespace

TEST_CASE("two nights with the same inputs give identical figures, exit 0 and no change flagged") {
  const std::string nightly = "[batch]\nname = \"same twice\"\n\n" +
                              scenario_job("default", kSource + "/configs/default.toml", 500) +
                              "\n[[design]]\nfile = \"tiny_design.toml\"\n";
  const Setup s = setup("same", nightly);
  CHECK(run(s) == b::kExitOk);
  const json first = read_json(s.out / "summary.json");
  for (const json& job : first.at("jobs")) {
    CHECK(job.at("status") == "ok");
    CHECK(job.at("comparison").at("verdict") == "not_compared");
  }
  CHECK(run(s) == b::kExitOk);
  const json second = read_json(s.out / "summary.json");
  CHECK(fs::exists(s.out / "summary.previous.json"));
  CHECK(fs::exists(s.out / "results.previous.db"));
  CHECK(read_json(s.out / "summary.previous.json").at("batch").at("started_at") ==
        first.at("batch").at("started_at"));
  CHECK(second.at("previous").at("file") == (s.out / "summary.previous.json").string());
  REQUIRE(second.at("jobs").size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    const json& job = second.at("jobs")[i];
    CAPTURE(job.at("name"));
    CHECK(job.at("status") == "ok");
    CHECK(job.at("comparison").at("verdict") == "identical");
    CHECK(job.at("comparison").at("reasons").empty());
    CHECK(job.at("comparison").at("differences").empty());
    CHECK(job.at("comparison").at("figures_compared").get<int>() > 10);
    CHECK(job.at("figures") == first.at("jobs")[i].at("figures"));
  }
  CHECK(second.at("exit_code") == 0);
  CHECK(second.at("status") == "ok");
  CHECK(second.at("counts").at("comparison").at("identical") == 2);
  CHECK(slurp(s.out / "index.html").find("All 2 jobs ran; no figure changed unexpectedly") !=
        std::string::npos);
  CHECK(no_partial_files(s.out));
}

TEST_CASE("a broken scenario fails its job only: the others run, exit 1, index and summary say so") {
  // The default scenario with its parameter paths made absolute and one misspelt key.
  std::string broken = slurp(kSource + "/configs/default.toml");
  for (const char* file : {"population", "course", "regimens", "life_table"}) {
    const std::string from = fmt::format("\"model/{}.toml\"", file);
    const std::string to = fmt::format("\"{}/configs/model/{}.toml\"", kSource, file);
    broken.replace(broken.find(from), from.size(), to);
  }
  broken.replace(broken.find("store_events = true"), 19, "store_event = true");
  const int bad_line = line_of(broken, "store_event = true");
  const std::string nightly =
      "[batch]\nname = \"one broken\"\nseed = 7\n\n" +
      scenario_job("good", kSource + "/configs/default.toml", 300) + "\n" +
      scenario_job("broken", "broken.toml", 300) + "\n" +
      scenario_job("missing", "no_such_scenario.toml", 300) +
      "\n[[design]]\nfile = \"tiny_design.toml\"\nname = \"tiny\"\n";
  const Setup s = setup("broken", nightly);
  write(s.dir / "broken.toml", broken);
  std::vector<std::string> lines;
  CHECK(run(s, &lines) == b::kExitJobFailed);
  const json summary = read_json(s.out / "summary.json");
  CHECK(summary.at("status") == "failed");
  CHECK(summary.at("exit_code") == 1);
  CHECK(summary.at("counts").at("failed") == 2);
  CHECK(summary.at("counts").at("ok") == 2);
  for (const char* name : {"good", "tiny"}) {
    const json& job = job_named(summary, name);
    CHECK(job.at("status") == "ok");
    CHECK(job.at("error").is_null());
    CHECK(fs::exists(s.out / job.at("report").get<std::string>()));
  }
  const json& bad = job_named(summary, "broken");
  CHECK(bad.at("status") == "failed");
  CHECK(bad.at("figures").is_null());
  CHECK(bad.at("report").is_null());
  const std::string error = bad.at("error");
  CHECK(error.find(fmt::format("broken.toml:{}:", bad_line)) != std::string::npos);
  CHECK(error.find("scenario.store_event") != std::string::npos);
  CHECK(error.find('\n') == std::string::npos);
  const json& missing = job_named(summary, "missing");
  CHECK(missing.at("status") == "failed");
  CHECK(missing.at("error").get<std::string>().find("no_such_scenario.toml") != std::string::npos);
  const std::string index = slurp(s.out / "index.html");
  CHECK(index.find("2 of 4 jobs FAILED (exit 1)") != std::string::npos);
  CHECK(index.find(fmt::format("broken.toml:{}:", bad_line)) != std::string::npos);
  // The log names the failure, and every job started and ended.
  const std::string log = slurp(s.out / "batch.log");
  CHECK(log.find("ERROR job 2/4 scenario 'broken' FAILED") != std::string::npos);
  CHECK(log.find("job 4/4 design 'tiny' ok") != std::string::npos);
  CHECK(std::count(lines.begin(), lines.end(), std::string()) == 0);
  CHECK(lines.size() == static_cast<std::size_t>(std::count(log.begin(), log.end(), '\n')));
}

TEST_CASE("a changed seed lists the differences beyond Monte Carlo error and is not unexpected") {
  auto nightly = [](int seed) {
    return "[batch]\nname = \"seed change\"\n\n" +
           scenario_job("default", kSource + "/configs/default.toml", 500, seed) +
           "\n[[design]]\nfile = \"tiny_design.toml\"\nname = \"tiny\"\n";
  };
  const Setup s = setup("seed", nightly(1));
  REQUIRE(run(s) == b::kExitOk);
  const json before = read_json(s.out / "summary.json");
  write(s.nightly, nightly(2));
  CHECK(run(s) == b::kExitOk);
  const json after = read_json(s.out / "summary.json");
  CHECK(after.at("counts").at("comparison").at("changed_unexpectedly") == 0);
  CHECK(job_named(after, "tiny").at("comparison").at("verdict") == "identical");

  const json& c = job_named(after, "default").at("comparison");
  const std::string verdict = c.at("verdict");
  CHECK((verdict == "changed_within_mc_error" || verdict == "changed_beyond_mc_error"));
  CHECK(std::find(c.at("reasons").begin(), c.at("reasons").end(), json("seed 1 -> 2")) !=
        c.at("reasons").end());
  // A new seed draws new patients: many figures move, a few by more than their error.
  CHECK(c.at("figures_changed").get<int>() > 20);

  // Every listed figure is beyond sqrt(h_prev^2 + h_cur^2), and every arm figure beyond it is
  // listed (checked on the per-arm interval figures of report_json).
  std::set<std::string> listed;
  for (const json& d : c.at("differences")) {
    REQUIRE(d.contains("figure"));
    listed.insert(d.at("figure").get<std::string>());
    if (d.at("change") != "beyond_mc_error") continue;
    const double x = d.at("previous").at("estimate"), y = d.at("current").at("estimate");
    const double h = std::hypot(half_width(d.at("previous")), half_width(d.at("current")));
    CHECK(d.at("threshold").get<double>() == doctest::Approx(h).epsilon(1e-12));
    CHECK(std::abs(y - x) > h);
  }
  const json& arms_before = job_named(before, "default").at("figures").at("arms");
  const json& arms_after = job_named(after, "default").at("figures").at("arms");
  std::size_t checked = 0;
  for (std::size_t a = 0; a < arms_before.size(); ++a) {
    for (const auto& [key, figure] : arms_before[a].items()) {
      if (!figure.is_object() || !figure.contains("estimate")) continue;
      const json& other = arms_after[a].at(key);
      if (!figure.at("estimate").is_number() || !other.at("estimate").is_number()) continue;
      const double h = std::hypot(half_width(figure), half_width(other));
      if (std::isnan(h)) continue;
      const bool beyond =
          std::abs(other.at("estimate").get<double>() - figure.at("estimate").get<double>()) > h;
      const std::string path =
          fmt::format("arms[{}].{}", arms_before[a].at("arm").get<std::string>(), key);
      CAPTURE(path);
      CHECK(listed.count(path) == (beyond ? 1u : 0u));
      ++checked;
    }
  }
  CHECK(checked > 30);
}

TEST_CASE("a figure that changes with the same inputs, seed and build exits 3 and is listed") {
  const std::string nightly = "[batch]\nname = \"tampered\"\n\n" +
                              scenario_job("default", kSource + "/configs/default.toml", 300);
  const Setup s = setup("tampered", nightly);
  REQUIRE(run(s) == b::kExitOk);
  // Stand-in for a non-reproducible build: last night's stored ORR is not what tonight computes.
  json summary = read_json(s.out / "summary.json");
  json& orr = summary.at("jobs")[0].at("figures").at("arms")[0].at("orr");
  const double stored = orr.at("estimate");
  orr.at("estimate") = stored + 1e-12;
  write(s.out / "summary.json", summary.dump(2));
  CHECK(run(s) == b::kExitChangedUnexpectedly);
  const json after = read_json(s.out / "summary.json");
  CHECK(after.at("status") == "changed_unexpectedly");
  CHECK(after.at("exit_code") == 3);
  const json& c = after.at("jobs")[0].at("comparison");
  CHECK(c.at("verdict") == "changed_unexpectedly");
  CHECK(c.at("reasons").empty());
  REQUIRE(c.at("differences").size() == 1);
  const std::string arm = after.at("jobs")[0].at("figures").at("arms")[0].at("arm");
  CHECK(c.at("differences")[0].at("value") == fmt::format("arms[{}].orr.estimate", arm));
  CHECK(c.at("differences")[0].at("previous").get<double>() == stored + 1e-12);
  CHECK(c.at("differences")[0].at("current").get<double>() == stored);
  CHECK(slurp(s.out / "index.html").find("CHANGED UNEXPECTEDLY") != std::string::npos);
  CHECK(slurp(s.out / "batch.log").find("ERROR compare scenario 'default': changed_unexpectedly") !=
        std::string::npos);
}

TEST_CASE("summary.json has the documented keys and batch.log timestamped lines") {
  const std::string nightly =
      "[batch]\nname = \"shape\"\nthreads = 2\n\n" +
      scenario_job("default", kSource + "/configs/default.toml", 300) +
      "\n[[design]]\nfile = \"tiny_design.toml\"\nname = \"tiny\"\n\n[validation]\nmapping = \"" +
      kSource + "/configs/targets/mapping.toml\"\npatients = 150\nrole = \"holdout\"\n";
  const Setup s = setup("shape", nightly);
  std::vector<std::string> lines;
  REQUIRE(run(s, &lines) == b::kExitOk);
  const json summary = read_json(s.out / "summary.json");
  CHECK(summary.at("format") == b::kSummaryFormat);
  CHECK(summary.at("format_version") == b::kSummaryFormatVersion);
  for (const char* key : {"batch", "previous", "status", "exit_code", "counts", "jobs"})
    CHECK_MESSAGE(summary.contains(key), key);
  const json& batch = summary.at("batch");
  for (const char* key : {"name", "nightly_file", "nightly_hash", "out_dir", "host", "started_at",
                          "finished_at", "wall_seconds", "threads", "seed", "build",
                          "build_identified"})
    CHECK_MESSAGE(batch.contains(key), key);
  for (const char* key : {"vpgen_version", "git_commit", "compiler", "boost_version",
                          "tbb_version", "rng_scheme"})
    CHECK_MESSAGE(batch.at("build").contains(key), key);
  CHECK(is_timestamp(batch.at("started_at").get<std::string>()));
  CHECK(is_timestamp(batch.at("finished_at").get<std::string>()));
  CHECK(batch.at("threads") == 2);
  REQUIRE(summary.at("jobs").size() == 3);
  for (const json& job : summary.at("jobs")) {
    CAPTURE(job.at("name"));
    for (const char* key : {"name", "kind", "file", "path", "input_hash", "seed", "settings",
                            "status", "error", "started_at", "finished_at", "wall_seconds",
                            "report", "figures", "comparison"})
      CHECK_MESSAGE(job.contains(key), key);
    CHECK(job.at("status") == "ok");
    CHECK(job.at("input_hash").get<std::string>().size() == 16);
    CHECK(fs::exists(s.out / job.at("report").get<std::string>()));
  }
  const json& scenario = job_named(summary, "default");
  CHECK(scenario.at("kind") == "scenario");
  CHECK(scenario.at("settings").at("patients") == 300);
  CHECK(scenario.at("seed") == 20261127);  // the scenario file's own
  const json& arm = scenario.at("figures").at("arms")[0];
  for (const char* key : {"estimate", "ci_low", "ci_high"})
    CHECK(arm.at("orr").contains(key));
  CHECK(arm.at("os_rate").at("12").contains("ci_low"));
  const json& design = job_named(summary, "tiny");
  CHECK(design.at("kind") == "design");
  CHECK(design.at("seed") == 5);
  REQUIRE(design.at("figures").at("points").size() == 3);
  CHECK(design.at("figures").at("points")[0].at("power").contains("mcse"));
  CHECK(design.at("figures").at("points")[0].at("replicates") == 200);
  CHECK(design.at("figures").contains("n_star"));
  const json& validation = job_named(summary, "validation");
  CHECK(validation.at("kind") == "validation");
  CHECK(validation.at("settings").at("patients") == 150);
  CHECK(validation.at("settings").at("role") == "holdout");
  const json& targets = validation.at("figures").at("targets");
  REQUIRE(!targets.empty());
  for (const json& t : targets) {
    CHECK(t.at("role") == "holdout");
    for (const char* key : {"estimate", "ci_low", "ci_high"})
      CHECK(t.at("simulated").contains(key));
    CHECK(t.contains("published"));
    CHECK(t.at("pass").is_boolean());
  }
  CHECK(fs::exists(s.out / "results.db"));
  CHECK(fs::exists(s.out / "index.html"));
  CHECK(no_partial_files(s.out));

  // batch.log: every line starts with an ISO 8601 UTC time and a level; job start and end lines.
  const std::string log = slurp(s.out / "batch.log");
  std::istringstream in(log);
  std::string line;
  std::size_t count = 0;
  while (std::getline(in, line)) {
    CAPTURE(line);
    REQUIRE(line.size() > 32);
    CHECK(is_timestamp(std::string_view(line).substr(0, 24)));
    const std::string level = line.substr(24, 7);
    CHECK((level == " INFO  " || level == " WARN  " || level == " ERROR "));
    ++count;
  }
  CHECK(count == lines.size());
  for (const char* needle : {"batch 'shape' start", "job 1/3 scenario 'default' start",
                             "job 1/3 scenario 'default' ok in", "job 3/3 validation 'validation' ok",
                             "batch 'shape' end: 3 ok, 0 failed"})
    CHECK_MESSAGE(log.find(needle) != std::string::npos, needle);
}

TEST_CASE("a bad nightly file throws InputError naming file:line:key and writes nothing") {
  struct Case {
    std::string text;
    std::string needle;    // the line holding the error
    std::string message;   // in the error after "file:line: "
  };
  const std::string head = "[batch]\nname = \"bad\"\n\n";
  const std::string file = kSource + "/configs/default.toml";
  const std::vector<Case> cases = {
      {head + "[[scenario]]\nfile = \"" + file + "\"\npatinets = 5\n", "patinets",
       "key 'scenario[0].patinets': unknown key"},
      {head + "[[scenario]]\nfile = \"" + file + "\"\npatients = 0\n", "patients",
       "key 'scenario[0].patients': 0 is out of range"},
      {head + "[[scenario]]\nfile = \"" + file + "\"\nseed = \"one\"\n", "seed",
       "key 'scenario[0].seed': expected an integer"},
      {head + "[[scenario]]\nfile = \"" + file + "\"\nname = \"x\"\n[[scenario]]\nfile = \"" +
           file + "\"\nname = \"x\"  # again\n",
       "name = \"x\"  # again", "key 'scenario[1].name': job name 'x' is already used"},
      {head + "[validation]\nmapping = \"m.toml\"\nrole = \"some\"\n", "role",
       "key 'validation.role': 'some' is not fit, holdout or all"},
      {"[batch]\ntitle = \"x\"\n[[design]]\nfile = \"d.toml\"\n", "[batch]",
       "key 'batch.name': missing required key"},
      {"[batch]\nname = \"x\"\nthread = 2\n[[design]]\nfile = \"d.toml\"\n", "thread",
       "key 'batch.thread': unknown key"},
      {head + "[[sceanrio]]\nfile = \"" + file + "\"\n", "[[sceanrio]]",
       "key 'sceanrio': unknown key"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    CAPTURE(c.text);
    const Setup s = setup(fmt::format("bad{}", i), c.text);
    const int line = line_of(c.text, c.needle);
    std::string what;
    try {
      run(s);
    } catch (const vpgen::InputError& e) {
      what = e.what();
    }
    CHECK(what.find(fmt::format("{}:{}:", s.nightly.string(), line)) == 0);
    CHECK(what.find(c.message) != std::string::npos);
    CHECK_FALSE(fs::exists(s.out));
  }
  // No jobs at all.
  const Setup empty = setup("bad_empty", head);
  CHECK_THROWS_WITH_AS(run(empty), doctest::Contains("no jobs"), vpgen::InputError);
  CHECK_FALSE(fs::exists(empty.out));
  // --compare that is not a batch summary.
  const Setup compare =
      setup("bad_compare", head + "[[design]]\nfile = \"tiny_design.toml\"\n");
  write(compare.dir / "other.json", "{\"jobs\": []}");
  CHECK_THROWS_WITH_AS(run(compare, nullptr, (compare.dir / "other.json").string()),
                       doctest::Contains("not a vpgen batch summary"), vpgen::InputError);
  CHECK_FALSE(fs::exists(compare.out));
}

TEST_CASE("after an interrupted batch the next one compares with the last complete night") {
  const Setup s = setup("interrupted", "[batch]\nname = \"resume\"\n\n[[design]]\n"
                                       "file = \"tiny_design.toml\"\nname = \"tiny\"\n");
  REQUIRE(run(s) == b::kExitOk);
  REQUIRE(run(s) == b::kExitOk);
  const json complete = read_json(s.out / "summary.json");
  // What a batch killed after its start leaves: last night's summary moved aside, none of its own.
  fs::rename(s.out / "summary.json", s.out / "summary.previous.json");
  CHECK(run(s) == b::kExitOk);
  const json after = read_json(s.out / "summary.json");
  CHECK(after.at("previous").at("started_at") == complete.at("batch").at("started_at"));
  CHECK(after.at("jobs")[0].at("comparison").at("verdict") == "identical");
  // --compare names another summary explicitly (a folder holding one is accepted too).
  const fs::path elsewhere = s.dir / "elsewhere";
  fs::create_directories(elsewhere);
  fs::copy_file(s.out / "summary.previous.json", elsewhere / "summary.json");
  CHECK(run(s, nullptr, elsewhere.string()) == b::kExitOk);
  CHECK(read_json(s.out / "summary.json").at("previous").at("file") ==
        (elsewhere / "summary.json").string());
  // --compare DIR itself: last night's summary, read before it moves aside.
  const json last = read_json(s.out / "summary.json");
  CHECK(run(s, nullptr, s.out.string()) == b::kExitOk);
  const json now = read_json(s.out / "summary.json");
  CHECK(now.at("previous").at("file") == (s.out / "summary.previous.json").string());
  CHECK(now.at("previous").at("started_at") == last.at("batch").at("started_at"));
}

TEST_CASE("compare_job lists a figure only when it moves beyond Monte Carlo error") {
  const json build = {{"vpgen_version", "0.1.0"}, {"git_commit", "abc"}, {"compiler", "g++"},
                      {"boost_version", "1.74"},  {"tbb_version", "2021"}, {"rng_scheme", 1}};
  auto job = [](int seed, double orr, double orr_half, double power, double mcse) {
    return json{{"name", "j"},
                {"kind", "scenario"},
                {"input_hash", "h"},
                {"seed", seed},
                {"settings", {{"patients", 100}}},
                {"status", "ok"},
                {"figures",
                 {{"arms",
                   {{{"arm", "a"},
                     {"n", 100},
                     {"orr", {{"estimate", orr}, {"ci_low", orr - orr_half},
                              {"ci_high", orr + orr_half}}},
                     {"power", {{"estimate", power}, {"mcse", mcse}}}}}}}}};
  };
  // Same inputs and build: identical, or any difference at all is unexpected.
  CHECK(b::compare_job(job(1, 0.5, 0.1, 0.8, 0.01), job(1, 0.5, 0.1, 0.8, 0.01), build,
                       build)
            .at("verdict") == "identical");
  const json tiny = b::compare_job(job(1, 0.5, 0.1, 0.8, 0.01),
                                   job(1, 0.5 + 1e-15, 0.1, 0.8, 0.01), build, build);
  CHECK(tiny.at("verdict") == "changed_unexpectedly");
  // The estimate and the interval built around it moved: each value is listed.
  REQUIRE(!tiny.at("differences").empty());
  CHECK(tiny.at("differences")[0].at("value") == "arms[a].orr.ci_high");
  CHECK(tiny.at("figures_changed") == 1);

  // Seed changed. ORR half-widths 0.1 both nights: threshold sqrt(2) * 0.1 = 0.1414.
  // Power MCSE 0.01 both nights: threshold 1.96 * sqrt(2) * 0.01 = 0.0277.
  const json within = b::compare_job(job(1, 0.50, 0.1, 0.80, 0.01),
                                     job(2, 0.64, 0.1, 0.827, 0.01), build, build);
  CHECK(within.at("verdict") == "changed_within_mc_error");
  CHECK(within.at("figures_changed") == 2);
  CHECK(within.at("differences").empty());
  CHECK(within.at("reasons") == json::array({"seed 1 -> 2"}));
  const json beyond = b::compare_job(job(1, 0.50, 0.1, 0.80, 0.01),
                                     job(2, 0.65, 0.1, 0.83, 0.01), build, build);
  CHECK(beyond.at("verdict") == "changed_beyond_mc_error");
  REQUIRE(beyond.at("differences").size() == 2);
  CHECK(beyond.at("differences")[0].at("figure") == "arms[a].orr");
  CHECK(beyond.at("differences")[0].at("threshold").get<double>() ==
        doctest::Approx(std::sqrt(0.02)));
  CHECK(beyond.at("differences")[1].at("figure") == "arms[a].power");
  CHECK(beyond.at("differences")[1].at("threshold").get<double>() ==
        doctest::Approx(1.959963984540054 * std::sqrt(2.0) * 0.01));

  // A build change is a reason too; a failed job is not compared.
  json other_build = build;
  other_build["git_commit"] = "def";
  const json rebuilt = b::compare_job(job(1, 0.5, 0.1, 0.8, 0.01), job(1, 0.51, 0.1, 0.8, 0.01),
                                      build, other_build);
  CHECK(rebuilt.at("verdict") == "changed_within_mc_error");
  CHECK(rebuilt.at("reasons") == json::array({"build git_commit abc -> def"}));
  json failed = job(1, 0.5, 0.1, 0.8, 0.01);
  failed["status"] = "failed";
  failed["figures"] = nullptr;
  CHECK(b::compare_job(job(1, 0.5, 0.1, 0.8, 0.01), failed, build, build).at("verdict") ==
        "not_compared");
}

TEST_CASE("the example nightly file loads and every file it names exists") {
  const b::Nightly nightly = b::read_nightly(kSource + "/configs/nightly/nightly.toml");
  CHECK(nightly.name == "vpgen nightly");
  std::map<b::JobKind, int> kinds;
  for (const b::JobSpec& job : nightly.jobs) {
    CAPTURE(job.name);
    ++kinds[job.kind];
    CHECK(fs::exists(job.path));
    if (job.kind == b::JobKind::kScenario) CHECK(job.patients == 20000u);
    if (job.kind == b::JobKind::kValidation) CHECK(job.patients < 20000u);
  }
  CHECK(kinds[b::JobKind::kScenario] == 3);
  CHECK(kinds[b::JobKind::kDesign] == 2);
  CHECK(kinds[b::JobKind::kValidation] == 1);
  CHECK(nightly.jobs.back().kind == b::JobKind::kValidation);
}
