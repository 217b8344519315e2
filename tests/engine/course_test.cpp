// Behaviour of the course model on constructed patients (engine/src/course.hpp).
#include "course.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace {

using namespace vpgen;

RegimenSpec anti_pd1() {
  RegimenSpec r;
  r.name = "anti_pd1";
  RegimenPhase phase;
  phase.name = "monotherapy";
  phase.pd1_blockade = 1.0;
  phase.cycle_length_days = 14;
  phase.cycles = 0;
  r.phases.push_back(phase);
  r.max_duration_months = 24;
  return r;
}

Scenario scenario_with(std::vector<RegimenSpec> regimens) {
  Scenario s;
  s.name = "test";
  s.horizon_months = 120;
  for (auto& r : regimens) {
    ArmSpec arm;
    arm.name = r.name;
    arm.regimen = r;
    s.arms.push_back(std::move(arm));
  }
  return s;
}

Patient patient(double tmb, double pdl1, double infiltration, double memory) {
  Patient p;
  p.index = 7;
  p.cancer_type = CancerType::kMelanoma;
  p.tmb_mut_per_mb = tmb;
  p.pdl1_tps_percent = pdl1;
  p.infiltration = infiltration;
  p.memory_capacity = memory;
  p.tumour_burden_mm = 80;
  p.metastatic_sites = 2;
  p.age_years = 40;
  return p;
}

detail::PatientBiology biology_for(const Scenario& s, const Patient& p) {
  detail::PatientBiology b = detail::draw_biology(s.course, p, 11);
  b.effector_strength = 1.0;
  b.onset_days = 30;
  b.growth_per_day = std::log(2.0) / 90.0;
  b.escape_threshold = 1e300;  // no escape unless a test wants it
  b.other_death_day = 1e9;
  b.residual_fraction = 0.1;  // a small residual mass: CR reads within months
  return b;
}

Outcome run(const Scenario& s, const Patient& p, const detail::PatientBiology& b,
            std::uint32_t arm = 0, std::vector<CourseEvent>* events = nullptr) {
  return detail::simulate_course(s, detail::assessment_days(s.assessment, 120 * kDaysPerMonth), p,
                                 b, 11, arm, events);
}

}  // namespace

TEST_CASE("assessments are six-weekly for a year, then twelve-weekly, up to the horizon") {
  AssessmentSchedule schedule;
  const auto days = detail::assessment_days(schedule, 120 * kDaysPerMonth);
  REQUIRE(days.size() > 10);
  CHECK(days[0] == doctest::Approx(42));
  CHECK(days[1] - days[0] == doctest::Approx(42));
  const auto first_late = std::find_if(days.begin(), days.end(), [](double d) { return d > 366; });
  REQUIRE(first_late != days.end());
  CHECK(*(first_late + 1) - *first_late == doctest::Approx(84));
  CHECK(days.back() <= 120 * kDaysPerMonth);
}

TEST_CASE("a first-visit offset moves the first assessment only") {
  AssessmentSchedule schedule;  // CheckMate 067: week 12, then every 6 weeks to week 49, then 12
  schedule.first_visit_weeks = 12.0;
  schedule.first_phase_months = 49.0 * 7.0 / kDaysPerMonth;
  const auto days = detail::assessment_days(schedule, 24 * kDaysPerMonth);
  REQUIRE(days.size() > 8);
  CHECK(days[0] == doctest::Approx(84));
  CHECK(days[1] == doctest::Approx(126));
  CHECK(days[6] == doctest::Approx(336));  // week 48, inside the first phase: six weeks on
  CHECK(days[7] == doctest::Approx(378));  // week 54, past it: twelve-weekly from here
  CHECK(days[8] == doctest::Approx(462));
}

TEST_CASE("a tumour without antigens progresses at the first assessment") {
  const Scenario s = scenario_with({anti_pd1()});
  const Patient p = patient(0.01, 0, 0.05, 0.5);
  detail::PatientBiology b = biology_for(s, p);
  b.growth_per_day = std::log(2.0) / 30.0;  // fast growth: +20% diameter well within 6 weeks
  const Outcome o = run(s, p, b);
  CHECK(o.best_response == Response::kPD);
  CHECK(o.pfs_event);
  CHECK(o.pfs_months == doctest::Approx(42 / kDaysPerMonth));
  CHECK(o.stop_reason == StopReason::kProgression);
  CHECK_FALSE(o.eradicated);
  CHECK(std::isnan(o.time_to_response_months));
}

