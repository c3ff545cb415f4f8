// questbench compare: attack report reading, pairing checks, deltas and their statistics on the
// hand-written fixtures (tests/fixtures/compare_*.json, 16 samples; see make_fixtures.py for the
// per-sample design), mismatched inputs, schema checks, and the CLI's outputs and exit codes.
#include "tests/catch_torch.h"  // first: see the header
#include "common/error.h"
#include "common/files.h"
#include "reports/compare.h"
#include "reports/format.h"
#include "reports/render.h"
#include "tests/test_support.h"

#include <nlohmann/json.hpp>

#include <cmath>

using namespace questbench;
using namespace questbench::test;

namespace {

std::string fixture(const std::string& name) { return source_dir() + "/tests/fixtures/" + name; }

int run_qb(const std::string& args, std::string* output = nullptr) {
  return run_command(questbench_binary() + " " + args, output);
}

int condition_index(const Comparison& c, const std::string& key) {
  for (size_t i = 0; i < c.conditions.size(); ++i)
    if (c.conditions[i].key.rfind(key, 0) == 0) return static_cast<int>(i);
  FAIL("no condition " << key);
  return -1;
}

const Delta& delta_at(const Comparison& c, const std::string& key) {
  const Delta* d = find_delta(c, 1 - c.baseline, condition_index(c, key));
  REQUIRE(d != nullptr);
  return *d;
}

const HeadlineRow& headline_row(const Comparison& c, const std::string& label) {
  for (const auto& row : c.headline)
    if (row.label == label) return row;
  FAIL("no headline row " << label);
  return c.headline.front();
}

Comparison compare_files(const std::vector<std::string>& names, CompareOptions options = {}) {
  std::vector<InputReport> inputs;
  for (const auto& n : names) inputs.push_back(read_input_report(fixture(n)));
  return compare_reports(std::move(inputs), options);
}

}  // namespace

TEST_CASE("attack reports round-trip through attack_report_from_json", "[compare][reports]") {
  const auto text = read_file_bytes(fixture("compare_attack.json"));
  const AttackReport r = attack_report_from_json(text, "a.json");
  REQUIRE(r.models.size() == 2);
  CHECK(r.cells.size() == 12);
  CHECK(r.worst_case.size() == 6);
  CHECK(r.sanity.size() == 7);
  CHECK(r.clean[0].correct == 12);
  CHECK(r.cells[1].eps_text == "2/255");
  CHECK(r.cells[1].robust_mask == std::vector<uint8_t>{1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0});
  CHECK(r.cells[4].attack == "pgd");
  CHECK(r.cells[4].steps == 10);
  CHECK(r.cells[4].random_start);
  CHECK(r.worst_case[5].attacks == std::vector<std::string>{"fgsm", "pgd"});
  CHECK(r.sanity[6].status == "warned");
  // Writing what was read and reading it again is the identity.
  const std::string once = attack_report_to_json(r);
  CHECK(attack_report_to_json(attack_report_from_json(once, "b.json")) == once);
  std::string newer = once;
  newer.replace(newer.find("\"schema_version\": 1"), 19, "\"schema_version\": 7");
  CHECK_THROWS_WITH(attack_report_from_json(newer, "b.json"), Catch::Contains("schema_version 7"));
  CHECK_THROWS_WITH(attack_report_from_json(read_file_bytes(fixture("compare_eval_other_data.json")), "e.json"),
                    Catch::Contains("expected 'questbench.attack'"));
  std::string missing = once;
  missing.replace(missing.find("\"robust_accuracy\""), 17, "\"robust_accuracz\"");
  CHECK_THROWS_WITH(attack_report_from_json(missing, "m.json"), Catch::Contains("m.json") && Catch::Contains("missing a field"));
}

