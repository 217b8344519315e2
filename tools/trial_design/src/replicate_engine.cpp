// Replicate trials for `vpgen size`: the virtual-patient pool, the parametric generators and one
// simulated trial per (seed, n, replicate). docs/DESIGN.md states the conduct rules implemented
// here (allocation, entry, censoring, the event-driven analysis time).
#include "replicate_engine.hpp"

#include "vpgen/engine/parallel.hpp"

#include "vpgen/stats/sample_size.hpp"
#include "vpgen/engine/simulator.hpp"
#include "vpgen/stats/statistics.hpp"
#include "vpgen/stats/trial_tests.hpp"
#include "vpgen/population/error.hpp"
#include "vpgen/population/random_stream.hpp"

#include <boost/random/exponential_distribution.hpp>
#include <boost/random/uniform_int_distribution.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <exception>
#include <limits>

namespace vpgen::trial_design::detail {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// What the pool and its summary read of one patient's outcome under one arm.
struct ArmFacts {
  Response best_response = Response::kNE;
  bool durable_cr = false;
  double pfs_months = 0.0;
  bool pfs_event = false;
  double os_months = 0.0;
  bool os_event = false;
};

ArmFacts facts_of(const Outcome& o) {
  return {o.best_response, o.durable_cr, o.pfs_months, o.pfs_event, o.os_months, o.os_event};
}

bool responded(const ArmFacts& o, Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::kOrr:
      return o.best_response == Response::kCR || o.best_response == Response::kPR;
    case Endpoint::kCrRate: return o.best_response == Response::kCR;
    case Endpoint::kDurableCr: return o.durable_cr;
    default: return false;
  }
}

PoolOutcome reduce(const ArmFacts& o, const Design& d) {
  if (is_rate(d.endpoint)) return {0.0, responded(o, d.endpoint)};
  if (d.time_to_event == Endpoint::kPfs) return {o.pfs_months, o.pfs_event};
  return {o.os_months, o.os_event};
}

// Kaplan-Meier median of (time, event) pairs with its Brookmeyer-Crowley 95% interval
// (statistics.hpp, R's print.survfit rule).
Interval km_median(std::vector<std::pair<double, bool>> times) {
  if (times.empty()) return Interval{};
  std::sort(times.begin(), times.end());
  KaplanMeier km;
  std::size_t i = 0;
  while (i < times.size()) {
    std::uint64_t events = 0, censored = 0;
    const double t = times[i].first;
    for (; i < times.size() && times[i].first == t; ++i) (times[i].second ? events : censored)++;
    km.add(t, events, censored);
  }
  return km.median();
}

// One pool patient as the ranks of a cluster exchange it: what the pool keeps of the patient and
// of its outcome under the control and experimental arms (the PoolOutcomes follow from these).
struct PoolRecord {
  double tmb_mut_per_mb = 0.0;
  double pdl1_percent = 0.0;
  std::uint32_t candidates_screened = 1;
  std::array<ArmFacts, 2> arms;  // control, experimental
};

class PoolSink final : public OutcomeSink {
 public:
  PoolSink(const Design& design, std::vector<PoolRecord>& records)
      : design_(design), records_(records) {}
  void write_block(const Block& block) override {
    for (const PatientResult& r : block.results) {
      PoolRecord p;
      p.tmb_mut_per_mb = r.patient.tmb_mut_per_mb;
      p.pdl1_percent = r.patient.pdl1_tps_percent;
      p.candidates_screened = r.patient.candidates_screened;
      p.arms = {facts_of(r.outcomes[design_.control_arm_index]),
                facts_of(r.outcomes[design_.experimental_arm_index])};
      records_.push_back(p);
    }
  }

 private:
  const Design& design_;
  std::vector<PoolRecord>& records_;
};

// Pool records and replicate outcomes travel in cluster.hpp's little-endian format (put_le, get_le).

// tmb, pdl1 (8 each), candidates (4), then per arm: best response (1), flags (1), PFS, OS (8 each).
constexpr std::size_t kArmBytes = 18, kPoolRecordBytes = 20 + 2 * kArmBytes;

std::vector<std::byte> encode_pool(const std::vector<PoolRecord>& records) {
  std::vector<std::byte> bytes(records.size() * kPoolRecordBytes);
  std::byte* at = bytes.data();
  for (const PoolRecord& r : records) {
    put_le(at, std::bit_cast<std::uint64_t>(r.tmb_mut_per_mb), 8);
    put_le(at + 8, std::bit_cast<std::uint64_t>(r.pdl1_percent), 8);
    put_le(at + 16, r.candidates_screened, 4);
    at += 20;
    for (const ArmFacts& a : r.arms) {
      put_le(at, static_cast<std::uint8_t>(a.best_response), 1);
      put_le(at + 1, (a.durable_cr ? 1u : 0u) | (a.pfs_event ? 2u : 0u) | (a.os_event ? 4u : 0u),
             1);
      put_le(at + 2, std::bit_cast<std::uint64_t>(a.pfs_months), 8);
      put_le(at + 10, std::bit_cast<std::uint64_t>(a.os_months), 8);
      at += kArmBytes;
    }
  }
  return bytes;
}

