// Fashion-MNIST / MNIST IDX reader (.gz or raw). Small enough to decode into memory once.
#include "datasets/dataset.h"

#include "common/error.h"
#include "common/files.h"
#include "common/sha256.h"

#include <torch/torch.h>

#include <filesystem>

namespace questbench {
namespace {

uint32_t big_endian_u32(const std::string& bytes, size_t offset) {
  return (uint32_t(uint8_t(bytes[offset])) << 24) | (uint32_t(uint8_t(bytes[offset + 1])) << 16) |
         (uint32_t(uint8_t(bytes[offset + 2])) << 8) | uint32_t(uint8_t(bytes[offset + 3]));
}

std::string read_maybe_gz(const std::string& path) {
  std::string bytes = read_file_bytes(path);
  if (bytes.size() >= 2 && uint8_t(bytes[0]) == 0x1f && uint8_t(bytes[1]) == 0x8b) return gunzip(bytes, path);
  return bytes;
}

std::string find_idx_file(const std::string& dir, const std::string& stem) {
  for (const std::string suffix : {".gz", ""}) {
    auto path = (std::filesystem::path(dir) / (stem + suffix)).string();
    if (file_exists(path)) return path;
  }
  throw Error(dir + ": no " + stem + "[.gz] file (expected an IDX data set folder)");
}

class IdxDataset : public Dataset {
 public:
  IdxDataset(std::string images_path, std::string labels_path, std::vector<std::string> class_names)
      : images_path_(std::move(images_path)), labels_path_(std::move(labels_path)) {
    const std::string images = read_maybe_gz(images_path_);
    QB_CHECK(images.size() >= 16 && big_endian_u32(images, 0) == 0x00000803,
             images_path_ << ": not an IDX image file (bad magic; expected 0x00000803 for uint8 N x H x W)");
    const int64_t n = big_endian_u32(images, 4), h = big_endian_u32(images, 8), w = big_endian_u32(images, 12);
    // A side past 65535 is no image (and, even with 0 images, makes LibTorch's strides overflow when sliced).
    QB_CHECK(h <= 65535 && w <= 65535, images_path_ << ": implausible IDX image size " << h << "x" << w << " (corrupt header?)");
    // n * h * w of three 32-bit sizes can overflow int64: compare against the data size without forming it
    // (h * w fits in uint64).
    const uint64_t data_bytes = images.size() - 16, image_bytes = uint64_t(h) * uint64_t(w);
    QB_CHECK((image_bytes == 0 || n == 0) ? data_bytes == 0
                                        : data_bytes % image_bytes == 0 && data_bytes / image_bytes == uint64_t(n),
             images_path_ << ": truncated or oversized IDX image data (" << images.size() - 16 << " bytes, header says "
                          << n << "x" << h << "x" << w << ")");
    const std::string labels = read_maybe_gz(labels_path_);
    QB_CHECK(labels.size() >= 8 && big_endian_u32(labels, 0) == 0x00000801,
             labels_path_ << ": not an IDX label file (bad magic; expected 0x00000801)");
    const int64_t nl = big_endian_u32(labels, 4);
    QB_CHECK(static_cast<int64_t>(labels.size()) - 8 == nl, labels_path_ << ": truncated IDX label data (" << labels.size() - 8
                                                                         << " bytes, header says " << nl << ")");
    QB_CHECK(nl == n, labels_path_ << ": " << nl << " labels for " << n << " images in " << images_path_);
    images_ = torch::empty({n, 1, h, w}, torch::kByte);
    // An empty tensor's data_ptr() is null, and memcpy from or to null is undefined even for 0 bytes.
    if (data_bytes > 0) std::memcpy(images_.data_ptr(), images.data() + 16, data_bytes);
    labels_ = torch::empty({n}, torch::kByte);
    if (n > 0) std::memcpy(labels_.data_ptr(), labels.data() + 8, static_cast<size_t>(n));
    labels_ = labels_.to(torch::kLong);
    num_classes_ = n > 0 ? labels_.max().item<int64_t>() + 1 : 0;
    class_names_ = std::move(class_names);
    if (static_cast<int64_t>(class_names_.size()) != num_classes_) {
      class_names_.clear();
      for (int64_t i = 0; i < num_classes_; ++i) class_names_.push_back(std::to_string(i));
    }
  }

  int64_t size() const override { return images_.size(0); }
  ImageShape image_shape() const override { return {1, images_.size(2), images_.size(3)}; }
  int64_t num_classes() const override { return num_classes_; }
  std::vector<std::string> class_names() const override { return class_names_; }
  Batch read(int64_t begin, int64_t end) const override {
    QB_CHECK(0 <= begin && begin <= end && end <= size(), images_path_ << ": samples [" << begin << ", " << end << ") out of range");
    Batch b;
    b.x = images_.slice(0, begin, end).to(torch::kFloat).div_(255.0);
    b.y = labels_.slice(0, begin, end).clone();
    for (int64_t i = begin; i < end; ++i) b.ids.push_back(i);
    return b;
  }
  Batch read_indices(const std::vector<int64_t>& indices) const override {
    for (auto i : indices) QB_CHECK(0 <= i && i < size(), images_path_ << ": sample " << i << " out of range");
    auto idx = torch::tensor(indices, torch::kLong);
    Batch b;
    b.x = images_.index_select(0, idx).to(torch::kFloat).div_(255.0);
    b.y = labels_.index_select(0, idx);
    b.ids = indices;
    return b;
  }
  std::string description() const override { return "idx: " + images_path_ + " + " + labels_path_; }
  std::string resolved_path() const override { return images_path_; }
  // sha256 over the images file bytes followed by the labels file bytes (as stored, .gz or raw).
  std::string fingerprint() const override {
    if (fingerprint_.empty()) fingerprint_ = sha256_fingerprint(std::vector<std::string>{images_path_, labels_path_});
    return fingerprint_;
  }

 private:
  std::string images_path_, labels_path_;
  torch::Tensor images_, labels_;  // uint8 [N,1,H,W], int64 [N]
  int64_t num_classes_ = 0;
  std::vector<std::string> class_names_;
  mutable std::string fingerprint_;
};

}  // namespace

std::string default_fashion_mnist_dir() { return "/usr/share/datasets/fashion-mnist"; }

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

std::unique_ptr<Dataset> open_idx_dataset(const std::string& dir, const std::string& split,
                                          const std::vector<std::string>& class_names) {
  QB_USAGE_CHECK(split == "test" || split == "train", "split '" << split << "': must be test or train");
  const std::string prefix = split == "test" ? "t10k" : "train";
  return std::make_unique<IdxDataset>(find_idx_file(dir, prefix + "-images-idx3-ubyte"),
                                      find_idx_file(dir, prefix + "-labels-idx1-ubyte"), class_names);
}

}  // namespace questbench
