#include "vpgen/validation/validate.hpp"

#include "vpgen/common/json_number.hpp"
#include "vpgen/config/scenario_loader.hpp"
#include "vpgen/config/toml_reader.hpp"
#include "vpgen/engine/build_info.hpp"
#include "vpgen/population/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

namespace vpgen::validation {
namespace {

namespace fs = std::filesystem;

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(first, last - first + 1));
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// A whole string as a finite number.
std::optional<double> to_number(std::string_view s) {
  double value = 0.0;
  const char* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, value);
  if (ec != std::errc() || ptr != end || !std::isfinite(value)) return std::nullopt;
  return value;
}

template <std::size_t N>
std::string joined(const std::array<std::string_view, N>& names) {
  std::string out;
  for (std::string_view name : names) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

template <typename Enum, std::size_t N>
std::optional<Enum> from_names(const std::array<std::string_view, N>& names, std::string_view s) {
  for (std::size_t i = 0; i < N; ++i)
    if (names[i] == s) return static_cast<Enum>(i);
  return std::nullopt;
}

bool needs_months(Endpoint e) {
  return e == Endpoint::kPfsAt || e == Endpoint::kOsAt || e == Endpoint::kConditionalOs ||
         e == Endpoint::kCrOngoingAt;
}
bool is_hazard_ratio(Endpoint e) { return e == Endpoint::kHrOs || e == Endpoint::kHrPfs; }

// The unit targets.csv must give a row that an endpoint of this scale is compared with.
bool unit_fits(Scale scale, const std::string& unit) {
  switch (scale) {
    case Scale::kRatePercent: return unit == "%";
    case Scale::kMedianMonths: return unit == "months";
    case Scale::kHazardRatio: return unit == "HR";
    case Scale::kSlope: return unit.rfind("ORR percentage points per", 0) == 0;
  }
  return false;
}

std::string_view scale_unit_name(Scale scale) {
  switch (scale) {
    case Scale::kRatePercent: return "'%'";
    case Scale::kMedianMonths: return "'months'";
    case Scale::kHazardRatio: return "'HR'";
    case Scale::kSlope: return "'ORR percentage points per ln(mut/Mb)'";
  }
  return "";
}

// ---- targets.csv ------------------------------------------------------------------------------

struct CsvRow {
  std::size_t line = 0;
  std::map<std::string, std::string> columns;
};

std::map<std::string, CsvRow> read_targets_csv(const std::string& file) {
  const std::vector<CsvRecord> records = parse_csv(config::read_text_file(file), file);
  if (records.empty()) throw InputError(fmt::format("{}: empty file (no header)", file));
  const std::vector<std::string>& header = records.front().fields;
  for (const char* needed :
       {"id", "source", "endpoint", "estimate", "ci_low", "ci_high", "unit", "notes"}) {
    if (std::find(header.begin(), header.end(), needed) == header.end())
      throw InputError(
          fmt::format("{}:{}: the header has no column '{}'", file, records.front().line, needed));
  }
  std::map<std::string, CsvRow> rows;
  for (std::size_t r = 1; r < records.size(); ++r) {
    const CsvRecord& record = records[r];
    if (record.fields.size() != header.size())
      throw InputError(fmt::format("{}:{}: expected {} fields as in the header, found {}", file,
                                   record.line, header.size(), record.fields.size()));
    CsvRow row;
    row.line = record.line;
    for (std::size_t c = 0; c < header.size(); ++c) row.columns[header[c]] = record.fields[c];
    const std::string id = row.columns["id"];
    if (id.empty()) throw InputError(fmt::format("{}:{}: empty id", file, record.line));
    const auto [it, inserted] = rows.emplace(id, std::move(row));
    if (!inserted)
      throw InputError(fmt::format("{}:{}: duplicate id '{}' (first on line {})", file, record.line,
                                   id, it->second.line));
  }
  return rows;
}

// ---- Endpoint estimates -----------------------------------------------------------------------

KaplanMeier kaplan_meier(std::vector<SurvivalTime> subjects) {
  std::sort(subjects.begin(), subjects.end(),
            [](const SurvivalTime& a, const SurvivalTime& b) { return a.time < b.time; });
  KaplanMeier km;
  for (std::size_t i = 0; i < subjects.size();) {
    std::uint64_t events = 0, censored = 0;
    std::size_t j = i;
    for (; j < subjects.size() && subjects[j].time == subjects[i].time; ++j)
      ++(subjects[j].event ? events : censored);
    km.add(subjects[i].time, events, censored);
    i = j;
  }
  return km;
}

Interval percent(const Interval& fraction) {
  return {100.0 * fraction.estimate, 100.0 * fraction.low, 100.0 * fraction.high};
}

bool responded(const ArmOutcome& o) {
  return o.best_response == Response::kCR || o.best_response == Response::kPR;
}

double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
}

// ---- Output helpers ---------------------------------------------------------------------------

std::string format_value(Scale scale, double value) {
  if (std::isnan(value)) return "NA";
  switch (scale) {
    case Scale::kRatePercent: return fmt::format("{:.1f}", value);
    case Scale::kMedianMonths: return fmt::format("{:.1f}", value);
    case Scale::kHazardRatio: return fmt::format("{:.2f}", value);
    case Scale::kSlope: return fmt::format("{:.1f}", value);
  }
  return "";
}

