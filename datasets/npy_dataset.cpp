// NumPy-array data sets: an images .npy (uint8 NHWC, or float32 NCHW in [0,1]) with an integer labels
// .npy, and the CIFAR-10-C layout (<corruption>.npy of 5*N images, severity-major, + labels.npy).
// Rows are read lazily from the file for each batch.
#include "datasets/dataset.h"

#include "common/error.h"
#include "common/files.h"
#include "common/npy.h"
#include "common/sha256.h"

#include <torch/torch.h>

#include <filesystem>

namespace questbench {
namespace {

class NpyDataset : public Dataset {
 public:
  // first_row/rows select a contiguous slice of the images file (CIFAR-10-C severities).
  NpyDataset(std::string images_path, std::string labels_path, int64_t first_row, int64_t rows, std::string format)
      : images_path_(std::move(images_path)), labels_path_(std::move(labels_path)), format_(std::move(format)) {
    header_ = read_npy_header(images_path_);
    const auto& s = header_.shape;
    QB_CHECK(s.size() == 4, images_path_ << ": expected a 4-d image array, got " << s.size() << " dimensions");
    QB_CHECK(!header_.fortran_order, images_path_ << ": Fortran-order image arrays are not supported (save with C order)");
    if (header_.dtype == torch::kByte) {
      QB_CHECK(s[3] == 1 || s[3] == 3, images_path_ << ": uint8 images must be NHWC with 1 or 3 channels, got shape ["
                                                    << s[0] << ", " << s[1] << ", " << s[2] << ", " << s[3] << "]");
      nhwc_ = true;
      shape_ = {s[3], s[1], s[2]};
    } else {
      QB_CHECK(header_.dtype == torch::kFloat, images_path_ << ": images must be uint8 NHWC or float32 NCHW, got dtype "
                                                            << header_.descr);
      QB_CHECK(s[1] == 1 || s[1] == 3, images_path_ << ": float32 images must be NCHW with 1 or 3 channels, got shape ["
                                                    << s[0] << ", " << s[1] << ", " << s[2] << ", " << s[3] << "]");
      shape_ = {s[1], s[2], s[3]};
    }
    first_row_ = first_row;
    rows_ = rows < 0 ? s[0] - first_row : rows;
    QB_CHECK(first_row_ + rows_ <= s[0], images_path_ << ": holds " << s[0] << " images, need rows up to " << first_row_ + rows_);
    auto labels = read_npy(labels_path_);
    QB_CHECK(labels.dim() == 1, labels_path_ << ": labels must be a 1-d array, got " << labels.dim() << " dimensions");
    QB_CHECK(!labels.is_floating_point() && labels.scalar_type() != torch::kBool,
             labels_path_ << ": labels must be integers, got dtype " << labels.scalar_type());
    labels = labels.to(torch::kLong);
    // CIFAR-10-C: labels.npy has either one label per image of the whole file or one per clean image.
    if (labels.size(0) == s[0]) {
      labels_ = labels.slice(0, first_row_, first_row_ + rows_).clone();
    } else {
      QB_CHECK(labels.size(0) == rows_, labels_path_ << ": " << labels.size(0) << " labels for " << rows_ << " images in "
                                                     << images_path_);
      labels_ = labels;
    }
    if (rows_ > 0) {
      QB_CHECK(labels_.min().item<int64_t>() >= 0, labels_path_ << ": negative labels");
      num_classes_ = labels_.max().item<int64_t>() + 1;
    }
  }

