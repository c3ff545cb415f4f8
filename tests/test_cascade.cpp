// Cascades (attacks/cascade.h): each stage attacks only the points every earlier stage left robust, and the
// result is the per-point worst case over the stages.
#include "tests/catch_torch.h"  // first: see the header
#include "attacks/attack.h"
#include "attacks/cascade.h"
#include "bench/attack_runner.h"
#include "bench/reporter.h"
#include "datasets/dataset.h"
#include "common/error.h"
#include "common/npy.h"
#include "reports/compare.h"
#include "reports/format.h"
#include "tests/test_support.h"

using namespace questbench;

namespace cascade_test {

std::string attack_ref(const std::string& file) { return test::reference_dir() + "/attacks/" + file; }

Model reference_model(const std::string& file) {
  ModelSource s;
  s.path = attack_ref("models/" + file);
  s.format = "torchscript";
  s.channels = 1;
  s.height = s.width = 28;
  return Model::load(s, torch::kCPU);
}

std::vector<uint64_t> seeds(int64_t n) {
  std::vector<uint64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = 7919u * static_cast<uint64_t>(i) + 17;
  return out;
}

torch::Tensor still_correct(const Model& model, const torch::Tensor& x_adv, const AttackOutput& out, const torch::Tensor& y) {
  torch::NoGradGuard no_grad;
  return ~out.broken.to(torch::kBool) & (model.logits(x_adv).argmax(1) == y);
}

// The first n reference inputs as an npy data set.
DatasetSpec reference_dataset(const std::string& dir, int64_t n) {
  write_npy(dir + "/x.npy", read_npy(attack_ref("inputs.npy")).slice(0, 0, n).contiguous());
  write_npy(dir + "/y.npy", read_npy(attack_ref("labels.npy")).slice(0, 0, n).contiguous());
  DatasetSpec spec;
  spec.path = dir + "/x.npy";
  spec.labels_path = dir + "/y.npy";
  return spec;
}

const AttackCell& cell_of(const AttackReport& r, const std::string& attack) {
  for (const auto& c : r.cells)
    if (c.attack == attack) return c;
  FAIL("no cell " << attack);
  return r.cells.front();
}

struct StageKilled {};
// Throws when the cascade's given stage starts: the stages before it are journaled.
struct StageKillingReporter : Reporter {
  std::string stage;
  explicit StageKillingReporter(std::string s) : stage(std::move(s)) {}
  void progress(const ProgressUpdate& u) override {
    if (u.cell.find("autoattack") != std::string::npos && u.cell.find(" " + stage) != std::string::npos) throw StageKilled{};
  }
  void end_stage(const std::string&) override {}
};

}  // namespace cascade_test

namespace ct = cascade_test;

