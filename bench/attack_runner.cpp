#include "bench/attack_runner.h"

#include "common/device.h"
#include "common/error.h"
#include "common/exact_sum.h"
#include "common/files.h"
#include "common/npy.h"
#include "common/seed.h"
#include "reports/format.h"

#include <torch/torch.h>

#include <filesystem>

namespace questbench {
namespace {

// A cascade's cell is journaled after each stage; the key says how many stages it holds.
std::string attack_cell_key(const AttackCell& c) {
  return c.model + "|" + c.spec + "|" + c.eps_text + (c.stages.empty() ? "" : "|stages " + std::to_string(c.stages.size()));
}

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
  cell.rng = rng_mode_name(c.options.rng);
  return cell;
}

// What the runner trusts of an attack's output after checking it itself: the box, finiteness and the model's
// prediction at the returned point.
struct CheckedBatch {
  torch::Tensor still_correct;  // uint8 [n] on the host: not broken, finite, and predicted right at x_adv
  torch::Tensor non_finite;     // uint8 [n] on the host: x_adv or the logits there hold NaN/Inf
  torch::Tensor norms;          // double [n, 2] on the host: Linf and L2 norm of x_adv - x (0 where non-finite)
  int64_t non_finite_count = 0;
  std::vector<torch::Tensor> diagnostics;  // per layer, per-sample attention statistics at x_adv (when asked)
};

// Non-finite: the returned image or the logits there hold NaN or Inf, or the attack noted a NaN or Inf input
// gradient for the sample (attacks note them: LibTorch's sign(NaN) is 0, so such a sample would just stop moving).
// Such a point is never counted robust, and its norms are left out (a NaN image is replaced by the clean one for
// the forward).
CheckedBatch check_batch(const Model& model, const std::string& attack, const AttackBatch& in, const AttackOutput& out, double eps,
                         bool diagnostics) {
  torch::NoGradGuard no_grad;
  const auto image_finite = torch::isfinite(out.x_adv).flatten(1).all(1);
  const auto finite_shape = std::vector<int64_t>{-1, 1, 1, 1};
  const auto x_adv = torch::where(image_finite.view(finite_shape), out.x_adv, in.x);
  const double box_low = x_adv.min().item<double>(), box_high = x_adv.max().item<double>();
  QB_CHECK(box_low >= 0 && box_high <= 1, attack << " left the [0,1] box (" << box_low << ", " << box_high << ")");
  CheckedBatch r;
  const auto logits = model.logits(x_adv, diagnostics ? &r.diagnostics : nullptr);
  auto finite = image_finite.to(logits.device()) & torch::isfinite(logits).all(1);
  // At eps 0 no step can move the point, so its gradient cannot change the outcome.
  if (out.non_finite_gradient.defined() && eps > 0) finite &= ~out.non_finite_gradient.to(finite.device());
  r.still_correct = (~out.broken.to(torch::kBool) & (logits.argmax(1) == in.labels) & finite).to(torch::kCPU).to(torch::kByte).contiguous();
  r.non_finite = (~finite).to(torch::kCPU).to(torch::kByte).contiguous();
  r.non_finite_count = r.non_finite.sum().item<int64_t>();
  auto delta = (x_adv - in.x).flatten(1);
  delta = torch::where(finite.to(delta.device()).view({-1, 1}), delta, torch::zeros_like(delta));
  r.norms = torch::stack({delta.abs().amax(1), delta.norm(2, 1)}, 1).to(torch::kCPU).to(torch::kDouble).contiguous();
  return r;
}

// The attack's batch: labels, per-sample seeds keyed by the attack's name, the run's randomness mode.
AttackBatch attack_batch(const CellContext& c, const Batch& batch, const std::string& attack_name, const Fraction& eps) {
  const auto& o = c.options;
  AttackBatch in;
  in.x = c.to_device(batch.x);
  in.labels = batch.y.to(c.model.device());
  for (auto i : batch.ids) in.seeds.push_back(derive_seed(o.seed, i, attack_name, eps.value));
  in.rng = o.rng;
  in.run_seed = o.seed;
  return in;
}

std::string saved_images_path(const CellContext& c, const AttackCell& cell, const Fraction& eps) {
  const auto name = file_safe(cell.model) + "__" + file_safe(c.spec_in_file_names ? cell.spec : cell.attack) + "__eps-" +
                    file_safe(eps.text) + ".npy";
  return (std::filesystem::path(c.options.save_adv_dir) / name).string();
}

// Robust accuracy, success rate and mean norms of a cell from its robust mask and its summed norms.
void finish_cell(AttackCell& cell, const CleanResult& clean, double sum_linf, double sum_l2) {
  const auto n = static_cast<int64_t>(cell.robust_mask.size());
  int64_t robust_count = 0, clean_correct = 0, broken_clean_correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    robust_count += cell.robust_mask[i];
    clean_correct += clean.correct_mask[i];
    broken_clean_correct += clean.correct_mask[i] && !cell.robust_mask[i];
  }
  cell.n = n;
  cell.robust_accuracy = static_cast<double>(robust_count) / n;
  cell.success_rate = clean_correct ? static_cast<double>(broken_clean_correct) / clean_correct : 0.0;
  cell.sum_linf = sum_linf;
  cell.sum_l2 = sum_l2;
  cell.mean_linf = sum_linf / n;
  cell.mean_l2 = sum_l2 / n;
}