  int64_t size() const override { return rows_; }
  ImageShape image_shape() const override { return shape_; }
  int64_t num_classes() const override { return num_classes_; }
  std::vector<std::string> class_names() const override {
    std::vector<std::string> names;
    for (int64_t i = 0; i < num_classes_; ++i) names.push_back(std::to_string(i));
    return names;
  }
  Batch read(int64_t begin, int64_t end) const override {
    QB_CHECK(0 <= begin && begin <= end && end <= rows_, images_path_ << ": samples [" << begin << ", " << end << ") out of range");
    auto raw = read_npy_rows(images_path_, header_, first_row_ + begin, first_row_ + end);
    Batch b;
    b.x = to_float_nchw(raw);
    b.y = labels_.slice(0, begin, end).clone();
    for (int64_t i = begin; i < end; ++i) b.ids.push_back(i);
    return b;
  }
  Batch read_indices(const std::vector<int64_t>& indices) const override {
    std::vector<torch::Tensor> xs;
    for (auto i : indices) xs.push_back(read(i, i + 1).x);
    Batch b;
    b.x = xs.empty() ? torch::empty({0, shape_.channels, shape_.height, shape_.width}) : torch::cat(xs, 0);
    b.y = labels_.index_select(0, torch::tensor(indices, torch::kLong));
    b.ids = indices;
    return b;
  }
  std::string description() const override {
    return format_ + ": " + images_path_ + " + " + labels_path_ +
           (first_row_ > 0 || rows_ != header_.shape[0] ? " rows " + std::to_string(first_row_) + ".." +
                                                             std::to_string(first_row_ + rows_)
                                                       : "");
  }
  std::string resolved_path() const override { return images_path_; }
  // sha256 over the images file bytes followed by the labels file bytes.
  std::string fingerprint() const override {
    if (fingerprint_.empty()) fingerprint_ = sha256_fingerprint(std::vector<std::string>{images_path_, labels_path_});
    return fingerprint_;
  }

 private:
  torch::Tensor to_float_nchw(const torch::Tensor& raw) const {
    if (nhwc_) return raw.permute({0, 3, 1, 2}).to(torch::kFloat).div_(255.0).contiguous();
    QB_CHECK(torch::isfinite(raw).all().item<bool>(), images_path_ << ": images contain NaN or Inf");
    QB_CHECK(raw.numel() == 0 || (raw.min().item<float>() >= 0.f && raw.max().item<float>() <= 1.f),
             images_path_ << ": float32 images must lie in [0,1] (found values in [" << raw.min().item<float>() << ", "
                          << raw.max().item<float>() << "])");
    return raw;
  }

  std::string images_path_, labels_path_, format_;
  NpyHeader header_;
  bool nhwc_ = false;
  ImageShape shape_;
  int64_t first_row_ = 0, rows_ = 0, num_classes_ = 0;
  torch::Tensor labels_;
  mutable std::string fingerprint_;
};

}  // namespace

std::unique_ptr<Dataset> open_npy_dataset(const std::string& images, const std::string& labels) {
  QB_USAGE_CHECK(!labels.empty(), "dataset " << images << ": a plain images .npy needs --labels FILE.npy");
  QB_CHECK(file_exists(labels), "labels " << labels << ": not found");
  return std::make_unique<NpyDataset>(images, labels, 0, -1, "npy");
}

std::unique_ptr<Dataset> open_cifar10c_dataset(const std::string& dir, const std::string& corruption, int severity) {
  QB_USAGE_CHECK(!corruption.empty(), "dataset " << dir << ": a CIFAR-10-C folder needs a corruption name");
  QB_USAGE_CHECK(severity >= 0 && severity <= 5, "severity " << severity << ": must be 1..5 (or 0 for all five)");
  const std::string images = (std::filesystem::path(dir) / (corruption + ".npy")).string();
  const std::string labels = (std::filesystem::path(dir) / "labels.npy").string();
  QB_CHECK(file_exists(images), "dataset " << dir << ": no " << corruption << ".npy");
  QB_CHECK(file_exists(labels), "dataset " << dir << ": no labels.npy");
  const auto header = read_npy_header(images);
  QB_CHECK(!header.shape.empty() && header.shape[0] % 5 == 0,
           images << ": a CIFAR-10-C file holds 5 severities x N images; " << (header.shape.empty() ? 0 : header.shape[0])
                  << " is not a multiple of 5");
  const int64_t per_severity = header.shape[0] / 5;
  if (severity == 0) return std::make_unique<NpyDataset>(images, labels, 0, -1, "cifar10-c");
  return std::make_unique<NpyDataset>(images, labels, (severity - 1) * per_severity, per_severity, "cifar10-c");
}

}  // namespace questbench