TEST_CASE("compare: paired deltas on the fixtures match hand-computed statistics", "[compare]") {
  const Comparison c = compare_files({"compare_attack.json", "compare_corruption.json"});
  REQUIRE(c.models.size() == 2);
  CHECK(c.models[c.baseline].name == "fmnist_vit_standard");
  CHECK(c.baseline_reason.find("CE baseline") != std::string::npos);
  CHECK(c.all_paired);
  CHECK(c.warnings.empty());
  // clean: 1 sample only the baseline gets right, 3 only QUEST: p = 2 * P(X <= 1), X ~ Bin(4, 1/2) = 10/16.
  const Delta& clean = delta_at(c, "clean");
  CHECK(clean.paired);
  CHECK(clean.baseline_only == 1);
  CHECK(clean.model_only == 3);
  CHECK(clean.diff == Approx(2.0 / 16));
  CHECK(clean.p == Approx(0.625));
  CHECK(clean.test == "McNemar exact");
  CHECK(clean.ci.lo <= clean.diff);
  CHECK(clean.ci.hi >= clean.diff);
  // PGD 8/255: baseline robust on 0-1, QUEST on 0-5: 0 / 4 discordant, p = 2 / 16.
  const Delta& pgd = delta_at(c, "attack/pgd/Linf/8/255");
  CHECK(pgd.baseline_only == 0);
  CHECK(pgd.model_only == 4);
  CHECK(pgd.p == Approx(0.125));
  CHECK(pgd.ci.lo >= 0.0);  // every resample has only positive discordant samples
  // gaussian_noise severity 3: 4 vs 6 correct (prefixes): 0 / 2, p = 0.5.
  const Delta& g3 = delta_at(c, "corruption/gaussian_noise/3");
  CHECK(g3.model_only == 2);
  CHECK(g3.p == Approx(0.5));
  // Holm over all tests of the pair: the smallest p is multiplied by the number of tests.
  size_t tests = 0;
  double smallest = 1;
  for (const auto& d : c.deltas) {
    ++tests;
    smallest = std::min(smallest, d.p);
    CHECK(d.p_holm >= d.p);
  }
  CHECK(tests == 1 + 9 + 6 + 3);  // clean, 3 corruptions x 3 severities, 2 attacks x 3 eps, worst case x 3 eps
  double smallest_holm = 1;
  for (const auto& d : c.deltas) smallest_holm = std::min(smallest_holm, d.p_holm);
  CHECK(smallest_holm == Approx(std::min(1.0, smallest * tests)));
  // CE against the baseline (errors summed over severities 1-3; see make_fixtures.py):
  // gaussian_noise 20/26, fog 20/18; relative: 14/14 and 14/6.
  REQUIRE(c.corruption_errors.size() == 3);
  CHECK(c.corruption_errors[0].corruption == "gaussian_noise");
  CHECK(c.corruption_errors[0].ce[1] == Approx(20.0 / 26));
  CHECK(c.corruption_errors[0].ce[0] == Approx(1.0));
  CHECK(c.corruption_errors[1].corruption == "fog");
  CHECK(c.corruption_errors[1].ce[1] == Approx(20.0 / 18));
  CHECK(c.corruption_errors[1].relative_ce[1] == Approx(14.0 / 6));
  CHECK(c.corruption_errors[2].group == "extra");
  const auto& mce = headline_row(c, "mCE vs fmnist_vit_standard");
  CHECK(mce.cells[1].value == Approx((20.0 / 26 + 20.0 / 18) / 2));
  CHECK(mce.cells[0].value == Approx(1.0));
  CHECK(headline_row(c, "relative mCE vs fmnist_vit_standard").cells[1].value == Approx((1.0 + 14.0 / 6) / 2));
  // Mean corrupted accuracy over the 6 standard cells: 52/96 vs 56/96, bootstrap CI around +4/96.
  const auto& mean = headline_row(c, "mean corrupted accuracy");
  CHECK(mean.cells[0].value == Approx(52.0 / 96));
  CHECK(mean.cells[1].value == Approx(56.0 / 96));
  CHECK(mean.cells[1].diff == Approx(4.0 / 96));
  CHECK(mean.cells[1].paired);
  CHECK(mean.cells[1].ci.lo <= 4.0 / 96);
  CHECK(mean.cells[1].ci.hi >= 4.0 / 96);
  // Attack rows (eps > 0 only) and worst case rows are in the headline.
  CHECK(headline_row(c, "PGD Linf 8/255").cells[1].value == Approx(6.0 / 16));
  CHECK(headline_row(c, "worst case Linf 8/255 (fgsm+pgd)").cells[0].value == Approx(2.0 / 16));
}

