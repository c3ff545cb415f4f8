// questbench corruption: the corruption benchmark (models x corruptions x severities) -> JSON report with
// CE / mCE / relative mCE and RobustBench's summary fields. Cells are generated on the fly from a clean data
// set, or read from a CIFAR-10-C folder (<corruption>.npy + labels.npy) or an ImageNet-C folder
// (<corruption>/<severity>/<class>/<image>).
#include "bench/cli_common.h"
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

struct CorruptionCommandOptions {
  CommonOptions common;
  ModelOptions models;
  DatasetOptions data;
  std::string corruptions = "auto", severities = "1-5", baseline, table = "auto", frost_dir, clean_dataset;
  std::string clean_format = "auto";
  bool no_quantize = false, imagenet_c_jpeg = false, resume = false;
  std::string output = "corruption.json";
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

void run_corruption(const CorruptionCommandOptions& o) {
  const auto started = std::chrono::steady_clock::now();
  // Validate everything before loading anything.
  CorruptionSweepOptions sweep;
  const std::string pre = precorrupted_format(o.data);
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
  sweep.count = o.data.limit;
  sweep.journal_path = o.output + ".journal";
  sweep.resume = o.resume;
  sweep.precorrupted_format = pre;
  sweep.precorrupted_root = pre.empty() ? "" : fs::absolute(o.data.dataset).lexically_normal().string();
  const auto sources = model_sources(o.models);
  const Autocast autocast = parse_autocast(o.models.autocast);
  QB_USAGE_CHECK(pre.empty() || o.clean_dataset.empty() || o.clean_dataset != o.data.dataset,
                 "--clean-dataset must differ from the pre-corrupted --dataset");
  QB_USAGE_CHECK(!pre.empty() || o.clean_dataset.empty(), "--clean-dataset is for pre-corrupted data sets (cifar10-c, imagenet-c)");
  const torch::Device device = parse_device(o.common.device);
  const int threads = apply_threads(o.common);
  RunContext context = start_context(o.common, threads);
  context.autocast = autocast_name(autocast);

  auto t0 = std::chrono::steady_clock::now();
  DatasetOptions clean_options = o.data;
  std::unique_ptr<Dataset> clean;
  if (pre.empty()) {
    clean = open_dataset(dataset_spec(o.data));
  } else if (!o.clean_dataset.empty()) {
    clean_options.dataset = o.clean_dataset;
    clean_options.format = o.clean_format;
    clean = open_dataset(dataset_spec(clean_options));
  }
  std::vector<Model> models = load_models(sources, device, autocast);
  // Default baseline: the first model (CE relative to it); ImageNet users pass --baseline alexnet-imagenet.
  sweep.baseline = o.baseline.empty() ? models[0].name() : o.baseline;
  CellDatasetOpener opener;
  std::vector<std::string> cell_fingerprints;
  if (pre == "cifar10-c") {
    opener = [&](const std::string& c, int s) {
      DatasetSpec spec;
      spec.path = o.data.dataset;
      spec.format = "cifar10-c";
      spec.corruption = c;
      spec.severity = s;
      return open_dataset(spec);
    };
  } else if (pre == "imagenet-c") {
    opener = [&](const std::string& c, int s) {
      const auto dir = (fs::path(o.data.dataset) / c / std::to_string(s)).string();
      QB_CHECK(is_directory(dir), "dataset " << o.data.dataset << ": no folder " << c << "/" << s);
      DatasetSpec spec;
      spec.path = dir;
      spec.format = "imagefolder";
      spec.resize = o.data.resize;
      spec.crop = o.data.crop;
      return open_dataset(spec);
    };
  }
  if (opener) {
    // Record what each cell's data was (fingerprints are computed once per file, after the cell is read).
    auto inner = opener;
    opener = [inner, &cell_fingerprints](const std::string& c, int s) {
      auto d = inner(c, s);
      cell_fingerprints.push_back(c + "/" + std::to_string(s) + ":" + d->fingerprint());
      return d;
    };
  }
  context.stage_seconds["load"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  t0 = std::chrono::steady_clock::now();
  CorruptionReport report = run_corruption_sweep(models, clean.get(), opener, sweep, progress_printer(o.common.quiet));
  for (const auto& [stage, seconds] : report.context.stage_seconds) context.stage_seconds[stage] = seconds;
  context.stage_seconds["benchmark"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (clean) {
    const int64_t evaluated = o.data.limit > 0 ? std::min(o.data.limit, clean->size()) : clean->size();
    report.dataset = dataset_info(*clean, clean_options, evaluated);
  }
  if (!pre.empty()) {
    // The pre-corrupted data: its root, and a fingerprint over every cell's files in evaluation order.
    Sha256 h;
    for (const auto& f : cell_fingerprints) h.update(f.data(), f.size() + 1);
    if (!clean) {
      report.dataset.path = sweep.precorrupted_root;
      report.dataset.format = pre;
      report.dataset.evaluated = report.cells.empty() ? 0 : report.cells[0].n;
    }
    report.dataset.description += (report.dataset.description.empty() ? "" : "; ") + std::string("corrupted cells: ") + pre +
                                  " " + sweep.precorrupted_root + " (sha256 over the cells' fingerprints: " + h.hex_digest() + ")";
    if (!clean) report.dataset.fingerprint = "sha256:" + h.hex_digest();
  }
  finish_context(context, started);
  report.context = context;
  write_report(o.output, corruption_report_to_json(report));
  std::filesystem::remove(sweep.journal_path);
  if (!o.common.quiet) {
    for (size_t m = 0; m < report.models.size(); ++m) {
      const auto& s = report.summaries[m];
      std::printf("%-24s clean %s  mean corrupted accuracy %.4f  mCE %s  relative mCE %s  (vs %s)\n", report.models[m].name.c_str(),
                  report.clean[m].n ? std::to_string(report.clean[m].accuracy).substr(0, 6).c_str() : "n/a", s.mean_corruption_accuracy,
                  s.mce >= 0 ? (std::to_string(100 * s.mce).substr(0, 6) + " %").c_str() : "n/a",
                  s.relative_mce >= 0 ? (std::to_string(100 * s.relative_mce).substr(0, 6) + " %").c_str() : "n/a",
                  sweep.baseline.c_str());
    }
    std::printf("time: corruption %.1f s, inference %.1f s, reading %.1f s, total %.1f s\n", context.stage_seconds["corrupt"],
                context.stage_seconds["inference"], context.stage_seconds["read"], context.wall_time_s);
    std::printf("report: %s\n", o.output.c_str());
  }
}

}  // namespace

void add_corruption_command(CLI::App& app, CommandRunner& runner) {
  auto o = std::make_shared<CorruptionCommandOptions>();
  auto* cmd = app.add_subcommand("corruption", "corruption benchmark: models x corruptions x severities -> JSON report with mCE");
  add_common_options(cmd, o->common, 256);
  add_model_options(cmd, o->models, /*required=*/true);
  add_dataset_options(cmd, o->data);
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
  cmd->add_flag("--resume", o->resume, "continue from <output>.journal (finished cells are kept)");
  cmd->add_option("-o,--output", o->output, "report path (written atomically)")->capture_default_str();
  cmd->callback([o, &runner] { runner = [o] { run_corruption(*o); }; });
}

}  // namespace questbench
