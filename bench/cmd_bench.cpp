// questbench bench <what>: performance measurements (numbers recorded in BENCHMARKS.md).
//   inference   native ViT forward throughput (images/s) on a data set, best of --repeats passes.
#include "bench/cli_common.h"
#include "common/error.h"
#include "common/npy.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <memory>

namespace questbench {
namespace {

struct InferenceBenchOptions {
  CommonOptions common;
  ModelOptions models;
  DatasetOptions data;
  int repeats = 3;
  std::string save_inputs, save_logits;
};

void run_inference_bench(const InferenceBenchOptions& o) {
  const auto sources = model_sources(o.models);
  QB_USAGE_CHECK(sources.size() == 1, "bench inference takes exactly one --model");
  const torch::Device device = parse_device(o.common.device);
  const int threads = apply_threads(o.common);
  auto dataset = open_dataset(dataset_spec(o.data));
  const int64_t count = o.data.limit > 0 ? std::min(o.data.limit, dataset->size()) : dataset->size();
  auto x = dataset->read(0, count).x.contiguous();
  Model model = Model::load(sources[0], device);
  torch::NoGradGuard no_grad;
  auto run_once = [&] {
    std::vector<torch::Tensor> out;
    for (int64_t b = 0; b < count; b += o.common.batch_size)
      out.push_back(model.logits(x.slice(0, b, std::min(count, b + o.common.batch_size))));
    return torch::cat(out, 0);
  };
  auto logits = run_once();  // warm-up (and the logits other frameworks are checked against)
  double best = 1e300;
  for (int r = 0; r < o.repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    run_once();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  if (!o.save_inputs.empty()) write_npy(o.save_inputs, x);
  if (!o.save_logits.empty()) write_npy(o.save_logits, logits.to(torch::kCPU).contiguous());
  std::printf("{\"model\": \"%s\", \"images\": %lld, \"batch_size\": %lld, \"threads\": %d, \"seconds\": %.4f, \"images_per_s\": %.1f}\n",
              model.name().c_str(), static_cast<long long>(count), static_cast<long long>(o.common.batch_size), threads,
              best, count / best);
}

}  // namespace

void add_bench_command(CLI::App& app, CommandRunner& runner) {
  auto* bench = app.add_subcommand("bench", "performance measurements");
  bench->require_subcommand(1);
  auto o = std::make_shared<InferenceBenchOptions>();
  auto* inference = bench->add_subcommand("inference", "native forward throughput of one model on a data set");
  add_common_options(inference, o->common, 256);
  add_model_options(inference, o->models, /*required=*/true);
  add_dataset_options(inference, o->data);
  inference->add_option("--repeats", o->repeats, "timed passes (best is reported)")->check(CLI::PositiveNumber);
  inference->add_option("--save-inputs", o->save_inputs, "write the images as float32 NCHW .npy");
  inference->add_option("--save-logits", o->save_logits, "write the logits as float32 .npy");
  inference->callback([o, &runner] { runner = [o] { run_inference_bench(*o); }; });
}

}  // namespace questbench
