#include "bench/toy.h"

#include "common/error.h"
#include "common/random.h"
#include "common/seed.h"
#include "models/attention.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <sstream>

namespace questbench {
namespace {

at::Generator make_generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

std::string format_number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

torch::Tensor toy_answer_std(const ToySettings& s) {
  auto std = torch::ones({s.key_dims});
  std.slice(0, 0, s.answer_dims).fill_(s.answer_std);
  return std;
}

torch::Tensor toy_bias_vector(const ToySettings& s) {
  auto b = torch::zeros({s.key_dims});
  const int64_t spread = s.key_dims - s.answer_dims;
  b.slice(0, s.answer_dims, s.key_dims).fill_(s.bias_norm / std::sqrt(static_cast<double>(spread)));
  return b;
}

ToyData generate_toy_data(const ToySettings& s, int64_t n, double biased_fraction, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = make_generator(seed);
  const int64_t t = s.tokens, d = s.key_dims, c = s.classes;
  ToyData data;
  data.keys = torch::randn({n, t, d}, gen);
  data.classes = torch::randint(0, c, {n, t}, gen);
  data.answer = torch::randint(0, t, {n}, gen);
  data.labels = data.classes.gather(1, data.answer.unsqueeze(1)).squeeze(1);
  data.biased = torch::rand({n}, gen) < biased_fraction;
  auto answer_keys = torch::randn({n, d}, gen) * toy_answer_std(s) +
                     data.biased.to(torch::kFloat).unsqueeze(1) * toy_bias_vector(s).unsqueeze(0);
  data.keys.scatter_(1, data.answer.view({n, 1, 1}).expand({n, 1, d}), answer_keys.unsqueeze(1));
  data.values = torch::one_hot(data.classes, c).to(torch::kFloat);
  return data;
}

torch::Tensor toy_attention_logits(AttentionKind kind, const torch::Tensor& q, const torch::Tensor& k,
                                   const torch::Tensor& scale) {
  switch (kind) {
    case AttentionKind::Standard:
      return torch::matmul(k, q) / std::sqrt(static_cast<double>(q.size(0)));
    case AttentionKind::Quest:
      return torch::matmul(l2_normalize_last(k), q);
    case AttentionKind::QKNorm:
      return torch::matmul(l2_normalize_last(k), l2_normalize_last(q)) * scale;
    case AttentionKind::QNorm:
      return torch::matmul(k, l2_normalize_last(q)) * scale;
  }
  throw Error("toy: unknown attention kind");
}

std::vector<torch::Tensor> ToyModel::parameters() const {
  std::vector<torch::Tensor> p = {w1, c1, wk, wq, query_token, wo, bo};
  if (kind == AttentionKind::QKNorm || kind == AttentionKind::QNorm) p.push_back(scale);
  return p;
}

ToyModel make_toy_model(const ToySettings& s, AttentionKind kind, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = make_generator(seed);
  auto normal = [&](std::vector<int64_t> shape, double fan_in) {
    return (torch::randn(shape, gen) / std::sqrt(fan_in)).requires_grad_(true);
  };
  ToyModel m;
  m.kind = kind;
  // Every tensor is drawn in the same order whatever the variant, so one seed gives every variant one start.
  m.w1 = normal({s.embed_dims, s.key_dims}, static_cast<double>(s.key_dims));
  m.c1 = torch::zeros({s.embed_dims}).requires_grad_(true);
  m.wk = normal({s.head_dims, s.embed_dims}, static_cast<double>(s.embed_dims));
  m.wq = normal({s.head_dims, s.embed_dims}, static_cast<double>(s.embed_dims));
  m.query_token = normal({s.embed_dims}, 1.0);
  m.wo = normal({s.classes, s.classes}, static_cast<double>(s.classes));
  m.bo = torch::zeros({s.classes}).requires_grad_(true);
  // The learnable scale's inits are models/attention.cpp's: QKNorm log2(N² − N) for N tokens (here the T
  // sequence tokens and the query token), QNorm 1.
  const double n = static_cast<double>(s.tokens + 1);
  const double init = kind == AttentionKind::QKNorm ? std::log2(std::max(n * n - n, 2.0)) : 1.0;
  m.scale = torch::full({1}, init).requires_grad_(true);
  return m;
}

ToyForward toy_forward(const ToyModel& m, const torch::Tensor& keys, const torch::Tensor& values) {
  auto embedded = torch::relu(torch::matmul(keys, m.w1.t()) + m.c1);  // [N, T, E]
  ToyForward f;
  f.keys = torch::matmul(embedded, m.wk.t());                         // [N, T, D]
  auto q = torch::mv(m.wq, m.query_token);                            // [D]
  f.attention = torch::softmax(toy_attention_logits(m.kind, q, f.keys, m.scale), -1);
  auto pooled = torch::matmul(f.attention.unsqueeze(1), values).squeeze(1);  // [N, C]
  f.logits = torch::matmul(pooled, m.wo.t()) + m.bo;
  return f;
}

double toy_accuracy(const ToyModel& m, const ToyData& data) {
  torch::NoGradGuard no_grad;
  auto f = toy_forward(m, data.keys, data.values);
  return f.logits.argmax(1).eq(data.labels).to(torch::kDouble).mean().item<double>();
}

double toy_answer_key_norm(const ToyModel& m, const ToyData& data) {
  torch::NoGradGuard no_grad;
  auto f = toy_forward(m, data.keys, data.values);
  const int64_t n = data.keys.size(0), dk = f.keys.size(2);
  auto answer_keys = f.keys.gather(1, data.answer.view({n, 1, 1}).expand({n, 1, dk})).squeeze(1);
  return answer_keys.norm(2, -1).to(torch::kDouble).mean().item<double>();
}

double toy_reference_accuracy(const ToySettings& s, const ToyData& data) {
  torch::NoGradGuard no_grad;
  auto strength = data.keys.slice(2, 0, s.answer_dims).norm(2, -1);  // [N, T]
  auto picked = data.classes.gather(1, strength.argmax(1, /*keepdim=*/true)).squeeze(1);
  return picked.eq(data.labels).to(torch::kDouble).mean().item<double>();
}

void validate_toy_settings(const ToySettings& s) {
  QB_USAGE_CHECK(!s.variants.empty(), "--variants: the grid needs at least one attention variant");
  const auto& known = attention_kind_names();
  for (const auto& v : s.variants)
    QB_USAGE_CHECK(std::find(known.begin(), known.end(), v) != known.end(),
                   "--variants '" << v << "': unknown attention variant (valid: standard, quest, qknorm, qnorm)");
  QB_USAGE_CHECK(!s.learning_rates.empty(), "--lr: the grid needs at least one learning rate");
  for (double lr : s.learning_rates)
    QB_USAGE_CHECK(std::isfinite(lr) && lr > 0, "--lr " << lr << ": learning rates must be positive and finite");
  QB_USAGE_CHECK(!s.weight_decays.empty(), "--weight-decay: the grid needs at least one weight decay");
  for (double wd : s.weight_decays)
    QB_USAGE_CHECK(std::isfinite(wd) && wd >= 0, "--weight-decay " << wd << ": weight decays must be non-negative and finite");
  QB_USAGE_CHECK(s.seeds > 0, "--seeds " << s.seeds << ": must be positive");
  QB_USAGE_CHECK(s.steps > 0, "--steps " << s.steps << ": must be positive");
  QB_USAGE_CHECK(s.batch_size > 0, "--batch-size " << s.batch_size << ": must be positive");
  QB_USAGE_CHECK(s.trajectory_every > 0, "--trajectory-every " << s.trajectory_every << ": must be positive");
  QB_USAGE_CHECK(s.tokens >= 2, "--tokens " << s.tokens << ": a sequence needs at least 2 tokens");
  QB_USAGE_CHECK(s.classes >= 2, "--classes " << s.classes << ": needs at least 2 classes");
  QB_USAGE_CHECK(s.answer_dims >= 1 && s.answer_dims < s.key_dims,
                 "--answer-dims " << s.answer_dims << ": must be in [1, key dims " << s.key_dims << ")");
  QB_USAGE_CHECK(std::isfinite(s.answer_std) && s.answer_std > 0, "--answer-std " << s.answer_std << ": must be positive and finite");
  QB_USAGE_CHECK(std::isfinite(s.bias_norm) && s.bias_norm >= 0, "--bias-norm " << s.bias_norm << ": must be non-negative and finite");
  QB_USAGE_CHECK(std::isfinite(s.biased_fraction) && s.biased_fraction >= 0 && s.biased_fraction <= 1,
                 "--biased-fraction " << s.biased_fraction << ": must be in [0, 1]");
  QB_USAGE_CHECK(s.train_samples > 0, "--train-samples " << s.train_samples << ": must be positive");
  QB_USAGE_CHECK(s.test_samples > 0, "--test-samples " << s.test_samples << ": must be positive");
  QB_USAGE_CHECK(s.embed_dims > 0 && s.head_dims > 0, "--embed-dims/--head-dims: must be positive");
  QB_USAGE_CHECK(s.probe_samples > 0, "--probe-samples " << s.probe_samples << ": must be positive");
  QB_USAGE_CHECK(std::isfinite(s.success_fraction) && s.success_fraction > 0 && s.success_fraction <= 1,
                 "--success-fraction " << s.success_fraction << ": must be in (0, 1]");
}

ToyDataSets make_toy_data_sets(const ToySettings& s, int64_t seed_index) {
  ToyDataSets d;
  d.train = generate_toy_data(s, s.train_samples, s.biased_fraction, keyed_seed(s.seed, "toy-train", seed_index));
  // One test set for the whole grid, so that every run is scored on the same samples.
  d.test_unbiased = generate_toy_data(s, s.test_samples, 0.0, keyed_seed(s.seed, "toy-test-unbiased"));
  d.test_biased = generate_toy_data(s, s.test_samples, 1.0, keyed_seed(s.seed, "toy-test-biased"));
  auto head = [&](const ToyData& from) {
    const int64_t n = std::min(s.probe_samples, from.keys.size(0));
    ToyData p;
    p.keys = from.keys.slice(0, 0, n);
    p.classes = from.classes.slice(0, 0, n);
    p.answer = from.answer.slice(0, 0, n);
    p.labels = from.labels.slice(0, 0, n);
    p.biased = from.biased.slice(0, 0, n);
    p.values = from.values.slice(0, 0, n);
    return p;
  };
  d.probe_unbiased = head(d.test_unbiased);
  d.probe_biased = head(d.test_biased);
  return d;
}

ToyRun train_toy_run(const ToySettings& s, const ToyDataSets& data, AttentionKind kind, double learning_rate,
                     double weight_decay, int64_t seed_index, double success_threshold) {
  const auto started = std::chrono::steady_clock::now();
  torch::AutoGradMode grad_mode(true);
  ToyRun run;
  run.variant = attention_kind_name(kind);
  run.learning_rate = learning_rate;
  run.weight_decay = weight_decay;
  run.seed_index = seed_index;

  ToyModel model = make_toy_model(s, kind, keyed_seed(s.seed, "toy-init", seed_index));
  torch::optim::AdamW optimizer(model.parameters(), torch::optim::AdamWOptions(learning_rate).weight_decay(weight_decay));
  // The mini-batch draw depends on the seed only, so every variant, learning rate and weight decay of one
  // seed sees the same batches.
  Xoshiro256 batch_rng(keyed_seed(s.seed, "toy-batches", seed_index));
  const int64_t n_train = data.train.keys.size(0);
  auto index = torch::empty({s.batch_size}, torch::kLong);
  auto record = [&](int64_t step) {
    run.trajectory_steps.push_back(step);
    run.key_norm_biased.push_back(toy_answer_key_norm(model, data.probe_biased));
    run.key_norm_unbiased.push_back(toy_answer_key_norm(model, data.probe_unbiased));
  };
  record(0);
  double loss_value = 0;
  for (int64_t step = 1; step <= s.steps; ++step) {
    auto* idx = index.data_ptr<int64_t>();
    for (int64_t i = 0; i < s.batch_size; ++i) idx[i] = static_cast<int64_t>(batch_rng.next_plus_plus() % n_train);
    auto keys = data.train.keys.index_select(0, index);
    auto values = data.train.values.index_select(0, index);
    auto labels = data.train.labels.index_select(0, index);
    auto loss = torch::nn::functional::cross_entropy(toy_forward(model, keys, values).logits, labels);
    loss_value = loss.item<double>();
    if (!std::isfinite(loss_value)) {
      run.diverged = true;
      break;
    }
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    if (step % s.trajectory_every == 0 || step == s.steps) record(step);
  }
  run.final_train_loss = loss_value;
  if (!run.diverged) {
    run.unbiased_accuracy = toy_accuracy(model, data.test_unbiased);
    run.biased_accuracy = toy_accuracy(model, data.test_biased);
    run.success = run.unbiased_accuracy >= success_threshold;
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return run;
}

ToyReport run_toy_experiment(const ToySettings& s, Reporter& reporter) {
  validate_toy_settings(s);
  ToyReport report;
  report.settings = s;

  struct Job {
    AttentionKind kind;
    double lr, wd;
    int64_t seed_index;
  };
  std::vector<Job> jobs;
  for (const auto& v : s.variants)
    for (double lr : s.learning_rates)
      for (double wd : s.weight_decays)
        for (int64_t seed = 0; seed < s.seeds; ++seed) jobs.push_back({parse_attention_kind(v), lr, wd, seed});

  std::vector<ToyDataSets> data;
  for (int64_t seed = 0; seed < s.seeds; ++seed) data.push_back(make_toy_data_sets(s, seed));
  report.reference_unbiased_accuracy = toy_reference_accuracy(s, data.front().test_unbiased);
  report.success_threshold = s.success_fraction * report.reference_unbiased_accuracy;

  // Workers take the next job from a shared counter (runs differ in cost); each run's operations execute on
  // its worker's thread only, so the results do not depend on how many workers there are.
  report.runs.resize(jobs.size());
  std::atomic<size_t> next{0};
  std::mutex progress_mutex;
  int64_t done = 0;
  const auto started = std::chrono::steady_clock::now();
  const int64_t workers = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), static_cast<int64_t>(jobs.size())));
  at::parallel_for(0, workers, 1, [&](int64_t begin, int64_t end) {
    for (int64_t w = begin; w < end; ++w) {
      for (size_t j; (j = next.fetch_add(1)) < jobs.size();) {
        const auto& job = jobs[j];
        report.runs[j] = train_toy_run(s, data[job.seed_index], job.kind, job.lr, job.wd, job.seed_index,
                                       report.success_threshold);
        std::lock_guard<std::mutex> lock(progress_mutex);
        ProgressUpdate u;
        u.stage = "toy";
        u.cell = attention_kind_name(job.kind) + " lr " + format_number(job.lr) + " wd " + format_number(job.wd) +
                 " seed " + std::to_string(job.seed_index);
        u.cells_done = ++done;
        u.cells_total = static_cast<int64_t>(jobs.size());
        u.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        u.eta_s = u.elapsed_s / static_cast<double>(done) * static_cast<double>(u.cells_total - done);
        reporter.progress(u);
      }
    }
  });
  reporter.end_stage("toy");
  report.variants = summarize_toy_runs(s.variants, report.runs);
  return report;
}

}  // namespace questbench
