#include "reports/diagnostics_compare.h"

#include "common/seed.h"
#include "reports/compare.h"
#include "reports/diagnostics.h"
#include "reports/render_common.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace questbench {
namespace diagnostics_compare_detail {  // named: the library is a unity build

constexpr double kNotANumber = std::numeric_limits<double>::quiet_NaN();

// "+35.0 %" / "−0.40": signed, with a real minus sign, no "−0.0".
std::string signed_text(double value, int decimals, const std::string& unit = "") {
  if (std::isnan(value)) return "—";
  std::string s = fixed(std::abs(value), decimals);
  const bool zero = s == fixed(0.0, decimals);
  return (zero ? "±" : value < 0 ? "−" : "+") + s + unit;
}

std::string interval_text(const Interval& ci, double scale, int decimals) {
  if (std::isnan(ci.lo) || std::isnan(ci.hi)) return "";
  return " [" + signed_text(scale * ci.lo, decimals) + ", " + signed_text(scale * ci.hi, decimals) + "]";
}

bool excludes_zero(const Interval& ci) { return !std::isnan(ci.lo) && (ci.lo > 0 || ci.hi < 0); }

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? kNotANumber : s / static_cast<double>(v.size());
}

// Per-sample changes of one condition against clean, per layer: entropy (nats) and key norm (relative).
struct Changes {
  std::vector<std::vector<double>> entropy, k_norm;  // [layer][sample]
};

bool same_layout(const std::vector<LayerDiagnostics>& a, const std::vector<LayerDiagnostics>& b) {
  if (a.size() != b.size()) return false;
  for (size_t l = 0; l < a.size(); ++l)
    if (diagnostics_samples(a[l]) != diagnostics_samples(b[l]) || a[l].heads != b[l].heads) return false;
  return true;
}

Changes changes(const std::vector<LayerDiagnostics>& clean, const std::vector<LayerDiagnostics>& shifted) {
  Changes out;
  for (size_t l = 0; l < clean.size(); ++l) {
    const auto e0 = diagnostics_column_values(clean[l], diagnostics_column::kEntropy);
    const auto e1 = diagnostics_column_values(shifted[l], diagnostics_column::kEntropy);
    const auto k0 = diagnostics_column_values(clean[l], diagnostics_column::kKNorm);
    const auto k1 = diagnostics_column_values(shifted[l], diagnostics_column::kKNorm);
    const double k0_mean = layer_summary(clean[l]).k_norm_mean;
    std::vector<double> de(e0.size()), dk(e0.size());
    for (size_t i = 0; i < e0.size(); ++i) {
      de[i] = e1[i] - e0[i];
      dk[i] = k0_mean > 0 ? (k1[i] - k0[i]) / k0_mean : kNotANumber;
    }
    out.entropy.push_back(std::move(de));
    out.k_norm.push_back(std::move(dk));
  }
  return out;
}

// The paired changes (and, when `with_ci`, their intervals) into the condition's values.
void set_changes(const Comparison& c, std::vector<DiagnosticsValue>& values, const Changes& ch, const std::string& key,
                 const std::string& model, bool with_ci) {
  for (size_t l = 0; l < values.size() && l < ch.entropy.size(); ++l) {
    auto& v = values[l];
    v.paired = true;
    v.entropy_change = mean_of(ch.entropy[l]);
    v.k_norm_change = mean_of(ch.k_norm[l]);
    if (!with_ci || ch.entropy[l].size() < 2) continue;
    const auto layer = static_cast<uint64_t>(l);
    v.entropy_ci = bootstrap_mean_ci(ch.entropy[l], c.options.bootstrap, keyed_seed(c.options.seed, "diagnostics entropy", key, model, layer),
                                     c.options.level);
    if (!std::isnan(v.k_norm_change))
      v.k_norm_ci = bootstrap_mean_ci(ch.k_norm[l], c.options.bootstrap, keyed_seed(c.options.seed, "diagnostics key norm", key, model, layer),
                                      c.options.level);
  }
}

std::vector<DiagnosticsValue> summaries(const std::vector<LayerDiagnostics>& layers) {
  std::vector<DiagnosticsValue> out(layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    out[l].present = true;
    out[l].n = diagnostics_samples(layers[l]);
    out[l].summary = layer_summary(layers[l]);
  }
  return out;
}

