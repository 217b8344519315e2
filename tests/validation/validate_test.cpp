// `vpgen validate`: the CSV reader, published figures ("NR", ">x", CI levels), the tolerance rule,
// endpoints on hand-built cohorts (subgroups, hazard-ratio direction, conditional survival, the
// TMB slope), mapping errors that name file, line and key, the JSON shape, and determinism.
#include "vpgen/validation/validate.hpp"

#include "vpgen/population/error.hpp"
#include "support/files.hpp"

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
#include <tuple>

namespace {

namespace fs = std::filesystem;
namespace v = vpgen::validation;
using vpgen::Interval;
using vpgen::testing::line_of;
using vpgen::testing::slurp;

const std::string kData = VPGEN_SOURCE_DIR "/tests/validation/data/";
const std::string kTestMapping = kData + "validate_mapping.toml";
constexpr double kInf = std::numeric_limits<double>::infinity();

fs::path temp_dir() {
  static const fs::path dir = [] {
    fs::path d = vpgen::testing::test_dir("validate_test");
    fs::copy_file(kData + "targets.csv", d / "targets.csv", fs::copy_options::overwrite_existing);
    return d;
  }();
  return dir;
}

// One [[target]] table on the default scenario (absolute path), with `extra` lines appended.
std::string target_table(const std::string& id, const std::string& endpoint,
                         const std::string& extra = "") {
  return fmt::format(
      "[[target]]\nid = \"{}\"\nscenario = \"{}\"\narm = \"nivo+ipi\"\nsubgroup = \"all\"\n"
      "endpoint = \"{}\"\nrole = \"fit\"\ntolerance = \"default\"\n{}",
      id, VPGEN_SOURCE_DIR "/configs/default.toml", endpoint, extra);
}

fs::path write_mapping(const std::string& text) {
  const fs::path p = temp_dir() / "mapping.toml";
  std::ofstream(p) << text;
  return p;
}

// The message load_mapping throws for `text`, or "" if it loads.
std::string mapping_error(const std::string& text) {
  try {
    v::load_mapping(write_mapping(text).string());
  } catch (const vpgen::InputError& e) {
    return e.what();
  }
  return "";
}

v::PublishedValue published(const std::string& estimate, const std::string& low = "",
                            const std::string& high = "", const std::string& notes = "") {
  return v::parse_published(estimate, low, high, notes, "test");
}

v::EndpointEstimate simulated(double value) {
  v::EndpointEstimate e;
  e.value = {value, value, value};
  e.n = 100;
  return e;
}

v::EndpointEstimate not_reached() {
  v::EndpointEstimate e;
  e.n = 100;
  e.not_reached = true;
  return e;
}

bool within(v::Scale scale, const v::PublishedValue& p, const v::EndpointEstimate& s,
            v::ToleranceMode mode = v::ToleranceMode::kDefault, double horizon = 120.0) {
  return v::decide(scale, p, mode, s, horizon).within;
}

vpgen::Outcome outcome(vpgen::Response response, double os_months, bool os_event,
                       double pfs_months = 1.0, bool pfs_event = true) {
  vpgen::Outcome o;
  o.best_response = response;
  o.os_months = os_months;
  o.os_event = os_event;
  o.pfs_months = pfs_months;
  o.pfs_event = pfs_event;
  return o;
}

}  // namespace

TEST_CASE("parse_csv reads quoted fields holding commas, quotes and line breaks") {
  const std::string text =
      "\xEF\xBB\xBFid,source,notes\r\n"
      "A1,\"CheckMate 067 | Larkin et al., NEJM 2015\",plain\r\n"
      "\n"
      "A2,\"says \"\"hi\"\", twice\",\"two\nlines\"\n"
      "A3,,\"\"";
  const std::vector<v::CsvRecord> records = v::parse_csv(text, "t.csv");
  REQUIRE(records.size() == 4);
  CHECK(records[0].fields == std::vector<std::string>{"id", "source", "notes"});
  CHECK(records[1].line == 2);
  CHECK(records[1].fields[1] == "CheckMate 067 | Larkin et al., NEJM 2015");
  CHECK(records[1].fields[2] == "plain");
  CHECK(records[2].line == 4);
  CHECK(records[2].fields[1] == "says \"hi\", twice");
  CHECK(records[2].fields[2] == "two\nlines");
  CHECK(records[3].line == 6);
  CHECK(records[3].fields == std::vector<std::string>{"A3", "", ""});
}

