// defocus_blur (standard, blur): correlation with the reference's anti-aliased disk (cv2.filter2D,
// BORDER_REFLECT_101). Kernel K: indicator x²+y² <= r² on the grid -8..8 (or -r..r for r > 8), normalised,
// then cv2.GaussianBlur 3x3 (5x5 for r > 8) with sigma = alias_blur, in float32 like the reference.
//
// K is applied as G ∘ D + R: D is the normalised disk (each row one run of equal values, summed from row
// prefix sums: two taps per row instead of 2r + 1), G the separable Gaussian (OpenCV's float32 taps), and R
// the taps where K differs from G∗D by more than 1e-6 of K's peak: where GaussianBlur's REFLECT_101 border
// folded the blur of the disk's tips back into the kernel. What R leaves out is K's float32 rounding
// (< 1e-7 relative per tap), so the result is the correlation with K to ~1e-9 (the reference itself
// correlates through a DFT). All on the image padded once (REFLECT_101), so borders are exact too.
// Both paths (CPU loops, tensor ops) make the same operations in the same order.
#include "corruptions/image_ops.h"
#include "corruptions/filters.h"

#if QUESTBENCH_WITH_OPENCV
#include <opencv2/imgproc.hpp>
#endif

#include <cmath>

namespace questbench::corruption {
namespace {

struct DiskTap {
  int64_t row;     // kernel row -radius_rows .. radius_rows (as an offset from the centre)
  int64_t column;  // prefix-sum column offset from the output column
  double sign;     // +1 or -1
};

struct DefocusPlan {
  int64_t pad;                  // REFLECT_101 margin of the padded image
  int64_t blur_radius;          // g: 1 (3x3) or 2 (5x5)
  double disk_value;            // D's value (float32 1/count, like the reference)
  std::vector<DiskTap> disk;    // per kernel row: +P[x + half_width + 1], -P[x - half_width]
  std::vector<double> gauss;    // 2g + 1 taps
  struct Residual {
    int64_t dy, dx;
    double k;
  };
  std::vector<Residual> residual;  // row-major
};

DefocusPlan defocus_plan(double radius, double alias_blur) {
  const int half = radius <= 8 ? 8 : static_cast<int>(radius);
  const int size = 2 * half + 1;
  std::vector<float> disk(static_cast<size_t>(size * size));
  float total = 0;
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const double dx = x - half, dy = y - half;
      const float v = dx * dx + dy * dy <= radius * radius ? 1.f : 0.f;
      disk[static_cast<size_t>(y * size + x)] = v;
      total += v;
    }
  const int k = radius <= 8 ? 3 : 5;
#if QUESTBENCH_WITH_OPENCV
  cv::Mat disk_mat(size, size, CV_32F, disk.data());  // shares disk's values
  disk_mat /= total;
  cv::Mat kernel_mat;
  cv::GaussianBlur(disk_mat, kernel_mat, cv::Size(k, k), alias_blur);  // the reference's kernel K
  const std::vector<float> kernel(kernel_mat.ptr<float>(), kernel_mat.ptr<float>() + size * size);
  const cv::Mat g_mat = cv::getGaussianKernel(k, alias_blur, CV_32F);
  const std::vector<float> g(g_mat.ptr<float>(), g_mat.ptr<float>() + k);
#else
  const float value = static_cast<float>(1.0 / total);  // OpenCV divides by scaling with 1/total
  for (auto& v : disk) v = v != 0 ? value : 0.f;
  const std::vector<float> kernel = corruption::gaussian_blur_f32(disk, size, size, k, alias_blur);
  const std::vector<float> g = corruption::gaussian_kernel_f32(k, alias_blur);
#endif
  auto disk_at = [&](int y, int x) { return disk[static_cast<size_t>(y * size + x)]; };
  auto kernel_at = [&](int64_t y, int64_t x) { return kernel[static_cast<size_t>(y * size + x)]; };
  DefocusPlan plan;
  plan.blur_radius = k / 2;
  plan.disk_value = 0;
  int64_t disk_rows = 0;
  for (int y = 0; y < size; ++y) {
    int lo = size, hi = -1;
    for (int x = 0; x < size; ++x)
      if (disk_at(y, x) != 0) lo = std::min(lo, x), hi = std::max(hi, x), plan.disk_value = disk_at(y, x);
    if (hi < 0) continue;
    disk_rows = std::max<int64_t>(disk_rows, std::abs(y - half));
    plan.disk.push_back({y - half, hi - half + 1, 1.0});
    plan.disk.push_back({y - half, lo - half, -1.0});
  }
  for (int j = 0; j < k; ++j) plan.gauss.push_back(static_cast<double>(g[static_cast<size_t>(j)]));
  // E = G∗D over the kernel's support (plus the blur's spill), in float64; R = K - E where it matters.
  const int64_t gr = plan.blur_radius, span = size + 2 * gr;
  std::vector<double> e(static_cast<size_t>(span * span), 0.0);
  double peak = 0;
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const double d = disk_at(y, x);
      peak = std::max(peak, static_cast<double>(kernel_at(y, x)));
      if (d == 0) continue;
      for (int64_t i = -gr; i <= gr; ++i)
        for (int64_t j = -gr; j <= gr; ++j)
          e[static_cast<size_t>((y + gr + i) * span + (x + gr + j))] += d * plan.gauss[static_cast<size_t>(i + gr)] * plan.gauss[static_cast<size_t>(j + gr)];
    }
  for (int64_t y = 0; y < span; ++y)
    for (int64_t x = 0; x < span; ++x) {
      const int64_t ky = y - gr, kx = x - gr;
      const double kv = ky >= 0 && ky < size && kx >= 0 && kx < size ? kernel_at(ky, kx) : 0.0;
      const double r = kv - e[static_cast<size_t>(y * span + x)];
      if (std::abs(r) > 1e-6 * peak) plan.residual.push_back({ky - half, kx - half, r});
    }
  int64_t reach = disk_rows + gr;
  for (const auto& r : plan.residual) reach = std::max({reach, std::abs(r.dy), std::abs(r.dx)});
  for (const auto& t : plan.disk) reach = std::max({reach, std::abs(t.column) + gr, std::abs(t.column - 1) + gr});
  plan.pad = reach;
  return plan;
}

