// Options shared by the subcommands, and the glue from parsed options to library values.
// Each subcommand lives in its own cmd_<name>.cpp and registers itself through add_<name>_command().
#pragma once

#include "datasets/dataset.h"
#include "models/model.h"
#include "reports/report.h"

#include <CLI/CLI.hpp>
#include <torch/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace questbench {

// --device, --threads, --seed, --batch-size, --quiet: on every subcommand.
struct CommonOptions {
  std::string device = "cpu";
  int threads = 0;  // 0: all hardware threads
  uint64_t seed = 0;
  int64_t batch_size = 0;
  bool quiet = false;
};
void add_common_options(CLI::App* command, CommonOptions& options, int64_t default_batch_size);

// --model (repeatable) and the options that describe how to load it.
struct ModelOptions {
  std::vector<std::string> paths, names;
  bool torchscript = false;
  std::string attention, config;
  std::vector<double> mean, std;
  std::string input_size;  // "C,H,W"
  int64_t num_classes = 0;
  std::string autocast = "none";  // none | bf16 | fp16: mixed precision of the forward pass
};
void add_model_options(CLI::App* command, ModelOptions& options, bool required);
std::vector<ModelSource> model_sources(const ModelOptions& options);
// Loads every source onto `device` with the given autocast mode; two models with one name are a usage error
// (give distinct --name values).
std::vector<Model> load_models(const std::vector<ModelSource>& sources, torch::Device device,
                               Autocast autocast = Autocast::None);

// --dataset and friends.
struct DatasetOptions {
  std::string dataset = "fashion-mnist";
  std::string format = "auto", split = "test", labels;
  int resize = 0, crop = 0;
  int64_t limit = 0;  // 0: all samples
};
void add_dataset_options(CLI::App* command, DatasetOptions& options);
DatasetSpec dataset_spec(const DatasetOptions& options);

// Parses cpu | cuda | cuda:N; throws UsageError for anything else, Error when CUDA is unavailable.
torch::Device parse_device(const std::string& text);

// Applies --threads (at::set_num_threads) and returns the thread count in effect.
int apply_threads(const CommonOptions& options);

// A run context with provenance filled in (versions, device, threads, seed, batch size, start time).
RunContext start_context(const CommonOptions& options, int threads);
void finish_context(RunContext& context, std::chrono::steady_clock::time_point started);

DatasetInfo dataset_info(const Dataset& dataset, const DatasetOptions& options, int64_t evaluated);

// A progress line on stderr when it is a terminal and --quiet is off; otherwise silent.
std::function<void(const std::string&)> progress_printer(bool quiet);

// The full command line, recorded in reports.
void set_command_line(int argc, char** argv);
const std::string& command_line();

// Registration of subcommands (one file each).
using CommandRunner = std::function<void()>;
void add_eval_command(CLI::App& app, CommandRunner& runner);
void add_predict_command(CLI::App& app, CommandRunner& runner);
void add_train_command(CLI::App& app, CommandRunner& runner);
void add_info_command(CLI::App& app, CommandRunner& runner);
void add_bench_command(CLI::App& app, CommandRunner& runner);  // bench inference, bench corruptions, ...
void add_attack_command(CLI::App& app, CommandRunner& runner);
void add_corrupt_command(CLI::App& app, CommandRunner& runner);  // corrupt and gallery
void add_corruption_command(CLI::App& app, CommandRunner& runner);  // the corruption benchmark
void add_bench_corruptions_command(CLI::App& app, CommandRunner& runner);  // after add_bench_command
void add_compare_command(CLI::App& app, CommandRunner& runner);

}  // namespace questbench
