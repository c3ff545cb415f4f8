// questbench predict: logits of any model for a float32 NCHW .npy in [0,1] -> float32 logits .npy.
#include "bench/cli/common.h"
#include "common/device.h"
#include "common/error.h"
#include "common/npy.h"

#include <torch/torch.h>

#include <cstdio>
#include <memory>

namespace questbench {
namespace {

struct PredictOptions {
  CommonOptions common;
  ModelOptions models;
  std::string input, output = "logits.npy";
};

void run_predict(const PredictOptions& o) {
  QB_USAGE_CHECK(o.models.paths.size() == 1, "predict takes exactly one --model, got " << o.models.paths.size());
  const auto sources = model_sources(o.models);
  check_output_path(o.output);
  CommandRun run(o.common, o.models.autocast);
  const torch::Device device = run.device;
  const Autocast autocast = run.autocast;
  auto input = read_npy(o.input);
  QB_CHECK(input.scalar_type() == torch::kFloat, o.input << ": expected float32 images, got dtype " << input.scalar_type());
  QB_CHECK(input.dim() == 4, o.input << ": expected shape [N, C, H, W], got " << input.sizes());
  QB_CHECK(torch::isfinite(input).all().item<bool>(), o.input << ": contains NaN or Inf");
  QB_CHECK(input.numel() == 0 || (input.min().item<float>() >= 0.f && input.max().item<float>() <= 1.f),
           o.input << ": values must lie in [0,1] (min " << input.min().item<float>() << ", max " << input.max().item<float>() << ")");
  Model model = load_models({sources[0]}, device, autocast)[0];
  c10::InferenceMode inference_mode;
  HostToDevice to_device(device);
  std::vector<torch::Tensor> chunks;
  for (int64_t begin = 0; begin < input.size(0); begin += o.common.batch_size) {
    const int64_t end = std::min(input.size(0), begin + o.common.batch_size);
    chunks.push_back(model.logits(to_device(input.slice(0, begin, end))).to(torch::kCPU, torch::kFloat));
  }
  auto logits = chunks.empty() ? torch::zeros({0, model.info().num_classes}) : torch::cat(chunks, 0);
  QB_CHECK(torch::isfinite(logits).all().item<bool>(), model.name() << ": produced NaN or Inf logits");
  write_npy(o.output, logits.contiguous());
  if (!o.common.quiet) std::printf("wrote %s: float32 %lldx%lld logits\n", o.output.c_str(),
                                   static_cast<long long>(logits.size(0)), static_cast<long long>(logits.size(1)));
}

}  // namespace

void add_predict_command(CLI::App& app, CommandRunner& runner) {
  auto [cmd, o] = add_command<kModels>(&app, runner, "predict", "run a model on a float32 NCHW .npy in [0,1], write float32 logits .npy",
                                       run_predict, 256);
  cmd->add_option("--input", o->input, "float32 [N,C,H,W] .npy with values in [0,1]")->required();
  cmd->add_option("-o,--output", o->output, "logits .npy (float32 [N, classes])")->capture_default_str();
}

}  // namespace questbench