// One cell: the attack at one eps over the range, every returned point re-checked here.
AttackCell run_attack_cell(const CellContext& c, const Attack& attack, const Fraction& eps) {
  const auto& o = c.options;
  AttackCell cell = new_cell(c, attack, eps);
  const auto started = Clock::now();
  const std::string label = cell.model + " " + cell.attack + " eps " + eps.text;
  std::vector<torch::Tensor> saved;
  double sum_linf = 0, sum_l2 = 0, zero_grad_samples = 0;
  for_each_batch(o.range, o.batch_size, [&](int64_t b, int64_t e) {
    auto batch = c.dataset.read(b, e);
    if (batch.ids.empty())
      for (int64_t i = b; i < e; ++i) batch.ids.push_back(i);
    AttackBatch in = attack_batch(c, batch, cell.attack, eps);
    in.targets = batch_targets(c, in.x, in.labels, in.seeds, b, e);
    auto out = attack.run(c.model, in, eps.value, /*check_final=*/false);
    const auto checked = check_batch(c.model, cell.attack, in, out, eps.value, o.diagnostics);
    if (o.diagnostics) append_diagnostics_rows(cell.diagnostics, checked.diagnostics, c.model.attention_logits_per_sample());
    const auto* ok = checked.still_correct.data_ptr<uint8_t>();
    const auto* nv = checked.norms.data_ptr<double>();
    for (int64_t i = 0; i < e - b; ++i) {
      // Per-sample values added in sample order: the sums do not depend on the batch size.
      cell.robust_mask.push_back(c.clean.correct_mask[static_cast<size_t>(b - o.range.begin + i)] && ok[i]);
      sum_linf += exact_sum_term(nv[2 * i]);
      sum_l2 += exact_sum_term(nv[2 * i + 1]);
      cell.max_linf = std::max(cell.max_linf, nv[2 * i]);
      cell.max_l2 = std::max(cell.max_l2, nv[2 * i + 1]);
    }
    cell.non_finite += checked.non_finite_count;
    cell.gradient_evaluations += out.gradient_evaluations;
    cell.forwards += out.forwards + (e - b);  // the re-check is a forward pass too
    cell.backwards += out.backwards;
    zero_grad_samples += static_cast<double>(std::llround(out.zero_gradient_fraction * static_cast<double>(e - b)));
    if (!o.save_adv_dir.empty()) saved.push_back(out.x_adv.to(torch::kCPU));
    c.meter.update(label, static_cast<double>(e - o.range.begin) / o.range.size(), e - b);
  });
  finish_cell(cell, c.clean, sum_linf, sum_l2);
  cell.zero_gradient_fraction = zero_grad_samples / static_cast<double>(cell.n);
  cell.seconds = seconds_since(started);
  if (!o.save_adv_dir.empty()) write_npy(saved_images_path(c, cell, eps), torch::cat(saved, 0).contiguous());
  return cell;
}

// Reads the samples `ids` (dataset indices) as one batch.
Batch read_samples(const Dataset& dataset, const std::vector<int64_t>& ids) {
  auto batch = dataset.read_indices(ids);
  batch.ids = ids;
  return batch;
}

