// questbench toy: the QUEST paper's toy experiment (bench/toy.h) over a grid of attention variants × learning
// rates × weight decays × seeds -> JSON report, a Markdown table on stdout, optionally an SVG figure.
#include "bench/cli/common.h"
#include "bench/toy.h"
#include "common/error.h"
#include "common/files.h"
#include "reports/format.h"
#include "reports/toy_report.h"

#include <cstdio>

namespace questbench {
namespace {

struct ToyCommandOptions {
  CommonOptions common;
  ToySettings settings;
  std::string output = "toy.json", plot;
};

void run_toy(const ToyCommandOptions& options) {
  ToySettings settings = options.settings;
  settings.seed = options.common.seed;
  settings.batch_size = options.common.batch_size;
  // Everything is checked before anything runs, so a bad option leaves no report behind.
  validate_toy_settings(settings);
  // The models are a few thousand parameters: a GPU would only add transfer latency to every step.
  QB_USAGE_CHECK(parse_device(options.common.device).is_cpu(),
                 "--device " << options.common.device << ": questbench toy runs on the CPU only");
  check_output_path(options.output);
  if (!options.plot.empty()) check_output_path(options.plot, "--plot");

  CommandRun run(options.common);
  ToyReport report = run.stage("train", [&] { return run_toy_experiment(settings, run.reporter()); });
  report.context = run.finish();
  write_report(options.output, toy_report_to_json(report));
  if (!options.plot.empty()) write_file_atomic(options.plot, toy_plot_svg(report));
  if (!options.common.quiet) {
    std::printf("%s\nreport: %s\n", toy_markdown_table(report).c_str(), options.output.c_str());
    if (!options.plot.empty()) std::printf("plot: %s\n", options.plot.c_str());
    std::printf("wall time: %.1f s on %d threads\n", report.context.wall_time_s, report.context.threads);
  }
}

}  // namespace

void add_toy_command(CLI::App& app, CommandRunner& runner) {
  auto [cmd, o] = add_command<kCommonOnly>(
      &app, runner, "toy", "the QUEST paper's toy experiment: success rate per attention variant over a training grid",
      run_toy, 128);
  auto& s = o->settings;
  cmd->add_option("--variants", s.variants, "attention variants (standard,quest,qknorm,qnorm)")->delimiter(',')->capture_default_str();
  cmd->add_option("--lr", s.learning_rates, "learning rates of the grid (comma-separated)")->delimiter(',')->capture_default_str();
  cmd->add_option("--weight-decay", s.weight_decays, "AdamW weight decays of the grid (comma-separated)")->delimiter(',')->capture_default_str();
  cmd->add_option("--seeds", s.seeds, "seeds per grid point")->capture_default_str();
  cmd->add_option("--steps", s.steps, "training steps per run")->capture_default_str();
  cmd->add_option("--trajectory-every", s.trajectory_every, "steps between key-norm measurements")->capture_default_str();
  cmd->add_option("--tokens", s.tokens, "tokens per sequence")->capture_default_str();
  cmd->add_option("--key-dims", s.key_dims, "dimensions of a token's key part")->capture_default_str();
  cmd->add_option("--classes", s.classes, "classes (the value part's one-hot size)")->capture_default_str();
  cmd->add_option("--answer-dims", s.answer_dims, "key dimensions where the answer token's std is --answer-std")->capture_default_str();
  cmd->add_option("--answer-std", s.answer_std, "the answer token's std on its answer dims (Σ's diagonal)")->capture_default_str();
  cmd->add_option("--bias-norm", s.bias_norm, "norm of the bias vector b of biased samples")->capture_default_str();
  cmd->add_option("--biased-fraction", s.biased_fraction, "probability that a training sample is biased")->capture_default_str();
  cmd->add_option("--train-samples", s.train_samples, "training samples per seed")->capture_default_str();
  cmd->add_option("--test-samples", s.test_samples, "test samples of each kind (unbiased, biased)")->capture_default_str();
  cmd->add_option("--embed-dims", s.embed_dims, "width of the per-token embedding")->capture_default_str();
  cmd->add_option("--head-dims", s.head_dims, "query/key dimensions")->capture_default_str();
  cmd->add_option("--probe-samples", s.probe_samples, "test samples of each kind the key norms are measured on")->capture_default_str();
  cmd->add_option("--success-fraction", s.success_fraction,
                  "a run solves the task at this fraction of the reference rule's unbiased accuracy")->capture_default_str();
  cmd->add_option("-o,--output", o->output, "report JSON")->capture_default_str();
  cmd->add_option("--plot", o->plot, "SVG figure: success rate per variant and key-norm trajectories");
}

}  // namespace questbench
