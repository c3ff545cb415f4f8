// The one home of questbench's own on-disk formats (JSON reports, training logs). Every report opens
// with "schema" (the report kind) and "schema_version"; readers refuse a newer major version.
#pragma once

#include "reports/report.h"

#include <string>
#include <vector>

namespace questbench {

inline constexpr int kSchemaVersion = 1;

struct Comparison;  // reports/compare.h

// Bit-packing of per-sample 0/1 vectors: base64 of bytes, sample i at byte i/8, bit i%8 (LSB first).
std::string pack_bits(const std::vector<uint8_t>& bits);
std::vector<uint8_t> unpack_bits(const std::string& packed, int64_t n, const std::string& what);

std::string eval_report_to_json(const EvalReport& report);
EvalReport eval_report_from_json(const std::string& text, const std::string& what);

std::string attack_report_to_json(const AttackReport& report);
AttackReport attack_report_from_json(const std::string& text, const std::string& what);
// One attack cell / one clean result as a single JSON line (the journal that --resume reads).
std::string attack_cell_to_json_line(const AttackCell& cell);
AttackCell attack_cell_from_json_line(const std::string& line, const std::string& what);
std::string clean_result_to_json_line(const std::string& model, const CleanResult& result);
std::pair<std::string, CleanResult> clean_result_from_json_line(const std::string& line, const std::string& what);

std::string corruption_report_to_json(const CorruptionReport& report);
CorruptionReport corruption_report_from_json(const std::string& text, const std::string& what);
// One finished (model, corruption, severity) cell as a single JSON line (the journal that --resume reads).
std::string corruption_cell_to_json_line(const CorruptionCell& cell);
CorruptionCell corruption_cell_from_json_line(const std::string& line, const std::string& what);

std::string training_log_to_json(const TrainingLog& log);
// The epoch records of a training log (used to resume training).
std::vector<EpochRecord> training_epochs_from_json(const std::string& text, const std::string& what);

// The "schema" and "schema_version" of a report (e.g. "questbench.attack", 1) after checking it is JSON
// with a supported schema_version; throws questbench::Error naming `what` otherwise.
struct ReportSchema {
  std::string schema;
  int version = 0;
};
ReportSchema report_schema(const std::string& text, const std::string& what);

// summary.json of `questbench compare`: inputs, baseline, pairing, headline and every delta
// (schema "questbench.comparison").
std::string comparison_summary_to_json(const Comparison& comparison);

// Writes text atomically (temp + rename): a reader never sees a half-written report.
void write_report(const std::string& path, const std::string& json_text);

}  // namespace questbench
