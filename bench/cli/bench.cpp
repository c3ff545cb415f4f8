// questbench bench <what>: performance measurements (numbers recorded in BENCHMARKS.md).
//   inference   native ViT forward throughput (images/s) on a data set, best of --repeats passes.
// Both copy their inputs to the device before timing and time with a Stopwatch (synchronized on CUDA).
//   pgd         PGD-Linf wall time vs the same number of bare forward+backward passes, same batches.
#include "bench/cli/common.h"
#include "common/error.h"
#include "attacks/attack.h"
#include "common/device.h"
#include "common/npy.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <cstdio>
#include <memory>
#include <vector>

namespace questbench {
namespace {

struct InferenceBenchOptions : ModelDataOptions {
  int repeats = 3;
  std::string save_inputs, save_logits;
};

void run_inference_bench(const InferenceBenchOptions& o) {
  QB_USAGE_CHECK(o.models.paths.size() == 1, "bench inference takes exactly one --model");
  ModelDataRun run(o);
  const Model& model = run.models[0];
  const int64_t count = run.range.size();
  auto x = run.dataset->read(0, count).x.contiguous();
  // The images are copied to the device once, before timing: the figure is the model's forward throughput.
  const auto x_device = x.to(run.device);
  c10::InferenceMode inference_mode;  // no autograd bookkeeping at all (stronger than no_grad)
  auto run_once = [&] {
    std::vector<torch::Tensor> out;
    for (int64_t b = 0; b < count; b += o.common.batch_size)
      out.push_back(model.logits(x_device.slice(0, b, std::min(count, b + o.common.batch_size))));
    return torch::cat(out, 0);
  };
  auto logits = run_once();  // warm-up (and the logits other frameworks are checked against)
  Stopwatch stopwatch(run.device);
  double best = 1e300;
  for (int r = 0; r < o.repeats; ++r) best = std::min(best, stopwatch.time([&] { run_once(); }));
  if (!o.save_inputs.empty()) write_npy(o.save_inputs, x);
  if (!o.save_logits.empty()) write_npy(o.save_logits, logits.to(torch::kCPU).contiguous());
  std::printf("{\"model\": \"%s\", \"device\": \"%s\", \"autocast\": \"%s\", \"images\": %lld, \"batch_size\": %lld, "
              "\"threads\": %d, \"repeats\": %d, \"seconds\": %.4f, \"images_per_s\": %.1f}\n",
              model.name().c_str(), o.common.device.c_str(), autocast_name(run.autocast).c_str(), static_cast<long long>(count),
              static_cast<long long>(o.common.batch_size), run.threads, o.repeats, best, count / best);
}

struct PgdBenchOptions : ModelDataOptions {
  int steps = 10;
  int repeats = 3;
  std::string save_inputs, save_labels;
};

void run_pgd_bench(const PgdBenchOptions& o) {
  QB_USAGE_CHECK(o.models.paths.size() == 1, "bench pgd takes exactly one --model");
  ModelDataRun run(o);
  const Model& model = run.models[0];
  const int64_t count = run.range.size();
  auto batch = run.dataset->read(0, count);
  auto x = batch.x.to(run.device), y = batch.y.to(run.device);  // copied before timing: the figure is the attack's
  const int64_t bs = o.common.batch_size;
  std::vector<uint64_t> seeds(count);
  for (int64_t i = 0; i < count; ++i) seeds[i] = static_cast<uint64_t>(i);
  auto bare = [&] {
    for (int64_t b = 0; b < count; b += bs) {
      auto xb = x.slice(0, b, std::min(count, b + bs)), yb = y.slice(0, b, std::min(count, b + bs));
      for (int s = 0; s < o.steps; ++s) {
        auto xa = xb.detach().requires_grad_(true);
        auto loss = torch::nn::functional::cross_entropy(model.logits(xa), yb);
        torch::autograd::grad({loss}, {xa});
      }
    }
  };
  auto pgd = [&](bool early_stop) {
    AttackConfig c;
    c.steps = o.steps;
    c.early_stop = early_stop;
    c.check_final = false;  // as in `questbench attack`, whose runner re-checks predictions at x_adv
    return [&, c] {
      for (int64_t b = 0; b < count; b += bs) {
        const int64_t e = std::min(count, b + bs);
        std::vector<uint64_t> s(seeds.begin() + b, seeds.begin() + e);
        find_attack("pgd").run(model, x.slice(0, b, e), y.slice(0, b, e), torch::Tensor(), c, s);
      }
    };
  };
  bare();  // warm-up
  // Interleaved (bare, PGD, PGD with early stop) rounds: slow drifts of a shared machine hit all three alike.
  // Reported: the best time of each, and the median over rounds of each round's PGD / bare ratio (robust to a
  // round that one burst of other load slowed down; the best-of ratio is not).
  double bare_s = 1e300, pgd_s = 1e300, pgd_es_s = 1e300;
  std::vector<double> ratio, ratio_es;
  const auto pgd_plain = pgd(false), pgd_early = pgd(true);
  Stopwatch stopwatch(run.device);
  for (int r = 0; r < o.repeats; ++r) {
    const double b = stopwatch.time(bare), p = stopwatch.time(pgd_plain), pe = stopwatch.time(pgd_early);
    bare_s = std::min(bare_s, b), pgd_s = std::min(pgd_s, p), pgd_es_s = std::min(pgd_es_s, pe);
    ratio.push_back(p / b), ratio_es.push_back(pe / b);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
  };
  if (!o.save_inputs.empty()) write_npy(o.save_inputs, batch.x.contiguous());
  if (!o.save_labels.empty()) write_npy(o.save_labels, batch.y.contiguous());
  std::printf("{\"model\": \"%s\", \"device\": \"%s\", \"autocast\": \"%s\", \"images\": %lld, \"batch_size\": %lld, "
              "\"threads\": %d, \"steps\": %d, "
              "\"bare_forward_backward_s\": %.4f, \"pgd_s\": %.4f, \"pgd_early_stop_s\": %.4f, "
              "\"pgd_over_bare\": %.4f, \"pgd_early_stop_over_bare\": %.4f, \"pgd_over_bare_median\": %.4f, "
              "\"pgd_early_stop_over_bare_median\": %.4f, \"rounds\": %d}\n",
              model.name().c_str(), o.common.device.c_str(), autocast_name(run.autocast).c_str(), static_cast<long long>(count),
              static_cast<long long>(bs), run.threads, o.steps, bare_s,
              pgd_s, pgd_es_s, pgd_s / bare_s, pgd_es_s / bare_s, median(ratio), median(ratio_es), o.repeats);
}

}  // namespace

void add_bench_command(CLI::App& app, CommandRunner& runner) {
  auto* bench = app.add_subcommand("bench", "performance measurements");
  bench->require_subcommand(1);
  auto [inference, o] = add_command<kModels | kData>(bench, runner, "inference", "native forward throughput of one model on a data set",
                                                     run_inference_bench, 256);
  inference->add_option("--repeats", o->repeats, "timed passes (best is reported)")->check(CLI::PositiveNumber);
  inference->add_option("--save-inputs", o->save_inputs, "write the images as float32 NCHW .npy");
  inference->add_option("--save-logits", o->save_logits, "write the logits as float32 .npy");

  auto [pgd, p] = add_command<kModels | kData>(
      bench, runner, "pgd", "PGD-Linf (eps 8/255, alpha 2/255) wall time vs bare forward+backward passes", run_pgd_bench, 250);
  pgd->add_option("--steps", p->steps, "PGD steps (and bare passes per batch)")->capture_default_str();
  pgd->add_option("--repeats", p->repeats, "timed runs (best is reported)")->check(CLI::PositiveNumber);
  pgd->add_option("--save-inputs", p->save_inputs, "write the images as float32 NCHW .npy");
  pgd->add_option("--save-labels", p->save_labels, "write the labels as int64 .npy");
}

}  // namespace questbench
