// --diagnostics on the corruption and attack runs: the per-sample attention statistics against timm's reference
// diagnostics and against the batch computation, their independence of batching, split runs and journals, the
// adversarial examples they describe, and the comparison's sentences and charts.
#include "tests/catch_torch.h"  // first: see the header
#include "bench/attack_runner.h"
#include "bench/corruption_runner.h"
#include "common/error.h"
#include "common/files.h"
#include "common/npy.h"
#include "reports/compare.h"
#include "reports/diagnostics.h"
#include "reports/format.h"
#include "reports/render.h"
#include "reports/svg_charts.h"
#include "tests/test_support.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <map>
#include <cmath>

using namespace questbench;

namespace diagnostics_runs {  // named: the tests are a unity build

using Json = nlohmann::json;

std::string shipped(const std::string& attention) {
  return test::source_dir() + "/models/checkpoints/fmnist_vit_" + attention + ".safetensors";
}

Model load(const std::string& path, const std::string& attention = "") {
  ModelSource source;
  source.path = path;
  source.attention = attention;
  return Model::load(source, torch::kCPU);
}

// The timm reference inputs (8 RGB 32x32 images) as an npy data set with all-zero labels.
std::unique_ptr<Dataset> reference_inputs(const std::string& dir) {
  write_npy(dir + "/x.npy", read_npy(test::reference_dir() + "/vit/inputs.npy"));
  write_npy(dir + "/y.npy", torch::zeros({8}, torch::kLong));
  DatasetSpec spec;
  spec.path = dir + "/x.npy";
  spec.labels_path = dir + "/y.npy";
  return open_dataset(spec);
}

std::unique_ptr<Dataset> fashion_mnist() {
  DatasetSpec spec;
  spec.path = "fashion-mnist";
  return open_dataset(spec);
}

CorruptionSweepOptions small_corruption_sweep(int64_t n, int64_t batch_size) {
  CorruptionSweepOptions o;
  o.corruptions = {"gaussian_noise", "contrast"};
  o.severities = {1, 5};
  o.batch_size = batch_size;
  o.range = {0, n};
  o.diagnostics = true;
  return o;
}

void check_summaries_equal(const std::vector<LayerDiagnostics>& a, const std::vector<LayerDiagnostics>& b, double rel) {
  REQUIRE(a.size() == b.size());
  for (size_t l = 0; l < a.size(); ++l) {
    INFO("layer " << l);
    const auto x = layer_summary(a[l]), y = layer_summary(b[l]);
    CHECK(x.entropy_mean == Approx(y.entropy_mean).epsilon(rel));
    CHECK(x.attn_max_mean == Approx(y.attn_max_mean).epsilon(rel));
    CHECK(x.q_norm_mean == Approx(y.q_norm_mean).epsilon(rel));
    CHECK(x.k_norm_mean == Approx(y.k_norm_mean).epsilon(rel));
    CHECK(x.logits_std == Approx(y.logits_std).epsilon(rel));
    CHECK(x.logits_max == Approx(y.logits_max).epsilon(rel));
  }
}

TEST_CASE("diagnostics of the timm reference model through the corruption run match the reference diagnostics", "[diagnostics]") {
  const auto dir = test::make_temp_dir("diag_ref");
  auto data = reference_inputs(dir);
  std::ifstream in(test::reference_dir() + "/vit/diagnostics.json");
  const auto ref = Json::parse(in);
  for (const std::string attention : {"standard", "quest"}) {
    INFO(attention);
    const std::vector<Model> models = {load(test::reference_dir() + "/vit/model.safetensors", attention)};
    CorruptionSweepOptions o;
    o.corruptions = {"brightness"};
    o.severities = {1};
    o.batch_size = 3;  // batches of 3, 3 and 2: the rows are joined across batches
    o.diagnostics = true;
    const auto report = run_corruption_sweep(models, data.get(), nullptr, o, null_reporter());
    const auto& layers = report.clean.at(0).diagnostics;
    const auto& expected = ref.at(attention);
    REQUIRE(layers.size() == expected.size());
    for (size_t l = 0; l < layers.size(); ++l) {
      INFO("layer " << l);
      REQUIRE(diagnostics_samples(layers[l]) == 8);
      const auto s = layer_summary(layers[l]);
      const auto& e = expected[l];
      CHECK(s.entropy_mean == Approx(e["entropy_mean"].get<double>()).epsilon(1e-4));
      CHECK(s.q_norm_mean == Approx(e["q_norm_mean"].get<double>()).epsilon(1e-4));
      CHECK(s.k_norm_mean == Approx(e["k_norm_mean"].get<double>()).epsilon(1e-4));
      CHECK(s.logits_std == Approx(e["logits_std"].get<double>()).epsilon(1e-4));
      CHECK(s.attn_max_mean == Approx(e["attn_max_mean"].get<double>()).epsilon(1e-4));
      const auto per_head = e["entropy_per_head"].get<std::vector<double>>();
      REQUIRE(s.entropy_per_head.size() == per_head.size());
      for (size_t h = 0; h < per_head.size(); ++h) CHECK(s.entropy_per_head[h] == Approx(per_head[h]).epsilon(1e-4));
    }
    // The corrupted cell has its own rows, one per sample.
    REQUIRE(report.cells.at(0).diagnostics.size() == layers.size());
    CHECK(diagnostics_samples(report.cells[0].diagnostics[0]) == 8);
    // Diagnostics change no other number of the report.
    o.diagnostics = false;
    const auto plain = run_corruption_sweep(models, data.get(), nullptr, o, null_reporter());
    CHECK(plain.clean[0].diagnostics.empty());
    CHECK(plain.clean[0].loss_sum == report.clean[0].loss_sum);
    CHECK(plain.clean[0].correct_mask == report.clean[0].correct_mask);
    CHECK(plain.cells[0].correct_mask == report.cells[0].correct_mask);
  }
}

TEST_CASE("per-sample diagnostics give the batch computation and the same logits", "[diagnostics]") {
  torch::manual_seed(11);
  const auto x = torch::rand({12, 1, 28, 28});
  for (const std::string attention : {"standard", "quest"}) {
    INFO(attention);
    const auto model = load(shipped(attention));
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> per_sample;
    const auto logits = model.logits(x, &per_sample);
    CHECK(torch::equal(logits, model.logits(x)));  // the same forward pass: bit for bit
    std::vector<LayerDiagnostics> rows;
    append_diagnostics_rows(rows, per_sample, model.attention_logits_per_sample());
    const auto batch = model.diagnostics(x);
    REQUIRE(rows.size() == batch.size());
    for (size_t l = 0; l < rows.size(); ++l) {
      INFO("layer " << l);
      const auto s = layer_summary(rows[l]);
      CHECK(s.entropy_mean == Approx(batch[l].entropy_mean).epsilon(1e-6));
      CHECK(s.attn_max_mean == Approx(batch[l].attn_max_mean).epsilon(1e-6));
      CHECK(s.q_norm_mean == Approx(batch[l].q_norm_mean).epsilon(1e-6));
      CHECK(s.k_norm_mean == Approx(batch[l].k_norm_mean).epsilon(1e-6));
      CHECK(s.logits_std == Approx(batch[l].logits_std).epsilon(1e-6));
      CHECK(s.logits_max == Approx(batch[l].logits_max).epsilon(1e-6));
      REQUIRE(s.entropy_per_head.size() == batch[l].entropy_per_head.size());
      for (size_t h = 0; h < s.entropy_per_head.size(); ++h)
        CHECK(s.entropy_per_head[h] == Approx(batch[l].entropy_per_head[h]).epsilon(1e-6));
    }
  }
  const std::vector<Model> torchscript_free = {load(shipped("quest"))};
  CHECK_NOTHROW(check_diagnostics_models(torchscript_free));
}

TEST_CASE("diagnostics sums do not depend on the order or grouping of the samples", "[diagnostics]") {
  const auto model = load(shipped("standard"));
  torch::manual_seed(5);
  const auto x = torch::rand({7, 1, 28, 28});
  std::vector<torch::Tensor> per_sample;
  {
    torch::NoGradGuard no_grad;
    model.logits(x, &per_sample);
  }
  std::vector<LayerDiagnostics> rows;
  append_diagnostics_rows(rows, per_sample, model.attention_logits_per_sample());
  // The same rows in reverse order (a different grouping of the exact sums): the same bits.
  for (auto layer : rows) {
    const int64_t width = diagnostics_row_size(layer), n = diagnostics_samples(layer);
    LayerDiagnostics reversed = layer;
    for (int64_t i = 0; i < n; ++i)
      std::copy(layer.values.begin() + i * width, layer.values.begin() + (i + 1) * width, reversed.values.begin() + (n - 1 - i) * width);
    REQUIRE(reversed.values != layer.values);
    const auto a = layer_summary(layer), b = layer_summary(reversed);
    CHECK(a.entropy_mean == b.entropy_mean);
    CHECK(a.k_norm_mean == b.k_norm_mean);
    CHECK(a.q_norm_mean == b.q_norm_mean);
    CHECK(a.attn_max_mean == b.attn_max_mean);
    CHECK(a.logits_std == b.logits_std);
    CHECK(a.logits_max == b.logits_max);
    CHECK(a.entropy_per_head == b.entropy_per_head);
  }
}

TEST_CASE("a corruption run with diagnostics in batches of 1 and of 7 gives the same rows", "[diagnostics]") {
  auto data = fashion_mnist();
  const std::vector<Model> models = {load(shipped("standard")), load(shipped("quest"))};
  const auto ones = run_corruption_sweep(models, data.get(), nullptr, small_corruption_sweep(14, 1), null_reporter());
  const auto sevens = run_corruption_sweep(models, data.get(), nullptr, small_corruption_sweep(14, 7), null_reporter());
  for (size_t m = 0; m < models.size(); ++m) check_summaries_equal(ones.clean[m].diagnostics, sevens.clean[m].diagnostics, 1e-6);
  REQUIRE(ones.cells.size() == sevens.cells.size());
  for (size_t j = 0; j < ones.cells.size(); ++j) {
    INFO(ones.cells[j].model << " " << ones.cells[j].corruption << " " << ones.cells[j].severity);
    check_summaries_equal(ones.cells[j].diagnostics, sevens.cells[j].diagnostics, 1e-6);
    for (size_t l = 0; l < ones.cells[j].diagnostics.size(); ++l) {
      const auto& a = ones.cells[j].diagnostics[l].values;
      const auto& b = sevens.cells[j].diagnostics[l].values;
      REQUIRE(a.size() == b.size());
      float worst = 0;
      for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]) / std::max(1.0f, std::abs(a[i])));
      CHECK(worst < 1e-5f);
    }
  }
}

