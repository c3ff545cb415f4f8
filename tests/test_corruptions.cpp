// Corruptions: fidelity against Hendrycks & Dietterich's reference outputs and statistics (rgb224 with
// the ImageNet-C table, rgb32 and fmnist32 with the CIFAR-10-C table), sharding invariance, severity
// ordering, and input validation. Prints the corruption x severity table.
#include "tests/catch_torch.h"  // first: see the header
#include "common/error.h"
#include "common/files.h"
#include "corruptions/corrupt.h"
#include "common/random.h"
#include "corruptions/finish.h"
#include "corruptions/streams.h"
#include "tests/test_support.h"

#include <nlohmann/json.hpp>
#if QUESTBENCH_WITH_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <set>

using namespace questbench;

namespace {

std::string corr_ref(const std::string& p) { return test::reference_dir() + "/corruptions/" + p; }

// uint8 image as float [1, 3, H, W] in [0,1] (gray PNGs are stacked to 3 channels like the reference).
torch::Tensor load_rgb(const std::string& path) {
#if !QUESTBENCH_WITH_OPENCV
  FAIL(path << ": the reference images need OpenCV to decode; this build has none (-DQUESTBENCH_OPENCV=OFF)");
  return {};
#else
  cv::Mat image = cv::imread(path, cv::IMREAD_COLOR);
  REQUIRE_FALSE(image.empty());
  cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
  auto t = torch::from_blob(image.data, {image.rows, image.cols, 3}, torch::kByte).clone();
  return t.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat) / 255.0;
#endif
}

struct Stats {
  double psnr, ssim, mean_shift, std_ratio;
};

// Statistics exactly as the reference README defines them (uint8 values as float64, H x W x 3).
Stats statistics(const torch::Tensor& clean01, const torch::Tensor& out01) {
  auto a = torch::round(clean01.to(torch::kDouble) * 255), b = torch::round(out01.to(torch::kDouble) * 255);
  const double mse = (a - b).pow(2).mean().item<double>();
  Stats s;
  s.psnr = mse == 0 ? std::numeric_limits<double>::infinity() : 10 * std::log10(255.0 * 255.0 / mse);
  s.mean_shift = (b.mean() - a.mean()).item<double>() / 255.0;
  s.std_ratio = (b.std(/*unbiased=*/false) / a.std(/*unbiased=*/false)).item<double>();
  // skimage 0.19 structural_similarity: 7x7 uniform window, sample covariance, K1 .01, K2 .03, data range 255,
  // mean over the region 3 px inside the border (= the valid region of the 7x7 filter), mean over channels.
  namespace F = torch::nn::functional;
  auto filt = [](const torch::Tensor& t) { return F::avg_pool2d(t, F::AvgPool2dFuncOptions(7).stride(1)); };
  const double c1 = std::pow(0.01 * 255, 2), c2 = std::pow(0.03 * 255, 2), cov_norm = 49.0 / 48.0;
  auto ux = filt(a), uy = filt(b);
  auto vx = cov_norm * (filt(a * a) - ux * ux), vy = cov_norm * (filt(b * b) - uy * uy), vxy = cov_norm * (filt(a * b) - ux * uy);
  auto ssim_map = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
  s.ssim = ssim_map.mean({0, 2, 3}).mean().item<double>();
  return s;
}

struct Band {
  double low, high;
  bool defined;
};

Band band_of(const nlohmann::json& stat) {
  if (stat.at("mean").is_null()) return {0, 0, false};
  const double mean = stat.at("mean").get<double>(), std = stat.at("std").get<double>();
  const double half = std::max(3 * std, 0.02 * std::abs(mean));
  return {mean - half, mean + half, true};
}

const std::vector<std::string> kAllNames = {
    "gaussian_noise", "shot_noise",        "impulse_noise", "defocus_blur", "glass_blur",   "motion_blur", "zoom_blur",
    "snow",           "frost",             "fog",           "brightness",   "contrast",     "elastic_transform",
    "pixelate",       "jpeg_compression",  "speckle_noise", "gaussian_blur", "spatter",     "saturate"};

struct CellResult {
  bool ok = true;
  std::string detail;
};

