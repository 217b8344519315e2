#include "vpgen/stats/sample_size.hpp"

#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include <doctest/doctest.h>

#include "vpgen/population/error.hpp"

namespace design = vpgen::design;
using design::SimonCriterion;
using design::SimonDesign;

namespace {

// A row of a published Simon table: boundaries exact, EN(p0) printed to 1 decimal and PET(p0) to
// 2 decimals, so the computed values must lie within half a unit of the last printed digit.
struct SimonRow {
  double p0, p1, alpha, power;
  int r1, n1, r, n;
  double expected_n_p0, pet_p0;
};

void check_simon_row(const SimonRow& row, SimonCriterion criterion) {
  CAPTURE(row.p0);
  CAPTURE(row.p1);
  CAPTURE(row.alpha);
  CAPTURE(row.power);
  const SimonDesign d = design::simon_two_stage(row.p0, row.p1, row.alpha, row.power, criterion);
  CHECK(d.r1 == row.r1);
  CHECK(d.n1 == row.n1);
  CHECK(d.r == row.r);
  CHECK(d.n == row.n);
  CHECK(std::abs(d.expected_n_p0 - row.expected_n_p0) <= 0.05 + 1e-12);
  CHECK(std::abs(d.pet_p0 - row.pet_p0) <= 0.005 + 1e-12);
  CHECK(d.alpha_actual <= row.alpha);
  CHECK(d.power_actual >= row.power);
}

// Composite Simpson rule on [a, b] with an even number of intervals.
double simpson(const std::function<double(double)>& f, double a, double b, int intervals) {
  const double h = (b - a) / intervals;
  double sum = f(a) + f(b);
  for (int i = 1; i < intervals; ++i) sum += f(a + i * h) * (i % 2 == 1 ? 4.0 : 2.0);
  return sum * h / 3.0;
}

// Probability of an observed event by follow-up time u under exponential event (lambda) and
// dropout (eta) hazards: integral_0^u lambda e^{-(lambda+eta) s} ds.
double observed_by(double u, double lambda, double eta) {
  return lambda / (lambda + eta) * (1.0 - std::exp(-(lambda + eta) * u));
}

}  // namespace

// Simon R. Optimal two-stage designs for phase II clinical trials. Controlled Clinical Trials
// 1989;10:1-10, Table 1 (p1 - p0 = 0.20), rows alpha = 0.05 with beta = 0.20 and beta = 0.10.
// Each row was also reproduced by an independent brute force in R that follows the paper's
// search (all n <= 100, n1 < n, r1 < n1; largest r meeting power, then the alpha check).
// Exact EN values from that search, for the record: 11.958, 15.014, 20.580, 23.630 (beta 0.2);
// 16.765, 22.526, 30.435, 34.724 (beta 0.1).
TEST_CASE("simon optimal designs reproduce Simon 1989 Table 1") {
  const std::vector<SimonRow> rows = {
      {0.05, 0.25, 0.05, 0.80, 0, 9, 2, 17, 12.0, 0.63},
      {0.10, 0.30, 0.05, 0.80, 1, 10, 5, 29, 15.0, 0.74},
      {0.20, 0.40, 0.05, 0.80, 3, 13, 12, 43, 20.6, 0.75},
      {0.30, 0.50, 0.05, 0.80, 5, 15, 18, 46, 23.6, 0.72},
      {0.05, 0.25, 0.05, 0.90, 0, 9, 3, 30, 16.8, 0.63},
      {0.10, 0.30, 0.05, 0.90, 2, 18, 6, 35, 22.5, 0.73},
      {0.20, 0.40, 0.05, 0.90, 4, 19, 15, 54, 30.4, 0.67},
      {0.30, 0.50, 0.05, 0.90, 8, 24, 24, 63, 34.7, 0.73},
  };
  for (const SimonRow& row : rows) check_simon_row(row, SimonCriterion::kOptimal);
}

