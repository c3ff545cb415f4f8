// Data set readers on small fixtures written here, the embedded Fashion-MNIST, and clean errors on
// truncated/garbled files. Also sha256 test vectors and the .npy reader's header variants.
#include "tests/catch_torch.h"  // first: see the header
#include "common/error.h"
#include "common/files.h"
#include "common/npy.h"
#include "common/sha256.h"
#include "datasets/dataset.h"
#include "tests/test_support.h"

#if QUESTBENCH_WITH_OPENCV
#include <opencv2/imgcodecs.hpp>
#endif
#include <zlib.h>

#include <filesystem>
#include <fstream>

using namespace questbench;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string be32(uint32_t v) {
  return std::string{char(v >> 24), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)};
}

// IDX pair with n images of h x w where pixel (r, c) of image i = (i * 10 + r + c) % 256, label i % 3.
void write_idx(const std::string& dir, const std::string& prefix, int n, int h, int w, bool gz) {
  std::string images = be32(0x803) + be32(n) + be32(h) + be32(w), labels = be32(0x801) + be32(n);
  for (int i = 0; i < n; ++i) {
    for (int r = 0; r < h; ++r)
      for (int c = 0; c < w; ++c) images.push_back(static_cast<char>((i * 10 + r + c) % 256));
    labels.push_back(static_cast<char>(i % 3));
  }
  auto put = [&](const std::string& name, const std::string& bytes) {
    if (!gz) return write_bytes(dir + "/" + name, bytes);
    std::filesystem::create_directories(dir);
    gzFile f = gzopen((dir + "/" + name + ".gz").c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  };
  put(prefix + "-images-idx3-ubyte", images);
  put(prefix + "-labels-idx1-ubyte", labels);
}

std::string npy_bytes(const std::string& descr, const std::string& shape, const std::string& data, int major = 1,
                      bool fortran = false) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape + ", }";
  const size_t prefix = major == 1 ? 10 : 12;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header.push_back('\n');
  std::string out = std::string("\x93NUMPY", 6) + char(major) + char(0);
  const uint32_t len = static_cast<uint32_t>(header.size());
  out.push_back(char(len & 0xff));
  out.push_back(char((len >> 8) & 0xff));
  if (major != 1) {
    out.push_back(char((len >> 16) & 0xff));
    out.push_back(char((len >> 24) & 0xff));
  }
  return out + header + data;
}

}  // namespace

