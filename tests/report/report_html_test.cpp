#include "vpgen/report/report_html.hpp"

#include "vpgen/run/provenance.hpp"
#include "vpgen/report/report_data.hpp"
#include "vpgen/config/scenario_loader.hpp"
#include "svg_plot.hpp"
#include "vpgen/engine/simulator.hpp"
#include "vpgen/population/error.hpp"
#include "vpgen/storage/database.hpp"
#include "support/files.hpp"
#include "support/skip.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using vpgen::testing::have_program;
using vpgen::testing::slurp;
using vpgen::testing::write_text;

// ---- A strict XML 1.0 well-formedness checker (what a standalone .svg must be) ------------------
// Elements nest and close by name, attribute values are quoted and unique per element, '<' never
// appears in text or attribute values, every '&' starts one of the five predefined entities or a
// character reference, and nothing but comments and white space surrounds the single root element.
class XmlChecker {
 public:
  explicit XmlChecker(std::string_view text) : s_(text) {}

  // Empty if well-formed, else the first problem with its byte offset.
  std::string check() {
    try {
      if (s_.substr(0, 5) == "<?xml") {
        const std::size_t end = s_.find("?>");
        if (end == std::string_view::npos) fail("unterminated XML declaration");
        i_ = end + 2;
      }
      misc();
      if (i_ >= s_.size() || s_[i_] != '<') fail("no root element");
      element();
      misc();
      if (i_ != s_.size()) fail("content after the root element");
    } catch (const std::string& error) {
      return error;
    }
    return {};
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw fmt::format("offset {}: {}", i_, why);
  }
  static bool name_start(char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
  }
  static bool name_char(char c) {
    return name_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.';
  }
  void spaces() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r'))
      ++i_;
  }
  void comment() {
    const std::size_t end = s_.find("-->", i_ + 4);
    if (end == std::string_view::npos) fail("unterminated comment");
    i_ = end + 3;
  }
  void misc() {
    for (;;) {
      spaces();
      if (s_.substr(i_, 4) == "<!--") comment();
      else return;
    }
  }
  std::string name() {
    if (i_ >= s_.size() || !name_start(s_[i_])) fail("expected a name");
    const std::size_t start = i_;
    while (i_ < s_.size() && name_char(s_[i_])) ++i_;
    return std::string(s_.substr(start, i_ - start));
  }
  void reference() {
    const std::size_t end = s_.find(';', i_);
    if (end == std::string_view::npos || end - i_ > 12) fail("'&' without a reference");
    const std::string_view ref = s_.substr(i_ + 1, end - i_ - 1);
    static const std::set<std::string_view> kNamed = {"amp", "lt", "gt", "quot", "apos"};
    bool ok = kNamed.count(ref) > 0;
    if (!ok && ref.size() > 1 && ref[0] == '#') {
      const bool hex = ref[1] == 'x';
      const std::string_view digits = ref.substr(hex ? 2 : 1);
      ok = !digits.empty() && std::all_of(digits.begin(), digits.end(), [hex](char c) {
        return hex ? std::isxdigit(static_cast<unsigned char>(c)) != 0
                   : std::isdigit(static_cast<unsigned char>(c)) != 0;
      });
    }
    if (!ok) fail("unknown reference &" + std::string(ref) + ";");
    i_ = end + 1;
  }
  void element() {
    ++i_;  // '<'
    const std::string tag = name();
    std::set<std::string> attributes;
    for (;;) {
      const std::size_t before = i_;
      spaces();
      if (i_ >= s_.size()) fail("unterminated start tag <" + tag);
      if (s_.substr(i_, 2) == "/>") {
        i_ += 2;
        return;
      }
      if (s_[i_] == '>') {
        ++i_;
        break;
      }
      if (i_ == before) fail("attributes must be separated by white space");
      const std::string attribute = name();
      if (!attributes.insert(attribute).second) fail("duplicate attribute " + attribute);
      spaces();
      if (i_ >= s_.size() || s_[i_] != '=') fail("attribute " + attribute + " without '='");
      ++i_;
      spaces();
      if (i_ >= s_.size() || (s_[i_] != '"' && s_[i_] != '\'')) fail("unquoted attribute value");
      const char quote = s_[i_++];
      while (i_ < s_.size() && s_[i_] != quote) {
        if (s_[i_] == '<') fail("'<' in an attribute value");
        if (s_[i_] == '&') reference();
        else ++i_;
      }
      if (i_ >= s_.size()) fail("unterminated attribute value");
      ++i_;
    }
    for (;;) {  // content
      if (i_ >= s_.size()) fail("element <" + tag + "> is not closed");
      if (s_[i_] == '&') {
        reference();
      } else if (s_[i_] != '<') {
        if (s_.substr(i_, 3) == "]]>") fail("']]>' in text");
        ++i_;
      } else if (s_.substr(i_, 4) == "<!--") {
        comment();
      } else if (s_.substr(i_, 9) == "<![CDATA[") {
        const std::size_t end = s_.find("]]>", i_);
        if (end == std::string_view::npos) fail("unterminated CDATA");
        i_ = end + 3;
      } else if (s_.substr(i_, 2) == "</") {
        i_ += 2;
        const std::string closing = name();
        if (closing != tag) fail("</" + closing + "> closes <" + tag + ">");
        spaces();
        if (i_ >= s_.size() || s_[i_] != '>') fail("malformed end tag");
        ++i_;
        return;
      } else {
        element();
      }
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

std::string xml_problem(std::string_view text) { return XmlChecker(text).check(); }

// A NaN or infinity printed as a number ("nan", "-inf"), which no SVG attribute may hold.
bool has_non_finite_number(const std::string& text) {
  static const std::regex kNonFinite("(^|[^A-Za-z])-?(nan|inf)([^A-Za-z]|$)", std::regex::icase);
  return std::regex_search(text, kNonFinite);
}

// Every <svg ...>...</svg> of an HTML text (charts do not nest).
std::vector<std::string> inline_svgs(const std::string& html) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while ((at = html.find("<svg", at)) != std::string::npos) {
    const std::size_t end = html.find("</svg>", at);
    REQUIRE(end != std::string::npos);
    out.push_back(html.substr(at, end + 6 - at));
    at = end + 6;
  }
  return out;
}

std::size_t count(const std::string& text, std::string_view what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Second opinion from Python's expat-based parser when python3 is installed.
void check_with_python(const std::vector<fs::path>& files) {
  if (!have_program("python3")) {
    MESSAGE("python3 not found: SVG files checked by the built-in XML checker only");
    return;
  }
  std::string command =
      "python3 -c 'import sys, xml.etree.ElementTree as E\nfor f in sys.argv[1:]: E.parse(f)'";
  for (const fs::path& f : files) command += " '" + f.string() + "'";
  CHECK_MESSAGE(std::system(command.c_str()) == 0, "python3 xml.etree rejects an SVG file");
}

fs::path temp_dir(std::string_view name) {
  std::string pattern = (fs::temp_directory_path() / fmt::format("vpgen-{}-XXXXXX", name)).string();
  REQUIRE(mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

// ---- The database the report tests read -------------------------------------------------------

constexpr std::uint64_t kPatients = 400;
constexpr std::uint64_t kPatientsNoEvents = 240;
constexpr std::uint64_t kSeed = 20240817;

std::int64_t simulate(vpgen::ResultStore& store, bool store_events, std::uint64_t patients) {
  vpgen::Scenario scenario = vpgen::config::load_scenario(VPGEN_SOURCE_DIR "/configs/default.toml");
  scenario.store_events = store_events;
  const vpgen::Simulator simulator(std::move(scenario));
  const std::int64_t run_id =
      store.begin_run(vpgen::make_provenance(simulator.scenario(), kSeed, patients, 2, 100));
  {
    vpgen::RunWriter writer(store, run_id, store_events);
    vpgen::RunOptions options;
    options.seed = kSeed;
    options.patients = patients;
    options.threads = 2;
    options.block_size = 100;
    vpgen::run_cohort(simulator, options, writer);
  }
  store.finish_run(run_id, true, 1.25);
  return run_id;
}

vpgen::DesignRecord design_record() {
  vpgen::DesignRecord d;
  d.name = "orr <test> & design";
  d.design_text = "name = \"orr test\"\n";
  d.design_hash = "00ff";
  d.mode = "mechanistic";
  d.endpoint = "orr";
  d.analysis = "fisher";
  d.vpgen_version = "0.1.0";
  d.git_commit = "test";
  d.seed = 7;
  d.target_power = 0.8;
  d.recommended_n = 150;
  d.recommended_n_low = 140;
  d.recommended_n_high = 162;
  d.result_json = "{}";
  d.wall_seconds = 2.5;
  return d;
}

std::vector<vpgen::DesignPointRecord> design_points() {
  std::vector<vpgen::DesignPointRecord> points;
  for (int k = 0; k < 6; ++k) {
    vpgen::DesignPointRecord p;
    p.n_total = 60 + 30 * k;
    p.replicates = 1000;
    p.power = std::min(0.99, 0.35 + 0.11 * k);
    p.power_mcse = std::sqrt(p.power * (1 - p.power) / 1000.0);
    p.type1_error = 0.045 + 0.001 * k;
    p.type1_mcse = std::sqrt(p.type1_error * (1 - p.type1_error) / 1000.0);
    points.push_back(p);
  }
  return points;
}

// One file for the whole suite: run 1 stores events, run 2 does not, and one design.
struct Fixture {
  fs::path dir = temp_dir("report-html");
  fs::path db = dir / "results.db";
  std::int64_t run_events = 0;
  std::int64_t run_no_events = 0;
  std::int64_t run_empty = 0;  // begun, nothing stored: 'incomplete'
  std::int64_t design = 0;
  Fixture() {
    vpgen::ResultStore store(db.string());
    run_events = simulate(store, true, kPatients);
    run_no_events = simulate(store, false, kPatientsNoEvents);
    const vpgen::Simulator simulator(
        vpgen::config::load_scenario(VPGEN_SOURCE_DIR "/configs/default.toml"));
    run_empty = store.begin_run(vpgen::make_provenance(simulator.scenario(), kSeed, 50, 1, 10));
    design = store.record_design(design_record(), design_points());
  }
  ~Fixture() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

vpgen::ReportRequest run_request(std::int64_t run_id) {
  vpgen::ReportRequest r;
  r.run_ids = {run_id};
  return r;
}

nlohmann::json validation_input() {
  // The fields `vpgen validate --format json` writes, for one target of each scale, with a
  // published median that is a lower bound ("NR") and a published range that is not a CI.
  return nlohmann::json::parse(R"json([
    {"id": "CT0100", "source": "CheckMate 067 | Wolchok 2022 | https://example.org", "endpoint": "orr",
     "arm": "nivo+ipi", "subgroup": "all", "role": "fit", "published": 58.0,
     "published_ci_low": 53.0, "published_ci_high": 64.0, "published_text": "58",
     "published_ci_text": "[53, 64]", "published_interval": "95% CI",
     "published_is_lower_bound": false, "simulated": 55.2, "sim_ci_low": 54.5,
     "sim_ci_high": 55.9, "simulated_text": "55.2 [54.5, 55.9]", "within_tolerance": true,
     "unit": "%", "n": 20000},
    {"id": "CT0101", "source": "CheckMate 067", "endpoint": "median_os", "arm": "nivo+ipi",
     "subgroup": "all", "role": "holdout", "published": 72.1, "published_ci_low": 38.2,
     "published_ci_high": null, "published_text": "72.1", "published_ci_text": "[38.2, NR]",
     "published_interval": "95% CI", "published_is_lower_bound": false, "simulated": 66.0,
     "sim_ci_low": 61.0, "sim_ci_high": 70.5, "within_tolerance": true, "unit": "months"},
    {"id": "CT0102", "source": "CheckMate 067", "endpoint": "median_os", "arm": "nivo",
     "subgroup": "pdl1_ge_1", "role": "holdout", "published": 60.0, "published_ci_low": null,
     "published_ci_high": null, "published_text": "NR", "published_is_lower_bound": true,
     "simulated": null, "sim_ci_low": 80.0, "sim_ci_high": null, "simulated_not_reached": true,
     "within_tolerance": true, "unit": "months"},
    {"id": "CT0103", "source": "CheckMate 067", "endpoint": "hr_os", "arm": "nivo+ipi",
     "reference_arm": "ipi", "subgroup": "all", "role": "fit", "published": 0.52,
     "published_ci_low": 0.42, "published_ci_high": 0.64, "published_text": "0.52",
     "published_ci_text": "[0.42, 0.64]", "published_interval": "95% CI", "simulated": 0.81,
     "sim_ci_low": 0.78, "sim_ci_high": 0.84, "within_tolerance": false, "unit": "ratio"},
    {"id": "CT0104", "source": "Yarchoan 2017", "endpoint": "orr_lntmb_slope", "arm": "nivo",
     "subgroup": "all", "role": "fit", "published": 10.6, "published_ci_low": 7.0,
     "published_ci_high": 14.0, "published_text": "10.6", "published_ci_text": "[7, 14]",
     "published_interval": "range (not a CI)", "simulated": 9.1, "sim_ci_low": 8.0,
     "sim_ci_high": 10.2, "within_tolerance": true, "unit": "pp per ln(mut/Mb)"},
    {"id": "CT0105", "source": "KEYNOTE-006", "endpoint": "os_at", "months": 60, "arm": "nivo",
     "subgroup": "all", "role": "fit", "published": 38.7, "published_ci_low": null,
     "published_ci_high": null, "published_text": "38.7", "simulated": 41.0, "sim_ci_low": 40.2,
     "sim_ci_high": 41.8, "within_tolerance": true, "unit": "%"}
  ])json");
}

// The chromium binary, or empty.
std::string chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"})
    if (have_program(name)) return name;
  return {};
}

}  // namespace

TEST_CASE("svg: text is escaped for XML and bytes XML forbids become U+FFFD") {
  using vpgen::svg::escape_xml;
  CHECK(escape_xml("a < b & c > \"d\" 'e'") == "a &lt; b &amp; c &gt; &quot;d&quot; &#39;e&#39;");
  CHECK(escape_xml("\u2265 5 years, \u00b11.96") == "\u2265 5 years, \u00b11.96");
  CHECK(escape_xml("bad\x01"
                   "byte") == "bad\uFFFDbyte");
  CHECK(escape_xml("cut \xC3") == "cut \uFFFD");              // truncated sequence
  CHECK(escape_xml("\xC0\xAF") == "\uFFFD\uFFFD");            // overlong encoding of '/'
  CHECK(escape_xml("\xED\xA0\x80") == "\uFFFD\uFFFD\uFFFD");  // a UTF-16 surrogate
  CHECK(escape_xml("tab\tand\nline") == "tab\tand\nline");
  // DEL, C1 controls and the bidi overrides and isolates would act on what a reader sees.
  CHECK(escape_xml("del\x7F") == "del\uFFFD");
  CHECK(escape_xml("c1\xC2\x9B") == "c1\uFFFD");
  CHECK(escape_xml("arm \xE2\x80\xAE"
                   "evil\xE2\x81\xA6") == "arm \uFFFDevil\uFFFD");
}

TEST_CASE("svg: nice ticks cover the range at 1, 2 or 5 times a power of ten") {
  using vpgen::svg::nice_ticks;
  const auto t = nice_ticks(0.0, 63.7, 6);
  CHECK(t.step == doctest::Approx(10.0));
  CHECK(t.values.front() == 0.0);
  CHECK(t.values.back() == doctest::Approx(70.0));
  const auto u = nice_ticks(0.42, 0.64, 6);
  CHECK(u.step == doctest::Approx(0.05));
  CHECK(u.values.front() <= 0.42);
  CHECK(u.values.back() >= 0.64);
  const auto v = nice_ticks(-100.0, 35.0, 6);
  CHECK(v.values.front() <= -100.0);
  CHECK(v.values.back() >= 35.0);
  for (const auto& ticks : {t, u, v}) {
    const double mantissa = ticks.step / std::pow(10.0, std::floor(std::log10(ticks.step)));
    CHECK((std::fabs(mantissa - 1) < 1e-9 || std::fabs(mantissa - 2) < 1e-9 ||
           std::fabs(mantissa - 5) < 1e-9));
  }
  const auto degenerate = nice_ticks(5.0, 5.0, 6);
  CHECK(degenerate.values.front() < 5.0);
  CHECK(degenerate.values.back() > 5.0);
  const auto missing = nice_ticks(std::nan(""), std::nan(""), 6);
  CHECK(missing.values.size() >= 2);
  CHECK(vpgen::svg::tick_label(-1e-17, 0.1) == "0.0");
  CHECK(vpgen::svg::tick_label(0.25, 0.05) == "0.25");
  CHECK(vpgen::svg::tick_label(120.0, 12.0) == "120");
  const auto months = vpgen::svg::fixed_ticks(0.0, 118.2, 12.0);
  CHECK(months.values.size() == 11);
  CHECK(months.values.back() == doctest::Approx(120.0));
  CHECK(vpgen::svg::fixed_ticks(0.0, 1e12, 12.0).values.size() < 20);
  CHECK(vpgen::svg::fixed_ticks(0.0, 10.0, 0.0).values.size() >= 2);
}

TEST_CASE("svg: every chart kind is well-formed, also with hostile labels and missing values") {
  namespace svg = vpgen::svg;
  const std::string hostile = "</text><script>alert(1)</script> & \"q\"";
  const double nan = std::nan("");
  const double inf = std::numeric_limits<double>::infinity();

  svg::StepChart step;
  step.title = hostile;
  step.x_label = "Time (months)";
  step.y_label = hostile;
  step.x_ticks = svg::fixed_ticks(0, 24, 6);
  step.y_ticks = svg::fixed_ticks(0, 100, 20);
  step.curves = {{hostile,
                  "#0072B2",
                  {0, 1, 2, 30},
                  {100, 90, 0, 0},
                  {100, 80, nan, nan},
                  {100, 95, nan, nan}},
                 {"empty", "#D55E00", {}, {}, {}, {}}};
  step.band_legend = "95% CI";
  step.risk_title = "Number at risk";
  step.at_risk = {{10, 5, 0, 0, 0}};

  svg::BarChart bars;
  bars.title = hostile;
  bars.y_ticks = svg::fixed_ticks(-100, 100, 20);
  bars.values = {250, 20, nan, -100, -30};
  bars.category = {3, 2, 4, 0, 1};
  bars.categories = {{"CR", "#0072B2"},
                     {"PR", "#56B4E9"},
                     {"SD", "#E69F00"},
                     {"PD", "#D55E00"},
                     {hostile, "#999999"}};
  bars.reference_lines = {{20, hostile}};

  svg::SwimmerChart swim;
  swim.title = hostile;
  swim.x_ticks = svg::fixed_ticks(0, 24, 6);
  swim.lanes = {{hostile, 3, 30, true, {{1, 0}, {nan, 1}, {2, 99}}}, {"b", 0, 0, false, {}}};
  swim.marker_kinds = {{"CR", "#0072B2", svg::Marker::kTriangle},
                       {hostile, "#000000", svg::Marker::kCross}};

  svg::ForestChart forest;
  forest.title = hostile;
  forest.x_ticks = svg::nice_ticks(0, 1.5, 6);
  forest.series = {{hostile, "#0072B2", svg::Marker::kSquare, true},
                   {"b", "#D55E00", svg::Marker::kDiamond, false}};
  forest.rows = {{hostile, true, {}, ""},
                 {"x", false, {{0.5, 0.2, inf}, {nan, nan, nan}}, hostile},
                 {"y", false, {{-1, -2, 0.1}, {0.7, nan, 0.9}}, ""}};
  forest.series_reference = {0.5, nan};
  forest.reference_lines = {{1.0, "HR = 1"}};
  forest.note_title = "n";

  svg::LineChart line;
  line.title = hostile;
  line.x_ticks = svg::nice_ticks(60, 210, 7);
  line.y_ticks = svg::fixed_ticks(0, 100, 20);
  line.series = {
      {hostile, "#0072B2", {60, 90, 120}, {30, nan, 90}, {20, 40, nan}, {40, 60, 95}, false, true}};
  line.band_legend = hostile;
  line.horizontal_lines = {{80, hostile}};
  line.vertical = {150, hostile};
  line.vertical_low = 140;
  line.vertical_high = 162;

  for (const std::string& chart :
       {svg::render_step_chart(step), svg::render_bar_chart(bars), svg::render_swimmer_chart(swim),
        svg::render_forest_chart(forest), svg::render_line_chart(line), svg::render_step_chart({}),
        svg::render_bar_chart({}), svg::render_swimmer_chart({}), svg::render_forest_chart({}),
        svg::render_line_chart({})}) {
    CAPTURE(chart);
    CHECK(xml_problem(chart).empty());
    CHECK(chart.find("<script") == std::string::npos);
    CHECK(!has_non_finite_number(chart));
    CHECK(chart.find("font-family=\"sans-serif\"") != std::string::npos);
  }
}

TEST_CASE("the XML checker rejects what is not well-formed") {
  CHECK(xml_problem("<svg><g></svg>").size() > 0);
  CHECK(xml_problem("<svg a=\"1\" a=\"2\"/>").size() > 0);
  CHECK(xml_problem("<svg a=1/>").size() > 0);
  CHECK(xml_problem("<svg>a & b</svg>").size() > 0);
  CHECK(xml_problem("<svg>a &nbsp; b</svg>").size() > 0);
  CHECK(xml_problem("<svg/><svg/>").size() > 0);
  CHECK(xml_problem("<svg><text x=\"<\"/></svg>").size() > 0);
  CHECK(xml_problem("<?xml version=\"1.0\"?>\n<svg a='1'><!-- c --><t>&amp;&#38;&#x26;</t></svg>\n")
            .empty());
}

TEST_CASE(
    "Kaplan-Meier curves pass through the report's landmark rates, and numbers at risk count") {
  const Fixture& f = fixture();
  vpgen::ResultStore store(f.db.string());
  vpgen::sql::Database db(f.db.string(), vpgen::sql::OpenMode::kReadOnly);
  const vpgen::RunReport report = vpgen::build_report(store, f.run_events);
  REQUIRE(report.arms.size() == 3);
  for (const vpgen::ArmReport& arm : report.arms) {
    CAPTURE(arm.counts.arm_name);
    const vpgen::KmCurve os = vpgen::read_km_curve(store, f.run_events, arm.counts.arm_index,
                                                   vpgen::SurvivalEndpoint::kOs, 0.95);
    const vpgen::KmCurve pfs = vpgen::read_km_curve(store, f.run_events, arm.counts.arm_index,
                                                    vpgen::SurvivalEndpoint::kPfs, 0.95);
    CHECK(os.subjects == kPatients);
    CHECK(os.at_risk(0.0) == kPatients);
    // The same arithmetic in the same order as KaplanMeier: equal to the last bit.
    for (const int months : vpgen::kReportLandmarkMonths) {
      CAPTURE(months);
      const vpgen::Interval expected = arm.os_rate.at(months);
      const vpgen::Interval got = os.at(months);
      if (std::isnan(expected.estimate)) {
        CHECK(std::isnan(got.estimate));
        continue;
      }
      CHECK(got.estimate == expected.estimate);
      CHECK(got.low == expected.low);
      CHECK(got.high == expected.high);
      const vpgen::Interval expected_pfs = arm.pfs_rate.at(months);
      if (!std::isnan(expected_pfs.estimate)) {
        CHECK(pfs.at(months).estimate == expected_pfs.estimate);
      }
    }
    // Numbers at risk against a count of the rows.
    for (const double t : {0.0, 12.0, 24.0, 60.0, 119.0}) {
      vpgen::sql::Statement stmt(db,
                                 "SELECT COUNT(*) FROM outcomes WHERE run_id = ?1 AND "
                                 "arm_index = ?2 AND os_months >= ?3");
      stmt.bind_int64(1, f.run_events);
      stmt.bind_int64(2, arm.counts.arm_index);
      stmt.bind_real(3, t);
      REQUIRE(stmt.step());
      const auto expected = static_cast<std::uint64_t>(stmt.column_int64(0));
      CHECK(os.at_risk(t) == expected);
    }
    // The steps are the kaplan_meier view's rows with events, value for value.
    vpgen::sql::Statement stmt(db,
                               "SELECT time_months, survival, survival_ci_low, survival_ci_high "
                               "FROM kaplan_meier WHERE run_id = ?1 AND arm_index = ?2 AND "
                               "endpoint = 'OS' AND events > 0 ORDER BY time_months");
    stmt.bind_int64(1, f.run_events);
    stmt.bind_int64(2, arm.counts.arm_index);
    std::size_t k = 1;
    while (stmt.step()) {
      REQUIRE(k < os.time_months.size());
      CHECK(os.time_months[k] == stmt.column_real(0));
      // The view sums logs in SQL; the curve multiplies: equal to rounding.
      CHECK(os.survival[k] == doctest::Approx(stmt.column_real(1)).epsilon(1e-12));
      if (!stmt.column_is_null(2)) {
        CHECK(os.ci_low[k] == doctest::Approx(stmt.column_real(2)).epsilon(1e-12));
        CHECK(os.ci_high[k] == doctest::Approx(stmt.column_real(3)).epsilon(1e-12));
      }
      ++k;
    }
    CHECK(k == os.time_months.size());
  }
}

TEST_CASE("subgroup responses of every dimension add up to each arm's totals") {
  const Fixture& f = fixture();
  vpgen::ResultStore store(f.db.string());
  const vpgen::RunReport report = vpgen::build_report(store, f.run_events);
  for (const auto dimension :
       {vpgen::SubgroupDimension::kCancerType, vpgen::SubgroupDimension::kTmbBand,
        vpgen::SubgroupDimension::kPdl1Band, vpgen::SubgroupDimension::kHot}) {
    std::map<std::uint32_t, std::pair<std::uint64_t, std::uint64_t>> sums;
    std::set<std::string> levels;
    for (const vpgen::SubgroupResponses& s :
         vpgen::read_subgroup_responses(store, f.run_events, dimension)) {
      sums[s.arm_index].first += s.n;
      sums[s.arm_index].second += s.responders;
      levels.insert(s.level);
    }
    // The default scenario enrols one cancer type; every biomarker dimension has several levels.
    CHECK(levels.size() >= (dimension == vpgen::SubgroupDimension::kCancerType ? 1U : 2U));
    for (const vpgen::ArmReport& arm : report.arms) {
      CHECK(sums[arm.counts.arm_index].first == arm.counts.n);
      CHECK(sums[arm.counts.arm_index].second == arm.counts.cr + arm.counts.pr);
    }
  }
}

TEST_CASE("markers read from the outcome row agree with the stored course events") {
  // Run 1 stores events: for its sampled patients both ways of finding the swimmer markers must
  // give the same death and first-response times (the fallback of runs without events).
  const Fixture& f = fixture();
  vpgen::ResultStore store(f.db.string());
  constexpr std::uint64_t kSample = 40;
  const auto courses = vpgen::read_sampled_courses(store, f.run_events, 0, kSample);
  REQUIRE(courses.size() == kSample);
  CHECK(courses.front().patient_index == 0);
  CHECK(courses.back().patient_index == kSample - 1);
  const auto events = vpgen::read_course_events(store, f.run_events, 0, kSample);
  std::size_t deaths = 0, responses = 0;
  for (const vpgen::SampledCourse& c : courses) {
    CAPTURE(c.patient_index);
    std::vector<vpgen::CourseMarker> own;
    for (const auto& e : events)
      if (e.patient_index == c.patient_index) own.push_back(e);
    const auto from_outcome = vpgen::markers_from_outcome(c);
    for (const auto kind : {vpgen::SwimmerEvent::kDeath, vpgen::SwimmerEvent::kResponseCr,
                            vpgen::SwimmerEvent::kResponsePr, vpgen::SwimmerEvent::kNextLine}) {
      std::vector<double> a, b;
      for (const auto& m : own)
        if (m.event == kind) a.push_back(m.time_months);
      for (const auto& m : from_outcome)
        if (m.event == kind) b.push_back(m.time_months);
      // A PR that deepens to a CR: the event shows PR, the best response CR; compare the time.
      if (kind == vpgen::SwimmerEvent::kResponseCr || kind == vpgen::SwimmerEvent::kResponsePr)
        continue;
      REQUIRE(a.size() == b.size());
      for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-9));
      if (kind == vpgen::SwimmerEvent::kDeath) deaths += a.size();
    }
    std::vector<double> event_response, outcome_response;
    for (const auto& m : own)
      if (m.event == vpgen::SwimmerEvent::kResponseCr ||
          m.event == vpgen::SwimmerEvent::kResponsePr)
        event_response.push_back(m.time_months);
    for (const auto& m : from_outcome)
      if (m.event == vpgen::SwimmerEvent::kResponseCr ||
          m.event == vpgen::SwimmerEvent::kResponsePr)
        outcome_response.push_back(m.time_months);
    REQUIRE(event_response.size() == outcome_response.size());
    for (std::size_t i = 0; i < event_response.size(); ++i)
      CHECK(event_response[i] == doctest::Approx(outcome_response[i]).epsilon(1e-9));
    responses += event_response.size();
  }
  CHECK(deaths > 0);
  CHECK(responses > 0);
}