// CPU: per plane, padded rows -> row prefix sums -> disk sums (rows -g .. h-1+g) -> Gaussian rows -> Gaussian
// columns, plus the residual taps on the padded image.
torch::Tensor defocus_cpu(const torch::Tensor& x, const DefocusPlan& plan) {
  auto in = x.contiguous();
  const int64_t h = in.size(2), w = in.size(3), planes = in.numel() / (h * w), p = plan.pad, g = plan.blur_radius;
  const int64_t ph = h + 2 * p, pw = w + 2 * p, sw = pw + 1;  // padded image; prefix sums have one column more
  const int64_t dh = h + 2 * g, dw = w + 2 * g;               // the disk sums the Gaussian reads
  const auto rows = border_vector(h, p, p, Border::Reflect101), cols = border_vector(w, p, p, Border::Reflect101);
  // Disk taps into the prefix sums, relative to the prefix column of disk output column 0 (image column -g).
  std::vector<int64_t> disk_offsets, gauss_rows(plan.gauss.size()), gauss_cols(plan.gauss.size()), res_offsets;
  std::vector<double> disk_signs, res_weights;
  for (const auto& t : plan.disk) disk_offsets.push_back(t.row * sw + t.column), disk_signs.push_back(t.sign);
  for (size_t j = 0; j < plan.gauss.size(); ++j) gauss_rows[j] = static_cast<int64_t>(j) * dw, gauss_cols[j] = static_cast<int64_t>(j);
  for (const auto& r : plan.residual) res_offsets.push_back(r.dy * pw + r.dx), res_weights.push_back(r.k);
  auto out = torch::empty_like(in);
  const double* src = in.data_ptr<double>();
  double* dst = out.data_ptr<double>();
  parallel_images(planes, [&](int64_t first, int64_t last) {
    std::vector<double> padded(static_cast<size_t>(ph * pw)), prefix(static_cast<size_t>(ph * sw)), disk(static_cast<size_t>(dh * dw)),
        blurred_rows(static_cast<size_t>(h * dw)), res(static_cast<size_t>(w));
    for (int64_t pl = first; pl < last; ++pl) {
      const double* s = src + pl * h * w;
      for (int64_t y = 0; y < ph; ++y) {
        const double* row = s + rows[static_cast<size_t>(y)] * w;
        double* q = padded.data() + y * pw;
        for (int64_t c = 0; c < pw; ++c) q[c] = row[cols[static_cast<size_t>(c)]];
        double* pr = prefix.data() + y * sw;
        double sum = 0;
        pr[0] = 0;
        for (int64_t c = 0; c < pw; ++c) pr[c + 1] = sum = sum + q[c];
      }
      for (int64_t y = 0; y < dh; ++y) {
        // disk output (y - g, c - g) sits at padded (y - g + p, c - g + p)
        double* d = disk.data() + y * dw;
        weighted_taps(prefix.data() + (y - g + p) * sw + (p - g), disk_offsets.data(), disk_signs.data(),
                      static_cast<int64_t>(disk_offsets.size()), d, dw);
        for (int64_t c = 0; c < dw; ++c) d[c] = d[c] * plan.disk_value;
      }
      for (int64_t y = 0; y < h; ++y)
        weighted_taps(disk.data() + y * dw, gauss_rows.data(), plan.gauss.data(), static_cast<int64_t>(plan.gauss.size()),
                      blurred_rows.data() + y * dw, dw);
      double* o = dst + pl * h * w;
      for (int64_t y = 0; y < h; ++y) {
        weighted_taps(blurred_rows.data() + y * dw, gauss_cols.data(), plan.gauss.data(), static_cast<int64_t>(plan.gauss.size()), o + y * w, w);
        if (res_offsets.empty()) continue;
        weighted_taps(padded.data() + (y + p) * pw + p, res_offsets.data(), res_weights.data(), static_cast<int64_t>(res_offsets.size()),
                      res.data(), w);
        for (int64_t c = 0; c < w; ++c) o[y * w + c] = o[y * w + c] + res[static_cast<size_t>(c)];
      }
    }
  });
  return out;
}

