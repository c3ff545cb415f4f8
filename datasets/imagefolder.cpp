// ImageFolder: root/<class>/<image>, class index = sorted folder names (like torchvision). Only the file
// list is read at open time; images are decoded per batch with OpenCV. Channels follow the first image:
// a single-channel (grayscale) first image makes every image 1-channel gray, anything else makes them RGB.
// Eval transform: resize the shorter side to `resize` (bilinear, cv::INTER_LINEAR; 0 keeps the size),
// then center crop `crop` x `crop` (offsets round((H - crop) / 2), as torchvision's CenterCrop).
#include "datasets/dataset.h"

#include "common/error.h"
#include "common/files.h"
#include "common/sha256.h"

#include <ATen/Parallel.h>
#if QUESTBENCH_WITH_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace questbench {
#if QUESTBENCH_WITH_OPENCV
namespace {

bool is_image_file(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  static const std::vector<std::string> exts = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"};
  return std::find(exts.begin(), exts.end(), ext) != exts.end();
}

// Decodes an image file. OpenCV refuses some corrupt files (a header whose size is past its limits) by throwing
// cv::Exception rather than returning an empty Mat: both become the one questbench error.
cv::Mat read_image(const std::string& path, int flags) {
  cv::Mat image;
  try {
    image = cv::imread(path, flags);
  } catch (const cv::Exception&) {
    image.release();
  }
  QB_CHECK(!image.empty(), path << ": cannot decode image (corrupt or unsupported file)");
  return image;
}

class ImageFolderDataset : public Dataset {
 public:
  ImageFolderDataset(const std::string& root, int resize, int crop) : root_(root), resize_(resize), crop_(crop) {
    std::vector<std::filesystem::path> class_dirs;
    for (const auto& entry : std::filesystem::directory_iterator(root))
      if (entry.is_directory()) class_dirs.push_back(entry.path());
    std::sort(class_dirs.begin(), class_dirs.end());
    QB_CHECK(!class_dirs.empty(), "dataset " << root << ": no class folders (expected root/<class>/<image>)");
    for (size_t k = 0; k < class_dirs.size(); ++k) {
      classes_.push_back(class_dirs[k].filename().string());
      std::vector<std::filesystem::path> images;
      for (const auto& entry : std::filesystem::recursive_directory_iterator(class_dirs[k]))
        if (entry.is_regular_file() && is_image_file(entry.path())) images.push_back(entry.path());
      std::sort(images.begin(), images.end());
      for (const auto& p : images) {
        files_.push_back(p.string());
        labels_.push_back(static_cast<int64_t>(k));
      }
    }
    QB_CHECK(!files_.empty(), "dataset " << root << ": no image files in its class folders");
    const cv::Mat probe = read_image(files_[0], cv::IMREAD_UNCHANGED);
    gray_ = probe.channels() == 1;
    const auto first = decode(0);  // the shape every batch must have (all images, after the transform)
    shape_ = {gray_ ? 1 : 3, first.size(1), first.size(2)};
  }
  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  ImageShape image_shape() const override { return shape_; }
  int64_t num_classes() const override { return static_cast<int64_t>(classes_.size()); }
  std::vector<std::string> class_names() const override { return classes_; }
  Batch read(int64_t begin, int64_t end) const override {
    QB_CHECK(0 <= begin && begin <= end && end <= size(), root_ << ": samples [" << begin << ", " << end << ") out of range");
    std::vector<int64_t> idx;
    for (int64_t i = begin; i < end; ++i) idx.push_back(i);
    return read_indices(idx);
  }
  Batch read_indices(const std::vector<int64_t>& indices) const override {
    const int64_t n = static_cast<int64_t>(indices.size());
    std::vector<torch::Tensor> images(n);
    std::vector<std::string> errors(n);
    at::parallel_for(0, n, 1, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        try {
          images[k] = decode(indices[k]);
        } catch (const std::exception& ex) {
          errors[k] = ex.what();
        }
      }
    });
    for (const auto& e : errors) QB_CHECK(e.empty(), e);
    auto labels = torch::empty({n}, torch::kLong);
    for (int64_t k = 0; k < n; ++k) {
      QB_CHECK(images[k].sizes() == images[0].sizes(),
               files_[indices[k]] << ": is " << images[k].size(1) << "x" << images[k].size(2) << " but "
                                  << files_[indices[0]] << " is " << images[0].size(1) << "x" << images[0].size(2)
                                  << "; pass --crop (and --resize) to give all images one size");
      labels[k] = labels_[indices[k]];
    }
    Batch out;
    out.x = n ? torch::stack(images) : torch::empty({0, shape_.channels, shape_.height, shape_.width});
    out.y = labels;
    out.ids = indices;
    return out;
  }
  std::string description() const override {
    return "imagefolder: " + root_ + " (" + std::to_string(files_.size()) + " images, " + std::to_string(classes_.size()) +
           " classes, resize " + std::to_string(resize_) + ", crop " + std::to_string(crop_) + ")";
  }
  std::string resolved_path() const override { return root_; }
  // sha256 over (relative path, NUL, file bytes) of every image in index order.
  std::string fingerprint() const override {
    if (fingerprint_.empty()) {
      Sha256 hash;
      for (const auto& f : files_) {
        const std::string rel = std::filesystem::relative(f, root_).string();
        hash.update(rel.data(), rel.size() + 1);
        const std::string bytes = read_file_bytes(f);
        hash.update(bytes.data(), bytes.size());
      }
      fingerprint_ = "sha256:" + hash.hex_digest();
    }
    return fingerprint_;
  }

 private:
  // Decodes image i to float32 [C, H, W] in [0,1] after the eval transform (C = 1 gray or 3 RGB).
  torch::Tensor decode(int64_t i) const {
    const std::string& path = files_[i];
    cv::Mat image = read_image(path, gray_ ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
    if (!gray_) cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
    if (resize_ > 0) {
      const int h = image.rows, w = image.cols;
      const double scale = static_cast<double>(resize_) / std::min(h, w);
      const int nh = h <= w ? resize_ : static_cast<int>(std::floor(h * scale));
      const int nw = w <= h ? resize_ : static_cast<int>(std::floor(w * scale));
      if (nh != h || nw != w) cv::resize(image, image, cv::Size(nw, nh), 0, 0, cv::INTER_LINEAR);
    }
    if (crop_ > 0) {
      QB_CHECK(image.rows >= crop_ && image.cols >= crop_,
               path << ": " << image.rows << "x" << image.cols << " is smaller than --crop " << crop_);
      const int top = static_cast<int>(std::lround((image.rows - crop_) / 2.0));
      const int left = static_cast<int>(std::lround((image.cols - crop_) / 2.0));
      image = image(cv::Rect(left, top, crop_, crop_)).clone();
    }
    auto t = torch::from_blob(image.data, {image.rows, image.cols, image.channels()}, torch::kByte).clone();
    return t.permute({2, 0, 1}).to(torch::kFloat).div_(255.0).contiguous();
  }

  std::string root_;
  int resize_, crop_;
  std::vector<std::string> classes_, files_;
  std::vector<int64_t> labels_;
  ImageShape shape_;
  bool gray_ = false;
  mutable std::string fingerprint_;
};

}  // namespace

std::unique_ptr<Dataset> open_imagefolder_dataset(const std::string& root, int resize, int crop) {
  QB_USAGE_CHECK(resize >= 0 && crop >= 0, "--resize and --crop must be >= 0");
  return std::make_unique<ImageFolderDataset>(root, resize, crop);
}
#else
std::unique_ptr<Dataset> open_imagefolder_dataset(const std::string& root, int resize, int crop) {
  QB_USAGE_CHECK(resize >= 0 && crop >= 0, "--resize and --crop must be >= 0");
  throw opencv_unavailable("dataset " + root + ": decoding ImageFolder images");
}
#endif

}  // namespace questbench
