// vpgen_report_bench: how long `vpgen report` takes on a large stored run, against the raw limit
// of SQLite on the same file. Issue 8 asks that a report of a 1,000,000-patient run take seconds,
// its statistics coming from SQL or a stream and never from loading the cohort.
//   (a) unless --db names an existing file: simulates the scenario (default configs/default.toml,
//       events off unless --events) into a database, in a child process so that the report's
//       memory is measured alone;
//   (b) times, each --repeat times (first and fastest kept): opening the file, run_info, the
//       per-arm counts, build_report, build_report + report_json / report_text, render_report as
//       HTML and as Markdown, and write_report of the HTML to a file;
//   (c) the raw limit on the same run: a plain SQL full scan of its outcomes,
//       `SELECT count(*) FROM outcomes WHERE run_id = ?`, one grouped by arm, and the same count
//       over its patients (what a scan in run_info would cost);
//   (d) ratios of (b) to the outcome scan, and peak RSS (getrusage) of the reporting process and
//       of the simulating child.
// --cold drops the file from the page cache (posix_fadvise, this file only) and opens a fresh
// connection before every repetition: the cost the morning after, from the disk.
// Prints JSON on stdout; progress on stderr.
#include "child_process.hpp"
#include "vpgen/run/provenance.hpp"
#include "vpgen/report/report.hpp"
#include "vpgen/report/report_html.hpp"
#include "vpgen/config/scenario_loader.hpp"
#include "vpgen/run/simulate_run.hpp"
#include "vpgen/engine/simulator.hpp"
#include "vpgen/population/error.hpp"
#include "vpgen/storage/result_store.hpp"

#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr std::uint64_t kBlockSize = 2048;   // as `vpgen simulate` stores by default

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double mib(long kib) { return static_cast<double>(kib) / 1024.0; }

void remove_db(const fs::path& p) {
  std::error_code ignored;
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(p.string() + suffix, ignored);
}

std::uint64_t db_bytes(const fs::path& p) {
  std::uint64_t bytes = 0;
  for (const char* suffix : {"", "-wal"}) {
    std::error_code error;
    const auto size = fs::file_size(p.string() + suffix, error);
    if (!error) bytes += size;
  }
  return bytes;
}

struct SimulateSettings {
  std::string scenario;
  std::uint64_t patients = 0;
  std::uint64_t seed = 1;
  int threads = 0;
  bool events = false;
};

// (a) In a child process (the parent's peak RSS is then the report's alone): simulates and stores
// one complete run into `db`, through the same fill_run as `vpgen simulate`. Returns the child's
// wall seconds and peak RSS (MiB).
std::pair<double, double> simulate_in_child(const SimulateSettings& settings, const fs::path& db) {
  const auto start = Clock::now();
  const double rss = vpgen::peak_rss_of_child_mib(
      [&] {
        vpgen::Scenario scenario = vpgen::config::load_scenario(settings.scenario);
        // Events off by default: the report reads outcomes and derived tables only (the swimmer
        // plot reads the events of its 25 patients per arm), and the run takes a sixth of the time.
        scenario.store_events = settings.events;
        const vpgen::Simulator simulator(std::move(scenario));
        vpgen::ResultStore store(db.string());
        const int threads = vpgen::resolve_threads(settings.threads);
        vpgen::RunOptions options;
        options.seed = settings.seed;
        options.patients = settings.patients;
        options.threads = threads;
        options.block_size = kBlockSize;
        std::uint64_t next_percent = 10;
        options.on_progress = [&](const vpgen::Progress& p) {
          if (p.total == 0 || p.done * 100 < next_percent * p.total) return;
          fmt::print(stderr, "vpgen_report_bench: simulated {}% ({} of {} patients)\n",
                     next_percent, p.done, p.total);
          next_percent += 10;
        };
        const std::int64_t run_id = store.begin_run(vpgen::make_provenance(
            simulator.scenario(), settings.seed, settings.patients, threads, kBlockSize));
        vpgen::fill_run(simulator, store, run_id, options);
      },
      "vpgen_report_bench: simulation");
  return {seconds_since(start), rss};
}