TEST_CASE("simon minimax designs reproduce Simon 1989 Table 1") {
  const std::vector<SimonRow> rows = {
      {0.05, 0.25, 0.05, 0.80, 0, 12, 2, 16, 13.8, 0.54},
      {0.10, 0.30, 0.05, 0.80, 1, 15, 5, 25, 19.5, 0.55},
      {0.20, 0.40, 0.05, 0.80, 4, 18, 10, 33, 22.3, 0.72},
      {0.30, 0.50, 0.05, 0.80, 6, 19, 16, 39, 25.7, 0.67},
      {0.05, 0.25, 0.05, 0.90, 0, 15, 3, 25, 20.4, 0.46},
      {0.10, 0.30, 0.05, 0.90, 2, 22, 6, 33, 26.2, 0.62},
      {0.20, 0.40, 0.05, 0.90, 5, 24, 13, 45, 31.2, 0.66},
      {0.30, 0.50, 0.05, 0.90, 7, 24, 21, 53, 36.6, 0.56},
  };
  for (const SimonRow& row : rows) check_simon_row(row, SimonCriterion::kMinimax);
}

// alpha = beta = 0.10 rows, checked to full precision against the independent R brute force
// (see above) and the R operating characteristics:
//   oc <- function(r1, n1, r, n, p) { x1 <- (r1+1):n1; k <- r - x1
//     c(sum(dbinom(x1, n1, p) * ifelse(k < 0, 1, pbinom(pmax(k, 0), n-n1, p, lower.tail=FALSE))),
//       pbinom(r1, n1, p)) }
TEST_CASE("simon designs at alpha = beta = 0.10 match an independent brute force in R") {
  struct Expected {
    double p0, p1;
    SimonCriterion criterion;
    int r1, n1, r, n;
    double alpha_actual, power_actual, pet_p0, expected_n_p0;
  };
  const std::vector<Expected> cases = {
      {0.1, 0.3, SimonCriterion::kOptimal, 1, 12, 5, 35, 0.097718282162, 0.901449485029,
       0.659002251789, 19.842948208853},
      {0.1, 0.3, SimonCriterion::kMinimax, 1, 16, 4, 25, 0.095084054520, 0.903039103020,
       0.514727830237, 20.367449527870},
      {0.2, 0.4, SimonCriterion::kOptimal, 3, 17, 10, 37, 0.094784374331, 0.903274286592,
       0.548876204586, 26.022475908284},
      {0.2, 0.4, SimonCriterion::kMinimax, 3, 19, 10, 36, 0.086094460683, 0.902353013948,
       0.455088742346, 28.263491380122},
  };
  for (const Expected& e : cases) {
    CAPTURE(e.p0);
    CAPTURE(e.n);
    const SimonDesign d = design::simon_two_stage(e.p0, e.p1, 0.10, 0.90, e.criterion);
    CHECK(d.r1 == e.r1);
    CHECK(d.n1 == e.n1);
    CHECK(d.r == e.r);
    CHECK(d.n == e.n);
    CHECK(d.alpha_actual == doctest::Approx(e.alpha_actual).epsilon(1e-9));
    CHECK(d.power_actual == doctest::Approx(e.power_actual).epsilon(1e-9));
    CHECK(d.pet_p0 == doctest::Approx(e.pet_p0).epsilon(1e-9));
    CHECK(d.expected_n_p0 == doctest::Approx(e.expected_n_p0).epsilon(1e-9));
  }
}

// R: oc(1, 10, 5, 29, p) for p = 0.1, 0.3, 0.2 (see above); EN = n1 + (1 - PET)(n - n1).
TEST_CASE("simon characteristics of 1/10, 5/29 match R at p0, p1 and in between") {
  SimonDesign d;
  d.r1 = 1;
  d.n1 = 10;
  d.r = 5;
  d.n = 29;
  const auto at_p0 = design::simon_characteristics(d, 0.1);
  CHECK(at_p0.reject_probability == doctest::Approx(0.047086306644).epsilon(1e-9));
  CHECK(at_p0.pet == doctest::Approx(0.736098929100).epsilon(1e-9));
  CHECK(at_p0.expected_n == doctest::Approx(15.014120347100).epsilon(1e-9));
  const auto at_p1 = design::simon_characteristics(d, 0.3);
  CHECK(at_p1.reject_probability == doctest::Approx(0.805062913150).epsilon(1e-9));
  CHECK(at_p1.pet == doctest::Approx(0.149308345900).epsilon(1e-9));
  CHECK(at_p1.expected_n == doctest::Approx(26.163141427900).epsilon(1e-9));
  const auto mid = design::simon_characteristics(d, 0.2);
  CHECK(mid.reject_probability == doctest::Approx(0.431386338416).epsilon(1e-9));
  CHECK(mid.expected_n == doctest::Approx(21.859616870400).epsilon(1e-9));
  // No responses possible: always stop early, never declare activity.
  const auto at_zero = design::simon_characteristics(d, 0.0);
  CHECK(at_zero.reject_probability == 0.0);
  CHECK(at_zero.pet == 1.0);
  CHECK(at_zero.expected_n == 10.0);
}

