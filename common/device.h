// Device plumbing shared by the runners and benchmarks, written once so that every path treats CUDA alike:
//   - synchronize(device): waits for the work queued on a CUDA device (no-op on the CPU);
//   - Stopwatch: wall-clock timing of device work that synchronizes before each clock read (CUDA kernels run
//     asynchronously, so an unsynchronized clock measures only the launches);
//   - HostToDevice: copies host batches to the device through reused pinned (page-locked) buffers with
//     non-blocking copies, so the copy engine runs beside the host's next read.
#pragma once

#include <torch/types.h>

#include <c10/core/Event.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

namespace questbench {

// Waits until `device` has finished all queued work; nothing to wait for on the CPU.
void synchronize(torch::Device device);

// Exact float32 matrix products and convolutions on CUDA (TF32 off in cuBLAS and cuDNN; LibTorch enables it
// for cuDNN's convolutions by default), so that CUDA results match the CPU's within float32 rounding.
// Autocast (--autocast) is the opt-in for lower precision.
void use_exact_float32();

// Times a region of device work: start() and seconds() synchronize first, then read a steady clock. The
// synchronization function can be replaced (tests check the order of synchronizations and clock reads).
class Stopwatch {
 public:
  using SyncFunction = std::function<void()>;
  explicit Stopwatch(torch::Device device);
  Stopwatch(torch::Device device, SyncFunction sync);
  void start();
  double seconds();  // since start(), after the device has finished
  // Runs `body` once between start() and seconds().
  double time(const std::function<void()>& body);

 private:
  SyncFunction sync_;
  std::chrono::steady_clock::time_point started_{};
};

// Host (CPU) tensors to one device. On the CPU it returns the tensor as is (no copy). On CUDA each call
// copies the tensor into one of two pinned buffers (reused, grown when a batch is larger) and starts a
// non-blocking copy from it; before a buffer is reused, the copy that last read it is waited for.
class HostToDevice {
 public:
  explicit HostToDevice(torch::Device device);
  HostToDevice(const HostToDevice&) = delete;
  HostToDevice& operator=(const HostToDevice&) = delete;
  torch::Tensor operator()(const torch::Tensor& host);
  torch::Device device() const { return device_; }

 private:
  torch::Device device_;
  torch::Tensor pinned_[2];
  std::optional<c10::Event> copied_[2];
  int next_ = 0;
};

}  // namespace questbench
