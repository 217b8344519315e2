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
#include "vpgen/storage/result_store.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>
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

void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE)
    throw vpgen::StorageError(fmt::format("raw insert: {}: {}", what, sqlite3_errmsg(db)));
}

const char* text_of(std::string_view s) { return s.data(); }

// (c) The same rows, inserted with the SQLite C API and nothing else. Returns seconds.
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
  sqlite3* db = nullptr;
  check(sqlite3_open(db_path.c_str(), &db), db, "open");
  check(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                         "PRAGMA foreign_keys=ON;",
                     nullptr, nullptr, nullptr),
        db, "pragmas");
  sqlite3_stmt* patient = nullptr;
  sqlite3_stmt* outcome = nullptr;
  sqlite3_stmt* event = nullptr;
  check(sqlite3_prepare_v2(
            db,
            "INSERT INTO patients VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
            " ?14, ?15, ?16, ?17)",
            -1, &patient, nullptr),
        db, "prepare patients");
  // Every column the real writer fills, so the baseline does the same work.
  check(sqlite3_prepare_v2(
            db,
            "INSERT INTO outcomes (run_id, patient_index, arm_index, best_response,"
            " best_response_unconfirmed, time_to_response_months, duration_of_response_months,"
            " dor_event, pfs_months, pfs_event, os_months, os_event, worst_irae_grade,"
            " irae_onset_months, stop_reason, treatment_months, durable_cr, death_cause,"
            " eradicated, best_percent_change, eradication_months, worst_ae_grade,"
            " treatment_holds, best_response_irecist, pfs_irecist_months, pfs_irecist_event,"
            " beyond_progression, pseudo_progression, next_line_months, pfs2_months, pfs2_event)"
            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
            " ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31)",
            -1, &outcome, nullptr),
        db, "prepare outcomes");
  check(sqlite3_prepare_v2(db,
                           "INSERT INTO events (run_id, patient_index, arm_index, seq, day, kind,"
                           " code, detail, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                           -1, &event, nullptr),
        db, "prepare events");
  auto real = [](sqlite3_stmt* s, int i, double v) {
    if (std::isnan(v)) sqlite3_bind_null(s, i);
    else sqlite3_bind_double(s, i, v);
  };
  auto step = [&](sqlite3_stmt* s, const char* what) {
    check(sqlite3_step(s), db, what);
    sqlite3_reset(s);
  };
  const bool events = simulator.scenario().store_events;
  const auto start = Clock::now();
  for (const vpgen::Block& block : blocks) {
    check(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), db, "begin");
    for (const vpgen::PatientResult& r : block.results) {
      const vpgen::Patient& p = r.patient;
      const auto index = static_cast<sqlite3_int64>(p.index);
      sqlite3_bind_int64(patient, 1, run);
      sqlite3_bind_int64(patient, 2, index);
      sqlite3_bind_text(patient, 3, text_of(vpgen::to_string(p.cancer_type)), -1, SQLITE_STATIC);
      sqlite3_bind_double(patient, 4, p.tmb_mut_per_mb);
      sqlite3_bind_double(patient, 5, p.pdl1_tps_percent);
      sqlite3_bind_double(patient, 6, p.infiltration);
      sqlite3_bind_int(patient, 7, p.hot);
      sqlite3_bind_double(patient, 8, p.memory_capacity);
      sqlite3_bind_double(patient, 9, p.tumour_burden_mm);
      sqlite3_bind_int(patient, 10, p.metastatic_sites);
      sqlite3_bind_double(patient, 11, p.age_years);
      sqlite3_bind_text(patient, 12, text_of(vpgen::to_string(p.sex)), -1, SQLITE_STATIC);
      sqlite3_bind_int(patient, 13, p.ecog);
      sqlite3_bind_int(patient, 14, p.ldh_elevated);
      sqlite3_bind_int(patient, 15, p.line_of_therapy);
      sqlite3_bind_int(patient, 16, p.prior_anti_pd1);
      sqlite3_bind_int64(patient, 17, p.candidates_screened);
      step(patient, "patients");
      for (const vpgen::Outcome& o : r.outcomes) {
        const bool responded = o.best_response == vpgen::Response::kCR ||
                               o.best_response == vpgen::Response::kPR;
        sqlite3_bind_int64(outcome, 1, run);
        sqlite3_bind_int64(outcome, 2, index);
        sqlite3_bind_int(outcome, 3, static_cast<int>(o.arm_index));
        sqlite3_bind_text(outcome, 4, text_of(vpgen::to_string(o.best_response)), -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(outcome, 5, text_of(vpgen::to_string(o.best_response_unconfirmed)), -1,
                          SQLITE_STATIC);
        real(outcome, 6, o.time_to_response_months);
        real(outcome, 7, o.duration_of_response_months);
        if (responded) sqlite3_bind_int(outcome, 8, o.dor_event);
        else sqlite3_bind_null(outcome, 8);
        sqlite3_bind_double(outcome, 9, o.pfs_months);
        sqlite3_bind_int(outcome, 10, o.pfs_event);
        sqlite3_bind_double(outcome, 11, o.os_months);
        sqlite3_bind_int(outcome, 12, o.os_event);
        sqlite3_bind_int(outcome, 13, o.worst_irae_grade);
        real(outcome, 14, o.irae_onset_months);
        sqlite3_bind_text(outcome, 15, text_of(vpgen::to_string(o.stop_reason)), -1,
                          SQLITE_STATIC);
        sqlite3_bind_double(outcome, 16, o.treatment_months);
        sqlite3_bind_int(outcome, 17, o.durable_cr);
        sqlite3_bind_text(outcome, 18, text_of(vpgen::to_string(o.death_cause)), -1,
                          SQLITE_STATIC);
        sqlite3_bind_int(outcome, 19, o.eradicated);
        real(outcome, 20, o.best_percent_change);
        real(outcome, 21, o.eradication_months);
        sqlite3_bind_int(outcome, 22, o.worst_ae_grade);
        sqlite3_bind_int(outcome, 23, o.treatment_holds);
        sqlite3_bind_text(outcome, 24, text_of(vpgen::to_string(o.best_response_irecist)), -1,
                          SQLITE_STATIC);
        sqlite3_bind_double(outcome, 25, o.pfs_irecist_months);
        sqlite3_bind_int(outcome, 26, o.pfs_irecist_event);
        sqlite3_bind_int(outcome, 27, o.beyond_progression);
        sqlite3_bind_int(outcome, 28, o.pseudo_progression);
        real(outcome, 29, o.next_line_months);
        real(outcome, 30, o.pfs2_months);
        sqlite3_bind_int(outcome, 31, o.pfs2_event);
        step(outcome, "outcomes");
      }
      if (!events) continue;
      std::uint32_t arm = 0;
      int seq = 0;
      for (const vpgen::CourseEvent& e : r.events) {
        if (e.arm_index != arm) {
          arm = e.arm_index;
          seq = 0;
        }
        sqlite3_bind_int64(event, 1, run);
        sqlite3_bind_int64(event, 2, index);
        sqlite3_bind_int(event, 3, static_cast<int>(arm));
        sqlite3_bind_int(event, 4, seq++);
        sqlite3_bind_double(event, 5, e.day);
        sqlite3_bind_text(event, 6, text_of(vpgen::to_string(e.kind)), -1, SQLITE_STATIC);
        sqlite3_bind_int(event, 7, e.code);
        const std::string_view detail = vpgen::event_detail(e.kind, e.code);
        if (detail.empty()) sqlite3_bind_null(event, 8);
        else sqlite3_bind_text(event, 8, detail.data(), static_cast<int>(detail.size()),
                               SQLITE_STATIC);
        real(event, 9, e.value);
        step(event, "events");
      }
    }
    check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
  }
  const double elapsed = seconds_since(start);
  sqlite3_finalize(patient);
  sqlite3_finalize(outcome);
  sqlite3_finalize(event);
  sqlite3_close(db);
  return elapsed;
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
      fmt::print("engine alone: 1 thread {:.0f} courses/s, {} threads {:.0f} courses/s, "
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
    const auto db_bytes = fs::file_size(db) + (fs::exists(db.string() + "-wal")
                                                   ? fs::file_size(db.string() + "-wal")
                                                   : 0);

    // (c) raw insert of the same rows.
    CollectingSink collected;
    vpgen::run_cohort(simulator, options_for(patients, threads, block_size, seed), collected);
    std::uint64_t event_rows = 0;
    for (const auto& b : collected.blocks)
      for (const auto& r : b.results) event_rows += r.events.size();
    const double raw = raw_insert(simulator, collected.blocks, db, patients, threads, block_size,
                                  seed);
    remove_db(db);

    nlohmann::json out = {
        {"scenario", simulator.scenario().name},
        {"patients", patients},
        {"arms", arms},
        {"threads", threads},
        {"block_size", block_size},
        {"rows_per_patient",
         {{"patients", 1},
          {"outcomes", arms},
          {"events", static_cast<double>(event_rows) / n}}},
        {"engine_1_thread_courses_per_s", courses / engine_1},
        {"engine_n_threads_courses_per_s", courses / engine_n},
        {"engine_speedup", engine_1 / engine_n},
        {"end_to_end_courses_per_s", courses / e2e},
        {"raw_insert_courses_per_s", courses / raw},
        {"end_to_end_over_raw_insert", raw / e2e},
        {"db_bytes_per_patient", static_cast<double>(db_bytes) / n},
        {"peak_rss_mib", {{std::to_string(small), rss_small}, {std::to_string(patients), rss_large}}},
        {"peak_rss_ratio", rss_large / rss_small},
    };
    if (format == "json") {
      fmt::print("{}\n", out.dump(2));
      return 0;
    }
    fmt::print("vpgen_bench: scenario '{}', {} patients x {} arms = {} courses, {} threads, "
               "block {}\n",
               simulator.scenario().name, patients, arms, static_cast<std::uint64_t>(courses),
               threads, block_size);
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
    fmt::print("  peak RSS: {} patients {:.1f} MiB, {} patients {:.1f} MiB (ratio {:.2f})\n",
               small, rss_small, patients, rss_large, rss_large / rss_small);
    return 0;
  } catch (const vpgen::InputError& e) {
    fmt::print(stderr, "vpgen_bench: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "vpgen_bench: error: {}\n", e.what());
    return 1;
  }
}
