// Losses, success tests, random starts and targets shared by the attacks.
#include "attacks/attack.h"

#include "common/error.h"
#include "common/seed.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/DistributionsHelper.h>
#include <torch/torch.h>

namespace questbench {
namespace {

// max over classes other than `cls` of the logits.
torch::Tensor max_other(const torch::Tensor& logits, const torch::Tensor& cls) {
  auto masked = logits.scatter(1, cls.view({-1, 1}), -std::numeric_limits<float>::infinity());
  return std::get<0>(masked.max(1));
}

}  // namespace

void note_non_finite_gradient(AttackOutput& out, const torch::Tensor& grad, int64_t batch_size, const torch::Tensor& rows) {
  torch::NoGradGuard no_grad;
  if (grad.size(0) == 0) return;
  const auto bad = ~torch::isfinite(grad.reshape({grad.size(0), -1})).all(1);
  if (!out.non_finite_gradient.defined())
    out.non_finite_gradient = torch::zeros({batch_size}, torch::TensorOptions().dtype(torch::kBool).device(grad.device()));
  if (rows.defined()) out.non_finite_gradient.index_put_({rows.to(grad.device())}, out.non_finite_gradient.index({rows.to(grad.device())}) | bad);
  else out.non_finite_gradient |= bad;
}

std::string norm_name(Norm norm) { return norm == Norm::Linf ? "Linf" : "L2"; }
std::string loss_name(LossKind loss) { return loss == LossKind::CrossEntropy ? "ce" : "margin"; }
LossKind parse_loss(const std::string& s) {
  if (s == "ce") return LossKind::CrossEntropy;
  if (s == "margin" || s == "cw") return LossKind::Margin;
  throw UsageError("loss '" + s + "': unknown (valid: ce, margin)");
}

std::string rng_mode_name(RngMode mode) { return mode == RngMode::PerSample ? "per-sample" : "original"; }
RngMode parse_rng_mode(const std::string& text) {
  if (text == "per-sample") return RngMode::PerSample;
  if (text == "original") return RngMode::Original;
  throw UsageError("rng '" + text + "': unknown (valid: per-sample, original)");
}

torch::Tensor attack_objective(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& targets,
                               const AttackConfig& config) {
  if (config.loss == LossKind::CrossEntropy) {
    if (config.targeted) return -torch::nn::functional::cross_entropy(logits, targets);
    return torch::nn::functional::cross_entropy(logits, labels);
  }
  if (config.targeted) {
    return (logits.gather(1, targets.view({-1, 1})).squeeze(1) - max_other(logits, targets)).mean();
  }
  return (max_other(logits, labels) - logits.gather(1, labels.view({-1, 1})).squeeze(1)).mean();
}

torch::Tensor attack_success(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& targets,
                             bool targeted) {
  auto pred = logits.argmax(1);
  return targeted ? pred == targets : pred != labels;
}

torch::Tensor random_start_delta(Norm norm, double eps, const std::vector<int64_t>& shape,
                                 const std::vector<uint64_t>& sample_seeds, uint64_t restart, torch::Device device) {
  const int64_t n = shape[0];
  QB_CHECK(static_cast<int64_t>(sample_seeds.size()) == n, "random start: " << sample_seeds.size() << " seeds for " << n << " samples");
  int64_t d = 1;
  for (size_t i = 1; i < shape.size(); ++i) d *= shape[i];
  // Filled straight from each sample's generator (no per-sample tensor ops: this runs once per batch and
  // restart, and per-sample dispatch would cost more than the draws).
  auto out = torch::empty({n, d}, torch::TensorOptions().dtype(torch::kFloat));
  float* data = out.data_ptr<float>();
  std::vector<double> gaussian(static_cast<size_t>(d + 2));
  for (int64_t i = 0; i < n; ++i) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(keyed_seed(sample_seeds[i], "restart", restart));
    auto* impl = gen.get<at::CPUGeneratorImpl>();
    float* row = data + i * d;
    if (norm == Norm::Linf) {
      at::uniform_real_distribution<double> uniform(-eps, eps);
      for (int64_t k = 0; k < d; ++k) row[k] = static_cast<float>(uniform(impl));
    } else {
      // Uniform in the d-ball: a uniform point on the (d+1)-sphere in R^(d+2), first d coordinates.
      at::normal_distribution<double> normal(0.0, 1.0);
      double sum = 0;
      for (auto& g : gaussian) {
        g = normal(impl);
        sum += g * g;
      }
      const double scale = eps / std::sqrt(sum);
      for (int64_t k = 0; k < d; ++k) row[k] = static_cast<float>(gaussian[k] * scale);
    }
  }
  return out.view(shape).to(device);
}

torch::Tensor least_likely_targets(const torch::Tensor& clean_logits) { return clean_logits.argmin(1); }

torch::Tensor random_targets(const torch::Tensor& labels, int64_t num_classes, const std::vector<uint64_t>& sample_seeds) {
  QB_CHECK(num_classes >= 2, "random targets need at least 2 classes");
  auto y = labels.to(torch::kCPU);
  auto out = torch::empty_like(y);
  for (int64_t i = 0; i < y.size(0); ++i) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(keyed_seed(sample_seeds[i], "random-target"));
    const int64_t r = torch::randint(0, num_classes - 1, {1}, gen, torch::kLong).item<int64_t>();
    const int64_t label = y[i].item<int64_t>();
    out[i] = r >= label ? r + 1 : r;  // uniform over the other classes
  }
  return out.to(labels.device());
}

}  // namespace questbench
