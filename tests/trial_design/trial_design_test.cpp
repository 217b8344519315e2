// `vpgen size`: the calculators reproduce published figures, the parametric replicate engine agrees
// with standard formulas and with R rpact within Monte Carlo error, Simon designs simulate to their
// exact characteristics, results do not depend on the thread count, bad design files fail with
// file:line:key and exit 2, and a mechanistic design runs end to end into the database.
#include "support/cli_runner.hpp"
#include "vpgen/storage/database.hpp"
#include "support/skip.hpp"
#include "vpgen/trial_design/trial_design.hpp"

#include <boost/math/distributions/normal.hpp>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;
namespace td = vpgen::trial_design;
using nlohmann::json;

using Result = vpgen::testing::CliResult;
using vpgen::testing::slurp;

fs::path temp_dir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / fmt::format("vpgen_size_test_{}", ::getpid());
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

Result run_vpgen(const std::string& args) { return vpgen::testing::run_vpgen_in(temp_dir(), args); }

fs::path write_file(const std::string& name, const std::string& text) {
  const fs::path p = temp_dir() / name;
  std::ofstream(p) << text;
  return p;
}

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, "test setup: '" << from << "' not in the design");
  return text.replace(at, from.size(), to);
}

int line_of(const std::string& text, const std::string& needle) {
  const auto at = text.find(needle);
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
}

double normal_cdf(double z) { return boost::math::cdf(boost::math::normal_distribution<>(), z); }
double normal_quantile(double p) {
  return boost::math::quantile(boost::math::normal_distribution<>(), p);
}

bool rpact_available() {
  return std::system(
             "command -v Rscript >/dev/null 2>&1 && Rscript -e 'library(rpact)' "
             ">/dev/null 2>&1") == 0;
}

// The parametric design checked against formulas and rpact: exponential OS, control median 12
// months, HR 0.7, 1:1, n = 400 entering evenly over 24 months (rpact's accrual), analysis at the
// 247th event (Schoenfeld's count for two-sided 0.05 and 80% power), one-sided alpha 0.025.
std::string exponential_design(int replicates, double dropout = 0.0) {
  return fmt::format(R"([design]
name = "exponential log-rank"
seed = 11
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
events = 247
dropout_probability_per_year = {}
[sample_size]
grid = [400]
[replicates]
min = {}
max = {}
target_mcse = 0.001
batch = {}
[parametric]
control = {{ model = "exponential", median_months = 12 }}
experimental = {{ hazard_ratio = 0.7 }}
)",
                     dropout, replicates, replicates, replicates);
}

td::Design parse(const std::string& text, const std::string& folder = ".") {
  return td::read_design_text(text, "test_design.toml", folder);
}

// A small mechanistic design on the default scenario (configs/default.toml).
std::string mechanistic_design(const std::string& extra = "") {
  return R"([design]
name = "small mechanistic"
seed = 3
mode = "mechanistic"
[scenario]
file = ")" +
         std::string(VPGEN_SOURCE_DIR) + R"(/configs/default.toml"
experimental_arm = "nivo+ipi"
control_arm = "ipi"
pool_patients = 400
enrichment = { pdl1_min_percent = 1 }
[endpoint]
kind = "pfs"
[analysis]
test = "logrank"
alpha = 0.025
sides = 1
target_power = 0.8
allocation_ratio = 1
[conduct]
accrual_rate_per_month = 10
entry = "random"
followup_months = 6
dropout_probability_per_year = 0.05
[sample_size]
grid = [20, 40, 80]
[replicates]
min = 200
max = 200
target_mcse = 0.01
batch = 100
)" + extra;
}

}  // namespace

