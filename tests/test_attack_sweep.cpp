// The adversarial sweep runner and CLI: sanity checks (including one that must warn on masked
// gradients), eps parsing, resume after an interruption, saving adversarial examples, bad inputs.
#include "tests/catch_torch.h"  // first: see the header
#include "bench/attack_runner.h"
#include "common/error.h"
#include "common/files.h"
#include "common/npy.h"
#include "reports/format.h"
#include "tests/test_support.h"

#include <filesystem>
#include <random>

using namespace questbench;

namespace {

std::string sweep_ref(const std::string& file) { return test::reference_dir() + "/attacks/" + file; }

Model torchscript_model(const std::string& path) {
  ModelSource s;
  s.path = path;
  s.format = "torchscript";
  s.channels = 1;
  s.height = s.width = 28;
  return Model::load(s, torch::kCPU);
}

// The reference inputs as an npy data set (first n samples).
DatasetSpec reference_dataset(const std::string& dir, int64_t n) {
  write_npy(dir + "/x.npy", read_npy(sweep_ref("inputs.npy")).slice(0, 0, n).contiguous());
  write_npy(dir + "/y.npy", read_npy(sweep_ref("labels.npy")).slice(0, 0, n).contiguous());
  DatasetSpec spec;
  spec.path = dir + "/x.npy";
  spec.labels_path = dir + "/y.npy";
  return spec;
}

AttackSweepOptions small_sweep(int64_t n) {
  AttackSweepOptions o;
  o.attacks = {"fgsm", "pgd", "pgd-l2"};
  o.eps_linf = parse_eps_list("0,2/255,8/255", "--eps", 1.0);
  o.eps_l2 = parse_eps_list("0,0.5", "--eps-l2", 1e4);
  o.range = {0, n};
  o.batch_size = 16;
  o.seed = 3;
  return o;
}

const SanityCheck& find_check(const AttackReport& r, const std::string& name) {
  for (const auto& s : r.sanity)
    if (s.name == name) return s;
  FAIL("no sanity check " << name);
  return r.sanity.front();
}

}  // namespace

TEST_CASE("eps lists parse fractions and decimals and reject bad values", "[attacks][cli]") {
  auto eps = parse_eps_list("0, 1/255,0.5 ,8/255", "--eps", 1.0);
  REQUIRE(eps.size() == 4);
  CHECK(eps[1].value == Approx(1.0 / 255));
  CHECK(eps[1].text == "1/255");
  CHECK(eps[2].value == 0.5);
  CHECK_THROWS_AS(parse_eps_list("8", "--eps", 1.0), UsageError);
  CHECK_THROWS_WITH(parse_eps_list("8", "--eps", 1.0), Catch::Contains("8/255"));
  CHECK_THROWS_WITH(parse_eps_list("-1/255", "--eps", 1.0), Catch::Contains(">= 0"));
  CHECK_THROWS_WITH(parse_eps_list("abc", "--eps", 1.0), Catch::Contains("'abc'"));
  CHECK_THROWS_WITH(parse_eps_list("1/0", "--eps", 1.0), Catch::Contains("division by zero"));
  CHECK_THROWS_WITH(parse_eps_list("nan", "--eps", 1.0), Catch::Contains("finite"));
  CHECK_THROWS_WITH(parse_eps_list("1/255,1/255", "--eps", 1.0), Catch::Contains("twice"));
  CHECK_THROWS_WITH(parse_eps_list("0,,1", "--eps", 1.0), Catch::Contains("empty"));
  CHECK(parse_eps_list("2.5", "--eps-l2", 1e4)[0].value == 2.5);
}

