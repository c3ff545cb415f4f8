// The questbench executable: help for every subcommand, exit codes, one-line errors, predict and eval.
#include "tests/catch_torch.h"  // first: see the header
#include "common/files.h"
#include "common/npy.h"
#include "reports/format.h"
#include "tests/test_support.h"

#include <torch/torch.h>

#include <fstream>

using namespace questbench;
using namespace questbench::test;

namespace {

int qb(const std::string& args, std::string* output = nullptr) {
  return run_command(questbench_binary() + " " + args, output);
}

// Error output must be exactly one line naming the problem.
void check_one_line_error(const std::string& output, const std::string& fragment) {
  INFO(output);
  CHECK(output.find("error") != std::string::npos);
  CHECK(output.find(fragment) != std::string::npos);
  CHECK(std::count(output.begin(), output.end(), '\n') == 1);
}

}  // namespace

TEST_CASE("every subcommand has --help and exits 0", "[cli]") {
  std::string out;
  REQUIRE(qb("--help", &out) == 0);
  for (const std::string cmd : {"eval", "predict", "train", "info", "bench inference", "bench corruptions", "bench pgd", "attack",
                                "corrupt", "gallery", "corruption"}) {
    INFO(cmd);
    CHECK(qb(cmd + " --help", &out) == 0);
    CHECK(out.find("--device") != std::string::npos);
    CHECK(out.find("--threads") != std::string::npos);
    CHECK(out.find("--seed") != std::string::npos);
    CHECK(out.find("--batch-size") != std::string::npos);
    CHECK(out.find("--quiet") != std::string::npos);
  }
}

TEST_CASE("usage errors exit 2, input errors exit 1, with one-line messages", "[cli]") {
  std::string out;
  CHECK(qb("", &out) == 2);
  CHECK(qb("no-such-command", &out) == 2);
  CHECK(qb("eval --model x.safetensors --no-such-flag", &out) == 2);
  CHECK(qb("eval --model " + reference_dir() + "/vit/model.safetensors --device tpu", &out) == 2);
  check_one_line_error(out, "--device 'tpu'");
  CHECK(qb("eval --model " + reference_dir() + "/vit/model.safetensors --attention fancy", &out) == 2);
  check_one_line_error(out, "fancy");
  CHECK(qb("eval --model /nonexistent/model.safetensors", &out) == 1);
  check_one_line_error(out, "/nonexistent/model.safetensors");
  const auto dir = make_temp_dir("cli");
  std::ofstream(dir + "/bad.npy") << "garbage";
  CHECK(qb("predict --model " + reference_dir() + "/vit/model.safetensors --input " + dir + "/bad.npy -o " + dir + "/l.npy", &out) == 1);
  check_one_line_error(out, "bad.npy");
  CHECK_FALSE(file_exists(dir + "/l.npy"));
  write_npy(dir + "/nan.npy", torch::full({2, 3, 32, 32}, std::nan("")));
  CHECK(qb("predict --model " + reference_dir() + "/vit/model.safetensors --input " + dir + "/nan.npy -o " + dir + "/l.npy", &out) == 1);
  check_one_line_error(out, "NaN");
  write_npy(dir + "/big.npy", torch::full({2, 3, 32, 32}, 2.0f));
  CHECK(qb("predict --model " + reference_dir() + "/vit/model.safetensors --input " + dir + "/big.npy -o " + dir + "/l.npy", &out) == 1);
  check_one_line_error(out, "[0,1]");
  write_npy(dir + "/small.npy", torch::rand({2, 3, 16, 16}));
  CHECK(qb("predict --model " + reference_dir() + "/vit/model.safetensors --input " + dir + "/small.npy -o " + dir + "/l.npy", &out) == 1);
  check_one_line_error(out, "16x16");
  CHECK_FALSE(file_exists(dir + "/l.npy"));
}

