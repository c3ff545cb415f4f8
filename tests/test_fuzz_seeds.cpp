// The fuzz targets' seed corpora (tests/fuzz/seeds.h) must be inputs their parsers accept: a seed that
// fails its first check would leave a fuzzer starting from nothing. With QUESTBENCH_FUZZ_SEEDS set the
// corpora are also written there (root/<target>/<seed>), the folder scripts/fuzz's fuzzers start from.
#include "tests/catch_torch.h"  // first: see the header
#include "bench/journal.h"
#include "common/npy.h"
#include "datasets/dataset.h"
#include "models/safetensors.h"
#include "models/vit_config.h"
#include "reports/compare.h"
#include "tests/fuzz/seeds.h"
#include "tests/test_support.h"

#include <cstdlib>
#include <filesystem>

namespace questbench::fuzz_seeds_test {

std::unique_ptr<Dataset> open_as(const std::string& path, const std::string& format) {
  DatasetSpec spec;
  spec.path = path;
  spec.format = format;
  return open_dataset(spec);
}

}  // namespace questbench::fuzz_seeds_test

TEST_CASE("fuzz seed corpora are accepted by their parsers", "[fuzz-seeds]") {
  using namespace questbench;
  using namespace questbench::fuzz_seeds_test;
  const auto corpora = fuzz_seeds::make_corpora(std::string(QUESTBENCH_SOURCE_DIR) + "/tests/fixtures");
  for (const std::string target : {"idx", "idx_gz", "cifar10", "npy", "npz", "safetensors", "vit_config", "report", "journal"})
    REQUIRE(corpora.count(target) == 1);
  if (const char* out = std::getenv("QUESTBENCH_FUZZ_SEEDS")) fuzz_seeds::write_corpora(corpora, out);
  const std::filesystem::path tmp = test::make_temp_dir("fuzz_seeds");
  fuzz_seeds::write_corpora(corpora, tmp);

  for (const auto& [name, bytes] : corpora.at("idx")) {
    // fuzz_idx's layout: a 2-byte images length, the images file, the labels file.
    const size_t images_len = uint8_t(bytes[0]) | (size_t(uint8_t(bytes[1])) << 8);
    write_file_atomic((tmp / name / "t10k-images-idx3-ubyte").string(), bytes.substr(2, images_len));
    write_file_atomic((tmp / name / "t10k-labels-idx1-ubyte").string(), bytes.substr(2 + images_len));
    auto d = open_as((tmp / name).string(), "idx");
    CHECK(d->size() == std::stoll(name.substr(1)));
  }
  for (const auto& [name, bytes] : corpora.at("idx_gz")) {
    const std::string images = gunzip(bytes, name);
    CHECK(images.size() > 16);
  }
  for (const auto& [name, bytes] : corpora.at("cifar10"))
    CHECK(open_as((tmp / "cifar10" / name).string(), "cifar10")->read(0, static_cast<int64_t>(bytes.size() / 3073)).x.size(0) ==
          static_cast<int64_t>(bytes.size() / 3073));
  for (const auto& [name, bytes] : corpora.at("npy")) {
    INFO(name);
    const auto from_file = read_npy((tmp / "npy" / name).string());
    CHECK(torch::equal(from_file, parse_npy(bytes, name)));
  }
  for (const auto& [name, bytes] : corpora.at("npz")) {
    const auto arrays = read_npz((tmp / "npz" / name).string());
    CHECK(arrays.size() == 2);
    CHECK(arrays.at("y").size(0) == 5);
  }
  CHECK(read_safetensors((tmp / "safetensors" / "tensors").string()).tensors.size() == 5);
  CHECK(read_safetensors((tmp / "safetensors" / "empty").string()).tensors.empty());
  for (const auto& [name, text] : corpora.at("vit_config")) validate(vit_config_from_json(text, name));
  for (const auto& [name, text] : corpora.at("report")) CHECK_FALSE(read_input_report((tmp / "report" / name).string()).models.empty());
  int lines = 0;
  RunJournal journal;
  journal.open((tmp / "journal" / "attack").string(), "fuzz", true, [&](const std::string& line) {
    if (line.rfind("{\"clean\"", 0) == 0) {
      clean_result_from_json_line(line, "journal");
    } else {
      attack_cell_from_json_line(line, "journal");
    }
    ++lines;
  });
  CHECK(lines >= 2);
#if QUESTBENCH_WITH_OPENCV
  for (const auto& [name, bytes] : corpora.at("image")) {
    INFO(name);
    write_file_atomic((tmp / "images" / name / "cls" / ("img." + name)).string(), bytes.substr(1));
    DatasetSpec spec;
    spec.path = (tmp / "images" / name).string();
    spec.format = "imagefolder";
    spec.resize = (uint8_t(bytes[0]) & 0x0f) * 4;
    spec.crop = (uint8_t(bytes[0]) >> 4) * 4;
    CHECK(open_dataset(spec)->read(0, 1).x.size(0) == 1);
  }
#endif
}