TEST_CASE("a strong response in a high-memory patient is a confirmed, durable, eradicating CR") {
  const Scenario s = scenario_with({anti_pd1()});
  const Patient p = patient(50, 60, 0.9, 1.0);
  const detail::PatientBiology b = biology_for(s, p);
  std::vector<CourseEvent> events;
  const Outcome o = run(s, p, b, 0, &events);
  CHECK(o.best_response == Response::kCR);
  CHECK(o.durable_cr);
  CHECK(o.eradicated);
  CHECK_FALSE(o.pfs_event);
  CHECK(o.time_to_response_months > 1.0);  // responses take weeks to months
  CHECK(o.best_percent_change == doctest::Approx(-100));
  CHECK(std::is_sorted(events.begin(), events.end(),
                       [](const CourseEvent& x, const CourseEvent& y) { return x.day < y.day; }));
  CHECK(std::count_if(events.begin(), events.end(),
                      [](const CourseEvent& e) { return e.kind == EventKind::kResponse; }) == 1);
}

TEST_CASE("immune memory decides whether control outlasts treatment") {
  // A moderate responder: shrinks on treatment but is not eradicated within 24 months.
  const Scenario s = scenario_with({anti_pd1()});
  Patient low = patient(8, 20, 0.5, 0.0);
  Patient high = low;
  high.memory_capacity = 1.0;
  detail::PatientBiology b = biology_for(s, low);
  b.growth_per_day = std::log(2.0) / 60.0;
  const Outcome forgetful = run(s, low, b);
  const Outcome remembering = run(s, high, b);
  REQUIRE(forgetful.best_response != Response::kPD);
  // Without memory the tumour regrows after the last dose (month 24) and progresses.
  CHECK(forgetful.pfs_event);
  CHECK(forgetful.pfs_months > 24.0);
  CHECK((!remembering.pfs_event || remembering.pfs_months > forgetful.pfs_months));
}

TEST_CASE("the combination kills at least as fast as either of its drugs") {
  RegimenSpec combo = anti_pd1();
  combo.name = "combo";
  combo.phases[0].ctla4_blockade = 1.0;
  RegimenSpec ctla4 = anti_pd1();
  ctla4.name = "ctla4";
  ctla4.phases[0].pd1_blockade = 0.0;
  ctla4.phases[0].ctla4_blockade = 1.0;
  const Scenario s = scenario_with({combo, anti_pd1(), ctla4});
  const Patient p = patient(6, 5, 0.3, 0.5);
  const detail::PatientBiology b = biology_for(s, p);
  const Outcome c = run(s, p, b, 0);
  const Outcome pd1 = run(s, p, b, 1);
  const Outcome ct = run(s, p, b, 2);
  CHECK(c.best_percent_change <= pd1.best_percent_change);
  CHECK(c.best_percent_change <= ct.best_percent_change);
}

TEST_CASE("a grade >= 3 irAE stops treatment for toxicity and a grade 5 one is fatal") {
  RegimenSpec toxic = anti_pd1();
  toxic.phases[0].irae_hazard_per_month = 50.0;  // an irAE in the first days
  toxic.phases[0].frac_severe_irae = 1.0;
  Scenario s = scenario_with({toxic});
  s.course.severe_grade_probs = {0.0, 0.0, 1.0};
  const Patient p = patient(10, 10, 0.5, 0.5);
  const detail::PatientBiology b = biology_for(s, p);
  std::vector<CourseEvent> events;
  const Outcome o = run(s, p, b, 0, &events);
  CHECK(o.worst_irae_grade == 5);
  CHECK(o.death_cause == DeathCause::kToxicity);
  CHECK(o.stop_reason == StopReason::kToxicity);
  CHECK(o.os_event);
  CHECK(o.os_months < 1.0);
  // Death is recorded on the first whole day at or after the fatal irAE (the date of death).
  CHECK(o.os_months * kDaysPerMonth ==
        doctest::Approx(std::ceil(o.irae_onset_months * kDaysPerMonth)));
  CHECK(o.best_response == Response::kNE);  // died before the first assessment

  s.course.severe_grade_probs = {0.0, 1.0, 0.0};
  const Outcome grade4 = run(s, p, b);
  CHECK(grade4.worst_irae_grade == 4);
  CHECK(grade4.stop_reason == StopReason::kToxicity);  // grade 4 discontinues at once
  CHECK(grade4.treatment_holds == 0);
  CHECK(grade4.treatment_months < 1.0);
}

namespace {

// An anti-PD-1 course whose first irAE (a grade 3) comes in the first days, and no other.
Scenario one_severe_irae(double discontinue_probability) {
  RegimenSpec toxic = anti_pd1();
  toxic.phases[0].irae_hazard_per_month = 50.0;
  toxic.phases[0].frac_severe_irae = 1.0;
  Scenario s = scenario_with({toxic});
  s.course.severe_grade_probs = {1.0, 0.0, 0.0};
  s.course.irae_grade3_discontinue_probability = discontinue_probability;
  s.course.irae_activation_coupling = 0.0;
  s.course.irae_early_months = 0.01;   // the hazard falls at once to its late level...
  s.course.irae_late_fraction = 1e-9;  // ...of nothing, and decays within days after a dose
  s.course.irae_post_treatment_decay_months = 0.01;
  return s;
}

}  // namespace

