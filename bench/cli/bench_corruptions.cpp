// questbench bench corruptions: ms per image of every corruption (severities 1..5) at 224x224 and 32x32 RGB,
// batch 64 by default; one table on stdout (or JSON lines with --json). Numbers go to BENCHMARKS.md beside
// the reference Python code (scripts/bench_corruptions_python.py).
#include "bench/cli/common.h"
#include "common/error.h"
#include "corruptions/bench.h"

#if QUESTBENCH_WITH_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif
#include <torch/torch.h>

#include <cstdio>
#include <memory>
#include <sstream>

namespace questbench {
namespace {

struct BenchCorruptionsOptions {
  CommonOptions common;
  std::vector<int64_t> sides = {224, 32};
  std::string corruptions = "all", image, frost_dir;
  int repeats = 3;
  bool json = false, tensor_ops = false, floors = false;
};

void run_bench_corruptions(const BenchCorruptionsOptions& o) {
  CommandRun run(o.common);
  const torch::Device device = run.device;
  QB_USAGE_CHECK(!o.floors || device.is_cpu(), "bench corruptions --floors: the floors are the CPU kernels' (use --device cpu)");
  const int threads = run.threads;
  CorruptionBenchSpec spec;
  spec.device = device;
  spec.batch = o.common.batch_size;
  spec.repeats = o.repeats;
  spec.options.frost_dir = o.frost_dir;
  spec.options.cpu_kernels = !o.tensor_ops;
  if (o.corruptions != "all") {
    std::stringstream ss(o.corruptions);
    std::string item;
    while (std::getline(ss, item, ',')) spec.names.push_back(find_corruption(item).name);  // unknown: usage error
  }
  if (!o.image.empty()) {
#if !QUESTBENCH_WITH_OPENCV
    throw opencv_unavailable("bench corruptions --image " + o.image + ": decoding image files");
#else
    cv::Mat bgr = cv::imread(o.image, cv::IMREAD_COLOR);
    QB_CHECK(!bgr.empty(), o.image << ": cannot decode image");
    cv::cvtColor(bgr, bgr, cv::COLOR_BGR2RGB);
    spec.image = torch::from_blob(bgr.data, {bgr.rows, bgr.cols, 3}, torch::kByte).permute({2, 0, 1}).to(torch::kFloat) / 255.0;
#endif
  }
  for (int64_t side : o.sides) {
    spec.side = side;
    if (!o.json)
      std::printf("%-18s %5s %8s %8s %8s %8s %8s %8s   (ms/image, batch %lld, %d threads, %s)\n", "corruption", "side", "sev1", "sev2",
                  "sev3", "sev4", "sev5", "mean", static_cast<long long>(spec.batch), threads, o.common.device.c_str());
    auto print = [&](const CorruptionTiming& t) {
      if (o.json) {
        std::printf("{\"corruption\": \"%s\", \"device\": \"%s\", \"side\": %lld, \"batch\": %lld, \"threads\": %d, \"ms_per_image\": [%.4f, %.4f, %.4f, %.4f, %.4f], \"mean_ms\": %.4f}\n",
                    t.name.c_str(), o.common.device.c_str(), static_cast<long long>(t.side), static_cast<long long>(spec.batch), threads, t.ms_per_image[0],
                    t.ms_per_image[1], t.ms_per_image[2], t.ms_per_image[3], t.ms_per_image[4], t.mean_ms);
      } else {
        std::printf("%-18s %5lld %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f\n", t.name.c_str(), static_cast<long long>(t.side), t.ms_per_image[0],
                    t.ms_per_image[1], t.ms_per_image[2], t.ms_per_image[3], t.ms_per_image[4], t.mean_ms);
      }
      std::fflush(stdout);
    };
    bench_corruptions(spec, print);
    if (o.floors && !o.tensor_ops) {
      if (!o.json) std::printf("floors (same batch and threads; see BENCHMARKS.md):\n");
      for (const auto& t : bench_floors(spec)) print(t);
    }
  }
}

}  // namespace

void add_bench_corruptions_command(CLI::App& app, CommandRunner& runner) {
  auto* bench = app.get_subcommand("bench");
  auto [cmd, o] = add_command<kCommonOnly>(bench, runner, "corruptions", "ms/image of every corruption and severity at 224x224 and 32x32 RGB",
                                           run_bench_corruptions, 64);
  cmd->add_option("--sides", o->sides, "image sides to time")->capture_default_str();
  cmd->add_option("--corruptions", o->corruptions, "all | comma-separated names")->capture_default_str();
  cmd->add_option("--image", o->image, "time on this image (resized) instead of a smooth synthetic one");
  cmd->add_option("--frost-dir", o->frost_dir, "folder with the original frost photos (default: procedural textures)");
  cmd->add_option("--repeats", o->repeats, "timed runs per severity (best is reported)")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", o->json, "one JSON object per corruption and side");
  cmd->add_flag("--tensor-ops", o->tensor_ops, "time the tensor-op path (what non-CPU devices run) instead of the CPU kernels");
  cmd->add_flag("--floors", o->floors, "also time the floors: a batch copy, ATen's and the fast streams' draws, the float64 round trip");
}

}  // namespace questbench
