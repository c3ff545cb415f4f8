#include "bench/merge.h"

#include "bench/attack_runner.h"
#include "common/error.h"
#include "reports/calibration.h"
#include "reports/corruption_metrics.h"
#include "reports/diagnostics.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace questbench {
namespace {

std::string shard_text(const ShardInfo& s) { return std::to_string(s.index) + "/" + std::to_string(s.count); }

// The parts in shard order, after checking they are the whole of one plan.
template <typename Report>
std::vector<const Report*> ordered_parts(const std::vector<Report>& parts, const std::vector<std::string>& names) {
  QB_USAGE_CHECK(!parts.empty(), "merge: no partial reports given");
  for (size_t k = 0; k < parts.size(); ++k)
    QB_CHECK(parts[k].context.shard.count > 0, names[k] << ": not a partial report (it has no shard block; write parts with --shard I/N)");
  const auto& first = parts[0].context.shard;
  std::map<int, size_t> by_index;
  for (size_t k = 0; k < parts.size(); ++k) {
    const auto& s = parts[k].context.shard;
    QB_CHECK(s.count == first.count, names[k] << ": shard " << shard_text(s) << " belongs to a split into " << s.count << ", "
                                              << names[0] << " to one into " << first.count);
    QB_CHECK(s.plan_fingerprint == first.plan_fingerprint,
             names[k] << ": from another run than " << names[0] << " (plan fingerprints differ: other models, data, options or samples)");
    QB_CHECK(s.plan_begin == first.plan_begin && s.plan_end == first.plan_end,
             names[k] << ": plans samples [" << s.plan_begin << ", " << s.plan_end << "), " << names[0] << " [" << first.plan_begin
                      << ", " << first.plan_end << ")");
    const auto [it, fresh] = by_index.emplace(s.index, k);
    QB_CHECK(fresh, names[k] << ": shard " << shard_text(s) << " is given twice (also " << names[it->second] << ")");
  }
  for (int i = 0; i < first.count; ++i)
    QB_CHECK(by_index.count(i), "merge: shard " << i << "/" << first.count << " is missing (" << parts.size() << " of " << first.count
                                                << " parts given)");
  std::vector<const Report*> ordered;
  int64_t next = first.plan_begin;
  for (const auto& [index, k] : by_index) {
    const auto& s = parts[k].context.shard;
    QB_CHECK(s.begin == next, names[k] << ": shard " << shard_text(s) << " covers samples [" << s.begin << ", " << s.end
                                       << ") but the parts before it end at " << next << (s.begin < next ? " (overlap)" : " (gap)"));
    next = s.end;
    ordered.push_back(&parts[k]);
  }
  QB_CHECK(next == first.plan_end, "merge: the parts end at sample " << next << ", the plan at " << first.plan_end);
  return ordered;
}

template <typename T>
void append(std::vector<T>& to, const std::vector<T>& from) {
  to.insert(to.end(), from.begin(), from.end());
}

// The context of the joined run: the first part's, with the timings of all parts (wall time: the longest
// part; stage seconds: summed over parts, as CPU-like totals) and the count of processes.
RunContext merge_contexts(const std::vector<const RunContext*>& parts) {
  RunContext c = *parts[0];
  c.shard = {};
  c.world_size = 0;
  c.stage_seconds.clear();
  for (const auto* p : parts) {
    c.world_size += std::max(1, p->world_size);
    c.start_time = std::min(c.start_time, p->start_time);
    c.end_time = std::max(c.end_time, p->end_time);
    c.wall_time_s = std::max(c.wall_time_s, p->wall_time_s);
    for (const auto& [stage, seconds] : p->stage_seconds) c.stage_seconds[stage] += seconds;
  }
  return c;
}

template <typename Report>
void check_same_models(const std::vector<const Report*>& parts) {
  for (const auto* p : parts) {
    QB_CHECK(p->models.size() == parts[0]->models.size(), "merge: the parts hold different models");
    for (size_t m = 0; m < p->models.size(); ++m)
      QB_CHECK(p->models[m].name == parts[0]->models[m].name && p->models[m].sha256 == parts[0]->models[m].sha256,
               "merge: the parts hold different models ('" << p->models[m].name << "' vs '" << parts[0]->models[m].name << "')");
  }
}

DatasetInfo merged_dataset(const DatasetInfo& first, int64_t evaluated) {
  DatasetInfo d = first;
  d.evaluated = evaluated;
  return d;
}

// What a cell and a cascade stage share, joined: pass counts and seconds add, the (exact) norm sums add, maxima
// take the larger, robust masks concatenate. `to` starts empty.
template <typename T>
void add_part(T& to, const T& part) {
  to.forwards += part.forwards;
  to.backwards += part.backwards;
  to.seconds += part.seconds;
  to.sum_linf += part.sum_linf;
  to.sum_l2 += part.sum_l2;
  to.max_linf = std::max(to.max_linf, part.max_linf);
  to.max_l2 = std::max(to.max_l2, part.max_l2);
  to.non_finite += part.non_finite;
  append(to.robust_mask, part.robust_mask);
}

template <typename T>
void clear_sums(T& t) {
  t.forwards = t.backwards = 0;
  t.seconds = t.sum_linf = t.sum_l2 = t.max_linf = t.max_l2 = 0;
  t.non_finite = 0;
  t.robust_mask.clear();
}

AttackStage merge_stages(const std::vector<const AttackStage*>& parts, int64_t n) {
  AttackStage s = *parts[0];
  clear_sums(s);
  s.attacked = 0;
  for (const auto* p : parts) {
    QB_CHECK(p->spec == s.spec, "merge: cascade stages differ between parts (" << p->spec << " vs " << s.spec << ")");
    s.attacked += p->attacked;
    add_part(s, *p);
  }
  int64_t robust = 0;
  for (auto v : s.robust_mask) robust += v;
  s.robust_accuracy = static_cast<double>(robust) / static_cast<double>(n);
  return s;
}

AttackCell merge_attack_cells(const std::vector<const AttackCell*>& parts, const CleanResult& clean) {
  AttackCell c = *parts[0];
  clear_sums(c);
  c.n = c.gradient_evaluations = 0;
  c.diagnostics.clear();
  int64_t zero_gradient_samples = 0;
  for (const auto* p : parts) {
    QB_CHECK(p->model == c.model && p->spec == c.spec && p->eps_text == c.eps_text && p->stages.size() == c.stages.size(),
             "merge: the parts' cells differ (" << p->model << " " << p->spec << " eps " << p->eps_text << " vs " << c.model << " "
                                                << c.spec << " eps " << c.eps_text << ")");
    c.n += p->n;
    c.gradient_evaluations += p->gradient_evaluations;
    add_part(c, *p);
    append_diagnostics(c.diagnostics, p->diagnostics, "merge: " + c.model + " " + c.spec + " eps " + c.eps_text);
    // The fraction is a count over the part's samples: the count comes back exactly.
    zero_gradient_samples += std::llround(p->zero_gradient_fraction * static_cast<double>(p->n));
  }
  for (size_t k = 0; k < c.stages.size(); ++k) {
    std::vector<const AttackStage*> stages;
    for (const auto* p : parts) stages.push_back(&p->stages[k]);
    c.stages[k] = merge_stages(stages, c.n);
  }
  int64_t robust = 0, clean_correct = 0, broken = 0;
  for (int64_t i = 0; i < c.n; ++i) {
    robust += c.robust_mask[static_cast<size_t>(i)];
    clean_correct += clean.correct_mask[static_cast<size_t>(i)];
    broken += clean.correct_mask[static_cast<size_t>(i)] && !c.robust_mask[static_cast<size_t>(i)];
  }
  const double n = static_cast<double>(c.n);
  c.robust_accuracy = static_cast<double>(robust) / n;
  c.success_rate = clean_correct ? static_cast<double>(broken) / static_cast<double>(clean_correct) : 0.0;
  c.mean_linf = c.sum_linf / n;
  c.mean_l2 = c.sum_l2 / n;
  c.zero_gradient_fraction = static_cast<double>(zero_gradient_samples) / n;
  return c;
}

CorruptionCell merge_corruption_cells(const std::vector<const CorruptionCell*>& parts) {
  CorruptionCell c = *parts[0];
  c.n = c.correct = c.non_finite = 0;
  c.seconds = 0;
  c.correct_mask.clear();
  c.calibration = {};
  c.diagnostics.clear();
  for (const auto* p : parts) {
    QB_CHECK(p->model == c.model && p->corruption == c.corruption && p->severity == c.severity,
             "merge: the parts' cells differ (" << p->model << " " << p->corruption << " " << p->severity << " vs " << c.model << " "
                                                << c.corruption << " " << c.severity << ")");
    c.n += p->n;
    c.correct += p->correct;
    c.non_finite += p->non_finite;
    c.seconds += p->seconds;
    append(c.correct_mask, p->correct_mask);
    append_calibration(c.calibration, p->calibration, p == parts[0]);
    append_diagnostics(c.diagnostics, p->diagnostics, "merge: " + c.model + " " + c.corruption + " " + std::to_string(c.severity));
  }
  c.accuracy = c.n ? static_cast<double>(c.correct) / static_cast<double>(c.n) : 0.0;
  c.error = 1.0 - c.accuracy;
  return c;
}

template <typename Report, typename Cell>
std::vector<const Cell*> column(const std::vector<const Report*>& parts, std::vector<Cell> Report::*cells, size_t j) {
  std::vector<const Cell*> out;
  for (const auto* p : parts) {
    QB_CHECK((p->*cells).size() == (parts[0]->*cells).size(), "merge: the parts hold different numbers of cells");
    out.push_back(&(p->*cells)[j]);
  }
  return out;
}


// What every merge starts with: the parts checked and ordered, the joined context, the models, and each
// model's clean results joined (`clean` names the report's member that holds them).
template <typename Report>
std::vector<const Report*> merge_head(const std::vector<Report>& all, const std::vector<std::string>& names, Report& r,
                                      std::vector<CleanResult> Report::*clean) {
  const auto parts = ordered_parts(all, names);
  check_same_models(parts);
  std::vector<const RunContext*> contexts;
  for (const auto* p : parts) contexts.push_back(&p->context);
  r.context = merge_contexts(contexts);
  r.models = parts[0]->models;
  for (size_t m = 0; m < r.models.size(); ++m) {
    std::vector<const CleanResult*> results;
    for (const auto* p : parts) results.push_back(&(p->*clean).at(m));
    (r.*clean).push_back(merge_clean_results(results));
  }
  return parts;
}

}  // namespace

