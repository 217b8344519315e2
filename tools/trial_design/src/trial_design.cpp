// Trial design (`vpgen size`): runs a design (pool, replicates at every n, the power fit, the
// enrichment sweep) and gives the text / JSON / database forms of its result.
#include "vpgen/trial_design/trial_design.hpp"

#include "vpgen/common/json_number.hpp"
#include "vpgen/config/scenario_loader.hpp"
#include "replicate_engine.hpp"
#include "vpgen/engine/build_info.hpp"
#include "vpgen/stats/sample_size.hpp"
#include "vpgen/stats/statistics.hpp"
#include "vpgen/population/error.hpp"

#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/normal.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <cmath>
#include <optional>

namespace vpgen::trial_design {

namespace {

using nlohmann::json;

double normal_quantile(double p) {
  return boost::math::quantile(boost::math::normal_distribution<double>(), p);
}
double normal_cdf(double z) {
  return boost::math::cdf(boost::math::normal_distribution<double>(), z);
}
double normal_pdf(double z) {
  return boost::math::pdf(boost::math::normal_distribution<double>(), z);
}

constexpr std::uint64_t kMinSweepPool = 100;  // fewer pool patients: the row is not simulated

}  // namespace

// ---- The power curve fit ---------------------------------------------------------------------

// A probit GLM with covariate sqrt(n) by Fisher scoring (IRLS; McCullagh & Nelder, Generalized
// Linear Models, 2nd ed. 1989, section 4.4). Under a normal approximation a test's power is
// Phi(c sqrt(n) - z_{1-alpha}), so probit(power) is linear in sqrt(n): the model is exact for
// z-tests and smooths the saw-tooth of exact tests. n* = ((z_target - a) / b)^2; its interval is
// the delta method on s* = sqrt(n*) = (z_target - a) / b with the inverse Fisher information,
// s* +/- 1.96 SE(s*), squared (Casella & Berger, Statistical Inference, 2nd ed., section 5.5.4).
PowerFit fit_power_curve(const std::vector<FitPoint>& points, double target_power) {
  PowerFit fit;
  std::vector<FitPoint> used;
  for (const FitPoint& p : points)
    if (p.trials > 0) used.push_back(p);
  if (used.size() < 2) {
    fit.note = "needs at least two sample sizes";
    return fit;
  }
  bool all_zero = true, all_one = true;
  for (const FitPoint& p : used) {
    all_zero = all_zero && p.successes == 0;
    all_one = all_one && p.successes == p.trials;
  }
  if (all_zero || all_one) {
    fit.note = fmt::format("power is {} at every sample size of the grid", all_zero ? 0 : 1);
    return fit;
  }
  // Start from a weighted least-squares line through the empirical probits.
  double a = 0.0, b = 0.0;
  auto solve = [&](auto weight_and_response) {
    double sw = 0, sx = 0, sxx = 0, sz = 0, sxz = 0;
    for (const FitPoint& p : used) {
      const double x = std::sqrt(p.n);
      const auto [w, z] = weight_and_response(p, x);
      sw += w;
      sx += w * x;
      sxx += w * x * x;
      sz += w * z;
      sxz += w * x * z;
    }
    const double det = sw * sxx - sx * sx;
    if (!(std::abs(det) > 0.0)) return false;
    b = (sw * sxz - sx * sz) / det;
    a = (sz - b * sx) / sw;
    return std::isfinite(a) && std::isfinite(b);
  };
  if (!solve([](const FitPoint& p, double) {
        const double y =
            (static_cast<double>(p.successes) + 0.5) / (static_cast<double>(p.trials) + 1.0);
        const double z = normal_quantile(y);
        const double phi = normal_pdf(z);
        return std::pair{static_cast<double>(p.trials) * phi * phi / (y * (1 - y)), z};
      })) {
    fit.note = "the sample sizes do not determine a line (all equal?)";
    return fit;
  }
  constexpr double kClamp = 1e-12;
  auto weight = [&](const FitPoint& p, double x) {
    const double eta = a + b * x;
    const double mu = std::clamp(normal_cdf(eta), kClamp, 1.0 - kClamp);
    const double phi = std::max(normal_pdf(eta), 1e-300);
    return std::pair{static_cast<double>(p.trials) * phi * phi / (mu * (1.0 - mu)), eta};
  };
  bool converged = false;
  for (int iteration = 0; iteration < 100 && !converged; ++iteration) {
    const double old_a = a, old_b = b;
    const bool ok = solve([&](const FitPoint& p, double x) {
      const double eta = old_a + old_b * x;
      const double mu = std::clamp(normal_cdf(eta), kClamp, 1.0 - kClamp);
      const double phi = std::max(normal_pdf(eta), 1e-300);
      const double w = static_cast<double>(p.trials) * phi * phi / (mu * (1.0 - mu));
      const double observed = static_cast<double>(p.successes) / static_cast<double>(p.trials);
      return std::pair{w, eta + (observed - mu) / phi};
    });
    if (!ok || std::abs(b) > 1e6) break;
    converged = std::abs(a - old_a) <= 1e-10 * (1.0 + std::abs(a)) &&
                std::abs(b - old_b) <= 1e-10 * (1.0 + std::abs(b));
  }
  if (!converged) {
    fit.note = "the maximum-likelihood fit did not converge (power jumps from 0 to 1?)";
    return fit;
  }
  double sw = 0, sx = 0, sxx = 0, deviance = 0;
  for (const FitPoint& p : used) {
    const double x = std::sqrt(p.n);
    const double w = weight(p, x).first;
    sw += w;
    sx += w * x;
    sxx += w * x * x;
    const double mu = std::clamp(normal_cdf(a + b * x), kClamp, 1.0 - kClamp);
    const double s = static_cast<double>(p.successes), t = static_cast<double>(p.trials);
    if (s > 0) deviance += 2.0 * s * std::log(s / (t * mu));
    if (t - s > 0) deviance += 2.0 * (t - s) * std::log((t - s) / (t * (1.0 - mu)));
  }
  const double det = sw * sxx - sx * sx;
  fit.a = a;
  fit.b = b;
  fit.deviance = deviance;
  fit.df = static_cast<int>(used.size()) - 2;
  // Lack of fit widens the interval: with a deviance above its degrees of freedom the covariance
  // is scaled by the dispersion deviance / df (quasi-binomial; McCullagh & Nelder 1989, 4.5.2).
  fit.dispersion = fit.df > 0 ? std::max(1.0, deviance / fit.df) : 1.0;
  fit.covariance = {fit.dispersion * sxx / det, -fit.dispersion * sx / det,
                    fit.dispersion * sw / det};
  if (fit.df > 0)
    fit.gof_p = boost::math::cdf(boost::math::complement(
        boost::math::chi_squared_distribution<double>(fit.df), std::max(deviance, 0.0)));
  if (!(b - 1.959963984540054 * std::sqrt(fit.covariance[2]) > 0.0)) {
    // An event-driven analysis fixes power by its event count, whatever n.
    fit.note =
        "power does not increase detectably with n over the grid (slope b not above 0 at "
        "95%); no n* is solved for";
    return fit;
  }
  const double s_star = (normal_quantile(target_power) - a) / b;
  if (!(s_star > 0.0)) {
    fit.note = "the fit reaches the target power at n = 0: every n of the grid is large enough";
    return fit;
  }
  const double var_s =
      (fit.covariance[0] + 2.0 * s_star * fit.covariance[1] + s_star * s_star * fit.covariance[2]) /
      (b * b);
  const double half = 1.959963984540054 * std::sqrt(std::max(var_s, 0.0));
  fit.ok = true;
  fit.n_star = s_star * s_star;
  fit.n_low = std::pow(std::max(s_star - half, 0.0), 2);
  fit.n_high = std::pow(s_star + half, 2);
  const double lowest = used.front().n, highest = used.back().n;
  if (fit.n_star < lowest || fit.n_star > highest) {
    fit.extrapolated = true;
    fit.note = fmt::format("n* lies outside the grid [{:g}, {:g}]: extrapolated", lowest, highest);
  }
  return fit;
}

// ---- Running a design ---------------------------------------------------------------------------

namespace {

std::vector<FitPoint> fit_points(const std::vector<PointResult>& points) {
  std::vector<FitPoint> out;
  for (const PointResult& p : points)
    out.push_back({static_cast<double>(p.n), p.rejections, p.replicates});
  return out;
}

std::int64_t smallest_reaching(const std::vector<PointResult>& points, double target) {
  for (const PointResult& p : points)
    if (p.power >= target) return p.n;
  return -1;
}

// The true response rate of the experimental (side 1) or control (side 0) arm.
double true_rate(const Design& d, const std::optional<PoolSummary>& pool, int side) {
  if (d.mode == Mode::kParametric) return side == 1 ? d.p_experimental : d.p_control;
  if (!pool) return kNaN;
  return pool->arms[is_single_arm(d.analysis) ? 0 : static_cast<std::size_t>(side)].endpoint_rate;
}

// A calculator call whose InputError (e.g. a hazard ratio of 1) becomes a note in the output.
template <typename F>
json guarded(F f) {
  try {
    return f();
  } catch (const InputError& e) {
    return json{{"not_applicable", e.what()}};
  }
}

// Standard-formula power at one n, where one applies (docs/DESIGN.md).
double approximate_power(const Design& d, const std::optional<PoolSummary>& pool,
                         const PointResult& p) {
  const double z_alpha = normal_quantile(1.0 - d.alpha / d.sides);
  const auto nc = static_cast<double>(p.n_control), ne = static_cast<double>(p.n_experimental);
  switch (d.analysis) {
    case Analysis::kExactBinomial: {
      const double rate = true_rate(d, pool, 1);
      if (!(rate >= 0.0)) return kNaN;
      const int n = static_cast<int>(p.n);
      int low = 0, high = n + 1;  // the test's critical count, as the engine finds it
      while (high - low > 1) {
        const int mid = (low + high) / 2;
        if (design::binomial_tail_above(n, mid - 1, d.p0) <= d.alpha) high = mid;
        else low = mid;
      }
      return design::binomial_tail_above(n, high - 1, rate);
    }
    case Analysis::kFisher:
    case Analysis::kChiSquare: {
      // Normal approximation without continuity correction (Fleiss, Levin & Paik 2003, ch. 4).
      const double pc = true_rate(d, pool, 0), pe = true_rate(d, pool, 1);
      if (!(pc >= 0.0) || !(pe >= 0.0)) return kNaN;
      const double pbar = (nc * pc + ne * pe) / (nc + ne);
      const double null_se = std::sqrt(pbar * (1.0 - pbar) * (1.0 / nc + 1.0 / ne));
      const double alt_se = std::sqrt(pc * (1.0 - pc) / nc + pe * (1.0 - pe) / ne);
      if (!(alt_se > 0.0)) return kNaN;
      return normal_cdf(((pe - pc) - z_alpha * null_se) / alt_se);
    }
    case Analysis::kLogrank: {
      // Schoenfeld (1981): power = Phi(sqrt(D pi (1 - pi)) |ln HR| - z), D the expected events.
      if (d.mode != Mode::kParametric) return kNaN;
      const double hr = d.experimental_model.constant_hazard_ratio_to(d.control_model);
      const double hazard = d.control_model.exponential_hazard();
      if (!(hr > 0.0) || !std::isfinite(hazard)) return kNaN;
      double events = 0.0;
      if (d.conduct.events) {
        events = static_cast<double>(*d.conduct.events);
      } else {
        const double accrual = d.conduct.accrual_duration_months(p.n);
        const double dropout = d.conduct.dropout_hazard_per_month();
        events =
            nc * design::event_probability(hazard, accrual, *d.conduct.followup_months, dropout) +
            ne * design::event_probability(hazard * hr, accrual, *d.conduct.followup_months,
                                           dropout);
      }
      const double pi = ne / (nc + ne);
      return normal_cdf(std::sqrt(events * pi * (1.0 - pi)) * -std::log(hr) - z_alpha);
    }
    default: return kNaN;
  }
}

json design_formulas(const Design& d, const std::optional<PoolSummary>& pool) {
  json out = json::object();
  const int sides = d.sides;
  if (d.analysis == Analysis::kExactBinomial) {
    const double rate = true_rate(d, pool, 1);
    out["exact_binomial_design"] = guarded([&] {
      const design::SingleStageDesign s =
          design::exact_binomial_design(d.p0, rate, d.alpha, d.target_power);
      if (s.n == 0) return json{{"not_applicable", "no design with n <= 1000"}};
      return json{{"p0", d.p0},
                  {"p1", rate},
                  {"n", s.n},
                  {"r", s.r},
                  {"alpha_actual", s.alpha_actual},
                  {"power_actual", s.power_actual}};
    });
  }
  if (d.analysis == Analysis::kFisher || d.analysis == Analysis::kChiSquare) {
    const double pc = true_rate(d, pool, 0), pe = true_rate(d, pool, 1);
    for (const bool cc : {false, true}) {
      out[cc ? "two_proportions_fleiss_cc" : "two_proportions"] = guarded([&] {
        const design::TwoArmSize s = design::two_proportions_size(pc, pe, d.alpha, d.target_power,
                                                                  sides, cc, d.allocation_ratio);
        return json{{"p_control", pc},
                    {"p_experimental", pe},
                    {"n_control", s.n_control},
                    {"n_experimental", s.n_experimental},
                    {"n_total", s.n_control + s.n_experimental}};
      });
    }
  }
  if (!is_rate(d.endpoint) && d.mode == Mode::kParametric) {
    const double hr = d.experimental_model.constant_hazard_ratio_to(d.control_model);
    const double hazard = d.control_model.exponential_hazard();
    if (std::isfinite(hr)) {
      out["hazard_ratio"] = hr;
      out["schoenfeld_events"] = guarded([&] {
        return json{{"events", design::schoenfeld_events(hr, d.alpha, d.target_power, sides,
                                                         d.allocation_ratio)},
                    {"required", design::schoenfeld_events_required(hr, d.alpha, d.target_power,
                                                                    sides, d.allocation_ratio)}};
      });
      out["freedman_events"] = guarded([&] {
        return json{{"events", design::freedman_events(hr, d.alpha, d.target_power, sides,
                                                       d.allocation_ratio)},
                    {"required", design::freedman_events_required(hr, d.alpha, d.target_power,
                                                                  sides, d.allocation_ratio)}};
      });
      if (std::isfinite(hazard) && d.conduct.followup_months && d.conduct.accrual_months) {
        out["patients_for_schoenfeld_events"] = guarded([&] {
          const int events = design::schoenfeld_events_required(hr, d.alpha, d.target_power, sides,
                                                                d.allocation_ratio);
          return json(design::patients_for_events(
              events, hazard, hr, d.allocation_ratio, *d.conduct.accrual_months,
              *d.conduct.followup_months, d.conduct.dropout_hazard_per_month()));
        });
      }
      if (std::isfinite(hazard) && d.conduct.events) {
        json times = json::array();
        for (const std::int64_t n : d.grid) {
          const double rate_per_month =
              static_cast<double>(n) / d.conduct.accrual_duration_months(n);
          times.push_back(json{{"n", n}, {"analysis_time_months", guarded([&] {
                                            return number_or_null(design::time_to_events(
                                                static_cast<double>(*d.conduct.events),
                                                static_cast<int>(n), rate_per_month, hazard, hr,
                                                d.allocation_ratio,
                                                d.conduct.dropout_hazard_per_month()));
                                          })}});
        }
        out["expected_analysis_time"] = times;
      }
    }
    if (d.endpoint == Endpoint::kRmst) {
      const double rc = d.control_model.rmst(d.tau_months),
                   re = d.experimental_model.rmst(d.tau_months);
      out["true_rmst_months"] =
          json{{"control", rc}, {"experimental", re}, {"difference", re - rc}};
    }
    if (d.endpoint == Endpoint::kMilestone) {
      const double sc = d.control_model.survival(d.milestone_months),
                   se = d.experimental_model.survival(d.milestone_months);
      out["true_milestone_survival"] =
          json{{"control", sc}, {"experimental", se}, {"difference", se - sc}};
    }
  }
  return out;
}

design::SimonDesign find_simon(const Design& d) {
  const auto criterion =
      d.simon_minimax ? design::SimonCriterion::kMinimax : design::SimonCriterion::kOptimal;
  // The search costs ~n_max^4 / 4: widen it only when a design needs it.
  for (const int n_max : {100, 250, 500}) {
    const design::SimonDesign s =
        design::simon_two_stage(d.p0, d.p1, d.alpha, d.target_power, criterion, n_max);
    if (s.n > 0) return s;
  }
  throw InputError(
      fmt::format("{}: no Simon design with n <= 500 for p0 = {}, p1 = {}", d.file, d.p0, d.p1));
}

void report_progress(const RunOptions& options, const std::string& stage, std::uint64_t done,
                     std::uint64_t total) {
  if (options.on_progress) options.on_progress({stage, done, total});
}

// Simon's design `s` and its exact operating characteristics, also at the true rate when known.
SimonSummary simon_summary(const Design& design, const design::SimonDesign& s,
                           const std::optional<PoolSummary>& pool) {
  SimonSummary summary;
  summary.n1 = s.n1;
  summary.r1 = s.r1;
  summary.n = s.n;
  summary.r = s.r;
  summary.alpha_actual = s.alpha_actual;
  summary.power_actual = s.power_actual;
  summary.pet_p0 = s.pet_p0;
  summary.expected_n_p0 = s.expected_n_p0;
  summary.true_rate = true_rate(design, pool, 1);
  if (summary.true_rate >= 0.0) {
    const design::SimonCharacteristics c = design::simon_characteristics(s, summary.true_rate);
    summary.reject_at_true = c.reject_probability;
    summary.pet_at_true = c.pet;
    summary.expected_n_at_true = c.expected_n;
  }
  return summary;
}

// One row of the enrichment sweep: the pool patients meeting both cut-offs, their prevalence, the
// power at every n of the grid among them, and the patients to screen for n*.
EnrichmentRow sweep_row(const Design& design, const detail::Pool& pool, double tmb, double pdl1,
                        const std::vector<std::int64_t>& grid, const detail::SimonBounds& bounds,
                        Cluster& cluster, const RunOptions& options) {
  EnrichmentRow row;
  row.tmb_min = tmb;
  row.pdl1_min = pdl1;
  const std::vector<std::uint32_t> members = detail::select(pool, tmb, pdl1);
  row.pool_patients = members.size();
  const Interval prevalence = clopper_pearson(members.size(), pool.patients.size());
  row.prevalence = prevalence.estimate;
  row.prevalence_low = prevalence.low;
  row.prevalence_high = prevalence.high;
  if (members.size() < kMinSweepPool) {
    row.note = fmt::format(
        "only {} pool patients meet the cut-offs (fewer than {}): not "
        "simulated",
        members.size(), kMinSweepPool);
    return row;
  }
  const detail::ReplicateEngine sub(design, &pool, members, bounds, &cluster);
  for (const std::int64_t n : grid) {
    const std::string stage = fmt::format("sweep TMB >= {:g}, PD-L1 >= {:g}: n = {}", tmb, pdl1, n);
    row.points.push_back(sub.estimate(n, false, options.threads, [&](std::uint64_t done) {
      report_progress(options, stage, done, design.replicates.max);
    }));
  }
  row.fit = fit_power_curve(fit_points(row.points), design.target_power);
  row.smallest_grid_n = smallest_reaching(row.points, design.target_power);
  // Randomise n*, so screen n* / prevalence; the interval pairs the ends of both intervals.
  if (row.fit.ok) {
    row.screen = row.fit.n_star / row.prevalence;
    row.screen_low = row.fit.n_low / row.prevalence_high;
    row.screen_high = row.fit.n_high / row.prevalence_low;
  } else if (row.smallest_grid_n > 0) {
    row.screen = static_cast<double>(row.smallest_grid_n) / row.prevalence;
    row.note = "no power fit (" + row.fit.note + "): screening for the smallest grid n";
  } else {
    row.note = "the target power is not reached on the grid: " + row.fit.note;
  }
  row.screen_candidates = row.screen * pool.summary.screening_ratio;
  return row;
}

}  // namespace

PointResult simulate_point(const Design& design, std::int64_t n, std::uint64_t replicates,
                           bool with_null, int threads) {
  if (design.mode != Mode::kParametric || design.analysis == Analysis::kSimon)
    throw InputError("simulate_point: parametric designs with a grid only");
  const detail::ReplicateEngine engine(design, nullptr, {});
  return engine.estimate_fixed(n, replicates, with_null, threads);
}

DesignResult run_design(const Design& design, const RunOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  DesignResult result;
  result.design = design;

  Cluster& cluster = options.cluster ? *options.cluster : local_cluster();
  std::optional<detail::Pool> pool;
  std::vector<std::uint32_t> subset;
  detail::SimonBounds bounds;
  std::vector<std::int64_t> grid = design.grid;
  // The set-up gives the same result, or the same error, on every rank, unless a rank fails alone
  // (out of memory): then all learn of it here, before the first exchange of replicates, and none
  // waits for a rank that has left.
  std::exception_ptr setup_failure;
  try {
    if (design.mode == Mode::kMechanistic) {
      pool = detail::simulate_pool(
          design, options.threads,
          [&](std::uint64_t done, std::uint64_t total) {
            report_progress(options, "pool of virtual patients", done, total);
          },
          cluster);
      subset = detail::select(*pool, design.enrichment.tmb_min_mut_per_mb.value_or(0.0),
                              design.enrichment.pdl1_min_percent.value_or(0.0));
      result.pool = pool->summary;
      if (subset.empty())
        throw InputError(fmt::format("{}: no patient of the pool of {} meets the enrichment ({})",
                                     design.file, design.pool_patients, design.enrichment.label()));
    }

    if (design.analysis == Analysis::kSimon) {
      const design::SimonDesign s = find_simon(design);
      bounds = {s.n1, s.r1, s.n, s.r};
      result.simon = simon_summary(design, s, result.pool);
      grid = {s.n};
      result.design.grid = grid;
    }
  } catch (...) {
    setup_failure = std::current_exception();
  }
  agree_on_failure(cluster, setup_failure);

  const detail::ReplicateEngine engine(design, pool ? &*pool : nullptr, subset, bounds, &cluster);
  for (const std::int64_t n : grid) {
    const std::string stage = fmt::format("n = {}", n);
    PointResult point = engine.estimate(n, true, options.threads, [&](std::uint64_t done) {
      report_progress(options, stage, done, design.replicates.max);
    });
    point.approximate_power = approximate_power(design, result.pool, point);
    result.points.push_back(point);
  }
  if (design.analysis != Analysis::kSimon) {
    result.fit = fit_power_curve(fit_points(result.points), design.target_power);
    result.smallest_grid_n = smallest_reaching(result.points, design.target_power);
  }
  result.formulas = design_formulas(design, result.pool);

  if (design.sweep)
    for (const double tmb : design.sweep_tmb_cutoffs)
      for (const double pdl1 : design.sweep_pdl1_cutoffs)
        result.enrichment.push_back(
            sweep_row(design, *pool, tmb, pdl1, grid, bounds, cluster, options));
  result.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

// ---- JSON -------------------------------------------------------------------------------------

namespace {

json interval_json(const Interval& i) {
  return json{{"estimate", number_or_null(i.estimate)},
              {"ci_low", number_or_null(i.low)},
              {"ci_high", number_or_null(i.high)}};
}

json mean_se_json(const MeanSe& m) {
  return json{{"mean", number_or_null(m.mean)}, {"se", number_or_null(m.se)}};
}

// Clopper-Pearson 95% interval of a simulated proportion.
json proportion_json(double estimate, double mcse, std::uint64_t successes, std::uint64_t trials) {
  const Interval ci = clopper_pearson(successes, trials);
  return json{{"estimate", number_or_null(estimate)},
              {"mcse", number_or_null(mcse)},
              {"ci95", json::array({number_or_null(ci.low), number_or_null(ci.high)})}};
}

json point_json(const PointResult& p, bool with_null) {
  json j{{"n", p.n},
         {"n_control", p.n_control},
         {"n_experimental", p.n_experimental},
         {"replicates", p.replicates},
         {"power", proportion_json(p.power, p.power_mcse, p.rejections, p.replicates)},
         {"approximate_power", number_or_null(p.approximate_power)},
         {"duration_months", mean_se_json(p.duration_months)},
         {"analysed", mean_se_json(p.analysed)}};
  if (with_null)
    j["type1_error"] =
        proportion_json(p.type1_error, p.type1_mcse, p.null_rejections, p.replicates);
  if (!std::isnan(p.events.mean)) j["events"] = mean_se_json(p.events);
  if (!std::isnan(p.events_not_reached)) j["events_not_reached"] = p.events_not_reached;
  j["test_undefined"] = p.test_undefined;
  if (!std::isnan(p.pet)) {
    j["pet"] = p.pet;
    j["expected_n"] = mean_se_json(p.expected_n);
    j["pet_p0"] = number_or_null(p.pet_p0);
    j["expected_n_p0"] = mean_se_json(p.expected_n_p0);
  }
  return j;
}

json fit_json(const PowerFit& f, std::int64_t smallest) {
  return json{{"model", "probit(power) = a + b sqrt(n), binomial maximum likelihood"},
              {"ok", f.ok},
              {"note", f.note},
              {"a", number_or_null(f.a)},
              {"b", number_or_null(f.b)},
              {"covariance_aa_ab_bb",
               json::array({number_or_null(f.covariance[0]), number_or_null(f.covariance[1]),
                            number_or_null(f.covariance[2])})},
              {"n_star", number_or_null(f.n_star)},
              {"n_star_rounded_up", f.ok ? json(std::ceil(f.n_star)) : json(nullptr)},
              {"n_star_ci95", json::array({number_or_null(f.n_low), number_or_null(f.n_high)})},
              {"extrapolated", f.extrapolated},
              {"deviance", number_or_null(f.deviance)},
              {"dispersion", number_or_null(f.dispersion)},
              {"df", f.df},
              {"goodness_of_fit_p", number_or_null(f.gof_p)},
              {"smallest_grid_n_reaching_target", smallest > 0 ? json(smallest) : json(nullptr)}};
}

json design_json(const Design& d) {
  json j{{"name", d.name},
         {"description", d.description},
         {"file", d.file},
         {"design_hash", config::fingerprint(d.text)},
         {"mode", to_string(d.mode)},
         {"seed", d.seed},
         {"endpoint", to_string(d.endpoint)},
         {"analysis", to_string(d.analysis)},
         {"alpha", d.alpha},
         {"sides", d.sides},
         {"target_power", d.target_power},
         {"grid", d.grid},
         {"replicates", json{{"min", d.replicates.min},
                             {"max", d.replicates.max},
                             {"target_mcse", d.replicates.target_mcse},
                             {"batch", d.replicates.batch}}}};
  if (d.endpoint == Endpoint::kMilestone || d.endpoint == Endpoint::kRmst)
    j["time_to_event"] = to_string(d.time_to_event);
  if (d.endpoint == Endpoint::kMilestone) j["milestone_months"] = d.milestone_months;
  if (d.endpoint == Endpoint::kRmst) j["tau_months"] = d.tau_months;
  if (!is_single_arm(d.analysis)) j["allocation_ratio"] = d.allocation_ratio;
  else j["p0"] = d.p0;
  if (d.analysis == Analysis::kSimon) {
    j["p1"] = d.p1;
    j["simon"] = d.simon_minimax ? "minimax" : "optimal";
  }
  if (d.analysis == Analysis::kChiSquare) j["continuity_correction"] = d.continuity_correction;
  const Conduct& c = d.conduct;
  json conduct;
  if (c.accrual_months) conduct["accrual_months"] = *c.accrual_months;
  if (c.accrual_rate_per_month) conduct["accrual_rate_per_month"] = *c.accrual_rate_per_month;
  if (c.followup_months) conduct["followup_months"] = *c.followup_months;
  if (c.events) conduct["events"] = *c.events;
  if (!is_rate(d.endpoint)) {
    conduct["entry"] = to_string(c.entry);
    conduct["dropout_probability_per_year"] = c.dropout_probability_per_year;
    conduct["dropout_hazard_per_month"] = c.dropout_hazard_per_month();
  }
  j["conduct"] = conduct;
  if (d.mode == Mode::kParametric) {
    if (is_rate(d.endpoint)) {
      j["p_experimental"] = d.p_experimental;
      if (!is_single_arm(d.analysis)) j["p_control"] = d.p_control;
    } else {
      j["control_model"] = d.control_model.json();
      j["experimental_model"] = d.experimental_model.json();
    }
  } else {
    j["scenario"] = json{{"file", d.scenario_file},
                         {"name", d.scenario.name},
                         {"experimental_arm", d.experimental_arm},
                         {"pool_patients", d.pool_patients},
                         {"enrichment", d.enrichment.label()}};
    if (!is_single_arm(d.analysis)) j["scenario"]["control_arm"] = d.control_arm;
  }
  return j;
}

}  // namespace

json result_json(const DesignResult& r) {
  const Design& d = r.design;
  json j;
  j["design"] = design_json(d);
  j["points"] = json::array();
  for (const PointResult& p : r.points) j["points"].push_back(point_json(p, true));
  if (d.analysis != Analysis::kSimon) j["fit"] = fit_json(r.fit, r.smallest_grid_n);
  j["formulas"] = r.formulas;
  if (r.simon) {
    const SimonSummary& s = *r.simon;
    j["simon"] = json{{"n1", s.n1},
                      {"r1", s.r1},
                      {"n", s.n},
                      {"r", s.r},
                      {"alpha_actual", s.alpha_actual},
                      {"power_actual", s.power_actual},
                      {"pet_p0", s.pet_p0},
                      {"expected_n_p0", s.expected_n_p0},
                      {"true_rate", number_or_null(s.true_rate)},
                      {"reject_at_true_rate", number_or_null(s.reject_at_true)},
                      {"pet_at_true_rate", number_or_null(s.pet_at_true)},
                      {"expected_n_at_true_rate", number_or_null(s.expected_n_at_true)}};
  }
  if (r.pool) {
    json arms = json::array();
    for (const PoolArmSummary& a : r.pool->arms)
      arms.push_back(json{{"arm", a.arm},
                          {"orr", interval_json(a.orr)},
                          {"cr_rate", interval_json(a.cr_rate)},
                          {"durable_cr", interval_json(a.durable_cr)},
                          {"median_pfs_months", interval_json(a.median_pfs_months)},
                          {"median_os_months", interval_json(a.median_os_months)},
                          {"endpoint_rate", number_or_null(a.endpoint_rate)}});
    const double prevalence =
        static_cast<double>(r.pool->eligible) / static_cast<double>(r.pool->patients);
    j["pool"] = json{{"patients", r.pool->patients},
                     {"meeting_enrichment", r.pool->eligible},
                     {"prevalence", prevalence},
                     {"screening_ratio", number_or_null(r.pool->screening_ratio)},
                     {"arms", arms}};
    if (d.enrichment.active() && r.fit.ok)
      j["pool"]["screen_for_n_star"] = r.fit.n_star / prevalence;
  }
  if (!r.enrichment.empty()) {
    json rows = json::array();
    for (const EnrichmentRow& e : r.enrichment) {
      json points = json::array();
      for (const PointResult& p : e.points) points.push_back(point_json(p, false));
      rows.push_back(
          json{{"tmb_min_mut_per_mb", e.tmb_min},
               {"pdl1_min_percent", e.pdl1_min},
               {"pool_patients", e.pool_patients},
               {"prevalence", number_or_null(e.prevalence)},
               {"prevalence_ci95",
                json::array({number_or_null(e.prevalence_low), number_or_null(e.prevalence_high)})},
               {"points", points},
               {"fit", fit_json(e.fit, e.smallest_grid_n)},
               {"randomise", number_or_null(e.fit.ok ? e.fit.n_star : kNaN)},
               {"screen", number_or_null(e.screen)},
               {"screen_ci95",
                json::array({number_or_null(e.screen_low), number_or_null(e.screen_high)})},
               {"screen_candidates", number_or_null(e.screen_candidates)},
               {"note", e.note}});
    }
    j["enrichment_sweep"] = rows;
  }
  return j;
}

// ---- Text -------------------------------------------------------------------------------------

namespace {

std::string fixed(double v, int digits) {
  return std::isnan(v) ? std::string("-") : fmt::format("{:.{}f}", v, digits);
}

std::string interval_text(const Interval& i, int digits) {
  if (std::isnan(i.estimate)) return "NR";
  return fmt::format("{} ({}-{})", fixed(i.estimate, digits),
                     std::isnan(i.low) ? "NA" : fixed(i.low, digits),
                     std::isnan(i.high) ? "NA" : fixed(i.high, digits));
}

std::string with_mcse(double v, double mcse) {
  if (std::isnan(v)) return "-";
  return fmt::format("{:.4f} ({:.4f})", v, mcse);
}

std::string describe_conduct(const Design& d) {
  const Conduct& c = d.conduct;
  std::string s = c.accrual_months
                      ? fmt::format("accrual {:g} months", *c.accrual_months)
                      : fmt::format("accrual {:g} patients/month", *c.accrual_rate_per_month);
  if (!is_rate(d.endpoint)) s += fmt::format(" ({} entry)", to_string(c.entry));
  if (c.events) s += fmt::format(", analysis at the {}th event", *c.events);
  else s += fmt::format(", follow-up {:g} months after the last patient", *c.followup_months);
  if (!is_rate(d.endpoint))
    s += fmt::format(", dropout {:g}% per year", 100.0 * c.dropout_probability_per_year);
  return s;
}

// The design, its population and Simon's exact design, as result_text opens.
std::string header_text(const DesignResult& r) {
  const Design& d = r.design;
  std::string out =
      fmt::format("vpgen size: {} ({} mode, seed {})\n", d.name, to_string(d.mode), d.seed);
  std::string endpoint(to_string(d.endpoint));
  if (d.endpoint == Endpoint::kMilestone)
    endpoint =
        fmt::format("{} survival at {:g} months", to_string(d.time_to_event), d.milestone_months);
  if (d.endpoint == Endpoint::kRmst)
    endpoint = fmt::format("{} RMST to {:g} months", to_string(d.time_to_event), d.tau_months);
  out += fmt::format("endpoint {}; test {}, {}-sided alpha {:g}; target power {:g}\n", endpoint,
                     to_string(d.analysis), d.sides == 1 ? "one" : "two", d.alpha, d.target_power);
  out += describe_conduct(d) + "\n";
  if (d.mode == Mode::kMechanistic) {
    out += fmt::format("scenario {}: experimental '{}'", d.scenario.name, d.experimental_arm);
    if (!is_single_arm(d.analysis)) out += fmt::format(", control '{}'", d.control_arm);
    out += fmt::format("; pool of {} virtual patients, enrichment {}\n", d.pool_patients,
                       d.enrichment.label());
  }
  if (r.pool) {
    const PoolSummary& p = *r.pool;
    out += fmt::format(
        "pool: {:.2f} candidates screened per eligible patient (the scenario's "
        "eligibility)",
        p.screening_ratio);
    if (d.enrichment.active())
      out += fmt::format("; {} of {} meet the enrichment ({:.1f}%)", p.eligible, p.patients,
                         100.0 * static_cast<double>(p.eligible) / static_cast<double>(p.patients));
    out += "; outcomes in the design's population:\n";
    for (const PoolArmSummary& a : p.arms)
      out += fmt::format(
          "  {:<12} ORR {}  CR {}  durable CR {}  median PFS {} mo  median OS {} mo\n", a.arm,
          interval_text(a.orr, 3), interval_text(a.cr_rate, 3), interval_text(a.durable_cr, 3),
          interval_text(a.median_pfs_months, 1), interval_text(a.median_os_months, 1));
    out += "  (95% CI: Clopper-Pearson for proportions, Brookmeyer-Crowley for medians)\n";
  }
  if (r.simon) {
    const SimonSummary& s = *r.simon;
    out += fmt::format(
        "Simon {} design (p0 {:g}, p1 {:g}): n1 = {}, r1 = {}, n = {}, r = {}; exact alpha "
        "{:.4f}, power {:.4f}, PET(p0) {:.4f}, EN(p0) {:.2f}\n",
        d.simon_minimax ? "minimax" : "optimal", d.p0, d.p1, s.n1, s.r1, s.n, s.r, s.alpha_actual,
        s.power_actual, s.pet_p0, s.expected_n_p0);
    if (!std::isnan(s.reject_at_true))
      out += fmt::format(
          "  exact at the true rate {:.4f}: P(declare active) {:.4f}, PET {:.4f}, "
          "EN {:.2f}\n",
          s.true_rate, s.reject_at_true, s.pet_at_true, s.expected_n_at_true);
  }
  return out;
}

// One row per n of the grid.
std::string points_text(const DesignResult& r) {
  const Design& d = r.design;
  std::string out;
  const bool tte = !is_rate(d.endpoint);
  out += fmt::format("{:>7} {:>6} {:>6} {:>10}  {:<17} {:<17} {:>8}", "n", "n_C", "n_E",
                     "replicates", "power (MCSE)", "type I (MCSE)", "formula");
  if (tte) out += fmt::format(" {:>16}", "events (SE)");
  out += fmt::format(" {:>16}\n", "duration mo (SE)");
  for (const PointResult& p : r.points) {
    out += fmt::format("{:>7} {:>6} {:>6} {:>10}  {:<17} {:<17} {:>8}", p.n, p.n_control,
                       p.n_experimental, p.replicates, with_mcse(p.power, p.power_mcse),
                       with_mcse(p.type1_error, p.type1_mcse), fixed(p.approximate_power, 4));
    if (tte)
      out += fmt::format(" {:>16}", fmt::format("{:.1f} ({:.2f})", p.events.mean,
                                                std::isnan(p.events.se) ? 0.0 : p.events.se));
    out += fmt::format(" {:>16}\n",
                       fmt::format("{:.1f} ({:.2f})", p.duration_months.mean,
                                   std::isnan(p.duration_months.se) ? 0.0 : p.duration_months.se));
    if (!std::isnan(p.events_not_reached) && p.events_not_reached > 0)
      out += fmt::format("        (the {} events were not reached in {:.2f}% of replicates)\n",
                         *d.conduct.events, 100.0 * p.events_not_reached);
    if (p.test_undefined > 0)
      out += fmt::format(
          "        (the test was undefined, so not rejecting, in {:.2f}% of "
          "replicates: e.g. no follow-up to the milestone or tau)\n",
          100.0 * p.test_undefined);
    if (!std::isnan(p.pet))
      out += fmt::format(
          "        simulated: PET {:.4f} EN {:.2f} at the true rate; PET {:.4f} "
          "EN {:.2f} under p0\n",
          p.pet, p.expected_n.mean, p.pet_p0, p.expected_n_p0.mean);
  }
  return out;
}

// The probit fit of power against sqrt(n), and n* (not for Simon designs).
std::string fit_text(const DesignResult& r) {
  const Design& d = r.design;
  const PowerFit& f = r.fit;
  std::string out = "\n";
  if (f.ok)
    out += fmt::format(
        "power {:g} at n* = {:.1f} (95% CI {:.1f} to {:.1f}) from probit(power) "
        "= {:.4f} + {:.5f} sqrt(n); deviance {:.2f} on {} df{}{}\n",
        d.target_power, f.n_star, f.n_low, f.n_high, f.a, f.b, f.deviance, f.df,
        f.dispersion > 1.0
            ? fmt::format(" (lack of fit: interval widened by {:.2f})", std::sqrt(f.dispersion))
            : "",
        f.extrapolated ? " (extrapolated)" : "");
  else out += fmt::format("no power fit: {}\n", f.note);
  out += r.smallest_grid_n > 0
             ? fmt::format("smallest grid n with simulated power >= {:g}: {}\n", d.target_power,
                           r.smallest_grid_n)
             : fmt::format("no grid n reaches simulated power {:g}\n", d.target_power);
  if (r.pool && d.enrichment.active() && f.ok)
    out += fmt::format(
        "to screen for n*: {:.0f} (prevalence {:.3f})\n",
        f.n_star * static_cast<double>(r.pool->patients) / static_cast<double>(r.pool->eligible),
        static_cast<double>(r.pool->eligible) / static_cast<double>(r.pool->patients));
  return out;
}

std::string enrichment_text(const DesignResult& r) {
  const Design& d = r.design;
  std::string out = fmt::format("\nenrichment sweep (power only; target {:g}):\n", d.target_power);
  out +=
      fmt::format("{:>8} {:>8} {:>8} {:>11} {:>22} {:>24} {:>12}\n", "TMB >=", "PD-L1 >=", "pool",
                  "prevalence", "randomise n* (95% CI)", "screen (95% CI)", "candidates");
  for (const EnrichmentRow& e : r.enrichment) {
    out += fmt::format(
        "{:>8g} {:>8g} {:>8} {:>11.3f} {:>22} {:>24} {:>12}\n", e.tmb_min, e.pdl1_min,
        e.pool_patients, e.prevalence,
        e.fit.ok ? fmt::format("{}{:.0f} ({:.0f}-{:.0f})", e.fit.extrapolated ? "*" : "",
                               e.fit.n_star, e.fit.n_low, e.fit.n_high)
                 : std::string("-"),
        std::isnan(e.screen_low)
            ? fixed(e.screen, 0)
            : fmt::format("{:.0f} ({:.0f}-{:.0f})", e.screen, e.screen_low, e.screen_high),
        fixed(e.screen_candidates, 0));
    if (!e.note.empty() && !e.fit.extrapolated) out += fmt::format("         {}\n", e.note);
  }
  if (std::any_of(r.enrichment.begin(), r.enrichment.end(),
                  [](const EnrichmentRow& e) { return e.fit.extrapolated; }))
    out += "  * n* outside the grid (extrapolated by the fit)\n";
  return out;
}

}  // namespace

std::string result_text(const DesignResult& r) {
  std::string out = header_text(r) + "\n" + points_text(r);
  if (r.design.analysis != Analysis::kSimon) out += fit_text(r);
  if (!r.formulas.empty()) {
    out += "\nstandard formulas:\n";
    for (const auto& [key, value] : r.formulas.items())
      out += fmt::format("  {}: {}\n", key, value.dump());
  }
  if (!r.enrichment.empty()) out += enrichment_text(r);
  return out;
}

// ---- Database rows ----------------------------------------------------------------------------

DesignRecord design_record(const DesignResult& r, const std::string& json_text) {
  const BuildInfo build = build_info();
  DesignRecord rec;
  rec.name = r.design.name;
  rec.design_text = r.design.text;
  rec.design_hash = config::fingerprint(r.design.text);
  rec.mode = std::string(to_string(r.design.mode));
  rec.endpoint = std::string(to_string(r.design.endpoint));
  rec.analysis = std::string(to_string(r.design.analysis));
  rec.vpgen_version = build.vpgen_version;
  rec.git_commit = build.git_commit;
  rec.seed = r.design.seed;
  rec.target_power = r.design.target_power;
  if (r.fit.ok) {
    rec.recommended_n = r.fit.n_star;
    rec.recommended_n_low = r.fit.n_low;
    rec.recommended_n_high = r.fit.n_high;
  } else if (r.simon) {
    rec.recommended_n = r.simon->n;
  }
  rec.result_json = json_text;
  rec.wall_seconds = r.wall_seconds;
  return rec;
}

std::vector<DesignPointRecord> design_points(const DesignResult& r) {
  std::vector<DesignPointRecord> out;
  for (const PointResult& p : r.points) {
    DesignPointRecord rec;
    rec.n_total = p.n;
    rec.replicates = p.replicates;
    rec.power = p.power;
    rec.power_mcse = p.power_mcse;
    rec.type1_error = p.type1_error;
    rec.type1_mcse = p.type1_mcse;
    rec.expected_events = p.events.mean;
    rec.expected_duration_months = p.duration_months.mean;
    if (r.simon) {
      // The exact values under p0 (the simulated ones are in result_json).
      rec.pet_p0 = r.simon->pet_p0;
      rec.expected_n_p0 = r.simon->expected_n_p0;
    }
    out.push_back(rec);
  }
  return out;
}

}  // namespace vpgen::trial_design