TEST_CASE("a resumed corruption run with diagnostics reads them back from its journal", "[diagnostics]") {
  const auto dir = test::make_temp_dir("diag_journal");
  auto data = fashion_mnist();
  const std::vector<Model> models = {load(shipped("quest"))};
  auto o = small_corruption_sweep(10, 4);
  o.journal_path = dir + "/c.json.journal";
  const auto fresh = run_corruption_sweep(models, data.get(), nullptr, o, null_reporter());
  o.resume = true;
  const auto resumed = run_corruption_sweep(models, data.get(), nullptr, o, null_reporter());
  // Everything came from the journal (a JSON round trip of the float32 rows): the same rows.
  REQUIRE(resumed.cells.size() == fresh.cells.size());
  REQUIRE_FALSE(resumed.cells.at(0).diagnostics.empty());
  const auto same_rows = [](const std::vector<LayerDiagnostics>& a, const std::vector<LayerDiagnostics>& b) {
    if (a.size() != b.size()) return false;
    for (size_t l = 0; l < a.size(); ++l)
      if (a[l].values != b[l].values || a[l].heads != b[l].heads || a[l].logits_per_sample != b[l].logits_per_sample) return false;
    return true;
  };
  CHECK(same_rows(resumed.clean[0].diagnostics, fresh.clean[0].diagnostics));
  for (size_t j = 0; j < fresh.cells.size(); ++j) CHECK(same_rows(resumed.cells[j].diagnostics, fresh.cells[j].diagnostics));
  // A journal written without diagnostics is refused for a run with them.
  o.diagnostics = false;
  o.resume = false;
  o.journal_path = dir + "/plain.json.journal";
  run_corruption_sweep(models, data.get(), nullptr, o, null_reporter());
  o.diagnostics = true;
  o.resume = true;
  CHECK_THROWS_WITH(run_corruption_sweep(models, data.get(), nullptr, o, null_reporter()), Catch::Contains("other models, data or settings"));
}

