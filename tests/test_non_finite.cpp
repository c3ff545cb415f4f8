// Non-finite values (RELIABILITY.md): NaN/Inf logits under a corruption and NaN input gradients under an attack
// are counted per cell, never counted as correct or robust, the report is written, and the run exits 1 with one
// line naming the cells. The models are TorchScript modules written by the test, so that the NaNs appear
// exactly where the test expects them.
#include "tests/catch_torch.h"  // first: see the header
#include "common/files.h"
#include "common/npy.h"
#include "corruptions/corrupt.h"
#include "reports/format.h"
#include "tests/test_support.h"

#include <torch/script.h>

#include <filesystem>
#include <string>

using namespace questbench;

namespace non_finite_test {

// A TorchScript classifier whose finite logits are m * k for class k (m: the image's mean, so class 9 wins),
// finished by `last_line`, which returns them (`logits`) changed.
void write_mean_classifier(const std::string& path, const std::string& name, const std::string& last_line) {
  torch::jit::Module m(name);
  m.define("def forward(self, x):\n"
           "    mean = x.mean(dim=[1, 2, 3])\n"
           "    logits = mean.unsqueeze(1) * torch.arange(10).to(x.dtype).unsqueeze(0)\n" +
           last_line);
  m.save(path);
}

// NaN logits for images whose mean exceeds 0.7.
void write_nan_when_bright(const std::string& path) {
  write_mean_classifier(path, "NanWhenBright",
                        "    nan = torch.zeros_like(logits) / torch.zeros_like(logits)\n"
                        "    return torch.where((mean > 0.7).unsqueeze(1), nan, logits)\n");
}

// Plus sqrt(0 * x) summed: 0 in the forward pass, NaN in every input gradient (d sqrt(u)/du = inf at u = 0,
// times the 0 of d(0 * x)/dx). LibTorch's sign(NaN) is 0, so FGSM and PGD would return x itself and the samples
// would look robust if the attacks did not note the gradients.
void write_nan_gradient(const std::string& path) {
  write_mean_classifier(path, "NanGradient", "    return logits + torch.sqrt(x * 0.0).sum(dim=[1, 2, 3]).unsqueeze(1)\n");
}

// 8 flat grey images: 4 dark (0.1), 4 mid-grey (0.45), all labelled 9 (every clean prediction is right).
void write_data(const std::string& dir) {
  auto x = torch::cat({torch::full({4, 1, 28, 28}, 0.1f), torch::full({4, 1, 28, 28}, 0.45f)});
  write_npy(dir + "/x.npy", x);
  write_npy(dir + "/y.npy", torch::full({8}, 9, torch::kLong));
}

std::string torchscript_options() { return " --torchscript --input-size 1,28,28 --num-classes 10"; }

}  // namespace non_finite_test