TEST_CASE("the calculators give the issue's published figures through the command line" *
          doctest::test_suite("cli")) {
  // Schoenfeld: HR 0.7, two-sided alpha 0.05, 80% power -> 247 events.
  Result r = run_vpgen(
      "size --calc events --hr 0.7 --alpha 0.05 --sides 2 --power 0.8 "
      "--format json");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  json j = json::parse(r.out);
  CHECK(j["schoenfeld"]["required"] == 247);

  // Fleiss with continuity correction: 0.2 vs 0.4, two-sided 0.05, 80% power -> 91 per arm.
  r = run_vpgen(
      "size --calc proportions --p-control 0.2 --p-experimental 0.4 --alpha 0.05 "
      "--sides 2 --power 0.8 --format json");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  j = json::parse(r.out);
  CHECK(j["fleiss_cc"]["n_control"] == 91);
  CHECK(j["fleiss_cc"]["n_experimental"] == 91);

  // Simon (1989) Table 1, p0 = 0.10, p1 = 0.30, alpha = 0.05, beta = 0.20: optimal 1/10, 5/29,
  // EN(p0) 15.0, PET(p0) 0.74; minimax 1/15, 5/25, EN(p0) 19.5, PET(p0) 0.55.
  r = run_vpgen("size --calc simon --p0 0.1 --p1 0.3 --alpha 0.05 --power 0.8 --format json");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  j = json::parse(r.out);
  CHECK(j["optimal"]["r1"] == 1);
  CHECK(j["optimal"]["n1"] == 10);
  CHECK(j["optimal"]["r"] == 5);
  CHECK(j["optimal"]["n"] == 29);
  CHECK(j["optimal"]["expected_n_p0"].get<double>() == doctest::Approx(15.0).epsilon(0.005));
  CHECK(j["optimal"]["pet_p0"].get<double>() == doctest::Approx(0.74).epsilon(0.01));
  CHECK(j["minimax"]["n1"] == 15);
  CHECK(j["minimax"]["n"] == 25);
  CHECK(j["minimax"]["expected_n_p0"].get<double>() == doctest::Approx(19.5).epsilon(0.005));

  // Text output, and a calculator without its inputs is a usage error.
  r = run_vpgen("size --calc binomial --p0 0.2 --p1 0.4 --alpha 0.05 --power 0.8");
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("declare activity if more than") != std::string::npos);
  r = run_vpgen("size --calc simon --p0 0.1 --alpha 0.05 --power 0.8");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--p1") != std::string::npos);
  CHECK(run_vpgen("size").exit_code == 2);
}

TEST_CASE("parametric log-rank power agrees with Schoenfeld and the type I error with alpha" *
          doctest::test_suite("statistical")) {
  constexpr int kReplicates = 10000;
  const td::DesignResult result = td::run_design(parse(exponential_design(kReplicates)), {});
  REQUIRE(result.points.size() == 1);
  const td::PointResult& p = result.points[0];
  CHECK(p.replicates == kReplicates);
  CHECK(p.events.mean == 247.0);
  // Schoenfeld (1981) at D = 247, equal allocation (rpact's getPowerSurvival computes the same):
  // Phi(sqrt(D / 4) |ln 0.7| - z_{0.975}) = 0.8003.
  const double schoenfeld =
      normal_cdf(std::sqrt(247.0 / 4.0) * -std::log(0.7) - normal_quantile(0.975));
  CHECK(p.approximate_power == doctest::Approx(schoenfeld).epsilon(1e-12));
  // The simulated power is a binomial proportion over R independent replicates, so its Monte Carlo
  // SE is sqrt(p (1 - p) / R) (~0.004 here); if the true power equals the formula, the estimate
  // lies within 3 SE with probability 0.997. (Schoenfeld's own approximation error at 247 events
  // is a few thousandths, inside that band.)
  CHECK(std::abs(p.power - schoenfeld) <= 3.0 * p.power_mcse);
  // Under the null (both arms given the control model) the log-rank test keeps its level: the
  // rejection rate is binomial with SE sqrt(alpha (1 - alpha) / R) = 0.0016.
  const double type1_se = std::sqrt(0.025 * 0.975 / kReplicates);
  CHECK(std::abs(p.type1_error - 0.025) <= 3.0 * type1_se);
  // Event-driven: power does not depend on n, so the fit declines to solve for n*.
  CHECK_FALSE(result.fit.ok);
}

