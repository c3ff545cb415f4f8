#include "bench/evaluate.h"

#include "common/device.h"
#include "common/error.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>

namespace questbench {

void accumulate_clean(CleanResult& r, const torch::Tensor& logits, const torch::Tensor& labels, int64_t num_classes) {
  auto y = labels.to(logits.device());
  // The labels first: a data set's class count is often inferred from its largest label, so this names the cause.
  const int64_t largest = labels.numel() ? labels.max().item<int64_t>() : 0;
  QB_CHECK(largest < logits.size(1),
           "label " << largest << " is outside the model's " << logits.size(1) << " classes (0.." << logits.size(1) - 1 << ")");
  QB_CHECK(logits.size(1) >= num_classes || num_classes == 0,
           "model gives " << logits.size(1) << " logits, the data set has " << num_classes << " classes");
  auto lf = logits.to(torch::kFloat);
  QB_CHECK(torch::isfinite(lf).all().item<bool>(), "model produced NaN or Inf logits");
  const double loss_sum = torch::nn::functional::cross_entropy(
                              lf, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                              .item<double>();
  auto correct = (lf.argmax(1) == y).to(torch::kCPU).to(torch::kByte).contiguous();
  auto y_cpu = labels.to(torch::kCPU).contiguous();
  const int64_t k = std::max<int64_t>(num_classes, logits.size(1));
  if (static_cast<int64_t>(r.per_class_n.size()) < k) {
    r.per_class_n.resize(k, 0);
    r.per_class_correct.resize(k, 0);
  }
  const auto* c = correct.data_ptr<uint8_t>();
  const auto* yy = y_cpu.data_ptr<int64_t>();
  for (int64_t i = 0; i < correct.numel(); ++i) {
    r.correct_mask.push_back(c[i]);
    r.per_class_n[yy[i]] += 1;
    r.per_class_correct[yy[i]] += c[i];
    r.correct += c[i];
  }
  r.n += correct.numel();
  r.loss += loss_sum;
}

void finalize_clean(CleanResult& r) {
  if (r.n > 0) {
    r.loss /= static_cast<double>(r.n);
    r.accuracy = static_cast<double>(r.correct) / static_cast<double>(r.n);
    r.error = 1.0 - r.accuracy;
  }
}

std::vector<CleanResult> evaluate_clean(const std::vector<Model>& models, const Dataset& dataset, int64_t count,
                                        int64_t batch_size, const std::function<void(const std::string&)>& progress) {
  c10::InferenceMode inference_mode;  // no autograd bookkeeping at all (stronger than no_grad)
  std::vector<CleanResult> results(models.size());
  HostToDevice to_device(models.empty() ? torch::Device(torch::kCPU) : models[0].device());
  const auto started = std::chrono::steady_clock::now();
  for (int64_t begin = 0; begin < count; begin += batch_size) {
    const int64_t end = std::min(count, begin + batch_size);
    Batch batch = dataset.read(begin, end);
    const auto x = to_device(batch.x);  // models on other devices copy it themselves
    for (size_t m = 0; m < models.size(); ++m) {
      accumulate_clean(results[m], models[m].logits(x), batch.y, dataset.num_classes());
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    char line[160];
    std::snprintf(line, sizeof line, "eval %lld/%lld images, %.0f images/s", static_cast<long long>(end),
                  static_cast<long long>(count), end * models.size() / std::max(seconds, 1e-9));
    progress(line);
  }
  progress("");
  for (auto& r : results) finalize_clean(r);
  return results;
}

}  // namespace questbench