std::vector<PoolRecord> decode_pool(const std::vector<std::byte>& bytes, std::uint64_t count) {
  if (bytes.size() != count * kPoolRecordBytes)
    throw Error(fmt::format("pool exchange: {} bytes for {} patients", bytes.size(), count));
  std::vector<PoolRecord> records(count);
  const std::byte* at = bytes.data();
  for (PoolRecord& r : records) {
    r.tmb_mut_per_mb = std::bit_cast<double>(get_le(at, 8));
    r.pdl1_percent = std::bit_cast<double>(get_le(at + 8, 8));
    r.candidates_screened = static_cast<std::uint32_t>(get_le(at + 16, 4));
    at += 20;
    for (ArmFacts& a : r.arms) {
      a.best_response = static_cast<Response>(get_le(at, 1));
      const auto flags = get_le(at + 1, 1);
      a.durable_cr = (flags & 1u) != 0;
      a.pfs_event = (flags & 2u) != 0;
      a.os_event = (flags & 4u) != 0;
      a.pfs_months = std::bit_cast<double>(get_le(at + 2, 8));
      a.os_months = std::bit_cast<double>(get_le(at + 10, 8));
      at += kArmBytes;
    }
  }
  return records;
}

}  // namespace

Pool simulate_pool(const Design& design, int threads,
                   const std::function<void(std::uint64_t, std::uint64_t)>& on_progress,
                   Cluster& cluster) {
  Scenario scenario = design.scenario;
  scenario.store_events = false;  // the pool keeps outcomes only
  const Simulator simulator(std::move(scenario));
  // Each rank simulates its share of the pool, then all exchange them: the pool can be most of a
  // mechanistic design's time (configs/designs/checkmate067_os_logrank.toml: 1.2 s of 1.3 s on
  // one thread), so a pool simulated whole by every rank would leave little to gain.
  const std::uint64_t total = design.pool_patients;
  const auto [begin, end] = cluster_slice(total, cluster.rank(), cluster.size());
  std::vector<PoolRecord> full;
  std::exception_ptr failure;
  try {
    full.reserve(end - begin);
    PoolSink sink(design, full);
    vpgen::RunOptions run;
    run.seed = design.seed;
    run.first_patient = begin;
    run.patients = end - begin;
    run.threads = threads;
    // Progress of this rank's share, scaled to the whole pool.
    if (on_progress)
      run.on_progress = [&](const Progress& p) {
        on_progress(p.total == 0 ? 0 : p.done * total / p.total, total);
      };
    if (end > begin) run_cohort(simulator, run, sink);
  } catch (...) {
    failure = std::current_exception();
  }
  // A failing patient fails on the rank that owns it alone: all learn of it before exchanging.
  agree_on_failure(cluster, failure);
  if (cluster.size() > 1) full = decode_pool(cluster.allgather(encode_pool(full)), total);

  Pool pool;
  pool.patients.reserve(full.size());
  for (const PoolRecord& r : full) {
    PoolPatient p;
    p.tmb_mut_per_mb = r.tmb_mut_per_mb;
    p.pdl1_percent = r.pdl1_percent;
    p.candidates_screened = r.candidates_screened;
    p.control = reduce(r.arms[0], design);
    p.experimental = reduce(r.arms[1], design);
    pool.patients.push_back(p);
  }

  PoolSummary& summary = pool.summary;
  summary.patients = pool.patients.size();
  double candidates = 0.0;
  for (const PoolPatient& p : pool.patients) candidates += p.candidates_screened;
  summary.screening_ratio = candidates / static_cast<double>(pool.patients.size());
  const std::vector<std::uint32_t> eligible =
      select(pool, design.enrichment.tmb_min_mut_per_mb.value_or(0.0),
             design.enrichment.pdl1_min_percent.value_or(0.0));
  summary.eligible = eligible.size();
  for (int side = is_single_arm(design.analysis) ? 1 : 0; side < 2; ++side) {
    PoolArmSummary arm;
    arm.arm = side == 0 ? design.control_arm : design.experimental_arm;
    std::uint64_t orr = 0, cr = 0, durable = 0, endpoint = 0;
    std::vector<std::pair<double, bool>> pfs, os;
    for (const std::uint32_t i : eligible) {
      const ArmFacts& o = full[i].arms[static_cast<std::size_t>(side)];
      orr += responded(o, Endpoint::kOrr);
      cr += responded(o, Endpoint::kCrRate);
      durable += o.durable_cr;
      if (is_rate(design.endpoint)) endpoint += responded(o, design.endpoint);
      pfs.emplace_back(o.pfs_months, o.pfs_event);
      os.emplace_back(o.os_months, o.os_event);
    }
    const double count = static_cast<double>(eligible.size());
    if (count > 0) {
      arm.orr = clopper_pearson(orr, eligible.size());
      arm.cr_rate = clopper_pearson(cr, eligible.size());
      arm.durable_cr = clopper_pearson(durable, eligible.size());
      if (is_rate(design.endpoint)) arm.endpoint_rate = static_cast<double>(endpoint) / count;
    }
    arm.median_pfs_months = km_median(std::move(pfs));
    arm.median_os_months = km_median(std::move(os));
    summary.arms.push_back(arm);
  }
  return pool;
}