TEST_CASE("a cascade breaks exactly the points some stage breaks and keeps the first stage's image", "[cascade]") {
  auto model = ct::reference_model("m1_cnn.pt");
  const int64_t n = 96;
  auto x = read_npy(ct::attack_ref("inputs.npy")).slice(0, 0, n);
  auto y = read_npy(ct::attack_ref("labels.npy")).slice(0, 0, n);
  std::vector<std::unique_ptr<Attack>> stages;
  stages.push_back(make_attack("fgsm"));
  stages.push_back(make_attack("pgd:steps=10,alpha=1/255"));
  auto cascade = make_cascade("fgsm-then-pgd", "fgsm-then-pgd", std::move(stages));
  REQUIRE(cascade->stages().size() == 2);
  const double eps = 4.0 / 255;
  AttackBatch batch{x, y, {}, ct::seeds(n)};
  const auto out = cascade->run(model, batch, eps, true);

  // Standalone runs with the same per-sample seeds: per-sample streams make a stage's result on a point the same
  // whether it runs on all points or on the survivors only.
  const auto fgsm = make_attack("fgsm")->run(model, batch, eps, true);
  const auto pgd = make_attack("pgd:steps=10,alpha=1/255")->run(model, batch, eps, true);
  torch::NoGradGuard no_grad;
  const auto clean_ok = model.logits(x).argmax(1) == y;
  const auto fgsm_ok = ct::still_correct(model, fgsm.x_adv, fgsm, y) & clean_ok;
  const auto pgd_ok = ct::still_correct(model, pgd.x_adv, pgd, y) & clean_ok;
  const auto cascade_ok = ~out.broken.to(torch::kBool) & (model.logits(out.x_adv).argmax(1) == y);
  // Never weaker than any stage, and no stronger than their union (the worst case).
  CHECK((cascade_ok & ~fgsm_ok).sum().item<int64_t>() == 0);
  CHECK((cascade_ok & ~pgd_ok).sum().item<int64_t>() == 0);
  CHECK(torch::equal(cascade_ok, fgsm_ok & pgd_ok));
  CHECK(fgsm_ok.sum().item<int64_t>() > (fgsm_ok & pgd_ok).sum().item<int64_t>());  // the second stage did something
  // Points FGSM breaks keep FGSM's image; the rest that PGD breaks keep PGD's.
  const auto by_fgsm = clean_ok & ~fgsm_ok;
  const auto by_pgd = fgsm_ok & ~pgd_ok;
  CHECK(torch::equal(out.x_adv.index({by_fgsm}), fgsm.x_adv.index({by_fgsm})));
  CHECK(torch::equal(out.x_adv.index({by_pgd}), pgd.x_adv.index({by_pgd})));
  // Robust points are returned unchanged.
  CHECK(torch::equal(out.x_adv.index({cascade_ok}), x.index({cascade_ok})));
  // Counted passes: FGSM on the clean-correct points, PGD only on its survivors.
  CHECK(out.backwards == fgsm.backwards * clean_ok.sum().item<int64_t>() / n + pgd.backwards * fgsm_ok.sum().item<int64_t>() / n);
}

TEST_CASE("cascades refuse stages of different norms and unknown cascade names", "[cascade]") {
  std::vector<std::unique_ptr<Attack>> stages;
  stages.push_back(make_attack("pgd"));
  stages.push_back(make_attack("pgd-l2"));
  CHECK_THROWS_WITH(make_cascade("mixed", "mixed", std::move(stages)), Catch::Contains("another norm"));
  CHECK_THROWS_WITH(cascade_stage_specs("autoattack-fast", "linf"), Catch::Contains("unknown"));
  CHECK_THROWS_WITH(make_attack("autoattack:norm=l3"), Catch::Contains("norm"));
}

