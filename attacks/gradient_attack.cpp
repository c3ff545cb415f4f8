#include "attacks/gradient_attack.h"

#include "common/error.h"


namespace questbench {
namespace {

class GradientAttack final : public Attack {
 public:
  GradientAttack(const AttackInfo& info, GradientOptionSet set, GradientOptions options)
      : info_(info), set_(set), o_(std::move(options)) {}

  std::string spec() const override {
    std::vector<std::pair<std::string, std::string>> kv;
    if (set_.steps) kv.emplace_back("steps", std::to_string(o_.steps));
    if (set_.alpha) kv.emplace_back("alpha", o_.alpha.text);
    if (set_.rel_alpha) kv.emplace_back("rel_alpha", o_.alpha.text);
    if (set_.restarts) kv.emplace_back("restarts", std::to_string(o_.restarts));
    if (set_.random_start) kv.emplace_back("random_start", o_.random_start ? "1" : "0");
    kv.emplace_back("loss", loss_name(o_.loss));
    kv.emplace_back("early_stop", o_.early_stop ? "1" : "0");
    return format_attack_spec(info_.name, kv);
  }

  const AttackCapabilities& capabilities() const override { return info_.capabilities; }

  AttackSettings settings(double eps) const override {
    // A single-step attack steps the whole radius.
    const double alpha = !set_.steps ? eps : o_.alpha_relative ? o_.alpha.value * eps : o_.alpha.value;
    return {o_.steps, o_.restarts, alpha, o_.random_start, o_.early_stop, o_.loss};
  }

  AttackOutput run(const Model& model, const AttackBatch& batch, double eps, bool check_final) const override {
    const auto s = settings(eps);
    const AttackConfig config{eps,           s.alpha, s.steps, s.random_start, s.restarts, s.loss, s.early_stop,
                              batch.targets.defined(), check_final};
    return info_.run(model, batch.x, batch.labels, batch.targets, config, batch.seeds);
  }

  std::unique_ptr<Attack> with_doubled_iterations() const override {
    if (!info_.capabilities.iterative) return nullptr;
    auto doubled = o_;
    doubled.steps *= 2;
    return std::make_unique<GradientAttack>(info_, set_, doubled);
  }

 private:
  const AttackInfo& info_;
  GradientOptionSet set_;
  GradientOptions o_;
};

}  // namespace

std::unique_ptr<Attack> make_gradient_attack(const AttackInfo& info, const GradientOptionSet& set, const AttackSpec& spec,
                                             const AttackDefaults& d) {
  SpecReader read(spec);
  GradientOptions o;
  if (set.steps) o.steps = read.integer("steps", d.steps, 1);
  if (set.alpha) {
    o.alpha = read.fraction("alpha", d.alpha_linf, 1.0);
    QB_USAGE_CHECK(o.alpha.value > 0, info.name << " option alpha must be > 0");
  }
  if (set.rel_alpha) {
    o.alpha = read.fraction("rel_alpha", d.rel_alpha_l2, 1e4);
    o.alpha_relative = true;
    QB_USAGE_CHECK(o.alpha.value > 0, info.name << " option rel_alpha must be > 0");
  }
  if (set.restarts) o.restarts = read.integer("restarts", d.restarts, 1);
  if (set.random_start) o.random_start = read.flag("random_start", d.random_start);
  o.loss = parse_loss(read.choice("loss", loss_name(d.loss), {"ce", "margin", "cw"}));
  o.early_stop = read.flag("early_stop", d.early_stop);
  read.finish();
  if (o.alpha.text.empty()) o.alpha.text = shortest_decimal(o.alpha.value);
  return std::make_unique<GradientAttack>(info, set, o);
}

}  // namespace questbench