std::vector<std::uint32_t> select(const Pool& pool, double tmb_min, double pdl1_min) {
  std::vector<std::uint32_t> out;
  for (std::size_t i = 0; i < pool.patients.size(); ++i) {
    const PoolPatient& p = pool.patients[i];
    if (p.tmb_mut_per_mb >= tmb_min && p.pdl1_percent >= pdl1_min)
      out.push_back(static_cast<std::uint32_t>(i));
  }
  return out;
}

// ---- The engine ---------------------------------------------------------------------------------

struct ReplicateEngine::Scratch {
  std::vector<int> arm;
  std::vector<double> entry, time_alt, censor_alt, time_null, censor_null, calendar, bucket;
  std::vector<std::uint32_t> counts;
  std::vector<design::Observation> observations, sorted;
  std::int64_t pattern_n = -1;  // even entry: arm and entry hold the pattern for this n
};

ReplicateEngine::ReplicateEngine(const Design& design, const Pool* pool,
                                 std::vector<std::uint32_t> subset, SimonBounds simon,
                                 Cluster* cluster)
    : design_(design),
      pool_(pool),
      subset_(std::move(subset)),
      simon_(simon),
      cluster_(cluster ? cluster : &local_cluster()) {
  if (design.mode == Mode::kMechanistic && (!pool_ || subset_.empty()))
    throw InputError(fmt::format("{}: no pool patient meets the design's enrichment", design.file));
  if (design.analysis == Analysis::kSimon && simon_.n == 0)
    throw Error("Simon engine without a design");
  dropout_hazard_per_month_ = design.conduct.dropout_hazard_per_month();
}

int ReplicateEngine::critical(std::int64_t n) const {
  if (design_.analysis != Analysis::kExactBinomial) return 0;
  // The smallest c with P(X >= c | p0) <= alpha: P(X >= c) = binomial_tail_above(n, c - 1) falls
  // with c, is 1 at c = 0 and 0 at c = n + 1.
  const int size = static_cast<int>(n);
  int low = 0, high = size + 1;
  while (high - low > 1) {
    const int mid = (low + high) / 2;
    if (design::binomial_tail_above(size, mid - 1, design_.p0) <= design_.alpha) high = mid;
    else low = mid;
  }
  return high;
}

