#include "vpgen/run/simulate_run.hpp"

#include "vpgen/run/provenance.hpp"
#include "vpgen/config/scenario_loader.hpp"
#include "vpgen/population/error.hpp"
#include "vpgen/storage/database.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string_view>

namespace vpgen {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The run to resume, checked against the request: the same scenario files (fingerprint), seed,
// cohort size and shard, an incomplete or failed status, and stored patients first .. first + k - 1
// of its range. A failed run is resumable: it failed at a block (a full disk, a lock held too long,
// a patient that could not be simulated) and each block is stored whole or not at all, so what it
// holds is a prefix like an interrupted run's. Returns the first patient still to simulate.
std::uint64_t check_resumable(const SimulateRequest& request, const Scenario& scenario,
                              const RunInfo& info) {
  const std::int64_t id = info.id;
  const RunProvenance& p = info.provenance;
  if (info.status != "incomplete" && info.status != "failed")
    throw InputError(fmt::format(
        "--resume {}: run {} in {} is {}; only an incomplete or failed run can be resumed", id, id,
        request.db, info.status));
  const std::string fingerprint = config::fingerprint(scenario.source_text);
  if (fingerprint != p.scenario_hash)
    throw InputError(fmt::format(
        "--resume {}: {} is not the scenario of run {} (fingerprint {}, the run's {}): resume "
        "with the same files, unchanged",
        id, request.scenario, id, fingerprint, p.scenario_hash));
  if (request.seed && *request.seed != p.seed)
    throw InputError(fmt::format("--resume {}: --seed {} differs from the run's seed {}", id,
                                 *request.seed, p.seed));
  if (request.patients && *request.patients != p.patients)
    throw InputError(fmt::format("--resume {}: --patients {} differs from the run's {}", id,
                                 *request.patients, p.patients));
  if (request.shard) {
    const ShardSpec shard = parse_shard(*request.shard, p.patients);
    if (shard.index != p.shard_index || shard.count != p.shard_count)
      throw InputError(fmt::format("--resume {}: --shard {} differs from the run's shard {}/{}", id,
                                   *request.shard, p.shard_index, p.shard_count));
  }
  // Blocks are committed whole and in patient order, so a run vpgen wrote holds first .. k - 1.
  const std::uint64_t end = p.first_patient + info.patients_stored;
  if (info.patients_stored > 0 && info.patient_index_end != end)
    throw StorageError(fmt::format(
        "--resume {}: run {} holds {} patients but not {}..{}: not a run vpgen wrote block by "
        "block",
        id, id, info.patients_stored, p.first_patient, end - 1));
  return end;
}

// Test hook, not a feature: with VPGEN_TEST_KILL_AFTER_BLOCK=k in its environment the process
// SIGKILLs itself right after its k-th block is committed (k = 0: once the run is recorded, before
// any block), so tests of interrupted runs stop a run at a chosen point instead of racing a sleep
// (tests/cli/cli_test.cpp, tests/run/shard_test.cpp). Without the variable nothing changes.
void arm_test_kill_hook(RunOptions& options) {
  const char* text = std::getenv("VPGEN_TEST_KILL_AFTER_BLOCK");
  if (text == nullptr) return;
  std::uint64_t blocks = 0;
  const std::string_view value(text);
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), blocks);
  if (ec != std::errc() || end != value.data() + value.size() || value.empty())
    throw InputError(fmt::format("VPGEN_TEST_KILL_AFTER_BLOCK={}: expected a block count", value));
  if (blocks == 0) ::kill(::getpid(), SIGKILL);
  options.on_progress = [progress = options.on_progress, blocks,
                         written = std::uint64_t{0}](const Progress& p) mutable {
    if (progress) progress(p);
    if (++written == blocks) ::kill(::getpid(), SIGKILL);
  };
}

