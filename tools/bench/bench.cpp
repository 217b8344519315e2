// vpgen_bench: speed and memory of the pipeline, measured in one run against the raw limit.
//   (a) the engine alone (a sink that discards), at 1 thread and at --threads;
//   (b) simulate + store end to end into a fresh SQLite file;
//   (c) a plain SQLite insert of the same rows into the same schema (prepared statements, one
//       transaction per block, nothing else) — the raw limit of the writer;
//   (d) peak resident memory of end-to-end runs at two cohort sizes, each in its own process.
// Prints patient-courses per second and the ratios; --format json for machines.
#include "child_process.hpp"
#include "vpgen/run/provenance.hpp"
#include "vpgen/config/scenario_loader.hpp"
#include "vpgen/engine/simulator.hpp"
#include "vpgen/population/error.hpp"
#include "vpgen/storage/database.hpp"
#include "vpgen/storage/result_store.hpp"
#include "vpgen/storage/tables.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <memory>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

class CollectingSink final : public vpgen::OutcomeSink {
 public:
  void write_block(const vpgen::Block& block) override { blocks.push_back(block); }
  std::vector<vpgen::Block> blocks;
};

vpgen::RunOptions options_for(std::uint64_t patients, int threads, std::uint64_t block_size,
                              std::uint64_t seed) {
  vpgen::RunOptions o;
  o.seed = seed;
  o.patients = patients;
  o.threads = threads;
  o.block_size = block_size;
  return o;
}

void remove_db(const fs::path& p) {
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(p.string() + suffix);
}

// (b) Simulate and store. Returns seconds.
double end_to_end(const vpgen::Simulator& simulator, const fs::path& db, std::uint64_t patients,
                  int threads, std::uint64_t block_size, std::uint64_t seed) {
  remove_db(db);
  vpgen::ResultStore store(db.string());
  const auto start = Clock::now();
  const std::int64_t run = store.begin_run(
      vpgen::make_provenance(simulator.scenario(), seed, patients, threads, block_size));
  vpgen::RunWriter writer(store, run, simulator.scenario().store_events);
  vpgen::run_cohort(simulator, options_for(patients, threads, block_size, seed), writer);
  store.finish_run(run, true, seconds_since(start));
  return seconds_since(start);
}

// The rows of one patient, bound through storage's column tables exactly as the writer binds them.
void insert_patient(vpgen::sql::Statement& patient, vpgen::sql::Statement& outcome,
                    vpgen::sql::Statement* event, int event_seq, std::int64_t run,
                    const vpgen::PatientResult& r) {
  const auto index = static_cast<std::int64_t>(r.patient.index);
  patient.bind_int64(1, run);
  vpgen::kPatientsTable.bind(patient, r.patient);
  patient.execute();
  for (const vpgen::Outcome& o : r.outcomes) {
    outcome.bind_int64(1, run);
    outcome.bind_int64(2, index);
    vpgen::kOutcomesTable.bind(outcome, o);
    outcome.execute();
  }
  if (event == nullptr) return;
  std::uint32_t arm = 0;
  std::int64_t seq = 0;
  for (const vpgen::CourseEvent& e : r.events) {
    if (e.arm_index != arm) {
      arm = e.arm_index;
      seq = 0;
    }
    event->bind_int64(1, run);
    event->bind_int64(2, index);
    event->bind_int64(event_seq, seq++);
    vpgen::kEventsTable.bind(*event, e);
    event->execute();
  }
}

