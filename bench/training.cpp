#include "bench/training.h"

#include "bench/engine.h"

#include "common/error.h"
#include "common/seed.h"
#include "common/files.h"
#include "reports/format.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <malloc.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

namespace questbench {
namespace {

at::Generator epoch_generator(uint64_t seed, int epoch) {
  return at::make_generator<at::CPUGeneratorImpl>(epoch_seed(seed, epoch));
}

double learning_rate_at(const TrainOptions& o, int64_t step, int64_t total_steps, int64_t warmup_steps) {
  if (step < warmup_steps) return o.learning_rate * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  const double progress = static_cast<double>(step - warmup_steps) / std::max<double>(1.0, total_steps - warmup_steps);
  return o.min_learning_rate + 0.5 * (o.learning_rate - o.min_learning_rate) * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
}

torch::Tensor normalize(const torch::Tensor& x, const torch::Tensor& mean, const torch::Tensor& inv_std) {
  return (x - mean) * inv_std;
}

struct EvalNumbers {
  double loss = 0, accuracy = 0;
};

EvalNumbers evaluate(VisionTransformer& model, const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& mean,
                     const torch::Tensor& inv_std, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  model->eval();
  double loss = 0;
  int64_t correct = 0;
  for (int64_t begin = 0; begin < x.size(0); begin += batch_size) {
    const int64_t end = std::min(x.size(0), begin + batch_size);
    auto logits = model->forward(normalize(x.slice(0, begin, end), mean, inv_std));
    auto yy = y.slice(0, begin, end);
    loss += torch::nn::functional::cross_entropy(logits, yy,
                                                 torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                .item<double>();
    correct += (logits.argmax(1) == yy).sum().item<int64_t>();
  }
  model->train();
  const double n = static_cast<double>(std::max<int64_t>(1, x.size(0)));
  return {loss / n, correct / n};
}

void save_state(const std::string& path, VisionTransformer& model, torch::optim::Optimizer& optimizer, int epoch,
                const std::string& config_json, const std::vector<EpochRecord>& epochs) {
  torch::serialize::OutputArchive archive;
  model->save(archive);
  torch::serialize::OutputArchive optimizer_archive;
  optimizer.save(optimizer_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("epoch", torch::tensor(static_cast<int64_t>(epoch)));
  archive.write("config", c10::IValue(config_json));
  TrainingLog log;
  log.config_json = config_json;
  log.recipe_json = "{}";
  log.epochs = epochs;
  archive.write("epochs", c10::IValue(training_log_to_json(log)));
  const std::string tmp = path + ".tmp";
  archive.save_to(tmp);
  std::filesystem::rename(tmp, path);
}

}  // namespace

torch::Tensor augment_batch(const torch::Tensor& x, int64_t padding, bool flip, at::Generator& generator) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  auto out = x;
  auto index_opts = torch::TensorOptions().dtype(torch::kLong);
  if (padding > 0) {
    auto padded = torch::constant_pad_nd(x, {padding, padding, padding, padding}, 0.0);
    auto oy = torch::randint(0, 2 * padding + 1, {b}, generator, index_opts).to(x.device());
    auto ox = torch::randint(0, 2 * padding + 1, {b}, generator, index_opts).to(x.device());
    auto rows = oy.view({b, 1}) + torch::arange(h, index_opts.device(x.device())).view({1, h});
    auto cols = ox.view({b, 1}) + torch::arange(w, index_opts.device(x.device())).view({1, w});
    auto picked_rows = padded.gather(2, rows.view({b, 1, h, 1}).expand({b, c, h, w + 2 * padding}));
    out = picked_rows.gather(3, cols.view({b, 1, 1, w}).expand({b, c, h, w}));
  }
  if (flip) {
    auto mask = (torch::rand({b}, generator) < 0.5).to(x.device()).view({b, 1, 1, 1});
    out = torch::where(mask, out.flip({3}), out);
  }
  return out;
}

std::pair<std::vector<double>, std::vector<double>> channel_statistics(const Dataset& data, int64_t count) {
  torch::Tensor sum, sum_sq;
  int64_t pixels = 0;
  for (int64_t begin = 0; begin < count; begin += 1024) {
    auto x = data.read(begin, std::min(count, begin + 1024)).x.to(torch::kDouble);
    auto s = x.sum({0, 2, 3}), s2 = (x * x).sum({0, 2, 3});
    sum = sum.defined() ? sum + s : s;
    sum_sq = sum_sq.defined() ? sum_sq + s2 : s2;
    pixels += x.size(0) * x.size(2) * x.size(3);
  }
  QB_CHECK(pixels > 0, "cannot compute channel statistics of an empty data set");
  auto mean = sum / pixels;
  auto std = (sum_sq / pixels - mean * mean).clamp_min(1e-12).sqrt();
  std::vector<double> m(mean.data_ptr<double>(), mean.data_ptr<double>() + mean.numel());
  std::vector<double> s(std.data_ptr<double>(), std.data_ptr<double>() + std.numel());
  for (auto& v : m) v = std::round(v * 1e4) / 1e4;
  for (auto& v : s) v = std::round(v * 1e4) / 1e4;
  return {m, s};
}

namespace {

// Every step allocates the same tensors afresh. glibc serves blocks of a few MB by mmap and gives them back on
// free, so each step would fault in its pages anew (costly on virtual machines); kept in the heap, the freed
// blocks are reused by the next step. The thresholds are process-wide; they only stop memory from being handed
// back to the system early.
void keep_freed_memory() {
#ifdef M_MMAP_THRESHOLD
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

// Everything a training step needs: the data on the device, the normalization, the model, the optimizer
// and the schedule. Shared by train_vit and time_training_steps so both run the same step.
struct TrainingSession {
  const TrainOptions& o;
  torch::Device device;
  int64_t n_train = 0;
  torch::Tensor x_train, y_train, mean_t, inv_std_t;
  VisionTransformer model{nullptr};
  std::unique_ptr<torch::optim::AdamW> optimizer;
  int64_t steps_per_epoch = 0, total_steps = 0, warmup_steps = 0;
  torch::nn::functional::CrossEntropyFuncOptions ce_options;

  TrainingSession(const TrainOptions& options, const Dataset& train, torch::Device dev) : o(options), device(dev) {
    keep_freed_memory();
    validate(o.config);
    QB_USAGE_CHECK(o.epochs > 0, "--epochs must be positive, got " << o.epochs);
    QB_USAGE_CHECK(o.learning_rate > 0 && std::isfinite(o.learning_rate), "--lr must be positive and finite");
    QB_USAGE_CHECK(o.label_smoothing >= 0 && o.label_smoothing < 1, "--label-smoothing must be in [0, 1)");
    const auto shape = train.image_shape();
    QB_CHECK(shape.channels == o.config.in_chans && shape.height == o.config.img_height && shape.width == o.config.img_width,
             "training images are " << shape.channels << "x" << shape.height << "x" << shape.width << ", the model takes "
                                    << o.config.in_chans << "x" << o.config.img_height << "x" << o.config.img_width);
    n_train = o.train_limit > 0 ? std::min(o.train_limit, train.size()) : train.size();
    QB_CHECK(n_train > 0, "the training set is empty");
    Batch train_all = train.read(0, n_train);
    x_train = train_all.x.to(device);
    y_train = train_all.y.to(device);

    const auto n_channels = o.config.in_chans;
    std::vector<float> mean(n_channels, 0.f), inv_std(n_channels, 1.f);
    for (int64_t c = 0; c < n_channels; ++c) {
      if (!o.config.mean.empty()) mean[c] = static_cast<float>(o.config.mean[c]);
      if (!o.config.std.empty()) inv_std[c] = static_cast<float>(1.0 / o.config.std[c]);
    }
    mean_t = torch::tensor(mean).view({1, n_channels, 1, 1}).to(device);
    inv_std_t = torch::tensor(inv_std).view({1, n_channels, 1, 1}).to(device);

    torch::manual_seed(o.seed);
    model = VisionTransformer(o.config);
    model->to(device);
    model->train();
    model->set_fused_training(o.fused_kernels);

    std::vector<torch::Tensor> decay, no_decay;
    for (const auto& item : model->named_parameters()) {
      const bool is_matrix = item.value().dim() >= 2 && item.key() != "pos_embed" && item.key() != "cls_token";
      (is_matrix ? decay : no_decay).push_back(item.value());
    }
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                   torch::optim::AdamWOptions(o.learning_rate).weight_decay(o.weight_decay)));
    groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                      torch::optim::AdamWOptions(o.learning_rate).weight_decay(0.0)));
    optimizer = std::make_unique<torch::optim::AdamW>(std::move(groups), torch::optim::AdamWOptions(o.learning_rate));

