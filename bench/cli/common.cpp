#include "bench/cli/common.h"

#include "common/device.h"
#include "common/error.h"
#include "common/version.h"
#include "models/batch_invariant.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <thread>

namespace questbench {
namespace {

std::string& command_line_storage() {
  static std::string text;
  return text;
}

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& what) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      out.push_back(std::stoll(item, &used));
      QB_USAGE_CHECK(used == item.size(), what << " '" << text << "': not a comma-separated list of integers");
    } catch (const std::logic_error&) {
      throw UsageError(what + " '" + text + "': not a comma-separated list of integers");
    }
  }
  return out;
}

}  // namespace

void set_command_line(int argc, char** argv) {
  std::string text;
  for (int i = 0; i < argc; ++i) {
    if (i) text += ' ';
    text += argv[i];
  }
  command_line_storage() = text;
}

const std::string& command_line() { return command_line_storage(); }

namespace {

template <typename Cell>
void fail_on_non_finite_cells(const std::vector<Cell>& cells, const std::string& output, const std::function<std::string(const Cell&)>& name) {
  std::ostringstream listed;
  int64_t count = 0, samples = 0;
  for (const auto& c : cells) {
    if (c.non_finite == 0) continue;
    if (count < 3) listed << (count ? ", " : "") << name(c) << " (" << c.non_finite << " of " << c.n << ")";
    ++count;
    samples += c.non_finite;
  }
  if (count == 0) return;
  if (count > 3) listed << " and " << count - 3 << " more";
  QB_CHECK(false, samples << " samples gave NaN or Inf logits or gradients, counted neither correct nor robust, in " << count
                  << " cell(s): " << listed.str() << "; the report was written to " << output);
}

}  // namespace

void fail_on_non_finite(const CorruptionReport& report, const std::string& output) {
  fail_on_non_finite_cells<CorruptionCell>(report.cells, output, [](const CorruptionCell& c) {
    return c.model + " " + c.corruption + " severity " + std::to_string(c.severity);
  });
}

void fail_on_non_finite(const AttackReport& report, const std::string& output) {
  fail_on_non_finite_cells<AttackCell>(report.cells, output,
                                       [](const AttackCell& c) { return c.model + " " + c.attack + " eps " + c.eps_text; });
}

void check_output_path(const std::string& path, const std::string& option) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path p(path);
  QB_CHECK(!fs::exists(p, ec) || fs::is_regular_file(p, ec),
           option << " " << path << ": exists and is not a regular file (a folder or device?)");
  for (fs::path a = p.parent_path(); !a.empty(); a = a.parent_path()) {
    if (fs::exists(a, ec)) {
      QB_CHECK(fs::is_directory(a, ec), option << " " << path << ": " << a.string() << " is not a folder");
      break;
    }
    if (a == a.parent_path()) break;
  }
}

