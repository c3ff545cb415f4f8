// Report values: plain structs produced by the runners in bench/ and written/read by reports/format.h.
// Schema documentation: reports/schema/README.md (the JSON layout and its version history).
#pragma once

#include "models/model_info.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace questbench {

// A part of a run split over processes: samples [begin, end) of the plan's [plan_begin, plan_end). Partial
// reports (`--shard I/N`) carry it so that `questbench merge` can check the parts form one plan.
struct ShardInfo {
  int index = 0, count = 0;  // count 0: not a partial report
  int64_t begin = 0, end = 0, plan_begin = 0, plan_end = 0;
  std::string plan_fingerprint;  // everything that determines the results except the shard's range
};

// Where and how a run happened (google/benchmark's "context" idea): enough to reproduce it.
struct RunContext {
  std::string questbench_version, git_commit, libtorch_version, opencv_version;
  std::string device;
  std::string autocast = "none";  // mixed precision of the model's forward: none | bf16 | fp16
  int threads = 0;
  bool batch_invariant = false;  // --batch-invariant: each sample's logits and gradients independent of batch and threads
  uint64_t seed = 0;
  int64_t batch_size = 0;
  std::string command_line;
  std::string start_time, end_time;  // UTC ISO 8601
  double wall_time_s = 0;
  std::map<std::string, double> stage_seconds;  // e.g. "load_models", "evaluate"
  int world_size = 1;  // processes that computed the report (distributed runs, merged shards)
  ShardInfo shard;     // set on a shard's partial report only
};

struct DatasetInfo {
  std::string path, format, split, description, fingerprint;
  int64_t size = 0;          // samples in the data set
  int64_t evaluated = 0;     // samples evaluated (first `evaluated` samples when --limit is given)
  int64_t num_classes = 0;
  std::vector<std::string> class_names;
};

// What calibration metrics (reports/calibration.h) are computed from, kept per sample so that a split run's
// parts join exactly: the confidences are concatenated, the sums add (each term on the exact_sum_term grid of
// common/exact_sum.h). Empty (no confidences) in reports written before calibration was measured.
struct CalibrationData {
  std::vector<float> confidence;      // per sample: the largest softmax probability
  double nll_sum = 0;                 // sum of -ln p(true class), nats
  double brier_sum = 0;               // sum of sum_k (p_k - [k = true class])^2
  bool empty() const { return confidence.empty(); }
};

// Attention diagnostics of one layer over a cell's samples (--diagnostics): each sample's row of per-sample
// statistics (columns: diagnostics_column in models/model_info.h), in sample order. Everything a report shows
// is a function of the rows (layer_summary in reports/diagnostics.h), so a merge that concatenates the parts'
// rows gives the unsplit run's numbers, bit for bit.
struct LayerDiagnostics {
  int64_t heads = 0;
  int64_t logits_per_sample = 0;  // heads x queries x keys: the count behind a sample's logit mean and variance
  std::vector<float> values;      // samples x (diagnostics_column::kFirstHead + heads), row-major
};

// Clean accuracy of one model on the evaluated samples (sample i = dataset index i).
struct CleanResult {
  int64_t n = 0, correct = 0;
  double accuracy = 0, error = 0, loss = 0;  // loss: mean cross-entropy (nats)
  double loss_sum = 0;  // summed per-sample cross-entropy, each term on the exact_sum_term grid (common/exact_sum.h)
  std::vector<int64_t> per_class_n, per_class_correct;
  std::vector<uint8_t> correct_mask;  // per sample 0/1, stored bit-packed in JSON
  CalibrationData calibration;        // per sample, parallel to correct_mask (empty: not measured)
  std::vector<LayerDiagnostics> diagnostics;  // per layer (--diagnostics; empty otherwise)
};

struct EvalReport {
  RunContext context;
  DatasetInfo dataset;
  std::vector<ModelInfo> models;
  std::vector<CleanResult> results;  // parallel to models
};

// One stage of a cascade (AutoAttack): the stage attack ran on the points still robust before it.
struct AttackStage {
  std::string spec;                  // the stage attack's canonical spec
  int64_t attacked = 0;              // points it ran on
  double robust_accuracy = 0;        // after this stage, over all n samples of the cell
  int64_t forwards = 0, backwards = 0;  // model passes per sample, summed
  double seconds = 0;
  // Of the points this stage broke: sums and maxima of their perturbation norms (the cell's are the totals).
  double sum_linf = 0, max_linf = 0, sum_l2 = 0, max_l2 = 0;
  int64_t non_finite = 0;            // points whose returned image or logits there were NaN/Inf (counted broken)
  std::vector<uint8_t> robust_mask;  // after this stage, per sample of the cell
};

