#include "corruptions/corrupt.h"

#include "common/error.h"
#include "common/random.h"
#include "common/seed.h"
#include "corruptions/ops.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
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

// Large CPU outputs come from a few reused buffers. A batch-64 224x224 float output is 38.5 MB, above glibc's
// largest mmap threshold, so a fresh tensor is mapped and first-touched on every call (measured ~1 ms/image on
// the benchmark VM, more than most corruptions take). Freed outputs go back to the pool (at most kPoolBuffers
// are kept, then they are freed), so a loop over batches touches its pages once.
constexpr size_t kPooledBytes = size_t{16} << 20, kPoolBuffers = 3;

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
bool unit_range_scan(const T* p, int64_t n) {
  int bad = 0;
  for (int64_t i = 0; i < n; ++i) bad |= (p[i] >= T(0)) & (p[i] <= T(1)) ? 0 : 1;  // no branch
  return bad == 0;
}

// CPU finish of one chunk: clip to [0,1], floor to 8-bit levels (quantize), cast to the output's dtype; the
// same operations as the tensor path (NaN stays NaN like clamp).
template <typename T>
void finish_cpu(const torch::Tensor& y, const torch::Tensor& out, bool quantize) {
  const double* src = y.data_ptr<double>();
  T* dst = out.data_ptr<T>();
  const T* levels = corruption::level_table<T>();
  at::parallel_for(0, y.numel(), 1 << 14, [&](int64_t first, int64_t last) {
    if constexpr (std::is_same_v<T, float>) {
      corruption::finish_levels(src + first, dst + first, last - first, quantize);
      return;
    }
    for (int64_t i = first; i < last; ++i) {
      double v = src[i];
      v = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
      if (quantize && v == v)
        dst[i] = levels[static_cast<int>(v * 255.0)];  // truncation = floor here (v·255 in [0, 255])
      else
        dst[i] = static_cast<T>(v);
    }
  });
}

// The gray version: each of the three channels clipped (and floored), their mean ((a + b) + c) / 3 like
// mean(1), floored again with the 1e-9 guard.
template <typename T>
void finish_gray_cpu(const torch::Tensor& y, const torch::Tensor& out, bool quantize) {
  const double* src = y.data_ptr<double>();
  T* dst = out.data_ptr<T>();
  const int64_t plane = y.size(2) * y.size(3);
  const T* levels = corruption::level_table<T>();
  const double* dlevels = corruption::level_table<double>();
  at::parallel_for(0, y.size(0) * plane, 1 << 13, [&](int64_t first, int64_t last) {
    corruption::for_plane_runs(first, last, plane, [&](int64_t i, int64_t p) {
      const int64_t k = i * plane + p;
      const double* s = src + i * 3 * plane + p;
      double v[3];
      for (int c = 0; c < 3; ++c) {
        double u = s[c * plane];
        u = u < 0.0 ? 0.0 : (u > 1.0 ? 1.0 : u);
        v[c] = quantize && u == u ? dlevels[static_cast<int>(u * 255.0)] : u;
      }
      const double m = ((v[0] + v[1]) + v[2]) / 3.0;
      // m·255 + 1e-9 stays below 256 (m <= 1), so truncation = floor.
      dst[k] = quantize && m == m ? levels[static_cast<int>(m * 255.0 + 1e-9)] : static_cast<T>(m);
    });
  });
}

// The 8-bit CPU path (CorruptionInfo::levels): per image, levels round(x·255) -> the corruption in place ->
// the output, written with what the float64 path's finish would make of level k (tables over 256 levels, so
// the bytes are the same: clip is a no-op, quantize floors (k/255)·255, the gray mean floors again).
template <typename In, typename Out>
void levels_path(const CorruptionInfo& info, const In* src, Out* dst, int64_t count, int64_t channels, int64_t h, int64_t w,
                 const corruption::Call& call) {
  const int64_t plane = h * w;
  std::array<Out, 256> rgb_out{};
  std::array<double, 256> quantized{};
  for (int k = 0; k < 256; ++k) {
    double v = k / 255.0;
    if (call.options.quantize) v = std::floor(v * 255.0) / 255.0;
    quantized[static_cast<size_t>(k)] = v;
    rgb_out[static_cast<size_t>(k)] = static_cast<Out>(v);
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
      for (int64_t p = 0; p < plane; ++p) {
        double m = ((quantized[l[p]] + quantized[l[plane + p]]) + quantized[l[2 * plane + p]]) / 3.0;
        if (call.options.quantize) m = std::floor(m * 255.0 + 1e-9) / 255.0;
        d[p] = static_cast<Out>(m);
      }
    }
  }
}

}  // namespace

