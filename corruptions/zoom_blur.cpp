// zoom_blur (standard, blur): mean of the image and its clipped zooms by 1, 1+step, ... (np.arange lists,
// so the unzoomed image counts twice), in float32 like the reference (each zoom computed in float64 from the
// float32 image, as scipy does, then rounded to float32). CPU: one pass per output row accumulating all zooms.
#include "corruptions/ops.h"

namespace questbench::corruption {
namespace {

torch::Tensor zoom_blur_cpu(const torch::Tensor& x, double step, int count) {
  auto in = x.contiguous();
  const int64_t n = in.size(0), ch = in.size(1), h = in.size(2), w = in.size(3);
  std::vector<ZoomAxis> rows, cols;
  for (int i = 0; i < count; ++i) {
    rows.push_back(zoom_axis(h, 1.0 + i * step));
    cols.push_back(zoom_axis(w, 1.0 + i * step));
  }
  auto out = torch::empty_like(in);
  const double* src = in.data_ptr<double>();
  double* dst = out.data_ptr<double>();
  const float divisor = static_cast<float>(count + 1);
  parallel_images(n * ch, [&](int64_t first, int64_t last) {
    std::vector<double> plane(static_cast<size_t>(h * w)), row(static_cast<size_t>(w));
    std::vector<float> acc(static_cast<size_t>(w));
    for (int64_t pl = first; pl < last; ++pl) {
      const double* s = src + pl * h * w;
      for (int64_t p = 0; p < h * w; ++p) plane[static_cast<size_t>(p)] = static_cast<double>(static_cast<float>(s[p]));
      double* d = dst + pl * h * w;
      for (int64_t o = 0; o < h; ++o) {
        // Zoom 1 (i = 0) is the image itself (t = 0, lo = hi): its float32 values, exactly what the loop makes.
        const double* xr = plane.data() + o * w;
        for (int64_t c = 0; c < w; ++c) acc[static_cast<size_t>(c)] = 0.0f + static_cast<float>(xr[c]);
        for (int i = 1; i < count; ++i) {
          const ZoomAxis& ra = rows[static_cast<size_t>(i)];
          const ZoomAxis& ca = cols[static_cast<size_t>(i)];
          const double* lo = plane.data() + ra.lo[static_cast<size_t>(o)] * w;
          const double* hi = plane.data() + ra.hi[static_cast<size_t>(o)] * w;
          const double ty = ra.t[static_cast<size_t>(o)];
          // Only the columns the column pass reads (a contiguous span).
          const int64_t c0 = ca.lo.front(), c1 = ca.hi.back();
          for (int64_t c = c0; c <= c1; ++c) row[static_cast<size_t>(c)] = lo[c] + ty * (hi[c] - lo[c]);
          const int64_t* cl = ca.lo.data();
          const int64_t* chh = ca.hi.data();
          const double* tx = ca.t.data();
          for (int64_t c = 0; c < w; ++c) {
            const double left = row[static_cast<size_t>(cl[c])];
            acc[static_cast<size_t>(c)] += static_cast<float>(left + tx[c] * (row[static_cast<size_t>(chh[c])] - left));
          }
        }
        for (int64_t c = 0; c < w; ++c)
          d[o * w + c] = static_cast<double>((static_cast<float>(xr[c]) + acc[static_cast<size_t>(c)]) / divisor);
      }
    }
  });
  return out;
}

}  // namespace

torch::Tensor zoom_blur(const torch::Tensor& x, const Call& call) {
  // np.arange(1, stop, step) as (step, count): ImageNet-C 1.11/.01, 1.16/.01, 1.21/.02, 1.26/.02, 1.31/.03;
  // CIFAR-10-C and Tiny 1.06 ... 1.26 in steps of .01.
  static const double step_imagenet[5] = {0.01, 0.01, 0.02, 0.02, 0.03}, step_small[5] = {0.01, 0.01, 0.01, 0.01, 0.01};
  static const int count_imagenet[5] = {12, 16, 11, 13, 11}, count_small[5] = {7, 12, 16, 21, 26};
  const double step = pick(call, step_imagenet, step_small, step_small);
  const int count = pick(call, count_imagenet, count_small, count_small);
  if (cpu_kernels(x, call)) return zoom_blur_cpu(x, step, count);
  auto x32 = x.to(torch::kFloat);
  auto sum = torch::zeros_like(x32);
  auto x32_as_f64 = x32.to(torch::kDouble);  // scipy zooms the float32 values, in float64
  for (int i = 0; i < count; ++i) sum += clipped_zoom(x32_as_f64, 1.0 + i * step).to(torch::kFloat);
  return ((x32 + sum) / static_cast<float>(count + 1)).to(torch::kDouble);
}

}  // namespace questbench::corruption
