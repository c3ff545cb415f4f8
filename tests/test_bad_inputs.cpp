// The bad-input catalogue (RELIABILITY.md): every row is a command line with one bad input. Each must exit with
// the expected code, print exactly one line "questbench: error: ..." naming the input and the problem (or, for
// pure command-line parse errors, CLI11's two lines: the message, then "Run with --help for more information."),
// and leave neither a report nor a <report>.journal behind.
#include "tests/catch_torch.h"  // first: see the header
#include "common/files.h"
#include "common/npy.h"
#include "tests/test_support.h"

#include <torch/torch.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <limits>
#include <string>
#include <sys/stat.h>
#include <vector>

using namespace questbench;
using namespace questbench::test;

namespace bad_inputs {  // named: the tests are a unity build

namespace fs = std::filesystem;

enum class Format { Error, Parse };  // "questbench: error: ..." | CLI11's message + "Run with --help ..."

struct Row {
  std::string input;     // what is bad, for the failure message
  std::string args;      // {tmp}, {model}, {out} are substituted; {out} is the row's report path
  int exit_code;
  std::string expected;  // a substring of the message
  Format format = Format::Error;
  std::string output;    // the path that must not be written (default {out})
  std::string prefix;    // shell commands run first in the row's shell (a resource limit, a concurrent holder)
};

std::string substitute(std::string s, const std::string& key, const std::string& value) {
  for (size_t pos = 0; (pos = s.find(key, pos)) != std::string::npos; pos += value.size()) s.replace(pos, key.size(), value);
  return s;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, 8);
  return s;
}

// The shipped checkpoint with every value of one F32 tensor replaced.
void write_patched_checkpoint(const std::string& from, const std::string& to, const std::string& tensor, float value) {
  std::string bytes = read_file_bytes(from);
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  const std::string header = bytes.substr(8, header_len);
  const auto key = header.find("\"" + tensor + "\"");
  REQUIRE(key != std::string::npos);
  const auto offsets = header.find("\"data_offsets\":[", key);
  REQUIRE(offsets != std::string::npos);
  const size_t begin = std::stoull(header.substr(offsets + 16));
  const size_t end = std::stoull(header.substr(header.find(',', offsets + 16) + 1));
  for (size_t i = 8 + header_len + begin; i < 8 + header_len + end; i += 4) std::memcpy(&bytes[i], &value, 4);
  write_bytes(to, bytes);
}

size_t count_lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace bad_inputs

