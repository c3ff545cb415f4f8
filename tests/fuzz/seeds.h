// Seed corpora for the fuzz targets: small valid inputs of every format, written by the fuzz build's
// make_seeds program (scripts/fuzz) and checked by tests/test_fuzz_seeds.cpp ([fuzz-seeds]), which requires
// every seed to parse, so that the fuzzers start from inputs that reach past the first checks.
// Nothing here is committed as a binary: the seeds are made from code (and from the JSON report fixtures).
#pragma once

#include "common/error.h"
#include "common/files.h"
#include "common/npy.h"
#include "models/safetensors.h"
#include "models/vit_config.h"
#include "reports/format.h"

#include <torch/torch.h>
#include <zlib.h>
#if QUESTBENCH_WITH_OPENCV
#include <opencv2/imgcodecs.hpp>
#endif

#include <cstdint>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace questbench::fuzz_seeds {

// target name (fuzz_<parser> without the prefix) -> seed file name -> bytes
using Corpora = std::map<std::string, std::map<std::string, std::string>>;

inline std::string be32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }
inline std::string le16(uint32_t v) { return {char(v), char(v >> 8)}; }
inline std::string le32(uint32_t v) { return le16(v & 0xffff) + le16(v >> 16); }

// zlib deflate: gzip framing (window_bits 16 + 15) or raw deflate as in zip members (-15).
inline std::string deflate_bytes(const std::string& raw, int window_bits) {
  z_stream s{};
  QB_CHECK(deflateInit2(&s, 9, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) == Z_OK, "seeds: deflateInit2");
  std::string out(deflateBound(&s, raw.size()) + 64, '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  s.avail_in = static_cast<uInt>(raw.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  const int status = deflate(&s, Z_FINISH);
  deflateEnd(&s);
  QB_CHECK(status == Z_STREAM_END, "seeds: deflate");
  out.resize(s.total_out);
  return out;
}

// An IDX file: magic 0x0000080<dims>, big-endian sizes, then uint8 values i % 7 (valid labels too).
inline std::string idx_file(const std::vector<uint32_t>& dims) {
  std::string out = be32(0x800 + static_cast<uint32_t>(dims.size()));
  size_t count = 1;
  for (auto d : dims) {
    out += be32(d);
    count *= d;
  }
  for (size_t i = 0; i < count; ++i) out.push_back(static_cast<char>(i % 7));
  return out;
}

// A .npy file as numpy writes it, with a chosen descr, order, version and raw data.
inline std::string npy_file(const std::string& descr, const std::string& shape, bool fortran, int major,
                            const std::string& data) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
                       ", 'shape': " + shape + ", }";
  const size_t prefix = major == 1 ? 10 : 12;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header.push_back('\n');
  std::string out = std::string("\x93NUMPY", 6) + char(major) + char(0);
  out += major == 1 ? le16(static_cast<uint32_t>(header.size())) : le32(static_cast<uint32_t>(header.size()));
  return out + header + data;
}

inline std::string file_bytes_of(const std::function<void(const std::string&)>& write) {
  const auto path = std::filesystem::temp_directory_path() / ("questbench-seed-" + std::to_string(::getpid()));
  write(path.string());
  std::string bytes = read_file_bytes(path.string());
  std::filesystem::remove(path);
  return bytes;
}

// A zip archive of (name, bytes) members, each stored (method 0) or deflated (method 8), as numpy.savez writes.
inline std::string zip_file(const std::vector<std::pair<std::string, std::string>>& members, bool deflated) {
  std::string out, directory;
  for (const auto& [name, raw] : members) {
    const std::string body = deflated ? deflate_bytes(raw, -MAX_WBITS) : raw;
    const uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(raw.data()), static_cast<uInt>(raw.size())));
    const uint32_t offset = static_cast<uint32_t>(out.size());
    const std::string common = le16(20) + le16(0) + le16(deflated ? 8 : 0) + le16(0) + le16(0x21) + le32(crc) +
                               le32(static_cast<uint32_t>(body.size())) + le32(static_cast<uint32_t>(raw.size())) +
                               le16(static_cast<uint32_t>(name.size()));
    out += le32(0x04034b50) + common + le16(0) + name + body;
    directory += le32(0x02014b50) + le16(20) + common + le16(0) + le16(0) + le16(0) + le16(0) + le32(0) + le32(offset) + name;
  }
  const uint32_t cd_offset = static_cast<uint32_t>(out.size());
  const uint32_t n = static_cast<uint32_t>(members.size());
  return out + directory + le32(0x06054b50) + le16(0) + le16(0) + le16(n) + le16(n) +
         le32(static_cast<uint32_t>(directory.size())) + le32(cd_offset) + le16(0);
}

