// Number and text formatting shared by the Markdown and HTML renderers, so both print the same strings.
#pragma once

#include "reports/compare.h"

#include <string>
#include <vector>

namespace questbench {

std::string percent(double fraction, int decimals = 2);          // 0.8815 -> "88.15 %"; NaN -> "—"
std::string points(double diff, int decimals = 2);               // +0.0123 -> "+1.23"; NaN -> "—"
std::string interval_points(const Interval& ci, int decimals = 2);  // "[-0.40, +1.10]"
std::string p_value(double p);                                    // "0.0034", "< 1e-6", "—"
std::string fixed(double value, int decimals);
std::string thousands(int64_t n);                                 // 10000 -> "10,000"

// "quest − standard" headers and similar, with the baseline marked.
std::string model_title(const Comparison& c, int model);
std::string delta_title(const Comparison& c, int model);

// The statistics paragraph: which intervals and tests, which correction, and what is unpaired.
std::string methods_text(const Comparison& c);

// Sentences summarising each non-baseline model against the baseline (headline numbers only).
std::vector<std::string> key_findings(const Comparison& c);

// Conditions of one kind, in order.
std::vector<int> conditions_of_kind(const Comparison& c, ConditionKind kind);
// Corruption names in order, and the severities run.
std::vector<std::string> corruption_names(const Comparison& c);
std::vector<int> corruption_severities(const Comparison& c);
int corruption_condition_index(const Comparison& c, const std::string& corruption, int severity);  // -1 if absent

// "fashion-mnist (test split), first 1,000 of 10,000 samples": the data without machine paths.
std::string data_summary(const DatasetInfo& d);

// A table as text cells, rendered by each renderer in its own markup.
struct TextTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  bool empty() const { return rows.empty(); }
};
// Calibration (reports/calibration.h) per model: clean, and the mean over the corruption cells; no rows when
// no input carries calibration data.
TextTable calibration_summary_table(const Comparison& c);
// Per corruption and severity, each model's ECE, adaptive ECE, NLL and Brier score.
TextTable calibration_cells_table(const Comparison& c);
// Per corruption, each model's area under the error-vs-severity curve (reports/corruption_metrics.h).
TextTable error_auc_table(const Comparison& c);

// Short text for a report's settings (attack list and eps, or corruption configuration).
std::string input_settings(const InputReport& in);

}  // namespace questbench