// The same steps as tensor ops (any device).
torch::Tensor defocus_tensors(const torch::Tensor& x, const DefocusPlan& plan) {
  const int64_t h = x.size(2), w = x.size(3), p = plan.pad, g = plan.blur_radius, dh = h + 2 * g, dw = w + 2 * g;
  auto padded = pad2d(x, p, p, p, p, Border::Reflect101);
  auto prefix = torch::cat({torch::zeros_like(padded.narrow(3, 0, 1)), padded.cumsum(3)}, 3);  // ATen's CPU cumsum adds in order
  torch::Tensor disk;
  for (const auto& t : plan.disk) {
    auto term = prefix.narrow(2, p - g + t.row, dh).narrow(3, p - g + t.column, dw) * t.sign;
    disk = disk.defined() ? disk.add_(term) : term;
  }
  disk = disk * plan.disk_value;
  auto taps = [&](const torch::Tensor& a, int64_t dim, int64_t n) {
    torch::Tensor acc;
    for (size_t j = 0; j < plan.gauss.size(); ++j) {
      auto term = a.narrow(dim, static_cast<int64_t>(j), n) * plan.gauss[j];
      acc = acc.defined() ? acc.add_(term) : term;
    }
    return acc;
  };
  auto out = taps(taps(disk, 2, h), 3, w);
  if (plan.residual.empty()) return out;
  torch::Tensor res;
  for (const auto& r : plan.residual) {
    auto term = padded.narrow(2, p + r.dy, h).narrow(3, p + r.dx, w) * r.k;
    res = res.defined() ? res.add_(term) : term;
  }
  return out + res;
}

}  // namespace

torch::Tensor defocus_blur(const torch::Tensor& x, const Call& call) {
  static const double radius_imagenet[5] = {3, 4, 6, 8, 10}, alias_imagenet[5] = {0.1, 0.5, 0.5, 0.5, 0.5};
  static const double radius_tiny[5] = {0.5, 1, 1.5, 2.5, 3}, alias_tiny[5] = {0.6, 0.1, 0.1, 0.01, 0.1};
  static const double radius_cifar[5] = {0.3, 0.4, 0.5, 1, 1.5}, alias_cifar[5] = {0.4, 0.5, 0.6, 0.2, 0.1};
  const auto plan = defocus_plan(pick(call, radius_imagenet, radius_tiny, radius_cifar), pick(call, alias_imagenet, alias_tiny, alias_cifar));
  return cpu_kernels(x, call) ? defocus_cpu(x, plan) : defocus_tensors(x, plan);
}

}  // namespace questbench::corruption
