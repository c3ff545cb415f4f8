// The services every run shares: the sample range a run covers, its fingerprint, the journal of finished
// results (for --resume), the clean pass, and progress with rates and ETA. The runners (evaluate.h,
// attack_runner.h, corruption_runner.h) are plans over these: models x conditions x a sample range, executed
// cell by cell (docs/ARCHITECTURE.md).
#pragma once

#include "bench/journal.h"
#include "bench/reporter.h"
#include "datasets/dataset.h"
#include "models/model.h"
#include "reports/format.h"
#include "reports/report.h"

#include <algorithm>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace questbench {

// Samples [begin, end) of a data set. Every per-sample result is indexed from `begin`, and every seed derives
// from the absolute index, so a range is a shard: the cells of [0, n) equal those of [0, k) and [k, n) joined.
struct SampleRange {
  int64_t begin = 0, end = 0;  // end 0: to the end of the data set (see clipped)
  int64_t size() const { return end - begin; }
  // This range in a data set of `available` samples: an open end becomes `available`, a larger one is cut.
  SampleRange clipped(int64_t available) const { return {begin, end <= 0 ? available : std::min(end, available)}; }
};
// The first `limit` of `available` samples (limit 0: all of them).
SampleRange first_samples(int64_t limit, int64_t available);
// Checks that `range` lies in a data set of `available` samples and is not empty.
void check_range(const SampleRange& range, int64_t available, const std::string& what);
// fn(begin, end) for consecutive batches of at most batch_size samples covering `range`.
void for_each_batch(const SampleRange& range, int64_t batch_size, const std::function<void(int64_t, int64_t)>& fn);

// Everything that determines a run's results, hashed: a journal written under another fingerprint is refused.
class Fingerprint {
 public:
  explicit Fingerprint(const std::vector<Model>& models);
  template <typename T>
  Fingerprint& add(const std::string& key, const T& value) {
    text_ << key << "=" << value << ";";
    return *this;
  }
  template <typename T>
  Fingerprint& add_list(const std::string& key, const std::vector<T>& values) {
    text_ << key << "=";
    for (const auto& v : values) text_ << v << ",";
    text_ << ";";
    return *this;
  }
  std::string hex() const;

 private:
  std::ostringstream text_;
};

// The journal of one run: clean results per model and finished cells by key, read back on --resume.
template <typename Cell>
class CellJournal {
 public:
  using Parse = Cell (*)(const std::string& line, const std::string& path);
  using KeyOf = std::string (*)(const Cell& cell);

  CellJournal(Parse parse, KeyOf key_of) : parse_(parse), key_of_(key_of) {}
  // path "" keeps everything in memory only.
  void open(const std::string& path, const std::string& fingerprint, bool resume) {
    file_.open(path, fingerprint, resume, [&](const std::string& line) {
      if (line.rfind("{\"clean\"", 0) == 0) {
        auto [model, result] = clean_result_from_json_line(line, path);
        clean_[model] = result;
      } else {
        auto cell = parse_(line, path);
        cells_[key_of_(cell)] = cell;
      }
    });
  }
  const CleanResult* clean(const std::string& model) const {
    auto it = clean_.find(model);
    return it == clean_.end() ? nullptr : &it->second;
  }
  const Cell* cell(const std::string& key) const {
    auto it = cells_.find(key);
    return it == cells_.end() ? nullptr : &it->second;
  }
  void add_clean(const std::string& model, const CleanResult& result) {
    clean_[model] = result;
    file_.append(clean_result_to_json_line(model, result));
  }
  void add_cell(const Cell& cell, const std::string& line) {
    cells_[key_of_(cell)] = cell;
    file_.append(line);
  }

 private:
  Parse parse_;
  KeyOf key_of_;
  RunJournal file_;
  std::map<std::string, CleanResult> clean_;
  std::map<std::string, Cell> cells_;
};

