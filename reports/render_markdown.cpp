// The comparison as GitHub-flavoured Markdown; tables are padded so the file also reads well in a terminal.
#include "reports/render.h"
#include "reports/render_common.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace questbench {
namespace markdown {
namespace {

// Display width of UTF-8 text (code points; the report uses no wide characters).
size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
  return n;
}

std::string escape_cell(std::string s) {
  std::string out;
  for (char ch : s) out += ch == '|' ? std::string("\\|") : std::string(1, ch);
  return out;
}

// A table; `align` has one letter per column, l or r (default: the first column left, the others right).
std::string table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                  std::string align = "") {
  if (align.empty()) align = "l" + std::string(header.size() - 1, 'r');
  align.resize(header.size(), 'r');
  std::vector<size_t> w(header.size(), 3);
  auto all = rows;
  all.insert(all.begin(), header);
  for (auto& row : all)
    for (size_t i = 0; i < row.size() && i < w.size(); ++i) {
      row[i] = escape_cell(row[i]);
      w[i] = std::max(w[i], width(row[i]));
    }
  std::ostringstream out;
  auto line = [&](const std::vector<std::string>& row) {
    out << "|";
    for (size_t i = 0; i < w.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      const std::string pad(w[i] - width(cell), ' ');
      out << " " << (align[i] == 'l' ? cell + pad : pad + cell) << " |";
    }
    out << "\n";
  };
  line(all[0]);
  out << "|";
  for (size_t i = 0; i < w.size(); ++i)
    out << (align[i] == 'l' ? ":" + std::string(w[i] + 1, '-') : std::string(w[i] + 1, '-') + ":") << "|";
  out << "\n";
  for (size_t r = 1; r < all.size(); ++r) line(all[r]);
  return out.str();
}

std::string value_text(const HeadlineRow& row, const HeadlineCell& cell) {
  return row.kind == "ce" ? percent(cell.value, 1) : percent(cell.value);
}

std::string delta_text(const HeadlineCell& cell) {
  if (std::isnan(cell.diff)) return "—";
  std::string s = points(cell.diff) + " " + interval_points(cell.ci) + (cell.significant ? " *" : "");
  if (!cell.paired) s += " (unpaired)";
  return s;
}

void headline(std::ostringstream& out, const Comparison& c) {
  std::vector<std::string> header{"metric"};
  for (size_t m = 0; m < c.models.size(); ++m) header.push_back(model_title(c, static_cast<int>(m)));
  for (size_t m = 0; m < c.models.size(); ++m)
    if (static_cast<int>(m) != c.baseline) {
      header.push_back(delta_title(c, static_cast<int>(m)) + " [CI] (pts)");
      header.push_back("p (Holm)");
    }
  header.push_back("note");
  std::vector<std::vector<std::string>> rows;
  for (const auto& row : c.headline) {
    std::vector<std::string> r{row.label};
    for (const auto& cell : row.cells) r.push_back(value_text(row, cell));
    for (size_t m = 0; m < c.models.size(); ++m)
      if (static_cast<int>(m) != c.baseline) {
        r.push_back(delta_text(row.cells[m]));
        r.push_back(p_value(row.cells[m].p_holm));
      }
    r.push_back(row.note);
    rows.push_back(r);
  }
  out << table(header, rows, "l" + std::string(header.size() - 2, 'r') + "l") << "\n";
}

void corruption_tables(std::ostringstream& out, const Comparison& c) {
  const auto names = corruption_names(c);
  if (names.empty()) return;
  const auto severities = corruption_severities(c);
  out << "## Corruptions\n\n";
  for (size_t m = 0; m < c.models.size(); ++m) {
    out << "Accuracy of " << model_title(c, static_cast<int>(m)) << " by severity:\n\n";
    std::vector<std::string> header{"corruption"};
    for (int s : severities) header.push_back("s" + std::to_string(s));
    header.push_back("mean");
    std::vector<std::vector<std::string>> rows;
    for (size_t k = 0; k < names.size(); ++k) {
      std::vector<std::string> r{names[k]};
      for (int s : severities) {
        const int cond = corruption_condition_index(c, names[k], s);
        const auto* p = cond < 0 ? nullptr : primary_measurement(c, static_cast<int>(m), cond);
        r.push_back(p ? percent(p->accuracy, 1) : "—");
      }
      r.push_back(percent(c.corruption_errors[k].mean_accuracy[m], 1));
      rows.push_back(r);
    }
    out << table(header, rows) << "\n";
  }
  for (size_t m = 0; m < c.models.size(); ++m) {
    if (static_cast<int>(m) == c.baseline) continue;
    out << delta_title(c, static_cast<int>(m)) << " by corruption and severity (points; * = significant after Holm):\n\n";
    std::vector<std::string> header{"corruption"};
    for (int s : severities) header.push_back("s" + std::to_string(s));
    std::vector<std::vector<std::string>> rows;
    for (const auto& name : names) {
      std::vector<std::string> r{name};
      for (int s : severities) {
        const int cond = corruption_condition_index(c, name, s);
        const auto* d = cond < 0 ? nullptr : find_delta(c, static_cast<int>(m), cond);
        r.push_back(d ? points(d->diff, 1) + (d->significant ? "*" : "") : "—");
      }
      rows.push_back(r);
    }
    out << table(header, rows) << "\n";
  }
  out << "Corruption error relative to " << c.models[c.baseline].display << " (CE, 100 % = the baseline):\n\n";
  std::vector<std::string> header{"corruption", "group"};
  for (size_t m = 0; m < c.models.size(); ++m) header.push_back("CE " + c.models[m].display);
  for (size_t m = 0; m < c.models.size(); ++m) header.push_back("rel. CE " + c.models[m].display);
  std::vector<std::vector<std::string>> rows;
  for (const auto& row : c.corruption_errors) {
    std::vector<std::string> r{row.corruption, row.group};
    for (double v : row.ce) r.push_back(percent(v, 1));
    for (double v : row.relative_ce) r.push_back(percent(v, 1));
    rows.push_back(r);
  }
  out << table(header, rows, "ll") << "\n";
  const auto auc = error_auc_table(c);
  if (!auc.empty())
    out << "Area under the error-vs-severity curve (trapezoid rule over the severities, divided by their span):\n\n"
        << table(auc.header, auc.rows, "ll") << "\n";
}

