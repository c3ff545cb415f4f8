#include "attacks/sample_streams.h"

#include "common/error.h"
#include "common/seed.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/DistributionsHelper.h>
#include <torch/torch.h>

namespace questbench {
namespace {

int64_t row_numel(const std::vector<int64_t>& row_shape) {
  int64_t d = 1;
  for (auto s : row_shape) d *= s;
  return d;
}

std::vector<int64_t> with_rows(int64_t rows, const std::vector<int64_t>& row_shape) {
  std::vector<int64_t> shape{rows};
  shape.insert(shape.end(), row_shape.begin(), row_shape.end());
  return shape;
}

}  // namespace

SampleStreams::SampleStreams(const std::vector<uint64_t>& sample_seeds, const std::string& purpose, uint64_t index) {
  generators_.reserve(sample_seeds.size());
  for (auto seed : sample_seeds) generators_.push_back(at::make_generator<at::CPUGeneratorImpl>(keyed_seed(seed, purpose, index)));
}

std::vector<int64_t> SampleStreams::all_rows() const {
  std::vector<int64_t> rows(generators_.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
  return rows;
}

// Filled straight from each generator: per-sample tensor calls would cost more dispatch than the draws.
torch::Tensor SampleStreams::uniform(const std::vector<int64_t>& rows, const std::vector<int64_t>& row_shape, double low,
                                     double high, torch::Device device) {
  const int64_t d = row_numel(row_shape);
  auto out = torch::empty({static_cast<int64_t>(rows.size()), d}, torch::kFloat);
  float* data = out.data_ptr<float>();
  at::uniform_real_distribution<double> draw(low, high);
  for (size_t r = 0; r < rows.size(); ++r) {
    auto* impl = generator(rows[r]).get<at::CPUGeneratorImpl>();
    for (int64_t k = 0; k < d; ++k) data[static_cast<int64_t>(r) * d + k] = static_cast<float>(draw(impl));
  }
  return out.view(with_rows(static_cast<int64_t>(rows.size()), row_shape)).to(device);
}

torch::Tensor SampleStreams::normal(const std::vector<int64_t>& rows, const std::vector<int64_t>& row_shape,
                                    torch::Device device) {
  const int64_t d = row_numel(row_shape);
  auto out = torch::empty({static_cast<int64_t>(rows.size()), d}, torch::kFloat);
  float* data = out.data_ptr<float>();
  at::normal_distribution<double> draw(0.0, 1.0);
  for (size_t r = 0; r < rows.size(); ++r) {
    auto* impl = generator(rows[r]).get<at::CPUGeneratorImpl>();
    for (int64_t k = 0; k < d; ++k) data[static_cast<int64_t>(r) * d + k] = static_cast<float>(draw(impl));
  }
  return out.view(with_rows(static_cast<int64_t>(rows.size()), row_shape)).to(device);
}

torch::Tensor SampleStreams::integers(const std::vector<int64_t>& rows, int64_t low, int64_t high, torch::Device device) {
  QB_CHECK(high > low, "random integers in [" << low << ", " << high << "): empty range");
  auto out = torch::empty({static_cast<int64_t>(rows.size())}, torch::kLong);
  auto* data = out.data_ptr<int64_t>();
  const auto span = static_cast<uint64_t>(high - low);
  for (size_t r = 0; r < rows.size(); ++r) {
    auto* impl = generator(rows[r]).get<at::CPUGeneratorImpl>();
    // Rejection sampling: unbiased for any span.
    const uint64_t limit = UINT64_MAX - UINT64_MAX % span;
    uint64_t v;
    do v = impl->random64(); while (v >= limit);
    data[r] = low + static_cast<int64_t>(v % span);
  }
  return out.to(device);
}

std::vector<int64_t> true_indices(const torch::Tensor& mask) {
  auto idx = mask.to(torch::kCPU).nonzero().view({-1}).contiguous();
  return std::vector<int64_t>(idx.data_ptr<int64_t>(), idx.data_ptr<int64_t>() + idx.numel());
}

}  // namespace questbench
