// Corruption-benchmark metrics (Hendrycks & Dietterich, ICLR 2019; RobustBench's field names):
//   E_{c,s}        top-1 error on corruption c at severity s (fraction)
//   CE_c           = Σ_s E_{c,s} / Σ_s E^base_{c,s}                 (over the severities evaluated)
//   relative CE_c  = Σ_s (E_{c,s} − E_clean) / Σ_s (E^base_{c,s} − E^base_clean)
//   mCE, relative mCE: means of CE_c / relative CE_c over the 15 standard corruptions evaluated
//   mean corruption accuracy (RobustBench `corruptions_acc`): unweighted mean of the standard cells' accuracies
//   error AUC_c    area under E_{c,s} over the severities s evaluated (ascending), trapezoid rule, divided by the
//                  severity span: for s = 1..5, (1/4) * sum_{s=2..5} (E_{c,s-1} + E_{c,s}) / 2, Hendrycks'
//                  `auc` in the ImageNet-C code; undefined (-1) for fewer than two severities
// The 4 extras get the same numbers separately. CE is undefined (-1) without a baseline or where the baseline's
// denominator is 0 (relative CE also where it is negative: a baseline that does not degrade).
#pragma once

#include "reports/report.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace questbench {

// The errors CE is normalized by: per (corruption, severity), plus the clean error (-1: unknown).
struct CorruptionBaseline {
  std::string name;
  double clean_error = -1;
  std::map<std::pair<std::string, int>, double> errors;
};

// The published AlexNet ImageNet-C errors (released ImageNet-C JPEGs, torchvision AlexNet; clean error 0.4348).
CorruptionBaseline alexnet_imagenet_baseline();

// The area under the error-vs-severity curve of (severity, error) points in any order (see above); -1 when
// fewer than two distinct severities.
double error_auc(std::vector<std::pair<int, double>> errors_by_severity);

// A baseline from one evaluated model's cells (its clean result may be empty: n = 0).
CorruptionBaseline baseline_from_model(const std::string& model, const CleanResult& clean, const std::vector<CorruptionCell>& cells);

// Summary of one model. `group_of` gives "standard" | "extra" per corruption; cells of other models are ignored.
// `baseline` may be null (no CE). Corruptions appear in the order of their first cell.
CorruptionModelSummary summarize_corruptions(const std::string& model, const CleanResult& clean,
                                             const std::vector<CorruptionCell>& cells, const CorruptionBaseline* baseline);

// The report's summaries, one per model, from its clean results, cells and config.baseline ("" no CE,
// "alexnet-imagenet", or one of its models' names).
std::vector<CorruptionModelSummary> summarize_report(const CorruptionReport& report);

}  // namespace questbench
