// Comparison of models across questbench reports (eval, attack, corruption): which measurements can be
// paired, the per-condition deltas of every model against a baseline with confidence intervals and
// tests, and the headline numbers. Plain structs only; rendering is in reports/render.h, the JSON
// summary in reports/format.h. Reads no model and no image: JSON reports in, values out.
//
// Statistics (see reports/stats.h): per condition, paired inputs get a percentile paired bootstrap CI
// of the accuracy difference and an exact McNemar test on the per-sample correctness; unpaired inputs
// get Newcombe's hybrid score CI and a two-proportion z-test. Holm-Bonferroni adjusts the p-values over
// all tests of one (model, baseline) pair.
#pragma once

#include "reports/calibration.h"
#include "reports/diagnostics_compare.h"
#include "reports/report.h"
#include "reports/stats.h"

#include <limits>
#include <string>
#include <vector>

namespace questbench {

// One input report, flattened: the common blocks plus whatever its kind holds.
struct InputReport {
  std::string path;    // as given on the command line
  std::string schema;  // questbench.eval | questbench.attack | questbench.corruption
  int schema_version = 0;
  RunContext context;
  DatasetInfo dataset;
  std::vector<ModelInfo> models;
  std::vector<CleanResult> clean;  // parallel to models
  // questbench.attack
  std::vector<AttackCell> attack_cells;
  std::vector<WorstCaseCell> worst_case;
  std::vector<SanityCheck> sanity;
  // questbench.corruption
  bool has_corruptions = false;
  CorruptionConfig corruption_config;
  std::vector<CorruptionCell> corruption_cells;
  std::vector<CorruptionModelSummary> corruption_summaries;
};

// Reads and validates one report file; throws questbench::Error naming the file and the problem.
InputReport read_input_report(const std::string& path);
InputReport input_from_eval(const std::string& path, const EvalReport& report);
InputReport input_from_attack(const std::string& path, const AttackReport& report);
InputReport input_from_corruption(const std::string& path, const CorruptionReport& report);

// Whether two reports measured the same samples the same way, and if not, why not (one reason each:
// data set fingerprint, evaluated count, seed, corruption settings).
struct ReportPairing {
  int a = 0, b = 0;  // indices into the inputs, a < b
  bool pairable = false;
  std::vector<std::string> reasons;
};
ReportPairing check_pairing(const InputReport& a, const InputReport& b, int index_a, int index_b);

enum class ConditionKind { Clean, Corruption, Attack, WorstCase };

// Where accuracy is measured: clean, a corruption at a severity, an attack at an eps, or the worst case
// over attacks at an eps.
struct Condition {
  ConditionKind kind = ConditionKind::Clean;
  std::string name;      // "clean", the corruption or attack name, or "worst case"
  std::string group;     // corruption group: "standard" | "extra"
  std::string norm;      // attacks and worst case: "Linf" | "L2"
  int severity = 0;      // corruptions
  double eps = 0;        // attacks and worst case
  std::string eps_text;  // e.g. "8/255"
  std::string settings;  // attacks: hyper-parameters; worst case: the attacks combined ("fgsm+pgd")
  std::string key;       // unique, e.g. "corruption/fog/3", "attack/pgd/Linf/8/255/<settings>"
  std::string label;     // for humans, e.g. "fog, severity 3", "PGD Linf 8/255"
};

// One model's accuracy at one condition, as one report measured it.
struct Measurement {
  int model = 0, condition = 0, report = 0;
  int64_t n = 0, correct = 0;
  double accuracy = 0;
  std::vector<uint8_t> mask;  // per sample: correct (clean, corruption) or robust (attack)
  CalibrationMetrics calibration;  // clean and corruption measurements of reports that have it; else n = 0
};

// A model against the baseline at one condition.
struct Delta {
  int model = 0, baseline = 0, condition = 0;
  int report_model = 0, report_baseline = 0;  // which inputs the two measurements came from
  int64_t n_model = 0, n_baseline = 0;
  double acc_model = 0, acc_baseline = 0, diff = 0;  // diff = acc_model - acc_baseline
  Interval ci;
  bool paired = false;
  std::string unpaired_reason;                // why not paired ("" when paired)
  int64_t baseline_only = 0, model_only = 0;  // discordant samples (paired only)
  std::string test;                           // "McNemar exact" | "two-proportion z (unpaired)"
  double p = 1, p_holm = 1;
  bool significant = false;                   // p_holm < alpha
};

struct ComparedModel {
  std::string name, display, sha256, attention, architecture;
  std::vector<int> reports;  // inputs that contain it
};

// One cell of the headline table: a model's value and, for non-baseline models, its delta.
struct HeadlineCell {
  double value = std::numeric_limits<double>::quiet_NaN();
  double diff = std::numeric_limits<double>::quiet_NaN();
  Interval ci{std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
  double p_holm = std::numeric_limits<double>::quiet_NaN();
  bool paired = false, significant = false;
};

struct HeadlineRow {
  std::string label;
  std::string kind;  // "accuracy" (fraction, shown in %) | "ce" (ratio to the baseline, shown in %)
  std::string note;  // e.g. "n = 1000", "15 standard corruptions x 5 severities"
  std::vector<HeadlineCell> cells;  // per model
};

// Corruption error per corruption and model, relative to the baseline model's errors (CE = sum over
// severities of error / the same for the baseline; relative CE subtracts each model's clean error first).
struct CorruptionErrorRow {
  std::string corruption, group;
  std::vector<double> ce, relative_ce, mean_accuracy;  // per model; NaN when undefined / not measured
  std::vector<double> error_auc;  // per model: area under error vs severity (reports/corruption_metrics.h); NaN: undefined
};

// Calibration of one model (reports/calibration.h) from its primary measurements: clean, and over the
// corruption cells that carry calibration data.
struct ModelCalibration {
  CalibrationMetrics clean;  // n = 0: not measured
  int corruption_cells = 0;  // corruption conditions with calibration data
  // Unweighted means over those cells (NaN when there are none).
  double mean_ece = std::numeric_limits<double>::quiet_NaN(), mean_adaptive_ece = std::numeric_limits<double>::quiet_NaN();
  double mean_nll = std::numeric_limits<double>::quiet_NaN(), mean_brier = std::numeric_limits<double>::quiet_NaN();
  std::vector<CalibrationBin> corrupted_bins;  // reliability bins pooled over those cells (empty when none)
  bool any() const { return clean.n > 0 || corruption_cells > 0; }
};

struct CompareOptions {
  std::string baseline;     // model name; "" = the corruption report's CE baseline if it is a model, else the first
  int bootstrap = 2000;     // resamples per paired CI
  uint64_t seed = 0;
  double level = 0.95;      // confidence level of the intervals
  double alpha = 0.05;      // family-wise error rate for "significant" (Holm)
};

struct Comparison {
  CompareOptions options;
  std::vector<InputReport> inputs;
  std::vector<ComparedModel> models;
  int baseline = 0;
  std::string baseline_reason;  // how the baseline was chosen
  std::vector<Condition> conditions;
  std::vector<Measurement> measurements;
  std::vector<std::vector<int>> primary;  // [model][condition]: measurement shown for it, or -1
  std::vector<ReportPairing> pairings;    // every pair of inputs
  std::vector<Delta> deltas;              // non-baseline model x condition, conditions in order
  std::vector<HeadlineRow> headline;
  std::vector<CorruptionErrorRow> corruption_errors;
  std::vector<ModelCalibration> calibration;  // per model
  std::vector<std::string> warnings;      // pairing problems, inconsistent inputs: shown first
  bool all_paired = true;                 // every delta is paired
  DiagnosticsComparison diagnostics;      // attention diagnostics (inputs run with --diagnostics), else empty
};

// Builds the comparison. Throws questbench::Error for inputs that cannot be compared at all (fewer
// than two models, --baseline not among them).
Comparison compare_reports(std::vector<InputReport> inputs, const CompareOptions& options);

// The measurement shown for (model, condition), or nullptr.
const Measurement* primary_measurement(const Comparison& c, int model, int condition);
// The delta of (model, condition) against the baseline, or nullptr.
const Delta* find_delta(const Comparison& c, int model, int condition);

}  // namespace questbench
