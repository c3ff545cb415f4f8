// Splitting one run over processes. A run's plan covers samples [plan.begin, plan.end); a part of it (a shard
// given with --shard I/N, or a rank of a distributed run) covers a range of whole batches of it, so that every
// batch it evaluates is a batch the unsplit run evaluates too, and every seed derives from the sample's index
// (common/seed.h): the parts' per-sample results, joined in order, are the unsplit run's. bench/merge.h joins
// them.
//
// Distributed runs use LibTorch's c10d: a TCPStore for the rendezvous at MASTER_ADDR:MASTER_PORT (rank 0 hosts
// it) and a ProcessGroupGloo (NCCL where LibTorch has it and the run is on CUDA) to gather the ranks' partial
// reports on rank 0, which writes the one report. The launcher's environment says who is who: RANK,
// WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (torchrun; srun and Kubernetes indexed jobs set them from
// SLURM_PROCID / JOB_COMPLETION_INDEX in their job script). A rank that dies is noticed by the others through
// the store's heartbeats; they exit with one line and no report, and the same command with --resume
// continues from each rank's journal.
#pragma once

#include "bench/engine.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace questbench {

// Shard I of N (0-based, as ranks are).
struct ShardSpec {
  int index = 0, count = 1;
};
// Parses "I/N" (0 <= I < N); throws UsageError naming `option` otherwise.
ShardSpec parse_shard(const std::string& text, const std::string& option = "--shard");

// Part `index` of `count` of `plan`, in whole batches of `batch_size` (the first parts take one batch more
// when the batches do not divide evenly). Throws UsageError when a part would be empty.
SampleRange shard_range(const SampleRange& plan, int64_t batch_size, int index, int count);

// The launcher's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).
struct LaunchEnvironment {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr;
  int master_port = 0;
};
// The environment of a distributed launch: nothing when WORLD_SIZE is unset or 1; throws Error naming the
// variable when one is missing or malformed.
std::optional<LaunchEnvironment> launch_environment();

// Whether this build can join a process group (c10d with Gloo found when it was configured).
bool distributed_available();

// A process group joined from the launcher's environment. Collectives wait as long as the slowest rank needs;
// liveness is the heartbeat watchdog's job: when a rank fails or stops beating for `timeout`, every other
// rank prints one line and exits with status 1 (no report; journals stay for --resume).
class ProcessGroup {
 public:
  // backend: "auto" (nccl for a CUDA device when LibTorch has NCCL, else gloo) | "gloo" | "nccl".
  ProcessGroup(const LaunchEnvironment& env, std::chrono::seconds timeout, const std::string& backend, const std::string& device);
  ~ProcessGroup();  // a rank leaving without finish() tells the others it failed
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const;
  int world_size() const;
  std::string backend() const;
  // Every rank's text, in rank order, on every rank.
  std::vector<std::string> all_gather(const std::string& mine);
  void barrier();
  // The run is complete on every rank: stops the watchdog (after a barrier, so no rank takes a peer's exit
  // for a failure) and leaves the group.
  void finish();

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace questbench