// One (set, corruption, severity) cell against the reference. Deterministic corruptions: every image's
// output within 1 gray level of the reference output on >= 99 % of values (reported: the worst image).
// Stochastic ones: for every image and statistic, our mean over 10 seeds inside the reference band (mean
// +- max(3 std, 2 % of |mean|) over its 10 seeds); reported: the value using most of its band ("use" =
// |ours - ref mean| / half band width, <= 1 passes).
CellResult check_cell(const nlohmann::json& stats, const std::string& set, const std::vector<torch::Tensor>& inputs,
                      const std::string& name, int severity, const CorruptionOptions& options) {
  const auto& images = stats.at("image_sets").at(set).at("images");
  const auto& cell = stats.at("results").at(set).at(name).at(std::to_string(severity));
  CellResult r;
  char buf[300];
  if (cell.at("deterministic").get<bool>()) {
    double worst_within = 2, worst_max = 0;
    std::string worst_image;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const std::string image = images[i].get<std::string>();
      auto out = corrupt(inputs[i], name, severity, {static_cast<uint64_t>(i)}, options);
      auto ref = load_rgb(corr_ref("hendrycks/outputs/" + set + "/" + name + "/" + std::to_string(severity) + "/" + image + ".png"));
      auto diff = (torch::round(out * 255) - torch::round(ref * 255)).abs();
      const double within = (diff <= 1).to(torch::kDouble).mean().item<double>();
      if (within < worst_within) worst_within = within, worst_image = image;
      worst_max = std::max(worst_max, diff.max().item<double>());
    }
    r.ok = worst_within >= 0.99;
    std::snprintf(buf, sizeof buf, "exact: worst image %s %.2f%% within 1 level (need 99%%), max |diff| %.0f", worst_image.c_str(),
                  100 * worst_within, worst_max);
    r.detail = buf;
    return r;
  }
  double worst_use = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string image = images[i].get<std::string>();
    Stats s{0, 0, 0, 0};
    for (uint64_t seed = 0; seed < 10; ++seed) {
      const auto one = statistics(inputs[i], corrupt(inputs[i], name, severity, {seed * 7919 + i}, options));
      s.psnr += one.psnr / 10, s.ssim += one.ssim / 10, s.mean_shift += one.mean_shift / 10, s.std_ratio += one.std_ratio / 10;
    }
    const auto& per = cell.at("per_image").at(image);
    const std::pair<const char*, double> measured[] = {
        {"psnr_db", s.psnr}, {"ssim", s.ssim}, {"mean_shift", s.mean_shift}, {"std_ratio", s.std_ratio}};
    for (const auto& [stat, value] : measured) {
      const Band b = band_of(per.at(stat));
      double use;
      if (!b.defined) {
        use = std::isfinite(value) ? 2.0 : 0.0;  // the reference output equals the input (PSNR +inf)
      } else {
        const double half = (b.high - b.low) / 2;
        use = half > 0 ? std::abs(value - (b.low + half)) / half : (value == b.low ? 0.0 : 2.0);
      }
      if (use > 1) r.ok = false;
      if (use > worst_use) {
        worst_use = use;
        std::snprintf(buf, sizeof buf, "stats: %s %s %.5g in [%.5g, %.5g] (use %.2f)", image.c_str(), stat, value, b.low, b.high, use);
        r.detail = buf;
      }
    }
  }
  return r;
}

std::vector<torch::Tensor> load_set(const nlohmann::json& stats, const std::string& set) {
  std::vector<torch::Tensor> inputs;
  for (const auto& name : stats.at("image_sets").at(set).at("images"))
    inputs.push_back(load_rgb(corr_ref("inputs/" + set + "/" + name.get<std::string>() + ".png")));
  return inputs;
}