TEST_CASE("NaN logits under a corruption are counted per cell and fail the run after its report", "[non-finite][cli]") {
  using namespace non_finite_test;
  const auto dir = test::make_temp_dir("nonfinite_corruption");
  write_nan_when_bright(dir + "/bright.pt");
  write_data(dir);
  // What the model will see: brightness severity 5 lifts the mid-grey images above 0.7, severity 1 does not.
  const auto x = read_npy(dir + "/x.npy");
  const auto s5 = corrupt(x, "brightness", 5, image_seeds(0, 0, 8), {});
  const auto s1 = corrupt(x, "brightness", 1, image_seeds(0, 0, 8), {});
  const int64_t expected_s5 = (s5.mean({1, 2, 3}) > 0.7).sum().item<int64_t>();
  REQUIRE(expected_s5 > 0);
  REQUIRE(expected_s5 < 8);
  REQUIRE((s1.mean({1, 2, 3}) > 0.7).sum().item<int64_t>() == 0);

  const std::string out = dir + "/c.json";
  std::string output;
  const int code = test::run_command(test::questbench_binary() + " corruption --quiet --threads 1 --seed 0 --model " + dir + "/bright.pt" +
                                         torchscript_options() + " --dataset " + dir + "/x.npy --labels " + dir +
                                         "/y.npy --corruptions brightness --severities 1,5 -o " + out,
                                     &output);
  INFO(output);
  CHECK(code == 1);
  CHECK(output.rfind("questbench: error: " + std::to_string(expected_s5) + " samples gave NaN or Inf logits or gradients", 0) == 0);
  CHECK(output.find("in 1 cell(s): bright brightness severity 5 (" + std::to_string(expected_s5) + " of 8)") != std::string::npos);
  CHECK(std::count(output.begin(), output.end(), '\n') == 1);
  CHECK_FALSE(std::filesystem::exists(out + ".journal"));
  REQUIRE(file_exists(out));
  const auto report = corruption_report_from_json(read_file_bytes(out), out);
  REQUIRE(report.cells.size() == 2);
  CHECK(report.clean[0].correct == 8);
  for (const auto& cell : report.cells) {
    INFO("severity " << cell.severity);
    if (cell.severity == 1) {
      CHECK(cell.non_finite == 0);
      CHECK(cell.correct == 8);
      CHECK(cell.calibration.confidence.size() == 8);
    } else {
      CHECK(cell.non_finite == expected_s5);
      CHECK(cell.calibration.empty());  // no calibration over a cell with non-finite probabilities
      // The NaN samples are not counted correct, whatever argmax makes of NaN.
      CHECK(cell.correct == 8 - expected_s5);
      for (int64_t i = 0; i < 8; ++i) CHECK(cell.correct_mask[static_cast<size_t>(i)] == ((s5[i].mean().item<float>() > 0.7f) ? 0 : 1));
    }
  }

  SECTION("shards merge to the same counts and the merge fails the same way") {
    // Shard 0 holds the dark images (none non-finite), shard 1 the mid-grey ones.
    for (int shard = 0; shard < 2; ++shard)
      CHECK(test::run_command(test::questbench_binary() + " corruption --quiet --threads 1 --seed 0 --batch-size 4 --shard " +
                              std::to_string(shard) + "/2 --model " + dir + "/bright.pt" + torchscript_options() + " --dataset " + dir +
                              "/x.npy --labels " + dir + "/y.npy --corruptions brightness --severities 1,5 -o " + dir + "/part" +
                              std::to_string(shard) + ".json") == shard);
    std::string merge_output;
    CHECK(test::run_command(test::questbench_binary() + " merge --quiet " + dir + "/part0.json " + dir + "/part1.json -o " + dir + "/m.json",
                            &merge_output) == 1);
    CHECK(merge_output.find("bright brightness severity 5 (" + std::to_string(expected_s5) + " of 8)") != std::string::npos);
    const auto merged = corruption_report_from_json(read_file_bytes(dir + "/m.json"), dir + "/m.json");
    REQUIRE(merged.cells.size() == 2);
    CHECK(merged.cells[1].non_finite == expected_s5);
    CHECK(merged.cells[1].correct_mask == report.cells[1].correct_mask);
  }
}

TEST_CASE("NaN input gradients under an attack are counted per cell and never robust", "[non-finite][cli]") {
  using namespace non_finite_test;
  const auto dir = test::make_temp_dir("nonfinite_attack");
  write_nan_gradient(dir + "/nangrad.pt");
  write_data(dir);
  const std::string out = dir + "/a.json";
  std::string output;
  const int code = test::run_command(test::questbench_binary() + " attack --quiet --threads 1 --no-sanity-checks --model " + dir +
                                         "/nangrad.pt" + torchscript_options() + " --dataset " + dir + "/x.npy --labels " + dir +
                                         "/y.npy --attacks fgsm,pgd:steps=3 --eps 0,8/255 -o " + out,
                                     &output);
  INFO(output);
  CHECK(code == 1);
  CHECK(output.rfind("questbench: error: 16 samples gave NaN or Inf logits or gradients", 0) == 0);
  CHECK(output.find("in 2 cell(s): nangrad fgsm eps 8/255 (8 of 8), nangrad pgd eps 8/255 (8 of 8)") != std::string::npos);
  CHECK(std::count(output.begin(), output.end(), '\n') == 1);
  CHECK_FALSE(std::filesystem::exists(out + ".journal"));
  REQUIRE(file_exists(out));
  const auto report = attack_report_from_json(read_file_bytes(out), out);
  CHECK(report.clean[0].correct == 8);
  REQUIRE(report.cells.size() == 4);
  for (const auto& cell : report.cells) {
    INFO(cell.attack << " eps " << cell.eps_text);
    if (cell.eps == 0) {
      CHECK(cell.non_finite == 0);
      CHECK(cell.robust_accuracy == 1.0);
    } else {
      CHECK(cell.non_finite == 8);
      CHECK(cell.robust_accuracy == 0.0);  // never robust: the attack could not run, which is no defence
      CHECK(cell.max_linf == 0.0);          // the non-finite points' norms are left out
    }
  }
}
