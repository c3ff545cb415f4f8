// Calibration under corruption (reports/calibration.h, the runners' per-sample terms, merge and compare):
// hand-computed ECE, adaptive ECE, NLL and Brier score on small fixtures, the edge cases, the area under the
// error-vs-severity curve, old reports without the fields, split runs joined exactly, and the reliability
// diagrams drawn by a real browser.
#include "tests/catch_torch.h"  // first: see the header
#include "bench/engine.h"
#include "common/error.h"
#include "common/files.h"
#include "reports/calibration.h"
#include "reports/compare.h"
#include "reports/corruption_metrics.h"
#include "reports/format.h"
#include "reports/render.h"
#include "tests/test_support.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <random>

using namespace questbench;

namespace calibration_test {

using Json = nlohmann::json;

CalibrationData data_of(const std::vector<float>& confidence) {
  CalibrationData d;
  for (float c : confidence) add_calibration_sample(d, c, 0.0, 0.0);
  return d;
}

std::string model_path(const std::string& name) { return test::source_dir() + "/models/checkpoints/fmnist_vit_" + name + ".safetensors"; }

}  // namespace calibration_test

namespace ct = calibration_test;

TEST_CASE("ECE and adaptive ECE of a 6-sample fixture equal the hand-computed values", "[calibration]") {
  // Dyadic confidences (exact in float32) and their equal-width bins b = ceil(15 c) - 1:
  //   0.9375 wrong -> 14, 0.875 wrong -> 13, 0.625 right -> 9, 0.5625 right -> 8, 0.3125 wrong -> 4, 0.96875 right -> 14
  // ECE: bin 14 holds 2 samples, 1 correct, confidence sum 1.90625: |1 - 1.90625| = 0.90625; the other bins one
  // sample each: 0.875 + 0.375 + 0.4375 + 0.3125. Sum 2.90625 / 6 = 0.484375.
  // Adaptive ECE: n = 6 < 15, so every sample has its own bin (positions j at floor(b*6/15) boundaries):
  // 0.9375 + 0.03125 + 0.875 + 0.375 + 0.4375 + 0.3125 = 2.96875 / 6 = 0.49479166...
  const std::vector<float> confidence{0.9375f, 0.875f, 0.625f, 0.5625f, 0.3125f, 0.96875f};
  const std::vector<uint8_t> correct{0, 0, 1, 1, 0, 1};
  const auto m = calibration_metrics(ct::data_of(confidence), correct);
  CHECK(m.n == 6);
  CHECK(m.ece == Approx(2.90625 / 6).margin(1e-15));
  CHECK(m.adaptive_ece == Approx(2.96875 / 6).margin(1e-15));
  REQUIRE(m.bins.size() == 15);
  CHECK(m.bins[14].count == 2);
  CHECK(m.bins[14].correct == 1);
  CHECK(m.bins[14].mean_confidence() == Approx(0.953125).margin(1e-15));
  CHECK(m.bins[13].count == 1);
  CHECK(m.bins[9].count == 1);
  CHECK(m.bins[8].count == 1);
  CHECK(m.bins[4].count == 1);
  int64_t total = 0;
  for (const auto& b : m.bins) total += b.count;
  CHECK(total == 6);
  // The reliability diagram's accuracy per bin.
  CHECK(m.bins[9].accuracy() == 1.0);
  CHECK(m.bins[13].accuracy() == 0.0);
}

