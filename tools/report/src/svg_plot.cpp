#include "svg_plot.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "vpgen/common/printable.hpp"

namespace vpgen::svg {
namespace {

constexpr double kWidth = 760.0;    // px; scales down in print and narrow windows
constexpr double kTickFont = 11.0;  // px: the smallest text of any chart
constexpr double kLabelFont = 12.0;
constexpr double kCharWidth = 0.6;  // average sans-serif glyph width, in em (generous)
constexpr double kLegendRow = 18.0;
constexpr double kTickLength = 5.0;
constexpr std::string_view kAxisColour = "#333333";
constexpr std::string_view kGridColour = "#DDDDDD";
constexpr std::string_view kReferenceColour = "#666666";
constexpr double kBandOpacity = 0.18;
// A white outline behind text drawn over data (reference-line labels), so bars never hide it.
constexpr std::string_view kHalo =
    " stroke=\"#FFFFFF\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\"";

// A coordinate or size with one decimal (a tenth of a pixel), never "-0.0".
std::string num(double value) {
  double rounded = std::round(value * 10.0) / 10.0;
  if (rounded == 0.0) rounded = 0.0;
  return fmt::format("{:.1f}", rounded);
}

std::size_t utf8_length(std::string_view text) {
  std::size_t n = 0;
  for (const char c : text)
    if ((static_cast<unsigned char>(c) & 0xC0U) != 0x80U) ++n;
  return n;
}

double text_width(std::string_view text, double font_px) {
  return static_cast<double>(utf8_length(text)) * kCharWidth * font_px;
}

// A linear map from data units to pixels.
struct Scale {
  double d0 = 0.0, d1 = 1.0, p0 = 0.0, p1 = 1.0;
  double operator()(double v) const {
    if (d1 == d0) return p0;
    return p0 + (v - d0) * (p1 - p0) / (d1 - d0);
  }
  double clamp(double v) const { return std::clamp(v, std::min(d0, d1), std::max(d0, d1)); }
};

std::string text_element(double x, double y, std::string_view text, std::string_view anchor,
                         double font_px, std::string_view extra = "") {
  return fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"{}\" font-size=\"{}\"{}>{}</text>\n",
                     num(x), num(y), anchor, num(font_px), extra, escape_xml(text));
}

std::string line_element(double x1, double y1, double x2, double y2, std::string_view colour,
                         double width, std::string_view extra = "") {
  return fmt::format(
      "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{}\"{}/>\n",
      num(x1), num(y1), num(x2), num(y2), colour, num(width), extra);
}

std::string marker_element(Marker shape, double cx, double cy, double size, std::string_view colour,
                           bool filled) {
  const std::string fill = filled ? std::string(colour) : std::string("#FFFFFF");
  const double h = size / 2.0;
  switch (shape) {
    case Marker::kCircle:
      return fmt::format(
          "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\" stroke=\"{}\" stroke-width=\"1.5\"/>\n",
          num(cx), num(cy), num(h), fill, colour);
    case Marker::kSquare:
      return fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"{}\" "
          "stroke-width=\"1.5\"/>\n",
          num(cx - h * 0.85), num(cy - h * 0.85), num(size * 0.85), num(size * 0.85), fill, colour);
    case Marker::kDiamond:
      return fmt::format(
          "<path d=\"M{} {}L{} {}L{} {}L{} {}Z\" fill=\"{}\" stroke=\"{}\" stroke-width=\"1.5\"/>\n",
          num(cx), num(cy - h), num(cx + h), num(cy), num(cx), num(cy + h), num(cx - h), num(cy),
          fill, colour);
    case Marker::kTriangle:
      return fmt::format(
          "<path d=\"M{} {}L{} {}L{} {}Z\" fill=\"{}\" stroke=\"{}\" stroke-width=\"1.5\"/>\n",
          num(cx), num(cy - h), num(cx + h), num(cy + h * 0.8), num(cx - h), num(cy + h * 0.8),
          fill, colour);
    case Marker::kCross:
      return line_element(cx - h, cy - h, cx + h, cy + h, colour, 2.0) +
             line_element(cx - h, cy + h, cx + h, cy - h, colour, 2.0);
    case Marker::kBar: return line_element(cx, cy - h * 1.2, cx, cy + h * 1.2, colour, 2.5);
  }
  return {};
}

// A right-pointing (or left-pointing) arrow head whose tip is at (x, y).
std::string arrow_head(double x, double y, double size, std::string_view colour, bool right) {
  const double back = right ? x - size : x + size;
  return fmt::format("<path d=\"M{} {}L{} {}L{} {}Z\" fill=\"{}\"/>\n", num(x), num(y), num(back),
                     num(y - size / 2.0), num(back), num(y + size / 2.0), colour);
}

// ---- Legend ------------------------------------------------------------------------------------

enum class Swatch : std::uint8_t { kLine, kDashedLine, kBand, kBlock, kMarker, kThickBar, kArrow };

