// questbench info: what a checkpoint holds (config, parameter count, preprocessing, sha256).
#include "bench/cli/common.h"
#include "common/error.h"

#include <cstdio>
#include <memory>

namespace questbench {
namespace {

struct InfoOptions {
  CommonOptions common;
  ModelOptions models;
};

void run_info(const InfoOptions& o) {
  const torch::Device device = CommandRun(o.common).device;
  for (const auto& source : model_sources(o.models)) {
    Model model = Model::load(source, device);
    const auto& i = model.info();
    std::printf("%s\n  path: %s\n  format: %s\n  sha256: %s\n  architecture: %s\n", i.name.c_str(), i.path.c_str(),
                i.format.c_str(), i.sha256.c_str(), i.architecture.c_str());
    if (!i.attention.empty()) std::printf("  attention: %s\n", i.attention.c_str());
    if (!i.config_json.empty()) std::printf("  config: %s\n", i.config_json.c_str());
    std::printf("  input: %lldx%lldx%lld, classes: %lld, parameters: %lld\n", static_cast<long long>(i.channels),
                static_cast<long long>(i.height), static_cast<long long>(i.width), static_cast<long long>(i.num_classes),
                static_cast<long long>(i.num_parameters));
  }
}

}  // namespace

void add_info_command(CLI::App& app, CommandRunner& runner) {
  add_command<kModels>(&app, runner, "info", "describe checkpoints: config, preprocessing, parameter count, sha256", run_info, 1);
}

}  // namespace questbench
