// questbench eval: clean accuracy of one or more models on a data set -> JSON report.
#include "bench/cli_common.h"
#include "bench/evaluate.h"
#include "common/error.h"
#include "reports/format.h"

#include <cstdio>
#include <memory>

namespace questbench {
namespace {

struct EvalOptions {
  CommonOptions common;
  ModelOptions models;
  DatasetOptions data;
  std::string output = "eval.json";
};

void run_eval(const EvalOptions& o) {
  const auto started = std::chrono::steady_clock::now();
  const auto sources = model_sources(o.models);
  const Autocast autocast = parse_autocast(o.models.autocast);
  auto spec = dataset_spec(o.data);
  const torch::Device device = parse_device(o.common.device);
  const int threads = apply_threads(o.common);
  RunContext context = start_context(o.common, threads);
  context.autocast = autocast_name(autocast);

  auto t0 = std::chrono::steady_clock::now();
  auto dataset = open_dataset(spec);
  std::vector<Model> models = load_models(sources, device, autocast);
  const int64_t count = o.data.limit > 0 ? std::min(o.data.limit, dataset->size()) : dataset->size();
  context.stage_seconds["load"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  t0 = std::chrono::steady_clock::now();
  auto results = evaluate_clean(models, *dataset, count, o.common.batch_size, progress_printer(o.common.quiet));
  context.stage_seconds["evaluate"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  EvalReport report;
  report.dataset = dataset_info(*dataset, o.data, count);
  for (const auto& m : models) report.models.push_back(m.info());
  report.results = results;
  finish_context(context, started);
  report.context = context;
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
  auto options = std::make_shared<EvalOptions>();
  auto* cmd = app.add_subcommand("eval", "clean accuracy, loss and per-class accuracy of models -> JSON report");
  add_common_options(cmd, options->common, 256);
  add_model_options(cmd, options->models, /*required=*/true);
  add_dataset_options(cmd, options->data);
  cmd->add_option("-o,--output", options->output, "report path (written atomically)")->capture_default_str();
  cmd->callback([options, &runner] { runner = [options] { run_eval(*options); }; });
}

}  // namespace questbench