CleanResult merge_clean_results(const std::vector<const CleanResult*>& parts) {
  CleanResult r;
  for (const auto* p : parts) {
    r.n += p->n;
    r.correct += p->correct;
    r.loss_sum += p->loss_sum;
    if (r.per_class_n.size() < p->per_class_n.size()) {
      r.per_class_n.resize(p->per_class_n.size(), 0);
      r.per_class_correct.resize(p->per_class_n.size(), 0);
    }
    for (size_t k = 0; k < p->per_class_n.size(); ++k) {
      r.per_class_n[k] += p->per_class_n[k];
      r.per_class_correct[k] += p->per_class_correct[k];
    }
    append(r.correct_mask, p->correct_mask);
    append_calibration(r.calibration, p->calibration, p == parts[0]);
    append_diagnostics(r.diagnostics, p->diagnostics, "merge: clean results");
  }
  if (r.n > 0) {
    r.loss = r.loss_sum / static_cast<double>(r.n);
    r.accuracy = static_cast<double>(r.correct) / static_cast<double>(r.n);
    r.error = 1.0 - r.accuracy;
  }
  return r;
}

EvalReport merge_eval_reports(const std::vector<EvalReport>& all, const std::vector<std::string>& names) {
  EvalReport r;
  const auto parts = merge_head(all, names, r, &EvalReport::results);
  r.dataset = merged_dataset(parts[0]->dataset, r.results.empty() ? 0 : r.results[0].n);
  return r;
}

