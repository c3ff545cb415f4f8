#include "bench/attack_runner.h"

#include "bench/evaluate.h"
#include "bench/journal.h"
#include "common/device.h"
#include "common/error.h"
#include "common/files.h"
#include "common/npy.h"
#include "common/sha256.h"
#include "reports/format.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace questbench {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

double parse_number(const std::string& text, const std::string& option, const std::string& item) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw UsageError(option + " '" + item + "': not a number or fraction like 8/255");
}

std::string cell_key(const std::string& model, const std::string& attack, const std::string& eps_text) {
  return model + "|" + attack + "|" + eps_text;
}

std::string file_safe(std::string s) {
  for (auto& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '.') ch = '_';
  return s;
}

// Everything that determines the results; a journal made under another fingerprint is refused.
std::string run_fingerprint(const std::vector<Model>& models, const Dataset& dataset, const AttackSweepOptions& o) {
  std::ostringstream s;
  for (const auto& m : models) s << m.name() << ":" << m.info().sha256 << ":" << m.info().attention << ";";
  s << dataset.fingerprint() << ";n=" << o.count << ";seed=" << o.seed << ";steps=" << o.steps << ";alpha=" << o.alpha_linf
    << ";rel_alpha_l2=" << o.rel_alpha_l2 << ";restarts=" << o.restarts << ";rs=" << o.random_start << ";es=" << o.early_stop
    << ";loss=" << loss_name(o.loss) << ";targeted=" << o.targeted << ";attacks=";
  for (const auto& a : o.attacks) s << a << ",";
  for (const auto& e : o.eps_linf) s << e.text << ",";
  s << ";";
  for (const auto& e : o.eps_l2) s << e.text << ",";
  Sha256 h;
  const auto text = s.str();
  h.update(text.data(), text.size());
  return h.hex_digest();
}

struct Journal {
  std::map<std::string, CleanResult> clean;
  std::map<std::string, AttackCell> cells;
  RunJournal file;

  void open(const std::string& path, const std::string& fingerprint, bool resume) {
    file.open(path, fingerprint, resume, [&](const std::string& line) {
      if (line.rfind("{\"clean\"", 0) == 0) {
        auto [model, result] = clean_result_from_json_line(line, path);
        clean[model] = result;
      } else {
        auto cell = attack_cell_from_json_line(line, path);
        cells[cell_key(cell.model, cell.attack, cell.eps_text)] = cell;
      }
    });
  }
  void append(const std::string& line) { file.append(line); }
};

torch::Tensor load_targets_file(const std::string& path, int64_t count) {
  auto t = read_npy(path);
  QB_CHECK(t.dim() == 1 && !t.is_floating_point(), path << ": targets must be a 1-d integer array");
  QB_CHECK(t.size(0) >= count, path << ": has " << t.size(0) << " targets for " << count << " samples");
  return t.to(torch::kLong);
}

}  // namespace

uint64_t attack_sample_seed(uint64_t run_seed, int64_t sample, const std::string& attack, double eps) {
  uint64_t h = 1469598103934665603ULL ^ run_seed;
  auto mix_bytes = [&](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ULL;
  };
  mix_bytes(&sample, sizeof sample);
  mix_bytes(attack.data(), attack.size());
  mix_bytes(&eps, sizeof eps);
  return h;
}

std::vector<EpsValue> parse_eps_list(const std::string& text, const std::string& option, double max_value) {
  std::vector<EpsValue> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    QB_USAGE_CHECK(!item.empty(), option << " '" << text << "': empty item");
    double value;
    const auto slash = item.find('/');
    if (slash != std::string::npos) {
      const double num = parse_number(trim(item.substr(0, slash)), option, item);
      const double den = parse_number(trim(item.substr(slash + 1)), option, item);
      QB_USAGE_CHECK(den != 0, option << " '" << item << "': division by zero");
      value = num / den;
    } else {
      value = parse_number(item, option, item);
    }
    QB_USAGE_CHECK(std::isfinite(value), option << " '" << item << "': not a finite number");
    QB_USAGE_CHECK(value >= 0, option << " '" << item << "': must be >= 0");
    QB_USAGE_CHECK(value <= max_value, option << " '" << item << "' = " << value << " exceeds " << max_value
                                              << (max_value == 1.0 ? " (inputs are in [0,1]; did you mean " + item + "/255?)" : ""));
    for (const auto& e : out) QB_USAGE_CHECK(e.value != value, option << " '" << item << "': listed twice");
    out.push_back({value, item});
  }
  QB_USAGE_CHECK(!out.empty(), option << ": no values given");
  return out;
}

