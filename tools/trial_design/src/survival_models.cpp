// Parametric survival models of `vpgen size` and the small helpers of Design and Conduct.
#include "vpgen/trial_design/trial_design.hpp"

#include "vpgen/population/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace vpgen::trial_design {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
}  // namespace

bool is_rate(Endpoint endpoint) {
  return endpoint == Endpoint::kOrr || endpoint == Endpoint::kCrRate ||
         endpoint == Endpoint::kDurableCr;
}

bool is_single_arm(Analysis analysis) {
  return analysis == Analysis::kExactBinomial || analysis == Analysis::kSimon;
}

std::string Enrichment::label() const {
  std::string out;
  if (tmb_min_mut_per_mb) out += fmt::format("TMB >= {:g} mut/Mb", *tmb_min_mut_per_mb);
  if (pdl1_min_percent)
    out += fmt::format("{}PD-L1 >= {:g}%", out.empty() ? "" : ", ", *pdl1_min_percent);
  return out.empty() ? "none" : out;
}

double Conduct::accrual_duration_months(std::int64_t n) const {
  if (accrual_months) return *accrual_months;
  return static_cast<double>(n) / *accrual_rate_per_month;
}

// P(drop out within 12 months) = 1 - exp(-12 eta), the convention of rpact's dropoutRate with
// dropoutTime = 12.
double Conduct::dropout_hazard_per_month() const {
  return -std::log1p(-dropout_probability_per_year) / 12.0;
}

std::pair<std::int64_t, std::int64_t> Design::arm_sizes(std::int64_t n) const {
  const double r = allocation_ratio;
  const auto experimental =
      static_cast<std::int64_t>(std::llround(static_cast<double>(n) * r / (1.0 + r)));
  return {n - experimental, experimental};
}

// ---- SurvivalModel ------------------------------------------------------------------------------

SurvivalModel SurvivalModel::exponential(double hazard_per_month) {
  if (!(hazard_per_month > 0.0) || !std::isfinite(hazard_per_month))
    throw InputError("exponential model: the hazard must be positive and finite");
  SurvivalModel m;
  m.kind_ = Kind::kExponential;
  m.hazards_ = {hazard_per_month};
  return m;
}

SurvivalModel SurvivalModel::piecewise(std::vector<double> breaks_months,
                                       std::vector<double> hazards_per_month) {
  if (hazards_per_month.size() != breaks_months.size() + 1 || breaks_months.empty())
    throw InputError("piecewise exponential model: needs one hazard more than breaks");
  for (std::size_t i = 0; i < breaks_months.size(); ++i)
    if (!(breaks_months[i] > (i ? breaks_months[i - 1] : 0.0)))
      throw InputError("piecewise exponential model: breaks must increase from above 0");
  for (const double h : hazards_per_month)
    if (!(h >= 0.0) || !std::isfinite(h))
      throw InputError("piecewise exponential model: hazards must be >= 0 and finite");
  if (!(hazards_per_month.back() > 0.0))
    throw InputError("piecewise exponential model: the last hazard must be > 0");
  SurvivalModel m;
  m.kind_ = Kind::kPiecewiseExponential;
  m.breaks_ = std::move(breaks_months);
  m.hazards_ = std::move(hazards_per_month);
  double cumulative = 0.0, start = 0.0;
  for (std::size_t i = 0; i < m.breaks_.size(); ++i) {
    cumulative += m.hazards_[i] * (m.breaks_[i] - start);
    start = m.breaks_[i];
    m.cumulative_at_break_.push_back(cumulative);
  }
  return m;
}

SurvivalModel SurvivalModel::mixture_cure(double cure_fraction, double hazard_uncured_per_month) {
  if (!(cure_fraction >= 0.0 && cure_fraction < 1.0))
    throw InputError("mixture cure model: the cure fraction must be in [0, 1)");
  SurvivalModel m = exponential(hazard_uncured_per_month);
  m.kind_ = Kind::kMixtureCure;
  m.cure_fraction_ = cure_fraction;
  return m;
}

SurvivalModel SurvivalModel::with_hazard_ratio(double hazard_ratio, double delay_months) const {
  if (!(hazard_ratio > 0.0) || !std::isfinite(hazard_ratio) || !(delay_months >= 0.0) ||
      !std::isfinite(delay_months))
    throw InputError("hazard ratio must be positive and the delay >= 0, both finite");
  if (transformed_) throw InputError("a hazard ratio applies to a model given in full");
  SurvivalModel m = *this;
  m.hazard_ratio_ = hazard_ratio;
  m.delay_months_ = delay_months;
  m.transformed_ = true;
  return m;
}