void add_common_options(CLI::App* command, CommonOptions& o, int64_t default_batch_size) {
  o.batch_size = default_batch_size;
  command->add_option("--device", o.device, "cpu, cuda or cuda:N")->capture_default_str();
  command->add_option("--threads", o.threads, "CPU threads for LibTorch (0: all hardware threads)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command->add_option("--seed", o.seed, "random seed")->capture_default_str();
  command->add_option("--batch-size", o.batch_size, "images per batch")->check(CLI::PositiveNumber)->capture_default_str();
  command->add_flag("--quiet", o.quiet, "no progress output and no summary");
  command->add_flag("--batch-invariant", o.batch_invariant,
                    "CPU: run each sample through the model alone (single-threaded kernels, samples in parallel), so that "
                    "results are the same bits for any --batch-size and --threads");
  command->add_option("--progress", o.progress, "progress on stderr: terminal (a redrawn line), json (JSON lines), none")
      ->capture_default_str();
}

void add_model_options(CLI::App* command, ModelOptions& o, bool required) {
  auto* model = command->add_option("--model", o.paths, "checkpoint: .safetensors (timm layout) or TorchScript; repeatable");
  if (required) model->required();
  command->add_option("--name", o.names, "display name per --model, in order (default: file stem)");
  command->add_flag("--torchscript", o.torchscript, "load every --model with torch::jit::load");
  command->add_option("--attention", o.attention, "override the attention variant: standard|quest|qknorm|qnorm");
  command->add_option("--config", o.config, "ViT config JSON (text or file) for safetensors without one in the metadata");
  command->add_option("--mean", o.mean, "per-channel mean (TorchScript: default 0)")->delimiter(',');
  command->add_option("--std", o.std, "per-channel std (TorchScript: default 1)")->delimiter(',');
  command->add_option("--input-size", o.input_size, "TorchScript input size C,H,W");
  command->add_option("--num-classes", o.num_classes, "TorchScript class count (default: probed)");
  command->add_option("--autocast", o.autocast, "mixed precision of the forward pass: none | bf16 | fp16 (fp16: CUDA only)")
      ->capture_default_str();
}

std::vector<ModelSource> model_sources(const ModelOptions& o) {
  QB_USAGE_CHECK(o.names.empty() || o.names.size() == o.paths.size(),
                 "--name given " << o.names.size() << " times for " << o.paths.size() << " --model");
  std::string config_text = o.config;
  if (!config_text.empty() && config_text.front() != '{') {
    std::FILE* f = std::fopen(config_text.c_str(), "rb");
    QB_CHECK(f, "--config " << config_text << ": neither JSON text nor a readable file");
    std::string content;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) content.append(buf, n);
    std::fclose(f);
    config_text = content;
  }
  std::vector<int64_t> size;
  if (!o.input_size.empty()) {
    size = parse_int_list(o.input_size, "--input-size");
    QB_USAGE_CHECK(size.size() == 3 && size[0] > 0 && size[1] > 0 && size[2] > 0,
                   "--input-size '" << o.input_size << "': expected C,H,W with positive values");
  }
  if (!o.attention.empty()) parse_attention_kind(o.attention);
  std::vector<ModelSource> sources;
  for (size_t i = 0; i < o.paths.size(); ++i) {
    ModelSource s;
    s.path = o.paths[i];
    s.name = o.names.empty() ? "" : o.names[i];
    s.format = o.torchscript ? "torchscript" : "auto";
    s.attention = o.attention;
    s.config_json = config_text;
    s.mean = o.mean;
    s.std = o.std;
    if (size.size() == 3) {
      s.channels = size[0];
      s.height = size[1];
      s.width = size[2];
    }
    s.num_classes = o.num_classes;
    sources.push_back(s);
  }
  return sources;
}

void add_dataset_options(CLI::App* command, DatasetOptions& o) {
  command->add_option("--dataset", o.dataset, "'fashion-mnist' (embedded default) or a file/folder")->capture_default_str();
  command->add_option("--format", o.format, "auto|idx|cifar10|imagefolder|npy|cifar10-c")->capture_default_str();
  command->add_option("--split", o.split, "test|train (idx, cifar10)")->capture_default_str();
  command->add_option("--labels", o.labels, "labels .npy for a plain images .npy");
  command->add_option("--resize", o.resize, "imagefolder: resize the shorter side to this")->check(CLI::NonNegativeNumber);
  command->add_option("--crop", o.crop, "imagefolder: center crop size")->check(CLI::NonNegativeNumber);
  command->add_option("--limit", o.limit, "evaluate only the first N samples (0: all)")->check(CLI::NonNegativeNumber);
}

