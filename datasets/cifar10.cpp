// CIFAR-10 binary batches: records of 1 label byte + 3072 image bytes (CHW, 32x32x3), read by seeking.
// A folder (cifar-10-batches-bin) gives data_batch_1..5.bin for --split train and test_batch.bin for test.
#include "datasets/dataset.h"

#include "common/error.h"
#include "common/files.h"
#include "common/sha256.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>

namespace questbench {
namespace {

constexpr int64_t kRecord = 1 + 3 * 32 * 32;

const std::vector<std::string>& cifar10_class_names() {
  static const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                 "dog",      "frog",       "horse", "ship", "truck"};
  return names;
}

class Cifar10Dataset : public Dataset {
 public:
  explicit Cifar10Dataset(std::vector<std::string> files) : files_(std::move(files)) {
    for (const auto& f : files_) {
      const auto bytes = std::filesystem::file_size(f);
      QB_CHECK(bytes > 0 && bytes % kRecord == 0,
               f << ": not a CIFAR-10 binary batch (" << bytes << " bytes is not a multiple of " << kRecord << ")");
      starts_.push_back(total_);
      total_ += static_cast<int64_t>(bytes / kRecord);
    }
  }
  int64_t size() const override { return total_; }
  ImageShape image_shape() const override { return {3, 32, 32}; }
  int64_t num_classes() const override { return 10; }
  std::vector<std::string> class_names() const override { return cifar10_class_names(); }
  Batch read(int64_t begin, int64_t end) const override {
    QB_CHECK(0 <= begin && begin <= end && end <= total_, files_[0] << ": samples [" << begin << ", " << end << ") out of range");
    std::vector<int64_t> idx;
    for (int64_t i = begin; i < end; ++i) idx.push_back(i);
    return read_indices(idx);
  }
  Batch read_indices(const std::vector<int64_t>& indices) const override {
    const int64_t n = static_cast<int64_t>(indices.size());
    auto images = torch::empty({n, 3, 32, 32}, torch::kByte);
    auto labels = torch::empty({n}, torch::kLong);
    std::vector<char> record(kRecord);
    std::ifstream in;
    size_t open_file = files_.size();
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = indices[k];
      QB_CHECK(0 <= i && i < total_, files_[0] << ": sample " << i << " out of range");
      size_t f = std::upper_bound(starts_.begin(), starts_.end(), i) - starts_.begin() - 1;
      if (f != open_file) {
        in = std::ifstream(files_[f], std::ios::binary);
        QB_CHECK(in, files_[f] << ": cannot open");
        open_file = f;
      }
      in.seekg((i - starts_[f]) * kRecord);
      in.read(record.data(), kRecord);
      QB_CHECK(in.gcount() == kRecord, files_[f] << ": truncated record " << i - starts_[f]);
      const int64_t label = static_cast<uint8_t>(record[0]);
      QB_CHECK(label < 10, files_[f] << ": label " << label << " out of range in record " << i - starts_[f]);
      labels[k] = label;
      std::memcpy(static_cast<uint8_t*>(images.data_ptr()) + k * (kRecord - 1), record.data() + 1, kRecord - 1);
    }
    return {images.to(torch::kFloat).div_(255.0), labels, indices};
  }
  std::string description() const override {
    std::string d = "cifar10:";
    for (const auto& f : files_) d += " " + f;
    return d;
  }
  std::string resolved_path() const override { return files_.size() == 1 ? files_[0] : std::filesystem::path(files_[0]).parent_path().string(); }
  // sha256 over the bytes of the batch files in order.
  std::string fingerprint() const override {
    if (fingerprint_.empty()) fingerprint_ = sha256_fingerprint(files_);
    return fingerprint_;
  }

 private:
  std::vector<std::string> files_;
  std::vector<int64_t> starts_;
  int64_t total_ = 0;
  mutable std::string fingerprint_;
};

}  // namespace

std::unique_ptr<Dataset> open_cifar10_dataset(const std::string& path, const std::string& split) {
  if (file_exists(path)) return std::make_unique<Cifar10Dataset>(std::vector<std::string>{path});
  std::vector<std::string> files;
  if (split == "test") {
    files.push_back((std::filesystem::path(path) / "test_batch.bin").string());
  } else {
    for (int i = 1; i <= 5; ++i) files.push_back((std::filesystem::path(path) / ("data_batch_" + std::to_string(i) + ".bin")).string());
  }
  for (const auto& f : files) QB_CHECK(file_exists(f), "dataset " << path << ": no " << std::filesystem::path(f).filename().string());
  return std::make_unique<Cifar10Dataset>(files);
}

}  // namespace questbench
