// Crash safety and determinism of whole runs, through the questbench binary (RELIABILITY.md, "Kill and resume"
// and "Determinism"):
// - a corruption run and an attack run (with the AutoAttack cascade) are SIGKILLed at random times and at every
//   cascade stage boundary, then resumed (and sometimes killed again) until they finish; the final report must
//   equal an uninterrupted run's without its run details, and nothing may be left behind;
// - the same plan with batch sizes 1, 7, 64 and 1 or 2 threads must give the same report.
#include "tests/catch_torch.h"  // first: see the header
#include "common/files.h"
#include "reports/serialize.h"
#include "tests/test_support.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <future>
#include <thread>
#include <iomanip>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace questbench;

namespace crash_resume_test {

using Json = nlohmann::json;

std::string shipped_model() { return test::source_dir() + "/models/checkpoints/fmnist_vit_standard.safetensors"; }

// A corruption run of the shipped ViT: 12 cells of `limit` samples (seconds).
std::string corruption_args(int limit) {
  return "corruption --quiet --threads 1 --model " + shipped_model() + " --limit " + std::to_string(limit) +
         " --corruptions gaussian_noise,fog,jpeg_compression,contrast --severities 1,3,5";
}

// An attack run of the reference MLP with AutoAttack's four stages. 8 samples in two batches keep the cascade's
// slow stages (FAB-T and Square attack every survivor) to seconds; at 8/255 survivors reach every stage.
std::string attack_args() {
  const auto ref = test::reference_dir() + "/attacks";
  return "attack --quiet --threads 1 --torchscript --input-size 1,28,28 --model " + ref + "/models/m2_mlp.pt --dataset " + ref +
         "/inputs.npy --labels " + ref + "/labels.npy --limit 8 --attacks fgsm,pgd:steps=5,autoattack --eps 8/255";
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// `questbench <args> -o <output> [--resume]` in `dir`, SIGKILLed after `kill_after` seconds unless it ends
// first (kill_after <= 0: never). Returns the exit status (137 when killed).
int run_maybe_killed(const std::string& dir, const std::string& args, const std::string& output, bool resume, double kill_after,
                     std::string* said) {
  std::ostringstream command;
  command << "cd " << dir << " && ";
  // Fixed notation (timeout reads no exponent reliably) and at least 1 ms (timeout 0 would never kill).
  if (kill_after > 0) command << "timeout -s KILL " << std::fixed << std::setprecision(3) << std::max(kill_after, 0.001) << " ";
  command << test::questbench_binary() << " " << args << " -o " << output << (resume ? " --resume" : "");
  return test::run_command(command.str(), said);
}

// Starts the run and SIGKILLs it as soon as its journal holds `lines` lines containing `marker` (polled every
// 20 ms; the kill lands in what comes next). Returns the exit status (137 when killed, 0 when it ended first).
int run_killed_at_journal(const std::string& dir, const std::string& args, const std::string& output, bool resume,
                          const std::string& marker, int lines) {
  const std::string journal = output + ".journal";
  const std::string script = "cd " + dir + " || exit 3; " + test::questbench_binary() + " " + args + " -o " + output +
                             (resume ? " --resume" : "") + " & pid=$!; while kill -0 $pid 2>/dev/null; do [ $(cat " + journal + " 2>/dev/null | grep -c " +
                             marker + ") -ge " + std::to_string(lines) +
                             " ] && break; sleep 0.02; done; kill -9 $pid 2>/dev/null; wait $pid";
  return test::run_command("bash -c '" + script + "'");
}

// Files other than the reports listed in `reports`: journals, temporary files of atomic writes, anything else.
std::vector<std::string> leftovers(const std::string& dir, const std::vector<std::string>& reports) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (std::find(reports.begin(), reports.end(), name) == reports.end()) found.push_back(name);
  }
  return found;
}