std::vector<Model> load_models(const std::vector<ModelSource>& sources, torch::Device device, Autocast autocast) {
  check_autocast(autocast, device);  // before any file is read
  std::vector<Model> models;
  for (const auto& s : sources) {
    models.push_back(Model::load(s, device));
    models.back().set_autocast(autocast);
  }
  for (size_t i = 0; i < models.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      QB_USAGE_CHECK(models[i].name() != models[j].name(),
                     "two models are named '" << models[i].name() << "'; give distinct --name values");
  return models;
}

DatasetSpec dataset_spec(const DatasetOptions& o) {
  QB_USAGE_CHECK(o.split == "test" || o.split == "train", "--split '" << o.split << "': must be test or train");
  DatasetSpec spec;
  spec.path = o.dataset;
  spec.format = o.format;
  spec.split = o.split;
  spec.labels_path = o.labels;
  spec.resize = o.resize;
  spec.crop = o.crop;
  return spec;
}

torch::Device parse_device(const std::string& text) {
  if (text == "cpu") return torch::Device(torch::kCPU);
  QB_USAGE_CHECK(text.rfind("cuda", 0) == 0, "--device '" << text << "': expected cpu, cuda or cuda:N");
  int index = 0;
  if (text.size() > 4) {
    QB_USAGE_CHECK(text[4] == ':' && text.size() > 5 && text.find_first_not_of("0123456789", 5) == std::string::npos,
                   "--device '" << text << "': expected cpu, cuda or cuda:N");
    index = std::stoi(text.substr(5));
  }
  QB_CHECK(torch::cuda::is_available(), "--device " << text << ": CUDA is not available in this LibTorch build or machine");
  const int count = static_cast<int>(torch::cuda::device_count());  // an 8-bit integer in LibTorch 2.x
  QB_CHECK(index < count, "--device " << text << ": only " << count << " CUDA device(s) present");
  use_exact_float32();
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

CommandRun::CommandRun(const CommonOptions& o, const std::string& autocast_text)
    : device(torch::kCPU), autocast(parse_autocast(autocast_text)), threads(0) {
  QB_USAGE_CHECK(o.progress == "terminal" || o.progress == "json" || o.progress == "none",
                 "--progress '" << o.progress << "': valid values are terminal, json, none");
  device = parse_device(o.device);
  QB_USAGE_CHECK(!o.batch_invariant || device.is_cpu(), "--batch-invariant: only on --device cpu (GPU kernels make no such promise)");
  set_batch_invariant(o.batch_invariant);
  int wanted = o.threads;
  if (wanted <= 0) wanted = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(wanted);
  threads = at::get_num_threads();
  context.questbench_version = questbench_version();
  context.git_commit = questbench_git_commit();
  context.libtorch_version = libtorch_version();
  context.opencv_version = opencv_version();
  context.device = o.device;
  context.autocast = autocast_name(autocast);
  context.threads = threads;
  context.batch_invariant = o.batch_invariant;
  context.seed = o.seed;
  context.batch_size = o.batch_size;
  context.command_line = command_line();
  context.start_time = utc_timestamp_now();
  const auto kind = o.quiet || o.progress == "none" ? ReporterKind::Quiet
                    : o.progress == "json"           ? ReporterKind::JsonLines
                                                     : ReporterKind::Terminal;
  reporter_ = make_reporter(kind);
}

CommandRun::Inputs CommandRun::load(const DatasetSpec& spec, const std::vector<ModelSource>& sources) {
  return stage("load", [&] {
    Inputs in;
    if (!spec.path.empty()) in.dataset = open_dataset(spec);
    in.models = load_models(sources, device, autocast);
    return in;
  });
}

ModelDataRun::ModelDataRun(const ModelDataOptions& o, const std::vector<ModelSource>& sources, const DatasetSpec& spec)
    : CommandRun(o.common, o.models.autocast) {
  auto in = load(spec, sources);
  dataset = std::move(in.dataset);
  models = std::move(in.models);
  range = first_samples(o.data.limit, dataset->size());
}

const RunContext& CommandRun::finish() {
  context.end_time = utc_timestamp_now();
  context.wall_time_s = seconds_since(started_);
  return context;
}

DatasetInfo dataset_info(const Dataset& dataset, const DatasetOptions& o, int64_t evaluated) {
  DatasetInfo d;
  d.path = dataset.resolved_path();
  d.format = detect_dataset_format(dataset_spec(o));
  d.split = o.split;
  d.description = dataset.description();
  d.fingerprint = dataset.fingerprint();
  d.size = dataset.size();
  d.evaluated = evaluated;
  d.num_classes = dataset.num_classes();
  d.class_names = dataset.class_names();
  return d;
}

}  // namespace questbench
