// questbench corrupt: writes corrupted copies of image files or an ImageFolder tree in the ImageNet-C
//   layout <out>/<corruption>/<severity>/<class>/<file> (a plain list of files goes to .../<severity>/<file>).
// questbench gallery IMAGE: one PNG grid, rows = corruptions, columns = clean + severities 1..5.
#include "bench/cli/common.h"
#include "common/device.h"
#include "common/error.h"
#include "common/files.h"
#include "common/npy.h"
#include "common/seed.h"
#include "corruptions/corrupt.h"

#if QUESTBENCH_WITH_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

namespace questbench {
namespace {

namespace fs = std::filesystem;

// uint8 [N, H, W, C] of images in [0,1] holding 8-bit levels.
torch::Tensor to_uint8_nhwc(const torch::Tensor& x01) {
  return torch::round(x01.clamp(0, 1) * 255).to(torch::kByte).permute({0, 2, 3, 1}).contiguous().to(torch::kCPU);
}

#if QUESTBENCH_WITH_OPENCV
torch::Tensor read_image(const std::string& path) {
  cv::Mat image = cv::imread(path, cv::IMREAD_COLOR);
  QB_CHECK(!image.empty(), path << ": cannot decode image (corrupt or unsupported file)");
  cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
  auto t = torch::from_blob(image.data, {image.rows, image.cols, 3}, torch::kByte).clone();
  return t.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat) / 255.0;
}

// An 8-bit HWC image (1 or 3 channels, RGB) as OpenCV's own image (BGR), with its own pixels.
cv::Mat bgr_mat(const torch::Tensor& hwc) {
  const int channels = static_cast<int>(hwc.size(2));
  cv::Mat m(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), channels == 1 ? CV_8UC1 : CV_8UC3, hwc.data_ptr());
  if (channels == 1) return m.clone();
  cv::Mat bgr;
  cv::cvtColor(m, bgr, cv::COLOR_RGB2BGR);
  return bgr;
}

cv::Mat to_mat(const torch::Tensor& x01) { return bgr_mat(to_uint8_nhwc(x01)[0]); }  // [1, 3, H, W] -> BGR uint8

