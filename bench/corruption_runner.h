// The corruption benchmark: models x corruptions x severities over one sample range. Each (corruption,
// severity) cell is computed once per batch and fed to every model (paired evaluation); cells are either
// generated on the fly from a clean data set (per-image seeds sample_seed(seed, index), the same images
// `questbench corrupt --dataset` writes) or read from pre-corrupted data (CIFAR-10-C / ImageNet-C folders).
// Finished (model, corruption, severity) cells are journaled for --resume.
#pragma once

#include "bench/engine.h"
#include "corruptions/corrupt.h"
#include "datasets/dataset.h"
#include "models/model.h"
#include "reports/report.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace questbench {

struct CorruptionSweepOptions {
  std::vector<std::string> corruptions;      // names, evaluated in this order
  std::vector<int> severities = {1, 2, 3, 4, 5};
  CorruptionOptions corruption;              // table, quantization, JPEG, frost (generated cells only)
  uint64_t seed = 0;
  int64_t batch_size = 256;
  SampleRange range;                         // of the clean set and of every cell (end 0: all samples)
  SampleRange plan;                          // the whole run's samples when `range` is a shard of it (empty: `range`)
  SampleRange plan_range() const { return plan.size() > 0 ? plan : range; }
  std::string baseline;                      // a model name, "alexnet-imagenet", or "" (no CE)
  std::string journal_path;                  // "" disables journaling
  bool resume = false;
  // The clean images are read once and kept when all of them fit in this many bytes, else read again for each
  // cell: a bound on memory that does not grow with the data set (per-sample results are 1 byte a sample).
  int64_t cache_bytes = int64_t{64} << 20;
  std::string precorrupted_format;           // "cifar10-c" | "imagenet-c" (pre-corrupted runs)
  std::string precorrupted_root;             // its folder (recorded in the journal's fingerprint)
  // Per-layer attention diagnostics on the clean images and on every cell, from the forward pass that gives
  // the logits (native ViT models only).
  bool diagnostics = false;
};

// A pre-corrupted cell's data set (empty function: generate cells from the clean set).
using CellDatasetOpener = std::function<std::unique_ptr<Dataset>(const std::string& corruption, int severity)>;

// Everything that determines the results except the sample range (and with the plan's range, batch size and
// baseline): the parts of one plan, and only those, share it.
std::string corruption_plan_fingerprint(const std::vector<Model>& models, const Dataset* clean, const CorruptionSweepOptions& options);

// Runs the benchmark. `clean` may be null for pre-corrupted data without a clean set (then no clean accuracy
// and no relative CE). report.context.stage_seconds gets "read", "corrupt" and "inference".
CorruptionReport run_corruption_sweep(const std::vector<Model>& models, const Dataset* clean,
                                      const CellDatasetOpener& precorrupted, const CorruptionSweepOptions& options,
                                      Reporter& reporter);

}  // namespace questbench
