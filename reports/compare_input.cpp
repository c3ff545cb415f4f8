// Reading the inputs of a comparison and deciding which of them can be paired sample by sample.
#include "reports/compare.h"

#include "common/error.h"
#include "common/files.h"
#include "reports/format.h"


namespace questbench {
namespace {

template <typename Report>
InputReport common_part(const std::string& path, const std::string& schema, const Report& r) {
  InputReport in;
  in.path = path;
  in.schema = schema;
  in.schema_version = kSchemaVersion;
  in.context = r.context;
  in.dataset = r.dataset;
  in.models = r.models;
  return in;
}

std::string short_hash(const std::string& text) {
  const auto colon = text.find(':');
  const std::string hex = colon == std::string::npos ? text : text.substr(colon + 1);
  return hex.substr(0, 12);
}

}  // namespace

InputReport input_from_eval(const std::string& path, const EvalReport& r) {
  InputReport in = common_part(path, "questbench.eval", r);
  in.clean = r.results;
  return in;
}

InputReport input_from_attack(const std::string& path, const AttackReport& r) {
  InputReport in = common_part(path, "questbench.attack", r);
  in.clean = r.clean;
  in.attack_cells = r.cells;
  in.worst_case = r.worst_case;
  in.sanity = r.sanity;
  return in;
}

InputReport input_from_corruption(const std::string& path, const CorruptionReport& r) {
  InputReport in = common_part(path, "questbench.corruption", r);
  in.clean = r.clean;
  in.has_corruptions = true;
  in.corruption_config = r.config;
  in.corruption_cells = r.cells;
  in.corruption_summaries = r.summaries;
  return in;
}

InputReport read_input_report(const std::string& path) {
  const std::string text = read_file_bytes(path);
  const ReportSchema schema = report_schema(text, path);
  InputReport in;
  if (schema.schema == "questbench.eval") {
    in = input_from_eval(path, eval_report_from_json(text, path));
  } else if (schema.schema == "questbench.attack") {
    in = input_from_attack(path, attack_report_from_json(text, path));
  } else if (schema.schema == "questbench.corruption") {
    in = input_from_corruption(path, corruption_report_from_json(text, path));
  } else {
    throw Error(path + ": '" + schema.schema +
                "' reports cannot be compared (expected questbench.eval, questbench.attack or questbench.corruption)");
  }
  in.schema_version = schema.version;
  QB_CHECK(!in.models.empty(), path << ": the report holds no models");
  QB_CHECK(in.clean.size() == in.models.size(), path << ": " << in.models.size() << " models but " << in.clean.size() << " clean results");
  for (const auto& c : in.clean)
    QB_CHECK(c.n == in.dataset.evaluated && static_cast<int64_t>(c.correct_mask.size()) == c.n,
             path << ": a clean result covers " << c.n << " samples, the report says " << in.dataset.evaluated << " were evaluated");
  return in;
}

ReportPairing check_pairing(const InputReport& a, const InputReport& b, int index_a, int index_b) {
  ReportPairing p;
  p.a = index_a;
  p.b = index_b;
  if (a.dataset.fingerprint != b.dataset.fingerprint)
    p.reasons.push_back("different data sets (fingerprint " + short_hash(a.dataset.fingerprint) + "… vs " +
                        short_hash(b.dataset.fingerprint) + "…)");
  if (a.dataset.evaluated != b.dataset.evaluated)
    p.reasons.push_back("different sample sets (first " + std::to_string(a.dataset.evaluated) + " vs first " +
                        std::to_string(b.dataset.evaluated) + " samples)");
  if (a.context.seed != b.context.seed)
    p.reasons.push_back("different seeds (" + std::to_string(a.context.seed) + " vs " + std::to_string(b.context.seed) + ")");
  if (a.has_corruptions && b.has_corruptions) {
    // The settings that change the corrupted images themselves; the lists of corruptions and severities
    // may differ (only the cells both hold are compared).
    const auto& x = a.corruption_config;
    const auto& y = b.corruption_config;
    std::vector<std::string> diffs;
    if (x.source != y.source) diffs.push_back("source " + x.source + " vs " + y.source);
    if (x.table != y.table) diffs.push_back("table " + x.table + " vs " + y.table);
    if (x.quantize != y.quantize) diffs.push_back(std::string("quantize ") + (x.quantize ? "on" : "off") + " vs " + (y.quantize ? "on" : "off"));
    if (x.imagenet_c_jpeg != y.imagenet_c_jpeg) diffs.push_back("ImageNet-C JPEG round trip differs");
    if (x.frost != y.frost) diffs.push_back("frost " + x.frost + " vs " + y.frost);
    if (!diffs.empty()) {
      std::string text = "different corruption settings (";
      for (size_t i = 0; i < diffs.size(); ++i) text += (i ? "; " : "") + diffs[i];
      p.reasons.push_back(text + ")");
    }
  }
  p.pairable = p.reasons.empty();
  return p;
}

}  // namespace questbench
