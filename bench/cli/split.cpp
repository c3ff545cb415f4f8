#include "bench/cli/split.h"

#include "common/error.h"

namespace questbench {

void add_split_options(CLI::App* command, SplitOptions& o) {
  command->add_option("--shard", o.shard,
                      "run part I (0-based) of N of the samples, in whole batches, and write a partial report for `questbench merge`");
  command->add_option("--dist-timeout", o.dist_timeout_s,
                      "distributed runs (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set): seconds to wait at the rendezvous, and "
                      "after which a silent rank counts as dead")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--dist-backend", o.dist_backend, "distributed runs: auto (nccl on CUDA where LibTorch has it, else gloo), gloo, nccl")
      ->capture_default_str();
}

SplitRun::SplitRun(const SplitOptions& o, std::string& device, bool saves_files, bool original_rng) {
  const auto env = launch_environment();
  QB_USAGE_CHECK(o.dist_backend == "auto" || o.dist_backend == "gloo" || o.dist_backend == "nccl",
                 "--dist-backend '" << o.dist_backend << "': valid values are auto, gloo, nccl");
  if (!o.shard.empty()) {
    QB_USAGE_CHECK(!env, "--shard " << o.shard << ": not with a distributed launch (WORLD_SIZE " << env->world_size
                                    << " is set): the ranks split the run themselves");
    part_ = parse_shard(o.shard);
    shard_given_ = true;
  }
  QB_USAGE_CHECK(!saves_files || (!env && o.shard.empty()), "--save-adv: not available in a split run (--shard or WORLD_SIZE > 1)");
  QB_USAGE_CHECK(!original_rng || (!env && o.shard.empty()),
                 "--rng original: its draws depend on the batches of the whole run, so a split run (--shard or WORLD_SIZE > 1) "
                 "cannot reproduce them; split runs use --rng per-sample");
  if (!env) return;
  if (device == "cuda") device = "cuda:" + std::to_string(env->local_rank);
  group_ = std::make_unique<ProcessGroup>(*env, std::chrono::seconds(o.dist_timeout_s), o.dist_backend, device);
  part_ = {group_->rank(), group_->world_size()};
}

SampleRange SplitRun::range(const SampleRange& plan, int64_t batch_size) const {
  if (!split()) return plan;
  return shard_range(plan, batch_size, part_.index, part_.count);
}

std::string SplitRun::journal_path(const std::string& output) const {
  if (!group_) return output + ".journal";
  return output + ".rank-" + std::to_string(part_.index) + "-of-" + std::to_string(part_.count) + ".journal";
}

void SplitRun::describe(RunContext& context, const SampleRange& range, const SampleRange& plan, const std::string& plan_fingerprint) const {
  if (!split()) return;
  context.world_size = 1;
  context.shard = {part_.index, part_.count, range.begin, range.end, plan.begin, plan.end, plan_fingerprint};
}

}  // namespace questbench
