// Internal helpers shared by the corruption files (not part of the public API): the per-call context,
// per-image random draws, border handling and separable filters with the reference libraries' borders,
// the reference's clipped_zoom, ImageMagick's motion blur, scikit-image's HSV, Pillow's BOX resize and
// the JPEG codec round trip. All tensors are float64 [N, C, H, W] on any device unless stated.
#pragma once

#include "corruptions/corrupt.h"

#include <torch/torch.h>

#include <cstring>
#include <functional>
#include <vector>

// Marks a hot loop function to be compiled twice, for the x86-64 baseline and for AVX2, the CPU's choice made
// at load time (GCC function multiversioning). Loops built with it keep the same per-value order of
// operations, so both versions give the same bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define QB_WITH_AVX2_CLONE __attribute__((target_clones("avx2", "default")))
#else
#define QB_WITH_AVX2_CLONE
#endif

namespace questbench::corruption {

// GCC vector types for the hot loops (lowered to SSE2 pairs in the baseline build, AVX2 in its clone);
// QB_LOAD4 / QB_STORE4 move four doubles from / to any address.
typedef double Vec4 __attribute__((vector_size(32)));
typedef float Vec4f __attribute__((vector_size(16)));
typedef int32_t Vec4i __attribute__((vector_size(16)));
typedef int64_t Vec4l __attribute__((vector_size(32)));
typedef int32_t Vec8i __attribute__((vector_size(32)));
#define QB_LOAD4(p) ({ Vec4 v_; std::memcpy(&v_, (p), sizeof v_); v_; })
#define QB_STORE4(p, v) do { Vec4 v_ = (v); std::memcpy((p), &v_, sizeof v_); } while (0)

// What one corruption function gets besides the images.
struct Call {
  int severity;                             // 1..5
  CorruptionTable table;                    // resolved (never Auto)
  const std::vector<uint64_t>& rng_seeds;   // one per image, already specific to (image, corruption, severity)
  const CorruptionOptions& options;
};

// The severity's constant from the rows of the three tables (ImageNet-C 224, Tiny-ImageNet-C 64, CIFAR-10-C 32).
template <typename T>
const T& pick(const Call& call, const T (&imagenet)[5], const T (&tiny)[5], const T (&cifar)[5]) {
  const T* row = call.table == CorruptionTable::Cifar32 ? cifar : (call.table == CorruptionTable::Tiny64 ? tiny : imagenet);
  return row[call.severity - 1];
}

// Native side of the call's table (224, 64 or 32).
int64_t table_side(CorruptionTable table);

// Draws with each image's own CPU generator and stacks the results on `device`: fn(generator) returns one
// image's tensor (all the same shape). Images are drawn in parallel (at::parallel_for); the draws of an image
// never depend on the other images or on the thread count.
torch::Tensor per_image_random(const std::vector<uint64_t>& rng_seeds, const std::function<torch::Tensor(at::Generator&)>& fn,
                               torch::Device device);
// Same, filling a preallocated [N, shape...] CPU tensor of `dtype` in place: fill(generator, slice) writes image
// i's slice, e.g. with slice.uniform_(0, 1, g) / normal_(m, s, g) / random_(lo, hi, g), which is exactly what
// torch::rand / normal / randint draw. Returns it on `device`.
torch::Tensor per_image_fill(const std::vector<uint64_t>& rng_seeds, at::IntArrayRef shape, torch::ScalarType dtype,
                             const std::function<void(at::Generator&, torch::Tensor&)>& fill, torch::Device device);
torch::TensorOptions f64();
// t / d correctly rounded on every device. ATen's CUDA kernels divide by a host scalar by multiplying with its
// reciprocal, which is not correctly rounded (k · fl(1/255) · 255 < k for about one level in ten), so on other
// devices the divisor goes to t's device as a 0-dim tensor; on the CPU it is the plain division (same bits).
torch::Tensor div_exact(const torch::Tensor& t, double d);

// The fast per-image streams of the bulk draws (the noise corruptions, the snow, spatter and elastic fields,
// fog's plasma): xoshiro256++ (common/random.h) seeded through splitmix64 from the image's seed; uniform in [0, 1) from 53 bits, standard normals by Marsaglia and Tsang's ziggurat (128 layers, the
// layer index and the value from separate bits of one 64-bit draw). A few ns per value against ~14 ns for
// normal_ on a float64 tensor. Drawn on the CPU and copied to `device`, so every device gets the same numbers.
enum class Draw { Uniform01, StandardNormal };
void fill_draws(uint64_t seed, Draw draw, double scale, double* out, int64_t count);  // out[i] = scale · draw
// out[i] = a Poisson(rates[i]) draw from the stream of `seed`: the multiplication method below rate 10,
// Hörmann's transformed rejection (PTRS) from 10 on.
void fill_poisson(uint64_t seed, const double* rates, double* out, int64_t count);

// The same streams drawn in pieces: successive calls continue one stream, so fill(a values) then fill(b values)
// gives what fill_draws gives for a + b. For per-pixel loops that draw a chunk, use it and draw the next.
// A stream is four xoshiro256++ lanes (16 splitmix64 words from the seed): value k comes from lane k mod 4, so
// four values are drawn at once as vectors; one value at a time gives the same numbers.
class DrawStream {
 public:
  explicit DrawStream(uint64_t seed);
  void fill(Draw draw, double scale, double* out, int64_t count);
  // out[i] = a Poisson(x[i]·scale) draw (shot noise). Values x that are 8-bit levels of a float32 image
  // (float(k/255)) are drawn from an alias table of the Poisson pmf of rate x·scale, built once per scale
  // (the tail beyond probability 1e-18 is cut; one uniform picks the column and the coin, so the coin has
  // ~44 bits); other values (and rates above 700) by fill_poisson's samplers. Which method a value gets
  // depends on the value alone.
  void poisson(const double* x, double scale, double* out, int64_t count);