TEST_CASE("parse_csv rejects stray and unterminated quotes, naming file and line") {
  CHECK_THROWS_WITH_AS(v::parse_csv("a,b\nx,y\"z\n", "t.csv"),
                       doctest::Contains("t.csv:2: a quote inside unquoted field 2"),
                       vpgen::InputError);
  CHECK_THROWS_WITH_AS(v::parse_csv("a,b\nx,\"y\"z\n", "t.csv"),
                       doctest::Contains("t.csv:2: text after the closing quote of field 2"),
                       vpgen::InputError);
  CHECK_THROWS_WITH_AS(v::parse_csv("a,b\n\nx,\"y,\nz\n", "t.csv"),
                       doctest::Contains("t.csv:3: quoted field 2 is never closed"),
                       vpgen::InputError);
}

TEST_CASE("published figures: numbers, NR and >x lower bounds, CI levels and ranges") {
  const v::PublishedValue point = published("58", "53", "64", "min FU 48 mo; 95% CI");
  CHECK(point.value == 58.0);
  CHECK_FALSE(point.lower_bound);
  CHECK(point.ci_low == 53.0);
  CHECK(point.ci_high == 64.0);
  CHECK(point.interval_kind == "95% CI");
  CHECK(point.ci_text == "[53, 64]");

  CHECK(published("0.42", "0.31", "0.57", "99.5% CI").interval_kind == "99.5% CI");
  CHECK(published("", "49", "54", "range of point estimates (NOT a CI)").interval_kind ==
        "range (not a CI)");
  CHECK(published("12.3", "10.1", "12.8", "range across populations (not CI)").interval_kind ==
        "range (not a CI)");
  CHECK_FALSE(published("52").has_interval());

  const v::PublishedValue nr = published("NR", "38.2", "NR");
  CHECK(nr.lower_bound);
  CHECK(std::isnan(nr.value));
  CHECK(nr.ci_low == 38.2);
  CHECK(nr.ci_high == kInf);
  const v::PublishedValue bound = published(">60.0 (NR)");
  CHECK(bound.lower_bound);
  CHECK(bound.value == 60.0);
  CHECK(published(">120").value == 120.0);

  CHECK_THROWS_WITH_AS(published("about 5"), doctest::Contains("test: estimate 'about 5'"),
                       vpgen::InputError);
  CHECK_THROWS_AS(published("5", "4", ""), vpgen::InputError);
  CHECK_THROWS_AS(published("5", "6", "4"), vpgen::InputError);
  CHECK_THROWS_AS(published(""), vpgen::InputError);
}

TEST_CASE("tolerance for rates: inside the published CI, or within 5 points of the estimate") {
  const auto rate = v::Scale::kRatePercent;
  const v::PublishedValue narrow = published("58", "56", "60");
  CHECK(within(rate, narrow, simulated(59.0)));
  CHECK(within(rate, narrow, simulated(62.5)));  // outside the CI, inside +-5 points
  CHECK_FALSE(within(rate, narrow, simulated(63.5)));
  CHECK_FALSE(within(rate, narrow, simulated(52.5)));
  // ci_only keeps the CI alone.
  CHECK_FALSE(within(rate, narrow, simulated(62.5), v::ToleranceMode::kCiOnly));
  CHECK(within(rate, narrow, simulated(56.0), v::ToleranceMode::kCiOnly));
  // A wide CI accepts beyond the 5 points.
  const v::PublishedValue wide = published("25.2", "5.0", "53.1");
  CHECK(within(rate, wide, simulated(50.0)));
  // No CI: +-5 points only.
  const v::PublishedValue bare = published("52");
  CHECK(within(rate, bare, simulated(56.9)));
  CHECK_FALSE(within(rate, bare, simulated(57.1)));
  CHECK_FALSE(within(rate, bare, simulated(46.9)));
  const v::Verdict verdict =
      v::decide(rate, narrow, v::ToleranceMode::kDefault, simulated(59), 120);
  CHECK(verdict.rule == "inside the published 95% CI [56, 60] or within 5 points of 58");
  // A range that is not a CI, with no point: inside the range or within 5 points of it.
  const v::PublishedValue range = published("", "49", "54", "NOT a CI");
  CHECK(within(rate, range, simulated(58.5)));
  CHECK_FALSE(within(rate, range, simulated(59.5)));
  // A simulated value that cannot be estimated (e.g. a landmark beyond follow-up) is a miss.
  CHECK_FALSE(within(rate, wide, simulated(std::nan(""))));
}