double SurvivalModel::base_cumulative_hazard(double t) const {
  if (t <= 0.0) return 0.0;
  switch (kind_) {
    case Kind::kExponential: return hazards_[0] * t;
    case Kind::kPiecewiseExponential: {
      const std::size_t k = static_cast<std::size_t>(
          std::upper_bound(breaks_.begin(), breaks_.end(), t) - breaks_.begin());
      if (k == 0) return hazards_[0] * t;
      return cumulative_at_break_[k - 1] + hazards_[k] * (t - breaks_[k - 1]);
    }
    case Kind::kMixtureCure:
      if (cure_fraction_ == 0.0) return hazards_[0] * t;
      return -std::log(cure_fraction_ + (1.0 - cure_fraction_) * std::exp(-hazards_[0] * t));
  }
  return kNaN;
}

double SurvivalModel::base_inverse(double h) const {
  if (h <= 0.0) return 0.0;
  switch (kind_) {
    case Kind::kExponential: return h / hazards_[0];
    case Kind::kPiecewiseExponential: {
      double start = 0.0, cumulative = 0.0;
      for (std::size_t k = 0; k < breaks_.size(); ++k) {
        if (h <= cumulative_at_break_[k]) {
          // hazards_[k] > 0 here: a zero-hazard piece adds nothing to H, so h lies beyond it.
          return start + (h - cumulative) / hazards_[k];
        }
        start = breaks_[k];
        cumulative = cumulative_at_break_[k];
      }
      return start + (h - cumulative) / hazards_.back();
    }
    case Kind::kMixtureCure: {
      if (cure_fraction_ == 0.0) return h / hazards_[0];
      // S = exp(-h) = c + (1 - c) exp(-lambda t); cured when S <= c.
      const double uncured = (std::exp(-h) - cure_fraction_) / (1.0 - cure_fraction_);
      if (!(uncured > 0.0)) return kInf;
      return -std::log(uncured) / hazards_[0];
    }
  }
  return kNaN;
}

double SurvivalModel::cumulative_hazard(double t_months) const {
  if (!transformed_ || t_months <= delay_months_) return base_cumulative_hazard(t_months);
  const double at_delay = base_cumulative_hazard(delay_months_);
  return at_delay + hazard_ratio_ * (base_cumulative_hazard(t_months) - at_delay);
}

double SurvivalModel::inverse_cumulative_hazard(double h) const {
  if (!transformed_) return base_inverse(h);
  if (delay_months_ == 0.0) return base_inverse(h / hazard_ratio_);
  const double at_delay = base_cumulative_hazard(delay_months_);
  if (h <= at_delay) return base_inverse(h);
  return base_inverse(at_delay + (h - at_delay) / hazard_ratio_);
}

// Composite Simpson on 2^14 panels: S is smooth between breaks and at most has kinks there, so the
// error is far below anything a design reports (RMST in months to 4 decimals).
double SurvivalModel::rmst(double tau_months) const {
  constexpr int kPanels = 1 << 14;
  const double h = tau_months / kPanels;
  double sum = survival(0.0) + survival(tau_months);
  for (int i = 1; i < kPanels; ++i) sum += (i % 2 ? 4.0 : 2.0) * survival(h * i);
  return sum * h / 3.0;
}

double SurvivalModel::exponential_hazard() const {
  if (kind_ != Kind::kExponential) return kNaN;
  if (!transformed_) return hazards_[0];
  return delay_months_ == 0.0 ? hazards_[0] * hazard_ratio_ : kNaN;
}

double SurvivalModel::constant_hazard_ratio_to(const SurvivalModel& other) const {
  if (kind_ != Kind::kExponential || other.kind_ != Kind::kExponential) {
    // Proportional hazards also hold for a delay-free ratio applied to the same base model.
    const bool same_base = kind_ == other.kind_ && breaks_ == other.breaks_ &&
                           hazards_ == other.hazards_ && cure_fraction_ == other.cure_fraction_;
    if (kind_ == Kind::kMixtureCure) return kNaN;  // a ratio on H there is not a cure model
    if (same_base && !other.transformed_ && transformed_ && delay_months_ == 0.0)
      return hazard_ratio_;
    if (same_base && !other.transformed_ && !transformed_) return 1.0;
    return kNaN;
  }
  const double mine = exponential_hazard(), theirs = other.exponential_hazard();
  return mine / theirs;
}

nlohmann::json SurvivalModel::json() const {
  nlohmann::json j;
  switch (kind_) {
    case Kind::kExponential:
      j["model"] = "exponential";
      j["hazard_per_month"] = hazards_[0];
      break;
    case Kind::kPiecewiseExponential:
      j["model"] = "piecewise_exponential";
      j["breaks_months"] = breaks_;
      j["hazards_per_month"] = hazards_;
      break;
    case Kind::kMixtureCure:
      j["model"] = "mixture_cure";
      j["cure_fraction"] = cure_fraction_;
      j["hazard_uncured_per_month"] = hazards_[0];
      break;
  }
  if (transformed_) {
    j["hazard_ratio"] = hazard_ratio_;
    j["delay_months"] = delay_months_;
  }
  const double median = median_months();
  j["median_months"] = std::isfinite(median) ? nlohmann::json(median) : nlohmann::json(nullptr);
  return j;
}

}  // namespace vpgen::trial_design