// (c) The same rows as plain SQLite inserts: prepared statements of every column the writer
// fills (storage's column tables), one transaction per block, and nothing else (no checks, no
// derived counts). Returns seconds.
double raw_insert(const vpgen::Simulator& simulator, const std::vector<vpgen::Block>& blocks,
                  const fs::path& db_path, std::uint64_t patients, int threads,
                  std::uint64_t block_size, std::uint64_t seed) {
  remove_db(db_path);
  std::int64_t run = 0;
  {
    // The schema and the run's `runs`/`arms` rows, exactly as vpgen makes them.
    vpgen::ResultStore store(db_path.string());
    run = store.begin_run(
        vpgen::make_provenance(simulator.scenario(), seed, patients, threads, block_size));
  }
  vpgen::sql::Database db(db_path.string(), vpgen::sql::OpenMode::kReadWrite);
  db.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
             "raw insert: pragmas");
  vpgen::sql::Statement patient(db, vpgen::kPatientsTable.insert_sql(), "raw insert: patients");
  vpgen::sql::Statement outcome(db, vpgen::kOutcomesTable.insert_sql(), "raw insert: outcomes");
  vpgen::sql::Statement event(db, vpgen::kEventsTable.insert_sql(), "raw insert: events");
  const int event_seq = vpgen::kEventsTable.parameter("seq");
  const bool events = simulator.scenario().store_events;
  const auto start = Clock::now();
  for (const vpgen::Block& block : blocks) {
    vpgen::sql::Transaction transaction(db);
    for (const vpgen::PatientResult& r : block.results)
      insert_patient(patient, outcome, events ? &event : nullptr, event_seq, run, r);
    transaction.commit();
  }
  return seconds_since(start);
}