TEST_CASE("questbench predict reproduces timm's logits", "[cli][timm]") {
  const auto dir = make_temp_dir("predict");
  for (const std::string attention : {"standard", "quest"}) {
    std::string out;
    REQUIRE(qb("predict --quiet --batch-size 3 --model " + reference_dir() + "/vit/model.safetensors --attention " + attention +
                   " --input " + reference_dir() + "/vit/inputs.npy -o " + dir + "/" + attention + ".npy",
               &out) == 0);
    auto mine = read_npy(dir + "/" + attention + ".npy");
    auto ref = read_npy(reference_dir() + "/vit/logits_" + attention + ".npy");
    REQUIRE(mine.scalar_type() == torch::kFloat);
    CHECK(torch::allclose(mine, ref, 2e-5, 2e-5));
  }
}

TEST_CASE("questbench eval writes a complete clean-evaluation report", "[cli][eval]") {
  const auto dir = make_temp_dir("eval");
  // A small npy data set matching the reference model (3x32x32, 10 classes).
  auto x = read_npy(reference_dir() + "/vit/inputs.npy");
  write_npy(dir + "/x.npy", x);
  write_npy(dir + "/y.npy", torch::tensor({0, 1, 2, 3, 4, 5, 6, 7}, torch::kLong));
  std::string out;
  const std::string model = reference_dir() + "/vit/model.safetensors";
  REQUIRE(qb("eval --quiet --batch-size 3 --model " + model + " --model " + model + " --name a --name b --dataset " + dir +
                 "/x.npy --labels " + dir + "/y.npy -o " + dir + "/eval.json",
             &out) == 0);
  auto report = eval_report_from_json(read_file_bytes(dir + "/eval.json"), "eval.json");
  REQUIRE(report.models.size() == 2);
  CHECK(report.models[0].name == "a");
  CHECK(report.models[0].sha256.size() == 64);
  CHECK(report.dataset.fingerprint.rfind("sha256:", 0) == 0);
  CHECK(report.dataset.evaluated == 8);
  CHECK(report.context.batch_size == 3);
  CHECK(report.context.libtorch_version.size() > 0);
  // Accuracy agrees with the reference logits' argmax.
  auto ref = read_npy(reference_dir() + "/vit/logits_standard.npy");
  const auto expected = (ref.argmax(1) == torch::arange(8)).sum().item<int64_t>();
  CHECK(report.results[0].correct == expected);
  CHECK(report.results[1].correct == expected);
  CHECK(report.results[0].n == 8);
  CHECK(report.results[0].correct_mask.size() == 8);
  // Same models, same data: a second run gives the same results.
  REQUIRE(qb("eval --quiet --model " + model + " --dataset " + dir + "/x.npy --labels " + dir + "/y.npy --limit 5 -o " + dir +
                 "/eval5.json",
             &out) == 0);
  auto limited = eval_report_from_json(read_file_bytes(dir + "/eval5.json"), "eval5.json");
  CHECK(limited.results[0].n == 5);
}

TEST_CASE("a label outside the model's classes is named, and a run that fails before its first result leaves no journal", "[cli]") {
  const auto dir = make_temp_dir("badlabel");
  write_npy(dir + "/x.npy", torch::rand({4, 1, 28, 28}));
  write_npy(dir + "/y.npy", torch::tensor({1, 2, 99, 3}, torch::kLong));
  const std::string model = source_dir() + "/models/checkpoints/fmnist_vit_quest.safetensors";
  for (const std::string command : {"attack", "corruption", "eval"}) {
    std::string out;
    const std::string report = dir + "/" + command + ".json";
    CHECK(qb(command + " --model " + model + " --dataset " + dir + "/x.npy --labels " + dir + "/y.npy --quiet -o " + report, &out) == 1);
    check_one_line_error(out, "label 99 is outside the model's 10 classes");
    CHECK_FALSE(file_exists(report));
    CHECK_FALSE(file_exists(report + ".journal"));
  }
}