TEST_CASE("compare: results are deterministic given the seed", "[compare]") {
  CompareOptions a;
  a.seed = 3;
  const auto one = comparison_summary_to_json(compare_files({"compare_attack.json"}, a));
  const auto two = comparison_summary_to_json(compare_files({"compare_attack.json"}, a));
  CHECK(one == two);
  a.seed = 4;
  a.bootstrap = 500;
  const auto other = comparison_summary_to_json(compare_files({"compare_attack.json"}, a));
  CHECK(other != one);
  // The seed only moves the intervals: the p-values do not depend on it.
  const auto x = nlohmann::json::parse(one), y = nlohmann::json::parse(other);
  for (size_t i = 0; i < x["deltas"].size(); ++i) CHECK(x["deltas"][i]["p"] == y["deltas"][i]["p"]);
}

TEST_CASE("compare: the baseline is chosen, or given", "[compare]") {
  CHECK(compare_files({"compare_attack.json"}).models[0].name == "fmnist_vit_standard");
  CompareOptions o;
  o.baseline = "fmnist_vit_quest";
  const auto c = compare_files({"compare_attack.json"}, o);
  CHECK(c.models[c.baseline].name == "fmnist_vit_quest");
  CHECK(delta_at(c, "clean").diff == Approx(-2.0 / 16));
  o.baseline = "resnet";
  CHECK_THROWS_AS(compare_files({"compare_attack.json"}, o), UsageError);
  CHECK_THROWS_WITH(compare_files({"compare_attack.json"}, o), Catch::Contains("resnet") && Catch::Contains("fmnist_vit_quest"));
}