TEST_CASE("a sweep on a sound model passes its sanity checks", "[attacks][sweep]") {
  const auto dir = test::make_temp_dir("sweep");
  auto dataset = open_dataset(reference_dataset(dir, 96));
  std::vector<Model> models = {torchscript_model(sweep_ref("models/m1_cnn.pt"))};
  auto report = run_attack_sweep(models, *dataset, small_sweep(96), null_reporter());
  REQUIRE(report.cells.size() == 3 + 3 + 2);
  CHECK(find_check(report, "eps0_equals_clean").status == "passed");
  CHECK(find_check(report, "perturbation_within_eps").status == "passed");
  CHECK(find_check(report, "monotone_in_eps").status == "passed");
  CHECK(find_check(report, "pgd_not_weaker_than_fgsm").status == "passed");
  CHECK(find_check(report, "no_zero_gradients").status == "passed");
  CHECK(find_check(report, "large_eps_reaches_chance").status == "passed");
  CHECK(find_check(report, "doubling_steps_stable").status != "not_run");
  // Robust accuracy never exceeds clean accuracy; the worst case never exceeds any single attack.
  for (const auto& c : report.cells) CHECK(c.robust_accuracy <= report.clean[0].accuracy);
  for (const auto& w : report.worst_case)
    for (const auto& c : report.cells)
      if (c.norm == w.norm && c.eps == w.eps) CHECK(w.robust_accuracy <= c.robust_accuracy);
  const std::string json = attack_report_to_json(report);
  CHECK(json.find("\"schema\": \"questbench.attack\"") != std::string::npos);
  CHECK(json.find("\"attack_success_rate_on_clean_correct\"") != std::string::npos);
}

TEST_CASE("the sanity checks flag bad cells", "[attacks][sweep]") {
  CleanResult clean;
  clean.accuracy = 1.0;
  clean.correct_mask = {1, 1, 1, 1};
  auto cell = [](const std::string& attack, double eps, std::vector<uint8_t> mask) {
    AttackCell c;
    c.attack = attack;
    c.norm = "Linf";
    c.eps = eps;
    c.eps_text = std::to_string(eps);
    c.robust_mask = mask;
    c.max_linf = eps;
    return c;
  };
  std::vector<AttackCell> cells = {cell("fgsm", 0, {1, 1, 0, 1}), cell("fgsm", 0.1, {0, 1, 0, 1}), cell("pgd", 0.1, {1, 0, 0, 0}),
                                   cell("pgd", 0.2, {1, 1, 0, 0})};
  cells[3].max_linf = 0.25;
  cells[2].zero_gradient_fraction = 0.5;
  auto checks = check_attack_cells("m", clean, cells);
  std::map<std::string, SanityCheck> by_name;
  for (const auto& c : checks) by_name[c.name] = c;
  CHECK(by_name["eps0_equals_clean"].status == "warned");
  CHECK(by_name["perturbation_within_eps"].status == "warned");
  CHECK_THAT(by_name["monotone_in_eps"].message, Catch::Contains("1 samples robust at eps"));
  CHECK(by_name["pgd_not_weaker_than_fgsm"].status == "warned");
  CHECK_THAT(by_name["no_zero_gradients"].message, Catch::Contains("50.0%"));
}

TEST_CASE("masked gradients (a quantizing input layer) raise the zero-gradient warning", "[attacks][sweep]") {
  const auto dir = test::make_temp_dir("masked");
  torch::jit::Module quantized("Quantized");
  torch::manual_seed(1);
  quantized.register_parameter("w", torch::randn({10, 784}) * 0.1, false);
  quantized.define(R"(
    def forward(self, x):
        q = torch.round(x * 4.0) / 4.0
        return torch.matmul(q.flatten(1), self.w.t())
  )");
  quantized.save(dir + "/quantized.pt");
  auto dataset = open_dataset(reference_dataset(dir, 32));
  std::vector<Model> models = {torchscript_model(dir + "/quantized.pt")};
  auto o = small_sweep(32);
  o.attacks = {"fgsm", "pgd"};
  auto report = run_attack_sweep(models, *dataset, o, null_reporter());
  const auto& check = find_check(report, "no_zero_gradients");
  CHECK(check.status == "warned");
  CHECK_THAT(check.message, Catch::Contains("100.0%"));
}