TEST_CASE("NLL and Brier score of a 3-class fixture equal the hand-computed values", "[calibration]") {
  // p = (1/2, 1/4, 1/4) with true class 0: NLL ln 2, Brier (1/2)^2 + 2 (1/4)^2 = 0.375
  // p = (1/2, 1/4, 1/4) with true class 1: NLL ln 4, Brier (1/2)^2 + (3/4)^2 + (1/4)^2 = 0.875
  // p = (1, 0, 0) with true class 0: NLL 0, Brier 0
  // Means: NLL (ln 2 + ln 4) / 3 = ln 2; Brier 1.25 / 3.
  CalibrationData d;
  const std::vector<std::pair<std::vector<double>, int64_t>> samples{{{0.5, 0.25, 0.25}, 0}, {{0.5, 0.25, 0.25}, 1}, {{1, 0, 0}, 0}};
  std::vector<uint8_t> correct;
  for (const auto& [p, y] : samples) {
    const auto t = calibration_terms_from_probabilities(p, y);
    add_calibration_sample(d, t.confidence, t.nll, t.brier);
    correct.push_back(y == 0);
  }
  const auto m = calibration_metrics(d, correct);
  // Each NLL term is rounded to a multiple of 2^-24 (common/exact_sum.h): the mean is within half a unit.
  CHECK(m.nll == Approx(std::log(2.0)).margin(std::ldexp(1.0, -25)));
  CHECK(m.brier == Approx(1.25 / 3).epsilon(1e-12));
  // Confidences 0.5, 0.5, 1 (bins 7, 7, 14): bin 7 holds 1 correct of 2 at mean 0.5, bin 14 one correct at 1: ECE 0.
  CHECK(m.ece == Approx(0.0).margin(1e-15));

  SECTION("the runners' terms from logits give the same values") {
    // Logits (ln 2, 0, 0) have the softmax (1/2, 1/4, 1/4); (1000, 0, 0) gives p(true) = e^-1000, 0 in float64.
    const auto logits = torch::tensor({std::log(2.0), 0.0, 0.0, std::log(2.0), 0.0, 0.0}, torch::kFloat).reshape({2, 3});
    CalibrationData r;
    accumulate_calibration(r, logits, torch::tensor({0, 1}, torch::kLong));
    REQUIRE(r.confidence.size() == 2);
    CHECK(r.confidence[0] == Approx(0.5f));
    CHECK(r.nll_sum == Approx(std::log(2.0) + std::log(4.0)).epsilon(1e-6));
    CHECK(r.brier_sum == Approx(0.375 + 0.875).epsilon(1e-6));
  }
  SECTION("p(true) = 0: from logits the NLL stays finite, as a probability it is refused") {
    CalibrationData r;
    accumulate_calibration(r, torch::tensor({1000.0f, 0.0f, 0.0f}).reshape({1, 3}), torch::tensor({1}, torch::kLong));
    CHECK(r.nll_sum == Approx(1000.0).epsilon(1e-9));  // -log_softmax = 1000, although exp(-1000) underflows
    CHECK(r.brier_sum == Approx(2.0).epsilon(1e-9));   // the largest Brier term: all mass on a wrong class
    CHECK(r.confidence[0] == 1.0f);
    const auto t = calibration_terms_from_probabilities({1, 0, 0}, 1);
    CHECK(std::isinf(t.nll));
    CalibrationData refused;
    CHECK_THROWS_WITH(add_calibration_sample(refused, t.confidence, t.nll, t.brier), Catch::Contains("NLL term inf of sample 0"));
    CHECK(refused.empty());
  }
}

