// The corruption benchmark: metric formulas on hand-computed cases, the report's JSON round trip, paired
// evaluation, resume after an interruption at a random cell, pre-corrupted CIFAR-10-C / ImageNet-C folders
// written by `questbench corrupt` giving the same numbers as on-the-fly corruption, and bad inputs.
#include "tests/catch_torch.h"  // first: see the header
#include "bench/corruption_runner.h"
#include "common/error.h"
#include "common/files.h"
#include "reports/corruption_metrics.h"
#include "reports/format.h"
#include "tests/test_support.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>

using namespace questbench;
using namespace questbench::test;

namespace {

CorruptionCell make_corruption_cell(const std::string& model, const std::string& corruption, const std::string& group, int severity,
                         double error) {
  CorruptionCell c;
  c.model = model;
  c.corruption = corruption;
  c.group = group;
  c.severity = severity;
  c.n = 1000;
  c.correct = static_cast<int64_t>(std::llround((1 - error) * 1000));
  c.accuracy = 1 - error;
  c.error = error;
  c.correct_mask.assign(1000, 0);
  for (int64_t i = 0; i < c.correct; ++i) c.correct_mask[i] = 1;
  return c;
}

CleanResult make_clean_result(double error) {
  CleanResult r;
  r.n = 1000;
  r.error = error;
  r.accuracy = 1 - error;
  r.correct = static_cast<int64_t>(std::llround(r.accuracy * 1000));
  r.correct_mask.assign(1000, 1);
  return r;
}

std::string shipped_checkpoint(const std::string& variant) {
  return source_dir() + "/models/checkpoints/fmnist_vit_" + variant + ".safetensors";
}

std::vector<Model> shipped_models() {
  std::vector<Model> models;
  for (const std::string v : {"standard", "quest"}) {
    ModelSource s;
    s.path = shipped_checkpoint(v);
    models.push_back(Model::load(s, torch::kCPU));
  }
  return models;
}

// Results equal up to timings.
void check_same_results(const CorruptionReport& a, const CorruptionReport& b) {
  REQUIRE(a.cells.size() == b.cells.size());
  for (size_t i = 0; i < a.cells.size(); ++i) {
    INFO(a.cells[i].model << " " << a.cells[i].corruption << " " << a.cells[i].severity);
    CHECK(a.cells[i].model == b.cells[i].model);
    CHECK(a.cells[i].corruption == b.cells[i].corruption);
    CHECK(a.cells[i].severity == b.cells[i].severity);
    CHECK(a.cells[i].correct == b.cells[i].correct);
    CHECK(a.cells[i].correct_mask == b.cells[i].correct_mask);
  }
  REQUIRE(a.clean.size() == b.clean.size());
  for (size_t m = 0; m < a.clean.size(); ++m) {
    CHECK(a.clean[m].correct_mask == b.clean[m].correct_mask);
    CHECK(a.summaries[m].mce == b.summaries[m].mce);
    CHECK(a.summaries[m].relative_mce == b.summaries[m].relative_mce);
    CHECK(a.summaries[m].mean_corruption_accuracy == b.summaries[m].mean_corruption_accuracy);
  }
}

int qbc(const std::string& args, std::string* output = nullptr) { return run_command(questbench_binary() + " " + args, output); }

CorruptionReport read_corruption_report(const std::string& path) {
  return corruption_report_from_json(read_file_bytes(path), path);
}

}  // namespace

