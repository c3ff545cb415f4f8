// questbench attack: adversarial sweep (models x attacks x eps) -> JSON report.
#include "bench/attack_runner.h"
#include "attacks/spec.h"
#include "bench/cli/common.h"
#include "bench/cli/split.h"
#include "bench/merge.h"
#include "common/error.h"
#include "common/files.h"
#include "reports/format.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

namespace questbench {
namespace {

struct AttackCommandOptions : ModelDataOptions {
  std::string attacks = "fgsm,pgd";
  std::string eps = "0,1/255,2/255,4/255,8/255";
  std::string eps_l2 = "0,0.25,0.5,1.0";
  int steps = 10;
  std::string alpha;
  double rel_alpha_l2 = 0.2;
  int restarts = 1;
  bool no_random_start = false, no_early_stop = false, no_sanity = false;
  std::string loss = "ce", targeted, preset, save_adv, output = "attack.json", rng = "per-sample";
  bool resume = false, diagnostics = false;
  SplitOptions split;
};

AttackSweepOptions sweep_options(const AttackCommandOptions& o) {
  check_output_path(o.output);
  AttackSweepOptions sweep;
  sweep.attacks = split_attack_specs(o.attacks);
  sweep.eps_linf = parse_eps_list(o.eps, "--eps", 1.0);
  sweep.eps_l2 = parse_eps_list(o.eps_l2, "--eps-l2", 1e4);
  auto& d = sweep.defaults;
  d.steps = o.steps;
  d.restarts = o.restarts;
  if (o.preset == "strong") {
    d.steps = std::max(d.steps, 50);
    d.restarts = std::max(d.restarts, 5);
    d.alpha_linf = {1.0 / 255.0, "1/255"};  // smaller steps for the longer run
  } else {
    QB_USAGE_CHECK(o.preset.empty() || o.preset == "default", "--preset '" << o.preset << "': valid presets are default, strong");
  }
  if (!o.alpha.empty()) d.alpha_linf = parse_fraction(o.alpha, "--alpha", 1.0);
  QB_USAGE_CHECK(d.alpha_linf.value > 0, "--alpha must be > 0");
  QB_USAGE_CHECK(o.rel_alpha_l2 > 0 && std::isfinite(o.rel_alpha_l2), "--rel-alpha-l2 must be > 0");
  d.rel_alpha_l2 = {o.rel_alpha_l2, shortest_decimal(o.rel_alpha_l2)};
  QB_USAGE_CHECK(d.steps >= 1, "--steps must be >= 1");
  QB_USAGE_CHECK(d.restarts >= 1, "--restarts must be >= 1");
  d.random_start = !o.no_random_start;
  d.early_stop = !o.no_early_stop;
  d.loss = parse_loss(o.loss);
  for (const auto& spec : sweep.attacks) make_attack(spec, d);  // every spec checked before anything loads
  sweep.sanity_checks = !o.no_sanity;
  sweep.targeted = o.targeted;
  if (!o.targeted.empty() && o.targeted != "least-likely" && o.targeted != "random")
    QB_CHECK(file_exists(o.targeted), "--targeted " << o.targeted << ": expected least-likely, random or an existing .npy of target labels");
  sweep.seed = o.common.seed;
  sweep.rng = parse_rng_mode(o.rng);
  sweep.batch_size = o.common.batch_size;
  sweep.save_adv_dir = o.save_adv;
  sweep.journal_path = o.output + ".journal";
  sweep.resume = o.resume;
  sweep.diagnostics = o.diagnostics;
  return sweep;
}

void print_summary(const AttackReport& report, const std::string& output) {
  for (size_t m = 0; m < report.models.size(); ++m) {
    std::printf("%s: clean %.4f\n", report.models[m].name.c_str(), report.clean[m].accuracy);
    for (const auto& w : report.worst_case)
      if (w.model == report.models[m].name)
        std::printf("  %s eps %-8s worst-case robust accuracy %.4f\n", w.norm.c_str(), w.eps_text.c_str(), w.robust_accuracy);
  }
  for (const auto& s : report.sanity)
    if (s.status == "warned") std::printf("warning: %s %s: %s\n", s.model.c_str(), s.name.c_str(), s.message.c_str());
  std::printf("report: %s\n", output.c_str());
}

void run_attack(const AttackCommandOptions& given) {
  AttackCommandOptions o = given;
  AttackSweepOptions sweep = sweep_options(o);  // everything checked before anything loads
  SplitRun split(o.split, o.common.device, !o.save_adv.empty(), sweep.rng == RngMode::Original);
  const OutputLock output_lock = split.lock_output(o.output);  // before any work: a second run on this output fails now
  ModelDataRun run(o);
  sweep.plan = run.range;
  sweep.range = split.range(run.range, sweep.batch_size);
  sweep.journal_path = split.journal_path(o.output);
  AttackReport report = run.stage("attack", [&] { return run_attack_sweep(run.models, *run.dataset, sweep, run.reporter()); });
  report.dataset = dataset_info(*run.dataset, o.data, sweep.range.size());
  report.context = run.finish();
  split.describe(report.context, sweep.range, sweep.plan, attack_plan_fingerprint(run.models, *run.dataset, sweep));
  const auto written = split.write(report, o.output, sweep.journal_path, attack_report_to_json, attack_report_from_json, merge_attack_reports);
  if (!written) return;
  if (!o.common.quiet) print_summary(*written, o.output);
  fail_on_non_finite(*written, o.output);
}

}  // namespace

void add_attack_command(CLI::App& app, CommandRunner& runner) {
  auto [cmd, o] = add_command<kModels | kData>(
      &app, runner, "attack", "adversarial sweep: models x attacks x eps -> JSON report (AutoAttack-style robust accuracy)", run_attack, 256);
  cmd->add_option("--attacks", o->attacks,
                  "comma-separated attack specs, each optionally with its own options, e.g. pgd:steps=20,alpha=1/255 or "
                  "autoattack:norm=l2 (options left out come from the flags below; names: fgsm, pgd, pgd-l2, apgd-ce, "
                  "apgd-dlr, apgd-t, fab, fab-t, square, autoattack, autoattack-plus, autoattack-rand; see attacks/README.md)")
      ->capture_default_str();
  cmd->add_option("--eps", o->eps, "Linf radii, fractions or decimals in [0,1]")->capture_default_str();
  cmd->add_option("--eps-l2", o->eps_l2, "L2 radii, for the L2 attacks (pgd-l2 and those with norm=l2)")->capture_default_str();
  cmd->add_option("--steps", o->steps, "PGD iterations")->capture_default_str();
  cmd->add_option("--alpha", o->alpha, "Linf PGD step size (default 2/255, torchattacks)");
  cmd->add_option("--rel-alpha-l2", o->rel_alpha_l2, "L2 PGD step size relative to eps")->capture_default_str();
  cmd->add_option("--restarts", o->restarts, "random restarts (per-sample worst case kept)")->capture_default_str();
  cmd->add_flag("--no-random-start", o->no_random_start, "start PGD at the clean image");
  cmd->add_flag("--no-early-stop", o->no_early_stop, "return the final iterate (torchattacks) instead of the first misclassifying one");
  cmd->add_option("--loss", o->loss, "ce or margin (CW)")->capture_default_str();
  cmd->add_option("--targeted", o->targeted, "least-likely, random, or an int64 .npy of target labels");
  cmd->add_option("--rng", o->rng,
                  "per-sample (each sample its own random streams: results independent of batching) or original (AutoAttack's "
                  "draws: one generator reseeded per attack and batch; same --batch-size as the original for conformance)")
      ->capture_default_str();
  cmd->add_option("--preset", o->preset, "default or strong (>= 50 steps, 5 restarts, alpha 1/255)");
  cmd->add_option("--save-adv", o->save_adv, "write adversarial examples: DIR/<model>__<attack>__eps-<eps>.npy (float32 NCHW)");
  cmd->add_flag("--no-sanity-checks", o->no_sanity, "skip the extra sanity probes (large eps, doubled steps)");
  cmd->add_flag("--resume", o->resume, "continue from <output>.journal (finished cells are kept)");
  cmd->add_flag("--diagnostics", o->diagnostics,
                "record per-layer attention diagnostics (entropy, max weight, logits, q/k norms) on clean images and on the adversarial examples (native ViT models)");
  cmd->add_option("-o,--output", o->output, "report path (written atomically)")->capture_default_str();
  add_split_options(cmd, o->split);
}

}  // namespace questbench