namespace {

// The k-th smallest (0-based) of `values` (reordered), exactly: a counting pass over value-linear
// buckets finds the bucket holding it (the bucket index never decreases with the value, so every
// value of an earlier bucket is smaller), then nth_element runs within that bucket alone. About
// three passes over the data instead of introselect's unpredictable branches.
double kth_smallest(std::vector<double>& values, std::size_t k, std::vector<std::uint32_t>& counts,
                    std::vector<double>& bucket) {
  const std::size_t m = values.size();
  if (m < 64) {
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
    return values[k];
  }
  double low = values[0], high = values[0];
  for (const double v : values) {
    low = std::min(low, v);
    high = std::max(high, v);
  }
  if (!(high > low)) return low;
  const std::size_t buckets = m;
  const double scale = static_cast<double>(buckets) / (high - low);
  auto index = [&](double v) {
    return std::min(buckets - 1, static_cast<std::size_t>((v - low) * scale));
  };
  counts.assign(buckets, 0);
  for (const double v : values) ++counts[index(v)];
  std::size_t before = 0, b = 0;
  while (before + counts[b] <= k) before += counts[b++];
  bucket.clear();
  for (const double v : values)
    if (index(v) == b) bucket.push_back(v);
  const std::size_t within = k - before;
  std::nth_element(bucket.begin(), bucket.begin() + static_cast<std::ptrdiff_t>(within),
                   bucket.end());
  return bucket[within];
}

// Sorts observations by time for the tests (which then only check the order, in O(n)). A bucket
// sort on the bit patterns of the times: for non-negative doubles the bits increase with the value,
// and buckets that are linear in the bits are about logarithmic in time, so skewed survival times
// spread evenly; an insertion sort then orders each bucket. Roughly five passes over the data
// against pdqsort's n log n compares, the largest cost of a replicate otherwise.
void sort_by_time(std::vector<design::Observation>& data, std::vector<design::Observation>& out,
                  std::vector<std::uint32_t>& counts) {
  const std::size_t m = data.size();
  auto insertion_sort = [](std::vector<design::Observation>& v) {
    for (std::size_t i = 1; i < v.size(); ++i) {
      const design::Observation x = v[i];
      std::size_t j = i;
      for (; j > 0 && v[j - 1].time > x.time; --j) v[j] = v[j - 1];
      v[j] = x;
    }
  };
  if (m < 32) {
    insertion_sort(data);
    return;
  }
  std::uint64_t low = std::numeric_limits<std::uint64_t>::max(), high = 0;
  for (const design::Observation& o : data) {
    const auto key = std::bit_cast<std::uint64_t>(o.time);
    low = std::min(low, key);
    high = std::max(high, key);
  }
  const std::uint64_t span = high - low;
  if (span == 0) return;
  std::size_t buckets = 64;
  while (buckets < m) buckets *= 2;
  int shift = 0;
  while ((span >> shift) >= buckets) ++shift;
  counts.assign(buckets + 1, 0);
  for (const design::Observation& o : data)
    ++counts[((std::bit_cast<std::uint64_t>(o.time) - low) >> shift) + 1];
  for (std::size_t b = 1; b <= buckets; ++b) counts[b] += counts[b - 1];
  out.resize(m);
  for (const design::Observation& o : data)
    out[counts[(std::bit_cast<std::uint64_t>(o.time) - low) >> shift]++] = o;
  insertion_sort(out);
  data.swap(out);
}

bool rejects(const design::TestResult& r, int sides, double alpha, bool directional) {
  if (sides == 1) return r.p_one_sided <= alpha;
  return r.p_two_sided <= alpha && (!directional || r.z > 0.0);
}

// A replicate outcome on the wire between ranks: its fields one by one in a fixed little-endian
// layout (never the struct's bytes, whose padding is indeterminate): one byte of flags, events and
// analysed as 4 bytes each, the duration's IEEE-754 bits as 8 bytes.
constexpr std::size_t kOutcomeBytes = 17;
// A new field of ReplicateOutcome changes its size: add it to encode_outcomes and decode_outcomes.
static_assert(sizeof(ReplicateOutcome) == 24, "ReplicateOutcome changed: update its wire format");

std::vector<std::byte> encode_outcomes(const std::vector<ReplicateOutcome>& outcomes) {
  std::vector<std::byte> bytes(outcomes.size() * kOutcomeBytes);
  std::byte* at = bytes.data();
  for (const ReplicateOutcome& r : outcomes) {
    const unsigned flags = (r.reject ? 1u : 0u) | (r.reject_null ? 2u : 0u) |
                           (r.reached ? 4u : 0u) | (r.stopped ? 8u : 0u) |
                           (r.stopped_null ? 16u : 0u) | (r.failed ? 32u : 0u) |
                           (r.undefined ? 64u : 0u);
    put_le(at, flags, 1);
    put_le(at + 1, static_cast<std::uint32_t>(r.events), 4);
    put_le(at + 5, static_cast<std::uint32_t>(r.analysed), 4);
    put_le(at + 9, std::bit_cast<std::uint64_t>(r.duration_months), 8);
    at += kOutcomeBytes;
  }
  return bytes;
}

void decode_outcomes(const std::vector<std::byte>& bytes, std::uint64_t count,
                     std::vector<ReplicateOutcome>& out) {
  if (bytes.size() != count * kOutcomeBytes)
    throw Error(fmt::format("replicate exchange: {} bytes for {} replicates", bytes.size(), count));
  out.assign(count, ReplicateOutcome{});
  const std::byte* at = bytes.data();
  for (ReplicateOutcome& r : out) {
    const auto flags = get_le(at, 1);
    r.reject = (flags & 1u) != 0;
    r.reject_null = (flags & 2u) != 0;
    r.reached = (flags & 4u) != 0;
    r.stopped = (flags & 8u) != 0;
    r.stopped_null = (flags & 16u) != 0;
    r.failed = (flags & 32u) != 0;
    r.undefined = (flags & 64u) != 0;
    r.events = static_cast<std::int32_t>(static_cast<std::uint32_t>(get_le(at + 1, 4)));
    r.analysed = static_cast<std::int32_t>(static_cast<std::uint32_t>(get_le(at + 5, 4)));
    r.duration_months = std::bit_cast<double>(get_le(at + 9, 8));
    at += kOutcomeBytes;
  }
}

std::uint32_t draw_index(Stream& stream, std::size_t size) {
  boost::random::uniform_int_distribution<std::uint32_t> pick(0,
                                                              static_cast<std::uint32_t>(size - 1));
  return pick(stream);
}

}  // namespace

