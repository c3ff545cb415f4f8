// questbench eval: clean accuracy of one or more models on a data set -> JSON report.
#include "bench/cli/common.h"
#include "bench/cli/split.h"
#include "bench/merge.h"
#include "common/error.h"
#include "reports/format.h"

#include <cstdio>
#include <memory>

namespace questbench {
namespace {

struct EvalOptions : ModelDataOptions {
  std::string output = "eval.json";
  SplitOptions split;
};

void run_eval(const EvalOptions& given) {
  EvalOptions o = given;
  check_output_path(o.output);
  SplitRun split(o.split, o.common.device);
  const OutputLock output_lock = split.lock_output(o.output);  // before any work: a second run on this output fails now
  ModelDataRun run(o);
  const auto& dataset = run.dataset;
  const auto& models = run.models;
  const SampleRange range = split.range(run.range, o.common.batch_size);
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
  // The parts of one plan: the same models, data, samples and batch size.
  Fingerprint plan(models);
  plan.add("data", dataset->fingerprint()).add("plan_begin", run.range.begin).add("plan_end", run.range.end);
  plan.add("batch_size", o.common.batch_size);
  split.describe(report.context, range, run.range, plan.hex());
  const auto written = split.write(report, o.output, "", eval_report_to_json, eval_report_from_json, merge_eval_reports);
  if (!o.common.quiet && written) {
    for (size_t i = 0; i < written->models.size(); ++i) {
      const auto& r = written->results[i];
      std::printf("%-24s clean accuracy %.4f (%lld/%lld), loss %.4f\n", written->models[i].name.c_str(), r.accuracy,
                  static_cast<long long>(r.correct), static_cast<long long>(r.n), r.loss);
    }
    std::printf("report: %s\n", o.output.c_str());
  }
}

}  // namespace

void add_eval_command(CLI::App& app, CommandRunner& runner) {
  auto [cmd, o] = add_command<kModels | kData>(&app, runner, "eval", "clean accuracy, loss and per-class accuracy of models -> JSON report",
                                               run_eval, 256);
  cmd->add_option("-o,--output", o->output, "report path (written atomically)")->capture_default_str();
  add_split_options(cmd, o->split);
}

}  // namespace questbench
