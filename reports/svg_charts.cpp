#include "reports/svg_charts.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace questbench {
namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string tick_text(double v) {
  if (std::fabs(v) < 1e-9) v = 0;  // no "-0"
  char buf[32];
  std::snprintf(buf, sizeof buf, std::fabs(v - std::round(v)) < 1e-9 ? "%.0f" : "%.1f", v);
  return buf;
}

// Tick values from lo to hi at a 1/2/5 x 10^k step giving at most `max_ticks` ticks.
std::vector<double> nice_ticks(double lo, double hi, int max_ticks) {
  std::vector<double> out;
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(1, max_ticks - 1);
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + 1e-9 * step; v += step) out.push_back(v);
  return out;
}

// Rough text width for layout (SVG text is not measured server-side): 0.6 em per character.
double text_width(const std::string& s, double font_size) {
  size_t n = 0;
  for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
  return 0.6 * font_size * static_cast<double>(n);
}

std::string marker_svg(const std::string& shape, double x, double y, const std::string& colour, bool data) {
  const std::string cls = data ? " class=\"mark\"" : "";
  std::ostringstream o;
  if (shape == "square") {
    o << "<rect" << cls << " x=\"" << num(x - 3) << "\" y=\"" << num(y - 3) << "\" width=\"6\" height=\"6\" fill=\"" << colour << "\"/>";
  } else if (shape == "triangle") {
    o << "<path" << cls << " d=\"M" << num(x) << " " << num(y - 4) << "L" << num(x + 4) << " " << num(y + 3) << "L" << num(x - 4)
      << " " << num(y + 3) << "Z\" fill=\"" << colour << "\"/>";
  } else if (shape == "diamond") {
    o << "<path" << cls << " d=\"M" << num(x) << " " << num(y - 4) << "L" << num(x + 4) << " " << num(y) << "L" << num(x) << " "
      << num(y + 4) << "L" << num(x - 4) << " " << num(y) << "Z\" fill=\"" << colour << "\"/>";
  } else {
    o << "<circle" << cls << " cx=\"" << num(x) << "\" cy=\"" << num(y) << "\" r=\"3.2\" fill=\"" << colour << "\"/>";
  }
  return o.str();
}

std::string open_svg(const std::string& id, const std::string& title, int width, int height) {
  std::ostringstream o;
  o << "<svg class=\"chart\" data-chart=\"" << xml_escape(id) << "\" width=\"" << width << "\" height=\"" << height
    << "\" viewBox=\"0 0 " << width << " " << height << "\" role=\"img\" aria-label=\"" << xml_escape(title) << "\">"
    << "<title>" << xml_escape(title) << "</title>"
    << "<text class=\"chart-title\" x=\"" << width / 2 << "\" y=\"15\" text-anchor=\"middle\">" << xml_escape(title) << "</text>";
  return o.str();
}

// Legend items laid out left to right, wrapping; returns the SVG and sets *rows_used.
std::string legend_svg(const std::vector<ChartSeries>& series, double x0, double y0, double max_width, int* rows_used) {
  std::ostringstream o;
  double x = x0, y = y0;
  int rows = 1;
  for (const auto& s : series) {
    const double w = 22 + text_width(s.name, 10) + 10;
    if (x > x0 && x + w > x0 + max_width) {
      x = x0;
      y += 13;
      ++rows;
    }
    o << "<line x1=\"" << num(x) << "\" y1=\"" << num(y - 3) << "\" x2=\"" << num(x + 16) << "\" y2=\"" << num(y - 3)
      << "\" stroke=\"" << s.colour << "\" stroke-width=\"2\"" << (s.dashed ? " stroke-dasharray=\"4 2\"" : "") << "/>"
      << marker_svg(s.marker, x + 8, y - 3, s.colour, false) << "<text class=\"legend\" x=\"" << num(x + 20) << "\" y=\""
      << num(y) << "\">" << xml_escape(s.name) << "</text>";
    x += w;
  }
  if (rows_used) *rows_used = rows;
  return o.str();
}

