// Training runner for the native ViT: AdamW, linear warmup + cosine decay (per step), decoupled weight
// decay on matrices only (not on biases, norms, pos_embed, cls_token — timm's rule), optional label
// smoothing, augmentation (random crop with zero padding, horizontal flip), seeded, resumable per epoch.
//
// Reproducibility: model init uses torch::manual_seed(seed); each epoch's shuffling and augmentation use
// a generator seeded from (seed, epoch), so a run resumed after epoch e continues exactly as it would have.
#pragma once

#include "bench/reporter.h"
#include "datasets/dataset.h"
#include "models/vit.h"
#include "reports/report.h"

#include <functional>
#include <string>
#include <vector>

namespace questbench {

struct TrainOptions {
  ViTConfig config;
  int epochs = 12;
  int64_t batch_size = 128;
  double learning_rate = 2e-3, min_learning_rate = 1e-5;
  double weight_decay = 0.05;
  double warmup_epochs = 1.0;
  double label_smoothing = 0.1;
  int64_t crop_padding = 2;  // 0 disables random crop
  bool horizontal_flip = true;
  double grad_clip_norm = 0;  // 0 disables clipping
  uint64_t seed = 0;
  int64_t train_limit = 0, test_limit = 0;  // 0: all samples
  int64_t diagnostics_samples = 256;        // first N test images, for the per-layer attention statistics
  std::string state_path;                   // per-epoch resume state ("" disables)
  bool resume = false;
  // The fused CPU attention and GELU of models/fused_training.h. Off: in the whole step they measured ~5 % slower
  // than the module path on the shipped recipe (BENCHMARKS.md, "Training vs PyTorch").
  bool fused_kernels = false;
};

struct TrainResult {
  VisionTransformer model{nullptr};
  std::vector<EpochRecord> epochs;
  int resumed_from_epoch = 0;
};

// Trains on `train`, evaluates on `test` after every epoch. `on_epoch` is called after each epoch with
// the records so far (e.g. to write the log); `reporter` gets the progress of each epoch.
TrainResult train_vit(const TrainOptions& options, const Dataset& train, const Dataset& test, torch::Device device,
                      const std::function<void(const std::vector<EpochRecord>&)>& on_epoch, Reporter& reporter);

// Times `timed_steps` training steps after `warmup_steps` untimed ones, with the same data, model,
// optimizer, schedule and augmentation as train_vit (no evaluation, no checkpoint): the figure behind
// `questbench bench training`. An epoch's time is extrapolated as seconds / timed_steps * steps_per_epoch.
struct TrainingStepsTiming {
  int64_t timed_steps = 0, steps_per_epoch = 0;
  double seconds = 0;
  std::vector<double> losses;  // of the timed steps, in order
};
TrainingStepsTiming time_training_steps(const TrainOptions& options, const Dataset& train, torch::Device device,
                                        int64_t warmup_steps, int64_t timed_steps);

// Per-channel mean and std of a data set's first `count` images (population std), for --mean/--std defaults.
std::pair<std::vector<double>, std::vector<double>> channel_statistics(const Dataset& data, int64_t count);

// Random crop with zero padding and horizontal flip, batched; random numbers from `generator` (CPU).
torch::Tensor augment_batch(const torch::Tensor& x, int64_t padding, bool flip, at::Generator& generator);

}  // namespace questbench