 private:
  uint64_t state_[4][4];  // lane l's xoshiro256 words at state_[l]
  int lane_ = 0;          // the lane of the stream's next value
};

// [N, shape...] float64 on `device`: fill(stream, out) writes image i's values from DrawStream(rng_seeds[i])
// (images in parallel, drawn on the CPU, so every device gets the same numbers).
torch::Tensor per_image_streams(const std::vector<uint64_t>& rng_seeds, at::IntArrayRef shape,
                                const std::function<void(DrawStream& stream, double* out)>& fill, torch::Device device);

// The finish of corrupt() (PixelsFunction): clip to [0,1], floor to 8-bit levels when quantizing, cast to
// float; NaN stays NaN. finish_level does one value (levels = level_table<float>()); finish_levels does n,
// vectorised (AVX2 where the CPU has it), with the same results (level k is float(k) / 255f, which equals
// float(k / 255.0) for every k: tested).
inline float finish_level(double v, bool quantize, const float* levels) {
  v = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
  if (quantize && v == v) return levels[static_cast<int>(v * 255.0)];  // truncation = floor (v·255 in [0, 255])
  return static_cast<float>(v);
}
void finish_levels(const double* values, float* out, int64_t n, bool quantize);
// A per-value loop in chunks: compute(first, n, values) writes the float64 results of values first ..
// first + n - 1 of `count` into values[0 .. n), which are then finished into out[first ..].
template <typename F>
void finish_in_chunks(float* out, int64_t count, bool quantize, F&& compute) {
  constexpr int64_t kChunk = 1024;
  double values[kChunk];
  for (int64_t first = 0; first < count; first += kChunk) {
    const int64_t n = count - first < kChunk ? count - first : kChunk;
    compute(first, n, values);
    finish_levels(values, out + first, n, quantize);
  }
}

// The pixels loop of a noise corruption (PixelsFunction): the image's `count` values in order, each drawn
// value scale·d (d from the image's stream, `draw`) combined with its input as combine(x, scale·d), finished.
template <typename F>
void noise_pixels(const float* in, float* out, int64_t count, uint64_t seed, Draw draw, double scale, bool quantize, F&& combine) {
  DrawStream stream(seed);
  finish_in_chunks(out, count, quantize, [&](int64_t first, int64_t n, double* v) {
    stream.fill(draw, scale, v, n);
    for (int64_t k = 0; k < n; ++k) v[k] = combine(static_cast<double>(in[first + k]), v[k]);
  });
}

// [N, shape...] float64 on `device`, image i filled from rng_seeds[i] (images in parallel).
torch::Tensor per_image_draws(const std::vector<uint64_t>& rng_seeds, at::IntArrayRef shape, Draw draw, double scale,
                              torch::Device device);

// CPU kernels: a corruption may run plain C++ loops over contiguous CPU data when cpu_kernels(x, call) holds
// (x on the CPU and CorruptionOptions::cpu_kernels on); otherwise it runs tensor ops (any device). On the CPU
// both give the same bits (tests force the tensor path and compare). The kernels' translation unit is built
// without floating-point contraction, so a*b+c rounds twice like two tensor ops.
bool cpu_kernels(const torch::Tensor& x, const Call& call);
// fn(first, last) over images [0, n), split across the intra-op threads (one image per grain); the workers run
// in the caller's InferenceMode state (it is thread-local, and tensors made in it may only be updated in it).
void parallel_images(int64_t n, const std::function<void(int64_t, int64_t)>& fn);
// fn(image, pixel) for the flat indices [first, last) of images of `plane` pixels, without a division per pixel.
template <typename F>
inline void for_plane_runs(int64_t first, int64_t last, int64_t plane, F&& fn) {
  int64_t i = first / plane, p = first % plane;
  for (int64_t k = first; k < last; ++k) {
    fn(i, p);
    if (++p == plane) p = 0, ++i;
  }
}

// The 8-bit round trips of the levels paths, vectorised (AVX2 where the CPU has it): levels[k] = round(x[k]·255)
// for float32 values in [0, 1] (rounded in float64, ties to even: exact, since x·255 has at most 32
// significant bits), and back: x[k] = float(levels[k]) / 255f (= float(levels[k] / 255.0), tested).
void unit_to_levels(const float* in, uint8_t* out, int64_t n);
void levels_to_unit(const uint8_t* in, float* out, int64_t n);
// Planar [3, plane] 8-bit RGB to interleaved [plane, 3] and back (vectorised; the buffers must not overlap).
void interleave_rgb(const uint8_t* planar, uint8_t* interleaved, int64_t plane);
void planar_rgb(const uint8_t* interleaved, uint8_t* planar, int64_t plane);

// Exact stand-ins for the per-pixel rounding steps of hot loops (the same bits, no libm call, no division):
// rint_nonneg(t) = std::rint(t) for 0 <= t < 2^51 (ties to even under the default rounding mode);
// level_table<T>()[k] = static_cast<T>(k / 255.0) for k = 0..255, so floor(v·255)/255 becomes a lookup.
inline double rint_nonneg(double t) {
  constexpr double kShift = 4503599627370496.0;  // 2^52: adding it leaves no fraction bits
  return (t + kShift) - kShift;
}
template <typename T>
const T* level_table();  // T = float or double
// floor_exact(t) = std::floor(t) for |t| < 2^62 without a libm call (Debian's x86-64 baseline has no SSE4.1
// round instruction, so std::floor is a function call in the hot loops).
inline double floor_exact(double t) {
  const double truncated = static_cast<double>(static_cast<int64_t>(t));
  return truncated > t ? truncated - 1.0 : truncated;
}

// The inner loop of the CPU filters: out[c] = (((s + off[0])[c]·w[0] + (s + off[1])[c]·w[1]) + ...) for c in
// [0, n), i.e. every tap adds its rounded product to the rounded sum in tap order, 32 outputs at a time held
// in registers (compiled for AVX2 too where the CPU has it, chosen at run time). The same bits at every
// vector width, so the same as a tap-by-tap loop over the row.
void weighted_taps(const double* s, const int64_t* offsets, const double* weights, int64_t taps, double* out, int64_t n);

enum class Border {
  Replicate,   // aaa|abcd|ddd: scipy/skimage 'nearest', OpenCV BORDER_REPLICATE, ImageMagick edge pixels
  Reflect101,  // cb|abcd|cb: OpenCV's default BORDER_REFLECT_101
  Symmetric,   // ba|abcd|dc: scipy 'reflect' (half-sample symmetric), OpenCV BORDER_REFLECT
};

// Source index of every padded position -before .. n-1+after (any widths, also wider than n), int64 on `device`.
torch::Tensor border_index(int64_t n, int64_t before, int64_t after, Border border, torch::Device device);
// The same as a CPU vector.
std::vector<int64_t> border_vector(int64_t n, int64_t before, int64_t after, Border border);
// Pads dims 2 (rows) and 3 (columns) by the given widths.
torch::Tensor pad2d(const torch::Tensor& x, int64_t top, int64_t bottom, int64_t left, int64_t right, Border border);

// Correlation of dim `dim` (2 = rows, 3 = columns) with centred 1-D `weights` (float64, odd length).
torch::Tensor filter1d(const torch::Tensor& x, const torch::Tensor& weights, int64_t dim, Border border);
// Correlation with a centred [kh, kw] kernel (cv2.filter2D semantics, anchor at the centre).
torch::Tensor filter2d(const torch::Tensor& x, const torch::Tensor& kernel, Border border);
// scipy.ndimage.gaussian_filter1d weights: radius int(truncate·sigma + 0.5), normalised; sigma 0 = identity.
torch::Tensor gaussian_weights(double sigma, double truncate = 4.0);
// skimage.filters.gaussian / scipy gaussian_filter over rows, then columns (channels separate).
torch::Tensor gaussian_filter(const torch::Tensor& x, double sigma, Border border, double truncate = 4.0);
// The corruptions' versions of the three: every tap adds a rounded product to the rounded sum (two roundings,
// the same on every CPU; the ones above use add_ with alpha, which ATen may fuse into an FMA, and stay for the
// frost textures). cpu: plain loops per plane when x is a CPU float64 tensor, the same bits as the tensor ops.
torch::Tensor filter1d(const torch::Tensor& x, const torch::Tensor& weights, int64_t dim, Border border, bool cpu);
torch::Tensor filter2d(const torch::Tensor& x, const torch::Tensor& kernel, Border border, bool cpu);
torch::Tensor gaussian_filter(const torch::Tensor& x, double sigma, Border border, double truncate, bool cpu);

// The reference's clipped_zoom: crop the central ceil(side/z) span of each axis, zoom by z with scipy's
// align-corners bilinear mapping (output round(span·z)), crop the central side x side.
torch::Tensor clipped_zoom(const torch::Tensor& x, double z);
// One axis of it: output o interpolates lo[o] + t[o]·(hi[o] - lo[o]) (indices into the full axis).
struct ZoomAxis {
  std::vector<int64_t> lo, hi;
  std::vector<double> t;
};
ZoomAxis zoom_axis(int64_t side, double z);

// ImageMagick 6 MotionBlurImage on 8-bit levels (x holds integers 0..255): one-sided kernel of
// 2·ceil(radius)+1 taps exp(-i²/2σ²), tap i at (ceil(i·cos θ - 0.5), ceil(i·sin θ - 0.5)), edge pixels,
// floored to integers like the reference's PNG round trip. `angles_deg` has one angle per image.
// cpu: the CPU loop (when x is on the CPU), same bits as the tensor path.
torch::Tensor motion_blur_levels(const torch::Tensor& x, double radius, double sigma, const std::vector<double>& angles_deg,
                                 bool cpu);

// scikit-image rgb2hsv / hsv2rgb on [N, 3, H, W] (hue in [0,1)).
struct Hsv {
  torch::Tensor h, s, v;  // [N, H, W]
};
Hsv rgb_to_hsv(const torch::Tensor& x);
torch::Tensor hsv_to_rgb(const Hsv& hsv);
// The HSV round trip with one channel changed, as one per-pixel loop over a CPU [N, 3, H, W] float64 tensor
// (the same operations as rgb_to_hsv / hsv_to_rgb): Value: v = clip(v + a, 0, 1); Saturation:
// s = clip(s·a + b, 0, 1).
enum class HsvChannel { Value, Saturation };
torch::Tensor hsv_adjust_cpu(const torch::Tensor& x, HsvChannel channel, double a, double b);
// The same per pixel from float32 planes [3, plane] to finished float32 output planes (PixelsFunction).
void hsv_adjust_planes(const float* in, float* out, int64_t plane, HsvChannel channel, double a, double b, bool quantize);

// The float64 CPU path of the 8-bit corruptions: each image of a CPU float64 [N, 3, H, W] tensor becomes planar
// levels round(clip(x)·255), fn corrupts them in place (a LevelsFunction's work), and the result is returned as
// levels / 255 (images in parallel).
torch::Tensor levels_round_trip_cpu(const torch::Tensor& x, const std::function<void(uint8_t* levels)>& fn);

// PIL Image.resize((out_w, out_h), BOX) on 8-bit levels (integers 0..255 as float64): horizontal pass
// first into an 8-bit intermediate, 22-bit fixed-point weights, like Pillow.
torch::Tensor pil_box_resize(const torch::Tensor& levels, int64_t out_h, int64_t out_w);
// Pillow's BOX taps for `in` -> `out` samples: output o sums inputs first[o] .. first[o] + count[o] - 1 with
// the fixed-point weights coeff[o * stride + j] (22 bits); result (sum + 2^21) >> 22 clipped to 0..255.
constexpr int kPilPrecisionBits = 22;  // Pillow's 8-bit resampling precision (32 - 8 - 2)
struct PilTaps {
  std::vector<int64_t> first, count, coeff;
  int64_t stride = 0;
};
PilTaps pil_box_taps(int64_t in, int64_t out);

}  // namespace questbench::corruption