void calibration(std::ostringstream& out, const Comparison& c) {
  const auto summary = calibration_summary_table(c);
  if (summary.empty()) return;
  out << "## Calibration\n\nECE: 15 equal-width confidence bins; adaptive ECE: 15 equal-mass bins; NLL: mean −ln p(true "
         "class); Brier: mean Σ_k (p_k − 1[k = y])² (multi-class, 0..2). Lower is better for all four.\n\n"
      << table(summary.header, summary.rows, "ll") << "\n";
  const auto cells = calibration_cells_table(c);
  if (!cells.empty()) out << "Per corruption and severity (aECE: adaptive ECE):\n\n" << table(cells.header, cells.rows) << "\n";
}

void attack_table(std::ostringstream& out, const Comparison& c) {
  auto conds = conditions_of_kind(c, ConditionKind::Attack);
  const auto worst = conditions_of_kind(c, ConditionKind::WorstCase);
  conds.insert(conds.end(), worst.begin(), worst.end());
  if (conds.empty()) return;
  out << "## Attacks\n\nRobust accuracy (correct clean and never broken; all evaluated samples):\n\n";
  std::vector<std::string> header{"attack", "eps"};
  for (size_t m = 0; m < c.models.size(); ++m) header.push_back(c.models[m].display);
  header.push_back("n");
  header.push_back("settings");
  std::vector<std::vector<std::string>> rows;
  for (int cond : conds) {
    const auto& k = c.conditions[cond];
    std::vector<std::string> r{k.kind == ConditionKind::WorstCase ? "worst case " + k.norm : k.label.substr(0, k.label.find(' ')) + " " + k.norm,
                               k.eps_text};
    int64_t n = 0;
    for (size_t m = 0; m < c.models.size(); ++m) {
      const auto* p = primary_measurement(c, static_cast<int>(m), cond);
      r.push_back(p ? percent(p->accuracy) : "—");
      if (p) n = std::max(n, p->n);
    }
    r.push_back(thousands(n));
    r.push_back(k.settings);
    rows.push_back(r);
  }
  out << table(header, rows, "ll" + std::string(header.size() - 3, 'r') + "l") << "\n";
}

void diagnostics(std::ostringstream& out, const Comparison& c) {
  const auto& d = c.diagnostics;
  if (d.empty()) return;
  out << "## Attention diagnostics\n\n"
      << "Per layer: mean attention entropy (nats), mean key norm before normalization, mean maximum attention weight and the "
         "largest attention logit, on the clean images, the corrupted images and the attacks' adversarial examples. Δ: the "
         "paired change from the same model's clean samples (entropy in nats, key norm relative to its clean mean) with the "
         << static_cast<int>(std::lround(100 * c.options.level))
      << " % percentile bootstrap interval over samples (for corruption means, each corruption's highest severity and the "
         "attacks); * in the sentences: the interval excludes 0. Between models: the paired difference of clean attention entropy, with its interval.\n\n";
  for (int l = 0; l < d.layers; ++l) {
    out << "### Layer " << (l + 1) << "\n\n";
    for (const auto& s : d.sentences[static_cast<size_t>(l)]) out << "* " << s << "\n";
    out << "\n" << table(diagnostics_table_header(c), diagnostics_table_rows(c, l), "l") << "\n";
  }
}

