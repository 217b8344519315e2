// Counter-based random streams: one independent stream per (seed, patient, arm, purpose).
// This is the heart of the reproducibility contract (docs/ARCHITECTURE.md): a value drawn for patient
// i depends only on (seed, i, arm, purpose) and on how many draws that stream has given before, never
// on threads or scheduling. A Stream object is not thread-safe; make one per use, they cost ~20 ns.
#pragma once

#include <Random123/philox.h>

#include <cstdint>
#include <limits>

namespace vpgen {

// Version of the stream-derivation scheme, recorded in every run. Bump it if Stream changes.
inline constexpr int kRngSchemeVersion = 1;

// What a stream is used for. Append only: renumbering changes every stored result.
enum class Purpose : std::uint32_t {
  kPopulation = 0,   // sampling the patient's attributes (and eligibility screening)
  kCourse = 1,       // tumour and immune dynamics of one course
  kToxicity = 2,     // irAE onsets and grades
  kAssessment = 3,   // measurement noise of RECIST assessments
  kOtherDeath = 4,   // death from causes other than the cancer or its treatment
  kTrialDesign = 5,  // `vpgen size`: one replicate trial (patient = replicate, arm = its size n)
  kNewLesions = 6,   // appearance of new lesions during one course
  kTreatmentDecision = 7,  // treatment beyond progression, start of a next line
};

// Arm number used for streams that belong to the patient rather than to one arm.
inline constexpr std::uint32_t kNoArm = 0xFFFFFFFFu;

// Philox4x64-10 (Salmon et al., SC'11, Random123) keyed by (seed, patient); the counter holds
// ((purpose << 32) | arm, 0, 0, n): word 0 packs the purpose into its high and the arm into its
// low 32 bits, words 1 and 2 are zero, and word 3 counts the blocks n of four 64-bit outputs.
// Streams never overlap: each has 2^64 blocks of its own. Satisfies UniformRandomBitGenerator, so
// Boost.Random distributions draw from it directly.
class Stream {
 public:
  using result_type = std::uint64_t;

  Stream(std::uint64_t seed, std::uint64_t patient, std::uint32_t arm, Purpose purpose) noexcept {
    key_ = {{seed, patient}};
    counter_ = {
        {(static_cast<std::uint64_t>(static_cast<std::uint32_t>(purpose)) << 32) | arm, 0, 0, 0}};
  }

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

  result_type operator()() noexcept {
    if (used_ == 4) {
      buffer_ = r123::Philox4x64()(counter_, key_);
      ++counter_.v[3];
      used_ = 0;
    }
    return buffer_.v[used_++];
  }

  // A uniform double in the open interval (0, 1): 53 random bits, never exactly 0 or 1, so that
  // -log(u) and quantile functions are always finite.
  double uniform_open() noexcept {
    return (static_cast<double>((*this)() >> 11) + 0.5) * 0x1.0p-53;
  }

 private:
  r123::Philox4x64::key_type key_{};
  r123::Philox4x64::ctr_type counter_{};
  r123::Philox4x64::ctr_type buffer_{};
  int used_ = 4;
};

}  // namespace vpgen
