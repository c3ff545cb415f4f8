// glass_blur (standard, blur): Gaussian blur, truncate to 8 bits, then `iterations` passes of the
// reference's local pixel shuffle, then the Gaussian blur again.
//
// The shuffle scans rows h = H-d .. d+1 and, inside, columns w = W-d .. d+1 (descending), drawing offsets
// (dx, dy) in [-d, d-1] and "swapping" pixel (h, w) with (h+dy, w+dx). On an H x W x 3 NumPy array that
// tuple assignment copies the source pixel into (h, w) and leaves the source unchanged, in place, so a
// pixel written earlier in the scan (a larger row-major index) passes its new value on. Every pixel ends
// up as a copy of one original pixel: final[p] = orig[src(p)] if src(p) was not written before p, else
// final[src(p)]. Those chains are resolved for the whole batch at once by pointer doubling (gathers only),
// which gives exactly the sequential result.
#include "corruptions/filters.h"
#include "corruptions/streams.h"

namespace questbench::corruption {

torch::Tensor glass_blur(const torch::Tensor& x, const Call& call) {
  struct P {
    double sigma;
    int delta, iterations;
  };
  static const P imagenet[5] = {{0.7, 1, 2}, {0.9, 2, 1}, {1, 2, 3}, {1.1, 3, 2}, {1.5, 4, 2}};
  static const P tiny[5] = {{0.1, 1, 1}, {0.5, 1, 1}, {0.6, 1, 2}, {0.7, 2, 1}, {0.9, 2, 2}};
  static const P cifar[5] = {{0.05, 1, 1}, {0.25, 1, 1}, {0.4, 1, 1}, {0.25, 1, 2}, {0.4, 1, 2}};
  const P c = pick(call, imagenet, tiny, cifar);
  const int64_t n = x.size(0), ch = x.size(1), h = x.size(2), w = x.size(3), d = c.delta;
  const auto blur = [&](const torch::Tensor& t) {
    return gaussian_filter(t, c.sigma, Border::Replicate, 4.0, TapRounding::TwoRoundings, execution_for(x, call));
  };
  auto y = torch::floor(blur(x) * 255.0).clamp(0, 255);

  const int64_t rh = h - 2 * d, rw = w - 2 * d;  // the scanned region: rows and columns d+1 .. side-d
  if (rh > 0 && rw > 0) {
    const auto dev = x.device();
    const auto long_opts = torch::TensorOptions().dtype(torch::kLong);
    const bool cpu = cpu_kernels(x, call);
    auto offsets = per_image_fill(
        call.rng_seeds, {c.iterations, rh, rw, 2}, torch::kLong, [&](at::Generator& g, torch::Tensor& out) { out.random_(-d, d, g); },
        cpu ? torch::Device(torch::kCPU) : dev);
    if (cpu) {
      // The scan itself, in place: descending rows and columns, pixel (all channels) <- pixel + offset.
      y = y.contiguous();
      double* levels = y.data_ptr<double>();
      const int64_t* off = offsets.data_ptr<int64_t>();
      parallel_images(n, [&](int64_t first, int64_t last) {
        for (int64_t i = first; i < last; ++i) {
          double* img = levels + i * ch * h * w;
          for (int it = 0; it < c.iterations; ++it) {
            const int64_t* o = off + ((i * c.iterations + it) * rh * rw) * 2;
            for (int64_t r = rh - 1; r >= 0; --r)
              for (int64_t col = rw - 1; col >= 0; --col) {
                const int64_t k = (r * rw + col) * 2;
                const int64_t p = (d + 1 + r) * w + (d + 1 + col), q = p + o[k + 1] * w + o[k];
                for (int64_t cc = 0; cc < ch; ++cc) img[cc * h * w + p] = img[cc * h * w + q];
              }
          }
        }
      });
      return blur(div_exact(y, 255.0));
    }
    auto rows = torch::arange(d + 1, d + 1 + rh, long_opts.device(dev)).view({rh, 1});
    auto cols = torch::arange(d + 1, d + 1 + rw, long_opts.device(dev)).view({1, rw});
    auto region = (rows * w + cols).flatten();  // linear indices of the scanned pixels
    auto identity = torch::arange(h * w, long_opts.device(dev)).expand({n, h * w});
    auto flat = y.reshape({n, ch, h * w});
    for (int it = 0; it < c.iterations; ++it) {
      auto dx = offsets.select(1, it).select(-1, 0).reshape({n, rh * rw});
      auto dy = offsets.select(1, it).select(-1, 1).reshape({n, rh * rw});
      auto p = region.expand({n, rh * rw});
      auto q = p + dy * w + dx;
      // q was written before p iff q lies in the scanned region and comes later in row-major order.
      auto qr = torch::div(q, w, "floor"), qc = q - qr * w;
      auto q_in_region = (qr >= d + 1) & (qr <= h - d) & (qc >= d + 1) & (qc <= w - d);
      auto links = q_in_region & (q > p);
      auto jump = identity.clone(), base = identity.clone();
      jump.scatter_(1, p, torch::where(links, q, p));
      base.scatter_(1, p, torch::where(links, p, q));
      while (true) {
        auto next = jump.gather(1, jump);
        if (torch::equal(next, jump)) break;
        jump = next;
      }
      auto source = base.gather(1, jump);
      flat = flat.gather(2, source.unsqueeze(1).expand({n, ch, h * w}));
    }
    y = flat.reshape({n, ch, h, w});
  }
  return blur(div_exact(y, 255.0));
}

}  // namespace questbench::corruption
