// jpeg_compression (standard, digital): JPEG encode/decode at quality c. A CPU codec step: images are
// copied to the CPU, coded with libjpeg (IJG quality scaling, 4:2:0, integer DCT, fancy upsampling: Pillow's
// and OpenCV's defaults, the same bytes as cv::imencode / cv::imdecode), and copied back to their device.
// On the CPU a float32 image goes straight to interleaved levels, 16 rows (one 4:2:0 MCU row) at a time just
// before libjpeg reads them, and the decoded rows straight back to floats (images in parallel, one reused codec
// per thread); otherwise through tensor ops. Both give the same bytes.
#include "corruptions/levels.h"

#include "common/error.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <jpeglib.h>
#include <string>
#include <vector>

namespace questbench {
namespace {

// libjpeg reports errors through error_exit, which must not return: jump back to the caller's setjmp.
struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_jpeg_error(j_common_ptr info) {
  auto* e = reinterpret_cast<JpegError*>(info->err);
  (*info->err->format_message)(info, e->message);
  std::longjmp(e->jump, 1);
}

// One thread's codec state, reused across its images: the compress and decompress objects (created once, so
// their permanent pools and managers are not rebuilt per image), the compressed bytes' buffer (grows once) and
// the row buffers.
class JpegCodec {
 public:
  JpegCodec() = default;
  JpegCodec(const JpegCodec&) = delete;
  JpegCodec& operator=(const JpegCodec&) = delete;
  ~JpegCodec() {
    drop_compress();
    drop_decompress();
    std::free(bytes_);
  }

  // h x w RGB at `quality`: rows come from fill_rows(y, rows, row) (rows consecutive rows from row y, each
  // 3·w interleaved 8-bit values, row after row) and the decoded rows go to take_rows(y, rows, row) alike,
  // kRowBlock rows (one 4:2:0 MCU row) per libjpeg call where the image has them. Returns "" or libjpeg's message.
  template <typename Fill, typename Take>
  std::string round_trip(int h, int w, int quality, Fill&& fill_rows, Take&& take_rows) {
    width_ = w;
    rows_.resize(static_cast<size_t>(3 * w) * kRowBlock);
    for (int k = 0; k < kRowBlock; ++k) row_pointers_[k] = rows_.data() + static_cast<size_t>(3 * w) * k;
    std::string error = encode(h, w, quality, fill_rows);
    return error.empty() ? decode(h, w, take_rows) : error;
  }

 private:
  jpeg_compress_struct c_;
  jpeg_decompress_struct d_;
  JpegError c_err_, d_err_;
  bool have_c_ = false, have_d_ = false;
  unsigned char* bytes_ = nullptr;
  unsigned long capacity_ = 0, size_ = 0;
  static constexpr int kRowBlock = 16;
  int width_ = 0;
  std::vector<unsigned char> rows_;
  JSAMPROW row_pointers_[kRowBlock];

  void drop_compress() {
    if (have_c_) jpeg_destroy_compress(&c_);
    have_c_ = false;
  }
  void drop_decompress() {
    if (have_d_) jpeg_destroy_decompress(&d_);
    have_d_ = false;
  }

  template <typename Fill>
  std::string encode(int h, int w, int quality, Fill& fill_rows) {
    if (!have_c_) {
      c_.err = jpeg_std_error(&c_err_.mgr);
      c_err_.mgr.error_exit = on_jpeg_error;
      jpeg_create_compress(&c_);
      have_c_ = true;
    }
    unsigned char* buffer = bytes_;
    unsigned long length = capacity_;
    if (setjmp(c_err_.jump)) {
      drop_compress();  // a fresh object for the next image
      return c_err_.message;
    }
    jpeg_mem_dest(&c_, &buffer, &length);  // grows into a new malloc'ed buffer when ours is too small
    c_.image_width = static_cast<JDIMENSION>(w);
    c_.image_height = static_cast<JDIMENSION>(h);
    c_.input_components = 3;
    c_.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c_);
    jpeg_set_quality(&c_, quality, TRUE);
    jpeg_start_compress(&c_, TRUE);
    while (c_.next_scanline < c_.image_height) {
      const int rows = std::min<int>(kRowBlock, static_cast<int>(c_.image_height - c_.next_scanline));
      fill_rows(static_cast<int64_t>(c_.next_scanline), rows, rows_.data());
      const int written = static_cast<int>(jpeg_write_scanlines(&c_, row_pointers_, static_cast<JDIMENSION>(rows)));
      if (written != rows) {  // a memory destination always takes every row; this keeps the loop finite regardless
        jpeg_abort_compress(&c_);
        return "encoder took " + std::to_string(written) + " of " + std::to_string(rows) + " rows";
      }
    }
    jpeg_finish_compress(&c_);  // the object stays ready for the next image
    if (buffer != bytes_) {     // libjpeg allocated a larger buffer: keep it
      std::free(bytes_);
      bytes_ = buffer, capacity_ = length;
    }
    size_ = length;
    return "";
  }