// Lines of the run's journal (0 when there is none): how far a killed run had come.
int journal_lines(const std::string& dir, const std::string& output) {
  const auto path = dir + "/" + output + ".journal";
  if (!file_exists(path)) return 0;
  const auto text = read_file_bytes(path);
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

// After a kill the report is either absent or a whole report (it is written by an atomic rename).
void check_no_torn_report(const std::string& path) {
  if (!file_exists(path)) return;
  INFO(path << " exists after a kill");
  CHECK_NOTHROW(Json::parse(read_file_bytes(path)));
}

struct KillStats {
  int kills = 0, resumes = 0;
  std::vector<int> journal_lines_at_kill;  // per kill, the complete journal lines it left (header included)
};

// Resumes `output` until a run finishes; each resumed run is killed again with probability 1/2 (at a time drawn
// from (0, T)), at most 3 times in a row, then left to finish.
void resume_until_done(const std::string& dir, const std::string& args, const std::string& output, double whole_seconds,
                       std::mt19937_64& rng, KillStats& stats) {
  std::uniform_real_distribution<double> when(0.0, whole_seconds);
  for (int again = 0;; ++again) {
    const bool kill = again < 3 && (rng() & 1);
    const double at = kill ? when(rng) : 0.0;
    std::string said;
    const int code = run_maybe_killed(dir, args, output, /*resume=*/true, at, &said);
    ++stats.resumes;
    INFO("resume " << again << (kill ? " killed after " + std::to_string(at) + " s" : " left to finish") << "; it said: " << said);
    if (code == 0) return;
    REQUIRE(code == 137);  // anything else is a failure of the run itself
    ++stats.kills;
    stats.journal_lines_at_kill.push_back(journal_lines(dir, output));
    check_no_torn_report(dir + "/" + output);
  }
}

// The kill/resume check of one plan: `points` kills at random times in (0, T) (T: the uninterrupted run's wall
// time) with seed `seed`, and one kill after each count of journal lines containing `marker` in `marker_counts`.
void check_kill_and_resume(const std::string& tag, const std::string& args, int points, uint64_t seed, const std::string& marker,
                           const std::vector<int>& marker_counts) {
  const auto dir = test::make_temp_dir(tag);
  const auto started = std::chrono::steady_clock::now();
  std::string said;
  REQUIRE(run_maybe_killed(dir, args, "whole.json", false, 0, &said) == 0);
  const double whole_seconds = seconds_since(started);
  const Json whole = test::comparable_report(dir + "/whole.json");
  std::vector<std::string> reports{"whole.json"};
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> when(0.0, whole_seconds);
  KillStats stats;
  std::ostringstream log;
  log << "uninterrupted run " << whole_seconds << " s; kills:";
  // Random kills until `points` of them interrupted a run (a run may finish before its kill when the machine is
  // less busy than during the uninterrupted run; at most 2 * points tries), then the targeted kills.
  int random_kills = 0, finished_before_kill = 0, runs = 0;
  const auto run_one = [&](bool random, int marker_count) {
    const auto output = "killed" + std::to_string(runs++) + ".json";
    reports.push_back(output);
    int code;
    if (random) {
      const double at = when(rng);
      log << " " << at;
      code = run_maybe_killed(dir, args, output, false, at, &said);
    } else {
      log << " [after " << marker_count << " journal lines with " << marker << "]";
      code = run_killed_at_journal(dir, args, output, false, marker, marker_count);
    }
    INFO(log.str());
    INFO("run " << output << " said: " << said);
    if (code == 0) {
      ++finished_before_kill;
      CHECK(random);  // a targeted kill comes while the run still has cells to do
    } else {
      REQUIRE(code == 137);
      ++stats.kills;
      stats.journal_lines_at_kill.push_back(journal_lines(dir, output));
      random_kills += random;
      check_no_torn_report(dir + "/" + output);
      resume_until_done(dir, args, output, whole_seconds, rng, stats);
    }
    CHECK(test::comparable_report(dir + "/" + output) == whole);
  };
  for (int tries = 0; random_kills < points && tries < 2 * points; ++tries) run_one(true, 0);
  for (int count : marker_counts) run_one(false, count);
  INFO(log.str());
  // Every journal was removed by the run that finished, and no temporary file of an atomic write is left.
  CHECK(leftovers(dir, reports) == std::vector<std::string>{});
  // The runs were really interrupted, not mostly finished before their kill.
  CHECK(random_kills == points);
  std::ostringstream lines;
  for (int n : stats.journal_lines_at_kill) lines << " " << n;
  WARN(tag << ": " << log.str() << "; " << stats.kills << " kills, " << stats.resumes << " resumed runs, " << finished_before_kill
           << " runs finished before their kill; journal lines left by each kill (in order):" << lines.str());
  std::filesystem::remove_all(dir);
}

// The context fields that name the settings the determinism tests vary.
Json without_varied_settings(Json report) {
  report["context"].erase("batch_size");
  report["context"].erase("threads");
  return report;
}

// Takes out of the report, by JSON path, the values that follow a model's float32 arithmetic to the last bits:
// the clean cross-entropy ("loss", "loss_sum") and the L2 norms of perturbations ("mean_l2", "max_l2",
// "sum_l2"). LibTorch's float32 logits of a sample move by a few ulps with the batch's shape and the thread
// count (measured with `questbench predict`: at most 1.9e-6 on logits up to ~10, the predicted class never
// changed), so a sample's loss moves too, and an attack iterate can land a few ulps elsewhere (its L2 norm
// moved by up to 3.5e-7; its Linf norm, at eps, did not), and so do the calibration values computed from the
// logits. Everything else (masks, counts, accuracies, Linf norms, pass counts) must stay identical.
// The calibration block of a clean result or corruption cell follows the logits too: its per-sample confidences
// (decoded, one value each), the metrics and sums, and the bins' mean confidences; the bins' counts stay exact.
void take_calibration_values(Json& j, const std::string& path, std::map<std::string, double>& taken) {
  if (!j.contains("calibration") || !j["calibration"].is_object() || !j.contains("n")) return;
  auto& k = j["calibration"];
  const std::string at = path + "/calibration";
  for (const char* key : {"ece", "adaptive_ece", "nll", "brier", "nll_sum", "brier_sum"}) {
    taken[at + "/" + key] = k.at(key).get<double>();
    k.erase(key);
  }
  for (size_t b = 0; b < k.at("bins").size(); ++b) {
    taken[at + "/bins[" + std::to_string(b) + "]/mean_confidence"] = k["bins"][b].at("mean_confidence").get<double>();
    k["bins"][b].erase("mean_confidence");
  }
  const auto confidences = unpack_floats(k.at("confidences").get<std::string>(), j.at("n").get<int64_t>());
  for (size_t i = 0; i < confidences.size(); ++i) taken[at + "/confidences[" + std::to_string(i) + "]"] = confidences[i];
  k.erase("confidences");
}

void take_float_values(Json& j, const std::string& path, std::map<std::string, double>& taken) {
  if (j.is_object()) {
    for (const char* key : {"loss", "loss_sum", "mean_l2", "max_l2", "sum_l2"}) {
      if (j.contains(key) && j[key].is_number()) {
        taken[path + "/" + key] = j[key].get<double>();
        j.erase(key);
      }
    }
    take_calibration_values(j, path, taken);
    for (auto& [key, value] : j.items()) take_float_values(value, path + "/" + key, taken);
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) take_float_values(j[i], path + "[" + std::to_string(i) + "]", taken);
  }
}

