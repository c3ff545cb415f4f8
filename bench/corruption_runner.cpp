#include "bench/corruption_runner.h"

#include "common/device.h"
#include "common/error.h"
#include "reports/corruption_metrics.h"
#include "reports/format.h"

#include <torch/torch.h>

namespace questbench {
namespace {

std::string corruption_cell_key(const CorruptionCell& c) { return c.model + "|" + c.corruption + "|" + std::to_string(c.severity); }

struct StageSeconds {
  double read = 0, corrupt = 0, inference = 0;
};

void validate(const std::vector<Model>& models, const Dataset* clean, bool generated, const CorruptionSweepOptions& o) {
  QB_CHECK(!models.empty(), "corruption benchmark: no models");
  QB_CHECK(!generated || clean, "corruption benchmark: generating corruptions needs a clean data set");
  QB_USAGE_CHECK(!o.corruptions.empty(), "corruption benchmark: no corruptions selected");
  QB_USAGE_CHECK(!o.severities.empty(), "corruption benchmark: no severities selected");
  for (const auto& c : o.corruptions) find_corruption(c);  // throws UsageError listing the valid names
  for (int s : o.severities) QB_USAGE_CHECK(s >= 1 && s <= 5, "severity " << s << " is not in 1..5");
  QB_USAGE_CHECK(o.batch_size >= 1, "--batch-size must be >= 1");
  bool baseline_is_model = false;
  for (const auto& m : models) baseline_is_model |= m.name() == o.baseline;
  QB_USAGE_CHECK(o.baseline.empty() || o.baseline == "alexnet-imagenet" || baseline_is_model,
                 "--baseline '" << o.baseline << "': not one of the models' names nor alexnet-imagenet");
  for (const auto& m : models)
    QB_CHECK(m.device() == models[0].device(), "corruption benchmark: models must be on one device");
  if (o.diagnostics) check_diagnostics_models(models);
}

// What a run's cells depend on besides its models and sample range.
Fingerprint& describe_sweep(Fingerprint& f, const Dataset* clean, bool generated, const CorruptionSweepOptions& o) {
  f.add("data", clean ? clean->fingerprint() : "-").add("generated", generated).add("root", o.precorrupted_root);
  f.add("seed", o.seed);
  f.add("table", corruption_table_name(o.corruption.table)).add("q", o.corruption.quantize).add("jpeg", o.corruption.imagenet_c_jpeg);
  f.add("frost", o.corruption.frost_dir).add_list("corruptions", o.corruptions).add_list("severities", o.severities);
  if (o.diagnostics) f.add("diagnostics", 1);  // only when on: the fingerprints of runs without it stay as they were
  return f;
}

std::string fingerprint(const std::vector<Model>& models, const Dataset* clean, bool generated, const CorruptionSweepOptions& o) {
  Fingerprint f(models);
  describe_sweep(f, clean, generated, o).add("begin", o.range.begin).add("end", o.range.end);
  return f.hex();
}

// The clean images of the range: read once and kept when they fit (every generated cell reuses them).
class CleanImages {
 public:
  CleanImages(const Dataset* clean, const SampleRange& range, const CorruptionSweepOptions& o, bool keep, StageSeconds& seconds)
      : clean_(clean), range_(range), batch_size_(o.batch_size), seconds_(seconds) {
    if (!clean || !keep) return;
    const auto shape = clean->image_shape();
    if (range.size() * shape.channels * shape.height * shape.width * 4 > o.cache_bytes) return;
    const auto t = Clock::now();
    for_each_batch(range, batch_size_, [&](int64_t b, int64_t e) { cache_.push_back(clean->read(b, e)); });
    seconds_.read += seconds_since(t);
  }
  Batch read(int64_t b, int64_t e) {
    if (!cache_.empty()) return cache_[static_cast<size_t>((b - range_.begin) / batch_size_)];
    const auto t = Clock::now();
    Batch batch = clean_->read(b, e);
    seconds_.read += seconds_since(t);
    return batch;
  }