class DiagnosticsBuilder {
 public:
  explicit DiagnosticsBuilder(DiagnosticsComparison& d) : d_(d) {}
  // The condition's index (added on first use, in order).
  size_t condition(const std::string& key, const DiagnosticsCondition& condition) {
    auto it = index_.find(key);
    if (it != index_.end()) return it->second;
    index_[key] = d_.conditions.size();
    d_.conditions.push_back(condition);
    d_.values.emplace_back(d_.models.size(), std::vector<DiagnosticsValue>(static_cast<size_t>(d_.layers)));
    return d_.conditions.size() - 1;
  }
  // Sets the values unless the condition already has them for that model (the first report wins).
  std::vector<DiagnosticsValue>* slot(size_t condition, size_t k) {
    auto& v = d_.values[condition][k];
    return v.empty() || v[0].present ? nullptr : &v;
  }

 private:
  DiagnosticsComparison& d_;
  std::map<std::string, size_t> index_;
};

void sentences(const Comparison& c, DiagnosticsComparison& d) {
  d.sentences.assign(static_cast<size_t>(d.layers), {});
  // The conditions the sentences speak of: each corruption at its highest severity, each attack at its largest eps.
  std::map<std::string, size_t> last_of;  // corruption or attack+norm -> condition at the largest severity/eps
  std::vector<std::string> order;
  for (size_t j = 0; j < d.conditions.size(); ++j) {
    const auto& cond = d.conditions[j];
    if (cond.kind != "corruption" && cond.kind != "attack") continue;
    const std::string group = cond.kind + "/" + cond.short_label.substr(0, cond.short_label.rfind(' '));
    if (!last_of.count(group)) order.push_back(group);
    if (!last_of.count(group) || cond.level >= d.conditions[last_of[group]].level) last_of[group] = j;
  }
  const auto name = [&](size_t k) { return c.models[static_cast<size_t>(d.models[k])].display; };
  // The clean rows of two models from the first report holding both (the same samples: paired by sample).
  const auto clean_pair = [&](size_t k) -> std::pair<const std::vector<LayerDiagnostics>*, const std::vector<LayerDiagnostics>*> {
    for (const auto& in : c.inputs) {
      const std::vector<LayerDiagnostics>*first = nullptr, *other = nullptr;
      for (size_t j = 0; j < in.models.size() && j < in.clean.size(); ++j) {
        if (in.models[j].name == c.models[static_cast<size_t>(d.models[0])].name) first = &in.clean[j].diagnostics;
        if (in.models[j].name == c.models[static_cast<size_t>(d.models[k])].name) other = &in.clean[j].diagnostics;
      }
      if (first && other && !first->empty() && same_layout(*first, *other)) return {first, other};
    }
    return {nullptr, nullptr};
  };
  for (int l = 0; l < d.layers; ++l) {
    auto& out = d.sentences[static_cast<size_t>(l)];
    const std::string layer = "layer " + std::to_string(l + 1);
    // Between models on the clean images: the paired per-sample entropy difference against the first model.
    for (size_t k = 1; k < d.models.size(); ++k) {
      const auto [first, other] = clean_pair(k);
      if (!first || static_cast<size_t>(l) >= first->size()) continue;
      const auto e0 = diagnostics_column_values((*first)[static_cast<size_t>(l)], diagnostics_column::kEntropy);
      const auto e1 = diagnostics_column_values((*other)[static_cast<size_t>(l)], diagnostics_column::kEntropy);
      std::vector<double> diff(e0.size());
      for (size_t i = 0; i < e0.size(); ++i) diff[i] = e1[i] - e0[i];
      const Interval ci = diff.size() < 2 ? Interval{kNotANumber, kNotANumber}
                                          : bootstrap_mean_ci(diff, c.options.bootstrap,
                                                              keyed_seed(c.options.seed, "diagnostics models", name(k), static_cast<uint64_t>(l)),
                                                              c.options.level);
      out.push_back(layer + ", clean: " + name(k) + "'s attention entropy " + signed_text(mean_of(diff), 3, " nats") +
                    interval_text(ci, 1, 3) + " against " + name(0) + "'s (paired over " + std::to_string(diff.size()) + " samples).");
    }
    std::vector<std::pair<double, std::string>> largest_k(d.models.size(), {0.0, ""}), largest_e(d.models.size(), {0.0, ""});
    for (const auto& group : order) {
      const size_t j = last_of[group];
      const auto& cond = d.conditions[j];
      std::string k_part, e_part;
      for (size_t k = 0; k < d.models.size(); ++k) {
        const auto& v = d.values[j][k][static_cast<size_t>(l)];
        if (!v.paired) continue;
        const std::string sep = k_part.empty() ? "" : ", ";
        k_part += sep + signed_text(100 * v.k_norm_change, 1, " %") + (excludes_zero(v.k_norm_ci) ? "*" : "") + " for " + name(k);
        e_part += sep + signed_text(v.entropy_change, 3, " nats") + (excludes_zero(v.entropy_ci) ? "*" : "") + " for " + name(k);
        if (std::abs(v.k_norm_change) > std::abs(largest_k[k].first)) largest_k[k] = {v.k_norm_change, cond.short_label};
        if (std::abs(v.entropy_change) > std::abs(largest_e[k].first)) largest_e[k] = {v.entropy_change, cond.short_label};
      }
      if (k_part.empty()) continue;
      out.push_back(layer + ", " + cond.short_label + ": key norm " + k_part + "; entropy " + e_part + ".");
    }
    std::string k_part, e_part;
    for (size_t k = 0; k < d.models.size(); ++k) {
      if (largest_k[k].second.empty()) continue;
      const std::string sep = k_part.empty() ? "" : "; ";
      k_part += sep + name(k) + " " + signed_text(100 * largest_k[k].first, 1, " %") + " (" + largest_k[k].second + ")";
      e_part += sep + name(k) + " " + signed_text(largest_e[k].first, 3, " nats") + " (" + largest_e[k].second + ")";
    }
    if (!k_part.empty())
      out.push_back(layer + ": largest key-norm change " + k_part + "; largest entropy change " + e_part + ".");
  }
}

}  // namespace diagnostics_compare_detail