std::string_view unit_suffix(Scale scale) {
  switch (scale) {
    case Scale::kRatePercent: return "%";
    case Scale::kMedianMonths: return " mo";
    default: return "";
  }
}

std::string simulated_text(const TargetResult& r) {
  const double horizon_months = r.target->horizon_months;
  const Scale scale = scale_of(r.target->spec.endpoint);
  const EndpointEstimate& s = r.simulated;
  if (s.not_reached) {
    // The lower limit can be reached while the median is not.
    const std::string low = std::isnan(s.value.low) ? "NR" : format_value(scale, s.value.low);
    return fmt::format("NR (>{:g} mo) [{}, NR]", horizon_months, low);
  }
  if (std::isnan(s.value.estimate)) return "n/a";
  const std::string missing_bound = scale == Scale::kMedianMonths ? "NR" : "NA";
  auto bound = [&](double v) { return std::isnan(v) ? missing_bound : format_value(scale, v); };
  return fmt::format("{}{} [{}, {}]", format_value(scale, s.value.estimate), unit_suffix(scale),
                     bound(s.value.low), bound(s.value.high));
}

std::string published_text(const MappedTarget& t) {
  std::string out = t.published.text.empty() ? "-" : t.published.text;
  if (t.published.has_interval()) {
    out += " " + t.published.ci_text;
    if (t.published.interval_kind != "95% CI") out += " (" + t.published.interval_kind + ")";
  }
  return out;
}

std::string endpoint_label(const MappedTarget& t) {
  const std::string name(to_string(t.spec.endpoint));
  if (t.spec.endpoint == Endpoint::kConditionalOs)
    return fmt::format("{} {:g}->{:g} mo", name, t.spec.from_months, t.spec.months);
  if (needs_months(t.spec.endpoint)) return fmt::format("{} {:g} mo", name, t.spec.months);
  return name;
}

std::string arm_label(const MappedTarget& t) {
  if (is_hazard_ratio(t.spec.endpoint)) return t.arm + " vs " + t.reference_arm;
  return t.arm;
}

// The trial's name: the source up to its first " | ".
std::string short_source(const std::string& source) {
  return trim(source.substr(0, source.find(" | ")));
}

std::string fraction_text(const RoleSummary& s) {
  if (s.targets == 0) return "none";
  return fmt::format("{} of {} ({:.1f}%)", s.within, s.targets, 100.0 * s.fraction());
}

std::string markdown_cell(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

std::string version_text() {
  const BuildInfo b = build_info();
  return fmt::format("{} (commit {})", b.vpgen_version,
                     b.git_commit.empty() ? "unknown" : b.git_commit);
}

// Receives the simulated blocks in patient order (run_cohort's contract) and keeps what the
// endpoints need.
class CohortSink final : public OutcomeSink {
 public:
  explicit CohortSink(Cohort& cohort) : cohort_(cohort) {}
  void write_block(const Block& block) override {
    for (const PatientResult& r : block.results) cohort_.add(r.patient, r.outcomes);
  }

 private:
  Cohort& cohort_;
};

}  // namespace

// ---- CSV --------------------------------------------------------------------------------------