 private:
  const Dataset* clean_;
  SampleRange range_;
  int64_t batch_size_;
  StageSeconds& seconds_;
  std::vector<Batch> cache_;
};

// Per-sample correctness of one batch of logits appended to the cell. A sample whose logits are not all finite
// is counted in non_finite and never as correct (argmax over NaN would pick a class by accident).
void add_batch(CorruptionCell& cell, const torch::Tensor& logits, const torch::Tensor& labels) {
  const auto finite = torch::isfinite(logits).all(1);
  auto correct = ((logits.argmax(1) == labels.to(logits.device())) & finite).to(torch::kCPU).to(torch::kByte).contiguous();
  cell.non_finite += correct.numel() - finite.sum().item<int64_t>();
  const auto* c = correct.data_ptr<uint8_t>();
  for (int64_t i = 0; i < correct.numel(); ++i) {
    cell.correct_mask.push_back(c[i]);
    cell.correct += c[i];
  }
  // Calibration has no value for a sample without finite probabilities: a cell with any is left without it
  // (as a cell where it was not measured), rather than measured over the other samples alone.
  if (cell.non_finite > 0) cell.calibration = {};
  else accumulate_calibration(cell.calibration, logits, labels);
}

// Where one cell's images come from: corrupted on the fly from the clean images, or read from its own data set.
struct CellSource {
  CleanImages* clean = nullptr;
  std::unique_ptr<Dataset> data;
};

// One (corruption, severity) cell: each batch is made once and fed to every model of `todo`.
void run_corruption_cell(const std::vector<Model>& models, const std::vector<size_t>& todo, std::vector<CorruptionCell>& cells,
                         CellSource& source, const SampleRange& range, const CorruptionSweepOptions& o, HostToDevice& to_device,
                         StageSeconds& seconds, ProgressMeter& meter) {
  const auto& name = cells[todo[0]].corruption;
  const int severity = cells[todo[0]].severity;
  const std::string label = name + " severity " + std::to_string(severity);
  for_each_batch(range, o.batch_size, [&](int64_t b, int64_t e) {
    torch::Tensor x, y;
    if (source.clean) {
      Batch batch = source.clean->read(b, e);
      const auto t = Clock::now();
      x = corrupt(to_device(batch.x), name, severity, image_seeds(o.seed, b, e - b), o.corruption);
      synchronize(to_device.device());  // the corruption's kernels are counted in corrupt, not in inference
      seconds.corrupt += seconds_since(t);
      y = batch.y;
    } else {
      const auto t = Clock::now();
      Batch batch = source.data->read(b, e);
      seconds.read += seconds_since(t);
      x = to_device(batch.x);
      y = batch.y;
    }
    for (size_t m : todo) {
      const auto t = Clock::now();
      std::vector<torch::Tensor> per_sample;
      add_batch(cells[m], models[m].logits(x, o.diagnostics ? &per_sample : nullptr), y);
      if (o.diagnostics) append_diagnostics_rows(cells[m].diagnostics, per_sample, models[m].attention_logits_per_sample());
      const double dt = seconds_since(t);
      seconds.inference += dt;
      cells[m].seconds += dt;
    }
    meter.update(label, static_cast<double>(e - range.begin) / range.size(), e - b);
  });
  for (size_t m : todo) {
    auto& c = cells[m];
    c.n = range.size();
    c.accuracy = static_cast<double>(c.correct) / static_cast<double>(c.n);
    c.error = 1.0 - c.accuracy;
  }
}

void fill_report(CorruptionReport& report, const std::vector<Model>& models, const Dataset* clean, bool generated,
                 const std::vector<CleanResult>& clean_results, const std::vector<CorruptionCell>& cells,
                 const CorruptionSweepOptions& o) {
  report.config.source = generated ? "generated" : o.precorrupted_format;
  report.config.corruptions = o.corruptions;
  report.config.severities = o.severities;
  report.config.baseline = o.baseline;
  report.config.quantize = o.corruption.quantize;
  report.config.imagenet_c_jpeg = o.corruption.imagenet_c_jpeg;
  if (generated) {
    const auto shape = clean->image_shape();
    report.config.table = corruption_table_name(resolve_table(o.corruption.table, shape.height, shape.width));
    report.config.frost = o.corruption.frost_dir.empty() ? "procedural" : "files";
  }
  for (size_t m = 0; m < models.size(); ++m) {  // cells ran cell-major; reports list them model-major
    report.models.push_back(models[m].info());
    report.clean.push_back(clean_results[m]);
    for (const auto& c : cells)
      if (c.model == models[m].name()) report.cells.push_back(c);
  }
  report.summaries = summarize_report(report);
}

}  // namespace

std::string corruption_plan_fingerprint(const std::vector<Model>& models, const Dataset* clean, const CorruptionSweepOptions& o) {
  Fingerprint f(models);
  const SampleRange plan = o.plan_range();
  describe_sweep(f, clean, o.precorrupted_format.empty(), o).add("plan_begin", plan.begin).add("plan_end", plan.end);
  f.add("batch_size", o.batch_size).add("baseline", o.baseline);
  return f.hex();
}

CorruptionReport run_corruption_sweep(const std::vector<Model>& models, const Dataset* clean,
                                      const CellDatasetOpener& precorrupted, const CorruptionSweepOptions& o,
                                      Reporter& reporter) {
  const bool generated = !precorrupted;
  validate(models, clean, generated, o);
  const SampleRange clean_range = clean ? o.range.clipped(clean->size()) : SampleRange{};
  if (clean) check_range(clean_range, clean->size(), "corruption benchmark");
  HostToDevice to_device(models[0].device());
  c10::InferenceMode inference_mode;
  CellJournal<CorruptionCell> journal(corruption_cell_from_json_line, corruption_cell_key);
  journal.open(o.journal_path, fingerprint(models, clean, generated, o), o.resume);

  StageSeconds seconds;
  CleanImages clean_images(clean, clean_range, o, generated, seconds);
  std::vector<CleanResult> clean_results(models.size());
  if (clean)
    clean_results = clean_pass(models, [&](int64_t b, int64_t e) { return clean_images.read(b, e); }, clean_range, o.batch_size,
                               clean->num_classes(), journal, null_reporter(), &seconds.inference, o.diagnostics);

  std::vector<CorruptionCell> cells;  // cell-major while running
  ProgressMeter meter(reporter, "corruption", static_cast<int64_t>(o.corruptions.size() * o.severities.size()), clean_range.size());
  for (const auto& name : o.corruptions) {
    for (int severity : o.severities) {
      std::vector<size_t> todo;
      std::vector<CorruptionCell> fresh(models.size());
      for (size_t m = 0; m < models.size(); ++m) {
        fresh[m].model = models[m].name();
        fresh[m].corruption = name;
        fresh[m].group = find_corruption(name).group;
        fresh[m].severity = severity;
        if (const auto* kept = journal.cell(corruption_cell_key(fresh[m]))) fresh[m] = *kept;
        else todo.push_back(m);
      }
      if (!todo.empty()) {
        CellSource source;
        SampleRange range = clean_range;
        if (generated) {
          source.clean = &clean_images;
        } else {
          source.data = precorrupted(name, severity);
          range = o.range.clipped(source.data->size());
          if (clean)
            QB_CHECK(source.data->num_classes() <= clean->num_classes() || clean->num_classes() == 0,
                     source.data->description() << ": has " << source.data->num_classes() << " classes, the clean set "
                                                << clean->num_classes());
        }
        QB_CHECK(range.size() > 0, "corruption " << name << " severity " << severity << ": no samples");
        run_corruption_cell(models, todo, fresh, source, range, o, to_device, seconds, meter);
        for (size_t m : todo) journal.add_cell(fresh[m], corruption_cell_to_json_line(fresh[m]));
      }
      cells.insert(cells.end(), fresh.begin(), fresh.end());
      meter.cell_done();
    }
  }
  meter.end();

  CorruptionReport report;
  fill_report(report, models, clean, generated, clean_results, cells, o);
  report.context.stage_seconds["read"] = seconds.read;
  report.context.stage_seconds["corrupt"] = seconds.corrupt;
  report.context.stage_seconds["inference"] = seconds.inference;
  return report;
}

}  // namespace questbench
