#include "corruptions/image_ops.h"

#include "common/error.h"

#include <algorithm>
#include <cmath>

namespace questbench::corruption {

std::vector<float> gaussian_kernel_f32(int size, double sigma) {
  QB_CHECK(size > 0 && size % 2 == 1 && sigma > 0, "gaussian kernel: size " << size << " must be odd and sigma " << sigma << " positive");
  std::vector<double> k(static_cast<size_t>(size));
  const double scale = -0.5 / (sigma * sigma);
  double sum = 0;
  for (int i = 0; i < size; ++i) {
    const double x = i - (size - 1) * 0.5;
    k[static_cast<size_t>(i)] = std::exp(scale * x * x);
    sum += k[static_cast<size_t>(i)];
  }
  std::vector<float> out(static_cast<size_t>(size));
  for (int i = 0; i < size; ++i) out[static_cast<size_t>(i)] = static_cast<float>(k[static_cast<size_t>(i)] / sum);
  return out;
}

namespace {
int reflect101(int i, int n) {
  if (n == 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * n - 2 - i;
  return i;
}
}  // namespace

std::vector<float> gaussian_blur_f32(const std::vector<float>& image, int height, int width, int size, double sigma) {
  QB_CHECK(static_cast<int64_t>(image.size()) == static_cast<int64_t>(height) * width, "gaussian blur: image size mismatch");
  const auto k = gaussian_kernel_f32(size, sigma);
  const int r = size / 2;
  std::vector<float> rows(image.size()), out(image.size());
  // Symmetric taps summed pairwise from the centre out, as OpenCV's symmetric small-kernel filters do.
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const float* row = image.data() + static_cast<size_t>(y) * width;
      float s = row[x] * k[static_cast<size_t>(r)];
      for (int j = 1; j <= r; ++j) s += (row[reflect101(x - j, width)] + row[reflect101(x + j, width)]) * k[static_cast<size_t>(r + j)];
      rows[static_cast<size_t>(y) * width + x] = s;
    }
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      float s = rows[static_cast<size_t>(y) * width + x] * k[static_cast<size_t>(r)];
      for (int j = 1; j <= r; ++j)
        s += (rows[static_cast<size_t>(reflect101(y - j, height)) * width + x] + rows[static_cast<size_t>(reflect101(y + j, height)) * width + x]) *
             k[static_cast<size_t>(r + j)];
      out[static_cast<size_t>(y) * width + x] = s;
    }
  return out;
}

std::vector<uint8_t> resize_linear_u8(const uint8_t* src, int height, int width, int channels, double scale, int* out_height,
                                      int* out_width, int vector_bytes) {
  QB_CHECK(height > 0 && width > 0 && channels > 0 && scale > 0, "resize: bad image or scale");
  // OpenCV rounds the size half to even (cvRound = lrint in the default rounding mode).
  const int oh = static_cast<int>(std::lrint(height * scale)), ow = static_cast<int>(std::lrint(width * scale));
  QB_CHECK(oh > 0 && ow > 0, "resize: scale " << scale << " leaves no pixels");
  constexpr int kOne = 2048;  // OpenCV's INTER_RESIZE_COEF_SCALE: weights in 1/2048
  struct Tap {
    int index;
    int16_t w0, w1;  // weights of index and index + 1
  };
  // Source positions in float, weights rounded one by one, as OpenCV's resize tables.
  auto taps = [&](int out_size, int in_size) {
    std::vector<Tap> t(static_cast<size_t>(out_size));
    const double step = 1.0 / scale;
    for (int d = 0; d < out_size; ++d) {
      float f = static_cast<float>((d + 0.5) * step - 0.5);
      int i = static_cast<int>(std::floor(f));
      f -= static_cast<float>(i);
      if (i < 0) i = 0, f = 0.f;
      if (i >= in_size - 1) i = in_size - 1, f = 0.f;
      t[static_cast<size_t>(d)] = {i, static_cast<int16_t>(std::lrint((1.f - f) * kOne)), static_cast<int16_t>(std::lrint(f * kOne))};
    }
    return t;
  };
  const auto ty = taps(oh, height), tx = taps(ow, width);
  const int row_values = ow * channels;
  // The columns pass: each source row once, exact integers (1/2048).
  std::vector<int32_t> rows(static_cast<size_t>(height) * row_values);
  for (int y = 0; y < height; ++y) {
    const uint8_t* s = src + static_cast<size_t>(y) * width * channels;
    int32_t* d = rows.data() + static_cast<size_t>(y) * row_values;
    for (int x = 0; x < ow; ++x) {
      const Tap& t = tx[static_cast<size_t>(x)];
      const int x1 = std::min(t.index + 1, width - 1);
      for (int c = 0; c < channels; ++c)
        d[x * channels + c] = s[t.index * channels + c] * t.w0 + s[x1 * channels + c] * t.w1;
    }
  }
  // The rows pass. OpenCV's vector code (all but the row's last values) drops 4 bits of each row sum, takes the
  // high 16 bits of the products with the 16-bit weights and rounds off 2 bits; its scalar tail rounds the
  // exact sum off 22 bits. The tail starts where whole vectors stop: blocks of `vector_bytes`, then one half
  // block while more than half a block is left.
  const int lanes = vector_bytes / 2;
  int vector_end = vector_bytes > 0 ? row_values / vector_bytes * vector_bytes : 0;
  if (vector_bytes > 0 && vector_end < row_values - lanes) vector_end += lanes;
  std::vector<uint8_t> out(static_cast<size_t>(oh) * row_values);
  for (int y = 0; y < oh; ++y) {
    const Tap& t = ty[static_cast<size_t>(y)];
    const int32_t* s0 = rows.data() + static_cast<size_t>(t.index) * row_values;
    const int32_t* s1 = rows.data() + static_cast<size_t>(std::min(t.index + 1, height - 1)) * row_values;
    uint8_t* d = out.data() + static_cast<size_t>(y) * row_values;
    for (int x = 0; x < row_values; ++x) {
      int32_t v;
      if (x < vector_end) {
        const int32_t a = std::clamp(s0[x] >> 4, -32768, 32767), b = std::clamp(s1[x] >> 4, -32768, 32767);
        const int16_t high = static_cast<int16_t>((a * t.w0) >> 16), low = static_cast<int16_t>((b * t.w1) >> 16);
        v = (static_cast<int16_t>(high + low) + 2) >> 2;
      } else {
        v = (s0[x] * t.w0 + s1[x] * t.w1 + (1 << 21)) >> 22;
      }
      d[x] = static_cast<uint8_t>(std::clamp(v, 0, 255));
    }
  }
  *out_height = oh;
  *out_width = ow;
  return out;
}

}  // namespace questbench::corruption
