// questbench toy (bench/toy.h, reports/toy_report.h): the data generator's statistics, each variant's attention
// logits on a hand-computed case, results independent of the thread count, a trained model on an easy setting,
// and the command end to end.
#include "tests/catch_torch.h"  // first: see the header
#include "bench/toy.h"
#include "common/files.h"
#include "reports/toy_report.h"
#include "tests/test_support.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

using namespace questbench;
using namespace questbench::test;

namespace toy_tests {  // named: the tests are a unity build

// Sample covariance of the rows of x [n, d] (double).
torch::Tensor covariance(const torch::Tensor& x) {
  auto c = x.to(torch::kDouble) - x.to(torch::kDouble).mean(0, true);
  return torch::matmul(c.t(), c) / static_cast<double>(x.size(0) - 1);
}

ToySettings tiny_settings() {
  ToySettings s;
  s.variants = {"standard", "quest"};
  s.learning_rates = {0.01};
  s.weight_decays = {0.1};
  s.seeds = 2;
  s.steps = 40;
  s.trajectory_every = 10;
  s.train_samples = 256;
  s.test_samples = 200;
  s.probe_samples = 64;
  s.batch_size = 32;
  return s;
}

}  // namespace toy_tests

using namespace toy_tests;

TEST_CASE("toy data: answer keys follow N(0 Sigma) and other keys N(0 I)", "[toy]") {
  ToySettings s;
  const int64_t n = 20000;
  auto data = generate_toy_data(s, n, 0.5, 12345);
  const int64_t d = s.key_dims;
  auto answer_keys = data.keys.gather(1, data.answer.view({n, 1, 1}).expand({n, 1, d})).squeeze(1);
  auto unbiased = answer_keys.index({data.biased.logical_not()});
  auto biased = answer_keys.index({data.biased});

  // Σ = diag(answer_std² on the first answer_dims dims, 1 elsewhere); a variance estimate from ~10k samples
  // has a standard error of σ²·sqrt(2/n) ≈ 0.13 at σ² = 9, so 0.5 is about four standard errors.
  auto expected = torch::diag(toy_answer_std(s).to(torch::kDouble).pow(2));
  CHECK(torch::allclose(covariance(unbiased), expected, 0, 0.5));
  // A biased answer is b + N(0, Σ): the same spread around b.
  CHECK(torch::allclose(covariance(biased), expected, 0, 0.5));
  CHECK(torch::allclose(biased.to(torch::kDouble).mean(0), toy_bias_vector(s).to(torch::kDouble), 0, 0.15));
  CHECK(torch::allclose(unbiased.to(torch::kDouble).mean(0), torch::zeros({d}, torch::kDouble), 0, 0.15));
  CHECK(toy_bias_vector(s).norm().item<double>() == Approx(s.bias_norm).epsilon(1e-6));

  // Every other token: N(0, I).
  auto is_answer = torch::one_hot(data.answer, s.tokens).to(torch::kBool);
  auto others = data.keys.index({is_answer.logical_not()});
  REQUIRE(others.size(0) == n * (s.tokens - 1));
  CHECK(torch::allclose(covariance(others), torch::eye(d, torch::kDouble), 0, 0.05));
}

TEST_CASE("toy data: half the samples biased and the value part one-hot of the class", "[toy]") {
  ToySettings s;
  const int64_t n = 20000;
  auto data = generate_toy_data(s, n, 0.5, 777);
  // Binomial(20000, 0.5): standard error 0.0035.
  CHECK(data.biased.to(torch::kDouble).mean().item<double>() == Approx(0.5).margin(0.015));
  CHECK(generate_toy_data(s, 100, 0.0, 1).biased.any().item<bool>() == false);
  CHECK(generate_toy_data(s, 100, 1.0, 1).biased.all().item<bool>() == true);

  REQUIRE(data.values.sizes() == torch::IntArrayRef({n, s.tokens, s.classes}));
  CHECK(torch::equal(data.values.sum(-1), torch::ones({n, s.tokens})));
  CHECK(torch::equal(data.values.argmax(-1), data.classes));
  CHECK(torch::equal(data.labels, data.classes.gather(1, data.answer.unsqueeze(1)).squeeze(1)));
  // Labels and answer positions are uniform.
  for (int64_t c = 0; c < s.classes; ++c)
    CHECK(data.labels.eq(c).to(torch::kDouble).mean().item<double>() == Approx(1.0 / s.classes).margin(0.02));
  for (int64_t t = 0; t < s.tokens; ++t)
    CHECK(data.answer.eq(t).to(torch::kDouble).mean().item<double>() == Approx(1.0 / s.tokens).margin(0.02));
  // The same seed draws the same data.
  CHECK(torch::equal(generate_toy_data(s, 50, 0.5, 9).keys, generate_toy_data(s, 50, 0.5, 9).keys));
}