TEST_CASE("tolerance for medians and hazard ratios: 20% relative, other CI levels as given") {
  const auto hr = v::Scale::kHazardRatio;
  const v::PublishedValue bare = published("0.5");
  CHECK(within(hr, bare, simulated(0.41)));
  CHECK(within(hr, bare, simulated(0.59)));
  CHECK_FALSE(within(hr, bare, simulated(0.39)));
  CHECK_FALSE(within(hr, bare, simulated(0.61)));
  const v::PublishedValue ci995 = published("0.42", "0.31", "0.57", "99.5% CI");
  CHECK(within(hr, ci995, simulated(0.56)));  // beyond 20% (0.504) but inside the 99.5% CI
  CHECK_FALSE(within(hr, ci995, simulated(0.58)));
  const v::Verdict verdict = v::decide(hr, ci995, v::ToleranceMode::kDefault, simulated(0.5), 120);
  CHECK(verdict.rule ==
        "inside the published 99.5% CI [0.31, 0.57] (used as given) or within 20% of 0.42");
  const auto median = v::Scale::kMedianMonths;
  CHECK(within(median, published("11.5"), simulated(13.7)));
  CHECK_FALSE(within(median, published("11.5"), simulated(13.9)));
}

TEST_CASE(
    "a published NR or >x median is a lower bound, and a simulated NR lies past the horizon") {
  const auto median = v::Scale::kMedianMonths;
  const v::PublishedValue above60 = published(">60.0 (NR)");
  CHECK(within(median, above60, simulated(61.0)));
  CHECK(within(median, above60, simulated(49.0)));  // >= 48 = 60 less 20%
  CHECK_FALSE(within(median, above60, simulated(47.0)));
  CHECK(within(median, above60, not_reached()));
  CHECK_FALSE(within(median, above60, simulated(59.0), v::ToleranceMode::kCiOnly));
  CHECK(within(median, above60, simulated(60.5), v::ToleranceMode::kCiOnly));
  // A bare NR is a lower bound at the scenario's horizon.
  const v::PublishedValue nr = published("NR");
  CHECK(within(median, nr, not_reached()));
  CHECK(within(median, nr, simulated(100.0), v::ToleranceMode::kDefault, 120.0));
  CHECK_FALSE(within(median, nr, simulated(90.0), v::ToleranceMode::kDefault, 120.0));
  // NR with a CI [38.2, NR]: anything above 38.2 is consistent.
  const v::PublishedValue nr_ci = published("NR", "38.2", "NR");
  CHECK(within(median, nr_ci, simulated(40.0)));
  CHECK_FALSE(within(median, nr_ci, simulated(30.0)));
  // A published number: a simulated NR (beyond the 120-month horizon) is a miss unless the
  // published interval reaches past the horizon.
  CHECK_FALSE(within(median, published("36.9"), not_reached()));
  CHECK(within(median, published("36.9", "28.3", "NR"), not_reached()));
  CHECK_FALSE(within(median, published("36.9", "28.3", "58.7"), not_reached()));
}