void write_image(const std::string& path, const cv::Mat& bgr) {
  fs::create_directories(fs::path(path).parent_path());
  std::vector<uchar> bytes;
  std::string ext = fs::path(path).extension().string();
  if (ext.empty()) ext = ".png";
  QB_CHECK(cv::imencode(ext, bgr, bytes), path << ": cannot encode as " << ext);
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

// An 8-bit HWC image (1 or 3 channels, RGB) to a file.
void write_image_u8(const std::string& path, const torch::Tensor& hwc) { write_image(path, bgr_mat(hwc)); }
#else
torch::Tensor read_image(const std::string& path) { throw opencv_unavailable(path + ": decoding image files"); }
void write_image_u8(const std::string& path, const torch::Tensor&) { throw opencv_unavailable(path + ": encoding image files"); }
#endif

uint64_t path_seed(uint64_t seed, const std::string& relative) { return keyed_seed(seed, relative); }

struct CorruptOptions {
  CommonOptions common;
  std::vector<std::string> inputs;
  DatasetOptions data;  // --dataset mode (data.dataset empty: image files / folders)
  std::string layout = "imagenet-c";
  std::string output = "corrupted", corruptions = "all", severities = "1-5", table = "auto", frost_dir;
  bool imagenet_c_jpeg = false;
};

// --dataset mode: image i of the data set is corrupted with seed image_seeds(seed, i), exactly as
// `questbench corruption` does on the fly, and written in the ImageNet-C layout
// (<out>/<corruption>/<severity>/<label>/<index>.png, label folders zero-padded so that sorted folder names are
// the label order) or the CIFAR-10-C layout (<out>/<corruption>.npy uint8 NHWC of 5 x N images, severity-major,
// + <out>/labels.npy int64 of 5 x N labels).
void run_corrupt_dataset(const CorruptOptions& o, const std::vector<std::string>& names, const std::vector<int>& severities,
                         const CorruptionOptions& options, torch::Device device, Reporter& reporter) {
  QB_USAGE_CHECK(o.layout == "imagenet-c" || o.layout == "cifar10-c", "--layout '" << o.layout << "': valid layouts are imagenet-c, cifar10-c");
  QB_USAGE_CHECK(o.layout != "cifar10-c" || severities == std::vector<int>({1, 2, 3, 4, 5}),
                 "--layout cifar10-c holds all five severities: use --severities 1-5");
  if (!QUESTBENCH_WITH_OPENCV && o.layout == "imagenet-c") throw opencv_unavailable("corrupt --layout imagenet-c: writing PNG files");
  auto dataset = open_dataset(dataset_spec(o.data));
  const int64_t n = first_samples(o.data.limit, dataset->size()).size();
  const int64_t batch = std::max<int64_t>(o.common.batch_size, 1);
  const int digits = static_cast<int>(std::to_string(std::max<int64_t>(dataset->num_classes() - 1, 0)).size());
  const int index_digits = static_cast<int>(std::to_string(std::max<int64_t>(n - 1, 0)).size());
  ProgressMeter meter(reporter, "corrupt", static_cast<int64_t>(names.size() * severities.size()), n);
  fs::create_directories(o.output);
  if (o.layout == "cifar10-c") {
    std::vector<torch::Tensor> labels;
    for (int s = 0; s < 5; ++s)
      for (int64_t b = 0; b < n; b += batch) labels.push_back(dataset->read(b, std::min(n, b + batch)).y);
    write_npy((fs::path(o.output) / "labels.npy").string(), torch::cat(labels).to(torch::kLong).contiguous());
  }
  HostToDevice to_device(device);
  for (const auto& name : names) {
    std::vector<torch::Tensor> rows;  // cifar10-c: the whole file, severity-major
    for (int severity : severities) {
      for (int64_t b = 0; b < n; b += batch) {
        const int64_t e = std::min(n, b + batch);
        Batch input = dataset->read(b, e);
        auto y = corrupt(to_device(input.x), name, severity, image_seeds(o.common.seed, b, e - b), options);
        auto u8 = to_uint8_nhwc(y);
        if (o.layout == "cifar10-c") {
          rows.push_back(u8);
          continue;
        }
        for (int64_t i = 0; i < e - b; ++i) {
          const int64_t label = input.y[i].item<int64_t>();
          char label_dir[32], file[32];
          std::snprintf(label_dir, sizeof label_dir, "%0*lld", digits, static_cast<long long>(label));
          std::snprintf(file, sizeof file, "%0*lld.png", index_digits, static_cast<long long>(b + i));
          write_image_u8((fs::path(o.output) / name / std::to_string(severity) / label_dir / file).string(), u8[i]);
        }
        meter.update(name + " severity " + std::to_string(severity), static_cast<double>(e) / n, e - b);
      }
      meter.cell_done();
    }
    if (o.layout == "cifar10-c") write_npy((fs::path(o.output) / (name + ".npy")).string(), torch::cat(rows).contiguous());
  }
  meter.end();
  if (!o.common.quiet)
    std::printf("wrote %lld images x %zu corruptions x %zu severities (%s layout) under %s\n", static_cast<long long>(n),
                names.size(), severities.size(), o.layout.c_str(), o.output.c_str());
}

void run_corrupt(const CorruptOptions& o) {
  const auto names = parse_corruption_list(o.corruptions);
  const auto severities = parse_severity_list(o.severities);
  CorruptionOptions options;
  options.table = parse_corruption_table(o.table);
  options.imagenet_c_jpeg = o.imagenet_c_jpeg;
  options.frost_dir = o.frost_dir;
  CommandRun run(o.common);
  const torch::Device device = run.device;
  if (!o.data.dataset.empty()) {
    QB_USAGE_CHECK(o.inputs.empty(), "corrupt: give image files/folders or --dataset, not both");
    run_corrupt_dataset(o, names, severities, options, device, run.reporter());
    return;
  }
  QB_USAGE_CHECK(!o.inputs.empty(), "corrupt: no inputs (image files, ImageFolder roots, or --dataset)");
  // (source file, path relative to the output severity folder)
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& input : o.inputs) {
    if (is_directory(input)) {
      std::vector<fs::path> found;
      for (const auto& e : fs::recursive_directory_iterator(input))
        if (e.is_regular_file()) found.push_back(e.path());
      std::sort(found.begin(), found.end());
      for (const auto& p : found) files.emplace_back(p.string(), fs::relative(p, input).string());
    } else {
      QB_CHECK(file_exists(input), input << ": not found");
      files.emplace_back(input, fs::path(input).filename().string());
    }
  }
  QB_CHECK(!files.empty(), "corrupt: no input images");
  ProgressMeter meter(run.reporter(), "corrupt", static_cast<int64_t>(files.size()), 1);
  for (const auto& [source, relative] : files) {
    auto x = read_image(source).to(device);
    for (const auto& name : names)
      for (int severity : severities) {
        auto y = corrupt(x, name, severity, {path_seed(o.common.seed, relative)}, options);
        write_image_u8((fs::path(o.output) / name / std::to_string(severity) / relative).string(), to_uint8_nhwc(y)[0]);
      }
    meter.update(relative, 1.0, 1);
    meter.cell_done();
  }
  meter.end();
  if (!o.common.quiet) std::printf("wrote %zu images x %zu corruptions x %zu severities under %s\n", files.size(), names.size(),
                                   severities.size(), o.output.c_str());
}

