#include "vpgen/stats/statistics.hpp"

#include <cmath>
#include <cstdint>
#include <vector>

#include <doctest/doctest.h>

#include "vpgen/population/error.hpp"

using vpgen::Interval;
using vpgen::KaplanMeier;

namespace {

// Reference values below were computed independently of this code: Clopper-Pearson limits by
// bisection on the exact binomial tail sums (Python, math.comb), Kaplan-Meier tables by the
// product-limit recursion with Greenwood's sum, z = qnorm(0.975) = 1.9599639845400536, and the
// median rule of R's survival:::survmean (minmin). They are printed to 10 decimals, hence the
// 1e-9 tolerance. Where published values exist they are cited.
constexpr double kTol = 1e-9;

void check_interval(const Interval& got, double estimate, double low, double high,
                    double tol = kTol) {
  CHECK(got.estimate == doctest::Approx(estimate).epsilon(tol));
  CHECK(got.low == doctest::Approx(low).epsilon(tol));
  CHECK(got.high == doctest::Approx(high).epsilon(tol));
}

// The 6-MP arm of the leukaemia remission trial of Freireich et al. (Blood 1963), as tabulated
// by Gehan (Biometrika 1965): 21 patients, remission times in weeks, 9 relapses.
// 6 6 6 6+ 7 9+ 10 10+ 11+ 13 16 17+ 19+ 20+ 22 23 25+ 32+ 32+ 34+ 35+
KaplanMeier six_mp() {
  KaplanMeier km;
  km.add(6, 3, 1);
  km.add(7, 1, 0);
  km.add(9, 0, 1);
  km.add(10, 1, 1);
  km.add(11, 0, 1);
  km.add(13, 1, 0);
  km.add(16, 1, 0);
  km.add(17, 0, 1);
  km.add(19, 0, 1);
  km.add(20, 0, 1);
  km.add(22, 1, 0);
  km.add(23, 1, 0);
  km.add(25, 0, 1);
  km.add(32, 0, 2);
  km.add(34, 0, 1);
  km.add(35, 0, 1);
  return km;
}

// The placebo arm of the same trial: 21 patients, all relapsed.
// 1 1 2 2 3 4 4 5 5 8 8 8 8 11 11 12 12 15 17 22 23
KaplanMeier placebo() {
  KaplanMeier km;
  km.add(1, 2, 0);
  km.add(2, 2, 0);
  km.add(3, 1, 0);
  km.add(4, 2, 0);
  km.add(5, 2, 0);
  km.add(8, 4, 0);
  km.add(11, 2, 0);
  km.add(12, 2, 0);
  km.add(15, 1, 0);
  km.add(17, 1, 0);
  km.add(22, 1, 0);
  km.add(23, 1, 0);
  return km;
}

}  // namespace

TEST_CASE("clopper_pearson matches published exact binomial limits") {
  // k = 0, n = 10: high = 1 - 0.025^(1/10) = 0.3085 (e.g. Newcombe, Stat Med 1998, Table II).
  check_interval(vpgen::clopper_pearson(0, 10), 0.0, 0.0, 0.308497107819);
  // k = 5, n = 10: (0.1871, 0.8129), symmetric about 0.5.
  check_interval(vpgen::clopper_pearson(5, 10), 0.5, 0.187086028447, 0.812913971553);
  // k = n = 10: low = 0.025^(1/10) = 0.6915.
  check_interval(vpgen::clopper_pearson(10, 10), 1.0, 0.691502892181, 1.0);
  check_interval(vpgen::clopper_pearson(1, 10), 0.1, 0.002528578544, 0.445016117028);
  check_interval(vpgen::clopper_pearson(437, 1000), 0.437, 0.405981506525, 0.468390438511);
  check_interval(vpgen::clopper_pearson(0, 1), 0.0, 0.0, 0.975);
  // A 90% interval: (0.2224, 0.7776) for 5 of 10.
  check_interval(vpgen::clopper_pearson(5, 10, 0.90), 0.5, 0.222441101008, 0.777558898992);
}

