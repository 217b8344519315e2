// The nightly file of `vpgen batch`: strict reading (every key checked, unknown keys refused).
#include "vpgen/batch/batch.hpp"
#include "batch_internal.hpp"
#include "vpgen/config/scenario_loader.hpp"
#include "vpgen/config/toml_reader.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <limits>
#include <map>

namespace vpgen::batch {

namespace {

namespace fs = std::filesystem;
using config::TableReader;

constexpr std::int64_t kMaxSeed = std::numeric_limits<std::int64_t>::max();
// The same bounds as `vpgen simulate --patients` and `vpgen validate --patients`.
constexpr std::int64_t kMaxScenarioPatients = 1'000'000'000'000;
constexpr std::int64_t kMaxValidationPatients = 1'000'000'000;

std::string resolve(const fs::path& folder, const std::string& file) {
  const fs::path p(file);
  return (p.is_absolute() ? p : folder / p).lexically_normal().string();
}

std::string location(const std::string& file, const toml::node& node) {
  return node.source().begin.line > 0 ? fmt::format("{}:{}", file, node.source().begin.line) : file;
}

// The keys every job table may carry: file (required), name and seed (optional).
JobSpec read_common(TableReader& t, JobKind kind, const fs::path& folder) {
  JobSpec job;
  job.kind = kind;
  job.file = t.path("file");
  if (job.file.empty()) t.fail("file", "must name a file");
  job.path = resolve(folder, job.file);
  job.name = t.has("name") ? t.string("name") : fs::path(job.file).stem().string();
  if (job.name.find_first_not_of(" \t") == std::string::npos)
    t.fail(t.has("name") ? "name" : "file", "the job needs a name that is not blank");
  if (t.has("seed")) job.seed = static_cast<std::uint64_t>(t.integer("seed", 0, kMaxSeed));
  return job;
}

const toml::table& element_table(const TableReader& root, const toml::node& element,
                                 const std::string& key_path) {
  const toml::table* table = element.as_table();
  if (!table)
    throw InputError(config::located(
        root.file(), element.source(), key_path,
        fmt::format("expected a table, found {}", TableReader::type_name(element))));
  return *table;
}

}  // namespace

Nightly read_nightly(const std::string& path) {
  Nightly nightly;
  nightly.file = path;
  nightly.text = config::read_text_file(path);
  const toml::table doc = config::parse_file_text(nightly.text, path);
  const fs::path folder = fs::path(path).parent_path();
  TableReader root(doc, path, "");

  {
    TableReader b = root.table("batch");
    nightly.name = b.string("name");
    if (nightly.name.find_first_not_of(" \t") == std::string::npos)
      b.fail("name", "must not be blank");
    if (b.has("seed")) nightly.seed = static_cast<std::uint64_t>(b.integer("seed", 0, kMaxSeed));
    if (b.has("threads")) nightly.threads = static_cast<int>(b.integer("threads", 0, 1024));
    b.finish();
  }

  // The name of each job and the file name of its report must be unique: the name is how the next
  // night finds the job again.
  std::map<std::string, std::string> names, slugs;  // -> where first used
  auto add = [&](JobSpec job, const TableReader& t) {
    const std::string key = t.has("name") ? "name" : "file";
    if (const auto seen = names.find(job.name); seen != names.end())
      t.fail(key, fmt::format("job name '{}' is already used at {}{}", job.name, seen->second,
                              t.has("name") ? "" : " (give this job a name)"));
    const std::string slug = file_slug(job.name);
    if (const auto seen = slugs.find(slug); seen != slugs.end())
      t.fail(key, fmt::format("job name '{}' gives the same report file name as the job at {}",
                              job.name, seen->second));
    names.emplace(job.name, job.location);
    slugs.emplace(slug, job.location);
    nightly.jobs.push_back(std::move(job));
  };

  if (root.has("scenario")) {
    const toml::array& scenarios = root.array("scenario");
    for (std::size_t i = 0; i < scenarios.size(); ++i) {
      const std::string prefix = fmt::format("scenario[{}]", i);
      TableReader t(element_table(root, scenarios[i], prefix), path, prefix);
      JobSpec job = read_common(t, JobKind::kScenario, folder);
      job.location = location(path, scenarios[i]);
      if (t.has("patients"))
        job.patients = static_cast<std::uint64_t>(t.integer("patients", 1, kMaxScenarioPatients));
      t.finish();
      add(std::move(job), t);
    }
  }
  if (root.has("design")) {
    const toml::array& designs = root.array("design");
    for (std::size_t i = 0; i < designs.size(); ++i) {
      const std::string prefix = fmt::format("design[{}]", i);
      TableReader t(element_table(root, designs[i], prefix), path, prefix);
      JobSpec job = read_common(t, JobKind::kDesign, folder);
      job.location = location(path, designs[i]);
      t.finish();
      add(std::move(job), t);
    }
  }
  if (root.has("validation")) {
    TableReader t = root.table("validation");
    JobSpec job;
    job.kind = JobKind::kValidation;
    job.file = t.path("mapping");
    if (job.file.empty()) t.fail("mapping", "must name a target mapping file");
    job.path = resolve(folder, job.file);
    job.name = t.has("name") ? t.string("name") : "validation";
    if (job.name.find_first_not_of(" \t") == std::string::npos) t.fail("name", "must not be blank");
    if (t.has("seed")) job.seed = static_cast<std::uint64_t>(t.integer("seed", 0, kMaxSeed));
    if (t.has("patients"))
      job.patients = static_cast<std::uint64_t>(t.integer("patients", 1, kMaxValidationPatients));
    if (t.has("role")) {
      job.role = t.string("role");
      if (job.role != "fit" && job.role != "holdout" && job.role != "all")
        t.fail("role", fmt::format("'{}' is not fit, holdout or all", job.role));
    }
    job.location = location(path, *doc.get("validation"));
    t.finish();
    add(std::move(job), t);
  }
  root.finish();
  if (nightly.jobs.empty())
    throw InputError(
        fmt::format("{}: no jobs: add [[scenario]], [[design]] or [validation]", path));
  return nightly;
}

}  // namespace vpgen::batch
