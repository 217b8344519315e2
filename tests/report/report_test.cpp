#include "vpgen/report/report.hpp"
#include "vpgen/report/report_html.hpp"

#include "vpgen/run/provenance.hpp"
#include "vpgen/config/scenario_loader.hpp"
#include "vpgen/engine/simulator.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "support/files.hpp"
#include "vpgen/population/error.hpp"

namespace {

// The leukaemia remission trial of Freireich et al. (Blood 1963), as tabulated by Gehan
// (Biometrika 1965): 21 patients per arm, times in weeks (used here as months), event = relapse.
// Published Kaplan-Meier medians (R survfit, conf.type = "log"): 6-MP 23 (16, NA), placebo
// 8 (4, 12). Patient i gets the i-th time of each arm.
struct Time {
  double months;
  bool event;
};
constexpr std::size_t kPatients = 21;
constexpr std::array<Time, kPatients> kSixMp = {{
    {6, true},   {6, true},   {6, true},   {6, false},  {7, true},   {9, false},  {10, true},
    {10, false}, {11, false}, {13, true},  {16, true},  {17, false}, {19, false}, {20, false},
    {22, true},  {23, true},  {25, false}, {32, false}, {32, false}, {34, false}, {35, false},
}};
constexpr std::array<Time, kPatients> kPlacebo = {{
    {1, true},  {1, true},  {2, true},  {2, true},  {3, true},  {4, true},  {4, true},
    {5, true},  {5, true},  {8, true},  {8, true},  {8, true},  {8, true},  {11, true},
    {11, true}, {12, true}, {12, true}, {15, true}, {17, true}, {22, true}, {23, true},
}};

vpgen::RunProvenance provenance() {
  vpgen::RunProvenance p;
  p.scenario_name = "freireich_1963";
  p.scenario_text = "# hand-built test scenario\n";
  p.scenario_hash = "0123456789abcdef0123456789abcdef";
  p.seed = 1963;
  p.patients = kPatients;
  p.vpgen_version = "0.1.0";
  p.git_commit = "test";
  p.compiler = "g++";
  p.boost_version = "1.74";
  p.tbb_version = "2021";
  p.sqlite_version = "3";
  p.rng_scheme = 1;
  p.threads = 2;
  p.block_size = 7;
  p.store_events = false;
  for (const auto& [arm_name, regimen_name] :
       {std::pair{"six_mp", "mercaptopurine"}, std::pair{"placebo", "placebo"}}) {
    vpgen::ArmSpec& arm = p.arms.emplace_back();
    arm.name = arm_name;
    arm.regimen.name = regimen_name;
    arm.regimen.regimen_class = vpgen::RegimenClass::kChemotherapy;
    vpgen::RegimenPhase& phase = arm.regimen.phases.emplace_back();
    phase.name = "daily";
    phase.agents = regimen_name;
    phase.cycle_length_days = 28.0;
    arm.next_line.enabled = true;
    arm.next_line.regimen.name = "methotrexate";
    arm.next_line.regimen.phases.push_back(phase);
    arm.next_line.probability = 0.33;
  }
  return p;
}

// Best responses by patient, for both arms alike: 3 CR, 6 PR, 3 SD, 8 PD, 1 NE.
vpgen::Response response_of(std::size_t i) {
  using vpgen::Response;
  if (i == 20) return Response::kNE;
  switch (i % 7) {
    case 0: return Response::kCR;  // 0, 7, 14
    case 1:
    case 2: return Response::kPR;   // 1, 2, 8, 9, 15, 16
    case 3: return Response::kSD;   // 3, 10, 17
    default: return Response::kPD;  // 4, 5, 6, 11, 12, 13, 18, 19
  }
}

// Without confirmation, a confirmed CR/PR stays as it is, and some patients gain a response: SD 3
// and 10 were unconfirmed PRs, PD 4 an unconfirmed PR and PD 11 an unconfirmed CR (a single
// responding visit before min_sd_weeks, then progression). 4 CR, 9 PR: unconfirmed ORR 13/21.
vpgen::Response unconfirmed_response_of(std::size_t i) {
  using vpgen::Response;
  if (i == 3 || i == 10 || i == 4) return Response::kPR;
  if (i == 11) return Response::kCR;
  return response_of(i);
}

// iRECIST reads three patients as responders after pseudo-progression: PD 4 (iPR) and PD 12
// (iCR), whose RECIST best response is PD, and SD 17 (iPR), whose is not. iRECIST ORR 12/21;
// pseudo-progression among RECIST PD 2 of 8.
vpgen::Response irecist_response_of(std::size_t i) {
  using vpgen::Response;
  if (i == 4 || i == 17) return Response::kPR;
  if (i == 12) return Response::kCR;
  return response_of(i);
}

// Patients 0, 3, 6, ..., 18 (7 of 21) start a next line at a quarter of their OS time and have
// PFS2 = 3/4 of it, always an event.
bool has_next_line(std::size_t i) { return i % 3 == 0; }

vpgen::Outcome outcome(std::uint32_t arm, std::size_t i, const Time& os) {
  vpgen::Outcome o;
  o.arm_index = arm;
  o.best_response = response_of(i);
  o.best_response_unconfirmed = unconfirmed_response_of(i);
  o.os_months = os.months;
  o.os_event = os.event;
  // PFS: half the OS time, always an event (21 distinct-or-tied uncensored times).
  o.pfs_months = os.months / 2.0;
  o.pfs_event = true;
  o.worst_irae_grade = static_cast<int>(i % 4);  // grade 3 for i = 3, 7, 11, 15, 19: 5 patients
  o.durable_cr = (i == 0 || i == 7);             // two of the three CRs
  o.stop_reason = os.event ? vpgen::StopReason::kDeath : vpgen::StopReason::kEndOfFollowUp;
  o.death_cause = os.event ? vpgen::DeathCause::kDisease : vpgen::DeathCause::kAlive;
  o.treatment_months = o.pfs_months;
  o.best_response_irecist = irecist_response_of(i);
  o.pseudo_progression = o.best_response_irecist != o.best_response;
  o.beyond_progression = o.pseudo_progression || i == 5;
  // iRECIST PFS = the OS observation, so its medians are the published OS medians.
  o.pfs_irecist_months = os.months;
  o.pfs_irecist_event = os.event;
  o.worst_ae_grade = static_cast<int>(i % 6);   // grade >= 3 for i % 6 in {3, 4, 5}: 9 patients
  o.treatment_holds = static_cast<int>(i % 3);  // seven each of 0, 1, 2 holds
  o.eradicated = o.durable_cr;
  o.eradication_months = o.eradicated ? 10.0 : vpgen::kNoValue;
  if (has_next_line(i)) {
    o.next_line_months = os.months / 4.0;
    o.pfs2_months = 0.75 * os.months;
    o.pfs2_event = true;
  }
  return o;
}

vpgen::PatientResult patient(std::size_t i) {
  vpgen::PatientResult r;
  r.patient.index = i;
  r.patient.tmb_mut_per_mb = 10.0;
  r.patient.tumour_burden_mm = 50.0;
  r.patient.age_years = 60.0;
  r.patient.candidates_screened = static_cast<std::uint32_t>(1 + i % 3);  // sum 42 over 21
  r.outcomes.push_back(outcome(0, i, kSixMp[i]));
  r.outcomes.push_back(outcome(1, i, kPlacebo[i]));
  return r;
}

// Stores patients [0, stored) in blocks of 7.
std::int64_t store_run(vpgen::ResultStore& store, std::size_t stored, bool finish) {
  const std::int64_t run_id = store.begin_run(provenance());
  {
    vpgen::RunWriter writer(store, run_id, false);
    for (std::size_t first = 0; first < stored; first += 7) {
      vpgen::Block block;
      block.first_index = first;
      for (std::size_t i = first; i < std::min(first + 7, stored); ++i)
        block.results.push_back(patient(i));
      writer.write_block(block);
    }
  }
  if (finish) store.finish_run(run_id, true, 1.25);
  return run_id;
}

void check_json_interval(const nlohmann::json& j, const vpgen::Interval& expected,
                         double tolerance = 1e-12) {
  REQUIRE(j.is_object());
  CHECK(j.at("estimate").get<double>() == doctest::Approx(expected.estimate).epsilon(tolerance));
  CHECK(j.at("ci_low").get<double>() == doctest::Approx(expected.low).epsilon(tolerance));
  CHECK(j.at("ci_high").get<double>() == doctest::Approx(expected.high).epsilon(tolerance));
}

}  // namespace