// Creates `path` empty and exclusively: true if this process made it (and so may remove it), false
// if it exists (or cannot be made: opening it reports why).
bool create_new_file(const std::string& path) {
  if (path == ":memory:") return false;  // SQLite's name for a database that is no file
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

// Removes a file this process created when it holds no run (its schema creation, or the first
// run's start, failed: e.g. a full disk), so that a failed `simulate` into a new file leaves no
// file that looks like a results database. A file another process has written a run into
// meanwhile is kept.
void remove_if_runless(const std::string& path) {
  bool holds_runs = false;
  try {
    sql::Database db(path, sql::OpenMode::kReadOnly);
    sql::Statement has_table(
        db, "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'runs'");
    if (has_table.step() && has_table.column_int64(0) > 0) {
      has_table.reset();
      sql::Statement any(db, "SELECT EXISTS (SELECT 1 FROM runs)");
      holds_runs = any.step() && any.column_int64(0) != 0;
    }
  } catch (const Error&) {
    // Unreadable: not a results file with runs (this process made it moments ago).
  }
  if (holds_runs) return;
  std::error_code ignored;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"})
    std::filesystem::remove(path + suffix, ignored);
}

// `e` with what happened to run `run_id`, and how to finish it: a failure while storing (a full
// disk, a lock held too long) leaves the blocks stored before it, which --resume completes.
StorageError with_resume_hint(const StorageError& e, ResultStore& store, const std::string& db,
                              const std::string& scenario, std::int64_t run_id) {
  std::string kept;
  try {
    const RunInfo info = store.run_info(run_id);
    kept = fmt::format("run {} is {} with {} of its {} patients stored", run_id, info.status,
                       info.patients_stored,
                       info.provenance.end_patient - info.provenance.first_patient);
  } catch (const Error&) {
    kept = fmt::format("run {} keeps the patients stored before the failure", run_id);
  }
  return StorageError(fmt::format(
      "{}; {}: once the cause is gone, `vpgen simulate {} --db {} --resume {}` finishes it",
      e.what(), kept, scenario, db, run_id));
}

}  // namespace

ShardSpec parse_shard(const std::string& text, std::uint64_t patients) {
  const auto slash = text.find('/');
  ShardSpec shard;
  const auto parse = [&](std::string_view part, std::uint64_t& value) {
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    return ec == std::errc() && end == part.data() + part.size() && !part.empty();
  };
  if (slash == std::string::npos || !parse(std::string_view(text).substr(0, slash), shard.index) ||
      !parse(std::string_view(text).substr(slash + 1), shard.count) || shard.count == 0 ||
      shard.index >= shard.count)
    throw InputError(fmt::format(
        "--shard {}: expected K/N with 0 <= K < N, shards numbered from 0 (e.g. --shard 3/64 is "
        "the fourth of 64; a Slurm array --array=0-63 passes $SLURM_ARRAY_TASK_ID/64)",
        text));
  if (shard.count > patients || shard.count > kMaxShards)
    throw InputError(
        fmt::format("--shard {}: {} shards for {} patients; at most one shard per "
                    "patient (and {})",
                    text, shard.count, patients, kMaxShards));
  return shard;
}

void fill_run(const Simulator& simulator, ResultStore& store, std::int64_t run_id,
              const RunOptions& options) {
  const auto start = Clock::now();
  try {
    RunWriter writer(store, run_id, simulator.scenario().store_events);
    run_cohort(simulator, options, writer);
  } catch (...) {
    try {
      store.finish_run(run_id, false, seconds_since(start));
    } catch (...) {
      // The run stays 'incomplete'; the original error is the one to report.
    }
    throw;
  }
  store.finish_run(run_id, true, seconds_since(start));
}

