// The replicate engine of trial design (private to vpgen::trial_design): the pool of virtual
// patients (mechanistic mode), one simulated trial per (seed, n, replicate index), and the batches
// that run them in parallel. A replicate's draws come from the stream (seed, replicate, n,
// kTrialDesign) alone, and replicates are reduced in index order, so results do not depend on
// threads or on the ranks of a cluster. ReplicateEngine is immutable once built and safe to run
// from several threads when its cluster has one rank; with several ranks, run() is collective.
#pragma once

#include "vpgen/trial_design/trial_design.hpp"

#include <cstdint>
#include <functional>
#include <vector>

namespace vpgen::trial_design::detail {

// One pool patient under one arm, reduced to the design's endpoint: a time-to-event endpoint's
// time (event or censored at the scenario horizon), or a response (event = responder).
struct PoolOutcome {
  double time_months = 0.0;
  bool event = false;
};

struct PoolPatient {
  double tmb_mut_per_mb = 0.0;
  double pdl1_percent = 0.0;
  std::uint32_t candidates_screened = 1;
  PoolOutcome control, experimental;  // control is unused by single-arm designs
};

struct Pool {
  std::vector<PoolPatient> patients;
  PoolSummary summary;
};

// Simulates design.pool_patients patients of the design's scenario (seed = the design's seed;
// patient i is Simulator::simulate_patient(seed, i)) and keeps what the design needs. Collective:
// each rank of `cluster` simulates its cluster_slice of the pool and every rank receives the whole
// pool; a failure on any rank is thrown on every rank (ClusterFailure).
Pool simulate_pool(const Design& design, int threads,
                   const std::function<void(std::uint64_t, std::uint64_t)>& on_progress,
                   Cluster& cluster);

// Indices of pool patients with TMB >= tmb_min and PD-L1 >= pdl1_min.
std::vector<std::uint32_t> select(const Pool& pool, double tmb_min, double pdl1_min);

struct ReplicateOutcome {
  bool reject = false;  // under the alternative, in favour of the experimental arm
  bool reject_null = false;
  bool reached = true;        // event-driven: the D-th event happened
  bool stopped = false;       // Simon: stopped after stage 1 (alternative)
  bool stopped_null = false;  // ... under p0
  bool failed = false;        // the replicate threw (re-run serially to report it)
  bool undefined = false;     // the test had no p-value (e.g. RMST beyond the follow-up)
  std::int32_t events = 0;
  std::int32_t analysed = 0;  // patients enrolled by the analysis
  double duration_months = 0.0;
};

// Simon's boundaries for the engine.
struct SimonBounds {
  int n1 = 0, r1 = 0, n = 0, r = 0;
};

class ReplicateEngine {
 public:
  // Parametric designs: pool == nullptr. Mechanistic: the pool and the indices to draw from.
  // cluster == nullptr: this process alone.
  ReplicateEngine(const Design& design, const Pool* pool, std::vector<std::uint32_t> subset,
                  SimonBounds simon = {}, Cluster* cluster = nullptr);

  // Replicates [first, first + count) at total size n into out[0 .. count). With a cluster of
  // several ranks each rank simulates its cluster_slice of the range and every rank receives all
  // outcomes (collective); a failure anywhere is thrown on every rank (ClusterFailure).
  void run(std::int64_t n, std::uint64_t first, std::uint64_t count, bool with_null, int threads,
           std::vector<ReplicateOutcome>& out) const;

  // Replicate `index` alone (throws what the replicate throws).
  ReplicateOutcome replicate(std::int64_t n, std::uint64_t index, bool with_null) const;

  // Estimates the point at n: batches until both MCSEs reach the target (after the minimum) or
  // the maximum. `progress(done)` after each batch.
  PointResult estimate(std::int64_t n, bool with_null, int threads,
                       const std::function<void(std::uint64_t)>& progress) const;
  // Exactly `replicates` replicates.
  PointResult estimate_fixed(std::int64_t n, std::uint64_t replicates, bool with_null,
                             int threads) const;

 private:
  struct Scratch;
  void rate_replicate(std::int64_t n, std::uint64_t index, bool with_null, int critical_count,
                      ReplicateOutcome& out) const;
  void time_replicate(std::int64_t n, std::uint64_t index, bool with_null, Scratch& s,
                      ReplicateOutcome& out) const;
  bool analyse_times(const std::vector<double>& event_times, const std::vector<double>& censor,
                     double accrual_months, Scratch& s, bool directional,
                     ReplicateOutcome& out) const;
  // Exact binomial test: the smallest response count that rejects at n (0 for other tests).
  int critical(std::int64_t n) const;
  // Replicates [first, first + count) on this process's threads; a failing one is marked failed.
  void run_local(std::int64_t n, std::uint64_t first, std::uint64_t count, bool with_null,
                 int threads, std::vector<ReplicateOutcome>& out) const;

  const Design& design_;
  const Pool* pool_;
  std::vector<std::uint32_t> subset_;
  SimonBounds simon_;
  Cluster* cluster_;
  double dropout_hazard_per_month_ = 0.0;
};

// Running sums of replicate outcomes, folded in index order.
class PointAccumulator {
 public:
  void add(const ReplicateOutcome& r, bool with_null, bool simon, std::int64_t n1, std::int64_t n);
  PointResult result(std::int64_t n, std::int64_t n_control, std::int64_t n_experimental,
                     bool with_null, bool simon, bool time_to_event, bool event_driven) const;
  std::uint64_t replicates() const { return count_; }
  double power_mcse() const;
  double type1_mcse() const;

 private:
  std::uint64_t count_ = 0, reject_ = 0, reject_null_ = 0, not_reached_ = 0;
  std::uint64_t stopped_ = 0, stopped_null_ = 0, undefined_ = 0;
  double events_ = 0, events2_ = 0, duration_ = 0, duration2_ = 0, analysed_ = 0, analysed2_ = 0;
  double used_ = 0, used2_ = 0, used_null_ = 0, used_null2_ = 0;
};

}  // namespace vpgen::trial_design::detail
