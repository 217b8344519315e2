// vpgen_size_bench: replicate trials per second of `vpgen size` in parametric mode against R
// rpact's getSimulationSurvival on the same design, measured side by side in one run, as JSON.
// The design: exponential survival (control median 12 months, hazard ratio 0.7), 1:1, even entry
// over 24 months (rpact's accrual), analysis at the D-th event, one-sided log-rank at 0.025, no
// dropout. vpgen is timed around simulate_point (alternative only, as rpact simulates one
// hypothesis per hazard ratio); rpact inside R with system.time around getSimulationSurvival
// alone, so R's start-up and package loading are not counted. Each program runs --repeats times and
// its fastest run counts (the least disturbed by other load on the machine); all runs are listed.
#include "vpgen/trial_design/trial_design.hpp"

#include "vpgen/engine/simulator.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Options {
  std::int64_t n = 400;
  std::int64_t events = 247;
  std::uint64_t replicates = 100000;
  std::uint64_t r_replicates = 10000;
  int repeats = 3;
  int threads = 0;
  std::uint64_t seed = 20240701;
};

std::string design_text(const Options& o) {
  return fmt::format(R"(
[design]
name = "vpgen_size_bench"
seed = {}
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
accrual_months = 24
entry = "even"
events = {}
dropout_probability_per_year = 0
[sample_size]
grid = [{}]
[replicates]
min = 1
max = 1
target_mcse = 0.01
batch = 1
[parametric]
control = {{ model = "exponential", median_months = 12 }}
experimental = {{ hazard_ratio = 0.7 }}
)",
                     o.seed, o.events, o.n);
}

// The same design in rpact 3.x: group 1 is the experimental arm, directionUpper = FALSE tests
// HR < 1; allocation 1:1 alternates arms over rpact's evenly spaced entry times.
constexpr const char* kRScript = R"(
args <- commandArgs(trailingOnly = TRUE)
n <- as.numeric(args[1]); events <- as.numeric(args[2]); iterations <- as.integer(args[3])
seed <- as.numeric(args[4]); repeats <- as.integer(args[5])
suppressPackageStartupMessages(library(rpact))
design <- getDesignGroupSequential(kMax = 1, alpha = 0.025, sided = 1)
run <- function(k) getSimulationSurvival(design = design, lambda2 = log(2) / 12,
  hazardRatio = 0.7, directionUpper = FALSE, plannedEvents = events, maxNumberOfSubjects = n,
  accrualTime = c(0, 24), dropoutRate1 = 0, dropoutRate2 = 0, maxNumberOfIterations = k,
  seed = seed)
invisible(run(10))  # warm-up: first-call costs of the package
elapsed <- sapply(seq_len(repeats), function(i) system.time(sim <<- run(iterations))[["elapsed"]])
cat(sprintf("%.17g %.17g %s %s\n", min(elapsed), sim$overallReject[1],
            as.character(packageVersion("rpact")), paste(elapsed, collapse = ",")))
)";

json run_rpact(const Options& o) {
  if (std::system("command -v Rscript >/dev/null 2>&1 && Rscript -e 'library(rpact)' "
                  ">/dev/null 2>&1") != 0)
    return json{{"skipped", "Rscript with rpact is not installed (Debian: r-cran-rpact)"}};
  const fs::path dir = fs::temp_directory_path() / fmt::format("vpgen_size_bench_{}", ::getpid());
  fs::create_directories(dir);
  const fs::path script = dir / "rpact_bench.R", out = dir / "out.txt";
  std::ofstream(script) << kRScript;
  const std::string command =
      fmt::format("Rscript {} {} {} {} {} {} > {} 2>&1", script.string(), o.n, o.events,
                  o.r_replicates, o.seed, o.repeats, out.string());
  const int status = std::system(command.c_str());
  std::stringstream text;
  text << std::ifstream(out).rdbuf();
  fs::remove_all(dir);
  if (status != 0) return json{{"error", text.str()}};
  double seconds = 0.0, power = 0.0;
  std::string version, runs;
  std::istringstream(text.str()) >> seconds >> power >> version >> runs;
  const double k = static_cast<double>(o.r_replicates);
  return json{{"replicates", o.r_replicates},
              {"seconds", seconds},
              {"replicates_per_second", k / seconds},
              {"power", power},
              {"power_mcse", std::sqrt(power * (1 - power) / k)},
              {"rpact_version", version},
              {"all_runs_seconds", runs},
              {"threads", 1}};
}

