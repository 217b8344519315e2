// Static SVG charts for reports: linear axes with nice ticks, axis labels, legends, and the chart
// kinds `vpgen report` draws (step curves with shaded bands and a numbers-at-risk table, bars,
// swimmer lanes, forest rows, lines with bands). Each chart is one self-contained <svg> element
// (xmlns set, no ids, scripts or external resources), valid as a standalone .svg file and inline
// in HTML, byte-identical for identical input. Pure functions of their arguments; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace vpgen::svg {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The colour-blind-safe palette of Okabe & Ito ("Color Universal Design", 2008).
inline constexpr std::string_view kBlack = "#000000";
inline constexpr std::string_view kOrange = "#E69F00";
inline constexpr std::string_view kSkyBlue = "#56B4E9";
inline constexpr std::string_view kBluishGreen = "#009E73";
inline constexpr std::string_view kYellow = "#F0E442";
inline constexpr std::string_view kBlue = "#0072B2";
inline constexpr std::string_view kVermillion = "#D55E00";
inline constexpr std::string_view kReddishPurple = "#CC79A7";
inline constexpr std::string_view kGrey = "#999999";

// The colour of the index-th series (arms, designs): blue, vermillion, bluish green, reddish
// purple, orange, sky blue, black, then again from the start.
std::string_view series_colour(std::size_t index);

// Text for XML character data and attribute values: & < > " ' become entities, and characters
// XML 1.0 forbids (C0 controls other than tab, LF, CR; invalid UTF-8), DEL, C1 controls and the
// Unicode bidi controls (is_control_character) become U+FFFD.
std::string escape_xml(std::string_view text);

// Axis ticks at multiples of 1, 2 or 5 times a power of ten, the step nearest
// (high - low) / (target_count - 1) (Heckbert, "Nice numbers for graph labels", Graphics Gems
// 1990), covering [low, high]: the first tick <= low, the last >= high.
// A degenerate or non-finite range is widened to a unit range around its finite end (or [0, 1]).
struct Ticks {
  std::vector<double> values;
  double step = 1.0;
};
Ticks nice_ticks(double low, double high, int target_count = 6);
// Evenly spaced ticks from `low` to at least `high` with the given step (e.g. 12 months); nice
// ticks instead if the step is not positive or would give more than 200 ticks.
Ticks fixed_ticks(double low, double high, double step);
// The label of a tick: as many decimals as the step needs, never "-0".
std::string tick_label(double value, double step);

enum class Marker : std::uint8_t { kCircle, kSquare, kDiamond, kTriangle, kCross, kBar };

// ---- Kaplan-Meier style step curves ------------------------------------------------------------

// A right-continuous step function: y[i] holds from x[i] until x[i + 1]; the curve ends at
// x.back(). y_low/y_high (same size, or empty for no band) give a pointwise band; a NaN bound
// ends the band at that step. Values are in y-axis units.
struct StepCurve {
  std::string label;
  std::string colour;
  std::vector<double> x, y, y_low, y_high;
};

struct StepChart {
  std::string title;    // accessible name (<title>)
  std::string x_label;  // with its unit, e.g. "Time since start of treatment (months)"
  std::string y_label;
  Ticks x_ticks;  // the x axis runs from the first to the last tick
  Ticks y_ticks;
  std::vector<StepCurve> curves;
  std::string band_legend;  // legend entry for the shaded bands, e.g. "shaded: 95% CI"
  // A numbers-at-risk table under the axis: at the x ticks, one row per curve (same order).
  std::string risk_title;  // empty: no table
  std::vector<std::vector<std::uint64_t>> at_risk;
};
std::string render_step_chart(const StepChart& chart);

// ---- Bars (waterfall) --------------------------------------------------------------------------

struct Category {
  std::string label;
  std::string colour;
};

struct ReferenceLine {
  double value = 0.0;
  std::string label;  // drawn at the line's end; may be empty
};

// One bar per value, left to right, coloured by category (index into `categories`). Bars beyond
// the y range are cut at its edge and marked with a small triangle.
struct BarChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  Ticks y_ticks;  // the y axis runs from the first to the last tick
  std::vector<double> values;
  std::vector<std::size_t> category;
  std::vector<Category> categories;            // legend order
  std::vector<ReferenceLine> reference_lines;  // horizontal, dashed
};
std::string render_bar_chart(const BarChart& chart);

// ---- Swimmer lanes -----------------------------------------------------------------------------

struct LaneMarker {
  double x = 0.0;
  std::size_t kind = 0;  // index into SwimmerChart::marker_kinds
};

struct SwimLane {
  std::string label;
  double treatment_end = 0.0;  // thick bar from 0
  double follow_up_end = 0.0;  // thin line to here
  bool ongoing = false;        // alive at the end of follow-up: an arrow at follow_up_end
  std::vector<LaneMarker> markers;
};

struct MarkerKind {
  std::string label;
  std::string colour;
  Marker shape = Marker::kCircle;
};

struct SwimmerChart {
  std::string title;
  std::string x_label;
  Ticks x_ticks;
  std::string treatment_colour;
  std::string treatment_label;  // legend of the bar, e.g. "on treatment"
  std::string follow_up_label;  // legend of the line
  std::string ongoing_label;    // legend of the arrow
  std::vector<SwimLane> lanes;  // top to bottom
  std::vector<MarkerKind> marker_kinds;
};
std::string render_swimmer_chart(const SwimmerChart& chart);

// ---- Forest (points with intervals, one row per label) ------------------------------------------

// One estimate with its interval. NaN estimate: nothing drawn. A NaN bound draws no whisker on
// that side; an infinite bound or one beyond the axis is drawn to the axis edge with an arrow.
struct PointInterval {
  double estimate = kNaN;
  double low = kNaN;
  double high = kNaN;
};

struct ForestSeries {
  std::string label;
  std::string colour;
  Marker shape = Marker::kSquare;
  bool filled = true;
};

struct ForestRow {
  std::string label;
  bool heading = false;               // a bold group heading without points
  std::vector<PointInterval> points;  // one per series (may be shorter)
  std::string note;                   // right of the plot (e.g. "within", "n = 120")
};

struct ForestChart {
  std::string title;
  std::string x_label;
  Ticks x_ticks;  // the x axis runs from the first to the last tick
  std::vector<ForestSeries> series;
  std::vector<ForestRow> rows;
  // Vertical dashed lines, one per series at most (e.g. the overall ORR of each arm); NaN: none.
  std::vector<double> series_reference;
  std::string series_reference_label;          // legend entry of those lines; empty: none
  std::vector<ReferenceLine> reference_lines;  // vertical, solid grey (e.g. HR = 1)
  std::string note_title;                      // heading of the note column
};
std::string render_forest_chart(const ForestChart& chart);

// ---- Lines with bands --------------------------------------------------------------------------

struct LineSeries {
  std::string label;
  std::string colour;
  std::vector<double> x, y, y_low, y_high;  // y_low/y_high empty: no band; NaN: a gap
  bool dashed = false;
  bool markers = true;  // a dot at each point
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  Ticks x_ticks;
  Ticks y_ticks;
  std::vector<LineSeries> series;
  std::string band_legend;                      // legend entry for the bands; empty: none
  std::vector<ReferenceLine> horizontal_lines;  // dashed grey, labelled
  // A vertical line at `vertical.value` with an optional shaded interval around it.
  ReferenceLine vertical{kNaN, ""};
  double vertical_low = kNaN;
  double vertical_high = kNaN;
};
std::string render_line_chart(const LineChart& chart);

}  // namespace vpgen::svg
