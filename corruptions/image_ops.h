// The three OpenCV operations the corruptions rely on, in questbench's own code, for builds without OpenCV
// (-DQUESTBENCH_OPENCV=OFF). Builds with OpenCV keep calling OpenCV (the reference's code did); tests compare
// these with OpenCV there and state how far they are apart.
#pragma once

#include <cstdint>
#include <vector>

namespace questbench::corruption {

// cv::getGaussianKernel(size, sigma, CV_32F) for sigma > 0: exp(-x²/(2σ²)) normalised to sum 1, in double,
// rounded to float.
std::vector<float> gaussian_kernel_f32(int size, double sigma);

// cv::GaussianBlur of a float32 single-channel image with a size x size kernel of that sigma and OpenCV's
// default border (BORDER_REFLECT_101): the separable rows-then-columns filter with float32 sums.
std::vector<float> gaussian_blur_f32(const std::vector<float>& image, int height, int width, int size, double sigma);

// cv::resize(src, dst, Size(), scale, scale, INTER_LINEAR) of an 8-bit interleaved image, as OpenCV's
// fixed-point path computes it: output side round(side·scale) (halves to even), source position
// (d + 0.5)/scale - 0.5 in float clamped to the image, weights in 1/2048, the columns pass exact, the rows pass
// rounded as OpenCV's vector code does for all but the last values of a row (`vector_bytes`: its vector
// width in bytes, 0 for scalar code throughout) and as its scalar code for the rest.
std::vector<uint8_t> resize_linear_u8(const uint8_t* src, int height, int width, int channels, double scale, int* out_height,
                                      int* out_width, int vector_bytes = 16);

}  // namespace questbench::corruption