std::vector<CsvRecord> parse_csv(std::string_view text, const std::string& file) {
  std::vector<CsvRecord> records;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::size_t line = 1;
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    // Blank lines hold no record.
    if (text[i] == '\n' || text[i] == '\r') {
      if (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') ++i;
      ++i;
      ++line;
      continue;
    }
    CsvRecord record;
    record.line = line;
    bool end_of_record = false;
    while (!end_of_record) {
      std::string field;
      if (i < n && text[i] == '"') {
        const std::size_t field_line = line;
        ++i;
        bool closed = false;
        while (i < n) {
          const char c = text[i];
          if (c == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            closed = true;
            break;
          }
          if (c == '\n') ++line;
          field += c;
          ++i;
        }
        if (!closed)
          throw InputError(fmt::format("{}:{}: quoted field {} is never closed", file, field_line,
                                       record.fields.size() + 1));
        if (i < n && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
          throw InputError(fmt::format("{}:{}: text after the closing quote of field {}", file,
                                       line, record.fields.size() + 1));
      } else {
        while (i < n && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
          if (text[i] == '"')
            throw InputError(fmt::format(
                "{}:{}: a quote inside unquoted field {} (quote the whole field, RFC 4180)", file,
                line, record.fields.size() + 1));
          field += text[i];
          ++i;
        }
      }
      record.fields.push_back(std::move(field));
      if (i < n && text[i] == ',') {
        ++i;
        continue;
      }
      // End of line or of the text.
      if (i < n && text[i] == '\r') ++i;
      if (i < n && text[i] == '\n') ++i;
      ++line;
      end_of_record = true;
    }
    records.push_back(std::move(record));
  }
  return records;
}

// ---- Vocabularies -----------------------------------------------------------------------------

bool in_subgroup(Subgroup subgroup, const Patient& p) {
  switch (subgroup) {
    case Subgroup::kAll: return true;
    case Subgroup::kPdl1Lt1: return p.pdl1_tps_percent < 1.0;
    case Subgroup::kPdl1Ge1: return p.pdl1_tps_percent >= 1.0;
    case Subgroup::kPdl1Lt5: return p.pdl1_tps_percent < 5.0;
    case Subgroup::kPdl1Ge5: return p.pdl1_tps_percent >= 5.0;
    case Subgroup::kPdl1From1To49: return p.pdl1_tps_percent >= 1.0 && p.pdl1_tps_percent < 50.0;
    case Subgroup::kPdl1Ge50: return p.pdl1_tps_percent >= 50.0;
    case Subgroup::kLdhNormal: return !p.ldh_elevated;
    case Subgroup::kLdhElevated: return p.ldh_elevated;
    case Subgroup::kEcog0: return p.ecog == 0;
    case Subgroup::kEcogGe1: return p.ecog >= 1;
    case Subgroup::kHot: return p.hot;
    case Subgroup::kCold: return !p.hot;
    case Subgroup::kTmbGe10: return p.tmb_mut_per_mb >= 10.0;
    case Subgroup::kTmbLt10: return p.tmb_mut_per_mb < 10.0;
    case Subgroup::kPriorAntiPd1: return p.prior_anti_pd1;
    case Subgroup::kNoPriorAntiPd1: return !p.prior_anti_pd1;
    case Subgroup::kAgeLt65: return p.age_years < 65.0;
    case Subgroup::kAgeGe65: return p.age_years >= 65.0;
    case Subgroup::kSitesLe2: return p.metastatic_sites <= 2;
    case Subgroup::kSitesGe3: return p.metastatic_sites >= 3;
  }
  return false;
}

// ---- Published figures ------------------------------------------------------------------------

PublishedValue parse_published(const std::string& estimate, const std::string& ci_low,
                               const std::string& ci_high, const std::string& notes,
                               const std::string& where) {
  PublishedValue p;
  p.text = trim(estimate);
  if (p.text.empty()) {
    // A range with no point (e.g. model estimates); the interval columns carry it.
  } else if (lower(p.text) == "nr") {
    p.lower_bound = true;
  } else if (p.text.front() == '>') {
    // ">120", ">60.0 (NR)": the number up to a space or parenthesis.
    const std::string rest = trim(std::string_view(p.text).substr(1));
    const std::string number = rest.substr(0, rest.find_first_of(" ("));
    const auto bound = to_number(number);
    if (!bound)
      throw InputError(
          fmt::format("{}: estimate '{}' is not a number, NR or >number", where, p.text));
    p.value = *bound;
    p.lower_bound = true;
  } else if (const auto value = to_number(p.text)) {
    p.value = *value;
  } else {
    throw InputError(
        fmt::format("{}: estimate '{}' is not a number, NR or >number", where, p.text));
  }

  const std::string low = trim(ci_low), high = trim(ci_high);
  if (low.empty() && high.empty()) {
    if (p.text.empty()) throw InputError(fmt::format("{}: no estimate and no interval", where));
    return p;
  }
  if (low.empty() || high.empty())
    throw InputError(fmt::format("{}: only one interval bound ('{}', '{}')", where, low, high));
  const auto low_value = to_number(low);
  if (!low_value) throw InputError(fmt::format("{}: ci_low '{}' is not a number", where, low));
  double high_value = kInfinity;
  if (lower(high) != "nr") {
    const auto parsed = to_number(high);
    if (!parsed)
      throw InputError(fmt::format("{}: ci_high '{}' is not a number or NR", where, high));
    high_value = *parsed;
  }
  if (*low_value > high_value)
    throw InputError(fmt::format("{}: ci_low {} is above ci_high {}", where, low, high));
  p.ci_low = *low_value;
  p.ci_high = high_value;
  p.ci_text = fmt::format("[{}, {}]", low, high);

  const std::string notes_lower = lower(notes);
  static const std::regex kLevel(R"(([0-9]+(\.[0-9]+)?)\s*%\s*ci)");
  std::smatch match;
  if (notes_lower.find("not a ci") != std::string::npos ||
      notes_lower.find("not ci") != std::string::npos) {
    p.interval_kind = "range (not a CI)";
  } else if (std::regex_search(notes_lower, match, kLevel)) {
    p.interval_kind = match[1].str() + "% CI";
  } else {
    p.interval_kind = "95% CI";
  }
  return p;
}

// ---- The mapping ------------------------------------------------------------------------------

Mapping load_mapping(const std::string& path) {
  Mapping mapping;
  mapping.file = path;
  const toml::table document = config::parse_file_text(config::read_text_file(path), path);
  config::TableReader root(document, path, "");
  const fs::path folder = fs::path(path).parent_path();
  mapping.targets_csv = (folder / "targets.csv").string();
  if (!fs::exists(mapping.targets_csv))
    throw InputError(fmt::format("{}: no targets.csv beside it ({})", path, mapping.targets_csv));
  const std::map<std::string, CsvRow> rows = read_targets_csv(mapping.targets_csv);

  const toml::array& targets = root.array("target");
  root.finish();
  if (targets.empty()) root.fail("target", "no [[target]] tables");

  std::map<std::string, std::size_t> scenario_by_path;  // normalised path -> index
  std::map<std::string, std::string> first_location;    // id -> where it was first mapped
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const std::string prefix = fmt::format("target[{}]", i);
    const toml::table* table = targets[i].as_table();
    if (!table)
      throw InputError(
          config::located(path, targets[i].source(), prefix, "expected a table ([[target]])"));
    config::TableReader t(*table, path, prefix);
    MappedTarget target;
    target.location = fmt::format("{}:{}", path, table->source().begin.line);

    target.id = t.string("id");
    const auto row_it = rows.find(target.id);
    if (row_it == rows.end())
      t.fail("id", fmt::format("no row '{}' in {}", target.id, mapping.targets_csv));
    if (const auto seen = first_location.find(target.id); seen != first_location.end())
      t.fail("id", fmt::format("'{}' is mapped twice (first at {})", target.id, seen->second));
    first_location.emplace(target.id, target.location);
    const CsvRow& row = row_it->second;
    auto column = [&](const char* name) { return row.columns.at(name); };
    target.source = column("source");
    target.csv_endpoint = column("endpoint");
    target.unit = column("unit");

    const std::string scenario_path = t.path("scenario");
    const fs::path resolved = (folder / scenario_path).lexically_normal();
    if (!fs::is_regular_file(resolved))
      t.fail("scenario", fmt::format("no such file '{}'", resolved.string()));
    auto [scenario_it, is_new] =
        scenario_by_path.emplace(resolved.string(), mapping.scenarios.size());
    if (is_new) {
      Scenario scenario = config::load_scenario(resolved.string());
      scenario.store_events = false;  // validation needs outcomes only
      mapping.scenarios.push_back({scenario_path, std::move(scenario)});
    }
    target.scenario_index = scenario_it->second;
    const Scenario& scenario = mapping.scenarios[target.scenario_index].scenario;
    target.scenario = scenario_path;
    target.horizon_months = scenario.horizon_months;
    auto arm_index = [&](std::string_view key, const std::string& name) {
      std::string names;
      for (std::size_t a = 0; a < scenario.arms.size(); ++a) {
        if (scenario.arms[a].name == name) return a;
        names += (a == 0 ? "'" : ", '") + scenario.arms[a].name + "'";
      }
      t.fail(key,
             fmt::format("scenario '{}' has no arm '{}' (arms: {})", scenario_path, name, names));
    };
    target.arm = t.string("arm");
    target.spec.arm_index = arm_index("arm", target.arm);

    const std::string subgroup = t.string("subgroup");
    const auto parsed_subgroup = from_names<Subgroup>(kSubgroupNames, subgroup);
    if (!parsed_subgroup)
      t.fail("subgroup",
             fmt::format("unknown subgroup '{}' (one of: {})", subgroup, joined(kSubgroupNames)));
    target.spec.subgroup = *parsed_subgroup;

    const std::string endpoint = t.string("endpoint");
    const auto parsed_endpoint = from_names<Endpoint>(kEndpointNames, endpoint);
    if (!parsed_endpoint)
      t.fail("endpoint",
             fmt::format("unknown endpoint '{}' (one of: {})", endpoint, joined(kEndpointNames)));
    const Endpoint e = *parsed_endpoint;
    target.spec.endpoint = e;
    const Scale scale = scale_of(e);
    if (!unit_fits(scale, target.unit))
      t.fail("endpoint", fmt::format("'{}' is compared in {}, but {}:{} ({}, {}) is in '{}'",
                                     endpoint, scale_unit_name(scale), mapping.targets_csv,
                                     row.line, target.id, target.csv_endpoint, target.unit));

    if (needs_months(e)) {
      target.spec.months = t.number("months", 0.0, scenario.horizon_months);
      if (target.spec.months <= 0.0) t.fail("months", "must be positive");
    } else if (t.has("months")) {
      t.fail("months", "only for pfs_at, os_at, conditional_os and cr_ongoing_at");
    }
    if (e == Endpoint::kConditionalOs) {
      target.spec.from_months = t.number("from_months", 0.0, scenario.horizon_months);
      if (!(target.spec.from_months < target.spec.months))
        t.fail("from_months", fmt::format("must be below months ({:g})", target.spec.months));
    } else if (t.has("from_months")) {
      t.fail("from_months", "only for conditional_os");
    }
    if (is_hazard_ratio(e)) {
      target.reference_arm = t.string("reference_arm");
      target.spec.reference_arm_index = arm_index("reference_arm", target.reference_arm);
      if (target.spec.reference_arm_index == target.spec.arm_index)
        t.fail("reference_arm", "must differ from arm");
    } else if (t.has("reference_arm")) {
      t.fail("reference_arm", "only for hr_os and hr_pfs");
    }

    const std::string role = t.string("role");
    if (role == "fit") target.role = Role::kFit;
    else if (role == "holdout") target.role = Role::kHoldout;
    else t.fail("role", fmt::format("'{}' is not fit or holdout", role));

    const std::string tolerance = t.string("tolerance");
    if (tolerance == "default") target.tolerance = ToleranceMode::kDefault;
    else if (tolerance == "ci_only") target.tolerance = ToleranceMode::kCiOnly;
    else t.fail("tolerance", fmt::format("'{}' is not default or ci_only", tolerance));

    if (t.has("note")) target.note = t.text("note");
    t.finish();

    target.published =
        parse_published(column("estimate"), column("ci_low"), column("ci_high"), column("notes"),
                        fmt::format("{}:{}: {}", mapping.targets_csv, row.line, target.id));
    if (target.tolerance == ToleranceMode::kCiOnly && !target.published.has_interval() &&
        !target.published.lower_bound)
      t.fail("tolerance", fmt::format("ci_only, but {}:{} gives no interval for {}",
                                      mapping.targets_csv, row.line, target.id));
    mapping.targets.push_back(std::move(target));
  }
  return mapping;
}