TEST_CASE("a grade 3 irAE holds therapy, which resumes unless it is discontinued") {
  const Patient p = patient(10, 10, 0.5, 0.5);
  {
    const Scenario s = one_severe_irae(0.0);
    const detail::PatientBiology b = biology_for(s, p);
    std::vector<CourseEvent> events;
    const Outcome o = run(s, p, b, 0, &events);
    CHECK(o.worst_irae_grade == 3);
    CHECK(o.treatment_holds == 1);
    CHECK(o.stop_reason != StopReason::kToxicity);
    const auto hold = std::find_if(events.begin(), events.end(), [](const CourseEvent& e) {
      return e.kind == EventKind::kTreatmentHold;
    });
    const auto resume = std::find_if(events.begin(), events.end(), [](const CourseEvent& e) {
      return e.kind == EventKind::kTreatmentResume;
    });
    REQUIRE(hold != events.end());
    REQUIRE(resume != events.end());
    CHECK(resume->day >= hold->value);  // resumed at the first step boundary after resolution
    CHECK(resume->day < hold->value + 7.0 + 1e-9);
  }
  {
    const Scenario s = one_severe_irae(1.0);
    const detail::PatientBiology b = biology_for(s, p);
    const Outcome o = run(s, p, b);
    CHECK(o.treatment_holds == 0);
    CHECK(o.stop_reason == StopReason::kToxicity);
    CHECK(o.treatment_months < 0.5);
  }
}

TEST_CASE("a second severe irAE after resumption discontinues therapy") {
  Scenario s = one_severe_irae(0.0);
  s.course.irae_late_fraction = 1.0;  // the hazard stays high: more severe irAEs follow
  const Patient p = patient(10, 10, 0.5, 0.5);
  const detail::PatientBiology b = biology_for(s, p);
  const Outcome o = run(s, p, b);
  CHECK(o.stop_reason == StopReason::kToxicity);
  CHECK(o.treatment_holds <= 1);
  CHECK(o.treatment_months < 6.0);
}

TEST_CASE("phases follow one another: induction with CTLA-4, then PD-1 maintenance") {
  RegimenSpec combo = anti_pd1();
  combo.name = "combo";
  combo.phases[0].ctla4_blockade = 1.0;
  combo.phases[0].cycles = 4;
  combo.phases[0].cycle_length_days = 21;
  RegimenPhase maintenance = anti_pd1().phases[0];
  combo.phases.push_back(maintenance);
  RegimenSpec throughout = anti_pd1();
  throughout.name = "ctla4_throughout";
  throughout.phases[0].ctla4_blockade = 1.0;
  RegimenSpec short_course = combo;
  short_course.name = "induction_only";
  short_course.phases.pop_back();
  short_course.max_duration_months = 0;
  const Scenario s = scenario_with({combo, throughout, short_course, anti_pd1()});
  const Patient p = patient(6, 5, 0.3, 0.5);
  const detail::PatientBiology b = biology_for(s, p);
  const Outcome phased = run(s, p, b, 0);
  const Outcome always = run(s, p, b, 1);
  const Outcome induction = run(s, p, b, 2);
  const Outcome pd1 = run(s, p, b, 3);
  CHECK(induction.stop_reason == StopReason::kCompleted);
  CHECK(induction.treatment_months == doctest::Approx(84 / kDaysPerMonth));
  // Induction adds kill over PD-1 alone; keeping CTLA-4 blocked all along adds more.
  CHECK(phased.best_percent_change <= pd1.best_percent_change);
  CHECK(always.best_percent_change <= phased.best_percent_change);
}

TEST_CASE("antigen-driven killing leaves residual disease that only memory clears") {
  // A strong responder: with no memory the tumour reaches minimal residual disease in equilibrium
  // and is never eradicated; with full memory, surveillance clears it.
  const Scenario s = scenario_with({anti_pd1()});
  const Patient forgetful = patient(50, 60, 0.9, 0.0);
  Patient remembering = forgetful;
  remembering.memory_capacity = 1.0;
  const detail::PatientBiology b = biology_for(s, forgetful);
  const Outcome low = run(s, forgetful, b);
  const Outcome high = run(s, remembering, b);
  CHECK(low.best_response == Response::kCR);
  CHECK_FALSE(low.eradicated);
  CHECK(low.pfs_event);  // it relapses after the last dose
  CHECK(high.eradicated);
  CHECK(high.eradication_months > 0.0);
  CHECK(high.durable_cr);
}