TEST_CASE("compare: reports of different seeds, data or samples are flagged and compared unpaired", "[compare]") {
  // The two models in separate attack reports with different seeds.
  const AttackReport full = attack_report_from_json(read_file_bytes(fixture("compare_attack.json")), "a.json");
  auto only = [&](const std::string& name, uint64_t seed) {
    AttackReport r = full;
    r.context.seed = seed;
    r.models.erase(std::remove_if(r.models.begin(), r.models.end(), [&](const ModelInfo& m) { return m.name != name; }), r.models.end());
    r.clean.erase(r.clean.begin() + (name == "fmnist_vit_standard" ? 1 : 0));
    r.cells.erase(std::remove_if(r.cells.begin(), r.cells.end(), [&](const AttackCell& x) { return x.model != name; }), r.cells.end());
    r.worst_case.erase(std::remove_if(r.worst_case.begin(), r.worst_case.end(), [&](const WorstCaseCell& x) { return x.model != name; }),
                       r.worst_case.end());
    return r;
  };
  {
    const auto c = compare_reports({input_from_attack("std.json", only("fmnist_vit_standard", 0)),
                                    input_from_attack("quest.json", only("fmnist_vit_quest", 1))},
                                   {});
    CHECK_FALSE(c.all_paired);
    REQUIRE(c.warnings.size() == 1);
    CHECK(c.warnings[0].find("UNPAIRED") != std::string::npos);
    CHECK(c.warnings[0].find("different seeds (0 vs 1)") != std::string::npos);
    const Delta& clean = delta_at(c, "clean");
    CHECK_FALSE(clean.paired);
    CHECK(clean.test == "two-proportion z (unpaired)");
    CHECK(clean.unpaired_reason.find("seeds") != std::string::npos);
    const auto ci = newcombe_interval(14, 16, 12, 16);
    CHECK(clean.ci.lo == Approx(ci.lo));
    CHECK(clean.ci.hi == Approx(ci.hi));
    CHECK(clean.p == Approx(two_proportion_p(14, 16, 12, 16)));
    const auto md = render_markdown(c);
    CHECK(md.find("UNPAIRED") != std::string::npos);
    CHECK(md.find("(unpaired)") != std::string::npos);
    const auto html = render_html(c);
    CHECK(html.find("banner warn") != std::string::npos);
    CHECK(html.find("<b>unpaired</b>") != std::string::npos);
  }
  {
    // Same seed, same data: the two one-model reports pair up.
    const auto c = compare_reports({input_from_attack("std.json", only("fmnist_vit_standard", 0)),
                                    input_from_attack("quest.json", only("fmnist_vit_quest", 0))},
                                   {});
    CHECK(c.all_paired);
    CHECK(delta_at(c, "clean").p == Approx(0.625));
  }
  {
    // A different data set: the clean comparison across the reports is unpaired and says why.
    EvalReport other = eval_report_from_json(read_file_bytes(fixture("compare_eval_other_data.json")), "other.json");
    other.models.erase(other.models.begin());
    other.results.erase(other.results.begin());
    const auto c = compare_reports({input_from_attack("std.json", only("fmnist_vit_standard", 0)), input_from_eval("other.json", other)}, {});
    CHECK_FALSE(c.all_paired);
    bool found = false;
    for (const auto& w : c.warnings) found = found || w.find("different data sets") != std::string::npos;
    CHECK(found);
  }
  {
    // Fewer samples evaluated in one report.
    AttackReport shorter = only("fmnist_vit_quest", 0);
    shorter.dataset.evaluated = 8;
    for (auto& r : shorter.clean) {
      r.n = 8;
      r.correct_mask.resize(8);
      r.correct = std::count(r.correct_mask.begin(), r.correct_mask.end(), 1);
      r.accuracy = r.correct / 8.0;
    }
    for (auto& x : shorter.cells) {
      x.n = 8;
      x.robust_mask.resize(8);
      x.robust_accuracy = std::count(x.robust_mask.begin(), x.robust_mask.end(), 1) / 8.0;
    }
    for (auto& x : shorter.worst_case) {
      x.robust_mask.resize(8);
      x.robust_accuracy = std::count(x.robust_mask.begin(), x.robust_mask.end(), 1) / 8.0;
    }
    const auto c = compare_reports({input_from_attack("std.json", only("fmnist_vit_standard", 0)), input_from_attack("q.json", shorter)}, {});
    CHECK_FALSE(delta_at(c, "clean").paired);
    CHECK(delta_at(c, "clean").unpaired_reason.find("different sample sets (first 16 vs first 8 samples)") != std::string::npos);
  }
}

TEST_CASE("compare: inconsistent inputs are rejected or flagged", "[compare]") {
  AttackReport r = attack_report_from_json(read_file_bytes(fixture("compare_attack.json")), "a.json");
  {
    AttackReport bad = r;
    bad.cells[1].robust_accuracy = 0.9;  // does not match its bits
    CHECK_THROWS_WITH(compare_reports({input_from_attack("bad.json", bad)}, {}),
                      Catch::Contains("bad.json") && Catch::Contains("does not match its per-sample bits"));
  }
  {
    // The same model's clean predictions differ between two reports of the same data.
    AttackReport other = r;
    other.clean[0].correct_mask[15] = 1;
    other.clean[0].correct_mask[0] = 0;
    const auto c = compare_reports({input_from_attack("a.json", r), input_from_attack("b.json", other)}, {});
    bool found = false;
    for (const auto& w : c.warnings) found = found || w.find("clean correctness differs between a.json and b.json on 2 of the first 16") != std::string::npos;
    CHECK(found);
  }
  {
    // One model only: nothing to compare.
    AttackReport one = r;
    one.models.resize(1);
    one.clean.resize(1);
    CHECK_THROWS_WITH(compare_reports({input_from_attack("one.json", one)}, {}), Catch::Contains("at least two models"));
  }
  {
    // Two different checkpoints under one name stay two models, told apart by their hash.
    AttackReport renamed = r;
    renamed.models[1].name = "fmnist_vit_standard";
    for (auto& x : renamed.cells)
      if (x.model == "fmnist_vit_quest") x.model = "fmnist_vit_standard";
    const auto c = compare_reports({input_from_attack("a.json", r), input_from_attack("r.json", renamed)}, {});
    REQUIRE(c.models.size() == 3);
    CHECK(c.models[0].display == "fmnist_vit_standard [11111111]");
    CHECK(c.models[1].display == "fmnist_vit_quest");
    CHECK(c.models[2].display == "fmnist_vit_standard [22222222]");
  }
}

