// The values about a model that reports carry: where it came from and how it preprocesses (ModelInfo),
// and what its attention did on a batch (AttentionDiagnostics). Plain structs without LibTorch, so that
// reports/ can hold, write and read them without linking the model code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace questbench {

struct ModelInfo {
  std::string name, path, format, sha256;  // format: "safetensors" | "torchscript"
  std::string architecture;                // "vit" | "torchscript"
  std::string attention;                   // ViT attention variant, "" for TorchScript
  std::string config_json;                 // ViT config, "" for TorchScript
  std::vector<double> mean, std;           // effective preprocessing (identity: 0 / 1)
  int64_t channels = 0, height = 0, width = 0;  // expected input size (0 = unchecked)
  int64_t num_classes = 0;
  std::vector<std::string> class_names;
  int64_t num_parameters = 0;
};

// Per-layer attention statistics (definitions match the timm reference diagnostics):
// entropy: mean over batch, heads, queries of −Σ p ln p over keys (nats); q/k norms: mean L2 norm over
// head dims of q and k straight from qkv (before any scale or normalization); logits: the pre-softmax
// attention logits; attn_max_mean: mean over batch, heads, queries of max_k p.
struct AttentionDiagnostics {
  double entropy_mean = 0;
  std::vector<double> entropy_per_head;
  double q_norm_mean = 0, k_norm_mean = 0;
  double logits_std = 0, logits_max = 0;
  double attn_max_mean = 0;
  double block_out_mean = 0, block_out_std = 0;  // filled by the block that owns the attention
};

// The per-sample attention statistics of one layer (--diagnostics on the corruption and attack runs): one row
// of columns per sample, each a statistic of that sample alone, so that a cell's values are functions of its
// samples' rows (and a split run's rows are those of the unsplit run). The entropy, maximum weight and q/k
// norms are means over the sample's heads and queries (tokens for the norms); the logits' mean and population
// variance are over the sample's heads x queries x keys; then one column per head: that head's mean entropy.
namespace diagnostics_column {
inline constexpr int kEntropy = 0, kAttnMax = 1, kQNorm = 2, kKNorm = 3, kLogitsMean = 4, kLogitsVariance = 5,
                     kLogitsMax = 6, kFirstHead = 7;
}  // namespace diagnostics_column

}  // namespace questbench
