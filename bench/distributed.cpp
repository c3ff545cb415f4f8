#include "bench/distributed.h"

#include "common/error.h"

// c10d's Gloo process group is declared only when its headers are told Gloo is there; the headers come with
// Debian's libgloo-dev (a dependency of libtorch's c10d). This file is kept out of unity batches (CMakeLists) so
// that these macros stay here.
#if __has_include(<gloo/rendezvous/store.h>)
#define USE_C10D_GLOO 1
#define QUESTBENCH_HAVE_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
// -DQUESTBENCH_NCCL=ON (a CUDA LibTorch built with NCCL) adds the NCCL process group.
#if defined(QUESTBENCH_WITH_NCCL) && QUESTBENCH_HAVE_GLOO
#define USE_C10D_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <torch/torch.h>
#include <torch/version.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

namespace questbench {
namespace {

int parse_int(const std::string& text, const std::string& what) {
  try {
    size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used == text.size() && v >= std::numeric_limits<int>::min() && v <= std::numeric_limits<int>::max()) return static_cast<int>(v);
  } catch (const std::logic_error&) {
  }
  throw Error(what + " '" + text + "': not an integer");
}

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

std::string required_env(const char* name, int world_size) {
  const auto v = env(name);
  QB_CHECK(v, "environment variable " << name << " is not set (WORLD_SIZE=" << world_size
                                      << " asks for a distributed run; set RANK, MASTER_ADDR and MASTER_PORT too, as torchrun does)");
  return *v;
}

}  // namespace

ShardSpec parse_shard(const std::string& text, const std::string& option) {
  const auto slash = text.find('/');
  ShardSpec s;
  try {
    QB_USAGE_CHECK(slash != std::string::npos, "");
    size_t used_i = 0, used_n = 0;
    const auto i_text = text.substr(0, slash), n_text = text.substr(slash + 1);
    s.index = std::stoi(i_text, &used_i);
    s.count = std::stoi(n_text, &used_n);
    QB_USAGE_CHECK(used_i == i_text.size() && used_n == n_text.size(), "");
  } catch (const std::logic_error&) {
    throw UsageError(option + " '" + text + "': expected I/N, shard I (0-based) of N");
  } catch (const UsageError&) {
    throw UsageError(option + " '" + text + "': expected I/N, shard I (0-based) of N");
  }
  QB_USAGE_CHECK(s.count >= 1, option << " '" << text << "': the shard count must be >= 1");
  QB_USAGE_CHECK(s.index >= 0 && s.index < s.count, option << " '" << text << "': the shard index must be in 0.." << s.count - 1);
  return s;
}

SampleRange shard_range(const SampleRange& plan, int64_t batch_size, int index, int count) {
  QB_USAGE_CHECK(batch_size >= 1, "--batch-size must be >= 1");
  const int64_t batches = (plan.size() + batch_size - 1) / batch_size;
  QB_USAGE_CHECK(count <= batches, "the run's " << plan.size() << " samples make " << batches << " batch(es) of " << batch_size
                                                << ": it cannot be split into " << count
                                                << " parts (use at most " << batches << ", or a smaller --batch-size)");
  const int64_t per_part = batches / count, extra = batches % count;
  const int64_t first_batch = index * per_part + std::min<int64_t>(index, extra);
  const int64_t part_batches = per_part + (index < extra ? 1 : 0);
  const int64_t begin = plan.begin + first_batch * batch_size;
  return {begin, std::min(plan.end, begin + part_batches * batch_size)};
}

std::optional<LaunchEnvironment> launch_environment() {
  const auto world = env("WORLD_SIZE");
  if (!world) return std::nullopt;
  LaunchEnvironment e;
  e.world_size = parse_int(*world, "environment variable WORLD_SIZE");
  QB_CHECK(e.world_size >= 1, "environment variable WORLD_SIZE '" << *world << "': must be >= 1");
  if (e.world_size == 1) return std::nullopt;
  e.rank = parse_int(required_env("RANK", e.world_size), "environment variable RANK");
  QB_CHECK(e.rank >= 0 && e.rank < e.world_size,
           "environment variable RANK '" << e.rank << "': must be in 0.." << e.world_size - 1 << " (WORLD_SIZE " << e.world_size << ")");
  e.local_rank = env("LOCAL_RANK") ? parse_int(*env("LOCAL_RANK"), "environment variable LOCAL_RANK") : 0;
  QB_CHECK(e.local_rank >= 0, "environment variable LOCAL_RANK '" << e.local_rank << "': must be >= 0");
  e.master_addr = required_env("MASTER_ADDR", e.world_size);
  e.master_port = parse_int(required_env("MASTER_PORT", e.world_size), "environment variable MASTER_PORT");
  QB_CHECK(e.master_port > 0 && e.master_port < 65536, "environment variable MASTER_PORT '" << e.master_port << "': not a port");
  return e;
}

#if QUESTBENCH_HAVE_GLOO

bool distributed_available() { return true; }