namespace diag_detail = diagnostics_compare_detail;


DiagnosticsComparison compare_diagnostics(const Comparison& c) {
  DiagnosticsComparison d;
  // Models with diagnostics in some input, and the layer count (the largest over them).
  for (size_t m = 0; m < c.models.size(); ++m) {
    bool has = false;
    for (const auto& in : c.inputs)
      for (size_t j = 0; j < in.models.size(); ++j)
        if (in.models[j].name == c.models[m].name && j < in.clean.size() && !in.clean[j].diagnostics.empty()) {
          has = true;
          d.layers = std::max(d.layers, static_cast<int>(in.clean[j].diagnostics.size()));
        }
    if (has) d.models.push_back(static_cast<int>(m));
  }
  if (d.models.empty()) return d;
  diag_detail::DiagnosticsBuilder b(d);
  const size_t clean_condition = b.condition("clean", {"clean", "clean", "clean", 0.0});
  for (const auto& in : c.inputs) {
    for (size_t k = 0; k < d.models.size(); ++k) {
      const auto& model = c.models[static_cast<size_t>(d.models[k])].name;
      size_t j = 0;
      while (j < in.models.size() && in.models[j].name != model) ++j;
      if (j == in.models.size() || j >= in.clean.size() || in.clean[j].diagnostics.empty()) continue;
      const auto& clean = in.clean[j].diagnostics;
      if (auto* slot = b.slot(clean_condition, k)) *slot = diag_detail::summaries(clean);
      // Corruptions: per severity, then the mean over severities.
      std::vector<std::string> corruptions;
      std::map<std::string, int> max_severity;
      for (const auto& cell : in.corruption_cells)
        if (cell.model == model && !cell.diagnostics.empty()) {
          if (!max_severity.count(cell.corruption)) corruptions.push_back(cell.corruption);
          max_severity[cell.corruption] = std::max(max_severity[cell.corruption], cell.severity);
        }
      for (const auto& name : corruptions) {
        std::vector<const CorruptionCell*> cells;
        for (const auto& cell : in.corruption_cells)
          if (cell.model == model && cell.corruption == name && !cell.diagnostics.empty()) cells.push_back(&cell);
        std::sort(cells.begin(), cells.end(), [](const auto* x, const auto* y) { return x->severity < y->severity; });
        diag_detail::Changes mean_changes;
        bool all_paired = true;
        std::vector<DiagnosticsValue> mean_values(static_cast<size_t>(d.layers));
        for (const auto* cell : cells) {
          const std::string label = name + " s" + std::to_string(cell->severity);
          const std::string key = "corruption/" + name + "/" + std::to_string(cell->severity);
          auto* slot = b.slot(b.condition(key, {"corruption", label, label, static_cast<double>(cell->severity)}), k);
          if (!slot) continue;
          *slot = diag_detail::summaries(cell->diagnostics);
          const bool paired = diag_detail::same_layout(clean, cell->diagnostics);
          all_paired &= paired;
          for (size_t l = 0; l < slot->size() && l < mean_values.size(); ++l) {
            auto& mv = mean_values[l];
            const auto& s = (*slot)[l].summary;
            mv.present = true;
            mv.n = (*slot)[l].n;
            mv.summary.entropy_mean += s.entropy_mean / static_cast<double>(cells.size());
            mv.summary.attn_max_mean += s.attn_max_mean / static_cast<double>(cells.size());
            mv.summary.q_norm_mean += s.q_norm_mean / static_cast<double>(cells.size());
            mv.summary.k_norm_mean += s.k_norm_mean / static_cast<double>(cells.size());
            mv.summary.logits_std += s.logits_std / static_cast<double>(cells.size());
            mv.summary.logits_max = cell == cells.front() ? s.logits_max : std::max(mv.summary.logits_max, s.logits_max);
          }
          if (!paired) continue;
          const auto ch = diag_detail::changes(clean, cell->diagnostics);
          diag_detail::set_changes(c, *slot, ch, key, model, cell->severity == max_severity[name]);
          if (mean_changes.entropy.empty()) {
            mean_changes = ch;
          } else {
            for (size_t l = 0; l < ch.entropy.size(); ++l)
              for (size_t i = 0; i < ch.entropy[l].size(); ++i) {
                mean_changes.entropy[l][i] += ch.entropy[l][i];
                mean_changes.k_norm[l][i] += ch.k_norm[l][i];
              }
          }
        }
        if (cells.size() < 2) continue;
        // "s1–5" for a run of consecutive severities, else the list ("s1,3,5"): the label names what was averaged.
        std::string severities = "s" + std::to_string(cells.front()->severity);
        if (cells.back()->severity - cells.front()->severity + 1 == static_cast<int>(cells.size())) {
          severities += "–" + std::to_string(cells.back()->severity);
        } else {
          for (size_t i = 1; i < cells.size(); ++i) severities += "," + std::to_string(cells[i]->severity);
        }
        const std::string label = name + " (mean over " + severities + ")";
        const std::string key = "corruption mean/" + name;
        auto* slot = b.slot(b.condition(key, {"corruption mean", label, name, 0.0}), k);
        if (!slot) continue;
        *slot = mean_values;
        if (!all_paired || mean_changes.entropy.empty()) continue;
        for (auto& layer : mean_changes.entropy)
          for (auto& x : layer) x /= static_cast<double>(cells.size());
        for (auto& layer : mean_changes.k_norm)
          for (auto& x : layer) x /= static_cast<double>(cells.size());
        diag_detail::set_changes(c, *slot, mean_changes, key, model, true);
      }
      // Attacks, on the adversarial examples of each attack x eps.
      for (const auto& cell : in.attack_cells) {
        if (cell.model != model || cell.diagnostics.empty()) continue;
        const std::string label = cell.attack + " " + cell.norm + " " + cell.eps_text;
        const std::string key = "attack/" + cell.spec + "/" + cell.norm + "/" + cell.eps_text;
        auto* slot = b.slot(b.condition(key, {"attack", label, label, cell.eps}), k);
        if (!slot) continue;
        *slot = diag_detail::summaries(cell.diagnostics);
        if (diag_detail::same_layout(clean, cell.diagnostics)) diag_detail::set_changes(c, *slot, diag_detail::changes(clean, cell.diagnostics), key, model, true);
      }
    }
  }
  diag_detail::sentences(c, d);
  return d;
}