// The batches a cascade stage attacks: the points of the range that are still robust (sample indices). With
// per-sample streams (the default) each batch of the run keeps its own survivors as one batch, so a stage
// sees the same batches however the run is split into shards or ranks (which are whole batches of it), and
// the adversarial points are bit for bit those of the unsplit run. The original's draws depend on the batch
// as a whole, so --rng original groups all survivors into full batches, as run_standard_evaluation does.
std::vector<std::vector<int64_t>> stage_batches(const std::vector<uint8_t>& robust, const AttackSweepOptions& o) {
  std::vector<std::vector<int64_t>> batches;
  if (o.rng == RngMode::Original) {
    std::vector<int64_t> survivors;
    for (int64_t i = 0; i < o.range.size(); ++i)
      if (robust[static_cast<size_t>(i)]) survivors.push_back(o.range.begin + i);
    for (size_t first = 0; first < survivors.size(); first += static_cast<size_t>(o.batch_size))
      batches.emplace_back(survivors.begin() + static_cast<std::ptrdiff_t>(first),
                           survivors.begin() + static_cast<std::ptrdiff_t>(std::min(survivors.size(), first + o.batch_size)));
    return batches;
  }
  for_each_batch(o.range, o.batch_size, [&](int64_t b, int64_t e) {
    std::vector<int64_t> ids;
    for (int64_t i = b; i < e; ++i)
      if (robust[static_cast<size_t>(i - o.range.begin)]) ids.push_back(i);
    if (!ids.empty()) batches.push_back(std::move(ids));
  });
  return batches;
}

// A cascade cell, stage-major as the original runs it: stage k attacks the points of the whole range that stages
// 1..k-1 left robust, in the batches of stage_batches. The cell is journaled after every stage, so an interrupted
// run resumes at the first unfinished stage with the same survivors.
AttackCell run_cascade_cell(const CellContext& c, const Attack& cascade, const Fraction& eps, CellJournal<AttackCell>& journal) {
  const auto& o = c.options;
  const auto stages = cascade.stages();
  const int64_t n = o.range.size();
  AttackCell cell = new_cell(c, cascade, eps);
  torch::Tensor images;  // the cell's adversarial images, kept only to be saved
  const auto partial_images = [&](size_t done) { return saved_images_path(c, cell, eps) + ".stage-" + std::to_string(done); };
  // The furthest journaled stage.
  for (size_t done = stages.size() - 1; done >= 1; --done) {
    AttackCell key = cell;
    key.stages.resize(done);
    if (const auto* kept = journal.cell(attack_cell_key(key))) {
      cell = *kept;
      if (!o.save_adv_dir.empty()) {
        QB_CHECK(file_exists(partial_images(done)), "resume: " << partial_images(done) << " (the images of the finished stages) is missing");
        images = read_npy(partial_images(done));
      }
      break;
    }
  }
  // Points no stage breaks keep their clean image (as the original returns them).
  if (!o.save_adv_dir.empty() && !images.defined()) images = c.dataset.read(o.range.begin, o.range.end).x.clone();
  std::vector<uint8_t> robust = cell.stages.empty() ? c.clean.correct_mask : cell.stages.back().robust_mask;
  // The final adversarial examples' diagnostics: a broken point's row comes from the stage that broke it, every
  // other point keeps its clean image and so its clean row.
  if (o.diagnostics && cell.stages.empty()) cell.diagnostics = c.clean.diagnostics;
  double zero_grad_samples = cell.zero_gradient_fraction * static_cast<double>(n);
  for (size_t k = cell.stages.size(); k < stages.size(); ++k) {
    const Attack& stage_attack = *stages[k];
    const auto stage_name = parse_attack_spec(stage_attack.spec()).name;
    AttackStage stage;
    stage.spec = stage_attack.spec();
    const auto started = Clock::now();
    const auto batches = stage_batches(robust, o);
    for (const auto& ids : batches) stage.attacked += static_cast<int64_t>(ids.size());
    const std::string label = cell.model + " " + cell.attack + " eps " + eps.text + " " + stage_name;
    int64_t attacked_so_far = 0;
    for (const auto& ids : batches) {
      const auto batch = read_samples(c.dataset, ids);
      const AttackBatch in = attack_batch(c, batch, stage_name, eps);
      auto out = stage_attack.run(c.model, in, eps.value, /*check_final=*/false);
      const auto checked = check_batch(c.model, stage_name, in, out, eps.value, o.diagnostics);
      const auto* ok = checked.still_correct.data_ptr<uint8_t>();
      const auto* nv = checked.norms.data_ptr<double>();
      const auto* bad = checked.non_finite.data_ptr<uint8_t>();
      stage.non_finite += checked.non_finite_count;
      std::vector<int64_t> broken_rows, broken_positions;
      for (size_t j = 0; j < ids.size(); ++j) {
        if (ok[j]) continue;
        robust[static_cast<size_t>(ids[j] - o.range.begin)] = 0;
        if (bad[j]) continue;  // no image, norms or diagnostics: a non-finite point keeps its clean ones
        broken_positions.push_back(ids[j] - o.range.begin);
        stage.sum_linf += exact_sum_term(nv[2 * j]);
        stage.sum_l2 += exact_sum_term(nv[2 * j + 1]);
        stage.max_linf = std::max(stage.max_linf, nv[2 * j]);
        stage.max_l2 = std::max(stage.max_l2, nv[2 * j + 1]);
        broken_rows.push_back(static_cast<int64_t>(j));
      }
      if (o.diagnostics) set_diagnostics_rows(cell.diagnostics, checked.diagnostics, broken_rows, broken_positions);
      if (images.defined() && !broken_rows.empty()) {
        auto rows = torch::tensor(broken_rows, torch::kLong);
        auto targets = torch::tensor(ids, torch::kLong).index_select(0, rows) - o.range.begin;
        images.index_copy_(0, targets, out.x_adv.to(torch::kCPU).index_select(0, rows));
      }
      stage.forwards += out.forwards + static_cast<int64_t>(ids.size());
      stage.backwards += out.backwards;
      cell.gradient_evaluations += out.gradient_evaluations;
      if (k == 0) zero_grad_samples += static_cast<double>(std::llround(out.zero_gradient_fraction * static_cast<double>(ids.size())));
      attacked_so_far += static_cast<int64_t>(ids.size());
      c.meter.update(label, (static_cast<double>(k) + static_cast<double>(attacked_so_far) / stage.attacked) / stages.size(),
                     static_cast<int64_t>(ids.size()));
    }
    int64_t robust_count = 0;
    for (auto v : robust) robust_count += v;
    stage.robust_accuracy = static_cast<double>(robust_count) / static_cast<double>(n);
    stage.robust_mask = robust;
    stage.seconds = seconds_since(started);
    cell.stages.push_back(stage);
    cell.zero_gradient_fraction = zero_grad_samples / static_cast<double>(n);
    if (k + 1 < stages.size()) {
      // The journaled partial cell carries the mask so far (its stages' bits are read back at the cell's n).
      cell.n = n;
      cell.robust_mask = robust;
      if (images.defined()) write_npy(partial_images(cell.stages.size()), images);
      journal.add_cell(cell, attack_cell_to_json_line(cell));
    }
  }
  // The cell's totals from its stages.
  cell.robust_mask = robust;
  cell.forwards = cell.backwards = 0;
  double sum_linf = 0, sum_l2 = 0;
  cell.max_linf = cell.max_l2 = 0;
  cell.seconds = 0;
  cell.non_finite = 0;
  for (const auto& s : cell.stages) {
    cell.non_finite += s.non_finite;
    cell.forwards += s.forwards;
    cell.backwards += s.backwards;
    sum_linf += s.sum_linf;
    sum_l2 += s.sum_l2;
    cell.max_linf = std::max(cell.max_linf, s.max_linf);
    cell.max_l2 = std::max(cell.max_l2, s.max_l2);
    cell.seconds += s.seconds;
  }
  finish_cell(cell, c.clean, sum_linf, sum_l2);
  if (images.defined()) {
    write_npy(saved_images_path(c, cell, eps), images);
    for (size_t done = 1; done < stages.size(); ++done) std::filesystem::remove(partial_images(done));
  }
  return cell;
}

