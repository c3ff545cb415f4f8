// Conditions, measurements, deltas against the baseline, corruption errors and the headline numbers.
#include "reports/compare.h"

#include "common/error.h"
#include "common/seed.h"
#include "reports/corruption_metrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

namespace questbench {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string upper(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

// 0.00784 -> "2/255"; other values with 4 significant digits.
std::string fraction_text(double v) {
  const double k = v * 255;
  std::ostringstream out;
  if (v > 0 && std::fabs(k - std::round(k)) < 1e-6) {
    out << static_cast<long long>(std::round(k)) << "/255";
  } else {
    out.precision(4);
    out << v;
  }
  return out.str();
}

std::string attack_settings(const AttackCell& c) {
  std::ostringstream out;
  // A single step of size eps (FGSM) is described as such, so the settings do not change with eps.
  const bool step_is_eps = c.steps == 1 && std::fabs(c.alpha - c.eps) <= 1e-9 * std::max(1.0, c.eps);
  out << c.steps << (c.steps == 1 ? " step" : " steps") << ", alpha " << (step_is_eps ? "= eps" : fraction_text(c.alpha)) << ", " << c.restarts
      << (c.restarts == 1 ? " restart" : " restarts");
  if (c.random_start) out << ", random start";
  if (c.early_stop) out << ", early stop";
  out << ", " << c.loss << " loss";
  if (!c.targeted.empty()) out << ", targeted " << c.targeted;
  return out.str();
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

int kind_rank(ConditionKind k) { return static_cast<int>(k); }

class Builder {
 public:
  Builder(Comparison& c) : c_(c) {}

  int model_index(const ModelInfo& m, int report) {
    const std::string key = m.name + "\n" + m.sha256;
    auto it = model_keys_.find(key);
    if (it == model_keys_.end()) {
      ComparedModel cm;
      cm.name = cm.display = m.name;
      cm.sha256 = m.sha256;
      cm.attention = m.attention;
      cm.architecture = m.architecture;
      c_.models.push_back(cm);
      it = model_keys_.emplace(key, static_cast<int>(c_.models.size()) - 1).first;
    }
    auto& reports = c_.models[it->second].reports;
    if (reports.empty() || reports.back() != report) reports.push_back(report);
    return it->second;
  }

  int condition_index(Condition cond) {
    auto it = condition_keys_.find(cond.key);
    if (it != condition_keys_.end()) return it->second;
    if (!name_order_.count(cond.name)) name_order_.emplace(cond.name, static_cast<int>(name_order_.size()));
    c_.conditions.push_back(std::move(cond));
    const int index = static_cast<int>(c_.conditions.size()) - 1;
    condition_keys_.emplace(c_.conditions.back().key, index);
    return index;
  }

  void add(int model, int condition, int report, int64_t n, double reported_accuracy, const std::vector<uint8_t>& mask,
           const std::string& what, const CalibrationData* calibration = nullptr) {
    const auto& in = c_.inputs[report];
    QB_CHECK(static_cast<int64_t>(mask.size()) == n && n == in.dataset.evaluated,
             in.path << ": " << what << " covers " << mask.size() << " samples, the report evaluated " << in.dataset.evaluated);
    Measurement m;
    m.model = model;
    m.condition = condition;
    m.report = report;
    m.n = n;
    m.correct = std::accumulate(mask.begin(), mask.end(), int64_t{0});
    m.accuracy = n ? static_cast<double>(m.correct) / n : kNaN;
    QB_CHECK(n == 0 || std::fabs(m.accuracy - reported_accuracy) < 1e-6,
             in.path << ": " << what << ": accuracy " << reported_accuracy << " does not match its per-sample bits ("
                     << m.accuracy << ")");
    m.mask = mask;
    if (calibration) m.calibration = calibration_metrics(*calibration, mask);
    c_.measurements.push_back(std::move(m));
  }

  // Clean first, then corruptions, attacks and worst cases; names in order of first appearance.
  void sort_conditions() {
    std::vector<int> order(c_.conditions.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int x, int y) {
      const auto& a = c_.conditions[x];
      const auto& b = c_.conditions[y];
      if (kind_rank(a.kind) != kind_rank(b.kind)) return kind_rank(a.kind) < kind_rank(b.kind);
      if (a.kind == ConditionKind::Corruption && a.group != b.group) return a.group == "standard";
      if (name_order_[a.name] != name_order_[b.name]) return name_order_[a.name] < name_order_[b.name];
      if (a.norm != b.norm) return a.norm < b.norm;
      if (a.settings != b.settings) return a.settings < b.settings;
      if (a.severity != b.severity) return a.severity < b.severity;
      return a.eps < b.eps;
    });
    std::vector<int> remap(order.size());
    std::vector<Condition> sorted;
    for (size_t i = 0; i < order.size(); ++i) {
      remap[order[i]] = static_cast<int>(i);
      sorted.push_back(c_.conditions[order[i]]);
    }
    c_.conditions = std::move(sorted);
    for (auto& m : c_.measurements) m.condition = remap[m.condition];
  }

 private:
  Comparison& c_;
  std::map<std::string, int> model_keys_, condition_keys_, name_order_;
};

Condition clean_condition() {
  Condition c;
  c.kind = ConditionKind::Clean;
  c.name = "clean";
  c.key = "clean";
  c.label = "clean";
  return c;
}

Condition corruption_condition(const CorruptionCell& cell) {
  Condition c;
  c.kind = ConditionKind::Corruption;
  c.name = cell.corruption;
  c.group = cell.group;
  c.severity = cell.severity;
  c.key = "corruption/" + cell.corruption + "/" + std::to_string(cell.severity);
  c.label = cell.corruption + ", severity " + std::to_string(cell.severity);
  return c;
}

Condition attack_condition(const AttackCell& cell) {
  Condition c;
  c.kind = ConditionKind::Attack;
  c.name = cell.attack;
  c.norm = cell.norm;
  c.eps = cell.eps;
  c.eps_text = cell.eps_text;
  c.settings = attack_settings(cell);
  // The attack's identity is its spec plus the run's targets (not an option of the attack); reports written
  // before specs are identified by name and settings.
  c.key = cell.spec.empty() ? "attack/" + cell.attack + "/" + cell.norm + "/" + cell.eps_text + "/" + c.settings
                            : "attack/" + cell.spec + (cell.targeted.empty() ? "" : "/targeted " + cell.targeted) + "/" +
                                  cell.norm + "/" + cell.eps_text;
  c.label = upper(cell.attack) + " " + cell.norm + " " + cell.eps_text;
  return c;
}

// A cascade's robust accuracy after one of its stages (the last stage is the cell itself).
Condition stage_condition(const AttackCell& cell, size_t stage) {
  Condition c = attack_condition(cell);
  const auto stage_spec = cell.stages[stage].spec;
  const auto stage_name = stage_spec.substr(0, stage_spec.find(':'));
  c.name = cell.attack + " after " + stage_name;
  c.settings = "stage " + std::to_string(stage + 1) + " of " + std::to_string(cell.stages.size()) + ": " + stage_spec;
  c.key += "/stage " + std::to_string(stage + 1);
  c.label = upper(cell.attack) + " after " + upper(stage_name) + " " + cell.norm + " " + cell.eps_text;
  return c;
}

Condition worst_condition(const WorstCaseCell& cell) {
  Condition c;
  c.kind = ConditionKind::WorstCase;
  c.name = "worst case";
  c.norm = cell.norm;
  c.eps = cell.eps;
  c.eps_text = cell.eps_text;
  c.settings = join(cell.attacks, "+");
  c.key = "worst/" + cell.norm + "/" + cell.eps_text + "/" + c.settings;
  c.label = "worst case " + cell.norm + " " + cell.eps_text;
  return c;
}

void collect(Comparison& c) {
  Builder b(c);
  const int clean = b.condition_index(clean_condition());
  for (int r = 0; r < static_cast<int>(c.inputs.size()); ++r) {
    const auto& in = c.inputs[r];
    for (size_t i = 0; i < in.models.size(); ++i) {
      const auto& info = in.models[i];
      const int model = b.model_index(info, r);
      const auto& cr = in.clean[i];
      b.add(model, clean, r, cr.n, cr.accuracy, cr.correct_mask, "model " + info.name + " clean", &cr.calibration);
      for (const auto& cell : in.corruption_cells)
        if (cell.model == info.name)
          b.add(model, b.condition_index(corruption_condition(cell)), r, cell.n, cell.accuracy, cell.correct_mask,
                "model " + info.name + " " + cell.corruption + " severity " + std::to_string(cell.severity), &cell.calibration);
      for (const auto& cell : in.attack_cells)
        if (cell.model == info.name)
          b.add(model, b.condition_index(attack_condition(cell)), r, cell.n, cell.robust_accuracy, cell.robust_mask,
                "model " + info.name + " " + cell.attack + " eps " + cell.eps_text);
      for (const auto& cell : in.attack_cells)
        if (cell.model == info.name)
          for (size_t k = 0; k + 1 < cell.stages.size(); ++k)
            b.add(model, b.condition_index(stage_condition(cell, k)), r, cell.n, cell.stages[k].robust_accuracy,
                  cell.stages[k].robust_mask, "model " + info.name + " " + cell.attack + " stage " + std::to_string(k + 1) + " eps " + cell.eps_text);
      for (const auto& cell : in.worst_case)
        if (cell.model == info.name)
          b.add(model, b.condition_index(worst_condition(cell)), r, static_cast<int64_t>(cell.robust_mask.size()),
                cell.robust_accuracy, cell.robust_mask, "model " + info.name + " worst case eps " + cell.eps_text);
    }
  }
  b.sort_conditions();
}

// Two different checkpoints under one name are two models; their names get the checkpoint hash.
void disambiguate_names(Comparison& c) {
  std::map<std::string, int> count;
  for (const auto& m : c.models) ++count[m.name];
  for (auto& m : c.models)
    if (count[m.name] > 1) m.display = m.name + " [" + m.sha256.substr(0, 8) + "]";
}

void choose_baseline(Comparison& c) {
  const auto& wanted = c.options.baseline;
  if (!wanted.empty()) {
    std::vector<std::string> names;
    for (size_t i = 0; i < c.models.size(); ++i) {
      if (c.models[i].display == wanted || c.models[i].name == wanted) {
        c.baseline = static_cast<int>(i);
        c.baseline_reason = "chosen with --baseline";
        return;
      }
      names.push_back(c.models[i].display);
    }
    throw UsageError("--baseline '" + wanted + "' is not one of the models (" + join(names, ", ") + ")");
  }
  for (const auto& in : c.inputs) {
    if (!in.has_corruptions || in.corruption_config.baseline.empty()) continue;
    for (size_t i = 0; i < c.models.size(); ++i)
      if (c.models[i].name == in.corruption_config.baseline) {
        c.baseline = static_cast<int>(i);
        c.baseline_reason = "the CE baseline of " + in.path;
        return;
      }
  }
  c.baseline = 0;
  c.baseline_reason = "the first model of the first report";
}

const ReportPairing& pairing(const Comparison& c, int a, int b) {
  for (const auto& p : c.pairings)
    if ((p.a == a && p.b == b) || (p.a == b && p.b == a)) return p;
  throw Error("internal: no pairing for inputs " + std::to_string(a) + ", " + std::to_string(b));
}

bool can_pair(const Comparison& c, int a, int b) { return a == b || pairing(c, a, b).pairable; }

std::vector<int> measurements_of(const Comparison& c, int model, int condition) {
  std::vector<int> out;
  for (size_t i = 0; i < c.measurements.size(); ++i)
    if (c.measurements[i].model == model && c.measurements[i].condition == condition) out.push_back(static_cast<int>(i));
  return out;
}

Delta make_delta(const Comparison& c, const Measurement& m, const Measurement& b) {
  Delta d;
  d.model = m.model;
  d.baseline = b.model;
  d.condition = m.condition;
  d.report_model = m.report;
  d.report_baseline = b.report;
  d.n_model = m.n;
  d.n_baseline = b.n;
  d.acc_model = m.accuracy;
  d.acc_baseline = b.accuracy;
  d.diff = m.accuracy - b.accuracy;
  d.paired = can_pair(c, m.report, b.report) && m.n == b.n;
  if (d.paired) {
    const Discordance dis = discordance(b.mask, m.mask);
    d.baseline_only = dis.a_only;
    d.model_only = dis.b_only;
    const std::string key = c.models[m.model].display + "|" + c.models[b.model].display + "|" + c.conditions[m.condition].key;
    d.ci = paired_bootstrap_ci(dis, c.options.bootstrap, keyed_seed(c.options.seed, key), c.options.level);
    d.p = mcnemar_exact_p(dis.a_only, dis.b_only);
    d.test = "McNemar exact";
  } else {
    d.unpaired_reason = join(pairing(c, m.report, b.report).reasons, "; ");
    d.ci = newcombe_interval(m.correct, m.n, b.correct, b.n, c.options.level);
    d.p = two_proportion_p(m.correct, m.n, b.correct, b.n);
    d.test = "two-proportion z (unpaired)";
  }
  return d;
}

void compute_deltas(Comparison& c) {
  for (int model = 0; model < static_cast<int>(c.models.size()); ++model) {
    if (model == c.baseline) continue;
    const size_t first = c.deltas.size();
    for (int cond = 0; cond < static_cast<int>(c.conditions.size()); ++cond) {
      const auto mine = measurements_of(c, model, cond), base = measurements_of(c, c.baseline, cond);
      if (mine.empty() || base.empty()) continue;
      // Prefer the same report (paired by construction), then a pairable pair, then the most samples.
      int best_m = -1, best_b = -1;
      std::tuple<int, int64_t> best_score{-1, 0};
      for (int i : mine)
        for (int j : base) {
          const auto& x = c.measurements[i];
          const auto& y = c.measurements[j];
          const int rank = x.report == y.report ? 2 : can_pair(c, x.report, y.report) ? 1 : 0;
          const std::tuple<int, int64_t> score{rank, std::min(x.n, y.n)};
          if (score > best_score) {
            best_score = score;
            best_m = i;
            best_b = j;
          }
        }
      c.deltas.push_back(make_delta(c, c.measurements[best_m], c.measurements[best_b]));
    }
    std::vector<double> p;
    for (size_t i = first; i < c.deltas.size(); ++i) p.push_back(c.deltas[i].p);
    const auto adjusted = holm_adjust(p);
    for (size_t i = first; i < c.deltas.size(); ++i) {
      auto& d = c.deltas[i];
      d.p_holm = adjusted[i - first];
      d.significant = d.p_holm < c.options.alpha;
      if (!d.paired) c.all_paired = false;
    }
  }
}

void choose_primary(Comparison& c) {
  c.primary.assign(c.models.size(), std::vector<int>(c.conditions.size(), -1));
  for (size_t i = 0; i < c.measurements.size(); ++i) {
    const auto& m = c.measurements[i];
    int& slot = c.primary[m.model][m.condition];
    if (slot < 0 || m.n > c.measurements[slot].n) slot = static_cast<int>(i);
  }
}

void check_consistency(Comparison& c) {
  // The same model's clean predictions on the same data must agree wherever two reports overlap.
  for (int model = 0; model < static_cast<int>(c.models.size()); ++model) {
    const auto list = measurements_of(c, model, 0);
    for (size_t i = 0; i < list.size(); ++i)
      for (size_t j = i + 1; j < list.size(); ++j) {
        const auto& a = c.measurements[list[i]];
        const auto& b = c.measurements[list[j]];
        if (c.inputs[a.report].dataset.fingerprint != c.inputs[b.report].dataset.fingerprint) continue;
        const int64_t n = std::min(a.n, b.n);
        int64_t differ = 0;
        for (int64_t k = 0; k < n; ++k) differ += a.mask[k] != b.mask[k];
        if (differ)
          c.warnings.push_back(c.models[model].display + ": clean correctness differs between " + c.inputs[a.report].path +
                               " and " + c.inputs[b.report].path + " on " + std::to_string(differ) + " of the first " +
                               std::to_string(n) + " samples (different preprocessing or a non-deterministic evaluation)");
      }
  }
  // Attacks run with different settings are different conditions: say so rather than merge them.
  std::map<std::string, std::set<std::string>> settings;
  for (const auto& cond : c.conditions)
    if (cond.kind == ConditionKind::Attack) settings[cond.label].insert(cond.settings);
  for (auto& cond : c.conditions)
    if (cond.kind == ConditionKind::Attack && settings[cond.label].size() > 1) cond.label += " (" + cond.settings + ")";
  for (const auto& [label, s] : settings)
    if (s.size() > 1)
      c.warnings.push_back(label + " was run with " + std::to_string(s.size()) +
                           " different settings; they are kept apart as different conditions");
  // Unpaired deltas, one line per pair of source reports.
  std::map<std::pair<int, int>, int> unpaired;
  for (const auto& d : c.deltas)
    if (!d.paired) ++unpaired[{d.report_model, d.report_baseline}];
  for (const auto& [reports, count] : unpaired) {
    const auto& p = pairing(c, reports.first, reports.second);
    c.warnings.push_back(std::to_string(count) + " comparison(s) between " + c.inputs[reports.first].path + " and " +
                         c.inputs[reports.second].path + " are UNPAIRED: " + join(p.reasons, "; ") +
                         ". Their intervals and tests treat the samples as independent (Newcombe interval, z-test).");
  }
}

std::vector<int> conditions_of(const Comparison& c, ConditionKind kind) {
  std::vector<int> out;
  for (size_t i = 0; i < c.conditions.size(); ++i)
    if (c.conditions[i].kind == kind) out.push_back(static_cast<int>(i));
  return out;
}

// The measurement of (model, condition) from a given report, or nullptr.
const Measurement* measurement_in(const Comparison& c, int model, int condition, int report) {
  for (const auto& m : c.measurements)
    if (m.model == model && m.condition == condition && m.report == report) return &m;
  return nullptr;
}

void compute_corruption_errors(Comparison& c) {
  std::vector<std::string> names;
  for (int cond : conditions_of(c, ConditionKind::Corruption))
    if (std::find(names.begin(), names.end(), c.conditions[cond].name) == names.end()) names.push_back(c.conditions[cond].name);
  const size_t models = c.models.size();
  for (const auto& name : names) {
    CorruptionErrorRow row;
    row.corruption = name;
    row.ce.assign(models, kNaN);
    row.relative_ce.assign(models, kNaN);
    row.mean_accuracy.assign(models, kNaN);
    row.error_auc.assign(models, kNaN);
    std::vector<int> conds;
    for (int cond : conditions_of(c, ConditionKind::Corruption))
      if (c.conditions[cond].name == name) {
        conds.push_back(cond);
        row.group = c.conditions[cond].group;
      }
    for (size_t m = 0; m < models; ++m) {
      double err = 0, base_err = 0, rel = 0, base_rel = 0, acc = 0;
      int measured = 0, shared = 0;
      bool relative_ok = true;
      std::vector<std::pair<int, double>> curve;
      for (int cond : conds) {
        const Measurement* mine = primary_measurement(c, static_cast<int>(m), cond);
        if (!mine) continue;
        acc += mine->accuracy;
        ++measured;
        curve.emplace_back(c.conditions[cond].severity, 1 - mine->accuracy);
        const Measurement* base = primary_measurement(c, c.baseline, cond);
        if (!base) continue;
        ++shared;
        err += 1 - mine->accuracy;
        base_err += 1 - base->accuracy;
        const Measurement* clean = measurement_in(c, static_cast<int>(m), 0, mine->report);
        const Measurement* base_clean = measurement_in(c, c.baseline, 0, base->report);
        if (!clean || !base_clean) {
          relative_ok = false;
          continue;
        }
        rel += (1 - mine->accuracy) - (1 - clean->accuracy);
        base_rel += (1 - base->accuracy) - (1 - base_clean->accuracy);
      }
      if (measured) row.mean_accuracy[m] = acc / measured;
      const double auc = error_auc(curve);
      if (auc >= 0) row.error_auc[m] = auc;
      if (shared && base_err > 0) row.ce[m] = err / base_err;
      if (shared && relative_ok && base_rel > 0) row.relative_ce[m] = rel / base_rel;
    }
    c.corruption_errors.push_back(std::move(row));
  }
}

void compute_calibration(Comparison& c) {
  const auto corruption_conds = conditions_of(c, ConditionKind::Corruption);
  for (int m = 0; m < static_cast<int>(c.models.size()); ++m) {
    ModelCalibration mc;
    if (const Measurement* clean = primary_measurement(c, m, 0)) mc.clean = clean->calibration;
    double ece = 0, adaptive = 0, nll = 0, brier = 0;
    for (int cond : corruption_conds) {
      const Measurement* cell = primary_measurement(c, m, cond);
      if (!cell || cell->calibration.n == 0) continue;
      ++mc.corruption_cells;
      ece += cell->calibration.ece;
      adaptive += cell->calibration.adaptive_ece;
      nll += cell->calibration.nll;
      brier += cell->calibration.brier;
      add_bins(mc.corrupted_bins, cell->calibration.bins);
    }
    if (mc.corruption_cells) {
      const double k = mc.corruption_cells;
      mc.mean_ece = ece / k;
      mc.mean_adaptive_ece = adaptive / k;
      mc.mean_nll = nll / k;
      mc.mean_brier = brier / k;
    }
    c.calibration.push_back(std::move(mc));
  }
}

double mean_defined(const std::vector<double>& v) {
  double sum = 0;
  int n = 0;
  for (double x : v)
    if (!std::isnan(x)) {
      sum += x;
      ++n;
    }
  return n ? sum / n : kNaN;
}

HeadlineRow condition_row(const Comparison& c, int cond, const std::string& label) {
  HeadlineRow row;
  row.label = label;
  row.kind = "accuracy";
  std::set<int64_t> ns;
  for (int m = 0; m < static_cast<int>(c.models.size()); ++m) {
    HeadlineCell cell;
    if (const Measurement* p = primary_measurement(c, m, cond)) {
      cell.value = p->accuracy;
      ns.insert(p->n);
    }
    if (const Delta* d = find_delta(c, m, cond)) {
      cell.diff = d->diff;
      cell.ci = d->ci;
      cell.p_holm = d->p_holm;
      cell.paired = d->paired;
      cell.significant = d->significant;
    }
    row.cells.push_back(cell);
  }
  std::vector<std::string> n_text;
  for (auto n : ns) n_text.push_back(std::to_string(n));
  row.note = "n = " + join(n_text, " / ");
  return row;
}

// Mean accuracy over the standard corruption cells (all cells when no standard one was run), with a
// paired bootstrap of the per-sample mean over cells when both models' cells come from one pairable report pair.
HeadlineRow mean_corruption_row(const Comparison& c) {
  std::vector<int> conds;
  for (int cond : conditions_of(c, ConditionKind::Corruption))
    if (c.conditions[cond].group == "standard") conds.push_back(cond);
  const bool standard = !conds.empty();
  if (!standard) conds = conditions_of(c, ConditionKind::Corruption);
  std::set<std::string> names;
  for (int cond : conds) names.insert(c.conditions[cond].name);
  HeadlineRow row;
  row.label = "mean corrupted accuracy";
  row.kind = "accuracy";
  row.note = std::to_string(names.size()) + (standard ? " standard" : "") + " corruptions, " + std::to_string(conds.size()) + " cells";
  for (int m = 0; m < static_cast<int>(c.models.size()); ++m) {
    HeadlineCell cell;
    std::vector<const Measurement*> mine, base;
    for (int cond : conds) {
      mine.push_back(primary_measurement(c, m, cond));
      base.push_back(primary_measurement(c, c.baseline, cond));
    }
    const bool complete = std::all_of(mine.begin(), mine.end(), [](auto* p) { return p != nullptr; });
    if (complete) {
      double sum = 0;
      for (auto* p : mine) sum += p->accuracy;
      cell.value = sum / static_cast<double>(mine.size());
    }
    const bool base_complete = std::all_of(base.begin(), base.end(), [](auto* p) { return p != nullptr; });
    if (m != c.baseline && complete && base_complete) {
      double base_sum = 0;
      for (auto* p : base) base_sum += p->accuracy;
      cell.diff = cell.value - base_sum / static_cast<double>(base.size());
      bool paired = true;
      for (size_t k = 0; k < mine.size(); ++k)
        paired = paired && mine[k]->n == base[k]->n && mine[k]->n == mine[0]->n && can_pair(c, mine[k]->report, base[k]->report);
      cell.paired = paired;
      if (paired) {
        std::vector<double> per_sample(static_cast<size_t>(mine[0]->n), 0.0);
        for (size_t k = 0; k < mine.size(); ++k)
          for (size_t i = 0; i < per_sample.size(); ++i)
            per_sample[i] += static_cast<double>(mine[k]->mask[i]) - static_cast<double>(base[k]->mask[i]);
        for (auto& v : per_sample) v /= static_cast<double>(mine.size());
        const std::string key = c.models[m].display + "|" + c.models[c.baseline].display + "|mean corrupted accuracy";
        cell.ci = bootstrap_mean_ci(per_sample, c.options.bootstrap, keyed_seed(c.options.seed, key), c.options.level);
        cell.significant = cell.ci.lo > 0 || cell.ci.hi < 0;
      }
    }
    row.cells.push_back(cell);
  }
  return row;
}

void build_headline(Comparison& c) {
  c.headline.push_back(condition_row(c, 0, "clean accuracy"));
  if (!conditions_of(c, ConditionKind::Corruption).empty()) {
    c.headline.push_back(mean_corruption_row(c));
    const std::string base = c.models[c.baseline].display;
    HeadlineRow mce{"mCE vs " + base, "ce", "standard corruptions; baseline = 100 %", {}};
    HeadlineRow rel{"relative mCE vs " + base, "ce", "corruption error minus clean error", {}};
    bool any_standard = false;
    for (const auto& row : c.corruption_errors) any_standard = any_standard || row.group == "standard";
    for (size_t m = 0; m < c.models.size(); ++m) {
      std::vector<double> ce, rce;
      for (const auto& row : c.corruption_errors)
        if (row.group == "standard" || !any_standard) {
          ce.push_back(row.ce[m]);
          rce.push_back(row.relative_ce[m]);
        }
      HeadlineCell a, b;
      a.value = mean_defined(ce);
      b.value = mean_defined(rce);
      mce.cells.push_back(a);
      rel.cells.push_back(b);
    }
    if (!any_standard) mce.note = rel.note = "extra corruptions only";
    c.headline.push_back(mce);
    c.headline.push_back(rel);
    // A reference baseline outside the compared models (e.g. AlexNet on ImageNet-C): as the report computed it.
    for (const auto& in : c.inputs) {
      const auto& ref = in.corruption_config.baseline;
      if (!in.has_corruptions || ref.empty()) continue;
      if (std::any_of(c.models.begin(), c.models.end(), [&](const auto& m) { return m.name == ref; })) continue;
      HeadlineRow row{"mCE vs " + ref + " (as reported)", "ce", in.path, {}};
      for (const auto& model : c.models) {
        HeadlineCell cell;
        for (const auto& s : in.corruption_summaries)
          if (s.model == model.name && s.mce >= 0) cell.value = s.mce;
        row.cells.push_back(cell);
      }
      c.headline.push_back(row);
    }
  }
  for (int cond : conditions_of(c, ConditionKind::Attack))
    if (c.conditions[cond].eps > 0) c.headline.push_back(condition_row(c, cond, c.conditions[cond].label));
  for (int cond : conditions_of(c, ConditionKind::WorstCase))
    if (c.conditions[cond].eps > 0)
      c.headline.push_back(condition_row(c, cond, c.conditions[cond].label + " (" + c.conditions[cond].settings + ")"));
}

}  // namespace

const Measurement* primary_measurement(const Comparison& c, int model, int condition) {
  const int i = c.primary.at(model).at(condition);
  return i < 0 ? nullptr : &c.measurements[i];
}

const Delta* find_delta(const Comparison& c, int model, int condition) {
  for (const auto& d : c.deltas)
    if (d.model == model && d.condition == condition) return &d;
  return nullptr;
}

Comparison compare_reports(std::vector<InputReport> inputs, const CompareOptions& options) {
  QB_USAGE_CHECK(!inputs.empty(), "compare needs at least one report");
  QB_USAGE_CHECK(options.bootstrap >= 10, "--bootstrap must be >= 10, got " << options.bootstrap);
  Comparison c;
  c.options = options;
  c.inputs = std::move(inputs);
  for (int a = 0; a < static_cast<int>(c.inputs.size()); ++a)
    for (int b = a + 1; b < static_cast<int>(c.inputs.size()); ++b) c.pairings.push_back(check_pairing(c.inputs[a], c.inputs[b], a, b));
  collect(c);
  disambiguate_names(c);
  if (c.models.size() < 2) {
    std::vector<std::string> paths;
    for (const auto& in : c.inputs) paths.push_back(in.path);
    throw Error("compare needs at least two models; " + join(paths, ", ") + " hold only '" + c.models[0].display + "'");
  }
  choose_baseline(c);
  choose_primary(c);
  compute_deltas(c);
  check_consistency(c);
  compute_corruption_errors(c);
  compute_calibration(c);
  build_headline(c);
  c.diagnostics = compare_diagnostics(c);
  return c;
}

}  // namespace questbench
