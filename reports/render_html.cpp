// The comparison as one self-contained HTML page: inline CSS, inline SVG charts, no external reference.
// The only script is a small optional one at the end that records, into the page, how many data marks
// each chart drew and any script error (the browser test reads it); nothing visible depends on it.
#include "reports/render.h"
#include "reports/render_common.h"
#include "reports/svg_charts.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

namespace questbench {
namespace html {
namespace {

const char kStyle[] = R"css(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1b1b1b;margin:0;background:#fff}
main{max-width:1240px;margin:0 auto;padding:14px 20px 40px}
h1{font-size:22px;margin:4px 0 2px}h2{font-size:18px;margin:26px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
h3{font-size:15px;margin:16px 0 6px}.sub{color:#555;margin:0 0 10px}
.banner{padding:8px 12px;border-radius:4px;margin:8px 0}.banner.ok{background:#e8f3ec;border:1px solid #9cc9ab}
.banner.warn{background:#fff4e0;border:1px solid #e0a84a}.banner p{margin:3px 0}
ul.findings{margin:8px 0 4px;padding-left:20px}ul.findings li{margin:2px 0}
table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{padding:3px 8px;border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}
th{background:#f4f4f4;font-weight:600}td:first-child,th:first-child{text-align:left}
td.note{color:#666;text-align:left;font-size:12px;white-space:normal;min-width:140px}td.pos{color:#4b2c86}td.neg{color:#b34a00}td.sig{font-weight:700}td.ns{color:#777}
table.headline th{white-space:normal;vertical-align:bottom;max-width:260px}
tr.section td{background:#fafafa;font-weight:600;text-align:left;color:#333}
.multiples{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:6px 8px}
.row{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.swatch{display:inline-block;width:11px;height:11px;border-radius:2px;margin:0 4px 0 10px;vertical-align:-1px}
svg.chart{background:#fff}svg.chart text{font-family:inherit}
.chart-title{font-size:12px;font-weight:600}.tick{font-size:10px;fill:#444}.axis{font-size:10.5px;fill:#222}
.legend{font-size:10px;fill:#222}line.gridline{stroke:#e6e6e6}
.frame{fill:none;stroke:#bbb}.axisline{stroke:#888}.reference{stroke:#333;stroke-dasharray:3 2}
polyline.line{fill:none;stroke-width:1.8}.cell{font-size:9.5px;fill:#222}.cell.light{fill:#fff}.cell.strong{font-weight:700}
rect.missing{fill:#f2f2f2;stroke:#fff}
.methods{color:#333;max-width:1100px}.small{font-size:12px;color:#555}code{font-size:12px}
dl.prov{display:grid;grid-template-columns:max-content 1fr;gap:1px 12px;font-size:13px;margin:4px 0 12px}
dl.prov dt{color:#555}dl.prov dd{margin:0;word-break:break-all}
details summary{cursor:pointer;font-size:13px;margin:6px 0}
#qb-render-check{display:none}
)css";

// Records script errors before anything else runs (window.onerror and console.error).
const char kErrorRecorder[] =
    "<script>window.qbErrors=[];window.addEventListener('error',function(e){window.qbErrors.push(String(e.message||"
    "(e.target&&(e.target.src||e.target.href))||'error'))},true);(function(){var f=console.error;console.error=function()"
    "{window.qbErrors.push(Array.prototype.join.call(arguments,' '));return f.apply(console,arguments)}})();</script>";

// After the load event (every resource settled), writes per chart how many data marks it has and how
// many the browser actually laid out, as lines
// "qbcheck:chart <id> marks=<n> drawn=<n> size=<w>x<h>;" and "qbcheck:errors=<n>;" (see scripts/check-report-html).
const char kRenderCheck[] =
    "<script>(function(){var tag='qb'+'check:';function run(){var out=[],charts=document.querySelectorAll('svg.chart');"
    "for(var i=0;i<charts.length;i++){var s=charts[i],m=s.querySelectorAll('.mark'),d=0;"
    "for(var k=0;k<m.length;k++){var b=m[k].getBBox();if(b.width>0&&b.height>0)d++}"
    "var r=s.getBoundingClientRect();out.push(tag+'chart '+s.getAttribute('data-chart')+' marks='+m.length+' drawn='+d+"
    "' size='+Math.round(r.width)+'x'+Math.round(r.height))}"
    "out.push(tag+'errors='+window.qbErrors.length);for(var j=0;j<window.qbErrors.length;j++)"
    "out.push(tag+'error '+String(window.qbErrors[j]).replace(/[;<]/g,' '));"
    "document.getElementById('qb-render-check').textContent=out.join(';\\n')+';'}"
    "if(document.readyState==='complete')run();else window.addEventListener('load',run)})();</script>";

std::string esc(const std::string& s) { return xml_escape(s); }

std::string slug(const std::string& s) {
  std::string out;
  for (char ch : s) out += std::isalnum(static_cast<unsigned char>(ch)) ? static_cast<char>(std::tolower(ch)) : '-';
  return out;
}

double pct(double fraction) { return std::isnan(fraction) ? fraction : 100 * fraction; }

std::string delta_cell(const HeadlineCell& cell) {
  if (std::isnan(cell.diff)) return "<td class=\"ns\">—</td>";
  std::string cls = cell.diff > 0 ? "pos" : cell.diff < 0 ? "neg" : "";
  cls += cell.significant ? " sig" : " ns";
  return "<td class=\"" + cls + "\">" + esc(points(cell.diff)) + " <span class=\"small\">" + esc(interval_points(cell.ci)) + "</span>" +
         (cell.significant ? " *" : "") + (cell.paired ? "" : " <b>unpaired</b>") + "</td>";
}

void headline_table(std::ostringstream& o, const Comparison& c) {
  o << "<table class=\"headline\"><thead><tr><th>metric</th>";
  for (size_t m = 0; m < c.models.size(); ++m)
    o << "<th><span class=\"swatch\" style=\"background:" << series_colour(static_cast<int>(m)) << "\"></span>"
      << esc(model_title(c, static_cast<int>(m))) << "</th>";
  for (size_t m = 0; m < c.models.size(); ++m)
    if (static_cast<int>(m) != c.baseline)
      o << "<th>" << esc(delta_title(c, static_cast<int>(m))) << " (pts) [" << std::lround(100 * c.options.level)
        << " % CI]</th><th>p (Holm)</th>";
  o << "<th>note</th></tr></thead><tbody>";
  for (const auto& row : c.headline) {
    o << "<tr><td>" << esc(row.label) << "</td>";
    for (const auto& cell : row.cells) o << "<td>" << esc(row.kind == "ce" ? percent(cell.value, 1) : percent(cell.value)) << "</td>";
    for (size_t m = 0; m < c.models.size(); ++m)
      if (static_cast<int>(m) != c.baseline) o << delta_cell(row.cells[m]) << "<td>" << esc(p_value(row.cells[m].p_holm)) << "</td>";
    o << "<td class=\"note\">" << esc(row.note) << "</td></tr>";
  }
  o << "</tbody></table>";
}

std::vector<ChartSeries> model_series(const Comparison& c) {
  std::vector<ChartSeries> out;
  for (size_t m = 0; m < c.models.size(); ++m) {
    ChartSeries s;
    s.name = model_title(c, static_cast<int>(m));
    s.colour = series_colour(static_cast<int>(m));
    s.marker = series_marker(static_cast<int>(m));
    s.dashed = static_cast<int>(m) == c.baseline;
    out.push_back(s);
  }
  return out;
}

void forest_charts(std::ostringstream& o, const Comparison& c) {
  o << "<h3>Differences to the baseline (headline metrics)</h3><div class=\"row\">";
  for (size_t m = 0; m < c.models.size(); ++m) {
    if (static_cast<int>(m) == c.baseline) continue;
    ForestSpec f;
    f.id = "forest-" + slug(c.models[m].display);
    f.title = "Δ accuracy " + c.models[m].display + " − " + c.models[c.baseline].display + " (95 % CI)";
    f.x_label = "Δ (percentage points)";
    f.low_text = "← " + c.models[c.baseline].display + " better";
    f.high_text = c.models[m].display + " better →";
    f.colour = series_colour(static_cast<int>(m));
    f.width = 600;
    for (const auto& row : c.headline) {
      const auto& cell = row.cells[m];
      if (row.kind != "accuracy" || std::isnan(cell.diff)) continue;
      f.rows.push_back({row.label, 100 * cell.diff, 100 * cell.ci.lo, 100 * cell.ci.hi, cell.significant});
    }
    if (!f.rows.empty()) o << forest_svg(f);
  }
  o << "</div>";
}

void eps_charts(std::ostringstream& o, const Comparison& c) {
  // One chart per attack (name, norm, settings) and per worst case (norm, attacks).
  std::vector<std::pair<std::string, std::vector<int>>> groups;
  for (ConditionKind kind : {ConditionKind::Attack, ConditionKind::WorstCase})
    for (int cond : conditions_of_kind(c, kind)) {
      const auto& k = c.conditions[cond];
      const std::string key = k.name + "|" + k.norm + "|" + k.settings;
      auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == key; });
      if (it == groups.end()) {
        groups.push_back({key, {}});
        it = groups.end() - 1;
      }
      it->second.push_back(cond);
    }
  if (groups.empty()) return;
  o << "<h3>Robust accuracy vs attack radius</h3><div class=\"row\">";
  for (const auto& [key, conds] : groups) {
    const auto& first = c.conditions[conds[0]];
    LineChartSpec spec;
    const bool worst = first.kind == ConditionKind::WorstCase;
    spec.id = worst ? "eps-worst-" + slug(first.norm) : "eps-" + slug(first.name) + "-" + slug(first.norm);
    spec.title = worst ? "Worst case over " + first.settings + " (" + first.norm + ")" : first.label.substr(0, first.label.find(' ')) + " (" + first.norm + ")";
    spec.x_label = "eps (" + first.norm + ", image range 0–1)";
    spec.y_label = "robust accuracy (%)";
    spec.width = 300;
    spec.height = 230;
    for (size_t i = 0; i < conds.size(); ++i) {
      spec.x_ticks.push_back(static_cast<double>(i));
      spec.x_tick_labels.push_back(c.conditions[conds[i]].eps_text);
    }
    spec.series = model_series(c);
    for (size_t m = 0; m < c.models.size(); ++m)
      for (size_t i = 0; i < conds.size(); ++i) {
        const auto* p = primary_measurement(c, static_cast<int>(m), conds[i]);
        spec.series[m].x.push_back(static_cast<double>(i));
        spec.series[m].y.push_back(p ? pct(p->accuracy) : std::nan(""));
      }
    o << line_chart_svg(spec);
  }
  o << "</div>";
}

void severity_charts(std::ostringstream& o, const Comparison& c) {
  const auto names = corruption_names(c);
  if (names.empty()) return;
  const auto severities = corruption_severities(c);
  o << "<h3>Accuracy vs corruption severity (severity 0 = clean)</h3><div class=\"multiples\">";
  for (const auto& name : names) {
    LineChartSpec spec;
    spec.id = "severity-" + slug(name);
    spec.title = name;
    spec.x_label = "severity";
    spec.y_label = "accuracy (%)";
    spec.x_ticks.push_back(0);
    spec.x_tick_labels.push_back("clean");
    for (int s : severities) {
      spec.x_ticks.push_back(s);
      spec.x_tick_labels.push_back(std::to_string(s));
    }
    spec.series = model_series(c);
    for (size_t m = 0; m < c.models.size(); ++m) {
      auto& series = spec.series[m];
      const Measurement* any = nullptr;
      for (int s : severities) {
        const int cond = corruption_condition_index(c, name, s);
        const auto* p = cond < 0 ? nullptr : primary_measurement(c, static_cast<int>(m), cond);
        if (p && !any) any = p;
      }
      // Clean accuracy from the report the corruption cells came from.
      const Measurement* clean = nullptr;
      for (const auto& x : c.measurements)
        if (any && x.model == static_cast<int>(m) && x.condition == 0 && x.report == any->report) clean = &x;
      series.x.push_back(0);
      series.y.push_back(clean ? pct(clean->accuracy) : std::nan(""));
      for (int s : severities) {
        const int cond = corruption_condition_index(c, name, s);
        const auto* p = cond < 0 ? nullptr : primary_measurement(c, static_cast<int>(m), cond);
        series.x.push_back(s);
        series.y.push_back(p ? pct(p->accuracy) : std::nan(""));
      }
    }
    o << line_chart_svg(spec);
  }
  o << "</div>";
}

void text_table(std::ostringstream& o, const TextTable& t) {
  o << "<table><thead><tr>";
  for (const auto& h : t.header) o << "<th>" << esc(h) << "</th>";
  o << "</tr></thead><tbody>";
  for (const auto& row : t.rows) {
    o << "<tr>";
    for (const auto& cell : row) o << "<td>" << esc(cell) << "</td>";
    o << "</tr>";
  }
  o << "</tbody></table>";
}

void ce_and_heatmaps(std::ostringstream& o, const Comparison& c) {
  if (c.corruption_errors.empty()) return;
  const std::string base = c.models[c.baseline].display;
  o << "<h3>Corruption error and accuracy differences per corruption</h3><div class=\"row\">";
  BarChartSpec bars;
  bars.id = "ce";
  bars.title = "Corruption error (CE) relative to " + base;
  bars.value_label = "CE (%; 100 = " + base + ", lower is better)";
  bars.reference = 100;
  bars.width = 470;
  for (size_t m = 0; m < c.models.size(); ++m) {
    bars.series_names.push_back(model_title(c, static_cast<int>(m)));
    bars.colours.push_back(series_colour(static_cast<int>(m)));
  }
  for (const auto& row : c.corruption_errors) {
    bars.categories.push_back(row.corruption);
    std::vector<double> v;
    for (double ce : row.ce) v.push_back(pct(ce));
    bars.values.push_back(v);
  }
  o << bar_chart_svg(bars);
  const auto names = corruption_names(c);
  const auto severities = corruption_severities(c);
  for (size_t m = 0; m < c.models.size(); ++m) {
    if (static_cast<int>(m) == c.baseline) continue;
    HeatmapSpec h;
    h.id = "heatmap-" + slug(c.models[m].display);
    h.title = "Δ accuracy " + c.models[m].display + " − " + base;
    h.x_label = "severity";
    h.y_label = "corruption";
    h.value_label = "Δ accuracy (percentage points); * = significant (Holm)";
    h.low_text = "← " + base + " better";
    h.high_text = c.models[m].display + " better →";
    for (int s : severities) h.columns.push_back(std::to_string(s));
    double limit = 0;
    for (const auto& name : names) {
      h.rows.push_back(name);
      std::vector<double> values;
      std::vector<bool> marked;
      for (int s : severities) {
        const int cond = corruption_condition_index(c, name, s);
        const auto* d = cond < 0 ? nullptr : find_delta(c, static_cast<int>(m), cond);
        values.push_back(d ? 100 * d->diff : std::nan(""));
        marked.push_back(d && d->significant);
        if (d) limit = std::max(limit, std::fabs(100 * d->diff));
      }
      h.values.push_back(values);
      h.marked.push_back(marked);
    }
    h.limit = limit <= 0.5 ? 0.5 : std::ceil(limit);
    o << heatmap_svg(h);
  }
  o << "</div>";
  const auto auc = error_auc_table(c);
  if (!auc.empty()) {
    o << "<p class=\"small\">Area under the error-vs-severity curve per corruption (trapezoid rule over the severities, "
         "divided by their span; Hendrycks' <code>auc</code>):</p>";
    text_table(o, auc);
  }
}

ReliabilitySeries reliability_series(const std::string& name, const std::string& colour, const std::vector<CalibrationBin>& bins) {
  ReliabilitySeries s;
  s.name = name;
  s.colour = colour;
  for (const auto& b : bins) {
    s.count.push_back(b.count);
    s.accuracy.push_back(b.accuracy());
    s.mean_confidence.push_back(b.mean_confidence());
  }
  return s;
}

void calibration(std::ostringstream& o, const Comparison& c) {
  const auto summary = calibration_summary_table(c);
  if (summary.empty()) return;
  o << "<h2>Calibration</h2><p class=\"small\">ECE: 15 equal-width confidence bins; adaptive ECE: 15 equal-mass bins; NLL: "
       "mean −ln p(true class); Brier: mean Σ<sub>k</sub> (p<sub>k</sub> − 1[k = y])² (multi-class, 0..2). Lower is better "
       "for all four.</p>";
  text_table(o, summary);
  o << "<h3>Reliability diagrams (clean vs all corruption cells pooled)</h3><div class=\"multiples\">";
  for (size_t m = 0; m < c.models.size() && m < c.calibration.size(); ++m) {
    const auto& k = c.calibration[m];
    if (!k.any()) continue;
    ReliabilitySpec spec;
    spec.id = "reliability-" + slug(c.models[m].display);
    spec.title = c.models[m].display;
    if (k.clean.n > 0) spec.series.push_back(reliability_series("clean", series_colour(0), k.clean.bins));
    if (k.corruption_cells > 0) spec.series.push_back(reliability_series("corrupted", series_colour(1), k.corrupted_bins));
    o << reliability_svg(spec);
  }
  o << "</div>";
  const auto cells = calibration_cells_table(c);
  if (!cells.empty()) {
    o << "<details><summary>Calibration per corruption and severity (aECE: adaptive ECE)</summary>";
    text_table(o, cells);
    o << "</details>";
  }
}

// The conditions the diagnostics charts show: clean, each corruption's mean over its severities (the
// severity itself when it was run at one only) and each attack x eps.
std::vector<size_t> diagnostics_chart_conditions(const DiagnosticsComparison& d) {
  std::vector<size_t> out;
  for (size_t j = 0; j < d.conditions.size(); ++j) {
    const auto& cond = d.conditions[j];
    if (cond.kind == "corruption") {
      const std::string name = cond.short_label.substr(0, cond.short_label.rfind(' '));
      const bool has_mean = std::any_of(d.conditions.begin(), d.conditions.end(),
                                        [&](const DiagnosticsCondition& m) { return m.kind == "corruption mean" && m.short_label == name; });
      if (has_mean) continue;
    }
    out.push_back(j);
  }
  return out;
}

// Per layer two panels, mean key norm and mean attention entropy, one marker per model and condition; the
// whisker is the paired interval of the change from clean, placed at the condition's value.
void diagnostics_charts(std::ostringstream& o, const Comparison& c, int layer) {
  const auto& d = c.diagnostics;
  const auto conditions = diagnostics_chart_conditions(d);
  const auto l = static_cast<size_t>(layer);
  size_t clean = 0;
  while (clean < d.conditions.size() && d.conditions[clean].kind != "clean") ++clean;
  DotChartSpec key_norm, entropy;
  key_norm.id = "diagnostics-layer-" + std::to_string(layer + 1) + "-key-norm";
  key_norm.title = "Layer " + std::to_string(layer + 1) + ": mean key norm";
  key_norm.y_label = "key norm";
  entropy.id = "diagnostics-layer-" + std::to_string(layer + 1) + "-entropy";
  entropy.title = "Layer " + std::to_string(layer + 1) + ": mean attention entropy";
  entropy.y_label = "entropy (nats)";
  for (auto* spec : {&key_norm, &entropy}) {
    spec->x_label = "condition";
    for (size_t k = 0; k < d.models.size(); ++k) {
      spec->series_names.push_back(c.models[static_cast<size_t>(d.models[k])].display);
      spec->colours.push_back(series_colour(static_cast<int>(k)));
      spec->markers.push_back(series_marker(static_cast<int>(k)));
    }
  }
  for (size_t j : conditions) {
    const auto& cond = d.conditions[j];
    const std::string label = cond.kind == "corruption mean" ? cond.short_label : cond.label;
    std::vector<double> kv, klo, khi, ev, elo, ehi;
    for (size_t k = 0; k < d.models.size(); ++k) {
      const auto& v = d.values[j][k][l];
      const double nan = std::nan("");
      if (!v.present) {
        for (auto* x : {&kv, &klo, &khi, &ev, &elo, &ehi}) x->push_back(nan);
        continue;
      }
      kv.push_back(v.summary.k_norm_mean);
      ev.push_back(v.summary.entropy_mean);
      // The key-norm change is relative to the clean mean key norm: back to key-norm units.
      const double clean_k = clean < d.conditions.size() && d.values[clean][k][l].present ? d.values[clean][k][l].summary.k_norm_mean : nan;
      const bool k_ci = v.paired && std::isfinite(v.k_norm_ci.lo) && std::isfinite(v.k_norm_ci.hi) && std::isfinite(clean_k);
      klo.push_back(k_ci ? v.summary.k_norm_mean + clean_k * (v.k_norm_ci.lo - v.k_norm_change) : nan);
      khi.push_back(k_ci ? v.summary.k_norm_mean + clean_k * (v.k_norm_ci.hi - v.k_norm_change) : nan);
      const bool e_ci = v.paired && std::isfinite(v.entropy_ci.lo) && std::isfinite(v.entropy_ci.hi);
      elo.push_back(e_ci ? v.summary.entropy_mean + v.entropy_ci.lo - v.entropy_change : nan);
      ehi.push_back(e_ci ? v.summary.entropy_mean + v.entropy_ci.hi - v.entropy_change : nan);
    }
    key_norm.categories.push_back(label);
    key_norm.values.push_back(kv);
    key_norm.lo.push_back(klo);
    key_norm.hi.push_back(khi);
    entropy.categories.push_back(label);
    entropy.values.push_back(ev);
    entropy.lo.push_back(elo);
    entropy.hi.push_back(ehi);
  }
  o << "<div class=\"row\">" << dot_chart_svg(key_norm) << dot_chart_svg(entropy) << "</div>";
}

void diagnostics(std::ostringstream& o, const Comparison& c) {
  const auto& d = c.diagnostics;
  if (d.empty()) return;
  o << "<h2>Attention diagnostics</h2><p class=\"small\">Per layer: mean attention entropy (nats), mean key norm before "
       "normalization, mean maximum attention weight and the largest attention logit, on the clean images, the corrupted "
       "images and the attacks' adversarial examples. Δ: the paired change from the same model's clean samples (entropy in "
       "nats, key norm relative to its clean mean) with the "
    << std::lround(100 * c.options.level)
    << " % percentile bootstrap interval over samples (for corruption means, each corruption's highest severity and the "
       "attacks); * in the sentences: the interval excludes 0. Between models: the paired difference of clean attention entropy, with its interval. "
       "Charts: per layer the mean key norm (before normalization) and the mean attention entropy of each model on the clean images, "
       "each corruption (its mean over severities) and each attack; the whisker is the paired interval of the change from clean, "
       "placed at the condition's value.</p>";
  const auto header = diagnostics_table_header(c);
  for (int l = 0; l < d.layers; ++l) {
    o << "<h3>Layer " << (l + 1) << "</h3><ul class=\"findings\">";
    for (const auto& s : d.sentences[static_cast<size_t>(l)]) o << "<li>" << esc(s) << "</li>";
    o << "</ul>";
    diagnostics_charts(o, c, l);
    o << "<table><thead><tr>";
    for (const auto& h : header) o << "<th>" << esc(h) << "</th>";
    o << "</tr></thead><tbody>";
    for (const auto& row : diagnostics_table_rows(c, l)) {
      o << "<tr>";
      for (const auto& cell : row) o << "<td>" << esc(cell) << "</td>";
      o << "</tr>";
    }
    o << "</tbody></table>";
  }
}

void statistics(std::ostringstream& o, const Comparison& c) {
  o << "<h2>Statistics</h2><p class=\"methods\">" << esc(methods_text(c)) << "</p>";
  for (size_t m = 0; m < c.models.size(); ++m) {
    if (static_cast<int>(m) == c.baseline) continue;
    size_t tests = 0;
    for (const auto& d : c.deltas) tests += d.model == static_cast<int>(m);
    o << "<h3>" << esc(c.models[m].display) << " vs " << esc(c.models[c.baseline].display) << " (" << tests
      << " tests, Holm–Bonferroni)</h3><table><thead><tr><th>condition</th><th>n</th><th>" << esc(c.models[c.baseline].display)
      << "</th><th>" << esc(c.models[m].display) << "</th><th>Δ (pts)</th><th>" << std::lround(100 * c.options.level)
      << " % CI</th><th>only baseline / only model correct</th><th>test</th><th>p</th><th>p (Holm)</th><th>sig.</th></tr></thead><tbody>";
    ConditionKind last = ConditionKind::Clean;
    bool first = true;
    for (const auto& d : c.deltas) {
      if (d.model != static_cast<int>(m)) continue;
      const auto& k = c.conditions[d.condition];
      if (first || k.kind != last) {
        static const char* names[] = {"clean", "corruptions", "attacks", "worst case over attacks"};
        o << "<tr class=\"section\"><td colspan=\"11\">" << names[static_cast<int>(k.kind)] << "</td></tr>";
        last = k.kind;
        first = false;
      }
      HeadlineCell cell;
      cell.diff = d.diff;
      cell.ci = d.ci;
      cell.significant = d.significant;
      cell.paired = d.paired;
      std::string cls = d.diff > 0 ? "pos" : d.diff < 0 ? "neg" : "";
      cls += d.significant ? " sig" : " ns";
      o << "<tr><td>" << esc(k.label) << "</td><td>"
        << esc(d.n_model == d.n_baseline ? thousands(d.n_model) : thousands(d.n_model) + " / " + thousands(d.n_baseline)) << "</td><td>"
        << esc(percent(d.acc_baseline)) << "</td><td>" << esc(percent(d.acc_model)) << "</td><td class=\"" << cls << "\">"
        << esc(points(d.diff)) << "</td><td>" << esc(interval_points(d.ci)) << "</td><td>"
        << (d.paired ? std::to_string(d.baseline_only) + " / " + std::to_string(d.model_only) : "<b>unpaired</b>") << "</td><td>"
        << esc(d.test) << "</td><td>" << esc(p_value(d.p)) << "</td><td>" << esc(p_value(d.p_holm)) << "</td><td>"
        << (d.significant ? "*" : "") << "</td></tr>";
    }
    o << "</tbody></table>";
  }
}

void sanity(std::ostringstream& o, const Comparison& c) {
  o << "<h2>Sanity checks of the attack runs</h2>";
  bool any = false;
  for (const auto& in : c.inputs) {
    if (in.schema != "questbench.attack") continue;
    any = true;
    int passed = 0, not_run = 0, warned = 0;
    for (const auto& s : in.sanity) (s.status == "passed" ? passed : s.status == "not_run" ? not_run : warned)++;
    o << "<p><code>" << esc(in.path) << "</code>: <b>" << warned << " warned</b>, " << passed << " passed, " << not_run << " not run.</p>";
    o << "<table><thead><tr><th>model</th><th>check</th><th>status</th><th>message</th></tr></thead><tbody>";
    for (const auto& s : in.sanity)
      o << "<tr><td>" << esc(s.model) << "</td><td>" << esc(s.name) << "</td><td" << (s.status == "warned" ? " class=\"neg sig\"" : "")
        << ">" << esc(s.status) << "</td><td class=\"note\">" << esc(s.message) << "</td></tr>";
    o << "</tbody></table>";
  }
  if (!any) o << "<p>No attack report among the inputs.</p>";
}

void provenance(std::ostringstream& o, const Comparison& c) {
  o << "<h2>Provenance</h2>";
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const auto& in = c.inputs[i];
    const auto& x = in.context;
    o << "<h3>" << (i + 1) << ". <code>" << esc(in.path) << "</code> — " << esc(in.schema) << " v" << in.schema_version << "</h3><dl class=\"prov\">";
    auto item = [&](const std::string& k, const std::string& v) { o << "<dt>" << esc(k) << "</dt><dd>" << esc(v) << "</dd>"; };
    item("written by", "questbench " + x.questbench_version + " (commit " + x.git_commit + "), LibTorch " + x.libtorch_version +
                           (x.opencv_version.empty() ? "" : ", OpenCV " + x.opencv_version));
    item("run", x.device + (x.autocast == "none" ? "" : " (autocast " + x.autocast + ")") + ", " + std::to_string(x.threads) + " threads, seed " + std::to_string(x.seed) + ", batch size " +
                    std::to_string(x.batch_size) + "; " + x.start_time + " → " + x.end_time + " (" + fixed(x.wall_time_s, 1) + " s)");
    item("data", in.dataset.description + " (" + in.dataset.format + ", " + in.dataset.split + "), first " +
                     thousands(in.dataset.evaluated) + " of " + thousands(in.dataset.size) + " samples");
    item("fingerprint", in.dataset.fingerprint);
    item("settings", input_settings(in));
    for (const auto& m : in.models)
      item("model " + m.name, m.architecture + (m.attention.empty() ? "" : " / " + m.attention) + ", sha256 " + m.sha256);
    item("command", x.command_line);
    o << "</dl>";
  }
  if (!c.pairings.empty()) {
    o << "<p>Pairing across reports (models within one report are always paired):</p><table><thead><tr><th>reports</th><th>pairable</th>"
         "<th>why not</th></tr></thead><tbody>";
    for (const auto& p : c.pairings) {
      std::string reasons;
      for (size_t k = 0; k < p.reasons.size(); ++k) reasons += (k ? "; " : "") + p.reasons[k];
      o << "<tr><td>" << p.a + 1 << " &amp; " << p.b + 1 << "</td><td>" << (p.pairable ? "yes" : "no") << "</td><td class=\"note\">"
        << esc(reasons) << "</td></tr>";
    }
    o << "</tbody></table>";
  }
}

}  // namespace
}  // namespace html

std::string render_html(const Comparison& c) {
  using namespace html;
  std::ostringstream o;
  std::string versus;
  for (size_t m = 0; m < c.models.size(); ++m)
    if (static_cast<int>(m) != c.baseline) versus += (versus.empty() ? "" : ", ") + c.models[m].display;
  versus += " vs " + c.models[c.baseline].display + " (baseline)";
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    << "<title>questbench comparison: " << esc(versus) << "</title>" << kErrorRecorder << "<style>" << kStyle << "</style></head><body><main>";
  std::string sources;
  for (const auto& in : c.inputs) {
    const std::string kind = in.schema.substr(in.schema.find('.') + 1);
    sources += (sources.empty() ? "" : "; ") + kind + ": " + data_summary(in.dataset);
  }
  o << "<h1>questbench comparison: " << esc(versus) << "</h1><p class=\"sub\">" << esc(sources) << " · baseline "
    << esc(c.models[c.baseline].display) << ": " << esc(c.baseline_reason) << "</p>";
  if (c.warnings.empty()) {
    o << "<div class=\"banner ok\"><p>All comparisons are <b>paired</b>: every model was measured on the same samples.</p></div>";
  } else {
    o << "<div class=\"banner warn\">";
    for (const auto& w : c.warnings) o << "<p><b>Warning:</b> " << esc(w) << "</p>";
    o << "</div>";
  }
  o << "<ul class=\"findings\">";
  for (const auto& f : key_findings(c)) o << "<li>" << esc(f) << "</li>";
  o << "</ul><h2>Headline</h2>";
  headline_table(o, c);
  o << "<p class=\"small\">Δ in percentage points with its " << std::lround(100 * c.options.level)
    << " % interval; <b>*</b> = significant after Holm–Bonferroni (α = " << fixed(c.options.alpha, 2)
    << "). Robust accuracy: correct clean and never broken, over all evaluated samples.</p>";
  o << "<h2>Charts</h2>";
  forest_charts(o, c);
  eps_charts(o, c);
  ce_and_heatmaps(o, c);
  severity_charts(o, c);
  calibration(o, c);
  diagnostics(o, c);
  statistics(o, c);
  sanity(o, c);
  provenance(o, c);
  o << "<pre id=\"qb-render-check\"></pre></main>" << kRenderCheck << "</body></html>\n";
  return o.str();
}

}  // namespace questbench