TEST_CASE("compare: unreadable inputs name the file and the problem", "[compare]") {
  CHECK_THROWS_WITH(read_input_report("/nonexistent/r.json"), Catch::Contains("/nonexistent/r.json"));
  CHECK_THROWS_WITH(read_input_report(fixture("compare_newer_schema.json")),
                    Catch::Contains("compare_newer_schema.json") && Catch::Contains("schema_version 2 is not supported"));
  CHECK_THROWS_WITH(read_input_report(fixture("compare_unknown_schema.json")),
                    Catch::Contains("questbench.bogus") && Catch::Contains("cannot be compared"));
  const auto dir = make_temp_dir("compare-bad");
  write_file_atomic(dir + "/half.json", read_file_bytes(fixture("compare_attack.json")).substr(0, 500));
  CHECK_THROWS_WITH(read_input_report(dir + "/half.json"), Catch::Contains("half.json") && Catch::Contains("not valid JSON"));
  write_file_atomic(dir + "/list.json", "[1, 2]");
  CHECK_THROWS_WITH(read_input_report(dir + "/list.json"), Catch::Contains("not a questbench report"));
}

TEST_CASE("compare: Markdown and HTML carry the headline, statistics, sanity warnings and provenance", "[compare]") {
  const Comparison c = compare_files({"compare_attack.json", "compare_corruption.json"});
  const auto md = render_markdown(c);
  for (const std::string part : {"## Headline", "| clean accuracy", "75.00 %", "87.50 %", "+12.50", "mCE vs fmnist_vit_standard",
                                 "## Corruptions", "## Attacks", "## Statistics", "Holm–Bonferroni", "McNemar exact",
                                 "large_eps_reaches_chance", "PGD-20 at Linf eps 0.5", "## Provenance", "sha256:abab",
                                 "questbench attack --limit 16 (fixture)", "1 warned, 4 passed, 2 not run"}) {
    INFO(part);
    CHECK(md.find(part) != std::string::npos);
  }
  const auto html = render_html(c);
  for (const std::string part : {"<!DOCTYPE html>", "data-chart=\"forest-fmnist-vit-quest\"", "data-chart=\"eps-pgd-linf\"",
                                 "data-chart=\"eps-worst-linf\"", "data-chart=\"severity-gaussian-noise\"", "data-chart=\"severity-fog\"",
                                 "data-chart=\"ce\"", "data-chart=\"heatmap-fmnist-vit-quest\"", "large_eps_reaches_chance",
                                 "Holm–Bonferroni", "questbench corruption --limit 16 (fixture)"}) {
    INFO(part);
    CHECK(html.find(part) != std::string::npos);
  }
  // Self-contained: no reference to anything outside the file.
  for (const std::string forbidden : {"http:", "https:", "src=", "href=", "url(", "@import", "//cdn"}) {
    INFO(forbidden);
    CHECK(html.find(forbidden) == std::string::npos);
  }
}