torch::Tensor corrupt(const torch::Tensor& images, const std::string& name, int severity, const std::vector<uint64_t>& seeds,
                      const CorruptionOptions& options) {
  const CorruptionInfo& info = find_corruption(name);
  QB_USAGE_CHECK(severity >= 1 && severity <= 5, "corruption " << name << ": severity " << severity << " is not in 1..5");
  QB_CHECK(images.dim() == 4, "corrupt: images must be [N, C, H, W], got " << images.sizes());
  QB_CHECK(images.size(1) == 1 || images.size(1) == 3, "corrupt: images must have 1 or 3 channels, got " << images.size(1));
  QB_CHECK(images.is_floating_point(), "corrupt: images must be float in [0,1]");
  QB_CHECK(static_cast<int64_t>(seeds.size()) == images.size(0),
           "corrupt: " << seeds.size() << " seeds for " << images.size(0) << " images");
  if (images.numel() == 0) return images.clone();
  // CPU float/double batches are checked part by part inside the loop below, just before each part is
  // corrupted (an error still throws before corrupt() returns anything); others here, in one pass.
  const bool float_in = images.scalar_type() == torch::kFloat, double_in = images.scalar_type() == torch::kDouble;
  const bool check_parts = images.is_cpu() && images.is_contiguous() && (float_in || double_in);
  if (!check_parts) check_unit_range(images);
  const auto table = resolve_table(options.table, images.size(2), images.size(3));
  std::vector<uint64_t> rng_seeds;
  rng_seeds.reserve(seeds.size());
  for (uint64_t s : seeds) rng_seeds.push_back(corruption_stream_seed(s, name, severity));
  const int64_t n = images.size(0), per_image = 3 * images.size(2) * images.size(3);
  const bool cpu = images.is_cpu() && options.cpu_kernels;
  auto result = pooled_empty(images.sizes(), torch::TensorOptions().dtype(images.scalar_type()).device(images.device()));
  // Images [start, start + count): every image has its own stream, so how the batch is split changes no bits.
  auto run = [&](int64_t start, int64_t count) {
    if (check_parts) {
      const int64_t stride = images.size(1) * images.size(2) * images.size(3), first = start * stride, values = count * stride;
      const bool ok = float_in ? unit_range_scan(images.data_ptr<float>() + first, values)
                               : unit_range_scan(images.data_ptr<double>() + first, values);
      if (!ok) check_unit_range(images.narrow(0, start, count));
    }
    const std::vector<uint64_t> part_seeds(rng_seeds.begin() + start, rng_seeds.begin() + start + count);
    if (cpu && info.pixels && !options.imagenet_c_jpeg && float_in && images.size(1) == 3 && images.is_contiguous()) {
      const corruption::Call call{severity, table, part_seeds, options};
      const int64_t plane = images.size(2) * images.size(3);
      const float* src = images.data_ptr<float>();
      float* dst = result.data_ptr<float>();
      for (int64_t i = start; i < start + count; ++i) info.pixels(src + i * 3 * plane, dst + i * 3 * plane, images.size(2), images.size(3), i - start, call);
      return;
    }
    if (cpu && info.levels && !options.imagenet_c_jpeg && (float_in || double_in) && images.is_contiguous()) {
      const corruption::Call call{severity, table, part_seeds, options};
      const int64_t ch = images.size(1), h = images.size(2), w = images.size(3), offset = start * ch * h * w;
      if (float_in)
        levels_path(info, images.data_ptr<float>() + offset, result.data_ptr<float>() + offset, count, ch, h, w, call);
      else
        levels_path(info, images.data_ptr<double>() + offset, result.data_ptr<double>() + offset, count, ch, h, w, call);
      return;
    }
    auto x = images.narrow(0, start, count).to(torch::kDouble);
    const bool gray = x.size(1) == 1;
    if (gray) x = x.expand({-1, 3, -1, -1}).contiguous();
    const corruption::Call call{severity, table, part_seeds, options};
    auto y = info.apply(x, call);
    auto target = result.narrow(0, start, count);
    const bool float_or_double = target.scalar_type() == torch::kFloat || target.scalar_type() == torch::kDouble;
    if (cpu && !options.imagenet_c_jpeg && y.scalar_type() == torch::kDouble && float_or_double) {
      y = y.contiguous();
      const bool is_float = target.scalar_type() == torch::kFloat;
      if (gray)
        is_float ? finish_gray_cpu<float>(y, target, options.quantize) : finish_gray_cpu<double>(y, target, options.quantize);
      else
        is_float ? finish_cpu<float>(y, target, options.quantize) : finish_cpu<double>(y, target, options.quantize);
      return;
    }
    y = y.clamp_(0.0, 1.0);
    if (options.quantize || options.imagenet_c_jpeg) y = corruption::div_exact(y.mul_(255.0).floor_(), 255.0);
    if (options.imagenet_c_jpeg) y = jpeg_round_trip(y, 85, options.cpu_kernels);
    if (gray) {
      y = y.mean(1, /*keepdim=*/true);
      if (options.quantize) y = corruption::div_exact(y.mul_(255.0).add_(1e-9).floor_(), 255.0);
    }
    target.copy_(y);
  };
  // CPU: the batch splits into parts of about 64 K values (at least two per thread, equal sizes) that the
  // threads take in turn from a shared counter (so a thread slowed by other load takes fewer); everything
  // inside a part is single-threaded, so a call has one parallel region and each thread works on ~0.5 MB at a
  // time. Other devices (or a single part): chunks of about a million values in turn, so buffers of a few MB
  // are reused by the allocator instead of being mapped and first-touched anew.
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  const int64_t wanted = (n * per_image + (int64_t{1} << 16) - 1) >> 16;
  const int64_t parts = std::min(n, std::max(2 * threads, wanted));
  if (cpu && parts > 1 && !at::in_parallel_region()) {
    const int64_t part = (n + parts - 1) / parts, count = (n + part - 1) / part;
    std::atomic<int64_t> next{0};
    // One task per thread (parallel_images carries the caller's InferenceMode into the workers).
    corruption::parallel_images(threads, [&](int64_t, int64_t) {
      for (int64_t p; (p = next.fetch_add(1)) < count;) run(p * part, std::min(part, n - p * part));
    });
  } else {
    // On a GPU a chunk of a million values is a few images at 224: larger chunks keep its kernels busy.
    const int64_t chunk_values = images.is_cuda() ? (int64_t{1} << 24) : (int64_t{1} << 20);
    const int64_t chunk = std::max<int64_t>(1, chunk_values / per_image);
    for (int64_t start = 0; start < n; start += chunk) run(start, std::min(chunk, n - start));
  }
  return result;
}

}  // namespace questbench