struct LegendItem {
  std::string label;
  std::string colour;
  Swatch swatch = Swatch::kLine;
  Marker marker = Marker::kCircle;
  bool filled = true;
};

constexpr double kSwatchWidth = 24.0;

double legend_item_width(const LegendItem& item) {
  return kSwatchWidth + 6.0 + text_width(item.label, kLabelFont) + 16.0;
}

// Rows needed to lay the items out left to right within `width`.
int legend_rows(const std::vector<LegendItem>& items, double width) {
  if (items.empty()) return 0;
  int rows = 1;
  double x = 0.0;
  for (const LegendItem& item : items) {
    const double w = legend_item_width(item);
    if (x > 0.0 && x + w > width) {
      ++rows;
      x = 0.0;
    }
    x += w;
  }
  return rows;
}

std::string legend(const std::vector<LegendItem>& items, double left, double top, double width) {
  std::string out;
  double x = left;
  double y = top + kLegendRow / 2.0;
  for (const LegendItem& item : items) {
    const double w = legend_item_width(item);
    if (x > left && x + w > left + width) {
      x = left;
      y += kLegendRow;
    }
    const double mid = x + kSwatchWidth / 2.0;
    switch (item.swatch) {
      case Swatch::kLine: out += line_element(x, y, x + kSwatchWidth, y, item.colour, 2.0); break;
      case Swatch::kDashedLine:
        out +=
            line_element(x, y, x + kSwatchWidth, y, item.colour, 1.5, " stroke-dasharray=\"5 3\"");
        break;
      case Swatch::kBand:
        out += fmt::format(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"10\" fill=\"{}\" fill-opacity=\"{}\"/>\n",
            num(x), num(y - 5.0), num(kSwatchWidth), item.colour, num(kBandOpacity * 2.0));
        break;
      case Swatch::kBlock:
        out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>\n",
                           num(mid - 6.0), num(y - 6.0), item.colour);
        break;
      case Swatch::kMarker:
        out += marker_element(item.marker, mid, y, 9.0, item.colour, item.filled);
        break;
      case Swatch::kThickBar:
        out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"8\" fill=\"{}\"/>\n",
                           num(x), num(y - 4.0), num(kSwatchWidth), item.colour);
        break;
      case Swatch::kArrow:
        out += line_element(x, y, x + kSwatchWidth - 6.0, y, item.colour, 1.5);
        out += arrow_head(x + kSwatchWidth, y, 7.0, item.colour, true);
        break;
    }
    out += text_element(x + kSwatchWidth + 6.0, y + 4.0, item.label, "start", kLabelFont);
    x += w;
  }
  return out;
}

double legend_height(const std::vector<LegendItem>& items, double width) {
  const int rows = legend_rows(items, width);
  return rows == 0 ? 0.0 : static_cast<double>(rows) * kLegendRow + 8.0;
}

// ---- Frame: the <svg> element, a plot rectangle and its axes -----------------------------------

std::string open_svg(double width, double height, std::string_view title) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"{2}\" role=\"img\">\n"
      "<title>{3}</title>\n"
      "<rect x=\"0\" y=\"0\" width=\"{0}\" height=\"{1}\" fill=\"#FFFFFF\"/>\n",
      num(width), num(height), num(kLabelFont), escape_xml(title));
}

struct Rect {
  double left = 0.0, top = 0.0, width = 0.0, height = 0.0;
  double right() const { return left + width; }
  double bottom() const { return top + height; }
};

// Horizontal grid lines, y ticks with labels and the y axis label (rotated), at the left of `r`.
std::string y_axis(const Rect& r, const Scale& y, const Ticks& ticks, std::string_view label,
                   bool grid) {
  std::string out;
  for (const double v : ticks.values) {
    const double py = y(v);
    if (grid) out += line_element(r.left, py, r.right(), py, kGridColour, 1.0);
    out += line_element(r.left - kTickLength, py, r.left, py, kAxisColour, 1.0);
    out += text_element(r.left - kTickLength - 3.0, py + 4.0, tick_label(v, ticks.step), "end",
                        kTickFont);
  }
  out += line_element(r.left, r.top, r.left, r.bottom(), kAxisColour, 1.0);
  double widest = 0.0;
  for (const double v : ticks.values)
    widest = std::max(widest, text_width(tick_label(v, ticks.step), kTickFont));
  const double lx = r.left - kTickLength - 3.0 - widest - 10.0;
  const double ly = r.top + r.height / 2.0;
  out += fmt::format(
      "<text x=\"{0}\" y=\"{1}\" text-anchor=\"middle\" font-size=\"{2}\" "
      "transform=\"rotate(-90 {0} {1})\">{3}</text>\n",
      num(lx), num(ly), num(kLabelFont), escape_xml(label));
  return out;
}