// The plan with batch sizes 1, 7, 64 and 1 or 2 threads: every report must equal the first one, but for the
// values take_float_values takes, which must agree to 1e-5 relative (absolute below 1): a float32 value that
// moves by a few ulps moves by ~1e-7 relative; 1e-5 is far above that and far below any real change. With
// --batch-invariant in the arguments, those values too must be the same bits.
void check_same_report_for_batches_and_threads(const std::string& tag, const std::string& args_without_threads) {
  const bool bit_identical = args_without_threads.find("--batch-invariant") != std::string::npos;
  const auto dir = test::make_temp_dir(tag);
  struct Setting {
    int batch, threads;
  };
  const std::vector<Setting> settings{{64, 1}, {7, 1}, {1, 1}, {64, 2}, {7, 2}};
  Json first;
  std::map<std::string, double> first_values;
  for (const auto& s : settings) {
    const auto output = "b" + std::to_string(s.batch) + "_t" + std::to_string(s.threads) + ".json";
    std::string said;
    INFO("batch size " << s.batch << ", " << s.threads << " threads");
    const auto started = std::chrono::steady_clock::now();
    REQUIRE(test::run_command("cd " + dir + " && " + test::questbench_binary() + " " + args_without_threads + " --threads " +
                                  std::to_string(s.threads) + " --batch-size " + std::to_string(s.batch) + " -o " + output,
                              &said) == 0);
    WARN(tag << ": batch size " << s.batch << ", " << s.threads << " threads: " << seconds_since(started) << " s");
    Json report = without_varied_settings(test::comparable_report(dir + "/" + output));
    if (bit_identical) {
      // Every value, floats included; JSON numbers are written with 17 significant digits, so equal text is equal bits.
      if (first.is_null()) first = report;
      else CHECK(report.dump() == first.dump());
      continue;
    }
    std::map<std::string, double> values;
    take_float_values(report, "", values);
    REQUIRE(!values.empty());
    if (first.is_null()) {
      first = report;
      first_values = values;
      continue;
    }
    CHECK(report == first);
    REQUIRE(values.size() == first_values.size());
    double largest = 0;
    std::string where;
    for (const auto& [path, value] : values) {
      REQUIRE(first_values.count(path) == 1);
      const double difference = std::abs(value - first_values[path]);
      if (difference > largest) largest = difference, where = path;
      INFO(path << ": " << value << " against " << first_values[path]);
      CHECK(difference <= 1e-5 * std::max(1.0, std::abs(first_values[path])));
    }
    WARN(tag << ": largest float difference " << largest << " at " << where);
  }
  std::filesystem::remove_all(dir);
}

