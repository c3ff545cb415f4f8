// ViT JSON config (the config.json beside a checkpoint): parsed, then validated as a model build would.
#include "models/vit_config.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace questbench;
  fuzz::expect_value_or_error([&] {
    const ViTConfig config = vit_config_from_json(fuzz::as_string(data, size), "config.json");
    validate(config);
    // A config that validates must write back and read again to the same thing.
    const ViTConfig again = vit_config_from_json(vit_config_to_json(config), "round trip");
    if (vit_config_to_json(again) != vit_config_to_json(config)) std::abort();
    (void)config.num_tokens();
  });
  return 0;
}
