// The deterministic calculators of `vpgen size --calc KIND` (docs/DESIGN.md, "Calculators"): thin,
// validated wrappers over vpgen/stats/sample_size.hpp.
#include "vpgen/trial_design/trial_design.hpp"

#include "vpgen/common/json_number.hpp"
#include "vpgen/config/scenario_loader.hpp"
#include "vpgen/engine/build_info.hpp"
#include "vpgen/stats/sample_size.hpp"
#include "vpgen/population/error.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace vpgen::trial_design {

namespace {

using nlohmann::json;

double need(const std::optional<double>& value, const CalculatorRequest& r, const char* option) {
  if (!value) throw InputError(fmt::format("--calc {} needs {}", r.kind, option));
  return *value;
}

double open_probability(const std::optional<double>& value, const CalculatorRequest& r,
                        const char* option) {
  const double v = need(value, r, option);
  if (!(v > 0.0 && v < 1.0))
    throw InputError(fmt::format("{} {}: must lie strictly between 0 and 1", option, v));
  return v;
}

double positive(const std::optional<double>& value, const CalculatorRequest& r,
                const char* option) {
  const double v = need(value, r, option);
  if (!(v > 0.0) || !std::isfinite(v))
    throw InputError(fmt::format("{} {}: must be positive and finite", option, v));
  return v;
}

double non_negative(const std::optional<double>& value, const char* option) {
  const double v = value.value_or(0.0);
  if (!(v >= 0.0) || !std::isfinite(v))
    throw InputError(fmt::format("{} {}: must be >= 0 and finite", option, v));
  return v;
}

// The control hazard from --hazard-control-per-month or --median-control-months.
std::optional<double> control_hazard(const CalculatorRequest& r) {
  if (r.hazard_control_per_month && r.median_control_months)
    throw InputError("give --hazard-control-per-month or --median-control-months, not both");
  if (r.hazard_control_per_month)
    return positive(r.hazard_control_per_month, r, "--hazard-control-per-month");
  if (r.median_control_months)
    return std::log(2.0) / positive(r.median_control_months, r, "--median-control-months");
  return std::nullopt;
}

double dropout_hazard(const CalculatorRequest& r) {
  const double p = non_negative(r.dropout_probability_per_year, "--dropout-probability-per-year");
  if (p >= 1.0) throw InputError("--dropout-probability-per-year: must be below 1");
  return -std::log1p(-p) / 12.0;
}

json simon_json(const design::SimonDesign& s) {
  if (s.n == 0) return json{{"not_found", true}};
  return json{{"n1", s.n1},
              {"r1", s.r1},
              {"n", s.n},
              {"r", s.r},
              {"alpha_actual", s.alpha_actual},
              {"power_actual", s.power_actual},
              {"pet_p0", s.pet_p0},
              {"expected_n_p0", s.expected_n_p0}};
}

// One function per calculator: its options from `r` into out["input"], then "method", the answer
// and "n_total" (the patients the answer needs, stored with --db).
void calculate_binomial(const CalculatorRequest& r, json& out) {
  const double p0 = open_probability(r.p0, r, "--p0"), p1 = open_probability(r.p1, r, "--p1");
  const double alpha = open_probability(r.alpha, r, "--alpha");
  const double power = open_probability(r.power, r, "--power");
  const int n_max = r.n_max > 0 ? r.n_max : 1000;
  const design::SingleStageDesign s = design::exact_binomial_design(p0, p1, alpha, power, n_max);
  out["input"] = json{{"p0", p0}, {"p1", p1}, {"alpha", alpha}, {"power", power}, {"n_max", n_max}};
  out["method"] = "exact single-stage binomial, one-sided (A'Hern, Stat Med 2001)";
  out["result"] = s.n == 0 ? json{{"not_found", true}}
                           : json{{"n", s.n},
                                  {"r", s.r},
                                  {"alpha_actual", s.alpha_actual},
                                  {"power_actual", s.power_actual}};
  out["n_total"] = s.n;
}

void calculate_simon(const CalculatorRequest& r, json& out) {
  const double p0 = open_probability(r.p0, r, "--p0"), p1 = open_probability(r.p1, r, "--p1");
  const double alpha = open_probability(r.alpha, r, "--alpha");
  const double power = open_probability(r.power, r, "--power");
  const int n_max = r.n_max > 0 ? r.n_max : 100;
  if (r.criterion != "optimal" && r.criterion != "minimax" && r.criterion != "both")
    throw InputError("--criterion: optimal, minimax or both");
  out["input"] = json{{"p0", p0}, {"p1", p1}, {"alpha", alpha}, {"power", power}, {"n_max", n_max}};
  out["method"] = "Simon two-stage (Simon, Control Clin Trials 1989)";
  out["n_total"] = 0;
  if (r.criterion != "minimax") {
    const auto s =
        design::simon_two_stage(p0, p1, alpha, power, design::SimonCriterion::kOptimal, n_max);
    out["optimal"] = simon_json(s);
    out["n_total"] = s.n;
  }
  if (r.criterion != "optimal") {
    const auto s =
        design::simon_two_stage(p0, p1, alpha, power, design::SimonCriterion::kMinimax, n_max);
    out["minimax"] = simon_json(s);
    if (r.criterion == "minimax") out["n_total"] = s.n;
  }
}

void calculate_proportions(const CalculatorRequest& r, json& out) {
  const double pc = open_probability(r.p_control, r, "--p-control");
  const double pe = open_probability(r.p_experimental, r, "--p-experimental");
  const double alpha = open_probability(r.alpha, r, "--alpha");
  const double power = open_probability(r.power, r, "--power");
  out["input"] =
      json{{"p_control", pc},  {"p_experimental", pe}, {"alpha", alpha},
           {"sides", r.sides}, {"power", power},       {"allocation_ratio", r.allocation_ratio}};
  out["method"] =
      "two proportions, normal approximation (Fleiss, Levin & Paik 2003); "
      "continuity correction of Fleiss, Tytun & Ury (1980)";
  for (const bool cc : {false, true}) {
    const design::TwoArmSize s =
        design::two_proportions_size(pc, pe, alpha, power, r.sides, cc, r.allocation_ratio);
    out[cc ? "fleiss_cc" : "without_cc"] = json{{"n_control", s.n_control},
                                                {"n_experimental", s.n_experimental},
                                                {"n_total", s.n_control + s.n_experimental}};
    if (!cc) out["n_total"] = s.n_control + s.n_experimental;
  }
}

void calculate_events(const CalculatorRequest& r, json& out) {
  const double hr = positive(r.hazard_ratio, r, "--hr");
  const double alpha = open_probability(r.alpha, r, "--alpha");
  const double power = open_probability(r.power, r, "--power");
  out["input"] = json{{"hazard_ratio", hr},
                      {"alpha", alpha},
                      {"sides", r.sides},
                      {"power", power},
                      {"allocation_ratio", r.allocation_ratio}};
  out["method"] =
      "log-rank events: Schoenfeld (Biometrika 1981), Freedman (Stat Med 1982); "
      "patients under exponential survival and uniform accrual (Lachin & Foulkes, "
      "Biometrics 1986)";
  const int schoenfeld =
      design::schoenfeld_events_required(hr, alpha, power, r.sides, r.allocation_ratio);
  const int freedman =
      design::freedman_events_required(hr, alpha, power, r.sides, r.allocation_ratio);
  out["schoenfeld"] =
      json{{"events", design::schoenfeld_events(hr, alpha, power, r.sides, r.allocation_ratio)},
           {"required", schoenfeld}};
  out["freedman"] =
      json{{"events", design::freedman_events(hr, alpha, power, r.sides, r.allocation_ratio)},
           {"required", freedman}};
  const std::optional<double> hazard = control_hazard(r);
  if (hazard || r.accrual_months || r.followup_months) {
    const double accrual = non_negative(
        std::optional<double>(need(r.accrual_months, r, "--accrual-months")), "--accrual-months");
    const double followup =
        non_negative(std::optional<double>(need(r.followup_months, r, "--followup-months")),
                     "--followup-months");
    if (!hazard)
      throw InputError(
          "--calc events needs --median-control-months or "
          "--hazard-control-per-month to convert events to patients");
    const double dropout = dropout_hazard(r);
    out["input"]["hazard_control_per_month"] = *hazard;
    out["input"]["accrual_months"] = accrual;
    out["input"]["followup_months"] = followup;
    out["input"]["dropout_hazard_per_month"] = dropout;
    out["schoenfeld"]["patients"] = design::patients_for_events(
        schoenfeld, *hazard, hr, r.allocation_ratio, accrual, followup, dropout);
    out["freedman"]["patients"] = design::patients_for_events(
        freedman, *hazard, hr, r.allocation_ratio, accrual, followup, dropout);
    out["n_total"] = out["schoenfeld"]["patients"];
  } else {
    out["n_total"] = schoenfeld;
  }
}

void calculate_duration(const CalculatorRequest& r, json& out) {
  const double events = positive(r.events, r, "--events");
  if (!r.patients || *r.patients < 1) throw InputError("--calc duration needs --patients (>= 1)");
  if (*r.patients > std::numeric_limits<int>::max())
    throw InputError(
        fmt::format("--patients {}: at most {}", *r.patients, std::numeric_limits<int>::max()));
  const double rate = positive(r.accrual_rate_per_month, r, "--accrual-rate-per-month");
  const double hr = positive(r.hazard_ratio, r, "--hr");
  const std::optional<double> hazard = control_hazard(r);
  if (!hazard)
    throw InputError(
        "--calc duration needs --median-control-months or "
        "--hazard-control-per-month");
  const double dropout = dropout_hazard(r);
  const int patients = static_cast<int>(*r.patients);
  out["input"] = json{{"events", events},
                      {"patients", patients},
                      {"accrual_rate_per_month", rate},
                      {"hazard_control_per_month", *hazard},
                      {"hazard_ratio", hr},
                      {"allocation_ratio", r.allocation_ratio},
                      {"dropout_hazard_per_month", dropout}};
  out["method"] =
      "expected events under exponential survival and uniform accrual (Lachin & "
      "Foulkes, Biometrics 1986), inverted by bisection";
  out["accrual_months"] = static_cast<double>(patients) / rate;
  const double months =
      design::time_to_events(events, patients, rate, *hazard, hr, r.allocation_ratio, dropout);
  if (!std::isfinite(months)) {
    // The plateau of time_to_events: each arm's patients times P(event before dropout).
    const double hazard_experimental = *hazard * hr;
    const double control_fraction = 1.0 / (1.0 + r.allocation_ratio);
    const double ceiling = patients * (control_fraction * *hazard / (*hazard + dropout) +
                                       (1.0 - control_fraction) * hazard_experimental /
                                           (hazard_experimental + dropout));
    throw InputError(fmt::format(
        "--events {}: {} patients can never be expected to have that many events (at most "
        "{:.2f}{}); ask for fewer events or more patients",
        events, patients, ceiling, dropout > 0.0 ? ", as some drop out" : ""));
  }
  out["months_to_events"] = months;
  out["n_total"] = patients;
}

}  // namespace