void statistics(std::ostringstream& out, const Comparison& c) {
  out << "## Statistics\n\n" << methods_text(c) << "\n\n";
  for (size_t m = 0; m < c.models.size(); ++m) {
    if (static_cast<int>(m) == c.baseline) continue;
    size_t tests = 0;
    for (const auto& d : c.deltas) tests += d.model == static_cast<int>(m);
    out << "### " << c.models[m].display << " vs " << c.models[c.baseline].display << " (" << tests
        << " tests, Holm–Bonferroni)\n\n";
    std::vector<std::string> header{"condition", "n", c.models[c.baseline].display, c.models[m].display, "Δ (pts)", "95 % CI",
                                    "only base / only model", "test", "p", "p (Holm)", "sig."};
    header[5] = std::to_string(static_cast<int>(std::lround(100 * c.options.level))) + " % CI";
    std::vector<std::vector<std::string>> rows;
    for (const auto& d : c.deltas) {
      if (d.model != static_cast<int>(m)) continue;
      rows.push_back({c.conditions[d.condition].label,
                      d.n_model == d.n_baseline ? thousands(d.n_model) : thousands(d.n_model) + " / " + thousands(d.n_baseline),
                      percent(d.acc_baseline), percent(d.acc_model), points(d.diff), interval_points(d.ci),
                      d.paired ? std::to_string(d.baseline_only) + " / " + std::to_string(d.model_only) : "unpaired", d.test,
                      p_value(d.p), p_value(d.p_holm), d.significant ? "*" : ""});
    }
    out << table(header, rows, "lrrrrrrlrrl") << "\n";
  }
}

void sanity(std::ostringstream& out, const Comparison& c) {
  out << "## Sanity checks of the attack runs\n\n";
  bool any = false;
  for (const auto& in : c.inputs) {
    if (in.schema != "questbench.attack") continue;
    any = true;
    int passed = 0, not_run = 0;
    std::vector<std::vector<std::string>> warned;
    for (const auto& s : in.sanity) {
      if (s.status == "passed") ++passed;
      else if (s.status == "not_run") ++not_run;
      else warned.push_back({s.model, s.name, s.message});
    }
    out << "`" << in.path << "`: " << warned.size() << " warned, " << passed << " passed, " << not_run << " not run.\n\n";
    if (!warned.empty()) out << table({"model", "check", "message"}, warned, "lll") << "\n";
  }
  if (!any) out << "No attack report among the inputs.\n\n";
}

void provenance(std::ostringstream& out, const Comparison& c) {
  out << "## Provenance\n\n";
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const auto& in = c.inputs[i];
    const auto& x = in.context;
    out << "**" << (i + 1) << ". `" << in.path << "`** — " << in.schema << " v" << in.schema_version << "\n\n";
    out << "* written by questbench " << x.questbench_version << " (commit " << x.git_commit << "), LibTorch "
        << x.libtorch_version << (x.opencv_version.empty() ? "" : ", OpenCV " + x.opencv_version) << "\n";
    out << "* " << x.device << (x.autocast == "none" ? "" : " (autocast " + x.autocast + ")") << ", " << x.threads << " threads, seed " << x.seed << ", batch size " << x.batch_size << "; "
        << x.start_time << " → " << x.end_time << " (" << fixed(x.wall_time_s, 1) << " s)\n";
    out << "* data: " << data_summary(in.dataset) << ", format " << in.dataset.format << ", fingerprint `"
        << in.dataset.fingerprint << "`\n";
    out << "* settings: " << input_settings(in) << "\n";
    for (const auto& m : in.models)
      out << "* model `" << m.name << "`: " << m.architecture << (m.attention.empty() ? "" : " / " + m.attention)
          << ", sha256 `" << m.sha256.substr(0, 16) << "…`\n";
    out << "* command: `" << x.command_line << "`\n\n";
  }
  if (!c.pairings.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : c.pairings) {
      std::string reasons;
      for (size_t k = 0; k < p.reasons.size(); ++k) reasons += (k ? "; " : "") + p.reasons[k];
      rows.push_back({std::to_string(p.a + 1) + " & " + std::to_string(p.b + 1), p.pairable ? "yes" : "no", reasons});
    }
    out << "Pairing across reports (models within one report are always paired):\n\n"
        << table({"reports", "pairable", "why not"}, rows, "lll") << "\n";
  }
}

}  // namespace
}  // namespace markdown

std::string render_markdown(const Comparison& c) {
  using namespace markdown;
  std::ostringstream out;
  std::string models;
  for (size_t m = 0; m < c.models.size(); ++m) models += (m ? ", " : "") + model_title(c, static_cast<int>(m));
  out << "# questbench comparison\n\n";
  out << "Models: " << models << ". Baseline: " << c.models[c.baseline].display << " (" << c.baseline_reason << ").\n\n";
  if (c.warnings.empty()) {
    out << "All comparisons are paired (the same samples for every model).\n\n";
  } else {
    for (const auto& w : c.warnings) out << "> **Warning:** " << w << "\n>\n";
    out << "\n";
  }
  for (const auto& f : key_findings(c)) out << "* " << f << "\n";
  out << "\n## Headline\n\n";
  headline(out, c);
  out << "Δ in percentage points with the " << static_cast<int>(std::lround(100 * c.options.level))
      << " % interval; * = significant after Holm–Bonferroni (α = " << fixed(c.options.alpha, 2)
      << "). Details in Statistics.\n\n";
  corruption_tables(out, c);
  calibration(out, c);
  attack_table(out, c);
  diagnostics(out, c);
  statistics(out, c);
  sanity(out, c);
  provenance(out, c);
  return out.str();
}

}  // namespace questbench
