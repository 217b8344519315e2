#include "vpgen/engine/statistics.hpp"

#include <cmath>
#include <cstdint>

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