std::vector<std::string> diagnostics_table_header(const Comparison& c) {
  std::vector<std::string> header = {"condition"};
  for (int m : c.diagnostics.models) {
    const auto& name = c.models[static_cast<size_t>(m)].display;
    for (const char* column : {" entropy", " Δ entropy", " key norm", " Δ key norm", " max weight", " max logit"})
      header.push_back(name + column);
  }
  return header;
}

std::vector<std::vector<std::string>> diagnostics_table_rows(const Comparison& c, int layer) {
  const auto& d = c.diagnostics;
  std::vector<std::vector<std::string>> rows;
  for (size_t j = 0; j < d.conditions.size(); ++j) {
    std::vector<std::string> row = {d.conditions[j].label};
    for (size_t k = 0; k < d.models.size(); ++k) {
      const auto& v = d.values[j][k][static_cast<size_t>(layer)];
      if (!v.present) {
        row.insert(row.end(), 6, "—");
        continue;
      }
      row.push_back(fixed(v.summary.entropy_mean, 3));
      row.push_back(v.paired ? diag_detail::signed_text(v.entropy_change, 3) + diag_detail::interval_text(v.entropy_ci, 1, 3) : "—");
      row.push_back(fixed(v.summary.k_norm_mean, 3));
      row.push_back(v.paired ? diag_detail::signed_text(100 * v.k_norm_change, 1, " %") + diag_detail::interval_text(v.k_norm_ci, 100, 1) : "—");
      row.push_back(fixed(v.summary.attn_max_mean, 3));
      row.push_back(fixed(v.summary.logits_max, 2));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace questbench