TEST_CASE("the HTML report holds every figure and table, each SVG well-formed, nothing external") {
  const Fixture& f = fixture();
  vpgen::ResultStore store(f.db.string());
  const vpgen::RunReport report = vpgen::build_report(store, f.run_events);
  const std::string html =
      vpgen::render_report(store, run_request(f.run_events), vpgen::ReportFormat::kHtml, "x")
          .document;
  const std::string r = fmt::format("r{}", f.run_events);
  std::vector<std::string> ids = {r + "-km-os", r + "-km-pfs", r + "-forest-orr"};
  for (std::size_t a = 0; a < report.arms.size(); ++a) {
    ids.push_back(fmt::format("{}-waterfall-arm{}", r, a));
    ids.push_back(fmt::format("{}-swimmer-arm{}", r, a));
  }
  for (const std::string& id : ids) {
    CAPTURE(id);
    CHECK(html.find("<figure id=\"" + id + "\">") != std::string::npos);
  }
  for (const std::string table :
       {"-provenance", "-arms", "-response", "-survival", "-further", "-subgroups"})
    CHECK(html.find("<table id=\"" + r + table + "\">") != std::string::npos);
  const std::vector<std::string> svgs = inline_svgs(html);
  CHECK(svgs.size() == ids.size());
  CHECK(count(html, "<figure ") == ids.size());
  CHECK(count(html, "<figcaption>") == ids.size());
  for (const std::string& s : svgs) {
    CHECK(xml_problem(s).empty());
    CHECK(s.find("<title>") != std::string::npos);
    CHECK(!has_non_finite_number(s));
  }
  // Axis labels with units and a legend entry per arm.
  CHECK(html.find("Time since start of treatment (months)") != std::string::npos);
  CHECK(html.find("Overall survival (%)") != std::string::npos);
  CHECK(html.find("Best change in sum of diameters (%)") != std::string::npos);
  CHECK(html.find("Number at risk") != std::string::npos);
  // Self-contained: no script, stylesheet link, fetched source or URL in CSS, and no http URL
  // outside the stored scenario text.
  for (const std::string bad : {"<script", "<link", "src=", "url(", "@import", "<iframe", "<img"})
    CHECK_MESSAGE(html.find(bad) == std::string::npos, bad);
  const std::size_t pre = html.find("<pre>");
  REQUIRE(pre != std::string::npos);
  CHECK(html.substr(0, pre).find("http") == std::string::npos);
  CHECK(html.find("@media print") != std::string::npos);
  CHECK(html.find("page-break-inside: avoid") != std::string::npos);
  // Fonts: sans-serif and never below 11 px in any chart.
  for (const std::string& s : svgs)
    for (std::size_t at = s.find("font-size=\""); at != std::string::npos;
         at = s.find("font-size=\"", at + 1))
      CHECK(std::stod(s.substr(at + 11)) >= 11.0);

  // Check the SVGs with a second parser too.
  const fs::path dir = temp_dir("inline-svg");
  std::vector<fs::path> files;
  for (std::size_t i = 0; i < svgs.size(); ++i) {
    // Inline SVG omits the namespace, which HTML implies; a standalone file needs it.
    std::string standalone = svgs[i];
    standalone.insert(4, " xmlns=\"http://www.w3.org/2000/svg\"");
    files.push_back(dir / fmt::format("{}.svg", i));
    write_text(files.back(), standalone);
  }
  check_with_python(files);
  fs::remove_all(dir);
}

