#include "vpgen/run/patient_view.hpp"

#include "vpgen/common/json_number.hpp"
#include "vpgen/common/printable.hpp"
#include "vpgen/config/scenario_loader.hpp"
#include "vpgen/engine/simulator.hpp"
#include "vpgen/population/error.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>

namespace vpgen {
namespace {

bool same_bits(double a, double b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::memcmp(&a, &b, sizeof a) == 0;
}

std::string show(double x) { return std::isnan(x) ? "NULL" : fmt::format("{}", x); }

std::string event_detail(const CourseEvent& e) {
  switch (e.kind) {
    case EventKind::kAssessment:
      return fmt::format("{} (sum of diameters {:.1f} mm)",
                         to_string(static_cast<Response>(e.code)), e.value);
    case EventKind::kResponse: return std::string(to_string(static_cast<Response>(e.code)));
    case EventKind::kIrae: return fmt::format("grade {}", e.code);
    case EventKind::kTreatmentStop: return std::string(to_string(static_cast<StopReason>(e.code)));
    case EventKind::kDeath: return std::string(to_string(static_cast<DeathCause>(e.code)));
    case EventKind::kAdverseEvent: return fmt::format("grade {}", e.code);
    case EventKind::kTreatmentHold:
      return std::isnan(e.value) ? std::string()
                                 : fmt::format("resumption planned on day {:.1f}", e.value);
    case EventKind::kNextLine: return fmt::format("line {}", e.code);
    case EventKind::kTreatmentStart:
    case EventKind::kProgression:
    case EventKind::kTreatmentResume:
    case EventKind::kConfirmedProgression:
    case EventKind::kEradication: return "";
  }
  return "";
}

}  // namespace

std::vector<std::string> compare_results(const PatientResult& a, const PatientResult& b) {
  std::vector<std::string> diff;
  auto num = [&](const std::string& field, double x, double y) {
    if (!same_bits(x, y))
      diff.push_back(fmt::format("{}: stored {}, replayed {}", field, show(x), show(y)));
  };
  auto integer = [&](const std::string& field, long long x, long long y) {
    if (x != y) diff.push_back(fmt::format("{}: stored {}, replayed {}", field, x, y));
  };
  const Patient& p = a.patient;
  const Patient& q = b.patient;
  integer("patient.index", static_cast<long long>(p.index), static_cast<long long>(q.index));
  integer("patient.cancer_type", static_cast<int>(p.cancer_type), static_cast<int>(q.cancer_type));
  num("patient.tmb_mut_per_mb", p.tmb_mut_per_mb, q.tmb_mut_per_mb);
  num("patient.pdl1_tps_percent", p.pdl1_tps_percent, q.pdl1_tps_percent);
  num("patient.infiltration", p.infiltration, q.infiltration);
  integer("patient.hot", p.hot, q.hot);
  num("patient.memory_capacity", p.memory_capacity, q.memory_capacity);
  num("patient.tumour_burden_mm", p.tumour_burden_mm, q.tumour_burden_mm);
  integer("patient.metastatic_sites", p.metastatic_sites, q.metastatic_sites);
  num("patient.age_years", p.age_years, q.age_years);
  integer("patient.sex", static_cast<int>(p.sex), static_cast<int>(q.sex));
  integer("patient.ecog", p.ecog, q.ecog);
  integer("patient.ldh_elevated", p.ldh_elevated, q.ldh_elevated);
  integer("patient.line_of_therapy", p.line_of_therapy, q.line_of_therapy);
  integer("patient.prior_anti_pd1", p.prior_anti_pd1, q.prior_anti_pd1);
  integer("patient.candidates_screened", p.candidates_screened, q.candidates_screened);
  integer("outcomes.size", static_cast<long long>(a.outcomes.size()),
          static_cast<long long>(b.outcomes.size()));
  for (std::size_t i = 0; i < std::min(a.outcomes.size(), b.outcomes.size()); ++i) {
    const Outcome& x = a.outcomes[i];
    const Outcome& y = b.outcomes[i];
    const std::string o = fmt::format("outcomes[{}].", i);
    integer(o + "arm_index", x.arm_index, y.arm_index);
    integer(o + "best_response", static_cast<int>(x.best_response),
            static_cast<int>(y.best_response));
    integer(o + "best_response_unconfirmed", static_cast<int>(x.best_response_unconfirmed),
            static_cast<int>(y.best_response_unconfirmed));
    num(o + "time_to_response_months", x.time_to_response_months, y.time_to_response_months);
    num(o + "duration_of_response_months", x.duration_of_response_months,
        y.duration_of_response_months);
    integer(o + "dor_event", x.dor_event, y.dor_event);
    num(o + "pfs_months", x.pfs_months, y.pfs_months);
    integer(o + "pfs_event", x.pfs_event, y.pfs_event);
    num(o + "os_months", x.os_months, y.os_months);
    integer(o + "os_event", x.os_event, y.os_event);
    integer(o + "worst_irae_grade", x.worst_irae_grade, y.worst_irae_grade);
    num(o + "irae_onset_months", x.irae_onset_months, y.irae_onset_months);
    integer(o + "stop_reason", static_cast<int>(x.stop_reason), static_cast<int>(y.stop_reason));
    num(o + "treatment_months", x.treatment_months, y.treatment_months);
    integer(o + "durable_cr", x.durable_cr, y.durable_cr);
    integer(o + "death_cause", static_cast<int>(x.death_cause), static_cast<int>(y.death_cause));
    integer(o + "eradicated", x.eradicated, y.eradicated);
    num(o + "best_percent_change", x.best_percent_change, y.best_percent_change);
    num(o + "eradication_months", x.eradication_months, y.eradication_months);
    integer(o + "worst_ae_grade", x.worst_ae_grade, y.worst_ae_grade);
    integer(o + "treatment_holds", x.treatment_holds, y.treatment_holds);
    integer(o + "best_response_irecist", static_cast<int>(x.best_response_irecist),
            static_cast<int>(y.best_response_irecist));
    num(o + "pfs_irecist_months", x.pfs_irecist_months, y.pfs_irecist_months);
    integer(o + "pfs_irecist_event", x.pfs_irecist_event, y.pfs_irecist_event);
    integer(o + "beyond_progression", x.beyond_progression, y.beyond_progression);
    integer(o + "pseudo_progression", x.pseudo_progression, y.pseudo_progression);
    num(o + "next_line_months", x.next_line_months, y.next_line_months);
    num(o + "pfs2_months", x.pfs2_months, y.pfs2_months);
    integer(o + "pfs2_event", x.pfs2_event, y.pfs2_event);
  }
  integer("events.size", static_cast<long long>(a.events.size()),
          static_cast<long long>(b.events.size()));
  for (std::size_t i = 0; i < std::min(a.events.size(), b.events.size()); ++i) {
    const CourseEvent& x = a.events[i];
    const CourseEvent& y = b.events[i];
    const std::string e = fmt::format("events[{}].", i);
    integer(e + "arm_index", x.arm_index, y.arm_index);
    num(e + "day", x.day, y.day);
    integer(e + "kind", static_cast<int>(x.kind), static_cast<int>(y.kind));
    integer(e + "code", x.code, y.code);
    num(e + "value", x.value, y.value);
  }
  return diff;
}

namespace {

// The scenario stored with a run; a damaged one is an InputError that names the run.
Scenario stored_scenario(const RunInfo& info) {
  try {
    return config::load_scenario_bundle(info.provenance.scenario_text);
  } catch (const InputError& e) {
    throw InputError(fmt::format("run {}: {}", info.id, e.what()));
  }
}

}  // namespace

ReplayResult replay_patient(ResultStore& store, std::int64_t run_id, std::uint64_t index) {
  RunInfo info;
  ReplayResult replay;
  {
    const ReadSnapshot snapshot(store);  // the run and the patient from one state of the file
    info = store.run_info(run_id);
    replay.stored = store.patient(run_id, index).result;
  }
  replay.run_id = run_id;
  for (const ArmSpec& arm : info.provenance.arms) replay.arm_names.push_back(arm.name);
  const Simulator simulator(stored_scenario(info));
  replay.replayed = simulator.simulate_patient(info.provenance.seed, index);
  if (replay.replayed.error) throw SimulationError(*replay.replayed.error);
  if (!info.provenance.store_events) replay.stored.events = replay.replayed.events = {};
  replay.differences = compare_results(replay.stored, replay.replayed);
  replay.identical = replay.differences.empty();
  return replay;
}

nlohmann::json patient_json(const Patient& p) {
  return {{"index", p.index},
          {"cancer_type", to_string(p.cancer_type)},
          {"tmb_mut_per_mb", p.tmb_mut_per_mb},
          {"pdl1_tps_percent", p.pdl1_tps_percent},
          {"infiltration", p.infiltration},
          {"hot", p.hot},
          {"memory_capacity", p.memory_capacity},
          {"tumour_burden_mm", p.tumour_burden_mm},
          {"metastatic_sites", p.metastatic_sites},
          {"age_years", p.age_years},
          {"sex", to_string(p.sex)},
          {"ecog", p.ecog},
          {"ldh_elevated", p.ldh_elevated},
          {"line_of_therapy", p.line_of_therapy},
          {"prior_anti_pd1", p.prior_anti_pd1},
          {"candidates_screened", p.candidates_screened}};
}

nlohmann::json outcome_json(const Outcome& o) {
  return {{"arm_index", o.arm_index},
          {"best_response", to_string(o.best_response)},
          {"best_response_unconfirmed", to_string(o.best_response_unconfirmed)},
          {"time_to_response_months", number_or_null(o.time_to_response_months)},
          {"duration_of_response_months", number_or_null(o.duration_of_response_months)},
          {"dor_event", o.dor_event},
          {"pfs_months", o.pfs_months},
          {"pfs_event", o.pfs_event},
          {"os_months", o.os_months},
          {"os_event", o.os_event},
          {"worst_irae_grade", o.worst_irae_grade},
          {"irae_onset_months", number_or_null(o.irae_onset_months)},
          {"stop_reason", to_string(o.stop_reason)},
          {"treatment_months", o.treatment_months},
          {"durable_cr", o.durable_cr},
          {"death_cause", to_string(o.death_cause)},
          {"eradicated", o.eradicated},
          {"best_percent_change", number_or_null(o.best_percent_change)},
          {"eradication_months", number_or_null(o.eradication_months)},
          {"worst_ae_grade", o.worst_ae_grade},
          {"treatment_holds", o.treatment_holds},
          {"best_response_irecist", to_string(o.best_response_irecist)},
          {"pfs_irecist_months", o.pfs_irecist_months},
          {"pfs_irecist_event", o.pfs_irecist_event},
          {"beyond_progression", o.beyond_progression},
          {"pseudo_progression", o.pseudo_progression},
          {"next_line_months", number_or_null(o.next_line_months)},
          {"pfs2_months", number_or_null(o.pfs2_months)},
          {"pfs2_event", o.pfs2_event}};
}

nlohmann::json replay_json(const ReplayResult& r) {
  nlohmann::json arms = nlohmann::json::array();
  for (const Outcome& o : r.replayed.outcomes) {
    nlohmann::json arm = outcome_json(o);
    arm["arm"] = o.arm_index < r.arm_names.size() ? r.arm_names[o.arm_index] : "";
    nlohmann::json timeline = nlohmann::json::array();
    for (const CourseEvent& e : r.replayed.events) {
      if (e.arm_index != o.arm_index) continue;
      timeline.push_back({{"day", e.day},
                          {"kind", to_string(e.kind)},
                          {"code", e.code},
                          {"detail", event_detail(e)},
                          {"value", number_or_null(e.value)}});
    }
    arm["events"] = timeline;
    arms.push_back(arm);
  }
  return {{"run", r.run_id},
          {"patient", patient_json(r.replayed.patient)},
          {"arms", arms},
          {"identical_to_stored", r.identical},
          {"differences", r.differences}};
}

std::string replay_text(const ReplayResult& r) {
  const Patient& p = r.replayed.patient;
  std::string out = fmt::format(
      "run {} patient {}: {}, age {:.0f}, {}, ECOG {}, LDH {}, line {}{}\n"
      "  TMB {:.1f} mut/Mb, PD-L1 TPS {:.0f}%, infiltration {:.2f} ({}), memory {:.2f}, "
      "sum of diameters {:.0f} mm, {} metastatic site(s), {} candidate(s) screened\n",
      r.run_id, p.index, to_string(p.cancer_type), p.age_years, to_string(p.sex), p.ecog,
      p.ldh_elevated ? "elevated" : "normal", p.line_of_therapy,
      p.prior_anti_pd1 ? ", prior anti-PD-1" : "", p.tmb_mut_per_mb, p.pdl1_tps_percent,
      p.infiltration, p.hot ? "hot" : "cold", p.memory_capacity, p.tumour_burden_mm,
      p.metastatic_sites, p.candidates_screened);
  for (const Outcome& o : r.replayed.outcomes) {
    const std::string arm =
        o.arm_index < r.arm_names.size() ? printable(r.arm_names[o.arm_index]) : "?";
    out += fmt::format("\narm {} ({})\n", o.arm_index, arm);
    for (const CourseEvent& e : r.replayed.events) {
      if (e.arm_index != o.arm_index) continue;
      out += fmt::format("  day {:>7.1f}  {:<21} {}\n", e.day, to_string(e.kind), event_detail(e));
    }
    out += fmt::format(
        "  best response {}, PFS {:.1f} mo ({}), OS {:.1f} mo ({}), worst irAE grade {}, "
        "stopped: {}, durable CR {}, death: {}, eradicated (ground truth) {}\n",
        to_string(o.best_response), o.pfs_months, o.pfs_event ? "event" : "censored", o.os_months,
        o.os_event ? "death" : "censored", o.worst_irae_grade, to_string(o.stop_reason),
        o.durable_cr ? "yes" : "no", to_string(o.death_cause), o.eradicated ? "yes" : "no");
    out += fmt::format(
        "  iRECIST best response {}, iRECIST PFS {:.1f} mo ({}), treated beyond progression {}, "
        "pseudo-progression {}, worst other AE grade {}, {} treatment hold(s)\n",
        to_string(o.best_response_irecist), o.pfs_irecist_months,
        o.pfs_irecist_event ? "event" : "censored", o.beyond_progression ? "yes" : "no",
        o.pseudo_progression ? "yes" : "no", o.worst_ae_grade, o.treatment_holds);
    if (!std::isnan(o.next_line_months))
      out += fmt::format("  next line from {:.1f} mo, PFS2 {:.1f} mo ({})\n", o.next_line_months,
                         o.pfs2_months, o.pfs2_event ? "event" : "censored");
    if (!std::isnan(o.eradication_months))
      out += fmt::format("  last tumour cell died at {:.1f} mo (ground truth)\n",
                         o.eradication_months);
  }
  if (r.identical) {
    out += "\nreplay identical to the stored rows\n";
  } else {
    out += "\nREPLAY DIFFERS FROM THE STORED ROWS:\n";
    for (const std::string& d : r.differences) out += "  " + d + "\n";
  }
  return out;
}

}  // namespace vpgen
