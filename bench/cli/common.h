// The command line's shared parts: the options every subcommand takes, the glue from parsed options to library
// values, and CommandRun, the one start every command makes (device, threads, run context, stage timers,
// progress reporter). Each subcommand lives in its own file of bench/cli/ and registers itself through
// add_<name>_command(): options -> plan -> engine -> summary.
#pragma once

#include "bench/engine.h"
#include "bench/reporter.h"
#include "datasets/dataset.h"
#include "models/model.h"
#include "reports/report.h"

#include <CLI/CLI.hpp>
#include <torch/types.h>

#include <functional>
#include <string>
#include <vector>

namespace questbench {

// --device, --threads, --seed, --batch-size, --quiet, --progress: on every subcommand.
struct CommonOptions {
  std::string device = "cpu";
  int threads = 0;  // 0: all hardware threads
  uint64_t seed = 0;
  int64_t batch_size = 0;
  bool quiet = false;
  std::string progress = "terminal";  // terminal | json | none (--quiet: none)
  bool batch_invariant = false;        // models/batch_invariant.h
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

// The start every command makes, after it has checked its own options and before it loads anything: --device
// parsed (and CUDA present), --threads applied, --autocast parsed, the run context begun, the progress
// reporter chosen.
class CommandRun {
 public:
  explicit CommandRun(const CommonOptions& common, const std::string& autocast = "none");
  torch::Device device;
  Autocast autocast;
  int threads;
  RunContext context;
  Reporter& reporter() { return *reporter_; }
  // Runs fn, adding its wall time to context.stage_seconds[name].
  template <typename F>
  auto stage(const std::string& name, F&& fn) -> decltype(fn()) {
    const auto t = Clock::now();
    struct Record {
      RunContext& context;
      const std::string& name;
      Clock::time_point t;
      ~Record() { context.stage_seconds[name] += seconds_since(t); }
    } record{context, name, t};
    return fn();
  }
  // The context with its end time and wall time, for the report.
  const RunContext& finish();
  // Opens the data set (none for an empty spec.path) and loads the models onto the device, timed as "load".
  struct Inputs {
    std::unique_ptr<Dataset> dataset;
    std::vector<Model> models;
  };
  Inputs load(const DatasetSpec& spec, const std::vector<ModelSource>& sources);

 private:
  std::unique_ptr<Reporter> reporter_;
  Clock::time_point started_ = Clock::now();
};

DatasetInfo dataset_info(const Dataset& dataset, const DatasetOptions& options, int64_t evaluated);

// The options of commands that run models on a data set.
struct ModelDataOptions {
  CommonOptions common;
  ModelOptions models;
  DatasetOptions data;
};

// The start of such a command: the model and data options checked first, then the CommandRun started, the
// data set opened and the models loaded ("load" stage); `range` is the --limit samples.
class ModelDataRun : public CommandRun {
 public:
  explicit ModelDataRun(const ModelDataOptions& options)
      : ModelDataRun(options, model_sources(options.models), dataset_spec(options.data)) {}
  std::unique_ptr<Dataset> dataset;
  std::vector<Model> models;
  SampleRange range;

 private:
  ModelDataRun(const ModelDataOptions& options, const std::vector<ModelSource>& sources, const DatasetSpec& spec);
};

// Checks an output path before anything runs: it must not be an existing folder, device or other non-regular
// file, and its nearest existing parent must be a folder. Throws Error naming `option` and the path.
void check_output_path(const std::string& path, const std::string& option = "-o");

// After the report is written: a run with cells whose logits or gradients were NaN/Inf fails (Error, exit 1),
// naming the cells and their counts, so that a script never takes such a report for a clean result.
void fail_on_non_finite(const CorruptionReport& report, const std::string& output);
void fail_on_non_finite(const AttackReport& report, const std::string& output);

// The full command line, recorded in reports.
void set_command_line(int argc, char** argv);
const std::string& command_line();

// Registration of subcommands (one file each).
using CommandRunner = std::function<void()>;

// The option groups a command takes besides CommonOptions (members `models` and `data` of its options).
enum OptionGroups { kCommonOnly = 0, kModels = 1, kData = 2 };
template <typename Options>
struct Command {
  CLI::App* app;
  std::shared_ptr<Options> options;
};
// Adds subcommand `name` to `parent` with CommonOptions (default batch size `batch_size`) and the groups asked
// for; when it is chosen, `runner` becomes run(options). The options live as long as the callback.
template <int Groups, typename Options>
Command<Options> add_command(CLI::App* parent, CommandRunner& runner, const std::string& name, const std::string& help,
                             void (*run)(const Options&), int64_t batch_size) {
  auto o = std::make_shared<Options>();
  auto* cmd = parent->add_subcommand(name, help);
  add_common_options(cmd, o->common, batch_size);
  if constexpr ((Groups & kModels) != 0) add_model_options(cmd, o->models, /*required=*/true);
  if constexpr ((Groups & kData) != 0) add_dataset_options(cmd, o->data);
  cmd->callback([o, run, &runner] { runner = [o, run] { run(*o); }; });
  return {cmd, o};
}
void add_eval_command(CLI::App& app, CommandRunner& runner);
void add_predict_command(CLI::App& app, CommandRunner& runner);
void add_train_command(CLI::App& app, CommandRunner& runner);
void add_info_command(CLI::App& app, CommandRunner& runner);
void add_bench_command(CLI::App& app, CommandRunner& runner);  // bench inference, bench corruptions, ...
void add_attack_command(CLI::App& app, CommandRunner& runner);
void add_corrupt_command(CLI::App& app, CommandRunner& runner);  // corrupt and gallery
void add_corruption_command(CLI::App& app, CommandRunner& runner);  // the corruption benchmark
void add_bench_corruptions_command(CLI::App& app, CommandRunner& runner);  // after add_bench_command
void add_bench_training_command(CLI::App& app, CommandRunner& runner);     // after add_bench_command
void add_compare_command(CLI::App& app, CommandRunner& runner);
void add_export_command(CLI::App& app, CommandRunner& runner);  // export robustbench
void add_merge_command(CLI::App& app, CommandRunner& runner);   // merge the parts of a --shard run
void add_toy_command(CLI::App& app, CommandRunner& runner);     // the QUEST paper's toy experiment

}  // namespace questbench