  template <typename Take>
  std::string decode(int h, int w, Take& take_rows) {
    if (!have_d_) {
      d_.err = jpeg_std_error(&d_err_.mgr);
      d_err_.mgr.error_exit = on_jpeg_error;
      jpeg_create_decompress(&d_);
      have_d_ = true;
    }
    if (setjmp(d_err_.jump)) {
      drop_decompress();
      return d_err_.message;
    }
    jpeg_mem_src(&d_, bytes_, size_);
    jpeg_read_header(&d_, TRUE);
    d_.out_color_space = JCS_RGB;
    jpeg_start_decompress(&d_);
    if (static_cast<int>(d_.output_width) != w || static_cast<int>(d_.output_height) != h || d_.output_components != 3) {
      jpeg_abort_decompress(&d_);
      return "decoded size differs";
    }
    while (d_.output_scanline < d_.output_height) {
      const int64_t y = d_.output_scanline;
      const int wanted = std::min<int>(kRowBlock, static_cast<int>(d_.output_height - d_.output_scanline));
      const int rows = static_cast<int>(jpeg_read_scanlines(&d_, row_pointers_, static_cast<JDIMENSION>(wanted)));
      if (rows == 0) {  // a memory source never suspends; this keeps the loop finite regardless
        jpeg_abort_decompress(&d_);
        return "decoder returned no rows";
      }
      take_rows(y, rows, rows_.data());
    }
    jpeg_finish_decompress(&d_);
    return "";
  }
};

// One row of planar 8-bit RGB (three rows of n samples) to n interleaved pixels and back.
QB_WITH_AVX512_CLONE void interleave_rgb_row(const uint8_t* __restrict r, const uint8_t* __restrict g, const uint8_t* __restrict b,
                                           uint8_t* __restrict row, int64_t n) {
  for (int64_t p = 0; p < n; ++p) row[3 * p] = r[p], row[3 * p + 1] = g[p], row[3 * p + 2] = b[p];
}

QB_WITH_AVX512_CLONE void planar_rgb_row(const uint8_t* __restrict row, uint8_t* __restrict r, uint8_t* __restrict g, uint8_t* __restrict b,
                                       int64_t n) {
  for (int64_t p = 0; p < n; ++p) r[p] = row[3 * p], g[p] = row[3 * p + 1], b[p] = row[3 * p + 2];
}

// One row of a float32 RGB image (three rows of n values in [0, 1]) straight to n interleaved levels
// round(x·255) (unit_to_levels' arithmetic: float64 product, ties to even, exact), and n decoded interleaved
// pixels straight back to three rows of level / 255f (levels_to_unit's). Fused so that each value is read and
// written once, with no planar 8-bit copy in between.
QB_WITH_AVX512_CLONE void unit_rgb_row_to_levels(const float* __restrict r, const float* __restrict g, const float* __restrict b,
                                               uint8_t* __restrict row, int64_t n) {
  auto level = [](float x) { return static_cast<uint8_t>(static_cast<int32_t>(corruption::rint_nonneg(static_cast<double>(x) * 255.0))); };
  for (int64_t p = 0; p < n; ++p) row[3 * p] = level(r[p]), row[3 * p + 1] = level(g[p]), row[3 * p + 2] = level(b[p]);
}

QB_WITH_AVX512_CLONE void levels_row_to_unit_rgb(const uint8_t* __restrict row, float* __restrict r, float* __restrict g, float* __restrict b,
                                               int64_t n) {
  for (int64_t p = 0; p < n; ++p)
    r[p] = static_cast<float>(row[3 * p]) / 255.0f, g[p] = static_cast<float>(row[3 * p + 1]) / 255.0f,
    b[p] = static_cast<float>(row[3 * p + 2]) / 255.0f;
}

// Per thread: the codec state, reused across images.
JpegCodec& thread_codec() {
  thread_local JpegCodec codec;
  return codec;
}

void check_coded(const std::string& error, int64_t index) { QB_CHECK(error.empty(), "jpeg: image " << index << ": " << error); }

// One image's planar [3, H, W] levels through the codec, in place (each block of rows interleaved just before
// libjpeg reads it and split again just after it is decoded: no whole-image interleaved copy).
void jpeg_levels(uint8_t* levels, int64_t h, int64_t w, int quality) {
  const int64_t plane = h * w;
  auto rows_at = [&](int64_t y, int rows, auto&& row_fn) {
    for (int k = 0; k < rows; ++k) row_fn(y + k, k * 3 * w);
  };
  check_coded(thread_codec().round_trip(
                  static_cast<int>(h), static_cast<int>(w), quality,
                  [&](int64_t y, int rows, uint8_t* block) {
                    rows_at(y, rows, [&](int64_t yy, int64_t at) {
                      interleave_rgb_row(levels + yy * w, levels + plane + yy * w, levels + 2 * plane + yy * w, block + at, w);
                    });
                  },
                  [&](int64_t y, int rows, const uint8_t* block) {
                    rows_at(y, rows, [&](int64_t yy, int64_t at) {
                      planar_rgb_row(block + at, levels + yy * w, levels + plane + yy * w, levels + 2 * plane + yy * w, w);
                    });
                  }),
              0);
}

// One float32 RGB image straight to interleaved levels round(x·255), a block of rows at a time, through the
// codec, and back to levels / 255 (what corrupt()'s 8-bit path makes of them: float(k / 255.0), whether
// quantizing or not).
void jpeg_float(const float* in, float* out, int64_t h, int64_t w, int quality) {
  const int64_t plane = h * w;
  check_coded(thread_codec().round_trip(
                  static_cast<int>(h), static_cast<int>(w), quality,
                  [&](int64_t y, int rows, uint8_t* block) {
                    for (int k = 0; k < rows; ++k) {
                      const float* s = in + (y + k) * w;
                      unit_rgb_row_to_levels(s, s + plane, s + 2 * plane, block + k * 3 * w, w);
                    }
                  },
                  [&](int64_t y, int rows, const uint8_t* block) {
                    for (int k = 0; k < rows; ++k) {
                      float* d = out + (y + k) * w;
                      levels_row_to_unit_rgb(block + k * 3 * w, d, d + plane, d + 2 * plane, w);
                    }
                  }),
              0);
}

}  // namespace