TEST_CASE("the HTML tables show build_report's figures for every arm") {
  const Fixture& f = fixture();
  vpgen::ResultStore store(f.db.string());
  const vpgen::RunReport report = vpgen::build_report(store, f.run_events);
  const std::string html =
      vpgen::render_report(store, run_request(f.run_events), vpgen::ReportFormat::kHtml, "x")
          .document;
  const auto pct = [](const vpgen::Interval& v) {
    return fmt::format("{:.1f}% ({:.1f}\u2013{:.1f})", 100 * v.estimate, 100 * v.low, 100 * v.high);
  };
  const auto row_of = [&html](const std::string& label) {
    const std::size_t at = html.find("<th scope=\"row\">" + label + "</th>");
    REQUIRE_MESSAGE(at != std::string::npos, label);
    return html.substr(at, html.find("</tr>", at) - at);
  };
  // Each row holds the arms' cells in arm order.
  const auto check_row = [&](const std::string& label, auto&& cell) {
    const std::string row = row_of(label);
    std::size_t at = 0;
    for (const vpgen::ArmReport& arm : report.arms) {
      const std::string expected = "<td>" + cell(arm) + "</td>";
      CAPTURE(label);
      CAPTURE(expected);
      const std::size_t found = row.find(expected, at);
      CHECK(found != std::string::npos);
      if (found != std::string::npos) at = found + expected.size();
    }
  };
  check_row("Patients", [](const vpgen::ArmReport& a) { return fmt::format("{}", a.counts.n); });
  check_row("ORR (CR + PR)", [&](const vpgen::ArmReport& a) { return pct(a.orr); });
  check_row("CR rate", [&](const vpgen::ArmReport& a) { return pct(a.cr_rate); });
  check_row("DCR (CR + PR + SD)", [&](const vpgen::ArmReport& a) { return pct(a.dcr); });
  check_row("Durable CR (CR lasting \u2265 5 years)",
            [&](const vpgen::ArmReport& a) { return pct(a.durable_cr_5y_rate); });
  check_row("irAE grade \u2265 3",
            [&](const vpgen::ArmReport& a) { return pct(a.irae_grade3plus_rate); });
  check_row("Median OS", [](const vpgen::ArmReport& a) {
    const vpgen::Interval& m = a.median_os_months;
    const auto v = [](double x) {
      return std::isnan(x) ? std::string("NR") : fmt::format("{:.1f}", x);
    };
    return fmt::format("{} ({}\u2013{})",
                       std::isnan(m.estimate) ? std::string("NR") : v(m.estimate) + " mo", v(m.low),
                       v(m.high));
  });
  check_row("OS at 1 year (12 months)",
            [&](const vpgen::ArmReport& a) { return pct(a.os_rate.at(12)); });
  check_row("OS at 2 years (24 months)",
            [&](const vpgen::ArmReport& a) { return pct(a.os_rate.at(24)); });
  check_row("PFS at 1 year (12 months)",
            [&](const vpgen::ArmReport& a) { return pct(a.pfs_rate.at(12)); });
  // Provenance: the stored scenario fingerprint and seed.
  CHECK(html.find(report.run.provenance.scenario_hash) != std::string::npos);
  CHECK(html.find(fmt::format("<td>{}</td>", kSeed)) != std::string::npos);
}

