// pixelate (standard, digital): PIL BOX resize to int(side·c) per axis and back (8-bit, like Pillow).
#include "corruptions/ops.h"

namespace questbench::corruption {

torch::Tensor pixelate(const torch::Tensor& x, const Call& call) {
  static const double imagenet[5] = {0.6, 0.5, 0.4, 0.3, 0.25}, tiny[5] = {0.9, 0.8, 0.7, 0.6, 0.5},
                      cifar[5] = {0.95, 0.9, 0.85, 0.75, 0.65};
  const double c = pick(call, imagenet, tiny, cifar);
  const int64_t h = x.size(2), w = x.size(3);
  const int64_t small_h = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(h) * c));
  const int64_t small_w = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(w) * c));
  auto small = pil_box_resize(torch::round(x * 255.0), small_h, small_w);
  return pil_box_resize(small, h, w) / 255.0;
}

}  // namespace questbench::corruption