TEST_CASE("the comparison shows a cascade per stage with paired tests", "[cascade][compare]") {
  // Two models, 8 samples, a two-stage cascade: stage rows are measured and paired like any attack.
  auto input = [](const std::string& model, std::vector<uint8_t> after_first, std::vector<uint8_t> after_last) {
    InputReport r;
    r.path = model + ".attack.json";
    r.schema = "questbench.attack";
    r.schema_version = 1;
    r.dataset.fingerprint = "same";
    r.dataset.evaluated = 8;
    ModelInfo info;
    info.name = model;
    info.sha256 = model;
    r.models = {info};
    CleanResult clean;
    clean.n = 8;
    clean.correct_mask = std::vector<uint8_t>(8, 1);
    clean.correct = 8;
    clean.accuracy = 1;
    r.clean = {clean};
    AttackCell cell;
    cell.model = model;
    cell.attack = "autoattack";
    cell.spec = "autoattack:norm=linf";
    cell.norm = "Linf";
    cell.eps = 8.0 / 255;
    cell.eps_text = "8/255";
    cell.n = 8;
    cell.robust_mask = after_last;
    auto count = [](const std::vector<uint8_t>& m) { return static_cast<double>(std::count(m.begin(), m.end(), 1)) / 8; };
    cell.robust_accuracy = count(after_last);
    cell.stages.resize(2);
    cell.stages[0].spec = "apgd-ce:norm=linf";
    cell.stages[0].robust_mask = after_first;
    cell.stages[0].robust_accuracy = count(after_first);
    cell.stages[1].spec = "apgd-t:norm=linf";
    cell.stages[1].robust_mask = after_last;
    cell.stages[1].robust_accuracy = count(after_last);
    r.attack_cells = {cell};
    r.worst_case = {{model, "Linf", cell.eps, "8/255", {"autoattack"}, cell.robust_accuracy, after_last}};
    return r;
  };
  std::vector<InputReport> inputs;
  inputs.push_back(input("standard", {1, 1, 1, 0, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0, 0, 0}));
  inputs.push_back(input("quest", {1, 1, 1, 1, 1, 1, 0, 0}, {1, 1, 1, 1, 0, 0, 0, 0}));
  CompareOptions options;
  options.baseline = "standard";
  const auto c = compare_reports(std::move(inputs), options);
  int stage = -1, whole = -1;
  for (size_t i = 0; i < c.conditions.size(); ++i) {
    if (c.conditions[i].key == "attack/autoattack:norm=linf/Linf/8/255/stage 1") stage = static_cast<int>(i);
    if (c.conditions[i].key == "attack/autoattack:norm=linf/Linf/8/255") whole = static_cast<int>(i);
  }
  REQUIRE(stage >= 0);
  REQUIRE(whole >= 0);
  CHECK(c.conditions[stage].label == "AUTOATTACK after APGD-CE Linf 8/255");
  const Delta* d = find_delta(c, 1 - c.baseline, stage);
  REQUIRE(d != nullptr);
  CHECK(d->paired);
  CHECK(d->acc_baseline == Approx(3.0 / 8));
  CHECK(d->acc_model == Approx(6.0 / 8));
  CHECK(d->model_only == 3);  // robust for quest only after the first stage
  CHECK(d->baseline_only == 0);
  const Delta* w = find_delta(c, 1 - c.baseline, whole);
  REQUIRE(w != nullptr);
  CHECK(w->diff == Approx(3.0 / 8));
}
TEST_CASE("autoattack in a sweep: a row per stage, never weaker than any stage, resumed stage by stage", "[cascade][sweep][resume]") {
  const auto dir = test::make_temp_dir("cascade_sweep");
  const int64_t n = 48;
  auto dataset = open_dataset(ct::reference_dataset(dir, n));
  std::vector<Model> models = {ct::reference_model("m2_mlp.pt")};
  AttackSweepOptions o;
  o.attacks = {"autoattack", "apgd-ce", "apgd-t", "fab-t", "square"};
  o.eps_linf = parse_eps_list("8/255", "--eps", 1.0);
  o.range = {0, n};
  o.batch_size = 20;
  o.seed = 5;
  o.sanity_checks = false;
  const auto full = run_attack_sweep(models, *dataset, o, null_reporter());
  const auto& aa = ct::cell_of(full, "autoattack");
  REQUIRE(aa.stages.size() == 4);
  const std::vector<std::string> names = {"apgd-ce", "apgd-t", "fab-t", "square"};
  int64_t clean_correct = 0;
  for (auto v : full.clean.front().correct_mask) clean_correct += v;
  int64_t before = clean_correct;
  int64_t forwards = 0, backwards = 0;
  for (size_t k = 0; k < 4; ++k) {
    const auto& stage = aa.stages[k];
    INFO("stage " << stage.spec);
    CHECK(stage.spec.rfind(names[k] + ":", 0) == 0);
    CHECK(stage.attacked == before);  // each stage runs on exactly the points still robust
    int64_t robust = 0;
    for (auto v : stage.robust_mask) robust += v;
    CHECK(robust <= before);
    CHECK(stage.robust_accuracy == Approx(static_cast<double>(robust) / n));
    before = robust;
    forwards += stage.forwards;
    backwards += stage.backwards;
    // The cascade is never weaker than the stage's attack run alone on every point.
    const auto& alone = ct::cell_of(full, names[k]);
    for (int64_t i = 0; i < n; ++i) CHECK(!(aa.robust_mask[i] && !alone.robust_mask[i]));
  }
  CHECK(aa.stages.back().robust_mask == aa.robust_mask);
  CHECK(aa.forwards == forwards);
  CHECK(aa.backwards == backwards);
  CHECK(backwards > 0);
  CHECK(aa.stages[3].backwards == 0);  // Square only queries
  // With per-sample streams a stage on a point does what the attack alone does there: the cascade is exactly
  // the per-sample worst case of its stages.
  std::vector<uint8_t> worst(static_cast<size_t>(n), 1);
  for (const auto& name : names)
    for (int64_t i = 0; i < n; ++i) worst[i] &= ct::cell_of(full, name).robust_mask[i];
  CHECK(worst == aa.robust_mask);

  // Killed when FAB-T starts: APGD-CE and APGD-T are journaled, the resumed run does not repeat them.
  o.attacks = {"autoattack"};
  o.journal_path = dir + "/attack.journal";
  ct::StageKillingReporter killer("fab-t");
  CHECK_THROWS_AS(run_attack_sweep(models, *dataset, o, killer), ct::StageKilled);
  o.resume = true;
  ct::StageKillingReporter must_not_repeat("apgd-ce");
  const auto resumed = run_attack_sweep(models, *dataset, o, must_not_repeat);
  const auto& again = ct::cell_of(resumed, "autoattack");
  CHECK(again.robust_mask == aa.robust_mask);
  REQUIRE(again.stages.size() == 4);
  for (size_t k = 0; k < 4; ++k) {
    CHECK(again.stages[k].robust_mask == aa.stages[k].robust_mask);
    CHECK(again.stages[k].forwards == aa.stages[k].forwards);
  }
  CHECK(again.max_linf == aa.max_linf);
}

