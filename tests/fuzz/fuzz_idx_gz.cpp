// IDX images stored gzip-compressed: the input is the .gz file of the images (the decompressor sees the
// fuzzer's bytes; gunzip in common/files.cpp); the labels are a fixed valid .gz file of 0..255 labels so that a
// stream that inflates to a sound IDX file goes on into the IDX checks.
#include "common/files.h"
#include "datasets/dataset.h"
#include "tests/fuzz/fuzz_support.h"

#include <torch/torch.h>
#include <zlib.h>

#include <algorithm>

namespace questbench::fuzz_idx_gz {

// A gzip file of an IDX label file with `n` labels (all 0), made with zlib at start-up.
std::string labels_gz(uint32_t n) {
  std::string raw = {0, 0, 8, 1, char(n >> 24), char(n >> 16), char(n >> 8), char(n)};
  raw.append(n, '\0');
  z_stream s{};
  if (deflateInit2(&s, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::string out(deflateBound(&s, raw.size()) + 64, '\0');
  s.next_in = reinterpret_cast<Bytef*>(raw.data());
  s.avail_in = static_cast<uInt>(raw.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  if (deflate(&s, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

}  // namespace questbench::fuzz_idx_gz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);
  // The seeds hold 3 images: labels for 3 let them load; other counts exercise the count check.
  const std::string labels = questbench::fuzz_idx_gz::labels_gz(3);
  questbench::fuzz::write_input("idx/t10k-labels-idx1-ubyte.gz", reinterpret_cast<const uint8_t*>(labels.data()),
                                labels.size());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace questbench;
  const std::string images = fuzz::write_input("idx/t10k-images-idx3-ubyte.gz", data, size);
  fuzz::expect_value_or_error([&] {
    DatasetSpec spec;
    spec.path = std::filesystem::path(images).parent_path().string();
    spec.format = "idx";
    auto dataset = open_dataset(spec);
    dataset->read(0, std::min<int64_t>(dataset->size(), 4));
  });
  return 0;
}
