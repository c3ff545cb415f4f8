#define CATCH_CONFIG_RUNNER
#include "tests/catch_torch.h"

#include <torch/cuda.h>

#include <cstdio>
#include <cstring>

// The [gpu] tests need a CUDA device. ctest runs them as one entry (gpu_tests, SKIP_RETURN_CODE 77): on a
// machine without one the entry is reported as Skipped, never as passed.
int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "[gpu]") == 0 && !torch::cuda::is_available()) {
      std::printf("SKIPPED: the [gpu] tests need a CUDA device and a CUDA build of LibTorch; this machine has none\n");
      return 77;
    }
  return Catch::Session().run(argc, argv);
}
