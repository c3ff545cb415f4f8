// The public readers and writers of reports/format.h on top of the field lists in reports/serialize.h:
// schema checks, the one-line errors naming the file, journal lines, the comparison summary.
#include "reports/format.h"

#include "common/error.h"
#include "common/files.h"
#include "reports/compare.h"
#include "reports/serialize.h"

#include <cmath>

namespace questbench {
namespace {

Json parse_report(const std::string& text, const std::string& what, const std::string& kind) {
  Json j;
  try {
    j = Json::parse(text);
  } catch (const std::exception&) {
    throw Error(what + ": not valid JSON (truncated or corrupt report?)");
  }
  QB_CHECK(j.is_object() && j.contains("schema") && j.contains("schema_version"),
           what << ": not a questbench report (no schema / schema_version)");
  QB_CHECK(j["schema"].is_string(), what << ": schema is not a string");
  QB_CHECK(kind.empty() || j["schema"] == kind,
           what << ": is a '" << j["schema"].get<std::string>() << "' report, expected '" << kind << "'");
  QB_CHECK(j["schema_version"].is_number_integer(), what << ": schema_version is not an integer");
  const int version = j["schema_version"].get<int>();
  QB_CHECK(version >= 1 && version <= kSchemaVersion,
           what << ": schema_version " << version << " is not supported by this questbench (reads 1.." << kSchemaVersion << ")");
  return j;
}

Json parse_line(const std::string& line, const std::string& what) {
  try {
    return Json::parse(line);
  } catch (const std::exception&) {
    throw Error(what + ": journal line is not valid JSON (delete the journal to start over)");
  }
}

// Runs a reader and turns what it throws into one line naming the file: `problem` for a missing key or
// a wrong type, the FieldError's own message for bad content.
template <class F>
auto read_from(const std::string& what, const char* problem, F&& read) -> decltype(read()) {
  try {
    return read();
  } catch (const FieldError& e) {
    throw Error(what + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": " + problem + " (" + std::string(e.what()) + ")");
  }
}

const char* condition_kind_name(ConditionKind k) {
  switch (k) {
    case ConditionKind::Clean: return "clean";
    case ConditionKind::Corruption: return "corruption";
    case ConditionKind::Attack: return "attack";
    case ConditionKind::WorstCase: return "worst_case";
  }
  return "?";
}

const char kReportProblem[] = "report is missing a field or has one of the wrong type";
const char kJournalProblem[] = "journal entry is missing a field";

template <class Report>
std::string report_text(const Report& r) {
  return Json(r).dump(2) + "\n";
}

}  // namespace

std::string eval_report_to_json(const EvalReport& report) { return report_text(report); }

EvalReport eval_report_from_json(const std::string& text, const std::string& what) {
  const Json j = parse_report(text, what, "questbench.eval");
  return read_from(what, kReportProblem, [&] { return j.get<EvalReport>(); });
}

std::string attack_report_to_json(const AttackReport& report) { return report_text(report); }

AttackReport attack_report_from_json(const std::string& text, const std::string& what) {
  const Json j = parse_report(text, what, "questbench.attack");
  return read_from(what, kReportProblem, [&] { return j.get<AttackReport>(); });
}

std::string attack_cell_to_json_line(const AttackCell& cell) { return Json{{"cell", cell}}.dump(); }

AttackCell attack_cell_from_json_line(const std::string& line, const std::string& what) {
  return read_from(what, kJournalProblem, [&] { return parse_line(line, what).at("cell").get<AttackCell>(); });
}

// A journal's clean result names its classes by index: the journal does not hold the data set.
std::string clean_result_to_json_line(const std::string& model, const CleanResult& result) {
  return Json{{"clean", {{"model", model}, {"result", result}}}}.dump();
}

std::pair<std::string, CleanResult> clean_result_from_json_line(const std::string& line, const std::string& what) {
  return read_from(what, kJournalProblem, [&] {
    const auto j = parse_line(line, what).at("clean");
    return std::pair<std::string, CleanResult>{j.at("model").get<std::string>(), j.at("result").get<CleanResult>()};
  });
}

std::string corruption_report_to_json(const CorruptionReport& report) { return report_text(report); }

CorruptionReport corruption_report_from_json(const std::string& text, const std::string& what) {
  const Json j = parse_report(text, what, "questbench.corruption");
  return read_from(what, "corruption report is missing a field or has one of the wrong type",
                   [&] { return j.get<CorruptionReport>(); });
}

// A journal's cell also names its model, corruption and group, which a report holds around its cells.
std::string corruption_cell_to_json_line(const CorruptionCell& cell) {
  Json j = cell;
  j["model"] = cell.model;
  j["corruption"] = cell.corruption;
  j["group"] = cell.group;
  return Json{{"corruption_cell", j}}.dump();
}

CorruptionCell corruption_cell_from_json_line(const std::string& line, const std::string& what) {
  return read_from(what, kJournalProblem, [&] {
    const auto j = parse_line(line, what).at("corruption_cell");
    // The names before the cell's fields, group first: a line lacking several of them reports 'group'.
    CorruptionCell cell;
    cell.group = j.at("group").get<std::string>();
    cell.corruption = j.at("corruption").get<std::string>();
    cell.model = j.at("model").get<std::string>();
    j.get_to(cell);
    check_severity(cell);
    return cell;
  });
}

std::string training_log_to_json(const TrainingLog& log) { return report_text(log); }

std::vector<EpochRecord> training_epochs_from_json(const std::string& text, const std::string& what) {
  const Json j = parse_report(text, what, "questbench.training_log");
  return read_from(what, "training log is missing a field or has one of the wrong type", [&] {
    std::vector<EpochRecord> epochs;
    for (const auto& e : j.at("epochs")) epochs.push_back(e.get<EpochRecord>());
    return epochs;
  });
}

ReportSchema report_schema(const std::string& text, const std::string& what) {
  const Json j = parse_report(text, what, "");
  return {j.at("schema").get<std::string>(), j.at("schema_version").get<int>()};
}

Json nan_as_null(double v) { return std::isnan(v) ? Json(nullptr) : Json(v); }

void to_json(Json& j, const Interval& ci) { j = Json::array({nan_as_null(ci.lo), nan_as_null(ci.hi)}); }

void to_json(Json& j, const Condition& c) {
  j = {{"kind", condition_kind_name(c.kind)}, {"key", c.key}, {"label", c.label}};
  if (c.kind == ConditionKind::Corruption) {
    j["corruption"] = c.name;
    j["group"] = c.group;
    j["severity"] = c.severity;
  }
  if (c.kind == ConditionKind::Attack) j["attack"] = c.name;
  if (c.kind == ConditionKind::Attack || c.kind == ConditionKind::WorstCase) {
    j["norm"] = c.norm;
    j["eps"] = c.eps;
    j["eps_str"] = c.eps_text;
    j["settings"] = c.settings;
  }
}

void to_json(Json& j, const ReportPairing& p) {
  j = {{"inputs", {p.a, p.b}}, {"pairable", p.pairable}, {"reasons", p.reasons}};
}

std::string comparison_summary_to_json(const Comparison& c) {
  Json j;
  j["schema"] = "questbench.comparison";
  j["schema_version"] = kSchemaVersion;
  j["settings"] = {{"bootstrap_resamples", c.options.bootstrap},
                   {"seed", c.options.seed},
                   {"confidence_level", c.options.level},
                   {"alpha", c.options.alpha},
                   {"paired_interval", "percentile bootstrap over samples"},
                   {"paired_test", "McNemar exact, two-sided"},
                   {"unpaired_interval", "Newcombe hybrid score"},
                   {"unpaired_test", "two-proportion z, pooled, two-sided"},
                   {"correction", "Holm-Bonferroni over all tests of one model against the baseline"}};
  Json inputs = Json::array();
  for (const auto& in : c.inputs) {
    Json names = Json::array();
    for (const auto& m : in.models) names.push_back(m.name);
    inputs.push_back({{"path", in.path},
                      {"schema", in.schema},
                      {"schema_version", in.schema_version},
                      {"git_commit", in.context.git_commit},
                      {"seed", in.context.seed},
                      {"dataset_fingerprint", in.dataset.fingerprint},
                      {"evaluated", in.dataset.evaluated},
                      {"models", std::move(names)}});
  }
  j["inputs"] = std::move(inputs);
  j["pairing"] = c.pairings;
  Json models = Json::array();
  for (const auto& m : c.models)
    models.push_back({{"name", m.display}, {"sha256", m.sha256}, {"attention", m.attention}, {"inputs", m.reports}});
  j["models"] = std::move(models);
  j["baseline"] = {{"name", c.models[c.baseline].display}, {"chosen", c.baseline_reason}};
  j["all_paired"] = c.all_paired;
  j["warnings"] = c.warnings;
  Json headline = Json::array();
  for (const auto& row : c.headline) {
    Json values = Json::object();
    for (size_t m = 0; m < c.models.size(); ++m) {
      const auto& cell = row.cells[m];
      Json v{{"value", nan_as_null(cell.value)}};
      // The baseline's own row has no delta.
      if (static_cast<int>(m) != c.baseline) {
        v["diff"] = nan_as_null(cell.diff);
        v["ci"] = cell.ci;
        v["p_holm"] = nan_as_null(cell.p_holm);
        v["paired"] = cell.paired;
        v["significant"] = cell.significant;
      }
      values[c.models[m].display] = std::move(v);
    }
    headline.push_back({{"metric", row.label}, {"kind", row.kind}, {"note", row.note}, {"models", std::move(values)}});
  }
  j["headline"] = std::move(headline);
  Json ce = Json::array();
  for (const auto& row : c.corruption_errors) {
    Json per = Json::object();
    for (size_t m = 0; m < c.models.size(); ++m)
      per[c.models[m].display] = {{"ce", nan_as_null(row.ce[m])},
                                  {"relative_ce", nan_as_null(row.relative_ce[m])},
                                  {"mean_accuracy", nan_as_null(row.mean_accuracy[m])},
                                  {"error_auc", nan_as_null(row.error_auc[m])}};
    ce.push_back({{"corruption", row.corruption}, {"group", row.group}, {"models", std::move(per)}});
  }
  j["corruption_errors"] = std::move(ce);
  Json calibration = Json::object();
  for (size_t m = 0; m < c.models.size() && m < c.calibration.size(); ++m) {
    const auto& k = c.calibration[m];
    if (!k.any()) continue;
    Json entry;
    entry["clean"] = k.clean.n ? Json{{"n", k.clean.n}, {"ece", k.clean.ece}, {"adaptive_ece", k.clean.adaptive_ece},
                                      {"nll", k.clean.nll}, {"brier", k.clean.brier}}
                               : Json(nullptr);
    entry["corrupted"] = k.corruption_cells ? Json{{"cells", k.corruption_cells}, {"mean_ece", k.mean_ece},
                                                   {"mean_adaptive_ece", k.mean_adaptive_ece}, {"mean_nll", k.mean_nll},
                                                   {"mean_brier", k.mean_brier}}
                                            : Json(nullptr);
    calibration[c.models[m].display] = std::move(entry);
  }
  j["calibration"] = std::move(calibration);
  Json deltas = Json::array();
  for (const auto& d : c.deltas)
    deltas.push_back({{"model", c.models[d.model].display},
                      {"baseline", c.models[d.baseline].display},
                      {"condition", c.conditions[d.condition]},
                      {"inputs", {{"model", d.report_model}, {"baseline", d.report_baseline}}},
                      {"n", {{"model", d.n_model}, {"baseline", d.n_baseline}}},
                      {"accuracy", {{"model", d.acc_model}, {"baseline", d.acc_baseline}}},
                      {"diff", d.diff},
                      {"ci", d.ci},
                      {"paired", d.paired},
                      {"unpaired_reason", d.unpaired_reason},
                      {"discordant", d.paired ? Json{{"baseline_only", d.baseline_only}, {"model_only", d.model_only}} : Json(nullptr)},
                      {"test", d.test},
                      {"p", d.p},
                      {"p_holm", d.p_holm},
                      {"significant", d.significant}});
  j["deltas"] = std::move(deltas);
  if (!c.diagnostics.empty()) j["diagnostics"] = {{"layers", c.diagnostics.layers}, {"sentences", c.diagnostics.sentences}};
  return j.dump(2) + "\n";
}

void write_report(const std::string& path, const std::string& json_text) { write_file_atomic(path, json_text); }

}  // namespace questbench