TEST_CASE("report of a complete run gives hand-counted proportions and published KM medians") {
  vpgen::ResultStore store(":memory:");
  const std::int64_t run_id = store_run(store, kPatients, true);
  const vpgen::RunReport report = vpgen::build_report(store, run_id);
  const nlohmann::json j = vpgen::report_json(report);

  const nlohmann::json& run = j.at("run");
  CHECK(run.at("id").get<std::int64_t>() == run_id);
  CHECK(run.at("scenario_name") == "freireich_1963");
  CHECK(run.at("scenario_hash") == "0123456789abcdef0123456789abcdef");
  CHECK(run.at("seed").get<std::uint64_t>() == 1963);
  CHECK(run.at("patients_requested").get<std::uint64_t>() == kPatients);
  CHECK(run.at("patients_stored").get<std::uint64_t>() == kPatients);
  CHECK(run.at("screening_ratio").get<double>() == doctest::Approx(42.0 / 21.0));
  CHECK(run.at("status") == "complete");
  CHECK(run.at("wall_seconds").get<double>() == doctest::Approx(1.25));
  CHECK(run.at("threads").get<int>() == 2);
  for (const char* key : {"started_at", "finished_at", "vpgen_version", "git_commit"})
    CHECK_MESSAGE(run.at(key).is_string(), key);
  CHECK(j.at("ci_level").get<double>() == 0.95);
  CHECK(j.at("methods").at("proportions").get<std::string>().find("Clopper") != std::string::npos);
  CHECK(j.at("methods").at("medians").get<std::string>().find("Brookmeyer") != std::string::npos);

  const nlohmann::json& arms = j.at("arms");
  REQUIRE(arms.size() == 2);
  const nlohmann::json& mp = arms.at(0);
  CHECK(mp.at("arm") == "six_mp");
  CHECK(mp.at("regimen") == "mercaptopurine");
  CHECK(mp.at("n").get<std::uint64_t>() == 21);
  CHECK(mp.at("counts").at("cr").get<std::uint64_t>() == 3);
  CHECK(mp.at("counts").at("os_events").get<std::uint64_t>() == 9);
  check_json_interval(mp.at("orr"), vpgen::clopper_pearson(9, 21));
  CHECK(mp.at("counts").at("cr_unconfirmed").get<std::uint64_t>() == 4);
  CHECK(mp.at("counts").at("pr_unconfirmed").get<std::uint64_t>() == 9);
  check_json_interval(mp.at("orr_unconfirmed"), vpgen::clopper_pearson(13, 21));
  check_json_interval(mp.at("cr_rate"), vpgen::clopper_pearson(3, 21));
  check_json_interval(mp.at("dcr"), vpgen::clopper_pearson(12, 21));
  check_json_interval(mp.at("irae_grade3plus_rate"), vpgen::clopper_pearson(5, 21));
  check_json_interval(mp.at("durable_cr_5y_rate"), vpgen::clopper_pearson(2, 21));
  // 9/21 = 0.4286; its exact 95% interval is (0.21820, 0.65979) (bisection on binomial tails).
  CHECK(mp.at("orr").at("ci_low").get<double>() == doctest::Approx(0.2182).epsilon(1e-4));
  CHECK(mp.at("orr").at("ci_high").get<double>() == doctest::Approx(0.6598).epsilon(1e-4));

  // OS: median 23 (16, NR) - the upper limit is not reached and must be JSON null.
  const nlohmann::json& mp_median = mp.at("median_os_months");
  CHECK(mp_median.at("estimate").get<double>() == 23.0);
  CHECK(mp_median.at("ci_low").get<double>() == 16.0);
  CHECK(mp_median.at("ci_high").is_null());
  // OS at 12 months: S = 0.7529 (0.5859, 0.9676), the Greenwood log-scale values derived in
  // tests/stats/statistics_test.cpp; 60 and 120 are after the last observed time (35).
  check_json_interval(mp.at("os_rate").at("12"),
                      vpgen::Interval{0.7529411765, 0.5859189820, 0.9675747546}, 1e-9);
  CHECK(mp.at("os_rate").at("24").at("estimate").get<double>() ==
        doctest::Approx(0.4481792717).epsilon(1e-9));
  CHECK(mp.at("os_rate").at("60").at("estimate").is_null());
  CHECK(mp.at("os_rate").at("120").at("ci_high").is_null());
  // PFS = OS / 2, all events: 10 of 21 events fall before 8, the 11th at 8, so the median is 8.
  CHECK(mp.at("median_pfs_months").at("estimate").get<double>() == 8.0);
  CHECK(mp.at("counts").at("pfs_events").get<std::uint64_t>() == 21);

  const nlohmann::json& pl = arms.at(1);
  CHECK(pl.at("arm") == "placebo");
  CHECK(pl.at("median_os_months").at("estimate").get<double>() == 8.0);
  CHECK(pl.at("median_os_months").at("ci_low").get<double>() == 4.0);
  CHECK(pl.at("median_os_months").at("ci_high").get<double>() == 12.0);
  CHECK(pl.at("os_rate").at("12").at("estimate").get<double>() ==
        doctest::Approx(0.1904761905).epsilon(1e-9));
  CHECK(pl.at("os_rate").at("24").at("estimate").is_null());  // last time is 23

  const std::string text = vpgen::report_text(report);
  CHECK(text.find("run " + std::to_string(run_id)) != std::string::npos);
  CHECK(text.find("freireich_1963") != std::string::npos);
  CHECK(text.find("seed 1963") != std::string::npos);
  CHECK(text.find("42.9% (21.8\u201366.0)") != std::string::npos);  // ORR 9/21
  const std::size_t unconfirmed_line = text.find("ORR unconfirmed");
  REQUIRE(unconfirmed_line != std::string::npos);
  CHECK(text.find("61.9% (", unconfirmed_line) ==  // unconfirmed ORR 13/21
        text.find_first_not_of(' ', unconfirmed_line + std::string("ORR unconfirmed").size()));
  CHECK(text.find("23.0 mo (16.0\u2013NR)") != std::string::npos);
  CHECK(text.find("8.0 mo (4.0\u201312.0)") != std::string::npos);
  CHECK(text.find("INCOMPLETE") == std::string::npos);
}