TEST_CASE("endpoints on a hand-built cohort: rates, subgroups and CR durability") {
  // Four patients, two arms. PD-L1 0, 3, 10, 60 %; arm 0 responses CR, PR, SD, CR (the last
  // durable); arm 1 all PD.
  v::Cohort cohort(2);
  const double pdl1[] = {0.0, 3.0, 10.0, 60.0};
  const vpgen::Response responses[] = {vpgen::Response::kCR, vpgen::Response::kPR,
                                       vpgen::Response::kSD, vpgen::Response::kCR};
  for (int i = 0; i < 4; ++i) {
    vpgen::Patient p;
    p.index = static_cast<std::uint64_t>(i);
    p.pdl1_tps_percent = pdl1[i];
    p.ldh_elevated = i % 2 == 1;
    vpgen::Outcome a = outcome(responses[i], 10.0 + i, true);
    a.durable_cr = i == 3;
    if (i == 0 || i == 1 || i == 3) {  // responses: patient 0's ends at 20 months, 3's goes on
      a.duration_of_response_months = i == 3 ? 40.0 : 20.0;
      a.dor_event = i != 3;
    }
    a.worst_irae_grade = i;  // 0, 1, 2, 3
    a.worst_ae_grade = i == 0 ? 4 : 0;
    cohort.add(p, {a, outcome(vpgen::Response::kPD, 5.0, true)});
  }
  auto estimate = [&](v::Endpoint e, v::Subgroup s, std::size_t arm = 0) {
    v::EndpointSpec spec;
    spec.endpoint = e;
    spec.subgroup = s;
    spec.arm_index = arm;
    return v::estimate_endpoint(cohort, spec);
  };
  const v::EndpointEstimate orr = estimate(v::Endpoint::kOrr, v::Subgroup::kAll);
  CHECK(orr.n == 4);
  const Interval cp = vpgen::clopper_pearson(3, 4);
  CHECK(orr.value.estimate == doctest::Approx(75.0));
  CHECK(orr.value.low == doctest::Approx(100.0 * cp.low));
  CHECK(orr.value.high == doctest::Approx(100.0 * cp.high));
  CHECK(estimate(v::Endpoint::kOrr, v::Subgroup::kAll, 1).value.estimate == 0.0);
  CHECK(estimate(v::Endpoint::kCrRate, v::Subgroup::kAll).value.estimate == doctest::Approx(50.0));
  // PD-L1 bands: < 1 {0}; >= 1 {3, 10, 60}; 1-49 {3, 10}; >= 50 {60}; < 5 {0, 3}; >= 5 {10, 60}.
  CHECK(estimate(v::Endpoint::kOrr, v::Subgroup::kPdl1Lt1).n == 1);
  CHECK(estimate(v::Endpoint::kOrr, v::Subgroup::kPdl1Ge1).value.estimate ==
        doctest::Approx(200.0 / 3.0));
  CHECK(estimate(v::Endpoint::kOrr, v::Subgroup::kPdl1From1To49).value.estimate ==
        doctest::Approx(50.0));
  CHECK(estimate(v::Endpoint::kOrr, v::Subgroup::kPdl1Ge50).value.estimate == 100.0);
  CHECK(estimate(v::Endpoint::kOrr, v::Subgroup::kPdl1Lt5).value.estimate == 100.0);
  CHECK(estimate(v::Endpoint::kOrr, v::Subgroup::kPdl1Ge5).value.estimate == doctest::Approx(50.0));
  CHECK(estimate(v::Endpoint::kCrRate, v::Subgroup::kLdhElevated).value.estimate ==
        doctest::Approx(50.0));
  // Grade >= 3 of irAE or other AE: patient 0 (AE 4) and 3 (irAE 3); any: 0, 1, 2, 3.
  CHECK(estimate(v::Endpoint::kTraeG3, v::Subgroup::kAll).value.estimate == doctest::Approx(50.0));
  CHECK(estimate(v::Endpoint::kTraeAny, v::Subgroup::kAll).value.estimate == 100.0);
  CHECK(estimate(v::Endpoint::kIraeAny, v::Subgroup::kAll).value.estimate == doctest::Approx(75.0));
  // Durable among CR: 1 of the 2 CRs.
  const v::EndpointEstimate durable = estimate(v::Endpoint::kDurableCrAmongCr, v::Subgroup::kAll);
  CHECK(durable.n == 2);
  CHECK(durable.value.estimate == doctest::Approx(50.0));
  // CR ongoing at t among the CRs (patients 0 and 3; the PR of patient 1 is not counted): both at
  // 15 months; at 30 months patient 0's ended (KM 1/2); beyond 40 months no one is at risk.
  v::EndpointSpec ongoing;
  ongoing.endpoint = v::Endpoint::kCrOngoingAt;
  ongoing.months = 15.0;
  CHECK(v::estimate_endpoint(cohort, ongoing).n == 2);
  CHECK(v::estimate_endpoint(cohort, ongoing).value.estimate == doctest::Approx(100.0));
  ongoing.months = 30.0;
  CHECK(v::estimate_endpoint(cohort, ongoing).value.estimate == doctest::Approx(50.0));
  // Band edges: 1, 5 and 50 belong to the upper band (TPS >= 1, >= 5, >= 50).
  vpgen::Patient edge;
  edge.pdl1_tps_percent = 1.0;
  CHECK(v::in_subgroup(v::Subgroup::kPdl1Ge1, edge));
  CHECK(v::in_subgroup(v::Subgroup::kPdl1From1To49, edge));
  CHECK_FALSE(v::in_subgroup(v::Subgroup::kPdl1Lt1, edge));
  edge.pdl1_tps_percent = 5.0;
  CHECK(v::in_subgroup(v::Subgroup::kPdl1Ge5, edge));
  CHECK_FALSE(v::in_subgroup(v::Subgroup::kPdl1Lt5, edge));
  edge.pdl1_tps_percent = 50.0;
  CHECK(v::in_subgroup(v::Subgroup::kPdl1Ge50, edge));
  CHECK_FALSE(v::in_subgroup(v::Subgroup::kPdl1From1To49, edge));
  // Every subgroup name maps to its filter.
  vpgen::Patient p;
  p.ecog = 1;
  p.hot = true;
  p.tmb_mut_per_mb = 10.0;
  p.prior_anti_pd1 = true;
  p.age_years = 65.0;
  p.metastatic_sites = 3;
  CHECK(v::in_subgroup(v::Subgroup::kEcogGe1, p));
  CHECK_FALSE(v::in_subgroup(v::Subgroup::kEcog0, p));
  CHECK(v::in_subgroup(v::Subgroup::kHot, p));
  CHECK_FALSE(v::in_subgroup(v::Subgroup::kCold, p));
  CHECK(v::in_subgroup(v::Subgroup::kTmbGe10, p));
  CHECK_FALSE(v::in_subgroup(v::Subgroup::kTmbLt10, p));
  CHECK(v::in_subgroup(v::Subgroup::kPriorAntiPd1, p));
  CHECK_FALSE(v::in_subgroup(v::Subgroup::kNoPriorAntiPd1, p));
  CHECK(v::in_subgroup(v::Subgroup::kAgeGe65, p));
  CHECK_FALSE(v::in_subgroup(v::Subgroup::kAgeLt65, p));
  CHECK(v::in_subgroup(v::Subgroup::kSitesGe3, p));
  CHECK_FALSE(v::in_subgroup(v::Subgroup::kSitesLe2, p));
  CHECK(v::in_subgroup(v::Subgroup::kLdhNormal, p));
}

