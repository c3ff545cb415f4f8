// pixelate (standard, digital): PIL BOX resize to int(side·c) per axis and back (8-bit, like Pillow).
// CPU: Pillow's integer loops (horizontal pass into an 8-bit buffer, then vertical), per image in parallel;
// other devices: the same fixed-point sums as float64 matmuls (exact, so both give the same bits).
#include "corruptions/levels.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace questbench::corruption {
namespace {

// Pillow's BOX passes: out = clip((sum of in·coeff + 2^21) >> 22). The sums fit int32 like Pillow's (the
// coefficients of one output add up to 2^22, times 255 < 2^31).
inline uint8_t pil_clip(int32_t acc) {
  acc >>= kPilPrecisionBits;
  return static_cast<uint8_t>(acc < 0 ? 0 : (acc > 255 ? 255 : acc));
}

std::vector<int32_t> coeff32(const PilTaps& taps) { return std::vector<int32_t>(taps.coeff.begin(), taps.coeff.end()); }

// Outputs that each copy one input (a single tap of weight 1, as in BOX upscales): the input index per
// output, else empty.
std::vector<int64_t> copy_index(const PilTaps& taps) {
  std::vector<int64_t> index;
  for (size_t o = 0; o < taps.first.size(); ++o) {
    int64_t source = -1;
    for (int64_t j = 0; j < taps.count[o]; ++j) {
      const int64_t k = taps.coeff[o * static_cast<size_t>(taps.stride) + static_cast<size_t>(j)];
      if (k == 0) continue;
      if (k != (int64_t{1} << kPilPrecisionBits) || source >= 0) return {};
      source = taps.first[o] + j;
    }
    if (source < 0) return {};
    index.push_back(source);
  }
  return index;
}

// Horizontal: each of `rows` rows of `in_w` samples -> out_w samples; every output sums `stride` taps (the
// coefficients past its count are 0). Sixteen rows at a time: their samples are first copied column by column
// into 16 lanes (cols[c·16 + r], zero columns past the row's end), so that each output's taps are sums of
// 16-lane vectors; every value gets the same integer sum as one row at a time.
constexpr int64_t kBoxLanes = 16;
typedef int32_t BoxLanes __attribute__((vector_size(4 * kBoxLanes)));
template <int64_t kStride>
QB_WITH_AVX512_CLONE void box_rows_fixed(const uint8_t* src, int64_t rows, int64_t in_w, uint8_t* dst, int64_t out_w, const PilTaps& taps,
                                         const std::vector<int32_t>& k32, int64_t stride) {
  const int64_t n = kStride > 0 ? kStride : stride;
  thread_local std::vector<BoxLanes> cols;
  cols.assign(static_cast<size_t>(in_w + n), BoxLanes{});
  const BoxLanes zero{}, top = zero + 255, half = zero + (int32_t{1} << (kPilPrecisionBits - 1));
  for (int64_t r0 = 0; r0 < rows; r0 += kBoxLanes) {
    const int64_t lanes = std::min(kBoxLanes, rows - r0);  // lanes past `lanes` hold older rows' samples, unused
    for (int64_t r = 0; r < lanes; ++r) {
      const uint8_t* s = src + (r0 + r) * in_w;
      for (int64_t c = 0; c < in_w; ++c) cols[static_cast<size_t>(c)][r] = s[c];
    }
    for (int64_t o = 0; o < out_w; ++o) {
      const int32_t* k = &k32[static_cast<size_t>(o * taps.stride)];
      const BoxLanes* p = cols.data() + taps.first[o];
      BoxLanes acc = half;
      for (int64_t j = 0; j < n; ++j) acc += p[j] * k[j];
      acc >>= kPilPrecisionBits;
      acc = acc < zero ? zero : acc;  // pil_clip
      acc = acc > top ? top : acc;
      for (int64_t r = 0; r < lanes; ++r) dst[(r0 + r) * out_w + o] = static_cast<uint8_t>(acc[r]);
    }
  }
}

void box_rows(const uint8_t* src, int64_t rows, int64_t in_w, uint8_t* dst, int64_t out_w, const PilTaps& taps,
              const std::vector<int32_t>& k32, const std::vector<int64_t>& copy) {
  if (!copy.empty()) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out_w; ++o) dst[r * out_w + o] = src[r * in_w + copy[static_cast<size_t>(o)]];
    return;
  }
  switch (taps.stride) {
    case 3: return box_rows_fixed<3>(src, rows, in_w, dst, out_w, taps, k32, 3);
    case 5: return box_rows_fixed<5>(src, rows, in_w, dst, out_w, taps, k32, 5);
    case 7: return box_rows_fixed<7>(src, rows, in_w, dst, out_w, taps, k32, 7);
    default: return box_rows_fixed<0>(src, rows, in_w, dst, out_w, taps, k32, taps.stride);
  }
}