// The rows of a cell equal those of its saved adversarial examples (a cascade: the final ones).
void check_rows_of_saved_images(const Model& model, const AttackCell& cell, const std::string& images_path) {
  const auto images = read_npy(images_path);
  std::vector<torch::Tensor> per_sample;
  {
    torch::NoGradGuard no_grad;
    model.logits(images, &per_sample);
  }
  std::vector<LayerDiagnostics> rows;
  append_diagnostics_rows(rows, per_sample, model.attention_logits_per_sample());
  REQUIRE(rows.size() == cell.diagnostics.size());
  for (size_t l = 0; l < rows.size(); ++l) {
    REQUIRE(rows[l].values.size() == cell.diagnostics[l].values.size());
    float worst = 0;
    for (size_t i = 0; i < rows[l].values.size(); ++i)
      worst = std::max(worst, std::abs(rows[l].values[i] - cell.diagnostics[l].values[i]) / std::max(1.0f, std::abs(rows[l].values[i])));
    INFO(cell.spec << " layer " << l);
    CHECK(worst < 1e-5f);
  }
}

TEST_CASE("attack diagnostics describe the adversarial examples the attack returned", "[diagnostics]") {
  const auto dir = test::make_temp_dir("diag_attack");
  auto data = fashion_mnist();
  const std::vector<Model> models = {load(shipped("standard"))};
  AttackSweepOptions o;
  o.attacks = {"pgd", "autoattack"};
  o.eps_linf = {{8.0 / 255.0, "8/255"}};
  o.batch_size = 4;
  o.range = {0, 8};
  o.sanity_checks = false;
  o.diagnostics = true;
  o.save_adv_dir = dir;
  const auto report = run_attack_sweep(models, *data, o, null_reporter());
  REQUIRE(report.cells.size() == 2);
  check_rows_of_saved_images(models[0], report.cells[0], dir + "/fmnist_vit_standard__pgd__eps-8_255.npy");
  check_rows_of_saved_images(models[0], report.cells[1], dir + "/fmnist_vit_standard__autoattack__eps-8_255.npy");
  // The attack moved the images: the rows differ from the clean ones.
  CHECK(report.cells[0].diagnostics[0].values != report.clean[0].diagnostics[0].values);
}

