// safetensors: the 8-byte header length, the JSON header and the tensor data, read by read_safetensors.
#include "models/safetensors.h"
#include "tests/fuzz/fuzz_support.h"

#include <torch/torch.h>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace questbench;
  const std::string path = fuzz::write_input("model.safetensors", data, size);
  fuzz::expect_value_or_error([&] {
    const SafetensorsFile file = read_safetensors(path);
    for (const auto& [name, tensor] : file.tensors) (void)tensor.sum();  // touch every byte it claims to hold
  });
  return 0;
}