AttackReport merge_attack_reports(const std::vector<AttackReport>& all, const std::vector<std::string>& names) {
  AttackReport r;
  const auto parts = merge_head(all, names, r, &AttackReport::clean);
  for (size_t j = 0; j < parts[0]->cells.size(); ++j) {
    const auto cells = column(parts, &AttackReport::cells, j);
    size_t m = 0;
    while (m < r.models.size() && r.models[m].name != cells[0]->model) ++m;
    QB_CHECK(m < r.models.size(), "merge: cell of unknown model '" << cells[0]->model << "'");
    r.cells.push_back(merge_attack_cells(cells, r.clean[m]));
  }
  // Per model, as the runner lists them: worst cases, the per-cell checks recomputed on the joined cells, then
  // the probes, which only the first shard ran.
  for (size_t m = 0; m < r.models.size(); ++m) {
    const auto& model = r.models[m].name;
    std::vector<AttackCell> cells;
    for (const auto& c : r.cells)
      if (c.model == model) cells.push_back(c);
    append(r.worst_case, worst_case_cells(cells));
    append(r.sanity, check_attack_cells(model, r.clean[m], cells));
    for (const auto& s : parts[0]->sanity)
      if (s.model == model && is_probe_check(s.name)) r.sanity.push_back(s);
  }
  r.dataset = merged_dataset(parts[0]->dataset, r.clean.empty() ? 0 : r.clean[0].n);
  return r;
}

CorruptionReport merge_corruption_reports(const std::vector<CorruptionReport>& all, const std::vector<std::string>& names) {
  CorruptionReport r;
  const auto parts = merge_head(all, names, r, &CorruptionReport::clean);
  r.config = parts[0]->config;
  for (size_t j = 0; j < parts[0]->cells.size(); ++j) r.cells.push_back(merge_corruption_cells(column(parts, &CorruptionReport::cells, j)));
  r.summaries = summarize_report(r);
  int64_t evaluated = 0;
  for (const auto* p : parts) evaluated += p->dataset.evaluated;
  r.dataset = merged_dataset(parts[0]->dataset, evaluated);
  return r;
}

}  // namespace questbench