std::vector<SanityCheck> check_attack_cells(const std::string& model, const CleanResult& clean,
                                            const std::vector<AttackCell>& cells) {
  std::vector<SanityCheck> checks;
  auto add = [&](const std::string& name, bool passed, const std::string& message) {
    checks.push_back({name, model, passed ? "passed" : "warned", message});
  };
  char buf[400];
  // 1. eps = 0 leaves accuracy at the clean accuracy.
  std::string eps0_problems;
  int eps0_cells = 0;
  for (const auto& c : cells) {
    if (c.eps != 0) continue;
    ++eps0_cells;
    if (c.robust_mask != clean.correct_mask) {
      std::snprintf(buf, sizeof buf, "%s at eps 0: robust accuracy %.4f vs clean %.4f; ", c.attack.c_str(), c.robust_accuracy,
                    clean.accuracy);
      eps0_problems += buf;
    }
  }
  if (eps0_cells == 0) {
    checks.push_back({"eps0_equals_clean", model, "not_run", "no eps = 0 in the sweep"});
  } else {
    add("eps0_equals_clean", eps0_problems.empty(),
        eps0_problems.empty() ? "every attack at eps 0 reproduces the clean accuracy per sample" : eps0_problems);
  }
  // 2. Perturbations within eps.
  std::string bound_problems;
  for (const auto& c : cells) {
    const double measured = c.norm == "Linf" ? c.max_linf : c.max_l2;
    if (measured > c.eps * (1 + 1e-6) + 1e-6) {
      std::snprintf(buf, sizeof buf, "%s eps %s: max %s norm %.8g exceeds eps; ", c.attack.c_str(), c.eps_text.c_str(),
                    c.norm.c_str(), measured);
      bound_problems += buf;
    }
  }
  add("perturbation_within_eps", bound_problems.empty(),
      bound_problems.empty() ? "max perturbation norm <= eps in every cell" : bound_problems);
  // 3. Per-sample robustness is monotone in eps (a sample broken at eps stays broken at larger eps).
  std::map<std::string, std::vector<const AttackCell*>> by_attack;
  for (const auto& c : cells) by_attack[c.attack].push_back(&c);
  std::string monotone_problems;
  for (auto& [attack, list] : by_attack) {
    std::sort(list.begin(), list.end(), [](const AttackCell* a, const AttackCell* b) { return a->eps < b->eps; });
    for (size_t k = 1; k < list.size(); ++k) {
      int64_t violations = 0;
      for (size_t i = 0; i < list[k]->robust_mask.size(); ++i) violations += list[k]->robust_mask[i] && !list[k - 1]->robust_mask[i];
      if (violations) {
        std::snprintf(buf, sizeof buf, "%s: %lld samples robust at eps %s but broken at eps %s; ", attack.c_str(),
                      static_cast<long long>(violations), list[k]->eps_text.c_str(), list[k - 1]->eps_text.c_str());
        monotone_problems += buf;
      }
    }
  }
  add("monotone_in_eps", monotone_problems.empty(),
      monotone_problems.empty() ? "per-sample robustness never increases with eps" : monotone_problems);
  // 4. PGD is never weaker than FGSM per sample.
  std::string pgd_problems;
  int compared = 0;
  for (const auto& f : cells) {
    if (f.attack != "fgsm") continue;
    for (const auto& p : cells) {
      if (p.attack != "pgd" || p.eps != f.eps) continue;
      ++compared;
      int64_t weaker = 0;
      for (size_t i = 0; i < p.robust_mask.size(); ++i) weaker += p.robust_mask[i] && !f.robust_mask[i];
      if (weaker) {
        std::snprintf(buf, sizeof buf, "eps %s: %lld samples broken by FGSM survive PGD; ", p.eps_text.c_str(),
                      static_cast<long long>(weaker));
        pgd_problems += buf;
      }
    }
  }
  if (compared == 0) {
    checks.push_back({"pgd_not_weaker_than_fgsm", model, "not_run", "needs fgsm and pgd at a common eps"});
  } else {
    add("pgd_not_weaker_than_fgsm", pgd_problems.empty(),
        pgd_problems.empty() ? "every sample broken by FGSM is broken by PGD at the same eps" : pgd_problems);
  }
  // 5. No all-zero input gradients (gradient masking, quantization, saturation).
  std::string zero_problems;
  for (const auto& c : cells) {
    if (c.eps > 0 && c.zero_gradient_fraction > 0) {
      std::snprintf(buf, sizeof buf, "%s eps %s: %.1f%% of samples have an all-zero input gradient; ", c.attack.c_str(),
                    c.eps_text.c_str(), 100 * c.zero_gradient_fraction);
      zero_problems += buf;
    }
  }
  add("no_zero_gradients", zero_problems.empty(),
      zero_problems.empty() ? "no sample had an all-zero input gradient" : zero_problems + "(masked gradients?)");
  return checks;
}

