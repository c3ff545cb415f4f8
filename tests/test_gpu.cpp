// [gpu]: CUDA against the CPU. Hidden from the default run ([.]); ctest runs them as one entry, gpu_tests,
// which reports Skipped (exit 77) on a machine without a CUDA device (tests/test_main.cpp).
//
// Tolerances, fixed before the first GPU run and not moved after it:
//   - logits: max |cuda - cpu| <= 1e-4 · max(1, max |cpu|) (float32 with TF32 off; only the order of sums
//     differs); predictions may differ only where the CPU's top-2 margin is below 1e-3.
//   - bf16 autocast: float32 logits, ‖bf16 - fp32‖ / ‖fp32‖ <= 5e-2, and not equal to fp32 (autocast ran).
//   - corruptions: the random draws are the same numbers on both devices (drawn per image on the CPU); float64
//     math differs in the last bits, so after flooring to 8 bits >= 99.9 % of the values are identical and
//     the mean |difference| is <= 1e-4. On CUDA an image's output does not depend on its batch (bit-exact).
//   - attacks (torchattacks' reference and the CPU run): the reference's own rule for another build (its
//     README): perturbation within eps + 1e-6, >= 99.9 % identical pixels for the sign attacks (FGSM,
//     PGD-Linf), robust accuracy within 2 of 256 samples.
//   - end to end (eval, corruption, attack commands on 256 images): every cell's correct / robust count
//     within 2 samples of the CPU run's; the reports record the device.
#include "tests/catch_torch.h"  // first: see the header
#include "attacks/attack.h"
#include "common/device.h"
#include "common/files.h"
#include "common/npy.h"
#include "corruptions/corrupt.h"
#include "models/model.h"
#include "reports/format.h"
#include "tests/test_support.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <cmath>

using namespace questbench;

namespace gpu_tests {  // named: the tests compile as unity batches, where anonymous namespaces merge

const torch::Device kGpuCuda(torch::kCUDA, 0);

std::string gpu_shipped(const std::string& attention) {
  return test::source_dir() + "/models/checkpoints/fmnist_vit_" + attention + ".safetensors";
}
std::string gpu_attack_ref(const std::string& file) { return test::reference_dir() + "/attacks/" + file; }

Model gpu_load_on(const std::string& path, torch::Device device, bool torchscript = false) {
  ModelSource s;
  s.path = path;
  if (torchscript) {
    s.format = "torchscript";
    s.channels = 1;
    s.height = s.width = 28;
  }
  return Model::load(s, device);
}

// A smooth random image batch (natural-image-like spectrum), held on 8-bit levels.
torch::Tensor gpu_smooth_images(int64_t n, int64_t side, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto noise = torch::rand({n, 3, side / 8 + 2, side / 8 + 2}, gen);
  namespace F = torch::nn::functional;
  auto x = F::interpolate(noise, F::InterpolateFuncOptions().size(std::vector<int64_t>{side, side}).mode(torch::kBicubic).align_corners(false));
  return torch::floor(x.clamp(0, 1) * 255) / 255;
}

double gpu_identical_fraction(const torch::Tensor& a, const torch::Tensor& b, double tolerance = 1e-6) {
  return ((a.to(torch::kCPU) - b.to(torch::kCPU)).abs() <= tolerance).to(torch::kDouble).mean().item<double>();
}

std::string gpu_run_cli(const std::string& args) {
  std::string out;
  const int rc = test::run_command(test::questbench_binary() + " " + args + " --quiet", &out);
  INFO(args << "\n" << out);
  REQUIRE(rc == 0);
  return out;
}

}  // namespace gpu_tests

using namespace gpu_tests;

