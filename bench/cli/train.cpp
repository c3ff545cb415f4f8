// questbench train: trains a ViT with a chosen attention variant, writes the safetensors checkpoint
// (config in the metadata) and a training log JSON; resumable per epoch with --resume.
#include "bench/cli/common.h"
#include "bench/training.h"
#include "common/error.h"
#include "models/checkpoint.h"
#include "reports/format.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <memory>

namespace questbench {
namespace {

struct TrainCommandOptions {
  CommonOptions common;
  DatasetOptions data;
  TrainOptions train;
  std::string attention = "standard";
  std::string test_split = "test";
  std::vector<double> mean, std;
  std::string output = "vit.safetensors", log;
};

std::string recipe_json(const TrainCommandOptions& o) {
  const auto& t = o.train;
  nlohmann::ordered_json j;
  j["epochs"] = t.epochs;
  j["batch_size"] = o.common.batch_size;
  j["optimizer"] = "AdamW";
  j["learning_rate"] = t.learning_rate;
  j["min_learning_rate"] = t.min_learning_rate;
  j["schedule"] = "linear warmup + cosine, per step";
  j["warmup_epochs"] = t.warmup_epochs;
  j["weight_decay"] = t.weight_decay;
  j["label_smoothing"] = t.label_smoothing;
  j["crop_padding"] = t.crop_padding;
  j["horizontal_flip"] = t.horizontal_flip;
  j["grad_clip_norm"] = t.grad_clip_norm;
  j["seed"] = t.seed;
  j["train_limit"] = t.train_limit;
  j["test_limit"] = t.test_limit;
  return j.dump();
}

// The model config's data-dependent fields (image shape, classes, mean/std) from the training set.
void complete_config(TrainCommandOptions& o, const Dataset& train_set) {
  auto shape = train_set.image_shape();
  auto& c = o.train.config;
  c.attention = parse_attention_kind(o.attention);
  c.in_chans = shape.channels;
  c.img_height = shape.height;
  c.img_width = shape.width;
  c.num_classes = train_set.num_classes();
  c.class_names = train_set.class_names();
  if (o.mean.empty() || o.std.empty()) {
    auto stats = channel_statistics(train_set, train_set.size());
    if (o.mean.empty()) o.mean = stats.first;
    if (o.std.empty()) o.std = stats.second;
  }
  c.mean = o.mean;
  c.std = o.std;
  validate(c);
}

void run_train(const TrainCommandOptions& options) {
  TrainCommandOptions o = options;  // the recipe is completed from the data below
  CommandRun run(o.common);
  const torch::Device device = run.device;
  o.train.batch_size = o.common.batch_size;
  o.train.seed = o.common.seed;
  if (o.log.empty()) o.log = (std::filesystem::path(o.output).replace_extension("").string()) + ".log.json";
  o.train.state_path = o.output + ".state";

  DatasetOptions train_data = o.data;
  train_data.split = "train";
  DatasetOptions test_data = o.data;
  test_data.split = o.test_split;
  auto train_set = open_dataset(dataset_spec(train_data));
  auto test_set = open_dataset(dataset_spec(test_data));
  complete_config(o, *train_set);
  const auto& c = o.train.config;

  TrainingLog log;
  log.config_json = vit_config_to_json(c);
  log.recipe_json = recipe_json(o);
  log.dataset_fingerprint_train = train_set->fingerprint();
  log.dataset_fingerprint_test = test_set->fingerprint();
  const bool quiet = o.common.quiet;
  auto on_epoch = [&](const std::vector<EpochRecord>& epochs) {
    const auto& e = epochs.back();
    if (!quiet) {
      double max_logit = 0;
      for (const auto& l : e.layers) max_logit = std::max(max_logit, l.logits_max);
      std::printf("epoch %d/%d  train loss %.4f acc %.4f  test loss %.4f acc %.4f  max attn logit %.2f  %.0f s\n", e.epoch,
                  o.train.epochs, e.train_loss, e.train_accuracy, e.test_loss, e.test_accuracy, max_logit, e.seconds);
      std::fflush(stdout);
    }
    log.epochs = epochs;
    log.context = run.finish();
    write_report(o.log, training_log_to_json(log));
  };
  auto result = train_vit(o.train, *train_set, *test_set, device, on_epoch, run.reporter());
  save_vit_checkpoint(o.output, result.model, c);
  log.context = run.finish();
  log.epochs = result.epochs;
  write_report(o.log, training_log_to_json(log));
  std::filesystem::remove(o.train.state_path);
  if (!quiet) std::printf("checkpoint: %s\nlog: %s\n", o.output.c_str(), o.log.c_str());
}

// The architecture and recipe options `train` and `bench training` share.
void add_recipe_options(CLI::App* cmd, TrainCommandOptions* o) {
  auto& t = o->train;
  auto& c = t.config;
  cmd->add_option("--attention", o->attention, "standard|quest|qknorm|qnorm")->capture_default_str();
  cmd->add_option("--patch-size", c.patch_size)->capture_default_str();
  cmd->add_option("--embed-dim", c.embed_dim)->capture_default_str();
  cmd->add_option("--depth", c.depth)->capture_default_str();
  cmd->add_option("--num-heads", c.num_heads)->capture_default_str();
  cmd->add_option("--mlp-ratio", c.mlp_ratio)->capture_default_str();
  cmd->add_option("--global-pool", c.global_pool, "token|avg")->capture_default_str();
  cmd->add_option("--epochs", t.epochs)->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--lr", t.learning_rate, "peak learning rate")->capture_default_str();
  cmd->add_option("--min-lr", t.min_learning_rate, "final learning rate of the cosine")->capture_default_str();
  cmd->add_option("--weight-decay", t.weight_decay)->capture_default_str();
  cmd->add_option("--warmup-epochs", t.warmup_epochs)->capture_default_str();
  cmd->add_option("--label-smoothing", t.label_smoothing)->capture_default_str();
  cmd->add_option("--crop-padding", t.crop_padding, "random crop padding in pixels (0: off)")->capture_default_str();
  cmd->add_flag("!--no-flip", t.horizontal_flip, "disable random horizontal flips");
  cmd->add_option("--grad-clip", t.grad_clip_norm, "clip the gradient norm (0: off)")->capture_default_str();
  cmd->add_option("--train-limit", t.train_limit, "use only the first N training images (0: all)");
  cmd->add_option("--mean", o->mean, "per-channel mean stored with the model (default: training-set statistics)")->delimiter(',');
  cmd->add_option("--std", o->std, "per-channel std stored with the model (default: training-set statistics)")->delimiter(',');
}

struct TrainingBenchOptions : TrainCommandOptions {
  int64_t warmup_steps = 1, steps = 50;
};

void run_training_bench(const TrainingBenchOptions& options) {
  QB_USAGE_CHECK(options.steps > 0, "--steps " << options.steps << ": must be positive");
  QB_USAGE_CHECK(options.warmup_steps >= 0, "--warmup-steps " << options.warmup_steps << ": must be zero or positive");
  TrainingBenchOptions o = options;
  CommandRun run(o.common);
  o.train.batch_size = o.common.batch_size;
  o.train.seed = o.common.seed;
  o.train.state_path.clear();
  DatasetOptions train_data = o.data;
  train_data.split = "train";
  auto train_set = open_dataset(dataset_spec(train_data));
  complete_config(o, *train_set);
  const auto timing = time_training_steps(o.train, *train_set, run.device, o.warmup_steps, o.steps);
  const double per_step = timing.seconds / static_cast<double>(timing.timed_steps);
  std::printf("{\"attention\": \"%s\", \"device\": \"%s\", \"threads\": %d, \"batch_size\": %lld, \"warmup_steps\": %lld, \"steps\": %lld, "
              "\"seconds\": %.4f, \"ms_per_step\": %.3f, \"steps_per_epoch\": %lld, \"epoch_seconds_extrapolated\": %.3f, "
              "\"fused\": %s, \"first_loss\": %.6f, \"last_loss\": %.6f}\n",
              o.attention.c_str(), o.common.device.c_str(), run.threads, static_cast<long long>(o.train.batch_size),
              static_cast<long long>(o.warmup_steps), static_cast<long long>(timing.timed_steps), timing.seconds,
              1e3 * per_step, static_cast<long long>(timing.steps_per_epoch), per_step * timing.steps_per_epoch,
              o.train.fused_kernels ? "true" : "false", timing.losses.front(), timing.losses.back());
}

}  // namespace

void add_train_command(CLI::App& app, CommandRunner& runner) {
  auto [cmd, o] = add_command<kData>(&app, runner, "train", "train a ViT (standard|quest|qknorm|qnorm attention) -> safetensors + log JSON",
                                     run_train, 128);
  add_recipe_options(cmd, o.get());
  auto& t = o->train;
  cmd->add_option("--test-limit", t.test_limit, "evaluate on the first N test images (0: all)");
  cmd->add_option("--test-split", o->test_split, "split evaluated after each epoch")->capture_default_str();
  cmd->add_option("-o,--output", o->output, "checkpoint path (.safetensors)")->capture_default_str();
  cmd->add_option("--log", o->log, "training log JSON (default: <output stem>.log.json)");
  cmd->add_flag("--resume", t.resume, "continue from <output>.state if present (saved after every epoch)");
}

void add_bench_training_command(CLI::App& app, CommandRunner& runner) {
  auto* bench = app.get_subcommand("bench");
  auto [cmd, o] = add_command<kData>(bench, runner, "training",
                                     "time N training steps of `train`'s recipe (no evaluation, no checkpoint); prints one JSON line",
                                     run_training_bench, 128);
  add_recipe_options(cmd, o.get());
  cmd->add_option("--warmup-steps", o->warmup_steps, "untimed steps first")->capture_default_str();
  cmd->add_option("--steps", o->steps, "timed steps")->capture_default_str();
  cmd->add_flag("--fused", o->train.fused_kernels, "time the fused CPU attention and GELU instead of the module path");
}

}  // namespace questbench