TEST_CASE("a model no attack can move fails the large-eps probe", "[attacks][sweep]") {
  // Constant logits (class 9 always wins, the input only enters times zero) on a set labelled 9: clean
  // accuracy 100 %, every gradient zero, and accuracy at eps 0.5 stays at 100 % instead of near chance.
  const auto dir = test::make_temp_dir("unmovable");
  torch::jit::Module constant("Constant");
  constant.register_parameter("bias", torch::arange(10, torch::kFloat).unsqueeze(0), false);
  constant.define(R"(
    def forward(self, x):
        return self.bias + 0.0 * x.flatten(1).sum(1, keepdim=True)
  )");
  constant.save(dir + "/constant.pt");
  const int64_t n = 32;
  write_npy(dir + "/x.npy", read_npy(sweep_ref("inputs.npy")).slice(0, 0, n).contiguous());
  write_npy(dir + "/y.npy", torch::full({n}, 9, torch::kLong));
  DatasetSpec spec;
  spec.path = dir + "/x.npy";
  spec.labels_path = dir + "/y.npy";
  auto dataset = open_dataset(spec);
  std::vector<Model> models = {torchscript_model(dir + "/constant.pt")};
  auto o = small_sweep(n);
  o.attacks = {"fgsm", "pgd"};
  auto report = run_attack_sweep(models, *dataset, o, null_reporter());
  const auto& check = find_check(report, "large_eps_reaches_chance");
  CHECK(check.status == "warned");
  CHECK_THAT(check.message, Catch::Contains("accuracy 1.0000"));
  CHECK(find_check(report, "no_zero_gradients").status == "warned");
}

TEST_CASE("PGD far from converged fails the doubled-steps probe", "[attacks][sweep]") {
  // alpha = 0.1/255: ten steps cover a sixteenth of the 4/255 ball (robust accuracy near eps 0.4/255),
  // twenty steps an eighth, so doubling the steps must move robust accuracy by more than a point.
  const auto dir = test::make_temp_dir("unconverged");
  auto dataset = open_dataset(reference_dataset(dir, 128));
  std::vector<Model> models = {torchscript_model(sweep_ref("models/m1_cnn.pt"))};
  auto o = small_sweep(128);
  o.attacks = {"pgd"};
  o.eps_linf = parse_eps_list("4/255", "--eps", 1.0);
  o.defaults.alpha_linf = parse_fraction("0.1/255", "alpha", 1.0);
  o.defaults.random_start = false;
  o.batch_size = 64;
  auto report = run_attack_sweep(models, *dataset, o, null_reporter());
  const auto& check = find_check(report, "doubling_steps_stable");
  INFO(check.message);
  CHECK(check.status == "warned");
}

TEST_CASE("an interrupted sweep resumes to the same results", "[attacks][sweep][resume]") {
  const auto dir = test::make_temp_dir("resume_attack");
  auto dataset = open_dataset(reference_dataset(dir, 48));
  std::vector<Model> models = {torchscript_model(sweep_ref("models/m1_cnn.pt")), torchscript_model(sweep_ref("models/m2_mlp.pt"))};
  auto o = small_sweep(48);
  o.sanity_checks = false;
  auto full = run_attack_sweep(models, *dataset, o, null_reporter());
  // Kill at a random batch (there are 2 models x 8 cells x 3 batches of 16 progress calls).
  std::mt19937 rng(std::random_device{}());
  const int kill_at = std::uniform_int_distribution<int>(1, 47)(rng);
  INFO("interrupted at progress call " << kill_at);
  o.journal_path = dir + "/attack.journal";
  int calls = 0;
  struct Killed {};
  struct KillingReporter : Reporter {
    int& calls;
    int kill_at;
    KillingReporter(int& c, int k) : calls(c), kill_at(k) {}
    void progress(const ProgressUpdate&) override {
      if (++calls == kill_at) throw Killed{};
    }
    void end_stage(const std::string&) override {}
  } killer(calls, kill_at);
  CHECK_THROWS_AS(run_attack_sweep(models, *dataset, o, killer), Killed);
  o.resume = true;
  auto resumed = run_attack_sweep(models, *dataset, o, null_reporter());
  REQUIRE(resumed.cells.size() == full.cells.size());
  for (size_t i = 0; i < full.cells.size(); ++i) {
    INFO(full.cells[i].model << " " << full.cells[i].attack << " " << full.cells[i].eps_text);
    CHECK(resumed.cells[i].robust_mask == full.cells[i].robust_mask);
    CHECK(resumed.cells[i].robust_accuracy == full.cells[i].robust_accuracy);
    CHECK(resumed.cells[i].max_linf == full.cells[i].max_linf);
    CHECK(resumed.cells[i].mean_l2 == Approx(full.cells[i].mean_l2).epsilon(1e-12));
  }
  for (size_t i = 0; i < full.worst_case.size(); ++i) CHECK(resumed.worst_case[i].robust_mask == full.worst_case[i].robust_mask);
  // A journal from other settings is refused.
  o.seed = 99;
  CHECK_THROWS_WITH(run_attack_sweep(models, *dataset, o, null_reporter()), Catch::Contains("other models, data or settings"));
}