// The SVG element of the chart `id` in `html` (empty when absent).
std::string chart_svg(const std::string& html, const std::string& id) {
  const auto at = html.find("data-chart=\"" + id + "\"");
  if (at == std::string::npos) return "";
  const auto start = html.rfind("<svg", at), end = html.find("</svg>", at);
  return end == std::string::npos ? "" : html.substr(start, end + 6 - start);
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// Per corruption of the report, the severities it was run at.
std::map<std::string, std::set<int>> corruption_severities(const CorruptionReport& report) {
  std::map<std::string, std::set<int>> out;
  for (const auto& cell : report.cells) out[cell.corruption].insert(cell.severity);
  return out;
}

TEST_CASE("the comparison states per layer how key norms and entropy move", "[diagnostics]") {
  auto data = fashion_mnist();
  const std::vector<Model> models = {load(shipped("standard")), load(shipped("quest"))};
  auto o = small_corruption_sweep(20, 10);
  o.corruptions = {"contrast"};
  o.baseline = "fmnist_vit_standard";
  auto report = run_corruption_sweep(models, data.get(), nullptr, o, null_reporter());
  report.dataset.evaluated = 20;  // what the command records
  CompareOptions options;
  options.bootstrap = 200;
  const auto c = compare_reports({input_from_corruption("c.json", report)}, options);
  REQUIRE(c.diagnostics.layers == 4);
  const auto markdown = render_markdown(c);
  const std::string sign = "(?:\\+|−|±)";  // multi-byte signs: an alternation, not a character class
  CHECK(markdown.find("## Attention diagnostics") != std::string::npos);
  // One sentence per layer for contrast at its highest severity, with both models and numbers taken from the table.
  for (int l = 0; l < 4; ++l) {
    INFO("layer " << l + 1);
    const auto& v = c.diagnostics.values;
    size_t j = 0;
    while (c.diagnostics.conditions[j].label != "contrast s5") ++j;
    const auto& standard = v[j][0][static_cast<size_t>(l)];
    const double clean_k = layer_summary(report.clean[0].diagnostics[static_cast<size_t>(l)]).k_norm_mean;
    const double cell_k = layer_summary(report.cells[1].diagnostics[static_cast<size_t>(l)]).k_norm_mean;
    REQUIRE(report.cells[1].severity == 5);
    CHECK(standard.k_norm_change == Approx(cell_k / clean_k - 1).margin(1e-6));
    const std::regex sentence("\\* layer " + std::to_string(l + 1) +
                              ", contrast s5: key norm " + sign + "[0-9.]+ %\\*? for fmnist_vit_standard, " + sign +
                              "[0-9.]+ %\\*? for fmnist_vit_quest; entropy " + sign + "[0-9.]+ nats\\*? for fmnist_vit_standard, " +
                              sign + "[0-9.]+ nats\\*? for fmnist_vit_quest\\.");
    CHECK(std::regex_search(markdown, sentence));
  }
  // Between the models on the clean images: the paired entropy difference, from the same rows.
  {
    const auto e0 = diagnostics_column_values(report.clean[0].diagnostics[2], diagnostics_column::kEntropy);
    const auto e1 = diagnostics_column_values(report.clean[1].diagnostics[2], diagnostics_column::kEntropy);
    double diff = 0;
    for (size_t i = 0; i < e0.size(); ++i) diff += (e1[i] - e0[i]) / static_cast<double>(e0.size());
    char expected[64];
    std::snprintf(expected, sizeof expected, "%.3f", std::abs(diff));
    const std::string sign_text = diff < 0 ? "−" : "+";
    INFO("expected entropy difference " << diff);
    CHECK(markdown.find("* layer 3, clean: fmnist_vit_quest's attention entropy " + sign_text + expected + " nats [") != std::string::npos);
  }
  const auto html = render_html(c);
  CHECK(html.find("<h2>Attention diagnostics</h2>") != std::string::npos);
  // Per layer two charts (key norm, entropy): one marker per model at clean and at each corruption's mean over
  // severities, and a whisker (the paired interval) at each corruption mean run at more than one severity.
  {
    const auto severities = corruption_severities(report);
    const size_t models_n = report.models.size();
    size_t whiskers = 0;
    for (const auto& [name, s] : severities) whiskers += s.size() > 1 ? models_n : 0;
    for (int l = 1; l <= 4; ++l)
      for (const std::string panel : {"key-norm", "entropy"}) {
        const auto svg = chart_svg(html, "diagnostics-layer-" + std::to_string(l) + "-" + panel);
        INFO("layer " << l << " " << panel);
        REQUIRE(!svg.empty());
        CHECK(occurrences(svg, "class=\"mark\"") == (1 + severities.size()) * models_n);
        CHECK(occurrences(svg, "class=\"whisker\"") == whiskers);
        for (const auto& m : report.models) CHECK(svg.find(">" + m.name + "</text>") != std::string::npos);  // legend
      }
    CHECK(chart_svg(html, "diagnostics-layer-5-entropy").empty());
    // The clean marker of layer 1's key-norm chart carries the table's value in its tooltip.
    const auto svg = chart_svg(html, "diagnostics-layer-1-key-norm");
    const double clean_k = layer_summary(report.clean[0].diagnostics[0]).k_norm_mean;
    const std::regex tip("<title>clean, fmnist_vit_standard: ([0-9.]+)</title>");
    std::smatch m;
    REQUIRE(std::regex_search(svg, m, tip));
    const std::string shown = m[1];
    const auto decimals = shown.find('.') == std::string::npos ? 0 : shown.size() - shown.find('.') - 1;
    CHECK(decimals == 3);
    CHECK(std::stod(shown) == Approx(clean_k).margin(0.0005 + 1e-12));
  }
  const auto summary = Json::parse(comparison_summary_to_json(c));
  CHECK(summary.at("diagnostics").at("sentences").size() == 4);
  // Reports without diagnostics compare as before, without the section.
  o.diagnostics = false;
  auto plain_report = run_corruption_sweep(models, data.get(), nullptr, o, null_reporter());
  plain_report.dataset.evaluated = 20;
  const auto plain = compare_reports({input_from_corruption("c.json", plain_report)}, options);
  CHECK(plain.diagnostics.empty());
  CHECK(render_markdown(plain).find("Attention diagnostics") == std::string::npos);
}

TEST_CASE("the dot chart draws a marker per present value and a whisker per interval", "[diagnostics][charts]") {
  const double nan = std::nan("");
  DotChartSpec spec;
  spec.id = "dots";
  spec.title = "key norm";
  spec.x_label = "condition";
  spec.y_label = "key norm";
  spec.series_names = {"standard", "quest"};
  spec.colours = {series_colour(0), series_colour(1)};
  spec.markers = {series_marker(0), series_marker(1)};
  spec.categories = {"clean", "a<b", "pgd Linf 8/255"};
  spec.values = {{1.0, 2.0}, {1.5, nan}, {1.25, 2.5}};
  spec.lo = {{nan, nan}, {1.25, nan}, {nan, 2.0}};
  spec.hi = {{nan, nan}, {1.75, nan}, {1.5, 3.0}};  // (2, 0): no lower end, no whisker
  const auto svg = dot_chart_svg(spec);
  CHECK(occurrences(svg, "class=\"mark\"") == 5);
  CHECK(occurrences(svg, "class=\"whisker\"") == 2);
  CHECK(svg.find("a&lt;b") != std::string::npos);
  CHECK(svg.find("a<b") == std::string::npos);
  CHECK(svg.find("nan") == std::string::npos);
  // The whisker of (1, 0) spans 1.25 to 1.75 around its marker at 1.5: on screen, lower values lie lower.
  const std::regex whisker("<title>a&lt;b, standard: 1.500 \\[1.250, 1.750\\]</title>");
  CHECK(std::regex_search(svg, whisker));
  const std::regex line("class=\"whisker\" x1=\"[0-9.]+\" y1=\"([0-9.]+)\" x2=\"[0-9.]+\" y2=\"([0-9.]+)\"[^>]*/><title>a&lt;b[^<]*</title><circle class=\"mark\" cx=\"[0-9.]+\" cy=\"([0-9.]+)\"");
  std::smatch m;
  REQUIRE(std::regex_search(svg, m, line));
  const double y_lo = std::stod(m[1]), y_hi = std::stod(m[2]), y = std::stod(m[3]);
  CHECK(y_lo > y);
  CHECK(y > y_hi);
  CHECK(y_lo - y == Approx(y - y_hi).margin(0.2));
  // Equal values everywhere still give a finite axis.
  spec.values = {{2.0, 2.0}, {2.0, 2.0}, {2.0, 2.0}};
  spec.lo = spec.hi = {};
  const auto flat = dot_chart_svg(spec);
  CHECK(occurrences(flat, "class=\"mark\"") == 6);
  CHECK(flat.find("nan") == std::string::npos);
  CHECK(!std::regex_search(flat, std::regex("[\">]-?inf[\"< ]")));  // no infinite coordinate or tick
}

TEST_CASE("the diagnostics charts render in headless Chromium without console messages", "[diagnostics][browser]") {
  auto data = fashion_mnist();
  const std::vector<Model> models = {load(shipped("standard")), load(shipped("quest"))};
  auto o = small_corruption_sweep(12, 12);
  o.baseline = "fmnist_vit_standard";
  auto report = run_corruption_sweep(models, data.get(), nullptr, o, null_reporter());
  report.dataset.evaluated = 12;
  AttackSweepOptions a;
  a.attacks = {"fgsm"};
  a.eps_linf = {{2.0 / 255.0, "2/255"}, {8.0 / 255.0, "8/255"}};
  a.batch_size = 12;
  a.range = {0, 12};
  a.sanity_checks = false;
  a.diagnostics = true;
  auto attacks = run_attack_sweep(models, *data, a, null_reporter());
  attacks.dataset.evaluated = 12;  // what the command records
  CompareOptions options;
  options.bootstrap = 100;
  const auto c = compare_reports({input_from_corruption("c.json", report), input_from_attack("a.json", attacks)}, options);
  REQUIRE(c.diagnostics.layers > 0);
  // Clean, each corruption (its mean) and each attack x eps.
  std::set<std::string> attack_settings;
  for (const auto& cell : attacks.cells) attack_settings.insert(cell.attack + " " + cell.norm + " " + cell.eps_text);
  REQUIRE(attack_settings.size() == 2);
  const auto dir = test::make_temp_dir("diagnostics-browser");
  write_file_atomic(dir + "/report.html", render_html(c));
  std::string out;
  const int rc = test::run_command(test::source_dir() + "/scripts/check-report-html " + dir + "/report.html " + dir + "/browser", &out);
  INFO(out);
  REQUIRE(rc == 0);  // fails when chromium is missing: never skipped
  const size_t markers = (1 + corruption_severities(report).size() + attack_settings.size()) * report.models.size();
  for (int l = 1; l <= c.diagnostics.layers; ++l)
    for (const std::string panel : {"key-norm", "entropy"}) {
      const std::string line = "chart diagnostics-layer-" + std::to_string(l) + "-" + panel + ": " + std::to_string(markers) + " data marks drawn";
      INFO(line);
      CHECK(out.find(line) != std::string::npos);
    }
}

TEST_CASE("split runs with diagnostics merge into the unsplit report", "[diagnostics][cli]") {
  const auto dir = test::make_temp_dir("diag_split");
  const std::string qb = test::questbench_binary();
  const std::string models = " --quiet --threads 1 --diagnostics --batch-size 8 --limit 24 --model " + shipped("standard") + " --model " +
                             shipped("quest");
  const std::vector<std::string> runs = {"corruption" + models + " --corruptions gaussian_noise,contrast --severities 1,5",
                                         "attack" + models + " --attacks fgsm,pgd:steps=3 --eps 0,8/255 --no-sanity-checks"};
  for (size_t r = 0; r < runs.size(); ++r) {
    INFO(runs[r]);
    const std::string single = dir + "/single" + std::to_string(r) + ".json";
    REQUIRE(test::run_command(qb + " " + runs[r] + " -o " + single) == 0);
    std::string parts;
    for (int i = 0; i < 3; ++i) {
      const std::string part = dir + "/part" + std::to_string(r) + "_" + std::to_string(i) + ".json";
      REQUIRE(test::run_command(qb + " " + runs[r] + " --shard " + std::to_string(i) + "/3 -o " + part) == 0);
      parts += " " + part;
    }
    const std::string merged = dir + "/merged" + std::to_string(r) + ".json";
    std::string out;
    REQUIRE(test::run_command(qb + " merge --quiet" + parts + " -o " + merged, &out) == 0);
    const auto a = test::comparable_report(single), b = test::comparable_report(merged);
    CHECK(a == b);
    // The merged report holds diagnostics for every sample.
    const auto text = read_file_bytes(merged);
    CHECK(text.find("\"diagnostics\"") != std::string::npos);
  }
}

}  // namespace diagnostics_runs