std::int64_t simulate_run(const SimulateRequest& request) {
  Scenario scenario = config::load_scenario(request.scenario);
  const std::uint64_t seed = request.seed.value_or(scenario.seed);
  const std::uint64_t patients = request.patients.value_or(scenario.patients);
  if (seed > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    throw InputError(fmt::format("--seed {}: must be below 2^63", seed));
  if (patients == 0) throw InputError("--patients: must be at least 1");
  const int threads = resolve_threads(request.threads);

  std::int64_t run_id = 0;
  RunOptions options;
  options.threads = threads;
  options.block_size = request.block_size;
  options.on_progress = request.on_progress;
  std::optional<ResultStore> opened;
  if (request.resume) {
    // Never creates or converts a file: an empty or foreign one is refused unchanged.
    opened.emplace(request.db, ResultStore::Access::kWriteExisting);
    const RunInfo info = opened->run_info(*request.resume);
    options.first_patient = check_resumable(request, scenario, info);
    options.seed = info.provenance.seed;
    options.patients = info.provenance.end_patient - options.first_patient;
    run_id = info.id;
  }
  const Simulator simulator(std::move(scenario));
  if (!request.resume) {
    RunProvenance provenance =
        make_provenance(simulator.scenario(), seed, patients, threads, request.block_size);
    PatientRange range{0, patients};
    if (request.shard) {
      const ShardSpec shard = parse_shard(*request.shard, patients);
      range = shard_range(patients, shard.index, shard.count);
      provenance.first_patient = range.first;
      provenance.end_patient = range.end;
      provenance.shard_index = shard.index;
      provenance.shard_count = shard.count;
    }
    // A new file that never gets its run is removed (only if this process created it).
    const bool created = create_new_file(request.db);
    try {
      opened.emplace(request.db);
      run_id = opened->begin_run(provenance);
    } catch (...) {
      opened.reset();
      if (created) remove_if_runless(request.db);
      throw;
    }
    options.seed = seed;
    options.first_patient = range.first;
    options.patients = range.end - range.first;
  }
  arm_test_kill_hook(options);
  if (request.resume) opened->reopen_run(run_id);  // a failed run becomes incomplete again
  try {
    fill_run(simulator, *opened, run_id, options);
  } catch (const StorageError& e) {
    throw with_resume_hint(e, *opened, request.db, request.scenario, run_id);
  }
  return run_id;
}

namespace {

// Rank r's shard file of an N-rank run into `db`.
std::string rank_shard_path(const std::string& db, int rank, int ranks) {
  return fmt::format("{}.shards/shard-{:05}-of-{:05}.db", db, rank, ranks);
}

// Simulates this rank's shard into `path`: a new run, or the rest of the incomplete run a killed
// attempt left there; a complete one is kept as it is.
void simulate_rank_shard(const SimulateRequest& request, const std::string& path, int rank,
                         int ranks) {
  namespace fs = std::filesystem;
  SimulateRequest shard_request = request;
  shard_request.db = path;
  shard_request.shard = fmt::format("{}/{}", rank, ranks);
  if (rank != 0) shard_request.on_progress = {};
  if (fs::exists(path)) {
    std::vector<RunInfo> runs;
    {
      ResultStore store(path);
      runs = store.list_runs();
    }
    const Scenario scenario = config::load_scenario(request.scenario);
    const bool ours =
        runs.size() == 1 &&
        runs.front().provenance.shard_index == static_cast<std::uint64_t>(rank) &&
        runs.front().provenance.shard_count == static_cast<std::uint64_t>(ranks) &&
        runs.front().provenance.scenario_hash == config::fingerprint(scenario.source_text) &&
        runs.front().provenance.seed == request.seed.value_or(scenario.seed) &&
        runs.front().provenance.patients == request.patients.value_or(scenario.patients);
    if (!ours)
      throw InputError(fmt::format(
          "{} is a shard of another run (other scenario, seed, size or rank count); remove {}.shards "
          "or choose another --db",
          path, request.db));
    if (runs.front().status == "complete") return;
    if (runs.front().status == "incomplete") {
      shard_request.resume = runs.front().id;
      simulate_run(shard_request);
      return;
    }
    fs::remove(path);  // failed: simulated again from its first patient
    for (const char* suffix : {"-wal", "-shm"}) fs::remove(path + suffix);
  }
  simulate_run(shard_request);
}

}  // namespace

std::int64_t simulate_collectively(const SimulateRequest& request, Cluster& cluster) {
  if (cluster.size() == 1) return simulate_run(request);
  const int rank = cluster.rank(), ranks = cluster.size();
  std::exception_ptr failure;
  try {
    if (request.shard)
      throw InputError("--shard: an MPI run shards by rank itself; use --shard without mpirun");
    if (request.resume)
      throw InputError(
          "--resume: under MPI, run the same command again: each rank resumes its "
          "own shard");
    std::filesystem::create_directories(request.db + ".shards");
    simulate_rank_shard(request, rank_shard_path(request.db, rank, ranks), rank, ranks);
  } catch (...) {
    failure = std::current_exception();
  }
  try {
    agree_on_failure(cluster, failure);
  } catch (const ClusterFailure& e) {
    throw ClusterFailure(
        fmt::format("{}; the run is incomplete: the shards done are kept in {}.shards, "
                    "and the same command, run again, finishes it",
                    e.what(), request.db),
        e.failed_rank(), e.input_error());
  }
  std::int64_t run_id = 0;
  failure = nullptr;
  if (rank == 0) {
    try {
      std::vector<std::string> paths;
      for (int r = 0; r < ranks; ++r) paths.push_back(rank_shard_path(request.db, r, ranks));
      run_id = merge_files(request.db, paths).run_id;
      std::error_code ignored;
      std::filesystem::remove_all(request.db + ".shards", ignored);
    } catch (...) {
      failure = std::current_exception();
    }
  }
  agree_on_failure(cluster, failure);
  return run_id;
}

namespace {

// The temporary a merge into `into` builds: `into`.merging-PID, beside it (same file system, so
// the final link is atomic).
std::string merge_temporary(const std::string& into, long pid) {
  return fmt::format("{}.merging-{}", into, pid);
}

void remove_database_files(const std::string& path) {
  std::error_code ignored;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"})
    std::filesystem::remove(path + suffix, ignored);
}

// Removes the temporaries of merges into `into` that were killed: `into`.merging-PID (with its
// -wal, -shm, -journal) whose PID is no running process, or is this process (which has not made
// its own yet). A live PID is left alone, even if it was reused by another program: the cost is a
// leftover, never a file removed under a running merge. (PIDs are those of this machine: a merge
// from another host into a shared folder is not told apart.)
void remove_stale_merge_temporaries(const std::string& into) {
  namespace fs = std::filesystem;
  const fs::path target(into);
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = target.filename().string() + ".merging-";
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(folder, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string_view digits = std::string_view(name).substr(prefix.size());
    long pid = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
    if (ec != std::errc() || end != digits.data() + digits.size() || pid <= 0) continue;
    if (pid != ::getpid() && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH)) continue;
    remove_database_files(merge_temporary(into, pid));
  }
}

// Creates `path` empty, exclusively and without following a link planted at its name.
void create_exclusive(const std::string& path) {
  const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0)
    throw InputError(fmt::format("{}: cannot create the merge's temporary file: {}", path,
                                 std::strerror(errno)));
  ::close(fd);
}