namespace {

RegimenSpec tumour_infiltrating_lymphocytes() {
  RegimenSpec til;
  til.name = "til";
  til.regimen_class = RegimenClass::kCellTherapy;
  RegimenPhase lymphodepletion;
  lymphodepletion.name = "lymphodepletion";
  lymphodepletion.cycle_length_days = 7;
  lymphodepletion.cycles = 1;
  lymphodepletion.ae_hazard_per_month = 30.0;
  lymphodepletion.frac_severe_ae = 0.9;
  RegimenPhase infusion;
  infusion.name = "infusion_il2";
  infusion.cycle_length_days = 7;
  infusion.cycles = 1;
  infusion.cell_dose = 1.0;
  til.phases = {lymphodepletion, infusion};
  til.onset_scale = 0.3;
  return til;
}

}  // namespace

TEST_CASE("cell therapy is given once, bypasses priming, and works less after anti-PD-1") {
  Scenario s = scenario_with({tumour_infiltrating_lymphocytes(), anti_pd1()});
  s.course.ae_severe_grade_probs = {1.0, 0.0, 0.0};
  Patient cold = patient(2, 1, 0.05, 0.5);  // too cold for PD-1 blockade alone
  Patient pretreated = cold;
  pretreated.prior_anti_pd1 = true;
  pretreated.line_of_therapy = 2;
  detail::PatientBiology b = biology_for(s, cold);
  std::vector<CourseEvent> events;
  const Outcome cells = run(s, cold, b, 0, &events);
  const Outcome checkpoint = run(s, cold, b, 1);
  const Outcome after_pd1 = run(s, pretreated, b, 0);
  CHECK(cells.stop_reason == StopReason::kCompleted);
  CHECK(cells.treatment_months == doctest::Approx(14 / kDaysPerMonth));
  CHECK(cells.best_percent_change < checkpoint.best_percent_change);
  CHECK(cells.best_percent_change < after_pd1.best_percent_change);
  CHECK(cells.worst_ae_grade == 3);  // lymphodepletion: severe AEs, no hold
  CHECK(cells.treatment_holds == 0);
  CHECK(std::count_if(events.begin(), events.end(), [](const CourseEvent& e) {
          return e.kind == EventKind::kAdverseEvent;
        }) >= 1);
  CHECK(cells.worst_irae_grade == 0);
}

TEST_CASE("pseudo-progression: RECIST PD, then an iRECIST response when treated beyond it") {
  Scenario s = scenario_with({anti_pd1(), anti_pd1()});
  s.arms[0].beyond_progression_probability = 1.0;
  s.course.pseudo_progression_swelling = 3.0;  // the infiltrate more than doubles the lesions
  s.course.pseudo_progression_peak_months = 1.0;
  const Patient p = patient(50, 60, 0.9, 1.0);
  const detail::PatientBiology b = biology_for(s, p);
  std::vector<CourseEvent> events;
  const Outcome beyond = run(s, p, b, 0, &events);
  const Outcome stopped = run(s, p, b, 1);
  CHECK(beyond.best_response == Response::kPD);  // RECIST 1.1 reads the swelling as PD
  CHECK(beyond.beyond_progression);
  CHECK(beyond.pseudo_progression);
  CHECK((beyond.best_response_irecist == Response::kCR ||
         beyond.best_response_irecist == Response::kPR));
  CHECK(beyond.pfs_irecist_months > beyond.pfs_months);
  CHECK(beyond.treatment_months > stopped.treatment_months);
  // Not treated beyond it, the iUPD cannot be confirmed: the two readings agree.
  CHECK(stopped.best_response == Response::kPD);
  CHECK_FALSE(stopped.beyond_progression);
  CHECK(stopped.stop_reason == StopReason::kProgression);
  CHECK(stopped.pfs_irecist_months == stopped.pfs_months);
  CHECK(stopped.pfs_irecist_event);
}

TEST_CASE("true progression treated beyond RECIST PD is confirmed at the next visit") {
  Scenario s = scenario_with({anti_pd1()});
  s.arms[0].beyond_progression_probability = 1.0;
  const Patient p = patient(0.5, 0, 0.05, 0.1);  // no response at all
  const detail::PatientBiology b = biology_for(s, p);
  std::vector<CourseEvent> events;
  const Outcome o = run(s, p, b, 0, &events);
  CHECK(o.beyond_progression);
  CHECK_FALSE(o.pseudo_progression);
  CHECK(o.stop_reason == StopReason::kProgression);
  CHECK(o.pfs_irecist_months == doctest::Approx(o.pfs_months));  // dated at the iUPD
  const auto confirmed = std::find_if(events.begin(), events.end(), [](const CourseEvent& e) {
    return e.kind == EventKind::kConfirmedProgression;
  });
  REQUIRE(confirmed != events.end());
  CHECK(confirmed->day > o.pfs_months * kDaysPerMonth);
  CHECK(o.treatment_months * kDaysPerMonth == doctest::Approx(confirmed->day));
}