TEST_CASE("hazard ratios are of the mapped arm against the reference arm") {
  // Arm 0 dies at 1..20 months, arm 1 at 2..40: arm 0 has the higher hazard, HR(0 vs 1) > 1.
  v::Cohort cohort(2);
  for (int i = 0; i < 20; ++i) {
    vpgen::Patient p;
    p.index = static_cast<std::uint64_t>(i);
    cohort.add(p, {outcome(vpgen::Response::kPD, 1.0 + i, true, 0.5 + i, true),
                   outcome(vpgen::Response::kPD, 2.0 + 2 * i, true, 1.0 + 2 * i, true)});
  }
  v::EndpointSpec spec;
  spec.endpoint = v::Endpoint::kHrOs;
  spec.arm_index = 0;
  spec.reference_arm_index = 1;
  const v::EndpointEstimate forward = v::estimate_endpoint(cohort, spec);
  spec.arm_index = 1;
  spec.reference_arm_index = 0;
  const v::EndpointEstimate backward = v::estimate_endpoint(cohort, spec);
  CHECK(forward.value.estimate > 1.5);
  CHECK(backward.value.estimate == doctest::Approx(1.0 / forward.value.estimate).epsilon(1e-10));
  CHECK(backward.value.high == doctest::Approx(1.0 / forward.value.low).epsilon(1e-10));
  // The same through the Cox function directly.
  std::vector<vpgen::SurvivalTime> a, b;
  for (int i = 0; i < 20; ++i) {
    a.push_back({1.0 + i, true});
    b.push_back({2.0 + 2 * i, true});
  }
  CHECK(forward.value.estimate ==
        doctest::Approx(vpgen::cox_hazard_ratio(a, b).hazard_ratio.estimate).epsilon(1e-12));
  spec.endpoint = v::Endpoint::kHrPfs;
  CHECK(v::estimate_endpoint(cohort, spec).value.estimate < 1.0);
}