TEST_CASE("simon search agrees with simon characteristics of the design it returns") {
  for (SimonCriterion c : {SimonCriterion::kOptimal, SimonCriterion::kMinimax}) {
    const SimonDesign d = design::simon_two_stage(0.05, 0.20, 0.05, 0.80, c);
    REQUIRE(d.n > 0);
    const auto null = design::simon_characteristics(d, 0.05);
    const auto alt = design::simon_characteristics(d, 0.20);
    CHECK(d.alpha_actual == doctest::Approx(null.reject_probability).epsilon(1e-12));
    CHECK(d.power_actual == doctest::Approx(alt.reject_probability).epsilon(1e-12));
    CHECK(d.pet_p0 == doctest::Approx(null.pet).epsilon(1e-12));
    CHECK(d.expected_n_p0 == doctest::Approx(null.expected_n).epsilon(1e-12));
  }
}

TEST_CASE("simon optimal design has the smallest EN and minimax the smallest n") {
  const SimonDesign optimal =
      design::simon_two_stage(0.2, 0.4, 0.05, 0.8, SimonCriterion::kOptimal);
  const SimonDesign minimax =
      design::simon_two_stage(0.2, 0.4, 0.05, 0.8, SimonCriterion::kMinimax);
  CHECK(optimal.expected_n_p0 <= minimax.expected_n_p0);
  CHECK(minimax.n <= optimal.n);
  // The minimax search must find nothing when n_max is one below its n.
  const SimonDesign too_small =
      design::simon_two_stage(0.2, 0.4, 0.05, 0.8, SimonCriterion::kMinimax, minimax.n - 1);
  CHECK(too_small.n == 0);
  CHECK(std::isnan(too_small.expected_n_p0));
  // Limiting the optimal search to the minimax n can only give a design with larger EN.
  const SimonDesign capped =
      design::simon_two_stage(0.2, 0.4, 0.05, 0.8, SimonCriterion::kOptimal, minimax.n);
  CHECK(capped.n <= minimax.n);
  CHECK(capped.expected_n_p0 >= optimal.expected_n_p0);
}

// R: pbinom(3, 10, 0.3, lower.tail = FALSE) = 0.3503892816 (exactly 0.35038928160 as a sum of
// rationals).
TEST_CASE("binomial tail above r matches R and handles the edges") {
  CHECK(design::binomial_tail_above(10, 3, 0.3) == doctest::Approx(0.3503892816).epsilon(1e-12));
  CHECK(design::binomial_tail_above(10, -1, 0.3) == 1.0);
  CHECK(design::binomial_tail_above(10, 10, 0.3) == 0.0);
  CHECK(design::binomial_tail_above(0, 0, 0.3) == 0.0);
  CHECK(design::binomial_tail_above(10, 3, 0.0) == 0.0);
  CHECK(design::binomial_tail_above(10, 3, 1.0) == 1.0);
  CHECK_THROWS_AS(design::binomial_tail_above(10, 3, 1.5), vpgen::InputError);
  CHECK_THROWS_AS(design::binomial_tail_above(-1, 0, 0.5), vpgen::InputError);
}