TEST_CASE("the same database renders to byte-identical HTML and Markdown") {
  const Fixture& f = fixture();
  vpgen::ResultStore store(f.db.string());
  vpgen::ReportRequest request;
  request.run_ids = {f.run_events, f.run_no_events};
  request.design_ids = {f.design};
  request.validation = validation_input();
  const auto a = vpgen::render_report(store, request, vpgen::ReportFormat::kHtml, "p");
  const auto b = vpgen::render_report(store, request, vpgen::ReportFormat::kHtml, "p");
  CHECK(a.document == b.document);
  const auto c = vpgen::render_report(store, request, vpgen::ReportFormat::kMarkdown, "p");
  const auto d = vpgen::render_report(store, request, vpgen::ReportFormat::kMarkdown, "p");
  CHECK(c.document == d.document);
  REQUIRE(c.figures.size() == d.figures.size());
  for (std::size_t i = 0; i < c.figures.size(); ++i)
    CHECK(c.figures[i].content == d.figures[i].content);
}

TEST_CASE("a run without stored events draws its swimmer plot from the outcomes and says so") {
  const Fixture& f = fixture();
  vpgen::ResultStore store(f.db.string());
  const std::string without =
      vpgen::render_report(store, run_request(f.run_no_events), vpgen::ReportFormat::kHtml, "x")
          .document;
  const std::string with =
      vpgen::render_report(store, run_request(f.run_events), vpgen::ReportFormat::kHtml, "x")
          .document;
  CHECK(without.find("did not store course events (store_events = 0)") != std::string::npos);
  CHECK(with.find("did not store course events") == std::string::npos);
  CHECK(with.find("Markers from the stored course events") != std::string::npos);
  // Markers are drawn in both: death squares at least.
  const std::string swimmer = fmt::format("<figure id=\"r{}-swimmer-arm0\">", f.run_no_events);
  const std::size_t at = without.find(swimmer);
  REQUIRE(at != std::string::npos);
  const std::string figure = without.substr(at, without.find("</figure>", at) - at);
  CHECK(count(figure, "<rect") > vpgen::kSwimmerPatients / 2);
  CHECK(xml_problem(inline_svgs(figure).at(0)).empty());
  // The caption states the sample.
  CHECK(figure.find(fmt::format("first {} patients", vpgen::kSwimmerPatients)) !=
        std::string::npos);
}