    steps_per_epoch = (n_train + o.batch_size - 1) / o.batch_size;
    total_steps = steps_per_epoch * o.epochs;
    warmup_steps = std::max<int64_t>(1, static_cast<int64_t>(std::llround(o.warmup_epochs * steps_per_epoch)));
    ce_options = torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(o.label_smoothing);
  }

  struct StepNumbers {
    double loss = 0, learning_rate = 0;
    int64_t images = 0, correct = 0;
  };

  // Step s of `epoch` on the images order[s * batch, (s + 1) * batch); augmentation draws from `generator`.
  StepNumbers step(int epoch, int64_t s, const torch::Tensor& order, at::Generator& generator) {
    StepNumbers numbers;
    const int64_t global_step = epoch * steps_per_epoch + s;
    numbers.learning_rate = learning_rate_at(o, global_step, total_steps, warmup_steps);
    for (auto& group : optimizer->param_groups())
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(numbers.learning_rate);
    auto idx = order.slice(0, s * o.batch_size, std::min(n_train, (s + 1) * o.batch_size));
    auto x = augment_batch(x_train.index_select(0, idx), o.crop_padding, o.horizontal_flip, generator);
    auto y = y_train.index_select(0, idx);
    auto logits = model->forward(normalize(x, mean_t, inv_std_t));
    auto loss = torch::nn::functional::cross_entropy(logits, y, ce_options);
    optimizer->zero_grad();
    loss.backward();
    if (o.grad_clip_norm > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), o.grad_clip_norm);
    optimizer->step();
    numbers.loss = loss.item<double>();
    QB_CHECK(std::isfinite(numbers.loss), "training diverged: loss is " << numbers.loss << " at epoch " << epoch + 1
                                                                        << " step " << s + 1 << " (lower --lr?)");
    numbers.images = idx.size(0);
    numbers.correct = (logits.detach().argmax(1) == y).sum().item<int64_t>();
    return numbers;
  }

  torch::Tensor epoch_order(at::Generator& generator) const {
    return torch::randperm(n_train, generator, torch::TensorOptions().dtype(torch::kLong)).to(device);
  }
};

}  // namespace