// ---- Cohorts and endpoints --------------------------------------------------------------------

void Cohort::add(const Patient& patient, const std::vector<Outcome>& outcomes) {
  if (outcomes.size() != arms_)
    throw Error(fmt::format("Cohort::add: patient {} has {} outcomes for {} arms", patient.index,
                            outcomes.size(), arms_));
  patients_.push_back(patient);
  for (const Outcome& o : outcomes) {
    ArmOutcome a;
    a.pfs_months = o.pfs_months;
    a.os_months = o.os_months;
    a.pfs_event = o.pfs_event;
    a.os_event = o.os_event;
    a.durable_cr = o.durable_cr;
    if (!std::isnan(o.duration_of_response_months)) {
      a.dor_months = o.duration_of_response_months;
      a.dor_event = o.dor_event;
    }
    a.best_response = o.best_response;
    a.worst_irae_grade = static_cast<std::uint8_t>(std::clamp(o.worst_irae_grade, 0, 5));
    a.worst_ae_grade = static_cast<std::uint8_t>(std::clamp(o.worst_ae_grade, 0, 5));
    outcomes_.push_back(a);
  }
}

EndpointEstimate estimate_endpoint(const Cohort& cohort, const EndpointSpec& spec, double level) {
  const std::size_t arm = spec.arm_index;
  if (arm >= cohort.arms() ||
      (is_hazard_ratio(spec.endpoint) && spec.reference_arm_index >= cohort.arms()))
    throw Error(
        fmt::format("estimate_endpoint: arm {} of a cohort with {} arms", arm, cohort.arms()));
  EndpointEstimate out;

  // A proportion over the subgroup: `counts` says whether a patient is in the denominator and
  // whether in the numerator.
  auto rate = [&](auto counts) {
    std::uint64_t k = 0, n = 0;
    for (std::size_t i = 0; i < cohort.size(); ++i) {
      if (!in_subgroup(spec.subgroup, cohort.patient(i))) continue;
      const auto [in_denominator, in_numerator] = counts(cohort.outcome(i, arm));
      if (!in_denominator) continue;
      ++n;
      if (in_numerator) ++k;
    }
    out.n = n;
    out.value = percent(clopper_pearson(k, n, level));
    return out;
  };
  auto survival = [&](std::size_t a, bool os, double alive_after) {
    std::vector<SurvivalTime> s;
    for (std::size_t i = 0; i < cohort.size(); ++i) {
      if (!in_subgroup(spec.subgroup, cohort.patient(i))) continue;
      const ArmOutcome& o = cohort.outcome(i, a);
      const double time = os ? o.os_months : o.pfs_months;
      if (time <= alive_after) continue;
      s.push_back({time, os ? o.os_event : o.pfs_event});
    }
    return s;
  };

  switch (spec.endpoint) {
    case Endpoint::kOrr:
      return rate([](const ArmOutcome& o) { return std::pair{true, responded(o)}; });
    case Endpoint::kCrRate:
      return rate([](const ArmOutcome& o) {
        return std::pair{true, o.best_response == Response::kCR};
      });
    case Endpoint::kTraeG3:
      return rate([](const ArmOutcome& o) {
        return std::pair{true, std::max(o.worst_irae_grade, o.worst_ae_grade) >= 3};
      });
    case Endpoint::kTraeAny:
      return rate([](const ArmOutcome& o) {
        return std::pair{true, std::max(o.worst_irae_grade, o.worst_ae_grade) >= 1};
      });
    case Endpoint::kIraeAny:
      return rate([](const ArmOutcome& o) { return std::pair{true, o.worst_irae_grade >= 1}; });
    case Endpoint::kDurableCrAmongCr:
      return rate([](const ArmOutcome& o) {
        return std::pair{o.best_response == Response::kCR, o.durable_cr};
      });
    case Endpoint::kCrOngoingAt: {
      // Complete responders still responding `months` after their first response: the
      // Kaplan-Meier estimate of the duration of response (ended by progression or death) among
      // patients whose best response is CR. The clock starts at the first confirmed response,
      // which precedes the first CR when a PR came first: a little stricter than "from the first
      // CR".
      std::vector<SurvivalTime> s;
      for (std::size_t i = 0; i < cohort.size(); ++i) {
        if (!in_subgroup(spec.subgroup, cohort.patient(i))) continue;
        const ArmOutcome& o = cohort.outcome(i, arm);
        if (o.best_response == Response::kCR) s.push_back({o.dor_months, o.dor_event});
      }
      out.n = s.size();
      out.value = percent(kaplan_meier(s).survival_at(spec.months, level));
      return out;
    }
    case Endpoint::kMedianPfs:
    case Endpoint::kMedianOs: {
      const std::vector<SurvivalTime> s =
          survival(arm, spec.endpoint == Endpoint::kMedianOs, -kInfinity);
      out.n = s.size();
      out.value = kaplan_meier(s).median(level);
      out.not_reached = out.n > 0 && std::isnan(out.value.estimate);
      return out;
    }
    case Endpoint::kPfsAt:
    case Endpoint::kOsAt:
    case Endpoint::kConditionalOs: {
      // Conditioning on being alive at from_months: the Kaplan-Meier curve of those still at
      // risk after it has the same risk sets after from_months as the whole cohort's.
      const bool conditional = spec.endpoint == Endpoint::kConditionalOs;
      const std::vector<SurvivalTime> s = survival(arm, spec.endpoint != Endpoint::kPfsAt,
                                                   conditional ? spec.from_months : -kInfinity);
      out.n = s.size();
      out.value = percent(kaplan_meier(s).survival_at(spec.months, level));
      return out;
    }
    case Endpoint::kHrOs:
    case Endpoint::kHrPfs: {
      const bool os = spec.endpoint == Endpoint::kHrOs;
      const std::vector<SurvivalTime> group = survival(arm, os, -kInfinity);
      const std::vector<SurvivalTime> reference =
          survival(spec.reference_arm_index, os, -kInfinity);
      out.n = group.size();
      out.value = cox_hazard_ratio(group, reference, level).hazard_ratio;
      return out;
    }
    case Endpoint::kOrrLnTmbSlope: {
      // Yarchoan et al., NEJM 2017: ORR (%) of each cancer type against ln of its median TMB.
      std::array<std::vector<double>, kCancerTypeCount> tmb;
      std::array<std::uint64_t, kCancerTypeCount> responders{};
      for (std::size_t i = 0; i < cohort.size(); ++i) {
        const Patient& p = cohort.patient(i);
        if (!in_subgroup(spec.subgroup, p)) continue;
        const auto type = static_cast<std::size_t>(p.cancer_type);
        tmb[type].push_back(p.tmb_mut_per_mb);
        if (responded(cohort.outcome(i, arm))) ++responders[type];
        ++out.n;
      }
      std::vector<double> x;
      std::vector<std::uint64_t> k, n;
      for (std::size_t type = 0; type < kCancerTypeCount; ++type) {
        if (tmb[type].empty()) continue;
        const double median = median_of(tmb[type]);
        if (!(median > 0.0)) continue;  // ln undefined; the sampler's TMB is positive
        x.push_back(std::log(median));
        k.push_back(responders[type]);
        n.push_back(tmb[type].size());
      }
      out.value = percent(proportion_slope(x, k, n, level));
      return out;
    }
  }
  return out;
}