nlohmann::json load_stats() {
  std::ifstream in(corr_ref("hendrycks/stats.json"));
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("corruptions match the Hendrycks reference (table of all cells)", "[corruptions][fidelity]") {
  const auto stats = load_stats();
  std::printf("\n%-18s %-9s %-4s %-6s %s\n", "corruption", "set", "sev", "result", "measured vs reference");
  int cells = 0, passed = 0;
  std::string failures;
  for (const std::string set : {"rgb224", "rgb32", "fmnist32"}) {
    const auto inputs = load_set(stats, set);
    CorruptionOptions options;
    options.table = set == "rgb224" ? CorruptionTable::ImageNet224 : CorruptionTable::Cifar32;
    for (const auto& name : kAllNames) {
      for (int severity = 1; severity <= 5; ++severity) {
        ++cells;
        const auto r = check_cell(stats, set, inputs, name, severity, options);
        passed += r.ok;
        if (!r.ok) failures += " " + name + "/" + set + "/" + std::to_string(severity);
        std::printf("%-18s %-9s %-4d %-6s %s\n", name.c_str(), set.c_str(), severity, r.ok ? "pass" : "FAIL", r.detail.c_str());
        INFO(name << " " << set << " severity " << severity << ": " << r.detail);
        CHECK(r.ok);
      }
    }
  }
  std::printf("%d of %d cells pass%s%s\n", passed, cells, failures.empty() ? "" : "; failing:", failures.c_str());
}

TEST_CASE("frost with the original photos (frost_dir) matches the reference too", "[corruptions][fidelity]") {
  const std::string dir = corr_ref("frost");
  // The photos are part of the reference data every test run has: missing ones are a failure, not a skip.
  REQUIRE(file_exists(dir + "/frost1.png"));
  const auto stats = load_stats();
  for (const std::string set : {"rgb224", "rgb32", "fmnist32"}) {
    const auto inputs = load_set(stats, set);
    CorruptionOptions options;
    options.table = set == "rgb224" ? CorruptionTable::ImageNet224 : CorruptionTable::Cifar32;
    options.frost_dir = dir;
    for (int severity = 1; severity <= 5; ++severity) {
      const auto r = check_cell(stats, set, inputs, "frost", severity, options);
      std::printf("%-18s %-9s %-4d %-6s %s\n", "frost (photos)", set.c_str(), severity, r.ok ? "pass" : "FAIL", r.detail.c_str());
      INFO("frost with photos " << set << " severity " << severity << ": " << r.detail);
      CHECK(r.ok);
    }
  }
  CorruptionOptions missing;
  missing.frost_dir = "/nonexistent-frost-dir";
  CHECK_THROWS_WITH(corrupt(torch::rand({1, 3, 224, 224}), "frost", 1, {0}, missing), Catch::Contains("frost1.png"));
}

TEST_CASE("corrupting a batch equals corrupting its shards, bit for bit", "[corruptions]") {
  torch::manual_seed(4);
  auto x = torch::floor(torch::rand({64, 3, 32, 32}) * 256).clamp_max(255) / 255.0;
  std::vector<uint64_t> seeds(64);
  for (int i = 0; i < 64; ++i) seeds[i] = 1000 + i;
  std::vector<int64_t> order(64);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937(7));
  for (const auto& info : corruption_table()) {
    const int severity = 3;
    auto whole = corrupt(x, info.name, severity, seeds);
    std::vector<torch::Tensor> singles;
    for (int i = 0; i < 64; ++i) singles.push_back(corrupt(x.slice(0, i, i + 1), info.name, severity, {seeds[i]}));
    INFO(info.name);
    CHECK(torch::equal(torch::cat(singles), whole));
    auto shuffled = torch::empty_like(whole);
    for (int b = 0; b < 4; ++b) {
      std::vector<int64_t> idx(order.begin() + b * 16, order.begin() + (b + 1) * 16);
      std::vector<uint64_t> s;
      for (auto i : idx) s.push_back(seeds[i]);
      auto out = corrupt(x.index_select(0, torch::tensor(idx)), info.name, severity, s);
      for (int k = 0; k < 16; ++k) shuffled[idx[k]] = out[k];
    }
    CHECK(torch::equal(shuffled, whole));
  }
}

TEST_CASE("severity ordering follows the reference's mean PSNR", "[corruptions]") {
  // Wherever the reference's mean PSNR (over its images x 10 seeds) falls from one severity to the next,
  // ours falls too. Our streams differ per severity, so stochastic corruptions are averaged over enough
  // seeds that a drop of the reference's size is >= 3 standard errors of the difference (at most 100).
  const auto stats = load_stats();
  for (const std::string set : {"rgb224", "rgb32", "fmnist32"}) {
    const auto inputs = load_set(stats, set);
    CorruptionOptions o;
    o.table = set == "rgb224" ? CorruptionTable::ImageNet224 : CorruptionTable::Cifar32;
    for (const auto& info : corruption_table()) {
      const auto& results = stats.at("results").at(set).at(info.name);
      std::vector<double> ref, spread;
      for (int severity = 1; severity <= 5; ++severity) {
        const auto& cell = results.at(std::to_string(severity));
        ref.push_back(cell.at("aggregate").at("psnr_db").at("mean").is_null() ? 1e9 : cell.at("aggregate").at("psnr_db").at("mean").get<double>());
        double sd = 0;
        for (const auto& [image, per] : cell.at("per_image").items())
          sd += per.at("psnr_db").at("std").is_null() ? 0.0 : per.at("psnr_db").at("std").get<double>() / inputs.size();
        spread.push_back(sd);
      }
      std::vector<int> seeds_needed(5, 1);
      for (int k = 0; k + 1 < 5; ++k) {
        const double drop = ref[k] - ref[k + 1];
        if (!info.stochastic || drop <= 0) continue;
        const double sd = std::max(spread[k], spread[k + 1]);
        const int n = static_cast<int>(std::ceil(std::pow(3 * std::sqrt(2.0) * sd / drop, 2) / inputs.size()));
        seeds_needed[k] = std::max(seeds_needed[k], std::min(n, 100));
        seeds_needed[k + 1] = std::max(seeds_needed[k + 1], std::min(n, 100));
      }
      std::vector<double> ours;
      for (int severity = 1; severity <= 5; ++severity) {
        double sum = 0;
        int count = 0;
        for (size_t i = 0; i < inputs.size(); ++i)
          for (int seed = 0; seed < seeds_needed[severity - 1]; ++seed, ++count) {
            const double psnr = statistics(inputs[i], corrupt(inputs[i], info.name, severity, {seed * 7919 + i}, o)).psnr;
            sum += std::isfinite(psnr) ? psnr : 1e9;
          }
        ours.push_back(sum / count);
      }
      for (int k = 0; k + 1 < 5; ++k) {
        if (ref[k + 1] < ref[k] - 1e-6) {
          INFO(info.name << " " << set << " severity " << k + 1 << "->" << k + 2 << ": reference " << ref[k] << " -> " << ref[k + 1]
                         << ", ours " << ours[k] << " -> " << ours[k + 1] << " (" << seeds_needed[k] << "/" << seeds_needed[k + 1] << " seeds)");
          CHECK(ours[k + 1] < ours[k]);
        }
      }
    }
  }
}