// `args` with " --threads 1" removed (the determinism tests set it).
std::string without_threads(std::string args) {
  const std::string flag = " --threads 1";
  const auto at = args.find(flag);
  REQUIRE(at != std::string::npos);
  return args.erase(at, flag.size());
}

}  // namespace crash_resume_test

namespace crt = crash_resume_test;

TEST_CASE("a corruption run killed at random points resumes to the uninterrupted report", "[crash][corruptions]") {
  // 480 samples: most of the run is its cells, not the start-up (with 96, most kills came before the first cell).
  crt::check_kill_and_resume("crash_corruption", crt::corruption_args(480) + " --batch-size 48", 12, 20261207, "corruption_cell", {2, 7});
}

TEST_CASE("an attack run killed at random points and inside every AutoAttack stage resumes to the uninterrupted report",
          "[crash][attacks]") {
  // Every journaled AutoAttack line is a finished stage: a kill after line k lands in stage k + 1.
  crt::check_kill_and_resume("crash_attack", crt::attack_args() + " --batch-size 4", 10, 20261208, "autoattack", {1, 2, 3});
}

TEST_CASE("a corruption run gives the same report for batch sizes 1 7 64 and 1 or 2 threads", "[determinism][corruptions]") {
  crt::check_same_report_for_batches_and_threads("det_corruption", crt::without_threads(crt::corruption_args(96)));
}

TEST_CASE("an attack run with AutoAttack gives the same report for batch sizes 1 7 64 and 1 or 2 threads", "[determinism][attacks]") {
  crt::check_same_report_for_batches_and_threads("det_attack", crt::without_threads(crt::attack_args()));
}

TEST_CASE("with --batch-invariant a corruption run gives the same bits for batch sizes 1 7 64 and 1 or 2 threads",
          "[determinism][corruptions]") {
  // With the attention diagnostics: their per-sample rows come from the same per-sample passes.
  crt::check_same_report_for_batches_and_threads("det_corruption_invariant",
                                                 crt::without_threads(crt::corruption_args(96)) + " --batch-invariant --diagnostics");
}

TEST_CASE("with --batch-invariant an attack run with AutoAttack gives the same bits for batch sizes 1 7 64 and 1 or 2 threads",
          "[determinism][attacks]") {
  crt::check_same_report_for_batches_and_threads("det_attack_invariant", crt::without_threads(crt::attack_args()) + " --batch-invariant");
}

TEST_CASE("a second run writing the same report fails at once and the first finishes untouched", "[crash][corruptions]") {
  namespace fs = std::filesystem;
  const auto dir = test::make_temp_dir("two_runs");
  const std::string out = dir + "/c.json";
  const std::string command = test::questbench_binary() + " " + crt::corruption_args(480) + " --batch-size 48 -o " + out;
  std::string first_output;
  auto first = std::async(std::launch::async, [&] { return test::run_command(command, &first_output); });
  // The first run holds <out>.lock from before its first batch until its report is written.
  const auto started = std::chrono::steady_clock::now();
  while (!fs::exists(out + ".lock") && first.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready)
    REQUIRE(std::chrono::steady_clock::now() - started < std::chrono::seconds(60));
  REQUIRE(fs::exists(out + ".lock"));
  std::string second_output;
  CHECK(test::run_command(command, &second_output) == 1);
  CHECK(second_output == "questbench: error: -o " + out + ": another questbench run is writing this report (" + out +
                             ".lock is locked); wait for it or choose another output\n");
  INFO(first_output);
  REQUIRE(first.get() == 0);
  // The first run's report is whole and nothing is left: no lock, journal or temporary file.
  CHECK(test::comparable_report(out)["results"].size() == 1);
  for (const auto& entry : fs::directory_iterator(dir)) CHECK(entry.path().filename().string() == "c.json");
}
