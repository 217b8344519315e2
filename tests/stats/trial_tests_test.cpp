#include "vpgen/stats/trial_tests.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <boost/random/exponential_distribution.hpp>
#include <boost/random/uniform_real_distribution.hpp>
#include <doctest/doctest.h>

#include "vpgen/population/error.hpp"
#include "vpgen/population/random_stream.hpp"

using vpgen::design::Observation;
using vpgen::design::TestResult;

namespace {

// Every reference value below was computed by R 4.2.2 (survival 3.5-3, mvtnorm 1.1-3) with
//   Rscript tests/stats/data/trial_tests_reference.R
// which prints them with 17 significant digits; the script holds the same data sets and says
// how each value is computed. Exact quantities (statistics, p-values of closed form or exact
// sums) must agree to 1e-8 relative; multivariate normal probabilities to 1e-9 absolute (R's
// TVPACK with abseps = 1e-14, confirmed by Miwa's algorithm to 1e-9 in the script).
constexpr double kRel = 1e-8;
constexpr double kMvnAbs = 1e-9;

bool close_rel(double got, double want, double rel = kRel) {
  if (std::isnan(got) || std::isnan(want)) return false;
  return std::abs(got - want) <= rel * std::max(std::abs(got), std::abs(want));
}

std::vector<Observation> make(const std::vector<double>& time, const std::vector<int>& status,
                              const std::vector<int>& arm) {
  REQUIRE(time.size() == status.size());
  REQUIRE(time.size() == arm.size());
  std::vector<Observation> data;
  for (std::size_t i = 0; i < time.size(); ++i) data.push_back({time[i], status[i] == 1, arm[i]});
  return data;
}

std::vector<int> two_blocks(int n_per_arm) {
  std::vector<int> arm(static_cast<std::size_t>(2 * n_per_arm), 0);
  std::fill(arm.begin() + n_per_arm, arm.end(), 1);
  return arm;
}

// d1: 40 patients, integer times with many ties across arms and between events and censorings.
std::vector<Observation> d1() {
  return make({8,  12, 1, 23, 12, 8,  1,  12, 5, 2,  8, 8, 11, 10, 18, 13, 7,  1, 10, 13,
               29, 9,  4, 12, 34, 11, 18, 13, 4, 22, 1, 3, 12, 12, 24, 3,  21, 8, 20, 3},
              {1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1,
               1, 1, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1},
              two_blocks(20));
}

// d2: 60 patients, delayed separation (same hazard for 6 months, then half in arm 1).
std::vector<Observation> d2() {
  return make(
      {1.5, 13.5, 6.4,  13.6, 6.8,  2.2, 6.9,  15,   0.4,  1.9, 4.1,  7.9,  15.1, 6,   12.4,
       6.4, 3.7,  0.8,  2.4,  7.9,  9,   10.9, 10.1, 6.2,  7.9, 1.2,  6,    24,   8.4, 3.2,
       5.7, 5.5,  13.5, 12.7, 14.3, 8.4, 3.9,  11.6, 21.4, 0.8, 12.9, 17,   20.7, 22,  2.9,
       1.4, 5.7,  0.6,  26.7, 1.8,  0.7, 5.7,  27.4, 26.9, 0.8, 31.9, 10.2, 0.7,  1.4, 13.1},
      {1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
       1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 1, 1, 1},
      two_blocks(30));
}

// d3: 11 patients; the control curve falls to 0 at t = 7 (one patient at risk, who dies).
std::vector<Observation> d3() {
  return make({2, 3, 3, 5, 7, 1, 4, 6, 8, 9, 12}, {1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1},
              {0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1});
}

void check_result(const TestResult& got, double estimate, double se, double z, double p_one,
                  double p_two) {
  CHECK(close_rel(got.estimate, estimate));
  CHECK(close_rel(got.se, se));
  CHECK(close_rel(got.z, z));
  CHECK(close_rel(got.p_one_sided, p_one));
  CHECK(close_rel(got.p_two_sided, p_two));
}

bool all_nan(const TestResult& r) {
  return std::isnan(r.z) && std::isnan(r.p_one_sided) && std::isnan(r.p_two_sided);
}

double upper_tail(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

}  // namespace

TEST_CASE("weighted log-rank G(rho, gamma) matches R survdiff and the FH definition") {
  struct Case {
    const char* name;
    std::vector<Observation> (*data)();
    double rho, gamma, estimate, se, z, p_one, p_two;
  };
  // R: fh(d, rho, gamma) and pnorm(z, lower.tail = FALSE), 2 * pnorm(-|z|); fh() is checked
  // against survdiff(rho = 0, 1) inside the script (chisq = z^2, O - E of arm 1 = -estimate).
  const Case cases[] = {
      {"d1", d1, 0, 0, 2.6458090218959782, 2.4812785457190558, 1.0663087489555683,
       0.14314204793353705, 0.2862840958670741},
      {"d1", d1, 1, 0, 1.6407366071428569, 1.8066159516309606, 0.90818228725460293,
       0.18189096037820762, 0.36378192075641524},
      {"d1", d1, 0, 1, 1.0050724147531214, 0.90298747058623074, 1.1130524481149398,
       0.13284295231713394, 0.26568590463426789},
      {"d1", d1, 1, 1, 0.49836961395886481, 0.46958252094821612, 1.0613035871789258,
       0.14427597802752212, 0.28855195605504425},
      {"d2", d2, 0, 0, 6.5801585446065927, 3.3298625309730823, 1.9761051645227168,
       0.024071433813521771, 0.048142867627043541},
      {"d2", d2, 1, 0, 1.9811355311355323, 2.2361809165377484, 0.8859459968037382,
       0.18782331417909925, 0.37564662835819851},
      {"d2", d2, 0, 1, 4.5990230134710597, 1.439085415748675, 3.1957957207692549,
       0.00069722900968285418, 0.0013944580193657084},
      {"d2", d2, 1, 1, 1.7791269861070114, 0.65029577471364997, 2.735873513695255,
       0.0031107467478974108, 0.0062214934957948217},
      {"d3", d3, 0, 0, 1.8176767676767676, 1.1465468532801686, 1.585348878222077,
       0.056443544703085172, 0.11288708940617034},
      {"d3", d3, 1, 0, 1.1818181818181817, 0.91663536134873769, 1.2893002295692082,
       0.098646865606517337, 0.19729373121303467},
      {"d3", d3, 0, 1, 0.63585858585858612, 0.31834972321456279, 1.9973586891735013,
       0.022893116039445854, 0.045786232078891709},
      {"d3", d3, 1, 1, 0.39577594123048676, 0.19165539138866669, 2.0650394354306201,
       0.019459634565442373, 0.038919269130884747},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    CAPTURE(c.rho);
    CAPTURE(c.gamma);
    std::vector<Observation> data = c.data();
    check_result(vpgen::design::weighted_logrank(data, c.rho, c.gamma), c.estimate, c.se, c.z,
                 c.p_one, c.p_two);
  }
  // survdiff's own chi-square, compared directly: R survdiff(Surv(time, status) ~ arm, rho)$chisq
  std::vector<Observation> data = d2();
  CHECK(close_rel(std::pow(vpgen::design::weighted_logrank(data, 0, 0).z, 2), 3.904991621253354));
  CHECK(close_rel(std::pow(vpgen::design::weighted_logrank(data, 1, 0).z, 2), 0.7849003092525676));
}

TEST_CASE("maxcombo z statistics, correlation and p-value match R with mvtnorm TVPACK") {
  struct Case {
    const char* name;
    std::vector<Observation> (*data)();
    double z0, z1, z2, r01, r02, r12, p;
  };
  // R: cov2cor(t(W) %*% (W * v)) and 1 - pmvnorm(upper = rep(max(z), 3), corr,
  // algorithm = TVPACK(abseps = 1e-14)).
  const Case cases[] = {
      {"d1", d1, 1.066308748955568, 1.1130524481149398, 1.0613035871789258, 0.82753032880070609,
       0.89150274463252455, 0.96459347645667093, 0.19153263146770816},
      {"d2", d2, 1.9761051645227166, 3.1957957207692549, 2.735873513695255, 0.8512646180255532,
       0.92743161383355466, 0.93368451662058094, 0.0013504005047457746},
      {"d3", d3, 1.585348878222077, 1.9973586891735013, 2.0650394354306196, 0.78861824019212268,
       0.84872930182335982, 0.97932172102355297, 0.032917556351095278},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    std::vector<Observation> data = c.data();
    const vpgen::design::MaxComboResult got = vpgen::design::maxcombo(data);
    CHECK(close_rel(got.z[0], c.z0));
    CHECK(close_rel(got.z[1], c.z1));
    CHECK(close_rel(got.z[2], c.z2));
    CHECK(close_rel(got.correlation[0][1], c.r01));
    CHECK(close_rel(got.correlation[0][2], c.r02));
    CHECK(close_rel(got.correlation[1][2], c.r12));
    CHECK(got.correlation[2][1] == got.correlation[1][2]);
    CHECK(got.correlation[1][1] == 1.0);
    CHECK(got.z_max == std::max({got.z[0], got.z[1], got.z[2]}));
    CHECK(std::abs(got.p_one_sided - c.p) < kMvnAbs);
  }
}

TEST_CASE("RMST difference matches survRM2's area and Greenwood-type variance") {
  struct Case {
    const char* name;
    std::vector<Observation> (*data)();
    double tau, estimate, se, z, p_one, p_two;
  };
  // R: rmst1() of the script (survRM2::rmst2's computation on survfit), area cross-checked
  // against summary(survfit, rmean = tau). d3 at tau = 12 runs past the control arm's last
  // follow-up (7), where its curve is 0 and therefore still defined.
  const Case cases[] = {
      {"d1", d1, 20, 2.2848214285714299, 2.1187548315336175, 1.0783793360922314,
       0.14043225240216881, 0.28086450480433761},
      {"d2", d2, 18, 2.546233766233768, 1.6132759159773149, 1.578300240533419, 0.057248325348111868,
       0.11449665069622374},
      {"d3", d3, 7.5, 1.5041666666666664, 1.3151651732274432, 1.1437093205375941,
       0.12637210335290647, 0.25274420670581293},
      {"d3", d3, 12, 3.4833333333333334, 1.9058669165772577, 1.8276897001754164,
       0.033798067406919152, 0.067596134813838304},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    CAPTURE(c.tau);
    std::vector<Observation> data = c.data();
    check_result(vpgen::design::rmst_difference(data, c.tau), c.estimate, c.se, c.z, c.p_one,
                 c.p_two);
  }
}

TEST_CASE("milestone difference matches Kaplan-Meier with plain Greenwood standard errors") {
  struct Case {
    const char* name;
    std::vector<Observation> (*data)();
    double t, estimate, se, z, p_one, p_two;
  };
  // R: summary(survfit(Surv(time, status) ~ arm), times = t): surv[2] - surv[1] and
  // sqrt(std.err[1]^2 + std.err[2]^2).
  const Case cases[] = {
      {"d1", d1, 10, 0.17142857142857149, 0.15780010974510925, 1.0863653498433934,
       0.13865869261025016, 0.27731738522050031},
      {"d2", d2, 12, 0.26428571428571435, 0.1170602828262204, 2.2576890120627389,
       0.011982527378158102, 0.023965054756316204},
      {"d3", d3, 6.5, 0.32499999999999996, 0.32027006832775784, 1.0147685723393971,
       0.15510807903152946, 0.31021615806305891},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    CAPTURE(c.t);
    std::vector<Observation> data = c.data();
    check_result(vpgen::design::milestone_difference(data, c.t), c.estimate, c.se, c.z, c.p_one,
                 c.p_two);
  }
}

TEST_CASE("milestone variance of a curve that has reached 0 is 0, not NaN as in R") {
  // d3 at t = 7: S0 = 0 (R's std.err is NaN there), S1 = 0.625 with R std.err
  // 0.21347814095749162, so se is the experimental arm's alone.
  std::vector<Observation> data = d3();
  const TestResult got = vpgen::design::milestone_difference(data, 7);
  CHECK(close_rel(got.estimate, 0.625));
  CHECK(close_rel(got.se, 0.21347814095749162));
  CHECK(close_rel(got.z, 0.625 / 0.21347814095749162));
}

TEST_CASE("Fisher exact and chi-square tests match fisher.test, chisq.test and prop.test") {
  struct Case {
    int x0, n0, x1, n1;
    double fisher_one, fisher_two;
    double chi2, chi_one, chi_two;            // correct = FALSE
    double yates_chi2, yates_one, yates_two;  // correct = TRUE
  };
  // R, with m = matrix(c(x1, n1 - x1, x0, n0 - x0), 2):
  //   fisher.test(m, alternative = "greater")$p.value, fisher.test(m)$p.value,
  //   chisq.test(m, correct)$statistic, prop.test(c(x1, x0), c(n1, n0), alternative = "greater",
  //   correct)$p.value, chisq.test(m, correct)$p.value.
  const Case cases[] = {
      {7, 20, 14, 21, 0.042594241631583721, 0.062859593393225083, 4.1113888888888894,
       0.0212976842055226, 0.042595368411045262, 2.9416454081632657, 0.043161379138257544,
       0.086322758276515241},
      // Equal tables: every probability tied with the observed one is counted (relErr rule).
      {3, 15, 3, 15, 0.67432950191570851, 1, 0, 0.5, 1, 0, 0.5, 1},
      {10, 30, 2, 30, 0.99876706948243088, 0.021145246343534308, 6.6666666666666661,
       0.99508836274624035, 0.0098232745075192487, 5.1041666666666661, 0.98806577891771286,
       0.023868442164574392},
      {45, 150, 62, 150, 0.026776601665483117, 0.053553203330966297, 4.1983439058641228,
       0.020231738648753168, 0.040463477297506351, 3.7189482349523022, 0.02689912436007786,
       0.053798248720155581},
      {0, 10, 5, 10, 0.016253869969040255, 0.032507739938080517, 6.666666666666667,
       0.0049116372537596235, 0.0098232745075192644, 4.2666666666666666, 0.019433551906208626,
       0.038867103812417238},
      {4, 12, 9, 12, 0.049766359633098112, 0.099532719266196251, 4.1958041958041958,
       0.020262064143252545, 0.040524128286504958, 2.6853146853146854, 0.050638608316637919,
       0.1012772166332758},
  };
  for (const Case& c : cases) {
    CAPTURE(c.x0);
    CAPTURE(c.n0);
    CAPTURE(c.x1);
    CAPTURE(c.n1);
    const double diff = static_cast<double>(c.x1) / c.n1 - static_cast<double>(c.x0) / c.n0;

    const TestResult fisher = vpgen::design::fisher_exact(c.x0, c.n0, c.x1, c.n1);
    CHECK(close_rel(fisher.p_one_sided, c.fisher_one));
    CHECK(close_rel(fisher.p_two_sided, c.fisher_two));
    CHECK(fisher.estimate == doctest::Approx(diff));
    CHECK(close_rel(upper_tail(fisher.z), c.fisher_one));  // z is the equivalent normal deviate

    const TestResult plain = vpgen::design::chi_square(c.x0, c.n0, c.x1, c.n1, false);
    CHECK(plain.z * plain.z == doctest::Approx(c.chi2).epsilon(kRel));
    CHECK(close_rel(plain.p_one_sided, c.chi_one));
    CHECK(close_rel(plain.p_two_sided, c.chi_two));
    CHECK(plain.estimate == doctest::Approx(diff));
    // Without correction z is the pooled two-proportion z.
    CHECK(plain.z == doctest::Approx(diff / plain.se).epsilon(kRel));

    const TestResult yates = vpgen::design::chi_square(c.x0, c.n0, c.x1, c.n1, true);
    CHECK(yates.z * yates.z == doctest::Approx(c.yates_chi2).epsilon(kRel));
    CHECK(close_rel(yates.p_one_sided, c.yates_one));
    CHECK(close_rel(yates.p_two_sided, c.yates_two));
  }
}

TEST_CASE("exact binomial test matches binom.test on both sides of n p0") {
  struct Case {
    int k, n;
    double p0, p_one, p_two;
  };
  // R: binom.test(k, n, p0, alternative = "greater")$p.value, binom.test(k, n, p0)$p.value.
  const Case cases[] = {
      {7, 20, 0.2, 0.086692513567400251, 0.098221728613468728},
      {2, 25, 0.2, 0.9726102743993561, 0.20734801883871901},  // k < n p0
      {5, 25, 0.2, 0.57932569074786833, 1},                   // k == n p0
      {30, 100, 0.2, 0.011248978720991658, 0.016945359676785163},
      {15, 40, 0.5, 0.95965476612400358, 0.15385994416283236},  // symmetric null
      {0, 10, 0.3, 1, 0.038839603299999984},
      {9, 10, 0.45, 0.0045022498233398475, 0.0070352014445312543},
  };
  for (const Case& c : cases) {
    CAPTURE(c.k);
    CAPTURE(c.n);
    CAPTURE(c.p0);
    const TestResult got = vpgen::design::exact_binomial(c.k, c.n, c.p0);
    CHECK(close_rel(got.p_one_sided, c.p_one));
    CHECK(close_rel(got.p_two_sided, c.p_two));
    CHECK(got.estimate == doctest::Approx(static_cast<double>(c.k) / c.n));
    CHECK(got.se == doctest::Approx(std::sqrt(c.p0 * (1 - c.p0) / c.n)));
    if (c.p_one < 1.0) CHECK(close_rel(upper_tail(got.z), c.p_one));
  }
  CHECK(vpgen::design::exact_binomial(0, 10, 0.3).z == -std::numeric_limits<double>::infinity());
}

TEST_CASE("bivariate and trivariate normal probabilities match mvtnorm TVPACK") {
  // R: pmvnorm(upper, corr, algorithm = TVPACK(abseps = 1e-14)).
  struct Bvn {
    double h, k, r, p;
  };
  const Bvn bvns[] = {
      {1, -0.5, 0.3, 0.28313842024448105},        {0, 1.2, -0.7, 0.39193336181827582},
      {2, 2, 0.99, 0.97421137875231056},          {-3, -2.5, 0.95, 0.0012841970946648085},
      {1, 0, 0.5, 0.46874295264516808},           {0.5, -0.5, -0.999, 0.0062816750409154616},
      {-1.3, 0.4, -0.93, 0.00027951949217877288},
  };
  for (const Bvn& b : bvns) {
    CAPTURE(b.h);
    CAPTURE(b.k);
    CAPTURE(b.r);
    CHECK(std::abs(vpgen::design::bivariate_normal_cdf(b.h, b.k, b.r) - b.p) < kMvnAbs);
    CHECK(std::abs(vpgen::design::bivariate_normal_cdf(b.k, b.h, b.r) - b.p) < kMvnAbs);
  }
  struct Tvn {
    double h1, h2, h3, r12, r13, r23, p;
  };
  const Tvn tvns[] = {
      {1.5, 1.5, 1.5, 0.83, 0.89, 0.96, 0.89711507738798479},
      {2.1, 2.1, 2.1, 0.85, 0.93, 0.93, 0.97009482050463991},
      {0.3, -0.5, 1.2, -0.4, 0.3, 0.6, 0.13408415538957164},
      {2, 2, 2, 0.999, 0.99, 0.995, 0.97415625826022301},  // nearly singular, det 3.9e-6
      {-1, 0, 1, 0, 0, 0.5, 0.074368532180500088},
      {0, 0, 0, 0.5, 0.5, 0.5, 0.25},
      {1, -1, 0.5, 0.6, -0.3, -0.2, 0.090416429915247551},
      {3, 2.5, 2.8, 0.98, 0.9, 0.93, 0.99328565739067076},
  };
  for (const Tvn& t : tvns) {
    CAPTURE(t.h1);
    CAPTURE(t.h2);
    CAPTURE(t.h3);
    CHECK(std::abs(vpgen::design::trivariate_normal_cdf(t.h1, t.h2, t.h3, t.r12, t.r13, t.r23) -
                   t.p) < kMvnAbs);
    // The same probability with the variables listed in another order (3, 1, 2).
    CHECK(std::abs(vpgen::design::trivariate_normal_cdf(t.h3, t.h1, t.h2, t.r13, t.r23, t.r12) -
                   t.p) < kMvnAbs);
  }
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(vpgen::design::trivariate_normal_cdf(1, -inf, 2, 0.3, 0.2, 0.1) == 0.0);
  CHECK(vpgen::design::trivariate_normal_cdf(inf, 1, -0.5, 0.3, 0.2, 0.3) ==
        doctest::Approx(0.28313842024448105).epsilon(1e-12));
}

TEST_CASE("time-to-event results do not depend on the order of the observations") {
  std::vector<Observation> sorted = d2();
  std::vector<Observation> reversed = d2();
  std::reverse(reversed.begin(), reversed.end());
  const TestResult a = vpgen::design::weighted_logrank(sorted, 0, 1);
  const TestResult b = vpgen::design::weighted_logrank(reversed, 0, 1);
  CHECK(a.z == b.z);
  CHECK(a.estimate == b.estimate);
  reversed = d2();
  std::reverse(reversed.begin(), reversed.end());
  CHECK(vpgen::design::rmst_difference(reversed, 18).z ==
        vpgen::design::rmst_difference(sorted, 18).z);
  // The vector is now sorted by time.
  CHECK(std::is_sorted(reversed.begin(), reversed.end(),
                       [](const Observation& x, const Observation& y) { return x.time < y.time; }));
}

TEST_CASE("swapping the arms flips the sign of every time-to-event statistic") {
  std::vector<Observation> data = d1();
  std::vector<Observation> swapped = d1();
  for (Observation& o : swapped) o.arm = 1 - o.arm;
  CHECK(vpgen::design::weighted_logrank(swapped, 1, 1).z ==
        doctest::Approx(-vpgen::design::weighted_logrank(data, 1, 1).z).epsilon(1e-12));
  CHECK(vpgen::design::rmst_difference(swapped, 20).z ==
        doctest::Approx(-vpgen::design::rmst_difference(data, 20).z).epsilon(1e-12));
  CHECK(vpgen::design::milestone_difference(swapped, 10).z ==
        doctest::Approx(-vpgen::design::milestone_difference(data, 10).z).epsilon(1e-12));
  const auto a = vpgen::design::maxcombo(data);
  const auto b = vpgen::design::maxcombo(swapped);
  for (int j = 0; j < 3; ++j) CHECK(b.z[j] == doctest::Approx(-a.z[j]).epsilon(1e-12));
  CHECK(b.p_one_sided > 0.5);  // every component now favours control
}

TEST_CASE("degenerate data give NaN results instead of throwing") {
  // No events at all.
  std::vector<Observation> censored = {{1, false, 0}, {2, false, 1}, {3, false, 0}, {4, false, 1}};
  CHECK(all_nan(vpgen::design::weighted_logrank(censored, 0, 0)));
  CHECK(std::isnan(vpgen::design::maxcombo(censored).p_one_sided));
  // One arm empty.
  std::vector<Observation> one_arm = {{1, true, 0}, {2, true, 0}, {3, false, 0}};
  CHECK(all_nan(vpgen::design::weighted_logrank(one_arm, 0, 0)));
  CHECK(all_nan(vpgen::design::rmst_difference(one_arm, 2)));
  CHECK(all_nan(vpgen::design::milestone_difference(one_arm, 2)));
  std::vector<Observation> empty;
  CHECK(all_nan(vpgen::design::weighted_logrank(empty, 0, 0)));
  CHECK(std::isnan(vpgen::design::maxcombo(empty).z_max));
  // A horizon after an arm's last follow-up while its curve is above 0: not estimable.
  std::vector<Observation> data = d1();
  CHECK(all_nan(vpgen::design::rmst_difference(data, 30)));  // control's last time is 23+
  CHECK(all_nan(vpgen::design::milestone_difference(data, 30)));
  // Rates: empty arms and zero margins.
  CHECK(all_nan(vpgen::design::fisher_exact(0, 0, 3, 10)));
  CHECK(all_nan(vpgen::design::chi_square(0, 10, 0, 12, false)));
  CHECK(all_nan(vpgen::design::chi_square(10, 10, 12, 12, true)));
  CHECK(all_nan(vpgen::design::exact_binomial(0, 0, 0.3)));
  // Fisher with no responders at all is defined: the only table has probability 1.
  CHECK(vpgen::design::fisher_exact(0, 10, 0, 12).p_two_sided == 1.0);
}

TEST_CASE("maxcombo falls back to the components with positive variance") {
  // Every event happens at the first event time, where S(t-) = 1: the FH(0,1) and FH(1,1)
  // weights are 0 there, so only the log-rank component is defined and p = P(Z >= z_logrank).
  std::vector<Observation> data = {{1, true, 0},  {1, true, 0},  {1, true, 1}, {2, false, 0},
                                   {3, false, 1}, {4, false, 1}, {5, false, 0}};
  const vpgen::design::MaxComboResult got = vpgen::design::maxcombo(data);
  CHECK(std::isnan(got.z[1]));
  CHECK(std::isnan(got.z[2]));
  CHECK(std::isnan(got.correlation[0][1]));
  CHECK(got.z_max == got.z[0]);
  std::vector<Observation> copy = data;
  CHECK(got.z[0] == vpgen::design::weighted_logrank(copy, 0, 0).z);
  CHECK(got.p_one_sided == doctest::Approx(upper_tail(got.z[0])).epsilon(1e-14));
}

TEST_CASE("bad arguments throw InputError") {
  std::vector<Observation> data = d1();
  CHECK_THROWS_AS(vpgen::design::rmst_difference(data, 0), vpgen::InputError);
  CHECK_THROWS_AS(vpgen::design::rmst_difference(data, -1), vpgen::InputError);
  CHECK_THROWS_AS(vpgen::design::milestone_difference(data, std::nan("")), vpgen::InputError);
  CHECK_THROWS_AS(vpgen::design::weighted_logrank(data, -1, 0), vpgen::InputError);
  CHECK_THROWS_AS(vpgen::design::weighted_logrank(data, 0, std::nan("")), vpgen::InputError);
  std::vector<Observation> bad_arm = {{1, true, 0}, {2, true, 2}};
  CHECK_THROWS_AS(vpgen::design::maxcombo(bad_arm), vpgen::InputError);
  std::vector<Observation> bad_time = {{1, true, 0}, {std::nan(""), true, 1}};
  CHECK_THROWS_AS(vpgen::design::weighted_logrank(bad_time, 0, 0), vpgen::InputError);
  std::vector<Observation> negative = {{-1, true, 0}, {2, true, 1}};
  CHECK_THROWS_AS(vpgen::design::milestone_difference(negative, 1), vpgen::InputError);
  CHECK_THROWS_AS(vpgen::design::fisher_exact(11, 10, 3, 10), vpgen::InputError);
  CHECK_THROWS_AS(vpgen::design::chi_square(1, 10, -1, 10, false), vpgen::InputError);
  CHECK_THROWS_AS(vpgen::design::exact_binomial(3, 10, 0.0), vpgen::InputError);
  CHECK_THROWS_AS(vpgen::design::exact_binomial(3, 10, 1.0), vpgen::InputError);
  CHECK_THROWS_AS(vpgen::design::exact_binomial(3, -1, 0.5), vpgen::InputError);
  CHECK_THROWS_AS(vpgen::design::bivariate_normal_cdf(0, 0, 1.5), vpgen::InputError);
  CHECK_THROWS_AS(vpgen::design::trivariate_normal_cdf(0, 0, 0, 0.5, std::nan(""), 0.2),
                  vpgen::InputError);
}

TEST_CASE("under H0 the one-sided 0.025 log-rank, MaxCombo, RMST and milestone tests reject 2.5%" *
          doctest::test_suite("statistical")) {
  // 4000 replicate trials of 200 patients (100 per arm), both arms exponential with a median of
  // 12 months, censored uniformly on (0, 36) months. Each rejection is a Bernoulli(alpha) draw,
  // so the rejection rate has Monte Carlo SE sqrt(alpha (1 - alpha) / R) =
  // sqrt(0.025 * 0.975 / 4000) = 0.00247; we allow 3 MCSE (0.0074). The asymptotic level error
  // of these tests at 200 patients is well below that (40000 replicates of this design, run once
  // outside the suite, gave 0.0257, 0.0263, 0.0266 and 0.0264, each with MCSE 0.0008).
  constexpr int kReplicates = 4000;
  constexpr int kPatients = 200;
  constexpr double kAlpha = 0.025;
  const double mcse = std::sqrt(kAlpha * (1 - kAlpha) / kReplicates);
  const double hazard_per_month = std::log(2.0) / 12.0;
  boost::random::exponential_distribution<double> event_months(hazard_per_month);
  boost::random::uniform_real_distribution<double> censor_months(0.0, 36.0);

  int logrank_rejections = 0;
  int maxcombo_rejections = 0;
  int rmst_rejections = 0;
  int milestone_rejections = 0;
  std::vector<Observation> trial;
  for (int r = 0; r < kReplicates; ++r) {
    vpgen::Stream stream(20240607, static_cast<std::uint64_t>(r), vpgen::kNoArm,
                         vpgen::Purpose::kTrialDesign);
    trial.clear();
    for (int i = 0; i < kPatients; ++i) {
      const double event = event_months(stream);
      const double censor = censor_months(stream);
      trial.push_back({std::min(event, censor), event <= censor, i % 2});
    }
    if (vpgen::design::weighted_logrank(trial, 0, 0).p_one_sided < kAlpha) ++logrank_rejections;
    if (vpgen::design::maxcombo(trial).p_one_sided < kAlpha) ++maxcombo_rejections;
    if (vpgen::design::rmst_difference(trial, 24).p_one_sided < kAlpha) ++rmst_rejections;
    if (vpgen::design::milestone_difference(trial, 12).p_one_sided < kAlpha) ++milestone_rejections;
  }
  const double logrank_rate = static_cast<double>(logrank_rejections) / kReplicates;
  const double maxcombo_rate = static_cast<double>(maxcombo_rejections) / kReplicates;
  const double rmst_rate = static_cast<double>(rmst_rejections) / kReplicates;
  const double milestone_rate = static_cast<double>(milestone_rejections) / kReplicates;
  CHECK(std::abs(logrank_rate - kAlpha) <= 3 * mcse);
  CHECK(std::abs(maxcombo_rate - kAlpha) <= 3 * mcse);
  CHECK(std::abs(rmst_rate - kAlpha) <= 3 * mcse);
  CHECK(std::abs(milestone_rate - kAlpha) <= 3 * mcse);
}