TEST_CASE("clopper_pearson is NaN for no trials and rejects impossible input") {
  const Interval none = vpgen::clopper_pearson(0, 0);
  CHECK(std::isnan(none.estimate));
  CHECK(std::isnan(none.low));
  CHECK(std::isnan(none.high));
  CHECK_THROWS_AS(vpgen::clopper_pearson(11, 10), vpgen::Error);
  CHECK_THROWS_AS(vpgen::clopper_pearson(1, 10, 1.0), vpgen::Error);
  CHECK_THROWS_AS(vpgen::clopper_pearson(1, 10, 0.0), vpgen::Error);
}

TEST_CASE("Kaplan-Meier survival with Greenwood log-scale interval on the 6-MP data") {
  const KaplanMeier km = six_mp();
  CHECK(km.subjects() == 21);
  CHECK(km.events() == 9);
  // Before any event the curve is 1 with a degenerate interval (R: se = 0 gives (S, S)).
  check_interval(km.survival_at(0.0), 1.0, 1.0, 1.0);
  check_interval(km.survival_at(5.99), 1.0, 1.0, 1.0);
  // t = 6: n = 21 at risk (the censoring at 6 comes after the 3 events), S = 18/21,
  // se(log S) = sqrt(3/(21*18)) = 0.0890870806, upper limit 1.0205 clipped to 1.
  check_interval(km.survival_at(6.0), 18.0 / 21.0, 0.7198170839, 1.0);
  // t = 7: n = 17 (21 - 3 events - 1 censored), S = 18/21 * 16/17.
  check_interval(km.survival_at(7.0), 0.8067226891, 0.6531242185, 0.9964436759);
  // Between event times and at a censor-only time the curve is flat.
  check_interval(km.survival_at(12.5), 0.7529411765, 0.5859189820, 0.9675747546);
  check_interval(km.survival_at(20.0), 0.6274509804, 0.4393939250, 0.8959949385);
  // t = 23: S = 0.4482, Greenwood se(S) = S * 0.3003071879 = 0.1346 (R summary: 0.135).
  check_interval(km.survival_at(23.0), 0.4481792717, 0.2487882268, 0.8073720455);
  // The last observed time (a censoring) is still estimable; beyond it is not.
  check_interval(km.survival_at(35.0), 0.4481792717, 0.2487882268, 0.8073720455);
  const Interval beyond = km.survival_at(35.5);
  CHECK(std::isnan(beyond.estimate));
  CHECK(std::isnan(beyond.low));
  CHECK(std::isnan(beyond.high));
}

TEST_CASE("Kaplan-Meier median and Brookmeyer-Crowley interval match R on the 6-MP trial") {
  // R: survfit(Surv(time, status) ~ 1) prints median 23, 0.95LCL 16, 0.95UCL NA for 6-MP
  // (the upper band never falls to 0.5: it ends at 0.807), and 8 (4, 12) for placebo.
  const Interval mp = six_mp().median();
  CHECK(mp.estimate == 23.0);
  CHECK(mp.low == 16.0);
  CHECK(std::isnan(mp.high));
  const Interval pl = placebo().median();
  CHECK(pl.estimate == 8.0);
  CHECK(pl.low == 4.0);
  CHECK(pl.high == 12.0);
}

TEST_CASE("Kaplan-Meier at zero survival has NaN bounds, as R's NA") {
  const KaplanMeier km = placebo();
  const Interval end = km.survival_at(23.0);
  CHECK(end.estimate == 0.0);
  CHECK(std::isnan(end.low));
  CHECK(std::isnan(end.high));
  // One event time earlier: S = 1/21, se(log S) = 0.9759000729.
  check_interval(km.survival_at(22.0), 0.0476190476, 0.0070322298, 0.3224544341);
}

TEST_CASE("median on an exact 0.5 plateau is the midpoint to the next event time") {
  // Deaths at 1, 2, 3, 4, none censored: S = 0.75, 0.5, 0.25, 0. S = 0.5 on [2, 3), so the
  // median is (2 + 3)/2 = 2.5. Lower band: 0.4259 at t = 1, so the lower limit is 1. Upper band:
  // 1, 1, 1 (clipped), then NA at S = 0: never below 0.5, so no upper limit.
  KaplanMeier km;
  for (int t = 1; t <= 4; ++t) km.add(t, 1, 0);
  const Interval m = km.median();
  CHECK(m.estimate == 2.5);
  CHECK(m.low == 1.0);
  CHECK(std::isnan(m.high));
}

