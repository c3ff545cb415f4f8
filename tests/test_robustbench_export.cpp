// RobustBench export: the model-info entry field by field against RobustBench's published format
// (robustbench/utils.py ModelInfo and the entries under model_info/), and the unaggregated corruption table.
#include "tests/catch_torch.h"  // first: see the header
#include "common/error.h"
#include "reports/format.h"
#include "reports/robustbench.h"
#include "tests/test_support.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

using namespace questbench;

namespace robustbench_test {

// RobustBench's ModelInfo dataclass fields, in declaration order.
const std::vector<std::string> kModelInfoFields = {
    "link",           "name",           "authors",          "additional_data", "number_forward_passes", "dataset",
    "venue",          "architecture",   "eps",              "clean_acc",       "reported",              "corruptions_acc",
    "corruptions_acc_3d", "corruptions_mce", "corruptions_mce_3d", "autoattack_acc", "footnote"};

// The first two lines of RobustBench's model_info/cifar10/corruptions/unaggregated_results.csv.
const std::string kPublishedCsvHeader =
    ",shot_noise,shot_noise,shot_noise,shot_noise,shot_noise,motion_blur,motion_blur,motion_blur,motion_blur,motion_blur,"
    "snow,snow,snow,snow,snow,pixelate,pixelate,pixelate,pixelate,pixelate,gaussian_noise,gaussian_noise,gaussian_noise,"
    "gaussian_noise,gaussian_noise,defocus_blur,defocus_blur,defocus_blur,defocus_blur,defocus_blur,brightness,brightness,"
    "brightness,brightness,brightness,fog,fog,fog,fog,fog,zoom_blur,zoom_blur,zoom_blur,zoom_blur,zoom_blur,frost,frost,"
    "frost,frost,frost,glass_blur,glass_blur,glass_blur,glass_blur,glass_blur,impulse_noise,impulse_noise,impulse_noise,"
    "impulse_noise,impulse_noise,contrast,contrast,contrast,contrast,contrast,jpeg_compression,jpeg_compression,"
    "jpeg_compression,jpeg_compression,jpeg_compression,elastic_transform,elastic_transform,elastic_transform,"
    "elastic_transform,elastic_transform\n"
    ",1,2,3,4,5,1,2,3,4,5,1,2,3,4,5,1,2,3,4,5,1,2,3,4,5,1,2,3,4,5,1,2,3,4,5,1,2,3,4,5,1,2,3,4,5,1,2,3,4,5,1,2,3,4,5,1,2,3,"
    "4,5,1,2,3,4,5,1,2,3,4,5,1,2,3,4,5\n";

ModelInfo vit(const std::string& name, const std::string& attention) {
  ModelInfo m;
  m.name = name;
  m.architecture = "vit";
  m.attention = attention;
  m.num_classes = 10;
  return m;
}

CleanResult clean(int64_t n, int64_t correct) {
  CleanResult c;
  c.n = n;
  c.correct = correct;
  c.accuracy = static_cast<double>(correct) / n;
  c.error = 1 - c.accuracy;
  return c;
}

InputReport attack_input() {
  InputReport r;
  r.path = "quest.attack.json";
  r.schema = "questbench.attack";
  r.dataset.path = "/usr/share/datasets/fashion-mnist";
  r.dataset.format = "idx";
  r.models = {vit("quest", "quest")};
  r.clean = {clean(256, 233)};  // 91.015625 %
  AttackCell aa;
  aa.model = "quest";
  aa.attack = "autoattack";
  aa.spec = "autoattack:norm=linf";
  aa.norm = "Linf";
  aa.eps = 8.0 / 255;
  aa.eps_text = "8/255";
  aa.n = 256;
  aa.robust_accuracy = 116.0 / 256;  // 45.3125 %
  AttackCell pgd = aa;
  pgd.attack = "pgd";
  pgd.spec = "pgd:steps=10";
  pgd.robust_accuracy = 0.5;
  AttackCell l2 = aa;
  l2.spec = "autoattack:norm=l2";
  l2.norm = "L2";
  l2.eps = 0.5;
  l2.eps_text = "0.5";
  l2.robust_accuracy = 0.56;  // 100 * 0.56 = 56.00000000000001 in binary
  r.attack_cells = {pgd, aa, l2};
  return r;
}

InputReport corruption_input(bool complete) {
  InputReport r;
  r.path = "quest.corruption.json";
  r.schema = "questbench.corruption";
  r.has_corruptions = true;
  r.dataset.format = "cifar10";
  r.corruption_config.baseline = "standard";
  r.models = {vit("quest", "quest")};
  r.clean = {clean(1000, 905)};
  int k = 0;
  // Table order differs from RobustBench's on purpose: the export reorders.
  std::vector<std::string> names = robustbench_corruption_order();
  std::reverse(names.begin(), names.end());
  for (const auto& name : names) {
    for (int severity = 1; severity <= 5; ++severity, ++k) {
      if (!complete && name == "fog" && severity == 3) continue;
      CorruptionCell c;
      c.model = "quest";
      c.corruption = name;
      c.group = "standard";
      c.severity = severity;
      c.n = 1000;
      c.correct = 900 - 7 * k;
      c.accuracy = c.correct / 1000.0;
      r.corruption_cells.push_back(c);
    }
  }
  CorruptionModelSummary s;
  s.model = "quest";
  s.mce = 0.8123456;
  s.standard_complete = complete;
  r.corruption_summaries = {s};
  return r;
}

std::vector<std::string> keys_in_order(const nlohmann::ordered_json& j) {
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  return keys;
}

}  // namespace robustbench_test

using namespace robustbench_test;

