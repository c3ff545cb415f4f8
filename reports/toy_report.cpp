#include "reports/toy_report.h"

#include "common/error.h"
#include "reports/format.h"
#include "reports/json_fields.h"
#include "reports/serialize.h"
#include "reports/svg_charts.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

namespace questbench {
namespace {

template <class Io, class S>
void toy_settings_fields(Io& io, S& s) {
  io("tokens", s.tokens);
  io("key_dims", s.key_dims);
  io("classes", s.classes);
  io("answer_dims", s.answer_dims);
  io("answer_std", s.answer_std);
  io("bias_norm", s.bias_norm);
  io("biased_fraction", s.biased_fraction);
  io("train_samples", s.train_samples);
  io("test_samples", s.test_samples);
  io("embed_dims", s.embed_dims);
  io("head_dims", s.head_dims);
  io("steps", s.steps);
  io("batch_size", s.batch_size);
  io("trajectory_every", s.trajectory_every);
  io("probe_samples", s.probe_samples);
  io("success_fraction", s.success_fraction);
  io("seed", s.seed);
  io("variants", s.variants);
  io("learning_rates", s.learning_rates);
  io("weight_decays", s.weight_decays);
  io("seeds", s.seeds);
  // The fixed choices of the model and the optimizer, so that the report says everything the numbers depend on.
  io.derived("model", [] {
    return "e_j = ReLU(W1 x_j + c1); k_j = Wk e_j; q = Wq u (u a learned query token); logits per variant; "
           "a = softmax over tokens; class logits = Wo sum_j a_j onehot(c_j) + bo";
  });
  io.derived("init", [] {
    return "W ~ N(0, 1/fan_in), u ~ N(0, I), biases 0; qknorm scale log2(N^2 - N) with N = tokens + 1, qnorm scale 1";
  });
  io.derived("optimizer",
             [] { return "AdamW (betas 0.9, 0.999, eps 1e-8), constant learning rate, weight decay on every parameter"; });
  io.derived("batches", [] { return "drawn uniformly with replacement from the seed's training set"; });
}

template <class Io, class R>
void toy_run_fields(Io& io, R& r) {
  io("variant", r.variant);
  io("learning_rate", r.learning_rate);
  io("weight_decay", r.weight_decay);
  io("seed_index", r.seed_index);
  io("success", r.success);
  io("diverged", r.diverged);
  io("unbiased_accuracy", r.unbiased_accuracy);
  io("biased_accuracy", r.biased_accuracy);
  io.finite_or_null("final_train_loss", r.final_train_loss);  // a diverged run's loss is NaN
  io.optional("seconds", r.seconds, 0.0);
  io.object("trajectory", [&](auto& t) {
    t("steps", r.trajectory_steps);
    t.finite_or_null_list("key_norm_biased", r.key_norm_biased);
    t.finite_or_null_list("key_norm_unbiased", r.key_norm_unbiased);
  });
}

Json toy_settings_json(const ToySettings& s) {
  Json j;
  json_fields::FieldWriter w(j);
  toy_settings_fields(w, s);
  return j;
}

void toy_settings_from_json(const Json& j, ToySettings& s) {
  json_fields::FieldReader r(j);
  toy_settings_fields(r, s);
}

Json toy_run_json(const ToyRun& run) {
  Json j;
  json_fields::FieldWriter w(j);
  toy_run_fields(w, run);
  return j;
}

ToyRun toy_run_from_json(const Json& j) {
  ToyRun r;
  json_fields::FieldReader reader(j);
  toy_run_fields(reader, r);
  if (r.key_norm_biased.size() != r.trajectory_steps.size() || r.key_norm_unbiased.size() != r.trajectory_steps.size())
    throw FieldError("run " + r.variant + ": trajectory lengths differ from its steps");
  return r;
}

std::string toy_percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %%", 100.0 * fraction);
  return buf;
}

std::string toy_number_text(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// The mean trajectory of one variant's runs over the steps they share (diverged runs end early and are left
// out of the steps they did not reach).
struct ToyMeanTrajectory {
  std::vector<double> steps, biased, unbiased;
};
ToyMeanTrajectory toy_mean_trajectory(const std::vector<ToyRun>& runs, const std::string& variant) {
  std::map<int64_t, std::array<double, 4>> sums;  // step -> {biased sum, n, unbiased sum, n}
  for (const auto& r : runs) {
    if (r.variant != variant) continue;
    for (size_t i = 0; i < r.trajectory_steps.size(); ++i) {
      auto& s = sums[r.trajectory_steps[i]];
      if (std::isfinite(r.key_norm_biased[i])) s[0] += r.key_norm_biased[i], s[1] += 1;
      if (std::isfinite(r.key_norm_unbiased[i])) s[2] += r.key_norm_unbiased[i], s[3] += 1;
    }
  }
  ToyMeanTrajectory m;
  for (const auto& [step, s] : sums) {
    m.steps.push_back(static_cast<double>(step));
    m.biased.push_back(s[1] > 0 ? s[0] / s[1] : std::nan(""));
    m.unbiased.push_back(s[3] > 0 ? s[2] / s[3] : std::nan(""));
  }
  return m;
}

// Ticks at 0, 1/4, 1/2, 3/4, 1 of [0, max], labelled as integers.
void toy_step_ticks(double max, std::vector<double>& ticks, std::vector<std::string>& labels) {
  for (int i = 0; i <= 4; ++i) {
    const double v = max * i / 4.0;
    ticks.push_back(v);
    labels.push_back(std::to_string(static_cast<int64_t>(std::llround(v))));
  }
}

// A chart of reports/svg_charts.h moved to (x, y) of the figure.
std::string toy_placed(const std::string& svg, int x, int y) {
  return "<g transform=\"translate(" + std::to_string(x) + "," + std::to_string(y) + ")\">" + svg + "</g>";
}

// The charts style themselves through classes; a standalone figure carries the rules the HTML report has.
const char kToyFigureStyle[] =
    "<style>svg.chart text{font-family:sans-serif}.chart-title{font-size:12px;font-weight:600}"
    ".tick{font-size:10px;fill:#444}.axis{font-size:10.5px;fill:#222}.legend{font-size:10px;fill:#222}"
    "line.gridline{stroke:#e6e6e6}.frame{fill:none;stroke:#bbb}.axisline{stroke:#888}"
    ".reference{stroke:#333;stroke-dasharray:3 2}</style>";

}  // namespace

std::vector<ToyVariantSummary> summarize_toy_runs(const std::vector<std::string>& variants,
                                                  const std::vector<ToyRun>& runs) {
  std::vector<ToyVariantSummary> out;
  for (const auto& v : variants) {
    ToyVariantSummary s;
    s.variant = v;
    double unbiased = 0, biased = 0;
    for (const auto& r : runs) {
      if (r.variant != v) continue;
      ++s.runs;
      s.successes += r.success ? 1 : 0;
      s.diverged += r.diverged ? 1 : 0;
      unbiased += r.unbiased_accuracy;
      biased += r.biased_accuracy;
    }
    if (s.runs > 0) {
      s.success_rate = static_cast<double>(s.successes) / static_cast<double>(s.runs);
      s.mean_unbiased_accuracy = unbiased / static_cast<double>(s.runs);
      s.mean_biased_accuracy = biased / static_cast<double>(s.runs);
    }
    out.push_back(s);
  }
  return out;
}

std::string toy_report_to_json(const ToyReport& report) {
  Json j;
  j["schema"] = "questbench.toy";
  j["schema_version"] = kSchemaVersion;
  j["context"] = report.context;
  j["settings"] = toy_settings_json(report.settings);
  j["reference_unbiased_accuracy"] = report.reference_unbiased_accuracy;
  j["success_threshold"] = report.success_threshold;
  Json variants = Json::array();
  for (const auto& s : report.variants) {
    Json v;
    v["variant"] = s.variant;
    v["runs"] = s.runs;
    v["successes"] = s.successes;
    v["success_rate"] = s.success_rate;
    v["diverged"] = s.diverged;
    v["mean_unbiased_accuracy"] = s.mean_unbiased_accuracy;
    v["mean_biased_accuracy"] = s.mean_biased_accuracy;
    variants.push_back(v);
  }
  j["variants"] = variants;
  Json runs = Json::array();
  for (const auto& r : report.runs) runs.push_back(toy_run_json(r));
  j["runs"] = runs;
  return j.dump(2) + "\n";
}

ToyReport toy_report_from_json(const std::string& text, const std::string& what) {
  const auto schema = report_schema(text, what);
  QB_CHECK(schema.schema == "questbench.toy",
           what << ": is a '" << schema.schema << "' report, expected 'questbench.toy'");
  try {
    const Json j = Json::parse(text);
    ToyReport r;
    r.context = j.at("context").get<RunContext>();
    toy_settings_from_json(j.at("settings"), r.settings);
    r.reference_unbiased_accuracy = j.at("reference_unbiased_accuracy").get<double>();
    r.success_threshold = j.at("success_threshold").get<double>();
    for (const auto& run : j.at("runs")) r.runs.push_back(toy_run_from_json(run));
    // The summaries are recomputed from the runs, so a report cannot disagree with itself.
    r.variants = summarize_toy_runs(r.settings.variants, r.runs);
    return r;
  } catch (const FieldError& e) {
    throw Error(what + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": report is missing a field or has one of the wrong type (" + std::string(e.what()) + ")");
  }
}

std::string toy_markdown_table(const ToyReport& report) {
  const auto& s = report.settings;
  std::ostringstream out;
  out << "| variant | success rate | successes / runs | diverged | mean unbiased acc. | mean biased acc. |\n";
  out << "|---|---|---|---|---|---|\n";
  for (const auto& v : report.variants)
    out << "| `" << v.variant << "` | " << toy_percent(v.success_rate) << " | " << v.successes << " / " << v.runs << " | "
        << v.diverged << " | " << toy_percent(v.mean_unbiased_accuracy) << " | " << toy_percent(v.mean_biased_accuracy) << " |\n";
  out << "\nSuccesses per learning rate × weight decay (of " << s.seeds << " seeds):\n\n| variant |";
  for (double lr : s.learning_rates)
    for (double wd : s.weight_decays) out << " lr " << toy_number_text(lr) << " wd " << toy_number_text(wd) << " |";
  out << "\n|---|";
  for (size_t i = 0; i < s.learning_rates.size() * s.weight_decays.size(); ++i) out << "---|";
  out << "\n";
  for (const auto& v : s.variants) {
    out << "| `" << v << "` |";
    for (double lr : s.learning_rates)
      for (double wd : s.weight_decays) {
        int64_t n = 0;
        for (const auto& r : report.runs)
          if (r.variant == v && r.learning_rate == lr && r.weight_decay == wd && r.success) ++n;
        out << " " << n << " |";
      }
    out << "\n";
  }
  out << "\nSuccess: unbiased test accuracy ≥ " << toy_percent(report.success_threshold) << " ("
      << s.success_fraction << " × " << toy_percent(report.reference_unbiased_accuracy)
      << ", what the rule that knows Σ reaches; chance " << toy_percent(1.0 / static_cast<double>(s.classes)) << ").\n";
  return out.str();
}

std::string toy_plot_svg(const ToyReport& report) {
  const auto& s = report.settings;
  BarChartSpec bars;
  bars.id = "toy-success";
  bars.title = "Runs that solve the unbiased samples";
  bars.value_label = "success rate (%)";
  bars.series_names = {"success rate"};
  bars.colours = {series_colour(0)};
  for (const auto& v : report.variants) {
    bars.categories.push_back(v.variant);
    bars.values.push_back({100.0 * v.success_rate});
  }
  bars.reference = 100;
  bars.reference_label = "100 %";
  bars.width = 420;

  const double max_step = static_cast<double>(s.steps);
  double max_norm = 0;
  std::vector<std::string> charts;
  for (const auto& v : s.variants) {
    const auto m = toy_mean_trajectory(report.runs, v);
    for (double x : m.biased)
      if (std::isfinite(x)) max_norm = std::max(max_norm, x);
    for (double x : m.unbiased)
      if (std::isfinite(x)) max_norm = std::max(max_norm, x);
  }
  const double y_max = max_norm > 0 ? std::ceil(max_norm * 1.1) : 1.0;
  for (const auto& v : s.variants) {
    const auto m = toy_mean_trajectory(report.runs, v);
    LineChartSpec line;
    line.id = "toy-keynorm-" + v;
    line.title = v + ": answer key norm";
    line.x_label = "training step";
    line.y_label = "mean ||k|| of the answer token";
    toy_step_ticks(max_step, line.x_ticks, line.x_tick_labels);
    line.y_min = 0;
    line.y_max = y_max;
    line.series.push_back({"biased", series_colour(1), series_marker(1), false, m.steps, m.biased});
    line.series.push_back({"unbiased", series_colour(2), series_marker(2), true, m.steps, m.unbiased});
    line.width = 300;
    line.height = 230;
    charts.push_back(line_chart_svg(line));
  }
  const std::string bar_svg = bar_chart_svg(bars);
  const int columns = 2, cell_w = 310, cell_h = 250, top = 100 + 13 * static_cast<int>(s.variants.size());
  const int rows = (static_cast<int>(charts.size()) + columns - 1) / columns;
  const int width = std::max(columns * cell_w, 440), height = top + rows * cell_h + 10;
  std::ostringstream out;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << " " << height << "\" font-family=\"sans-serif\">\n";
  out << kToyFigureStyle << "\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  out << toy_placed(bar_svg, 0, 0) << "\n";
  for (size_t i = 0; i < charts.size(); ++i)
    out << toy_placed(charts[i], static_cast<int>(i % columns) * cell_w, top + static_cast<int>(i / columns) * cell_h)
        << "\n";
  out << "</svg>\n";
  return out.str();
}

}  // namespace questbench