void ReplicateEngine::rate_replicate(std::int64_t n, std::uint64_t index, bool with_null,
                                     int critical_count, ReplicateOutcome& out) const {
  const Design& d = design_;
  const bool simon = d.analysis == Analysis::kSimon;
  const bool single = is_single_arm(d.analysis);
  Stream stream(d.seed, index, static_cast<std::uint32_t>(n), Purpose::kTrialDesign);
  const std::int64_t n_control = single ? 0 : d.arm_sizes(n).first;
  int responders[2] = {0, 0}, responders_null[2] = {0, 0};
  int stage1 = 0, stage1_null = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const int arm = i < n_control ? 0 : 1;
    bool alt = false, null = false;
    if (d.mode == Mode::kParametric) {
      const double u = stream.uniform_open();
      alt = u < (arm == 1 ? d.p_experimental : d.p_control);
      null = u < (single ? d.p0 : d.p_control);
    } else {
      const PoolPatient& p = pool_->patients[subset_[draw_index(stream, subset_.size())]];
      alt = (arm == 1 ? p.experimental : p.control).event;
      null = single ? stream.uniform_open() < d.p0 : p.control.event;
    }
    responders[arm] += alt;
    responders_null[arm] += null;
    if (simon && i + 1 == simon_.n1) {
      stage1 = responders[1];
      stage1_null = responders_null[1];
    }
  }
  const int nc = static_cast<int>(n_control), ne = static_cast<int>(n - n_control);
  double accrual = d.conduct.accrual_duration_months(n);
  switch (d.analysis) {
    case Analysis::kExactBinomial: {
      out.reject = responders[1] >= critical_count;
      out.reject_null = with_null && responders_null[1] >= critical_count;
      break;
    }
    case Analysis::kSimon:
      out.stopped = stage1 <= simon_.r1;
      out.reject = !out.stopped && responders[1] > simon_.r;
      out.stopped_null = stage1_null <= simon_.r1;
      out.reject_null = with_null && !out.stopped_null && responders_null[1] > simon_.r;
      if (out.stopped) accrual *= static_cast<double>(simon_.n1) / static_cast<double>(simon_.n);
      break;
    case Analysis::kFisher:
    case Analysis::kChiSquare: {
      const bool fisher = d.analysis == Analysis::kFisher;
      auto test = [&](const int* r) {
        return fisher ? design::fisher_exact(r[0], nc, r[1], ne)
                      : design::chi_square(r[0], nc, r[1], ne, d.continuity_correction);
      };
      const design::TestResult alt = test(responders);
      out.reject = rejects(alt, d.sides, d.alpha, true);
      out.undefined = std::isnan(d.sides == 1 ? alt.p_one_sided : alt.p_two_sided);
      out.reject_null = with_null && rejects(test(responders_null), d.sides, d.alpha, false);
      break;
    }
    default: throw Error("rate replicate for a time-to-event analysis");
  }
  out.analysed = static_cast<std::int32_t>(out.stopped ? simon_.n1 : n);
  out.duration_months = accrual + *d.conduct.followup_months;
}

