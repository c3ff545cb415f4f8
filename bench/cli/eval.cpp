// questbench eval: clean accuracy of one or more models on a data set -> JSON report.
#include "bench/cli/common.h"
#include "common/error.h"
#include "reports/format.h"

#include <cstdio>
#include <memory>

namespace questbench {
namespace {

struct EvalOptions : ModelDataOptions {
  std::string output = "eval.json";
};

void run_eval(const EvalOptions& o) {
  check_output_path(o.output);
  ModelDataRun run(o);
  const auto& dataset = run.dataset;
  const auto& models = run.models;
  const SampleRange range = run.range;
  std::vector<size_t> all(models.size());
  for (size_t m = 0; m < models.size(); ++m) all[m] = m;
  auto results = run.stage("evaluate", [&] {
    return evaluate_models(models, [&](int64_t b, int64_t e) { return dataset->read(b, e); }, range, o.common.batch_size,
                           dataset->num_classes(), all, run.reporter());
  });

  EvalReport report;
  report.dataset = dataset_info(*dataset, o.data, range.size());
  for (const auto& m : models) report.models.push_back(m.info());
  report.results = results;
  report.context = run.finish();
  write_report(o.output, eval_report_to_json(report));
  if (!o.common.quiet) {
    for (size_t i = 0; i < models.size(); ++i)
      std::printf("%-24s clean accuracy %.4f (%lld/%lld), loss %.4f\n", models[i].name().c_str(), results[i].accuracy,
                  static_cast<long long>(results[i].correct), static_cast<long long>(results[i].n), results[i].loss);
    std::printf("report: %s\n", o.output.c_str());
  }
}

}  // namespace

void add_eval_command(CLI::App& app, CommandRunner& runner) {
  auto [cmd, o] = add_command<kModels | kData>(&app, runner, "eval", "clean accuracy, loss and per-class accuracy of models -> JSON report",
                                               run_eval, 256);
  cmd->add_option("-o,--output", o->output, "report path (written atomically)")->capture_default_str();
}

}  // namespace questbench
