// Training: learns a toy task, augmentation is a true crop/flip, and a resumed run equals an uninterrupted one.
#include "tests/catch_torch.h"  // first: see the header
#include "bench/reporter.h"
#include "bench/training.h"
#include "common/error.h"
#include "tests/rows_dataset.h"
#include "tests/test_support.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <filesystem>

using namespace questbench;

namespace {

TrainOptions toy_options(const std::string& state) {
  TrainOptions o;
  auto& c = o.config;
  c.img_height = c.img_width = 8;
  c.patch_size = 4;
  c.in_chans = 1;
  c.num_classes = 4;
  c.embed_dim = 16;
  c.depth = 1;
  c.num_heads = 2;
  c.attention = AttentionKind::Quest;
  o.epochs = 4;
  o.batch_size = 32;
  o.learning_rate = 3e-3;
  o.crop_padding = 0;
  o.horizontal_flip = false;
  o.seed = 5;
  o.state_path = state;
  o.resume = true;
  return o;
}

}  // namespace

TEST_CASE("training learns a toy task and logs the attention statistics", "[training]") {
  test::RowsDataset train(512, 1), test_set(128, 2);
  auto o = toy_options("");
  o.epochs = 12;
  auto result = train_vit(o, train, test_set, torch::kCPU, [](const std::vector<EpochRecord>&) {}, null_reporter());
  REQUIRE(result.epochs.size() == 12);
  CHECK(result.epochs.back().train_loss < result.epochs.front().train_loss);
  CHECK(result.epochs.back().test_accuracy > 0.6);  // chance is 0.25
  REQUIRE(result.epochs.back().layers.size() == 1);
  CHECK(result.epochs.back().layers[0].q_norm_mean > 0);
  CHECK(result.epochs.back().layers[0].entropy_mean > 0);
}

TEST_CASE("a resumed training run equals an uninterrupted one", "[training]") {
  test::RowsDataset train(256, 3), test_set(64, 4);
  const auto dir = test::make_temp_dir("resume");
  auto full = train_vit(toy_options(dir + "/full.state"), train, test_set, torch::kCPU, [](const std::vector<EpochRecord>&) {},
                        null_reporter());
  // Interrupt after epoch 2 (simulated by an exception from the epoch callback), then resume.
  struct Stop {};
  auto interrupted = toy_options(dir + "/part.state");
  try {
    train_vit(interrupted, train, test_set, torch::kCPU,
              [](const std::vector<EpochRecord>& epochs) {
                if (epochs.size() == 2) throw Stop{};
              },
              null_reporter());
    FAIL("the callback should have stopped training");
  } catch (const Stop&) {
  }
  REQUIRE(std::filesystem::exists(dir + "/part.state"));
  auto resumed = train_vit(interrupted, train, test_set, torch::kCPU, [](const std::vector<EpochRecord>&) {}, null_reporter());
  CHECK(resumed.resumed_from_epoch == 2);
  REQUIRE(resumed.epochs.size() == 4);
  auto a = full.model->named_parameters(), b = resumed.model->named_parameters();
  for (const auto& p : a) {
    INFO(p.key());
    CHECK(torch::equal(p.value(), b[p.key()]));
  }
  CHECK(resumed.epochs.back().test_accuracy == full.epochs.back().test_accuracy);
  // A state made with another config is refused.
  auto other = interrupted;
  other.config.embed_dim = 32;
  CHECK_THROWS_WITH(train_vit(other, train, test_set, torch::kCPU, [](const std::vector<EpochRecord>&) {}, null_reporter()),
                    Catch::Contains("another model config"));
}

TEST_CASE("augmentation is a padded random crop and a horizontal flip", "[training]") {
  auto x = torch::arange(2 * 1 * 6 * 6, torch::kFloat).view({2, 1, 6, 6});
  auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
  CHECK(torch::equal(augment_batch(x, 0, false, gen), x));
  for (int trial = 0; trial < 10; ++trial) {
    auto out = augment_batch(x, 2, true, gen);
    REQUIRE(out.sizes() == x.sizes());
    for (int64_t b = 0; b < 2; ++b) {
      // Each output must equal some shifted window of the zero-padded (possibly flipped) input.
      auto padded = torch::constant_pad_nd(x[b], {2, 2, 2, 2}, 0.0);
      bool found = false;
      for (int flip = 0; flip < 2 && !found; ++flip)
        for (int64_t dy = 0; dy <= 4 && !found; ++dy)
          for (int64_t dx = 0; dx <= 4 && !found; ++dx) {
            auto window = padded.slice(1, dy, dy + 6).slice(2, dx, dx + 6);
            if (flip) window = window.flip({2});
            found = torch::equal(window, out[b]);
          }
      CHECK(found);
    }
  }
}