// Drops the database's pages from the operating system's page cache (written back first), so that
// the next read comes from the disk: what a report costs the morning after, on a file nobody has
// read since. Only this file's pages are dropped (posix_fadvise), nothing else on the machine.
void evict_from_page_cache(const fs::path& db) {
  for (const char* suffix : {"", "-wal"}) {
    const std::string path = db.string() + suffix;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

// Times `body` `repeat` times; the first (the file as the previous step left it in the page cache,
// or cold with `cold_db`) and the fastest are reported. With `cold_db`, every repetition starts
// with the file out of the page cache.
struct Timing {
  double first_s = 0.0;
  double min_s = std::numeric_limits<double>::infinity();
};

Timing time_it(int repeat, const std::function<void()>& body,
               const std::optional<fs::path>& cold_db) {
  Timing t;
  for (int r = 0; r < repeat; ++r) {
    if (cold_db) evict_from_page_cache(*cold_db);
    const auto start = Clock::now();
    body();
    const double s = seconds_since(start);
    if (r == 0) t.first_s = s;
    t.min_s = std::min(t.min_s, s);
  }
  return t;
}

void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
    throw vpgen::StorageError(fmt::format("raw query: {}: {}", what, sqlite3_errmsg(db)));
}

// (c) One plain query over the run with the SQLite C API on the store's own connection; returns
// the rows' integer columns so that the work cannot be skipped (and the counts can be checked).
std::vector<std::int64_t> raw_query(sqlite3* db, const char* sql, std::int64_t run_id) {
  sqlite3_stmt* statement = nullptr;
  check(sqlite3_prepare_v2(db, sql, -1, &statement, nullptr), db, sql);
  sqlite3_bind_int64(statement, 1, run_id);
  std::vector<std::int64_t> values;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(statement)) == SQLITE_ROW)
    for (int c = 0; c < sqlite3_column_count(statement); ++c)
      values.push_back(sqlite3_column_int64(statement, c));
  sqlite3_finalize(statement);
  check(rc, db, sql);
  return values;
}