TEST_CASE("landmark and conditional survival, medians not reached") {
  // Ten patients: deaths at 1..6 months, four alive (censored) at 24.
  v::Cohort cohort(1);
  for (int i = 0; i < 10; ++i) {
    vpgen::Patient p;
    p.index = static_cast<std::uint64_t>(i);
    const bool dies = i < 6;
    cohort.add(p, {outcome(vpgen::Response::kSD, dies ? 1.0 + i : 24.0, dies)});
  }
  v::EndpointSpec spec;
  spec.endpoint = v::Endpoint::kOsAt;
  spec.months = 3.0;
  CHECK(v::estimate_endpoint(cohort, spec).value.estimate == doctest::Approx(70.0));
  // Alive at 2 months: 8 patients; of them, alive at 5 months: 5. KM S(5)/S(2) = 0.5/0.8.
  spec.endpoint = v::Endpoint::kConditionalOs;
  spec.from_months = 2.0;
  spec.months = 5.0;
  const v::EndpointEstimate conditional = v::estimate_endpoint(cohort, spec);
  CHECK(conditional.n == 8);
  CHECK(conditional.value.estimate == doctest::Approx(62.5));
  // Median OS: S falls to 0.4 at 6 months (0.5 on [5, 6)): midpoint 5.5; reached.
  spec.endpoint = v::Endpoint::kMedianOs;
  const v::EndpointEstimate median = v::estimate_endpoint(cohort, spec);
  CHECK(median.value.estimate == 5.5);
  CHECK_FALSE(median.not_reached);
  // A cohort where nobody dies does not reach its median.
  v::Cohort alive(1);
  for (int i = 0; i < 5; ++i) {
    vpgen::Patient p;
    alive.add(p, {outcome(vpgen::Response::kCR, 24.0, false)});
  }
  const v::EndpointEstimate nr = v::estimate_endpoint(alive, spec);
  CHECK(nr.not_reached);
  CHECK(std::isnan(nr.value.estimate));
}

TEST_CASE("the ORR-ln(TMB) slope is fitted across cancer types, one point per type") {
  // Melanoma: TMB median e^2, ORR 40%; NSCLC: TMB median e^1, ORR 20%: slope 20 points per unit.
  v::Cohort cohort(1);
  auto add = [&](vpgen::CancerType type, double tmb, bool responds) {
    vpgen::Patient p;
    p.cancer_type = type;
    p.tmb_mut_per_mb = tmb;
    cohort.add(p, {outcome(responds ? vpgen::Response::kPR : vpgen::Response::kPD, 5, true)});
  };
  for (int i = 0; i < 10; ++i) {
    add(vpgen::CancerType::kMelanoma, std::exp(2.0) * (i % 2 == 0 ? 0.5 : 2.0), i < 4);
    add(vpgen::CancerType::kNsclc, std::exp(1.0) * (i % 2 == 0 ? 0.5 : 2.0), i < 2);
  }
  add(vpgen::CancerType::kMelanoma, std::exp(2.0), false);  // 11 patients: median exactly e^2
  add(vpgen::CancerType::kNsclc, std::exp(1.0), false);
  v::EndpointSpec spec;
  spec.endpoint = v::Endpoint::kOrrLnTmbSlope;
  const v::EndpointEstimate slope = v::estimate_endpoint(cohort, spec);
  CHECK(slope.value.estimate == doctest::Approx(100.0 * (4.0 / 11.0 - 2.0 / 11.0)).epsilon(1e-12));
  CHECK(slope.value.low < slope.value.estimate);
  CHECK(slope.n == 22);
}

TEST_CASE("load_mapping reads the test mapping against its targets.csv") {
  const v::Mapping mapping = v::load_mapping(kTestMapping);
  REQUIRE(mapping.targets.size() == 11);
  CHECK(mapping.scenarios.size() == 1);
  CHECK_FALSE(mapping.scenarios[0].scenario.store_events);
  const v::MappedTarget& hr = mapping.targets[1];
  CHECK(hr.id == "CT0007");
  CHECK(hr.spec.endpoint == v::Endpoint::kHrPfs);
  CHECK(hr.spec.arm_index == 0);
  CHECK(hr.spec.reference_arm_index == 2);
  CHECK(hr.published.interval_kind == "99.5% CI");
  CHECK(hr.source.find("Larkin et al., NEJM 2015") != std::string::npos);
  CHECK(mapping.targets[7].spec.from_months == 36.0);
  CHECK(mapping.targets[7].note.find("approximated") != std::string::npos);
  CHECK(mapping.targets[8].spec.subgroup == v::Subgroup::kPdl1Ge5);
  CHECK(mapping.targets[3].tolerance == v::ToleranceMode::kCiOnly);
  CHECK(mapping.targets[4].role == v::Role::kHoldout);
}