TEST_CASE("calibration edge cases: no samples and confidences on bin edges and all equal", "[calibration]") {
  SECTION("n = 0 gives n = 0 and no values") {
    const auto m = calibration_metrics(CalibrationData{}, {});
    CHECK(m.n == 0);
    CHECK(m.ece == 0);
    CHECK(m.bins.empty());
    CHECK(calibration_error(equal_mass_bins({}, {})) == 0);
  }
  SECTION("bin edges: 0 goes to the first bin and a bin holds its upper edge") {
    CHECK(confidence_bin(0.0f) == 0);
    CHECK(confidence_bin(1.0f) == 14);
    // float32(1/15) = 0.0666666701... lies above 1/15, its predecessor below; the same at 14/15.
    const float edge1 = 1.0f / 15.0f, edge14 = 14.0f / 15.0f;
    CHECK(static_cast<double>(edge1) > 1.0 / 15.0);
    CHECK(confidence_bin(edge1) == 1);
    CHECK(confidence_bin(std::nextafter(edge1, 0.0f)) == 0);
    CHECK(confidence_bin(edge14) == 14);
    CHECK(confidence_bin(std::nextafter(edge14, 0.0f)) == 13);
    CHECK(confidence_bin(0.5f) == 7);  // 7.5 -> (7/15, 8/15]
  }
  SECTION("all confidences equal: one equal-width bin, and the tie is never split into equal-mass bins") {
    // 15 samples at 0.5, 5 correct: |5 - 7.5| / 15 = 1/6 for both.
    std::vector<uint8_t> correct(15, 0);
    for (int i = 0; i < 5; ++i) correct[static_cast<size_t>(3 * i)] = 1;
    const auto m = calibration_metrics(ct::data_of(std::vector<float>(15, 0.5f)), correct);
    CHECK(m.ece == Approx(1.0 / 6).margin(1e-15));
    CHECK(m.adaptive_ece == Approx(1.0 / 6).margin(1e-15));
    CHECK(m.bins[7].count == 15);
  }
  SECTION("equal-mass bins: n not divisible by 15 spreads the extra samples, order does not matter") {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(0.3f, 1.0f);
    std::vector<float> conf(37);
    std::vector<uint8_t> correct(37);
    for (size_t i = 0; i < conf.size(); ++i) {
      conf[i] = u(rng);
      correct[i] = static_cast<uint8_t>(rng() % 2);
    }
    const auto bins = equal_mass_bins(conf, correct);
    // floor(b * 37 / 15) for b = 0..15: sizes 2 or 3, summing to 37.
    for (int b = 0; b < 15; ++b) {
      INFO("bin " << b);
      CHECK(bins[static_cast<size_t>(b)].count == (b + 1) * 37 / 15 - b * 37 / 15);
    }
    std::vector<size_t> order(conf.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<float> conf2;
    std::vector<uint8_t> correct2;
    for (size_t i : order) {
      conf2.push_back(conf[i]);
      correct2.push_back(correct[i]);
    }
    CHECK(calibration_error(equal_mass_bins(conf2, correct2)) == calibration_error(bins));
  }
  SECTION("sizes that disagree are refused") {
    CHECK_THROWS_AS(calibration_metrics(ct::data_of({0.5f, 0.6f}), {1}), Error);
    CalibrationData d;
    CHECK_THROWS_AS(add_calibration_sample(d, 1.5f, 0, 0), Error);
    CHECK_THROWS_AS(add_calibration_sample(d, 0.5f, std::nan(""), 0), Error);
    CHECK_THROWS_AS(add_calibration_sample(d, 0.5f, 0.1, 2.5), Error);
  }
}

TEST_CASE("error AUC over severities is Hendrycks' trapezoid rule", "[calibration]") {
  // Errors 0.1, 0.2, 0.4, 0.5, 0.9 at severities 1..5: (0.15 + 0.3 + 0.45 + 0.7) / 4 = 0.4.
  CHECK(error_auc({{1, 0.1}, {2, 0.2}, {3, 0.4}, {4, 0.5}, {5, 0.9}}) == Approx(0.4).epsilon(1e-12));
  // Any order; a subset of severities weighs each interval by its width: (2 * (0.1 + 0.5) / 2 + (0.5 + 0.9) / 2) / 3.
  CHECK(error_auc({{5, 0.9}, {2, 0.1}, {4, 0.5}}) == Approx(1.3 / 3).epsilon(1e-12));
  CHECK(error_auc({{3, 0.5}}) < 0);
  CHECK(error_auc({}) < 0);
}

TEST_CASE("reports without calibration fields still load and compare without a calibration section", "[calibration]") {
  const auto text = read_file_bytes(test::source_dir() + "/tests/fixtures/compare_corruption.json");
  const auto report = corruption_report_from_json(text, "compare_corruption.json");
  REQUIRE(!report.cells.empty());
  for (const auto& cell : report.cells) CHECK(cell.calibration.empty());
  for (const auto& clean : report.clean) CHECK(clean.calibration.empty());
  for (const auto& s : report.summaries)
    for (const auto& c : s.corruptions) CHECK(c.error_auc < 0);
  const auto comparison = compare_reports({read_input_report(test::source_dir() + "/tests/fixtures/compare_corruption.json")}, {});
  for (const auto& k : comparison.calibration) CHECK_FALSE(k.any());
  const auto md = render_markdown(comparison);
  CHECK(md.find("## Calibration") == std::string::npos);
  CHECK(md.find("Area under the error-vs-severity curve") != std::string::npos);  // computed from the accuracies
}

TEST_CASE("a corruption run carries calibration per cell and a run split in 2 shards joins it exactly",
          "[calibration][cli][corruptions]") {
  const auto dir = test::make_temp_dir("calibration_split");
  const std::string args = test::questbench_binary() + " corruption --quiet --threads 1 --model " + ct::model_path("standard") +
                           " --model " + ct::model_path("quest") + " --limit 48 --batch-size 16 --corruptions fog,shot_noise --severities 1,3";
  REQUIRE(test::run_command("cd " + dir + " && " + args + " -o single.json") == 0);
  const ct::Json single = ct::Json::parse(read_file_bytes(dir + "/single.json"));
  const auto report = corruption_report_from_json(read_file_bytes(dir + "/single.json"), "single.json");
  REQUIRE(report.cells.size() == 8);
  for (const auto& cell : report.cells) {
    INFO(cell.model << " " << cell.corruption << " " << cell.severity);
    REQUIRE(cell.calibration.confidence.size() == 48);
    const auto m = calibration_metrics(cell.calibration, cell.correct_mask);
    CHECK(m.ece >= 0);
    CHECK(m.ece <= 1);
    CHECK(m.nll > 0);
    CHECK(m.brier > 0);
    CHECK(m.brier <= 2);
    for (float c : cell.calibration.confidence) CHECK(c >= 0.1f);  // the largest of 10 probabilities
  }
  for (const auto& clean : report.clean) {
    REQUIRE(clean.calibration.confidence.size() == 48);
    // The same cross-entropy as the report's loss, up to float32 rounding of the latter.
    CHECK(clean.calibration.nll_sum == Approx(clean.loss_sum).epsilon(1e-5));
  }
  const auto& first = single["results"]["fmnist_vit_standard"]["corruptions"][0];
  CHECK(first.contains("error_auc"));
  const auto& block = first["severities"][0]["calibration"];
  for (const char* key : {"ece", "adaptive_ece", "nll", "brier", "nll_sum", "brier_sum", "bins", "confidences"}) {
    INFO(key);
    CHECK(block.contains(key));
  }
  CHECK(block["bins"].size() == 15);

  for (int i = 0; i < 2; ++i)
    REQUIRE(test::run_command("cd " + dir + " && " + args + " --shard " + std::to_string(i) + "/2 -o part" + std::to_string(i) + ".json") == 0);
  REQUIRE(test::run_command("cd " + dir + " && " + test::questbench_binary() + " merge --quiet part1.json part0.json -o merged.json") == 0);
  const ct::Json merged = ct::Json::parse(read_file_bytes(dir + "/merged.json"));
  for (const auto& model : {"fmnist_vit_standard", "fmnist_vit_quest"}) {
    INFO(model);
    CHECK(merged["results"][model]["clean"]["calibration"] == single["results"][model]["clean"]["calibration"]);
    const auto& mine = merged["results"][model]["corruptions"];
    const auto& theirs = single["results"][model]["corruptions"];
    REQUIRE(mine.size() == theirs.size());
    for (size_t k = 0; k < mine.size(); ++k) {
      CHECK(mine[k]["error_auc"] == theirs[k]["error_auc"]);
      REQUIRE(mine[k]["severities"].size() == theirs[k]["severities"].size());
      for (size_t s = 0; s < mine[k]["severities"].size(); ++s)
        CHECK(mine[k]["severities"][s]["calibration"] == theirs[k]["severities"][s]["calibration"]);
    }
  }
  CHECK(test::comparable_report(dir + "/merged.json") == test::comparable_report(dir + "/single.json"));
}

TEST_CASE("compare shows calibration tables and reliability diagrams that render in headless Chromium",
          "[calibration][compare][browser]") {
  const auto dir = test::make_temp_dir("calibration_browser");
  std::string out;
  REQUIRE(test::run_command("cd " + dir + " && " + test::questbench_binary() + " corruption --quiet --threads 1 --model " +
                                ct::model_path("standard") + " --model " + ct::model_path("quest") +
                                " --limit 32 --corruptions contrast --severities 2,4 -o corruption.json",
                            &out) == 0);
  INFO(out);
  REQUIRE(test::run_command("cd " + dir + " && " + test::questbench_binary() + " compare --quiet corruption.json -o report", &out) == 0);
  const auto md = read_file_bytes(dir + "/report/report.md");
  CHECK(md.find("## Calibration") != std::string::npos);
  CHECK(md.find("mean over 2 corruption cells") != std::string::npos);
  CHECK(md.find("error AUC fmnist_vit_quest") != std::string::npos);
  const int rc = test::run_command(test::source_dir() + "/scripts/check-report-html " + dir + "/report/report.html " + dir + "/browser", &out);
  INFO(out);
  REQUIRE(rc == 0);
  // One diagram per model; each has a bar per non-empty bin of clean and of corrupted, at least one of each.
  for (const std::string chart : {"reliability-fmnist-vit-standard", "reliability-fmnist-vit-quest"}) {
    INFO(chart);
    const auto at = out.find("chart " + chart + ": ");
    REQUIRE(at != std::string::npos);
    CHECK(std::stoi(out.substr(at + chart.size() + 8)) >= 2);
  }
}
