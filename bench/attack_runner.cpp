#include "bench/attack_runner.h"

#include "common/device.h"
#include "common/error.h"
#include "common/npy.h"
#include "common/seed.h"
#include "reports/format.h"

#include <torch/torch.h>

#include <filesystem>

namespace questbench {
namespace {

std::string attack_cell_key(const AttackCell& c) { return c.model + "|" + c.spec + "|" + c.eps_text; }

std::string file_safe(std::string s) {
  for (auto& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '.') ch = '_';
  return s;
}

const std::vector<Fraction>& eps_for(const Attack& attack, const AttackSweepOptions& o) {
  return attack.capabilities().norm == Norm::Linf ? o.eps_linf : o.eps_l2;
}

torch::Tensor load_targets_file(const std::string& path, int64_t end) {
  auto t = read_npy(path);
  QB_CHECK(t.dim() == 1 && !t.is_floating_point(), path << ": targets must be a 1-d integer array");
  QB_CHECK(t.size(0) >= end, path << ": has " << t.size(0) << " targets for samples up to " << end);
  return t.to(torch::kLong);
}

// What a cell's batches share: the model, its clean result, the targets policy and the output folder.
struct CellContext {
  const Model& model;
  const Dataset& dataset;
  const CleanResult& clean;
  const AttackSweepOptions& options;
  const torch::Tensor& file_targets;
  HostToDevice& to_device;
  ProgressMeter& meter;
  bool spec_in_file_names;  // two specs of one attack in the sweep: saved files are told apart by spec
};

torch::Tensor batch_targets(const CellContext& c, const torch::Tensor& x, const torch::Tensor& y,
                            const std::vector<uint64_t>& seeds, int64_t b, int64_t e) {
  const auto& o = c.options;
  if (o.targeted.empty()) return {};
  if (c.file_targets.defined()) return c.file_targets.slice(0, b, e).to(y.device());
  if (o.targeted == "random") return random_targets(y, c.dataset.num_classes(), seeds);
  torch::NoGradGuard no_grad;
  return least_likely_targets(c.model.logits(x));
}

AttackCell new_cell(const CellContext& c, const Attack& attack, const Fraction& eps) {
  const auto s = attack.settings(eps.value);
  AttackCell cell;
  cell.model = c.model.name();
  cell.attack = parse_attack_spec(attack.spec()).name;
  cell.spec = attack.spec();
  cell.norm = norm_name(attack.capabilities().norm);
  cell.eps = eps.value;
  cell.eps_text = eps.text;
  cell.steps = s.steps;
  cell.alpha = s.alpha;
  cell.restarts = s.restarts;
  cell.random_start = s.random_start;
  cell.early_stop = s.early_stop;
  cell.loss = loss_name(s.loss);
  cell.targeted = c.options.targeted.empty() ? "" : (c.file_targets.defined() ? "file" : c.options.targeted);
  return cell;
}

// One cell: the attack at one eps over the range, every returned point re-checked here.
AttackCell run_attack_cell(const CellContext& c, const Attack& attack, const Fraction& eps) {
  const auto& o = c.options;
  const auto device = c.model.device();
  AttackCell cell = new_cell(c, attack, eps);
  const auto started = Clock::now();
  const std::string label = cell.model + " " + cell.attack + " eps " + eps.text;
  std::vector<torch::Tensor> saved;
  double sum_linf = 0, sum_l2 = 0, zero_grad_samples = 0;
  for_each_batch(o.range, o.batch_size, [&](int64_t b, int64_t e) {
    auto batch = c.dataset.read(b, e);
    AttackBatch in;
    in.x = c.to_device(batch.x);
    in.labels = batch.y.to(device);
    for (int64_t i = b; i < e; ++i) in.seeds.push_back(derive_seed(o.seed, i, cell.attack, eps.value));
    in.targets = batch_targets(c, in.x, in.labels, in.seeds, b, e);
    auto out = attack.run(c.model, in, eps.value, /*check_final=*/false);
    torch::NoGradGuard no_grad;
    // Don't trust the attack: recheck the box and the prediction at the returned point.
    QB_CHECK(torch::isfinite(out.x_adv).all().item<bool>(), cell.attack << " produced NaN/Inf images for model " << cell.model);
    const double box_low = out.x_adv.min().item<double>(), box_high = out.x_adv.max().item<double>();
    QB_CHECK(box_low >= 0 && box_high <= 1, cell.attack << " left the [0,1] box (" << box_low << ", " << box_high << ")");
    auto adv_pred = c.model.logits(out.x_adv).argmax(1);
    const auto first = static_cast<size_t>(b - o.range.begin);
    auto clean_ok = torch::from_blob(const_cast<uint8_t*>(c.clean.correct_mask.data()) + first, {e - b}, torch::kByte)
                        .to(torch::kBool)
                        .to(device);
    auto robust = (clean_ok & ~out.broken & (adv_pred == in.labels)).to(torch::kCPU).to(torch::kByte).contiguous();
    cell.robust_mask.insert(cell.robust_mask.end(), robust.data_ptr<uint8_t>(), robust.data_ptr<uint8_t>() + (e - b));
    auto delta = (out.x_adv - in.x).flatten(1);
    auto linf = delta.abs().amax(1), l2 = delta.norm(2, 1);
    sum_linf += linf.sum().item<double>();
    sum_l2 += l2.sum().item<double>();
    cell.max_linf = std::max(cell.max_linf, linf.max().item<double>());
    cell.max_l2 = std::max(cell.max_l2, l2.max().item<double>());
    cell.gradient_evaluations += out.gradient_evaluations;
    zero_grad_samples += out.zero_gradient_fraction * static_cast<double>(e - b);
    if (!o.save_adv_dir.empty()) saved.push_back(out.x_adv.to(torch::kCPU));
    c.meter.update(label, static_cast<double>(e - o.range.begin) / o.range.size(), e - b);
  });
  const int64_t n = o.range.size();
  int64_t robust_count = 0, clean_correct = 0, broken_clean_correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    robust_count += cell.robust_mask[i];
    clean_correct += c.clean.correct_mask[i];
    broken_clean_correct += c.clean.correct_mask[i] && !cell.robust_mask[i];
  }
  cell.n = n;
  cell.robust_accuracy = static_cast<double>(robust_count) / n;
  cell.success_rate = clean_correct ? static_cast<double>(broken_clean_correct) / clean_correct : 0.0;
  cell.mean_linf = sum_linf / n;
  cell.mean_l2 = sum_l2 / n;
  cell.zero_gradient_fraction = zero_grad_samples / n;
  cell.seconds = seconds_since(started);
  if (!o.save_adv_dir.empty()) {
    const auto name = file_safe(cell.model) + "__" + file_safe(c.spec_in_file_names ? cell.spec : cell.attack) + "__eps-" +
                      file_safe(eps.text) + ".npy";
    write_npy((std::filesystem::path(o.save_adv_dir) / name).string(), torch::cat(saved, 0).contiguous());
  }
  return cell;
}

}  // namespace