TEST_CASE("mapping errors name the file, line and key") {
  const std::string file = (temp_dir() / "mapping.toml").string();
  auto expect = [&](const std::string& text, const std::string& needle, const std::string& key,
                    const std::string& why) {
    const std::string message = mapping_error(text);
    const std::string where = fmt::format("{}:{}: key '{}'", file, line_of(text, needle), key);
    CHECK_MESSAGE(message.find(where) != std::string::npos, message);
    CHECK_MESSAGE(message.find(why) != std::string::npos, message);
  };
  expect(target_table("CT0015", "orr_rate"), "endpoint =", "target[0].endpoint",
         "unknown endpoint 'orr_rate'");
  expect(target_table("CT0015", "orr", "typo = 1\n"), "typo", "target[0].typo", "unknown key");
  std::string bad_subgroup = target_table("CT0015", "orr");
  bad_subgroup.replace(bad_subgroup.find("\"all\""), 5, "\"pdl1_ge_2\"");
  expect(bad_subgroup, "subgroup =", "target[0].subgroup", "unknown subgroup 'pdl1_ge_2'");
  std::string bad_arm = target_table("CT0015", "orr");
  bad_arm.replace(bad_arm.find("\"nivo+ipi\""), 10, "\"pembro\"");
  expect(bad_arm, "arm =", "target[0].arm", "has no arm 'pembro'");
  expect(target_table("CT9999", "orr"), "id =", "target[0].id", "no row 'CT9999'");
  expect(target_table("CT0016", "orr"), "endpoint =", "target[0].endpoint", "is in 'months'");
  expect(target_table("CT0019", "os_at"), "[[target]]", "target[0].months", "missing required key");
  expect(target_table("CT0015", "orr", "months = 12\n"), "months", "target[0].months",
         "only for pfs_at, os_at, conditional_os and cr_ongoing_at");
  expect(target_table("CT0015", "orr", "reference_arm = \"ipi\"\n"), "reference_arm",
         "target[0].reference_arm", "only for hr_os and hr_pfs");
  expect(target_table("CT0057", "hr_os", "reference_arm = \"nivo+ipi\"\n"), "reference_arm",
         "target[0].reference_arm", "must differ from arm");
  expect(target_table("CT0019", "os_at", "months = 200\n"), "months", "target[0].months",
         "out of range");
  std::string ci_only = target_table("CT0073", "cr_rate");
  ci_only.replace(ci_only.find("\"default\""), 9, "\"ci_only\"");
  expect(ci_only, "tolerance =", "target[0].tolerance", "gives no interval for CT0073");
  std::string bad_role = target_table("CT0015", "orr");
  bad_role.replace(bad_role.find("\"fit\""), 5, "\"train\"");
  expect(bad_role, "role =", "target[0].role", "'train' is not fit or holdout");
  // A second mapping of the same id points at the second table's id.
  const std::string first = target_table("CT0015", "orr");
  const std::string twice = first + target_table("CT0015", "orr");
  const int second_id_line = line_of(twice.substr(first.size()), "id =") +
                             static_cast<int>(std::count(first.begin(), first.end(), '\n'));
  const std::string message = mapping_error(twice);
  CHECK_MESSAGE(message.find(fmt::format("{}:{}: key 'target[1].id'", file, second_id_line)) !=
                    std::string::npos,
                message);
  CHECK(message.find("mapped twice") != std::string::npos);
  // A missing scenario file.
  std::string missing = target_table("CT0015", "orr");
  missing.replace(missing.find("default.toml"), 12, "nowhere.toml");
  expect(missing, "scenario =", "target[0].scenario", "no such file");
}

