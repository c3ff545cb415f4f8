// Split runs: shards and merge, and distributed runs over c10d (Gloo on loopback) launched as separate
// processes with the launcher's environment. Every split report must equal the single-process report except
// for timings, the command line and the process count.
#include "tests/catch_torch.h"  // first: see the header
#include "bench/distributed.h"
#include "common/error.h"
#include "common/files.h"
#include "tests/test_support.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <unistd.h>

using namespace questbench;

namespace distributed_test {

using Json = nlohmann::json;

using test::comparable_report;

std::string model_path(const std::string& name) { return test::source_dir() + "/models/checkpoints/fmnist_vit_" + name + ".safetensors"; }

int next_port() {
  static int calls = 0;
  return 20000 + static_cast<int>((::getpid() * 97 + 31 * calls++) % 30000);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `world` ranks of `questbench <args> -o <dir>/<output>` side by side (loopback rendezvous) and returns their
// exit codes; each rank's stderr goes to <dir>/<output>.err<rank>.
std::vector<int> launch(const std::string& dir, int world, const std::string& args, const std::string& output) {
  const int port = next_port();
  std::ostringstream script;
  script << "cd " << dir << " || exit 1; ";
  for (int r = 0; r < world; ++r)
    script << "( RANK=" << r << " LOCAL_RANK=" << r << " WORLD_SIZE=" << world << " MASTER_ADDR=127.0.0.1 MASTER_PORT=" << port << " "
           << test::questbench_binary() << " " << args << " -o " << output << " 2> " << output << ".err" << r << "; echo $? > "
           << output << ".rc" << r << " ) & ";
  script << "wait";
  test::run_command("bash -c '" + script.str() + "'");
  std::vector<int> codes;
  for (int r = 0; r < world; ++r) {
    const auto text = read_text(dir + "/" + output + ".rc" + std::to_string(r));
    codes.push_back(text.empty() ? -1 : std::stoi(text));
  }
  return codes;
}

int run_cli(const std::string& dir, const std::string& args, std::string* output = nullptr) {
  return test::run_command("cd " + dir + " && " + test::questbench_binary() + " " + args, output);
}

// The single run, 2 and 3 ranks, and 3 shards merged: all four reports must agree.
void check_split_runs_agree(const std::string& dir, const std::string& args) {
  REQUIRE(distributed_available());
  REQUIRE(run_cli(dir, args + " -o single.json") == 0);
  const Json single = comparable_report(dir + "/single.json");
  for (int world : {2, 3}) {
    const auto name = "ranks" + std::to_string(world) + ".json";
    INFO(world << " processes; rank 0 said: " << read_text(dir + "/" + name + ".err0"));
    const auto codes = launch(dir, world, args, name);
    CHECK(codes == std::vector<int>(static_cast<size_t>(world), 0));
    CHECK(comparable_report(dir + "/" + name) == single);
    const Json written = Json::parse(read_file_bytes(dir + "/" + name));
    CHECK(written["context"]["world_size"] == world);
    CHECK_FALSE(written["context"].contains("shard"));
  }
  std::string parts;
  for (int i = 0; i < 3; ++i) {
    const auto part = "part" + std::to_string(i) + ".json";
    REQUIRE(run_cli(dir, args + " --shard " + std::to_string(i) + "/3 -o " + part) == 0);
    const Json written = Json::parse(read_file_bytes(dir + "/" + part));
    CHECK(written["context"]["shard"]["index"] == i);
    CHECK(written["context"]["shard"]["count"] == 3);
    parts = part + " " + parts;  // in reverse order: merge sorts them
  }
  REQUIRE(run_cli(dir, "merge --quiet " + parts + "-o merged.json") == 0);
  CHECK(comparable_report(dir + "/merged.json") == single);
  // Nothing left behind: no journal of any part or rank.
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    CHECK(entry.path().string().find(".journal") == std::string::npos);
}

}  // namespace distributed_test

namespace dt = distributed_test;

TEST_CASE("shard ranges are whole batches of the plan and cover it once", "[distributed]") {
  for (const int64_t size : {1, 5, 64, 100, 257, 1000}) {
    for (const int64_t batch : {1, 7, 64}) {
      const SampleRange plan{3, 3 + size};
      const int64_t batches = (size + batch - 1) / batch;
      for (int count = 1; count <= std::min<int64_t>(batches, 5); ++count) {
        int64_t next = plan.begin, smallest = size, largest = 0;
        for (int i = 0; i < count; ++i) {
          const auto r = shard_range(plan, batch, i, count);
          INFO("size " << size << " batch " << batch << " part " << i << "/" << count);
          CHECK(r.begin == next);
          CHECK((r.begin - plan.begin) % batch == 0);
          CHECK(r.size() > 0);
          smallest = std::min(smallest, (r.size() + batch - 1) / batch);
          largest = std::max(largest, (r.size() + batch - 1) / batch);
          next = r.end;
        }
        CHECK(next == plan.end);
        CHECK(largest - smallest <= 1);  // balanced to a batch
      }
      CHECK_THROWS_AS(shard_range(plan, batch, 0, static_cast<int>(batches) + 1), UsageError);
    }
  }
  CHECK(parse_shard("2/3").index == 2);
  CHECK(parse_shard("2/3").count == 3);
  for (const char* bad : {"3/3", "-1/3", "1/0", "1", "a/b", "1/3x", ""}) CHECK_THROWS_AS(parse_shard(bad), UsageError);
}

TEST_CASE("a corruption run and an eval run over 2 and 3 processes and as 3 merged shards equal the single-process report",
          "[distributed][corruptions]") {
  const auto dir = test::make_temp_dir("dist_corruption");
  dt::check_split_runs_agree(dir, "corruption --quiet --threads 1 --model " + dt::model_path("standard") + " --model " +
                                      dt::model_path("quest") +
                                      " --limit 150 --batch-size 32 --corruptions gaussian_noise,glass_blur,fog,jpeg_compression "
                                      "--severities 2,5");
  const auto eval_dir = test::make_temp_dir("dist_eval");
  dt::check_split_runs_agree(eval_dir, "eval --quiet --threads 1 --model " + dt::model_path("standard") + " --model " +
                                           dt::model_path("quest") + " --limit 300 --batch-size 64");
}

TEST_CASE("an attack run with AutoAttack over 2 and 3 processes and as 3 merged shards equals the single-process report",
          "[distributed][attacks]") {
  // The reference MLP keeps AutoAttack's four stages fast; the sanity probes run too (the first shard runs them).
  const auto ref = test::reference_dir() + "/attacks";
  const auto dir = test::make_temp_dir("dist_attack");
  dt::check_split_runs_agree(dir, "attack --quiet --threads 1 --torchscript --input-size 1,28,28 --model " + ref +
                                      "/models/m2_mlp.pt --dataset " + ref + "/inputs.npy --labels " + ref +
                                      "/labels.npy --limit 64 --batch-size 16 --attacks fgsm,pgd:steps=5,autoattack "
                                      "--eps 0,8/255 --eps-l2 0.5");
}

TEST_CASE("a rank killed mid-run stops the others with one line and no report and --resume completes the run",
          "[distributed][resume]") {
  REQUIRE(distributed_available());
  const auto dir = test::make_temp_dir("dist_kill");
  const std::string args = "attack --quiet --threads 1 --model " + dt::model_path("standard") +
                           " --limit 192 --batch-size 32 --attacks fgsm,pgd:steps=4 --eps 0,2/255,4/255,8/255 --eps-l2 0 "
                           "--no-sanity-checks --dist-timeout 5";
  REQUIRE(dt::run_cli(dir, args + " -o single.json") == 0);
  const auto single = dt::comparable_report(dir + "/single.json");
  for (const int victim : {1, 0}) {
    const int survivor = 1 - victim;
    const int port = dt::next_port();
    const auto env = [&](int r) {
      return "RANK=" + std::to_string(r) + " WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) + " ";
    };
    const std::string victim_journal = "killed.json.rank-" + std::to_string(victim) + "-of-2.journal";
    // The victim is killed (SIGKILL) once its journal holds its clean pass and two finished cells.
    const std::string script = "cd " + dir + " || exit 1; ( " + env(survivor) + test::questbench_binary() + " " + args +
                               " -o killed.json 2> survivor.err; echo $? > survivor.rc; date +%s.%N > survivor.end ) & " + env(victim) + test::questbench_binary() + " " + args +
                               " -o killed.json 2> victim.err & victim=$!; for i in $(seq 600); do "
                               "[ $(cat " + victim_journal + " 2>/dev/null | wc -l) -ge 4 ] && break; sleep 0.1; done; kill -9 $victim; "
                               "date +%s.%N > " + dir + "/killed.at; wait";
    test::run_command("bash -c '" + script + "'");
    INFO("victim rank " << victim << "; survivor said: " << dt::read_text(dir + "/survivor.err"));
    CHECK(std::stoi(dt::read_text(dir + "/survivor.rc")) == 1);
    const auto message = dt::read_text(dir + "/survivor.err");
    CHECK(std::count(message.begin(), message.end(), '\n') == 1);
    CHECK(message.rfind("questbench: error: rank " + std::to_string(survivor) + " of 2: ", 0) == 0);
    // The watchdog names the silent rank; a rank already waiting in the final gather hears it from Gloo.
    const bool named = message.find(victim == 1 ? "rank 1 sent no heartbeat" : "lost the rendezvous store") != std::string::npos;
    const bool in_gather = message.find("gathering the reports failed: another rank stopped or was killed") != std::string::npos;
    CHECK((named || in_gather));
    CHECK(message.find("no report written (the same command with --resume continues)") != std::string::npos);
    // Noticed within the heartbeat timeout (5 s) and a little slack for a busy machine.
    const double waited = std::stod(dt::read_text(dir + "/survivor.end")) - std::stod(dt::read_text(dir + "/killed.at"));
    CHECK(waited < 20.0);
    CHECK_FALSE(file_exists(dir + "/killed.json"));
    CHECK(file_exists(dir + "/" + victim_journal));
    // The same command with --resume continues from both journals.
    const auto codes = dt::launch(dir, 2, args + " --resume", "killed.json");
    CHECK(codes == std::vector<int>{0, 0});
    CHECK(dt::comparable_report(dir + "/killed.json") == single);
    CHECK_FALSE(file_exists(dir + "/" + victim_journal));
    std::filesystem::remove(dir + "/killed.json");
  }
}

TEST_CASE("merge refuses parts that are not every shard of one plan", "[distributed][cli]") {
  const auto dir = test::make_temp_dir("dist_merge");
  const std::string eval = "eval --quiet --threads 1 --model " + dt::model_path("standard") + " --batch-size 32";
  for (int i = 0; i < 3; ++i)
    REQUIRE(dt::run_cli(dir, eval + " --limit 96 --shard " + std::to_string(i) + "/3 -o p" + std::to_string(i) + ".json") == 0);
  REQUIRE(dt::run_cli(dir, eval + " --limit 64 --shard 2/2 -o other_plan.json") != 0);  // index out of range: a usage error
  REQUIRE(dt::run_cli(dir, eval + " --limit 128 --shard 1/3 -o other_plan.json") == 0);
  REQUIRE(dt::run_cli(dir, eval + " --limit 96 -o whole.json") == 0);
  {
    // A part whose range was altered to reach into its neighbour's.
    auto part = dt::Json::parse(read_file_bytes(dir + "/p1.json"));
    part["context"]["shard"]["begin"] = part["context"]["shard"]["begin"].get<int64_t>() - 8;
    std::ofstream(dir + "/overlapping.json") << part.dump();
  }
  REQUIRE(dt::run_cli(dir, "corruption --quiet --threads 1 --model " + dt::model_path("standard") +
                               " --limit 96 --batch-size 32 --corruptions fog --severities 1 --shard 1/3 -o corruption.json") == 0);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"p0.json p1.json", "shard 2/3 is missing"},
      {"p0.json p1.json p1.json p2.json", "is given twice"},
      {"p0.json other_plan.json p2.json", "from another run"},
      {"p0.json p1.json p2.json whole.json", "not a partial report"},
      {"p0.json corruption.json p2.json", "a questbench.corruption report"},
      {"p0.json overlapping.json p2.json", "covers samples [24, 64) but the parts before it end at 32 (overlap)"},
  };
  for (const auto& [parts, expected] : cases) {
    std::string out;
    INFO(parts);
    CHECK(dt::run_cli(dir, "merge " + parts + " -o merged.json", &out) == 1);
    CHECK(out.find(expected) != std::string::npos);
    CHECK(std::count(out.begin(), out.end(), '\n') == 1);
    CHECK_FALSE(file_exists(dir + "/merged.json"));
  }
  CHECK(dt::run_cli(dir, "merge --quiet p2.json p0.json p1.json -o merged.json") == 0);
  CHECK(dt::comparable_report(dir + "/merged.json") == dt::comparable_report(dir + "/whole.json"));
  // What a split run cannot do is refused before anything runs.
  std::string out;
  CHECK(dt::run_cli(dir, "attack --quiet --model " + dt::model_path("standard") + " --limit 32 --rng original --shard 0/2 -o a.json", &out) == 2);
  CHECK(out.find("--rng original") != std::string::npos);
  CHECK(dt::run_cli(dir, "attack --quiet --model " + dt::model_path("standard") + " --limit 32 --save-adv adv --shard 0/2 -o a.json", &out) == 2);
  CHECK(out.find("--save-adv") != std::string::npos);
  CHECK(dt::run_cli(dir, "eval --quiet --model " + dt::model_path("standard") + " --limit 32 --batch-size 32 --shard 0/2 -o a.json", &out) == 2);
  CHECK(out.find("cannot be split into 2 parts") != std::string::npos);
  CHECK_FALSE(file_exists(dir + "/a.json"));
}
