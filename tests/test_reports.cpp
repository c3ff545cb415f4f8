// Report formats: bit packing, eval report round trip, schema checks.
#include "tests/catch_torch.h"  // first: see the header
#include "common/error.h"
#include "reports/format.h"


using namespace questbench;

TEST_CASE("per-sample bits pack and unpack exactly", "[reports]") {
  for (int n : {0, 1, 7, 8, 9, 100, 1001}) {
    std::vector<uint8_t> bits(n);
    for (int i = 0; i < n; ++i) bits[i] = (i * 7 + i / 3) % 2;
    CHECK(unpack_bits(pack_bits(bits), n, "x") == bits);
  }
  CHECK(pack_bits({1, 0, 0, 0, 0, 0, 0, 0}) == "AQ==");
  CHECK_THROWS_WITH(unpack_bits("AQ==", 20, "r.json"), Catch::Contains("r.json"));
  CHECK_THROWS_WITH(unpack_bits("A*==", 8, "r.json"), Catch::Contains("base64"));
}

TEST_CASE("eval reports round-trip and are schema-checked", "[reports]") {
  EvalReport r;
  r.context.questbench_version = "0.1.0";
  r.context.git_commit = "abc";
  r.context.libtorch_version = "1.13.0";
  r.context.device = "cpu";
  r.context.threads = 2;
  r.context.seed = 7;
  r.context.batch_size = 64;
  r.context.start_time = "2026-01-01T00:00:00Z";
  r.context.end_time = "2026-01-01T00:00:01Z";
  r.context.wall_time_s = 1.5;
  r.dataset.path = "/d";
  r.dataset.format = "idx";
  r.dataset.fingerprint = "sha256:00";
  r.dataset.size = 10;
  r.dataset.evaluated = 3;
  r.dataset.num_classes = 2;
  r.dataset.class_names = {"a", "b"};
  ModelInfo m;
  m.name = "m";
  m.path = "/m.safetensors";
  m.format = "safetensors";
  m.sha256 = std::string(64, 'f');
  m.architecture = "vit";
  m.attention = "quest";
  m.config_json = R"({"depth":1})";
  m.mean = {0.5};
  m.std = {0.25};
  m.channels = 1;
  m.height = m.width = 28;
  m.num_classes = 2;
  r.models.push_back(m);
  CleanResult c;
  c.n = 3;
  c.correct = 2;
  c.accuracy = 2.0 / 3;
  c.error = 1.0 / 3;
  c.loss = 0.4;
  c.per_class_n = {2, 1};
  c.per_class_correct = {1, 1};
  c.correct_mask = {1, 0, 1};
  r.results.push_back(c);
  const std::string text = eval_report_to_json(r);
  CHECK(text.find("\"schema\": \"questbench.eval\"") != std::string::npos);
  CHECK(text.find("\"clean_acc\"") != std::string::npos);
  auto back = eval_report_from_json(text, "r.json");
  CHECK(eval_report_to_json(back) == text);
  CHECK_THROWS_WITH(eval_report_from_json(text.substr(0, text.size() / 2), "r.json"), Catch::Contains("not valid JSON"));
  std::string newer = text;
  newer.replace(newer.find("\"schema_version\": 1"), 19, "\"schema_version\": 99");
  CHECK_THROWS_WITH(eval_report_from_json(newer, "r.json"), Catch::Contains("schema_version 99"));
  CHECK_THROWS_WITH(eval_report_from_json(R"({"schema": "questbench.training_log", "schema_version": 1})", "r.json"),
                    Catch::Contains("expected 'questbench.eval'"));
}

TEST_CASE("report content errors name the file and the problem in one line", "[reports]") {
  AttackCell cell;
  cell.model = "m";
  cell.attack = "pgd";
  cell.norm = "Linf";
  cell.n = 3;
  cell.robust_mask = {1, 0, 1};
  const std::string line = attack_cell_to_json_line(cell);
  CHECK(attack_cell_to_json_line(attack_cell_from_json_line(line, "j.jsonl")) == line);
  std::string bad_bits = line;
  bad_bits.replace(bad_bits.find("\"n\":3"), 5, "\"n\":30");
  CHECK_THROWS_WITH(attack_cell_from_json_line(bad_bits, "j.jsonl"), "j.jsonl: packed bits hold 8 samples, expected 30");
  std::string missing = line;
  missing.replace(missing.find("\"norm\""), 6, "\"nrm\"");
  CHECK_THROWS_WITH(attack_cell_from_json_line(missing, "j.jsonl"),
                    Catch::StartsWith("j.jsonl: journal entry is missing a field") && Catch::Contains("'norm'"));

  CorruptionCell c;
  c.model = "m";
  c.corruption = "fog";
  c.group = "standard";
  c.severity = 9;
  CHECK_THROWS_WITH(corruption_cell_from_json_line(corruption_cell_to_json_line(c), "j.jsonl"),
                    "j.jsonl: fog has severity 9 (not 1..5)");
  c.severity = 2;
  const std::string ok = corruption_cell_to_json_line(c);
  CHECK(corruption_cell_to_json_line(corruption_cell_from_json_line(ok, "j.jsonl")) == ok);
}