// Test hook, not a feature: with VPGEN_TEST_KILL_AFTER_SHARD=k in its environment a merge
// SIGKILLs itself right after its k-th shard is copied (tests/run/shard_test.cpp).
std::function<void(const MergeProgress&)> with_merge_kill_hook(
    std::function<void(const MergeProgress&)> progress) {
  const char* text = std::getenv("VPGEN_TEST_KILL_AFTER_SHARD");
  if (text == nullptr) return progress;
  std::uint64_t shards = 0;
  const std::string_view value(text);
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), shards);
  if (ec != std::errc() || end != value.data() + value.size() || value.empty())
    throw InputError(fmt::format("VPGEN_TEST_KILL_AFTER_SHARD={}: expected a shard count", value));
  return [progress = std::move(progress), shards](const MergeProgress& p) {
    if (progress) progress(p);
    if (p.shards_done == shards) ::kill(::getpid(), SIGKILL);
  };
}

}  // namespace

MergeSummary merge_files(const std::string& into, const std::vector<std::string>& shard_paths,
                         const std::function<void(const MergeProgress&)>& progress) {
  namespace fs = std::filesystem;
  const auto start = Clock::now();
  const std::vector<ShardFile> shards = check_shards(shard_paths);
  for (const ShardFile& shard : shards)
    if (fs::exists(into) && fs::equivalent(shard.path, into))
      throw InputError(fmt::format("--into {} is one of the shards", into));
  MergeSummary summary;
  summary.into = into;
  summary.shards = shards.size();
  // Always built in a new temporary beside the target, then put in place in one step: linked to a
  // new name (which fails rather than replace a file made meanwhile), or copied into an existing
  // file in one transaction. A merge killed at any point leaves its temporary, which the next
  // merge into the same target removes, and never a partial run in the target.
  remove_stale_merge_temporaries(into);
  const std::string partial = merge_temporary(into, ::getpid());
  create_exclusive(partial);
  try {
    {
      ResultStore store(partial);
      const MergeResult result = merge_shards(store, shards, with_merge_kill_hook(progress));
      summary.run_id = result.run_id;
      summary.patients = result.patients;
      summary.rows = result.rows;
    }  // the store closes: the WAL is checkpointed into the file and removed
    // link() fails rather than replace a file made meanwhile (EEXIST), and on file systems
    // without hard links: then the run is copied, in one transaction, into the file as it is or
    // as ResultStore creates it.
    if (::link(partial.c_str(), into.c_str()) != 0) {
      ResultStore store(into);
      summary.run_id = copy_run(store, partial, summary.run_id);
    }
    remove_database_files(partial);
  } catch (...) {
    remove_database_files(partial);
    throw;
  }
  summary.seconds = seconds_since(start);
  return summary;
}

nlohmann::json merge_json(const MergeSummary& summary) {
  return {{"into", summary.into},
          {"run_id", summary.run_id},
          {"patients", summary.patients},
          {"shards", summary.shards},
          {"rows_copied", summary.rows},
          {"seconds", summary.seconds},
          {"rows_per_second",
           summary.seconds > 0 ? static_cast<double>(summary.rows) / summary.seconds : 0.0}};
}

std::string merge_text(const MergeSummary& summary) {
  return fmt::format(
      "merged {} shards into run {} of {}: {} patients, {} rows copied in {:.1f} s ({:.0f} "
      "rows/s)\n",
      summary.shards, summary.run_id, summary.into, summary.patients, summary.rows, summary.seconds,
      summary.seconds > 0 ? static_cast<double>(summary.rows) / summary.seconds : 0.0);
}

}  // namespace vpgen