// ---- Verdicts ---------------------------------------------------------------------------------

Verdict decide(Scale scale, const PublishedValue& published, ToleranceMode mode,
               const EndpointEstimate& simulated, double horizon_months) {
  struct Range {
    double low;
    double high;
  };
  std::vector<Range> accepted;
  std::vector<std::string> parts;
  const bool relative = scale != Scale::kRatePercent;
  const std::string tolerance = relative ? fmt::format("{:g}%", 100.0 * kRelativeTolerance)
                                         : fmt::format("{:g} points", kRateTolerancePoints);

  if (published.has_interval()) {
    accepted.push_back({published.ci_low, published.ci_high});
    parts.push_back(fmt::format("inside the published {} {}{}", published.interval_kind,
                                published.ci_text,
                                published.interval_kind == "95% CI" ? "" : " (used as given)"));
  }
  // The published figure as a range: a point, a lower bound ("NR" at the horizon), or none.
  std::optional<Range> figure;
  std::string figure_text;
  if (published.lower_bound) {
    const double bound = std::isnan(published.value) ? horizon_months : published.value;
    figure = Range{bound, kInfinity};
    figure_text =
        std::isnan(published.value)
            ? fmt::format("NR read as a lower bound at the {:g}-month horizon", horizon_months)
            : fmt::format("the published lower bound {:g}", bound);
  } else if (!std::isnan(published.value)) {
    figure = Range{published.value, published.value};
    figure_text = fmt::format("{:g}", published.value);
  } else if (published.has_interval()) {
    figure = Range{published.ci_low, published.ci_high};  // a range with no point
    figure_text = "the published range";
  }
  if (figure && mode == ToleranceMode::kDefault) {
    auto widen_low = [&](double v) {
      return relative ? v - kRelativeTolerance * std::abs(v) : v - kRateTolerancePoints;
    };
    auto widen_high = [&](double v) {
      if (std::isinf(v)) return v;
      return relative ? v + kRelativeTolerance * std::abs(v) : v + kRateTolerancePoints;
    };
    const Range widened{widen_low(figure->low), widen_high(figure->high)};
    accepted.push_back(widened);
    std::string part =
        published.lower_bound
            ? fmt::format("at least {:.4g} ({} less {})", widened.low, figure_text, tolerance)
            : fmt::format("within {} of {}", tolerance, figure_text);
    if (!published.has_interval()) part += " (no published interval)";
    parts.push_back(part);
  } else if (figure && !published.has_interval()) {
    accepted.push_back(*figure);  // ci_only with a lower bound: the bound itself
    parts.push_back(fmt::format("at least {:.4g} ({})", figure->low, figure_text));
  }

  Verdict verdict;
  for (const std::string& part : parts) verdict.rule += (verdict.rule.empty() ? "" : " or ") + part;
  if (mode == ToleranceMode::kCiOnly) verdict.rule += " (ci_only)";
  if (simulated.not_reached) {
    // The simulated median lies beyond the horizon: within if the accepted set reaches past it.
    for (const Range& r : accepted) verdict.within = verdict.within || r.high > horizon_months;
  } else if (std::isnan(simulated.value.estimate)) {
    verdict.rule += "; simulated value not estimable";
  } else {
    const double s = simulated.value.estimate;
    for (const Range& r : accepted) verdict.within = verdict.within || (s >= r.low && s <= r.high);
  }
  return verdict;
}

