// `vpgen batch`: runs the jobs of a nightly file one after another into DIR, a failing job
// recorded and the others still run; then compares with the previous night and writes index.html
// and, last, summary.json (docs/BATCH.md).
#include "vpgen/batch/batch.hpp"

#include "batch_internal.hpp"
#include "vpgen/run/simulate_run.hpp"
#include "vpgen/common/json_number.hpp"
#include "vpgen/common/safe_file.hpp"
#include "vpgen/run/provenance.hpp"
#include "vpgen/report/report.hpp"
#include "vpgen/report/report_html.hpp"
#include "vpgen/config/scenario_loader.hpp"
#include "vpgen/trial_design/trial_design.hpp"
#include "vpgen/validation/validate.hpp"
#include "vpgen/engine/build_info.hpp"
#include "vpgen/engine/simulator.hpp"
#include "vpgen/population/error.hpp"
#include "vpgen/storage/result_store.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <system_error>

namespace vpgen::batch {

namespace fs = std::filesystem;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

std::string_view to_string(JobKind kind) {
  switch (kind) {
    case JobKind::kScenario: return "scenario";
    case JobKind::kDesign: return "design";
    case JobKind::kValidation: return "validation";
  }
  return "scenario";
}

// ---- Helpers (batch_internal.hpp) --------------------------------------------------------------

std::string file_slug(std::string_view name) {
  std::string slug;
  bool dash = false;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && std::isalnum(u)) {
      if (dash && !slug.empty()) slug += '-';
      slug += static_cast<char>(std::tolower(u));
      dash = false;
    } else {
      dash = true;
    }
  }
  return slug.empty() ? "job" : slug;
}

std::string utc_timestamp(SystemClock::time_point when) {
  const std::time_t seconds = SystemClock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count() % 1000;
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

void write_file_atomic(const fs::path& path, std::string_view content) {
  vpgen::write_file_atomic(path, content);
}

std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

namespace {

// Patients per stored block, as `vpgen simulate` stores them by default.
constexpr std::uint64_t kBlockSize = 2048;

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// Numbers as summary.json will hold them: a figure compared tonight is the figure read back
// tomorrow (integers stay integers, doubles round-trip exactly).
json normalised(const json& j) { return json::parse(j.dump()); }

json build_json() {
  const BuildInfo b = build_info();
  return {{"vpgen_version", b.vpgen_version}, {"git_commit", b.git_commit},
          {"compiler", b.compiler},           {"boost_version", b.boost_version},
          {"tbb_version", b.tbb_version},     {"rng_scheme", b.rng_scheme}};
}

std::string host_name() {
  std::array<char, 256> buffer{};
  if (::gethostname(buffer.data(), buffer.size() - 1) != 0) return "unknown";
  return std::string(buffer.data());
}

// batch.log: one line per event, "2026-01-05T02:00:00.123Z INFO  text", appended with one
// write(2) each so that an interrupted batch leaves its log up to the interruption. The file is
// opened as the lock is (open_own_file): never through a symlink planted in DIR, and only if it is
// a regular file of ours.
class BatchLog {
 public:
  BatchLog(const fs::path& path, std::function<void(std::string_view)> echo)
      : fd_(open_own_file(path, O_WRONLY | O_APPEND)), echo_(std::move(echo)) {}
  ~BatchLog() { ::close(fd_); }
  BatchLog(const BatchLog&) = delete;
  BatchLog& operator=(const BatchLog&) = delete;
  void write(std::string_view level, std::string_view text) {
    const std::string line =
        fmt::format("{} {:<5} {}\n", utc_timestamp(SystemClock::now()), level, one_line(text));
    // The log is a record, not an output: a full disk must not stop the night here (summary.json,
    // written with checks, reports the failure).
    [[maybe_unused]] const ssize_t written = ::write(fd_, line.data(), line.size());
    if (echo_) echo_(std::string_view(line).substr(0, line.size() - 1));
  }
  void info(std::string_view text) { write("INFO", text); }
  void warn(std::string_view text) { write("WARN", text); }
  void error(std::string_view text) { write("ERROR", text); }

 private:
  int fd_;
  std::function<void(std::string_view)> echo_;
};

// An exclusive advisory lock on DIR/.batch.lock for the whole night, so that two batches into one
// DIR (a cron line that overran into the next, a run by hand) never interleave their moves and
// writes. flock(2) locks belong to the open file and are released by the kernel when it is closed,
// also when the process is killed, so a stale lock cannot outlive its holder. The holder writes
// its pid into the file for the refusal message. The file is never removed: unlinking a lock file
// lets a third process lock a new file while the second still holds the old one. DIR may be
// shared: the file is opened without following a symlink and used only if it is a regular file
// owned by us with one link (open_own_file), and truncated only once the lock is held.
class DirLock {
 public:
  // Throws InputError naming DIR and the holder's pid if another process holds the lock, and
  // InputError naming the lock file if it cannot be opened or is not a regular file of ours.
  explicit DirLock(const fs::path& dir) {
    const fs::path path = dir / ".batch.lock";
    fd_ = open_own_file(path, O_RDWR);
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      const std::string holder = holder_pid();
      ::close(fd_);
      fd_ = -1;
      if (error == EWOULDBLOCK)
        throw InputError(
            fmt::format("--out {}: another vpgen batch (pid {}) is running into this "
                        "folder (lock {}); nothing done",
                        dir.string(), holder, path.string()));
      throw Error(fmt::format("--out {}: cannot lock {}: {}", dir.string(), path.string(),
                              std::strerror(error)));
    }
    const std::string pid = fmt::format("{}\n", ::getpid());
    // The pid is information for the message only: failing to write it does not stop the night.
    if (::ftruncate(fd_, 0) == 0) {
      [[maybe_unused]] const ssize_t written = ::pwrite(fd_, pid.data(), pid.size(), 0);
    }
  }
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  // The pid the holder wrote, or "unknown" (read between its lock and its write).
  std::string holder_pid() const {
    std::array<char, 32> buffer{};
    const ssize_t n = ::pread(fd_, buffer.data(), buffer.size() - 1, 0);
    std::string text = n > 0 ? std::string(buffer.data(), static_cast<std::size_t>(n)) : "";
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    const bool digits = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c)) != 0;
    });
    return digits ? text : "unknown";
  }

  int fd_ = -1;
};