torch::Tensor jpeg_round_trip(const torch::Tensor& x, int quality, bool cpu_kernels) {
  if (cpu_kernels && x.is_cpu() && x.scalar_type() == torch::kDouble)
    return corruption::levels_round_trip_cpu(x, [&](uint8_t* levels) { jpeg_levels(levels, x.size(2), x.size(3), quality); });
  auto u8 = torch::round(x.clamp(0, 1) * 255.0).to(torch::kByte).permute({0, 2, 3, 1}).contiguous().to(torch::kCPU);
  const int64_t n = u8.size(0), h = u8.size(1), w = u8.size(2);
  auto out = torch::empty_like(u8);
  JpegCodec codec;
  const int64_t row_bytes = 3 * w;
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* source = u8[i].data_ptr<uint8_t>();
    uint8_t* target = out[i].data_ptr<uint8_t>();
    check_coded(codec.round_trip(
                    static_cast<int>(h), static_cast<int>(w), quality,
                    [&](int64_t y, int rows, uint8_t* block) {
                      std::memcpy(block, source + y * row_bytes, static_cast<size_t>(rows * row_bytes));
                    },
                    [&](int64_t y, int rows, const uint8_t* block) {
                      std::memcpy(target + y * row_bytes, block, static_cast<size_t>(rows * row_bytes));
                    }),
                i);
  }
  return corruption::div_exact(out.to(x.device()).permute({0, 3, 1, 2}).to(torch::kDouble), 255.0);
}

namespace corruption {

static int jpeg_quality(const Call& call) {
  static const int imagenet[5] = {25, 18, 15, 10, 7}, tiny[5] = {65, 58, 50, 40, 25}, cifar[5] = {80, 65, 58, 50, 40};
  return pick(call, imagenet, tiny, cifar);
}

torch::Tensor jpeg_compression(const torch::Tensor& x, const Call& call) {
  return jpeg_round_trip(x, jpeg_quality(call), call.options.cpu_kernels);
}

void jpeg_compression_levels(uint8_t* levels, int64_t h, int64_t w, const Call& call) {
  jpeg_levels(levels, h, w, jpeg_quality(call));
}

void jpeg_compression_pixels(const float* in, float* out, int64_t height, int64_t width, int64_t, const Call& call) {
  jpeg_float(in, out, height, width, jpeg_quality(call));
}

}  // namespace corruption
}  // namespace questbench
