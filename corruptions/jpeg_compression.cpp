// jpeg_compression (standard, digital): JPEG encode/decode at quality c. A CPU codec step: images are
// copied to the CPU, coded with libjpeg (IJG quality scaling, 4:2:0, integer DCT, fancy upsampling: Pillow's
// and OpenCV's defaults, the same bytes as cv::imencode / cv::imdecode), and copied back to their device.
// On the CPU each row is converted to interleaved levels just before libjpeg reads it and back just after it is
// decoded (images in parallel, one reused codec per thread); otherwise through tensor ops. Both give the same
// bytes.
#include "corruptions/levels.h"

#include "common/error.h"

#include <ATen/Parallel.h>

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

  // h x w RGB at `quality`: rows come from fill_row(y, row) (3·w interleaved 8-bit values) and the decoded rows
  // go to take_row(y, row). Returns "" or libjpeg's message.
  template <typename Fill, typename Take>
  std::string round_trip(int h, int w, int quality, Fill&& fill_row, Take&& take_row) {
    row_.resize(static_cast<size_t>(3 * w));
    std::string error = encode(h, w, quality, fill_row);
    return error.empty() ? decode(h, w, take_row) : error;
  }

 private:
  jpeg_compress_struct c_;
  jpeg_decompress_struct d_;
  JpegError c_err_, d_err_;
  bool have_c_ = false, have_d_ = false;
  unsigned char* bytes_ = nullptr;
  unsigned long capacity_ = 0, size_ = 0;
  std::vector<unsigned char> row_;

  void drop_compress() {
    if (have_c_) jpeg_destroy_compress(&c_);
    have_c_ = false;
  }
  void drop_decompress() {
    if (have_d_) jpeg_destroy_decompress(&d_);
    have_d_ = false;
  }

  template <typename Fill>
  std::string encode(int h, int w, int quality, Fill& fill_row) {
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
    JSAMPROW row = row_.data();
    while (c_.next_scanline < c_.image_height) {
      fill_row(static_cast<int64_t>(c_.next_scanline), row_.data());
      jpeg_write_scanlines(&c_, &row, 1);
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
  std::string decode(int h, int w, Take& take_row) {
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
    JSAMPROW row = row_.data();
    while (d_.output_scanline < d_.output_height) {
      const int64_t y = d_.output_scanline;
      jpeg_read_scanlines(&d_, &row, 1);
      take_row(y, row_.data());
    }
    jpeg_finish_decompress(&d_);
    return "";
  }
};

// One row of planar 8-bit RGB (three rows of n samples) to n interleaved pixels and back.
QB_WITH_AVX2_CLONE void interleave_rgb_row(const uint8_t* __restrict r, const uint8_t* __restrict g, const uint8_t* __restrict b,
                                           uint8_t* __restrict row, int64_t n) {
  for (int64_t p = 0; p < n; ++p) row[3 * p] = r[p], row[3 * p + 1] = g[p], row[3 * p + 2] = b[p];
}

QB_WITH_AVX2_CLONE void planar_rgb_row(const uint8_t* __restrict row, uint8_t* __restrict r, uint8_t* __restrict g, uint8_t* __restrict b,
                                       int64_t n) {
  for (int64_t p = 0; p < n; ++p) r[p] = row[3 * p], g[p] = row[3 * p + 1], b[p] = row[3 * p + 2];
}

// Per thread: the codec state, reused across images.
JpegCodec& thread_codec() {
  thread_local JpegCodec codec;
  return codec;
}

void check_coded(const std::string& error, int64_t index) { QB_CHECK(error.empty(), "jpeg: image " << index << ": " << error); }

// One image's planar [3, H, W] levels through the codec, in place (each row interleaved just before libjpeg
// reads it and split again just after it is decoded: no whole-image interleaved copy).
void jpeg_levels(uint8_t* levels, int64_t h, int64_t w, int quality) {
  const int64_t plane = h * w;
  check_coded(thread_codec().round_trip(
                  static_cast<int>(h), static_cast<int>(w), quality,
                  [&](int64_t y, uint8_t* row) { interleave_rgb_row(levels + y * w, levels + plane + y * w, levels + 2 * plane + y * w, row, w); },
                  [&](int64_t y, const uint8_t* row) { planar_rgb_row(row, levels + y * w, levels + plane + y * w, levels + 2 * plane + y * w, w); }),
              0);
}

// One float32 RGB image straight to interleaved levels round(x·255) a row at a time, through the codec, and
// back to levels / 255 (what corrupt()'s 8-bit path makes of them: float(k / 255.0), whether quantizing or
// not), again a row at a time.
void jpeg_float(const float* in, float* out, int64_t h, int64_t w, int quality) {
  const int64_t plane = h * w;
  thread_local std::vector<uint8_t> planar_row;
  planar_row.resize(static_cast<size_t>(3 * w));
  uint8_t* r = planar_row.data();
  check_coded(thread_codec().round_trip(
                  static_cast<int>(h), static_cast<int>(w), quality,
                  [&](int64_t y, uint8_t* row) {
                    for (int64_t c = 0; c < 3; ++c) corruption::unit_to_levels(in + c * plane + y * w, r + c * w, w);
                    interleave_rgb_row(r, r + w, r + 2 * w, row, w);
                  },
                  [&](int64_t y, const uint8_t* row) {
                    planar_rgb_row(row, r, r + w, r + 2 * w, w);
                    for (int64_t c = 0; c < 3; ++c) corruption::levels_to_unit(r + c * w, out + c * plane + y * w, w);
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
                    [&](int64_t y, uint8_t* row) { std::memcpy(row, source + y * row_bytes, static_cast<size_t>(row_bytes)); },
                    [&](int64_t y, const uint8_t* row) { std::memcpy(target + y * row_bytes, row, static_cast<size_t>(row_bytes)); }),
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