// ---- The run ----------------------------------------------------------------------------------

namespace {

bool selected(const MappedTarget& t, std::optional<Role> role) { return !role || t.role == *role; }

void evaluate_scenario(const Mapping& mapping, std::size_t scenario_index, const Cohort& cohort,
                       double ci_level, std::optional<Role> role,
                       std::vector<TargetResult>& results) {
  for (std::size_t i = 0; i < mapping.targets.size(); ++i) {
    const MappedTarget& t = mapping.targets[i];
    if (t.scenario_index != scenario_index || !selected(t, role)) continue;
    TargetResult& r = results[i];
    r.target = &t;
    r.simulated = estimate_endpoint(cohort, t.spec, ci_level);
    r.verdict =
        decide(scale_of(t.spec.endpoint), t.published, t.tolerance, r.simulated, t.horizon_months);
  }
}

void summarise(ValidationReport& report, std::vector<TargetResult> results) {
  for (TargetResult& r : results) {
    if (!r.target) continue;
    RoleSummary& by_role = r.target->role == Role::kFit ? report.fit : report.holdout;
    for (RoleSummary* s : {&report.overall, &by_role}) {
      ++s->targets;
      if (r.verdict.within) ++s->within;
    }
    report.targets.push_back(std::move(r));
  }
}

}  // namespace