TEST_CASE("questbench compare writes report.md, report.html and summary.json, or nothing", "[compare][cli]") {
  const auto dir = make_temp_dir("compare-cli");
  std::string out;
  REQUIRE(run_qb("compare " + fixture("compare_attack.json") + " " + fixture("compare_corruption.json") + " -o " + dir + "/out --seed 1",
             &out) == 0);
  INFO(out);
  CHECK(out.find(dir + "/out/report.html") != std::string::npos);
  for (const std::string f : {"report.md", "report.html", "summary.json"}) CHECK(file_exists(dir + "/out/" + f));
  const auto summary = nlohmann::json::parse(read_file_bytes(dir + "/out/summary.json"));
  CHECK(summary["schema"] == "questbench.comparison");
  CHECK(summary["schema_version"] == 1);
  CHECK(summary["baseline"]["name"] == "fmnist_vit_standard");
  CHECK(summary["all_paired"] == true);
  CHECK(summary["settings"]["seed"] == 1);
  CHECK(summary["deltas"].size() == 19);
  CHECK(summary["deltas"][0]["condition"]["kind"] == "clean");
  CHECK(summary["deltas"][0]["p"].get<double>() == Approx(0.625));

  // Input errors: exit 1, one line naming the file, no output at all.
  auto check_fails = [&](const std::string& args, int code, const std::string& fragment) {
    INFO(args);
    const std::string target = dir + "/fail";
    CHECK(run_qb("compare " + args + " -o " + target, &out) == code);
    INFO(out);
    CHECK(out.find(fragment) != std::string::npos);
    CHECK(std::count(out.begin(), out.end(), '\n') == 1);
    CHECK_FALSE(file_exists(target + "/report.html"));
    CHECK_FALSE(file_exists(target + "/summary.json"));
    CHECK_FALSE(file_exists(target + "/report.md"));
  };
  check_fails(fixture("compare_attack.json") + " " + dir + "/missing.json", 1, "missing.json");
  check_fails(fixture("compare_attack.json") + " " + fixture("compare_newer_schema.json"), 1, "schema_version 2");
  check_fails(fixture("compare_unknown_schema.json"), 1, "questbench.bogus");
  check_fails(fixture("compare_attack.json") + " --baseline nobody", 2, "--baseline 'nobody'");
  CHECK(run_qb("compare " + fixture("compare_attack.json"), &out) == 2);  // -o is required
  CHECK(run_qb("compare --help", &out) == 0);
  CHECK(out.find("--bootstrap") != std::string::npos);
}

TEST_CASE("compare tells attacks apart by their specs", "[compare][cli][spec]") {
  // Two PGD configurations in one sweep are two attacks: two cells per eps in the report, two conditions in the
  // comparison, each keyed by its spec.
  const auto dir = make_temp_dir("compare-specs");
  const std::string ckpt = source_dir() + "/models/checkpoints/fmnist_vit_";
  REQUIRE(run_qb("attack --quiet --limit 16 --batch-size 16 --no-sanity-checks --eps 4/255 --attacks pgd:steps=2,pgd:steps=3,alpha=1/255"
                 " --model " + ckpt + "standard.safetensors --model " + ckpt + "quest.safetensors -o " + dir + "/attack.json") == 0);
  const auto report = nlohmann::json::parse(read_file_bytes(dir + "/attack.json"));
  const auto& cells = report["results"]["fmnist_vit_quest"]["attacks"];
  REQUIRE(cells.size() == 2);
  CHECK(cells[0]["spec"] == "pgd:steps=2,alpha=2/255,restarts=1,random_start=1,loss=ce,early_stop=1");
  CHECK(cells[1]["spec"] == "pgd:steps=3,alpha=1/255,restarts=1,random_start=1,loss=ce,early_stop=1");
  REQUIRE(run_qb("compare " + dir + "/attack.json -o " + dir + "/out --quiet") == 0);
  const auto summary = nlohmann::json::parse(read_file_bytes(dir + "/out/summary.json"));
  std::vector<std::string> keys;
  for (const auto& d : summary["deltas"])
    if (d["condition"]["kind"] == "attack") keys.push_back(d["condition"]["key"]);
  CHECK(std::count(keys.begin(), keys.end(), "attack/" + cells[0]["spec"].get<std::string>() + "/Linf/4/255") == 1);
  CHECK(std::count(keys.begin(), keys.end(), "attack/" + cells[1]["spec"].get<std::string>() + "/Linf/4/255") == 1);
}