// Vertical grid lines (optional), x ticks with labels and the x axis label, under `r`.
std::string x_axis(const Rect& r, const Scale& x, const Ticks& ticks, std::string_view label,
                   bool grid) {
  std::string out;
  for (const double v : ticks.values) {
    const double px = x(v);
    if (grid) out += line_element(px, r.top, px, r.bottom(), kGridColour, 1.0);
    out += line_element(px, r.bottom(), px, r.bottom() + kTickLength, kAxisColour, 1.0);
    out += text_element(px, r.bottom() + kTickLength + kTickFont + 2.0, tick_label(v, ticks.step),
                        "middle", kTickFont);
  }
  out += line_element(r.left, r.bottom(), r.right(), r.bottom(), kAxisColour, 1.0);
  out += text_element(r.left + r.width / 2.0, r.bottom() + kTickLength + kTickFont + 22.0, label,
                      "middle", kLabelFont);
  return out;
}

// Space left of the plot for y tick labels and the rotated y label.
double y_axis_margin(const Ticks& ticks) {
  double widest = 0.0;
  for (const double v : ticks.values)
    widest = std::max(widest, text_width(tick_label(v, ticks.step), kTickFont));
  return kTickLength + 3.0 + widest + 10.0 + kLabelFont + 6.0;
}

constexpr double kXAxisSpace = kTickLength + kTickFont + 30.0;  // ticks, labels, axis label

double first(const Ticks& t) { return t.values.empty() ? 0.0 : t.values.front(); }
double last(const Ticks& t) { return t.values.empty() ? 1.0 : t.values.back(); }

// Polyline points "x,y x,y ..." of pixel points, dropping repeats and the middle of three points
// on one horizontal or vertical line (a step curve of thousands of tiny steps stays a few hundred
// points at the resolution drawn).
class PathBuilder {
 public:
  void add(double x, double y) {
    // Half a pixel horizontally: a monotone step curve is unchanged to the eye.
    const double px = std::round(x * 2.0) / 2.0;
    const double py = std::round(y * 10.0) / 10.0;
    if (!points_.empty() && points_.back().first == px && points_.back().second == py) return;
    if (points_.size() >= 2) {
      const auto& a = points_[points_.size() - 2];
      const auto& b = points_.back();
      if ((a.first == b.first && b.first == px) || (a.second == b.second && b.second == py)) {
        points_.back() = {px, py};
        return;
      }
    }
    points_.emplace_back(px, py);
  }
  std::string points() const {
    std::string out;
    for (std::size_t i = 0; i < points_.size(); ++i) {
      if (i > 0) out += ' ';
      out += num(points_[i].first);
      out += ',';
      out += num(points_[i].second);
    }
    return out;
  }

 private:
  std::vector<std::pair<double, double>> points_;
};

// The step path of values v over x (v[i] holds on [x[i], x[i+1]), ending at x_end), forward or
// backward, appended to `path`.
void add_steps(PathBuilder& path, const Scale& sx, const Scale& sy, const std::vector<double>& x,
               const std::vector<double>& v, std::size_t count, double x_end, bool forward) {
  if (count == 0) return;
  if (forward) {
    for (std::size_t i = 0; i < count; ++i) {
      path.add(sx(sx.clamp(x[i])), sy(sy.clamp(v[i])));
      const double next = i + 1 < count ? x[i + 1] : x_end;
      path.add(sx(sx.clamp(next)), sy(sy.clamp(v[i])));
    }
  } else {
    for (std::size_t k = count; k-- > 0;) {
      const double next = k + 1 < count ? x[k + 1] : x_end;
      path.add(sx(sx.clamp(next)), sy(sy.clamp(v[k])));
      path.add(sx(sx.clamp(x[k])), sy(sy.clamp(v[k])));
    }
  }
}

bool finite(double v) { return std::isfinite(v); }

}  // namespace

std::string_view series_colour(std::size_t index) {
  static constexpr std::array<std::string_view, 7> kSeries = {
      kBlue, kVermillion, kBluishGreen, kReddishPurple, kOrange, kSkyBlue, kBlack};
  return kSeries[index % kSeries.size()];
}

std::string escape_xml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80U) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default:
          if ((c < 0x20U && c != '\t' && c != '\n' && c != '\r') || c == 0x7FU)
            out += "\xEF\xBF\xBD";
          else out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // A well-formed UTF-8 sequence passes unchanged; anything else becomes U+FFFD.
    std::size_t length = 0;
    std::uint32_t code = 0;
    if ((c & 0xE0U) == 0xC0U) {
      length = 2;
      code = c & 0x1FU;
    } else if ((c & 0xF0U) == 0xE0U) {
      length = 3;
      code = c & 0x0FU;
    } else if ((c & 0xF8U) == 0xF0U) {
      length = 4;
      code = c & 0x07U;
    }
    bool valid = length > 0 && i + length <= text.size();
    for (std::size_t k = 1; valid && k < length; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0U) != 0x80U) valid = false;
      else code = (code << 6U) | (cc & 0x3FU);
    }
    static constexpr std::array<std::uint32_t, 5> kMinimum = {0, 0, 0x80, 0x800, 0x10000};
    if (valid && (code < kMinimum[length] || code > 0x10FFFFU ||
                  (code >= 0xD800U && code <= 0xDFFFU) || code == 0xFFFEU || code == 0xFFFFU))
      valid = false;
    // C1 controls and the bidi embeddings, overrides and isolates (which would reorder what a
    // reader sees) are shown as U+FFFD, like C0.
    if (valid && is_control_character(code)) {
      out += "\xEF\xBF\xBD";
      i += length;
      continue;
    }
    if (valid) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

