// Clean evaluation runner: each batch is read once and fed to every model (paired evaluation).
#pragma once

#include "datasets/dataset.h"
#include "models/model.h"
#include "reports/report.h"

#include <functional>
#include <vector>

namespace questbench {

// Evaluates samples [0, count) of `dataset` (count <= dataset.size()). Returns one result per model.
std::vector<CleanResult> evaluate_clean(const std::vector<Model>& models, const Dataset& dataset, int64_t count,
                                        int64_t batch_size, const std::function<void(const std::string&)>& progress);

// Accumulates one batch of logits into a CleanResult (sum of losses kept in `loss` until finalize).
void accumulate_clean(CleanResult& result, const torch::Tensor& logits, const torch::Tensor& labels, int64_t num_classes);
void finalize_clean(CleanResult& result);

}  // namespace questbench