TEST_CASE("corrupt() validates its inputs and keeps shape, dtype and grayscale", "[corruptions]") {
  auto x = torch::rand({2, 3, 32, 32});
  CHECK_THROWS_WITH(corrupt(x, "fog_of_war", 1, {0, 1}), Catch::Contains("fog_of_war"));
  CHECK_THROWS_AS(corrupt(x, "contrast", 0, {0, 1}), UsageError);
  CHECK_THROWS_WITH(corrupt(x, "contrast", 6, {0, 1}), Catch::Contains("1..5"));
  CHECK_THROWS_WITH(corrupt(x * 2, "contrast", 1, {0, 1}), Catch::Contains("[0,1]"));
  CHECK_THROWS_WITH(corrupt(x, "contrast", 1, {0}), Catch::Contains("1 seeds for 2 images"));
  CHECK_THROWS_WITH(corrupt(torch::rand({2, 2, 8, 8}), "contrast", 1, {0, 1}), Catch::Contains("channels"));
  auto nan = x.clone();
  nan[0][0][0][0] = std::nan("");
  CHECK_THROWS_WITH(corrupt(nan, "contrast", 1, {0, 1}), Catch::Contains("NaN"));
  auto gray = torch::rand({2, 1, 28, 28});
  for (const auto& info : corruption_table()) {
    auto out = corrupt(gray, info.name, 2, {0, 1});
    INFO(info.name);
    CHECK(out.sizes() == gray.sizes());
    CHECK(out.scalar_type() == torch::kFloat);
    // Quantized to 8-bit levels.
    CHECK((torch::round(out * 255) - out * 255).abs().max().item<double>() < 1e-4);
  }
  CorruptionOptions none;
  none.quantize = false;
  CHECK_FALSE(torch::equal(torch::round(corrupt(x, "contrast", 1, {0, 1}, none) * 255) / 255, corrupt(x, "contrast", 1, {0, 1}, none)));
  CHECK(resolve_table(CorruptionTable::Auto, 224, 224) == CorruptionTable::ImageNet224);
  CHECK(resolve_table(CorruptionTable::Auto, 64, 80) == CorruptionTable::Tiny64);
  CHECK(resolve_table(CorruptionTable::Auto, 28, 28) == CorruptionTable::Cifar32);
}