ValidationReport run_validation(const Mapping& mapping, const ValidationOptions& options) {
  if (options.patients == 0) throw InputError("--patients: must be at least 1");
  if (options.seed &&
      *options.seed > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    throw InputError(fmt::format("--seed {}: must be below 2^63", *options.seed));
  ValidationReport report;
  report.mapping_file = mapping.file;
  report.patients = options.patients;
  std::vector<std::size_t> needed;
  for (const MappedTarget& t : mapping.targets)
    if (selected(t, options.role) &&
        std::find(needed.begin(), needed.end(), t.scenario_index) == needed.end())
      needed.push_back(t.scenario_index);

  std::vector<TargetResult> results(mapping.targets.size());
  for (std::size_t k = 0; k < needed.size(); ++k) {
    const MappedScenario& mapped = mapping.scenarios[needed[k]];
    const Simulator simulator(mapped.scenario);
    Cohort cohort(mapped.scenario.arms.size());
    CohortSink sink(cohort);
    RunOptions run;
    run.seed = options.seed.value_or(mapped.scenario.seed);
    run.patients = options.patients;
    run.threads = options.threads;
    if (options.on_progress)
      run.on_progress = [&](const Progress& p) {
        options.on_progress({k, needed.size(), mapped.path, p});
      };
    run_cohort(simulator, run, sink);
    report.runs.push_back({mapped.path, mapped.scenario.name, run.seed, options.patients,
                           mapped.scenario.horizon_months});
    // Evaluate now and let the cohort go: memory holds one scenario at a time.
    evaluate_scenario(mapping, needed[k], cohort, report.ci_level, options.role, results);
  }
  summarise(report, std::move(results));
  return report;
}

ValidationReport evaluate(const Mapping& mapping, const std::vector<const Cohort*>& cohorts,
                          const std::vector<ScenarioRun>& runs, std::optional<Role> role) {
  if (cohorts.size() != mapping.scenarios.size())
    throw Error(fmt::format("evaluate: {} cohorts for {} scenarios", cohorts.size(),
                            mapping.scenarios.size()));
  ValidationReport report;
  report.mapping_file = mapping.file;
  report.runs = runs;
  if (!runs.empty()) report.patients = runs.front().patients;
  std::vector<TargetResult> results(mapping.targets.size());
  for (std::size_t s = 0; s < cohorts.size(); ++s)
    if (cohorts[s]) evaluate_scenario(mapping, s, *cohorts[s], report.ci_level, role, results);
  summarise(report, std::move(results));
  return report;
}

// ---- Output -----------------------------------------------------------------------------------

nlohmann::json validation_json(const ValidationReport& report) {
  using nlohmann::json;
  json runs = json::array();
  for (const ScenarioRun& r : report.runs)
    runs.push_back({{"scenario", r.path},
                    {"name", r.name},
                    {"seed", r.seed},
                    {"patients", r.patients},
                    {"horizon_months", r.horizon_months}});
  json targets = json::array();
  for (const TargetResult& r : report.targets) {
    const MappedTarget& t = *r.target;
    const PublishedValue& p = t.published;
    json o = {
        {"id", t.id},
        {"source", t.source},
        {"endpoint", std::string(to_string(t.spec.endpoint))},
        {"published", number_or_null(p.value)},
        {"simulated", number_or_null(r.simulated.value.estimate)},
        {"sim_ci_low", number_or_null(r.simulated.value.low)},
        {"sim_ci_high", number_or_null(r.simulated.value.high)},
        {"within_tolerance", r.verdict.within},
        {"scenario", t.scenario},
        {"arm", t.arm},
        {"subgroup", std::string(to_string(t.spec.subgroup))},
        {"role", std::string(to_string(t.role))},
        {"published_ci_low", number_or_null(p.ci_low)},
        {"published_ci_high", std::isinf(p.ci_high) ? json(nullptr) : number_or_null(p.ci_high)},
        {"tolerance_rule", r.verdict.rule},
        {"tolerance", t.tolerance == ToleranceMode::kDefault ? "default" : "ci_only"},
        {"published_text", p.text},
        {"published_is_lower_bound", p.lower_bound},
        {"published_interval", p.has_interval() ? json(p.interval_kind) : json(nullptr)},
        {"published_ci_text", p.has_interval() ? json(p.ci_text) : json(nullptr)},
        {"published_endpoint", t.csv_endpoint},
        {"unit", t.unit},
        {"simulated_not_reached", r.simulated.not_reached},
        {"simulated_text", simulated_text(r)},
        {"n", r.simulated.n},
    };
    if (is_hazard_ratio(t.spec.endpoint)) o["reference_arm"] = t.reference_arm;
    if (needs_months(t.spec.endpoint)) o["months"] = t.spec.months;
    if (t.spec.endpoint == Endpoint::kConditionalOs) o["from_months"] = t.spec.from_months;
    if (!t.note.empty()) o["note"] = t.note;
    targets.push_back(std::move(o));
  }
  auto summary = [](const RoleSummary& s) {
    return json{
        {"targets", s.targets}, {"within", s.within}, {"fraction", number_or_null(s.fraction())}};
  };
  return json{{"vpgen", version_text()},
              {"mapping", report.mapping_file},
              {"patients", report.patients},
              {"ci_level", report.ci_level},
              {"runs", runs},
              {"targets", targets},
              {"summary",
               {{"overall", summary(report.overall)},
                {"fit", summary(report.fit)},
                {"holdout", summary(report.holdout)}}}};
}

namespace {

// A table whose columns are as wide as their widest cell (ASCII text).
std::string aligned_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], row[c].size());
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c)
      line += c + 1 == row.size() ? row[c] : fmt::format("{:<{}}  ", row[c], width[c]);
    out += trim(line) + "\n";
  }
  return out;
}

