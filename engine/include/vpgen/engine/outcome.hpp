// What one course of therapy produced: the per-arm outcome, the timeline events, and the block of
// patients that the parallel driver hands to a sink. Plain value types.
#pragma once

#include "vpgen/population/patient.hpp"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpgen {

inline constexpr double kNoValue = std::numeric_limits<double>::quiet_NaN();  // stored as NULL

// RECIST 1.1 best overall response, with confirmation (CR/PR confirmed >= 4 weeks later).
enum class Response : std::uint8_t { kCR = 0, kPR = 1, kSD = 2, kPD = 3, kNE = 4 };
inline constexpr std::array<std::string_view, 5> kResponseNames = {"CR", "PR", "SD", "PD", "NE"};
inline std::string_view to_string(Response r) {
  return kResponseNames[static_cast<std::size_t>(r)];
}

// Why treatment ended.
enum class StopReason : std::uint8_t {
  kProgression = 0,    // RECIST progression
  kToxicity = 1,       // irAE of grade >= 3 (or the regimen's stop rule)
  kCompleted = 2,      // the regimen's planned duration or number of cycles was given
  kDeath = 3,          // died on treatment
  kEndOfFollowUp = 4,  // still on treatment at the horizon
};
inline constexpr std::array<std::string_view, 5> kStopReasonNames = {
    "progression", "toxicity", "completed", "death", "end_of_follow_up"};
// (With treatment beyond progression, "progression" is iRECIST-confirmed progression, iCPD.)
inline std::string_view to_string(StopReason r) {
  return kStopReasonNames[static_cast<std::size_t>(r)];
}

enum class DeathCause : std::uint8_t { kAlive = 0, kDisease = 1, kToxicity = 2, kOther = 3 };
inline constexpr std::array<std::string_view, 4> kDeathCauseNames = {"alive", "disease", "toxicity",
                                                                     "other"};
inline std::string_view to_string(DeathCause c) {
  return kDeathCauseNames[static_cast<std::size_t>(c)];
}

// Outcome of one patient under one arm. Times in months from the start of treatment
// (1 month = 30.4375 days). NaN means "does not apply" and is stored as NULL.
struct Outcome {
  std::uint32_t arm_index = 0;
  Response best_response = Response::kNE;
  // Best per-visit response without requiring confirmation (a single CR/PR visit counts); SD
  // still needs min_sd_weeks. Trials report ORR both confirmed and unconfirmed.
  Response best_response_unconfirmed = Response::kNE;
  double time_to_response_months = kNoValue;  // first assessment showing the confirmed CR/PR
  double duration_of_response_months = kNoValue;
  bool dor_event = false;  // 1 = response ended by progression or death
  double pfs_months = 0.0;
  bool pfs_event = false;  // 1 = progression or death, 0 = censored
  double os_months = 0.0;
  bool os_event = false;                // 1 = death, 0 = censored at the horizon
  int worst_irae_grade = 0;             // CTCAE 0 (none) .. 5 (fatal)
  double irae_onset_months = kNoValue;  // onset of the first irAE of the worst grade
  StopReason stop_reason = StopReason::kEndOfFollowUp;
  double treatment_months = 0.0;  // time on treatment
  bool durable_cr = false;        // confirmed CR that lasted >= 60 months
  DeathCause death_cause = DeathCause::kAlive;
  bool eradicated = false;                // ground truth: every tumour cell killed
  double best_percent_change = kNoValue;  // best % change of the sum of diameters
  // Ground truth no trial sees: when the last tumour cell died (NaN if never).
  double eradication_months = kNoValue;
  int worst_ae_grade = 0;   // other treatment-related AEs, CTCAE 0..5
  int treatment_holds = 0;  // holds for grade >= 3 AEs that were resumed
  // iRECIST (Seymour et al., Lancet Oncol 2017): a first RECIST PD is iUPD and needs confirmation
  // (iCPD) at the next visit; if that visit shows SD or better the reading resets. Without
  // treatment beyond progression an iUPD cannot be confirmed and counts as the progression date.
  Response best_response_irecist = Response::kNE;
  double pfs_irecist_months = 0.0;
  bool pfs_irecist_event = false;
  bool beyond_progression = false;  // treated beyond the first RECIST progression
  bool pseudo_progression = false;  // RECIST PD, then an iRECIST response (iCR/iPR)
  // Subsequent line (arm's next_line): start, and PFS2 = first line start to progression on the
  // next line or death (EMA); NaN / false when no next line started.
  double next_line_months = kNoValue;
  double pfs2_months = kNoValue;
  bool pfs2_event = false;
};

enum class EventKind : std::uint8_t {
  kTreatmentStart = 0,
  kAssessment = 1,     // value = measured sum of diameters (mm); code = Response at that visit
  kIrae = 2,           // code = CTCAE grade
  kTreatmentStop = 3,  // code = StopReason
  kProgression = 4,
  kDeath = 5,          // code = DeathCause
  kResponse = 6,       // first confirmed CR/PR; code = Response
  kAdverseEvent = 7,   // other treatment-related AE; code = CTCAE grade
  kTreatmentHold = 8,  // therapy held for a grade >= 3 (ir)AE; value = planned resumption day
  kTreatmentResume = 9,
  kConfirmedProgression = 10,  // iRECIST iCPD, beyond the first RECIST progression
  kNextLine = 11,              // subsequent therapy starts; code = line number (2)
  kEradication = 12,           // ground truth: the last tumour cell died
};
inline constexpr std::array<std::string_view, 13> kEventKindNames = {"treatment_start",
                                                                     "assessment",
                                                                     "irae",
                                                                     "treatment_stop",
                                                                     "progression",
                                                                     "death",
                                                                     "response",
                                                                     "adverse_event",
                                                                     "treatment_hold",
                                                                     "treatment_resume",
                                                                     "confirmed_progression",
                                                                     "next_line",
                                                                     "eradication"};
inline std::string_view to_string(EventKind k) {
  return kEventKindNames[static_cast<std::size_t>(k)];
}

struct CourseEvent {
  std::uint32_t arm_index = 0;
  double day = 0.0;  // days since the start of treatment
  EventKind kind = EventKind::kAssessment;
  int code = 0;
  double value = kNoValue;
};

// Everything one patient produced: attributes, one outcome per arm (arm order), and the events of
// all arms (arm order, then time order). `error` is set if the simulation failed.
struct PatientResult {
  Patient patient;
  std::vector<Outcome> outcomes;
  std::vector<CourseEvent> events;
  std::optional<std::string> error;
};

// A run of consecutive patients [first_index, first_index + results.size()).
struct Block {
  std::uint64_t first_index = 0;
  std::vector<PatientResult> results;
};

}  // namespace vpgen
