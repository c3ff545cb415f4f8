#include "bench/corruption_runner.h"

#include "bench/evaluate.h"
#include "bench/journal.h"
#include "common/device.h"
#include "common/error.h"
#include "common/sha256.h"
#include "reports/corruption_metrics.h"
#include "reports/format.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <sstream>

namespace questbench {
namespace {

std::string corruption_cell_key(const std::string& model, const std::string& corruption, int severity) {
  return model + "|" + corruption + "|" + std::to_string(severity);
}

// Everything that determines the results; a journal made under another fingerprint is refused.
std::string corruption_run_fingerprint(const std::vector<Model>& models, const Dataset* clean, bool generated,
                            const CorruptionSweepOptions& o, const std::string& precorrupted_root) {
  std::ostringstream s;
  for (const auto& m : models) s << m.name() << ":" << m.info().sha256 << ":" << m.info().attention << ";";
  s << (clean ? clean->fingerprint() : "-") << ";generated=" << generated << ";root=" << precorrupted_root
    << ";n=" << o.count << ";seed=" << o.seed << ";table=" << corruption_table_name(o.corruption.table)
    << ";q=" << o.corruption.quantize << ";jpeg=" << o.corruption.imagenet_c_jpeg << ";frost=" << o.corruption.frost_dir
    << ";corruptions=";
  for (const auto& c : o.corruptions) s << c << ",";
  s << ";severities=";
  for (int v : o.severities) s << v << ",";
  Sha256 h;
  const auto text = s.str();
  h.update(text.data(), text.size());
  return h.hex_digest();
}

// Per-sample correctness of one batch of logits: appended to `mask`, returns the number correct.
int64_t append_correct(std::vector<uint8_t>& mask, const torch::Tensor& logits, const torch::Tensor& labels) {
  QB_CHECK(torch::isfinite(logits).all().item<bool>(), "model produced NaN or Inf logits");
  auto correct = (logits.argmax(1) == labels.to(logits.device())).to(torch::kCPU).to(torch::kByte).contiguous();
  const auto* c = correct.data_ptr<uint8_t>();
  int64_t sum = 0;
  for (int64_t i = 0; i < correct.numel(); ++i) {
    mask.push_back(c[i]);
    sum += c[i];
  }
  return sum;
}

}  // namespace

CorruptionReport run_corruption_sweep(const std::vector<Model>& models, const Dataset* clean,
                                      const CellDatasetOpener& precorrupted, const CorruptionSweepOptions& o,
                                      const std::function<void(const std::string&)>& progress) {
  QB_CHECK(!models.empty(), "corruption benchmark: no models");
  const bool generated = !precorrupted;
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
  const auto device = models[0].device();
  for (const auto& m : models)
    QB_CHECK(m.device() == device, "corruption benchmark: models must be on one device");
  HostToDevice to_device(device);

  c10::InferenceMode inference_mode;
  CorruptionReport report;
  std::map<std::string, CleanResult> journal_clean;
  std::map<std::string, CorruptionCell> journal_cells;
  RunJournal journal;
  journal.open(o.journal_path, corruption_run_fingerprint(models, clean, generated, o, o.precorrupted_root), o.resume, [&](const std::string& line) {
    if (line.rfind("{\"clean\"", 0) == 0) {
      auto [model, result] = clean_result_from_json_line(line, o.journal_path);
      journal_clean[model] = result;
    } else {
      auto cell = corruption_cell_from_json_line(line, o.journal_path);
      journal_cells[corruption_cell_key(cell.model, cell.corruption, cell.severity)] = cell;
    }
  });
  double read_s = 0, corrupt_s = 0, inference_s = 0;
  const auto started = Clock::now();
  int64_t images_done = 0;
  const int64_t total_cells = static_cast<int64_t>(o.corruptions.size() * o.severities.size());
  int64_t cells_done = 0;

  // Clean images: read once (kept in memory when they fit, so every generated cell reuses them).
  const int64_t clean_count = clean ? (o.count > 0 ? std::min(o.count, clean->size()) : clean->size()) : 0;
  std::vector<Batch> cache;
  if (clean && generated) {
    const auto shape = clean->image_shape();
    const int64_t bytes = clean_count * shape.channels * shape.height * shape.width * 4;
    if (bytes <= o.cache_bytes) {
      const auto t = Clock::now();
      for (int64_t b = 0; b < clean_count; b += o.batch_size) cache.push_back(clean->read(b, std::min(clean_count, b + o.batch_size)));
      read_s += seconds_since(t);
    }
  }
  auto clean_batch = [&](int64_t b, int64_t e) -> Batch {
    if (!cache.empty()) return cache[static_cast<size_t>(b / o.batch_size)];
    const auto t = Clock::now();
    Batch batch = clean->read(b, e);
    read_s += seconds_since(t);
    return batch;
  };

  std::vector<CleanResult> clean_results(models.size());
  if (clean) {
    std::vector<size_t> todo;
    for (size_t m = 0; m < models.size(); ++m) {
      if (journal_clean.count(models[m].name())) clean_results[m] = journal_clean[models[m].name()];
      else todo.push_back(m);
    }
    if (!todo.empty()) {
      for (int64_t b = 0; b < clean_count; b += o.batch_size) {
        Batch batch = clean_batch(b, std::min(clean_count, b + o.batch_size));
        auto x = to_device(batch.x);
        for (size_t m : todo) {
          const auto t = Clock::now();
          accumulate_clean(clean_results[m], models[m].logits(x), batch.y, clean->num_classes());
          inference_s += seconds_since(t);
        }
      }
      for (size_t m : todo) {
        finalize_clean(clean_results[m]);
        journal.append(clean_result_to_json_line(models[m].name(), clean_results[m]));
      }
    }
  }

  std::vector<CorruptionCell> cells;  // cell-major while running; reordered model-major below
  for (const auto& name : o.corruptions) {
    const auto& info = find_corruption(name);
    for (int severity : o.severities) {
      std::vector<size_t> todo;
      std::vector<CorruptionCell> fresh(models.size());
      for (size_t m = 0; m < models.size(); ++m) {
        auto it = journal_cells.find(corruption_cell_key(models[m].name(), name, severity));
        if (it != journal_cells.end()) {
          fresh[m] = it->second;
        } else {
          todo.push_back(m);
          fresh[m].model = models[m].name();
          fresh[m].corruption = name;
          fresh[m].group = info.group;
          fresh[m].severity = severity;
        }
      }
      if (!todo.empty()) {
        std::unique_ptr<Dataset> cell_data;
        int64_t n = clean_count;
        if (!generated) {
          cell_data = precorrupted(name, severity);
          n = o.count > 0 ? std::min(o.count, cell_data->size()) : cell_data->size();
          if (clean)
            QB_CHECK(cell_data->num_classes() <= clean->num_classes() || clean->num_classes() == 0,
                     cell_data->description() << ": has " << cell_data->num_classes() << " classes, the clean set "
                                              << clean->num_classes());
        }
        QB_CHECK(n > 0, "corruption " << name << " severity " << severity << ": no samples");
        for (int64_t b = 0; b < n; b += o.batch_size) {
          const int64_t e = std::min(n, b + o.batch_size);
          torch::Tensor x, y;
          if (generated) {
            Batch batch = clean_batch(b, e);
            const auto t = Clock::now();
            x = corrupt(to_device(batch.x), name, severity, image_seeds(o.seed, b, e - b), o.corruption);
            synchronize(device);  // the corruption's kernels are counted in corrupt_s, not in inference_s
            corrupt_s += seconds_since(t);
            y = batch.y;
          } else {
            const auto t = Clock::now();
            Batch batch = cell_data->read(b, e);
            read_s += seconds_since(t);
            x = to_device(batch.x);
            y = batch.y;
          }
          for (size_t m : todo) {
            const auto t = Clock::now();
            fresh[m].correct += append_correct(fresh[m].correct_mask, models[m].logits(x), y);
            const double dt = seconds_since(t);
            inference_s += dt;
            fresh[m].seconds += dt;
          }
          images_done += e - b;
          const double elapsed = seconds_since(started);
          const double done = cells_done + static_cast<double>(e) / n;
          char line[220];
          std::snprintf(line, sizeof line, "corruption cells %lld/%lld (%s severity %d) %.0f images/s ETA %.0f s",
                        static_cast<long long>(cells_done), static_cast<long long>(total_cells), name.c_str(), severity,
                        images_done / std::max(elapsed, 1e-9), elapsed / std::max(done, 1e-9) * (total_cells - done));
          progress(line);
        }
        for (size_t m : todo) {
          auto& c = fresh[m];
          c.n = n;
          c.accuracy = static_cast<double>(c.correct) / static_cast<double>(n);
          c.error = 1.0 - c.accuracy;
          journal.append(corruption_cell_to_json_line(c));
        }
      }
      cells.insert(cells.end(), fresh.begin(), fresh.end());
      ++cells_done;
    }
  }
  progress("");

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
  for (size_t m = 0; m < models.size(); ++m) {
    report.models.push_back(models[m].info());
    report.clean.push_back(clean_results[m]);
    for (const auto& c : cells)
      if (c.model == models[m].name()) report.cells.push_back(c);
  }
  CorruptionBaseline baseline;
  const bool have_baseline = !o.baseline.empty();
  if (o.baseline == "alexnet-imagenet") {
    baseline = alexnet_imagenet_baseline();
  } else if (have_baseline) {
    for (size_t m = 0; m < models.size(); ++m)
      if (models[m].name() == o.baseline) baseline = baseline_from_model(o.baseline, clean_results[m], report.cells);
  }
  for (size_t m = 0; m < models.size(); ++m)
    report.summaries.push_back(
        summarize_corruptions(models[m].name(), clean_results[m], report.cells, have_baseline ? &baseline : nullptr));
  report.context.stage_seconds["read"] = read_s;
  report.context.stage_seconds["corrupt"] = corrupt_s;
  report.context.stage_seconds["inference"] = inference_s;
  return report;
}

}  // namespace questbench