TEST_CASE("the Markdown report has the same tables and one well-formed SVG file per figure") {
  const Fixture& f = fixture();
  vpgen::ResultStore store(f.db.string());
  const fs::path dir = temp_dir("report-md");
  vpgen::ReportRequest request = run_request(f.run_events);
  request.design_ids = {f.design};
  vpgen::write_report(store, request, vpgen::ReportFormat::kMarkdown,
                      (dir / "summary.md").string());
  const std::string md = slurp(dir / "summary.md");
  const std::string html =
      vpgen::render_report(store, request, vpgen::ReportFormat::kHtml, "x").document;
  std::vector<fs::path> svgs;
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    CHECK(name.find(".partial") == std::string::npos);
    if (entry.path().extension() == ".svg") {
      svgs.push_back(entry.path());
      names.insert(name);
    }
  }
  const std::vector<std::string> inline_charts = inline_svgs(html);
  CHECK(svgs.size() == inline_charts.size());
  const std::string r = fmt::format("r{}", f.run_events);
  for (const std::string& expected :
       {"summary-" + r + "-km-os.svg", "summary-" + r + "-km-pfs.svg",
        "summary-" + r + "-forest-orr.svg", "summary-" + r + "-waterfall-arm0.svg",
        "summary-" + r + "-swimmer-arm2.svg", fmt::format("summary-d{}-power.svg", f.design)}) {
    CAPTURE(expected);
    CHECK(names.count(expected) == 1);
    CHECK(md.find("](" + expected + ")") != std::string::npos);
  }
  for (const fs::path& p : svgs) {
    CAPTURE(p);
    const std::string text = slurp(p);
    CHECK(text.rfind("<?xml", 0) == 0);
    CHECK(text.find("xmlns=\"http://www.w3.org/2000/svg\"") != std::string::npos);
    CHECK(xml_problem(text).empty());
  }
  check_with_python(svgs);
  // The same per-arm figures as the HTML tables, as Markdown rows.
  const vpgen::RunReport report = vpgen::build_report(store, f.run_events);
  std::string orr_row = "| ORR (CR + PR) |";
  for (const vpgen::ArmReport& a : report.arms)
    orr_row += fmt::format(" {:.1f}% ({:.1f}\u2013{:.1f}) |", 100 * a.orr.estimate, 100 * a.orr.low,
                           100 * a.orr.high);
  CHECK(md.find(orr_row) != std::string::npos);
  CHECK(count(md, "**Table ") == count(html, "<table "));
  // Markdown control characters in names are escaped ("orr <test> & design").
  CHECK(md.find("orr \\<test> & design") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("a report that cannot be written completely leaves no file behind") {
  const Fixture& f = fixture();
  vpgen::ResultStore store(f.db.string());
  const fs::path dir = temp_dir("report-fail");
  const vpgen::ReportRequest request = run_request(f.run_events);
  CHECK_THROWS_AS(vpgen::write_report(store, request, vpgen::ReportFormat::kHtml,
                                      (dir / "missing" / "r.html").string()),
                  vpgen::InputError);
  // A directory where the third figure should go: its rename fails after two figures are in
  // place; they and every partial file must go.
  const std::string r = fmt::format("r{}", f.run_events);
  fs::create_directory(dir / ("out-" + r + "-waterfall-arm0.svg"));
  fs::create_directory(dir / ("out-" + r + "-waterfall-arm0.svg") / "keep");
  CHECK_THROWS(vpgen::write_report(store, request, vpgen::ReportFormat::kMarkdown,
                                   (dir / "out.md").string()));
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(dir)) left.push_back(entry.path().filename());
  CHECK(left == std::vector<std::string>{"out-" + r + "-waterfall-arm0.svg"});
  // An unknown run: nothing written either.
  CHECK_THROWS_AS(vpgen::write_report(store, run_request(99), vpgen::ReportFormat::kHtml,
                                      (dir / "none.html").string()),
                  vpgen::InputError);
  CHECK(!fs::exists(dir / "none.html"));
  CHECK(!fs::exists(dir / "none.html.partial"));
  // A successful write replaces an older file.
  write_text(dir / "ok.html", "old");
  vpgen::write_report(store, request, vpgen::ReportFormat::kHtml, (dir / "ok.html").string());
  CHECK(slurp(dir / "ok.html").rfind("<!DOCTYPE html>", 0) == 0);
  fs::remove_all(dir);
}