// The process groups derive from c10d::ProcessGroup in LibTorch 1.x and from c10d::Backend in 2.x.
#if TORCH_VERSION_MAJOR >= 2
using GroupBase = c10d::Backend;
#else
using GroupBase = c10d::ProcessGroup;
#endif

struct ProcessGroup::State {
  LaunchEnvironment env;
  std::chrono::seconds timeout{0};
  std::string backend;
  torch::Device device{torch::kCPU};  // where the collectives' tensors live (the GPU for NCCL)
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<GroupBase> group;
  std::thread watchdog;
  std::mutex mutex;
  std::condition_variable wake;
  bool stop = false, finished = false;

  [[noreturn]] void fail(const std::string& why) {
    std::fprintf(stderr, "questbench: error: rank %d of %d: %s; no report written (the same command with --resume continues)\n",
                 env.rank, env.world_size, why.c_str());
    std::fflush(stderr);
    std::_Exit(1);
  }

  // Beats once a second and watches the others' beats through its own connection to the store.
  void watch() {
    const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
    c10::intrusive_ptr<c10d::TCPStore> client;
    try {
      c10d::TCPStoreOptions o;
      o.port = static_cast<std::uint16_t>(env.master_port);
      o.isServer = false;
      o.waitWorkers = false;
      o.timeout = timeout;
      client = c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
    } catch (const std::exception&) {
      fail("cannot reach the rendezvous store at " + where);
    }
    const auto beat = [](int r) { return "questbench/heartbeat/" + std::to_string(r); };
    std::vector<int64_t> last(static_cast<size_t>(env.world_size), -1);
    std::vector<std::chrono::steady_clock::time_point> changed(static_cast<size_t>(env.world_size), std::chrono::steady_clock::now());
    std::unique_lock<std::mutex> lock(mutex);
    while (!stop) {
      lock.unlock();
      try {
        client->add(beat(env.rank), 1);
        if (client->check({"questbench/failed"})) {
          const auto who = client->get("questbench/failed");
          fail("rank " + std::string(who.begin(), who.end()) + " failed (its own error says why)");
        }
        const auto now = std::chrono::steady_clock::now();
        for (int r = 0; r < env.world_size; ++r) {
          if (r == env.rank) continue;
          const int64_t v = client->add(beat(r), 0);
          if (v != last[static_cast<size_t>(r)]) {
            last[static_cast<size_t>(r)] = v;
            changed[static_cast<size_t>(r)] = now;
          } else if (now - changed[static_cast<size_t>(r)] > timeout) {
            fail("rank " + std::to_string(r) + " sent no heartbeat for " + std::to_string(timeout.count()) +
                 " s (stopped or killed?)");
          }
        }
      } catch (const std::exception&) {
        fail("lost the rendezvous store at " + where + " (rank 0 stopped or killed?)");
      }
      lock.lock();
      wake.wait_for(lock, std::chrono::seconds(1), [&] { return stop; });
    }
  }

  void stop_watchdog() {
    {
      std::lock_guard<std::mutex> guard(mutex);
      stop = true;
    }
    wake.notify_all();
    if (watchdog.joinable()) watchdog.join();
  }
};

ProcessGroup::ProcessGroup(const LaunchEnvironment& env, std::chrono::seconds timeout, const std::string& backend,
                           const std::string& device)
    : state_(std::make_unique<State>()) {
  auto& s = *state_;
  s.env = env;
  s.timeout = timeout;
  const bool cuda = device.rfind("cuda", 0) == 0;
  QB_USAGE_CHECK(backend == "auto" || backend == "gloo" || backend == "nccl", "--dist-backend '" << backend << "': valid values are auto, gloo, nccl");
#ifdef USE_C10D_NCCL
  const bool have_nccl = true;
#else
  const bool have_nccl = false;
#endif
  QB_USAGE_CHECK(backend != "nccl" || (have_nccl && cuda),
                 "--dist-backend nccl: " << (have_nccl ? "needs a CUDA --device" : "this LibTorch build has no NCCL"));
  s.backend = backend == "auto" ? (have_nccl && cuda ? "nccl" : "gloo") : backend;
  if (s.backend == "nccl") s.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  try {
    c10d::TCPStoreOptions o;
    o.port = static_cast<std::uint16_t>(env.master_port);
    o.isServer = env.rank == 0;
    o.numWorkers = static_cast<size_t>(env.world_size);
    o.waitWorkers = true;
    o.timeout = timeout;
    s.store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(env.rank) + ": rendezvous at " + where + " failed within " + std::to_string(timeout.count()) +
                " s (" + std::string(e.what()).substr(0, std::string(e.what()).find('\n')) + ")");
  }
  try {
    if (s.backend == "gloo") {
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      // GLOO_SOCKET_IFNAME picks the network interface, as in PyTorch; otherwise the host name's address.
      if (const auto ifname = questbench::env("GLOO_SOCKET_IFNAME")) options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(*ifname));
      else options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      s.group = c10::make_intrusive<c10d::ProcessGroupGloo>(s.store, env.rank, env.world_size, options);
    } else {
#ifdef USE_C10D_NCCL
      s.group = c10::make_intrusive<c10d::ProcessGroupNCCL>(s.store, env.rank, env.world_size, c10d::ProcessGroupNCCL::Options::create());
#endif
    }
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(env.rank) + ": joining the " + s.backend + " process group at " + where + " failed (" +
                std::string(e.what()).substr(0, std::string(e.what()).find('\n')) + ")");
  }
  s.watchdog = std::thread([&s] { s.watch(); });
}

