// jpeg_compression (standard, digital): JPEG encode/decode at quality c. A CPU codec step: images are
// copied to the CPU, coded with libjpeg (IJG quality scaling, 4:2:0, integer DCT, fancy upsampling: Pillow's
// and OpenCV's defaults, the same bytes as cv::imencode / cv::imdecode), and copied back to their device.
// On the CPU the 8-bit interleaved images are built and read back directly (one pass each way, images in
// parallel); otherwise through tensor ops. Both give the same bytes.
#include "corruptions/levels.h"

#include "common/error.h"

#include <ATen/Parallel.h>

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
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

// One thread's codec state, reused across its images: the compressed bytes' buffer grows once.
struct JpegCodec {
  unsigned char* bytes = nullptr;
  unsigned long capacity = 0;
  ~JpegCodec() { std::free(bytes); }

  // rgb: h x w x 3 interleaved 8-bit, replaced by its decoded version. Returns "" or libjpeg's message.
  std::string round_trip(unsigned char* rgb, int h, int w, int quality) {
    std::string error = encode(rgb, h, w, quality);
    return error.empty() ? decode(rgb, h, w) : error;
  }

 private:
  unsigned long size = 0;

  std::string encode(const unsigned char* rgb, int h, int w, int quality) {
    jpeg_compress_struct c;
    JpegError err;
    c.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = on_jpeg_error;
    unsigned char* buffer = bytes;
    unsigned long length = capacity;
    if (setjmp(err.jump)) {
      jpeg_destroy_compress(&c);
      return err.message;
    }
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &buffer, &length);  // grows into a new malloc'ed buffer when ours is too small
    c.image_width = static_cast<JDIMENSION>(w);
    c.image_height = static_cast<JDIMENSION>(h);
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
      JSAMPROW row = const_cast<unsigned char*>(rgb) + static_cast<size_t>(c.next_scanline) * static_cast<size_t>(3 * w);
      jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    if (buffer != bytes) {  // libjpeg allocated a larger buffer: keep it
      std::free(bytes);
      bytes = buffer, capacity = length;
    }
    size = length;
    return "";
  }

  std::string decode(unsigned char* rgb, int h, int w) {
    jpeg_decompress_struct d;
    JpegError err;
    d.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = on_jpeg_error;
    if (setjmp(err.jump)) {
      jpeg_destroy_decompress(&d);
      return err.message;
    }
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, bytes, size);
    jpeg_read_header(&d, TRUE);
    d.out_color_space = JCS_RGB;
    jpeg_start_decompress(&d);
    if (static_cast<int>(d.output_width) != w || static_cast<int>(d.output_height) != h || d.output_components != 3) {
      jpeg_destroy_decompress(&d);
      return "decoded size differs";
    }
    while (d.output_scanline < d.output_height) {
      JSAMPROW row = rgb + static_cast<size_t>(d.output_scanline) * static_cast<size_t>(3 * w);
      jpeg_read_scanlines(&d, &row, 1);
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    return "";
  }
};

void code_one(JpegCodec& codec, unsigned char* rgb, int64_t h, int64_t w, int quality, int64_t index) {
  const std::string error = codec.round_trip(rgb, static_cast<int>(h), static_cast<int>(w), quality);
  QB_CHECK(error.empty(), "jpeg: image " << index << ": " << error);
}

// Per thread: the codec state and the interleaved buffer, reused across images.
JpegCodec& thread_codec() {
  thread_local JpegCodec codec;
  return codec;
}

std::vector<unsigned char>& thread_rgb(int64_t plane) {
  thread_local std::vector<unsigned char> rgb;
  rgb.resize(static_cast<size_t>(3 * plane));
  return rgb;
}

// One image's planar [3, H, W] levels through the codec, in place.
void jpeg_levels(uint8_t* levels, int64_t h, int64_t w, int quality) {
  const int64_t plane = h * w;
  unsigned char* b = thread_rgb(plane).data();
  corruption::interleave_rgb(levels, b, plane);
  code_one(thread_codec(), b, h, w, quality, 0);
  corruption::planar_rgb(b, levels, plane);
}

// One float32 RGB image straight to the interleaved levels round(x·255), through the codec, and back to
// levels / 255 (what corrupt()'s 8-bit path makes of them: float(k / 255.0), whether quantizing or not).
void jpeg_float(const float* in, float* out, int64_t h, int64_t w, int quality) {
  const int64_t plane = h * w;
  thread_local std::vector<uint8_t> planar;
  planar.resize(static_cast<size_t>(3 * plane));
  corruption::unit_to_levels(in, planar.data(), 3 * plane);
  jpeg_levels(planar.data(), h, w, quality);
  corruption::levels_to_unit(planar.data(), out, 3 * plane);
}

}  // namespace

torch::Tensor jpeg_round_trip(const torch::Tensor& x, int quality, bool cpu_kernels) {
  if (cpu_kernels && x.is_cpu() && x.scalar_type() == torch::kDouble)
    return corruption::levels_round_trip_cpu(x, [&](uint8_t* levels) { jpeg_levels(levels, x.size(2), x.size(3), quality); });
  auto u8 = torch::round(x.clamp(0, 1) * 255.0).to(torch::kByte).permute({0, 2, 3, 1}).contiguous().to(torch::kCPU);
  const int64_t n = u8.size(0), h = u8.size(1), w = u8.size(2);
  auto out = torch::empty_like(u8);
  JpegCodec codec;
  for (int64_t i = 0; i < n; ++i) {
    out[i].copy_(u8[i]);
    code_one(codec, out[i].data_ptr<unsigned char>(), h, w, quality, i);
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