TEST_CASE("JSON and text output are report_json and report_text of exactly one run") {
  const Fixture& f = fixture();
  vpgen::ResultStore store(f.db.string());
  const vpgen::RunReport report = vpgen::build_report(store, f.run_events);
  const auto json =
      vpgen::render_report(store, run_request(f.run_events), vpgen::ReportFormat::kJson, "x");
  CHECK(json.document == vpgen::report_json(report).dump(2) + "\n");
  CHECK(json.figures.empty());
  CHECK(vpgen::render_report(store, run_request(f.run_events), vpgen::ReportFormat::kText, "x")
            .document == vpgen::report_text(report));
  vpgen::ReportRequest two;
  two.run_ids = {f.run_events, f.run_no_events};
  CHECK_THROWS_AS(vpgen::render_report(store, two, vpgen::ReportFormat::kJson, "x"),
                  vpgen::InputError);
  CHECK_THROWS_AS(vpgen::render_report(store, two, vpgen::ReportFormat::kText, "x"),
                  vpgen::InputError);
  // Ids of figures name their run: a run twice in one document is refused.
  vpgen::ReportRequest twice;
  twice.run_ids = {f.run_events, f.run_events};
  CHECK_THROWS_AS(vpgen::render_report(store, twice, vpgen::ReportFormat::kHtml, "x"),
                  vpgen::InputError);
  CHECK_THROWS_AS(vpgen::render_report(store, {}, vpgen::ReportFormat::kHtml, "x"),
                  vpgen::InputError);
  CHECK(vpgen::parse_report_format("md") == vpgen::ReportFormat::kMarkdown);
  CHECK(vpgen::parse_report_format("text") == vpgen::ReportFormat::kText);
  CHECK_THROWS_AS(vpgen::parse_report_format("pdf"), vpgen::InputError);
}

