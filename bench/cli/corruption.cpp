// questbench corruption: the corruption benchmark (models x corruptions x severities) -> JSON report with
// CE / mCE / relative mCE and RobustBench's summary fields. Cells are generated on the fly from a clean data
// set, or read from a CIFAR-10-C folder (<corruption>.npy + labels.npy) or an ImageNet-C folder
// (<corruption>/<severity>/<class>/<image>).
#include "bench/cli/common.h"
#include "bench/cli/split.h"
#include "bench/merge.h"
#include "bench/corruption_runner.h"
#include "common/error.h"
#include "common/files.h"
#include "common/sha256.h"
#include "corruptions/corrupt.h"
#include "reports/format.h"

#include <cstdio>
#include <filesystem>
#include <memory>

namespace questbench {

namespace {

namespace fs = std::filesystem;

struct CorruptionCommandOptions : ModelDataOptions {
  std::string corruptions = "auto", severities = "1-5", baseline, table = "auto", frost_dir, clean_dataset;
  std::string clean_format = "auto";
  bool no_quantize = false, imagenet_c_jpeg = false, resume = false, diagnostics = false;
  std::string output = "corruption.json";
  int64_t clean_cache_mb = 64;
  SplitOptions split;
};

// "cifar10-c" | "imagenet-c" for a pre-corrupted folder, "" for a clean data set.
std::string precorrupted_format(const DatasetOptions& d) {
  if (d.format == "cifar10-c" || d.format == "imagenet-c") return d.format;
  if (d.format != "auto" || !is_directory(d.dataset)) return "";
  if (file_exists((fs::path(d.dataset) / "labels.npy").string())) return "cifar10-c";
  for (const auto& c : corruption_table())
    if (is_directory((fs::path(d.dataset) / c.name / "1").string()) || is_directory((fs::path(d.dataset) / c.name / "5").string()))
      return "imagenet-c";
  return "";
}

bool cell_present(const std::string& format, const std::string& root, const std::string& corruption) {
  if (format == "cifar10-c") return file_exists((fs::path(root) / (corruption + ".npy")).string());
  return is_directory((fs::path(root) / corruption).string());
}

CorruptionSweepOptions sweep_options(const CorruptionCommandOptions& o, const std::string& pre) {
  check_output_path(o.output);
  CorruptionSweepOptions sweep;
  if (o.corruptions == "auto") {
    if (pre.empty()) {
      sweep.corruptions = parse_corruption_list("all");
    } else {
      for (const auto& c : corruption_table())
        if (cell_present(pre, o.data.dataset, c.name)) sweep.corruptions.push_back(c.name);
      QB_CHECK(!sweep.corruptions.empty(), "dataset " << o.data.dataset << ": no corruption found in this " << pre << " folder");
    }
  } else {
    sweep.corruptions = parse_corruption_list(o.corruptions);
    if (!pre.empty())
      for (const auto& c : sweep.corruptions)
        QB_CHECK(cell_present(pre, o.data.dataset, c), "dataset " << o.data.dataset << ": has no " << c
                                                                   << (pre == "cifar10-c" ? ".npy" : " folder"));
  }
  sweep.severities = parse_severity_list(o.severities);
  sweep.corruption.table = parse_corruption_table(o.table);
  sweep.corruption.quantize = !o.no_quantize;
  sweep.corruption.imagenet_c_jpeg = o.imagenet_c_jpeg;
  sweep.corruption.frost_dir = o.frost_dir;
  if (!o.frost_dir.empty()) QB_CHECK(is_directory(o.frost_dir), "--frost-dir " << o.frost_dir << ": not a folder");
  sweep.seed = o.common.seed;
  sweep.batch_size = o.common.batch_size;
  sweep.range = {0, o.data.limit};
  sweep.journal_path = o.output + ".journal";
  sweep.cache_bytes = o.clean_cache_mb << 20;
  sweep.resume = o.resume;
  sweep.diagnostics = o.diagnostics;
  sweep.precorrupted_format = pre;
  sweep.precorrupted_root = pre.empty() ? "" : fs::absolute(o.data.dataset).lexically_normal().string();
  QB_USAGE_CHECK(pre.empty() || o.clean_dataset.empty() || o.clean_dataset != o.data.dataset,
                 "--clean-dataset must differ from the pre-corrupted --dataset");
  QB_USAGE_CHECK(!pre.empty() || o.clean_dataset.empty(), "--clean-dataset is for pre-corrupted data sets (cifar10-c, imagenet-c)");
  return sweep;
}

// A pre-corrupted folder's cell data sets (empty for generated cells); each opened cell's fingerprint is recorded.
CellDatasetOpener cell_opener(const CorruptionCommandOptions& o, const std::string& pre, std::vector<std::string>& fingerprints) {
  if (pre.empty()) return {};
  return [&o, pre, &fingerprints](const std::string& c, int s) {
    DatasetSpec spec;
    if (pre == "cifar10-c") {
      spec.path = o.data.dataset;
      spec.format = "cifar10-c";
      spec.corruption = c;
      spec.severity = s;
    } else {
      spec.path = (fs::path(o.data.dataset) / c / std::to_string(s)).string();
      QB_CHECK(is_directory(spec.path), "dataset " << o.data.dataset << ": no folder " << c << "/" << s);
      spec.format = "imagefolder";
      spec.resize = o.data.resize;
      spec.crop = o.data.crop;
    }
    auto d = open_dataset(spec);
    fingerprints.push_back(c + "/" + std::to_string(s) + ":" + d->fingerprint());
    return d;
  };
}

// The pre-corrupted data: its root, and a fingerprint over every cell's files in evaluation order.
void describe_precorrupted(CorruptionReport& report, const std::string& pre, const std::string& root, bool have_clean,
                           const std::vector<std::string>& fingerprints) {
  Sha256 h;
  for (const auto& f : fingerprints) h.update(f.data(), f.size() + 1);
  if (!have_clean) {
    report.dataset.path = root;
    report.dataset.format = pre;
    report.dataset.evaluated = report.cells.empty() ? 0 : report.cells[0].n;
  }
  report.dataset.description += (report.dataset.description.empty() ? "" : "; ") + std::string("corrupted cells: ") + pre + " " +
                                root + " (sha256 over the cells' fingerprints: " + h.hex_digest() + ")";
  if (!have_clean) report.dataset.fingerprint = "sha256:" + h.hex_digest();
}

void print_summary(const CorruptionReport& report, const RunContext& context, const std::string& baseline, const std::string& output) {
  for (size_t m = 0; m < report.models.size(); ++m) {
    const auto& s = report.summaries[m];
    std::printf("%-24s clean %s  mean corrupted accuracy %.4f  mCE %s  relative mCE %s  (vs %s)\n", report.models[m].name.c_str(),
                report.clean[m].n ? std::to_string(report.clean[m].accuracy).substr(0, 6).c_str() : "n/a", s.mean_corruption_accuracy,
                s.mce >= 0 ? (std::to_string(100 * s.mce).substr(0, 6) + " %").c_str() : "n/a",
                s.relative_mce >= 0 ? (std::to_string(100 * s.relative_mce).substr(0, 6) + " %").c_str() : "n/a", baseline.c_str());
  }
  const auto stage = [&](const char* name) { return context.stage_seconds.count(name) ? context.stage_seconds.at(name) : 0.0; };
  std::printf("time: corruption %.1f s, inference %.1f s, reading %.1f s, total %.1f s\n", stage("corrupt"), stage("inference"),
              stage("read"), context.wall_time_s);
  std::printf("report: %s\n", output.c_str());
}

void run_corruption(const CorruptionCommandOptions& given) {
  CorruptionCommandOptions o = given;
  const std::string pre = precorrupted_format(o.data);
  CorruptionSweepOptions sweep = sweep_options(o, pre);  // everything checked before anything loads
  const auto sources = model_sources(o.models);
  SplitRun split(o.split, o.common.device);
  const OutputLock output_lock = split.lock_output(o.output);  // before any work: a second run on this output fails now
  CommandRun run(o.common, o.models.autocast);
  DatasetOptions clean_options = o.data;
  if (!pre.empty()) {
    clean_options.dataset = o.clean_dataset;
    clean_options.format = o.clean_format;
  }
  std::vector<std::string> cell_fingerprints;
  auto inputs = run.load(clean_options.dataset.empty() ? DatasetSpec{} : dataset_spec(clean_options), sources);
  const auto& clean = inputs.dataset;
  const auto& models = inputs.models;
  // Default baseline: the first model (CE relative to it); ImageNet users pass --baseline alexnet-imagenet.
  sweep.baseline = o.baseline.empty() ? models[0].name() : o.baseline;
  const auto opener = cell_opener(o, pre, cell_fingerprints);
  if (split.split()) {
    // The plan's samples: of the clean set, or (pre-corrupted data alone) of the first cell.
    const int64_t available = clean ? clean->size() : opener(sweep.corruptions[0], sweep.severities[0])->size();
    cell_fingerprints.clear();
    sweep.plan = sweep.range.clipped(available);
    sweep.range = split.range(sweep.plan, sweep.batch_size);
  }
  sweep.journal_path = split.journal_path(o.output);
  CorruptionReport report =
      run.stage("benchmark", [&] { return run_corruption_sweep(models, clean.get(), opener, sweep, run.reporter()); });
  for (const auto& [stage, seconds] : report.context.stage_seconds) run.context.stage_seconds[stage] = seconds;
  if (clean) report.dataset = dataset_info(*clean, clean_options, sweep.range.clipped(clean->size()).size());
  if (!pre.empty()) describe_precorrupted(report, pre, sweep.precorrupted_root, clean != nullptr, cell_fingerprints);
  report.context = run.finish();
  split.describe(report.context, sweep.range, sweep.plan, corruption_plan_fingerprint(models, clean.get(), sweep));
  const auto written = split.write(report, o.output, sweep.journal_path, corruption_report_to_json, corruption_report_from_json,
                                   merge_corruption_reports);
  if (!written) return;
  if (!o.common.quiet) print_summary(*written, written->context, sweep.baseline, o.output);
  fail_on_non_finite(*written, o.output);
}

}  // namespace

void add_corruption_command(CLI::App& app, CommandRunner& runner) {
  auto [cmd, o] = add_command<kModels | kData>(
      &app, runner, "corruption", "corruption benchmark: models x corruptions x severities -> JSON report with mCE", run_corruption, 256);
  cmd->add_option("--corruptions", o->corruptions,
                  "auto (all 19, or those present in a pre-corrupted folder) | all | standard | extra | comma-separated names")
      ->capture_default_str();
  cmd->add_option("--severities", o->severities, "range 1-5 or list 1,3,5")->capture_default_str();
  cmd->add_option("--baseline", o->baseline, "model name or alexnet-imagenet: CE = errors / the baseline's (default: the first model)");
  cmd->add_option("--table", o->table, "parameter table: auto (by image size) | imagenet | tiny | cifar")->capture_default_str();
  cmd->add_flag("--no-quantize", o->no_quantize, "keep float corruption outputs (default: floored to 8-bit levels like the reference)");
  cmd->add_flag("--imagenet-c-jpeg", o->imagenet_c_jpeg, "re-save corrupted images as JPEG quality 85 like the released ImageNet-C");
  cmd->add_option("--frost-dir", o->frost_dir, "folder with the original frost photos (default: procedural textures)");
  cmd->add_option("--clean-dataset", o->clean_dataset, "pre-corrupted data: the clean data set (clean accuracy, relative CE)");
  cmd->add_option("--clean-format", o->clean_format, "format of --clean-dataset")->capture_default_str();
  cmd->add_option("--clean-cache-mb", o->clean_cache_mb,
                  "keep the clean images in memory between cells when they fit in this many MiB (else read them per cell)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("--resume", o->resume, "continue from <output>.journal (finished cells are kept)");
  cmd->add_flag("--diagnostics", o->diagnostics,
                "record per-layer attention diagnostics (entropy, max weight, logits, q/k norms) on clean and corrupted images (native ViT models)");
  cmd->add_option("-o,--output", o->output, "report path (written atomically)")->capture_default_str();
  add_split_options(cmd, o->split);
}

}  // namespace questbench