// Every target's seeds. `fixtures` is tests/fixtures (the JSON reports that compare's tests use).
inline Corpora make_corpora(const std::string& fixtures) {
  Corpora c;
  // IDX: fuzz_idx takes a 2-byte little-endian images length, the images file, then the labels file.
  for (uint32_t n : {3u, 1u, 0u}) {
    const std::string images = idx_file({n, 4, 4}), labels = idx_file({n});
    c["idx"]["n" + std::to_string(n)] = le16(static_cast<uint32_t>(images.size())) + images + labels;
  }
  c["idx_gz"]["n3"] = deflate_bytes(idx_file({3, 4, 4}), 16 + MAX_WBITS);
  c["idx_gz"]["n3x28"] = deflate_bytes(idx_file({3, 28, 28}), 16 + MAX_WBITS);
  // CIFAR-10: records of a label byte (0..9) and 3072 pixel bytes.
  for (int records : {1, 2}) {
    std::string batch;
    for (int r = 0; r < records; ++r) {
      batch.push_back(static_cast<char>(r + 3));
      for (int i = 0; i < 3072; ++i) batch.push_back(static_cast<char>((i * 7 + r) % 251));
    }
    c["cifar10"]["records" + std::to_string(records)] = batch;
  }
  // .npy: the writer's own output and hand-made headers for the other dtypes, orders and versions.
  c["npy"]["f4_nchw"] = file_bytes_of([](const std::string& p) { write_npy(p, torch::rand({2, 1, 3, 3})); });
  c["npy"]["u1_nhwc"] = file_bytes_of([](const std::string& p) { write_npy(p, torch::arange(24, torch::kByte).view({2, 2, 2, 3})); });
  c["npy"]["i8_labels"] = file_bytes_of([](const std::string& p) { write_npy(p, torch::arange(5, torch::kLong)); });
  c["npy"]["be_i4_fortran"] = npy_file(">i4", "(2, 3)", true, 1, std::string(24, '\1'));
  c["npy"]["u2_v2"] = npy_file("<u2", "(4,)", false, 2, std::string(8, '\2'));
  c["npy"]["u8_v3"] = npy_file("<u8", "(2,)", false, 3, std::string(16, '\0'));
  c["npy"]["b1_scalar"] = npy_file("|b1", "()", false, 1, std::string(1, '\1'));
  c["npy"]["f2_empty"] = npy_file("<f2", "(0, 3)", false, 1, "");
  // .npz: stored and deflated archives of two arrays.
  const std::vector<std::pair<std::string, std::string>> members = {{"x.npy", c["npy"]["f4_nchw"]}, {"y.npy", c["npy"]["i8_labels"]}};
  c["npz"]["stored"] = zip_file(members, false);
  c["npz"]["deflated"] = zip_file(members, true);
  // safetensors: several dtypes with metadata, and an empty file (header only).
  c["safetensors"]["tensors"] = file_bytes_of([](const std::string& p) {
    write_safetensors(p, {{"w", torch::rand({2, 3})}, {"b", torch::zeros({3}, torch::kDouble)}, {"i", torch::arange(4, torch::kLong)},
                          {"h", torch::ones({2}, torch::kHalf)}, {"m", torch::ones({2}, torch::kBool)}},
                      {{"format", "pt"}});
  });
  c["safetensors"]["empty"] = file_bytes_of([](const std::string& p) { write_safetensors(p, {}, {}); });
  // ViT configs: the defaults and one of every non-default kind of field.
  c["vit_config"]["default"] = vit_config_to_json(ViTConfig{});
  ViTConfig rich;
  rich.img_height = rich.img_width = 32;
  rich.patch_size = 4;
  rich.in_chans = 3;
  rich.attention = AttentionKind::Quest;
  rich.global_pool = "avg";
  rich.class_token = false;
  rich.mean = {0.5, 0.5, 0.5};
  rich.std = {0.25, 0.25, 0.25};
  rich.class_names = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
  c["vit_config"]["rich"] = vit_config_to_json(rich);
  // Reports: the compare fixtures; journals: a header line and lines made from the fixtures' cells.
  for (const std::string name : {"compare_attack", "compare_corruption", "compare_eval_other_data"})
    c["report"][name] = read_file_bytes(fixtures + "/" + name + ".json");
  const AttackReport attack = attack_report_from_json(c["report"]["compare_attack"], "compare_attack.json");
  const CorruptionReport corruption = corruption_report_from_json(c["report"]["compare_corruption"], "compare_corruption.json");
  const std::string header = "{\"header\":\"fuzz\"}\n";
  std::string attack_journal = header + clean_result_to_json_line(attack.models.at(0).name, attack.clean.at(0)) + "\n";
  for (size_t i = 0; i < attack.cells.size() && i < 3; ++i) attack_journal += attack_cell_to_json_line(attack.cells[i]) + "\n";
  c["journal"]["attack"] = attack_journal;
  c["journal"]["corruption_torn"] = header + corruption_cell_to_json_line(corruption.cells.at(0)) + "\n{\"model\":\"torn";
  c["journal"]["header_only"] = header;
#if QUESTBENCH_WITH_OPENCV
  // Images: fuzz_image's first byte picks resize (low nibble) and crop (high nibble), then the file.
  cv::Mat colour(6, 5, CV_8UC3), gray(4, 4, CV_8UC1);
  cv::randu(colour, 0, 255);
  cv::randu(gray, 0, 255);
  for (const std::string ext : {".png", ".bmp", ".jpg", ".pgm"}) {
    std::vector<uchar> buffer;
    if (!cv::imencode(ext, ext == ".pgm" ? gray : colour, buffer)) throw Error("seeds: imencode " + ext);
    const char transform = ext == ".png" ? char(0x11) : char(0);  // .png: resize 4, crop 4
    c["image"][ext.substr(1)] = transform + std::string(buffer.begin(), buffer.end());
  }
#endif
  return c;
}

// Writes corpora under root/<target>/<seed>.
inline void write_corpora(const Corpora& corpora, const std::filesystem::path& root) {
  for (const auto& [target, seeds] : corpora)
    for (const auto& [name, bytes] : seeds) write_file_atomic((root / target / name).string(), bytes);
}

}  // namespace questbench::fuzz_seeds