std::vector<Fraction> parse_eps_list(const std::string& text, const std::string& option, double max_value) {
  std::vector<Fraction> out;
  for (size_t start = 0;; start = text.find(',', start) + 1) {
    const auto comma = text.find(',', start);
    const auto value = parse_fraction(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start),
                                      option, max_value);
    for (const auto& e : out) QB_USAGE_CHECK(e.value != value.value, option << " '" << value.text << "': listed twice");
    out.push_back(value);
    if (comma == std::string::npos) break;
  }
  return out;
}

std::vector<WorstCaseCell> worst_case_cells(const std::vector<AttackCell>& cells) {
  std::vector<WorstCaseCell> out;
  for (const auto& c : cells) {
    bool seen = false;
    for (const auto& w : out) seen |= w.model == c.model && w.norm == c.norm && w.eps == c.eps;
    if (seen) continue;
    WorstCaseCell w{c.model, c.norm, c.eps, c.eps_text, {}, 0, std::vector<uint8_t>(c.robust_mask.size(), 1)};
    for (const auto& d : cells) {
      if (d.model != c.model || d.norm != c.norm || d.eps != c.eps) continue;
      w.attacks.push_back(d.attack);
      for (size_t i = 0; i < w.robust_mask.size(); ++i) w.robust_mask[i] &= d.robust_mask[i];
    }
    int64_t robust = 0;
    for (auto v : w.robust_mask) robust += v;
    w.robust_accuracy = static_cast<double>(robust) / static_cast<double>(w.robust_mask.size());
    out.push_back(w);
  }
  return out;
}

