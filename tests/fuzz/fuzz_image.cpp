// Image decoding: the input is the one image of an ImageFolder data set (root/class/img.png), decoded by
// OpenCV's imread and transformed by datasets/imagefolder.cpp. The first byte picks the eval transform
// (resize and crop), so the fuzzer also reaches the resize and crop checks. OpenCV itself is not
// instrumented: coverage counts questbench's code only.
#include "datasets/dataset.h"
#include "tests/fuzz/fuzz_support.h"

#include <torch/torch.h>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace questbench;
  if (size < 1) return 0;
  const std::string path = fuzz::write_input("images/cls/img.png", data + 1, size - 1);
  fuzz::expect_value_or_error([&] {
    DatasetSpec spec;
    spec.path = (fuzz::scratch_dir() / "images").string();
    spec.format = "imagefolder";
    spec.resize = (data[0] & 0x0f) * 4;  // 0 (keep) .. 60
    spec.crop = (data[0] >> 4) * 4;      // 0 (none) .. 60
    auto dataset = open_dataset(spec);
    dataset->read(0, 1);
  });
  return 0;
}