TEST_CASE("a next line after progression starts after its delay and changes survival") {
  RegimenSpec chemo;
  chemo.phases.emplace_back();
  chemo.name = "chemo";
  chemo.regimen_class = RegimenClass::kChemotherapy;
  chemo.phases[0].kill_per_month = 0.3;
  chemo.phases[0].cycles = 4;
  chemo.phases[0].cycle_length_days = 21;
  const Scenario without = scenario_with({chemo});
  Scenario with = without;
  with.arms[0].next_line = NextLineSpec{true, anti_pd1(), 1.0, 4.0};
  const Patient p = patient(30, 60, 0.8, 0.8);
  detail::PatientBiology b = biology_for(with, p);
  b.chemo_resistant_fraction = 0.2;
  std::vector<CourseEvent> events;
  const Outcome crossed = run(with, p, b, 0, &events);
  const Outcome not_crossed = run(without, p, b, 0);
  REQUIRE(crossed.pfs_event);
  CHECK(crossed.pfs_months == not_crossed.pfs_months);  // the first line is the same
  CHECK(crossed.stop_reason == not_crossed.stop_reason);
  CHECK(crossed.next_line_months == doctest::Approx(crossed.pfs_months + 28 / kDaysPerMonth));
  CHECK(std::isnan(not_crossed.next_line_months));
  CHECK(std::isnan(not_crossed.pfs2_months));
  CHECK(crossed.os_months > not_crossed.os_months);
  CHECK(crossed.pfs2_months > crossed.next_line_months);
  CHECK(std::count_if(events.begin(), events.end(), [](const CourseEvent& e) {
          return e.kind == EventKind::kNextLine && e.code == 2;
        }) == 1);
}

TEST_CASE("chemotherapy AEs are graded, hold the next doses, and are not irAEs") {
  RegimenSpec chemo;
  chemo.phases.emplace_back();
  chemo.name = "chemo";
  chemo.regimen_class = RegimenClass::kChemotherapy;
  chemo.phases[0].kill_per_month = 0.5;
  chemo.phases[0].cycles = 6;
  chemo.phases[0].cycle_length_days = 21;
  chemo.phases[0].ae_hazard_per_month = 2.0;
  chemo.phases[0].frac_severe_ae = 1.0;
  Scenario s = scenario_with({chemo});
  s.course.ae_severe_grade_probs = {1.0, 0.0, 0.0};
  s.course.ae_discontinue_probability = 0.0;
  const Patient p = patient(10, 10, 0.5, 0.5);
  const detail::PatientBiology b = biology_for(s, p);
  const Outcome o = run(s, p, b);
  CHECK(o.worst_ae_grade == 3);
  CHECK(o.worst_irae_grade == 0);
  CHECK(o.treatment_holds >= 1);
}

TEST_CASE("a course is a pure function of (scenario, patient, seed, arm)") {
  RegimenSpec r = anti_pd1();
  r.phases[0].irae_hazard_per_month = 0.3;
  r.phases[0].frac_severe_irae = 0.3;
  const Scenario s = scenario_with({r});
  const Patient p = patient(12, 30, 0.6, 0.4);
  const detail::PatientBiology b1 = detail::draw_biology(s.course, p, 99);
  const detail::PatientBiology b2 = detail::draw_biology(s.course, p, 99);
  CHECK(b1.growth_per_day == b2.growth_per_day);
  CHECK(b1.other_death_day == b2.other_death_day);
  std::vector<CourseEvent> e1, e2;
  const auto days = detail::assessment_days(s.assessment, 120 * kDaysPerMonth);
  const Outcome o1 = detail::simulate_course(s, days, p, b1, 99, 0, &e1);
  const Outcome o2 = detail::simulate_course(s, days, p, b2, 99, 0, &e2);
  CHECK(std::memcmp(&o1.os_months, &o2.os_months, sizeof(double)) == 0);
  CHECK(o1.pfs_months == o2.pfs_months);
  CHECK(e1.size() == e2.size());
  const detail::PatientBiology other = detail::draw_biology(s.course, p, 100);
  CHECK(other.growth_per_day != b1.growth_per_day);
}