// Analyses one hypothesis of a time-to-event replicate: the analysis time (fixed follow-up or the
// D-th event), who is enrolled by then, each patient's observed time, and the test.
bool ReplicateEngine::analyse_times(const std::vector<double>& event_times,
                                    const std::vector<double>& censor, double accrual_months,
                                    Scratch& s, bool directional, ReplicateOutcome& out) const {
  const Design& d = design_;
  const std::size_t n = event_times.size();
  double analysis_months = 0.0;
  bool reached = true;
  if (d.conduct.followup_months) {
    analysis_months = accrual_months + *d.conduct.followup_months;
  } else {
    s.calendar.clear();
    // A cured patient (event time +infinity) never has the event, even with no censoring.
    for (std::size_t i = 0; i < n; ++i)
      if (event_times[i] < kInf && event_times[i] <= censor[i])
        s.calendar.push_back(s.entry[i] + event_times[i]);
    const auto target = static_cast<std::size_t>(*d.conduct.events);
    if (s.calendar.size() >= target) {
      analysis_months = kth_smallest(s.calendar, target - 1, s.counts, s.bucket);
    } else {
      // Never reached: the analysis waits for every event there will be.
      reached = false;
      analysis_months = accrual_months;
      for (const double t : s.calendar) analysis_months = std::max(analysis_months, t);
    }
  }
  s.observations.clear();
  std::int32_t events = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (s.entry[i] >= analysis_months) continue;  // not yet enrolled
    // Compared on the calendar, as the D-th event time was computed, so that event is counted.
    const bool event = event_times[i] < kInf && event_times[i] <= censor[i] &&
                       s.entry[i] + event_times[i] <= analysis_months;
    const double time = event ? event_times[i] : std::min(censor[i], analysis_months - s.entry[i]);
    s.observations.push_back({time, event, s.arm[i]});
    events += event;
  }
  sort_by_time(s.observations, s.sorted, s.counts);
  design::TestResult r;
  switch (d.analysis) {
    case Analysis::kLogrank: r = design::weighted_logrank(s.observations, 0.0, 0.0); break;
    case Analysis::kRmst: r = design::rmst_difference(s.observations, d.tau_months); break;
    case Analysis::kMilestone:
      r = design::milestone_difference(s.observations, d.milestone_months);
      break;
    case Analysis::kMaxCombo: {
      const design::MaxComboResult m = design::maxcombo(s.observations);
      r.z = m.z_max;
      r.p_one_sided = m.p_one_sided;
      break;
    }
    default: throw Error("time-to-event replicate for a rate analysis");
  }
  if (directional) {
    out.undefined = std::isnan(d.sides == 1 ? r.p_one_sided : r.p_two_sided);
    out.events = events;
    out.analysed = static_cast<std::int32_t>(s.observations.size());
    out.duration_months = analysis_months;
    out.reached = reached;
  }
  return rejects(r, d.sides, d.alpha, directional);
}

void ReplicateEngine::time_replicate(std::int64_t n, std::uint64_t index, bool with_null,
                                     Scratch& s, ReplicateOutcome& out) const {
  const Design& d = design_;
  Stream stream(d.seed, index, static_cast<std::uint32_t>(n), Purpose::kTrialDesign);
  // Ziggurat (Marsaglia & Tsang, J Stat Softw 2000) as Boost implements it: Exp(1) draws without
  // a logarithm; every survival model is sampled by inverting its cumulative hazard at one.
  boost::random::exponential_distribution<double> unit_exponential(1.0);
  const auto [n_control, n_experimental] = d.arm_sizes(n);
  const double accrual = d.conduct.accrual_duration_months(n);
  const auto size = static_cast<std::size_t>(n);
  s.arm.resize(size);
  s.entry.resize(size);
  s.time_alt.resize(size);
  s.censor_alt.resize(size);
  s.time_null.resize(size);
  s.censor_null.resize(size);
  const bool even = d.conduct.entry == Entry::kEven;
  if (even && s.pattern_n != n) {
    // Patients enter in order at i * accrual / n and the arms follow the allocation pattern:
    // patient i (1-based) is experimental when round(i k) > round((i - 1) k), k = n_E / n, the
    // most even spread of the fixed counts (1:1 alternates, as rpact allocates). Patients are
    // i.i.d. draws, so a fixed pattern is a permuted-block randomisation.
    const double share = static_cast<double>(n_experimental) / static_cast<double>(n);
    const double per_patient = accrual / static_cast<double>(n);
    std::int64_t before = 0;
    for (std::size_t i = 0; i < size; ++i) {
      const auto upto = static_cast<std::int64_t>(std::llround(static_cast<double>(i + 1) * share));
      s.arm[i] = upto > before ? 1 : 0;
      before = upto;
      s.entry[i] = per_patient * static_cast<double>(i + 1);
    }
    s.pattern_n = n;
  } else if (!even) {
    // I.i.d. uniform entry: the order of patients carries no information, so the first n_C are
    // the control arm.
    for (std::size_t i = 0; i < size; ++i) {
      s.arm[i] = static_cast<std::int64_t>(i) < n_control ? 0 : 1;
      s.entry[i] = accrual * stream.uniform_open();
    }
    s.pattern_n = -1;
  }
  const double dropout = dropout_hazard_per_month_;
  for (std::size_t i = 0; i < size; ++i) {
    const int arm = s.arm[i];
    if (d.mode == Mode::kParametric) {
      const double e = unit_exponential(stream);
      const double control_time = d.control_model.time_from_exponential(e);
      s.time_null[i] = control_time;
      s.time_alt[i] = arm == 1 ? d.experimental_model.time_from_exponential(e) : control_time;
      s.censor_alt[i] = s.censor_null[i] = kInf;
    } else {
      const PoolPatient& p = pool_->patients[subset_[draw_index(stream, subset_.size())]];
      const PoolOutcome& o = arm == 1 ? p.experimental : p.control;
      s.time_alt[i] = o.event ? o.time_months : kInf;
      s.censor_alt[i] = o.event ? kInf : o.time_months;
      s.time_null[i] = p.control.event ? p.control.time_months : kInf;
      s.censor_null[i] = p.control.event ? kInf : p.control.time_months;
    }
    if (dropout > 0.0) {
      const double leaves = unit_exponential(stream) / dropout;
      s.censor_alt[i] = std::min(s.censor_alt[i], leaves);
      s.censor_null[i] = std::min(s.censor_null[i], leaves);
    }
  }
  out.reject = analyse_times(s.time_alt, s.censor_alt, accrual, s, true, out);
  if (with_null)
    out.reject_null = analyse_times(s.time_null, s.censor_null, accrual, s, false, out);
}

