#include "bench/engine.h"

#include "common/device.h"
#include "common/error.h"
#include "common/exact_sum.h"
#include "common/sha256.h"
#include "models/batch_invariant.h"
#include "reports/calibration.h"
#include "reports/diagnostics.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace questbench {

SampleRange first_samples(int64_t limit, int64_t available) { return {0, limit > 0 ? std::min(limit, available) : available}; }

void check_range(const SampleRange& range, int64_t available, const std::string& what) {
  QB_CHECK(range.begin >= 0 && range.begin < range.end && range.end <= available,
           what << ": samples [" << range.begin << ", " << range.end << ") requested, the data set has " << available);
}

void for_each_batch(const SampleRange& range, int64_t batch_size, const std::function<void(int64_t, int64_t)>& fn) {
  QB_USAGE_CHECK(batch_size >= 1, "--batch-size must be >= 1");
  for (int64_t b = range.begin; b < range.end; b += batch_size) fn(b, std::min(range.end, b + batch_size));
}

Fingerprint::Fingerprint(const std::vector<Model>& models) {
  for (const auto& m : models) text_ << m.name() << ":" << m.info().sha256 << ":" << m.info().attention << ";";
  if (batch_invariant()) text_ << "batch_invariant;";  // other last bits: a journal or part of the other mode is refused
}

std::string Fingerprint::hex() const {
  const auto text = text_.str();
  Sha256 h;
  h.update(text.data(), text.size());
  return h.hex_digest();
}

ProgressMeter::ProgressMeter(Reporter& reporter, std::string stage, int64_t cells_total, int64_t images_per_cell)
    : reporter_(reporter), stage_(std::move(stage)), cells_total_(cells_total), images_per_cell_(images_per_cell) {}

void ProgressMeter::update(const std::string& cell, double fraction, int64_t images) {
  images_done_ += images;
  ProgressUpdate u;
  u.stage = stage_;
  u.cell = cell;
  u.cells_done = cells_done_;
  u.cells_total = cells_total_;
  u.images_done = images_done_;
  u.images_total = cells_total_ * images_per_cell_;
  u.elapsed_s = seconds_since(started_);
  u.images_per_s = images_done_ / std::max(u.elapsed_s, 1e-9);
  const double done = cells_done_ + fraction;
  u.eta_s = u.elapsed_s / std::max(done, 1e-9) * (cells_total_ - done);
  reporter_.progress(u);
}

void ProgressMeter::end() { reporter_.end_stage(stage_); }

void accumulate_calibration(CalibrationData& data, const torch::Tensor& logits, const torch::Tensor& labels) {
  const auto z = logits.to(torch::kCPU).to(torch::kDouble).contiguous();
  const auto y = labels.to(torch::kCPU).to(torch::kLong).contiguous();
  QB_CHECK(z.dim() == 2 && y.numel() == z.size(0), "calibration: " << y.numel() << " labels for logits of shape " << z.sizes());
  const int64_t rows = z.size(0), classes = z.size(1);
  const auto* zz = z.data_ptr<double>();
  const auto* yy = y.data_ptr<int64_t>();
  std::vector<double> log_p(static_cast<size_t>(classes));
  // Per sample, in a fixed order (not torch's reductions, whose order may depend on the batch shape), so that
  // the terms do not depend on batching or threads. -ln p(true) comes from the log-softmax in float64: finite
  // for finite logits even where p(true) underflows to 0.
  for (int64_t i = 0; i < rows; ++i) {
    const double* row = zz + i * classes;
    const int64_t label = yy[i];
    QB_CHECK(label >= 0 && label < classes, "label " << label << " is outside the model's " << classes << " classes (0.." << classes - 1 << ")");
    const double top = *std::max_element(row, row + classes);
    double sum = 0;
    for (int64_t k = 0; k < classes; ++k) sum += std::exp(row[k] - top);
    const double log_sum = std::log(sum);
    double confidence = 0, brier = 0;
    for (int64_t k = 0; k < classes; ++k) {
      log_p[static_cast<size_t>(k)] = row[k] - top - log_sum;
      const double p = std::exp(log_p[static_cast<size_t>(k)]);
      confidence = std::max(confidence, p);
      const double miss = p - (k == label ? 1.0 : 0.0);
      brier += miss * miss;
    }
    add_calibration_sample(data, static_cast<float>(confidence), -log_p[static_cast<size_t>(label)], brier);
  }
}


