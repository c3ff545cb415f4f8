#include "common/device.h"

#include "common/error.h"

#include <ATen/Context.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <thread>

namespace questbench {

void synchronize(torch::Device device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.has_index() ? device.index() : -1);
}

void use_exact_float32() {
  at::globalContext().setAllowTF32CuBLAS(false);
  at::globalContext().setAllowTF32CuDNN(false);
}

Stopwatch::Stopwatch(torch::Device device) : sync_([device] { synchronize(device); }) {}

Stopwatch::Stopwatch(torch::Device, SyncFunction sync) : sync_(std::move(sync)) {}

void Stopwatch::start() {
  sync_();  // work queued before the region must not be counted in it
  started_ = std::chrono::steady_clock::now();
}

double Stopwatch::seconds() {
  sync_();  // the region's kernels may still be running
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

double Stopwatch::time(const std::function<void()>& body) {
  start();
  body();
  return seconds();
}

HostToDevice::HostToDevice(torch::Device device) : device_(device) {
  if (device_.is_cuda() && !device_.has_index())
    device_ = torch::Device(torch::kCUDA, c10::impl::VirtualGuardImpl(c10::DeviceType::CUDA).getDevice().index());
}

torch::Tensor HostToDevice::operator()(const torch::Tensor& host) {
  if (!device_.is_cuda() || !host.device().is_cpu()) return host.to(device_);
  const int slot = next_;
  next_ ^= 1;
  if (copied_[slot]) {
    // The copy that last read this buffer must be done before the buffer is overwritten. Event::query is the
    // portable wait (LibTorch 1.x has no Event::synchronize); the copy is one batch, so the wait is short.
    while (!copied_[slot]->query()) std::this_thread::yield();
  }
  auto& buffer = pinned_[slot];
  if (!buffer.defined() || buffer.numel() < host.numel() || buffer.scalar_type() != host.scalar_type())
    buffer = torch::empty({std::max<int64_t>(host.numel(), 1)}, host.options().pinned_memory(true));
  auto staged = buffer.narrow(0, 0, host.numel()).view(host.sizes());
  staged.copy_(host);
  auto out = torch::empty(host.sizes(), host.options().device(device_));
  out.copy_(staged, /*non_blocking=*/true);
  c10::impl::VirtualGuardImpl guard(c10::DeviceType::CUDA);
  if (!copied_[slot]) copied_[slot].emplace(c10::DeviceType::CUDA);
  copied_[slot]->record(guard.getStream(device_));
  return out;
}

}  // namespace questbench