TEST_CASE("median on a 0.5 plateau that runs to the end of follow-up is its start") {
  // Deaths at 1 and 2, censorings at 3 and 4: S = 0.5 from t = 2 to the end. R's print.survfit
  // reports 2 (no later event ends the stretch).
  KaplanMeier km;
  km.add(1, 1, 0);
  km.add(2, 1, 0);
  km.add(3, 0, 1);
  km.add(4, 0, 1);
  const Interval m = km.median();
  CHECK(m.estimate == 2.0);
  CHECK(m.low == 1.0);
  CHECK(std::isnan(m.high));
}

TEST_CASE("median is not reached when every subject is censored") {
  KaplanMeier km;
  km.add(1.5, 0, 3);
  km.add(7.25, 0, 2);
  const Interval m = km.median();
  CHECK(std::isnan(m.estimate));
  CHECK(std::isnan(m.low));
  CHECK(std::isnan(m.high));
  check_interval(km.survival_at(7.25), 1.0, 1.0, 1.0);
}

TEST_CASE("an empty Kaplan-Meier estimates nothing") {
  const KaplanMeier km;
  CHECK(std::isnan(km.survival_at(0.0).estimate));
  CHECK(std::isnan(km.median().estimate));
}

TEST_CASE("Kaplan-Meier rejects times that are not increasing, not finite or empty") {
  KaplanMeier km;
  km.add(2.0, 1, 0);
  CHECK_THROWS_AS(km.add(2.0, 1, 0), vpgen::Error);
  CHECK_THROWS_AS(km.add(1.0, 0, 1), vpgen::Error);
  CHECK_THROWS_AS(km.add(std::nan(""), 0, 1), vpgen::Error);
  CHECK_THROWS_AS(km.add(HUGE_VAL, 0, 1), vpgen::Error);
  CHECK_THROWS_AS(km.add(2.5, 0, 0), vpgen::Error);
  CHECK_NOTHROW(km.add(3.0, 0, 1));
  CHECK(km.subjects() == 2);
  CHECK_THROWS_AS(static_cast<void>(km.survival_at(1.0, 1.5)), vpgen::Error);
}