Ticks nice_ticks(double low, double high, int target_count) {
  if (!finite(low) && !finite(high)) {
    low = 0.0;
    high = 1.0;
  } else if (!finite(low)) {
    low = high - 1.0;
  } else if (!finite(high)) {
    high = low + 1.0;
  }
  if (high < low) std::swap(low, high);
  if (high == low) {
    low -= 0.5;
    high += 0.5;
  }
  target_count = std::max(target_count, 2);
  // Heckbert's nice number, rounded: the step nearest (range / intervals) among 1, 2 and 5
  // times a power of ten.
  const double raw = (high - low) / (target_count - 1);
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  const double fraction = raw / power;
  double nice_fraction = 10.0;
  if (fraction < 1.5) nice_fraction = 1.0;
  else if (fraction < 3.0) nice_fraction = 2.0;
  else if (fraction < 7.0) nice_fraction = 5.0;
  const double step = nice_fraction * power;
  Ticks ticks;
  ticks.step = step;
  const double start = std::floor(low / step + 1e-9);
  const double stop = std::ceil(high / step - 1e-9);
  for (double k = start; k <= stop + 0.5; k += 1.0) ticks.values.push_back(k * step);
  return ticks;
}

Ticks fixed_ticks(double low, double high, double step) {
  // A step that would give no ticks or hundreds of them: nice ticks instead.
  if (!(step > 0.0) || !finite(low) || !finite(high) || (high - low) / step > 200.0)
    return nice_ticks(low, high);
  Ticks ticks;
  ticks.step = step;
  const double stop = std::max(low + step, high);
  for (int k = 0;; ++k) {
    const double v = low + k * step;
    ticks.values.push_back(v);
    if (v >= stop - 1e-9 * step) break;
  }
  return ticks;
}

std::string tick_label(double value, double step) {
  int decimals = 0;
  if (step > 0.0 && finite(step)) {
    decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
    // A step of 2.5 or 0.25 needs one more digit than its power of ten.
    const double scaled = step * std::pow(10.0, decimals);
    if (std::fabs(scaled - std::round(scaled)) > 1e-6) ++decimals;
  }
  double rounded = std::round(value * std::pow(10.0, decimals)) / std::pow(10.0, decimals);
  if (rounded == 0.0) rounded = 0.0;
  return fmt::format("{:.{}f}", rounded, decimals);
}