TEST_CASE("the standard cascade reproduces the original AutoAttack's flags after every stage", "[cascade][autoattack][reference]") {
  // --rng original --batch-size 256 over the 256 reference inputs, as the reference cascade ran (bs = 256, seed 0).
  const int threads = at::get_num_threads();
  at::set_num_threads(2);  // the reference was made with 2 threads
  const auto dir = test::make_temp_dir("cascade_reference");
  auto dataset = open_dataset(ct::reference_dataset(dir, 256));
  const std::vector<std::string> stage_keys = {"robust_after_apgd_ce", "robust_after_apgd_t", "robust_after_fab_t", "robust_after_square"};
  struct Case {
    std::string model, threat;
    int64_t allowed;  // samples whose flag may differ after a stage
  };
  // The MLP is bit-exact in principle; the CNN may differ on 1 % of the samples (oneDNN's convolution rounding
  // differs across CPUs).
  const std::vector<Case> cases = {{"m2", "linf_eps8", 0}, {"m2", "l2_eps0.5", 0}, {"m1", "linf_eps8", 2}};
  for (const auto& c : cases) {
    std::vector<Model> models = {ct::reference_model(c.model == "m1" ? "m1_cnn.pt" : "m2_mlp.pt")};
    AttackSweepOptions o;
    const bool linf = c.threat == "linf_eps8";
    o.attacks = {linf ? "autoattack:norm=linf" : "autoattack:norm=l2"};
    if (linf) o.eps_linf = parse_eps_list("8/255", "--eps", 1.0);
    else o.eps_l2 = parse_eps_list("0.5", "--eps-l2", 1e4);
    o.range = {0, 256};
    o.batch_size = 256;
    o.seed = 0;
    o.rng = RngMode::Original;
    o.sanity_checks = false;
    const auto report = run_attack_sweep(models, *dataset, o, null_reporter());
    const auto reference = read_npz(test::reference_dir() + "/autoattack/" + c.model + "/" + c.threat + "/standard.npz");
    const auto& cell = report.cells.front();
    REQUIRE(cell.stages.size() == 4);
    for (size_t k = 0; k < 4; ++k) {
      const auto expected = reference.at(stage_keys[k]).to(torch::kBool);
      int64_t differ = 0;
      for (int64_t i = 0; i < 256; ++i) differ += (cell.stages[k].robust_mask[i] != 0) != expected[i].item<bool>();
      INFO(c.model << " " << c.threat << " " << stage_keys[k] << ": " << differ << " flags differ; robust accuracy "
                   << cell.stages[k].robust_accuracy << " vs " << expected.to(torch::kDouble).mean().item<double>());
      CHECK(differ <= c.allowed);
    }
  }
  at::set_num_threads(threads);
}

