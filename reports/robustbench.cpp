#include "reports/robustbench.h"

#include "common/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

namespace questbench {

const std::vector<std::string>& robustbench_corruption_order() {
  static const std::vector<std::string> order = {
      "shot_noise", "motion_blur", "snow",          "pixelate",       "gaussian_noise",
      "defocus_blur", "brightness", "fog",          "zoom_blur",      "frost",
      "glass_blur",  "impulse_noise", "contrast",   "jpeg_compression", "elastic_transform"};
  return order;
}

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0) return std::signbit(value) ? "-0.0" : "0.0";
  // The fewest significant digits that read back to the same double (what Python's repr prints).
  char buffer[64];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buffer, sizeof buffer, "%.*e", digits - 1, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  std::string text(buffer);
  const bool negative = text[0] == '-';
  if (negative) text.erase(0, 1);
  const auto e = text.find('e');
  const int exponent = std::atoi(text.c_str() + e + 1);
  std::string digits = text.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out;
  if (exponent >= -4 && exponent <= 15) {
    // Fixed notation with at least one digit after the point, as Python prints 56.0.
    if (exponent >= 0) {
      const auto integer_digits = static_cast<size_t>(exponent) + 1;
      std::string integer = digits.substr(0, std::min(integer_digits, digits.size()));
      integer.append(integer_digits - integer.size(), '0');
      const std::string fraction = digits.size() > integer_digits ? digits.substr(integer_digits) : "0";
      out = integer + "." + fraction;
    } else {
      out = "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exponent_text[16];
    std::snprintf(exponent_text, sizeof exponent_text, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    out += exponent_text;
  }
  return negative ? "-" + out : out;
}

std::string python_round2_text(double value) {
  // printf rounds the exact binary value to nearest, ties to even, as Python's round(x, 2) does.
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.2f", value);
  return python_float_repr(std::strtod(buffer, nullptr));
}

namespace {

struct ModelRef {
  const InputReport* report = nullptr;
  size_t index = 0;
};

std::vector<ModelRef> find_model(const std::vector<InputReport>& reports, const std::string& name) {
  std::vector<ModelRef> found;
  for (const auto& r : reports)
    for (size_t i = 0; i < r.models.size(); ++i)
      if (r.models[i].name == name) found.push_back({&r, i});
  return found;
}

std::string choose_model(const std::vector<InputReport>& reports, const std::string& requested) {
  std::set<std::string> names;
  for (const auto& r : reports)
    for (const auto& m : r.models) names.insert(m.name);
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  if (!requested.empty()) {
    if (!names.count(requested)) throw UsageError("--model '" + requested + "': not in the reports (models: " + list + ")");
    return requested;
  }
  if (names.size() != 1) throw UsageError("the reports hold several models (" + list + "): pass --model");
  return *names.begin();
}

std::string norm_threat(const std::string& norm) { return norm == "Linf" ? "Linf" : norm == "L2" ? "L2" : norm; }

bool is_autoattack(const AttackCell& cell) { return cell.attack == "autoattack"; }

std::string default_dataset(const InputReport& report) {
  const auto& d = report.dataset;
  if (d.format == "cifar10") return "cifar10";
  std::string haystack = d.path + " " + d.description;
  std::transform(haystack.begin(), haystack.end(), haystack.begin(), [](unsigned char c) { return std::tolower(c); });
  if (haystack.find("fashion-mnist") != std::string::npos || haystack.find("fashion_mnist") != std::string::npos)
    return "fashion-mnist";
  throw UsageError("the data set of " + report.path + " has no RobustBench name: pass --dataset");
}

std::string default_architecture(const ModelInfo& m) {
  if (m.architecture == "vit") return "ViT (" + (m.attention.empty() ? std::string("standard") : m.attention) + " attention)";
  return m.architecture;
}

nlohmann::ordered_json text_or_null(const std::string& text) {
  return text.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(text);
}

}  // namespace

RobustBenchExport export_robustbench(const std::vector<InputReport>& reports, const RobustBenchOptions& o) {
  QB_CHECK(!reports.empty(), "export robustbench: no reports");
  RobustBenchExport out;
  const std::string model = choose_model(reports, o.model);
  const auto refs = find_model(reports, model);

  // The AutoAttack cells and the corruption cells of the model, wherever they are.
  std::vector<std::pair<const InputReport*, const AttackCell*>> autoattack;
  const InputReport* corruption_report = nullptr;
  size_t corruption_model = 0;
  for (const auto& ref : refs) {
    for (const auto& cell : ref.report->attack_cells)
      if (cell.model == model && is_autoattack(cell)) autoattack.emplace_back(ref.report, &cell);
    if (ref.report->has_corruptions && !corruption_report) {
      corruption_report = ref.report;
      corruption_model = ref.index;
    }
  }

  std::string threat = o.threat;
  if (threat.empty()) {
    std::set<std::string> norms;
    for (const auto& [r, cell] : autoattack) norms.insert(norm_threat(cell->norm));
    if (norms.size() > 1) throw UsageError("the reports hold AutoAttack at Linf and L2: pass --threat Linf|L2|corruptions");
    if (norms.size() == 1) threat = *norms.begin();
    else if (corruption_report) threat = "corruptions";
    else throw UsageError("model '" + model + "': the reports hold neither an autoattack cell nor corruption results");
  }
  if (threat != "Linf" && threat != "L2" && threat != "corruptions")
    throw UsageError("--threat '" + threat + "': unknown (valid: Linf, L2, corruptions)");

  const InputReport* source = nullptr;  // the report the threat's numbers come from
  size_t source_model = 0;
  std::string eps_text, robust_text, corruptions_acc, corruptions_mce;
  if (threat == "corruptions") {
    if (!corruption_report) throw UsageError("model '" + model + "': no corruption report given for --threat corruptions");
    source = corruption_report;
    source_model = corruption_model;
    std::map<std::pair<std::string, int>, const CorruptionCell*> cells;
    for (const auto& c : source->corruption_cells)
      if (c.model == model) cells[{c.corruption, c.severity}] = &c;
    std::vector<std::string> row;
    double sum = 0;
    for (const auto& name : robustbench_corruption_order()) {
      for (int severity = 1; severity <= 5; ++severity) {
        const auto it = cells.find({name, severity});
        if (it == cells.end())
          throw UsageError(source->path + ": model '" + model + "' lacks " + name + " at severity " + std::to_string(severity) +
                           " (RobustBench's corruption entry needs all 15 corruptions at severities 1-5)");
        const double accuracy = it->second->n > 0 ? static_cast<double>(it->second->correct) / it->second->n : 0.0;
        sum += accuracy;
        row.push_back(python_float_repr(accuracy));
      }
    }
    corruptions_acc = python_round2_text(100.0 * sum / 75.0);
    const auto& summary = source->corruption_summaries.at(corruption_model);
    if (summary.mce >= 0 && summary.standard_complete) {
      corruptions_mce = python_round2_text(100.0 * summary.mce);
      out.notes.push_back("corruptions_mce is relative to the baseline '" + source->corruption_config.baseline +
                          "' (RobustBench's ImageNet entries are relative to AlexNet)");
    } else {
      out.notes.push_back("corruptions_mce is null: the corruption report has no CE baseline");
    }
    std::string header1, header2;
    for (const auto& name : robustbench_corruption_order())
      for (int severity = 1; severity <= 5; ++severity) {
        header1 += "," + name;
        header2 += "," + std::to_string(severity);
      }
    const std::string id = o.model_id.empty() ? model : o.model_id;
    std::string line = id;
    for (const auto& v : row) line += "," + v;
    out.unaggregated_csv = header1 + "\n" + header2 + "\n" + line + "\n";
  } else {
    std::vector<std::pair<const InputReport*, const AttackCell*>> matching;
    std::string eps_list;
    for (const auto& p : autoattack)
      if (norm_threat(p.second->norm) == threat && (o.eps.empty() || p.second->eps_text == o.eps)) {
        matching.push_back(p);
        eps_list += (eps_list.empty() ? "" : ", ") + p.second->eps_text;
      }
    if (matching.empty())
      throw UsageError("model '" + model + "': no autoattack cell at " + threat + (o.eps.empty() ? "" : " eps " + o.eps) +
                       " in the reports");
    if (matching.size() > 1) throw UsageError("model '" + model + "': autoattack at several " + threat + " eps (" + eps_list + "): pass --eps");
    source = matching.front().first;
    for (size_t i = 0; i < source->models.size(); ++i)
      if (source->models[i].name == model) source_model = i;
    const AttackCell& cell = *matching.front().second;
    eps_text = cell.eps_text;
    robust_text = python_round2_text(100.0 * cell.robust_accuracy);
    if (cell.rng != "per-sample")
      out.notes.push_back("the AutoAttack cell drew its random numbers as the original does (--rng " + cell.rng + ")");
    out.notes.push_back("autoattack_acc over " + std::to_string(cell.n) + " samples");
  }

  const ModelInfo& info = source->models.at(source_model);
  const CleanResult& clean = source->clean.at(source_model);
  nlohmann::ordered_json j;
  // Field order: robustbench/utils.py ModelInfo.
  j["link"] = text_or_null(o.link);
  j["name"] = o.name.empty() ? nlohmann::ordered_json(model) : nlohmann::ordered_json(o.name);
  j["authors"] = text_or_null(o.authors);
  j["additional_data"] = o.additional_data;
  j["number_forward_passes"] = o.number_forward_passes;
  j["dataset"] = o.dataset.empty() ? default_dataset(*source) : o.dataset;
  j["venue"] = text_or_null(o.venue);
  j["architecture"] = o.architecture.empty() ? default_architecture(info) : o.architecture;
  j["eps"] = text_or_null(eps_text);
  j["clean_acc"] = python_round2_text(100.0 * clean.accuracy);
  j["reported"] = text_or_null(o.reported);
  j["corruptions_acc"] = text_or_null(corruptions_acc);
  j["corruptions_acc_3d"] = nullptr;
  j["corruptions_mce"] = text_or_null(corruptions_mce);
  j["corruptions_mce_3d"] = nullptr;
  j["autoattack_acc"] = text_or_null(robust_text);
  j["footnote"] = text_or_null(o.footnote);
  // The published Linf/L2 entries carry this flag for adaptive-attack findings; a fresh evaluation has none.
  if (threat != "corruptions") j["unreliable"] = false;
  out.model_info_json = j.dump(2) + "\n";
  return out;
}

}  // namespace questbench