// Rates and ETA of a stage made of cells of equal size; the reporter gets an update per batch.
class ProgressMeter {
 public:
  ProgressMeter(Reporter& reporter, std::string stage, int64_t cells_total, int64_t images_per_cell);
  // `fraction` of the current cell is done; `images` went through the models since the last call.
  void update(const std::string& cell, double fraction, int64_t images);
  void cell_done() { ++cells_done_; }
  void end();

 private:
  Reporter& reporter_;
  std::string stage_;
  int64_t cells_total_, images_per_cell_, cells_done_ = 0, images_done_ = 0;
  Clock::time_point started_ = Clock::now();
};

// Appends a batch's per-sample attention statistics (Model::logits with diagnostics) to a cell's layers.
void append_diagnostics_rows(std::vector<LayerDiagnostics>& layers, const std::vector<torch::Tensor>& per_sample,
                             int64_t logits_per_sample);
// Overwrites the rows `positions` (indices into the cell's samples) with rows `rows` of a batch's statistics.
void set_diagnostics_rows(std::vector<LayerDiagnostics>& layers, const std::vector<torch::Tensor>& per_sample,
                          const std::vector<int64_t>& rows, const std::vector<int64_t>& positions);
// Refuses --diagnostics for models without a native ViT (TorchScript): one line naming the model.
void check_diagnostics_models(const std::vector<Model>& models);

// The clean pass of `models` over `range`: one read per batch, fed to every model (paired evaluation). Models
// whose result the journal holds are not run again; new results are journaled.
template <typename Cell>
std::vector<CleanResult> clean_pass(const std::vector<Model>& models, const std::function<Batch(int64_t, int64_t)>& read,
                                    const SampleRange& range, int64_t batch_size, int64_t num_classes, CellJournal<Cell>& journal,
                                    Reporter& reporter, double* model_seconds = nullptr, bool diagnostics = false);

// One batch of logits into a clean result (the loss summed until finalize_clean).
void accumulate_clean(CleanResult& result, const torch::Tensor& logits, const torch::Tensor& labels, int64_t num_classes);
void finalize_clean(CleanResult& result);
// Per-sample calibration terms of one batch of logits (reports/calibration.h): confidence, -ln p(true) and
// the Brier term, computed in float64 from the logits.
void accumulate_calibration(CalibrationData& data, const torch::Tensor& logits, const torch::Tensor& labels);
// The clean pass without a journal: results of models[which[k]] on `range`; the seconds spent in the models
// are added to *model_seconds when given. `diagnostics`: the results carry per-layer attention diagnostics,
// from the same forward pass as the logits.
std::vector<CleanResult> evaluate_models(const std::vector<Model>& models, const std::function<Batch(int64_t, int64_t)>& read,
                                         const SampleRange& range, int64_t batch_size, int64_t num_classes,
                                         const std::vector<size_t>& which, Reporter& reporter, double* model_seconds = nullptr,
                                         bool diagnostics = false);

template <typename Cell>
std::vector<CleanResult> clean_pass(const std::vector<Model>& models, const std::function<Batch(int64_t, int64_t)>& read,
                                    const SampleRange& range, int64_t batch_size, int64_t num_classes, CellJournal<Cell>& journal,
                                    Reporter& reporter, double* model_seconds, bool diagnostics) {
  std::vector<CleanResult> results(models.size());
  std::vector<size_t> todo;
  for (size_t m = 0; m < models.size(); ++m) {
    if (const auto* kept = journal.clean(models[m].name())) results[m] = *kept;
    else todo.push_back(m);
  }
  if (todo.empty()) return results;
  auto fresh = evaluate_models(models, read, range, batch_size, num_classes, todo, reporter, model_seconds, diagnostics);
  for (size_t k = 0; k < todo.size(); ++k) {
    results[todo[k]] = fresh[k];
    journal.add_clean(models[todo[k]].name(), fresh[k]);
  }
  return results;
}

}  // namespace questbench