// What a sweep's results depend on besides its models and sample range.
Fingerprint& describe_sweep(Fingerprint& fingerprint, const Dataset& dataset, const AttackSweepOptions& o) {
  std::vector<std::string> specs;
  for (const auto& text : o.attacks) specs.push_back(make_attack(text, o.defaults)->spec());
  fingerprint.add("data", dataset.fingerprint()).add("seed", o.seed);
  fingerprint.add("targeted", o.targeted).add("rng", rng_mode_name(o.rng)).add_list("attacks", specs);
  for (const auto& e : o.eps_linf) fingerprint.add("eps_linf", e.text);
  for (const auto& e : o.eps_l2) fingerprint.add("eps_l2", e.text);
  if (o.diagnostics) fingerprint.add("diagnostics", 1);  // only when on: the fingerprints of runs without it stay as they were
  return fingerprint;
}

// The probes over the plan's first samples, run by the shard that starts the plan. A shard smaller than the
// probes' sample count computes the clean pass and the doubling probe's reference cell over those samples
// itself, with the single run's batches, so the checks equal an unsplit run's.
std::vector<SanityCheck> first_shard_probes(const CellContext& c, const std::vector<AttackCell>& cells,
                                            const std::vector<std::unique_ptr<Attack>>& attacks) {
  const auto& o = c.options;
  const SampleRange plan = o.plan_range();
  const int64_t needed = probe_samples(plan);
  if (o.range.size() >= needed) return attack_probes(c.model, c.dataset, c.clean, cells, attacks, o);
  AttackSweepOptions prefix = o;
  prefix.range = {plan.begin, plan.begin + needed};
  prefix.plan = {};
  prefix.save_adv_dir.clear();
  prefix.journal_path.clear();
  prefix.diagnostics = false;  // the probes read robust accuracy only
  const auto read = [&](int64_t b, int64_t e) { return c.dataset.read(b, e); };
  const CleanResult clean =
      evaluate_models({c.model}, read, prefix.range, o.batch_size, c.dataset.num_classes(), {0}, null_reporter()).front();
  ProgressMeter meter(null_reporter(), "probe", 1, needed);
  const CellContext context{c.model, c.dataset, clean, prefix, c.file_targets, c.to_device, meter, c.spec_in_file_names};
  std::vector<AttackCell> prefix_cells;
  const Attack* iterative = doubling_probe_attack(attacks);
  if (const auto* reference = doubling_probe_cell(iterative, cells))
    prefix_cells.push_back(run_attack_cell(context, *iterative, Fraction{reference->eps, reference->eps_text}));
  return attack_probes(c.model, c.dataset, clean, prefix_cells, attacks, prefix);
}

}  // namespace

