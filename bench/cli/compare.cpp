// questbench compare: reports (eval, attack, corruption) -> report.md, report.html, summary.json.
// Reads JSON only; never loads a model or a data set.
#include "bench/cli/common.h"
#include "common/error.h"
#include "reports/compare.h"
#include "reports/format.h"
#include "reports/render.h"

#include <cstdio>
#include <memory>

namespace questbench {
namespace {

struct CompareCommandOptions {
  std::vector<std::string> inputs;
  std::string output_dir;
  CompareOptions compare;
  bool quiet = false;
};

void run_compare(const CompareCommandOptions& o) {
  std::vector<InputReport> inputs;
  for (const auto& path : o.inputs) inputs.push_back(read_input_report(path));
  const Comparison comparison = compare_reports(std::move(inputs), o.compare);
  // Everything is computed before the first file is written.
  const std::string markdown = render_markdown(comparison);
  const std::string html = render_html(comparison);
  const std::string summary = comparison_summary_to_json(comparison);
  const std::string dir = o.output_dir.empty() ? "." : o.output_dir;
  write_report(dir + "/summary.json", summary);
  write_report(dir + "/report.md", markdown);
  write_report(dir + "/report.html", html);
  if (!o.quiet) {
    for (const auto& w : comparison.warnings) std::printf("warning: %s\n", w.c_str());
    std::printf("report: %s/report.html\nreport: %s/report.md\nsummary: %s/summary.json\n", dir.c_str(), dir.c_str(), dir.c_str());
  }
}

}  // namespace

void add_compare_command(CLI::App& app, CommandRunner& runner) {
  auto o = std::make_shared<CompareCommandOptions>();
  auto* cmd = app.add_subcommand("compare", "compare models across reports: report.md, report.html, summary.json (reads JSON only)");
  cmd->add_option("reports", o->inputs, "questbench.eval / .attack / .corruption reports")->required();
  cmd->add_option("-o,--output", o->output_dir, "output folder for report.md, report.html, summary.json")->required();
  cmd->add_option("--baseline", o->compare.baseline,
                  "model the others are compared against (default: the corruption report's CE baseline, else the first model)");
  cmd->add_option("--bootstrap", o->compare.bootstrap, "bootstrap resamples per paired interval")
      ->check(CLI::Range(10, 1000000))
      ->capture_default_str();
  cmd->add_option("--seed", o->compare.seed, "seed of the bootstrap resampling")->capture_default_str();
  cmd->add_option("--alpha", o->compare.alpha, "family-wise error rate for significance (Holm)")
      ->check(CLI::Range(1e-9, 0.5))
      ->capture_default_str();
  cmd->add_flag("--quiet", o->quiet, "print nothing on success");
  cmd->callback([o, &runner] { runner = [o] { run_compare(*o); }; });
}

}  // namespace questbench