ProcessGroup::~ProcessGroup() {
  auto& s = *state_;
  if (!s.finished) {
    // Leaving early (an error on this rank): tell the others at once rather than after the heartbeat timeout,
    // and give them a moment to read it before rank 0's store goes away.
    try {
      const auto who = std::to_string(s.env.rank);
      s.store->set("questbench/failed", std::vector<uint8_t>(who.begin(), who.end()));
    } catch (const std::exception&) {
    }
    s.stop_watchdog();
    if (s.env.rank == 0) std::this_thread::sleep_for(std::chrono::seconds(3));
  }
  s.stop_watchdog();
}

int ProcessGroup::rank() const { return state_->env.rank; }
int ProcessGroup::world_size() const { return state_->env.world_size; }
std::string ProcessGroup::backend() const { return state_->backend; }

namespace {
// Collectives wait for the slowest rank's share of the work; a dead rank is the watchdog's to notice.
constexpr std::chrono::milliseconds kCollectiveTimeout = std::chrono::hours(24 * 30);
}  // namespace

// A collective that fails has lost a peer (Gloo: "Connection closed by peer"): one line, as the watchdog says it.
template <typename F>
void collective(const ProcessGroup::State& s, const char* what, F&& run) {
  try {
    run();
  } catch (const std::exception& e) {
    const std::string detail(e.what());
    throw Error("rank " + std::to_string(s.env.rank) + " of " + std::to_string(s.env.world_size) + ": " + what +
                " failed: another rank stopped or was killed (" + detail.substr(0, detail.find('\n')) +
                "); no report written (the same command with --resume continues)");
  }
}

std::vector<std::string> ProcessGroup::all_gather(const std::string& mine) {
  auto& s = *state_;
  const auto world = static_cast<size_t>(s.env.world_size);
  c10d::AllgatherOptions options;
  options.timeout = kCollectiveTimeout;
  std::vector<at::Tensor> size_in{torch::tensor({static_cast<int64_t>(mine.size())}, torch::kLong).to(s.device)};
  std::vector<std::vector<at::Tensor>> sizes(1);
  for (size_t r = 0; r < world; ++r) sizes[0].push_back(torch::empty({1}, torch::TensorOptions().dtype(torch::kLong).device(s.device)));
  collective(s, "gathering the reports", [&] { s.group->allgather(sizes, size_in, options)->wait(); });
  int64_t longest = 0;
  std::vector<int64_t> lengths;
  for (auto& t : sizes[0]) {
    lengths.push_back(t.to(torch::kCPU).item<int64_t>());
    longest = std::max(longest, lengths.back());
  }
  auto padded = torch::zeros({std::max<int64_t>(longest, 1)}, torch::kByte);
  std::memcpy(padded.data_ptr<uint8_t>(), mine.data(), mine.size());
  std::vector<at::Tensor> text_in{padded.to(s.device)};
  std::vector<std::vector<at::Tensor>> texts(1);
  for (size_t r = 0; r < world; ++r)
    texts[0].push_back(torch::empty({padded.size(0)}, torch::TensorOptions().dtype(torch::kByte).device(s.device)));
  collective(s, "gathering the reports", [&] { s.group->allgather(texts, text_in, options)->wait(); });
  std::vector<std::string> out;
  for (size_t r = 0; r < world; ++r) {
    const auto host = texts[0][r].to(torch::kCPU).contiguous();
    out.emplace_back(reinterpret_cast<const char*>(host.data_ptr<uint8_t>()), static_cast<size_t>(lengths[r]));
  }
  return out;
}

void ProcessGroup::barrier() {
  c10d::BarrierOptions options;
  options.timeout = kCollectiveTimeout;
  collective(*state_, "waiting for the other ranks", [&] { state_->group->barrier(options)->wait(); });
}

void ProcessGroup::finish() {
  barrier();
  state_->stop_watchdog();
  barrier();
  state_->finished = true;
}

#else  // no Gloo headers when this was built

bool distributed_available() { return false; }

struct ProcessGroup::State {};

ProcessGroup::ProcessGroup(const LaunchEnvironment&, std::chrono::seconds, const std::string&, const std::string&) {
  throw Error("WORLD_SIZE asks for a distributed run, but this questbench was built without c10d's Gloo headers (install libgloo-dev and rebuild)");
}
ProcessGroup::~ProcessGroup() = default;
int ProcessGroup::rank() const { return 0; }
int ProcessGroup::world_size() const { return 1; }
std::string ProcessGroup::backend() const { return ""; }
std::vector<std::string> ProcessGroup::all_gather(const std::string& mine) { return {mine}; }
void ProcessGroup::barrier() {}
void ProcessGroup::finish() {}

#endif

}  // namespace questbench