TEST_CASE(
    "parametric power and analysis time agree with rpact's getPowerSurvival and "
    "getSimulationSurvival" *
    doctest::test_suite("statistical external slow")) {
  if (!rpact_available()) {
    vpgen::testing::skip_test(
        "Rscript with the rpact package is not installed (Debian: "
        "r-cran-rpact; ./tools/setup.sh test installs it)");
    return;
  }
  constexpr int kReplicates = 10000, kRpactIterations = 4000;
  constexpr double kDropout = 0.05;  // P(drop out within 12 months): rpact's dropoutRate
  const td::DesignResult result =
      td::run_design(parse(exponential_design(kReplicates, kDropout)), {});
  const td::PointResult& p = result.points[0];
  const fs::path out = temp_dir() / "rpact.txt";
  const std::string command =
      fmt::format("Rscript {} 400 247 24 12 0.7 0.025 {} 20240701 {} > {} 2>&1",
                  VPGEN_SOURCE_DIR "/tests/trial_design/data/rpact_survival.R", kRpactIterations,
                  kDropout, out.string());
  REQUIRE_MESSAGE(std::system(command.c_str()) == 0, slurp(out));
  std::istringstream lines(slurp(out));
  std::string label_a, label_s;
  double analytic = 0, analytic_time = 0, simulated = 0, simulated_time = 0;
  lines >> label_a >> analytic >> analytic_time >> label_s >> simulated >> simulated_time;
  REQUIRE(label_a == "analytic");
  REQUIRE(label_s == "simulated");
  CAPTURE(p.power);
  CAPTURE(analytic);
  CAPTURE(simulated);
  // Against getPowerSurvival (a formula): within 3 Monte Carlo SEs of vpgen's estimate.
  CHECK(std::abs(p.power - analytic) <= 3.0 * p.power_mcse);
  // Against getSimulationSurvival: two independent binomial estimates of the same power, so the
  // SE of their difference is sqrt(SE_vpgen^2 + SE_rpact^2), SE_rpact = sqrt(q (1 - q) / 4000).
  const double rpact_se = std::sqrt(simulated * (1 - simulated) / kRpactIterations);
  CHECK(std::abs(p.power - simulated) <= 3.0 * std::hypot(p.power_mcse, rpact_se));
  // The mean calendar time of the 247th event (with rpact's even entry, alternating arms and
  // exponential dropout): rpact reports the mean only, so its SE is taken as vpgen's scaled to
  // its iteration count (the same distribution), SE_rpact = SE_vpgen sqrt(R_vpgen / R_rpact).
  CAPTURE(p.duration_months.mean);
  CAPTURE(simulated_time);
  const double time_se =
      p.duration_months.se * std::sqrt(1.0 + static_cast<double>(kReplicates) / kRpactIterations);
  CHECK(std::abs(p.duration_months.mean - simulated_time) <= 3.0 * time_se);
}

TEST_CASE("a Simon design simulates to its exact PET, EN, alpha and power" *
          doctest::test_suite("statistical")) {
  constexpr int kReplicates = 20000;
  const std::string text = R"([design]
name = "simon"
seed = 5
mode = "parametric"
[endpoint]
kind = "orr"
[analysis]
test = "simon"
alpha = 0.05
sides = 1
target_power = 0.8
p0 = 0.1
p1 = 0.3
simon = "optimal"
[conduct]
accrual_rate_per_month = 4
followup_months = 6
[replicates]
min = 20000
max = 20000
target_mcse = 0.01
batch = 5000
[parametric]
p_experimental = 0.3
)";
  const td::DesignResult r = td::run_design(parse(text), {});
  REQUIRE(r.simon);
  const td::SimonSummary& s = *r.simon;
  CHECK(s.n1 == 10);
  CHECK(s.n == 29);
  REQUIRE(r.points.size() == 1);
  const td::PointResult& p = r.points[0];
  CHECK(p.replicates == kReplicates);
  // Each simulated probability is binomial over R replicates, SE = sqrt(q (1 - q) / R); each mean
  // sample size carries its own SE (sd / sqrt(R)). Exact values from the binomial sums.
  auto within = [&](double simulated, double exact, double se) {
    CAPTURE(simulated);
    CAPTURE(exact);
    CHECK(std::abs(simulated - exact) <= 3.0 * se);
  };
  auto se = [&](double q) { return std::sqrt(q * (1 - q) / kReplicates); };
  within(p.pet_p0, s.pet_p0, se(s.pet_p0));
  within(p.expected_n_p0.mean, s.expected_n_p0, p.expected_n_p0.se);
  within(p.type1_error, s.alpha_actual, se(s.alpha_actual));
  within(p.pet, s.pet_at_true, se(s.pet_at_true));
  within(p.expected_n.mean, s.expected_n_at_true, p.expected_n.se);
  within(p.power, s.reject_at_true, se(s.reject_at_true));
  CHECK(s.reject_at_true == doctest::Approx(s.power_actual));  // true rate = p1 here
}