// Diverging colour for t in [-1, 1]: orange (#e66101) - white - purple (#5e3c99).
std::string diverging(double t) {
  t = std::max(-1.0, std::min(1.0, t));
  const double lo[3] = {0xe6, 0x61, 0x01}, mid[3] = {0xf7, 0xf7, 0xf7}, hi[3] = {0x5e, 0x3c, 0x99};
  const double* end = t < 0 ? lo : hi;
  const double a = std::fabs(t);
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(std::lround(mid[0] + (end[0] - mid[0]) * a)),
                static_cast<int>(std::lround(mid[1] + (end[1] - mid[1]) * a)),
                static_cast<int>(std::lround(mid[2] + (end[2] - mid[2]) * a)));
  return buf;
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char ch : text) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += ch;
    }
  }
  return out;
}

const std::string& series_colour(int index) {
  static const std::vector<std::string> palette = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"};
  return palette[static_cast<size_t>(index) % palette.size()];
}

const std::string& series_marker(int index) {
  static const std::vector<std::string> shapes = {"circle", "square", "triangle", "diamond"};
  return shapes[static_cast<size_t>(index) % shapes.size()];
}

std::string line_chart_svg(const LineChartSpec& s) {
  int legend_rows = 1;
  legend_svg(s.series, 0, 0, s.width - 20, &legend_rows);
  const double left = 42, right = 12, top = 26, bottom = 44 + 13.0 * legend_rows;
  const int height = s.height + 13 * (legend_rows - 1);
  const double pw = s.width - left - right, ph = height - top - bottom;
  double x_lo = s.x_ticks.empty() ? 0 : *std::min_element(s.x_ticks.begin(), s.x_ticks.end());
  double x_hi = s.x_ticks.empty() ? 1 : *std::max_element(s.x_ticks.begin(), s.x_ticks.end());
  if (x_hi <= x_lo) x_hi = x_lo + 1;
  const double pad = 0.04 * (x_hi - x_lo);
  auto X = [&](double x) { return left + (x - x_lo + pad) / (x_hi - x_lo + 2 * pad) * pw; };
  auto Y = [&](double y) { return top + (s.y_max - y) / (s.y_max - s.y_min) * ph; };
  std::ostringstream o;
  o << open_svg(s.id, s.title, s.width, height);
  for (double t : nice_ticks(s.y_min, s.y_max, 6)) {
    o << "<line class=\"gridline\" x1=\"" << num(left) << "\" y1=\"" << num(Y(t)) << "\" x2=\"" << num(left + pw) << "\" y2=\""
      << num(Y(t)) << "\"/><text class=\"tick\" x=\"" << num(left - 4) << "\" y=\"" << num(Y(t) + 3) << "\" text-anchor=\"end\">"
      << tick_text(t) << "</text>";
  }
  for (size_t i = 0; i < s.x_ticks.size(); ++i)
    o << "<text class=\"tick\" x=\"" << num(X(s.x_ticks[i])) << "\" y=\"" << num(top + ph + 12) << "\" text-anchor=\"middle\">"
      << xml_escape(i < s.x_tick_labels.size() ? s.x_tick_labels[i] : tick_text(s.x_ticks[i])) << "</text>";
  o << "<rect class=\"frame\" x=\"" << num(left) << "\" y=\"" << num(top) << "\" width=\"" << num(pw) << "\" height=\"" << num(ph) << "\"/>";
  o << "<text class=\"axis\" x=\"" << num(left + pw / 2) << "\" y=\"" << num(top + ph + 26) << "\" text-anchor=\"middle\">"
    << xml_escape(s.x_label) << "</text>";
  o << "<text class=\"axis\" transform=\"translate(11 " << num(top + ph / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
    << xml_escape(s.y_label) << "</text>";
  for (const auto& series : s.series) {
    std::string points;
    auto flush = [&] {
      if (points.find(' ') != std::string::npos)
        o << "<polyline class=\"line\" points=\"" << points << "\" stroke=\"" << series.colour << "\""
          << (series.dashed ? " stroke-dasharray=\"5 3\"" : "") << "/>";
      points.clear();
    };
    for (size_t i = 0; i < series.x.size() && i < series.y.size(); ++i) {
      if (std::isnan(series.y[i])) {
        flush();
        continue;
      }
      points += (points.empty() ? "" : " ") + num(X(series.x[i])) + "," + num(Y(series.y[i]));
    }
    flush();
    for (size_t i = 0; i < series.x.size() && i < series.y.size(); ++i)
      if (!std::isnan(series.y[i]))
        o << "<g><title>" << xml_escape(series.name) << ": " << tick_text(series.y[i]) << "</title>"
          << marker_svg(series.marker, X(series.x[i]), Y(series.y[i]), series.colour, true) << "</g>";
  }
  o << legend_svg(s.series, 8, top + ph + 42, s.width - 16, nullptr);
  o << "</svg>";
  return o.str();
}

std::string bar_chart_svg(const BarChartSpec& s) {
  double label_w = 0;
  for (const auto& c : s.categories) label_w = std::max(label_w, text_width(c, 10));
  const double left = label_w + 14, right = 16, top = 26;
  const size_t k = s.series_names.size();
  const double bar = 6, group_gap = 6, group_h = k * (bar + 1) + group_gap;
  std::vector<ChartSeries> legend;
  for (size_t i = 0; i < k; ++i) legend.push_back({s.series_names[i], s.colours[i], "square", false, {}, {}});
  int legend_rows = 1;
  legend_svg(legend, 0, 0, s.width - 20, &legend_rows);
  const double ph = group_h * static_cast<double>(s.categories.size());
  const int height = static_cast<int>(top + ph + 40 + 13 * legend_rows);
  const double pw = s.width - left - right;
  double vmax = std::isnan(s.reference) ? 0 : s.reference * 1.1;
  for (const auto& row : s.values)
    for (double v : row)
      if (!std::isnan(v)) vmax = std::max(vmax, v);
  if (vmax <= 0) vmax = 1;
  const auto ticks = nice_ticks(0, vmax, 6);
  const double axis_max = std::max(vmax, ticks.back());
  auto X = [&](double v) { return left + v / axis_max * pw; };
  std::ostringstream o;
  o << open_svg(s.id, s.title, s.width, height);
  for (double t : ticks)
    o << "<line class=\"gridline\" x1=\"" << num(X(t)) << "\" y1=\"" << num(top) << "\" x2=\"" << num(X(t)) << "\" y2=\""
      << num(top + ph) << "\"/><text class=\"tick\" x=\"" << num(X(t)) << "\" y=\"" << num(top + ph + 12)
      << "\" text-anchor=\"middle\">" << tick_text(t) << "</text>";
  for (size_t g = 0; g < s.categories.size(); ++g) {
    const double y0 = top + g * group_h + group_gap / 2;
    o << "<text class=\"tick\" x=\"" << num(left - 5) << "\" y=\"" << num(y0 + k * (bar + 1) / 2 + 3)
      << "\" text-anchor=\"end\">" << xml_escape(s.categories[g]) << "</text>";
    for (size_t i = 0; i < k; ++i) {
      const double v = g < s.values.size() && i < s.values[g].size() ? s.values[g][i] : std::nan("");
      if (std::isnan(v)) continue;
      o << "<rect class=\"mark\" x=\"" << num(left) << "\" y=\"" << num(y0 + i * (bar + 1)) << "\" width=\""
        << num(std::max(0.5, X(v) - left)) << "\" height=\"" << num(bar) << "\" fill=\"" << s.colours[i] << "\"><title>"
        << xml_escape(s.categories[g] + ", " + s.series_names[i] + ": " + tick_text(v)) << "</title></rect>";
    }
  }
  o << "<line class=\"axisline\" x1=\"" << num(left) << "\" y1=\"" << num(top) << "\" x2=\"" << num(left) << "\" y2=\""
    << num(top + ph) << "\"/>";
  if (!std::isnan(s.reference)) {
    o << "<line class=\"reference\" x1=\"" << num(X(s.reference)) << "\" y1=\"" << num(top) << "\" x2=\"" << num(X(s.reference))
      << "\" y2=\"" << num(top + ph) << "\"/>";
    if (!s.reference_label.empty())
      o << "<text class=\"tick\" x=\"" << num(X(s.reference) + 3) << "\" y=\"" << num(top + ph - 3) << "\">"
        << xml_escape(s.reference_label) << "</text>";
  }
  o << "<text class=\"axis\" x=\"" << num(left + pw / 2) << "\" y=\"" << num(top + ph + 26) << "\" text-anchor=\"middle\">"
    << xml_escape(s.value_label) << "</text>";
  o << legend_svg(legend, 8, top + ph + 42, s.width - 16, nullptr) << "</svg>";
  return o.str();
}

std::string dot_chart_svg(const DotChartSpec& s) {
  const size_t k = s.series_names.size();
  const auto at = [](const std::vector<std::vector<double>>& m, size_t g, size_t i) {
    return g < m.size() && i < m[g].size() ? m[g][i] : std::nan("");
  };
  double v_lo = std::numeric_limits<double>::infinity(), v_hi = -v_lo;
  for (size_t g = 0; g < s.categories.size(); ++g)
    for (size_t i = 0; i < k; ++i)
      for (double v : {at(s.values, g, i), at(s.lo, g, i), at(s.hi, g, i)})
        if (std::isfinite(v)) {
          v_lo = std::min(v_lo, v);
          v_hi = std::max(v_hi, v);
        }
  if (!(v_hi >= v_lo)) v_lo = 0, v_hi = 1;
  const double span = v_hi > v_lo ? v_hi - v_lo : std::max(1e-3, std::fabs(v_hi));
  v_lo -= 0.08 * span;
  v_hi += 0.08 * span;
  auto ticks = nice_ticks(v_lo, v_hi, 5);
  // Slanted category labels at 40 degrees: the longest sets the room below the plot.
  double label_w = 0;
  for (const auto& c : s.categories) label_w = std::max(label_w, text_width(c, 10));
  const double slant = 0.766 * label_w + 8;  // sin(40 deg) of the label's length
  const double step = std::max(44.0, 10.0 * static_cast<double>(k) + 20);
  const double left = 50, right = 14, top = 26, ph = s.plot_height;
  const double pw = step * static_cast<double>(std::max<size_t>(1, s.categories.size()));
  std::vector<ChartSeries> legend;
  for (size_t i = 0; i < k; ++i)
    legend.push_back({s.series_names[i], s.colours[i], i < s.markers.size() ? s.markers[i] : series_marker(static_cast<int>(i)), false, {}, {}});
  const int width = static_cast<int>(std::max(left + pw + right, 260.0));
  int legend_rows = 1;
  legend_svg(legend, 0, 0, width - 16, &legend_rows);
  const int height = static_cast<int>(top + ph + slant + 22 + 13 * legend_rows);
  auto Y = [&](double v) { return top + (v_hi - v) / (v_hi - v_lo) * ph; };
  auto X = [&](size_t g, size_t i) {
    return left + (static_cast<double>(g) + 0.5) * step + (static_cast<double>(i) - (static_cast<double>(k) - 1) / 2) * 10;
  };
  char fmt[16];
  const double tick_step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1;
  const int decimals = tick_step >= 1 ? 0 : std::min(4, static_cast<int>(std::ceil(-std::log10(tick_step) - 1e-9)));
  std::snprintf(fmt, sizeof fmt, "%%.%df", decimals);
  const auto tick_label = [&](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, fmt, std::fabs(v) < 1e-12 ? 0.0 : v);
    return std::string(buf);
  };
  const auto value_text = [](double v) {  // tooltips: as the tables print these values
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", v);
    return std::string(buf);
  };
  std::ostringstream o;
  o << open_svg(s.id, s.title, width, height);
  for (double t : ticks)
    if (t >= v_lo && t <= v_hi)
      o << "<line class=\"gridline\" x1=\"" << num(left) << "\" y1=\"" << num(Y(t)) << "\" x2=\"" << num(left + pw) << "\" y2=\""
        << num(Y(t)) << "\"/><text class=\"tick\" x=\"" << num(left - 4) << "\" y=\"" << num(Y(t) + 3) << "\" text-anchor=\"end\">"
        << tick_label(t) << "</text>";
  o << "<rect class=\"frame\" x=\"" << num(left) << "\" y=\"" << num(top) << "\" width=\"" << num(pw) << "\" height=\"" << num(ph) << "\"/>";
  for (size_t g = 0; g < s.categories.size(); ++g) {
    const double x = left + (static_cast<double>(g) + 0.5) * step;
    o << "<text class=\"tick\" transform=\"translate(" << num(x + 3) << " " << num(top + ph + 10) << ") rotate(-40)\" text-anchor=\"end\">"
      << xml_escape(s.categories[g]) << "</text>";
    for (size_t i = 0; i < k; ++i) {
      const double v = at(s.values, g, i);
      if (std::isnan(v)) continue;
      const double lo = at(s.lo, g, i), hi = at(s.hi, g, i);
      std::string tip = s.categories[g] + ", " + s.series_names[i] + ": " + value_text(v);
      o << "<g>";
      if (std::isfinite(lo) && std::isfinite(hi)) {
        tip += " [" + value_text(lo) + ", " + value_text(hi) + "]";
        o << "<line class=\"whisker\" x1=\"" << num(X(g, i)) << "\" y1=\"" << num(Y(lo)) << "\" x2=\"" << num(X(g, i)) << "\" y2=\""
          << num(Y(hi)) << "\" stroke=\"" << s.colours[i] << "\" stroke-width=\"1.2\"/>";
      }
      o << "<title>" << xml_escape(tip) << "</title>" << marker_svg(legend[i].marker, X(g, i), Y(v), s.colours[i], true) << "</g>";
    }
  }
  o << "<text class=\"axis\" x=\"" << num(left + pw / 2) << "\" y=\"" << num(top + ph + slant + 10) << "\" text-anchor=\"middle\">"
    << xml_escape(s.x_label) << "</text>";
  o << "<text class=\"axis\" transform=\"translate(11 " << num(top + ph / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
    << xml_escape(s.y_label) << "</text>";
  o << legend_svg(legend, 8, top + ph + slant + 26, width - 16, nullptr) << "</svg>";
  return o.str();
}

std::string heatmap_svg(const HeatmapSpec& s) {
  double label_w = 0;
  for (const auto& r : s.rows) label_w = std::max(label_w, text_width(r, 10));
  const double cell_w = 44, cell_h = 17;
  const double left = label_w + 14, top = 48;
  const double pw = cell_w * static_cast<double>(s.columns.size()), ph = cell_h * static_cast<double>(s.rows.size());
  const int width = static_cast<int>(std::max(left + pw + 16, 300.0));
  const int height = static_cast<int>(top + ph + 78);
  std::ostringstream o;
  o << open_svg(s.id, s.title, width, height);
  o << "<text class=\"axis\" x=\"" << num(left + pw / 2) << "\" y=\"" << num(top - 22) << "\" text-anchor=\"middle\">"
    << xml_escape(s.x_label) << "</text>";
  for (size_t c = 0; c < s.columns.size(); ++c)
    o << "<text class=\"tick\" x=\"" << num(left + (c + 0.5) * cell_w) << "\" y=\"" << num(top - 6)
      << "\" text-anchor=\"middle\">" << xml_escape(s.columns[c]) << "</text>";
  o << "<text class=\"axis\" x=\"4\" y=\"" << num(top - 6) << "\">" << xml_escape(s.y_label) << "</text>";
  for (size_t r = 0; r < s.rows.size(); ++r) {
    const double y = top + r * cell_h;
    o << "<text class=\"tick\" x=\"" << num(left - 5) << "\" y=\"" << num(y + cell_h / 2 + 3) << "\" text-anchor=\"end\">"
      << xml_escape(s.rows[r]) << "</text>";
    for (size_t c = 0; c < s.columns.size(); ++c) {
      const double v = r < s.values.size() && c < s.values[r].size() ? s.values[r][c] : std::nan("");
      const double x = left + c * cell_w;
      if (std::isnan(v)) {
        o << "<rect class=\"missing\" x=\"" << num(x) << "\" y=\"" << num(y) << "\" width=\"" << num(cell_w) << "\" height=\""
          << num(cell_h) << "\"/>";
        continue;
      }
      const double t = v / s.limit;
      const bool mark = r < s.marked.size() && c < s.marked[r].size() && s.marked[r][c];
      char text[32];
      std::snprintf(text, sizeof text, "%+.1f%s", v, mark ? "*" : "");
      o << "<rect class=\"mark\" x=\"" << num(x) << "\" y=\"" << num(y) << "\" width=\"" << num(cell_w) << "\" height=\""
        << num(cell_h) << "\" fill=\"" << diverging(t) << "\"><title>" << xml_escape(s.rows[r] + ", " + s.columns[c] + ": " + text)
        << "</title></rect><text class=\"cell" << (std::fabs(t) > 0.6 ? " light" : "") << (mark ? " strong" : "") << "\" x=\""
        << num(x + cell_w / 2) << "\" y=\"" << num(y + cell_h / 2 + 3.5) << "\" text-anchor=\"middle\">" << text << "</text>";
    }
  }
  // Colour scale: 11 steps from -limit to +limit.
  const double lw = std::min(240.0, width - 40.0), lx = (width - lw) / 2, ly = top + ph + 12;
  for (int i = 0; i < 11; ++i)
    o << "<rect x=\"" << num(lx + i * lw / 11) << "\" y=\"" << num(ly) << "\" width=\"" << num(lw / 11 + 0.5)
      << "\" height=\"9\" fill=\"" << diverging(-1 + i / 5.0) << "\"/>";
  char lo[32], hi[32];
  std::snprintf(lo, sizeof lo, "%+.1f", -s.limit);
  std::snprintf(hi, sizeof hi, "%+.1f", s.limit);
  o << "<text class=\"tick\" x=\"" << num(lx) << "\" y=\"" << num(ly + 20) << "\" text-anchor=\"start\">" << lo << "</text>"
    << "<text class=\"tick\" x=\"" << num(lx + lw / 2) << "\" y=\"" << num(ly + 20) << "\" text-anchor=\"middle\">0</text>"
    << "<text class=\"tick\" x=\"" << num(lx + lw) << "\" y=\"" << num(ly + 20) << "\" text-anchor=\"end\">" << hi << "</text>"
    << "<text class=\"legend\" x=\"" << num(lx) << "\" y=\"" << num(ly + 32) << "\" text-anchor=\"start\">"
    << xml_escape(s.low_text) << "</text><text class=\"legend\" x=\"" << num(lx + lw) << "\" y=\"" << num(ly + 44)
    << "\" text-anchor=\"end\">" << xml_escape(s.high_text) << "</text>"
    << "<text class=\"axis\" x=\"" << num(width / 2.0) << "\" y=\"" << num(ly + 58) << "\" text-anchor=\"middle\">"
    << xml_escape(s.value_label) << "</text></svg>";
  return o.str();
}

std::string forest_svg(const ForestSpec& s) {
  double label_w = 0, limit = 0;
  for (const auto& r : s.rows) {
    label_w = std::max(label_w, text_width(r.label, 10));
    for (double v : {r.diff, r.lo, r.hi})
      if (!std::isnan(v)) limit = std::max(limit, std::fabs(v));
  }
  const auto ticks_half = nice_ticks(0, std::max(limit, 0.5), 4);
  limit = std::max(limit, ticks_half.back());
  const double left = label_w + 14, right = 18, top = 26, row_h = 16;
  const double ph = row_h * static_cast<double>(s.rows.size()), pw = s.width - left - right;
  const int height = static_cast<int>(top + ph + 62);
  auto X = [&](double v) { return left + (v + limit) / (2 * limit) * pw; };
  std::ostringstream o;
  o << open_svg(s.id, s.title, s.width, height);
  std::vector<double> ticks;
  for (double t : ticks_half) {
    if (t > 0) ticks.push_back(-t);
    ticks.push_back(t);
  }
  for (double v : ticks) {
      o << "<line class=\"gridline\" x1=\"" << num(X(v)) << "\" y1=\"" << num(top) << "\" x2=\"" << num(X(v)) << "\" y2=\""
        << num(top + ph) << "\"/><text class=\"tick\" x=\"" << num(X(v)) << "\" y=\"" << num(top + ph + 12)
        << "\" text-anchor=\"middle\">" << (v > 0 ? "+" : "") << tick_text(v) << "</text>";
    }
  o << "<line class=\"reference\" x1=\"" << num(X(0)) << "\" y1=\"" << num(top - 3) << "\" x2=\"" << num(X(0)) << "\" y2=\""
    << num(top + ph) << "\"/>";
  for (size_t i = 0; i < s.rows.size(); ++i) {
    const auto& r = s.rows[i];
    const double y = top + (i + 0.5) * row_h;
    if (i % 2 == 0)
      o << "<rect class=\"band\" x=\"0\" y=\"" << num(y - row_h / 2) << "\" width=\"" << s.width << "\" height=\"" << num(row_h)
        << "\" fill=\"#f6f6f6\" fill-opacity=\"0.6\"/>";
    o << "<text class=\"tick\" x=\"" << num(left - 6) << "\" y=\"" << num(y + 3.5) << "\" text-anchor=\"end\">" << xml_escape(r.label)
      << "</text>";
    if (std::isnan(r.diff)) continue;
    if (!std::isnan(r.lo) && !std::isnan(r.hi))
      o << "<line x1=\"" << num(X(r.lo)) << "\" y1=\"" << num(y) << "\" x2=\"" << num(X(r.hi)) << "\" y2=\"" << num(y)
        << "\" stroke=\"" << s.colour << "\" stroke-width=\"2\"/>";
    char text[64];
    std::snprintf(text, sizeof text, "%+.2f [%+.2f, %+.2f]", r.diff, r.lo, r.hi);
    o << "<circle class=\"mark\" cx=\"" << num(X(r.diff)) << "\" cy=\"" << num(y) << "\" r=\"4\" fill=\""
      << (r.significant ? s.colour : "#fff") << "\" stroke=\"" << s.colour << "\" stroke-width=\"1.6\"><title>" << xml_escape(r.label)
      << ": " << text << (r.significant ? " (significant)" : "") << "</title></circle>";
  }
  o << "<text class=\"legend\" x=\"" << num(left) << "\" y=\"" << num(top + ph + 25) << "\" text-anchor=\"start\">"
    << xml_escape(s.low_text) << "</text><text class=\"legend\" x=\"" << num(left + pw) << "\" y=\"" << num(top + ph + 25)
    << "\" text-anchor=\"end\">" << xml_escape(s.high_text) << "</text>"
    << "<text class=\"axis\" x=\"" << num(left + pw / 2) << "\" y=\"" << num(top + ph + 38) << "\" text-anchor=\"middle\">"
    << xml_escape(s.x_label) << "</text>";
  // Legend: filled = significant, open = not.
  const double ly = top + ph + 54;
  o << "<circle cx=\"" << num(left + 4) << "\" cy=\"" << num(ly - 3) << "\" r=\"4\" fill=\"" << s.colour << "\"/>"
    << "<text class=\"legend\" x=\"" << num(left + 12) << "\" y=\"" << num(ly) << "\">significant after Holm</text>"
    << "<circle cx=\"" << num(left + 144) << "\" cy=\"" << num(ly - 3) << "\" r=\"4\" fill=\"#fff\" stroke=\"" << s.colour
    << "\" stroke-width=\"1.6\"/><text class=\"legend\" x=\"" << num(left + 152) << "\" y=\"" << num(ly)
    << "\">not significant; line = 95 % interval</text></svg>";
  return o.str();
}

std::string reliability_svg(const ReliabilitySpec& s) {
  std::vector<ChartSeries> legend;
  for (const auto& series : s.series) legend.push_back({series.name, series.colour, "square", false, {}, {}});
  int legend_rows = 1;
  legend_svg(legend, 0, 0, s.width - 20, &legend_rows);
  const double left = 42, right = 16, top = 26, bottom = 44 + 13.0 * legend_rows;
  const int height = s.height + 13 * (legend_rows - 1);
  const double pw = s.width - left - right, ph = height - top - bottom;
  auto X = [&](double v) { return left + v * pw; };
  auto Y = [&](double v) { return top + (1 - v) * ph; };
  size_t bins = 0;
  for (const auto& series : s.series) bins = std::max(bins, series.count.size());
  std::ostringstream o;
  o << open_svg(s.id, s.title, s.width, height);
  for (double t : nice_ticks(0, 100, 6)) {
    o << "<line class=\"gridline\" x1=\"" << num(left) << "\" y1=\"" << num(Y(t / 100)) << "\" x2=\"" << num(left + pw) << "\" y2=\""
      << num(Y(t / 100)) << "\"/><text class=\"tick\" x=\"" << num(left - 4) << "\" y=\"" << num(Y(t / 100) + 3)
      << "\" text-anchor=\"end\">" << tick_text(t) << "</text><text class=\"tick\" x=\"" << num(X(t / 100)) << "\" y=\""
      << num(top + ph + 12) << "\" text-anchor=\"middle\">" << tick_text(t) << "</text>";
  }
  o << "<rect class=\"frame\" x=\"" << num(left) << "\" y=\"" << num(top) << "\" width=\"" << num(pw) << "\" height=\"" << num(ph) << "\"/>";
  const double bin_w = bins ? 1.0 / static_cast<double>(bins) : 1.0;
  const double bar_w = bin_w * 0.9 / std::max<size_t>(1, s.series.size());
  for (size_t k = 0; k < s.series.size(); ++k) {
    const auto& series = s.series[k];
    for (size_t b = 0; b < series.count.size() && b < series.accuracy.size(); ++b) {
      if (series.count[b] == 0) continue;
      const double x0 = b * bin_w + bin_w * 0.05 + k * bar_w;
      const double acc = series.accuracy[b];
      const double h = std::max(0.5, Y(0) - Y(acc));
      std::ostringstream tip;
      tip << series.name << ", confidence " << tick_text(100.0 * b * bin_w) << "–" << tick_text(100.0 * (b + 1) * bin_w)
          << " %: accuracy " << tick_text(100 * acc) << " %, mean confidence "
          << tick_text(100 * (b < series.mean_confidence.size() ? series.mean_confidence[b] : 0)) << " %, n = " << series.count[b];
      o << "<rect class=\"mark\" x=\"" << num(X(x0)) << "\" y=\"" << num(Y(0) - h) << "\" width=\"" << num(std::max(0.5, bar_w * pw))
        << "\" height=\"" << num(h) << "\" fill=\"" << series.colour << "\" fill-opacity=\"0.8\"><title>" << xml_escape(tip.str())
        << "</title></rect>";
      if (b < series.mean_confidence.size())
        o << "<line class=\"confidence-tick\" x1=\"" << num(X(x0)) << "\" x2=\"" << num(X(x0 + bar_w)) << "\" y1=\""
          << num(Y(series.mean_confidence[b])) << "\" y2=\"" << num(Y(series.mean_confidence[b])) << "\" stroke=\"#000\"/>";
    }
  }
  o << "<line class=\"reference\" x1=\"" << num(X(0)) << "\" y1=\"" << num(Y(0)) << "\" x2=\"" << num(X(1)) << "\" y2=\"" << num(Y(1))
    << "\"><title>perfect calibration: accuracy = confidence</title></line>";
  o << "<text class=\"axis\" x=\"" << num(left + pw / 2) << "\" y=\"" << num(top + ph + 26) << "\" text-anchor=\"middle\">confidence (%)</text>";
  o << "<text class=\"axis\" transform=\"translate(11 " << num(top + ph / 2) << ") rotate(-90)\" text-anchor=\"middle\">accuracy (%)</text>";
  o << legend_svg(legend, 8, top + ph + 42, s.width - 16, nullptr);
  o << "</svg>";
  return o.str();
}

}  // namespace questbench
