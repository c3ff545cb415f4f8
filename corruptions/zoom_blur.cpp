// zoom_blur (standard, blur): mean of the image and its clipped zooms by 1, 1+step, ... (np.arange lists,
// so the unzoomed image counts twice), in float32 like the reference (each zoom computed in float64 from the
// float32 image, as scipy does, then rounded to float32). CPU: one pass per output row accumulating all zooms;
// the pixels path reads and writes float32 directly.
#include "corruptions/finish.h"
#include "corruptions/geometry.h"

namespace questbench::corruption {
namespace {

// The zooms 1 .. count - 1 of one image size (zoom 0 is the image itself), prepared for the row loop. Rows: each
// zoom's source rows and weights per output row. Columns, in 4-lane blocks of output columns, block-major
// (entry e = block · zooms + zoom): block j of zoom i takes its left values from the four doubles at
// base[e] of zoom i's row buffer and its right values from the four at base[e] + 1, picking lanes by a
// permutation of 32-bit pairs (one vpermd each with AVX2). An entry whose indices leave that window (none for
// the tables' zooms) and the last width % 4 columns take the scalar form.
struct ZoomPlan {
  int64_t height = 0, width = 0;
  double step = 0;
  int count = 0;
  std::vector<ZoomAxis> rows, cols;
  std::vector<int32_t> base, lanes;  // lanes: 16 per entry (left then right, a Vec8i each)
  std::vector<double> tx;            // 4 per entry
  std::vector<uint8_t> windowed;
};

const ZoomPlan& zoom_plan(int64_t height, int64_t width, double step, int count) {
  thread_local ZoomPlan plan;
  if (plan.height == height && plan.width == width && plan.step == step && plan.count == count) return plan;
  plan = ZoomPlan{};
  plan.height = height, plan.width = width, plan.step = step, plan.count = count;
  for (int i = 1; i < count; ++i) {
    plan.rows.push_back(zoom_axis(height, 1.0 + i * step));
    plan.cols.push_back(zoom_axis(width, 1.0 + i * step));
  }
  for (int64_t c = 0; c + 4 <= width; c += 4)
    for (const ZoomAxis& ca : plan.cols) {
      const int64_t base = ca.lo[static_cast<size_t>(c)];
      int32_t lanes[16];
      bool fits = true;
      for (int k = 0; k < 4; ++k) {
        const int64_t l = ca.lo[static_cast<size_t>(c + k)] - base, r = ca.hi[static_cast<size_t>(c + k)] - base - 1;
        fits = fits && l >= 0 && l < 4 && r >= 0 && r < 4;
        lanes[2 * k] = static_cast<int32_t>(2 * l), lanes[2 * k + 1] = static_cast<int32_t>(2 * l + 1);
        lanes[8 + 2 * k] = static_cast<int32_t>(2 * r), lanes[8 + 2 * k + 1] = static_cast<int32_t>(2 * r + 1);
      }
      plan.base.push_back(static_cast<int32_t>(base));
      for (int k = 0; k < 16; ++k) plan.lanes.push_back(fits ? lanes[k] : 0);
      for (int k = 0; k < 4; ++k) plan.tx.push_back(ca.t[static_cast<size_t>(c + k)]);
      plan.windowed.push_back(fits ? 1 : 0);
    }
  return plan;
}

// Output row o of one plane (float32 values held as float64, height × width): out[c] for c < width. rows holds
// (count - 1) · (width + 8) doubles (scratch).
QB_WITH_AVX2_CLONE
void zoom_blur_row(const double* plane, int64_t o, const ZoomPlan& plan, double* rows, double* out) {
  const int64_t w = plan.width, zooms = static_cast<int64_t>(plan.rows.size()), stride = w + 8;
  const double* xr = plane + o * w;
  // The row passes of all zooms first (only the columns the column passes read), then the column passes: a
  // column pass loads (unaligned) what its row pass stored, and a load that spans two stores still in flight
  // waits for them to complete.
  for (int64_t i = 0; i < zooms; ++i) {
    const ZoomAxis& ra = plan.rows[static_cast<size_t>(i)];
    const double* lo = plane + ra.lo[static_cast<size_t>(o)] * w;
    const double* hi = plane + ra.hi[static_cast<size_t>(o)] * w;
    const double ty = ra.t[static_cast<size_t>(o)];
    const ZoomAxis& ca = plan.cols[static_cast<size_t>(i)];
    double* row = rows + i * stride;
    for (int64_t c = ca.lo.front(); c <= ca.hi.back(); ++c) row[c] = lo[c] + ty * (hi[c] - lo[c]);
  }
  const float divisor = static_cast<float>(plan.count + 1);
  // Per block of four columns, the zooms in order into one float32 sum held in a register; zoom 1 (i = 0) is the
  // image itself (t = 0, lo = hi): its float32 values, exactly what the zoom makes.
  int64_t c = 0;
  for (int64_t e = 0; c + 4 <= w; c += 4) {
    const Vec4f image = __builtin_convertvector(QB_LOAD4(xr + c), Vec4f);
    Vec4f sum = 0.0f + image;
    for (int64_t i = 0; i < zooms; ++i, ++e) {
      const double* row = rows + i * stride;
      Vec4 left, right;
      if (plan.windowed[static_cast<size_t>(e)]) {
        Vec8i l, r, left_lanes, right_lanes;
        std::memcpy(&l, row + plan.base[static_cast<size_t>(e)], sizeof l);
        std::memcpy(&r, row + plan.base[static_cast<size_t>(e)] + 1, sizeof r);
        std::memcpy(&left_lanes, plan.lanes.data() + 16 * e, sizeof left_lanes);
        std::memcpy(&right_lanes, plan.lanes.data() + 16 * e + 8, sizeof right_lanes);
        left = (Vec4)__builtin_shuffle(l, left_lanes);
        right = (Vec4)__builtin_shuffle(r, right_lanes);
      } else {
        const ZoomAxis& ca = plan.cols[static_cast<size_t>(i)];
        for (int k = 0; k < 4; ++k)
          left[k] = row[ca.lo[static_cast<size_t>(c + k)]], right[k] = row[ca.hi[static_cast<size_t>(c + k)]];
      }
      sum += __builtin_convertvector(left + QB_LOAD4(plan.tx.data() + 4 * e) * (right - left), Vec4f);
    }
    const Vec4 mean = __builtin_convertvector((image + sum) / divisor, Vec4);
    QB_STORE4(out + c, mean);
  }
  for (; c < w; ++c) {
    float sum = 0.0f + static_cast<float>(xr[c]);
    for (int64_t i = 0; i < zooms; ++i) {
      const double* row = rows + i * stride;
      const ZoomAxis& ca = plan.cols[static_cast<size_t>(i)];
      const double left = row[ca.lo[static_cast<size_t>(c)]];
      sum += static_cast<float>(left + ca.t[static_cast<size_t>(c)] * (row[ca.hi[static_cast<size_t>(c)]] - left));
    }
    out[c] = static_cast<double>((static_cast<float>(xr[c]) + sum) / divisor);
  }
}

// np.arange(1, stop, step) as (step, count): ImageNet-C 1.11/.01, 1.16/.01, 1.21/.02, 1.26/.02, 1.31/.03;
// CIFAR-10-C and Tiny 1.06 ... 1.26 in steps of .01.
std::pair<double, int> zoom_steps(const Call& call) {
  static const double step_imagenet[5] = {0.01, 0.01, 0.02, 0.02, 0.03}, step_small[5] = {0.01, 0.01, 0.01, 0.01, 0.01};
  static const int count_imagenet[5] = {12, 16, 11, 13, 11}, count_small[5] = {7, 12, 16, 21, 26};
  return {pick(call, step_imagenet, step_small, step_small), pick(call, count_imagenet, count_small, count_small)};
}

torch::Tensor zoom_blur_cpu(const torch::Tensor& x, double step, int count) {
  auto in = x.contiguous();
  const int64_t n = in.size(0), ch = in.size(1), h = in.size(2), w = in.size(3);
  auto out = torch::empty_like(in);
  const double* src = in.data_ptr<double>();
  double* dst = out.data_ptr<double>();
  parallel_images(n * ch, [&](int64_t first, int64_t last) {
    const ZoomPlan& plan = zoom_plan(h, w, step, count);
    std::vector<double> plane(static_cast<size_t>(h * w)), row(static_cast<size_t>((count - 1) * (w + 8)));
    for (int64_t pl = first; pl < last; ++pl) {
      const double* s = src + pl * h * w;
      for (int64_t p = 0; p < h * w; ++p) plane[static_cast<size_t>(p)] = static_cast<double>(static_cast<float>(s[p]));
      for (int64_t o = 0; o < h; ++o) zoom_blur_row(plane.data(), o, plan, row.data(), dst + (pl * h + o) * w);
    }
  });
  return out;
}

}  // namespace

torch::Tensor zoom_blur(const torch::Tensor& x, const Call& call) {
  const auto [step, count] = zoom_steps(call);
  if (cpu_kernels(x, call)) return zoom_blur_cpu(x, step, count);
  auto x32 = x.to(torch::kFloat);
  auto sum = torch::zeros_like(x32);
  auto x32_as_f64 = x32.to(torch::kDouble);  // scipy zooms the float32 values, in float64
  for (int i = 0; i < count; ++i) sum += clipped_zoom(x32_as_f64, 1.0 + i * step).to(torch::kFloat);
  return div_exact(x32 + sum, static_cast<float>(count + 1)).to(torch::kDouble);
}

void zoom_blur_pixels(const float* in, float* out, int64_t height, int64_t width, int64_t, const Call& call) {
  const auto [step, count] = zoom_steps(call);
  const ZoomPlan& plan = zoom_plan(height, width, step, count);
  thread_local std::vector<double> plane, row, finished;
  plane.resize(static_cast<size_t>(height * width));
  row.resize(static_cast<size_t>((count - 1) * (width + 8)));
  finished.resize(static_cast<size_t>(width));
  for (int64_t c = 0; c < 3; ++c) {
    const float* s = in + c * height * width;
    for (int64_t p = 0; p < height * width; ++p) plane[static_cast<size_t>(p)] = static_cast<double>(s[p]);
    for (int64_t o = 0; o < height; ++o) {
      zoom_blur_row(plane.data(), o, plan, row.data(), finished.data());
      finish_levels(finished.data(), out + (c * height + o) * width, width, call.options.quantize);
    }
  }
}

}  // namespace questbench::corruption
