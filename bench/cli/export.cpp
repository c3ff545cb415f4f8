// questbench export robustbench: reports -> a RobustBench model-info entry (and the corruption table beside it).
// Reads JSON only; never loads a model or a data set.
#include "bench/cli/common.h"
#include "common/error.h"
#include "common/files.h"
#include "reports/compare.h"
#include "reports/robustbench.h"

#include <cstdio>
#include <memory>

namespace questbench {
namespace {

struct ExportRobustBenchCommandOptions {
  std::vector<std::string> inputs;
  std::string output;
  RobustBenchOptions robustbench;
  bool quiet = false;
};

std::string sibling_path(const std::string& path, const std::string& file) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? file : path.substr(0, slash + 1) + file;
}

void run_export_robustbench(const ExportRobustBenchCommandOptions& o) {
  check_output_path(o.output);
  std::vector<InputReport> inputs;
  for (const auto& path : o.inputs) inputs.push_back(read_input_report(path));
  const RobustBenchExport e = export_robustbench(inputs, o.robustbench);
  // RobustBench keeps the unaggregated corruption table in one file per data set beside the model entries.
  const std::string csv_path = sibling_path(o.output, "unaggregated_results.csv");
  if (!e.unaggregated_csv.empty()) check_output_path(csv_path);
  write_file_atomic(o.output, e.model_info_json);
  if (!e.unaggregated_csv.empty()) write_file_atomic(csv_path, e.unaggregated_csv);
  if (!o.quiet) {
    for (const auto& note : e.notes) std::printf("note: %s\n", note.c_str());
    std::printf("model info: %s\n", o.output.c_str());
    if (!e.unaggregated_csv.empty()) std::printf("corruption table: %s\n", csv_path.c_str());
  }
}

}  // namespace

void add_export_command(CLI::App& app, CommandRunner& runner) {
  auto* group = app.add_subcommand("export", "write results in another project's format (reads JSON only)");
  group->require_subcommand(1);
  auto o = std::make_shared<ExportRobustBenchCommandOptions>();
  auto* cmd = group->add_subcommand(
      "robustbench", "a RobustBench model-info entry (model_info/<dataset>/<threat>/<model>.json) from attack and corruption reports");
  auto& rb = o->robustbench;
  cmd->add_option("reports", o->inputs, "questbench .attack / .corruption reports of the model")->required();
  cmd->add_option("-o,--output", o->output,
                  "the model-info JSON to write; with --threat corruptions, unaggregated_results.csv is written beside it")
      ->required();
  cmd->add_option("--model", rb.model, "the model to export (default: the only one in the reports)");
  cmd->add_option("--threat", rb.threat, "Linf | L2 | corruptions (default: what the reports hold)")
      ->check(CLI::IsMember({"Linf", "L2", "corruptions"}));
  cmd->add_option("--eps", rb.eps, "the AutoAttack eps to export, as written in the run (e.g. 8/255)");
  cmd->add_option("--dataset-name", rb.dataset, "RobustBench's data set name (default: cifar10 or fashion-mnist from the report)");
  cmd->add_option("--id", rb.model_id, "the model's RobustBench id, the corruption table's row name (default: the model name)");
  cmd->add_option("--name", rb.name, "the paper's title (RobustBench's `name`; default: the model name)");
  cmd->add_option("--link", rb.link, "the paper's URL");
  cmd->add_option("--authors", rb.authors, "the paper's authors");
  cmd->add_option("--venue", rb.venue, "where the paper appeared");
  cmd->add_option("--architecture", rb.architecture, "architecture name (default: from the report's model)");
  cmd->add_option("--reported", rb.reported, "the robust accuracy the paper reports (%)");
  cmd->add_option("--footnote", rb.footnote, "a footnote for the leaderboard");
  cmd->add_flag("--additional-data", rb.additional_data, "the model was trained with extra data");
  cmd->add_option("--forward-passes", rb.number_forward_passes, "forward passes per prediction (randomized models: more)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--quiet", o->quiet, "print nothing on success");
  cmd->callback([o, &runner] { runner = [o] { run_export_robustbench(*o); }; });
}

}  // namespace questbench