TEST_CASE("validation is deterministic across thread counts and the JSON has the issue's shape") {
  const v::Mapping mapping = v::load_mapping(kTestMapping);
  v::ValidationOptions options;
  options.patients = 400;
  options.threads = 1;
  const nlohmann::json one = v::validation_json(v::run_validation(mapping, options));
  options.threads = 2;
  const nlohmann::json two = v::validation_json(v::run_validation(mapping, options));
  CHECK(one.dump() == two.dump());

  REQUIRE(one.at("targets").is_array());
  REQUIRE(one.at("targets").size() == 11);
  for (const nlohmann::json& t : one.at("targets")) {
    for (const char* key : {"id", "source", "endpoint", "published", "simulated", "sim_ci_low",
                            "sim_ci_high", "within_tolerance", "scenario", "arm", "subgroup",
                            "role", "published_ci_low", "published_ci_high", "tolerance_rule"})
      CHECK_MESSAGE(t.contains(key), key);
    CHECK(t.at("within_tolerance").is_boolean());
    CHECK(t.at("simulated").is_number());
  }
  CHECK(one.at("targets")[0].at("id") == "CT0015");
  CHECK(one.at("targets")[0].at("published") == 58.0);
  CHECK(one.at("targets")[4].at("published").is_null());  // "NR"
  CHECK(one.at("targets")[4].at("published_text") == "NR");
  CHECK(one.at("targets")[1].at("reference_arm") == "ipi");
  const nlohmann::json& summary = one.at("summary");
  CHECK(summary.at("overall").at("targets") == 11);
  CHECK(summary.at("fit").at("targets") == 6);
  CHECK(summary.at("holdout").at("targets") == 5);
  std::size_t within = 0;
  for (const nlohmann::json& t : one.at("targets")) within += t.at("within_tolerance") ? 1 : 0;
  CHECK(summary.at("overall").at("within") == within);
  CHECK(one.at("runs")[0].at("patients") == 400);

  // A different seed gives different figures (the seed reaches the simulation).
  options.seed = 7;
  const nlohmann::json other = v::validation_json(v::run_validation(mapping, options));
  CHECK(other.at("targets")[0].at("simulated") != one.at("targets")[0].at("simulated"));
  CHECK(other.at("runs")[0].at("seed") == 7);
}

TEST_CASE("the role filter evaluates only fit or only held-out targets") {
  const v::Mapping mapping = v::load_mapping(kTestMapping);
  v::ValidationOptions options;
  options.patients = 200;
  options.role = v::Role::kHoldout;
  const v::ValidationReport report = v::run_validation(mapping, options);
  CHECK(report.targets.size() == 5);
  for (const v::TargetResult& r : report.targets) CHECK(r.target->role == v::Role::kHoldout);
  CHECK(report.fit.targets == 0);
  CHECK(report.holdout.targets == 5);
  CHECK(v::validation_text(report).find("fit none") != std::string::npos);
  CHECK(v::validation_markdown(report).find("| CT0057 | CheckMate 067 | holdout | hr_os |") !=
        std::string::npos);
}

TEST_CASE("vpgen validate exits 0 with a report and 2 with file:line:key on a bad mapping" *
          doctest::test_suite("cli")) {
  auto run = [](const std::string& args) {
    const fs::path out = temp_dir() / "stdout.txt";
    const fs::path err = temp_dir() / "stderr.txt";
    const int status = std::system(fmt::format("{} validate {} >{} 2>{} </dev/null", VPGEN_BINARY,
                                               args, out.string(), err.string())
                                       .c_str());
    return std::tuple{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
  };
  const auto [ok, out, err] =
      run(fmt::format("--targets {} --patients 200 --format json --quiet", kTestMapping));
  CHECK(ok == 0);
  const nlohmann::json list = nlohmann::json::parse(out);
  REQUIRE(list.is_array());  // the shape: a list of target objects
  CHECK(list.size() == 11);
  CHECK(list.at(0).contains("within_tolerance"));
  const auto [md_code, md, md_err] =
      run(fmt::format("--targets {} --patients 200 --format md --role fit", kTestMapping));
  CHECK(md_code == 0);
  CHECK(md.find("| id | trial | role |") != std::string::npos);

  const std::string text = target_table("CT0015", "orr_rate");
  const fs::path bad = write_mapping(text);
  const auto [code, bad_out, bad_err] =
      run(fmt::format("--targets {} --patients 10", bad.string()));
  CHECK(code == 2);
  CHECK(bad_out.empty());
  CHECK_MESSAGE(bad_err.find(fmt::format("{}:{}: key 'target[0].endpoint'", bad.string(),
                                         line_of(text, "endpoint ="))) != std::string::npos,
                bad_err);
  const auto [missing_code, m_out, m_err] = run("--targets /nonexistent/mapping.toml");
  CHECK(missing_code == 2);
}
