// Per-sample random streams: sample i of a batch draws only from its own generators, seeded from its seed in
// AttackBatch::seeds and a purpose key, so its draws (and so its result) do not depend on which samples share
// its batch, on the batch size or on a shard split. Draws run on the CPU and move to the requested device.
//
//   SampleStreams streams(batch.seeds, "apgd", restart);   // one generator per sample
//   auto u = streams.uniform(active, {C, H, W}, -1.0, 1.0, device);   // [active.size(), C, H, W]
//
// `rows` are indices into the batch: the samples still being attacked. A stream advances only when its sample
// draws, so a sample's sequence is the same whether or not others dropped out.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace questbench {

class SampleStreams {
 public:
  SampleStreams(const std::vector<uint64_t>& sample_seeds, const std::string& purpose, uint64_t index = 0);

  int64_t size() const { return static_cast<int64_t>(generators_.size()); }
  at::Generator& generator(int64_t sample) { return generators_.at(static_cast<size_t>(sample)); }

  // float32 [rows.size(), row_shape...]: U[low, high) per value.
  torch::Tensor uniform(const std::vector<int64_t>& rows, const std::vector<int64_t>& row_shape, double low, double high,
                        torch::Device device);
  // float32 [rows.size(), row_shape...]: standard normal per value.
  torch::Tensor normal(const std::vector<int64_t>& rows, const std::vector<int64_t>& row_shape, torch::Device device);
  // int64 [rows.size()]: uniform integers in [low, high) (high > low), one per row.
  torch::Tensor integers(const std::vector<int64_t>& rows, int64_t low, int64_t high, torch::Device device);
  // All rows 0..size()-1.
  std::vector<int64_t> all_rows() const;

 private:
  std::vector<at::Generator> generators_;
};

// Indices of the true entries of a bool [N] tensor, on the host.
std::vector<int64_t> true_indices(const torch::Tensor& mask);

}  // namespace questbench