TEST_CASE("the standard cascade with per-sample streams: within a point of the original and the same for any batch size", "[cascade][autoattack][reference]") {
  const auto dir = test::make_temp_dir("cascade_per_sample");
  auto dataset = open_dataset(ct::reference_dataset(dir, 256));
  std::vector<Model> models = {ct::reference_model("m2_mlp.pt")};
  for (const std::string threat : {"linf_eps8", "l2_eps0.5"}) {
    AttackSweepOptions o;
    const bool linf = threat == "linf_eps8";
    o.attacks = {linf ? "autoattack:norm=linf" : "autoattack:norm=l2"};
    if (linf) o.eps_linf = parse_eps_list("8/255", "--eps", 1.0);
    else o.eps_l2 = parse_eps_list("0.5", "--eps-l2", 1e4);
    o.range = {0, 256};
    o.batch_size = 256;
    o.sanity_checks = false;
    const auto whole = run_attack_sweep(models, *dataset, o, null_reporter());
    o.batch_size = 37;
    const auto small = run_attack_sweep(models, *dataset, o, null_reporter());
    const auto reference = read_npz(test::reference_dir() + "/autoattack/m2/" + threat + "/standard.npz");
    const double original = reference.at("robust").to(torch::kDouble).mean().item<double>();
    INFO(threat << ": per-sample " << whole.cells.front().robust_accuracy << ", original " << original);
    CHECK(std::abs(whole.cells.front().robust_accuracy - original) <= 0.01);
    CHECK(whole.cells.front().robust_mask == small.cells.front().robust_mask);
    for (size_t k = 0; k < 4; ++k) CHECK(whole.cells.front().stages[k].robust_mask == small.cells.front().stages[k].robust_mask);
  }
}

TEST_CASE("APGD-CE is never weaker than PGD-10 per sample on the shipped ViTs", "[cascade][apgd][shipped]") {
  // The first 200 Fashion-MNIST test images at Linf 8/255: every point PGD-10 (2/255 steps, random start) breaks,
  // APGD-CE (100 iterations) breaks too.
  DatasetSpec spec;
  spec.path = "fashion-mnist";
  auto dataset = open_dataset(spec);
  std::vector<Model> models;
  for (const std::string name : {"standard", "quest"}) {
    ModelSource s;
    s.path = test::source_dir() + "/models/checkpoints/fmnist_vit_" + name + ".safetensors";
    models.push_back(Model::load(s, torch::kCPU));
  }
  AttackSweepOptions o;
  o.attacks = {"pgd:steps=10,alpha=2/255", "apgd-ce"};
  o.eps_linf = parse_eps_list("8/255", "--eps", 1.0);
  o.range = {0, 200};
  o.batch_size = 100;
  o.sanity_checks = false;
  const auto report = run_attack_sweep(models, *dataset, o, null_reporter());
  for (const auto& model : models) {
    const AttackCell *pgd = nullptr, *apgd = nullptr;
    for (const auto& c : report.cells)
      if (c.model == model.name()) (c.attack == "pgd" ? pgd : apgd) = &c;
    REQUIRE(pgd != nullptr);
    REQUIRE(apgd != nullptr);
    int64_t weaker = 0;
    for (size_t i = 0; i < pgd->robust_mask.size(); ++i) weaker += apgd->robust_mask[i] && !pgd->robust_mask[i];
    INFO(model.name() << ": PGD-10 " << pgd->robust_accuracy << ", APGD-CE " << apgd->robust_accuracy);
    CHECK(weaker == 0);
    CHECK(apgd->robust_accuracy <= pgd->robust_accuracy);
  }
}

