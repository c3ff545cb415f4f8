// The QUEST paper's toy experiment (Govindarajan et al., arXiv 2604.00199, the sequence task with an easy
// spurious pattern): a one-layer attention model trained with each attention variant over a grid of learning
// rates × weight decays × seeds; a run succeeds when it solves the unbiased test samples.
//
// Data (ToySettings in reports/toy_report.h holds every number): a sample is a sequence of T tokens; token j
// has a key part x_j ∈ R^d and a value part, the one-hot of a class c_j. One token, at a uniform position, is
// the answer; its class is the label, the other tokens' classes are uniform. Key parts: answer ~ N(0, Σ),
// others ~ N(0, I); in a biased sample (probability biased_fraction) the answer's key part is b + N(0, Σ).
// b is a far easier cue than Σ, and it is absent from unbiased samples.
//
// Model: e_j = ReLU(W1 x_j + c1) (per-token embedding, so that the variance cue of Σ is reachable by a linear
// key), k_j = Wk e_j, one learned query q = Wq u (u a learned query-token embedding), attention logits per
// variant (toy_attention_logits), a = softmax over the T tokens, class logits = Wo Σ_j a_j onehot(c_j) + bo.
//
// Determinism: every run draws from its own generators seeded by common/seed.h from (settings.seed, what, seed
// index); the grid's runs are spread over at::parallel_for workers, inside which LibTorch runs each operation
// on one thread, so the report does not depend on the thread count.
#pragma once

#include "bench/reporter.h"
#include "models/vit_config.h"
#include "reports/toy_report.h"

#include <torch/types.h>

#include <cstdint>

namespace questbench {

struct ToyData {
  torch::Tensor keys;     // float [N, T, d]
  torch::Tensor classes;  // int64 [N, T]
  torch::Tensor answer;   // int64 [N]: the answer token's position
  torch::Tensor labels;   // int64 [N]: classes[i, answer[i]]
  torch::Tensor biased;   // bool [N]
  torch::Tensor values;   // float [N, T, C]: one-hot of classes
};

// N samples, each biased with probability `biased_fraction`, drawn from a generator seeded with `seed`.
ToyData generate_toy_data(const ToySettings& settings, int64_t n, double biased_fraction, uint64_t seed);

// Σ's diagonal [d] and b [d] of the settings.
torch::Tensor toy_answer_std(const ToySettings& settings);
torch::Tensor toy_bias_vector(const ToySettings& settings);

// Attention logits of one query q [D] against keys k [N, T, D] -> [N, T]:
//   standard q·k/√D · quest q·k̂ · qknorm g q̂·k̂ · qnorm g q̂·k   (x̂ = x / (‖x‖ + 1e-6), as in models/attention.h)
// scale: g, a one-element tensor (qknorm, qnorm only; ignored otherwise).
torch::Tensor toy_attention_logits(AttentionKind kind, const torch::Tensor& q, const torch::Tensor& k,
                                   const torch::Tensor& scale);

// The one-layer attention model's parameters (initialized from `seed`; the same draw for every variant).
struct ToyModel {
  AttentionKind kind = AttentionKind::Standard;
  torch::Tensor w1, c1, wk, wq, query_token, wo, bo, scale;
  std::vector<torch::Tensor> parameters() const;
};
ToyModel make_toy_model(const ToySettings& settings, AttentionKind kind, uint64_t seed);

struct ToyForward {
  torch::Tensor logits;      // [N, C]
  torch::Tensor keys;        // [N, T, D], before any normalization
  torch::Tensor attention;   // [N, T]
};
ToyForward toy_forward(const ToyModel& model, const torch::Tensor& keys, const torch::Tensor& values);

// Accuracy of the model on `data` (no autograd).
double toy_accuracy(const ToyModel& model, const ToyData& data);
// Mean ‖k_answer‖ over the samples of `data`.
double toy_answer_key_norm(const ToyModel& model, const ToyData& data);
// Accuracy of the rule that knows Σ: the class of the token with the largest norm over the answer dims.
double toy_reference_accuracy(const ToySettings& settings, const ToyData& data);

// Checks the settings (grid not empty, positive sizes and rates, finite numbers, known variants); throws
// UsageError naming the setting's option.
void validate_toy_settings(const ToySettings& settings);

// One training run on the given data (train: the seed's training set; probes: the trajectory's samples).
struct ToyDataSets {
  ToyData train, test_unbiased, test_biased, probe_unbiased, probe_biased;
};
ToyDataSets make_toy_data_sets(const ToySettings& settings, int64_t seed_index);
// success_threshold: the unbiased test accuracy that counts as solved.
ToyRun train_toy_run(const ToySettings& settings, const ToyDataSets& data, AttentionKind kind, double learning_rate,
                     double weight_decay, int64_t seed_index, double success_threshold);

// The whole grid; the report's context is left for the caller.
ToyReport run_toy_experiment(const ToySettings& settings, Reporter& reporter);

}  // namespace questbench
