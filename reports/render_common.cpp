#include "reports/render_common.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace questbench {

std::string fixed(double value, int decimals) {
  if (std::isnan(value)) return "—";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

std::string percent(double fraction, int decimals) {
  if (std::isnan(fraction)) return "—";
  return fixed(100 * fraction, decimals) + " %";
}

std::string points(double diff, int decimals) {
  if (std::isnan(diff)) return "—";
  std::string s = fixed(100 * diff, decimals);
  if (s == "-" + fixed(0.0, decimals)) s = fixed(0.0, decimals);  // no "-0.00"
  return (s[0] == '-' ? "" : "+") + s;
}

std::string interval_points(const Interval& ci, int decimals) {
  if (std::isnan(ci.lo) || std::isnan(ci.hi)) return "—";
  return "[" + points(ci.lo, decimals) + ", " + points(ci.hi, decimals) + "]";
}

std::string p_value(double p) {
  if (std::isnan(p)) return "—";
  if (p < 1e-6) return "< 1e-6";
  char buf[32];
  if (p < 0.001)
    std::snprintf(buf, sizeof buf, "%.1e", p);
  else
    std::snprintf(buf, sizeof buf, "%.4f", p);
  return buf;
}

std::string thousands(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (n < 0 ? "-" : "") + out;
}

std::string model_title(const Comparison& c, int model) {
  return c.models[model].display + (model == c.baseline ? " (baseline)" : "");
}

std::string delta_title(const Comparison& c, int model) {
  return "Δ " + c.models[model].display + " − " + c.models[c.baseline].display;
}

std::vector<int> conditions_of_kind(const Comparison& c, ConditionKind kind) {
  std::vector<int> out;
  for (size_t i = 0; i < c.conditions.size(); ++i)
    if (c.conditions[i].kind == kind) out.push_back(static_cast<int>(i));
  return out;
}

std::vector<std::string> corruption_names(const Comparison& c) {
  std::vector<std::string> names;
  for (int i : conditions_of_kind(c, ConditionKind::Corruption))
    if (std::find(names.begin(), names.end(), c.conditions[i].name) == names.end()) names.push_back(c.conditions[i].name);
  return names;
}

std::vector<int> corruption_severities(const Comparison& c) {
  std::set<int> s;
  for (int i : conditions_of_kind(c, ConditionKind::Corruption)) s.insert(c.conditions[i].severity);
  return {s.begin(), s.end()};
}

int corruption_condition_index(const Comparison& c, const std::string& corruption, int severity) {
  for (int i : conditions_of_kind(c, ConditionKind::Corruption))
    if (c.conditions[i].name == corruption && c.conditions[i].severity == severity) return i;
  return -1;
}

std::string methods_text(const Comparison& c) {
  size_t paired = 0, unpaired = 0;
  for (const auto& d : c.deltas) (d.paired ? paired : unpaired)++;
  const int level = static_cast<int>(std::lround(100 * c.options.level));
  std::string text = "Δ is the model's accuracy minus the baseline's, in percentage points. ";
  text += "Paired comparisons (the same samples, " + std::to_string(paired) + " of " + std::to_string(c.deltas.size()) +
          "): " + std::to_string(level) + " % percentile bootstrap interval of the accuracy difference (" +
          thousands(c.options.bootstrap) + " resamples of the samples, seed " + std::to_string(c.options.seed) +
          ") and the exact two-sided McNemar test on the per-sample correctness. ";
  if (unpaired)
    text += "UNPAIRED comparisons (" + std::to_string(unpaired) +
            "): Newcombe's hybrid score interval and a pooled two-proportion z-test, treating the samples as independent. ";
  text += "p-values are Holm–Bonferroni adjusted over all tests of each model against the baseline; * marks "
          "significance at a family-wise α = " + fixed(c.options.alpha, 2) + ". ";
  if (!c.corruption_errors.empty())
    text += "The mean corrupted accuracy interval is a bootstrap of the per-sample mean over its cells (no test). "
            "CE = Σ over severities of the model's error / the baseline's (100 % = the baseline); relative CE subtracts "
            "each model's clean error first.";
  return text;
}

std::vector<std::string> key_findings(const Comparison& c) {
  std::vector<std::string> out;
  for (int m = 0; m < static_cast<int>(c.models.size()); ++m) {
    if (m == c.baseline) continue;
    std::string line = c.models[m].display + " vs " + c.models[c.baseline].display + ": ";
    std::vector<std::string> parts;
    // Only the largest eps of the worst case (rows are in eps order).
    int last_worst = -1;
    for (size_t r = 0; r < c.headline.size(); ++r)
      if (c.headline[r].label.rfind("worst case", 0) == 0) last_worst = static_cast<int>(r);
    for (size_t r = 0; r < c.headline.size(); ++r) {
      const auto& row = c.headline[r];
      const auto& cell = row.cells[m];
      const bool first_attack = static_cast<int>(r) == last_worst;
      if (row.label == "clean accuracy" || row.label == "mean corrupted accuracy") {
        if (std::isnan(cell.diff)) continue;
        parts.push_back(row.label.substr(0, row.label.find(" accuracy")) + " " + points(cell.diff) + " pts " +
                        interval_points(cell.ci) + (cell.significant ? " *" : " (n.s.)") + (cell.paired ? "" : " unpaired"));
      } else if (row.kind == "ce" && row.label.rfind("mCE vs", 0) == 0 && row.label.find("as reported") == std::string::npos) {
        if (!std::isnan(cell.value)) parts.push_back("mCE " + percent(cell.value, 1));
      } else if (first_attack && !std::isnan(cell.diff)) {
        parts.push_back(row.label.substr(0, row.label.find(" (")) + " " + points(cell.diff) + " pts " +
                        interval_points(cell.ci) + (cell.significant ? " *" : " (n.s.)"));
      }
    }
    for (size_t i = 0; i < parts.size(); ++i) line += (i ? "; " : "") + parts[i];
    out.push_back(line + ".");
    int tests = 0, better = 0, worse = 0;
    for (const auto& d : c.deltas)
      if (d.model == m) {
        ++tests;
        if (d.significant) (d.diff > 0 ? better : worse)++;
      }
    std::string line2 = std::to_string(better + worse) + " of " + std::to_string(tests) + " tests significant after Holm (" +
                        std::to_string(better) + " favour " + c.models[m].display + ", " + std::to_string(worse) + " favour " +
                        c.models[c.baseline].display + ")";
    // The largest significant differences, by size.
    std::vector<const Delta*> sig;
    for (const auto& d : c.deltas)
      if (d.model == m && d.significant) sig.push_back(&d);
    std::stable_sort(sig.begin(), sig.end(), [](const Delta* a, const Delta* b) { return std::fabs(a->diff) > std::fabs(b->diff); });
    for (size_t i = 0; i < sig.size() && i < 6; ++i)
      line2 += std::string(i ? "; " : ": ") + c.conditions[sig[i]->condition].label + " " + points(sig[i]->diff, 1) + " pts";
    out.push_back(line2 + (sig.size() > 6 ? "; …" : "."));
  }
  return out;
}

std::string data_summary(const DatasetInfo& d) {
  std::string name = d.path;
  while (!name.empty() && name.back() == '/') name.pop_back();
  auto base = [](const std::string& p) { return p.substr(p.find_last_of('/') == std::string::npos ? 0 : p.find_last_of('/') + 1); };
  // A file (e.g. an IDX images file) is named by its folder.
  if (base(name).find('.') != std::string::npos && name.find('/') != std::string::npos) name = name.substr(0, name.find_last_of('/'));
  name = base(name);
  return name + " (" + (d.split.empty() ? d.format : d.split + " split") + "), first " + thousands(d.evaluated) + " of " +
         thousands(d.size) + " samples";
}

std::string input_settings(const InputReport& in) {
  if (in.has_corruptions) {
    const auto& k = in.corruption_config;
    std::string sev;
    for (size_t i = 0; i < k.severities.size(); ++i) sev += (i ? "," : "") + std::to_string(k.severities[i]);
    return std::to_string(k.corruptions.size()) + " corruptions × severities " + sev + "; source " + k.source +
           (k.table.empty() ? "" : ", table " + k.table) + (k.quantize ? ", quantized" : "") + ", frost " + k.frost +
           (k.baseline.empty() ? ", no CE baseline" : ", CE baseline " + k.baseline);
  }
  if (!in.attack_cells.empty()) {
    std::vector<std::string> attacks, eps;
    for (const auto& cell : in.attack_cells) {
      if (std::find(attacks.begin(), attacks.end(), cell.attack) == attacks.end()) attacks.push_back(cell.attack);
      if (std::find(eps.begin(), eps.end(), cell.eps_text) == eps.end()) eps.push_back(cell.eps_text);
    }
    std::string a, e;
    for (size_t i = 0; i < attacks.size(); ++i) a += (i ? "," : "") + attacks[i];
    for (size_t i = 0; i < eps.size(); ++i) e += (i ? "," : "") + eps[i];
    return "attacks " + a + "; eps " + e;
  }
  return "clean evaluation";
}

TextTable calibration_summary_table(const Comparison& c) {
  TextTable t;
  t.header = {"model", "cells", "ECE", "adaptive ECE", "NLL (nats)", "Brier"};
  for (size_t m = 0; m < c.models.size() && m < c.calibration.size(); ++m) {
    const auto& k = c.calibration[m];
    if (k.clean.n > 0)
      t.rows.push_back({model_title(c, static_cast<int>(m)), "clean (n = " + thousands(k.clean.n) + ")", percent(k.clean.ece),
                        percent(k.clean.adaptive_ece), fixed(k.clean.nll, 3), fixed(k.clean.brier, 4)});
    if (k.corruption_cells > 0)
      t.rows.push_back({model_title(c, static_cast<int>(m)), "mean over " + std::to_string(k.corruption_cells) + " corruption cells",
                        percent(k.mean_ece), percent(k.mean_adaptive_ece), fixed(k.mean_nll, 3), fixed(k.mean_brier, 4)});
  }
  return t;
}

TextTable calibration_cells_table(const Comparison& c) {
  TextTable t;
  t.header = {"corruption", "severity"};
  for (size_t m = 0; m < c.models.size(); ++m)
    for (const char* metric : {"ECE", "aECE", "NLL", "Brier"}) t.header.push_back(std::string(metric) + " " + c.models[m].display);
  for (const auto& name : corruption_names(c))
    for (int s : corruption_severities(c)) {
      const int cond = corruption_condition_index(c, name, s);
      if (cond < 0) continue;
      std::vector<std::string> row{name, std::to_string(s)};
      bool any = false;
      for (size_t m = 0; m < c.models.size(); ++m) {
        const Measurement* p = primary_measurement(c, static_cast<int>(m), cond);
        if (p && p->calibration.n > 0) {
          any = true;
          row.push_back(percent(p->calibration.ece));
          row.push_back(percent(p->calibration.adaptive_ece));
          row.push_back(fixed(p->calibration.nll, 3));
          row.push_back(fixed(p->calibration.brier, 4));
        } else {
          row.insert(row.end(), 4, "—");
        }
      }
      if (any) t.rows.push_back(std::move(row));
    }
  return t;
}

TextTable error_auc_table(const Comparison& c) {
  TextTable t;
  t.header = {"corruption", "group"};
  for (size_t m = 0; m < c.models.size(); ++m) t.header.push_back("error AUC " + c.models[m].display);
  for (const auto& row : c.corruption_errors) {
    std::vector<std::string> r{row.corruption, row.group};
    bool any = false;
    for (double v : row.error_auc) {
      any = any || !std::isnan(v);
      r.push_back(percent(v));
    }
    if (any) t.rows.push_back(std::move(r));
  }
  return t;
}

}  // namespace questbench