json calculate(const CalculatorRequest& r) {
  if (r.sides != 1 && r.sides != 2) throw InputError("--sides: must be 1 or 2");
  if (!(r.allocation_ratio > 0.0) || !std::isfinite(r.allocation_ratio))
    throw InputError("--allocation-ratio: must be positive");
  json out{{"calculator", r.kind}};
  if (r.kind == "binomial") calculate_binomial(r, out);
  else if (r.kind == "simon") calculate_simon(r, out);
  else if (r.kind == "proportions") calculate_proportions(r, out);
  else if (r.kind == "events") calculate_events(r, out);
  else if (r.kind == "duration") calculate_duration(r, out);
  else
    throw InputError(fmt::format(
        "--calc {}: not a calculator (binomial, simon, proportions, events, duration)", r.kind));
  return out;
}

std::string calculator_text(const json& a) {
  const std::string kind = a.at("calculator");
  std::string out = fmt::format("vpgen size --calc {}: {}\n", kind, a.value("method", ""));
  out += fmt::format("input: {}\n", a.at("input").dump());
  auto simon = [](const json& s) {
    if (s.contains("not_found")) return std::string("no design within n_max");
    return fmt::format(
        "n1 = {}, r1 = {}, n = {}, r = {}; alpha {:.4f}, power {:.4f}, "
        "PET(p0) {:.4f}, EN(p0) {:.2f}",
        s.at("n1").get<int>(), s.at("r1").get<int>(), s.at("n").get<int>(), s.at("r").get<int>(),
        s.at("alpha_actual").get<double>(), s.at("power_actual").get<double>(),
        s.at("pet_p0").get<double>(), s.at("expected_n_p0").get<double>());
  };
  if (kind == "binomial") {
    const json& s = a.at("result");
    out += s.contains("not_found")
               ? std::string("no design within n_max\n")
               : fmt::format(
                     "n = {}, declare activity if more than r = {} respond; alpha {:.4f}, "
                     "power {:.4f}\n",
                     s.at("n").get<int>(), s.at("r").get<int>(), s.at("alpha_actual").get<double>(),
                     s.at("power_actual").get<double>());
  } else if (kind == "simon") {
    if (a.contains("optimal")) out += "optimal: " + simon(a.at("optimal")) + "\n";
    if (a.contains("minimax")) out += "minimax: " + simon(a.at("minimax")) + "\n";
  } else if (kind == "proportions") {
    for (const char* key : {"without_cc", "fleiss_cc"}) {
      const json& s = a.at(key);
      out += fmt::format("{:<11} n_control {}, n_experimental {}, total {}\n", key,
                         s.at("n_control").get<int>(), s.at("n_experimental").get<int>(),
                         s.at("n_total").get<int>());
    }
  } else if (kind == "events") {
    for (const char* key : {"schoenfeld", "freedman"}) {
      const json& s = a.at(key);
      out += fmt::format("{:<11} events {:.2f} -> {}", key, s.at("events").get<double>(),
                         s.at("required").get<int>());
      if (s.contains("patients")) out += fmt::format("; patients {}", s.at("patients").get<int>());
      out += "\n";
    }
  } else if (kind == "duration") {
    out += fmt::format("accrual {:.2f} months; expected events reached at {} months\n",
                       a.at("accrual_months").get<double>(),
                       a.at("months_to_events").is_null()
                           ? std::string("never")
                           : fmt::format("{:.2f}", a.at("months_to_events").get<double>()));
  }
  return out;
}

