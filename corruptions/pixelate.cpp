// pixelate (standard, digital): PIL BOX resize to int(side·c) per axis and back (8-bit, like Pillow).
// CPU: Pillow's integer loops (horizontal pass into an 8-bit buffer, then vertical), per image in parallel;
// other devices: the same fixed-point sums as float64 matmuls (exact, so both give the same bits).
#include "corruptions/ops.h"

#include <cmath>

namespace questbench::corruption {
namespace {

// One Pillow BOX pass over `lines` lines of `in` samples spaced `step` apart (lines `pitch` apart):
// out[line][o] = clip((sum + 2^21) >> 22).
void box_pass(const uint8_t* src, int64_t lines, int64_t in_pitch, int64_t in_step, uint8_t* dst, int64_t out_pitch, int64_t out_step,
              const PilTaps& taps, int64_t out) {
  for (int64_t l = 0; l < lines; ++l) {
    const uint8_t* s = src + l * in_pitch;
    uint8_t* d = dst + l * out_pitch;
    for (int64_t o = 0; o < out; ++o) {
      const int64_t* k = &taps.coeff[static_cast<size_t>(o * taps.stride)];
      const uint8_t* p = s + taps.first[o] * in_step;
      int64_t acc = int64_t{1} << (kPilPrecisionBits - 1);
      for (int64_t j = 0; j < taps.count[o]; ++j) acc += static_cast<int64_t>(p[j * in_step]) * k[j];
      acc >>= kPilPrecisionBits;
      d[o * out_step] = static_cast<uint8_t>(acc < 0 ? 0 : (acc > 255 ? 255 : acc));
    }
  }
}

// [h, w] 8-bit plane -> [out_h, out_w] (horizontal first, each pass skipped when its size is unchanged).
void box_resize(const uint8_t* in, int64_t h, int64_t w, uint8_t* tmp, uint8_t* out, int64_t out_h, int64_t out_w,
                const PilTaps& taps_w, const PilTaps& taps_h) {
  const uint8_t* src = in;
  if (out_w != w) {
    box_pass(in, h, w, 1, tmp, out_w, 1, taps_w, out_w);
    src = tmp;
  }
  if (out_h != h)
    box_pass(src, out_w, 1, out_w, out, 1, out_w, taps_h, out_h);
  else
    std::copy(src, src + h * out_w, out);
}

torch::Tensor pixelate_cpu(const torch::Tensor& x, int64_t small_h, int64_t small_w) {
  auto in = x.contiguous();
  const int64_t n = in.size(0), ch = in.size(1), h = in.size(2), w = in.size(3);
  auto out = torch::empty_like(in);
  const double* src = in.data_ptr<double>();
  double* dst = out.data_ptr<double>();
  const PilTaps down_w = pil_box_taps(w, small_w), down_h = pil_box_taps(h, small_h), up_w = pil_box_taps(small_w, w),
                up_h = pil_box_taps(small_h, h);
  parallel_images(n * ch, [&](int64_t first, int64_t last) {
    std::vector<uint8_t> plane(static_cast<size_t>(h * w)), tmp(static_cast<size_t>(std::max(h * small_w, small_h * w))),
        small(static_cast<size_t>(small_h * small_w)), back(static_cast<size_t>(h * w));
    for (int64_t p = first; p < last; ++p) {
      const double* s = src + p * h * w;
      for (int64_t i = 0; i < h * w; ++i) plane[static_cast<size_t>(i)] = static_cast<uint8_t>(std::rint(s[i] * 255.0));
      box_resize(plane.data(), h, w, tmp.data(), small.data(), small_h, small_w, down_w, down_h);
      box_resize(small.data(), small_h, small_w, tmp.data(), back.data(), h, w, up_w, up_h);
      double* d = dst + p * h * w;
      for (int64_t i = 0; i < h * w; ++i) d[i] = static_cast<double>(back[static_cast<size_t>(i)]) / 255.0;
    }
  });
  return out;
}

}  // namespace

torch::Tensor pixelate(const torch::Tensor& x, const Call& call) {
  static const double imagenet[5] = {0.6, 0.5, 0.4, 0.3, 0.25}, tiny[5] = {0.9, 0.8, 0.7, 0.6, 0.5},
                      cifar[5] = {0.95, 0.9, 0.85, 0.75, 0.65};
  const double c = pick(call, imagenet, tiny, cifar);
  const int64_t h = x.size(2), w = x.size(3);
  const int64_t small_h = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(h) * c));
  const int64_t small_w = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(w) * c));
  if (cpu_kernels(x, call)) return pixelate_cpu(x, small_h, small_w);
  auto small = pil_box_resize(torch::round(x * 255.0), small_h, small_w);
  return pil_box_resize(small, h, w) / 255.0;
}

}  // namespace questbench::corruption