TEST_CASE("CE, relative CE, mCE and mean corrupted accuracy on hand-computed cases", "[corruption_bench]") {
  // Baseline A: clean error 0.1; gaussian_noise errors 0.2, 0.4; speckle_noise (extra) 0.3, 0.5.
  // Model B: clean error 0.05; gaussian_noise 0.1, 0.3; speckle_noise 0.15, 0.25.
  std::vector<CorruptionCell> cells = {
      make_corruption_cell("A", "gaussian_noise", "standard", 1, 0.2), make_corruption_cell("A", "gaussian_noise", "standard", 2, 0.4),
      make_corruption_cell("A", "speckle_noise", "extra", 1, 0.3),     make_corruption_cell("A", "speckle_noise", "extra", 2, 0.5),
      make_corruption_cell("B", "gaussian_noise", "standard", 1, 0.1), make_corruption_cell("B", "gaussian_noise", "standard", 2, 0.3),
      make_corruption_cell("B", "speckle_noise", "extra", 1, 0.15),    make_corruption_cell("B", "speckle_noise", "extra", 2, 0.25),
  };
  const auto clean_a = make_clean_result(0.1), clean_b = make_clean_result(0.05);
  const auto base = baseline_from_model("A", clean_a, cells);
  const auto a = summarize_corruptions("A", clean_a, cells, &base);
  const auto b = summarize_corruptions("B", clean_b, cells, &base);
  REQUIRE(b.corruptions.size() == 2);
  CHECK(a.mce == Approx(1.0));
  CHECK(a.relative_mce == Approx(1.0));
  CHECK(b.corruptions[0].corruption == "gaussian_noise");
  CHECK(b.corruptions[0].mean_error == Approx(0.2));
  CHECK(b.corruptions[0].ce == Approx((0.1 + 0.3) / (0.2 + 0.4)));
  CHECK(b.corruptions[0].relative_ce == Approx(((0.1 - 0.05) + (0.3 - 0.05)) / ((0.2 - 0.1) + (0.4 - 0.1))));
  CHECK(b.mce == Approx(2.0 / 3.0));  // only gaussian_noise is standard
  CHECK(b.relative_mce == Approx(0.75));
  CHECK(b.mean_corruption_accuracy == Approx((0.9 + 0.7) / 2));
  CHECK(b.mean_corruption_error == Approx(0.2));
  CHECK(b.standard_corruptions == 1);
  CHECK_FALSE(b.standard_complete);
  CHECK(b.extra_corruptions == 1);
  CHECK(b.extra_mce == Approx((0.15 + 0.25) / (0.3 + 0.5)));
  CHECK(b.extra_mean_accuracy == Approx((0.85 + 0.75) / 2));

  // The published AlexNet errors: CE over the severities evaluated, relative CE with AlexNet's clean 0.4348.
  const auto alexnet = alexnet_imagenet_baseline();
  const auto b_alex = summarize_corruptions("B", clean_b, cells, &alexnet);
  CHECK(b_alex.corruptions[0].ce == Approx((0.1 + 0.3) / (0.69528 + 0.82542)));
  CHECK(b_alex.corruptions[0].relative_ce ==
        Approx(((0.1 - 0.05) + (0.3 - 0.05)) / ((0.69528 - 0.4348) + (0.82542 - 0.4348))));
  CHECK(alexnet.errors.size() == 95);

  // No baseline: errors and accuracies, but no CE.
  const auto none = summarize_corruptions("B", clean_b, cells, nullptr);
  CHECK(none.mce < 0);
  CHECK(none.corruptions[0].ce < 0);
  CHECK(none.mean_corruption_accuracy == Approx(0.8));
  // A baseline that does not degrade has no relative CE (0 denominator), and one with 0 error no CE.
  std::vector<CorruptionCell> flat = {make_corruption_cell("A", "contrast", "standard", 1, 0.1), make_corruption_cell("B", "contrast", "standard", 1, 0.2)};
  const auto flat_base = baseline_from_model("A", clean_a, flat);
  const auto flat_b = summarize_corruptions("B", clean_b, flat, &flat_base);
  CHECK(flat_b.corruptions[0].ce == Approx(2.0));
  CHECK(flat_b.corruptions[0].relative_ce < 0);
  CHECK(flat_b.relative_mce < 0);
  std::vector<CorruptionCell> perfect = {make_corruption_cell("A", "contrast", "standard", 1, 0.0), make_corruption_cell("B", "contrast", "standard", 1, 0.2)};
  const auto perfect_base = baseline_from_model("A", clean_a, perfect);
  CHECK(summarize_corruptions("B", clean_b, perfect, &perfect_base).corruptions[0].ce < 0);
  // All 15 standard corruptions x 5 severities make the summary complete.
  std::vector<CorruptionCell> full;
  for (const auto& c : corruption_table())
    for (int s = 1; s <= 5; ++s) full.push_back(make_corruption_cell("B", c.name, c.group, s, 0.01 * s));
  const auto complete = summarize_corruptions("B", clean_b, full, nullptr);
  CHECK(complete.standard_complete);
  CHECK(complete.standard_corruptions == 15);
  CHECK(complete.extra_corruptions == 4);
  CHECK(complete.mean_corruption_accuracy == Approx(1 - 0.03));
}

