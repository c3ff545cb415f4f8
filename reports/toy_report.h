// The report of `questbench toy`, the QUEST paper's toy experiment (a one-layer attention model on a sequence
// task with an easy spurious pattern), as plain values: its settings, one record per training run (variant ×
// learning rate × weight decay × seed) and the success rate per variant; JSON (schema "questbench.toy"),
// a Markdown table and an SVG figure. No LibTorch here: bench/toy.h runs the experiment.
#pragma once

#include "reports/report.h"

#include <cstdint>
#include <string>
#include <vector>

namespace questbench {

// Everything that fixes the experiment; every field is written to the report's "settings".
struct ToySettings {
  // data: a sequence of `tokens` tokens, each a key part (key_dims) and a value part (a one-hot class of
  // `classes`). One token per sequence is the answer; its class is the label.
  int64_t tokens = 8;
  int64_t key_dims = 8;
  int64_t classes = 4;
  // The answer token's key part ~ N(0, Σ), Σ = diag(answer_std² on the first `answer_dims` dims, 1 elsewhere);
  // the other tokens' key parts ~ N(0, I). A biased sample's answer key is b + N(0, Σ) with
  // b = bias_norm · (unit vector spread evenly over the last key_dims − answer_dims dims).
  int64_t answer_dims = 4;
  double answer_std = 3.0;
  double bias_norm = 4.0;
  double biased_fraction = 0.5;  // of the training samples
  int64_t train_samples = 2048;  // a fixed training set per seed
  int64_t test_samples = 1000;   // of each kind (unbiased, biased); one test set for the whole grid
  // model: keys from a per-token ReLU embedding of the key part, one learned query, values the one-hot value
  // parts, a linear head on the attention output.
  int64_t embed_dims = 32;
  int64_t head_dims = 16;
  // training: AdamW on mini-batches drawn with replacement from the training set.
  int64_t steps = 1500;
  int64_t batch_size = 128;
  int64_t trajectory_every = 50;  // steps between key-norm measurements
  int64_t probe_samples = 256;    // test samples of each kind the key norms are measured on
  // A run "solves" the task when its unbiased test accuracy reaches success_fraction × the reference accuracy
  // (ToyReport::reference_unbiased_accuracy, what the rule that knows Σ reaches on the same samples).
  double success_fraction = 0.9;
  uint64_t seed = 0;              // the experiment seed every per-run seed derives from
  // the grid
  std::vector<std::string> variants = {"standard", "quest", "qknorm", "qnorm"};
  std::vector<double> learning_rates = {1e-3, 3e-3, 1e-2, 3e-2, 1e-1};
  std::vector<double> weight_decays = {0.0, 0.1, 1.0};
  int64_t seeds = 3;
};

// One training run.
struct ToyRun {
  std::string variant;
  double learning_rate = 0, weight_decay = 0;
  int64_t seed_index = 0;
  bool success = false;
  bool diverged = false;  // the loss became NaN or infinite; the run stopped there
  double unbiased_accuracy = 0, biased_accuracy = 0, final_train_loss = 0;
  // measured every trajectory_every steps, at steps 0, K, 2K, … and the last step; mean L2 norm of the answer
  // token's key (before any normalization) over the biased / unbiased probe samples
  std::vector<int64_t> trajectory_steps;
  std::vector<double> key_norm_biased, key_norm_unbiased;
  double seconds = 0;
};

struct ToyVariantSummary {
  std::string variant;
  int64_t runs = 0, successes = 0, diverged = 0;
  double success_rate = 0;
  double mean_unbiased_accuracy = 0, mean_biased_accuracy = 0;
};

struct ToyReport {
  RunContext context;
  ToySettings settings;
  // the accuracy on the unbiased test samples of the rule that knows Σ: predict the class of the token whose
  // key part has the largest norm over the first answer_dims dims (what a model that solved the task can reach)
  double reference_unbiased_accuracy = 0;
  double success_threshold = 0;  // settings.success_fraction × reference_unbiased_accuracy
  std::vector<ToyRun> runs;               // variant-major, then learning rate, weight decay, seed
  std::vector<ToyVariantSummary> variants;  // in settings.variants order
};

// The per-variant summaries of `runs` (in `variants` order).
std::vector<ToyVariantSummary> summarize_toy_runs(const std::vector<std::string>& variants,
                                                  const std::vector<ToyRun>& runs);

std::string toy_report_to_json(const ToyReport& report);
ToyReport toy_report_from_json(const std::string& text, const std::string& what);

// Markdown: the success rate per variant, then the success count per learning rate × weight decay.
std::string toy_markdown_table(const ToyReport& report);
// One SVG document: success rate per variant, and the mean key-norm trajectories of biased and unbiased
// answer tokens per variant (mean over the runs of the grid).
std::string toy_plot_svg(const ToyReport& report);

}  // namespace questbench
