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
