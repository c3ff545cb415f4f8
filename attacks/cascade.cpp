#include "attacks/cascade.h"

#include "attacks/sample_streams.h"
#include "common/error.h"

#include <torch/torch.h>

namespace questbench {
namespace {

class CascadeAttack final : public Attack {
 public:
  CascadeAttack(std::string name, std::string spec, std::vector<std::unique_ptr<Attack>> stages)
      : name_(std::move(name)), spec_(std::move(spec)), stages_(std::move(stages)) {
    QB_CHECK(!stages_.empty(), "cascade " << name_ << " has no stages");
    capabilities_.norm = stages_.front()->capabilities().norm;
    capabilities_.targeted = false;
    capabilities_.needs_gradients = false;
    for (const auto& s : stages_) {
      const auto& c = s->capabilities();
      QB_CHECK(c.norm == capabilities_.norm, "cascade " << name_ << ": stage " << s->spec() << " has another norm");
      capabilities_.iterative |= c.iterative;
      capabilities_.needs_gradients |= c.needs_gradients;
      capabilities_.query_based |= c.query_based;
      capabilities_.randomized |= c.randomized;
      capabilities_.min_classes = std::max(capabilities_.min_classes, c.min_classes);
    }
  }

  std::string spec() const override { return spec_; }
  const AttackCapabilities& capabilities() const override { return capabilities_; }

  AttackSettings settings(double eps) const override {
    // What a report's single-attack fields can say of a cascade: the longest stage's iterations and restarts.
    AttackSettings s;
    for (const auto& stage : stages_) {
      const auto t = stage->settings(eps);
      s.steps = std::max(s.steps, t.steps);
      s.restarts = std::max(s.restarts, t.restarts);
      s.random_start |= t.random_start;
    }
    s.early_stop = true;
    s.loss = stages_.front()->settings(eps).loss;
    return s;
  }

  // Batch-wise form of the cascade (the sweep runs the stages over the whole range itself): each stage attacks
  // the points of this batch still robust, and the first successful image is kept.
  AttackOutput run(const Model& model, const AttackBatch& batch, double eps, bool /*check_final*/) const override {
    AttackOutput out;
    torch::NoGradGuard no_grad;
    const auto x = batch.x.detach();
    out.x_adv = x.clone();
    out.broken = model.logits(x).argmax(1) != batch.labels;
    out.forwards += x.size(0);
    for (const auto& stage : stages_) {
      const auto rows = true_indices(~out.broken);
      if (rows.empty()) break;
      auto index = torch::tensor(rows, torch::kLong).to(x.device());
      AttackBatch sub;
      sub.x = x.index_select(0, index);
      sub.labels = batch.labels.index_select(0, index);
      if (batch.targets.defined()) sub.targets = batch.targets.index_select(0, index);
      for (auto r : rows) sub.seeds.push_back(batch.seeds.at(static_cast<size_t>(r)));
      sub.rng = batch.rng;
      sub.run_seed = batch.run_seed;
      auto stage_out = stage->run(model, sub, eps, /*check_final=*/false);
      // The original re-checks every stage's images with its own forward pass.
      auto broken = stage_out.broken.to(torch::kBool) | (model.logits(stage_out.x_adv).argmax(1) != sub.labels);
      out.forwards += stage_out.forwards + sub.x.size(0);
      out.backwards += stage_out.backwards;
      out.gradient_evaluations += stage_out.gradient_evaluations;
      auto newly = index.masked_select(broken);
      out.x_adv.index_copy_(0, newly, stage_out.x_adv.index_select(0, broken.nonzero().view({-1})));
      out.broken.index_fill_(0, newly, true);
      if (stage.get() == stages_.front().get()) out.zero_gradient_fraction = stage_out.zero_gradient_fraction;
      if (stage_out.non_finite_gradient.defined()) {
        if (!out.non_finite_gradient.defined()) out.non_finite_gradient = torch::zeros_like(out.broken, torch::kBool);
        out.non_finite_gradient.index_put_({index}, out.non_finite_gradient.index({index}) | stage_out.non_finite_gradient);
      }
    }
    return out;
  }

  std::unique_ptr<Attack> with_doubled_iterations() const override {
    std::vector<std::unique_ptr<Attack>> doubled;
    for (const auto& s : stages_) {
      auto d = s->with_doubled_iterations();
      if (!d) d = make_attack(s->spec());
      doubled.push_back(std::move(d));
    }
    return std::make_unique<CascadeAttack>(name_, spec_, std::move(doubled));
  }

  std::vector<const Attack*> stages() const override {
    std::vector<const Attack*> out;
    for (const auto& s : stages_) out.push_back(s.get());
    return out;
  }

 private:
  std::string name_, spec_;
  std::vector<std::unique_ptr<Attack>> stages_;
  AttackCapabilities capabilities_;
};

std::unique_ptr<Attack> make_registered_cascade(const AttackSpec& spec, const AttackDefaults& /*defaults*/) {
  SpecReader read(spec);
  const auto norm = read.choice("norm", "linf", {"linf", "l2"});
  read.finish();
  std::vector<std::unique_ptr<Attack>> stages;
  for (const auto& text : cascade_stage_specs(spec.name, norm)) stages.push_back(make_attack(text));
  return make_cascade(spec.name, format_attack_spec(spec.name, {{"norm", norm}}), std::move(stages));
}

}  // namespace

std::vector<std::string> cascade_stage_specs(const std::string& name, const std::string& norm) {
  const std::string n = "norm=" + norm;
  const std::string apgd = ",steps=100,rho=0.75";
  const std::string fab = ",steps=100,alpha_max=0.1,eta=1.05,beta=0.9";
  const std::string square = ",queries=5000,p_init=0.8,restarts=1,loss=margin";
  if (name == "autoattack")
    return {"apgd-ce:" + n + apgd + ",restarts=1,eot=1", "apgd-t:" + n + apgd + ",restarts=1,eot=1,targets=9",
            "fab-t:" + n + fab + ",restarts=1,targets=9", "square:" + n + square};
  if (name == "autoattack-plus")
    return {"apgd-ce:" + n + apgd + ",restarts=5,eot=1",        "apgd-dlr:" + n + apgd + ",restarts=5,eot=1",
            "fab:" + n + fab + ",restarts=5",                   "square:" + n + square,
            "apgd-t:" + n + apgd + ",restarts=1,eot=1,targets=9", "fab-t:" + n + fab + ",restarts=1,targets=9"};
  if (name == "autoattack-rand")
    return {"apgd-ce:" + n + apgd + ",restarts=1,eot=20", "apgd-dlr:" + n + apgd + ",restarts=1,eot=20"};
  throw UsageError("cascade '" + name + "': unknown (valid: autoattack, autoattack-plus, autoattack-rand)");
}

std::unique_ptr<Attack> make_cascade(const std::string& name, const std::string& spec, std::vector<std::unique_ptr<Attack>> stages) {
  return std::make_unique<CascadeAttack>(name, spec, std::move(stages));
}

std::unique_ptr<Attack> make_autoattack(const AttackSpec& spec, const AttackDefaults& defaults) {
  return make_registered_cascade(spec, defaults);
}

}  // namespace questbench