std::string render_step_chart(const StepChart& chart) {
  std::vector<LegendItem> items;
  for (const StepCurve& c : chart.curves) items.push_back({c.label, c.colour, Swatch::kLine});
  const bool any_band = std::any_of(chart.curves.begin(), chart.curves.end(),
                                    [](const StepCurve& c) { return !c.y_low.empty(); });
  if (any_band && !chart.band_legend.empty())
    items.push_back({chart.band_legend, std::string(kGrey), Swatch::kBand});

  const bool risk = !chart.risk_title.empty();
  // The numbers at risk are centred on the ticks: half the widest sticks out on either side.
  double half_number = 0.0;
  if (risk)
    for (const auto& row : chart.at_risk)
      for (const std::uint64_t n : row)
        half_number = std::max(half_number, text_width(fmt::format("{}", n), kTickFont) / 2.0);
  double left = y_axis_margin(chart.y_ticks);
  if (risk)
    for (const StepCurve& c : chart.curves)
      left = std::max(left, 12.0 + text_width(c.label, kTickFont) + 8.0 + half_number);
  const double right = std::max(24.0, half_number + 8.0);
  const double legend_top = 10.0;
  const double legend_h = legend_height(items, kWidth - left - right);
  Rect r{left, legend_top + legend_h + 6.0, kWidth - left - right, 300.0};
  const double risk_top = r.bottom() + kXAxisSpace + 10.0;
  const double risk_row = 16.0;
  const double height =
      risk ? risk_top + risk_row * static_cast<double>(chart.curves.size() + 1) + 8.0
           : r.bottom() + kXAxisSpace + 8.0;

  const Scale sx{first(chart.x_ticks), last(chart.x_ticks), r.left, r.right()};
  const Scale sy{first(chart.y_ticks), last(chart.y_ticks), r.bottom(), r.top};
  std::string out = open_svg(kWidth, height, chart.title);
  out += legend(items, r.left, legend_top, r.width);
  out += y_axis(r, sy, chart.y_ticks, chart.y_label, true);
  out += x_axis(r, sx, chart.x_ticks, chart.x_label, false);

  for (const StepCurve& c : chart.curves) {
    if (c.x.empty() || c.y_low.size() != c.x.size() || c.y_high.size() != c.x.size()) continue;
    std::size_t band = 0;
    while (band < c.x.size() && finite(c.y_low[band]) && finite(c.y_high[band])) ++band;
    if (band == 0) continue;
    const double band_end = band < c.x.size() ? c.x[band] : c.x.back();
    PathBuilder path;
    add_steps(path, sx, sy, c.x, c.y_high, band, band_end, true);
    add_steps(path, sx, sy, c.x, c.y_low, band, band_end, false);
    out += fmt::format("<polygon points=\"{}\" fill=\"{}\" fill-opacity=\"{}\" stroke=\"none\"/>\n",
                       path.points(), c.colour, num(kBandOpacity));
  }
  for (const StepCurve& c : chart.curves) {
    if (c.x.empty()) continue;
    PathBuilder path;
    add_steps(path, sx, sy, c.x, c.y, c.x.size(), c.x.back(), true);
    out += fmt::format(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" "
        "stroke-linejoin=\"round\"/>\n",
        path.points(), c.colour);
  }

  if (risk) {
    out += text_element(12.0, risk_top, chart.risk_title, "start", kLabelFont,
                        " font-weight=\"bold\"");
    for (std::size_t i = 0; i < chart.curves.size(); ++i) {
      const double y = risk_top + risk_row * static_cast<double>(i + 1);
      out += text_element(r.left - half_number - 8.0, y, chart.curves[i].label, "end", kTickFont,
                          fmt::format(" fill=\"{}\" font-weight=\"bold\"", chart.curves[i].colour));
      if (i >= chart.at_risk.size()) continue;
      for (std::size_t t = 0; t < chart.x_ticks.values.size() && t < chart.at_risk[i].size(); ++t)
        out += text_element(sx(chart.x_ticks.values[t]), y, fmt::format("{}", chart.at_risk[i][t]),
                            "middle", kTickFont);
    }
  }
  out += "</svg>\n";
  return out;
}

std::string render_bar_chart(const BarChart& chart) {
  std::vector<LegendItem> items;
  for (const Category& c : chart.categories) items.push_back({c.label, c.colour, Swatch::kBlock});
  const double left = y_axis_margin(chart.y_ticks);
  const double right = 16.0;
  const double legend_top = 10.0;
  const double legend_h = legend_height(items, kWidth - left - right);
  Rect r{left, legend_top + legend_h + 6.0, kWidth - left - right, 300.0};
  const double height = r.bottom() + 34.0;
  const Scale sy{first(chart.y_ticks), last(chart.y_ticks), r.bottom(), r.top};

  std::string out = open_svg(kWidth, height, chart.title);
  out += legend(items, r.left, legend_top, r.width);
  out += y_axis(r, sy, chart.y_ticks, chart.y_label, true);
  const std::size_t n = chart.values.size();
  const double slot = n == 0 ? r.width : r.width / static_cast<double>(n);
  const double bar = slot >= 3.0 ? slot * 0.8 : slot;
  const double zero = sy(sy.clamp(0.0));
  for (std::size_t i = 0; i < n; ++i) {
    const double v = chart.values[i];
    if (!finite(v)) continue;
    const std::size_t cat = i < chart.category.size() ? chart.category[i] : 0;
    const std::string colour =
        cat < chart.categories.size() ? chart.categories[cat].colour : std::string(kGrey);
    const double x = r.left + slot * static_cast<double>(i) + (slot - bar) / 2.0;
    const double y = sy(sy.clamp(v));
    out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\n", num(x),
                       num(std::min(y, zero)), num(bar), num(std::fabs(zero - y)), colour);
    // Beyond the axis by more than rounding (a stored -100% may be -100.00000000000001): cut at
    // the edge, with a triangle pointing past it.
    const double tolerance = 1e-9 * (sy.d1 - sy.d0);
    if (v > sy.d1 + tolerance || v < sy.d0 - tolerance) {
      const double tip = v > sy.d1 ? r.top - 1.0 : r.bottom() + 1.0;
      const double base = v > sy.d1 ? tip + 6.0 : tip - 6.0;
      const double cx = x + bar / 2.0;
      const double half = std::max(bar / 2.0, 3.0);
      out += fmt::format("<path d=\"M{} {}L{} {}L{} {}Z\" fill=\"{}\"/>\n", num(cx), num(tip),
                         num(cx + half), num(base), num(cx - half), num(base), colour);
    }
  }
  out += line_element(r.left, zero, r.right(), zero, kAxisColour, 1.0);
  for (const ReferenceLine& ref : chart.reference_lines) {
    if (ref.value < sy.d0 || ref.value > sy.d1) continue;
    const double y = sy(ref.value);
    out +=
        line_element(r.left, y, r.right(), y, kReferenceColour, 1.2, " stroke-dasharray=\"6 4\"");
    if (!ref.label.empty())
      out += text_element(r.right() - 4.0, y - 4.0, ref.label, "end", kTickFont,
                          fmt::format(" fill=\"{}\"{}", kReferenceColour, kHalo));
  }
  out += line_element(r.left, r.top, r.left, r.bottom(), kAxisColour, 1.0);
  out +=
      text_element(r.left + r.width / 2.0, r.bottom() + 22.0, chart.x_label, "middle", kLabelFont);
  out += "</svg>\n";
  return out;
}