TEST_CASE("chemotherapy response is independent of immune biomarkers") {
  RegimenSpec chemo;
  chemo.phases.emplace_back();
  chemo.name = "chemo";
  chemo.regimen_class = RegimenClass::kChemotherapy;
  chemo.phases[0].kill_per_month = 1.0;
  chemo.phases[0].cycles = 6;
  chemo.phases[0].cycle_length_days = 21;
  chemo.max_duration_months = 0;
  const Scenario s = scenario_with({chemo});
  const Patient cold = patient(0.5, 0, 0.05, 0.1);
  const Patient hot = patient(50, 90, 0.95, 0.9);
  detail::PatientBiology b = biology_for(s, cold);
  const Outcome a = run(s, cold, b);
  const Outcome c = run(s, hot, b);
  CHECK(a.best_response == c.best_response);
  CHECK(a.pfs_months == c.pfs_months);
  CHECK(a.stop_reason == StopReason::kCompleted);
  CHECK(a.treatment_months == doctest::Approx(6 * 21 / kDaysPerMonth));
}

namespace {

// Ages 60-65 of configs/model/life_table.toml (SSA period life table 2017, TR 2020), verbatim.
LifeTable ssa_2017_ages_60_to_65() {
  LifeTable t;
  t.age_years = {60, 61, 62, 63, 64, 65};
  t.q_male = {0.011519, 0.012419, 0.013307, 0.014164, 0.015032, 0.016013};
  t.q_female = {0.006886, 0.007391, 0.007931, 0.008508, 0.009142, 0.009874};
  return t;
}

// Fraction of `n` virtual patients of this age and sex whose other-cause death comes after
// `years`, each patient with its own index (hence its own kOtherDeath stream).
double surviving_fraction(const CourseParams& params, Sex sex, double age, double years, int n) {
  Patient p = patient(10, 10, 0.5, 0.5);
  p.sex = sex;
  p.age_years = age;
  int alive = 0;
  for (int i = 0; i < n; ++i) {
    p.index = static_cast<std::uint64_t>(i);
    // The engine converts years to days with 365.25 days per year.
    if (detail::draw_biology(params, p, 20261127).other_death_day > years * 365.25) ++alive;
  }
  return static_cast<double>(alive) / n;
}

// Monte Carlo standard error of a fraction estimated from n independent Bernoulli(p) indicators.
double bernoulli_se(double p, int n) { return std::sqrt(p * (1.0 - p) / n); }

}  // namespace

TEST_CASE("other-cause deaths of 60-year-olds reproduce the life table's 5-year survival" *
          doctest::test_suite("statistical")) {
  CourseParams params;
  params.life_table = ssa_2017_ages_60_to_65();
  // With the constant hazard mu_x = -ln(1 - q_x) within each year of age, survival from exact age
  // 60 to 65 is exp(-sum mu_x) = prod_{x=60..64} (1 - q_x), exactly. Each simulated patient's
  // "alive at 5 years" is an independent Bernoulli(S) indicator (own stream per index), so the
  // fraction over n patients has standard error sqrt(S (1 - S) / n); we allow 4 of them.
  constexpr int kPatients = 100000;
  for (const Sex sex : {Sex::kMale, Sex::kFemale}) {
    const std::vector<double>& q =
        sex == Sex::kMale ? params.life_table.q_male : params.life_table.q_female;
    double expected = 1.0;
    for (std::size_t i = 0; i < 5; ++i) expected *= 1.0 - q[i];
    const double observed = surviving_fraction(params, sex, 60.0, 5.0, kPatients);
    CAPTURE(to_string(sex));
    CHECK(std::abs(observed - expected) < 4.0 * bernoulli_se(expected, kPatients));
  }
}

TEST_CASE("men die of other causes earlier than women of the same age" *
          doctest::test_suite("statistical")) {
  CourseParams params;
  params.life_table = ssa_2017_ages_60_to_65();
  // The table gives S_female(5) - S_male(5) = 0.9608 - 0.9353 = 0.025. Men and women with the same
  // index share their Exp(1) draw, so the two fractions are positively correlated and the standard
  // error of their difference is at most sqrt(se_m^2 + se_f^2) ~ 0.0010 at n = 100000: requiring
  // the difference to exceed 4 of those is conservative, and about 20 of them from failing.
  constexpr int kPatients = 100000;
  const double men = surviving_fraction(params, Sex::kMale, 60.0, 5.0, kPatients);
  const double women = surviving_fraction(params, Sex::kFemale, 60.0, 5.0, kPatients);
  const double se = std::hypot(bernoulli_se(men, kPatients), bernoulli_se(women, kPatients));
  CHECK(women - men > 4.0 * se);
  // Patient by patient: the same Exp(1) draw, inverted through the men's larger cumulative hazard,
  // gives the earlier death.
  Patient p = patient(10, 10, 0.5, 0.5);
  p.age_years = 60;
  p.sex = Sex::kMale;
  const double man_day = detail::draw_biology(params, p, 5).other_death_day;
  p.sex = Sex::kFemale;
  CHECK(man_day < detail::draw_biology(params, p, 5).other_death_day);
}

