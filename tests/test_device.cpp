// Device plumbing that must hold without a GPU: the Stopwatch synchronizes before each clock read, host
// batches pass through HostToDevice unchanged on the CPU, every command with --device honours it, and
// --autocast is validated and recorded.
#include "tests/catch_torch.h"  // first: see the header
#include "common/device.h"
#include "common/error.h"
#include "common/files.h"
#include "common/npy.h"
#include "models/autocast.h"
#include "models/model.h"
#include "reports/format.h"
#include "tests/test_support.h"

#include <torch/cuda.h>

#include <chrono>
#include <thread>

using namespace questbench;

namespace device_tests {  // named: the tests compile as unity batches, where anonymous namespaces merge

int qb(const std::string& args, std::string* output = nullptr) {
  return test::run_command(test::questbench_binary() + " " + args, output);
}

}  // namespace device_tests

TEST_CASE("Stopwatch synchronizes the device before each clock read", "[device]") {
  // A fake device whose queued work finishes only when synchronized: 30 ms of it per region.
  std::vector<std::string> events;
  bool pending = false;
  Stopwatch watch(torch::kCPU, [&] {
    events.push_back("sync");
    if (pending) std::this_thread::sleep_for(std::chrono::milliseconds(30));
    pending = false;
  });
  pending = true;  // work queued before the region must not count in it
  watch.start();
  CHECK(events == std::vector<std::string>{"sync"});
  const double seconds = watch.time([&] {
    events.push_back("body");
    pending = true;  // the region's kernels are still running when the body returns
  });
  CHECK(events == std::vector<std::string>{"sync", "sync", "body", "sync"});
  CHECK(seconds >= 0.029);  // the wait for the region's own work is inside the measured time
  CHECK(seconds < 0.059);   // the work queued before the region is not
}

TEST_CASE("HostToDevice returns CPU tensors as they are on the CPU", "[device]") {
  HostToDevice to_device(torch::kCPU);
  auto x = torch::rand({4, 3, 8, 8});
  auto y = to_device(x);
  CHECK(y.data_ptr() == x.data_ptr());  // no copy on the CPU
  synchronize(torch::kCPU);             // nothing to wait for
}

TEST_CASE("autocast modes: parsing, device checks and the model's float32 logits", "[device]") {
  CHECK(parse_autocast("none") == Autocast::None);
  CHECK(parse_autocast("bf16") == Autocast::BFloat16);
  CHECK(parse_autocast("fp16") == Autocast::Float16);
  CHECK(autocast_name(Autocast::BFloat16) == "bf16");
  CHECK_THROWS_AS(parse_autocast("fp8"), UsageError);
  CHECK_THROWS_WITH(check_autocast(Autocast::Float16, torch::kCPU), Catch::Contains("needs a CUDA device"));
  ModelSource s;
  s.path = test::source_dir() + "/models/checkpoints/fmnist_vit_quest.safetensors";
  auto model = Model::load(s, torch::kCPU);
  auto x = torch::rand({8, 1, 28, 28});
  torch::NoGradGuard no_grad;
  auto fp32 = model.logits(x);
  model.set_autocast(Autocast::BFloat16);  // LibTorch's CPU autocast runs bf16
  auto bf16 = model.logits(x);
  CHECK(bf16.scalar_type() == torch::kFloat);
  CHECK_FALSE(torch::equal(bf16, fp32));  // the matrix products did run in bf16
  CHECK(((bf16 - fp32).norm() / fp32.norm()).item<double>() <= 5e-2);
  model.set_autocast(Autocast::None);
  CHECK(torch::equal(model.logits(x), fp32));  // the scope restored autocast's state
}

TEST_CASE("every command that takes --device honours it", "[device][cli]") {
  if (torch::cuda::is_available()) {
    WARN("a CUDA device is present: the [gpu] tests cover the CUDA runs");
  }
  const auto dir = test::make_temp_dir("device");
  const std::string model = test::source_dir() + "/models/checkpoints/fmnist_vit_quest.safetensors";
  write_npy(dir + "/x.npy", torch::rand({4, 1, 28, 28}));
  write_npy(dir + "/y.npy", torch::arange(4, torch::kLong));
  const std::string data = " --dataset " + dir + "/x.npy --labels " + dir + "/y.npy";
  // A device that does not exist on any machine: each command must refuse it (exit 1, one line naming it)
  // before doing any work, which it can only do if it reads --device.
  const std::vector<std::string> commands = {
      "eval --model " + model + data,
      "predict --model " + model + " --input " + dir + "/x.npy -o " + dir + "/l.npy",
      "attack --model " + model + data,
      "corruption --model " + model + data,
      "corrupt --dataset " + dir + "/x.npy --labels " + dir + "/y.npy --layout cifar10-c -o " + dir + "/c",
      "gallery " + test::source_dir() + "/docs/gallery_chelsea.png -o " + dir + "/g.png",
      "bench inference --model " + model + data,
      "bench pgd --model " + model + data,
      "bench corruptions --sides 32 --corruptions contrast",
      "train --epochs 1" + data,
      "info --model " + model,
  };
  for (const auto& command : commands) {
    std::string out;
    const int rc = device_tests::qb(command + " --device cuda:97", &out);
    INFO(command << "\n" << out);
    CHECK(rc == 1);
    CHECK(out.find("--device cuda:97") != std::string::npos);
    CHECK(std::count(out.begin(), out.end(), '\n') == 1);
  }
  // On the CPU, the device is recorded where the output has a place for it.
  std::string out;
  REQUIRE(device_tests::qb("bench corruptions --sides 32 --corruptions contrast --repeats 1 --batch-size 2 --json --device cpu", &out) == 0);
  CHECK(out.find("\"device\": \"cpu\"") != std::string::npos);
  REQUIRE(device_tests::qb("bench inference --model " + model + data + " --repeats 1 --autocast bf16 --device cpu", &out) == 0);
  CHECK(out.find("\"device\": \"cpu\", \"autocast\": \"bf16\"") != std::string::npos);
  REQUIRE(device_tests::qb("eval --model " + model + data + " --autocast bf16 --quiet -o " + dir + "/e.json", &out) == 0);
  CHECK(eval_report_from_json(read_file_bytes(dir + "/e.json"), "eval").context.autocast == "bf16");
  CHECK(device_tests::qb("eval --model " + model + data + " --autocast fp16 --quiet -o " + dir + "/f.json", &out) == 2);
  CHECK(out.find("--autocast fp16 needs a CUDA device") != std::string::npos);
  CHECK_FALSE(file_exists(dir + "/f.json"));
}