std::string attack_plan_fingerprint(const std::vector<Model>& models, const Dataset& dataset, const AttackSweepOptions& o) {
  Fingerprint fingerprint(models);
  const SampleRange plan = o.plan_range();
  describe_sweep(fingerprint, dataset, o).add("plan_begin", plan.begin).add("plan_end", plan.end).add("batch_size", o.batch_size);
  fingerprint.add("sanity_checks", o.sanity_checks);
  return fingerprint.hex();
}

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
  if (o.diagnostics) check_diagnostics_models(models);
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
  // AutoAttack's class-count check, before anything runs: DLR losses need 3 classes (the targeted one 4), a
  // targeted attack over k target classes needs k + 1.
  for (const auto& model : models) {
    const int64_t classes = model.info().num_classes > 0 ? model.info().num_classes : dataset.num_classes();
    for (const auto& attack : attacks)
      QB_USAGE_CHECK(classes >= attack->capabilities().min_classes,
                     "attack " << attack->spec() << ": needs at least " << attack->capabilities().min_classes << " classes; model '"
                               << model.name() << "' has " << classes);
  }
  torch::Tensor file_targets;
  if (!o.targeted.empty() && o.targeted != "least-likely" && o.targeted != "random")
    file_targets = load_targets_file(o.targeted, o.range.end);
  if (!o.save_adv_dir.empty()) std::filesystem::create_directories(o.save_adv_dir);

  Fingerprint fingerprint(models);
  describe_sweep(fingerprint, dataset, o).add("begin", o.range.begin).add("end", o.range.end);
  CellJournal<AttackCell> journal(attack_cell_from_json_line, attack_cell_key);
  journal.open(o.journal_path, fingerprint.hex(), o.resume);

  AttackReport report;
  ProgressMeter meter(reporter, "attack", cells_per_model * static_cast<int64_t>(models.size()), o.range.size());
  for (const auto& model : models) {
    HostToDevice to_device(model.device());
    const auto read = [&](int64_t b, int64_t e) { return dataset.read(b, e); };
    const CleanResult clean = clean_pass({model}, read, o.range, o.batch_size, dataset.num_classes(), journal, null_reporter(),
                                         nullptr, o.diagnostics)
                                  .front();
    const CellContext context{model, dataset, clean, o, file_targets, to_device, meter, names_repeat};
    std::vector<AttackCell> cells;
    for (const auto& attack : attacks) {
      for (const auto& eps : eps_for(*attack, o)) {
        AttackCell key_cell;
        key_cell.model = model.name();
        key_cell.spec = attack->spec();
        key_cell.eps_text = eps.text;
        key_cell.stages.resize(attack->stages().size());
        const auto* kept = journal.cell(attack_cell_key(key_cell));
        cells.push_back(kept                         ? *kept
                        : attack->stages().empty() ? run_attack_cell(context, *attack, eps)
                                                   : run_cascade_cell(context, *attack, eps, journal));
        if (!kept) journal.add_cell(cells.back(), attack_cell_to_json_line(cells.back()));
        meter.cell_done();
      }
    }
    auto worst = worst_case_cells(cells);
    report.worst_case.insert(report.worst_case.end(), worst.begin(), worst.end());
    auto checks = check_attack_cells(model.name(), clean, cells);
    if (o.sanity_checks && o.range.begin == o.plan_range().begin) {
      auto probes = first_shard_probes(context, cells, attacks);
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
