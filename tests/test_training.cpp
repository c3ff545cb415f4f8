// Training: learns a toy task, augmentation is a true crop/flip, and a resumed run equals an uninterrupted one.
#include "tests/catch_torch.h"  // first: see the header
#include "bench/reporter.h"
#include "bench/training.h"
#include "common/error.h"
#include "tests/test_support.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <filesystem>

using namespace questbench;

namespace {

// In-memory data set: class k images are noise plus a bright row k (rows 0-3 sit at distinct offsets
// inside the 4x4 patches, so even a 1-layer ViT with near-uniform attention can separate them).
class ToyDataset : public Dataset {
 public:
  ToyDataset(int64_t n, uint64_t seed) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    y_ = torch::randint(0, 4, {n}, gen, torch::kLong);
    x_ = torch::rand({n, 1, 8, 8}, gen) * 0.3;
    for (int64_t i = 0; i < n; ++i) x_[i][0][y_[i].item<int64_t>()].fill_(1.0);
  }
  int64_t size() const override { return x_.size(0); }
  ImageShape image_shape() const override { return {1, 8, 8}; }
  int64_t num_classes() const override { return 4; }
  std::vector<std::string> class_names() const override { return {"0", "1", "2", "3"}; }
  Batch read(int64_t b, int64_t e) const override { return {x_.slice(0, b, e).clone(), y_.slice(0, b, e).clone(), {}}; }
  Batch read_indices(const std::vector<int64_t>& idx) const override {
    auto t = torch::tensor(idx, torch::kLong);
    return {x_.index_select(0, t), y_.index_select(0, t), idx};
  }
  std::string description() const override { return "toy"; }
  std::string resolved_path() const override { return "toy"; }
  std::string fingerprint() const override { return "sha256:toy"; }

 private:
  torch::Tensor x_, y_;
};

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
  ToyDataset train(512, 1), test(128, 2);
  auto o = toy_options("");
  o.epochs = 12;
  auto result = train_vit(o, train, test, torch::kCPU, [](const std::vector<EpochRecord>&) {}, null_reporter());
  REQUIRE(result.epochs.size() == 12);
  CHECK(result.epochs.back().train_loss < result.epochs.front().train_loss);
  CHECK(result.epochs.back().test_accuracy > 0.6);  // chance is 0.25
  REQUIRE(result.epochs.back().layers.size() == 1);
  CHECK(result.epochs.back().layers[0].q_norm_mean > 0);
  CHECK(result.epochs.back().layers[0].entropy_mean > 0);
}

TEST_CASE("a resumed training run equals an uninterrupted one", "[training]") {
  ToyDataset train(256, 3), test(64, 4);
  const auto dir = test::make_temp_dir("resume");
  auto full = train_vit(toy_options(dir + "/full.state"), train, test, torch::kCPU, [](const std::vector<EpochRecord>&) {},
                        null_reporter());
  // Interrupt after epoch 2 (simulated by an exception from the epoch callback), then resume.
  struct Stop {};
  auto interrupted = toy_options(dir + "/part.state");
  try {
    train_vit(interrupted, train, test, torch::kCPU,
              [](const std::vector<EpochRecord>& epochs) {
                if (epochs.size() == 2) throw Stop{};
              },
              null_reporter());
    FAIL("the callback should have stopped training");
  } catch (const Stop&) {
  }
  REQUIRE(std::filesystem::exists(dir + "/part.state"));
  auto resumed = train_vit(interrupted, train, test, torch::kCPU, [](const std::vector<EpochRecord>&) {}, null_reporter());
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
  CHECK_THROWS_WITH(train_vit(other, train, test, torch::kCPU, [](const std::vector<EpochRecord>&) {}, null_reporter()),
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
