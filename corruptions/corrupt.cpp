#include "corruptions/corrupt.h"

#include "common/error.h"
#include "common/random.h"
#include "common/seed.h"
#include "corruptions/finish.h"
#include "corruptions/levels.h"
#include "corruptions/ops.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <type_traits>

namespace questbench {

CorruptionTable parse_corruption_table(const std::string& name) {
  if (name == "auto") return CorruptionTable::Auto;
  if (name == "imagenet" || name == "224") return CorruptionTable::ImageNet224;
  if (name == "tiny" || name == "64") return CorruptionTable::Tiny64;
  if (name == "cifar" || name == "32") return CorruptionTable::Cifar32;
  throw UsageError("corruption table '" + name + "': unknown (valid: auto, imagenet, tiny, cifar)");
}

std::string corruption_table_name(CorruptionTable table) {
  switch (table) {
    case CorruptionTable::ImageNet224: return "imagenet";
    case CorruptionTable::Tiny64: return "tiny";
    case CorruptionTable::Cifar32: return "cifar";
    case CorruptionTable::Auto: break;
  }
  return "auto";
}

CorruptionTable resolve_table(CorruptionTable table, int64_t height, int64_t width) {
  if (table != CorruptionTable::Auto) return table;
  const int64_t side = std::min(height, width);
  if (side <= 48) return CorruptionTable::Cifar32;
  if (side <= 128) return CorruptionTable::Tiny64;
  return CorruptionTable::ImageNet224;
}

uint64_t corruption_stream_seed(uint64_t image_seed, const std::string& name, int severity) {
  return keyed_seed(image_seed, name, static_cast<uint8_t>(severity));
}

std::vector<uint64_t> image_seeds(uint64_t run_seed, int64_t first_index, int64_t count) {
  std::vector<uint64_t> seeds;
  seeds.reserve(static_cast<size_t>(std::max<int64_t>(count, 0)));
  for (int64_t i = 0; i < count; ++i) seeds.push_back(sample_seed(run_seed, first_index + i));
  return seeds;
}

namespace {

// CPU outputs above glibc's default mmap threshold come from a few reused buffers. A fresh output of that size
// is mapped (or carved from a heap top that free() trimmed) and first-touched on every call: ~1 ms/image at
// 224x224 on the benchmark VM, whose page faults are slow, more than most corruptions take; batch 16 (9.6 MB)
// paid it as well as batch 64 (38.5 MB). Freed outputs go back to the pool (at most kPoolBuffers are kept, then
// they are freed), so a loop over batches touches its pages once.
constexpr size_t kPooledBytes = size_t{128} << 10, kPoolBuffers = 3;

struct OutputPool {
  std::mutex mutex;
  std::vector<std::pair<size_t, void*>> free;  // capacity, buffer
};

OutputPool& output_pool() {
  static OutputPool* pool = new OutputPool;  // never destroyed: tensors may be freed during exit
  return *pool;
}

torch::Tensor pooled_empty(at::IntArrayRef sizes, const torch::TensorOptions& options) {
  const size_t bytes = static_cast<size_t>(c10::multiply_integers(sizes)) * c10::elementSize(c10::typeMetaToScalarType(options.dtype()));
  if (!options.device().is_cpu() || bytes < kPooledBytes) return torch::empty(sizes, options);
  auto& pool = output_pool();
  void* data = nullptr;
  size_t capacity = 0;
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    for (size_t i = 0; i < pool.free.size(); ++i)
      if (pool.free[i].first >= bytes && pool.free[i].first <= 2 * bytes) {
        capacity = pool.free[i].first, data = pool.free[i].second;
        pool.free.erase(pool.free.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
  }
  if (!data) {
    capacity = (bytes + 4095) / 4096 * 4096;
    data = std::aligned_alloc(64, capacity);
    QB_CHECK(data, "corrupt: cannot allocate " << capacity << " bytes");
  }
  return torch::from_blob(
      data, sizes,
      [capacity](void* p) {
        auto& pool = output_pool();
        std::lock_guard<std::mutex> lock(pool.mutex);
        if (pool.free.size() < kPoolBuffers)
          pool.free.emplace_back(capacity, p);
        else
          std::free(p);
      },
      options);
}

// Throws naming the problem unless every value lies in [0,1]: one pass for both checks (NaN propagates into
// min and max, +-Inf shows in one of them).
void check_unit_range(const torch::Tensor& x) {
  const auto range = torch::aminmax(x);
  const auto both = torch::stack({std::get<0>(range), std::get<1>(range)}).to(torch::kDouble).to(torch::kCPU);
  const double lo = both[0].item<double>(), hi = both[1].item<double>();
  QB_CHECK(std::isfinite(lo) && std::isfinite(hi), "corrupt: images contain NaN or Inf");
  QB_CHECK(lo >= 0 && hi <= 1, "corrupt: images must lie in [0,1]");
}

// The same for `n` values of a contiguous CPU part, as one vectorisable scan (NaN fails both tests) whose data
// the corruption then reads from cache; aminmax only to name a problem found.
template <typename T>
bool unit_range_scan_of(const T* p, int64_t n) {
  int bad = 0;
  for (int64_t i = 0; i < n; ++i) bad |= (p[i] >= T(0)) & (p[i] <= T(1)) ? 0 : 1;  // no branch
  return bad == 0;
}
QB_WITH_AVX512_CLONE bool unit_range_scan(const float* p, int64_t n) { return unit_range_scan_of(p, n); }
QB_WITH_AVX512_CLONE bool unit_range_scan(const double* p, int64_t n) { return unit_range_scan_of(p, n); }

// Everything but the values' range (checked where the plan says).
void check_call(const torch::Tensor& images, const std::string& name, int severity, const std::vector<uint64_t>& seeds) {
  QB_USAGE_CHECK(severity >= 1 && severity <= 5, "corruption " << name << ": severity " << severity << " is not in 1..5");
  QB_CHECK(images.dim() == 4, "corrupt: images must be [N, C, H, W], got " << images.sizes());
  QB_CHECK(images.size(1) == 1 || images.size(1) == 3, "corrupt: images must have 1 or 3 channels, got " << images.size(1));
  QB_CHECK(images.is_floating_point(), "corrupt: images must be float in [0,1]");
  QB_CHECK(static_cast<int64_t>(seeds.size()) == images.size(0),
           "corrupt: " << seeds.size() << " seeds for " << images.size(0) << " images");
}

// Throws naming the problem unless images [start, start + count) of a contiguous CPU float or double batch lie
// in [0, 1].
void check_part_range(const torch::Tensor& images, int64_t start, int64_t count) {
  const int64_t stride = images.size(1) * images.size(2) * images.size(3), first = start * stride, values = count * stride;
  const bool ok = images.scalar_type() == torch::kFloat ? unit_range_scan(images.data_ptr<float>() + first, values)
                                                        : unit_range_scan(images.data_ptr<double>() + first, values);
  if (!ok) check_unit_range(images.narrow(0, start, count));
}

// How corrupt() runs a batch, decided once from the images and the options. The paths give the same bytes
// (tested); they differ in the copies they make.
enum class Path {
  Pixels,  // CorruptionInfo::pixels per image: CPU float32 RGB in, finished float32 out, no float64 copies
  Levels,  // CorruptionInfo::levels per image: 8-bit levels read from and written to the CPU float input
  Apply,   // CorruptionInfo::apply on a float64 copy of each part, then the finish
};
enum class Finish {
  CpuLoops,  // corruption::finish_cpu straight into the output
  Tensor,    // the tensor ops (any device), with imagenet_c_jpeg's re-save between the clip and the grey mean
};
struct Plan {
  Path path;
  Finish finish;     // of the Apply path
  bool check_parts;  // the range is checked part by part just before each part is corrupted (an error still
                     // throws before corrupt() returns anything), else in one pass up front
  int64_t part;      // images per part
  int64_t threads;   // > 0: that many threads take the parts in turn from a shared counter; 0: the parts one
                     // after another on the calling thread
};

Plan plan_batch(const torch::Tensor& images, const CorruptionInfo& info, const CorruptionOptions& options) {
  const bool float_in = images.scalar_type() == torch::kFloat, double_in = images.scalar_type() == torch::kDouble;
  const bool cpu = images.is_cpu() && options.cpu_kernels;
  // The shortcuts write the final bytes themselves, so the JPEG re-save (a step after the finish) rules them out.
  const bool shortcut = cpu && !options.imagenet_c_jpeg && images.is_contiguous();
  Plan plan{};
  if (shortcut && info.pixels && float_in && images.size(1) == 3)
    plan.path = Path::Pixels;
  else if (shortcut && info.levels && (float_in || double_in))
    plan.path = Path::Levels;
  else
    plan.path = Path::Apply;
  plan.finish = cpu && !options.imagenet_c_jpeg && (float_in || double_in) ? Finish::CpuLoops : Finish::Tensor;
  plan.check_parts = images.is_cpu() && images.is_contiguous() && (float_in || double_in);

  // CPU: the batch splits into parts of about 64 K values (at least two per thread, equal sizes) that the
  // threads take in turn from a shared counter (so a thread slowed by other load takes fewer); everything
  // inside a part is single-threaded, so a call has one parallel region and each thread works on ~0.5 MB at a
  // time. Other devices (or a single part): chunks of about a million values in turn, so buffers of a few MB
  // are reused by the allocator instead of being mapped and first-touched anew; on a GPU a chunk of a million
  // values is a few images at 224, so larger chunks keep its kernels busy.
  const int64_t n = images.size(0), per_image = 3 * images.size(2) * images.size(3);
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  const int64_t wanted = (n * per_image + (int64_t{1} << 16) - 1) >> 16;
  const int64_t parts = std::min(n, std::max(2 * threads, wanted));
  if (cpu && parts > 1 && !at::in_parallel_region()) {
    plan.part = (n + parts - 1) / parts;
    plan.threads = threads;
  } else {
    const int64_t chunk_values = images.is_cuda() ? (int64_t{1} << 24) : (int64_t{1} << 20);
    plan.part = std::max<int64_t>(1, chunk_values / per_image);
    plan.threads = 0;
  }
  return plan;
}

// run(start, count) over the batch's parts as the plan says. Every image has its own stream, so how the batch
// is split changes no bits.
void run_parts(const Plan& plan, int64_t n, const std::function<void(int64_t, int64_t)>& run) {
  if (plan.threads == 0) {
    for (int64_t start = 0; start < n; start += plan.part) run(start, std::min(plan.part, n - start));
    return;
  }
  const int64_t count = (n + plan.part - 1) / plan.part;
  std::atomic<int64_t> next{0};
  // One task per thread (parallel_images carries the caller's InferenceMode into the workers).
  corruption::parallel_images(plan.threads, [&](int64_t, int64_t) {
    for (int64_t p; (p = next.fetch_add(1)) < count;) run(p * plan.part, std::min(plan.part, n - p * plan.part));
  });
}

void pixels_path(const CorruptionInfo& info, const torch::Tensor& images, const torch::Tensor& result, int64_t start, int64_t count,
                 const corruption::Call& call) {
  const int64_t h = images.size(2), w = images.size(3), plane = h * w;
  const float* src = images.data_ptr<float>();
  float* dst = result.data_ptr<float>();
  for (int64_t i = start; i < start + count; ++i) info.pixels(src + i * 3 * plane, dst + i * 3 * plane, h, w, i - start, call);
}

// Per image: levels round(x·255) -> the corruption in place -> the output, written with what the Apply path's
// finish makes of level k (tables over the 256 levels, so the bytes are the same: the clip is a no-op,
// quantizing floors (k/255)·255, a grey pixel is the finish_gray of its three channels).
template <typename In, typename Out>
void levels_images(const CorruptionInfo& info, const In* src, Out* dst, int64_t count, int64_t channels, int64_t h, int64_t w,
                   const corruption::Call& call) {
  const int64_t plane = h * w;
  const bool quantize = call.options.quantize;
  const double* unit = corruption::level_table<double>();
  const Out* out_levels = corruption::level_table<Out>();
  std::array<Out, 256> rgb_out{};
  std::array<double, 256> finished{};
  for (size_t k = 0; k < 256; ++k) {
    finished[k] = corruption::finish_level(unit[k], quantize, unit);
    rgb_out[k] = corruption::finish_level(unit[k], quantize, out_levels);
  }
  thread_local std::vector<uint8_t> levels;
  levels.resize(static_cast<size_t>(3 * plane));
  for (int64_t i = 0; i < count; ++i) {
    const In* s = src + i * channels * plane;
    for (int64_t c = 0; c < 3; ++c) {
      const In* sc = s + (channels == 3 ? c * plane : 0);
      uint8_t* l = levels.data() + c * plane;
      if constexpr (std::is_same_v<In, float>)
        corruption::unit_to_levels(sc, l, plane);
      else
        for (int64_t p = 0; p < plane; ++p) l[p] = static_cast<uint8_t>(corruption::rint_nonneg(static_cast<double>(sc[p]) * 255.0));
    }
    info.levels(levels.data(), h, w, call);
    const uint8_t* l = levels.data();
    Out* d = dst + i * channels * plane;
    if (channels == 3) {
      if constexpr (std::is_same_v<Out, float>)
        corruption::levels_to_unit(l, d, 3 * plane);  // rgb_out[k] = float(k / 255.0) = float(k) / 255f (tested)
      else
        for (int64_t p = 0; p < 3 * plane; ++p) d[p] = rgb_out[l[p]];
    } else {
      for (int64_t p = 0; p < plane; ++p)
        d[p] = corruption::finish_gray(finished[l[p]], finished[l[plane + p]], finished[l[2 * plane + p]], quantize, out_levels);
    }
  }
}

void levels_path(const CorruptionInfo& info, const torch::Tensor& images, const torch::Tensor& result, int64_t start, int64_t count,
                 const corruption::Call& call) {
  const int64_t ch = images.size(1), h = images.size(2), w = images.size(3), offset = start * ch * h * w;
  if (images.scalar_type() == torch::kFloat)
    levels_images(info, images.data_ptr<float>() + offset, result.data_ptr<float>() + offset, count, ch, h, w, call);
  else
    levels_images(info, images.data_ptr<double>() + offset, result.data_ptr<double>() + offset, count, ch, h, w, call);
}

// Grey images are corrupted as gray RGB (three equal channels) and finished to their channel mean.
void apply_path(const CorruptionInfo& info, const torch::Tensor& images, const torch::Tensor& result, int64_t start, int64_t count,
                const corruption::Call& call, Finish finish) {
  const auto& options = call.options;
  auto x = images.narrow(0, start, count).to(torch::kDouble);
  const bool gray = x.size(1) == 1;
  if (gray) x = x.expand({-1, 3, -1, -1}).contiguous();
  auto y = info.apply(x, call);
  auto target = result.narrow(0, start, count);
  if (finish == Finish::CpuLoops) {
    corruption::finish_cpu(y.contiguous(), target, options.quantize);
    return;
  }
  y = corruption::finish_tensor(y, options.quantize || options.imagenet_c_jpeg);
  if (options.imagenet_c_jpeg) y = jpeg_round_trip(y, 85, options.cpu_kernels);
  if (gray) y = corruption::finish_gray_tensor(y, options.quantize);
  target.copy_(y);
}

}  // namespace

torch::Tensor corrupt(const torch::Tensor& images, const std::string& name, int severity, const std::vector<uint64_t>& seeds,
                      const CorruptionOptions& options) {
  const CorruptionInfo& info = find_corruption(name);
  check_call(images, name, severity, seeds);
  if (images.numel() == 0) return images.clone();

  const Plan plan = plan_batch(images, info, options);
  if (!plan.check_parts) check_unit_range(images);
  const auto table = resolve_table(options.table, images.size(2), images.size(3));
  std::vector<uint64_t> rng_seeds;
  rng_seeds.reserve(seeds.size());
  for (uint64_t s : seeds) rng_seeds.push_back(corruption_stream_seed(s, name, severity));
  auto result = pooled_empty(images.sizes(), torch::TensorOptions().dtype(images.scalar_type()).device(images.device()));

  run_parts(plan, images.size(0), [&](int64_t start, int64_t count) {
    if (plan.check_parts) check_part_range(images, start, count);
    const std::vector<uint64_t> part_seeds(rng_seeds.begin() + start, rng_seeds.begin() + start + count);
    const corruption::Call call{severity, table, part_seeds, options};
    switch (plan.path) {
      case Path::Pixels: pixels_path(info, images, result, start, count, call); break;
      case Path::Levels: levels_path(info, images, result, start, count, call); break;
      case Path::Apply: apply_path(info, images, result, start, count, call, plan.finish); break;
    }
  });
  return result;
}

}  // namespace questbench