AttackReport run_attack_sweep(const std::vector<Model>& models, const Dataset& dataset, const AttackSweepOptions& o,
                              Reporter& reporter) {
  check_range(o.range, dataset.size(), "attack sweep");
  std::vector<std::unique_ptr<Attack>> attacks;
  std::vector<std::string> specs;
  int64_t cells_per_model = 0;
  bool names_repeat = false;
  for (const auto& text : o.attacks) {
    attacks.push_back(make_attack(text, o.defaults));
    QB_USAGE_CHECK(o.targeted.empty() || attacks.back()->capabilities().targeted, "attack " << text << " has no targeted mode");
    specs.push_back(attacks.back()->spec());
    for (size_t k = 0; k + 1 < specs.size(); ++k) {
      QB_USAGE_CHECK(specs[k] != specs.back(), "attack " << specs.back() << " listed twice");
      names_repeat |= parse_attack_spec(specs[k]).name == parse_attack_spec(specs.back()).name;
    }
    cells_per_model += static_cast<int64_t>(eps_for(*attacks.back(), o).size());
  }
  torch::Tensor file_targets;
  if (!o.targeted.empty() && o.targeted != "least-likely" && o.targeted != "random")
    file_targets = load_targets_file(o.targeted, o.range.end);
  if (!o.save_adv_dir.empty()) std::filesystem::create_directories(o.save_adv_dir);

  Fingerprint fingerprint(models);
  fingerprint.add("data", dataset.fingerprint()).add("begin", o.range.begin).add("end", o.range.end).add("seed", o.seed);
  fingerprint.add("targeted", o.targeted).add_list("attacks", specs);
  for (const auto& e : o.eps_linf) fingerprint.add("eps_linf", e.text);
  for (const auto& e : o.eps_l2) fingerprint.add("eps_l2", e.text);
  CellJournal<AttackCell> journal(attack_cell_from_json_line, attack_cell_key);
  journal.open(o.journal_path, fingerprint.hex(), o.resume);

  AttackReport report;
  ProgressMeter meter(reporter, "attack", cells_per_model * static_cast<int64_t>(models.size()), o.range.size());
  for (const auto& model : models) {
    HostToDevice to_device(model.device());
    const auto read = [&](int64_t b, int64_t e) { return dataset.read(b, e); };
    const CleanResult clean =
        clean_pass({model}, read, o.range, o.batch_size, dataset.num_classes(), journal, null_reporter()).front();
    const CellContext context{model, dataset, clean, o, file_targets, to_device, meter, names_repeat};
    std::vector<AttackCell> cells;
    for (const auto& attack : attacks) {
      for (const auto& eps : eps_for(*attack, o)) {
        AttackCell key_cell;
        key_cell.model = model.name();
        key_cell.spec = attack->spec();
        key_cell.eps_text = eps.text;
        const auto* kept = journal.cell(attack_cell_key(key_cell));
        cells.push_back(kept ? *kept : run_attack_cell(context, *attack, eps));
        if (!kept) journal.add_cell(cells.back(), attack_cell_to_json_line(cells.back()));
        meter.cell_done();
      }
    }
    auto worst = worst_case_cells(cells);
    report.worst_case.insert(report.worst_case.end(), worst.begin(), worst.end());
    auto checks = check_attack_cells(model.name(), clean, cells);
    if (o.sanity_checks) {
      auto probes = attack_probes(model, dataset, clean, cells, attacks, o);
      checks.insert(checks.end(), probes.begin(), probes.end());
    }
    report.sanity.insert(report.sanity.end(), checks.begin(), checks.end());
    report.clean.push_back(clean);
    report.models.push_back(model.info());
    report.cells.insert(report.cells.end(), cells.begin(), cells.end());
  }
  meter.end();
  return report;
}

}  // namespace questbench