// A previous batch summary; InputError "path: why" if it is not one.
json load_summary(const fs::path& path) {
  const std::string text = config::read_text_file(path.string());
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw InputError(fmt::format("{}: not JSON ({})", path.string(), e.what()));
  }
  auto bad = [&](std::string_view why) {
    return InputError(fmt::format("{}: not a vpgen batch summary: {}", path.string(), why));
  };
  if (!j.is_object()) throw bad("not a JSON object");
  const auto format = j.find("format");
  if (format == j.end() || !format->is_string() || *format != kSummaryFormat)
    throw bad(fmt::format("\"format\" is not \"{}\"", kSummaryFormat));
  const auto version = j.find("format_version");
  if (version == j.end() || !version->is_number_integer() || version->get<std::int64_t>() < 1 ||
      version->get<std::int64_t>() > kSummaryFormatVersion)
    throw bad(fmt::format("\"format_version\" is not 1..{}", kSummaryFormatVersion));
  const auto jobs = j.find("jobs");
  if (jobs == j.end() || !jobs->is_array()) throw bad("no \"jobs\" array");
  for (const json& job : *jobs)
    if (!job.is_object() || !job.contains("name") || !job.at("name").is_string() ||
        !job.contains("kind") || !job.at("kind").is_string())
      throw bad("a job without \"name\" and \"kind\"");
  const auto batch = j.find("batch");
  if (batch == j.end() || !batch->is_object() || !batch->contains("build") ||
      !batch->at("build").is_object())
    throw bad("no \"batch\".\"build\" object");
  return j;
}

// Renames `from` over `to` if it exists; the -wal and -shm files of a SQLite database go with it
// (and stale ones at `to` are removed first, so a database never pairs with another's journal).
void move_aside(const fs::path& from, const fs::path& to, bool sqlite) {
  const std::vector<std::string> suffixes =
      sqlite ? std::vector<std::string>{"", "-wal", "-shm"} : std::vector<std::string>{""};
  if (!fs::exists(from)) return;
  for (const std::string& suffix : suffixes) fs::remove(to.string() + suffix);
  for (const std::string& suffix : suffixes) {
    const fs::path source = from.string() + suffix;
    if (fs::exists(source)) fs::rename(source, to.string() + suffix);
  }
}

