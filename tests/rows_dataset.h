// An in-memory data set for training tests: 1x8x8 images of noise in [0, 0.3) where class k (of 4) has a bright row
// k. Rows 0-3 sit at distinct offsets inside 4x4 patches, so even a 1-layer ViT with near-uniform attention can
// separate them.
#pragma once

#include "datasets/dataset.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <string>
#include <vector>

namespace questbench::test {

class RowsDataset : public Dataset {
 public:
  RowsDataset(int64_t n, uint64_t seed) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    y_ = torch::randint(0, 4, {n}, gen, torch::kLong);
    x_ = torch::rand({n, 1, 8, 8}, gen) * 0.3;
    for (int64_t i = 0; i < n; ++i) x_[i][0][y_[i].item<int64_t>()].fill_(1.0);
  }
  int64_t size() const override { return x_.size(0); }
  ImageShape image_shape() const override { return {1, 8, 8}; }
  int64_t num_classes() const override { return 4; }
  std::vector<std::string> class_names() const override { return {"0", "1", "2", "3"}; }
  Batch read(int64_t b, int64_t e) const override { return {x_.slice(0, b, e).clone(), y_.slice(0, b, e).clone(), {}}; }
  Batch read_indices(const std::vector<int64_t>& idx) const override {
    auto t = torch::tensor(idx, torch::kLong);
    return {x_.index_select(0, t), y_.index_select(0, t), idx};
  }
  std::string description() const override { return "rows"; }
  std::string resolved_path() const override { return "rows"; }
  std::string fingerprint() const override { return "sha256:rows"; }

 private:
  torch::Tensor x_, y_;
};

}  // namespace questbench::test
