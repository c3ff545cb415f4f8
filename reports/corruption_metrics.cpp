#include "reports/corruption_metrics.h"

#include "common/error.h"

#include <algorithm>

namespace questbench {

CorruptionBaseline alexnet_imagenet_baseline() {
  // Hendrycks & Dietterich's AlexNet errors per severity 1..5 (fractions), as published with ImageNet-C.
  static const std::vector<std::pair<std::string, std::vector<double>>> table = {
      {"gaussian_noise", {0.69528, 0.82542, 0.93554, 0.98138, 0.99452}},
      {"shot_noise", {0.71224, 0.85108, 0.93574, 0.98182, 0.99146}},
      {"impulse_noise", {0.78374, 0.89808, 0.94870, 0.98720, 0.99548}},
      {"defocus_blur", {0.65624, 0.73202, 0.85036, 0.91364, 0.94714}},
      {"glass_blur", {0.64308, 0.75054, 0.88806, 0.91622, 0.93344}},
      {"motion_blur", {0.58430, 0.70048, 0.82108, 0.89750, 0.92638}},
      {"zoom_blur", {0.70008, 0.76992, 0.80784, 0.84198, 0.87198}},
      {"snow", {0.71726, 0.88392, 0.86468, 0.91870, 0.94952}},
      {"frost", {0.61390, 0.79734, 0.88790, 0.89942, 0.93430}},
      {"fog", {0.67474, 0.76050, 0.84378, 0.87260, 0.94500}},
      {"brightness", {0.45140, 0.48502, 0.54048, 0.62166, 0.72440}},
      {"contrast", {0.64548, 0.76150, 0.88874, 0.97760, 0.99270}},
      {"elastic_transform", {0.52596, 0.70116, 0.55686, 0.64076, 0.80554}},
      {"pixelate", {0.52218, 0.54620, 0.73728, 0.87092, 0.91262}},
      {"jpeg_compression", {0.51002, 0.54718, 0.57294, 0.65458, 0.74778}},
      {"speckle_noise", {0.66192, 0.74440, 0.90246, 0.94548, 0.97268}},
      {"gaussian_blur", {0.54732, 0.70444, 0.82574, 0.89864, 0.95940}},
      {"spatter", {0.47196, 0.62194, 0.75052, 0.84132, 0.90182}},
      {"saturate", {0.59342, 0.65514, 0.51174, 0.70834, 0.82260}},
  };
  CorruptionBaseline b;
  b.name = "alexnet-imagenet";
  b.clean_error = 0.4348;
  for (const auto& [name, errors] : table)
    for (int s = 1; s <= 5; ++s) b.errors[{name, s}] = errors[s - 1];
  return b;
}

CorruptionBaseline baseline_from_model(const std::string& model, const CleanResult& clean, const std::vector<CorruptionCell>& cells) {
  CorruptionBaseline b;
  b.name = model;
  b.clean_error = clean.n ? clean.error : -1;
  for (const auto& c : cells)
    if (c.model == model) b.errors[{c.corruption, c.severity}] = c.error;
  return b;
}

double error_auc(std::vector<std::pair<int, double>> errors_by_severity) {
  std::sort(errors_by_severity.begin(), errors_by_severity.end());
  if (errors_by_severity.size() < 2) return -1;
  const int span = errors_by_severity.back().first - errors_by_severity.front().first;
  if (span <= 0) return -1;  // one severity listed twice
  double area = 0;
  for (size_t i = 1; i < errors_by_severity.size(); ++i) {
    const auto& [s0, e0] = errors_by_severity[i - 1];
    const auto& [s1, e1] = errors_by_severity[i];
    area += (s1 - s0) * (e0 + e1) / 2;
  }
  return area / span;
}

CorruptionModelSummary summarize_corruptions(const std::string& model, const CleanResult& clean,
                                             const std::vector<CorruptionCell>& cells, const CorruptionBaseline* baseline) {
  CorruptionModelSummary out;
  out.model = model;
  std::vector<std::vector<const CorruptionCell*>> by_corruption;
  for (const auto& c : cells) {
    if (c.model != model) continue;
    size_t k = 0;
    while (k < by_corruption.size() && by_corruption[k][0]->corruption != c.corruption) ++k;
    if (k == by_corruption.size()) by_corruption.emplace_back();
    by_corruption[k].push_back(&c);
  }
  double standard_acc = 0, extra_acc = 0, ce_sum = 0, rel_sum = 0, extra_ce_sum = 0;
  int64_t standard_cells = 0, extra_cells = 0;
  int ce_count = 0, rel_count = 0, extra_ce_count = 0, standard_full = 0;
  bool ce_all = true, rel_all = true, extra_ce_all = true;
  for (const auto& list : by_corruption) {
    CorruptionSummary s;
    s.corruption = list[0]->corruption;
    s.group = list[0]->group;
    s.severities = static_cast<int>(list.size());
    double err = 0, base = 0, rel = 0, rel_base = 0;
    bool have_base = baseline != nullptr;
    for (const auto* c : list) {
      s.mean_accuracy += c->accuracy;
      err += c->error;
      if (have_base) {
        auto it = baseline->errors.find({c->corruption, c->severity});
        if (it == baseline->errors.end()) {
          have_base = false;
        } else {
          base += it->second;
          rel += c->error - clean.error;
          rel_base += it->second - baseline->clean_error;
        }
      }
    }
    s.mean_accuracy /= s.severities;
    s.mean_error = err / s.severities;
    std::vector<std::pair<int, double>> curve;
    for (const auto* c : list) curve.emplace_back(c->severity, c->error);
    s.error_auc = error_auc(curve);
    if (have_base && base > 0) s.ce = err / base;
    if (have_base && clean.n > 0 && baseline->clean_error >= 0 && rel_base > 0) s.relative_ce = rel / rel_base;
    if (s.group == "standard") {
      for (const auto* c : list) standard_acc += c->accuracy;
      standard_cells += s.severities;
      ++out.standard_corruptions;
      standard_full += s.severities == 5;
      if (s.ce >= 0) ce_sum += s.ce, ++ce_count; else ce_all = false;
      if (s.relative_ce >= 0) rel_sum += s.relative_ce, ++rel_count; else rel_all = false;
    } else {
      for (const auto* c : list) extra_acc += c->accuracy;
      extra_cells += s.severities;
      ++out.extra_corruptions;
      if (s.ce >= 0) extra_ce_sum += s.ce, ++extra_ce_count; else extra_ce_all = false;
    }
    out.corruptions.push_back(s);
  }
  // A mean over corruptions is defined only when every corruption of the group has its CE.
  if (out.standard_corruptions) {
    out.mean_corruption_accuracy = standard_acc / standard_cells;
    out.mean_corruption_error = 1.0 - out.mean_corruption_accuracy;
    if (ce_all && ce_count) out.mce = ce_sum / ce_count;
    if (rel_all && rel_count) out.relative_mce = rel_sum / rel_count;
  }
  out.standard_complete = out.standard_corruptions == 15 && standard_full == 15;
  if (out.extra_corruptions) {
    out.extra_mean_accuracy = extra_acc / extra_cells;
    out.extra_mean_error = 1.0 - out.extra_mean_accuracy;
    if (extra_ce_all && extra_ce_count) out.extra_mce = extra_ce_sum / extra_ce_count;
  }
  return out;
}

std::vector<CorruptionModelSummary> summarize_report(const CorruptionReport& report) {
  const auto& name = report.config.baseline;
  CorruptionBaseline baseline;
  if (name == "alexnet-imagenet") {
    baseline = alexnet_imagenet_baseline();
  } else if (!name.empty()) {
    for (size_t m = 0; m < report.models.size(); ++m)
      if (report.models[m].name == name) baseline = baseline_from_model(name, report.clean[m], report.cells);
  }
  std::vector<CorruptionModelSummary> out;
  for (size_t m = 0; m < report.models.size(); ++m)
    out.push_back(summarize_corruptions(report.models[m].name, report.clean[m], report.cells, name.empty() ? nullptr : &baseline));
  return out;
}

}  // namespace questbench
