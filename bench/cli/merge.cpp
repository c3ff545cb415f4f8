// questbench merge: the partial reports of a run split with --shard I/N -> the report the unsplit run writes.
#include "bench/cli/common.h"
#include "bench/merge.h"
#include "common/error.h"
#include "common/files.h"
#include "reports/format.h"

#include <cstdio>
#include <type_traits>

namespace questbench {
namespace {

struct MergeOptions {
  CommonOptions common;
  std::vector<std::string> inputs;
  std::string output;
};

// Reads the parts, merges them and writes the merged report; then the parts' NaN/Inf cells fail the merged run
// as they failed the parts (eval reports have none: a clean pass with NaN logits is refused before any report).
template <typename Report>
void merge_and_write(const std::vector<std::string>& texts, const MergeOptions& o, Report (*from_json)(const std::string&, const std::string&),
                     Report (*merge)(const std::vector<Report>&, const std::vector<std::string>&), std::string (*to_json)(const Report&)) {
  std::vector<Report> parts;
  for (size_t k = 0; k < texts.size(); ++k) parts.push_back(from_json(texts[k], o.inputs[k]));
  const Report merged = merge(parts, o.inputs);
  write_report(o.output, to_json(merged));
  if (!o.common.quiet) std::printf("merged %zu parts: %s\n", o.inputs.size(), o.output.c_str());
  if constexpr (!std::is_same_v<Report, EvalReport>) fail_on_non_finite(merged, o.output);
}

void run_merge(const MergeOptions& o) {
  check_output_path(o.output);
  std::vector<std::string> texts;
  std::string schema;
  for (const auto& path : o.inputs) {
    QB_USAGE_CHECK(path != o.output, "-o " << o.output << ": is one of the parts");
    texts.push_back(read_file_bytes(path));
    const auto s = report_schema(texts.back(), path).schema;
    QB_CHECK(s == "questbench.eval" || s == "questbench.attack" || s == "questbench.corruption",
             path << ": '" << s << "' reports cannot be merged (expected questbench.eval, questbench.attack or questbench.corruption)");
    QB_CHECK(schema.empty() || s == schema, path << ": a " << s << " report, " << o.inputs[0] << " is a " << schema << " report");
    schema = s;
  }
  if (schema == "questbench.eval")
    merge_and_write(texts, o, eval_report_from_json, merge_eval_reports, eval_report_to_json);
  else if (schema == "questbench.attack")
    merge_and_write(texts, o, attack_report_from_json, merge_attack_reports, attack_report_to_json);
  else
    merge_and_write(texts, o, corruption_report_from_json, merge_corruption_reports, corruption_report_to_json);
}

}  // namespace

void add_merge_command(CLI::App& app, CommandRunner& runner) {
  auto [cmd, o] = add_command<kCommonOnly>(&app, runner, "merge",
                                           "join the partial reports of a run split with --shard I/N into the unsplit run's report",
                                           run_merge, 256);
  cmd->add_option("parts", o->inputs, "the partial reports (every shard of the run once, in any order)")->required();
  cmd->add_option("-o,--output", o->output, "the merged report (written atomically)")->required();
}

}  // namespace questbench
