// Small SVG chart builders for the HTML report: plain data in, one inline <svg> element out (no script,
// no external reference). Every chart has a title, axis labels with units and a legend; every data mark
// (point, bar, heatmap cell) carries class="mark", which the browser test counts.
#pragma once

#include <limits>
#include <string>
#include <vector>

namespace questbench {

// Escapes &, <, >, " and ' for XML/HTML text and attributes.
std::string xml_escape(const std::string& text);

// Okabe & Ito's colour-blind-safe palette, and one marker shape per series (circle, square, triangle, diamond).
const std::string& series_colour(int index);
const std::string& series_marker(int index);

struct ChartSeries {
  std::string name, colour, marker;  // marker: circle | square | triangle | diamond
  bool dashed = false;
  std::vector<double> x, y;          // y NaN: no point (the line is broken there)
};

struct LineChartSpec {
  std::string id, title, x_label, y_label;
  std::vector<double> x_ticks;             // positions
  std::vector<std::string> x_tick_labels;  // parallel to x_ticks
  double y_min = 0, y_max = 100;           // in the unit of y_label
  std::vector<ChartSeries> series;
  int width = 250, height = 210;
};
std::string line_chart_svg(const LineChartSpec& spec);

// Horizontal grouped bars: one group per category, one bar per series.
struct BarChartSpec {
  std::string id, title, value_label;
  std::vector<std::string> series_names, colours;
  std::vector<std::string> categories;
  std::vector<std::vector<double>> values;  // [category][series]; NaN: no bar
  double reference = std::numeric_limits<double>::quiet_NaN();  // a vertical reference line (e.g. 100 %)
  std::string reference_label;
  int width = 520;
};
std::string bar_chart_svg(const BarChartSpec& spec);

// Vertical dot plot over categories: per category one marker per series (side by side, the series' colour and
// shape), with an optional whisker (e.g. an interval) through it. The y axis spans the data, not 0.
struct DotChartSpec {
  std::string id, title, x_label, y_label;
  std::vector<std::string> series_names, colours, markers;  // markers: circle | square | triangle | diamond
  std::vector<std::string> categories;                      // x tick labels (drawn slanted)
  std::vector<std::vector<double>> values;                  // [category][series]; NaN: no marker
  std::vector<std::vector<double>> lo, hi;                  // [category][series]; NaN or absent: no whisker
  double plot_height = 150;
};
std::string dot_chart_svg(const DotChartSpec& spec);

// A diverging heatmap: negative values in orange, positive in purple, 0 white; optional cell markers.
struct HeatmapSpec {
  std::string id, title, x_label, y_label, value_label, low_text, high_text;
  std::vector<std::string> rows, columns;
  std::vector<std::vector<double>> values;  // [row][column], in display units; NaN: not measured
  std::vector<std::vector<bool>> marked;    // [row][column]: draw "*" (e.g. significant)
  double limit = 1;                         // colour saturates at +-limit
};
std::string heatmap_svg(const HeatmapSpec& spec);

// Differences with confidence intervals, one row each (a forest plot): a dot at the difference (filled
// when significant), a whisker over the interval, a dashed line at 0.
struct ForestRow {
  std::string label;
  double diff = 0, lo = 0, hi = 0;  // display units; NaN lo/hi: no whisker
  bool significant = false;
};
struct ForestSpec {
  std::string id, title, x_label, low_text, high_text, colour;
  std::vector<ForestRow> rows;
  int width = 560;
};
std::string forest_svg(const ForestSpec& spec);

// A reliability diagram: the confidence axis cut into equal-width bins; per bin and series a bar from 0 up to
// the bin's accuracy (series side by side within the bin), a dashed diagonal for perfect calibration, and per
// bar a tick at the bin's mean confidence. Bins without samples get no bar.
struct ReliabilitySeries {
  std::string name, colour;
  std::vector<int64_t> count;             // per bin
  std::vector<double> accuracy, mean_confidence;  // per bin, fractions
};
struct ReliabilitySpec {
  std::string id, title;
  std::vector<ReliabilitySeries> series;
  int width = 250, height = 240;
};
std::string reliability_svg(const ReliabilitySpec& spec);

}  // namespace questbench