TEST_CASE("the same design and seed give identical JSON at 1 and 2 threads") {
  // Parametric: MaxCombo on a delayed effect with random entry and dropout.
  const std::string parametric = R"([design]
name = "delayed"
seed = 9
mode = "parametric"
[endpoint]
kind = "os"
[analysis]
test = "maxcombo"
alpha = 0.025
sides = 1
target_power = 0.8
allocation_ratio = 2
[conduct]
accrual_rate_per_month = 20
entry = "random"
followup_months = 12
dropout_probability_per_year = 0.1
[sample_size]
grid = [100, 200]
[replicates]
min = 300
max = 600
target_mcse = 0.02
batch = 150
[parametric]
control = { model = "piecewise_exponential", breaks_months = [6], hazards_per_month = [0.06, 0.04] }
experimental = { hazard_ratio = 0.6, delay_months = 3 }
)";
  for (const std::string& text : {parametric, mechanistic_design()}) {
    const td::Design d = parse(text);
    td::RunOptions one, two;
    one.threads = 1;
    two.threads = 2;
    const std::string a = td::result_json(td::run_design(d, one)).dump();
    const std::string b = td::result_json(td::run_design(d, two)).dump();
    CHECK(a == b);
  }
}

TEST_CASE("replicates continue in batches until the requested MCSE, within min and max") {
  std::string text = exponential_design(1);
  text = replace_once(text, "min = 1\nmax = 1\ntarget_mcse = 0.001\nbatch = 1",
                      "min = 500\nmax = 50000\ntarget_mcse = 0.01\nbatch = 250");
  const td::DesignResult r = td::run_design(parse(text), {});
  const td::PointResult& p = r.points[0];
  // Power ~0.8 needs R >= 0.16 / 0.01^2 = 1600 for an MCSE of 0.01, so the run stops at a batch
  // boundary between 1600 and 50000; one batch earlier the MCSE was still above the target.
  CHECK(p.replicates >= 1500);
  CHECK(p.replicates < 50000);
  CHECK((p.replicates - 500) % 250 == 0);
  CHECK(p.power_mcse <= 0.01);
  CHECK(p.type1_mcse <= 0.01);
}

TEST_CASE("the power fit recovers a known probit curve and its n*") {
  // Exact expected counts from probit(power) = -1.96 + 0.1 sqrt(n): n* for 80% power is
  // ((z_0.8 + 1.96) / 0.1)^2 = 785.0.
  std::vector<td::FitPoint> points;
  for (const double n : {300.0, 500.0, 700.0, 900.0, 1100.0}) {
    const double power = normal_cdf(-1.96 + 0.1 * std::sqrt(n));
    const std::uint64_t trials = 1'000'000;
    points.push_back({n, static_cast<std::uint64_t>(std::llround(power * 1e6)), trials});
  }
  const td::PowerFit fit = td::fit_power_curve(points, 0.8);
  REQUIRE(fit.ok);
  const double expected = std::pow((normal_quantile(0.8) + 1.96) / 0.1, 2);
  CHECK(fit.n_star == doctest::Approx(expected).epsilon(1e-3));
  CHECK(fit.n_low < fit.n_star);
  CHECK(fit.n_high > fit.n_star);
  CHECK(fit.n_high - fit.n_low < 5.0);  // a million replicates per point: a narrow interval
  CHECK(fit.deviance < 1.0);
  // One point, or a flat curve, gives no n*.
  CHECK_FALSE(td::fit_power_curve({points[0]}, 0.8).ok);
  CHECK_FALSE(td::fit_power_curve({{100, 500, 1000}, {200, 501, 1000}, {300, 499, 1000}}, 0.8).ok);
}