TEST_CASE("percentages print as Python's str(round(x 2)) and floats as Python's repr", "[robustbench]") {
  CHECK(python_round2_text(44.1) == "44.1");
  CHECK(python_round2_text(89.69) == "89.69");
  CHECK(python_round2_text(100.0 * 0.56) == "56.0");
  CHECK(python_round2_text(91.015625) == "91.02");
  CHECK(python_round2_text(45.3125) == "45.31");
  CHECK(python_round2_text(12.125) == "12.12");  // an exact binary tie: to even, as Python
  CHECK(python_round2_text(100.0) == "100.0");
  CHECK(python_round2_text(0.0) == "0.0");
  CHECK(python_float_repr(0.939) == "0.939");
  CHECK(python_float_repr(0.9390000000000001) == "0.9390000000000001");
  CHECK(python_float_repr(0.1 + 0.2) == "0.30000000000000004");
  CHECK(python_float_repr(1.0) == "1.0");
  CHECK(python_float_repr(0.0001) == "0.0001");
  CHECK(python_float_repr(0.00001) == "1e-05");
  CHECK(python_float_repr(1e16) == "1e+16");
  CHECK(python_float_repr(123456789012345.0) == "123456789012345.0");
}

TEST_CASE("RobustBench Linf entry: every ModelInfo field in order with RobustBench's types", "[robustbench]") {
  RobustBenchOptions o;
  o.threat = "Linf";
  o.link = "https://arxiv.org/abs/2604.00199";
  o.authors = "A. Author";
  auto e = export_robustbench({attack_input()}, o);
  auto j = nlohmann::ordered_json::parse(e.model_info_json);
  auto expected_keys = kModelInfoFields;
  expected_keys.push_back("unreliable");
  CHECK(keys_in_order(j) == expected_keys);
  CHECK(j["link"] == "https://arxiv.org/abs/2604.00199");
  CHECK(j["name"] == "quest");
  CHECK(j["authors"] == "A. Author");
  CHECK(j["additional_data"] == false);
  CHECK(j["number_forward_passes"] == 1);
  CHECK(j["dataset"] == "fashion-mnist");
  CHECK(j["venue"].is_null());
  CHECK(j["architecture"] == "ViT (quest attention)");
  CHECK(j["eps"] == "8/255");  // a string, as in the published entries
  CHECK(j["clean_acc"] == "91.02");
  CHECK(j["reported"].is_null());
  CHECK(j["corruptions_acc"].is_null());
  CHECK(j["corruptions_mce"].is_null());
  CHECK(j["autoattack_acc"] == "45.31");  // from the autoattack cell, not pgd
  CHECK(j["footnote"].is_null());
  CHECK(j["unreliable"] == false);
  CHECK(e.unaggregated_csv.empty());
  CHECK(e.model_info_json.find("\n  \"link\": ") != std::string::npos);  // indent=2, as update_json writes

  o.threat = "L2";
  auto l2 = nlohmann::ordered_json::parse(export_robustbench({attack_input()}, o).model_info_json);
  CHECK(l2["eps"] == "0.5");
  CHECK(l2["autoattack_acc"] == "56.0");
}

TEST_CASE("RobustBench corruption entry and its unaggregated table", "[robustbench]") {
  RobustBenchOptions o;
  o.model_id = "Quest2026ViT";
  auto e = export_robustbench({corruption_input(true)}, o);  // threat inferred: corruptions
  auto j = nlohmann::ordered_json::parse(e.model_info_json);
  CHECK(keys_in_order(j) == kModelInfoFields);
  CHECK(j["eps"].is_null());
  CHECK(j["dataset"] == "cifar10");
  CHECK(j["clean_acc"] == "90.5");
  CHECK(j["corruptions_mce"] == "81.23");
  CHECK(j["autoattack_acc"].is_null());
  // The cells were made in reversed order: cell k has accuracy (900 - 7k)/1000, k over reversed names.
  const auto& order = robustbench_corruption_order();
  double sum = 0;
  std::string row = "Quest2026ViT";
  for (size_t c = 0; c < order.size(); ++c) {
    const size_t reversed = order.size() - 1 - c;
    for (int severity = 1; severity <= 5; ++severity) {
      const int k = static_cast<int>(reversed) * 5 + severity - 1;
      const double accuracy = static_cast<double>(900 - 7 * k) / 1000;
      sum += accuracy;
      row += "," + python_float_repr(accuracy);
    }
  }
  CHECK(j["corruptions_acc"] == python_round2_text(100.0 * sum / 75));
  CHECK(e.unaggregated_csv == kPublishedCsvHeader + row + "\n");
  REQUIRE(e.notes.size() == 1);
  CHECK(e.notes[0].find("relative to the baseline 'standard'") != std::string::npos);
}

TEST_CASE("RobustBench export refuses what it cannot answer", "[robustbench]") {
  RobustBenchOptions o;
  o.threat = "corruptions";
  CHECK_THROWS_WITH(export_robustbench({corruption_input(false)}, o),
                    Catch::Contains("lacks fog at severity 3"));
  CHECK_THROWS_WITH(export_robustbench({attack_input()}, o), Catch::Contains("no corruption report"));
  RobustBenchOptions none;
  CHECK_THROWS_WITH(export_robustbench({attack_input()}, none), Catch::Contains("Linf and L2"));
  none.model = "standard";
  CHECK_THROWS_WITH(export_robustbench({attack_input()}, none), Catch::Contains("not in the reports"));
  RobustBenchOptions eps;
  eps.threat = "Linf";
  eps.eps = "4/255";
  CHECK_THROWS_WITH(export_robustbench({attack_input()}, eps), Catch::Contains("no autoattack cell at Linf eps 4/255"));
}
