// The attention diagnostics of a comparison (runs with --diagnostics): per model, layer and condition (clean,
// corruption x severity, corruption mean over severities, attack x eps on the adversarial examples), the
// layer's numbers and their paired change from the same model's clean samples, with the percentile bootstrap
// interval the comparison uses; and sentences, computed from those numbers, saying per layer how key norms
// and entropy move under each corruption and attack.
#pragma once

#include "models/model_info.h"
#include "reports/stats.h"

#include <limits>
#include <string>
#include <vector>

namespace questbench {

struct Comparison;

struct DiagnosticsCondition {
  std::string kind;   // "clean" | "corruption" | "corruption mean" | "attack"
  std::string label;  // "clean", "gaussian_noise s5", "gaussian_noise (mean over s1-5)", "pgd Linf 8/255"
  std::string short_label;  // in sentences: "gaussian_noise s5", "pgd Linf 8/255"
  double level = 0;         // severity or eps (the sentences speak of each corruption's and attack's largest)
};

// One model at one condition in one layer.
struct DiagnosticsValue {
  bool present = false;
  int64_t n = 0;
  AttentionDiagnostics summary;  // block_out_* not recorded
  // Paired against the same model's clean samples of the same report (not for clean, nor when the sample
  // counts differ): mean change of a sample's entropy (nats) and of its mean key norm as a fraction of the
  // clean mean key norm. Intervals only for corruption means and attacks (per severity: the point values).
  bool paired = false;
  double entropy_change = std::numeric_limits<double>::quiet_NaN();
  double k_norm_change = std::numeric_limits<double>::quiet_NaN();
  Interval entropy_ci{std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
  Interval k_norm_ci{std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
};

struct DiagnosticsComparison {
  std::vector<int> models;  // indices into Comparison::models that carry diagnostics
  int layers = 0;
  std::vector<DiagnosticsCondition> conditions;
  std::vector<std::vector<std::vector<DiagnosticsValue>>> values;  // [condition][k over models][layer]
  std::vector<std::vector<std::string>> sentences;                  // [layer]
  bool empty() const { return models.empty(); }
};

// Builds the diagnostics part of a comparison from its inputs (empty when no input holds diagnostics).
DiagnosticsComparison compare_diagnostics(const Comparison& c);

// A layer's table as both renderers show it: header and rows of text.
std::vector<std::string> diagnostics_table_header(const Comparison& c);
std::vector<std::vector<std::string>> diagnostics_table_rows(const Comparison& c, int layer);

}  // namespace questbench