struct GalleryOptions {
  CommonOptions common;
  std::string image, output = "gallery.png", table = "auto", frost_dir;
  int cell = 160;
};

#if QUESTBENCH_WITH_OPENCV
void run_gallery(const GalleryOptions& o) {
  const torch::Device device = CommandRun(o.common).device;
  CorruptionOptions options;
  options.table = parse_corruption_table(o.table);
  options.frost_dir = o.frost_dir;
  auto x = read_image(o.image).to(device);  // corrupted where --device says, shown from the host
  const int label_width = 150, header = 24, cell = o.cell;
  const auto& table = corruption_table();
  cv::Mat grid(header + cell * static_cast<int>(table.size()), label_width + 6 * cell, CV_8UC3, cv::Scalar(255, 255, 255));
  auto place = [&](const cv::Mat& image, int row, int col) {
    cv::Mat resized;
    cv::resize(image, resized, cv::Size(cell - 4, cell - 4), 0, 0, cv::INTER_NEAREST);
    resized.copyTo(grid(cv::Rect(label_width + col * cell + 2, header + row * cell + 2, cell - 4, cell - 4)));
  };
  const char* columns[] = {"clean", "severity 1", "severity 2", "severity 3", "severity 4", "severity 5"};
  for (int c = 0; c < 6; ++c)
    cv::putText(grid, columns[c], cv::Point(label_width + c * cell + 8, 17), cv::FONT_HERSHEY_SIMPLEX, 0.5, cv::Scalar(0, 0, 0), 1,
                cv::LINE_AA);
  for (size_t r = 0; r < table.size(); ++r) {
    cv::putText(grid, table[r].name, cv::Point(6, header + static_cast<int>(r) * cell + cell / 2), cv::FONT_HERSHEY_SIMPLEX, 0.45,
                cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    place(to_mat(x), static_cast<int>(r), 0);
    for (int s = 1; s <= 5; ++s)
      place(to_mat(corrupt(x, table[r].name, s, {path_seed(o.common.seed, o.image)}, options)), static_cast<int>(r), s);
  }
  write_image(o.output, grid);
  if (!o.common.quiet) std::printf("gallery: %s (%zu corruptions x 5 severities)\n", o.output.c_str(), table.size());
}
#else
void run_gallery(const GalleryOptions& o) {
  CommandRun run(o.common);  // --device is checked as on every command
  throw opencv_unavailable("gallery " + o.image + ": decoding and drawing images");
}
#endif

}  // namespace

void add_corrupt_command(CLI::App& app, CommandRunner& runner) {
  auto [cmd, o] = add_command<kData>(
      &app, runner, "corrupt", "write corrupted copies of images / an ImageFolder tree / a data set (ImageNet-C or CIFAR-10-C layout)",
      run_corrupt, 64);
  cmd->add_option("inputs", o->inputs, "image files or ImageFolder roots (each image seeded by its relative path)");
  o->data.dataset.clear();  // --dataset mode only when given
  cmd->add_option("--layout", o->layout, "--dataset mode: imagenet-c (PNG tree) or cifar10-c (.npy per corruption)")
      ->capture_default_str();
  cmd->add_option("-o,--output", o->output, "output root: <out>/<corruption>/<severity>/<relative path>")->capture_default_str();
  cmd->add_option("--corruptions", o->corruptions, "all | standard | extra | comma-separated names")->capture_default_str();
  cmd->add_option("--severities", o->severities, "range 1-5 or list 1,3,5")->capture_default_str();
  cmd->add_option("--table", o->table, "auto | imagenet | tiny | cifar")->capture_default_str();
  cmd->add_flag("--imagenet-c-jpeg", o->imagenet_c_jpeg, "re-save as JPEG quality 85 like the released ImageNet-C");
  cmd->add_option("--frost-dir", o->frost_dir, "folder with the original frost1.png .. frost5.jpg (default: procedural textures)");

  auto [gallery, g] = add_command<kCommonOnly>(&app, runner, "gallery", "one PNG grid of an image: rows corruptions, columns severities",
                                               run_gallery, 1);
  gallery->add_option("image", g->image, "input image")->required();
  gallery->add_option("-o,--output", g->output, "PNG path")->capture_default_str();
  gallery->add_option("--table", g->table, "auto | imagenet | tiny | cifar")->capture_default_str();
  gallery->add_option("--cell", g->cell, "cell size in pixels")->capture_default_str();
  gallery->add_option("--frost-dir", g->frost_dir, "folder with the original frost photos (default: procedural textures)");
}

}  // namespace questbench