TEST_CASE("a fractional age starts mid-year, and past the last age its hazard holds") {
  CourseParams params;
  params.life_table = ssa_2017_ages_60_to_65();
  const std::vector<double>& q = params.life_table.q_male;
  constexpr int kPatients = 100000;
  // From exact age 60.5 to 61.5: half a year at mu_60 and half at mu_61, so
  // S = sqrt((1 - q_60)(1 - q_61)). Tolerance: 4 binomial standard errors, as above.
  const double half_year = std::sqrt((1.0 - q[0]) * (1.0 - q[1]));
  CHECK(std::abs(surviving_fraction(params, Sex::kMale, 60.5, 1.0, kPatients) - half_year) <
        4.0 * bernoulli_se(half_year, kPatients));
  // At 70, past the table's last age (65, open-ended), the hazard stays mu_65: S(2) = (1 - q_65)^2.
  const double beyond = (1.0 - q[5]) * (1.0 - q[5]);
  CHECK(std::abs(surviving_fraction(params, Sex::kMale, 70.0, 2.0, kPatients) - beyond) <
        4.0 * bernoulli_se(beyond, kPatients));
  // An empty table means no other-cause death at all.
  const Patient any = patient(10, 10, 0.5, 0.5);
  CHECK(std::isinf(detail::draw_biology(CourseParams{}, any, 5).other_death_day));
}

TEST_CASE("a single responding visit followed by progression is an unconfirmed PR, confirmed SD") {
  // One 21-day cycle of chemotherapy that kills every sensitive cell, then a resistant 1 % that
  // doubles every two weeks: 0.01 * 2^3 = 0.08 of baseline cells at day 42 (diameter ratio 0.43,
  // -57 %: PR) and 0.64 at day 84 (ratio 0.86: twice the nadir, PD). No residual mass, noise, new
  // lesions or disease death, so every visit reads exactly the tumour.
  RegimenSpec chemo;
  chemo.phases.emplace_back();
  chemo.name = "chemo";
  chemo.regimen_class = RegimenClass::kChemotherapy;
  chemo.phases[0].kill_per_month = 60.0;
  chemo.phases[0].cycles = 1;
  chemo.phases[0].cycle_length_days = 21;
  chemo.max_duration_months = 0;
  chemo.phases[0].irae_hazard_per_month = 0.0;
  Scenario s = scenario_with({chemo});
  s.course.measurement_sigma_log = 0.0;
  s.course.new_lesion_rate_per_month = 0.0;
  s.assessment.confirmation_weeks = 4.0;
  s.assessment.min_sd_weeks = 6.0;
  const Patient p = patient(10, 10, 0.5, 0.5);
  detail::PatientBiology b = biology_for(s, p);
  b.growth_per_day = std::log(2.0) / 14.0;
  b.chemo_resistant_fraction = 0.01;
  b.residual_fraction = 0.0;
  b.death_hazard_per_day = 0.0;
  std::vector<CourseEvent> events;
  const Outcome o = detail::simulate_course(s, {42.0, 84.0, 126.0}, p, b, 11, 0, &events);

  std::vector<int> visits;
  for (const CourseEvent& e : events)
    if (e.kind == EventKind::kAssessment) visits.push_back(e.code);
  REQUIRE(visits ==
          std::vector<int>{static_cast<int>(Response::kPR), static_cast<int>(Response::kPD)});
  CHECK(o.best_response == Response::kSD);  // the PR was not confirmed by the next visit
  CHECK(o.best_response_unconfirmed == Response::kPR);
  CHECK(std::isnan(o.time_to_response_months));
  CHECK(std::none_of(events.begin(), events.end(),
                     [](const CourseEvent& e) { return e.kind == EventKind::kResponse; }));

  // The same PR before min_sd_weeks still counts unconfirmed; confirmed it cannot even be SD.
  s.assessment.min_sd_weeks = 8.0;
  const Outcome early = detail::simulate_course(s, {42.0, 84.0, 126.0}, p, b, 11, 0, nullptr);
  CHECK(early.best_response == Response::kPD);
  CHECK(early.best_response_unconfirmed == Response::kPR);
}

TEST_CASE("a confirmed response is the same response without confirmation") {
  const Scenario s = scenario_with({anti_pd1()});
  const Patient p = patient(50, 60, 0.9, 1.0);
  const Outcome o = run(s, p, biology_for(s, p));
  REQUIRE(o.best_response == Response::kCR);
  CHECK(o.best_response_unconfirmed == Response::kCR);
}