// Brute force in R: for n in 1:1000, r = smallest r with pbinom(r, n, p0, lower=FALSE) <= alpha,
// stop at the first n with pbinom(r, n, p1, lower=FALSE) >= power:
//   0.2 vs 0.4, 0.05, 0.80 -> n = 35, r = 11, alpha 0.0343574007, power 0.8048254966
//   0.1 vs 0.3, 0.05, 0.80 -> n = 25, r = 5,  alpha 0.0333999446, power 0.8065115579
//   0.3 vs 0.5, 0.05, 0.90 -> n = 53, r = 21, alpha 0.0494915145, power 0.9155110889
TEST_CASE("exact single-stage design matches an R brute force") {
  auto d = design::exact_binomial_design(0.2, 0.4, 0.05, 0.80);
  CHECK(d.n == 35);
  CHECK(d.r == 11);
  CHECK(d.alpha_actual == doctest::Approx(0.0343574007).epsilon(1e-8));
  CHECK(d.power_actual == doctest::Approx(0.8048254966).epsilon(1e-8));
  d = design::exact_binomial_design(0.1, 0.3, 0.05, 0.80);
  CHECK(d.n == 25);
  CHECK(d.r == 5);
  CHECK(d.alpha_actual == doctest::Approx(0.0333999446).epsilon(1e-8));
  CHECK(d.power_actual == doctest::Approx(0.8065115579).epsilon(1e-8));
  d = design::exact_binomial_design(0.3, 0.5, 0.05, 0.90);
  CHECK(d.n == 53);
  CHECK(d.r == 21);
  CHECK(d.alpha_actual == doctest::Approx(0.0494915145).epsilon(1e-8));
  CHECK(d.power_actual == doctest::Approx(0.9155110889).epsilon(1e-8));
}

TEST_CASE("exact single-stage design is the smallest n and reports none beyond n_max") {
  const auto d = design::exact_binomial_design(0.2, 0.4, 0.05, 0.80);
  REQUIRE(d.n > 1);
  for (int n = 1; n < d.n; ++n)
    for (int r = 0; r <= n; ++r) {
      const bool meets_alpha = design::binomial_tail_above(n, r, 0.2) <= 0.05;
      const bool meets_power = design::binomial_tail_above(n, r, 0.4) >= 0.80;
      CHECK_FALSE((meets_alpha && meets_power));
    }
  const auto none = design::exact_binomial_design(0.2, 0.4, 0.05, 0.80, d.n - 1);
  CHECK(none.n == 0);
  CHECK(std::isnan(none.alpha_actual));
}

// Schoenfeld (1983): D = 4 (z_0.975 + z_0.80)^2 / ln^2(0.7) = 246.787 -> 247 events.
// Freedman (1982): D = (z_0.975 + z_0.80)^2 (1 + 0.7)^2 / (1 - 0.7)^2 = 252.036 -> 253 events.
// R: z <- qnorm(0.975) + qnorm(0.8); 4*z^2/log(0.7)^2; z^2*1.7^2/0.09
// With 2:1 allocation (k = 2): z^2/((2/3)*(1/3)*log(0.7)^2) = 277.635;
// z^2*(1+2*0.7)^2/(2*0.09) = 251.164.
TEST_CASE("schoenfeld and freedman event counts match the published formulas") {
  CHECK(design::schoenfeld_events(0.7, 0.05, 0.80, 2) == doctest::Approx(246.787105).epsilon(1e-8));
  CHECK(design::schoenfeld_events_required(0.7, 0.05, 0.80, 2) == 247);
  CHECK(design::freedman_events(0.7, 0.05, 0.80, 2) == doctest::Approx(252.036249).epsilon(1e-8));
  CHECK(design::freedman_events_required(0.7, 0.05, 0.80, 2) == 253);
  CHECK(design::schoenfeld_events(0.7, 0.05, 0.80, 2, 2.0) ==
        doctest::Approx(277.635493).epsilon(1e-8));
  CHECK(design::freedman_events(0.7, 0.05, 0.80, 2, 2.0) ==
        doctest::Approx(251.164151).epsilon(1e-8));
  // Schoenfeld depends on HR only through ln^2 HR: HR and 1/HR need the same events.
  CHECK(design::schoenfeld_events(1.0 / 0.7, 0.05, 0.80, 2) ==
        doctest::Approx(design::schoenfeld_events(0.7, 0.05, 0.80, 2)).epsilon(1e-12));
  // One-sided 0.025 is the same test as two-sided 0.05.
  CHECK(design::schoenfeld_events(0.7, 0.025, 0.80, 1) ==
        doctest::Approx(design::schoenfeld_events(0.7, 0.05, 0.80, 2)).epsilon(1e-12));
}