TEST_CASE("CUDA logits equal the CPU's, and bf16 autocast runs in mixed precision", "[gpu][.]") {
  REQUIRE(torch::cuda::is_available());
  use_exact_float32();  // as the commands do (--device cuda)
  auto x = read_npy(gpu_attack_ref("inputs.npy"));  // 256 Fashion-MNIST test images
  for (const std::string attention : {"standard", "quest"}) {
    torch::NoGradGuard no_grad;
    auto cpu = gpu_load_on(gpu_shipped(attention), torch::kCPU);
    auto cuda = gpu_load_on(gpu_shipped(attention), kGpuCuda);
    auto ref = cpu.logits(x);
    auto got = cuda.logits(x).to(torch::kCPU);
    const double scale = std::max(1.0, ref.abs().max().item<double>());
    const double diff = (got - ref).abs().max().item<double>();
    INFO(attention << ": max |cuda - cpu| = " << diff << " (logit scale " << scale << ")");
    CHECK(diff <= 1e-4 * scale);
    auto top2 = std::get<0>(ref.topk(2, 1));
    auto margin = top2.select(1, 0) - top2.select(1, 1);
    auto differs = got.argmax(1) != ref.argmax(1);
    CHECK((differs & (margin >= 1e-3)).sum().item<int64_t>() == 0);

    // Attention diagnostics read device tensors on the host: the same figures on both devices.
    const auto diag_cpu = cpu.diagnostics(x.narrow(0, 0, 32)), diag_cuda = cuda.diagnostics(x.narrow(0, 0, 32));
    REQUIRE(diag_cpu.size() == diag_cuda.size());
    for (size_t l = 0; l < diag_cpu.size(); ++l) {
      CHECK(diag_cuda[l].entropy_mean == Approx(diag_cpu[l].entropy_mean).epsilon(1e-4));
      CHECK(diag_cuda[l].entropy_per_head.size() == diag_cpu[l].entropy_per_head.size());
    }

    cuda.set_autocast(Autocast::BFloat16);
    auto mixed = cuda.logits(x).to(torch::kCPU);
    CHECK(mixed.scalar_type() == torch::kFloat);
    const double relative = ((mixed - ref).norm() / ref.norm()).item<double>();
    INFO(attention << ": bf16 autocast relative error " << relative);
    CHECK(relative <= 5e-2);
    CHECK_FALSE(torch::equal(mixed, got));
    const double agree = (mixed.argmax(1) == ref.argmax(1)).to(torch::kDouble).mean().item<double>();
    WARN("gpu: " << attention << " logits max |cuda - cpu| " << diff << " (scale " << scale << "), bf16 autocast relative error "
                 << relative << ", bf16 prediction agreement " << agree);
    CHECK(agree >= 0.95);
  }
}

TEST_CASE("CUDA corruptions equal the CPU's per image", "[gpu][.]") {
  REQUIRE(torch::cuda::is_available());
  struct Size {
    int64_t side, n;
    std::vector<int> severities;
  };
  double lowest_identical = 1, largest_mean = 0, largest_max = 0;
  std::string lowest_at;
  for (const Size& size : {Size{32, 4, {1, 2, 3, 4, 5}}, Size{224, 3, {1, 3, 5}}}) {
    auto x = gpu_smooth_images(size.n, size.side, 7 + static_cast<uint64_t>(size.side));
    auto x_cuda = x.to(kGpuCuda);
    const auto seeds = image_seeds(11, 0, size.n);
    for (const auto& info : corruption_table()) {
      for (int severity : size.severities) {
        auto cpu = corrupt(x, info.name, severity, seeds);
        auto cuda = corrupt(x_cuda, info.name, severity, seeds);
        REQUIRE(cuda.is_cuda());
        const double same = gpu_identical_fraction(cuda, cpu);
        const double mean_diff = (cuda.to(torch::kCPU) - cpu).abs().mean().item<double>();
        const double max_diff = (cuda.to(torch::kCPU) - cpu).abs().max().item<double>();
        INFO(info.name << " severity " << severity << " at " << size.side << ": identical " << same << ", mean |diff| " << mean_diff
                       << ", max |diff| " << max_diff * 255 << " levels");
        CHECK(same >= 0.999);
        CHECK(mean_diff <= 1e-4);
        if (same < lowest_identical) lowest_identical = same, lowest_at = info.name + " severity " + std::to_string(severity) + " at " + std::to_string(size.side);
        largest_mean = std::max(largest_mean, mean_diff);
        largest_max = std::max(largest_max, max_diff);
        // Per-image streams: the last image alone gives its bytes in the batch, bit for bit.
        auto alone = corrupt(x_cuda.narrow(0, size.n - 1, 1), info.name, severity, {seeds.back()});
        CHECK(torch::equal(alone.to(torch::kCPU), cuda.narrow(0, size.n - 1, 1).to(torch::kCPU)));
      }
    }
  }
  WARN("gpu: corruptions cuda vs cpu: lowest identical fraction " << lowest_identical << " (" << lowest_at << "), largest mean |diff| "
                                                                  << largest_mean << ", largest |diff| " << largest_max * 255 << " levels");
}