TEST_CASE("sha256 matches the FIPS 180-4 test vectors", "[common]") {
  auto digest = [](const std::string& s) {
    Sha256 h;
    h.update(s.data(), s.size());
    return h.hex_digest();
  };
  CHECK(digest("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 million;
  const std::string chunk(1000, 'a');
  for (int i = 0; i < 1000; ++i) million.update(chunk.data(), chunk.size());
  CHECK(million.hex_digest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE(".npy reader handles versions, dtypes, byte orders and Fortran order", "[common][npy]") {
  const auto dir = test::make_temp_dir("npy");
  // Round trips through the writer.
  for (auto t : {torch::rand({2, 3}), torch::rand({4}).to(torch::kDouble), torch::arange(6, torch::kByte).view({2, 3}),
                 torch::arange(5, torch::kLong), torch::arange(5, torch::kInt), torch::tensor({true, false}),
                 torch::rand({2, 2}).to(torch::kHalf)}) {
    write_npy(dir + "/t.npy", t);
    auto back = read_npy(dir + "/t.npy");
    CHECK(back.scalar_type() == t.scalar_type());
    CHECK(torch::equal(back, t));
  }
  // Big-endian int32 [1, 258] and float64, version 2.0 header, Fortran order.
  write_bytes(dir + "/be.npy", npy_bytes(">i4", "(2,)", std::string("\x00\x00\x00\x01\x00\x00\x01\x02", 8)));
  CHECK(torch::equal(read_npy(dir + "/be.npy"), torch::tensor({1, 258}, torch::kInt)));
  const double one = 1.0;
  std::string le(reinterpret_cast<const char*>(&one), 8), be(le.rbegin(), le.rend());
  write_bytes(dir + "/bef8.npy", npy_bytes(">f8", "(1,)", be, 2));
  CHECK(read_npy(dir + "/bef8.npy").item<double>() == 1.0);
  write_bytes(dir + "/u2.npy", npy_bytes("<u2", "(1,)", std::string("\xff\xff", 2), 3));
  CHECK(read_npy(dir + "/u2.npy").item<int64_t>() == 65535);
  // Fortran order: data 0 1 2 3 4 5 for shape (2, 3) means column-major.
  write_bytes(dir + "/f.npy", npy_bytes("|u1", "(2, 3)", std::string("\x00\x01\x02\x03\x04\x05", 6), 1, true));
  CHECK(torch::equal(read_npy(dir + "/f.npy"), torch::tensor({0, 2, 4, 1, 3, 5}, torch::kByte).view({2, 3})));
  // Row reads skip the rest of the file.
  write_npy(dir + "/rows.npy", torch::arange(20, torch::kFloat).view({5, 4}));
  auto h = read_npy_header(dir + "/rows.npy");
  CHECK(torch::equal(read_npy_rows(dir + "/rows.npy", h, 1, 3), torch::arange(4, 12, torch::kFloat).view({2, 4})));
  // Bad files: one-line errors naming the file.
  write_bytes(dir + "/magic.npy", "PK\x03\x04 not numpy");
  CHECK_THROWS_WITH(read_npy(dir + "/magic.npy"), Catch::Contains("magic.npy") && Catch::Contains("bad magic"));
  auto good = npy_bytes("<f4", "(4,)", std::string(16, '\0'));
  write_bytes(dir + "/short.npy", good.substr(0, good.size() - 3));
  CHECK_THROWS_WITH(read_npy(dir + "/short.npy"), Catch::Contains("truncated"));
  write_bytes(dir + "/header.npy", good.substr(0, 20));
  CHECK_THROWS_WITH(read_npy(dir + "/header.npy"), Catch::Contains("truncated"));
  write_bytes(dir + "/obj.npy", npy_bytes("|O", "(1,)", std::string(8, '\0')));
  CHECK_THROWS_WITH(read_npy(dir + "/obj.npy"), Catch::Contains("unsupported dtype"));
  write_bytes(dir + "/c8.npy", npy_bytes("<c8", "(1,)", std::string(8, '\0')));
  CHECK_THROWS_WITH(read_npy(dir + "/c8.npy"), Catch::Contains("unsupported dtype"));
  write_bytes(dir + "/v9.npy", std::string("\x93NUMPY\x09\x00", 8) + "xx");
  CHECK_THROWS_WITH(read_npy(dir + "/v9.npy"), Catch::Contains("version 9"));
  CHECK_THROWS_WITH(read_npy(dir + "/none.npy"), Catch::Contains("none.npy"));
}

TEST_CASE("IDX readers: raw and gz, shapes, labels, clean errors", "[datasets]") {
  const auto dir = test::make_temp_dir("idx");
  write_idx(dir + "/raw", "t10k", 5, 4, 3, false);
  write_idx(dir + "/gz", "train", 7, 4, 3, true);
  DatasetSpec spec;
  spec.path = dir + "/raw";
  auto raw = open_dataset(spec);
  CHECK(raw->size() == 5);
  CHECK(detect_dataset_format(spec) == "idx");
  auto b = raw->read(1, 3);
  REQUIRE(b.x.sizes() == torch::IntArrayRef({2, 1, 4, 3}));
  CHECK(b.x[0][0][2][1].item<float>() == Approx((10 + 2 + 1) / 255.0));
  CHECK(torch::equal(b.y, torch::tensor({1, 2}, torch::kLong)));
  spec.path = dir + "/gz";
  spec.split = "train";
  auto gz = open_dataset(spec);
  CHECK(gz->size() == 7);
  CHECK(gz->read_indices({6, 0}).y[0].item<int64_t>() == 0);
  CHECK(gz->fingerprint().rfind("sha256:", 0) == 0);
  // Truncated image data.
  std::string images = read_file_bytes(dir + "/raw/t10k-images-idx3-ubyte");
  write_bytes(dir + "/cut/t10k-images-idx3-ubyte", images.substr(0, images.size() - 5));
  write_bytes(dir + "/cut/t10k-labels-idx1-ubyte", read_file_bytes(dir + "/raw/t10k-labels-idx1-ubyte"));
  spec.path = dir + "/cut";
  spec.split = "test";
  CHECK_THROWS_WITH(open_dataset(spec), Catch::Contains("t10k-images-idx3-ubyte") && Catch::Contains("truncated"));
  // Garbled gzip.
  std::string gzbytes = read_file_bytes(dir + "/gz/train-images-idx3-ubyte.gz");
  for (size_t i = 12; i < gzbytes.size(); ++i) gzbytes[i] = static_cast<char>(gzbytes[i] ^ 0x5a);
  write_bytes(dir + "/badgz/t10k-images-idx3-ubyte.gz", gzbytes);
  write_bytes(dir + "/badgz/t10k-labels-idx1-ubyte", read_file_bytes(dir + "/raw/t10k-labels-idx1-ubyte"));
  spec.path = dir + "/badgz";
  CHECK_THROWS_WITH(open_dataset(spec), Catch::Contains("gzip"));
  spec.path = dir + "/nowhere";
  CHECK_THROWS_WITH(open_dataset(spec), Catch::Contains("not found"));
}

TEST_CASE("the embedded Fashion-MNIST test set opens with 10000 1x28x28 images", "[datasets]") {
  DatasetSpec spec;
  spec.path = "fashion-mnist";
  auto test = open_dataset(spec);
  REQUIRE(test->size() == 10000);
  CHECK(test->num_classes() == 10);
  CHECK(test->class_names()[9] == "Ankle boot");
  auto b = test->read(0, 5);
  CHECK(b.x.sizes() == torch::IntArrayRef({5, 1, 28, 28}));
  CHECK(torch::equal(b.y, torch::tensor({9, 2, 1, 1, 6}, torch::kLong)));
  CHECK(b.x.min().item<float>() >= 0.f);
  CHECK(b.x.max().item<float>() <= 1.f);
  spec.split = "train";
  CHECK(open_dataset(spec)->size() == 60000);
}

TEST_CASE("CIFAR-10 binary batches", "[datasets]") {
  const auto dir = test::make_temp_dir("cifar");
  std::string batch;
  for (int i = 0; i < 4; ++i) {
    batch.push_back(static_cast<char>(i * 3 % 10));
    for (int k = 0; k < 3072; ++k) batch.push_back(static_cast<char>((k / 1024) * 100 + i));  // channel-major
  }
  write_bytes(dir + "/test_batch.bin", batch);
  DatasetSpec spec;
  spec.path = dir;
  auto data = open_dataset(spec);
  CHECK(detect_dataset_format(spec) == "cifar10");
  CHECK(data->size() == 4);
  auto b = data->read(2, 4);
  REQUIRE(b.x.sizes() == torch::IntArrayRef({2, 3, 32, 32}));
  CHECK(b.x[0][2][5][5].item<float>() == Approx((200 + 2) / 255.0));
  CHECK(b.x[1][0][0][0].item<float>() == Approx(3 / 255.0));
  CHECK(torch::equal(b.y, torch::tensor({6, 9}, torch::kLong)));
  write_bytes(dir + "/bad/test_batch.bin", batch.substr(0, 5000));
  spec.path = dir + "/bad";
  CHECK_THROWS_WITH(open_dataset(spec), Catch::Contains("not a CIFAR-10 binary batch"));
}

#if !QUESTBENCH_WITH_OPENCV
TEST_CASE("ImageFolder without OpenCV says it is unavailable", "[datasets]") {
  const auto dir = test::make_temp_dir("folder");
  std::filesystem::create_directories(dir + "/root/ant");
  write_bytes(dir + "/root/ant/a.png", "\x89PNG");
  CHECK_THROWS_WITH(open_dataset(DatasetSpec{dir + "/root"}), Catch::Contains("needs OpenCV") && Catch::Contains("QUESTBENCH_OPENCV=OFF"));
}
#else
TEST_CASE("ImageFolder: sorted classes, resize + center crop, corrupt files", "[datasets]") {
  const auto dir = test::make_temp_dir("folder");
  // Class folders created out of order; images 40x60 (HxW) with a value per class.
  for (const std::string cls : {"zebra", "ant", "moth"}) {
    std::filesystem::create_directories(dir + "/root/" + cls);
    for (int i = 0; i < 2; ++i) {
      cv::Mat image(40, 60, CV_8UC3, cv::Scalar(10, 20, cls == "ant" ? 200 : 30));  // BGR
      cv::imwrite(dir + "/root/" + cls + "/img" + std::to_string(i) + ".png", image);
    }
  }
  std::ofstream(dir + "/root/ant/notes.txt") << "not an image";
  DatasetSpec spec;
  spec.path = dir + "/root";
  spec.resize = 20;
  spec.crop = 16;
  auto data = open_dataset(spec);
  CHECK(detect_dataset_format(spec) == "imagefolder");
  REQUIRE(data->size() == 6);
  CHECK(data->class_names() == std::vector<std::string>{"ant", "moth", "zebra"});
  auto b = data->read(0, 6);
  REQUIRE(b.x.sizes() == torch::IntArrayRef({6, 3, 16, 16}));
  CHECK(torch::equal(b.y, torch::tensor({0, 0, 1, 1, 2, 2}, torch::kLong)));
  CHECK(b.x[0][0][3][3].item<float>() == Approx(200 / 255.0));  // red channel first (RGB)
  CHECK(b.x[0][2][3][3].item<float>() == Approx(10 / 255.0));
  auto plain = open_dataset(DatasetSpec{dir + "/root"});
  CHECK(plain->image_shape().height == 40);
  CHECK(plain->image_shape().width == 60);
  write_bytes(dir + "/root/moth/broken.png", "\x89PNG garbage");
  auto broken = open_dataset(spec);
  CHECK_THROWS_WITH(broken->read(0, broken->size()), Catch::Contains("broken.png"));
}
#endif

TEST_CASE("npy image arrays and the CIFAR-10-C layout", "[datasets]") {
  const auto dir = test::make_temp_dir("npyds");
  auto nhwc = torch::randint(0, 256, {10, 4, 5, 3}, torch::kLong).to(torch::kByte);
  write_npy(dir + "/x.npy", nhwc);
  write_npy(dir + "/y.npy", torch::arange(10, torch::kLong) % 4);
  DatasetSpec spec;
  spec.path = dir + "/x.npy";
  spec.labels_path = dir + "/y.npy";
  auto data = open_dataset(spec);
  CHECK(data->size() == 10);
  auto b = data->read(3, 5);
  REQUIRE(b.x.sizes() == torch::IntArrayRef({2, 3, 4, 5}));
  CHECK(torch::allclose(b.x, nhwc.slice(0, 3, 5).permute({0, 3, 1, 2}).to(torch::kFloat) / 255.0));
  CHECK(torch::equal(b.y, torch::tensor({3, 0}, torch::kLong)));
  // float32 NCHW in [0,1]; out-of-range values are refused.
  write_npy(dir + "/f.npy", torch::rand({10, 1, 4, 4}));
  spec.path = dir + "/f.npy";
  CHECK(open_dataset(spec)->read(0, 10).x.sizes() == torch::IntArrayRef({10, 1, 4, 4}));
  write_npy(dir + "/f2.npy", torch::rand({10, 1, 4, 4}) * 255);
  spec.path = dir + "/f2.npy";
  CHECK_THROWS_WITH(open_dataset(spec)->read(0, 10), Catch::Contains("[0,1]"));
  // Wrong label count, missing labels.
  write_npy(dir + "/y3.npy", torch::arange(3, torch::kLong));
  spec.path = dir + "/x.npy";
  spec.labels_path = dir + "/y3.npy";
  CHECK_THROWS_WITH(open_dataset(spec), Catch::Contains("3 labels for 10 images"));
  spec.labels_path = "";
  CHECK_THROWS_WITH(open_dataset(spec), Catch::Contains("--labels"));
  // CIFAR-10-C: 5 severities x 2 images; severity 3 is rows 4..5.
  std::filesystem::create_directories(dir + "/c");
  write_npy(dir + "/c/fog.npy", nhwc);
  write_npy(dir + "/c/labels.npy", torch::arange(10, torch::kLong) % 4);
  DatasetSpec c;
  c.path = dir + "/c";
  c.corruption = "fog";
  c.severity = 3;
  auto sev3 = open_dataset(c);
  CHECK(detect_dataset_format(c) == "cifar10-c");
  REQUIRE(sev3->size() == 2);
  CHECK(torch::allclose(sev3->read(0, 2).x, nhwc.slice(0, 4, 6).permute({0, 3, 1, 2}).to(torch::kFloat) / 255.0));
  CHECK(torch::equal(sev3->read(0, 2).y, torch::tensor({0, 1}, torch::kLong)));
  c.corruption = "snow";
  CHECK_THROWS_WITH(open_dataset(c), Catch::Contains("snow.npy"));
}