TEST_CASE("every corruption handles other sizes, tables and devices' dtypes, and the table is well formed", "[corruptions]") {
  std::set<std::string> names;
  int standard = 0;
  for (const auto& info : corruption_table()) {
    CHECK(names.insert(info.name).second);
    standard += info.group == "standard";
  }
  CHECK(names.size() == 19);
  CHECK(standard == 15);
  CHECK(corruption_table()[8].name == "frost");
  CHECK(corruption_table()[18].name == "saturate");
  const std::vector<std::vector<int64_t>> shapes = {{2, 3, 40, 56}, {1, 1, 28, 28}, {1, 3, 100, 150}, {1, 3, 17, 23}};
  for (const auto& shape : shapes)
    for (const auto& table : {CorruptionTable::Auto, CorruptionTable::ImageNet224}) {
      auto x = torch::rand(shape, torch::kDouble);
      CorruptionOptions o;
      o.table = table;
      for (const auto& info : corruption_table()) {
        INFO(info.name << " on " << x.sizes() << " table " << corruption_table_name(table));
        auto out = corrupt(x, info.name, 5, image_seeds(3, 0, shape[0]), o);
        CHECK(out.sizes() == x.sizes());
        CHECK(out.scalar_type() == torch::kDouble);
        CHECK(out.min().item<double>() >= 0);
        CHECK(out.max().item<double>() <= 1);
      }
    }
  // Same seed, same bytes; another seed, other bytes (for the stochastic ones).
  auto x = torch::rand({1, 3, 32, 32});
  for (const auto& info : corruption_table()) {
    INFO(info.name);
    CHECK(torch::equal(corrupt(x, info.name, 3, {5}), corrupt(x, info.name, 3, {5})));
    if (info.stochastic && info.name != "motion_blur") CHECK_FALSE(torch::equal(corrupt(x, info.name, 3, {5}), corrupt(x, info.name, 3, {6})));
  }
  const auto a = image_seeds(1, 0, 4), b = image_seeds(1, 2, 2), c = image_seeds(2, 0, 4);
  CHECK(a[2] == b[0]);
  CHECK(a[3] == b[1]);
  CHECK(a[0] != c[0]);
}

TEST_CASE("the CPU kernels give the same bits as the tensor-op path", "[corruptions]") {
  // The tensor path is what non-CPU devices run; cpu_kernels = false forces it on the CPU.
  const auto stats = load_stats();
  auto rgb224 = torch::cat(load_set(stats, "rgb224")).narrow(0, 0, 2);
  auto rgb32 = torch::cat(load_set(stats, "rgb32"));
  torch::manual_seed(11);
  const std::vector<std::pair<torch::Tensor, CorruptionTable>> inputs = {
      {rgb224, CorruptionTable::ImageNet224},
      {rgb32, CorruptionTable::Cifar32},
      {torch::rand({2, 3, 40, 56}), CorruptionTable::Auto},
      {torch::floor(torch::rand({3, 1, 28, 28}) * 256).clamp_max(255) / 255.0, CorruptionTable::Cifar32},
      {torch::rand({1, 3, 17, 23}, torch::kDouble), CorruptionTable::ImageNet224}};
  for (const auto& [x, table] : inputs)
    for (bool quantize : {true, false}) {
      CorruptionOptions kernels, tensors;
      kernels.table = tensors.table = table;
      kernels.quantize = tensors.quantize = quantize;
      tensors.cpu_kernels = false;
      const auto seeds = image_seeds(9, 0, x.size(0));
      for (const auto& info : corruption_table())
        for (int severity = 1; severity <= 5; ++severity) {
          INFO(info.name << " severity " << severity << " on " << x.sizes() << (quantize ? "" : " unquantized"));
          CHECK(torch::equal(corrupt(x, info.name, severity, seeds, kernels), corrupt(x, info.name, severity, seeds, tensors)));
        }
    }
}

// Not run by default ("[.digest]"): prints one FNV-1a digest per (set, corruption, severity) of the outputs on
// the reference inputs (224 RGB batch of 4, 32 RGB batch of 4, 28 gray batch of 8, seeds image_seeds(1, ...)),
// to check that a change keeps the bytes: run it before and after and diff the output.
TEST_CASE("digest of every corruption's output", "[.digest]") {
  const auto stats = load_stats();
  for (const std::string set : {"rgb224", "rgb32", "fmnist32"}) {
    auto x = torch::cat(load_set(stats, set));
    if (set == "fmnist32") x = x.narrow(1, 0, 1).narrow(2, 2, 28).narrow(3, 2, 28).contiguous();  // 28x28 gray
    CorruptionOptions o;
    o.table = set == "rgb224" ? CorruptionTable::ImageNet224 : CorruptionTable::Cifar32;
    const auto seeds = image_seeds(1, 0, x.size(0));
    for (const auto& info : corruption_table())
      for (int severity = 1; severity <= 5; ++severity) {
        auto out = corrupt(x, info.name, severity, seeds, o).contiguous();
        const auto* p = static_cast<const uint8_t*>(out.data_ptr());
        uint64_t h = 1469598103934665603ULL;
        for (int64_t i = 0; i < out.numel() * static_cast<int64_t>(out.element_size()); ++i) h = (h ^ p[i]) * 1099511628211ULL;
        std::printf("digest %-9s %-18s %d %016llx\n", set.c_str(), info.name.c_str(), severity, static_cast<unsigned long long>(h));
      }
  }
}

