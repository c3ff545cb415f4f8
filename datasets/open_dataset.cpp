// open_dataset(): the format table and auto-detection.
#include "datasets/dataset.h"

#include "common/error.h"
#include "common/files.h"

#include <filesystem>

namespace questbench {

std::unique_ptr<Dataset> open_idx_dataset(const std::string& dir, const std::string& split,
                                          const std::vector<std::string>& class_names);
std::unique_ptr<Dataset> open_cifar10_dataset(const std::string& path, const std::string& split);
std::unique_ptr<Dataset> open_imagefolder_dataset(const std::string& root, int resize, int crop);
std::unique_ptr<Dataset> open_npy_dataset(const std::string& images, const std::string& labels);
std::unique_ptr<Dataset> open_cifar10c_dataset(const std::string& dir, const std::string& corruption, int severity);

namespace {

bool has_file(const std::string& dir, const std::string& name) {
  return file_exists((std::filesystem::path(dir) / name).string());
}

// Detects the format of a path; throws listing the formats when it cannot tell.
std::string detect_format(const DatasetSpec& spec) {
  const std::filesystem::path p(spec.path);
  if (file_exists(spec.path)) {
    const auto ext = p.extension().string();
    if (ext == ".npy") return "npy";
    if (ext == ".bin") return "cifar10";
    if (p.filename().string().find("idx3-ubyte") != std::string::npos) return "idx";
  } else if (is_directory(spec.path)) {
    if (has_file(spec.path, "t10k-images-idx3-ubyte.gz") || has_file(spec.path, "t10k-images-idx3-ubyte") ||
        has_file(spec.path, "train-images-idx3-ubyte.gz") || has_file(spec.path, "train-images-idx3-ubyte"))
      return "idx";
    if (has_file(spec.path, "test_batch.bin") || has_file(spec.path, "data_batch_1.bin")) return "cifar10";
    if (has_file(spec.path, "labels.npy")) return "cifar10-c";
    for (const auto& entry : std::filesystem::directory_iterator(spec.path))
      if (entry.is_directory()) return "imagefolder";
  }
  throw UsageError("dataset " + spec.path +
                   ": cannot detect its format; pass --format idx|cifar10|imagefolder|npy|cifar10-c");
}

}  // namespace

std::string detect_dataset_format(const DatasetSpec& spec) {
  if (spec.path == "fashion-mnist") return "idx";
  return spec.format == "auto" ? detect_format(spec) : spec.format;
}

std::unique_ptr<Dataset> open_dataset(const DatasetSpec& spec) {
  QB_USAGE_CHECK(spec.split == "test" || spec.split == "train", "split '" << spec.split << "': must be test or train");
  if (spec.path == "fashion-mnist") {
    QB_CHECK(is_directory(default_fashion_mnist_dir()),
             "dataset fashion-mnist: " << default_fashion_mnist_dir() << " is missing (install dataset-fashion-mnist)");
    return open_idx_dataset(default_fashion_mnist_dir(), spec.split, fashion_mnist_class_names());
  }
  QB_CHECK(file_exists(spec.path) || is_directory(spec.path), "dataset " << spec.path << ": not found");
  const std::string format = detect_dataset_format(spec);
  if (format == "idx") {
    if (file_exists(spec.path)) {
      // The images file itself: labels are its sibling with the same prefix.
      const auto dir = std::filesystem::path(spec.path).parent_path().string();
      const auto name = std::filesystem::path(spec.path).filename().string();
      return open_idx_dataset(dir.empty() ? "." : dir, name.rfind("train", 0) == 0 ? "train" : "test", {});
    }
    return open_idx_dataset(spec.path, spec.split, {});
  }
  if (format == "cifar10") return open_cifar10_dataset(spec.path, spec.split);
  if (format == "imagefolder") {
    QB_CHECK(is_directory(spec.path), "dataset " << spec.path << ": an imagefolder data set must be a folder");
    return open_imagefolder_dataset(spec.path, spec.resize, spec.crop);
  }
  if (format == "npy") return open_npy_dataset(spec.path, spec.labels_path);
  if (format == "cifar10-c") return open_cifar10c_dataset(spec.path, spec.corruption, spec.severity);
  throw UsageError("--format '" + format + "': unknown (valid: auto, idx, cifar10, imagefolder, npy, cifar10-c)");
}

}  // namespace questbench
