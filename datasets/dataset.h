// Datasets: streaming readers that hand out batches of images as float32 tensors in [0,1], NCHW,
// on the CPU, with int64 labels. Normalization (mean/std) belongs to the model wrapper, not here.
//
// Formats (DatasetSpec::format, "auto" detects from the path):
//   idx         Fashion-MNIST / MNIST IDX files (.gz or raw); the path is a folder holding
//               {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz], or the images file itself.
//   cifar10     CIFAR-10 binary batches: a folder with data_batch_{1..5}.bin / test_batch.bin, or one .bin file.
//   imagefolder root/<class>/<image>, decoded with OpenCV; class index = sorted folder names.
//   npy         an images .npy (uint8 NHWC or float32 NCHW in [0,1]) + an integer labels .npy.
//   cifar10-c   a folder with <corruption>.npy (5*N images, severity-major) + labels.npy.
// The name "fashion-mnist" means the embedded default (/usr/share/datasets/fashion-mnist).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace questbench {

// One batch: x float32 [N,C,H,W] in [0,1]; y int64 [N]; ids = dataset indices of the samples.
struct Batch {
  torch::Tensor x, y;
  std::vector<int64_t> ids;
};

struct DatasetSpec {
  std::string path;              // "fashion-mnist" or a file/folder
  std::string format = "auto";   // auto|idx|cifar10|imagefolder|npy|cifar10-c
  std::string split = "test";    // test|train (idx, cifar10)
  std::string labels_path;       // labels .npy for a plain images .npy
  int resize = 0;                // imagefolder: shorter side resized to this (0: keep); e.g. 256
  int crop = 0;                  // imagefolder: center crop size (0: none; required if images differ in size)
  std::string corruption;        // cifar10-c: which <corruption>.npy
  int severity = 0;              // cifar10-c: 1..5 (0: all five, severity-major)
};

struct ImageShape {
  int64_t channels = 0, height = 0, width = 0;
};

// A random-access, streaming dataset. Implementations read only what a batch needs.
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual ImageShape image_shape() const = 0;
  virtual int64_t num_classes() const = 0;
  // Class names when the format has them (imagefolder folder names; Fashion-MNIST/CIFAR-10 names), else "0".."K-1".
  virtual std::vector<std::string> class_names() const = 0;
  // Samples [begin, end), in order. Throws questbench::Error on a read/decode failure naming the file.
  virtual Batch read(int64_t begin, int64_t end) const = 0;
  // Samples by index (any order, repeats allowed).
  virtual Batch read_indices(const std::vector<int64_t>& indices) const = 0;
  // Human-readable description: format and resolved path(s).
  virtual std::string description() const = 0;
  // Canonical resolved path (what reports record).
  virtual std::string resolved_path() const = 0;
  // Content fingerprint: "sha256:<hex>" over the bytes of the files that make up the selected data,
  // in a fixed order (documented per format). Computed on first call, cached.
  virtual std::string fingerprint() const = 0;
};

// The format open_dataset() will use for `spec` ("idx", "cifar10", ...), detecting it when "auto".
std::string detect_dataset_format(const DatasetSpec& spec);

// Opens a dataset; throws questbench::Error (missing/corrupt/unknown format) with a one-line message.
std::unique_ptr<Dataset> open_dataset(const DatasetSpec& spec);

// Default folder of the embedded Fashion-MNIST data set.
std::string default_fashion_mnist_dir();

// Fashion-MNIST class names, in label order.
const std::vector<std::string>& fashion_mnist_class_names();

}  // namespace questbench