TEST_CASE("report gives iRECIST, adverse-event, hold, next-line and PFS2 figures by hand") {
  vpgen::ResultStore store(":memory:");
  const std::int64_t run_id = store_run(store, kPatients, true);
  const vpgen::RunReport report = vpgen::build_report(store, run_id);
  const nlohmann::json j = vpgen::report_json(report);
  const nlohmann::json& methods = j.at("methods");
  CHECK(methods.at("pfs2").get<std::string>().find("censored when last known alive") !=
        std::string::npos);
  CHECK(methods.at("pseudo_progression").get<std::string>().find("best overall response is PD") !=
        std::string::npos);
  const nlohmann::json& arms = j.at("arms");
  REQUIRE(arms.size() == 2);

  for (std::size_t a = 0; a < 2; ++a) {
    CAPTURE(a);
    const nlohmann::json& arm = arms.at(a);
    const nlohmann::json& counts = arm.at("counts");
    CHECK(counts.at("cr_irecist").get<std::uint64_t>() == 4);  // CR 0, 7, 14 and iCR 12
    CHECK(counts.at("pr_irecist").get<std::uint64_t>() == 8);  // PR 1, 2, 8, 9, 15, 16; 4, 17
    check_json_interval(arm.at("orr_irecist"), vpgen::clopper_pearson(12, 21));
    CHECK(counts.at("pseudo_progression").get<std::uint64_t>() == 3);
    CHECK(counts.at("pseudo_progression_recist_pd").get<std::uint64_t>() == 2);
    CHECK(counts.at("beyond_progression").get<std::uint64_t>() == 4);
    check_json_interval(arm.at("pseudo_progression_rate_recist_pd"), vpgen::clopper_pearson(2, 8));
    CHECK(counts.at("ae_grade3plus").get<std::uint64_t>() == 9);
    check_json_interval(arm.at("ae_grade3plus_rate"), vpgen::clopper_pearson(9, 21));
    // Holds 0, 1, 2 seven times each: mean 1; s^2 = (21 * 35 - 21^2) / (21 * 20) = 0.7, so
    // SE = sqrt(0.7 / 21) = 0.18257.
    CHECK(counts.at("treatment_holds").get<std::uint64_t>() == 21);
    const nlohmann::json& holds = arm.at("treatment_holds_per_patient");
    CHECK(holds.at("estimate").get<double>() == doctest::Approx(1.0).epsilon(1e-12));
    CHECK(holds.at("se").get<double>() == doctest::Approx(std::sqrt(0.7 / 21.0)).epsilon(1e-12));
    CHECK(holds.at("se").get<double>() == doctest::Approx(0.18257).epsilon(1e-4));
    CHECK(counts.at("next_line").get<std::uint64_t>() == 7);
    check_json_interval(arm.at("next_line_rate"), vpgen::clopper_pearson(7, 21));
    CHECK(counts.at("eradicated").get<std::uint64_t>() == 2);
    check_json_interval(arm.at("ground_truth").at("eradication_rate"),
                        vpgen::clopper_pearson(2, 21));
  }

  // iRECIST PFS is stored equal to the OS observation: the published OS medians again, and not
  // the RECIST PFS median (8 for 6-MP), so the report read the iRECIST columns.
  const nlohmann::json& mp = arms.at(0);
  CHECK(mp.at("median_pfs_irecist_months").at("estimate").get<double>() == 23.0);
  CHECK(mp.at("median_pfs_irecist_months").at("ci_low").get<double>() == 16.0);
  CHECK(mp.at("median_pfs_irecist_months").at("ci_high").is_null());
  CHECK(mp.at("counts").at("pfs_irecist_events").get<std::uint64_t>() == 9);
  CHECK(mp.at("pfs_irecist_rate").at("12").at("estimate").get<double>() ==
        doctest::Approx(0.7529411765).epsilon(1e-9));
  const nlohmann::json& pl = arms.at(1);
  CHECK(pl.at("median_pfs_irecist_months").at("estimate").get<double>() == 8.0);

  // PFS2 of placebo (no censoring): next-line patients 0, 3, ..., 18 give 3/4 of their times 1, 2,
  // 4, 5, 8, 12, 17 (0.75, 1.5, 3, 3.75, 6, 9, 12.75); the other 14 their death times 1, 2, 3, 4,
  // 5, 5, 8, 8, 11, 11, 12, 15, 22, 23. The 11th of the 21 sorted events is 6: S falls to 10/21.
  CHECK(pl.at("counts").at("pfs2_events").get<std::uint64_t>() == 21);
  CHECK(pl.at("median_pfs2_months").at("estimate").get<double>() == 6.0);

  // PFS2 of 6-MP, with censoring: the definition applied patient by patient, through the same
  // Kaplan-Meier estimator (tested on its own in tests/stats/statistics_test.cpp). Next line:
  // (3/4 of the OS time, event); none: died = event at death, alive = censored at last contact.
  std::map<double, std::pair<std::uint64_t, std::uint64_t>> observations;
  std::uint64_t events = 0;
  for (std::size_t i = 0; i < kPatients; ++i) {
    const bool next = has_next_line(i);
    const double time = next ? 0.75 * kSixMp[i].months : kSixMp[i].months;
    const bool event = next || kSixMp[i].event;
    auto& cell = observations[time];
    (event ? cell.first : cell.second) += 1;
    events += event ? 1 : 0;
  }
  vpgen::KaplanMeier km;
  for (const auto& [time, cell] : observations) km.add(time, cell.first, cell.second);
  CHECK(events == 12);  // 7 next-line PFS2 events and the 5 deaths (1, 2, 4, 10, 14) of the rest
  CHECK(mp.at("counts").at("pfs2_events").get<std::uint64_t>() == events);
  const vpgen::Interval median = km.median();
  // By hand: S = 0.5427 after 16 and 0.4748 after 17.25 (= 3/4 of patient 15's 23 months).
  CHECK(median.estimate == 17.25);
  CHECK(mp.at("median_pfs2_months").at("estimate").get<double>() == median.estimate);
  check_json_interval(mp.at("pfs2_rate").at("12"), km.survival_at(12.0), 1e-12);
  CHECK(mp.at("median_pfs2_months").at("estimate").get<double>() !=
        mp.at("median_os_months").at("estimate").get<double>());

  const std::string text = vpgen::report_text(report);
  const auto row_value = [&text](std::string_view label, std::size_t from = 0) {
    const std::size_t at = text.find(label, from);
    REQUIRE(at != std::string::npos);
    const std::size_t value = text.find_first_not_of(' ', at + label.size());
    return text.substr(value, text.find('\n', value) - value);
  };
  CHECK(row_value("ORR iRECIST") == "57.1% (34.0\u201378.2)");  // 12/21
  CHECK(row_value("Pseudo-progression/PD").find("25.0% (") == 0);
  CHECK(row_value("Pseudo-progression/PD").find(", 2 of 8") != std::string::npos);
  CHECK(row_value("Other AE grade >= 3").find("42.9% (") == 0);
  CHECK(row_value("Treatment holds") == "1.00 (SE 0.18) per patient, 21 in all");
  CHECK(row_value("Next line started").find("33.3% (") == 0);
  CHECK(row_value("Eradicated (truth)").find("9.5% (") == 0);
  CHECK(row_value("Median PFS iRECIST") == "23.0 mo (16.0\u2013NR), 9 events");
  const std::size_t placebo = text.find("Arm 1 'placebo'");
  REQUIRE(placebo != std::string::npos);
  CHECK(row_value("Median PFS2", placebo).find("6.0 mo (") == 0);
  CHECK(row_value("Median PFS2", placebo).find(", 21 events") != std::string::npos);
}

