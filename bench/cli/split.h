// How a command runs as one part of a split run: `--shard I/N` (a partial report for `questbench merge`), or
// one rank of a distributed launch (RANK, WORLD_SIZE, ... in the environment; rank 0 writes the report).
// Unsplit runs pass through unchanged.
#pragma once

#include "bench/cli/common.h"
#include "bench/distributed.h"
#include "common/files.h"
#include "reports/format.h"

#include <CLI/CLI.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace questbench {

struct SplitOptions {
  std::string shard;              // "I/N", or "" (not a shard)
  int dist_timeout_s = 300;       // rendezvous, and silence after which a rank counts as dead
  std::string dist_backend = "auto";
};
void add_split_options(CLI::App* command, SplitOptions& options);

class SplitRun {
 public:
  // Checks --shard, reads the launch environment and, for a distributed launch, joins the process group (before
  // anything loads, so that no rank works alone). `device` may be rewritten: a plain "cuda" becomes
  // "cuda:LOCAL_RANK" on a distributed launch. `save_adv`: split runs cannot save adversarial examples yet. `original_rng`: --rng original draws per batch of the whole run, so a
  // split run cannot reproduce it.
  SplitRun(const SplitOptions& options, std::string& device, bool saves_files = false, bool original_rng = false);
  bool split() const { return part_.count > 1 || shard_given_; }
  bool distributed() const { return group_ != nullptr; }
  bool writes_report() const { return !group_ || group_->rank() == 0; }
  // The lock on the report this process writes (none on the ranks that do not write it): see OutputLock.
  OutputLock lock_output(const std::string& output) const { return writes_report() ? OutputLock(output) : OutputLock(); }
  // This process's samples of the plan.
  SampleRange range(const SampleRange& plan, int64_t batch_size) const;
  // The journal of this part: <output>.journal, or <output>.rank-R-of-N.journal for a rank.
  std::string journal_path(const std::string& output) const;
  // Marks `context` as this part's (shard block, world size 1).
  void describe(RunContext& context, const SampleRange& range, const SampleRange& plan, const std::string& plan_fingerprint) const;

  // Writes the report at `output`: unsplit and shards as they are; a distributed run's partial reports are
  // gathered, merged and written by rank 0. Returns the report written (nullopt on other ranks). Then
  // removes this part's journal.
  template <typename Report>
  std::optional<Report> write(const Report& report, const std::string& output, const std::string& journal,
                              std::string (*to_json)(const Report&), Report (*from_json)(const std::string&, const std::string&),
                              Report (*merge)(const std::vector<Report>&, const std::vector<std::string>&)) {
    std::optional<Report> written;
    if (!group_) {
      write_report(output, to_json(report));
      written = report;
    } else {
      const auto texts = group_->all_gather(to_json(report));
      if (group_->rank() == 0) {
        std::vector<Report> parts;
        std::vector<std::string> names;
        for (size_t r = 0; r < texts.size(); ++r) {
          names.push_back("rank " + std::to_string(r));
          parts.push_back(from_json(texts[r], names.back()));
        }
        written = merge(parts, names);
        write_report(output, to_json(*written));
      }
      group_->finish();
    }
    if (!journal.empty()) std::filesystem::remove(journal);
    return written;
  }

 private:
  ShardSpec part_;
  bool shard_given_ = false;
  std::unique_ptr<ProcessGroup> group_;
};

}  // namespace questbench