std::string summary_line(const ValidationReport& report) {
  return fmt::format("Within tolerance: {} overall; fit {}; holdout {}",
                     fraction_text(report.overall), fraction_text(report.fit),
                     fraction_text(report.holdout));
}

}  // namespace

std::string validation_text(const ValidationReport& report) {
  std::string out = fmt::format(
      "vpgen validate: {} targets from {}, {} patients per scenario, {:g}% CIs (vpgen {})\n",
      report.targets.size(), report.mapping_file, report.patients, 100.0 * report.ci_level,
      version_text());
  for (const ScenarioRun& r : report.runs)
    out += fmt::format("  scenario {} ('{}'), seed {}, horizon {:g} months\n", r.path, r.name,
                       r.seed, r.horizon_months);
  out += "\n";
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"id", "role", "trial", "endpoint", "arm", "subgroup", "published",
                  "simulated [95% CI]", "within"});
  for (const TargetResult& r : report.targets) {
    const MappedTarget& t = *r.target;
    std::string trial = short_source(t.source);
    if (trial.size() > 24) trial = trial.substr(0, 21) + "...";
    rows.push_back({t.id, std::string(to_string(t.role)), trial, endpoint_label(t), arm_label(t),
                    std::string(to_string(t.spec.subgroup)), published_text(t), simulated_text(r),
                    r.verdict.within ? "yes" : "NO"});
  }
  out += aligned_table(rows);
  out += "\n" + summary_line(report) + "\n";
  return out;
}

std::string validation_markdown(const ValidationReport& report) {
  std::string out = "\n## Results\n\n";
  out += fmt::format(
      "Generated by `vpgen validate --format md` (vpgen {}) from `{}`: {} simulated patients per "
      "scenario, every arm; simulation intervals are {:g}% CIs.\n\n",
      version_text(), report.mapping_file, report.patients, 100.0 * report.ci_level);
  out += fmt::format("**{}.**\n\n", summary_line(report));
  out +=
      "| id | trial | role | endpoint | arm | subgroup | published | simulated [95% CI] | "
      "within | rule |\n";
  out += "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const TargetResult& r : report.targets) {
    const MappedTarget& t = *r.target;
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", t.id,
                       markdown_cell(short_source(t.source)), to_string(t.role),
                       markdown_cell(endpoint_label(t)), markdown_cell(arm_label(t)),
                       to_string(t.spec.subgroup), markdown_cell(published_text(t)),
                       markdown_cell(simulated_text(r)), r.verdict.within ? "yes" : "**no**",
                       markdown_cell(r.verdict.rule));
  }
  out +=
      "\nScenarios:\n\n| scenario | name | seed | patients | horizon (months) |\n"
      "|---|---|---|---|---|\n";
  for (const ScenarioRun& r : report.runs)
    out += fmt::format("| `{}` | {} | {} | {} | {:g} |\n", r.path, markdown_cell(r.name), r.seed,
                       r.patients, r.horizon_months);
  bool any_note = false;
  for (const TargetResult& r : report.targets) {
    if (r.target->note.empty()) continue;
    if (!any_note) out += "\nHow the mapping approximates the published definitions:\n\n";
    any_note = true;
    out += fmt::format("- {}: {}\n", r.target->id, markdown_cell(r.target->note));
  }
  return out;
}

}  // namespace vpgen::validation