std::string render_swimmer_chart(const SwimmerChart& chart) {
  // The legend lists what is drawn: marker kinds no lane has are left out.
  std::vector<bool> used(chart.marker_kinds.size(), false);
  bool any_ongoing = false;
  for (const SwimLane& lane : chart.lanes) {
    any_ongoing = any_ongoing || lane.ongoing;
    for (const LaneMarker& m : lane.markers)
      if (m.kind < used.size() && finite(m.x)) used[m.kind] = true;
  }
  std::vector<LegendItem> items;
  items.push_back({chart.treatment_label, chart.treatment_colour, Swatch::kThickBar});
  items.push_back({chart.follow_up_label, std::string(kGrey), Swatch::kLine});
  if (any_ongoing) items.push_back({chart.ongoing_label, std::string(kBlack), Swatch::kArrow});
  for (std::size_t k = 0; k < chart.marker_kinds.size(); ++k)
    if (used[k])
      items.push_back({chart.marker_kinds[k].label, chart.marker_kinds[k].colour, Swatch::kMarker,
                       chart.marker_kinds[k].shape, true});
  double left = 40.0;
  for (const SwimLane& lane : chart.lanes)
    left = std::max(left, text_width(lane.label, kTickFont) + 14.0);
  const double right = 24.0;
  const double legend_top = 10.0;
  const double legend_h = legend_height(items, kWidth - 16.0 - right);
  const double lane_h = 18.0;
  Rect r{left, legend_top + legend_h + 6.0, kWidth - left - right,
         std::max(lane_h, lane_h * static_cast<double>(chart.lanes.size()))};
  const double height = r.bottom() + kXAxisSpace + 8.0;
  const Scale sx{first(chart.x_ticks), last(chart.x_ticks), r.left, r.right()};

  std::string out = open_svg(kWidth, height, chart.title);
  out += legend(items, 16.0, legend_top, kWidth - 16.0 - right);
  out += x_axis(r, sx, chart.x_ticks, chart.x_label, true);
  out += line_element(r.left, r.top, r.left, r.bottom(), kAxisColour, 1.0);
  for (std::size_t i = 0; i < chart.lanes.size(); ++i) {
    const SwimLane& lane = chart.lanes[i];
    const double cy = r.top + lane_h * (static_cast<double>(i) + 0.5);
    out += text_element(r.left - 6.0, cy + 4.0, lane.label, "end", kTickFont);
    const double x_follow = sx(sx.clamp(lane.follow_up_end));
    const double x_treat = sx(sx.clamp(std::min(lane.treatment_end, lane.follow_up_end)));
    if (x_follow > x_treat) out += line_element(x_treat, cy, x_follow, cy, kGrey, 1.5);
    if (x_treat > r.left)
      out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"8\" fill=\"{}\"/>\n",
                         num(r.left), num(cy - 4.0), num(x_treat - r.left), chart.treatment_colour);
    if (lane.ongoing) out += arrow_head(x_follow + 8.0, cy, 8.0, kBlack, true);
    for (const LaneMarker& m : lane.markers) {
      if (m.kind >= chart.marker_kinds.size() || !finite(m.x)) continue;
      const MarkerKind& k = chart.marker_kinds[m.kind];
      out += marker_element(k.shape, sx(sx.clamp(m.x)), cy, 9.0, k.colour, true);
    }
  }
  out += "</svg>\n";
  return out;
}

