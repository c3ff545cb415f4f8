#include "reports/diagnostics.h"

#include "common/error.h"
#include "common/exact_sum.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace questbench {

std::vector<double> diagnostics_column_values(const LayerDiagnostics& d, int column) {
  const int64_t n = diagnostics_samples(d), width = diagnostics_row_size(d);
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = d.values[static_cast<size_t>(i * width + column)];
  return out;
}

AttentionDiagnostics layer_summary(const LayerDiagnostics& d) {
  namespace col = diagnostics_column;
  AttentionDiagnostics s;
  const int64_t n = diagnostics_samples(d), width = diagnostics_row_size(d);
  if (n == 0) return s;
  // Sums of per-sample values on the exact grid: the same bits for any order of the samples' rows.
  std::vector<double> sums(static_cast<size_t>(width), 0.0);
  double logits_max = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < n; ++i) {
    const float* row = d.values.data() + i * width;
    for (int64_t c = 0; c < width; ++c) sums[static_cast<size_t>(c)] += exact_sum_term(row[c]);
    logits_max = std::max(logits_max, static_cast<double>(row[col::kLogitsMax]));
  }
  const double count = static_cast<double>(n);
  s.entropy_mean = sums[col::kEntropy] / count;
  s.attn_max_mean = sums[col::kAttnMax] / count;
  s.q_norm_mean = sums[col::kQNorm] / count;
  s.k_norm_mean = sums[col::kKNorm] / count;
  for (int64_t h = 0; h < d.heads; ++h) s.entropy_per_head.push_back(sums[static_cast<size_t>(col::kFirstHead + h)] / count);
  s.logits_max = logits_max;
  // Law of total variance: the mean of the samples' own variances plus the variance of their means, then
  // Bessel's correction over all n x logits_per_sample logits (torch's std, as the reference computes it).
  const double grand_mean = sums[col::kLogitsMean] / count;
  double between = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double dev = exact_sum_term(d.values[static_cast<size_t>(i * width + col::kLogitsMean)]) - grand_mean;
    between += exact_sum_term(dev * dev);
  }
  const double population = (sums[col::kLogitsVariance] + between) / count;
  const double total = count * static_cast<double>(d.logits_per_sample);
  s.logits_std = std::sqrt(std::max(0.0, population * (total > 1 ? total / (total - 1) : 1.0)));
  return s;
}

void append_diagnostics(std::vector<LayerDiagnostics>& into, const std::vector<LayerDiagnostics>& part, const std::string& what) {
  if (part.empty()) {
    QB_CHECK(into.empty(), what << ": attention diagnostics in one part and not in another");
    return;
  }
  if (into.empty()) {
    into = part;
    return;
  }
  QB_CHECK(into.size() == part.size(), what << ": attention diagnostics of " << into.size() << " and " << part.size() << " layers");
  for (size_t l = 0; l < into.size(); ++l) {
    QB_CHECK(into[l].heads == part[l].heads && into[l].logits_per_sample == part[l].logits_per_sample,
             what << ": layer " << l << "'s attention diagnostics have different layouts");
    into[l].values.insert(into[l].values.end(), part[l].values.begin(), part[l].values.end());
  }
}

}  // namespace questbench