struct JobContext {
  const Nightly& nightly;
  ResultStore& store;
  int threads = 1;
  fs::path out;
};

void write_job_report(JobContext& ctx, const JobSpec& job, const ReportRequest& request,
                      json& record) {
  const std::string relative =
      fmt::format("reports/{}-{}.html", to_string(job.kind), file_slug(job.name));
  const auto start = SteadyClock::now();
  try {
    write_report(ctx.store, request, ReportFormat::kHtml, (ctx.out / relative).string());
  } catch (const std::exception& e) {
    throw Error(fmt::format("writing the report {}: {}", relative, e.what()));
  }
  record["report"] = relative;
  record["report_seconds"] = seconds_since(start);
}

// Simulates the run begun as `run_id` and marks it complete, or failed if anything throws (as
// `vpgen simulate` does).
void simulate_run(const Simulator& simulator, ResultStore& store, std::int64_t run_id,
                  std::uint64_t seed, std::uint64_t patients, int threads) {
  vpgen::RunOptions options;
  options.seed = seed;
  options.patients = patients;
  options.threads = threads;
  options.block_size = kBlockSize;
  fill_run(simulator, store, run_id, options);
}

void run_scenario_job(const JobSpec& job, JobContext& ctx, json& record) {
  Scenario scenario = config::load_scenario(job.path);
  const std::uint64_t seed = job.seed.value_or(ctx.nightly.seed.value_or(scenario.seed));
  const std::uint64_t patients = job.patients.value_or(scenario.patients);
  if (seed > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    throw InputError(fmt::format("{}: seed {} must be below 2^63", job.path, seed));
  if (patients == 0) throw InputError(fmt::format("{}: patients must be at least 1", job.path));
  record["input_hash"] = config::fingerprint(scenario.source_text);
  record["seed"] = seed;
  record["settings"] = {{"patients", patients}};
  const Simulator simulator(std::move(scenario));
  const std::int64_t run_id = ctx.store.begin_run(
      make_provenance(simulator.scenario(), seed, patients, ctx.threads, kBlockSize));
  record["run_id"] = run_id;
  simulate_run(simulator, ctx.store, run_id, seed, patients, ctx.threads);
  const json report = report_json(build_report(ctx.store, run_id));
  record["figures"] =
      normalised({{"ci_level", report.at("ci_level")}, {"arms", report.at("arms")}});
  ReportRequest request;
  request.run_ids = {run_id};
  write_job_report(ctx, job, request, record);
}

json estimate_se(double estimate, double se, const char* se_key) {
  return {{"estimate", number_or_null(estimate)}, {se_key, number_or_null(se)}};
}

// A design's figures: per n its power and type I error with their MCSE, the mean events and
// duration with their SE, and n* with its interval (or Simon's design).
json design_figures(const trial_design::DesignResult& result) {
  json points = json::array();
  for (const trial_design::PointResult& p : result.points)
    points.push_back(
        {{"n", p.n},
         {"n_control", p.n_control},
         {"n_experimental", p.n_experimental},
         {"replicates", p.replicates},
         {"power", estimate_se(p.power, p.power_mcse, "mcse")},
         {"type1_error", estimate_se(p.type1_error, p.type1_mcse, "mcse")},
         {"events", estimate_se(p.events.mean, p.events.se, "se")},
         {"duration_months", estimate_se(p.duration_months.mean, p.duration_months.se, "se")}});
  json figures = {{"target_power", result.design.target_power},
                  {"points", points},
                  {"smallest_grid_n", result.smallest_grid_n}};
  const trial_design::PowerFit& fit = result.fit;
  if (fit.ok) {
    figures["n_star"] = {{"estimate", number_or_null(fit.n_star)},
                         {"ci_low", number_or_null(fit.n_low)},
                         {"ci_high", number_or_null(fit.n_high)},
                         {"extrapolated", fit.extrapolated}};
  } else {
    figures["n_star"] = nullptr;
    if (!fit.note.empty()) figures["fit_note"] = fit.note;
  }
  if (result.simon) {
    const trial_design::SimonSummary& s = *result.simon;
    figures["simon"] = {{"n1", s.n1},
                        {"r1", s.r1},
                        {"n", s.n},
                        {"r", s.r},
                        {"alpha_actual", number_or_null(s.alpha_actual)},
                        {"power_actual", number_or_null(s.power_actual)}};
  }
  return figures;
}

void run_design_job(const JobSpec& job, JobContext& ctx, json& record) {
  trial_design::Design design = trial_design::read_design(job.path);
  if (job.seed) design.seed = *job.seed;
  else if (ctx.nightly.seed) design.seed = *ctx.nightly.seed;
  record["input_hash"] = config::fingerprint(design.text);
  record["seed"] = design.seed;
  record["settings"] = json::object();
  record["design_name"] = design.name;
  trial_design::RunOptions options;
  options.threads = ctx.threads;
  const trial_design::DesignResult result = trial_design::run_design(design, options);
  const std::string json_text = trial_design::result_json(result).dump(2);
  const std::int64_t design_id = ctx.store.record_design(
      trial_design::design_record(result, json_text), trial_design::design_points(result));
  record["design_id"] = design_id;
  record["figures"] = normalised(design_figures(result));
  ReportRequest request;
  request.design_ids = {design_id};
  write_job_report(ctx, job, request, record);
}

// A validation's figures: per target the simulated value with its interval, the published value
// and interval, and the verdict; the summary counts.
json validation_figures(const json& report) {
  json targets = json::array();
  for (const json& t : report.at("targets"))
    targets.push_back({{"id", t.at("id")},
                       {"endpoint", t.at("endpoint")},
                       {"scenario", t.at("scenario")},
                       {"arm", t.at("arm")},
                       {"subgroup", t.at("subgroup")},
                       {"role", t.at("role")},
                       {"simulated",
                        {{"estimate", t.at("simulated")},
                         {"ci_low", t.at("sim_ci_low")},
                         {"ci_high", t.at("sim_ci_high")}}},
                       {"published", t.at("published")},
                       {"published_ci_low", t.at("published_ci_low")},
                       {"published_ci_high", t.at("published_ci_high")},
                       {"pass", t.at("within_tolerance")}});
  return {
      {"ci_level", report.at("ci_level")}, {"summary", report.at("summary")}, {"targets", targets}};
}

void run_validation_job(const JobSpec& job, JobContext& ctx, json& record) {
  namespace v = validation;
  const v::Mapping mapping = v::load_mapping(job.path);
  // Everything that decides the figures: the mapping, the published values and every scenario
  // with the parameter files it names.
  std::string inputs = config::read_text_file(mapping.file);
  inputs += '\0';
  inputs += config::read_text_file(mapping.targets_csv);
  for (const v::MappedScenario& s : mapping.scenarios) {
    inputs += '\0';
    inputs += s.scenario.source_text;
  }
  v::ValidationOptions options;
  options.patients = job.patients.value_or(v::kDefaultPatients);
  options.seed = job.seed ? job.seed : ctx.nightly.seed;
  options.threads = ctx.threads;
  if (job.role == "fit") options.role = v::Role::kFit;
  else if (job.role == "holdout") options.role = v::Role::kHoldout;
  record["input_hash"] = config::fingerprint(inputs);
  record["seed"] = options.seed ? json(*options.seed) : json(nullptr);
  record["settings"] = {{"patients", options.patients}, {"role", job.role}};
  const v::ValidationReport report = v::run_validation(mapping, options);
  const json report_json = v::validation_json(report);
  record["figures"] = normalised(validation_figures(report_json));
  ReportRequest request;
  request.validation = report_json;
  request.validation_source = job.file;
  write_job_report(ctx, job, request, record);
}

json run_job(const JobSpec& job, std::size_t number, std::size_t total, JobContext& ctx,
             BatchLog& log) {
  // The seed as far as the nightly file tells; the job records the one it uses once its file
  // is read (null stays for a job that fails before).
  json seed = nullptr;
  if (job.seed) seed = *job.seed;
  else if (ctx.nightly.seed) seed = *ctx.nightly.seed;
  json record = {{"name", job.name},           {"kind", to_string(job.kind)},
                 {"file", job.file},           {"path", job.path},
                 {"input_hash", nullptr},      {"seed", seed},
                 {"settings", json::object()}, {"status", "ok"},
                 {"error", nullptr},           {"report", nullptr},
                 {"figures", nullptr}};
  const std::string label =
      fmt::format("job {}/{} {} '{}'", number, total, to_string(job.kind), job.name);
  log.info(fmt::format("{} start ({}, {} thread{})", label, job.path, ctx.threads,
                       ctx.threads == 1 ? "" : "s"));
  record["started_at"] = utc_timestamp(SystemClock::now());
  const auto start = SteadyClock::now();
  try {
    switch (job.kind) {
      case JobKind::kScenario: run_scenario_job(job, ctx, record); break;
      case JobKind::kDesign: run_design_job(job, ctx, record); break;
      case JobKind::kValidation: run_validation_job(job, ctx, record); break;
    }
  } catch (const std::exception& e) {
    record["status"] = "failed";
    record["error"] = one_line(e.what());
  } catch (...) {
    record["status"] = "failed";
    record["error"] = "unknown error";
  }
  const double wall = seconds_since(start);
  record["finished_at"] = utc_timestamp(SystemClock::now());
  record["wall_seconds"] = wall;
  if (record["status"] == "ok") {
    log.info(fmt::format("{} ok in {:.3f} s (report {:.3f} s): {}", label, wall,
                         record.value("report_seconds", 0.0), record["report"].get<std::string>()));
  } else {
    log.error(
        fmt::format("{} FAILED in {:.3f} s: {}", label, wall, record["error"].get<std::string>()));
  }
  return record;
}

std::string describe_comparison(const json& comparison) {
  std::string text = comparison.at("verdict");
  if (comparison.contains("figures_changed") && comparison.at("verdict") != "identical" &&
      comparison.at("verdict") != "not_compared")
    text += fmt::format(": {} of {} figures changed, {} listed",
                        comparison.at("figures_changed").get<std::size_t>(),
                        comparison.at("figures_compared").get<std::size_t>(),
                        comparison.at("differences").size());
  if (comparison.contains("reasons") && !comparison.at("reasons").empty()) {
    std::string reasons;
    for (const json& r : comparison.at("reasons"))
      reasons += (reasons.empty() ? "" : "; ") + r.get<std::string>();
    text += fmt::format(" ({})", reasons);
  }
  if (comparison.contains("note"))
    text += fmt::format(" ({})", comparison.at("note").get<std::string>());
  return text;
}

// A batch's input, checked: everything that can be wrong with it is found before anything is
// written.
struct BatchInput {
  Nightly nightly;
  int threads = 0;
  fs::path out;
  std::optional<json> previous;  // the summary to compare with, once known
  std::string previous_file;
};

BatchInput check_input(const BatchOptions& options) {
  BatchInput in;
  in.nightly = read_nightly(options.nightly_file);
  if (options.threads && (*options.threads < 0 || *options.threads > 1024))
    throw InputError(fmt::format("--threads {}: must be 0..1024", *options.threads));
  in.threads = resolve_threads(options.threads.value_or(in.nightly.threads.value_or(0)));
  if (options.out_dir.empty()) throw InputError("--out: give the output folder");
  in.out = fs::path(options.out_dir);
  if (fs::exists(in.out) && !fs::is_directory(in.out))
    throw InputError(fmt::format("--out {}: exists and is not a folder", options.out_dir));
  if (!options.compare.empty()) {
    fs::path file(options.compare);
    if (fs::is_directory(file)) file /= "summary.json";
    if (!fs::exists(file))
      throw InputError(fmt::format("--compare {}: no such file", file.string()));
    in.previous = load_summary(file);
    in.previous_file = file.string();
  }
  return in;
}

// Last night's outputs step aside: its summary becomes summary.previous.json (the default
// comparison), its database results.previous.db. A summary.previous.json without a
// summary.json is what an interrupted batch leaves: it stays the previous night. Sets
// in.previous and in.previous_file, and returns summary.json's "previous": null without a
// previous summary, {file, error} when it cannot be read, else {file, started_at, build}.
json step_aside_previous_night(BatchInput& in, const BatchOptions& options, BatchLog& log) {
  const fs::path summary_path = in.out / "summary.json";
  const fs::path previous_path = in.out / "summary.previous.json";
  json previous_info = nullptr;
  // --compare DIR (or DIR/summary.json) names last night's summary, about to move aside.
  std::error_code ignored;
  if (in.previous && fs::equivalent(in.previous_file, summary_path, ignored)) {
    // Read again under the lock: a batch that ended since the first reading replaced it.
    if (fs::exists(summary_path)) in.previous = load_summary(summary_path);
    in.previous_file = previous_path.string();
  }
  try {
    move_aside(summary_path, previous_path, false);
    move_aside(in.out / "results.db", in.out / "results.previous.db", true);
  } catch (const fs::filesystem_error& e) {
    log.error(fmt::format("cannot move last night's outputs aside: {}", e.what()));
    throw Error(fmt::format("--out {}: cannot move last night's outputs aside: {}", options.out_dir,
                            e.what()));
  }
  if (!in.previous && fs::exists(previous_path)) {
    in.previous_file = previous_path.string();
    try {
      in.previous = load_summary(previous_path);
    } catch (const std::exception& e) {
      previous_info = {{"file", in.previous_file}, {"error", one_line(e.what())}};
      log.warn(
          fmt::format("the previous summary cannot be read, nothing is compared: {}", e.what()));
    }
  }
  if (in.previous) {
    previous_info = {{"file", in.previous_file},
                     {"started_at", in.previous->at("batch").value("started_at", "")},
                     {"build", in.previous->at("batch").at("build")}};
    log.info(fmt::format("comparing with {} (batch of {})", in.previous_file,
                         previous_info.at("started_at").get<std::string>()));
  } else if (previous_info.is_null()) {
    log.info("no previous summary: nothing is compared");
  }
  return previous_info;
}

void log_start(const BatchInput& in, const BatchOptions& options, const json& build,
               BatchLog& log) {
  const Nightly& nightly = in.nightly;
  log.info(fmt::format(
      "batch '{}' start: {} job{} from {} into {}, {} thread{}; vpgen {} commit "
      "{} on {}",
      nightly.name, nightly.jobs.size(), nightly.jobs.size() == 1 ? "" : "s", options.nightly_file,
      in.out.string(), in.threads, in.threads == 1 ? "" : "s",
      build.at("vpgen_version").get<std::string>(),
      build.at("git_commit").get<std::string>().empty() ? "unknown"
                                                        : build.at("git_commit").get<std::string>(),
      host_name()));
}

// One line per job: its verdict against the previous night.
void log_comparisons(const json& jobs, BatchLog& log) {
  for (const json& job : jobs) {
    const json& comparison = job.at("comparison");
    const std::string line =
        fmt::format("compare {} '{}': {}", job.at("kind").get<std::string>(),
                    job.at("name").get<std::string>(), describe_comparison(comparison));
    if (comparison.at("verdict") == "changed_unexpectedly") log.error(line);
    else if (comparison.at("verdict") == "changed_beyond_mc_error") log.warn(line);
    else log.info(line);
  }
}

// summary.json's "batch": what ran, where, when and with which build.
json batch_json(const BatchInput& in, const BatchOptions& options, const json& build,
                const std::string& started_at, SteadyClock::time_point batch_start) {
  const std::string commit = build.at("git_commit");
  return {{"name", in.nightly.name},
          {"nightly_file", options.nightly_file},
          {"nightly_hash", config::fingerprint(in.nightly.text)},
          {"out_dir", in.out.string()},
          {"host", host_name()},
          {"started_at", started_at},
          {"finished_at", utc_timestamp(SystemClock::now())},
          {"wall_seconds", seconds_since(batch_start)},
          {"threads", in.threads},
          {"seed", in.nightly.seed ? json(*in.nightly.seed) : json(nullptr)},
          {"build", build},
          {"build_identified", !commit.empty() && commit.find("-dirty") == std::string::npos}};
}

}  // namespace

