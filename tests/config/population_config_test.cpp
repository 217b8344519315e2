#include "vpgen/config/population_loader.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

#include "vpgen/config/toml_reader.hpp"
#include "vpgen/population/error.hpp"
#include "vpgen/population/sampler.hpp"
#include "support/files.hpp"

namespace vpgen {
namespace {

using testing::line_of;

const std::string kPopulationPath = VPGEN_SOURCE_DIR "/configs/model/population.toml";

std::string file_text(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

PopulationParams read_population_text(const std::string& text, const std::string& file) {
  const toml::table doc = config::parse_file_text(text, file);
  config::TableReader root(doc, file, "");
  return config::read_population(root);
}

CohortSpec read_cohort_text(const std::string& text, const std::string& file = "scenario.toml") {
  const toml::table doc = config::parse_file_text(text, file);
  config::TableReader root(doc, file, "");
  config::TableReader cohort = root.table("cohort");
  return config::read_cohort(cohort);
}

template <typename Function>
std::string error_of(Function f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

TEST_CASE("configs/model/population.toml loads and samples every cancer type") {
  const PopulationParams params = config::load_population(kPopulationPath);
  CHECK(params.hot_threshold == 0.5);
  const auto& melanoma = params.types[static_cast<std::size_t>(CancerType::kMelanoma)];
  CHECK(melanoma.tmb_mut_per_mb.median == 13.5);
  // targets.csv CT0422-CT0425: melanoma TPS 0 / 1-4 / 5-49 / >= 50 = 46 / 10 / 30 / 14 %.
  CHECK(melanoma.pdl1.frac_zero == 0.46);
  CHECK(melanoma.pdl1.frac_50_100 == 0.14);
  CHECK(params.types[static_cast<std::size_t>(CancerType::kTnbc)].frac_female == 1.0);

  CohortSpec all;
  for (std::size_t t = 0; t < kCancerTypeCount; ++t)
    all.mix.emplace_back(static_cast<CancerType>(t), 1.0);
  const PopulationSampler sampler(params, all);
  CHECK(sampler.pilot_acceptance() == 1.0);
  std::array<int, kCancerTypeCount> seen{};
  for (std::uint64_t i = 0; i < 2000; ++i)
    ++seen[static_cast<std::size_t>(sampler.sample(1, i).cancer_type)];
  for (int count : seen) CHECK(count > 150);  // expected 250 each; SD ~ 15

  // The default scenario's cohort (first-line melanoma, ECOG 0-1) keeps most candidates:
  // P(line 1) x P(ECOG <= 1) = 0.65 x 0.95 = 0.62 before copula effects (none between them).
  CohortSpec first_line;
  first_line.mix = {{CancerType::kMelanoma, 1.0}};
  first_line.eligibility.max_ecog = 1;
  first_line.eligibility.lines_of_therapy = std::vector<int>{1};
  const PopulationSampler default_like(params, first_line);
  CHECK(default_like.pilot_acceptance() == doctest::Approx(0.65 * 0.95).epsilon(0.05));
}

TEST_CASE("load_population names a file it cannot open") {
  CHECK(error_of([] { config::load_population("/nonexistent/population.toml"); }) ==
        "/nonexistent/population.toml: cannot open the population parameter file");
}

TEST_CASE("population file errors name the file, the line and the key") {
  const std::string good = file_text(kPopulationPath);
  const std::string file = "pop_test.toml";
  const std::string sex_table = "[types.melanoma.sex]\nfrac_female = 0.35\n";

  SUBCASE("a missing key") {
    const std::string text = replaced(good, sex_table, "[types.melanoma.sex]\n");
    const int line = line_of(text, "[types.melanoma.sex]");
    CHECK(error_of([&] { read_population_text(text, file); }) ==
          fmt::format("{}:{}: key 'types.melanoma.sex.frac_female': missing required key", file,
                      line));
  }
  SUBCASE("a value of the wrong type") {
    const std::string text =
        replaced(good, sex_table, "[types.melanoma.sex]\nfrac_female = \"0.35\"\n");
    const int line = line_of(text, "frac_female = \"0.35\"");
    CHECK(error_of([&] { read_population_text(text, file); }) ==
          fmt::format(
              "{}:{}: key 'types.melanoma.sex.frac_female': expected a number, found a string",
              file, line));
  }
  SUBCASE("an unknown key") {
    const std::string text =
        replaced(good, sex_table, "[types.melanoma.sex]\nfrac_female = 0.35\nfrac_femal = 0.35\n");
    const int line = line_of(text, "frac_femal = 0.35");
    CHECK(error_of([&] { read_population_text(text, file); }) ==
          fmt::format("{}:{}: key 'types.melanoma.sex.frac_femal': unknown key", file, line));
  }
  SUBCASE("an unknown cancer type") {
    const std::string text = good + "\n[types.melanomaa.sex]\nfrac_female = 0.35\n";
    const std::string error = error_of([&] { read_population_text(text, file); });
    CHECK(error.find(fmt::format("{}:{}: key 'types.melanomaa': unknown key", file,
                                 line_of(text, "[types.melanomaa.sex]"))) == 0);
  }
  SUBCASE("a probability out of range") {
    const std::string text = replaced(good, "frac_elevated = 0.36", "frac_elevated = 1.36");
    const int line = line_of(text, "frac_elevated = 1.36");
    CHECK(error_of([&] { read_population_text(text, file); }) ==
          fmt::format("{}:{}: key 'types.melanoma.ldh.frac_elevated': 1.36 is out of range [0, 1]",
                      file, line));
  }
  SUBCASE("probabilities that do not sum to 1") {
    const std::string text =
        replaced(good, "probs = [0.69, 0.26, 0.05]", "probs = [0.69, 0.26, 0.06]");
    const int line = line_of(text, "probs = [0.69, 0.26, 0.06]");
    CHECK(error_of([&] { read_population_text(text, file); }) ==
          fmt::format("{}:{}: key 'types.melanoma.ecog.probs': probabilities sum to 1.01, not 1",
                      file, line));
  }
  SUBCASE("PD-L1 band fractions that do not sum to 1") {
    const std::string text = replaced(good, "frac_zero = 0.46", "frac_zero = 0.45");
    const std::string error = error_of([&] { read_population_text(text, file); });
    CHECK(error.find(fmt::format("{}:{}: key 'types.melanoma.pdl1': ", file,
                                 line_of(text, "[types.melanoma.pdl1]"))) == 0);
    CHECK(error.find("not 1") != std::string::npos);
  }
  SUBCASE("a parameter table without its source") {
    const std::string text = replaced(
        good,
        "source = \"CheckMate 067 (Larkin et al., NEJM 2015;373:23-34, Table 1): 64.9% male\"\n",
        "");
    CHECK(error_of([&] { read_population_text(text, file); }) ==
          fmt::format("{}:{}: key 'types.melanoma.sex.source': missing required key", file,
                      line_of(text, "[types.melanoma.sex]")));
  }
  SUBCASE("an empty source") {
    const std::string text = replaced(
        good,
        "source = \"CheckMate 067 (Larkin et al., NEJM 2015;373:23-34, Table 1): 64.9% male\"",
        "source = \" \"");
    const std::string error = error_of([&] { read_population_text(text, file); });
    CHECK(error.find(fmt::format("{}:{}: key 'types.melanoma.sex.source': must name the source",
                                 file, line_of(text, "source = \" \""))) == 0);
  }
  SUBCASE("a non-positive sigma") {
    const std::string text = replaced(good, "sigma_log = 1.2", "sigma_log = 0");
    CHECK(error_of([&] { read_population_text(text, file); }) ==
          fmt::format("{}:{}: key 'types.melanoma.tmb_mut_per_mb.sigma_log': 0 must be > 0", file,
                      line_of(text, "sigma_log = 0")));
  }
  SUBCASE("a correlation matrix that is not symmetric") {
    const std::string row = "  [0.08, 1.00, 0.25, 0.00, 0.00, 0.00, 0.00, 0.00,  0.00],  # pdl1";
    const std::string text =
        replaced(good, row, "  [0.09, 1.00, 0.25, 0.00, 0.00, 0.00, 0.00, 0.00,  0.00],  # pdl1");
    CHECK(
        error_of([&] { read_population_text(text, file); }) ==
        fmt::format("{}:{}: key 'correlation.matrix': not symmetric: [1][0] (pdl1, tmb) = 0.09 but "
                    "[0][1] = 0.08",
                    file, line_of(text, "[0.09, 1.00")));
  }
  SUBCASE("a correlation matrix that is not positive definite") {
    // memory: 0.95 with infiltration and -0.95 with pdl1, while pdl1-infiltration is +0.25.
    std::string text =
        replaced(good, "  [0.00, 0.00, 0.30, 1.00, 0.00, 0.00, 0.00, 0.00,  0.00],  # memory",
                 "  [0.00,-0.95, 0.95, 1.00, 0.00, 0.00, 0.00, 0.00,  0.00],  # memory");
    text = replaced(text, "  [0.08, 1.00, 0.25, 0.00,", "  [0.08, 1.00, 0.25,-0.95,");
    text = replaced(text, "  [0.05, 0.25, 1.00, 0.30,", "  [0.05, 0.25, 1.00, 0.95,");
    const std::string error = error_of([&] { read_population_text(text, file); });
    CHECK(error.find(
              fmt::format("{}:{}: key 'correlation.matrix': not positive definite: the Cholesky "
                          "pivot of row 3 (memory)",
                          file, line_of(text, "[0.00,-0.95, 0.95, 1.00"))) == 0);
  }
  SUBCASE("copula dimensions in another order") {
    const std::string text =
        replaced(good, "dims = [\"tmb\", \"pdl1\"", "dims = [\"pdl1\", \"tmb\"");
    const std::string error = error_of([&] { read_population_text(text, file); });
    CHECK(error.find(fmt::format("{}:{}: key 'correlation.dims': must be [\"tmb\", \"pdl1\"", file,
                                 line_of(text, "dims = ["))) == 0);
  }
}

TEST_CASE("read_cohort reads the mix in cancer-type order and every eligibility key") {
  const CohortSpec c = read_cohort_text(R"(
[cohort]
mix = { nsclc = 3, melanoma = 1.5 }
[cohort.eligibility]
min_pdl1_tps_percent = 50
max_pdl1_tps_percent = 100
min_tmb_mut_per_mb = 10
max_tmb_mut_per_mb = 400.5
max_ecog = 1
lines_of_therapy = [2, 3]
prior_anti_pd1 = false
hot = true
ldh_elevated = false
)");
  REQUIRE(c.mix.size() == 2);
  CHECK(c.mix[0] == std::pair{CancerType::kMelanoma, 1.5});
  CHECK(c.mix[1] == std::pair{CancerType::kNsclc, 3.0});
  const Eligibility& e = c.eligibility;
  CHECK(e.min_pdl1_tps_percent == 50.0);
  CHECK(e.max_pdl1_tps_percent == 100.0);
  CHECK(e.min_tmb_mut_per_mb == 10.0);
  CHECK(e.max_tmb_mut_per_mb == 400.5);
  CHECK(e.max_ecog == 1);
  CHECK(e.lines_of_therapy == std::vector<int>{2, 3});
  CHECK(e.prior_anti_pd1 == false);
  CHECK(e.hot == true);
  CHECK(e.ldh_elevated == false);
}

TEST_CASE("read_cohort leaves every restriction unset without an eligibility table") {
  const CohortSpec c = read_cohort_text("[cohort]\nmix = { tnbc = 1 }\n");
  REQUIRE(c.mix.size() == 1);
  CHECK(c.mix[0].first == CancerType::kTnbc);
  const Eligibility& e = c.eligibility;
  CHECK_FALSE(e.min_pdl1_tps_percent.has_value());
  CHECK_FALSE(e.max_ecog.has_value());
  CHECK_FALSE(e.lines_of_therapy.has_value());
  CHECK_FALSE(e.hot.has_value());
}

TEST_CASE("cohort errors name the file, the line and the key") {
  CHECK(error_of([] { read_cohort_text("[cohort]\nmix = { melanoma = 1.0, lung = 2 }\n"); }) ==
        "scenario.toml:2: key 'cohort.mix.lung': unknown cancer type; expected one of melanoma, "
        "nsclc, rcc, urothelial, head_neck, crc_msi_high, crc_mss, tnbc");
  CHECK(error_of([] { read_cohort_text("[cohort]\nmix = { melanoma = 0 }\n"); }) ==
        "scenario.toml:2: key 'cohort.mix.melanoma': weight 0 must be > 0");
  CHECK(error_of([] { read_cohort_text("[cohort]\nmix = {}\n"); }) ==
        "scenario.toml:2: key 'cohort.mix': names no cancer type; give at least one weight");
  CHECK(error_of([] { read_cohort_text("[cohort]\n"); }) ==
        "scenario.toml:1: key 'cohort.mix': missing required key");
  CHECK(error_of([] {
          read_cohort_text("[cohort]\nmix = { melanoma = 1 }\n[cohort.eligibility]\nmax_ecg = 1\n");
        }) == "scenario.toml:4: key 'cohort.eligibility.max_ecg': unknown key");
  CHECK(error_of([] {
          read_cohort_text(
              "[cohort]\nmix = { melanoma = 1 }\n[cohort.eligibility]\nmax_ecog = 3\n");
        }) == "scenario.toml:4: key 'cohort.eligibility.max_ecog': 3 is out of range [0, 2]");
  CHECK(error_of([] {
          read_cohort_text(
              "[cohort]\nmix = { melanoma = 1 }\n[cohort.eligibility]\n"
              "lines_of_therapy = [1,\n 4]\n");
        }) ==
        "scenario.toml:5: key 'cohort.eligibility.lines_of_therapy': lines are the integers "
        "1, 2 and 3 (3 = third or later)");
  CHECK(error_of([] {
          read_cohort_text(
              "[cohort]\nmix = { melanoma = 1 }\n[cohort.eligibility]\n"
              "min_pdl1_tps_percent = 50\nmax_pdl1_tps_percent = 10\n");
        }) ==
        "scenario.toml:5: key 'cohort.eligibility.max_pdl1_tps_percent': must not be below "
        "min_pdl1_tps_percent");
  CHECK(error_of([] { read_cohort_text("[cohort]\nmix = { melanoma = 1 }\nsize = 10\n"); }) ==
        "scenario.toml:3: key 'cohort.size': unknown key");
  CHECK(error_of([] {
          read_cohort_text("[cohort]\nmix = { melanoma = 1 }\n[cohort.eligibility]\nhot = 1\n");
        }) ==
        "scenario.toml:4: key 'cohort.eligibility.hot': expected true or false, found an integer");
}

}  // namespace
}  // namespace vpgen
