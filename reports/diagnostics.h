// Attention diagnostics of a cell (--diagnostics): the per-layer summary of its per-sample rows, the rows'
// accessors, and the joining of parts. Sums over samples add each value on the exact_sum grid
// (common/exact_sum.h), so a summary does not depend on how the rows were computed in batches or parts.
#pragma once

#include "models/model_info.h"
#include "reports/report.h"

#include <string>
#include <vector>

namespace questbench {

// Columns of a layer's row (kFirstHead + heads).
inline int64_t diagnostics_row_size(const LayerDiagnostics& d) { return diagnostics_column::kFirstHead + d.heads; }
inline int64_t diagnostics_samples(const LayerDiagnostics& d) {
  return d.heads > 0 ? static_cast<int64_t>(d.values.size()) / diagnostics_row_size(d) : 0;
}

// One column over the samples (e.g. diagnostics_column::kEntropy), as double.
std::vector<double> diagnostics_column_values(const LayerDiagnostics& d, int column);

// A layer's numbers over its samples, with the definitions of the timm reference diagnostics: entropy, maximum
// weight and q/k norms are means over samples, heads and queries; logits_std the unbiased std over all logits
// (from the samples' means and variances); logits_max the largest logit. block_out_* stay 0 (not recorded).
AttentionDiagnostics layer_summary(const LayerDiagnostics& d);

// Appends `part`'s rows to `into` (empty `into` takes part's layout); throws Error when the layouts differ.
void append_diagnostics(std::vector<LayerDiagnostics>& into, const std::vector<LayerDiagnostics>& part, const std::string& what);

// float32 values, little-endian, base64 (the report's "values" field; reports/bits.cpp). The one-argument
// unpack takes every value there is; serialize.h's checks the count.
std::string pack_floats(const std::vector<float>& values);
std::vector<float> unpack_floats(const std::string& packed);  // throws FieldError on bad base64 or length

}  // namespace questbench