TEST_CASE("an incomplete run without patients renders with a loud warning and empty plots") {
  const Fixture& f = fixture();
  vpgen::ResultStore store(f.db.string());
  const std::string html =
      vpgen::render_report(store, run_request(f.run_empty), vpgen::ReportFormat::kHtml, "x")
          .document;
  CHECK(html.find("<p class=\"warning\">INCOMPLETE RUN: every figure covers the 0 of 50 "
                  "patients stored (status: incomplete).</p>") != std::string::npos);
  const std::vector<std::string> svgs = inline_svgs(html);
  CHECK(svgs.size() == 3 + 2 * 3);  // KM OS and PFS, forest; a waterfall and swimmer per arm
  for (const std::string& s : svgs) {
    CHECK(xml_problem(s).empty());
    CHECK(!has_non_finite_number(s));
  }
  CHECK(html.find("<td>0 patients</td>") != std::string::npos);
}

TEST_CASE("a design section draws the power curve with its MCSE band and the chosen n") {
  const Fixture& f = fixture();
  vpgen::ResultStore store(f.db.string());
  vpgen::ReportRequest request;
  request.design_ids = {f.design};
  const std::string html =
      vpgen::render_report(store, request, vpgen::ReportFormat::kHtml, "x").document;
  const std::string id = fmt::format("d{}-power", f.design);
  const std::size_t at = html.find("<figure id=\"" + id + "\">");
  REQUIRE(at != std::string::npos);
  const std::string figure = html.substr(at, html.find("</figure>", at) - at);
  CHECK(xml_problem(inline_svgs(figure).at(0)).empty());
  CHECK(figure.find("chosen n = 150") != std::string::npos);
  CHECK(figure.find("target power 80%") != std::string::npos);
  CHECK(figure.find("Monte Carlo SE") != std::string::npos);
  CHECK(figure.find("Total sample size, all arms (patients)") != std::string::npos);
  CHECK(count(figure, "<polygon") == 2);  // the power band and the type I error band
  CHECK(html.find("orr &lt;test&gt; &amp; design") != std::string::npos);
  CHECK(html.find("<td>0.3500 (0.0151)</td>") != std::string::npos);
  vpgen::ReportRequest missing;
  missing.design_ids = {f.design + 5};
  CHECK_THROWS_AS(vpgen::render_report(store, missing, vpgen::ReportFormat::kHtml, "x"),
                  vpgen::InputError);
  CHECK(vpgen::list_design_ids(store) == std::vector<std::int64_t>{f.design});
}