TEST_CASE("the fast noise streams draw uniform and standard normal values", "[corruptions]") {
  // 2e6 draws from one stream; every bound is 5 standard errors of its statistic (or the Kolmogorov-Smirnov 99.99 % point), so
  // a correct generator fails with probability ~1e-5 per check and a biased one (wrong table, wrong tail) fails.
  const int64_t n = 2000000;
  std::vector<double> v(static_cast<size_t>(n));
  const double sn = std::sqrt(static_cast<double>(n));
  corruption::fill_draws(12345, corruption::Draw::StandardNormal, 1.0, v.data(), n);
  double m1 = 0, m2 = 0, m4 = 0;
  int64_t beyond_r = 0, beyond_1 = 0;
  for (double z : v) {
    m1 += z, m2 += z * z, m4 += z * z * z * z;
    beyond_r += std::abs(z) > 3.442619855899;
    beyond_1 += std::abs(z) > 1.0;
  }
  m1 /= n, m2 /= n, m4 /= n;
  CHECK(std::abs(m1) < 5 / sn);
  CHECK(std::abs(m2 - 1) < 5 * std::sqrt(2.0) / sn);
  CHECK(std::abs(m4 - 3) < 5 * std::sqrt(96.0) / sn);
  const double p_r = std::erfc(3.442619855899 / std::sqrt(2.0)), p_1 = std::erfc(1 / std::sqrt(2.0));
  CHECK(std::abs(beyond_r - p_r * n) < 5 * std::sqrt(p_r * n));  // the tail layer is drawn, with the right mass
  CHECK(std::abs(beyond_1 - p_1 * n) < 5 * std::sqrt(p_1 * (1 - p_1) * n));
  std::sort(v.begin(), v.end());
  double ks = 0;
  for (int64_t i = 0; i < n; i += 97) {  // Kolmogorov-Smirnov distance to the normal CDF
    const double cdf = 0.5 * std::erfc(-v[static_cast<size_t>(i)] / std::sqrt(2.0));
    ks = std::max(ks, std::abs(cdf - static_cast<double>(i) / n));
  }
  CHECK(ks < 2.22 / sn);

  corruption::fill_draws(777, corruption::Draw::Uniform01, 1.0, v.data(), n);
  double u1 = 0, lo = 1, hi = 0;
  for (double u : v) u1 += u, lo = std::min(lo, u), hi = std::max(hi, u);
  u1 /= n;
  CHECK(std::abs(u1 - 0.5) < 5 * std::sqrt(1.0 / 12) / sn);
  CHECK(lo >= 0.0);
  CHECK(hi < 1.0);
  std::sort(v.begin(), v.end());
  double ks_u = 0;
  for (int64_t i = 0; i < n; i += 97) ks_u = std::max(ks_u, std::abs(v[static_cast<size_t>(i)] - static_cast<double>(i) / n));
  CHECK(ks_u < 2.22 / sn);

  // Streams: the same seed repeats, another seed differs.
  std::vector<double> a(1000), b(1000), c(1000);
  corruption::fill_draws(5, corruption::Draw::StandardNormal, 0.1, a.data(), 1000);
  corruption::fill_draws(5, corruption::Draw::StandardNormal, 0.1, b.data(), 1000);
  corruption::fill_draws(6, corruption::Draw::StandardNormal, 0.1, c.data(), 1000);
  CHECK(a == b);
  CHECK(a != c);
}

TEST_CASE("xoshiro256 ++ and ** give their recorded outputs", "[corruptions]") {
  // Recorded from the scalar implementation before its transition became a template shared with the vector
  // lanes: the streams (and every seeded result) must not change under such refactors.
  Xoshiro256 a(42), b(42);
  CHECK(a.next_plus_plus() == 15021278609987233951ULL);
  CHECK(a.next_plus_plus() == 5881210131331364753ULL);
  CHECK(a.next_plus_plus() == 18149643915985481100ULL);
  CHECK(b.next_star_star() == 1546998764402558742ULL);
  CHECK(b.next_star_star() == 6990951692964543102ULL);
  CHECK(b.next_star_star() == 12544586762248559009ULL);
}