// Vertical: in_h rows of `w` samples -> out_h rows, a whole row at a time (contiguous, vectorizable).
QB_WITH_AVX512_CLONE void box_columns(const uint8_t* src, int64_t w, uint8_t* dst, int64_t out_h, const PilTaps& taps, const std::vector<int32_t>& k32,
                 const std::vector<int64_t>& copy, std::vector<int32_t>& acc) {
  if (!copy.empty()) {
    for (int64_t o = 0; o < out_h; ++o) std::copy(src + copy[static_cast<size_t>(o)] * w, src + (copy[static_cast<size_t>(o)] + 1) * w, dst + o * w);
    return;
  }
  acc.resize(static_cast<size_t>(w));
  for (int64_t o = 0; o < out_h; ++o) {
    const int32_t* k = &k32[static_cast<size_t>(o * taps.stride)];
    std::fill(acc.begin(), acc.end(), int32_t{1} << (kPilPrecisionBits - 1));
    int32_t* a = acc.data();
    for (int64_t j = 0; j < taps.count[o]; ++j) {
      const uint8_t* row = src + (taps.first[o] + j) * w;
      const int32_t kj = k[j];
      for (int64_t c = 0; c < w; ++c) a[c] += static_cast<int32_t>(row[c]) * kj;
    }
    uint8_t* d = dst + o * w;
    for (int64_t c = 0; c < w; ++c) d[c] = pil_clip(a[c]);
  }
}

struct BoxPlan {
  int64_t h, w, out_h, out_w;
  PilTaps taps_w, taps_h;
  std::vector<int32_t> k_w, k_h;
  std::vector<int64_t> copy_w, copy_h;  // copy_index of each pass
};

BoxPlan box_plan(int64_t h, int64_t w, int64_t out_h, int64_t out_w) {
  BoxPlan p{h, w, out_h, out_w, pil_box_taps(w, out_w), pil_box_taps(h, out_h), {}, {}, {}, {}};
  p.k_w = coeff32(p.taps_w), p.k_h = coeff32(p.taps_h);
  p.copy_w = copy_index(p.taps_w), p.copy_h = copy_index(p.taps_h);
  return p;
}

// [h, w] 8-bit plane -> [out_h, out_w] (horizontal first, each pass skipped when its size is unchanged).
void box_resize(const uint8_t* in, const BoxPlan& p, uint8_t* tmp, uint8_t* out, std::vector<int32_t>& acc) {
  const uint8_t* src = in;
  if (p.out_w != p.w) {
    box_rows(in, p.h, p.w, tmp, p.out_w, p.taps_w, p.k_w, p.copy_w);
    src = tmp;
  }
  if (p.out_h != p.h)
    box_columns(src, p.out_w, out, p.out_h, p.taps_h, p.k_h, p.copy_h, acc);
  else
    std::copy(src, src + p.h * p.out_w, out);
}

}  // namespace

// The reduced size int(side·c) per axis (at least 1).
static std::pair<int64_t, int64_t> pixelate_small_size(const Call& call, int64_t h, int64_t w) {
  static const double imagenet[5] = {0.6, 0.5, 0.4, 0.3, 0.25}, tiny[5] = {0.9, 0.8, 0.7, 0.6, 0.5},
                      cifar[5] = {0.95, 0.9, 0.85, 0.75, 0.65};
  const double c = pick(call, imagenet, tiny, cifar);
  return {std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(h) * c)),
          std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(w) * c))};
}

void pixelate_levels(uint8_t* levels, int64_t h, int64_t w, const Call& call);

torch::Tensor pixelate(const torch::Tensor& x, const Call& call) {
  const int64_t h = x.size(2), w = x.size(3);
  const auto [small_h, small_w] = pixelate_small_size(call, h, w);
  if (cpu_kernels(x, call)) return levels_round_trip_cpu(x, [&](uint8_t* levels) { pixelate_levels(levels, h, w, call); });
  auto small = pil_box_resize(torch::round(x * 255.0), small_h, small_w);
  return div_exact(pil_box_resize(small, h, w), 255.0);
}

void pixelate_levels(uint8_t* levels, int64_t h, int64_t w, const Call& call) {
  const auto [small_h, small_w] = pixelate_small_size(call, h, w);
  // Per thread: the plans of the last size and the scratch planes.
  thread_local BoxPlan down{}, up{};
  thread_local std::vector<uint8_t> tmp, small;
  thread_local std::vector<int32_t> acc;
  if (down.h != h || down.w != w || down.out_h != small_h || down.out_w != small_w)
    down = box_plan(h, w, small_h, small_w), up = box_plan(small_h, small_w, h, w);
  tmp.resize(static_cast<size_t>(std::max(h * small_w, small_h * w)));
  small.resize(static_cast<size_t>(small_h * small_w));
  for (int c = 0; c < 3; ++c) {
    uint8_t* plane = levels + c * h * w;
    box_resize(plane, down, tmp.data(), small.data(), acc);
    box_resize(small.data(), up, tmp.data(), plane, acc);  // reads only `small` and `tmp`
  }
}

}  // namespace questbench::corruption