// Fleiss, Tytun & Ury (1980), as tabulated by Fleiss, Levin & Paik (2003): 0.2 vs 0.4, two-sided
// alpha 0.05, power 0.80 -> 91 per group with the continuity correction. Without it the
// uncorrected formula gives n' = 81.224 -> 82. R, with
//   fl <- function(pc, pe, a, pw, sides, k) { za <- qnorm(1-a/sides); zb <- qnorm(pw)
//     pb <- (pc+k*pe)/(1+k); d <- abs(pe-pc)
//     n <- (za*sqrt((k+1)*pb*(1-pb)) + zb*sqrt(k*pc*(1-pc)+pe*(1-pe)))^2/(k*d^2)
//     c(n, n/4*(1+sqrt(1+2*(k+1)/(k*n*d)))^2) }
// fl(0.2, 0.4, 0.05, 0.8, 2, 1) = 81.2242, 90.9494; fl(0.2, 0.4, 0.05, 0.8, 1, 1) = 63.862, 73.522;
// fl(0.2, 0.4, 0.05, 0.9, 2, 2) = 81.877, 89.219 (experimental arm 163.754, 178.439).
TEST_CASE("two proportions sample size reproduces Fleiss with and without continuity correction") {
  auto s = design::two_proportions_size(0.2, 0.4, 0.05, 0.80, 2, true);
  CHECK(s.n_control == 91);
  CHECK(s.n_experimental == 91);
  s = design::two_proportions_size(0.2, 0.4, 0.05, 0.80, 2, false);
  CHECK(s.n_control == 82);
  CHECK(s.n_experimental == 82);
  s = design::two_proportions_size(0.2, 0.4, 0.05, 0.80, 1, false);
  CHECK(s.n_control == 64);
  s = design::two_proportions_size(0.2, 0.4, 0.05, 0.80, 1, true);
  CHECK(s.n_control == 74);
  s = design::two_proportions_size(0.2, 0.4, 0.05, 0.90, 2, false, 2.0);
  CHECK(s.n_control == 82);
  CHECK(s.n_experimental == 164);
  s = design::two_proportions_size(0.2, 0.4, 0.05, 0.90, 2, true, 2.0);
  CHECK(s.n_control == 90);
  CHECK(s.n_experimental == 179);
  // Equal allocation is symmetric in the two proportions.
  const auto swapped = design::two_proportions_size(0.4, 0.2, 0.05, 0.80, 2, true);
  CHECK(swapped.n_control == 91);
}

TEST_CASE("round up count forgives roundoff but not real excess") {
  CHECK(design::round_up_count(246.787) == 247);
  CHECK(design::round_up_count(82.0) == 82);
  CHECK(design::round_up_count(82.0 * (1.0 + 1e-12)) == 82);
  CHECK(design::round_up_count(82.001) == 83);
  CHECK(design::round_up_count(0.0) == 0);
  CHECK(design::round_up_count(0.3) == 1);
  CHECK_THROWS_AS(design::round_up_count(-1.0), vpgen::InputError);
  CHECK_THROWS_AS(design::round_up_count(std::numeric_limits<double>::infinity()),
                  vpgen::InputError);
  CHECK_THROWS_AS(design::round_up_count(1e12), vpgen::InputError);
}

// The closed form against a numerical average of P(event observed by follow-up u) over entry
// times, i.e. u uniform on [F, A + F]; Simpson with 2000 intervals is accurate to ~1e-13 here.
TEST_CASE("event probability equals the average over uniform entry times") {
  const double lambda = std::log(2.0) / 12.0;  // median 12 months
  const double eta = 0.01;
  const double a = 18.0;
  const double f = 12.0;
  const double numeric =
      simpson([&](double u) { return observed_by(u, lambda, eta); }, f, a + f, 2000) / a;
  CHECK(design::event_probability(lambda, a, f, eta) == doctest::Approx(numeric).epsilon(1e-10));
  // Without dropout: 1 - (e^{-lambda F} - e^{-lambda (A+F)}) / (lambda A).
  const double no_dropout =
      1.0 - (std::exp(-lambda * f) - std::exp(-lambda * (a + f))) / (lambda * a);
  CHECK(design::event_probability(lambda, a, f, 0.0) == doctest::Approx(no_dropout).epsilon(1e-13));
  // A = 0 is everyone followed for F, and the formula is continuous there.
  const double all_at_once = lambda / (lambda + eta) * (1.0 - std::exp(-(lambda + eta) * f));
  CHECK(design::event_probability(lambda, 0.0, f, eta) ==
        doctest::Approx(all_at_once).epsilon(1e-14));
  CHECK(design::event_probability(lambda, 1e-9, f, eta) ==
        doctest::Approx(all_at_once).epsilon(1e-9));
  CHECK(design::event_probability(0.0, a, f, eta) == 0.0);
  CHECK(design::event_probability(lambda, 0.0, 0.0, eta) == 0.0);
}

