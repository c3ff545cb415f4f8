// motion_blur (standard, blur): ImageMagick 6 MotionBlurImage(radius, sigma, angle ~ U(-45, 45)) on the
// 8-bit image, as the reference calls it through Wand (one-sided kernel: the image is smeared and shifted
// along the motion direction; edge pixels; 8-bit result). See motion_blur_levels in geometry.h.
#include "corruptions/geometry.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/DistributionsHelper.h>

namespace questbench::corruption {

torch::Tensor motion_blur(const torch::Tensor& x, const Call& call) {
  static const double radius_imagenet[5] = {10, 15, 15, 15, 20}, sigma_imagenet[5] = {3, 5, 8, 12, 15};
  static const double radius_tiny[5] = {10, 10, 10, 10, 12}, sigma_tiny[5] = {1, 1.5, 2, 2.5, 3};
  static const double radius_cifar[5] = {6, 6, 6, 8, 9}, sigma_cifar[5] = {1, 1.5, 2, 2, 2.5};
  // Per image: one uniform, exactly what torch::rand({1}, g) * 90 - 45 gives, straight from the generator.
  std::vector<double> deg;
  for (uint64_t seed : call.rng_seeds) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    at::uniform_real_distribution<double> uniform(0.0, 1.0);
    deg.push_back(uniform(at::check_generator<at::CPUGeneratorImpl>(gen)) * 90.0 - 45.0);
  }
  auto levels = torch::round(x * 255.0);
  return div_exact(motion_blur_levels(levels, pick(call, radius_imagenet, radius_tiny, radius_cifar),
                                      pick(call, sigma_imagenet, sigma_tiny, sigma_cifar), deg, execution_for(x, call)),
                   255.0);
}

}  // namespace questbench::corruption