TEST_CASE("FGSM and PGD on CUDA conform to torchattacks and to the CPU", "[gpu][.]") {
  REQUIRE(torch::cuda::is_available());
  use_exact_float32();
  // The CPU side runs with 2 threads, as the reference did (its README: the thread count changes which
  // near-zero gradient entries flip sign).
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  auto x = read_npy(gpu_attack_ref("inputs.npy"));
  auto y = read_npy(gpu_attack_ref("labels.npy"));
  std::vector<uint64_t> seeds(static_cast<size_t>(x.size(0)));
  for (size_t i = 0; i < seeds.size(); ++i) seeds[i] = i;
  for (const std::string tag : {"m1", "m2"}) {
    const std::string file = gpu_attack_ref("models/" + std::string(tag == "m1" ? "m1_cnn.pt" : "m2_mlp.pt"));
    auto cpu = gpu_load_on(file, torch::kCPU, true);
    auto cuda = gpu_load_on(file, kGpuCuda, true);
    struct Run {
      std::string attack, reference;
      double eps, alpha;
      bool sign;
    };
    for (const Run& r : {Run{"fgsm", "fgsm_eps8", 8 / 255.0, 2 / 255.0, true}, Run{"pgd", "pgd_eps8", 8 / 255.0, 2 / 255.0, true},
                         Run{"pgd-l2", "pgdl2_eps1.0", 1.0, 0.2, false}}) {
      AttackConfig c;
      c.eps = r.eps;
      c.alpha = r.alpha;
      c.steps = 10;
      c.random_start = false;
      c.early_stop = false;
      auto ref = read_npy(gpu_attack_ref(tag + "/" + r.reference + ".npy"));
      auto on_cuda = find_attack(r.attack).run(cuda, x.to(kGpuCuda), y.to(kGpuCuda), torch::Tensor(), c, seeds).x_adv.to(torch::kCPU);
      auto on_cpu = find_attack(r.attack).run(cpu, x, y, torch::Tensor(), c, seeds).x_adv;
      torch::NoGradGuard no_grad;
      auto robust = [&](const torch::Tensor& adv) {
        return ((cpu.logits(x).argmax(1) == y) & (cpu.logits(adv).argmax(1) == y)).sum().item<int64_t>();
      };
      const auto delta = (on_cuda - x).flatten(1);
      const double bound = r.sign ? delta.abs().max().item<double>() : delta.norm(2, 1).max().item<double>();
      INFO(tag << " " << r.attack << ": bound " << bound << ", identical to torchattacks " << gpu_identical_fraction(on_cuda, ref)
               << ", to the CPU " << gpu_identical_fraction(on_cuda, on_cpu) << ", robust " << robust(on_cuda) << " (torchattacks "
               << robust(ref) << ", CPU " << robust(on_cpu) << ")");
      WARN("gpu: " << tag << " " << r.attack << " on cuda: identical to torchattacks " << gpu_identical_fraction(on_cuda, ref)
                   << ", to the cpu " << gpu_identical_fraction(on_cuda, on_cpu) << ", robust " << robust(on_cuda) << " (torchattacks "
                   << robust(ref) << ", cpu " << robust(on_cpu) << ") of " << x.size(0));
      CHECK(bound <= r.eps + 1e-6);
      if (r.sign) {
        CHECK(gpu_identical_fraction(on_cuda, ref) >= 0.999);
        CHECK(gpu_identical_fraction(on_cuda, on_cpu) >= 0.999);
      }
      CHECK(std::abs(robust(on_cuda) - robust(ref)) <= 2);
      CHECK(std::abs(robust(on_cuda) - robust(on_cpu)) <= 2);
    }
  }
  at::set_num_threads(threads);
}