TrainResult train_vit(const TrainOptions& o, const Dataset& train, const Dataset& test, torch::Device device,
                      const std::function<void(const std::vector<EpochRecord>&)>& on_epoch,
                      Reporter& reporter) {
  TrainingSession session(o, train, device);
  const int64_t n_train = session.n_train;
  const int64_t n_test = o.test_limit > 0 ? std::min(o.test_limit, test.size()) : test.size();
  Batch test_all = test.read(0, n_test);
  auto x_test = test_all.x.to(device), y_test = test_all.y.to(device);
  auto& model = session.model;
  auto& optimizer = *session.optimizer;
  const auto& mean_t = session.mean_t;
  const auto& inv_std_t = session.inv_std_t;

  const std::string config_json = vit_config_to_json(o.config);
  TrainResult result;
  int start_epoch = 0;
  if (o.resume && !o.state_path.empty() && std::filesystem::exists(o.state_path)) {
    torch::serialize::InputArchive archive;
    try {
      archive.load_from(o.state_path, device);
    } catch (const c10::Error&) {
      throw Error(o.state_path + ": training state is corrupt or unreadable (delete it to start over)");
    }
    c10::IValue stored_config;
    archive.read("config", stored_config);
    QB_CHECK(stored_config.toStringRef() == config_json,
             o.state_path << ": training state was made with another model config; delete it or drop --resume");
    model->load(archive);
    torch::serialize::InputArchive optimizer_archive;
    archive.read("optimizer", optimizer_archive);
    optimizer.load(optimizer_archive);
    torch::Tensor epoch_t;
    archive.read("epoch", epoch_t);
    start_epoch = static_cast<int>(epoch_t.item<int64_t>());
    c10::IValue epochs_json;
    archive.read("epochs", epochs_json);
    result.epochs = training_epochs_from_json(epochs_json.toStringRef(), o.state_path);
    result.resumed_from_epoch = start_epoch;
  }

  const int64_t steps_per_epoch = session.steps_per_epoch;
  for (int epoch = start_epoch; epoch < o.epochs; ++epoch) {
    const auto epoch_started = std::chrono::steady_clock::now();
    auto generator = epoch_generator(o.seed, epoch);
    auto order = session.epoch_order(generator);
    ProgressMeter meter(reporter, "train", 1, n_train);
    int64_t images_since_update = 0;
    double loss_sum = 0, lr = 0;
    int64_t correct = 0;
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      const auto numbers = session.step(epoch, s, order, generator);
      lr = numbers.learning_rate;
      loss_sum += numbers.loss * numbers.images;
      images_since_update += numbers.images;
      correct += numbers.correct;
      if (s % 20 == 0 || s + 1 == steps_per_epoch) {
        char line[120];
        std::snprintf(line, sizeof line, "epoch %d/%d step %lld/%lld loss %.4f lr %.2e", epoch + 1, o.epochs,
                      static_cast<long long>(s + 1), static_cast<long long>(steps_per_epoch), numbers.loss, lr);
        meter.update(line, static_cast<double>(s + 1) / steps_per_epoch, images_since_update);
        images_since_update = 0;
      }
    }
    EpochRecord record;
    record.epoch = epoch + 1;
    record.learning_rate_end = lr;
    record.train_loss = loss_sum / n_train;
    record.train_accuracy = static_cast<double>(correct) / n_train;
    const auto test_numbers = evaluate(model, x_test, y_test, mean_t, inv_std_t, 512);
    record.test_loss = test_numbers.loss;
    record.test_accuracy = test_numbers.accuracy;
    if (n_test > 0 && o.diagnostics_samples > 0) {
      torch::NoGradGuard no_grad;
      model->eval();
      model->forward(normalize(x_test.slice(0, 0, std::min(n_test, o.diagnostics_samples)), mean_t, inv_std_t),
                     &record.layers);
      model->train();
    }
    record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_started).count();
    result.epochs.push_back(record);
    if (!o.state_path.empty()) save_state(o.state_path, model, optimizer, epoch + 1, config_json, result.epochs);
    meter.end();
    on_epoch(result.epochs);
  }
  model->eval();
  result.model = model;
  return result;
}

TrainingStepsTiming time_training_steps(const TrainOptions& o, const Dataset& train, torch::Device device,
                                        int64_t warmup_steps, int64_t timed_steps) {
  QB_USAGE_CHECK(warmup_steps >= 0 && timed_steps > 0, "training timing needs warm-up steps >= 0 and timed steps > 0");
  TrainingSession session(o, train, device);
  TrainingStepsTiming timing;
  timing.steps_per_epoch = session.steps_per_epoch;
  timing.timed_steps = timed_steps;
  // The steps walk through epochs as training would (a new order and generator at each epoch's start).
  int epoch = 0;
  int64_t s = 0;
  auto generator = epoch_generator(o.seed, epoch);
  auto order = session.epoch_order(generator);
  auto next = [&] {
    if (s == session.steps_per_epoch) {
      ++epoch;
      s = 0;
      generator = epoch_generator(o.seed, epoch);
      order = session.epoch_order(generator);
    }
    const auto numbers = session.step(epoch, s++, order, generator);
    timing.losses.push_back(numbers.loss);
  };
  for (int64_t i = 0; i < warmup_steps; ++i) next();
  timing.losses.clear();
  const auto started = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < timed_steps; ++i) next();
  timing.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return timing;
}

}  // namespace questbench
