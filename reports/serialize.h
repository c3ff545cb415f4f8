// JSON of the report values, found by nlohmann's ADL: `Json j = cell;` and `j.get<AttackCell>()`.
// Each struct's fields are listed once (reports/serialize.cpp) for both directions, in the order they
// appear in the file; bit packing is in reports/bits.cpp, the comparison summary's pieces in
// reports/format.cpp, which builds the public readers and writers of reports/format.h on top of these.
//
// Reports keep keys in the order written (ordered_json), so that a report reads top-down: schema,
// context, data set, models, results.
#pragma once

#include "common/error.h"
#include "reports/compare.h"
#include "reports/report.h"
#include "reports/stats.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace questbench {

using Json = nlohmann::ordered_json;

// Bad content of well-formed JSON (packed bits that do not decode or do not match the sample count, a
// severity out of range, a cell under the wrong model). from_json cannot know which file it reads, so
// the readers in format.cpp prefix the file name; its message is the rest of the one-line error.
struct FieldError : Error {
  using Error::Error;
};

// Packed bits, all of them (a multiple of 8): for masks whose sample count lies outside their struct.
std::vector<uint8_t> decode_bits(const std::string& packed);
// Checks that decoded bits cover n samples (the same byte count pack_bits writes) and drops the padding.
void fit_bits(std::vector<uint8_t>& bits, int64_t n);
// Per-sample float32 values: base64 of their little-endian bytes, 4 per sample. Unpacking checks the count.
std::string pack_floats(const std::vector<float>& values);
std::vector<float> unpack_floats(const std::string& packed, int64_t n);

void to_json(Json& j, const RunContext& c);
void from_json(const Json& j, RunContext& c);
void to_json(Json& j, const DatasetInfo& d);
void from_json(const Json& j, DatasetInfo& d);
void to_json(Json& j, const ModelInfo& m);
void from_json(const Json& j, ModelInfo& m);
void to_json(Json& j, const AttentionDiagnostics& d);
void from_json(const Json& j, AttentionDiagnostics& d);
void to_json(Json& j, const LayerDiagnostics& d);
void from_json(const Json& j, LayerDiagnostics& d);

// per_class names the classes by index; a report names them with label_classes.
void to_json(Json& j, const CleanResult& c);
void from_json(const Json& j, CleanResult& c);
void label_classes(Json& clean, const std::vector<std::string>& class_names);

void to_json(Json& j, const AttackStage& s);
void from_json(const Json& j, AttackStage& s);
void to_json(Json& j, const AttackCell& c);
void from_json(const Json& j, AttackCell& c);
// Without model (the report lists worst cases under their model) and with every packed bit: the sample
// count is the model's clean n, which the report reader checks with fit_bits.
void to_json(Json& j, const WorstCaseCell& c);
void from_json(const Json& j, WorstCaseCell& c);
void to_json(Json& j, const SanityCheck& s);
void from_json(const Json& j, SanityCheck& s);

void to_json(Json& j, const CorruptionConfig& c);
void from_json(const Json& j, CorruptionConfig& c);
// One severity: without model, corruption and group, which the enclosing entry (report) or the journal
// line holds. Reading does not check the severity's range; check_severity does, once the name is known.
void to_json(Json& j, const CorruptionCell& c);
void from_json(const Json& j, CorruptionCell& c);
void check_severity(const CorruptionCell& c);

// One corruption of one model as a report lists it: the summary around its severity cells.
struct CorruptionEntry {
  CorruptionSummary summary;
  std::vector<CorruptionCell> cells;  // model left empty: the report's results key names it
};
void to_json(Json& j, const CorruptionEntry& e);
void from_json(const Json& j, CorruptionEntry& e);
// The "summary" block of a model: the means over corruptions (not the model name, nor the corruptions).
void to_json(Json& j, const CorruptionModelSummary& s);
void from_json(const Json& j, CorruptionModelSummary& s);

void to_json(Json& j, const EpochRecord& e);
void from_json(const Json& j, EpochRecord& e);

// Whole reports, without the checks on schema and version (format.cpp parses those first).
void to_json(Json& j, const EvalReport& r);
void from_json(const Json& j, EvalReport& r);
void to_json(Json& j, const AttackReport& r);
void from_json(const Json& j, AttackReport& r);
void to_json(Json& j, const CorruptionReport& r);
void from_json(const Json& j, CorruptionReport& r);
void to_json(Json& j, const TrainingLog& log);  // read back as epochs only (training_epochs_from_json)

// The comparison summary is written, never read. NaN marks an undefined value there.
Json nan_as_null(double v);
void to_json(Json& j, const Interval& ci);  // [lo, hi], NaN as null
void to_json(Json& j, const Condition& c);
void to_json(Json& j, const ReportPairing& p);

}  // namespace questbench