TEST_CASE("questbench attack: report, saved adversarial examples, clean errors", "[attacks][cli]") {
  const auto dir = test::make_temp_dir("attack_cli");
  auto spec = reference_dataset(dir, 40);
  const std::string qb = test::questbench_binary();
  const std::string common = " --quiet --torchscript --input-size 1,28,28 --model " + sweep_ref("models/m2_mlp.pt") +
                             " --dataset " + spec.path + " --labels " + spec.labels_path;
  std::string out;
  REQUIRE(test::run_command(qb + " attack" + common + " --attacks fgsm,pgd --eps 0,4/255 --no-sanity-checks --save-adv " + dir +
                                "/adv -o " + dir + "/a.json",
                            &out) == 0);
  CHECK(file_exists(dir + "/a.json"));
  CHECK_FALSE(file_exists(dir + "/a.json.journal"));
  auto adv = read_npy(dir + "/adv/m2_mlp__pgd__eps-4_255.npy");
  CHECK(adv.scalar_type() == torch::kFloat);
  CHECK(adv.sizes() == torch::IntArrayRef({40, 1, 28, 28}));
  auto x = read_npy(spec.path);
  CHECK((adv - x).abs().max().item<double>() <= 4.0 / 255 + 1e-6);
  // Bad inputs: exit 2 for usage errors, nothing written.
  CHECK(test::run_command(qb + " attack" + common + " --eps 8 -o " + dir + "/b.json", &out) == 2);
  CHECK_THAT(out, Catch::Contains("--eps '8'"));
  CHECK(test::run_command(qb + " attack" + common + " --attacks fgsm,deepfool -o " + dir + "/b.json", &out) == 2);
  CHECK_THAT(out, Catch::Contains("deepfool"));
  CHECK(test::run_command(qb + " attack" + common + " --steps 0 -o " + dir + "/b.json", &out) == 2);
  CHECK(test::run_command(qb + " attack" + common + " --targeted sideways -o " + dir + "/b.json", &out) == 1);
  CHECK_THAT(out, Catch::Contains("least-likely"));
  CHECK_FALSE(file_exists(dir + "/b.json"));
}

TEST_CASE("attack cells over sample ranges join to the cells of the whole range", "[attacks][sweep][range]") {
  // A shard is a range: seeds come from the sample's index in the data set, so [0, 48) = [0, 20) + [20, 48).
  const auto dir = test::make_temp_dir("attack_ranges");
  auto dataset = open_dataset(reference_dataset(dir, 48));
  std::vector<Model> models = {torchscript_model(sweep_ref("models/m1_cnn.pt"))};
  auto o = small_sweep(48);
  o.sanity_checks = false;
  o.batch_size = 16;
  const auto whole = run_attack_sweep(models, *dataset, o, null_reporter());
  o.range = {0, 20};
  const auto first = run_attack_sweep(models, *dataset, o, null_reporter());
  o.range = {20, 48};
  const auto second = run_attack_sweep(models, *dataset, o, null_reporter());
  REQUIRE(first.cells.size() == whole.cells.size());
  REQUIRE(second.cells.size() == whole.cells.size());
  for (size_t i = 0; i < whole.cells.size(); ++i) {
    INFO(whole.cells[i].spec << " eps " << whole.cells[i].eps_text);
    auto joined = first.cells[i].robust_mask;
    joined.insert(joined.end(), second.cells[i].robust_mask.begin(), second.cells[i].robust_mask.end());
    CHECK(joined == whole.cells[i].robust_mask);
    CHECK(second.cells[i].n == 28);
  }
  auto clean = first.clean[0].correct_mask;
  clean.insert(clean.end(), second.clean[0].correct_mask.begin(), second.clean[0].correct_mask.end());
  CHECK(clean == whole.clean[0].correct_mask);
  o.range = {40, 60};
  CHECK_THROWS_WITH(run_attack_sweep(models, *dataset, o, null_reporter()), Catch::Contains("[40, 60)"));
}
