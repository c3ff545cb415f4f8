// RobustBench export: a model's entry in RobustBench's model-info format (robustbench/utils.py ModelInfo: the
// JSON file kept per model under model_info/<dataset>/<threat model>/) and the per-corruption x severity table
// RobustBench keeps beside the corruption entries (model_info/<dataset>/corruptions/unaggregated_results.csv).
//
//   RobustBenchOptions o;  o.threat = "Linf";
//   RobustBenchExport e = export_robustbench(reports, o);   // e.model_info_json, e.unaggregated_csv
//
// Numbers are written as RobustBench's own update_json writes them: percentages as strings of Python's
// str(round(100·x, 2)) ("44.1", "89.69"), eps as the text the run was given ("8/255", "0.5"), every ModelInfo
// field in its declaration order with null where the reports do not say.
#pragma once

#include "reports/compare.h"

#include <optional>
#include <string>
#include <vector>

namespace questbench {

struct RobustBenchOptions {
  std::string model;          // which model of the reports ("" = the only one)
  std::string threat;         // "Linf" | "L2" | "corruptions"; "" = inferred from the reports
  std::string eps;            // the eps of the AutoAttack cell to export, as written ("" = the only one)
  std::string dataset;        // RobustBench's dataset name ("" = from the reports: cifar10, fashion-mnist)
  std::string model_id;       // the row name of the CSV ("" = the model's name)
  // Bibliographic fields RobustBench records and a report cannot know; null when left empty.
  std::string link, name, authors, venue, architecture, footnote, reported;
  bool additional_data = false;
  int number_forward_passes = 1;
};

struct RobustBenchExport {
  std::string model_info_json;   // the model's entry
  std::string unaggregated_csv;  // the corruption table's header and this model's row; empty unless corruptions
  std::vector<std::string> notes;  // what the reader should know (e.g. which baseline the mCE is relative to)
};

// The 15 ImageNet-C corruptions in RobustBench's column order (robustbench/data.py CORRUPTIONS).
const std::vector<std::string>& robustbench_corruption_order();

// Python's str(round(value, 2)): the double rounded to 2 decimals, printed as its shortest repr ("56.0").
std::string python_round2_text(double value);
// Python's repr of a double (the shortest text that reads back to it; "1.0", "0.9390000000000001").
std::string python_float_repr(double value);

// Throws Error naming the problem (model not in the reports, no AutoAttack cell for the threat, several
// eps without --eps, missing standard corruptions).
RobustBenchExport export_robustbench(const std::vector<InputReport>& reports, const RobustBenchOptions& options);

}  // namespace questbench