TEST_CASE("patients for events divides events by the allocation-weighted event probability") {
  const double lambda = std::log(2.0) / 12.0;
  const double hr = 0.7;
  const double k = 2.0;
  const double a = 24.0;
  const double f = 12.0;
  const double eta = 0.005;
  const double p_c = design::event_probability(lambda, a, f, eta);
  const double p_e = design::event_probability(lambda * hr, a, f, eta);
  const double p_bar = (p_c + k * p_e) / (1.0 + k);
  const int n = design::patients_for_events(247.0, lambda, hr, k, a, f, eta);
  // n is the smallest integer whose expected events reach 247.
  CHECK(n * p_bar >= 247.0);
  CHECK((n - 1) * p_bar < 247.0);
  // Longer follow-up means more events per patient, so fewer patients.
  CHECK(design::patients_for_events(247.0, lambda, hr, k, a, 2.0 * f, eta) < n);
  CHECK_THROWS_AS(design::patients_for_events(247.0, lambda, hr, k, 0.0, 0.0, eta),
                  vpgen::InputError);
}

// Expected events at t < A, against a direct numerical integral over entry times:
//   E(t) = sum_arm rate_arm * integral_0^t P_arm(event by t - s) ds.
TEST_CASE("expected events during accrual equal the integral over entry times") {
  const double lambda = 0.05;
  const double hr = 0.6;
  const double k = 1.5;
  const double eta = 0.01;
  const int n_total = 300;
  const double rate = 10.0;  // accrual lasts 30 months
  const double t = 17.0;
  const double rate_c = rate / (1.0 + k);
  const double rate_e = rate * k / (1.0 + k);
  const double numeric = simpson(
      [&](double s) {
        return rate_c * observed_by(t - s, lambda, eta) +
               rate_e * observed_by(t - s, lambda * hr, eta);
      },
      0.0, t, 2000);
  CHECK(design::expected_events_at(t, n_total, rate, lambda, hr, k, eta) ==
        doctest::Approx(numeric).epsilon(1e-10));
  // Tiny times, where a naive closed form would cancel: E ~ rate * pbar_hazard * t^2 / 2.
  const double tiny = 1e-6;
  const double leading = (rate_c * lambda + rate_e * lambda * hr) * tiny * tiny / 2.0;
  CHECK(design::expected_events_at(tiny, n_total, rate, lambda, hr, k, eta) ==
        doctest::Approx(leading).epsilon(1e-6));
}

TEST_CASE("time to events inverts the expected events and is infinite beyond the plateau") {
  const double lambda = std::log(2.0) / 10.0;
  const double hr = 0.75;
  const double k = 1.0;
  const double eta = 0.002;
  const int n_total = 400;
  const double rate = 20.0;  // accrual A = 20 months
  const double a = 20.0;
  const double f = 9.0;
  // At A + F the expected events are N times the allocation-weighted event probability.
  const double events = n_total * 0.5 *
                        (design::event_probability(lambda, a, f, eta) +
                         design::event_probability(lambda * hr, a, f, eta));
  CHECK(design::time_to_events(events, n_total, rate, lambda, hr, k, eta) ==
        doctest::Approx(a + f).epsilon(1e-10));
  // During accrual.
  const double early = design::expected_events_at(7.5, n_total, rate, lambda, hr, k, eta);
  CHECK(design::time_to_events(early, n_total, rate, lambda, hr, k, eta) ==
        doctest::Approx(7.5).epsilon(1e-10));
  // Plateau: every patient eventually has the event or drops out. Just above it (the margin
  // covers the roundoff between this expression and the library's) is never reached.
  const double plateau =
      n_total * 0.5 * (lambda / (lambda + eta) + lambda * hr / (lambda * hr + eta));
  CHECK(std::isinf(
      design::time_to_events(plateau * (1.0 + 1e-9), n_total, rate, lambda, hr, k, eta)));
  CHECK(std::isfinite(design::time_to_events(0.999 * plateau, n_total, rate, lambda, hr, k, eta)));
  CHECK(design::time_to_events(0.0, n_total, rate, lambda, hr, k, eta) == 0.0);
}

