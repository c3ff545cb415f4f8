// Joining the partial reports of one split run (bench/distributed.h) into the report the unsplit run writes.
// Per-sample results are concatenated in sample order and every statistic is recomputed from them and from the
// exact sums (common/exact_sum.h); only timings and the batched-pass count `gradient_evaluations` (which counts
// batches, not samples) are sums over the parts. The parts must be the shards 0..N-1 of one plan (same plan
// fingerprint), each once, their ranges covering the plan without gap or overlap.
#pragma once

#include "reports/report.h"

#include <string>
#include <vector>

namespace questbench {

// `names` label the parts in errors (file names, or "rank R").
EvalReport merge_eval_reports(const std::vector<EvalReport>& parts, const std::vector<std::string>& names);
AttackReport merge_attack_reports(const std::vector<AttackReport>& parts, const std::vector<std::string>& names);
CorruptionReport merge_corruption_reports(const std::vector<CorruptionReport>& parts, const std::vector<std::string>& names);

// The clean results of one model over consecutive ranges, joined.
CleanResult merge_clean_results(const std::vector<const CleanResult*>& parts);

}  // namespace questbench
