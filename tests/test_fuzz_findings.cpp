// Regression tests for what the fuzz targets (tests/fuzz, scripts/fuzz) found: each input made a parser fail
// some other way than questbench::Error (RELIABILITY.md, "Fuzzing"). Each case is the smallest input of its kind.
#include "tests/catch_torch.h"  // first: see the header
#include "common/error.h"
#include "common/files.h"
#include "common/npy.h"
#include "datasets/dataset.h"
#include "models/safetensors.h"
#include "models/vit_config.h"
#include "tests/fuzz/seeds.h"
#include "tests/test_support.h"

#include <filesystem>

namespace questbench::fuzz_findings_test {

std::unique_ptr<Dataset> open_as(const std::string& path, const std::string& format) {
  DatasetSpec spec;
  spec.path = path;
  spec.format = format;
  return open_dataset(spec);
}

// An IDX images file of the given header sizes holding `data` bytes, with a labels file of `labels` labels.
std::string idx_folder(const std::string& tag, uint32_t n, uint32_t h, uint32_t w, size_t data, uint32_t labels) {
  using fuzz_seeds::be32;
  const std::string dir = test::make_temp_dir(tag);
  write_file_atomic(dir + "/t10k-images-idx3-ubyte", be32(0x803) + be32(n) + be32(h) + be32(w) + std::string(data, '\1'));
  write_file_atomic(dir + "/t10k-labels-idx1-ubyte", be32(0x801) + be32(labels) + std::string(labels, '\1'));
  return dir;
}

}  // namespace questbench::fuzz_findings_test

TEST_CASE("IDX files with no images or implausible sizes are handled", "[fuzz-findings][datasets]") {
  using namespace questbench;
  using namespace questbench::fuzz_findings_test;
  // 0 images: the copy into an empty tensor passed memcpy a null pointer (undefined; UBSan aborts).
  auto empty = open_as(idx_folder("idx_empty", 0, 4, 4, 0, 0), "idx");
  CHECK(empty->size() == 0);
  CHECK(empty->read(0, 0).x.size(0) == 0);
  // 2^31 x 2^31 x 4 = 2^64: the int64 product wrapped to 0 and matched an empty data section, then LibTorch was
  // asked for an impossible tensor (c10::Error, or a signed-overflow report under UBSan).
  REQUIRE_THROWS_AS(open_as(idx_folder("idx_overflow", 1u << 31, 1u << 31, 4, 0, 0), "idx"), Error);
  // No images but sides of about 2^32: the empty tensor loaded, and slicing it made LibTorch's strides overflow
  // (c10::Error from as_strided).
  REQUIRE_THROWS_AS(open_as(idx_folder("idx_huge_sides", 0, 0xf8fffffbu, 0xfffffffbu, 0, 0), "idx")->read(0, 0), Error);
  // A sound one still loads.
  CHECK(open_as(idx_folder("idx_ok", 2, 3, 3, 18, 2), "idx")->size() == 2);
}

TEST_CASE("npy headers with an empty or overlong shape are a questbench error", "[fuzz-findings][npy]") {
  using namespace questbench;
  using fuzz_seeds::npy_file;
  // The fuzzer's input: 'shape' with no value. The in-memory parser (the .npz member reader) took substr(1) of
  // the empty text: std::out_of_range.
  REQUIRE_THROWS_AS(parse_npy(npy_file("<u8", "", false, 1, ""), "empty shape"), Error);
  // A dimension of 20 digits: std::stoll threw std::out_of_range in both readers.
  const std::string overlong = npy_file("<f4", "(99999999999999999999,)", false, 1, "");
  REQUIRE_THROWS_AS(parse_npy(overlong, "overlong"), Error);
  const std::string path = questbench::test::make_temp_dir("npy_overlong") + "/x.npy";
  write_file_atomic(path, overlong);
  REQUIRE_THROWS_AS(read_npy(path), Error);
  // Dimensions whose product overflows int64: the in-memory parser multiplied without a bound.
  REQUIRE_THROWS_AS(parse_npy(npy_file("<f4", "(4294967296, 4294967296)", false, 1, ""), "overflow"), Error);
}