TEST_CASE("report of an incomplete run covers the stored patients and warns loudly") {
  vpgen::ResultStore store(":memory:");
  const std::int64_t run_id = store_run(store, 14, false);
  const vpgen::RunReport report = vpgen::build_report(store, run_id);
  REQUIRE(report.arms.size() == 2);
  CHECK(report.arms[0].counts.n == 14);
  // Patients 0..13: CR 0, 7; PR 1, 2, 8, 9; SD 3, 10 -> ORR 6/14.
  const vpgen::Interval orr = report.arms[0].orr;
  const vpgen::Interval expected = vpgen::clopper_pearson(6, 14);
  CHECK(orr.estimate == doctest::Approx(expected.estimate));
  CHECK(orr.low == doctest::Approx(expected.low));
  CHECK(orr.high == doctest::Approx(expected.high));
  // Unconfirmed: CR 0, 7, 11; PR 1, 2, 8, 9 and 3, 4, 10 -> 10/14.
  CHECK(report.arms[0].orr_unconfirmed.estimate == doctest::Approx(10.0 / 14.0));
  const nlohmann::json j = vpgen::report_json(report);
  CHECK(j.at("run").at("status") == "incomplete");
  CHECK(j.at("run").at("finished_at").is_null());
  const std::string text = vpgen::report_text(report);
  CHECK(text.find("INCOMPLETE RUN: figures cover 14 of 21 patients") != std::string::npos);
}