TEST_CASE("toy attention logits of each variant on a hand-computed case", "[toy]") {
  // q = (3, 4), ‖q‖ = 5, q̂ = (0.6, 0.8); keys (1, 0) and (0, 2), k̂ = (1, 0) and (0, 1); scale g = 2.
  auto q = torch::tensor({3.0f, 4.0f});
  auto k = torch::tensor({1.0f, 0.0f, 0.0f, 2.0f}).view({1, 2, 2});
  auto g = torch::tensor({2.0f});
  auto logits = [&](AttentionKind kind) { return toy_attention_logits(kind, q, k, g).view({2}); };
  const float r2 = std::sqrt(2.0f);
  CHECK(torch::allclose(logits(AttentionKind::Standard), torch::tensor({3.0f / r2, 8.0f / r2}), 0, 1e-5));
  CHECK(torch::allclose(logits(AttentionKind::Quest), torch::tensor({3.0f, 4.0f}), 0, 1e-5));
  CHECK(torch::allclose(logits(AttentionKind::QKNorm), torch::tensor({1.2f, 1.6f}), 0, 1e-5));
  CHECK(torch::allclose(logits(AttentionKind::QNorm), torch::tensor({1.2f, 3.2f}), 0, 1e-5));
}

TEST_CASE("toy model: QKNorm and QNorm scales start at the ViT's inits", "[toy]") {
  ToySettings s;
  const double n = static_cast<double>(s.tokens + 1);
  CHECK(make_toy_model(s, AttentionKind::QKNorm, 1).scale.item<double>() == Approx(std::log2(n * n - n)));
  CHECK(make_toy_model(s, AttentionKind::QNorm, 1).scale.item<double>() == Approx(1.0));
  // One seed, one start: the shared weights do not depend on the variant.
  CHECK(torch::equal(make_toy_model(s, AttentionKind::Standard, 5).wk, make_toy_model(s, AttentionKind::Quest, 5).wk));
  CHECK(make_toy_model(s, AttentionKind::Standard, 5).parameters().size() == 7);
  CHECK(make_toy_model(s, AttentionKind::QNorm, 5).parameters().size() == 8);
}

TEST_CASE("toy grid results do not depend on the thread count", "[toy]") {
  const ToySettings s = tiny_settings();
  const int saved = at::get_num_threads();
  at::set_num_threads(1);
  const ToyReport one = run_toy_experiment(s, null_reporter());
  at::set_num_threads(2);
  const ToyReport two = run_toy_experiment(s, null_reporter());
  at::set_num_threads(saved);
  REQUIRE(one.runs.size() == 4);
  REQUIRE(two.runs.size() == one.runs.size());
  for (size_t i = 0; i < one.runs.size(); ++i) {
    INFO("run " << i);
    CHECK(one.runs[i].variant == two.runs[i].variant);
    CHECK(one.runs[i].seed_index == two.runs[i].seed_index);
    CHECK(one.runs[i].unbiased_accuracy == two.runs[i].unbiased_accuracy);
    CHECK(one.runs[i].biased_accuracy == two.runs[i].biased_accuracy);
    CHECK(one.runs[i].final_train_loss == two.runs[i].final_train_loss);
    CHECK(one.runs[i].key_norm_biased == two.runs[i].key_norm_biased);
    CHECK(one.runs[i].key_norm_unbiased == two.runs[i].key_norm_unbiased);
    CHECK(one.runs[i].trajectory_steps == std::vector<int64_t>{0, 10, 20, 30, 40});
  }
  // Two seeds are two different draws.
  CHECK(one.runs[0].key_norm_biased != one.runs[1].key_norm_biased);
}