ReplicateOutcome ReplicateEngine::replicate(std::int64_t n, std::uint64_t index,
                                            bool with_null) const {
  Scratch s;
  ReplicateOutcome out;
  if (is_rate(design_.endpoint)) rate_replicate(n, index, with_null, critical(n), out);
  else time_replicate(n, index, with_null, s, out);
  return out;
}

void ReplicateEngine::run_local(std::int64_t n, std::uint64_t first, std::uint64_t count,
                                bool with_null, int threads,
                                std::vector<ReplicateOutcome>& out) const {
  out.assign(count, ReplicateOutcome{});
  const bool rate = is_rate(design_.endpoint);
  const int critical_value = critical(n);
  parallel_ranges(count, threads, 8, [&](std::uint64_t begin, std::uint64_t end) {
    // Per-thread scratch, reused across calls: it holds no result, only buffers.
    thread_local Scratch s;
    for (std::uint64_t k = begin; k != end; ++k) {
      try {
        if (rate) rate_replicate(n, first + k, with_null, critical_value, out[k]);
        else time_replicate(n, first + k, with_null, s, out[k]);
      } catch (...) {
        out[k] = ReplicateOutcome{};
        out[k].failed = true;
      }
    }
  });
}

void ReplicateEngine::run(std::int64_t n, std::uint64_t first, std::uint64_t count, bool with_null,
                          int threads, std::vector<ReplicateOutcome>& out) const {
  Cluster& cluster = *cluster_;
  if (cluster.size() == 1) {
    run_local(n, first, count, with_null, threads, out);
  } else {
    const auto [begin, end] = cluster_slice(count, cluster.rank(), cluster.size());
    std::vector<ReplicateOutcome> mine;
    std::vector<std::byte> bytes;
    std::exception_ptr failure;
    try {
      run_local(n, first + begin, end - begin, with_null, threads, mine);
      bytes = encode_outcomes(mine);
    } catch (...) {
      failure = std::current_exception();  // e.g. out of memory: no rank may wait for this one
    }
    agree_on_failure(cluster, failure);
    // Slices are contiguous and gathered in rank order: the concatenation is replicates
    // first .. first + count - 1 in index order, exactly what one process computes.
    decode_outcomes(cluster.allgather(bytes), count, out);
  }
  // The lowest failing replicate, re-run alone, reports its own error: the same at any thread
  // count, and, as every rank holds every outcome, on every rank.
  for (std::uint64_t k = 0; k < count; ++k) {
    if (!out[k].failed) continue;
    try {
      replicate(n, first + k, with_null);
      throw SimulationError(fmt::format("replicate {} at n = {} failed", first + k, n));
    } catch (...) {
      fail_everywhere(cluster, std::current_exception());
    }
  }
}

PointResult ReplicateEngine::estimate(std::int64_t n, bool with_null, int threads,
                                      const std::function<void(std::uint64_t)>& progress) const {
  const ReplicateSettings& settings = design_.replicates;
  const bool simon = design_.analysis == Analysis::kSimon;
  PointAccumulator acc;
  std::vector<ReplicateOutcome> batch;
  std::uint64_t done = 0;
  while (done < settings.max) {
    std::uint64_t next = std::max(done + settings.batch, settings.min);
    next = std::min(next, settings.max);
    run(n, done, next - done, with_null, threads, batch);
    for (const ReplicateOutcome& r : batch) acc.add(r, with_null, simon, simon_.n1, n);
    done = next;
    if (progress) progress(done);
    if (done >= settings.min && acc.power_mcse() <= settings.target_mcse &&
        (!with_null || acc.type1_mcse() <= settings.target_mcse))
      break;
  }
  const auto [nc, ne] = is_single_arm(design_.analysis)
                            ? std::pair<std::int64_t, std::int64_t>{0, n}
                            : design_.arm_sizes(n);
  return acc.result(n, nc, ne, with_null, simon, !is_rate(design_.endpoint),
                    design_.conduct.events.has_value());
}