DesignRecord calculator_record(const nlohmann::json& answer, const std::string& command_line) {
  const BuildInfo build = build_info();
  DesignRecord rec;
  rec.name = "calc-" + answer.at("calculator").get<std::string>();
  rec.design_text = command_line;
  rec.design_hash = config::fingerprint(command_line);
  rec.mode = "calculator";
  rec.endpoint = "";
  rec.analysis = answer.at("calculator").get<std::string>();
  rec.vpgen_version = build.vpgen_version;
  rec.git_commit = build.git_commit;
  rec.target_power = answer.at("input").value("power", kNaN);
  rec.recommended_n = answer.value("n_total", 0);
  rec.result_json = answer.dump(2);
  return rec;
}

std::vector<DesignPointRecord> calculator_points(const nlohmann::json& answer) {
  DesignPointRecord point;
  point.n_total = answer.value("n_total", std::int64_t{0});
  point.replicates = 0;  // exact
  if (answer.contains("optimal") && !answer["optimal"].contains("not_found") &&
      answer.at("n_total") == answer["optimal"].at("n")) {
    point.pet_p0 = answer["optimal"].at("pet_p0");
    point.expected_n_p0 = answer["optimal"].at("expected_n_p0");
  } else if (answer.contains("minimax") && !answer["minimax"].contains("not_found")) {
    point.pet_p0 = answer["minimax"].at("pet_p0");
    point.expected_n_p0 = answer["minimax"].at("expected_n_p0");
  }
  return {point};
}

}  // namespace vpgen::trial_design