TEST_CASE("toy training without the spurious pattern solves the task with every variant", "[toy]") {
  ToySettings s;
  s.biased_fraction = 0;  // no shortcut: only the answer token's covariance tells it apart
  s.train_samples = 2048;
  s.test_samples = 1000;
  s.steps = 600;
  const auto data = make_toy_data_sets(s, 0);
  const double reference = toy_reference_accuracy(s, data.test_unbiased);
  CHECK(reference > 0.9);  // the rule that knows Σ; chance is 1/classes = 0.25
  for (const auto& name : s.variants) {
    INFO(name);
    const auto run = train_toy_run(s, data, parse_attention_kind(name), 0.01, 0.0, 0, 0.9 * reference);
    CHECK_FALSE(run.diverged);
    CHECK(run.unbiased_accuracy >= 0.9 * reference);
    CHECK(run.success);
  }
}

TEST_CASE("toy command writes a report that reads back and a figure", "[toy]") {
  const std::string tmp = make_temp_dir("toy");
  const std::string out = tmp + "/toy.json", plot = tmp + "/toy.svg";
  std::string output;
  REQUIRE(run_command(questbench_binary() + " toy --threads 1 --variants quest,qknorm --lr 0.01,0.03 --weight-decay 0 "
                                            "--seeds 1 --steps 30 --trajectory-every 10 --train-samples 128 "
                                            "--test-samples 100 -o " + out + " --plot " + plot,
                      &output) == 0);
  const ToyReport report = toy_report_from_json(read_file_bytes(out), out);
  REQUIRE(report.runs.size() == 4);
  CHECK(report.settings.steps == 30);
  CHECK(report.settings.variants == std::vector<std::string>{"quest", "qknorm"});
  CHECK(report.context.threads == 1);
  CHECK(report.success_threshold == Approx(report.settings.success_fraction * report.reference_unbiased_accuracy));
  for (const auto& r : report.runs) {
    CHECK(r.trajectory_steps == std::vector<int64_t>{0, 10, 20, 30});
    CHECK(r.key_norm_biased.size() == 4);
    CHECK(r.success == (r.unbiased_accuracy >= report.success_threshold));
  }
  REQUIRE(report.variants.size() == 2);
  CHECK(report.variants[0].variant == "quest");
  CHECK(report.variants[0].runs == 2);
  // The table on stdout names every variant; the figure has one bar per variant and a chart per variant.
  CHECK(output.find("| `quest` |") != std::string::npos);
  CHECK(output.find("| `qknorm` |") != std::string::npos);
  const std::string svg = read_file_bytes(plot);
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("toy-keynorm-quest") != std::string::npos);
  CHECK(svg.find("toy-keynorm-qknorm") != std::string::npos);
  CHECK(svg.find("</svg>\n") == svg.size() - 7);
}

TEST_CASE("toy report reader refuses another report kind and a broken run", "[toy]") {
  ToyReport r;
  r.settings.variants = {"quest"};
  ToyRun run;
  run.variant = "quest";
  run.trajectory_steps = {0, 10};
  run.key_norm_biased = {1.0, std::nan("")};  // a diverged run's last norm is written as null
  run.key_norm_unbiased = {1.0, 2.0};
  run.final_train_loss = std::nan("");
  run.diverged = true;
  r.runs = {run};
  const std::string text = toy_report_to_json(r);
  const ToyReport back = toy_report_from_json(text, "t.json");
  REQUIRE(back.runs.size() == 1);
  CHECK(std::isnan(back.runs[0].key_norm_biased[1]));
  CHECK(std::isnan(back.runs[0].final_train_loss));
  CHECK(back.variants.at(0).diverged == 1);

  std::string other = text;
  other.replace(other.find("questbench.toy"), 14, "questbench.eval");
  CHECK_THROWS_WITH(toy_report_from_json(other, "t.json"), Catch::Contains("t.json: is a 'questbench.eval' report"));
  std::string broken = text;
  broken.replace(broken.find("\"key_norm_unbiased\": ["), 22, "\"key_norm_unbiased\": [3.0, ");
  CHECK_THROWS_WITH(toy_report_from_json(broken, "t.json"), Catch::Contains("trajectory lengths differ"));
}