PointResult ReplicateEngine::estimate_fixed(std::int64_t n, std::uint64_t replicates,
                                            bool with_null, int threads) const {
  std::vector<ReplicateOutcome> all;
  run(n, 0, replicates, with_null, threads, all);
  PointAccumulator acc;
  const bool simon = design_.analysis == Analysis::kSimon;
  for (const ReplicateOutcome& r : all) acc.add(r, with_null, simon, simon_.n1, n);
  const auto [nc, ne] = is_single_arm(design_.analysis)
                            ? std::pair<std::int64_t, std::int64_t>{0, n}
                            : design_.arm_sizes(n);
  return acc.result(n, nc, ne, with_null, simon, !is_rate(design_.endpoint),
                    design_.conduct.events.has_value());
}

// ---- Reduction ----------------------------------------------------------------------------------

void PointAccumulator::add(const ReplicateOutcome& r, bool with_null, bool simon, std::int64_t n1,
                           std::int64_t n) {
  ++count_;
  reject_ += r.reject;
  undefined_ += r.undefined;
  if (with_null) reject_null_ += r.reject_null;
  not_reached_ += !r.reached;
  const double events = r.events, analysed = r.analysed;
  events_ += events;
  events2_ += events * events;
  duration_ += r.duration_months;
  duration2_ += r.duration_months * r.duration_months;
  analysed_ += analysed;
  analysed2_ += analysed * analysed;
  if (simon) {
    stopped_ += r.stopped;
    stopped_null_ += r.stopped_null;
    const double used = static_cast<double>(r.stopped ? n1 : n);
    const double used_null = static_cast<double>(r.stopped_null ? n1 : n);
    used_ += used;
    used2_ += used * used;
    used_null_ += used_null;
    used_null2_ += used_null * used_null;
  }
}

namespace {

MeanSe mean_se(double sum, double sum2, std::uint64_t count) {
  if (count == 0) return {};
  const double k = static_cast<double>(count);
  const double mean = sum / k;
  if (count < 2) return {mean, kNaN};
  const double variance = std::max(0.0, (sum2 - k * mean * mean) / (k - 1.0));
  return {mean, std::sqrt(variance / k)};
}

double binomial_mcse(std::uint64_t successes, std::uint64_t trials) {
  if (trials == 0) return kNaN;
  const double p = static_cast<double>(successes) / static_cast<double>(trials);
  return std::sqrt(p * (1.0 - p) / static_cast<double>(trials));
}

}  // namespace

double PointAccumulator::power_mcse() const { return binomial_mcse(reject_, count_); }
double PointAccumulator::type1_mcse() const { return binomial_mcse(reject_null_, count_); }

PointResult PointAccumulator::result(std::int64_t n, std::int64_t n_control,
                                     std::int64_t n_experimental, bool with_null, bool simon,
                                     bool time_to_event, bool event_driven) const {
  PointResult p;
  p.n = n;
  p.n_control = n_control;
  p.n_experimental = n_experimental;
  p.replicates = count_;
  p.rejections = reject_;
  const double k = static_cast<double>(count_);
  p.power = static_cast<double>(reject_) / k;
  p.power_mcse = power_mcse();
  if (with_null) {
    p.null_rejections = reject_null_;
    p.type1_error = static_cast<double>(reject_null_) / k;
    p.type1_mcse = type1_mcse();
  }
  p.duration_months = mean_se(duration_, duration2_, count_);
  p.analysed = mean_se(analysed_, analysed2_, count_);
  if (time_to_event) p.events = mean_se(events_, events2_, count_);
  if (event_driven) p.events_not_reached = static_cast<double>(not_reached_) / k;
  p.test_undefined = static_cast<double>(undefined_) / k;
  if (simon) {
    p.pet = static_cast<double>(stopped_) / k;
    p.expected_n = mean_se(used_, used2_, count_);
    if (with_null) {
      p.pet_p0 = static_cast<double>(stopped_null_) / k;
      p.expected_n_p0 = mean_se(used_null_, used_null2_, count_);
    }
  }
  return p;
}

}  // namespace vpgen::trial_design::detail
