// The comparison report in a real browser (Debian's chromium, headless, installed by scripts/setup):
// scripts/check-report-html loads report.html with every host name unresolvable and fails on any console
// message, any error the page records, or any chart that has no data marks or did not lay them out.
// The negative cases prove each of those failures is caught. The second test runs the embedded default
// (shipped checkpoints, Fashion-MNIST, first 64 test images) end to end and takes a screenshot.
#include "tests/catch_torch.h"  // first: see the header
#include "common/files.h"
#include "tests/test_support.h"

#include <fstream>

using namespace questbench;
using namespace questbench::test;

namespace {

std::string qb_path() { return questbench_binary(); }

std::string fixture_path(const std::string& name) { return source_dir() + "/tests/fixtures/" + name; }

int check_html(const std::string& html, const std::string& out_dir, std::string* output, bool screenshot = false) {
  return run_command(source_dir() + "/scripts/check-report-html " + html + " " + out_dir + (screenshot ? " --screenshot" : ""), output);
}

// A copy of `html` with `from` (its first occurrence) replaced by `to`.
std::string variant(const std::string& html, const std::string& dir, const std::string& name, const std::string& from,
                    const std::string& to) {
  std::string text = read_file_bytes(html);
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  const std::string path = dir + "/" + name + ".html";
  write_file_atomic(path, text);
  return path;
}

}  // namespace

TEST_CASE("the comparison HTML renders in headless Chromium: every chart drawn, no console message", "[compare][browser]") {
  const auto dir = make_temp_dir("browser");
  std::string out;
  REQUIRE(run_command(qb_path() + " compare --quiet " + fixture_path("compare_corruption.json") + " " +
                          fixture_path("compare_attack.json") + " -o " + dir + "/out",
                      &out) == 0);
  const std::string html = dir + "/out/report.html";
  const int rc = check_html(html, dir + "/ok", &out);
  INFO(out);
  REQUIRE(rc == 0);  // also fails when chromium is missing: the check is never skipped
  for (const std::string chart : {"forest-fmnist-vit-quest", "eps-fgsm-linf", "eps-pgd-linf", "eps-worst-linf", "ce",
                                  "heatmap-fmnist-vit-quest", "severity-gaussian-noise", "severity-fog", "severity-speckle-noise"}) {
    INFO(chart);
    CHECK(out.find("chart " + chart + ": ") != std::string::npos);
  }
  CHECK(out.find("OK: 9 charts rendered") != std::string::npos);
  // 3 severities + clean, 2 models: 8 points per severity chart; 9 cells in the heatmap; 3 x 2 CE bars.
  CHECK(out.find("chart severity-fog: 8 data marks drawn") != std::string::npos);
  CHECK(out.find("chart heatmap-fmnist-vit-quest: 9 data marks drawn") != std::string::npos);
  CHECK(out.find("chart ce: 6 data marks drawn") != std::string::npos);

  SECTION("a script error fails the check") {
    const auto bad = variant(html, dir, "script_error", "</main>", "<script>definitelyMissingFunction();</script></main>");
    CHECK(check_html(bad, dir + "/bad1", &out) == 1);
    INFO(out);
    CHECK(out.find("definitelyMissingFunction is not defined") != std::string::npos);
    CHECK(out.find("FAILED") != std::string::npos);
  }
  SECTION("console.error fails the check") {
    const auto bad = variant(html, dir, "console_error", "<main>", "<main><script>console.error('broken chart')</script>");
    CHECK(check_html(bad, dir + "/bad2", &out) == 1);
    INFO(out);
    CHECK(out.find("broken chart") != std::string::npos);
  }
  SECTION("a resource from the network fails the check (there is no network)") {
    const auto bad = variant(html, dir, "network", "<main>", "<main><img alt=\"\" src=\"https://example.com/logo.png\">");
    CHECK(check_html(bad, dir + "/bad3", &out) == 1);
    INFO(out);
    CHECK(out.find("example.com/logo.png") != std::string::npos);
  }
  SECTION("a chart without data marks fails the check") {
    std::string text = read_file_bytes(html);
    const auto begin = text.find("data-chart=\"ce\"");
    REQUIRE(begin != std::string::npos);
    const auto end = text.find("</svg>", begin);
    for (auto at = text.find("class=\"mark\"", begin); at != std::string::npos && at < end; at = text.find("class=\"mark\"", at))
      text.replace(at, 12, "class=\"gone\"");
    write_file_atomic(dir + "/no_marks.html", text);
    CHECK(check_html(dir + "/no_marks.html", dir + "/bad4", &out) == 1);
    INFO(out);
    CHECK(out.find("chart ce: no data marks") != std::string::npos);
  }
  SECTION("a chart that is not laid out fails the check") {
    const auto bad = variant(html, dir, "hidden", "<svg class=\"chart\" data-chart=\"eps-pgd-linf\"",
                             "<svg style=\"display:none\" class=\"chart\" data-chart=\"eps-pgd-linf\"");
    CHECK(check_html(bad, dir + "/bad5", &out) == 1);
    INFO(out);
    CHECK(out.find("chart eps-pgd-linf: only 0 of") != std::string::npos);
  }
}

TEST_CASE("embedded default: attack + corruption runs, compare, the report renders in Chromium (screenshot)", "[compare][browser][slow]") {
  const auto dir = make_temp_dir("browser-default");
  const std::string ckpt = source_dir() + "/models/checkpoints/";
  const std::string models = " --model " + ckpt + "fmnist_vit_standard.safetensors --model " + ckpt + "fmnist_vit_quest.safetensors";
  std::string out;
  int rc = run_command(qb_path() + " corruption --quiet --threads 1 --dataset fashion-mnist --limit 64" + models + " -o " + dir +
                           "/corruption.json",
                       &out);
  INFO("corruption: " << out);
  REQUIRE(rc == 0);
  rc = run_command(qb_path() + " attack --quiet --threads 1 --dataset fashion-mnist --limit 64 --attacks fgsm,pgd --eps 0,2/255,8/255" +
                       models + " -o " + dir + "/attack.json",
                   &out);
  INFO("attack: " << out);
  REQUIRE(rc == 0);
  REQUIRE(run_command("cd " + dir + " && " + qb_path() + " compare corruption.json attack.json -o report", &out) == 0);
  INFO(out);
  CHECK(out.find("report: report/report.html") != std::string::npos);
  CHECK(out.find("warning") == std::string::npos);  // same samples, same seed: everything paired
  rc = check_html(dir + "/report/report.html", dir + "/browser", &out, /*screenshot=*/true);
  INFO(out);
  REQUIRE(rc == 0);
  // 19 corruptions x (accuracy vs severity), CE bars, heatmap, forest plot, FGSM, PGD, worst case and a reliability
  // diagram per model.
  CHECK(out.find("OK: 27 charts rendered") != std::string::npos);
  REQUIRE(file_exists(dir + "/browser/report.png"));
  const auto png = read_file_bytes(dir + "/browser/report.png");
  CHECK(png.substr(1, 3) == "PNG");
  CHECK(png.size() > 50000);  // a full page of charts, not a blank image
  WARN("screenshot: " << dir << "/browser/report.png");
}
