// Timing of the corruptions; see bench.h.
#include "corruptions/bench.h"
#include "corruptions/streams.h"

#include "common/device.h"
#include "common/error.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>

namespace questbench {

std::vector<CorruptionTiming> bench_corruptions(const CorruptionBenchSpec& spec,
                                                const std::function<void(const CorruptionTiming&)>& progress) {
  QB_USAGE_CHECK(spec.side >= 8, "bench corruptions: image side " << spec.side << " is below 8");
  QB_USAGE_CHECK(spec.batch >= 1 && spec.repeats >= 1, "bench corruptions: batch and repeats must be >= 1");
  for (const auto& n : spec.names) find_corruption(n);  // unknown names are usage errors
  torch::Tensor one;
  if (spec.image.defined()) {
    QB_CHECK(spec.image.dim() == 3 && spec.image.size(0) == 3, "bench corruptions: image must be [3, H, W]");
    namespace F = torch::nn::functional;
    one = F::interpolate(spec.image.unsqueeze(0).to(torch::kFloat),
                         F::InterpolateFuncOptions().size(std::vector<int64_t>{spec.side, spec.side}).mode(torch::kBilinear).align_corners(false))
              .clamp(0, 1);
  } else {
    // A smooth random image (natural-image-like spectrum), so codecs and thresholds see realistic content.
    auto gen = at::detail::createCPUGenerator(12345);
    auto noise = torch::rand({1, 3, spec.side / 8 + 2, spec.side / 8 + 2}, gen);
    namespace F = torch::nn::functional;
    one = F::interpolate(noise, F::InterpolateFuncOptions().size(std::vector<int64_t>{spec.side, spec.side}).mode(torch::kBicubic).align_corners(false))
              .clamp(0, 1);
  }
  auto x = torch::floor(one.expand({spec.batch, 3, spec.side, spec.side}) * 255).div(255).contiguous().to(spec.device);
  Stopwatch stopwatch(spec.device);
  const auto seeds = image_seeds(1, 0, spec.batch);
  std::vector<CorruptionTiming> out;
  for (const auto& info : corruption_table()) {
    if (!spec.names.empty() && std::find(spec.names.begin(), spec.names.end(), info.name) == spec.names.end()) continue;
    CorruptionTiming t{info.name, spec.side, {}, 0};
    for (int severity = 1; severity <= 5; ++severity) {
      // One untimed call per severity, like the reference script's (frost textures, tables, buffers, pages).
      corrupt(x, info.name, severity, seeds, spec.options);
      double best = 1e300;
      for (int r = 0; r < spec.repeats; ++r)
        best = std::min(best, stopwatch.time([&] { corrupt(x, info.name, severity, seeds, spec.options); }));
      t.ms_per_image[severity - 1] = 1000.0 * best / static_cast<double>(spec.batch);
      t.mean_ms += t.ms_per_image[severity - 1] / 5;
    }
    if (progress) progress(t);
    out.push_back(t);
  }
  return out;
}

std::vector<CorruptionTiming> bench_floors(const CorruptionBenchSpec& spec) {
  QB_USAGE_CHECK(spec.device.is_cpu(), "bench corruptions: the floors are the CPU kernels' (use --device cpu)");
  auto x = torch::rand({spec.batch, 3, spec.side, spec.side});
  auto out = torch::empty_like(x);
  auto draws = torch::empty(x.sizes(), torch::kDouble);
  auto wide = torch::empty(x.sizes(), torch::kDouble);
  const auto seeds = image_seeds(1, 0, spec.batch);
  auto time_ms = [&](const std::function<void()>& body) {
    body();  // warm-up: pages touched, generators' code paged in
    double best = 1e300;
    for (int r = 0; r < 5 * spec.repeats; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      body();
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return 1000.0 * best / static_cast<double>(spec.batch);
  };
  std::vector<CorruptionTiming> floors;
  auto add = [&](const std::string& name, double ms) { floors.push_back({name, spec.side, {ms, ms, ms, ms, ms}, ms}); };
  add("copy", time_ms([&] { out.copy_(x); }));
  add("normal_draws", time_ms([&] {
        at::parallel_for(0, spec.batch, 1, [&](int64_t first, int64_t last) {
          for (int64_t i = first; i < last; ++i) {
            auto gen = at::make_generator<at::CPUGeneratorImpl>(seeds[static_cast<size_t>(i)]);
            draws[i].normal_(0.0, 1.0, gen);
          }
        });
      }));
  // The fast streams alone (DrawStream, in chunks of 1024 like the pixel loops): one draw per value.
  const int64_t per_image = x[0].numel();
  for (const auto& [name, draw] : {std::pair<const char*, corruption::Draw>{"stream_normals", corruption::Draw::StandardNormal},
                                   {"stream_uniforms", corruption::Draw::Uniform01}}) {
    std::vector<double> sums(static_cast<size_t>(spec.batch));
    add(name, time_ms([&, draw = draw] {
          at::parallel_for(0, spec.batch, 1, [&](int64_t first, int64_t last) {
            double chunk[1024];
            for (int64_t i = first; i < last; ++i) {
              corruption::DrawStream stream(seeds[static_cast<size_t>(i)]);
              double sum = 0;
              for (int64_t k = 0; k < per_image; k += 1024) {
                const int64_t n = std::min<int64_t>(1024, per_image - k);
                stream.fill(draw, 1.0, chunk, n);
                sum += chunk[n - 1];
              }
              sums[static_cast<size_t>(i)] = sum;  // keeps the draws observable
            }
          });
        }));
  }
  add("float64_round_trip", time_ms([&] {
        wide.copy_(x);
        out.copy_(wide);
      }));
  return floors;
}

}  // namespace questbench