TEST_CASE("a corruption benchmark on the shipped models: paired cells, JSON round trip, resume at a random cell", "[corruption_bench][resume]") {
  const auto models = shipped_models();
  auto dataset = open_dataset(DatasetSpec{"fashion-mnist"});
  const auto dir = make_temp_dir("corruption_resume");
  CorruptionSweepOptions o;
  o.corruptions = {"gaussian_noise", "contrast", "glass_blur"};
  o.severities = {1, 3, 5};
  o.range = {0, 64};
  o.batch_size = 24;  // batches that do not divide the count
  o.seed = 11;
  o.baseline = models[0].name();
  o.journal_path = dir + "/journal";
  auto& quiet = null_reporter();
  const auto full = run_corruption_sweep(models, dataset.get(), {}, o, quiet);
  REQUIRE(full.cells.size() == 2 * 3 * 3);
  for (const auto& c : full.cells) {
    CHECK(c.n == 64);
    CHECK(static_cast<int64_t>(c.correct_mask.size()) == 64);
  }
  CHECK(full.summaries[0].mce == Approx(1.0));
  CHECK(full.summaries[1].mce > 0);
  CHECK(full.config.table == "cifar");
  // Batching does not change the images (per-image seeds): another batch size, the same results.
  {
    auto other = o;
    other.batch_size = 64;
    other.journal_path.clear();
    check_same_results(full, run_corruption_sweep(models, dataset.get(), {}, other, quiet));
  }
  // The JSON round trip keeps every result.
  const auto text = corruption_report_to_json(full);
  const auto back = corruption_report_from_json(text, "r.json");
  check_same_results(full, back);
  CHECK(corruption_report_to_json(back) == text);
  CHECK_THROWS_WITH(corruption_report_from_json("{\"schema\":\"questbench.attack\",\"schema_version\":1}", "r.json"),
                    Catch::Contains("expected 'questbench.corruption'"));
  CHECK_THROWS_WITH(corruption_report_from_json("{\"schema\":\"questbench.corruption\",\"schema_version\":99}", "r.json"),
                    Catch::Contains("schema_version 99"));
  CHECK_THROWS_WITH(corruption_report_from_json(text.substr(0, text.size() / 2), "r.json"), Catch::Contains("not valid JSON"));

  // Interrupt at a random cell: keep the journal's first k result lines plus a torn half line, then resume.
  std::vector<std::string> lines;
  {
    std::ifstream in(o.journal_path);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  REQUIRE(lines.size() == 1 + 2 + 2 * 9);  // header, 2 clean results, 18 cells
  std::mt19937 rng(20261201);
  for (int trial = 0; trial < 2; ++trial) {
    const size_t k = 1 + rng() % (lines.size() - 2);
    INFO("journal cut after line " << k);
    {
      std::ofstream out(o.journal_path, std::ios::trunc);
      for (size_t i = 0; i < k; ++i) out << lines[i] << "\n";
      out << lines[k].substr(0, lines[k].size() / 2);  // the write the kill interrupted
    }
    auto resumed_options = o;
    resumed_options.resume = true;
    check_same_results(full, run_corruption_sweep(models, dataset.get(), {}, resumed_options, quiet));
  }
  // A journal of another run (other seed) is refused, not mixed in.
  auto other_seed = o;
  other_seed.seed = 12;
  other_seed.resume = true;
  CHECK_THROWS_WITH(run_corruption_sweep(models, dataset.get(), {}, other_seed, quiet), Catch::Contains("journal was made with other"));
}

TEST_CASE("CIFAR-10-C and ImageNet-C folders written by questbench corrupt give the on-the-fly numbers", "[corruption_bench][cli]") {
  const auto dir = make_temp_dir("precorrupted");
  const std::string common = " --quiet --seed 5 --limit 40 --corruptions gaussian_noise,zoom_blur,frost --severities 1-5";
  const std::string models = " --model " + shipped_checkpoint("standard") + " --model " + shipped_checkpoint("quest");
  std::string out;
  REQUIRE(qbc("corrupt --dataset fashion-mnist --layout cifar10-c -o " + dir + "/c10c" + common, &out) == 0);
  REQUIRE(qbc("corrupt --dataset fashion-mnist --layout imagenet-c -o " + dir + "/inc" + common, &out) == 0);
  CHECK(file_exists(dir + "/c10c/frost.npy"));
  CHECK(file_exists(dir + "/c10c/labels.npy"));
  CHECK(is_directory(dir + "/inc/zoom_blur/5/9"));
  REQUIRE(qbc("corruption --dataset fashion-mnist -o " + dir + "/fly.json" + models + common, &out) == 0);
  REQUIRE(qbc("corruption --dataset " + dir + "/c10c --clean-dataset fashion-mnist -o " + dir + "/c10c.json" + models + common, &out) == 0);
  REQUIRE(qbc("corruption --dataset " + dir + "/inc --clean-dataset fashion-mnist -o " + dir + "/inc.json" + models + common, &out) == 0);
  const auto fly = read_corruption_report(dir + "/fly.json");
  const auto c10c = read_corruption_report(dir + "/c10c.json");
  const auto inc = read_corruption_report(dir + "/inc.json");
  CHECK(fly.config.source == "generated");
  CHECK(c10c.config.source == "cifar10-c");
  CHECK(inc.config.source == "imagenet-c");
  // CIFAR-10-C keeps the sample order: the same per-sample correctness, cell by cell.
  check_same_results(fly, c10c);
  // The ImageNet-C tree is read in label-folder order: the same images, so the same counts per cell.
  REQUIRE(fly.cells.size() == inc.cells.size());
  for (size_t i = 0; i < fly.cells.size(); ++i) {
    INFO(fly.cells[i].model << " " << fly.cells[i].corruption << " " << fly.cells[i].severity);
    CHECK(fly.cells[i].n == inc.cells[i].n);
    CHECK(fly.cells[i].correct == inc.cells[i].correct);
  }
  for (size_t m = 0; m < 2; ++m) CHECK(fly.summaries[m].mean_corruption_accuracy == Approx(inc.summaries[m].mean_corruption_accuracy));
  // The corrupted images are not the clean ones (the comparison is not vacuous).
  CHECK(fly.cells[10].correct != fly.clean[0].correct);
}

TEST_CASE("questbench corruption rejects bad input with one-line errors and writes no report", "[corruption_bench][cli]") {
  const auto dir = make_temp_dir("corruption_errors");
  const std::string base = "corruption --quiet --limit 8 --model " + shipped_checkpoint("standard") + " -o " + dir + "/r.json";
  std::string out;
  auto one_line = [&](const std::string& fragment) {
    INFO(out);
    CHECK(out.find(fragment) != std::string::npos);
    CHECK(std::count(out.begin(), out.end(), '\n') == 1);
  };
  CHECK(qbc(base + " --corruptions gaussian_noise,fancy_blur", &out) == 2);
  one_line("fancy_blur");
  CHECK(qbc(base + " --severities 0-3", &out) == 2);
  one_line("severity 0");
  CHECK(qbc(base + " --severities 6", &out) == 2);
  one_line("severity 6");
  CHECK(qbc(base + " --limit -3", &out) == 2);
  CHECK(qbc(base + " --baseline alexnet", &out) == 2);
  one_line("alexnet");
  CHECK(qbc(base + " --dataset " + dir + "/missing", &out) == 1);
  one_line("missing");
  std::filesystem::create_directories(dir + "/c10c");
  std::ofstream(dir + "/c10c/labels.npy") << "garbage";
  std::ofstream(dir + "/c10c/contrast.npy") << "garbage";
  CHECK(qbc(base + " --dataset " + dir + "/c10c", &out) == 1);
  one_line(".npy");
  CHECK_FALSE(file_exists(dir + "/r.json"));
  CHECK(qbc("corruption --help", &out) == 0);
  CHECK(out.find("--baseline") != std::string::npos);
}

TEST_CASE("questbench corruption killed mid-run resumes to the uninterrupted report", "[corruption_bench][cli][resume]") {
  const auto dir = make_temp_dir("corruption_kill");
  const std::string args = "corruption --quiet --threads 1 --seed 3 --limit 300 --batch-size 50 --corruptions glass_blur,zoom_blur,fog "
                           "--severities 2,4 --model " + shipped_checkpoint("standard") + " --model " + shipped_checkpoint("quest");
  std::string out;
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(qbc(args + " -o " + dir + "/full.json", &out) == 0);
  const double full_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto full = read_corruption_report(dir + "/full.json");
  std::mt19937 rng(7);
  bool interrupted = false;
  for (int attempt = 0; attempt < 4 && !interrupted; ++attempt) {
    // SIGKILL at a random point of the run (20-85 % of an uninterrupted run's time on this machine now);
    // the journal then holds the cells finished before it.
    const double delay = full_seconds * (0.2 + 0.65 * (rng() % 1000) / 1000.0);
    std::filesystem::remove(dir + "/cut.json.journal");
    const std::string cmd = questbench_binary() + " " + args + " -o " + dir + "/cut.json & pid=$!; sleep " + std::to_string(delay) +
                            "; kill -9 $pid 2>/dev/null; wait $pid";
    run_command(cmd, &out);
    interrupted = !file_exists(dir + "/cut.json") && file_exists(dir + "/cut.json.journal");
    if (!interrupted) std::filesystem::remove(dir + "/cut.json");
  }
  REQUIRE(interrupted);
  std::string journal = read_file_bytes(dir + "/cut.json.journal");
  INFO("killed after " << full_seconds << " s run; journal lines at the kill: " << std::count(journal.begin(), journal.end(), '\n'));
  REQUIRE(qbc(args + " --resume -o " + dir + "/cut.json", &out) == 0);
  check_same_results(full, read_corruption_report(dir + "/cut.json"));
  CHECK_FALSE(file_exists(dir + "/cut.json.journal"));  // removed once the report is written
}

TEST_CASE("corruption cells over sample ranges join to the cells of the whole range", "[corruption_bench][range]") {
  const auto models = shipped_models();
  auto dataset = open_dataset(DatasetSpec{"fashion-mnist"});
  CorruptionSweepOptions o;
  o.corruptions = {"shot_noise", "glass_blur"};
  o.severities = {2, 5};
  o.batch_size = 16;
  o.seed = 4;
  o.range = {100, 140};
  const auto whole = run_corruption_sweep(models, dataset.get(), {}, o, null_reporter());
  o.range = {100, 117};
  const auto first = run_corruption_sweep(models, dataset.get(), {}, o, null_reporter());
  o.range = {117, 140};
  const auto second = run_corruption_sweep(models, dataset.get(), {}, o, null_reporter());
  REQUIRE(whole.cells.size() == 2 * 2 * 2);
  for (size_t i = 0; i < whole.cells.size(); ++i) {
    INFO(whole.cells[i].model << " " << whole.cells[i].corruption << " " << whole.cells[i].severity);
    auto joined = first.cells[i].correct_mask;
    joined.insert(joined.end(), second.cells[i].correct_mask.begin(), second.cells[i].correct_mask.end());
    CHECK(joined == whole.cells[i].correct_mask);
    CHECK(first.cells[i].correct + second.cells[i].correct == whole.cells[i].correct);
  }
}