TEST_CASE("an unequivocal new lesion is progression whatever the sum of diameters") {
  Scenario s = scenario_with({anti_pd1()});
  const Patient p = patient(0.01, 0, 0.05, 0.5);  // no immune effect
  detail::PatientBiology b = biology_for(s, p);
  b.growth_per_day = std::log(2.0) / 400.0;  // too slow for +20% diameter by week 6
  s.course.new_lesion_rate_per_month = 0.0;
  const Outcome without = run(s, p, b);
  CHECK(without.best_response == Response::kSD);
  s.course.new_lesion_rate_per_month = 1000.0;  // a new lesion within the first days
  const Outcome with = run(s, p, b);
  CHECK(with.best_response == Response::kPD);
  CHECK(with.pfs_months == doctest::Approx(42 / kDaysPerMonth));
  CHECK(with.best_percent_change > -30.0);  // the target lesions did not respond
}

TEST_CASE("a targeted regimen acts by cancer type, not by immune biomarkers") {
  RegimenSpec sunitinib;
  sunitinib.phases.emplace_back();
  sunitinib.name = "sunitinib";
  sunitinib.regimen_class = RegimenClass::kTargeted;
  sunitinib.phases[0].kill_per_month = 1.0;
  sunitinib.max_duration_months = 0;
  sunitinib.phases[0].cycle_length_days = 42;
  sunitinib.targeted_sensitivity.fill(0.0);
  sunitinib.targeted_sensitivity[static_cast<std::size_t>(CancerType::kRcc)] = 1.0;
  sunitinib.targeted_resistant_fraction_median = 0.01;
  const Scenario s = scenario_with({sunitinib});
  Patient rcc = patient(1, 0, 0.1, 0.5);
  rcc.cancer_type = CancerType::kRcc;
  Patient rcc_hot = patient(60, 90, 0.95, 0.9);
  rcc_hot.cancer_type = CancerType::kRcc;
  const Patient melanoma = patient(1, 0, 0.1, 0.5);
  const detail::PatientBiology b = biology_for(s, rcc);
  const Outcome responds = run(s, rcc, b);
  const Outcome same = run(s, rcc_hot, b);
  const Outcome insensitive = run(s, melanoma, b);
  CHECK((responds.best_response == Response::kPR || responds.best_response == Response::kCR));
  CHECK(same.best_percent_change == responds.best_percent_change);  // biomarkers do not matter
  CHECK(insensitive.best_percent_change > 0.0);                     // no kill outside RCC
  CHECK(responds.pfs_event);                                        // resistance regrows
  CHECK_FALSE(responds.eradicated);
}

TEST_CASE("survival times are whole days, or the horizon for patients alive at its end") {
  // Deaths from the disease (a fast tumour, no treatment effect), from other causes (a continuous
  // draw) and from toxicity: every time-to-event field is a whole number of days.
  RegimenSpec toxic = anti_pd1();
  toxic.phases[0].irae_hazard_per_month = 0.5;
  toxic.phases[0].frac_severe_irae = 0.5;
  Scenario s = scenario_with({toxic});
  const double horizon_days = 120 * kDaysPerMonth;
  int deaths = 0;
  for (int k = 0; k < 60; ++k) {
    CAPTURE(k);
    const Patient p = patient(1 + k, 5.0 * (k % 10), 0.1 * (k % 10), 0.5);
    detail::PatientBiology b = biology_for(s, p);
    b.growth_per_day = std::log(2.0) / (20.0 + 10.0 * k);
    // Fractional on purpose; the last one falls in the final half day before the horizon.
    b.other_death_day = k == 59 ? horizon_days - 0.25 : 37.3 * (k + 1) + 0.123;
    const Outcome o = run(s, p, b);
    deaths += o.os_event ? 1 : 0;
    const auto whole_day = [&](double months) {
      const double days = months * kDaysPerMonth;
      return days == horizon_days || std::abs(days - std::round(days)) < 1e-6;
    };
    CHECK((!o.os_event || o.os_months * kDaysPerMonth < horizon_days));  // no death at the horizon
    CHECK((std::isnan(o.best_percent_change) || o.best_percent_change >= -100.0));
    CHECK(whole_day(o.os_months));
    CHECK(whole_day(o.pfs_months));
    CHECK(whole_day(o.pfs_irecist_months));
    if (!std::isnan(o.duration_of_response_months)) {
      CHECK(whole_day(o.time_to_response_months));
      CHECK(whole_day(o.time_to_response_months + o.duration_of_response_months));
    }
  }
  CHECK(deaths > 30);
}