std::string render_forest_chart(const ForestChart& chart) {
  std::vector<LegendItem> items;
  for (const ForestSeries& s : chart.series)
    items.push_back({s.label, s.colour, Swatch::kMarker, s.shape, s.filled});
  bool any_reference = false;
  for (const double v : chart.series_reference) any_reference = any_reference || finite(v);
  if (any_reference && !chart.series_reference_label.empty())
    items.push_back(
        {chart.series_reference_label, std::string(kReferenceColour), Swatch::kDashedLine});

  double label_w = 40.0;
  for (const ForestRow& row : chart.rows)
    label_w = std::max(label_w, text_width(row.label, kTickFont) * (row.heading ? 1.1 : 1.0) +
                                    (row.heading ? 0.0 : 10.0));
  double note_w = text_width(chart.note_title, kTickFont);
  for (const ForestRow& row : chart.rows)
    note_w = std::max(note_w, text_width(row.note, kTickFont));
  const double left = 12.0 + label_w + 12.0;
  const double right = note_w > 0.0 ? note_w + 24.0 : 24.0;
  const double legend_top = 10.0;
  const double legend_h = legend_height(items, kWidth - 24.0);
  const std::size_t m = std::max<std::size_t>(chart.series.size(), 1);
  const double row_h = std::max(18.0, 7.0 * static_cast<double>(m) + 6.0);
  const double heading_h = 20.0;
  double rows_h = 0.0;
  for (const ForestRow& row : chart.rows) rows_h += row.heading ? heading_h : row_h;
  const double header_h = note_w > 0.0 ? 18.0 : 0.0;
  Rect r{left, legend_top + legend_h + 6.0 + header_h, kWidth - left - right,
         std::max(rows_h, row_h)};
  const double height = r.bottom() + kXAxisSpace + 8.0;
  const Scale sx{first(chart.x_ticks), last(chart.x_ticks), r.left, r.right()};

  std::string out = open_svg(kWidth, height, chart.title);
  out += legend(items, 12.0, legend_top, kWidth - 24.0);
  // Every other data row shaded, across labels, plot and notes, to guide the eye along a row.
  {
    double y = r.top;
    bool shade = false;
    for (const ForestRow& row : chart.rows) {
      const double h = row.heading ? heading_h : row_h;
      if (row.heading) {
        shade = false;
      } else {
        if (shade)
          out +=
              fmt::format("<rect x=\"8\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#F2F2F2\"/>\n",
                          num(y), num(kWidth - 16.0), num(h));
        shade = !shade;
      }
      y += h;
    }
  }
  out += x_axis(r, sx, chart.x_ticks, chart.x_label, true);
  if (note_w > 0.0)
    out += text_element(r.right() + 12.0, r.top - 6.0, chart.note_title, "start", kTickFont,
                        " font-weight=\"bold\"");
  for (const ReferenceLine& ref : chart.reference_lines) {
    if (ref.value < sx.d0 || ref.value > sx.d1) continue;
    out += line_element(sx(ref.value), r.top, sx(ref.value), r.bottom(), kReferenceColour, 1.2);
    if (!ref.label.empty()) {
      const bool room_right = sx(ref.value) + 3.0 + text_width(ref.label, kTickFont) < r.right();
      out += text_element(sx(ref.value) + (room_right ? 3.0 : -3.0), r.top + 10.0, ref.label,
                          room_right ? "start" : "end", kTickFont,
                          fmt::format(" fill=\"{}\"{}", kReferenceColour, kHalo));
    }
  }
  for (std::size_t s = 0; s < chart.series_reference.size() && s < chart.series.size(); ++s) {
    const double v = chart.series_reference[s];
    if (!finite(v) || v < sx.d0 || v > sx.d1) continue;
    out += line_element(sx(v), r.top, sx(v), r.bottom(), chart.series[s].colour, 1.2,
                        " stroke-dasharray=\"5 3\"");
  }

  double y = r.top;
  for (const ForestRow& row : chart.rows) {
    const double h = row.heading ? heading_h : row_h;
    const double cy = y + h / 2.0;
    if (row.heading) {
      out += text_element(12.0, cy + 4.0, row.label, "start", kTickFont, " font-weight=\"bold\"");
    } else {
      out += text_element(22.0, cy + 4.0, row.label, "start", kTickFont);
      for (std::size_t s = 0; s < row.points.size() && s < chart.series.size(); ++s) {
        const PointInterval& p = row.points[s];
        if (!finite(p.estimate)) continue;
        const ForestSeries& series = chart.series[s];
        const double offset = (static_cast<double>(s) - (static_cast<double>(m) - 1.0) / 2.0) * 7.0;
        const double py = cy + offset;
        const bool low_cut = !std::isnan(p.low) && p.low < sx.d0;
        const bool high_cut = !std::isnan(p.high) && p.high > sx.d1;
        const double x_low = std::isnan(p.low) ? sx(sx.clamp(p.estimate)) : sx(sx.clamp(p.low));
        const double x_high = std::isnan(p.high) ? sx(sx.clamp(p.estimate)) : sx(sx.clamp(p.high));
        if (x_high > x_low) out += line_element(x_low, py, x_high, py, series.colour, 1.5);
        if (low_cut) out += arrow_head(x_low, py, 7.0, series.colour, false);
        if (high_cut) out += arrow_head(x_high, py, 7.0, series.colour, true);
        if (p.estimate >= sx.d0 && p.estimate <= sx.d1)
          out +=
              marker_element(series.shape, sx(p.estimate), py, 8.0, series.colour, series.filled);
      }
    }
    if (!row.note.empty())
      out += text_element(r.right() + 12.0, cy + 4.0, row.note, "start", kTickFont);
    y += h;
  }
  out += line_element(r.left, r.top, r.left, r.bottom(), kAxisColour, 1.0);
  out += "</svg>\n";
  return out;
}