TEST_CASE("toy report keeps every setting and run field through JSON", "[toy]") {
  // Each field is written and read by two separate lists (reports/toy_report.cpp): non-default values in every
  // field show a field one list forgot.
  ToyReport r;
  auto& s = r.settings;
  s.tokens = 5, s.key_dims = 6, s.classes = 3, s.answer_dims = 2, s.answer_std = 2.5, s.bias_norm = 1.5;
  s.biased_fraction = 0.25, s.train_samples = 111, s.test_samples = 77, s.embed_dims = 9, s.head_dims = 7;
  s.steps = 33, s.batch_size = 11, s.trajectory_every = 3, s.probe_samples = 13, s.success_fraction = 0.75;
  s.seed = 42, s.variants = {"qnorm"}, s.learning_rates = {0.5, 0.25}, s.weight_decays = {0.125}, s.seeds = 4;
  r.reference_unbiased_accuracy = 0.875;
  r.success_threshold = 0.65625;
  ToyRun run;
  run.variant = "qnorm", run.learning_rate = 0.25, run.weight_decay = 0.125, run.seed_index = 3;
  run.success = true, run.unbiased_accuracy = 0.75, run.biased_accuracy = 0.5, run.final_train_loss = 0.375;
  run.seconds = 1.5, run.trajectory_steps = {0, 3}, run.key_norm_biased = {1.0, 2.0}, run.key_norm_unbiased = {3.0, 4.0};
  r.runs = {run};
  const ToyReport b = toy_report_from_json(toy_report_to_json(r), "t.json");
  const auto& t = b.settings;
  CHECK(t.tokens == 5);
  CHECK(t.key_dims == 6);
  CHECK(t.classes == 3);
  CHECK(t.answer_dims == 2);
  CHECK(t.answer_std == 2.5);
  CHECK(t.bias_norm == 1.5);
  CHECK(t.biased_fraction == 0.25);
  CHECK(t.train_samples == 111);
  CHECK(t.test_samples == 77);
  CHECK(t.embed_dims == 9);
  CHECK(t.head_dims == 7);
  CHECK(t.steps == 33);
  CHECK(t.batch_size == 11);
  CHECK(t.trajectory_every == 3);
  CHECK(t.probe_samples == 13);
  CHECK(t.success_fraction == 0.75);
  CHECK(t.seed == 42);
  CHECK(t.variants == s.variants);
  CHECK(t.learning_rates == s.learning_rates);
  CHECK(t.weight_decays == s.weight_decays);
  CHECK(t.seeds == 4);
  CHECK(b.reference_unbiased_accuracy == 0.875);
  CHECK(b.success_threshold == 0.65625);
  REQUIRE(b.runs.size() == 1);
  const auto& u = b.runs[0];
  CHECK(u.variant == "qnorm");
  CHECK(u.learning_rate == 0.25);
  CHECK(u.weight_decay == 0.125);
  CHECK(u.seed_index == 3);
  CHECK(u.success);
  CHECK_FALSE(u.diverged);
  CHECK(u.unbiased_accuracy == 0.75);
  CHECK(u.biased_accuracy == 0.5);
  CHECK(u.final_train_loss == 0.375);
  CHECK(u.seconds == 1.5);
  CHECK(u.trajectory_steps == run.trajectory_steps);
  CHECK(u.key_norm_biased == run.key_norm_biased);
  CHECK(u.key_norm_unbiased == run.key_norm_unbiased);
  REQUIRE(b.variants.size() == 1);
  CHECK(b.variants[0].successes == 1);
  CHECK(b.variants[0].success_rate == 1.0);
}