// One attack sweep point of one model: attack x eps over all evaluated samples.
struct AttackCell {
  std::string model, attack, norm;  // norm: "Linf" | "L2"
  std::string spec;                 // the attack's identity: its canonical spec, e.g. "pgd:steps=10,alpha=2/255,..."
  double eps = 0;
  std::string eps_text;             // as the user wrote it, e.g. "8/255"
  // Hyper-parameters actually used.
  int steps = 0, restarts = 0;
  double alpha = 0;
  bool random_start = false, early_stop = false;
  std::string loss, targeted;       // targeted: "" (untargeted), "least-likely", "random", "file"
  int64_t n = 0;
  double robust_accuracy = 0;       // clean-correct and never broken, over all n samples (AutoAttack convention)
  double success_rate = 0;          // broken among clean-correct samples
  double mean_linf = 0, max_linf = 0, mean_l2 = 0, max_l2 = 0;  // of x_adv - x, over all samples
  double sum_linf = 0, sum_l2 = 0;  // the means' sums, each term on the exact_sum_term grid (common/exact_sum.h)
  int64_t gradient_evaluations = 0; // forward+backward passes, summed over batches
  int64_t forwards = 0, backwards = 0;  // model passes counted per sample (backwards: input gradients)
  std::string rng = "per-sample";   // per-sample | original (see attacks/attack.h RngMode)
  std::vector<AttackStage> stages;  // a cascade's stages in order; empty for a single attack
  double zero_gradient_fraction = 0;  // samples with an all-zero input gradient at the first step
  // Samples whose adversarial image or its logits were NaN/Inf (a NaN gradient reaches the image through the
  // step): never counted robust, and a run with such cells exits non-zero after writing its report.
  int64_t non_finite = 0;
  double seconds = 0;
  std::vector<uint8_t> robust_mask;  // per sample
  // Per layer, on the adversarial examples the attack returned (a cascade: the final ones, i.e. the breaking
  // stage's point, else the clean image); --diagnostics only.
  std::vector<LayerDiagnostics> diagnostics;
};

// Per model and eps: robust only if robust under every attack of that norm at that eps.
struct WorstCaseCell {
  std::string model, norm;
  double eps = 0;
  std::string eps_text;
  std::vector<std::string> attacks;
  double robust_accuracy = 0;
  std::vector<uint8_t> robust_mask;
};

// A built-in sanity check: "passed", "warned" or "not_run", with the numbers behind it.
struct SanityCheck {
  std::string name, model, status, message;
};

struct AttackReport {
  RunContext context;
  DatasetInfo dataset;
  std::vector<ModelInfo> models;
  std::vector<CleanResult> clean;  // parallel to models
  std::vector<AttackCell> cells;
  std::vector<WorstCaseCell> worst_case;
  std::vector<SanityCheck> sanity;
};

// One (corruption, severity) point of one model over its samples (corruption benchmark).
struct CorruptionCell {
  std::string model, corruption, group;  // group: "standard" | "extra"
  int severity = 0;
  int64_t n = 0, correct = 0;
  double accuracy = 0, error = 0;
  int64_t non_finite = 0;                // samples with NaN/Inf logits: never counted correct (see AttackCell)
  double seconds = 0;                    // this model's inference time on the cell
  std::vector<uint8_t> correct_mask;     // per sample (sample i = index i of the cell's data)
  CalibrationData calibration;           // per sample, parallel to correct_mask (empty: not measured)
  std::vector<LayerDiagnostics> diagnostics;  // per layer, on the corrupted images (--diagnostics only)
};

// Per model and corruption: error summed over severities and normalized by the baseline.
struct CorruptionSummary {
  std::string corruption, group;
  int severities = 0;                   // severities evaluated
  double mean_accuracy = 0, mean_error = 0;
  double ce = -1, relative_ce = -1;     // < 0: undefined (no baseline, or baseline error 0)
  // Area under the error-vs-severity curve (trapezoid rule over the severities evaluated, divided by the
  // severity span: Hendrycks' `auc` for severities 1..5); < 0: undefined (fewer than two severities).
  double error_auc = -1;
};

struct CorruptionModelSummary {
  std::string model;
  std::vector<CorruptionSummary> corruptions;  // in table order
  // Over the standard corruptions evaluated (all 15 for the benchmark numbers; see `standard_complete`).
  double mce = -1, relative_mce = -1;             // mean CE / relative CE (fractions; x100 for %)
  double mean_corruption_accuracy = 0, mean_corruption_error = 0;  // unweighted mean over the standard cells
  int standard_corruptions = 0;                   // how many standard corruptions went into the means
  bool standard_complete = false;                 // all 15 standard corruptions x 5 severities
  // The same over the extras (speckle_noise, gaussian_blur, spatter, saturate) evaluated.
  double extra_mce = -1, extra_mean_accuracy = 0, extra_mean_error = 0;
  int extra_corruptions = 0;
};

struct CorruptionConfig {
  std::string source;     // "generated" (on the fly) | "cifar10-c" | "imagenet-c" (pre-corrupted folders)
  std::string table;      // imagenet | tiny | cifar (generated); "" for pre-corrupted data
  bool quantize = true, imagenet_c_jpeg = false;
  std::string frost;      // "procedural" | "files"
  std::vector<std::string> corruptions;
  std::vector<int> severities;
  std::string baseline;   // a model name, "alexnet-imagenet", or "" (no CE)
};

struct CorruptionReport {
  RunContext context;
  DatasetInfo dataset;                 // the clean data set
  CorruptionConfig config;
  std::vector<ModelInfo> models;
  std::vector<CleanResult> clean;      // parallel to models
  std::vector<CorruptionCell> cells;   // model-major, then corruption, then severity
  std::vector<CorruptionModelSummary> summaries;  // parallel to models
};

// One epoch of training: the quantities of the paper's instability analysis, per layer.
struct EpochRecord {
  int epoch = 0;  // 1-based
  double learning_rate_end = 0;
  double train_loss = 0, train_accuracy = 0;
  double test_loss = 0, test_accuracy = 0;
  double seconds = 0;
  std::vector<AttentionDiagnostics> layers;  // on a fixed batch of test images
};

struct TrainingLog {
  RunContext context;
  std::string config_json;       // ViTConfig
  std::string recipe_json;       // training options
  std::string dataset_fingerprint_train, dataset_fingerprint_test;
  std::vector<EpochRecord> epochs;
};

}  // namespace questbench
