// `vpgen batch`: two nights with the same inputs agree bit for bit, a failing job stops nothing
// else, a changed seed lists only differences beyond Monte Carlo error (Holm over the night), a
// changed figure with the same inputs exits 3, summary.json and batch.log have the documented
// shape, a bad nightly file writes nothing, and a second batch into a locked DIR touches nothing.
// Sizes are tiny (a few hundred patients and replicates) to keep the suite to seconds.
#include "support/cli_runner.hpp"
#include "vpgen/batch/batch.hpp"

#include "vpgen/population/error.hpp"

#include <boost/random/mersenne_twister.hpp>
#include <boost/random/normal_distribution.hpp>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
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

using vpgen::testing::line_of;
using vpgen::testing::slurp;

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

json read_json(const fs::path& p) { return json::parse(slurp(p)); }

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
  fs::path dir;  // inputs
  fs::path out;  // the batch's DIR
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
  if (log_lines)
    options.on_log = [log_lines](std::string_view line) { log_lines->emplace_back(line); };
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

// The standard error the documented rule uses: "se" or "mcse", else the 95% interval's
// half-width / 1.96.
double standard_error(const json& figure) {
  for (const char* key : {"se", "mcse"})
    if (figure.contains(key) && figure.at(key).is_number()) return figure.at(key).get<double>();
  if (figure.contains("ci_low") && figure.at("ci_low").is_number() && figure.contains("ci_high") &&
      figure.at("ci_high").is_number())
    return (figure.at("ci_high").get<double>() - figure.at("ci_low").get<double>()) / 2.0 /
           1.959963984540054;
  return std::nan("");
}

double two_sided_p(double z) { return std::erfc(z / std::sqrt(2.0)); }

// Every regular file under `dir` but the lock file, with its bytes.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().filename() != ".batch.lock")
      files[fs::relative(entry.path(), dir).string()] = slurp(entry.path());
  return files;
}

const json kBuild = {{"vpgen_version", "0.1.0"}, {"git_commit", "abc"},   {"compiler", "g++"},
                     {"boost_version", "1.74"},  {"tbb_version", "2021"}, {"rng_scheme", 1}};

// One scenario-like job whose figures are `estimates` with standard errors `ses`: even-numbered
// figures carry a 95% interval (estimate -/+ 1.96 se), odd ones an "se", as report_json's do.
json noise_job(const std::string& name, int seed, const std::vector<double>& estimates,
               const std::vector<double>& ses) {
  json arm = {{"arm", "a"}, {"n", 1000}};
  for (std::size_t k = 0; k < estimates.size(); ++k) {
    const std::string key = fmt::format("f{:03}", k);
    if (k % 2 == 0)
      arm[key] = {{"estimate", estimates[k]},
                  {"ci_low", estimates[k] - 1.959963984540054 * ses[k]},
                  {"ci_high", estimates[k] + 1.959963984540054 * ses[k]}};
    else arm[key] = {{"estimate", estimates[k]}, {"se", ses[k]}};
  }
  return {{"name", name},
          {"kind", "scenario"},
          {"input_hash", "h"},
          {"seed", seed},
          {"settings", {{"patients", 1000}}},
          {"status", "ok"},
          {"figures", {{"ci_level", 0.95}, {"arms", json::array({arm})}}}};
}

