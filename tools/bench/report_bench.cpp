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
#include "vpgen/storage/database.hpp"
#include "vpgen/storage/result_store.hpp"

#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
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

constexpr std::uint64_t kBlockSize = 2048;  // as `vpgen simulate` stores by default

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

// (c) One plain SQL query over the run through storage's SQL API (nothing of vpgen's reads);
// returns the rows' integer columns so that the work cannot be skipped (and the counts can be
// checked).
std::vector<std::int64_t> raw_query(vpgen::sql::Database& db, const char* sql,
                                    std::int64_t run_id) {
  vpgen::sql::Statement statement(db, sql, "raw query");
  statement.bind_int64(1, run_id);
  std::vector<std::int64_t> values;
  while (statement.step())
    for (int c = 0; c < statement.column_count(); ++c) values.push_back(statement.column_int64(c));
  return values;
}

json timing_json(const Timing& t) { return {{"first_s", t.first_s}, {"min_s", t.min_s}}; }

struct BenchOptions {
  SimulateSettings settings;
  std::string db;                   // empty: a temporary file
  std::optional<std::int64_t> run;  // default: the latest
  std::string dir = fs::temp_directory_path().string();
  int repeat = 3;
  bool cold = false;
};

// Parses the command line into `o`; returns the exit code when the program should stop (help or
// a usage error).
std::optional<int> parse_options(int argc, char** argv, BenchOptions& o) {
  CLI::App app{
      "vpgen_report_bench: time `vpgen report` (text, JSON, HTML, Markdown) on a large run against "
      "plain SQL scans of the same run; prints JSON"};
  o.settings.scenario = "configs/default.toml";
  o.settings.patients = 1'000'000;
  app.add_option("--patients", o.settings.patients, "Cohort size to simulate (without --db)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::numeric_limits<std::uint64_t>::max()));
  app.add_option("--db", o.db,
                 "Report on this database (its latest run, or --run). A file that does not exist "
                 "is simulated into and kept; without --db a temporary file is used and removed");
  app.add_option("--run", o.run, "Run id in --db (default: the latest)");
  app.add_option("--scenario", o.settings.scenario, "Scenario to simulate")->capture_default_str();
  app.add_option("--seed", o.settings.seed, "Seed of the simulation")->capture_default_str();
  app.add_option("--threads", o.settings.threads, "Simulation threads, 0 = all cores")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  app.add_flag("--events", o.settings.events, "Store the per-patient events too (slower)");
  app.add_option("--repeat", o.repeat, "Repetitions of each timing; the first and fastest are kept")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_flag("--cold", o.cold,
               "Drop the database file from the page cache before every timed repetition");
  app.add_option("--dir", o.dir, "Folder of the temporary database and report")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return std::nullopt;
}

// (a) The "simulated" entry: what was simulated into `db`, or null for an existing file.
json simulate_if_needed(const BenchOptions& o, const fs::path& db, bool temporary) {
  if (!temporary && fs::exists(db)) return nullptr;
  if (o.run) throw vpgen::InputError("--run needs an existing --db");
  if (temporary) remove_db(db);
  fmt::print(stderr, "vpgen_report_bench: simulating {} patients of {} into {}\n",
             o.settings.patients, o.settings.scenario, db.string());
  const auto [seconds, rss] = simulate_in_child(o.settings, db);
  return {{"scenario", o.settings.scenario},
          {"patients", o.settings.patients},
          {"seed", o.settings.seed},
          {"threads", vpgen::resolve_threads(o.settings.threads)},
          {"events", o.settings.events},
          {"wall_s", seconds},
          {"peak_rss_mib", rss}};
}

// Runs timed bodies on a store: warm, every body reuses the open store; cold, each opens its own,
// so that neither SQLite's page cache nor the operating system's holds the file (and the open is
// part of the cost, as it is for `vpgen report`).
struct Timer {
  const BenchOptions& options;
  fs::path db;
  vpgen::ResultStore& store;

  Timing time(const std::function<void()>& body) const {
    return time_it(options.repeat, body, options.cold ? std::optional<fs::path>(db) : std::nullopt);
  }
  Timing time_store(const std::function<void(vpgen::ResultStore&)>& body) const {
    return time([&] {
      if (!options.cold) return body(store);
      vpgen::ResultStore fresh(db.string());
      body(fresh);
    });
  }
  // The same for plain SQL, on a connection of its own (read-only: the raw limit of a reader).
  Timing time_sql(vpgen::sql::Database& warm,
                  const std::function<void(vpgen::sql::Database&)>& body) const {
    return time([&] {
      if (!options.cold) return body(warm);
      vpgen::sql::Database fresh(db.string(), vpgen::sql::OpenMode::kReadOnly);
      body(fresh);
    });
  }
};

// (b) The report's steps; adds their timings to `timings` and the output sizes to `out`.
void time_report(const Timer& timer, std::int64_t run_id, json& timings, json& out) {
  timings["run_info"] =
      timing_json(timer.time_store([&](vpgen::ResultStore& s) { s.run_info(run_id); }));
  timings["arm_counts"] =
      timing_json(timer.time_store([&](vpgen::ResultStore& s) { s.arm_counts(run_id); }));
  timings["build_report"] =
      timing_json(timer.time_store([&](vpgen::ResultStore& s) { vpgen::build_report(s, run_id); }));
  std::size_t text_bytes = 0, json_bytes = 0, html_bytes = 0, md_bytes = 0;
  timings["report_text"] = timing_json(timer.time_store([&](vpgen::ResultStore& s) {
    text_bytes = vpgen::report_text(vpgen::build_report(s, run_id)).size();
  }));
  timings["report_json"] = timing_json(timer.time_store([&](vpgen::ResultStore& s) {
    json_bytes = vpgen::report_json(vpgen::build_report(s, run_id)).dump(2).size();
  }));
  vpgen::ReportRequest request;
  request.run_ids = {run_id};
  timings["render_html"] = timing_json(timer.time_store([&](vpgen::ResultStore& s) {
    html_bytes = vpgen::render_report(s, request, vpgen::ReportFormat::kHtml, "").document.size();
  }));
  timings["render_markdown"] = timing_json(timer.time_store([&](vpgen::ResultStore& s) {
    const vpgen::RenderedReport r =
        vpgen::render_report(s, request, vpgen::ReportFormat::kMarkdown, "report");
    md_bytes = r.document.size();
    for (const vpgen::ReportFile& f : r.figures) md_bytes += f.content.size();
  }));
  const fs::path html_file =
      fs::path(timer.options.dir) / fmt::format("vpgen_report_bench_{}.html", ::getpid());
  timings["write_html"] = timing_json(timer.time_store([&](vpgen::ResultStore& s) {
    vpgen::write_report(s, request, vpgen::ReportFormat::kHtml, html_file.string());
  }));
  std::error_code ignored;
  fs::remove(html_file, ignored);
  out["output_bytes"] = {
      {"text", text_bytes}, {"json", json_bytes}, {"html", html_bytes}, {"markdown", md_bytes}};
}

// (c) The raw limit on the same run; adds the timings to `timings` and the row counts to `out`.
// Returns the fastest outcome scan.
double time_raw_queries(const Timer& timer, std::int64_t run_id, json& timings, json& out) {
  vpgen::sql::Database warm(timer.db.string(), vpgen::sql::OpenMode::kReadOnly);
  std::vector<std::int64_t> outcome_count, per_arm, patient_count;
  const Timing scan = timer.time_sql(warm, [&](vpgen::sql::Database& db) {
    outcome_count = raw_query(db, "SELECT count(*) FROM outcomes WHERE run_id = ?1", run_id);
  });
  const Timing grouped = timer.time_sql(warm, [&](vpgen::sql::Database& db) {
    per_arm = raw_query(db,
                        "SELECT arm_index, count(*) FROM outcomes WHERE run_id = ?1 GROUP BY "
                        "arm_index",
                        run_id);
  });
  const Timing patients_scan = timer.time_sql(warm, [&](vpgen::sql::Database& db) {
    patient_count = raw_query(db, "SELECT count(*) FROM patients WHERE run_id = ?1", run_id);
  });
  timings["sql_count_outcomes"] = timing_json(scan);
  timings["sql_count_outcomes_by_arm"] = timing_json(grouped);
  timings["sql_count_patients"] = timing_json(patients_scan);
  json by_arm = json::object();
  for (std::size_t i = 0; i + 1 < per_arm.size(); i += 2)
    by_arm[std::to_string(per_arm[i])] = per_arm[i + 1];
  out["rows"] = {{"outcomes", outcome_count.empty() ? 0 : outcome_count[0]},
                 {"outcomes_by_arm", by_arm},
                 {"patients", patient_count.empty() ? 0 : patient_count[0]}};
  return scan.min_s;
}

int run(const BenchOptions& o) {
  const bool temporary = o.db.empty();
  const fs::path db = temporary
                          ? fs::path(o.dir) / fmt::format("vpgen_report_bench_{}.db", ::getpid())
                          : fs::path(o.db);
  json out = {{"db", db.string()}};
  out["simulated"] = simulate_if_needed(o, db, temporary);
  out["db_bytes"] = db_bytes(db);
  out["page_cache"] = o.cold ? "dropped before each repetition" : "as left by the previous step";

  fmt::print(stderr, "vpgen_report_bench: timing the report ({} repetitions{})\n", o.repeat,
             o.cold ? ", file out of the page cache before each" : "");
  std::optional<vpgen::ResultStore> opened;
  const Timing open = time_it(
      o.repeat,
      [&] {
        opened.reset();
        opened.emplace(db.string());
      },
      o.cold ? std::optional<fs::path>(db) : std::nullopt);
  vpgen::ResultStore& store = *opened;
  std::int64_t run_id = 0;
  if (o.run) {
    run_id = *o.run;
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

  const Timer timer{o, db, store};
  json timings = json::object();
  timings["open"] = timing_json(open);
  time_report(timer, run_id, timings, out);
  const double scan_s = time_raw_queries(timer, run_id, timings, out);
  out["timings"] = timings;

  // (d) Each report over the plain outcome scan (fastest against fastest): below 1 the report
  // costs less than reading the run's outcomes once.
  json ratios = json::object();
  for (const char* key : {"run_info", "build_report", "report_text", "report_json", "render_html",
                          "render_markdown", "write_html"})
    ratios[key] = timings[key]["min_s"].get<double>() / scan_s;
  out["over_sql_count_outcomes"] = ratios;
  rusage self{};
  ::getrusage(RUSAGE_SELF, &self);
  out["report_process_peak_rss_mib"] = mib(self.ru_maxrss);
  opened.reset();
  if (temporary) remove_db(db);
  fmt::print("{}\n", out.dump(2));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  BenchOptions options;
  if (const std::optional<int> exit_code = parse_options(argc, argv, options)) return *exit_code;
  try {
    return run(options);
  } catch (const vpgen::InputError& e) {
    fmt::print(stderr, "vpgen_report_bench: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "vpgen_report_bench: error: {}\n", e.what());
    return 1;
  }
}