TEST_CASE("AutoAttack's checks flag randomized models, probability outputs and a query attack beating the white-box stages", "[cascade][sweep]") {
  // Cells only: Square lowering robust accuracy by 0.25 points after the white-box stages is flagged, by 0.0 not.
  CleanResult clean;
  clean.correct_mask = std::vector<uint8_t>(400, 1);
  AttackCell aa;
  aa.attack = "autoattack";
  aa.norm = "Linf";
  aa.eps = 8.0 / 255;
  aa.eps_text = "8/255";
  aa.robust_mask = std::vector<uint8_t>(400, 1);
  aa.stages.resize(4);
  const std::vector<std::string> specs = {"apgd-ce:norm=linf", "apgd-t:norm=linf", "fab-t:norm=linf", "square:norm=linf"};
  const std::vector<double> after = {0.5, 0.49, 0.49, 0.4875};
  for (size_t k = 0; k < 4; ++k) {
    aa.stages[k].spec = specs[k];
    aa.stages[k].robust_accuracy = after[k];
  }
  auto status = [&](const std::vector<AttackCell>& cells) {
    for (const auto& c : check_attack_cells("m", clean, cells))
      if (c.name == "query_attack_not_stronger") return c.status;
    return std::string("missing");
  };
  CHECK(status({aa}) == "warned");
  aa.stages[3].robust_accuracy = 0.49;
  CHECK(status({aa}) == "passed");
  aa.stages[3].robust_accuracy = 0.489;  // 0.1 points: within AutoAttack's 0.2
  CHECK(status({aa}) == "passed");

  // Models: a softmax head and a randomized one, on 40 reference images.
  const auto dir = test::make_temp_dir("aa_checks");
  torch::manual_seed(3);
  const auto w = torch::randn({10, 784}) * 0.1;
  const std::vector<std::pair<std::string, std::string>> bodies = {
      {"softmax", "return torch.softmax(torch.matmul(x.flatten(1), self.w.t()), 1)"},
      {"noisy", "return torch.matmul(x.flatten(1), self.w.t()) + 0.1 * torch.randn([x.size(0), 10])"},
      {"plain", "return torch.matmul(x.flatten(1), self.w.t())"}};
  auto dataset = open_dataset(ct::reference_dataset(dir, 40));
  for (const auto& [name, body] : bodies) {
    torch::jit::Module m(name);
    m.register_parameter("w", w, false);
    m.define("def forward(self, x):\n    " + body + "\n");
    m.save(dir + "/" + name + ".pt");
    ModelSource s;
    s.path = dir + "/" + name + ".pt";
    s.format = "torchscript";
    s.channels = 1;
    s.height = s.width = 28;
    std::vector<Model> models = {Model::load(s, torch::kCPU)};
    AttackSweepOptions o;
    o.attacks = {"fgsm"};
    o.eps_linf = parse_eps_list("8/255", "--eps", 1.0);
    o.range = {0, 40};
    o.batch_size = 40;
    const auto report = run_attack_sweep(models, *dataset, o, null_reporter());
    std::map<std::string, std::string> by_name;
    for (const auto& c : report.sanity) by_name[c.name] = c.status;
    INFO(name);
    CHECK(by_name["deterministic_logits"] == (name == "noisy" ? "warned" : "passed"));
    CHECK(by_name["logits_not_probabilities"] == (name == "softmax" ? "warned" : "passed"));
  }
}

TEST_CASE("a cascade cell's stages survive the report's JSON round trip", "[cascade][reports]") {
  AttackCell cell;
  cell.model = "m";
  cell.attack = "autoattack";
  cell.spec = "autoattack:norm=linf";
  cell.norm = "Linf";
  cell.eps_text = "8/255";
  cell.n = 10;
  cell.robust_mask = {1, 0, 1, 0, 0, 0, 1, 0, 0, 1};
  cell.stages.resize(2);
  cell.stages[0].spec = "apgd-ce:norm=linf";
  cell.stages[0].attacked = 9;
  cell.stages[0].forwards = 1234;
  cell.stages[0].robust_mask = {1, 1, 1, 0, 0, 0, 1, 0, 0, 1};
  cell.stages[1].spec = "apgd-t:norm=linf";
  cell.stages[1].robust_mask = cell.robust_mask;
  const auto back = attack_cell_from_json_line(attack_cell_to_json_line(cell), "test");
  REQUIRE(back.stages.size() == 2);
  CHECK(back.stages[0].robust_mask == cell.stages[0].robust_mask);  // 10 bits, not the 16 of two bytes
  CHECK(back.stages[1].robust_mask == cell.robust_mask);
  CHECK(back.stages[0].attacked == 9);
  CHECK(back.stages[0].forwards == 1234);
  CHECK(back.stages[1].spec == "apgd-t:norm=linf");
}