std::string render_line_chart(const LineChart& chart) {
  std::vector<LegendItem> items;
  for (const LineSeries& s : chart.series)
    items.push_back({s.label, s.colour, s.dashed ? Swatch::kDashedLine : Swatch::kLine});
  if (!chart.band_legend.empty())
    items.push_back({chart.band_legend, std::string(kGrey), Swatch::kBand});
  const double left = y_axis_margin(chart.y_ticks);
  const double right = 24.0;
  const double legend_top = 10.0;
  const double legend_h = legend_height(items, kWidth - left - right);
  Rect r{left, legend_top + legend_h + 6.0, kWidth - left - right, 300.0};
  const double height = r.bottom() + kXAxisSpace + 8.0;
  const Scale sx{first(chart.x_ticks), last(chart.x_ticks), r.left, r.right()};
  const Scale sy{first(chart.y_ticks), last(chart.y_ticks), r.bottom(), r.top};

  std::string out = open_svg(kWidth, height, chart.title);
  out += legend(items, r.left, legend_top, r.width);
  out += y_axis(r, sy, chart.y_ticks, chart.y_label, true);
  out += x_axis(r, sx, chart.x_ticks, chart.x_label, false);
  if (finite(chart.vertical_low) && finite(chart.vertical_high)) {
    const double x0 = sx(sx.clamp(chart.vertical_low));
    const double x1 = sx(sx.clamp(chart.vertical_high));
    out += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" fill-opacity=\"0.15\"/>\n",
        num(x0), num(r.top), num(std::max(0.0, x1 - x0)), num(r.height), kGrey);
  }
  for (const LineSeries& s : chart.series) {
    if (s.y_low.size() != s.x.size() || s.y_high.size() != s.x.size()) continue;
    std::size_t i = 0;
    while (i < s.x.size()) {
      std::size_t j = i;
      while (j < s.x.size() && finite(s.y_low[j]) && finite(s.y_high[j])) ++j;
      if (j > i) {
        std::string points;
        for (std::size_t k = i; k < j; ++k)
          points += num(sx(sx.clamp(s.x[k]))) + "," + num(sy(sy.clamp(s.y_high[k]))) + " ";
        for (std::size_t k = j; k-- > i;)
          points +=
              num(sx(sx.clamp(s.x[k]))) + "," + num(sy(sy.clamp(s.y_low[k]))) + (k > i ? " " : "");
        out += fmt::format(
            "<polygon points=\"{}\" fill=\"{}\" fill-opacity=\"{}\" stroke=\"none\"/>\n", points,
            s.colour, num(kBandOpacity));
      }
      i = j + 1;
    }
  }
  for (const ReferenceLine& ref : chart.horizontal_lines) {
    if (ref.value < sy.d0 || ref.value > sy.d1) continue;
    const double y = sy(ref.value);
    out +=
        line_element(r.left, y, r.right(), y, kReferenceColour, 1.2, " stroke-dasharray=\"6 4\"");
    if (!ref.label.empty())
      out += text_element(r.left + 6.0, y - 4.0, ref.label, "start", kTickFont,
                          fmt::format(" fill=\"{}\"{}", kReferenceColour, kHalo));
  }
  if (finite(chart.vertical.value) && chart.vertical.value >= sx.d0 &&
      chart.vertical.value <= sx.d1) {
    const double x = sx(chart.vertical.value);
    out += line_element(x, r.top, x, r.bottom(), kBlack, 1.5, " stroke-dasharray=\"3 3\"");
    if (!chart.vertical.label.empty()) {
      const bool room_right = x + text_width(chart.vertical.label, kTickFont) + 8.0 < r.right();
      out += text_element(room_right ? x + 4.0 : x - 4.0, r.top + 12.0, chart.vertical.label,
                          room_right ? "start" : "end", kTickFont, kHalo);
    }
  }
  for (const LineSeries& s : chart.series) {
    std::size_t i = 0;
    while (i < s.x.size()) {
      std::size_t j = i;
      while (j < s.x.size() && finite(s.y[j]) && finite(s.x[j])) ++j;
      if (j > i + 1) {
        std::string points;
        for (std::size_t k = i; k < j; ++k)
          points +=
              num(sx(sx.clamp(s.x[k]))) + "," + num(sy(sy.clamp(s.y[k]))) + (k + 1 < j ? " " : "");
        out += fmt::format(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}/>\n", points,
            s.colour, s.dashed ? " stroke-dasharray=\"6 4\"" : "");
      }
      if (s.markers)
        for (std::size_t k = i; k < j; ++k)
          out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"2.5\" fill=\"{}\"/>\n",
                             num(sx(sx.clamp(s.x[k]))), num(sy(sy.clamp(s.y[k]))), s.colour);
      i = j + 1;
    }
  }
  out += "</svg>\n";
  return out;
}

}  // namespace vpgen::svg