TEST_CASE("bad input catalogue: each row gives a one-line error and its exit code and leaves no report or journal", "[cli][bad input]") {
  using namespace bad_inputs;
  namespace fs = std::filesystem;
  const std::string tmp = make_temp_dir("badinput");
  const std::string model = source_dir() + "/models/checkpoints/fmnist_vit_standard.safetensors";
  const std::string quest = source_dir() + "/models/checkpoints/fmnist_vit_quest.safetensors";

  // Inputs: a sound small data set for the fmnist models (1x28x28, 10 classes), then the bad ones.
  write_npy(tmp + "/x.npy", torch::rand({4, 1, 28, 28}));
  write_npy(tmp + "/y.npy", torch::tensor({0, 1, 2, 3}, torch::kLong));
  write_npy(tmp + "/x3ch.npy", torch::rand({4, 3, 28, 28}));
  write_npy(tmp + "/x32.npy", torch::rand({4, 1, 32, 32}));
  write_npy(tmp + "/x3d.npy", torch::rand({4, 28, 28}));
  write_npy(tmp + "/xnan.npy", torch::full({4, 1, 28, 28}, std::numeric_limits<float>::quiet_NaN()));
  write_npy(tmp + "/xbig.npy", torch::full({4, 1, 28, 28}, 2.0f));
  write_npy(tmp + "/y99.npy", torch::tensor({0, 1, 99, 3}, torch::kLong));
  write_npy(tmp + "/yneg.npy", torch::tensor({0, -1, 2, 3}, torch::kLong));
  write_npy(tmp + "/y3.npy", torch::tensor({0, 1, 2}, torch::kLong));
  write_npy(tmp + "/yfloat.npy", torch::rand({4}));
  {
    const std::string x = read_file_bytes(tmp + "/x.npy");
    write_bytes(tmp + "/xtrunc.npy", x.substr(0, x.size() / 2));
  }
  write_bytes(tmp + "/empty.npy", "");
  write_bytes(tmp + "/garbage.npy", "garbage");
  write_bytes(tmp + "/hugehdr.npy", std::string("\x93NUMPY\x02\x00", 8) + std::string("\xff\xff\xff\xff", 4) + "{}");
  write_bytes(tmp + "/garbledhdr.npy", std::string("\x93NUMPY\x01\x00", 8) + std::string("\x10\x00", 2) + "garbage garbage\n");
  {
    const std::string m = read_file_bytes(model);
    write_bytes(tmp + "/empty.safetensors", "");
    write_bytes(tmp + "/trunc.safetensors", m.substr(0, m.size() / 2));
    write_bytes(tmp + "/huge.safetensors", u64_le(uint64_t(1) << 60) + "{}");
    write_bytes(tmp + "/garbled.safetensors", u64_le(10) + "not json!!");
  }
  write_patched_checkpoint(model, tmp + "/nan.safetensors", "head.bias", std::numeric_limits<float>::quiet_NaN());
  write_patched_checkpoint(model, tmp + "/overflow.safetensors", "head.weight", 3e38f);  // finite weights, NaN logits
  fs::create_directories(tmp + "/idx");
  {
    std::string images("\x00\x00\x08\x03\x00\x00\x00\x0a\x00\x00\x00\x1c\x00\x00\x00\x1c", 16);  // 10 images 28x28
    write_bytes(tmp + "/idx/t10k-images-idx3-ubyte", images + std::string(5 * 784, '\0'));       // only 5 present
    write_bytes(tmp + "/idx/t10k-labels-idx1-ubyte", std::string("\x00\x00\x08\x01\x00\x00\x00\x0a", 8) + std::string(10, '\1'));
  }
  // A TorchScript classifier (no attention to diagnose).
  fs::copy_file(reference_dir() + "/attacks/models/m2_mlp.pt", tmp + "/net.pt");
  fs::create_directories(tmp + "/cifar");
  write_bytes(tmp + "/cifar/test_batch.bin", std::string(3073 * 2 + 100, '\0'));
  fs::create_directories(tmp + "/adir");
  REQUIRE(::mkfifo((tmp + "/fifo").c_str(), 0600) == 0);
  write_bytes(tmp + "/afile", "a plain file");
  // Reports for compare: a sound eval report of two models, then bad ones.
  {
    std::string out;
    REQUIRE(run_command(questbench_binary() + " eval --quiet --threads 1 --model " + model + " --model " + quest + " --dataset " + tmp +
                            "/x.npy --labels " + tmp + "/y.npy -o " + tmp + "/a.json",
                        &out) == 0);
    const std::string a = read_file_bytes(tmp + "/a.json");
    write_bytes(tmp + "/garbled.json", a.substr(0, a.size() / 3));
    write_bytes(tmp + "/empty.json", "");
    write_bytes(tmp + "/v99.json", substitute(a, "\"schema_version\": 1", "\"schema_version\": 99"));
    write_bytes(tmp + "/kind.json", substitute(a, "\"questbench.eval\"", "\"questbench.comparison\""));
    write_bytes(tmp + "/noresults.json", substitute(a, "\"results\"", "\"resultz\""));
    // One float32 (4 bytes) where the 4 samples need 16.
    write_bytes(tmp + "/shortconf.json", substitute(a, "\"confidences\": \"", "\"confidences\": \"AAAAAA==\", \"was\": \""));
  }

  const std::string eval = "eval --quiet --threads 1 --model {model} --limit 4 -o {out}";
  const std::string data = " --dataset {tmp}/x.npy --labels {tmp}/y.npy";
  const std::string attack = "attack --quiet --threads 1 --model {model} --limit 4 --no-sanity-checks -o {out}";
  const std::string corruption = "corruption --quiet --threads 1 --model {model} --limit 4 -o {out}";
  const std::string compare = "compare --quiet {tmp}/a.json -o {out}";
  const std::vector<Row> rows = {
      // Checkpoints.
      {"missing checkpoint", "eval --quiet --model {tmp}/nonexistent.safetensors -o {out}", 1, "nonexistent.safetensors: model file not found"},
      {"empty checkpoint", "eval --quiet --model {tmp}/empty.safetensors -o {out}", 1, "empty.safetensors: not a safetensors file (0 bytes"},
      {"truncated checkpoint", "eval --quiet --model {tmp}/trunc.safetensors -o {out}", 1, "trunc.safetensors: tensor"},
      {"absurd safetensors header length", "eval --quiet --model {tmp}/huge.safetensors -o {out}", 1,
       "huge.safetensors: safetensors header length 1152921504606846976 is implausible"},
      {"garbled safetensors header", "eval --quiet --model {tmp}/garbled.safetensors -o {out}", 1,
       "garbled.safetensors: safetensors header is not valid JSON"},
      {"NaN weights", "eval --quiet --model {tmp}/nan.safetensors -o {out}", 1, "nan.safetensors: tensor 'head.bias' contains NaN or Inf"},
      {"checkpoint whose logits overflow to NaN (eval)", eval + data + " --model {tmp}/overflow.safetensors", 1,
       "overflow: produced NaN or Inf logits"},
      {"checkpoint whose logits overflow to NaN (attack)", "attack --quiet --threads 1 --model {tmp}/overflow.safetensors --limit 4 --attacks fgsm -o {out}",
       1, "overflow: produced NaN or Inf logits"},
      {"checkpoint whose logits overflow to NaN (predict)", "predict --quiet --model {tmp}/overflow.safetensors --input {tmp}/x.npy -o {out}", 1,
       "overflow: produced NaN or Inf logits"},
      // Data sets.
      {"missing data set", eval + " --dataset {tmp}/nonexistent", 1, "dataset {tmp}/nonexistent: not found"},
      {"empty .npy", eval + " --dataset {tmp}/empty.npy --labels {tmp}/y.npy", 1, "empty.npy: not a .npy file (bad magic)"},
      {"garbage .npy", eval + " --dataset {tmp}/garbage.npy --labels {tmp}/y.npy", 1, "garbage.npy: not a .npy file (bad magic)"},
      {".npy with a huge header length", eval + " --dataset {tmp}/hugehdr.npy --labels {tmp}/y.npy", 1,
       "hugehdr.npy: implausible .npy header length 4294967295"},
      {".npy with a garbled header", eval + " --dataset {tmp}/garbledhdr.npy --labels {tmp}/y.npy", 1, "garbledhdr.npy: malformed .npy header"},
      {"truncated .npy", eval + " --dataset {tmp}/xtrunc.npy --labels {tmp}/y.npy", 1, "xtrunc.npy: truncated .npy data"},
      {"truncated IDX", eval + " --dataset {tmp}/idx", 1, "t10k-images-idx3-ubyte: truncated or oversized IDX image data"},
      {"CIFAR-10 batch of the wrong size", eval + " --dataset {tmp}/cifar", 1,
       "test_batch.bin: not a CIFAR-10 binary batch (6246 bytes is not a multiple of 3073)"},
      {"3-d image array", eval + " --dataset {tmp}/x3d.npy --labels {tmp}/y.npy", 1, "x3d.npy: expected a 4-d image array, got 3 dimensions"},
      {"wrong channel count for the model", eval + " --dataset {tmp}/x3ch.npy --labels {tmp}/y.npy", 1,
       "fmnist_vit_standard: input has 3 channels, the model takes 1"},
      {"wrong image size for the model", eval + " --dataset {tmp}/x32.npy --labels {tmp}/y.npy", 1,
       "fmnist_vit_standard: input is 32x32, the model takes 28x28"},
      {"NaN images", eval + " --dataset {tmp}/xnan.npy --labels {tmp}/y.npy", 1, "xnan.npy: images contain NaN or Inf"},
      {"images outside [0,1]", eval + " --dataset {tmp}/xbig.npy --labels {tmp}/y.npy", 1, "xbig.npy: float32 images must lie in [0,1]"},
      {"label outside the model's classes", eval + " --dataset {tmp}/x.npy --labels {tmp}/y99.npy", 1,
       "label 99 is outside the model's 10 classes"},
      {"negative label", eval + " --dataset {tmp}/x.npy --labels {tmp}/yneg.npy", 1, "yneg.npy: negative labels"},
      {"fewer labels than images", eval + " --dataset {tmp}/x.npy --labels {tmp}/y3.npy", 1, "y3.npy: 3 labels for 4 images"},
      {"float labels", eval + " --dataset {tmp}/x.npy --labels {tmp}/yfloat.npy", 1, "yfloat.npy: labels must be integers"},
      {"missing labels file", eval + " --dataset {tmp}/x.npy --labels {tmp}/nolabels.npy", 1, "labels {tmp}/nolabels.npy: not found"},
      // Names and values.
      {"unknown attention", eval + " --attention fancy", 2, "attention 'fancy': unknown variant"},
      {"--diagnostics with a TorchScript model (attack)",
       "attack --quiet --threads 1 --torchscript --input-size 1,28,28 --model {tmp}/net.pt --limit 4 --attacks fgsm --diagnostics -o {out}",
       2, "--diagnostics: model 'net' is a TorchScript model; attention diagnostics need a native ViT (safetensors) checkpoint"},
      {"--diagnostics with a TorchScript model (corruption)",
       "corruption --quiet --threads 1 --torchscript --input-size 1,28,28 --model {tmp}/net.pt --limit 4 --corruptions fog --diagnostics -o {out}",
       2, "--diagnostics: model 'net' is a TorchScript model; attention diagnostics need a native ViT (safetensors) checkpoint"},
      {"unknown attack", attack + " --attacks cw", 2, "attack 'cw': unknown (valid: fgsm, pgd, pgd-l2, "},
      {"unknown attack option", attack + " --attacks pgd:stepz=3", 2, "attack pgd: unknown option 'stepz'"},
      {"attack option out of range", attack + " --attacks pgd:steps=0", 2, "pgd option steps '0': must be >= 1"},
      {"too few classes for the target count", attack + " --attacks apgd-t:targets=10", 2,
       "needs at least 11 classes; model 'fmnist_vit_standard' has 10"},
      {"negative eps", attack + " --eps -0.1", 2, "--eps '-0.1': must be >= 0"},
      {"NaN eps", attack + " --eps nan", 2, "--eps 'nan': not a finite number"},
      {"eps > 1", attack + " --eps 1.5", 2, "--eps '1.5' = 1.5 exceeds 1"},
      {"eps not a number", attack + " --eps 2/255,abc", 2, "--eps 'abc': not a number or fraction"},
      {"negative L2 eps", attack + " --attacks pgd-l2 --eps-l2 -1", 2, "--eps-l2 '-1': must be >= 0"},
      {"unknown loss", attack + " --loss foo", 2, "loss 'foo': unknown (valid: ce, margin)"},
      {"unknown corruption", corruption + " --corruptions fog2", 2, "corruption 'fog2': unknown"},
      {"severity 0", corruption + " --corruptions fog --severities 0", 2, "--severities '0': severity 0 is not in 1..5"},
      {"severity 6", corruption + " --corruptions fog --severities 6", 2, "--severities '6': severity 6 is not in 1..5"},
      {"unknown corruption table", corruption + " --table foo", 2, "corruption table 'foo': unknown"},
      {"unknown device", eval + " --device tpu", 2, "--device 'tpu': expected cpu, cuda or cuda:N"},
      // Pure command-line parse errors (CLI11's format).
      {"negative --limit", "eval --quiet --model {model} --limit -1 -o {out}", 2, "--limit: Value -1 not in range", Format::Parse},
      {"missing --model", "eval --quiet -o {out}", 2, "--model is required", Format::Parse},
      {"unknown flag", eval + " --no-such-flag", 2, "The following argument was not expected: --no-such-flag", Format::Parse},
      // Outputs.
      {"output is a folder (eval)", "eval --quiet --threads 1 --model {model} --limit 4 -o {tmp}/adir", 1,
       "-o {tmp}/adir: exists and is not a regular file", Format::Error, "{tmp}/adir"},
      {"output is a folder (attack)", "attack --quiet --threads 1 --model {model} --limit 4 --attacks fgsm -o {tmp}/adir", 1,
       "-o {tmp}/adir: exists and is not a regular file", Format::Error, "{tmp}/adir"},
      // A FIFO stands in for a device such as /dev/full: renaming the finished report over it would replace it.
      {"output is not a regular file (a FIFO)", "eval --quiet --threads 1 --model {model} --limit 4" + data + " -o {tmp}/fifo", 1, "-o {tmp}/fifo: exists and is not a regular file",
       Format::Error, "{tmp}/fifo"},
      {"output under a plain file (attack)", "attack --quiet --threads 1 --model {model} --limit 4 --attacks fgsm -o {tmp}/afile/a.json", 1,
       "-o {tmp}/afile/a.json: {tmp}/afile is not a folder", Format::Error, "{tmp}/afile/a.json"},
      {"output under a plain file (corruption)",
       "corruption --quiet --threads 1 --model {model} --limit 4 --corruptions brightness --severities 1 -o {tmp}/afile/c.json", 1, "-o {tmp}/afile/c.json: {tmp}/afile is not a folder",
       Format::Error, "{tmp}/afile/c.json"},
      {"predict output is a folder", "predict --quiet --model {model} --input {tmp}/x.npy -o {tmp}/adir", 1,
       "-o {tmp}/adir: exists and is not a regular file", Format::Error, "{tmp}/adir"},
      // Reports for compare.
      {"missing report", compare + " {tmp}/missing.json", 1, "missing.json: cannot open (missing or unreadable)"},
      {"empty report", compare + " {tmp}/empty.json", 1, "empty.json: not valid JSON"},
      {"truncated (garbled) report", compare + " {tmp}/garbled.json", 1, "garbled.json: not valid JSON (truncated or corrupt report?)"},
      {"unsupported schema_version", compare + " {tmp}/v99.json", 1, "v99.json: schema_version 99 is not supported"},
      {"report of another kind", compare + " {tmp}/kind.json", 1, "kind.json: 'questbench.comparison' reports cannot be compared"},
      {"report missing a field", compare + " {tmp}/noresults.json", 1, "noresults.json: report is missing a field"},
      {"calibration confidences of the wrong length", compare + " {tmp}/shortconf.json", 1,
       "shortconf.json: calibration: packed float32 values hold 1 samples, expected 4"},
      // RobustBench export.
      {"export: missing report", "export robustbench --quiet {tmp}/missing.json -o {out}", 1, "missing.json: cannot open (missing or unreadable)"},
      {"export: several models and no --model", "export robustbench --quiet {tmp}/a.json -o {out}", 2,
       "the reports hold several models (fmnist_vit_quest, fmnist_vit_standard): pass --model"},
      {"export: model not in the reports", "export robustbench --quiet {tmp}/a.json --model vit -o {out}", 2,
       "--model 'vit': not in the reports"},
      {"export: report without AutoAttack or corruptions", "export robustbench --quiet {tmp}/a.json --model fmnist_vit_quest -o {out}", 2,
       "model 'fmnist_vit_quest': the reports hold neither an autoattack cell nor corruption results"},
      {"export: unknown threat model", "export robustbench --quiet {tmp}/a.json --threat Linf2 -o {out}", 2, "--threat: Linf2 not in",
       Format::Parse},
      {"shard index out of range", eval + " --shard 3/3", 2, "--shard '3/3': the shard index must be in 0..2"},
      {"shard not I/N", eval + " --shard half", 2, "--shard 'half': expected I/N"},
      {"more shards than batches", eval + " --shard 1/8", 2, "the run's 4 samples make 1 batch(es) of 256: it cannot be split into 8 parts"},
      {"split run with --rng original", "attack --quiet --threads 1 --model {model} --limit 4 --rng original --shard 0/2 -o {out}", 2,
       "--rng original: its draws depend on the batches of the whole run"},
      {"merge: a report that is not a part", "merge --quiet {tmp}/a.json -o {out}", 1, "a.json: not a partial report"},
      {"merge: missing part", "merge --quiet {tmp}/missing.json -o {out}", 1, "missing.json: cannot open"},
      {"toy: unknown attention variant", "toy --quiet --variants standard,sdpa -o {out}", 2, "--variants 'sdpa': unknown attention variant"},
      {"toy: empty grid", "toy --quiet --seeds 0 -o {out}", 2, "--seeds 0: must be positive"},
      {"toy: no training steps", "toy --quiet --steps 0 -o {out}", 2, "--steps 0: must be positive"},
      {"toy: non-positive learning rate", "toy --quiet --lr 0.01,0 -o {out}", 2, "--lr 0: learning rates must be positive"},
      {"toy: NaN learning rate", "toy --quiet --lr nan -o {out}", 2, "--lr nan: learning rates must be positive and finite"},
      {"toy: NaN weight decay", "toy --quiet --weight-decay nan -o {out}", 2, "--weight-decay nan: weight decays must be non-negative"},
      {"bench training: no timed steps", "bench training --quiet --steps 0", 2, "--steps 0: must be positive"},
      {"bench training: negative warm-up", "bench training --quiet --warmup-steps -1", 2, "--warmup-steps -1: must be zero or positive"},
      // Resources: a full disk stands as a file-size limit (the write fails with EFBIG as it would with ENOSPC).
      {"disk full: the report does not fit (ulimit -f 1)", eval + data, 1, "{out}: write failed (File too large)", Format::Error,
       "", "ulimit -f 1; "},
      {"disk full: nothing can be written (ulimit -f 0: the journal's first line)", corruption + " --corruptions brightness --severities 1" + data, 1,
       "{out}.journal: write failed (File too large)", Format::Error, "", "ulimit -f 0; "},
      // Another process holds the output's lock (util-linux flock, the same flock(2) lock a questbench run takes).
      {"two runs writing the same output", "eval --quiet --threads 1 --model {model} --limit 4" + data + " -o {tmp}/shared.json", 1,
       "-o {tmp}/shared.json: another questbench run is writing this report ({tmp}/shared.json.lock is locked)", Format::Error,
       "{tmp}/shared.json",
       "flock {tmp}/shared.json.lock sleep 20 >/dev/null 2>&1 & until [ -e {tmp}/shared.json.lock ]; do sleep 0.05; done; "},
  };

  // Every row is its own process: run them four at a time, then check them in order.
  std::vector<std::string> outputs(rows.size()), commands(rows.size()), out_paths(rows.size());
  std::vector<int> codes(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    out_paths[i] = tmp + "/out" + std::to_string(i) + (rows[i].args.rfind("compare", 0) == 0 ? "" : ".json");
    auto expand = [&](const std::string& s) {
      return substitute(substitute(substitute(s, "{out}", out_paths[i]), "{tmp}", tmp), "{model}", model);
    };
    commands[i] = expand(rows[i].prefix) + questbench_binary() + " " + expand(rows[i].args);
    if (!rows[i].output.empty()) out_paths[i] = expand(rows[i].output);
  }
  for (size_t start = 0; start < rows.size(); start += 4) {
    std::vector<std::future<int>> running;
    for (size_t i = start; i < std::min(rows.size(), start + 4); ++i)
      running.push_back(std::async(std::launch::async, [&, i] { return run_command(commands[i], &outputs[i]); }));
    for (size_t k = 0; k < running.size(); ++k) codes[start + k] = running[k].get();
  }

  // QUESTBENCH_BAD_INPUT_TABLE=FILE: the catalogue as Markdown table rows for RELIABILITY.md, messages as printed.
  if (const char* table = std::getenv("QUESTBENCH_BAD_INPUT_TABLE"); table && *table) {
    std::ofstream md(table);
    for (size_t i = 0; i < rows.size(); ++i) {
      const std::string args = substitute(substitute(substitute(rows[i].args, "{out}", "<out>"), "{tmp}", "<tmp>"), "{model}", "<model>");
      std::string first = outputs[i].substr(0, outputs[i].find('\n'));
      if (rows[i].output.empty()) first = substitute(first, out_paths[i], "<out>");
      first = substitute(first, tmp, "<tmp>");
      const std::string prefix = substitute(substitute(rows[i].prefix, "{out}", "<out>"), "{tmp}", "<tmp>");
      md << "| " << rows[i].input << " | `" << substitute(prefix, "|", "\\|") << "questbench " << substitute(args, "|", "\\|") << "` | " << codes[i] << " | `"
         << substitute(first, "|", "\\|") << "` |\n";
    }
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& row = rows[i];
    {
      INFO("row " << i << ": " << row.input);
      const std::string& out = outputs[i];
      const std::string expected = substitute(substitute(row.expected, "{out}", out_paths[i]), "{tmp}", tmp);
      INFO("command: " << commands[i]);
      INFO("output: " << out);
      CHECK(codes[i] == row.exit_code);
      CHECK(out.find(expected) != std::string::npos);
      if (row.format == Format::Error) {
        CHECK(out.rfind("questbench: error: ", 0) == 0);
        CHECK(count_lines(out) == 1);
        CHECK(out.back() == '\n');
      } else {
        CHECK(count_lines(out) == 2);
        CHECK(out.find("\nRun with --help for more information.\n") != std::string::npos);
      }
      // No report and no journal: the row's path is untouched (a folder stays empty, a device stays a device).
      const std::string& path = out_paths[i];
      if (row.output.empty()) {
        CHECK_FALSE(fs::exists(path));
      } else if (fs::is_directory(path)) {
        CHECK(fs::is_empty(path));
      } else if (path == tmp + "/fifo") {
        CHECK(fs::is_fifo(path));
      } else {
        CHECK_FALSE(fs::exists(path));
      }
      CHECK_FALSE(fs::exists(path + ".journal"));
      if (row.args.rfind("compare", 0) == 0) CHECK_FALSE(fs::exists(path + "/summary.json"));
    }
  }
  // The folder of bad inputs holds nothing the rows wrote: no reports, journals or temporary files.
  for (const auto& entry : fs::directory_iterator(tmp)) {
    const std::string name = entry.path().filename().string();
    INFO(name);
    CHECK(name.rfind("out", 0) != 0);
    CHECK(name.find(".journal") == std::string::npos);
    CHECK(name.find(".tmp.") == std::string::npos);
  }
}