// Two nights of `figures` figures in two jobs, each night's estimate the truth plus N(0, se^2)
// noise drawn from `rng` (Boost.Random: the same numbers on every platform); `shift_se` moves
// figure 0 of job "j1" tonight by that many of its standard errors. Returns tonight's jobs with
// their comparison set by compare_night, and the decision.
struct Night {
  json jobs;
  b::NightComparison result;
};
Night noise_night(boost::random::mt19937& rng, std::size_t figures, double shift_se) {
  boost::random::normal_distribution<double> normal(0.0, 1.0);
  json previous = {{"batch", {{"build", kBuild}}}, {"jobs", json::array()}};
  json tonight = json::array();
  for (const char* name : {"j1", "j2"}) {
    std::vector<double> truth, ses, before, after;
    for (std::size_t k = 0; k < figures / 2; ++k) {
      truth.push_back(0.2 + 0.003 * static_cast<double>(k));
      ses.push_back(0.005 * static_cast<double>(1 + k % 7));
    }
    for (std::size_t k = 0; k < truth.size(); ++k)
      before.push_back(truth[k] + ses[k] * normal(rng));
    for (std::size_t k = 0; k < truth.size(); ++k) after.push_back(truth[k] + ses[k] * normal(rng));
    if (std::string_view(name) == "j1") after[0] += shift_se * ses[0];
    previous["jobs"].push_back(noise_job(name, 1, before, ses));
    tonight.push_back(noise_job(name, 2, after, ses));
  }
  Night night;
  night.result = b::compare_night(tonight, &previous, "", kBuild);
  night.jobs = std::move(tonight);
  return night;
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

TEST_CASE(
    "a broken scenario fails its job only: the others run, exit 1, index and summary say so") {
  // The default scenario with its parameter paths made absolute and one misspelt key.
  std::string broken = slurp(kSource + "/configs/default.toml");
  for (const char* file : {"population", "course", "regimens", "life_table"}) {
    const std::string from = fmt::format("\"model/{}.toml\"", file);
    const std::string to = fmt::format("\"{}/configs/model/{}.toml\"", kSource, file);
    broken.replace(broken.find(from), from.size(), to);
  }
  broken.replace(broken.find("store_events = true"), 19, "store_event = true");
  const int bad_line = line_of(broken, "store_event = true");
  const std::string nightly = "[batch]\nname = \"one broken\"\nseed = 7\n\n" +
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

  // Only the scenario was tested (the design's inputs did not change: compared exactly), so the
  // night's Holm family is the scenario's figures.
  const std::size_t m = c.at("figures_tested");
  CHECK(m > 30);
  CHECK(after.at("comparison").at("figures_tested") == m);
  CHECK(after.at("comparison").at("method") == "holm");
  CHECK(after.at("comparison").at("family_alpha") == b::kFamilyAlpha);
  // Every listed figure carries z and p computed from the two standard errors, and a Holm-adjusted
  // p between its own p and m p (Holm's adjusted p of a hypothesis lies in [p, m p]) at most 0.05.
  std::set<std::string> listed;
  for (const json& d : c.at("differences")) {
    REQUIRE(d.contains("figure"));
    listed.insert(d.at("figure").get<std::string>());
    if (d.at("change") != "beyond_mc_error") continue;
    const double x = d.at("previous").at("estimate"), y = d.at("current").at("estimate");
    const double se = std::hypot(standard_error(d.at("previous")), standard_error(d.at("current")));
    CHECK(d.at("se").get<double>() == doctest::Approx(se).epsilon(1e-12));
    CHECK(d.at("z").get<double>() == doctest::Approx(std::abs(y - x) / se).epsilon(1e-12));
    const double p = d.at("p");
    CHECK(p == doctest::Approx(two_sided_p(d.at("z").get<double>())).epsilon(1e-12));
    CHECK(d.at("p_holm").get<double>() >= p);
    CHECK(d.at("p_holm").get<double>() <= std::min(1.0, static_cast<double>(m) * p) * (1 + 1e-12));
    CHECK(d.at("p_holm").get<double>() <= b::kFamilyAlpha);
  }
  // Conversely, over the per-arm figures: Holm must list a figure with m p <= 0.05 and cannot
  // list one with p > 0.05.
  const json& arms_before = job_named(before, "default").at("figures").at("arms");
  const json& arms_after = job_named(after, "default").at("figures").at("arms");
  std::size_t checked = 0;
  for (std::size_t a = 0; a < arms_before.size(); ++a) {
    for (const auto& [key, figure] : arms_before[a].items()) {
      if (!figure.is_object() || !figure.contains("estimate")) continue;
      const json& other = arms_after[a].at(key);
      if (!figure.at("estimate").is_number() || !other.at("estimate").is_number()) continue;
      const double se = std::hypot(standard_error(figure), standard_error(other));
      if (!(se > 0.0)) continue;
      const double p = two_sided_p(
          std::abs(other.at("estimate").get<double>() - figure.at("estimate").get<double>()) / se);
      const std::string path =
          fmt::format("arms[{}].{}", arms_before[a].at("arm").get<std::string>(), key);
      CAPTURE(path);
      CAPTURE(p);
      if (static_cast<double>(m) * p <= b::kFamilyAlpha) CHECK(listed.count(path) == 1u);
      if (p > b::kFamilyAlpha) CHECK(listed.count(path) == 0u);
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
  for (const char* key :
       {"batch", "previous", "status", "exit_code", "comparison", "counts", "jobs"})
    CHECK_MESSAGE(summary.contains(key), key);
  for (const char* key : {"method", "family_alpha", "figures_tested", "figures_listed"})
    CHECK_MESSAGE(summary.at("comparison").contains(key), key);
  const json& batch = summary.at("batch");
  for (const char* key :
       {"name", "nightly_file", "nightly_hash", "out_dir", "host", "started_at", "finished_at",
        "wall_seconds", "threads", "seed", "build", "build_identified"})
    CHECK_MESSAGE(batch.contains(key), key);
  for (const char* key :
       {"vpgen_version", "git_commit", "compiler", "boost_version", "tbb_version", "rng_scheme"})
    CHECK_MESSAGE(batch.at("build").contains(key), key);
  CHECK(is_timestamp(batch.at("started_at").get<std::string>()));
  CHECK(is_timestamp(batch.at("finished_at").get<std::string>()));
  CHECK(batch.at("threads") == 2);
  REQUIRE(summary.at("jobs").size() == 3);
  for (const json& job : summary.at("jobs")) {
    CAPTURE(job.at("name"));
    for (const char* key :
         {"name", "kind", "file", "path", "input_hash", "seed", "settings", "status", "error",
          "started_at", "finished_at", "wall_seconds", "report", "figures", "comparison"})
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
  for (const char* key : {"estimate", "ci_low", "ci_high"}) CHECK(arm.at("orr").contains(key));
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
  for (const char* needle :
       {"batch 'shape' start", "job 1/3 scenario 'default' start",
        "job 1/3 scenario 'default' ok in", "job 3/3 validation 'validation' ok",
        "batch 'shape' end: 3 ok, 0 failed"})
    CHECK_MESSAGE(log.find(needle) != std::string::npos, needle);
}

TEST_CASE("a bad nightly file throws InputError naming file:line:key and writes nothing") {
  struct Case {
    std::string text;
    std::string needle;   // the line holding the error
    std::string message;  // in the error after "file:line: "
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
  const Setup compare = setup("bad_compare", head + "[[design]]\nfile = \"tiny_design.toml\"\n");
  write(compare.dir / "other.json", "{\"jobs\": []}");
  CHECK_THROWS_WITH_AS(run(compare, nullptr, (compare.dir / "other.json").string()),
                       doctest::Contains("not a vpgen batch summary"), vpgen::InputError);
  CHECK_FALSE(fs::exists(compare.out));
}

TEST_CASE("after an interrupted batch the next one compares with the last complete night") {
  const Setup s = setup("interrupted",
                        "[batch]\nname = \"resume\"\n\n[[design]]\n"
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

TEST_CASE("compare_job tests each figure and apply_holm lists those beyond Monte Carlo error") {
  const json& build = kBuild;
  auto job = [](int seed, double orr, double orr_half, double power, double mcse) {
    return json{
        {"name", "j"},
        {"kind", "scenario"},
        {"input_hash", "h"},
        {"seed", seed},
        {"settings", {{"patients", 100}}},
        {"status", "ok"},
        {"figures",
         {{"arms",
           {{{"arm", "a"},
             {"n", 100},
             {"orr", {{"estimate", orr}, {"ci_low", orr - orr_half}, {"ci_high", orr + orr_half}}},
             {"power", {{"estimate", power}, {"mcse", mcse}}}}}}}}};
  };
  auto compare = [&](const json& previous, const json& current, const json& previous_build) {
    json c = b::compare_job(previous, current, previous_build, build);
    b::apply_holm({&c});
    CHECK_FALSE(c.contains("tests"));
    return c;
  };
  // Same inputs and build: identical, or any difference at all is unexpected.
  CHECK(compare(job(1, 0.5, 0.1, 0.8, 0.01), job(1, 0.5, 0.1, 0.8, 0.01), build).at("verdict") ==
        "identical");
  const json tiny =
      compare(job(1, 0.5, 0.1, 0.8, 0.01), job(1, 0.5 + 1e-15, 0.1, 0.8, 0.01), build);
  CHECK(tiny.at("verdict") == "changed_unexpectedly");
  // The estimate and the interval built around it moved: each value is listed.
  REQUIRE(!tiny.at("differences").empty());
  CHECK(tiny.at("differences")[0].at("value") == "arms[a].orr.ci_high");
  CHECK(tiny.at("figures_changed") == 1);
  CHECK(tiny.at("figures_tested") == 0);

  // Seed changed: both figures are tests (m = 2). ORR half-widths 0.1: se of the difference
  // sqrt(2) 0.1 / 1.96 = 0.07215; power MCSE 0.01: se sqrt(2) 0.01 = 0.01414. Holm at 0.05 lists
  // the smaller p if <= 0.025 (z >= 2.241), then the other if <= 0.05 (z >= 1.960).
  const json raw =
      b::compare_job(job(1, 0.50, 0.1, 0.80, 0.01), job(2, 0.64, 0.1, 0.827, 0.01), build, build);
  REQUIRE(raw.at("tests").size() == 2);
  CHECK(raw.at("figures_tested") == 2);
  const double se_orr = std::sqrt(2.0) * 0.1 / 1.959963984540054;
  CHECK(raw.at("tests")[0].at("figure") == "arms[a].orr");
  CHECK(raw.at("tests")[0].at("se").get<double>() == doctest::Approx(se_orr));
  CHECK(raw.at("tests")[0].at("z").get<double>() == doctest::Approx(0.14 / se_orr));
  CHECK(raw.at("tests")[0].at("p").get<double>() == doctest::Approx(two_sided_p(0.14 / se_orr)));
  // z = 1.940 and 1.909: p = 0.0523 and 0.0562, neither listed even without adjustment.
  const json within = compare(job(1, 0.50, 0.1, 0.80, 0.01), job(2, 0.64, 0.1, 0.827, 0.01), build);
  CHECK(within.at("verdict") == "changed_within_mc_error");
  CHECK(within.at("figures_changed") == 2);
  CHECK(within.at("differences").empty());
  CHECK(within.at("reasons") == json::array({"seed 1 -> 2"}));
  // z = 2.356 (p 0.01847) and 2.121 (p 0.03389): Holm 2 x 0.01847 = 0.0369, then
  // max(0.0369, 0.0339) = 0.0369: both listed.
  const json beyond = compare(job(1, 0.50, 0.1, 0.80, 0.01), job(2, 0.67, 0.1, 0.83, 0.01), build);
  CHECK(beyond.at("verdict") == "changed_beyond_mc_error");
  REQUIRE(beyond.at("differences").size() == 2);
  CHECK(beyond.at("differences")[0].at("figure") == "arms[a].orr");
  CHECK(beyond.at("differences")[0].at("change") == "beyond_mc_error");
  const double p_orr = two_sided_p(0.17 / se_orr);
  CHECK(beyond.at("differences")[0].at("p").get<double>() == doctest::Approx(p_orr));
  CHECK(beyond.at("differences")[0].at("p_holm").get<double>() == doctest::Approx(2 * p_orr));
  CHECK(beyond.at("differences")[1].at("figure") == "arms[a].power");
  CHECK(beyond.at("differences")[1].at("z").get<double>() ==
        doctest::Approx(0.03 / (std::sqrt(2.0) * 0.01)));
  CHECK(beyond.at("differences")[1].at("p_holm").get<double>() == doctest::Approx(2 * p_orr));
  // The same ORR move (z = 2.356) in a family of 3 is not listed: 3 x 0.01847 > 0.05. Holm
  // adjusts over everything tested, so a night of many figures needs a larger z.
  json first =
      b::compare_job(job(1, 0.50, 0.1, 0.80, 0.01), job(2, 0.67, 0.1, 0.80, 0.01), build, build);
  json second =
      b::compare_job(job(1, 0.50, 0.1, 0.80, 0.01), job(2, 0.50, 0.1, 0.80, 0.01), build, build);
  const b::HolmDecision decision = b::apply_holm({&first, &second});
  CHECK(decision.figures_tested == 4);
  CHECK(decision.figures_listed == 0);
  CHECK(first.at("verdict") == "changed_within_mc_error");
  CHECK(second.at("verdict") == "identical");

  // A build change is a reason too; a failed job is not compared.
  json other_build = build;
  other_build["git_commit"] = "def";
  const json rebuilt =
      compare(job(1, 0.5, 0.1, 0.8, 0.01), job(1, 0.51, 0.1, 0.8, 0.01), other_build);
  CHECK(rebuilt.at("verdict") == "changed_within_mc_error");
  CHECK(rebuilt.at("reasons") == json::array({"build git_commit def -> abc"}));
  json failed = job(1, 0.5, 0.1, 0.8, 0.01);
  failed["status"] = "failed";
  failed["figures"] = nullptr;
  CHECK(compare(job(1, 0.5, 0.1, 0.8, 0.01), failed, build).at("verdict") == "not_compared");
}

TEST_CASE("holm_adjust gives the values of R's p.adjust(p, method = \"holm\")") {
  // R 4.2: p.adjust(c(0.01, 0.04, 0.03, 0.005, 0.5, 0.02, 0.02), "holm") and
  // p.adjust(c(1e-12, 0.2, 1e-4, 0.9, 0.0125), "holm"). By hand for the first: sorted 0.005,
  // 0.01, 0.02, 0.02, 0.03, 0.04, 0.5 times 7, 6, ..., 1 = 0.035, 0.06, 0.10, 0.08, 0.09, 0.08,
  // 0.5, then the running maximum: 0.035, 0.06, 0.1, 0.1, 0.1, 0.1, 0.5.
  const std::vector<double> a = b::holm_adjust({0.01, 0.04, 0.03, 0.005, 0.5, 0.02, 0.02});
  const std::vector<double> a_r = {0.06, 0.1, 0.1, 0.035, 0.5, 0.1, 0.1};
  REQUIRE(a.size() == a_r.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(a_r[i]).epsilon(1e-14));
  const std::vector<double> c = b::holm_adjust({1e-12, 0.2, 1e-4, 0.9, 0.0125});
  const std::vector<double> c_r = {5e-12, 0.4, 4e-4, 0.9, 0.0375};
  REQUIRE(c.size() == c_r.size());
  for (std::size_t i = 0; i < c.size(); ++i) CHECK(c[i] == doctest::Approx(c_r[i]).epsilon(1e-14));
  // Capped at 1; one p is its own adjustment; none gives none.
  CHECK(b::holm_adjust({0.6, 0.7}) == std::vector<double>{1.0, 1.0});
  CHECK(b::holm_adjust({0.3}) == std::vector<double>{0.3});
  CHECK(b::holm_adjust({}).empty());
}

TEST_CASE(
    "a night of 200 figures of pure noise lists none, and one moved by 10 SE among them is listed" *
    doctest::test_suite("statistical")) {
  // Each figure's two nights are independent N(truth, se^2): with nothing changed, z = |N(0, 1)|.
  // Holm at family-wise alpha 0.05 lists any figure with probability <= 0.05 (here, independent
  // figures: exactly 1 - (1 - 0.05/200)^200 = 0.0488, the first step deciding). With a fixed seed
  // the night is one deterministic draw; for this seed no figure is listed, which the assertion
  // pins. The same night under the old per-figure rule (p <= 0.05 each) lists about 10 (checked
  // below, so the night is not unusually quiet).
  boost::random::mt19937 rng(20261127u);
  const Night quiet = noise_night(rng, 200, 0.0);
  CHECK(quiet.result.holm.figures_tested == 200);
  CHECK(quiet.result.holm.figures_listed == 0);
  for (const json& job : quiet.jobs) {
    CHECK(job.at("comparison").at("verdict") == "changed_within_mc_error");
    CHECK(job.at("comparison").at("differences").empty());
  }
  // The per-figure rule on the same draws (same seed, same order of draws).
  boost::random::mt19937 again(20261127u);
  boost::random::normal_distribution<double> normal(0.0, 1.0);
  std::size_t per_figure = 0;
  for (int j = 0; j < 2; ++j) {
    std::vector<double> before(100), after(100);
    for (double& v : before) v = normal(again);
    for (double& v : after) v = normal(again);
    for (std::size_t k = 0; k < 100; ++k)
      per_figure += two_sided_p(std::abs(after[k] - before[k]) / std::sqrt(2.0)) <= 0.05 ? 1 : 0;
  }
  CHECK(per_figure >= 3);

  // One figure moved by 10 of its SE (z about 10 / sqrt(2) = 7.1, p about 1e-12, Holm about
  // 2e-10): listed, and nothing else.
  boost::random::mt19937 rng_shift(20261127u);
  const Night shifted = noise_night(rng_shift, 200, 10.0);
  CHECK(shifted.result.holm.figures_tested == 200);
  CHECK(shifted.result.holm.figures_listed == 1);
  const json& c1 = shifted.jobs[0].at("comparison");
  CHECK(c1.at("verdict") == "changed_beyond_mc_error");
  REQUIRE(c1.at("differences").size() == 1);
  const json& d = c1.at("differences")[0];
  CHECK(d.at("figure") == "arms[a].f000");
  CHECK(d.at("change") == "beyond_mc_error");
  CHECK(d.at("z").get<double>() > 5.0);
  CHECK(d.at("p_holm").get<double>() <= b::kFamilyAlpha);
  CHECK(d.at("p_holm").get<double>() >= d.at("p").get<double>());
  CHECK(shifted.jobs[1].at("comparison").at("verdict") == "changed_within_mc_error");
  CHECK(shifted.result.verdicts.at("changed_beyond_mc_error") == 1);
  CHECK(shifted.result.verdicts.at("changed_within_mc_error") == 1);
}

TEST_CASE("over 400 nights of pure noise the share of nights listing anything is about 5%" *
          doctest::test_suite("statistical")) {
  // Under the global null the first Holm step decides: P(any listed) = 1 - (1 - 0.05/200)^200 =
  // 0.0488 for 200 independent figures. Nights listing anything ~ Binomial(400, 0.0488): mean
  // 19.5, SD 4.31. Accept 7..33 (about +-3 SD around 20); the per-figure rule would list on
  // nearly every night, a rule ignoring the family size too, and Bonferroni-squared or a rule
  // that never lists would fall under 7. (This seed gives 30, +2.4 SD; 4,000 nights gave 188,
  // 4.7%, when the test was written.)
  boost::random::mt19937 rng(7u);
  int nights_listing = 0;
  for (int night = 0; night < 400; ++night)
    nights_listing += noise_night(rng, 200, 0.0).result.holm.figures_listed > 0 ? 1 : 0;
  CAPTURE(nights_listing);
  CHECK(nights_listing >= 7);
  CHECK(nights_listing <= 33);
}

TEST_CASE(
    "a second batch into a locked DIR exits 2 naming DIR and the holder's pid, touching nothing" *
    doctest::test_suite("cli")) {
  const Setup s = setup("locked",
                        "[batch]\nname = \"lock\"\n\n[[design]]\n"
                        "file = \"tiny_design.toml\"\nname = \"tiny\"\n");
  const fs::path lock_file = s.out / ".batch.lock";
  // While a batch runs it holds the lock, with its pid in the file.
  b::BatchOptions options;
  options.nightly_file = s.nightly.string();
  options.out_dir = s.out.string();
  options.threads = 2;
  int checks_during = 0;
  options.on_log = [&](std::string_view) {
    if (checks_during > 0) return;
    ++checks_during;
    const int fd = ::open(lock_file.c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(::flock(fd, LOCK_EX | LOCK_NB) == -1);
    CHECK(errno == EWOULDBLOCK);
    ::close(fd);
    CHECK(slurp(lock_file) == fmt::format("{}\n", ::getpid()));
  };
  REQUIRE(b::run_batch(options) == b::kExitOk);
  CHECK(checks_during == 1);
  const auto before = snapshot(s.out);
  REQUIRE(before.count("summary.json") == 1);

  // Another process's lock (this test stands for it: flock locks belong to the open file, so a
  // second open of the same file conflicts even within one process).
  const int holder = ::open(lock_file.c_str(), O_RDWR | O_CLOEXEC);
  REQUIRE(holder >= 0);
  REQUIRE(::flock(holder, LOCK_EX | LOCK_NB) == 0);
  const std::string pid = "424242";
  REQUIRE(::ftruncate(holder, 0) == 0);
  REQUIRE(::pwrite(holder, (pid + "\n").data(), pid.size() + 1, 0) ==
          static_cast<ssize_t>(pid.size() + 1));
  std::string what;
  try {
    run(s);
  } catch (const vpgen::InputError& e) {
    what = e.what();
  }
  CHECK(what.find(s.out.string()) != std::string::npos);
  CHECK(what.find("pid 424242") != std::string::npos);
  // Through the binary: exit 2, one line on stderr.
  const vpgen::testing::CliResult cli = vpgen::testing::run_vpgen_in(
      s.dir, fmt::format("batch {} --out {}", s.nightly.string(), s.out.string()));
  CHECK(cli.exit_code == 2);
  CHECK(cli.out.empty());
  CHECK(std::count(cli.err.begin(), cli.err.end(), '\n') == 1);
  CHECK(cli.err.find(s.out.string()) != std::string::npos);
  CHECK(cli.err.find("pid 424242") != std::string::npos);
  // Nothing written, moved or appended (not even batch.log).
  CHECK(snapshot(s.out) == before);
  CHECK_FALSE(fs::exists(s.out / "summary.previous.json"));

  // Released: the next batch runs and compares with the untouched night.
  ::close(holder);
  CHECK(run(s) == b::kExitOk);
  CHECK(read_json(s.out / "summary.json").at("jobs")[0].at("comparison").at("verdict") ==
        "identical");
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

// Issue 17 item 1: anyone who can write into DIR (a shared nightly folder) can plant a symlink at
// a name the batch writes; the batch must replace or refuse it, never write through it. As root
// these tests stand for the unprivileged case (the link is planted by the same user).
TEST_CASE("a batch never writes through a symlink at an output or a .partial name" *
          doctest::test_suite("cli")) {
  const Setup s = setup("symlinks",
                        "[batch]\nname = \"links\"\n\n[[design]]\n"
                        "file = \"tiny_design.toml\"\nname = \"tiny\"\n");
  const fs::path victim = s.dir / "victim.txt";
  const std::string victim_text = "victim: must never change\n";
  write(victim, victim_text);
  fs::permissions(victim, fs::perms::owner_read | fs::perms::owner_write);
  fs::create_directories(s.out / "reports");
  const std::vector<std::string> names = {"index.html", "summary.json", "reports/design-tiny.html"};
  for (const std::string& name : names) {
    fs::create_symlink(victim, s.out / (name + ".partial"));
    fs::create_symlink(victim, s.out / name);
  }
  REQUIRE(run(s) == b::kExitOk);
  CHECK(slurp(victim) == victim_text);
  for (const std::string& name : names) {
    CAPTURE(name);
    CHECK_FALSE(fs::is_symlink(s.out / name));
    CHECK(fs::is_regular_file(s.out / name));
    CHECK(fs::is_symlink(s.out / (name + ".partial")));  // ignored, not followed
  }
  CHECK(read_json(s.out / "summary.json").at("jobs")[0].at("status") == "ok");
  CHECK(slurp(s.out / "reports/design-tiny.html").find("tiny log-rank") != std::string::npos);
  // No temporary is left: the only .partial names are the planted links.
  for (const auto& entry : fs::recursive_directory_iterator(s.out))
    if (entry.path().string().find(".partial") != std::string::npos)
      CHECK(fs::is_symlink(entry.symlink_status()));
}

TEST_CASE(
    "a symlink at DIR/.batch.lock or DIR/batch.log is refused: exit 2, one line, victim kept" *
    doctest::test_suite("cli")) {
  for (const std::string name : {".batch.lock", "batch.log"}) {
    CAPTURE(name);
    const Setup s = setup(fmt::format("link{}", name),
                          "[batch]\nname = \"links\"\n\n[[design]]\n"
                          "file = \"tiny_design.toml\"\nname = \"tiny\"\n");
    const fs::path victim = s.dir / "victim.txt";
    const std::string victim_text = "victim: must never change\n";
    write(victim, victim_text);
    fs::permissions(victim, fs::perms::owner_read | fs::perms::owner_write);
    fs::create_directories(s.out);
    fs::create_symlink(victim, s.out / name);
    const vpgen::testing::CliResult cli = vpgen::testing::run_vpgen_in(
        s.dir, fmt::format("batch {} --out {}", s.nightly.string(), s.out.string()));
    CHECK(cli.exit_code == 2);
    CHECK(std::count(cli.err.begin(), cli.err.end(), '\n') == 1);
    CHECK(cli.err.find((s.out / name).string()) != std::string::npos);
    CHECK(slurp(victim) == victim_text);
    CHECK_FALSE(fs::exists(s.out / "summary.json"));
  }
  // A hard link to a file elsewhere is refused as well (two names: not the batch's own file).
  const Setup s = setup("hardlink_lock",
                        "[batch]\nname = \"links\"\n\n[[design]]\n"
                        "file = \"tiny_design.toml\"\nname = \"tiny\"\n");
  const fs::path victim = s.dir / "victim.txt";
  write(victim, "victim\n");
  fs::create_directories(s.out);
  fs::create_hard_link(victim, s.out / ".batch.lock");
  const vpgen::testing::CliResult cli = vpgen::testing::run_vpgen_in(
      s.dir, fmt::format("batch {} --out {}", s.nightly.string(), s.out.string()));
  CHECK(cli.exit_code == 2);
  CHECK(slurp(victim) == "victim\n");
}

TEST_CASE("a symlink at DIR/results.db or its -wal, -shm or -journal is refused, victim kept" *
          doctest::test_suite("cli")) {
  for (const std::string name :
       {"results.db", "results.db-wal", "results.db-shm", "results.db-journal"}) {
    CAPTURE(name);
    const Setup s = setup(fmt::format("dblink{}", name),
                          "[batch]\nname = \"links\"\n\n[[design]]\n"
                          "file = \"tiny_design.toml\"\nname = \"tiny\"\n");
    const fs::path victim = s.dir / "victim.txt";
    const std::string victim_text = "victim: must never change\n";
    write(victim, victim_text);
    fs::permissions(victim, fs::perms::owner_read | fs::perms::owner_write);
    fs::create_directories(s.out);
    // results.db as a dangling link (SQLite would create the file it names), the others to the
    // victim (SQLite would truncate or write it).
    fs::create_symlink(name == "results.db" ? s.dir / "created_through_link.db" : victim,
                       s.out / name);
    const vpgen::testing::CliResult cli = vpgen::testing::run_vpgen_in(
        s.dir, fmt::format("batch {} --out {}", s.nightly.string(), s.out.string()));
    CHECK(cli.exit_code == 2);
    CHECK(std::count(cli.err.begin(), cli.err.end(), '\n') == 1);
    CHECK(cli.err.find((s.out / name).string()) != std::string::npos);
    CHECK(slurp(victim) == victim_text);
    CHECK_FALSE(fs::exists(s.dir / "created_through_link.db"));
    CHECK_FALSE(fs::exists(s.out / "summary.json"));
  }
}