int run_batch(const BatchOptions& options) {
  BatchInput in = check_input(options);
  const Nightly& nightly = in.nightly;
  const fs::path& out = in.out;

  std::error_code created;
  fs::create_directories(out, created);
  if (created)
    throw InputError(
        fmt::format("--out {}: cannot create ({})", options.out_dir, created.message()));
  // Before anything else in DIR is touched; held until the batch returns.
  const DirLock lock(out);
  // Reports are written into reports/ by name, and SQLite opens results.db and its journals by
  // name, following a symlink (it would create or write the file a planted link names): refuse
  // a link at any of them before anything in DIR is written.
  for (const char* name :
       {"reports", "results.db", "results.db-wal", "results.db-shm", "results.db-journal"})
    if (fs::is_symlink(out / name))
      throw InputError(fmt::format("{}: is a symbolic link, refusing to write through it",
                                   (out / name).string()));
  fs::create_directories(out / "reports", created);
  if (created)
    throw Error(
        fmt::format("--out {}: cannot create reports/ ({})", options.out_dir, created.message()));
  const auto batch_start = SteadyClock::now();
  const std::string started_at = utc_timestamp(SystemClock::now());
  BatchLog log(out / "batch.log", options.on_log);
  const json build = build_json();
  log_start(in, options, build, log);
  json previous_info = step_aside_previous_night(in, options, log);

  json jobs = json::array();
  try {
    ResultStore store((out / "results.db").string());
    JobContext ctx{nightly, store, in.threads, out};
    for (std::size_t i = 0; i < nightly.jobs.size(); ++i)
      jobs.push_back(run_job(nightly.jobs[i], i + 1, nightly.jobs.size(), ctx, log));
  } catch (const std::exception& e) {
    // Only the database itself gets here (a job's own errors are recorded in its job).
    log.error(fmt::format("batch '{}' aborted: {}", nightly.name, e.what()));
    throw;
  }

  // Comparison with the previous night, job by job (matched by name and kind), the tests of the
  // whole night decided together (Holm, family-wise alpha kFamilyAlpha).
  const NightComparison night = compare_night(
      jobs, in.previous ? &*in.previous : nullptr,
      previous_info.is_null() ? "no previous summary" : "the previous summary cannot be read",
      build);
  log_comparisons(jobs, log);
  if (in.previous) {
    previous_info["jobs_not_run_tonight"] = night.jobs_not_run_tonight;
    log.info(fmt::format("comparison: {} figure{} tested, {} listed (Holm, family-wise alpha {:g})",
                         night.holm.figures_tested, night.holm.figures_tested == 1 ? "" : "s",
                         night.holm.figures_listed, kFamilyAlpha));
  }
  std::map<std::string, std::size_t> counts = night.verdicts;

  std::size_t failed = 0;
  for (const json& job : jobs) failed += job.at("status") == "failed" ? 1 : 0;
  const std::size_t unexpected = counts["changed_unexpectedly"];
  const int exit_code = failed > 0       ? kExitJobFailed
                        : unexpected > 0 ? kExitChangedUnexpectedly
                                         : kExitOk;
  json verdicts = json::object();
  for (const auto& [verdict, n] : counts) verdicts[verdict] = n;
  const json summary = {{"format", kSummaryFormat},
                        {"format_version", kSummaryFormatVersion},
                        {"batch", batch_json(in, options, build, started_at, batch_start)},
                        {"previous", previous_info},
                        {"status", failed > 0       ? "failed"
                                   : unexpected > 0 ? "changed_unexpectedly"
                                                    : "ok"},
                        {"exit_code", exit_code},
                        {"comparison",
                         {{"method", "holm"},
                          {"family_alpha", kFamilyAlpha},
                          {"figures_tested", night.holm.figures_tested},
                          {"figures_listed", night.holm.figures_listed}}},
                        {"counts",
                         {{"jobs", jobs.size()},
                          {"ok", jobs.size() - failed},
                          {"failed", failed},
                          {"comparison", verdicts}}},
                        {"jobs", jobs}};
  try {
    // The index first, the summary last: a summary.json means the batch finished.
    write_file_atomic(out / "index.html", render_index(summary));
    write_file_atomic(out / "summary.json", summary.dump(2) + "\n");
  } catch (const std::exception& e) {
    log.error(fmt::format("batch '{}' aborted: {}", nightly.name, e.what()));
    throw;
  }
  log.info(
      fmt::format("batch '{}' end: {} ok, {} failed, {} changed unexpectedly, {} changed "
                  "beyond Monte Carlo error; exit {}; {:.1f} s",
                  nightly.name, jobs.size() - failed, failed, unexpected,
                  counts["changed_beyond_mc_error"], exit_code, seconds_since(batch_start)));
  return exit_code;
}

}  // namespace vpgen::batch