json run_vpgen(const vpgen::trial_design::Design& design, const Options& o, int threads) {
  vpgen::trial_design::PointResult p;
  double seconds = std::numeric_limits<double>::infinity();
  json runs = json::array();
  for (int k = 0; k < o.repeats; ++k) {
    const auto start = std::chrono::steady_clock::now();
    p = vpgen::trial_design::simulate_point(design, o.n, o.replicates, false, threads);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    runs.push_back(s);
    seconds = std::min(seconds, s);
  }
  return json{{"replicates", o.replicates},
              {"seconds", seconds},
              {"all_runs_seconds", runs},
              {"replicates_per_second", static_cast<double>(o.replicates) / seconds},
              {"power", p.power},
              {"power_mcse", p.power_mcse},
              {"threads", vpgen::resolve_threads(threads)}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vpgen_size_bench: vpgen size (parametric mode) against rpact, replicates/s"};
  Options o;
  app.add_option("--n", o.n, "Patients per trial")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{2}, std::int64_t{100000}));
  app.add_option("--events", o.events, "Events at the analysis")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100000}));
  app.add_option("--replicates", o.replicates, "vpgen replicate trials")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000'000}));
  app.add_option("--r-replicates", o.r_replicates, "rpact replicate trials")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{10}, std::uint64_t{10'000'000}));
  app.add_option("--threads", o.threads, "vpgen threads for the parallel figure (0 = all cores)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  app.add_option("--seed", o.seed, "Seed of both programs")->capture_default_str();
  app.add_option("--repeats", o.repeats, "Runs of each program; the fastest counts")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  CLI11_PARSE(app, argc, argv);
  if (o.events > o.n) {
    fmt::print(stderr, "vpgen_size_bench: --events must not exceed --n\n");
    return 2;
  }
  try {
    const vpgen::trial_design::Design design =
        vpgen::trial_design::read_design_text(design_text(o), "vpgen_size_bench design", ".");
    // The single-thread figure first, then all threads, then R: one process, one machine state.
    const json single = run_vpgen(design, o, 1);
    const json parallel = run_vpgen(design, o, o.threads);
    const json rpact = run_rpact(o);
    json out{{"design",
              {{"n", o.n},
               {"events", o.events},
               {"median_control_months", 12},
               {"hazard_ratio", 0.7},
               {"accrual_months", 24},
               {"entry", "even"},
               {"alpha_one_sided", 0.025},
               {"test", "logrank"}}},
             {"vpgen_1_thread", single},
             {"vpgen", parallel},
             {"rpact", rpact}};
    if (rpact.contains("replicates_per_second")) {
      const double r = rpact["replicates_per_second"].get<double>();
      out["ratio_1_thread"] = single["replicates_per_second"].get<double>() / r;
      out["ratio"] = parallel["replicates_per_second"].get<double>() / r;
      // Both estimate the same power: their difference in combined Monte Carlo SEs.
      const double diff = single["power"].get<double>() - rpact["power"].get<double>();
      const double se =
          std::hypot(single["power_mcse"].get<double>(), rpact["power_mcse"].get<double>());
      out["power_difference_in_mcse"] = diff / se;
    }
    fmt::print("{}\n", out.dump(2));
  } catch (const std::exception& e) {
    fmt::print(stderr, "vpgen_size_bench: {}\n", e.what());
    return 1;
  }
  return 0;
}