json timing_json(const Timing& t) { return {{"first_s", t.first_s}, {"min_s", t.min_s}}; }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "vpgen_report_bench: time `vpgen report` (text, JSON, HTML, Markdown) on a large run against "
      "plain SQL scans of the same run; prints JSON"};
  SimulateSettings settings;
  settings.scenario = "configs/default.toml";
  settings.patients = 1'000'000;
  std::string db_option;
  std::optional<std::int64_t> run_option;
  std::string dir = fs::temp_directory_path().string();
  int repeat = 3;
  bool cold = false;
  app.add_option("--patients", settings.patients, "Cohort size to simulate (without --db)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::numeric_limits<std::uint64_t>::max()));
  app.add_option("--db", db_option,
                 "Report on this database (its latest run, or --run). A file that does not exist "
                 "is simulated into and kept; without --db a temporary file is used and removed");
  app.add_option("--run", run_option, "Run id in --db (default: the latest)");
  app.add_option("--scenario", settings.scenario, "Scenario to simulate")->capture_default_str();
  app.add_option("--seed", settings.seed, "Seed of the simulation")->capture_default_str();
  app.add_option("--threads", settings.threads, "Simulation threads, 0 = all cores")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  app.add_flag("--events", settings.events, "Store the per-patient events too (slower)");
  app.add_option("--repeat", repeat, "Repetitions of each timing; the first and fastest are kept")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_flag("--cold", cold,
               "Drop the database file from the page cache before every timed repetition");
  app.add_option("--dir", dir, "Folder of the temporary database and report")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  try {
    const bool temporary = db_option.empty();
    const fs::path db = temporary ? fs::path(dir) / fmt::format("vpgen_report_bench_{}.db",
                                                                ::getpid())
                                  : fs::path(db_option);
    json out = {{"db", db.string()}};
    if (temporary || !fs::exists(db)) {
      if (run_option) throw vpgen::InputError("--run needs an existing --db");
      if (temporary) remove_db(db);
      fmt::print(stderr, "vpgen_report_bench: simulating {} patients of {} into {}\n",
                 settings.patients, settings.scenario, db.string());
      const auto [seconds, rss] = simulate_in_child(settings, db);
      out["simulated"] = {{"scenario", settings.scenario},
                          {"patients", settings.patients},
                          {"seed", settings.seed},
                          {"threads", vpgen::resolve_threads(settings.threads)},
                          {"events", settings.events},
                          {"wall_s", seconds},
                          {"peak_rss_mib", rss}};
    } else {
      out["simulated"] = nullptr;
    }
    out["db_bytes"] = db_bytes(db);
    out["page_cache"] = cold ? "dropped before each repetition" : "as left by the previous step";

    fmt::print(stderr, "vpgen_report_bench: timing the report ({} repetitions{})\n", repeat,
               cold ? ", file out of the page cache before each" : "");
    const std::optional<fs::path> cold_db = cold ? std::optional<fs::path>(db) : std::nullopt;
    auto timed = [&](const std::function<void()>& body) { return time_it(repeat, body, cold_db); };
    std::optional<vpgen::ResultStore> opened;
    const Timing open = timed([&] {
      opened.reset();
      opened.emplace(db.string());
    });
    vpgen::ResultStore& store = *opened;
    std::int64_t run_id = 0;
    if (run_option) {
      run_id = *run_option;
    } else {
      const std::optional<std::int64_t> latest = store.latest_run_id();
      if (!latest) throw vpgen::InputError(fmt::format("{}: no run stored", db.string()));
      run_id = *latest;
    }
    const vpgen::RunInfo info = store.run_info(run_id);
    out["run"] = {{"id", run_id},
                  {"scenario", info.provenance.scenario_name},
                  {"patients_stored", info.patients_stored},
                  {"arms", info.provenance.arms.size()},
                  {"status", info.status},
                  {"store_events", info.provenance.store_events}};

    // Warm, every body reuses the open store; cold, each opens its own, so that neither SQLite's
    // page cache nor the operating system's holds the file (and the open is part of the cost, as
    // it is for `vpgen report`).
    auto timed_store = [&](const std::function<void(vpgen::ResultStore&)>& body) {
      return timed([&] {
        if (!cold) return body(store);
        vpgen::ResultStore fresh(db.string());
        body(fresh);
      });
    };
    json timings = json::object();
    timings["open"] = timing_json(open);
    timings["run_info"] =
        timing_json(timed_store([&](vpgen::ResultStore& s) { s.run_info(run_id); }));
    timings["arm_counts"] =
        timing_json(timed_store([&](vpgen::ResultStore& s) { s.arm_counts(run_id); }));
    timings["build_report"] =
        timing_json(timed_store([&](vpgen::ResultStore& s) { vpgen::build_report(s, run_id); }));
    std::size_t text_bytes = 0, json_bytes = 0, html_bytes = 0, md_bytes = 0;
    const Timing text = timed_store([&](vpgen::ResultStore& s) {
      text_bytes = vpgen::report_text(vpgen::build_report(s, run_id)).size();
    });
    const Timing json_report = timed_store([&](vpgen::ResultStore& s) {
      json_bytes = vpgen::report_json(vpgen::build_report(s, run_id)).dump(2).size();
    });
    vpgen::ReportRequest request;
    request.run_ids = {run_id};
    const Timing html = timed_store([&](vpgen::ResultStore& s) {
      html_bytes =
          vpgen::render_report(s, request, vpgen::ReportFormat::kHtml, "").document.size();
    });
    const Timing markdown = timed_store([&](vpgen::ResultStore& s) {
      const vpgen::RenderedReport r =
          vpgen::render_report(s, request, vpgen::ReportFormat::kMarkdown, "report");
      md_bytes = r.document.size();
      for (const vpgen::ReportFile& f : r.figures) md_bytes += f.content.size();
    });
    const fs::path html_file =
        fs::path(dir) / fmt::format("vpgen_report_bench_{}.html", ::getpid());
    const Timing write_html = timed_store([&](vpgen::ResultStore& s) {
      vpgen::write_report(s, request, vpgen::ReportFormat::kHtml, html_file.string());
    });
    std::error_code ignored;
    fs::remove(html_file, ignored);
    timings["report_text"] = timing_json(text);
    timings["report_json"] = timing_json(json_report);
    timings["render_html"] = timing_json(html);
    timings["render_markdown"] = timing_json(markdown);
    timings["write_html"] = timing_json(write_html);

    // (c) The raw limit on the same run, with the SQLite C API on the store's connection.
    std::vector<std::int64_t> outcome_count, per_arm, patient_count;
    const Timing scan = timed_store([&](vpgen::ResultStore& s) {
      outcome_count =
          raw_query(s.handle(), "SELECT count(*) FROM outcomes WHERE run_id = ?1", run_id);
    });
    const Timing grouped = timed_store([&](vpgen::ResultStore& s) {
      per_arm = raw_query(s.handle(),
                          "SELECT arm_index, count(*) FROM outcomes WHERE run_id = ?1 GROUP BY "
                          "arm_index",
                          run_id);
    });
    const Timing patients_scan = timed_store([&](vpgen::ResultStore& s) {
      patient_count =
          raw_query(s.handle(), "SELECT count(*) FROM patients WHERE run_id = ?1", run_id);
    });
    timings["sql_count_outcomes"] = timing_json(scan);
    timings["sql_count_outcomes_by_arm"] = timing_json(grouped);
    timings["sql_count_patients"] = timing_json(patients_scan);
    out["timings"] = timings;
    json by_arm = json::object();
    for (std::size_t i = 0; i + 1 < per_arm.size(); i += 2)
      by_arm[std::to_string(per_arm[i])] = per_arm[i + 1];
    out["rows"] = {{"outcomes", outcome_count.empty() ? 0 : outcome_count[0]},
                   {"outcomes_by_arm", by_arm},
                   {"patients", patient_count.empty() ? 0 : patient_count[0]}};
    out["output_bytes"] = {
        {"text", text_bytes}, {"json", json_bytes}, {"html", html_bytes}, {"markdown", md_bytes}};

    // (d) Each report over the plain outcome scan (fastest against fastest): below 1 the report
    // costs less than reading the run's outcomes once.
    json ratios = json::object();
    for (const char* key : {"run_info", "build_report", "report_text", "report_json",
                            "render_html", "render_markdown", "write_html"})
      ratios[key] = timings[key]["min_s"].get<double>() / scan.min_s;
    out["over_sql_count_outcomes"] = ratios;
    rusage self{};
    ::getrusage(RUSAGE_SELF, &self);
    out["report_process_peak_rss_mib"] = mib(self.ru_maxrss);
    opened.reset();
    if (temporary) remove_db(db);
    fmt::print("{}\n", out.dump(2));
    return 0;
  } catch (const vpgen::InputError& e) {
    fmt::print(stderr, "vpgen_report_bench: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "vpgen_report_bench: error: {}\n", e.what());
    return 1;
  }
}