void append_diagnostics_rows(std::vector<LayerDiagnostics>& layers, const std::vector<torch::Tensor>& per_sample,
                             int64_t logits_per_sample) {
  if (layers.empty()) {
    layers.resize(per_sample.size());
    for (size_t l = 0; l < per_sample.size(); ++l) {
      layers[l].heads = per_sample[l].size(1) - diagnostics_column::kFirstHead;
      layers[l].logits_per_sample = logits_per_sample;
    }
  }
  QB_CHECK(layers.size() == per_sample.size(), "attention diagnostics: " << per_sample.size() << " layers, the cell has " << layers.size());
  for (size_t l = 0; l < per_sample.size(); ++l) {
    const auto rows = per_sample[l].to(torch::kCPU).to(torch::kFloat).contiguous();
    QB_CHECK(rows.size(1) == diagnostics_column::kFirstHead + layers[l].heads, "attention diagnostics: layer " << l << " changed its head count");
    const float* v = rows.data_ptr<float>();
    layers[l].values.insert(layers[l].values.end(), v, v + rows.numel());
  }
}

void set_diagnostics_rows(std::vector<LayerDiagnostics>& layers, const std::vector<torch::Tensor>& per_sample,
                          const std::vector<int64_t>& rows, const std::vector<int64_t>& positions) {
  QB_CHECK(layers.size() == per_sample.size() && rows.size() == positions.size(), "attention diagnostics: rows do not fit the cell");
  for (size_t l = 0; l < per_sample.size(); ++l) {
    const auto values = per_sample[l].to(torch::kCPU).to(torch::kFloat).contiguous();
    const int64_t width = values.size(1);
    QB_CHECK(width == diagnostics_column::kFirstHead + layers[l].heads, "attention diagnostics: layer " << l << " changed its head count");
    const float* v = values.data_ptr<float>();
    for (size_t k = 0; k < rows.size(); ++k)
      std::copy(v + rows[k] * width, v + (rows[k] + 1) * width, layers[l].values.begin() + positions[k] * width);
  }
}

void check_diagnostics_models(const std::vector<Model>& models) {
  for (const auto& m : models)
    QB_USAGE_CHECK(m.is_vit(), "--diagnostics: model '" << m.name()
                                   << "' is a TorchScript model; attention diagnostics need a native ViT (safetensors) checkpoint");
}

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
  const auto losses = torch::nn::functional::cross_entropy(lf, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
                          .to(torch::kCPU)
                          .to(torch::kDouble)
                          .contiguous();
  const auto* per_sample_loss = losses.data_ptr<double>();
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
    r.loss_sum += exact_sum_term(per_sample_loss[i]);
    r.correct_mask.push_back(c[i]);
    r.per_class_n[yy[i]] += 1;
    r.per_class_correct[yy[i]] += c[i];
    r.correct += c[i];
  }
  r.n += correct.numel();
  accumulate_calibration(r.calibration, lf, labels);
}

void finalize_clean(CleanResult& r) {
  if (r.n > 0) {
    r.loss = r.loss_sum / static_cast<double>(r.n);
    r.accuracy = static_cast<double>(r.correct) / static_cast<double>(r.n);
    r.error = 1.0 - r.accuracy;
  }
}

std::vector<CleanResult> evaluate_models(const std::vector<Model>& models, const std::function<Batch(int64_t, int64_t)>& read,
                                         const SampleRange& range, int64_t batch_size, int64_t num_classes,
                                         const std::vector<size_t>& which, Reporter& reporter, double* model_seconds,
                                         bool diagnostics) {
  c10::InferenceMode inference_mode;  // no autograd bookkeeping at all (stronger than no_grad)
  std::vector<CleanResult> results(which.size());
  if (which.empty()) return results;
  HostToDevice to_device(models[which[0]].device());
  ProgressMeter meter(reporter, "eval", 0, range.size() * static_cast<int64_t>(which.size()));
  for_each_batch(range, batch_size, [&](int64_t b, int64_t e) {
    Batch batch = read(b, e);
    const auto x = to_device(batch.x);  // models on other devices copy it themselves
    for (size_t k = 0; k < which.size(); ++k) {
      const auto t = Clock::now();
      std::vector<torch::Tensor> per_sample;
      const auto logits = models[which[k]].logits(x, diagnostics ? &per_sample : nullptr);
      if (diagnostics) append_diagnostics_rows(results[k].diagnostics, per_sample, models[which[k]].attention_logits_per_sample());
      QB_CHECK(torch::isfinite(logits).all().item<bool>(), models[which[k]].name() << ": produced NaN or Inf logits");
      accumulate_clean(results[k], logits, batch.y, num_classes);
      if (model_seconds) *model_seconds += seconds_since(t);
    }
    meter.update("", 0, (e - b) * static_cast<int64_t>(which.size()));
  });
  meter.end();
  for (auto& r : results) finalize_clean(r);
  return results;
}

}  // namespace questbench