TEST_CASE("npz members claiming a huge uncompressed size are refused before allocating", "[fuzz-findings][npy]") {
  using namespace questbench;
  std::string zip = fuzz_seeds::zip_file({{"x.npy", fuzz_seeds::npy_file("<f4", "(2,)", false, 1, std::string(8, '\0'))}}, true);
  // Central directory: the end record's offset field, then the member's uncompressed size at +24.
  const size_t eocd = zip.size() - 22;
  const size_t cd = uint8_t(zip[eocd + 16]) | (size_t(uint8_t(zip[eocd + 17])) << 8);
  zip.replace(cd + 24, 4, fuzz_seeds::le32(0xfffffff0u));
  const std::string path = test::make_temp_dir("npz_huge") + "/a.npz";
  write_file_atomic(path, zip);
  // Before: a 4 GiB allocation for a 100-byte archive (libFuzzer: out-of-memory), then a deflate error.
  REQUIRE_THROWS_WITH(read_npz(path), Catch::Contains("implausible uncompressed size"));
}

TEST_CASE("ViT configs with integer fields out of range or fractional are a questbench error", "[fuzz-findings][models]") {
  using namespace questbench;
  // The fuzzer's input, reduced: 3.3e32 channels. nlohmann's get<int64_t>() cast the float to int64, which is
  // undefined out of range (UBSan: "outside the range of representable values").
  REQUIRE_THROWS_AS(vit_config_from_json(R"({"in_chans": 333333333333333333333333333333333})", "huge"), Error);
  REQUIRE_THROWS_AS(vit_config_from_json(R"({"depth": 1e300})", "huge float"), Error);
  REQUIRE_THROWS_AS(vit_config_from_json(R"({"img_size": [28, 18446744073709551615]})", "huge unsigned"), Error);
  // 4.5 heads was silently taken as 4.
  REQUIRE_THROWS_AS(vit_config_from_json(R"({"num_heads": 4.5})", "fractional"), Error);
  // Integers written as floats still read.
  CHECK(vit_config_from_json(R"({"in_chans": 1.0, "num_heads": 4})", "integral float").in_chans == 1);
}

TEST_CASE("a safetensors file with no tensors reads back", "[fuzz-findings][safetensors]") {
  using namespace questbench;
  // Found making the fuzz seeds: the writer's header was `null` when there was nothing to write, and its own
  // reader refused the file ("header is not a JSON object").
  const std::string path = test::make_temp_dir("safetensors_empty") + "/empty.safetensors";
  write_safetensors(path, {}, {});
  const SafetensorsFile file = read_safetensors(path);
  CHECK(file.tensors.empty());
  CHECK(file.metadata.empty());
}

#if QUESTBENCH_WITH_OPENCV
TEST_CASE("images whose header size is past OpenCV's limits are a questbench error", "[fuzz-findings][datasets]") {
  using namespace questbench;
  using fuzz_seeds::le16;
  using fuzz_seeds::le32;
  // A BMP header of 5 x 2^28 pixels: OpenCV's imread throws cv::Exception (its size check) instead of
  // returning an empty image.
  const std::string bmp = "BM" + le32(70) + le32(0) + le32(54) + le32(40) + le32(5) + le32(1u << 28) + le16(1) + le16(24) +
                          le32(0) + le32(16) + le32(2835) + le32(2835) + le32(0) + le32(0) + std::string(16, '\0');
  const std::string root = test::make_temp_dir("image_huge");
  write_file_atomic(root + "/cls/img.bmp", bmp);
  REQUIRE_THROWS_AS(fuzz_findings_test::open_as(root, "imagefolder"), Error);
}
#endif