TEST_CASE("a validation section draws simulated against published values with intervals") {
  const Fixture& f = fixture();
  vpgen::ResultStore store(f.db.string());
  vpgen::ReportRequest request;
  request.validation = validation_input();
  request.validation_source = "validation.json";
  const std::string html =
      vpgen::render_report(store, request, vpgen::ReportFormat::kHtml, "x").document;
  for (const std::string id : {"validation-rates", "validation-medians", "validation-hazard-ratios",
                               "validation-slopes"}) {
    CAPTURE(id);
    const std::size_t at = html.find("<figure id=\"" + id + "\">");
    REQUIRE(at != std::string::npos);
    const std::string figure = html.substr(at, html.find("</figure>", at) - at);
    CHECK(xml_problem(inline_svgs(figure).at(0)).empty());
  }
  CHECK(html.find("5 of 6 targets within tolerance") != std::string::npos);
  CHECK(html.find("<td>72.1 [38.2, NR]</td>") != std::string::npos);
  CHECK(html.find("<td>10.6 [7, 14] (range (not a CI))</td>") != std::string::npos);
  CHECK(html.find("<td>nivo+ipi vs ipi</td>") != std::string::npos);
  CHECK(html.find("<td>os_at 60 mo</td>") != std::string::npos);
  CHECK(html.find("HR = 1") != std::string::npos);
  // The URL in a source stays out of the page (the trial name is the text before " | ").
  CHECK(html.find("example.org") == std::string::npos);
  // The whole report object of --format json-report is accepted too.
  vpgen::ReportRequest wrapped;
  wrapped.validation = nlohmann::json{{"targets", validation_input()}};
  CHECK(vpgen::render_report(store, wrapped, vpgen::ReportFormat::kHtml, "x").document ==
        vpgen::render_report(
            store,
            [&] {
              vpgen::ReportRequest r;
              r.validation = validation_input();
              return r;
            }(),
            vpgen::ReportFormat::kHtml, "x")
            .document);
  for (const char* bad : {R"({"runs": []})", R"([{"id": "x"}])",
                          R"([{"id": "x", "endpoint": "nonsense", "within_tolerance": true}])",
                          R"([{"id": "x", "endpoint": "orr", "within_tolerance": true,
                               "simulated": "high"}])"}) {
    CAPTURE(bad);
    vpgen::ReportRequest r;
    r.validation = nlohmann::json::parse(bad);
    CHECK_THROWS_AS(vpgen::render_report(store, r, vpgen::ReportFormat::kHtml, "x"),
                    vpgen::InputError);
  }
}

TEST_CASE(
    "headless Chromium loads the HTML report without errors or requests and finds every plot" *
    doctest::test_suite("external slow")) {
  const std::string browser = chromium();
  if (browser.empty()) {
    vpgen::testing::skip_test(
        "no chromium binary on PATH (Debian: chromium; ./tools/setup.sh "
        "test installs it)");
    return;
  }
  const Fixture& f = fixture();
  vpgen::ResultStore store(f.db.string());
  const fs::path dir = temp_dir("report-chromium");
  vpgen::ReportRequest request;
  request.run_ids = {f.run_events};
  request.design_ids = {f.design};
  request.validation = validation_input();
  const fs::path html = dir / "report.html";
  vpgen::write_report(store, request, vpgen::ReportFormat::kHtml, html.string());
  const std::string document = slurp(html);
  const std::size_t figures = count(document, "<figure id=");
  REQUIRE(figures > 10);

  // Every host resolves to nothing, so a request could not leave the machine; the network log
  // shows whether the page asked for anything. Chromium's own background requests have no
  // file:// page behind them; a request of the page carries the page's origin in its network
  // isolation key.
  const auto load = [&](const fs::path& page, const std::string& tag) {
    const fs::path dom = dir / (tag + ".dom"), log = dir / (tag + ".log"),
                   net = dir / (tag + ".net.json");
    const int rc = std::system(
        fmt::format("{} --headless --disable-gpu --no-sandbox --disable-dev-shm-usage "
                    "--no-first-run --user-data-dir='{}' --host-resolver-rules='MAP * ~NOTFOUND' "
                    "--enable-logging=stderr --v=0 --log-net-log='{}' --dump-dom 'file://{}' "
                    "> '{}' 2> '{}'",
                    browser, (dir / ("profile-" + tag)).string(), net.string(), page.string(),
                    dom.string(), log.string())
            .c_str());
    struct Result {
      int rc;
      std::string dom, log;
      bool page_requests;
    };
    return Result{rc, slurp(dom), slurp(log),
                  slurp(net).find("\"network_isolation_key\":\"file://") != std::string::npos};
  };
  // The checks can fail: a page with a script error and a remote image trips both.
  const fs::path bad = dir / "bad.html";
  write_text(bad,
             "<!DOCTYPE html><html><body><script>undefined_function();</script>"
             "<img src=\"http://example.org/x.png\"></body></html>");
  const auto control = load(bad, "control");
  REQUIRE(control.rc == 0);
  CHECK(control.log.find(":CONSOLE") != std::string::npos);
  CHECK(control.page_requests);

  const auto loaded = load(html, "report");
  CAPTURE(loaded.log);
  REQUIRE(loaded.rc == 0);
  CHECK(loaded.log.find(":CONSOLE") == std::string::npos);  // console messages, e.g. Uncaught
  CHECK(loaded.log.find("Uncaught") == std::string::npos);
  CHECK(!loaded.page_requests);
  CHECK(count(loaded.dom, "<svg") == figures);
  CHECK(count(loaded.dom, "</svg>") == figures);
  for (std::size_t at = document.find("<figure id=\""); at != std::string::npos;
       at = document.find("<figure id=\"", at + 1)) {
    const std::string id = document.substr(at + 12, document.find('"', at + 12) - at - 12);
    CHECK_MESSAGE(loaded.dom.find("<figure id=\"" + id + "\">") != std::string::npos, id);
  }
  CHECK(loaded.dom.find("<polyline") != std::string::npos);
  CHECK(loaded.dom.find("<polygon") != std::string::npos);

  // Printing works and gives a multi-page document.
  const fs::path pdf = dir / "report.pdf";
  const int print_rc = std::system(
      fmt::format("{} --headless --disable-gpu --no-sandbox --disable-dev-shm-usage --no-first-run "
                  "--user-data-dir='{}' --host-resolver-rules='MAP * ~NOTFOUND' "
                  "--no-pdf-header-footer --print-to-pdf='{}' 'file://{}' > /dev/null 2>&1",
                  browser, (dir / "profile-print").string(), pdf.string(), html.string())
          .c_str());
  CHECK(print_rc == 0);
  const std::string pdf_text = slurp(pdf);
  CHECK(pdf_text.rfind("%PDF", 0) == 0);
  CHECK(count(pdf_text, "/Type /Page") + count(pdf_text, "/Type/Page") > 3);
  fs::remove_all(dir);
}
