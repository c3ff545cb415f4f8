// Per-image random draws of the corruptions (internal): each image draws from its own generator, seeded by
// Call::rng_seeds, so an image's numbers never depend on its batch, the thread count or the device. Two kinds:
// ATen's CPU generator (per_image_random / per_image_fill: exactly what torch::rand / normal / randint draw) and
// the fast streams (DrawStream: xoshiro256++ lanes, ziggurat normals, Poisson samplers and alias tables).
#pragma once

#include "corruptions/finish.h"
#include "corruptions/ops.h"

#include <functional>
#include <vector>

namespace questbench::corruption {

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

// The fast per-image streams of the bulk draws (the noise corruptions, the snow, spatter and elastic fields,
// fog's plasma): xoshiro256++ (common/random.h) seeded through splitmix64 from the image's seed; uniform in [0, 1)
// from 53 bits, standard normals by Marsaglia and Tsang's ziggurat (128 layers, the layer index and the value
// from separate bits of one 64-bit draw). A few ns per value against ~14 ns for normal_ on a float64 tensor.
// Drawn on the CPU and copied to `device`, so every device gets the same numbers.
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
// [N, shape...] float64 on `device`, image i filled from rng_seeds[i] (images in parallel).
torch::Tensor per_image_draws(const std::vector<uint64_t>& rng_seeds, at::IntArrayRef shape, Draw draw, double scale,
                              torch::Device device);

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

}  // namespace questbench::corruption