TEST_CASE("report of an unknown run is an input error") {
  vpgen::ResultStore store(":memory:");
  CHECK_THROWS_AS(static_cast<void>(vpgen::build_report(store, 42)), vpgen::InputError);
}

TEST_CASE("on a simulated cohort the unconfirmed ORR is at least the confirmed ORR in every arm") {
  // Confirmation can only demote a visit's CR/PR, so per patient the unconfirmed best response is
  // at least as good; the cohort rates then order exactly (no Monte Carlo tolerance needed).
  const vpgen::Simulator simulator(
      vpgen::config::load_scenario(VPGEN_SOURCE_DIR "/configs/default.toml"));
  constexpr std::uint64_t kCohort = 600;
  constexpr std::uint64_t kSeed = 4242;
  vpgen::ResultStore store(":memory:");
  const std::int64_t run_id =
      store.begin_run(vpgen::make_provenance(simulator.scenario(), kSeed, kCohort, 2, 200));
  {
    vpgen::RunWriter writer(store, run_id, false);
    vpgen::RunOptions options;
    options.seed = kSeed;
    options.patients = kCohort;
    options.threads = 2;
    options.block_size = 200;
    vpgen::run_cohort(simulator, options, writer);
  }
  store.finish_run(run_id, true, 0.0);
  const vpgen::RunReport report = vpgen::build_report(store, run_id);
  REQUIRE(report.arms.size() == simulator.scenario().arms.size());
  std::uint64_t gained = 0;
  for (const vpgen::ArmReport& arm : report.arms) {
    CAPTURE(arm.counts.arm_name);
    const vpgen::ArmCounts& c = arm.counts;
    REQUIRE(c.n == kCohort);
    CHECK(c.cr_unconfirmed + c.pr_unconfirmed >= c.cr + c.pr);
    CHECK(c.cr_unconfirmed >= c.cr);
    CHECK(arm.orr_unconfirmed.estimate >= arm.orr.estimate);
    CHECK(arm.orr_unconfirmed.low >= arm.orr.low);
    gained += c.cr_unconfirmed + c.pr_unconfirmed - c.cr - c.pr;
  }
  // Measurement noise and early relapses make some responses unconfirmed: if none were, the
  // column would be indistinguishable from a copy of best_response.
  CHECK(gained > 0);
}