// (d) Peak RSS (MiB) of an end-to-end run in a child process.
double peak_rss_mib(const vpgen::Simulator& simulator, const fs::path& db, std::uint64_t patients,
                    int threads, std::uint64_t block_size, std::uint64_t seed) {
  return vpgen::peak_rss_of_child_mib(
      [&] { end_to_end(simulator, db, patients, threads, block_size, seed); },
      "the memory-measurement run");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vpgen_bench: engine, end-to-end and raw-SQLite throughput, and peak memory"};
  std::string scenario_path = "configs/default.toml";
  std::uint64_t patients = 100'000;
  int threads = 2;
  std::uint64_t block_size = 2048;
  std::uint64_t seed = 1;
  std::string format = "text";
  std::string dir = fs::temp_directory_path().string();
  bool engine_only = false;
  int repeat = 3;
  app.add_option("--scenario", scenario_path, "Scenario file")->capture_default_str();
  app.add_option("--patients", patients, "Cohort size of (a)-(c)")->capture_default_str();
  app.add_option("--threads", threads, "Threads for the parallel runs")->capture_default_str();
  app.add_option("--block-size", block_size, "Patients per block")->capture_default_str();
  app.add_option("--seed", seed, "Seed")->capture_default_str();
  app.add_option("--dir", dir, "Folder for the temporary databases")->capture_default_str();
  app.add_option("--format", format, "text or json")->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--engine-only", engine_only, "Measure (a) only");
  app.add_option("--repeat", repeat, "Alternating repetitions of (a); the fastest counts")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  try {
    const vpgen::Simulator simulator(vpgen::config::load_scenario(scenario_path));
    const auto arms = simulator.scenario().arms.size();
    const fs::path db = fs::path(dir) / fmt::format("vpgen_bench_{}.db", ::getpid());

    const double n = static_cast<double>(patients);
    const double courses = n * static_cast<double>(arms);

    // (a) engine alone. This machine's speed drifts (shared virtual CPUs), so 1-thread and
    // n-thread runs alternate `repeat` times and the fastest of each is kept.
    vpgen::NullSink null_sink;
    double engine_1 = std::numeric_limits<double>::infinity();
    double engine_n = engine_1;
    for (int r = 0; r < repeat; ++r) {
      auto start = Clock::now();
      vpgen::run_cohort(simulator, options_for(patients, 1, block_size, seed), null_sink);
      engine_1 = std::min(engine_1, seconds_since(start));
      start = Clock::now();
      vpgen::run_cohort(simulator, options_for(patients, threads, block_size, seed), null_sink);
      engine_n = std::min(engine_n, seconds_since(start));
    }
    if (engine_only) {
      fmt::print(
          "engine alone: 1 thread {:.0f} courses/s, {} threads {:.0f} courses/s, "
          "speed-up x{:.2f}\n",
          courses / engine_1, threads, courses / engine_n, engine_1 / engine_n);
      return 0;
    }

    // (d) in child processes, before this process holds any cohort.
    const std::uint64_t small = std::max<std::uint64_t>(patients / 4, block_size);
    const double rss_small = peak_rss_mib(simulator, db, small, threads, block_size, seed);
    const double rss_large = peak_rss_mib(simulator, db, patients, threads, block_size, seed);

    // (b) end to end.
    const double e2e = end_to_end(simulator, db, patients, threads, block_size, seed);
    const auto db_bytes =
        fs::file_size(db) +
        (fs::exists(db.string() + "-wal") ? fs::file_size(db.string() + "-wal") : 0);

    // (c) raw insert of the same rows.
    CollectingSink collected;
    vpgen::run_cohort(simulator, options_for(patients, threads, block_size, seed), collected);
    std::uint64_t event_rows = 0;
    for (const auto& b : collected.blocks)
      for (const auto& r : b.results) event_rows += r.events.size();
    const double raw =
        raw_insert(simulator, collected.blocks, db, patients, threads, block_size, seed);
    remove_db(db);

    nlohmann::json out = {
        {"scenario", simulator.scenario().name},
        {"patients", patients},
        {"arms", arms},
        {"threads", threads},
        {"block_size", block_size},
        {"rows_per_patient",
         {{"patients", 1}, {"outcomes", arms}, {"events", static_cast<double>(event_rows) / n}}},
        {"engine_1_thread_courses_per_s", courses / engine_1},
        {"engine_n_threads_courses_per_s", courses / engine_n},
        {"engine_speedup", engine_1 / engine_n},
        {"end_to_end_courses_per_s", courses / e2e},
        {"raw_insert_courses_per_s", courses / raw},
        {"end_to_end_over_raw_insert", raw / e2e},
        {"db_bytes_per_patient", static_cast<double>(db_bytes) / n},
        {"peak_rss_mib",
         {{std::to_string(small), rss_small}, {std::to_string(patients), rss_large}}},
        {"peak_rss_ratio", rss_large / rss_small},
    };
    if (format == "json") {
      fmt::print("{}\n", out.dump(2));
      return 0;
    }
    fmt::print(
        "vpgen_bench: scenario '{}', {} patients x {} arms = {} courses, {} threads, "
        "block {}\n",
        simulator.scenario().name, patients, arms, static_cast<std::uint64_t>(courses), threads,
        block_size);
    fmt::print("  rows per patient: 1 patient, {} outcomes, {:.1f} events\n", arms,
               static_cast<double>(event_rows) / n);
    fmt::print("  (a) engine alone, 1 thread      {:>12.0f} courses/s\n", courses / engine_1);
    fmt::print("  (a) engine alone, {} threads     {:>12.0f} courses/s   speed-up x{:.2f}\n",
               threads, courses / engine_n, engine_1 / engine_n);
    fmt::print("  (b) simulate + store            {:>12.0f} courses/s\n", courses / e2e);
    fmt::print("  (c) raw SQLite insert, same rows {:>11.0f} courses/s\n", courses / raw);
    fmt::print("  end to end / raw insert          {:>11.2f}   (target >= 0.50)\n", raw / e2e);
    fmt::print("  database size                    {:>11.0f} bytes per patient\n",
               static_cast<double>(db_bytes) / n);
    fmt::print("  peak RSS: {} patients {:.1f} MiB, {} patients {:.1f} MiB (ratio {:.2f})\n", small,
               rss_small, patients, rss_large, rss_large / rss_small);
    return 0;
  } catch (const vpgen::InputError& e) {
    fmt::print(stderr, "vpgen_bench: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "vpgen_bench: error: {}\n", e.what());
    return 1;
  }
}