TEST_CASE("survival models invert their cumulative hazard and have the stated medians and RMST") {
  const td::SurvivalModel exponential = td::SurvivalModel::exponential(std::log(2.0) / 12.0);
  CHECK(exponential.median_months() == doctest::Approx(12.0));
  const double lambda = std::log(2.0) / 12.0;
  CHECK(exponential.rmst(24.0) == doctest::Approx((1 - std::exp(-lambda * 24.0)) / lambda));
  const td::SurvivalModel piecewise = td::SurvivalModel::piecewise({3.0, 9.0}, {0.0, 0.1, 0.05});
  CHECK(piecewise.cumulative_hazard(2.0) == 0.0);
  CHECK(piecewise.cumulative_hazard(10.0) == doctest::Approx(0.6 + 0.05));
  const td::SurvivalModel cure = td::SurvivalModel::mixture_cure(0.3, 0.1);
  CHECK(cure.survival(1e6) == doctest::Approx(0.3));
  CHECK(std::isinf(cure.inverse_cumulative_hazard(-std::log(0.3) + 1e-9)));
  const td::SurvivalModel delayed = exponential.with_hazard_ratio(0.5, 4.0);
  CHECK(delayed.cumulative_hazard(4.0) == doctest::Approx(lambda * 4.0));
  CHECK(delayed.cumulative_hazard(10.0) == doctest::Approx(lambda * 4.0 + 0.5 * lambda * 6.0));
  CHECK(std::isnan(delayed.constant_hazard_ratio_to(exponential)));
  CHECK(exponential.with_hazard_ratio(0.7, 0.0).constant_hazard_ratio_to(exponential) ==
        doctest::Approx(0.7));
  for (const td::SurvivalModel* m : {&exponential, &piecewise, &cure, &delayed})
    for (const double h : {0.01, 0.3, 0.9})
      CHECK(m->cumulative_hazard(m->inverse_cumulative_hazard(h)) == doctest::Approx(h));
}

TEST_CASE("a bad design file fails with file:line:key and exit code 2" *
          doctest::test_suite("cli")) {
  const std::string good = exponential_design(100);
  struct Case {
    const char* label;
    std::string text;
    std::string key;
    int line;
  };
  const std::vector<Case> cases = {
      {"misspelt key", replace_once(good, "alpha = 0.025", "alphaa = 0.025"), "analysis.alphaa",
       line_of(good, "alpha = 0.025")},
      {"alpha out of range", replace_once(good, "alpha = 0.025", "alpha = 0.7"), "analysis.alpha",
       line_of(good, "alpha = 0.025")},
      {"test for another endpoint", replace_once(good, "test = \"logrank\"", "test = \"fisher\""),
       "analysis.test", line_of(good, "test = \"logrank\"")},
      {"grid below the events", replace_once(good, "grid = [400]", "grid = [200]"),
       "sample_size.grid", line_of(good, "grid = [400]")},
      {"grid not increasing", replace_once(good, "grid = [400]", "grid = [400, 300]"),
       "sample_size.grid", line_of(good, "grid = [400]")},
      {"unknown model", replace_once(good, "model = \"exponential\"", "model = \"weibull\""),
       "parametric.control.model", line_of(good, "model = \"exponential\"")},
      {"two analysis times",
       replace_once(good, "events = 247", "events = 247\nfollowup_months = 3"),
       "conduct.followup_months", line_of(good, "events = 247") + 1},
      {"scenario key in parametric mode", good + "[scenario]\nfile = \"x.toml\"\n", "scenario",
       line_of(good + "[scenario]", "[scenario]")},
  };
  for (const Case& c : cases) {
    const std::string label = c.label;
    CAPTURE(label);
    const fs::path file = write_file("bad.toml", c.text);
    const Result r = run_vpgen(
        fmt::format("size {} --db {}", file.string(), (temp_dir() / "never.db").string()));
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(r.err.find(fmt::format("{}:{}:", file.string(), c.line)) != std::string::npos,
                  r.err);
    CHECK_MESSAGE(r.err.find(c.key) != std::string::npos, r.err);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_FALSE(fs::exists(temp_dir() / "never.db"));
  }
  // An arm the scenario does not have (mechanistic mode).
  const std::string text = mechanistic_design();
  const fs::path file = write_file(
      "bad_arm.toml", replace_once(text, "control_arm = \"ipi\"", "control_arm = \"chemo\""));
  const Result r = run_vpgen("size " + file.string());
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(fmt::format("{}:{}: key 'scenario.control_arm'", file.string(),
                               line_of(text, "control_arm"))) != std::string::npos);
}

