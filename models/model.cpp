#include "models/model.h"
#include "models/vit_inference.h"

#include "common/error.h"
#include "common/sha256.h"
#include "models/batch_invariant.h"
#include "models/checkpoint.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <filesystem>

namespace questbench {
namespace {

std::string lower_extension(const std::string& path) {
  auto ext = std::filesystem::path(path).extension().string();
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext;
}

std::string detect_format(const ModelSource& source) {
  if (source.format != "auto") {
    QB_USAGE_CHECK(source.format == "safetensors" || source.format == "torchscript",
                   "model format '" << source.format << "': unknown (valid: auto, safetensors, torchscript)");
    return source.format;
  }
  const auto ext = lower_extension(source.path);
  if (ext == ".safetensors") return "safetensors";
  if (ext == ".pt" || ext == ".pth" || ext == ".ts" || ext == ".torchscript") return "torchscript";
  throw Error(source.path + ": cannot tell the model format from the extension (use .safetensors, or --torchscript for a TorchScript file)");
}

int64_t count_parameters(const std::vector<torch::Tensor>& params) {
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  return n;
}

}  // namespace

void Model::set_preprocess(std::vector<double> mean, std::vector<double> std) {
  const int64_t c = info_.channels > 0 ? info_.channels : static_cast<int64_t>(std::max(mean.size(), std.size()));
  if (mean.empty()) mean.assign(std::max<int64_t>(c, 1), 0.0);
  if (std.empty()) std.assign(std::max<int64_t>(c, 1), 1.0);
  QB_CHECK(mean.size() == std.size(), info_.path << ": mean has " << mean.size() << " values, std has " << std.size());
  QB_CHECK(info_.channels == 0 || static_cast<int64_t>(mean.size()) == info_.channels,
           info_.path << ": mean/std have " << mean.size() << " values, the model takes " << info_.channels << " channels");
  for (double s : std) QB_CHECK(s > 0 && std::isfinite(s), info_.path << ": std values must be positive, got " << s);
  for (double m : mean) QB_CHECK(std::isfinite(m), info_.path << ": mean values must be finite");
  info_.mean = mean;
  info_.std = std;
  const auto n = static_cast<int64_t>(mean.size());
  auto opts = torch::TensorOptions().dtype(torch::kFloat);
  mean_ = torch::tensor(std::vector<float>(mean.begin(), mean.end()), opts).view({1, n, 1, 1}).to(device_);
  std::vector<float> inv(std.size());
  for (size_t i = 0; i < std.size(); ++i) inv[i] = static_cast<float>(1.0 / std[i]);
  inv_std_ = torch::tensor(inv, opts).view({1, n, 1, 1}).to(device_);
}

Model Model::from_vit(VisionTransformer vit, const std::string& name, torch::Device device) {
  Model model;
  model.device_ = device;
  const ViTConfig& c = vit->config();
  model.info_.name = name;
  model.info_.format = "memory";
  model.info_.architecture = "vit";
  model.info_.attention = attention_kind_name(c.attention);
  model.info_.config_json = vit_config_to_json(c);
  model.info_.channels = c.in_chans;
  model.info_.height = c.img_height;
  model.info_.width = c.img_width;
  model.info_.num_classes = c.num_classes;
  model.info_.class_names = c.class_names;
  if (model.info_.class_names.empty())
    for (int64_t i = 0; i < c.num_classes; ++i) model.info_.class_names.push_back(std::to_string(i));
  vit->to(device);
  vit->eval();
  for (auto& p : vit->parameters()) p.set_requires_grad(false);
  model.info_.num_parameters = count_parameters(vit->parameters());
  model.vit_ = vit.ptr();
  model.set_preprocess(c.mean, c.std);
  return model;
}

Model Model::load(const ModelSource& source, torch::Device device) {
  QB_CHECK(std::filesystem::exists(source.path), source.path << ": model file not found");
  const std::string format = detect_format(source);
  const std::string stem = std::filesystem::path(source.path).stem().string();
  const std::string name = source.name.empty() ? stem : source.name;
  if (format == "safetensors") {
    ViTConfig config = source.config_json.empty() ? read_checkpoint_config(source.path)
                                                  : vit_config_from_json(source.config_json, source.path + " (--config)");
    if (!source.attention.empty()) config.attention = parse_attention_kind(source.attention);
    if (!source.mean.empty()) config.mean = source.mean;
    if (!source.std.empty()) config.std = source.std;
    validate(config);
    Model model = from_vit(load_vit_weights(source.path, config), name, device);
    model.info_.path = source.path;
    model.info_.format = "safetensors";
    model.info_.sha256 = sha256_file(source.path);
    return model;
  }
  Model model;
  model.device_ = device;
  model.info_.name = name;
  model.info_.path = source.path;
  model.info_.format = "torchscript";
  model.info_.architecture = "torchscript";
  model.info_.channels = source.channels;
  model.info_.height = source.height;
  model.info_.width = source.width;
  try {
    model.script_ = std::make_shared<torch::jit::Module>(torch::jit::load(source.path, device));
  } catch (const c10::Error& e) {
    throw Error(source.path + ": not a loadable TorchScript file (" + std::string(e.what_without_backtrace()).substr(0, 200) + ")");
  }
  model.script_->eval();
  std::vector<torch::Tensor> params;
  for (const auto& p : model.script_->parameters()) {
    p.set_requires_grad(false);
    params.push_back(p);
  }
  model.info_.num_parameters = count_parameters(params);
  model.info_.sha256 = sha256_file(source.path);
  model.set_preprocess(source.mean, source.std);
  model.info_.num_classes = source.num_classes;
  if (model.info_.num_classes == 0 && source.channels > 0 && source.height > 0 && source.width > 0) {
    torch::NoGradGuard no_grad;
    auto probe = torch::zeros({1, source.channels, source.height, source.width}, torch::TensorOptions().device(device));
    model.info_.num_classes = model.logits(probe).size(1);
  }
  for (int64_t i = 0; i < model.info_.num_classes; ++i) model.info_.class_names.push_back(std::to_string(i));
  return model;
}

torch::Tensor Model::normalize(const torch::Tensor& x01) const {
  QB_CHECK(x01.dim() == 4, info_.name << ": input must be [N, C, H, W], got " << x01.sizes());
  QB_CHECK(x01.is_floating_point(), info_.name << ": input must be a float tensor in [0,1]");
  QB_CHECK(info_.channels == 0 || x01.size(1) == info_.channels,
           info_.name << ": input has " << x01.size(1) << " channels, the model takes " << info_.channels);
  QB_CHECK((info_.height == 0 || x01.size(2) == info_.height) && (info_.width == 0 || x01.size(3) == info_.width),
           info_.name << ": input is " << x01.size(2) << "x" << x01.size(3) << ", the model takes " << info_.height
                      << "x" << info_.width);
  auto x = x01.to(device_, torch::kFloat);
  if (mean_.size(1) != x.size(1)) {
    QB_CHECK(mean_.size(1) == 1, info_.name << ": mean/std have " << mean_.size(1) << " channels, input has " << x.size(1));
  }
  return (x - mean_) * inv_std_;
}

void Model::set_autocast(Autocast mode) {
  check_autocast(mode, device_);
  autocast_ = mode;
}

torch::Tensor Model::logits(const torch::Tensor& x01) const { return logits(x01, nullptr); }

torch::Tensor Model::logits(const torch::Tensor& x01, std::vector<torch::Tensor>* per_sample_diagnostics) const {
  QB_CHECK(vit_ || !per_sample_diagnostics, info_.name << ": attention diagnostics need a native ViT checkpoint");
  const auto batch_logits = [this](const torch::Tensor& images, std::vector<torch::Tensor>* diagnostics) {
    auto x = normalize(images);
    AutocastScope autocast(autocast_, device_);
    if (vit_) {
      // The CPU float32 inference path (models/vit_inference.h) where no gradient is asked for. Not in
      // batch-invariant mode, whose guarantee rests on every sample going through the module forward alone.
      if (autocast_ == Autocast::None && !batch_invariant() && vit_inference_applies(*vit_, x)) {
        // Diagnostics come from the module forward, but the logits from the inference path all the same: asking
        // for diagnostics changes no other number of a report.
        if (diagnostics) vit_->forward(x, nullptr, diagnostics);
        return vit_inference_logits(*vit_, x);
      }
      return vit_->forward(x, nullptr, diagnostics).to(torch::kFloat);
    }
    torch::jit::IValue out = script_->forward({x});
    QB_CHECK(out.isTensor(), info_.name << ": the TorchScript model did not return a tensor");
    auto logits = out.toTensor();
    QB_CHECK(logits.dim() == 2 && logits.size(0) == x.size(0),
             info_.name << ": the TorchScript model returned shape " << logits.sizes() << ", expected [N, classes]");
    return logits.to(torch::kFloat);
  };
  // Batch-invariant mode is a CPU guarantee (see models/batch_invariant.h); elsewhere the batch runs as one.
  if (!(batch_invariant() && device_.is_cpu() && x01.device().is_cpu())) return batch_logits(x01, per_sample_diagnostics);
  if (!per_sample_diagnostics)
    return forward_per_sample([&](const torch::Tensor& sample, int64_t) { return batch_logits(sample, nullptr); }, x01);
  // Each sample's diagnostics rows (one per layer), joined per layer in sample order.
  std::vector<std::vector<torch::Tensor>> rows(static_cast<size_t>(x01.size(0)));
  auto logits = forward_per_sample(
      [&](const torch::Tensor& sample, int64_t i) { return batch_logits(sample, &rows[static_cast<size_t>(i)]); }, x01);
  per_sample_diagnostics->clear();
  for (size_t layer = 0; !rows.empty() && layer < rows[0].size(); ++layer) {
    std::vector<torch::Tensor> column;
    for (const auto& r : rows) column.push_back(r.at(layer));
    per_sample_diagnostics->push_back(torch::cat(column, 0));
  }
  return logits;
}

int64_t Model::attention_logits_per_sample() const {
  if (!vit_) return 0;
  const auto& c = vit_->config();
  return c.num_heads * c.num_tokens() * c.num_tokens();
}

std::vector<AttentionDiagnostics> Model::diagnostics(const torch::Tensor& x01) const {
  QB_CHECK(vit_, info_.name << ": attention diagnostics need a native ViT checkpoint");
  torch::NoGradGuard no_grad;
  std::vector<AttentionDiagnostics> out;
  vit_->forward(normalize(x01), &out);
  return out;
}

}  // namespace questbench