TEST_CASE("calculators reject invalid arguments with InputError") {
  using vpgen::InputError;
  CHECK_THROWS_AS(design::exact_binomial_design(0.4, 0.2, 0.05, 0.8), InputError);
  CHECK_THROWS_AS(design::exact_binomial_design(0.2, 0.2, 0.05, 0.8), InputError);
  CHECK_THROWS_AS(design::exact_binomial_design(0.2, 0.4, 0.0, 0.8), InputError);
  CHECK_THROWS_AS(design::exact_binomial_design(0.2, 0.4, 0.05, 1.0), InputError);
  CHECK_THROWS_AS(design::exact_binomial_design(0.2, 0.4, 0.05, 0.8, 0), InputError);
  CHECK_THROWS_AS(design::simon_two_stage(0.3, 0.1, 0.05, 0.8, SimonCriterion::kOptimal),
                  InputError);
  CHECK_THROWS_AS(design::simon_two_stage(0.1, 0.3, 1.0, 0.8, SimonCriterion::kOptimal),
                  InputError);
  CHECK_THROWS_AS(design::simon_two_stage(0.1, 0.3, 0.05, 0.8, SimonCriterion::kOptimal, 1),
                  InputError);
  CHECK_THROWS_AS(design::simon_two_stage(0.1, 0.3, 0.05, 0.8, SimonCriterion::kOptimal, 501),
                  InputError);
  SimonDesign bad;
  bad.n1 = 10;
  bad.r1 = 10;
  bad.n = 20;
  bad.r = 12;
  CHECK_THROWS_AS(design::simon_characteristics(bad, 0.2), InputError);
  CHECK_THROWS_AS(design::two_proportions_size(0.2, 0.2, 0.05, 0.8, 2, true), InputError);
  CHECK_THROWS_AS(design::two_proportions_size(0.2, 0.4, 0.05, 0.8, 3, true), InputError);
  CHECK_THROWS_AS(design::two_proportions_size(0.2, 0.4, 0.05, 0.8, 2, true, 0.0), InputError);
  CHECK_THROWS_AS(design::two_proportions_size(0.0, 0.4, 0.05, 0.8, 2, true), InputError);
  CHECK_THROWS_AS(design::schoenfeld_events(1.0, 0.05, 0.8, 2), InputError);
  CHECK_THROWS_AS(design::schoenfeld_events(-0.7, 0.05, 0.8, 2), InputError);
  CHECK_THROWS_AS(design::schoenfeld_events(0.7, 0.05, 0.02, 2), InputError);  // power < alpha/2
  CHECK_THROWS_AS(design::freedman_events(0.7, 0.05, 0.8, 0), InputError);
  CHECK_THROWS_AS(design::freedman_events(0.7, 0.05, 0.8, 2, -1.0), InputError);
  CHECK_THROWS_AS(design::event_probability(-0.1, 12.0, 12.0, 0.0), InputError);
  CHECK_THROWS_AS(design::event_probability(0.1, 12.0, -1.0, 0.0), InputError);
  CHECK_THROWS_AS(design::event_probability(0.1, std::nan(""), 12.0, 0.0), InputError);
  CHECK_THROWS_AS(design::patients_for_events(0.0, 0.1, 0.7, 1.0, 12.0, 12.0, 0.0), InputError);
  CHECK_THROWS_AS(design::patients_for_events(100.0, 0.1, 0.0, 1.0, 12.0, 12.0, 0.0), InputError);
  CHECK_THROWS_AS(design::time_to_events(100.0, 0, 10.0, 0.1, 0.7, 1.0, 0.0), InputError);
  CHECK_THROWS_AS(design::time_to_events(100.0, 200, 0.0, 0.1, 0.7, 1.0, 0.0), InputError);
  CHECK_THROWS_AS(design::time_to_events(-1.0, 200, 10.0, 0.1, 0.7, 1.0, 0.0), InputError);
  CHECK_THROWS_AS(design::expected_events_at(-1.0, 200, 10.0, 0.1, 0.7, 1.0, 0.0), InputError);
}