TEST_CASE("a mechanistic design with an enrichment sweep runs end to end into the database" *
          doctest::test_suite("cli")) {
  const std::string text = mechanistic_design(
      "[enrichment_sweep]\ntmb_cutoffs_mut_per_mb = [0, 10]\npdl1_cutoffs_percent = [1]\n");
  const fs::path file = write_file("mechanistic.toml", text);
  const fs::path db = temp_dir() / "designs.db";
  fs::remove(db);
  const Result r =
      run_vpgen(fmt::format("size {} --format json --db {} --quiet", file.string(), db.string()));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const json j = json::parse(r.out);
  REQUIRE(j["points"].size() == 3);
  for (const json& p : j["points"]) {
    CHECK(p["replicates"] == 200);
    CHECK(p["power"]["estimate"].get<double>() >= 0.0);
    CHECK(p["type1_error"]["estimate"].get<double>() <= 0.2);
    CHECK(p["events"]["mean"].get<double>() > 0.0);
  }
  // Power grows with n on this strong effect (nivo+ipi against ipi on PFS).
  CHECK(j["points"][2]["power"]["estimate"] > j["points"][0]["power"]["estimate"]);
  CHECK(j["pool"]["patients"] == 400);
  CHECK(j["pool"]["meeting_enrichment"].get<int>() < 400);
  CHECK(j["pool"]["arms"].size() == 2);
  REQUIRE(j["enrichment_sweep"].size() == 2);
  const json& all = j["enrichment_sweep"][0];
  const json& high = j["enrichment_sweep"][1];
  CHECK(high["prevalence"].get<double>() < all["prevalence"].get<double>());

  vpgen::sql::Database handle(db.string(), vpgen::sql::OpenMode::kReadOnly);
  auto scalar = [&](const char* sql) {
    vpgen::sql::Statement stmt(handle, sql);
    REQUIRE(stmt.step());
    return stmt.column_is_null(0) ? 0.0 : stmt.column_real(0);  // NULL as 0, as SQLite reads it
  };
  CHECK(scalar("SELECT count(*) FROM designs WHERE mode = 'mechanistic'") == 1);
  CHECK(scalar("SELECT count(*) FROM design_points") == 3);
  CHECK(scalar("SELECT replicates FROM design_points WHERE n_total = 40") == 200);
  CHECK(scalar("SELECT power FROM design_points WHERE n_total = 80") ==
        j["points"][2]["power"]["estimate"].get<double>());
  CHECK(scalar("SELECT count(*) FROM designs WHERE design_text LIKE '%[scenario]%'"
               " AND design_text LIKE '%[[arms]]%'") == 1);
}

TEST_CASE("every example design in configs/designs loads") {
  int loaded = 0;
  for (const auto& entry : fs::directory_iterator(VPGEN_SOURCE_DIR "/configs/designs")) {
    if (entry.path().extension() != ".toml") continue;
    CAPTURE(entry.path().string());
    const td::Design d = td::read_design(entry.path().string());
    CHECK_FALSE(d.name.empty());
    ++loaded;
  }
  CHECK(loaded >= 5);
}

TEST_CASE(
    "an event-driven analysis that cured patients keep from its event count stops at the "
    "last event") {
  // Half the control patients are cured (never die); the experimental arm, hazard ratio 0.7 on
  // this model's cumulative hazard, keeps 0.5^0.7 = 62% alive for ever. About 44 of 100 patients
  // can die, so 60 deaths (P(Binomial(100, ~0.44) >= 60) < 0.001) are essentially never reached:
  // every death there is counted, at the last one, and the analysis time stays finite.
  std::string text = exponential_design(400);
  text = replace_once(text, "events = 247", "events = 60");
  text = replace_once(text, "grid = [400]", "grid = [100]");
  text = replace_once(text, "control = { model = \"exponential\", median_months = 12 }",
                      "control = { model = \"mixture_cure\", cure_fraction = 0.5, "
                      "median_months_uncured = 12 }");
  const td::DesignResult r = td::run_design(parse(text), {});
  const td::PointResult& p = r.points[0];
  CHECK(p.events_not_reached > 0.99);
  CHECK(std::isfinite(p.duration_months.mean));
  // Mean deaths = expected uncured, 50 * 0.5 + 50 * (1 - 0.5^0.7) = 44.2; the SE of the mean over
  // 400 replicates is sqrt(100 * 0.44 * 0.56 / 400) = 0.25, the tolerance (1.3) about 5 SE.
  CHECK(p.events.mean == doctest::Approx(44.2).epsilon(0.03));
}