namespace {

// A run in a file with patients [0, 7) stored and its writer still open; the reader's statement
// hook commits the next patient (a block of one) before each of the reader's statements, until
// all 21 are stored: a report of a run being written, with a commit between any two reads.
class LiveRun {
 public:
  explicit LiveRun(const std::string& tag)
      : path_((vpgen::testing::test_dir("report_live") / (tag + ".db")).string()),
        owner_((remove(), path_)),
        run_id_(owner_.begin_run(provenance())),
        writer_(owner_, run_id_, false),
        reader_(path_, vpgen::ResultStore::Access::kReadOnly) {
    vpgen::Block block;
    for (std::size_t i = 0; i < 7; ++i) block.results.push_back(patient(i));
    writer_.write_block(block);
    reader_.set_statement_hook([this] {
      if (next_ >= kPatients) return;
      vpgen::Block one;
      one.first_index = next_;
      one.results.push_back(patient(next_++));
      writer_.write_block(one);
    });
  }
  vpgen::ResultStore& reader() { return reader_; }
  std::int64_t run_id() const { return run_id_; }
  std::size_t committed() const { return next_; }

 private:
  const std::string& remove() const {
    std::error_code ignored;
    for (const char* suffix : {"", "-wal", "-shm"})
      std::filesystem::remove(path_ + suffix, ignored);
    return path_;
  }
  std::string path_;
  vpgen::ResultStore owner_;
  std::int64_t run_id_;
  vpgen::RunWriter writer_;
  vpgen::ResultStore reader_;
  std::size_t next_ = 7;
};

}  // namespace