TEST_CASE("eval, corruption and attack commands on CUDA match their CPU runs", "[gpu][.]") {
  REQUIRE(torch::cuda::is_available());
  const auto dir = test::make_temp_dir("gpu-cli");
  const std::string data = "--dataset " + gpu_attack_ref("inputs.npy") + " --labels " + gpu_attack_ref("labels.npy");
  const std::string models = "--model " + gpu_shipped("standard") + " --model " + gpu_shipped("quest");
  for (const std::string device : {"cpu", "cuda"}) {
    gpu_run_cli("eval " + models + " " + data + " --device " + device + " -o " + dir + "/eval_" + device + ".json");
    gpu_run_cli("corruption " + models + " " + data + " --corruptions all --severities 1-5 --device " + device + " -o " + dir +
            "/corruption_" + device + ".json");
    gpu_run_cli("attack " + models + " " + data + " --attacks fgsm,pgd --eps 0,2/255,8/255 --no-sanity-checks --device " + device + " -o " +
            dir + "/attack_" + device + ".json");
  }
  auto read = [&](const std::string& name) { return read_file_bytes(dir + "/" + name); };
  auto eval_cpu = eval_report_from_json(read("eval_cpu.json"), "eval cpu"), eval_cuda = eval_report_from_json(read("eval_cuda.json"), "eval cuda");
  CHECK(eval_cuda.context.device == "cuda");
  for (size_t m = 0; m < eval_cpu.results.size(); ++m) {
    INFO("eval " << m << ": cpu " << eval_cpu.results[m].correct << ", cuda " << eval_cuda.results[m].correct);
    CHECK(std::abs(eval_cpu.results[m].correct - eval_cuda.results[m].correct) <= 2);
  }
  auto corr_cpu = corruption_report_from_json(read("corruption_cpu.json"), "corruption cpu");
  auto corr_cuda = corruption_report_from_json(read("corruption_cuda.json"), "corruption cuda");
  CHECK(corr_cuda.context.device == "cuda");
  REQUIRE(corr_cpu.cells.size() == corr_cuda.cells.size());
  int64_t largest = 0;
  for (size_t i = 0; i < corr_cpu.cells.size(); ++i) {
    const auto& a = corr_cpu.cells[i];
    const auto& b = corr_cuda.cells[i];
    REQUIRE(a.corruption == b.corruption);
    largest = std::max(largest, std::abs(a.correct - b.correct));
    INFO(a.model << " " << a.corruption << " " << a.severity << ": cpu " << a.correct << ", cuda " << b.correct);
    CHECK(std::abs(a.correct - b.correct) <= 2);
  }
  WARN("gpu: corruption command: largest |cpu - cuda| correct count of a cell " << largest << " of 256");
  auto attack_cpu = attack_report_from_json(read("attack_cpu.json"), "attack cpu");
  auto attack_cuda = attack_report_from_json(read("attack_cuda.json"), "attack cuda");
  CHECK(attack_cuda.context.device == "cuda");
  REQUIRE(attack_cpu.cells.size() == attack_cuda.cells.size());
  for (size_t i = 0; i < attack_cpu.cells.size(); ++i) {
    const auto& a = attack_cpu.cells[i];
    const auto& b = attack_cuda.cells[i];
    int64_t robust_a = 0, robust_b = 0;
    for (auto v : a.robust_mask) robust_a += v;
    for (auto v : b.robust_mask) robust_b += v;
    INFO(a.model << " " << a.attack << " " << a.eps_text << ": cpu " << robust_a << ", cuda " << robust_b);
    CHECK(std::abs(robust_a - robust_b) <= 2);
  }
  // Training on CUDA runs its epoch, its per-layer diagnostics and its checkpoint (the loss is finite).
  gpu_run_cli("train " + data + " --epochs 1 --device cuda -o " + dir + "/trained.safetensors");
  CHECK(file_exists(dir + "/trained.safetensors"));
  const auto epochs = training_epochs_from_json(read_file_bytes(dir + "/trained.log.json"), "training log");
  REQUIRE(epochs.size() == 1);
  CHECK(std::isfinite(epochs[0].train_loss));
  CHECK_FALSE(epochs[0].layers.empty());
  WARN("gpu: eval correct counts cpu " << eval_cpu.results[0].correct << ", " << eval_cpu.results[1].correct << "; cuda "
                                      << eval_cuda.results[0].correct << ", " << eval_cuda.results[1].correct << " of 256");
}