AttackReport run_attack_sweep(const std::vector<Model>& models, const Dataset& dataset, const AttackSweepOptions& o,
                              const std::function<void(const std::string&)>& progress) {
  QB_CHECK(o.count > 0 && o.count <= dataset.size(), "attack sweep: " << o.count << " samples requested, the data set has " << dataset.size());
  for (const auto& a : o.attacks) {
    const auto& info = find_attack(a);
    QB_USAGE_CHECK(o.targeted.empty() || info.supports_targeted, "attack " << a << " has no targeted mode");
  }
  torch::Tensor file_targets;
  if (!o.targeted.empty() && o.targeted != "least-likely" && o.targeted != "random")
    file_targets = load_targets_file(o.targeted, o.count);
  if (!o.save_adv_dir.empty()) std::filesystem::create_directories(o.save_adv_dir);

  AttackReport report;
  Journal journal;
  journal.open(o.journal_path, run_fingerprint(models, dataset, o), o.resume);

  int64_t total_cells = 0, done_cells = 0;
  for (const auto& a : o.attacks) total_cells += static_cast<int64_t>((find_attack(a).norm == Norm::Linf ? o.eps_linf : o.eps_l2).size());
  total_cells *= static_cast<int64_t>(models.size());
  const auto started = Clock::now();
  int64_t images_done = 0;

  for (const auto& model : models) {
    const auto device = model.device();
    HostToDevice to_device(device);
    // Clean pass (also the reference predictions for robust accuracy).
    CleanResult clean;
    if (journal.clean.count(model.name())) {
      clean = journal.clean[model.name()];
    } else {
      torch::NoGradGuard no_grad;
      for (int64_t b = 0; b < o.count; b += o.batch_size) {
        auto batch = dataset.read(b, std::min(o.count, b + o.batch_size));
        accumulate_clean(clean, model.logits(to_device(batch.x)), batch.y, dataset.num_classes());
      }
      finalize_clean(clean);
      journal.append(clean_result_to_json_line(model.name(), clean));
    }
    std::vector<AttackCell> cells;
    for (const auto& attack : o.attacks) {
      const auto& info = find_attack(attack);
      for (const auto& eps : info.norm == Norm::Linf ? o.eps_linf : o.eps_l2) {
        const auto key = cell_key(model.name(), attack, eps.text);
        if (journal.cells.count(key)) {
          cells.push_back(journal.cells[key]);
          ++done_cells;
          continue;
        }
        AttackConfig config;
        config.eps = eps.value;
        config.steps = info.iterative ? o.steps : 1;
        config.alpha = info.norm == Norm::Linf ? (info.iterative ? o.alpha_linf : eps.value) : o.rel_alpha_l2 * eps.value;
        config.restarts = info.iterative ? o.restarts : 1;
        config.random_start = info.iterative && o.random_start;
        config.early_stop = o.early_stop;
        config.loss = o.loss;
        config.targeted = !o.targeted.empty();
        config.check_final = false;  // the runner re-checks every returned point below
        AttackCell cell;
        cell.model = model.name();
        cell.attack = attack;
        cell.norm = norm_name(info.norm);
        cell.eps = eps.value;
        cell.eps_text = eps.text;
        cell.steps = config.steps;
        cell.alpha = config.alpha;
        cell.restarts = config.restarts;
        cell.random_start = config.random_start;
        cell.early_stop = config.early_stop;
        cell.loss = loss_name(config.loss);
        cell.targeted = o.targeted.empty() ? "" : (file_targets.defined() ? "file" : o.targeted);
        const auto cell_started = Clock::now();
        std::vector<torch::Tensor> saved;
        double sum_linf = 0, sum_l2 = 0, zero_grad_samples = 0;
        for (int64_t b = 0; b < o.count; b += o.batch_size) {
          const int64_t e = std::min(o.count, b + o.batch_size);
          auto batch = dataset.read(b, e);
          auto x = to_device(batch.x), y = batch.y.to(device);
          std::vector<uint64_t> seeds;
          for (int64_t i = b; i < e; ++i) seeds.push_back(attack_sample_seed(o.seed, i, attack, eps.value));
          torch::Tensor targets;
          if (config.targeted) {
            if (file_targets.defined()) {
              targets = file_targets.slice(0, b, e).to(device);
            } else if (o.targeted == "random") {
              targets = random_targets(y, dataset.num_classes(), seeds);
            } else {
              torch::NoGradGuard no_grad;
              targets = least_likely_targets(model.logits(x));
            }
          }
          auto out = info.run(model, x, y, targets, config, seeds);
          torch::NoGradGuard no_grad;
          // Don't trust the attack: recheck the box and the prediction at the returned point.
          QB_CHECK(torch::isfinite(out.x_adv).all().item<bool>(), attack << " produced NaN/Inf images for model " << model.name());
          auto adv_pred = model.logits(out.x_adv).argmax(1);
          auto clean_ok = torch::from_blob(clean.correct_mask.data() + b, {e - b}, torch::kByte).to(torch::kBool).to(device);
          auto robust = clean_ok & ~out.broken & (adv_pred == y);
          auto delta = (out.x_adv - x).flatten(1);
          auto linf = delta.abs().amax(1), l2 = delta.norm(2, 1);
          sum_linf += linf.sum().item<double>();
          sum_l2 += l2.sum().item<double>();
          cell.max_linf = std::max(cell.max_linf, linf.max().item<double>());
          cell.max_l2 = std::max(cell.max_l2, l2.max().item<double>());
          const double box_low = out.x_adv.min().item<double>(), box_high = out.x_adv.max().item<double>();
          QB_CHECK(box_low >= 0 && box_high <= 1, attack << " left the [0,1] box (" << box_low << ", " << box_high << ")");
          auto robust_cpu = robust.to(torch::kCPU).to(torch::kByte).contiguous();
          const auto* r = robust_cpu.data_ptr<uint8_t>();
          cell.robust_mask.insert(cell.robust_mask.end(), r, r + (e - b));
          cell.gradient_evaluations += out.gradient_evaluations;
          zero_grad_samples += out.zero_gradient_fraction * static_cast<double>(e - b);
          if (!o.save_adv_dir.empty()) saved.push_back(out.x_adv.to(torch::kCPU));
          images_done += e - b;
          char line[200];
          const double elapsed = seconds_since(started);
          const double cells_done = done_cells + static_cast<double>(e) / o.count;
          std::snprintf(line, sizeof line, "attack cells %lld/%lld (%s %s eps %s) %.0f images/s ETA %.0f s",
                        static_cast<long long>(done_cells), static_cast<long long>(total_cells), model.name().c_str(),
                        attack.c_str(), eps.text.c_str(), images_done / std::max(elapsed, 1e-9),
                        elapsed / std::max(cells_done, 1e-9) * (total_cells - cells_done));
          progress(line);
        }
        cell.n = o.count;
        int64_t robust_count = 0, clean_correct = 0, broken_clean_correct = 0;
        for (int64_t i = 0; i < o.count; ++i) {
          robust_count += cell.robust_mask[i];
          clean_correct += clean.correct_mask[i];
          broken_clean_correct += clean.correct_mask[i] && !cell.robust_mask[i];
        }
        cell.robust_accuracy = static_cast<double>(robust_count) / o.count;
        cell.success_rate = clean_correct ? static_cast<double>(broken_clean_correct) / clean_correct : 0.0;
        cell.mean_linf = sum_linf / o.count;
        cell.mean_l2 = sum_l2 / o.count;
        cell.zero_gradient_fraction = zero_grad_samples / o.count;
        cell.seconds = seconds_since(cell_started);
        if (!o.save_adv_dir.empty()) {
          write_npy((std::filesystem::path(o.save_adv_dir) /
                     (file_safe(model.name()) + "__" + attack + "__eps-" + file_safe(eps.text) + ".npy"))
                        .string(),
                    torch::cat(saved, 0).contiguous());
        }
        journal.append(attack_cell_to_json_line(cell));
        cells.push_back(cell);
        ++done_cells;
      }
    }
    progress("");
    // Worst case over attacks, per norm and eps value.
    for (const auto& c : cells) {
      bool seen = false;
      for (const auto& w : report.worst_case) seen |= w.model == c.model && w.norm == c.norm && w.eps == c.eps;
      if (seen) continue;
      WorstCaseCell w{c.model, c.norm, c.eps, c.eps_text, {}, 0, std::vector<uint8_t>(c.robust_mask.size(), 1)};
      for (const auto& d : cells) {
        if (d.norm != c.norm || d.eps != c.eps) continue;
        w.attacks.push_back(d.attack);
        for (size_t i = 0; i < w.robust_mask.size(); ++i) w.robust_mask[i] &= d.robust_mask[i];
      }
      int64_t robust = 0;
      for (auto v : w.robust_mask) robust += v;
      w.robust_accuracy = static_cast<double>(robust) / static_cast<double>(w.robust_mask.size());
      report.worst_case.push_back(w);
    }
    auto checks = check_attack_cells(model.name(), clean, cells);
    if (o.sanity_checks) {
      // Probe: a large Linf eps (0.5) must drive accuracy near chance.
      const int64_t probe_n = std::min<int64_t>(o.count, 256);
      auto probe = dataset.read(0, probe_n);
      auto px = to_device(probe.x), py = probe.y.to(device);
      std::vector<uint64_t> probe_seeds;
      for (int64_t i = 0; i < probe_n; ++i) probe_seeds.push_back(attack_sample_seed(o.seed, i, "probe", 0.5));
      AttackConfig big;
      big.eps = 0.5;
      big.alpha = 0.05;
      big.steps = 20;
      auto big_out = find_attack("pgd").run(model, px, py, torch::Tensor(), big, probe_seeds);
      double big_acc;
      {
        torch::NoGradGuard no_grad;
        big_acc = (model.logits(big_out.x_adv).argmax(1) == py).to(torch::kDouble).mean().item<double>();
      }
      const double chance = 1.0 / std::max<int64_t>(2, dataset.num_classes());
      char msg[300];
      std::snprintf(msg, sizeof msg, "PGD-20 Linf eps 0.5 on %lld samples: accuracy %.4f (chance %.4f, allowed %.4f)",
                    static_cast<long long>(probe_n), big_acc, chance, chance + 0.05);
      checks.push_back({"large_eps_reaches_chance", model.name(), big_acc <= chance + 0.05 ? "passed" : "warned", msg});
      // Probe: doubling PGD's steps changes robust accuracy by < 1 point.
      const AttackCell* reference = nullptr;
      for (const auto& c : cells)
        if (c.attack == "pgd" && c.eps > 0 && (!reference || std::abs(c.eps - 8.0 / 255) < std::abs(reference->eps - 8.0 / 255)))
          reference = &c;
      if (!reference) {
        checks.push_back({"doubling_steps_stable", model.name(), "not_run", "needs pgd at some eps > 0"});
      } else {
        const int64_t n2 = std::min<int64_t>(o.count, 500);
        AttackConfig twice;
        twice.eps = reference->eps;
        twice.alpha = reference->alpha;
        twice.steps = 2 * reference->steps;
        twice.restarts = reference->restarts;
        twice.random_start = reference->random_start;
        twice.early_stop = reference->early_stop;
        twice.loss = o.loss;
        int64_t robust_twice = 0, robust_once = 0;
        for (int64_t b = 0; b < n2; b += o.batch_size) {
          const int64_t e = std::min(n2, b + o.batch_size);
          auto batch = dataset.read(b, e);
          auto x = to_device(batch.x), y = batch.y.to(device);
          std::vector<uint64_t> seeds;
          for (int64_t i = b; i < e; ++i) seeds.push_back(attack_sample_seed(o.seed, i, "pgd", reference->eps));
          auto out = find_attack("pgd").run(model, x, y, torch::Tensor(), twice, seeds);
          torch::NoGradGuard no_grad;
          auto ok = (model.logits(out.x_adv).argmax(1) == y) & ~out.broken;
          auto ok_cpu = ok.to(torch::kCPU).to(torch::kByte).contiguous();
          for (int64_t i = b; i < e; ++i) {
            robust_twice += ok_cpu.data_ptr<uint8_t>()[i - b] && clean.correct_mask[i];
            robust_once += reference->robust_mask[i];
          }
        }
        const double diff = 100.0 * static_cast<double>(robust_once - robust_twice) / n2;
        std::snprintf(msg, sizeof msg, "PGD eps %s on %lld samples: robust accuracy %.2f%% with %d steps, %.2f%% with %d (change %.2f points)",
                      reference->eps_text.c_str(), static_cast<long long>(n2), 100.0 * robust_once / n2, reference->steps,
                      100.0 * robust_twice / n2, twice.steps, diff);
        checks.push_back({"doubling_steps_stable", model.name(), std::abs(diff) < 1.0 ? "passed" : "warned", msg});
      }
    }
    report.sanity.insert(report.sanity.end(), checks.begin(), checks.end());
    report.clean.push_back(clean);
    report.models.push_back(model.info());
    report.cells.insert(report.cells.end(), cells.begin(), cells.end());
  }
  return report;
}

}  // namespace questbench