TEST_CASE("a report of a run being written reads one state of it, whatever commits between reads") {
  {
    LiveRun live("build");
    const vpgen::RunReport report = vpgen::build_report(live.reader(), live.run_id());
    CHECK(live.committed() > 10);  // patients were committed while the report read
    const std::uint64_t stored = report.run.patients_stored;
    CHECK(stored < live.committed());
    REQUIRE(report.arms.size() == 2);
    for (const vpgen::ArmReport& arm : report.arms) CHECK(arm.counts.n == stored);
  }
  {
    LiveRun live("json");
    vpgen::ReportRequest request;
    request.run_ids = {live.run_id()};
    const nlohmann::json j = nlohmann::json::parse(
        vpgen::render_report(live.reader(), request, vpgen::ReportFormat::kJson, "").document);
    CHECK(live.committed() > 10);
    const auto stored = j.at("run").at("patients_stored").get<std::uint64_t>();
    for (const nlohmann::json& arm : j.at("arms"))
      CHECK(arm.at("n").get<std::uint64_t>() == stored);
  }
  {
    LiveRun live("html");
    vpgen::ReportRequest request;
    request.run_ids = {live.run_id()};
    CHECK_NOTHROW(vpgen::render_report(live.reader(), request, vpgen::ReportFormat::kHtml, ""));
    CHECK(live.committed() > 10);
  }
}