TEST_CASE("a stream drawn in pieces of any size, or a value at a time, gives the same numbers", "[corruptions]") {
  // Pieces of 1 .. 13 values start at every lane, so the four-lane vector steps, the one-value steps and the
  // rejected ziggurat draws and PTRS samples (which draw on from their own lane) all meet; draw kinds and Poisson
  // values (8-bit levels: alias tables; others: the samplers) are mixed within one stream.
  const float* levels = corruption::level_table<float>();
  std::vector<double> x(3000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = i % 7 == 3   ? 0.45 + 1e-3 * static_cast<double>(i % 11)  // rate >= 10: PTRS
                                  : i % 7 == 5 ? 0.2 + 1e-3 * static_cast<double>(i % 5)  // rate < 10: products of uniforms
                                               : static_cast<double>(levels[(i * 37) % 256]);
  for (uint64_t seed : {1, 2, 3}) {
    corruption::DrawStream pieces(seed), single(seed);
    std::vector<double> a, b;
    int64_t done = 0;
    for (int piece = 0; done < 3000; ++piece) {
      const int64_t n = std::min<int64_t>(1 + (piece * 5) % 13, 3000 - done);
      const int kind = piece % 3;
      std::vector<double> chunk(static_cast<size_t>(n)), one(static_cast<size_t>(n));
      if (kind == 2)
        pieces.poisson(x.data() + done, 25, chunk.data(), n);
      else
        pieces.fill(kind == 0 ? corruption::Draw::StandardNormal : corruption::Draw::Uniform01, 0.5, chunk.data(), n);
      for (int64_t k = 0; k < n; ++k) {
        if (kind == 2)
          single.poisson(x.data() + done + k, 25, one.data() + k, 1);
        else
          single.fill(kind == 0 ? corruption::Draw::StandardNormal : corruption::Draw::Uniform01, 0.5, one.data() + k, 1);
      }
      a.insert(a.end(), chunk.begin(), chunk.end());
      b.insert(b.end(), one.begin(), one.end());
      done += n;
    }
    CHECK(a == b);
    // and long pieces (the vector loop) equal the one-value steps for one kind alone
    std::vector<double> whole(2001), steps(2001);
    corruption::fill_draws(seed, corruption::Draw::StandardNormal, 1.0, whole.data(), 2001);
    corruption::DrawStream stepper(seed);
    for (int64_t k = 0; k < 2001; ++k) stepper.fill(corruption::Draw::StandardNormal, 1.0, steps.data() + k, 1);
    CHECK(whole == steps);
  }
}

TEST_CASE("the fast Poisson draws have the Poisson mean and variance", "[corruptions]") {
  // Both samplers (below and above rate 10) and the switch between them; bounds are 5 standard errors.
  const int64_t n = 400000;
  std::vector<double> rates(static_cast<size_t>(n)), out(static_cast<size_t>(n));
  for (double rate : {0.0, 0.3, 3.0, 9.99, 10.0, 25.0, 60.0, 500.0}) {
    std::fill(rates.begin(), rates.end(), rate);
    corruption::fill_poisson(99, rates.data(), out.data(), n);
    double mean = 0, m2 = 0;
    bool integers = true;
    for (double k : out) mean += k, m2 += k * k, integers = integers && k >= 0 && k == std::floor(k);
    mean /= n;
    const double var = m2 / n - mean * mean;
    INFO("rate " << rate << ": mean " << mean << ", variance " << var);
    CHECK(integers);
    if (rate == 0) {
      CHECK(mean == 0);
      continue;
    }
    CHECK(std::abs(mean - rate) < 5 * std::sqrt(rate / n));
    // Var of the sample variance of a Poisson: (mu4 - var^2)/n with mu4 = rate(1 + 3 rate).
    CHECK(std::abs(var - rate) < 5 * std::sqrt((rate * (1 + 3 * rate) - rate * rate) / n));
  }
}

TEST_CASE("the vector finish equals the per-value finish, and level k is float(k) / 255f", "[corruptions]") {
  const float* levels = corruption::level_table<float>();
  for (int k = 0; k < 256; ++k) {
    INFO("level " << k);
    CHECK(static_cast<float>(k) / 255.0f == levels[k]);
    CHECK(std::floor((k / 255.0) * 255.0) == k);  // so quantizing leaves every level where it is
  }
  torch::manual_seed(5);
  auto v = (torch::rand({1001}, torch::kDouble) * 1.4 - 0.2).contiguous();  // below 0, inside, above 1
  v[7] = std::numeric_limits<double>::quiet_NaN();
  v[8] = 1.0, v[9] = 0.0, v[10] = 254.999999 / 255.0;
  const double* p = v.data_ptr<double>();
  for (bool quantize : {true, false}) {
    std::vector<float> fast(1001), slow(1001);
    corruption::finish_levels(p, fast.data(), 1001, quantize);
    for (int i = 0; i < 1001; ++i) slow[static_cast<size_t>(i)] = corruption::finish_level(p[i], quantize, levels);
    for (int i = 0; i < 1001; ++i) {
      INFO("value " << p[i] << (quantize ? " quantized" : ""));
      if (std::isnan(slow[static_cast<size_t>(i)]))
        CHECK(std::isnan(fast[static_cast<size_t>(i)]));
      else
        CHECK(fast[static_cast<size_t>(i)] == slow[static_cast<size_t>(i)]);
    }
  }
}

TEST_CASE("shot noise's alias tables for 8-bit levels draw exact Poisson counts", "[corruptions]") {
  // DrawStream::poisson on float32 levels (the alias path) against the Poisson pmf: mean, variance (5 standard
  // errors) and every count's frequency within 5 binomial standard errors (+1e-4); a non-level value takes PTRS.
  const int64_t n = 400000;
  std::vector<double> x(static_cast<size_t>(n)), out(static_cast<size_t>(n));
  const float* levels = corruption::level_table<float>();
  for (const auto& [level, scale] : std::vector<std::pair<int, double>>{{0, 60}, {1, 3}, {40, 12}, {128, 25}, {255, 60}, {200, 500}}) {
    const double rate = static_cast<double>(levels[level]) * scale;
    std::fill(x.begin(), x.end(), static_cast<double>(levels[level]));
    corruption::DrawStream(7).poisson(x.data(), scale, out.data(), n);
    std::vector<int64_t> hist;
    double mean = 0, m2 = 0;
    bool counts = true;
    for (double k : out) counts = counts && k >= 0 && k == std::floor(k) && k < 1e6;
    REQUIRE(counts);
    for (double k : out) {
      if (static_cast<size_t>(k) >= hist.size()) hist.resize(static_cast<size_t>(k) + 1, 0);
      ++hist[static_cast<size_t>(k)];
      mean += k, m2 += k * k;
    }
    mean /= n;
    const double var = m2 / n - mean * mean;
    INFO("level " << level << " scale " << scale << " (rate " << rate << "): mean " << mean << ", variance " << var);
    if (rate == 0) {
      CHECK(mean == 0);
      continue;
    }
    CHECK(std::abs(mean - rate) < 5 * std::sqrt(rate / n));
    CHECK(std::abs(var - rate) < 5 * std::sqrt((rate * (1 + 3 * rate) - rate * rate) / n));
    double p = std::exp(-rate);
    for (size_t k = 0; k < hist.size(); ++k) {
      if (k > 0) p *= rate / static_cast<double>(k);
      const double freq = static_cast<double>(hist[k]) / n;
      INFO("count " << k << ": frequency " << freq << ", pmf " << p);
      CHECK(std::abs(freq - p) < 5 * std::sqrt(p * (1 - p) / n) + 1e-4);
    }
  }
  // The same stream continues across calls: two halves equal one call.
  std::fill(x.begin(), x.end(), static_cast<double>(levels[100]));
  std::vector<double> whole(1000), halves(1000);
  corruption::DrawStream(3).poisson(x.data(), 25, whole.data(), 1000);
  corruption::DrawStream halves_stream(3);
  halves_stream.poisson(x.data(), 25, halves.data(), 400);
  halves_stream.poisson(x.data(), 25, halves.data() + 400, 600);
  CHECK(whole == halves);
}

TEST_CASE("the ImageNet-C JPEG re-save gives the same bits on both paths", "[corruptions]") {
  // imagenet_c_jpeg sends every corruption through the float64 CPU path and the JPEG round trip at quality 85
  // (the 8-bit shortcuts do not apply), so this covers the float64 level round trip of pixelate and JPEG too.
  torch::manual_seed(12);
  const auto x = torch::rand({2, 3, 40, 56});
  CorruptionOptions kernels, tensors;
  kernels.imagenet_c_jpeg = tensors.imagenet_c_jpeg = true;
  tensors.cpu_kernels = false;
  const auto seeds = image_seeds(4, 0, 2);
  for (const std::string name : {"pixelate", "jpeg_compression", "contrast", "brightness"})
    for (int severity : {1, 5}) {
      INFO(name << " severity " << severity);
      const auto a = corrupt(x, name, severity, seeds, kernels), b = corrupt(x, name, severity, seeds, tensors);
      CHECK(torch::equal(a, b));
      CHECK(!torch::equal(a, corrupt(x, name, severity, seeds, CorruptionOptions{})));  // the re-save changed bytes
    }
}