TEST_CASE("Kaplan-Meier streams a million distinct times and matches the closed form") {
  // N uncensored deaths at times 1..N: after k deaths S = (N - k)/N and Greenwood's sum
  // telescopes, sum_{i<k} 1/((N-i)(N-i-1)) = 1/(N-k) - 1/N. S hits 0.5 at k = N/2 (up to
  // roundoff, which the 0.5 tolerance absorbs), so the median is N/2 + 0.5. The band limits
  // solve S exp(-/+ z se) < 0.5 in closed form: first at k = 499021 (lower band 0.49999998) and
  // k = 500981 (upper band 0.49999994); the margins exceed the tolerance and the roundoff.
  constexpr std::uint64_t kN = 1'000'000;
  KaplanMeier km;
  for (std::uint64_t t = 1; t <= kN; ++t) km.add(static_cast<double>(t), 1, 0);
  check_interval(km.survival_at(250'000.0), 0.75, 0.7491517907007242, 0.7508491696640835, 1e-9);
  const Interval m = km.median();
  CHECK(m.estimate == 500'000.5);
  CHECK(m.low == 499'021.0);
  CHECK(m.high == 500'981.0);
}

namespace {

using vpgen::SurvivalTime;

// The 6-MP and placebo arms above as subject lists (time in weeks, event = relapse).
std::vector<SurvivalTime> six_mp_subjects() {
  std::vector<SurvivalTime> s;
  for (double t : {6, 6, 6, 7, 10, 13, 16, 22, 23}) s.push_back({t, true});
  for (double t : {6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35}) s.push_back({t, false});
  return s;
}

std::vector<SurvivalTime> placebo_subjects() {
  std::vector<SurvivalTime> s;
  for (double t : {1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23})
    s.push_back({t, true});
  return s;
}

}  // namespace

TEST_CASE("Cox hazard ratio solves the score equation of a hand-worked example") {
  // Group {1 event, 3 censored}, reference {2 event, 4 event}. Risk sets (n_ref, n_group, d, d1):
  // t=1 (2, 2, 1, 1), t=2 (2, 1, 1, 0), t=4 (1, 0, 1, 0). With r = e^beta the score is
  // U = 1/(1 + r) - r/(2 + r), zero at r^2 = 2: HR = sqrt(2). The information at r = sqrt(2) is
  // r/(1 + r)^2 + 2r/(2 + r)^2 = 2 (3 sqrt(2) - 4) = 6 sqrt(2) - 8, so se = 1/sqrt(6 sqrt(2) - 8).
  const std::vector<SurvivalTime> group{{1, true}, {3, false}};
  const std::vector<SurvivalTime> reference{{2, true}, {4, true}};
  const vpgen::CoxFit fit = vpgen::cox_hazard_ratio(group, reference);
  const double se = 1.0 / std::sqrt(6.0 * std::sqrt(2.0) - 8.0);
  const double z = 1.9599639845400536;
  CHECK(fit.log_hazard_ratio == doctest::Approx(std::log(2.0) / 2.0).epsilon(1e-12));
  CHECK(fit.se_log_hazard_ratio == doctest::Approx(se).epsilon(1e-12));
  check_interval(fit.hazard_ratio, std::sqrt(2.0), std::sqrt(2.0) * std::exp(-z * se),
                 std::sqrt(2.0) * std::exp(z * se), 1e-12);
  CHECK(fit.iterations < 10);
}

TEST_CASE("Cox hazard ratio handles tied event times by Breslow's rule") {
  // Group {1 event, 2 event}, reference {2 event, 3 censored}: two deaths tie at t = 2. Breslow's
  // risk sets: t=1 (2, 2, 1, 1), t=2 (2, 1, 2, 1). U = 1/(1 + r) + (2 - r)/(2 + r) = 0 gives
  // r^2 - 2r - 4 = 0, r = 1 + sqrt(5) (Efron's approximation would give another root), and
  // I = r/(1 + r)^2 + 4r/(2 + r)^2.
  const std::vector<SurvivalTime> group{{1, true}, {2, true}};
  const std::vector<SurvivalTime> reference{{2, true}, {3, false}};
  const vpgen::CoxFit fit = vpgen::cox_hazard_ratio(group, reference);
  const double r = 1.0 + std::sqrt(5.0);
  const double information = r / ((1 + r) * (1 + r)) + 4 * r / ((2 + r) * (2 + r));
  CHECK(fit.hazard_ratio.estimate == doctest::Approx(r).epsilon(1e-12));
  CHECK(fit.se_log_hazard_ratio == doctest::Approx(1.0 / std::sqrt(information)).epsilon(1e-12));
}

TEST_CASE("Cox hazard ratio of placebo vs 6-MP matches the published Breslow fit") {
  // Kleinbaum & Klein, Survival Analysis: A Self-Learning Text (3rd ed., 2012), ch. 3: the
  // remission data with Rx (1 = placebo) alone, Breslow ties: coef 1.509, se 0.410, HR 4.523,
  // 95% CI (2.027, 10.094). Full-precision values from an independent bisection on the score
  // (Python): beta 1.5091914125858783, se 0.40956440636674124.
  const vpgen::CoxFit fit = vpgen::cox_hazard_ratio(placebo_subjects(), six_mp_subjects());
  CHECK(fit.log_hazard_ratio == doctest::Approx(1.5091914125858783).epsilon(1e-10));
  CHECK(fit.se_log_hazard_ratio == doctest::Approx(0.40956440636674124).epsilon(1e-10));
  check_interval(fit.hazard_ratio, 4.523072016187172, 2.0268035107001783, 10.093815387436354);
  CHECK(fit.hazard_ratio.estimate == doctest::Approx(4.523).epsilon(1e-3));
  CHECK(fit.hazard_ratio.low == doctest::Approx(2.027).epsilon(1e-3));
  CHECK(fit.hazard_ratio.high == doctest::Approx(10.094).epsilon(1e-3));
}

TEST_CASE("Cox hazard ratio is symmetric: HR(a, b) = 1 / HR(b, a)") {
  const vpgen::CoxFit ab = vpgen::cox_hazard_ratio(placebo_subjects(), six_mp_subjects());
  const vpgen::CoxFit ba = vpgen::cox_hazard_ratio(six_mp_subjects(), placebo_subjects());
  CHECK(ba.log_hazard_ratio == doctest::Approx(-ab.log_hazard_ratio).epsilon(1e-12));
  CHECK(ba.se_log_hazard_ratio == doctest::Approx(ab.se_log_hazard_ratio).epsilon(1e-12));
  CHECK(ba.hazard_ratio.estimate == doctest::Approx(1.0 / ab.hazard_ratio.estimate).epsilon(1e-12));
  CHECK(ba.hazard_ratio.low == doctest::Approx(1.0 / ab.hazard_ratio.high).epsilon(1e-12));
  CHECK(ba.hazard_ratio.high == doctest::Approx(1.0 / ab.hazard_ratio.low).epsilon(1e-12));
  // Identical groups: beta = 0 exactly (the score at 0 is zero).
  const vpgen::CoxFit same = vpgen::cox_hazard_ratio(six_mp_subjects(), six_mp_subjects());
  CHECK(same.hazard_ratio.estimate == doctest::Approx(1.0).epsilon(1e-12));
}

TEST_CASE("Cox hazard ratio is not estimable without events or with a monotone likelihood") {
  const std::vector<SurvivalTime> censored{{1, false}, {2, false}};
  CHECK(std::isnan(vpgen::cox_hazard_ratio(censored, censored).hazard_ratio.estimate));
  CHECK(std::isnan(vpgen::cox_hazard_ratio({}, {}).hazard_ratio.estimate));
  // Every event in the group while the reference is still at risk: the maximum is at +infinity.
  const std::vector<SurvivalTime> early{{1, true}, {2, true}};
  const std::vector<SurvivalTime> late{{3, false}, {3, false}};
  const vpgen::CoxFit monotone = vpgen::cox_hazard_ratio(early, late);
  CHECK(std::isnan(monotone.hazard_ratio.estimate));
  CHECK(std::isnan(monotone.hazard_ratio.low));
  CHECK(std::isnan(monotone.se_log_hazard_ratio));
  CHECK_THROWS_AS(vpgen::cox_hazard_ratio({{HUGE_VAL, true}}, early), vpgen::Error);
  CHECK_THROWS_AS(vpgen::cox_hazard_ratio(early, late, 0.0), vpgen::Error);
}

TEST_CASE("proportion_slope is the least-squares slope with its binomial normal interval") {
  // x = 0, 1, 2 with p = 0.1, 0.5, 0.9 (n = 10 each): slope 0.4; w = (-1/2, 0, 1/2);
  // Var = 2 * (1/4) * 0.09 / 10 = 0.0045, half width z * sqrt(0.0045) = 0.1314795...
  const Interval b = vpgen::proportion_slope({0.0, 1.0, 2.0}, {1, 5, 9}, {10, 10, 10});
  const double half = 1.9599639845400536 * std::sqrt(0.0045);
  check_interval(b, 0.4, 0.4 - half, 0.4 + half, 1e-12);
  // Groups of unequal size count once each: the slope ignores n, the variance does not
  // (x = 0, 1: w = -1, +1).
  const Interval unequal = vpgen::proportion_slope({0.0, 1.0}, {10, 50'000}, {100, 100'000});
  CHECK(unequal.estimate == doctest::Approx(0.4).epsilon(1e-12));
  CHECK(unequal.high - unequal.estimate ==
        doctest::Approx(1.9599639845400536 * std::sqrt(0.09 / 100 + 0.25 / 100'000)).epsilon(1e-9));
  CHECK(std::isnan(vpgen::proportion_slope({1.0}, {1}, {2}).estimate));
  CHECK(std::isnan(vpgen::proportion_slope({1.0, 1.0}, {1, 2}, {2, 2}).estimate));
  CHECK_THROWS_AS(vpgen::proportion_slope({1.0, 2.0}, {3, 1}, {2, 2}), vpgen::Error);
  CHECK_THROWS_AS(vpgen::proportion_slope({1.0, 2.0}, {1, 1}, {0, 2}), vpgen::Error);
  CHECK_THROWS_AS(vpgen::proportion_slope({1.0, 2.0}, {1}, {2, 2}), vpgen::Error);
}
