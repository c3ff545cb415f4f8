#include "reports/format.h"

#include "common/error.h"
#include "common/files.h"
#include "reports/compare.h"

#include <nlohmann/json.hpp>

#include <cmath>

namespace questbench {
namespace {

using json = nlohmann::ordered_json;

const char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(const std::vector<uint8_t>& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = static_cast<uint32_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint32_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= bytes[i + 2];
    out.push_back(kBase64[(v >> 18) & 63]);
    out.push_back(kBase64[(v >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kBase64[(v >> 6) & 63] : '=');
    out.push_back(i + 2 < bytes.size() ? kBase64[v & 63] : '=');
  }
  return out;
}

std::vector<uint8_t> base64_decode(const std::string& text, const std::string& what) {
  auto value = [&](char ch) -> int {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
  };
  QB_CHECK(text.size() % 4 == 0, what << ": packed bits are not valid base64");
  std::vector<uint8_t> out;
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    for (int k = 0; k < 4; ++k) {
      v[k] = text[i + k] == '=' ? 0 : value(text[i + k]);
      QB_CHECK(v[k] >= 0, what << ": packed bits are not valid base64");
    }
    const uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out.push_back(static_cast<uint8_t>(n >> 16));
    if (text[i + 2] != '=') out.push_back(static_cast<uint8_t>((n >> 8) & 0xff));
    if (text[i + 3] != '=') out.push_back(static_cast<uint8_t>(n & 0xff));
  }
  return out;
}

json context_to_json(const RunContext& c) {
  json j;
  j["questbench_version"] = c.questbench_version;
  j["git_commit"] = c.git_commit;
  j["libtorch_version"] = c.libtorch_version;
  j["opencv_version"] = c.opencv_version;
  j["device"] = c.device;
  j["autocast"] = c.autocast;
  j["threads"] = c.threads;
  j["seed"] = c.seed;
  j["batch_size"] = c.batch_size;
  j["command_line"] = c.command_line;
  j["start_time"] = c.start_time;
  j["end_time"] = c.end_time;
  j["wall_time_s"] = c.wall_time_s;
  j["stage_seconds"] = c.stage_seconds;
  return j;
}

RunContext context_from_json(const json& j) {
  RunContext c;
  c.questbench_version = j.at("questbench_version").get<std::string>();
  c.git_commit = j.at("git_commit").get<std::string>();
  c.libtorch_version = j.at("libtorch_version").get<std::string>();
  c.opencv_version = j.value("opencv_version", "");
  c.device = j.at("device").get<std::string>();
  c.autocast = j.value("autocast", "none");  // absent in reports written before the option existed
  c.threads = j.at("threads").get<int>();
  c.seed = j.at("seed").get<uint64_t>();
  c.batch_size = j.at("batch_size").get<int64_t>();
  c.command_line = j.value("command_line", "");
  c.start_time = j.at("start_time").get<std::string>();
  c.end_time = j.at("end_time").get<std::string>();
  c.wall_time_s = j.at("wall_time_s").get<double>();
  c.stage_seconds = j.value("stage_seconds", std::map<std::string, double>{});
  return c;
}

json dataset_to_json(const DatasetInfo& d) {
  json j;
  j["path"] = d.path;
  j["format"] = d.format;
  j["split"] = d.split;
  j["description"] = d.description;
  j["fingerprint"] = d.fingerprint;
  j["size"] = d.size;
  j["evaluated"] = d.evaluated;
  j["num_classes"] = d.num_classes;
  j["class_names"] = d.class_names;
  return j;
}

DatasetInfo dataset_from_json(const json& j) {
  DatasetInfo d;
  d.path = j.at("path").get<std::string>();
  d.format = j.at("format").get<std::string>();
  d.split = j.value("split", "");
  d.description = j.value("description", "");
  d.fingerprint = j.at("fingerprint").get<std::string>();
  d.size = j.at("size").get<int64_t>();
  d.evaluated = j.at("evaluated").get<int64_t>();
  d.num_classes = j.at("num_classes").get<int64_t>();
  d.class_names = j.at("class_names").get<std::vector<std::string>>();
  return d;
}

json model_to_json(const ModelInfo& m) {
  json j;
  j["name"] = m.name;
  j["path"] = m.path;
  j["format"] = m.format;
  j["sha256"] = m.sha256;
  j["architecture"] = m.architecture;
  j["attention"] = m.attention;
  j["config"] = m.config_json.empty() ? json(nullptr) : json::parse(m.config_json);
  j["preprocess"] = {{"mean", m.mean}, {"std", m.std}, {"input_size", {m.channels, m.height, m.width}}};
  j["num_classes"] = m.num_classes;
  j["num_parameters"] = m.num_parameters;
  return j;
}

ModelInfo model_from_json(const json& j) {
  ModelInfo m;
  m.name = j.at("name").get<std::string>();
  m.path = j.at("path").get<std::string>();
  m.format = j.at("format").get<std::string>();
  m.sha256 = j.at("sha256").get<std::string>();
  m.architecture = j.at("architecture").get<std::string>();
  m.attention = j.value("attention", "");
  if (!j.at("config").is_null()) m.config_json = j.at("config").dump();
  const auto& p = j.at("preprocess");
  m.mean = p.at("mean").get<std::vector<double>>();
  m.std = p.at("std").get<std::vector<double>>();
  const auto size = p.at("input_size").get<std::vector<int64_t>>();
  if (size.size() == 3) {
    m.channels = size[0];
    m.height = size[1];
    m.width = size[2];
  }
  m.num_classes = j.at("num_classes").get<int64_t>();
  m.num_parameters = j.value("num_parameters", int64_t{0});
  return m;
}

json diagnostics_to_json(const AttentionDiagnostics& d) {
  json j;
  j["entropy_mean"] = d.entropy_mean;
  j["entropy_per_head"] = d.entropy_per_head;
  j["q_norm_mean"] = d.q_norm_mean;
  j["k_norm_mean"] = d.k_norm_mean;
  j["logits_std"] = d.logits_std;
  j["logits_max"] = d.logits_max;
  j["attn_max_mean"] = d.attn_max_mean;
  j["block_out_mean"] = d.block_out_mean;
  j["block_out_std"] = d.block_out_std;
  return j;
}

json clean_to_json(const CleanResult& c, const std::vector<std::string>& class_names) {
  json per_class = json::array();
  for (size_t k = 0; k < c.per_class_n.size(); ++k) {
    const std::string name = k < class_names.size() ? class_names[k] : std::to_string(k);
    per_class.push_back({{"class", name},
                         {"n", c.per_class_n[k]},
                         {"correct", c.per_class_correct[k]},
                         {"accuracy", c.per_class_n[k] ? static_cast<double>(c.per_class_correct[k]) / c.per_class_n[k] : 0.0}});
  }
  return {{"n", c.n},          {"correct", c.correct},     {"accuracy", c.accuracy},
          {"error", c.error},  {"loss", c.loss},           {"per_class", per_class},
          {"correct_bits", pack_bits(c.correct_mask)}};
}

CleanResult clean_from_json(const json& j, const std::string& what) {
  CleanResult c;
  c.n = j.at("n").get<int64_t>();
  c.correct = j.at("correct").get<int64_t>();
  c.accuracy = j.at("accuracy").get<double>();
  c.error = j.at("error").get<double>();
  c.loss = j.at("loss").get<double>();
  for (const auto& pc : j.at("per_class")) {
    c.per_class_n.push_back(pc.at("n").get<int64_t>());
    c.per_class_correct.push_back(pc.at("correct").get<int64_t>());
  }
  c.correct_mask = unpack_bits(j.at("correct_bits").get<std::string>(), c.n, what);
  return c;
}

// The blocks every model report opens with: schema, schema_version, context, dataset, models.
json report_head(const std::string& kind, const RunContext& context, const DatasetInfo& dataset,
                 const std::vector<ModelInfo>& models) {
  json j;
  j["schema"] = kind;
  j["schema_version"] = kSchemaVersion;
  j["context"] = context_to_json(context);
  j["dataset"] = dataset_to_json(dataset);
  j["models"] = json::array();
  for (const auto& m : models) j["models"].push_back(model_to_json(m));
  return j;
}

void read_report_head(const json& j, RunContext& context, DatasetInfo& dataset, std::vector<ModelInfo>& models) {
  context = context_from_json(j.at("context"));
  dataset = dataset_from_json(j.at("dataset"));
  for (const auto& m : j.at("models")) models.push_back(model_from_json(m));
}

json parse_report(const std::string& text, const std::string& what, const std::string& kind) {
  json j;
  try {
    j = json::parse(text);
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

}  // namespace

std::string pack_bits(const std::vector<uint8_t>& bits) {
  std::vector<uint8_t> bytes((bits.size() + 7) / 8, 0);
  for (size_t i = 0; i < bits.size(); ++i)
    if (bits[i]) bytes[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
  return base64_encode(bytes);
}

std::vector<uint8_t> unpack_bits(const std::string& packed, int64_t n, const std::string& what) {
  auto bytes = base64_decode(packed, what);
  QB_CHECK(static_cast<int64_t>(bytes.size()) == (n + 7) / 8,
           what << ": packed bits hold " << bytes.size() * 8 << " samples, expected " << n);
  std::vector<uint8_t> bits(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) bits[i] = (bytes[i / 8] >> (i % 8)) & 1u;
  return bits;
}

std::string eval_report_to_json(const EvalReport& r) {
  json j = report_head("questbench.eval", r.context, r.dataset, r.models);
  json results = json::object();
  for (size_t i = 0; i < r.models.size(); ++i) {
    const auto& c = r.results.at(i);
    results[r.models[i].name] = {{"clean", clean_to_json(c, r.dataset.class_names)}, {"clean_acc", c.accuracy}};
  }
  j["results"] = results;
  return j.dump(2) + "\n";
}

EvalReport eval_report_from_json(const std::string& text, const std::string& what) {
  json j = parse_report(text, what, "questbench.eval");
  EvalReport r;
  try {
    read_report_head(j, r.context, r.dataset, r.models);
    for (const auto& m : r.models) r.results.push_back(clean_from_json(j.at("results").at(m.name).at("clean"), what));
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": report is missing a field or has one of the wrong type (" + std::string(e.what()) + ")");
  }
  return r;
}

namespace {

json cell_to_json(const AttackCell& c) {
  return {{"model", c.model},
          {"attack", c.attack},
          {"spec", c.spec},
          {"norm", c.norm},
          {"eps", c.eps},
          {"eps_str", c.eps_text},
          {"params",
           {{"steps", c.steps},
            {"alpha", c.alpha},
            {"restarts", c.restarts},
            {"random_start", c.random_start},
            {"early_stop", c.early_stop},
            {"loss", c.loss},
            {"targeted", c.targeted}}},
          {"n", c.n},
          {"robust_accuracy", c.robust_accuracy},
          {"attack_success_rate_on_clean_correct", c.success_rate},
          {"perturbation", {{"mean_linf", c.mean_linf}, {"max_linf", c.max_linf}, {"mean_l2", c.mean_l2}, {"max_l2", c.max_l2}}},
          {"gradient_evaluations", c.gradient_evaluations},
          {"zero_gradient_fraction", c.zero_gradient_fraction},
          {"seconds", c.seconds},
          {"robust_bits", pack_bits(c.robust_mask)}};
}

AttackCell cell_from_json(const json& j, const std::string& what) {
  AttackCell c;
  c.model = j.at("model").get<std::string>();
  c.attack = j.at("attack").get<std::string>();
  c.spec = j.value("spec", std::string());  // reports before attack specs: the name alone
  c.norm = j.at("norm").get<std::string>();
  c.eps = j.at("eps").get<double>();
  c.eps_text = j.at("eps_str").get<std::string>();
  const auto& p = j.at("params");
  c.steps = p.at("steps").get<int>();
  c.alpha = p.at("alpha").get<double>();
  c.restarts = p.at("restarts").get<int>();
  c.random_start = p.at("random_start").get<bool>();
  c.early_stop = p.at("early_stop").get<bool>();
  c.loss = p.at("loss").get<std::string>();
  c.targeted = p.at("targeted").get<std::string>();
  c.n = j.at("n").get<int64_t>();
  c.robust_accuracy = j.at("robust_accuracy").get<double>();
  c.success_rate = j.at("attack_success_rate_on_clean_correct").get<double>();
  const auto& q = j.at("perturbation");
  c.mean_linf = q.at("mean_linf").get<double>();
  c.max_linf = q.at("max_linf").get<double>();
  c.mean_l2 = q.at("mean_l2").get<double>();
  c.max_l2 = q.at("max_l2").get<double>();
  c.gradient_evaluations = j.at("gradient_evaluations").get<int64_t>();
  c.zero_gradient_fraction = j.at("zero_gradient_fraction").get<double>();
  c.seconds = j.at("seconds").get<double>();
  c.robust_mask = unpack_bits(j.at("robust_bits").get<std::string>(), c.n, what);
  return c;
}

json parse_line(const std::string& line, const std::string& what) {
  try {
    return json::parse(line);
  } catch (const std::exception&) {
    throw Error(what + ": journal line is not valid JSON (delete the journal to start over)");
  }
}

}  // namespace

std::string attack_cell_to_json_line(const AttackCell& cell) { return json{{"cell", cell_to_json(cell)}}.dump(); }

AttackCell attack_cell_from_json_line(const std::string& line, const std::string& what) {
  try {
    return cell_from_json(parse_line(line, what).at("cell"), what);
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": journal entry is missing a field (" + std::string(e.what()) + ")");
  }
}

std::string clean_result_to_json_line(const std::string& model, const CleanResult& result) {
  return json{{"clean", {{"model", model}, {"result", clean_to_json(result, {})}}}}.dump();
}

std::pair<std::string, CleanResult> clean_result_from_json_line(const std::string& line, const std::string& what) {
  try {
    const auto j = parse_line(line, what).at("clean");
    return {j.at("model").get<std::string>(), clean_from_json(j.at("result"), what)};
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": journal entry is missing a field (" + std::string(e.what()) + ")");
  }
}

std::string attack_report_to_json(const AttackReport& r) {
  json j = report_head("questbench.attack", r.context, r.dataset, r.models);
  json results = json::object();
  for (size_t i = 0; i < r.models.size(); ++i) {
    const auto& name = r.models[i].name;
    json attacks = json::array();
    for (const auto& c : r.cells)
      if (c.model == name) attacks.push_back(cell_to_json(c));
    json worst = json::array();
    for (const auto& w : r.worst_case)
      if (w.model == name)
        worst.push_back({{"norm", w.norm},
                         {"eps", w.eps},
                         {"eps_str", w.eps_text},
                         {"attacks", w.attacks},
                         {"robust_accuracy", w.robust_accuracy},
                         {"robust_bits", pack_bits(w.robust_mask)}});
    results[name] = {{"clean", clean_to_json(r.clean.at(i), r.dataset.class_names)},
                     {"clean_acc", r.clean.at(i).accuracy},
                     {"attacks", attacks},
                     {"worst_case", worst}};
  }
  j["results"] = results;
  json sanity = json::array();
  for (const auto& s : r.sanity)
    sanity.push_back({{"name", s.name}, {"model", s.model}, {"status", s.status}, {"message", s.message}});
  j["sanity_checks"] = sanity;
  return j.dump(2) + "\n";
}

AttackReport attack_report_from_json(const std::string& text, const std::string& what) {
  json j = parse_report(text, what, "questbench.attack");
  AttackReport r;
  try {
    read_report_head(j, r.context, r.dataset, r.models);
    for (const auto& m : r.models) {
      const auto& res = j.at("results").at(m.name);
      r.clean.push_back(clean_from_json(res.at("clean"), what));
      for (const auto& c : res.at("attacks")) {
        r.cells.push_back(cell_from_json(c, what));
        QB_CHECK(r.cells.back().model == m.name, what << ": attack cell of model '" << r.cells.back().model
                                                      << "' listed under model '" << m.name << "'");
      }
      for (const auto& w : res.at("worst_case")) {
        WorstCaseCell c;
        c.model = m.name;
        c.norm = w.at("norm").get<std::string>();
        c.eps = w.at("eps").get<double>();
        c.eps_text = w.at("eps_str").get<std::string>();
        c.attacks = w.at("attacks").get<std::vector<std::string>>();
        c.robust_accuracy = w.at("robust_accuracy").get<double>();
        c.robust_mask = unpack_bits(w.at("robust_bits").get<std::string>(), r.clean.back().n, what);
        r.worst_case.push_back(std::move(c));
      }
    }
    for (const auto& s : j.at("sanity_checks"))
      r.sanity.push_back({s.at("name").get<std::string>(), s.at("model").get<std::string>(),
                          s.at("status").get<std::string>(), s.at("message").get<std::string>()});
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": report is missing a field or has one of the wrong type (" + std::string(e.what()) + ")");
  }
  return r;
}

ReportSchema report_schema(const std::string& text, const std::string& what) {
  const json j = parse_report(text, what, "");
  return {j.at("schema").get<std::string>(), j.at("schema_version").get<int>()};
}

std::string training_log_to_json(const TrainingLog& log) {
  json j;
  j["schema"] = "questbench.training_log";
  j["schema_version"] = kSchemaVersion;
  j["context"] = context_to_json(log.context);
  j["config"] = json::parse(log.config_json);
  j["recipe"] = json::parse(log.recipe_json);
  j["dataset_fingerprint"] = {{"train", log.dataset_fingerprint_train}, {"test", log.dataset_fingerprint_test}};
  j["epochs"] = json::array();
  for (const auto& e : log.epochs) {
    json layers = json::array();
    double max_logit = -1e300;
    for (const auto& d : e.layers) {
      layers.push_back(diagnostics_to_json(d));
      max_logit = std::max(max_logit, d.logits_max);
    }
    j["epochs"].push_back({{"epoch", e.epoch},
                           {"learning_rate_end", e.learning_rate_end},
                           {"train_loss", e.train_loss},
                           {"train_accuracy", e.train_accuracy},
                           {"test_loss", e.test_loss},
                           {"test_accuracy", e.test_accuracy},
                           {"max_attention_logit", e.layers.empty() ? json(nullptr) : json(max_logit)},
                           {"seconds", e.seconds},
                           {"layers", layers}});
  }
  return j.dump(2) + "\n";
}

std::vector<EpochRecord> training_epochs_from_json(const std::string& text, const std::string& what) {
  json j = parse_report(text, what, "questbench.training_log");
  std::vector<EpochRecord> epochs;
  try {
    for (const auto& e : j.at("epochs")) {
      EpochRecord r;
      r.epoch = e.at("epoch").get<int>();
      r.learning_rate_end = e.at("learning_rate_end").get<double>();
      r.train_loss = e.at("train_loss").get<double>();
      r.train_accuracy = e.at("train_accuracy").get<double>();
      r.test_loss = e.at("test_loss").get<double>();
      r.test_accuracy = e.at("test_accuracy").get<double>();
      r.seconds = e.at("seconds").get<double>();
      for (const auto& l : e.at("layers")) {
        AttentionDiagnostics d;
        d.entropy_mean = l.at("entropy_mean").get<double>();
        d.entropy_per_head = l.at("entropy_per_head").get<std::vector<double>>();
        d.q_norm_mean = l.at("q_norm_mean").get<double>();
        d.k_norm_mean = l.at("k_norm_mean").get<double>();
        d.logits_std = l.at("logits_std").get<double>();
        d.logits_max = l.at("logits_max").get<double>();
        d.attn_max_mean = l.at("attn_max_mean").get<double>();
        d.block_out_mean = l.at("block_out_mean").get<double>();
        d.block_out_std = l.at("block_out_std").get<double>();
        r.layers.push_back(d);
      }
      epochs.push_back(std::move(r));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": training log is missing a field or has one of the wrong type (" + std::string(e.what()) + ")");
  }
  return epochs;
}

namespace {

json optional_number(double value) { return value < 0 ? json(nullptr) : json(value); }
double optional_from_json(const json& j) { return j.is_null() ? -1.0 : j.get<double>(); }

json corruption_cell_json(const CorruptionCell& c) {
  return {{"severity", c.severity}, {"n", c.n},           {"correct", c.correct},
          {"accuracy", c.accuracy}, {"error", c.error},   {"seconds", c.seconds},
          {"correct_bits", pack_bits(c.correct_mask)}};
}

CorruptionCell corruption_cell_from(const json& j, const std::string& model, const std::string& corruption,
                                    const std::string& group, const std::string& what) {
  CorruptionCell c;
  c.model = model;
  c.corruption = corruption;
  c.group = group;
  c.severity = j.at("severity").get<int>();
  c.n = j.at("n").get<int64_t>();
  c.correct = j.at("correct").get<int64_t>();
  c.accuracy = j.at("accuracy").get<double>();
  c.error = j.at("error").get<double>();
  c.seconds = j.value("seconds", 0.0);
  c.correct_mask = unpack_bits(j.at("correct_bits").get<std::string>(), c.n, what);
  QB_CHECK(c.severity >= 1 && c.severity <= 5, what << ": " << corruption << " has severity " << c.severity << " (not 1..5)");
  return c;
}

}  // namespace

std::string corruption_report_to_json(const CorruptionReport& r) {
  json j = report_head("questbench.corruption", r.context, r.dataset, r.models);
  const auto& c = r.config;
  j["config"] = {{"source", c.source},         {"table", c.table},           {"quantize", c.quantize},
                 {"imagenet_c_jpeg", c.imagenet_c_jpeg}, {"frost", c.frost}, {"corruptions", c.corruptions},
                 {"severities", c.severities}, {"baseline", c.baseline}};
  json results = json::object();
  for (size_t i = 0; i < r.models.size(); ++i) {
    const auto& name = r.models[i].name;
    const auto& summary = r.summaries.at(i);
    json corruptions = json::array();
    for (const auto& cs : summary.corruptions) {
      json severities = json::array();
      for (const auto& cell : r.cells)
        if (cell.model == name && cell.corruption == cs.corruption) severities.push_back(corruption_cell_json(cell));
      corruptions.push_back({{"corruption", cs.corruption},
                             {"group", cs.group},
                             {"severities", severities},
                             {"mean_accuracy", cs.mean_accuracy},
                             {"mean_error", cs.mean_error},
                             {"ce", optional_number(cs.ce)},
                             {"relative_ce", optional_number(cs.relative_ce)}});
    }
    json s = {{"mce", optional_number(summary.mce)},
              {"relative_mce", optional_number(summary.relative_mce)},
              {"mean_corruption_accuracy", summary.mean_corruption_accuracy},
              {"mean_corruption_error", summary.mean_corruption_error},
              {"standard_corruptions", summary.standard_corruptions},
              {"standard_complete", summary.standard_complete},
              {"extra_mce", optional_number(summary.extra_mce)},
              {"extra_mean_accuracy", summary.extra_mean_accuracy},
              {"extra_mean_error", summary.extra_mean_error},
              {"extra_corruptions", summary.extra_corruptions}};
    json entry;
    entry["clean"] = r.clean.at(i).n ? clean_to_json(r.clean.at(i), r.dataset.class_names) : json(nullptr);
    entry["clean_acc"] = r.clean.at(i).n ? json(r.clean.at(i).accuracy) : json(nullptr);
    entry["corruptions"] = corruptions;
    entry["summary"] = s;
    entry["corruptions_acc"] = summary.mean_corruption_accuracy;
    entry["corruptions_mce"] = optional_number(summary.mce);
    results[name] = entry;
  }
  j["results"] = results;
  return j.dump(2) + "\n";
}

CorruptionReport corruption_report_from_json(const std::string& text, const std::string& what) {
  json j = parse_report(text, what, "questbench.corruption");
  CorruptionReport r;
  try {
    read_report_head(j, r.context, r.dataset, r.models);
    const auto& c = j.at("config");
    r.config.source = c.at("source").get<std::string>();
    r.config.table = c.value("table", "");
    r.config.quantize = c.value("quantize", true);
    r.config.imagenet_c_jpeg = c.value("imagenet_c_jpeg", false);
    r.config.frost = c.value("frost", "");
    r.config.corruptions = c.at("corruptions").get<std::vector<std::string>>();
    r.config.severities = c.at("severities").get<std::vector<int>>();
    r.config.baseline = c.value("baseline", "");
    for (const auto& m : r.models) {
      QB_CHECK(j.at("results").contains(m.name), what << ": no results for model '" << m.name << "'");
      const auto& entry = j.at("results").at(m.name);
      r.clean.push_back(entry.at("clean").is_null() ? CleanResult{} : clean_from_json(entry.at("clean"), what));
      CorruptionModelSummary summary;
      summary.model = m.name;
      for (const auto& cj : entry.at("corruptions")) {
        CorruptionSummary cs;
        cs.corruption = cj.at("corruption").get<std::string>();
        cs.group = cj.at("group").get<std::string>();
        for (const auto& sj : cj.at("severities")) {
          r.cells.push_back(corruption_cell_from(sj, m.name, cs.corruption, cs.group, what));
          ++cs.severities;
        }
        cs.mean_accuracy = cj.at("mean_accuracy").get<double>();
        cs.mean_error = cj.at("mean_error").get<double>();
        cs.ce = optional_from_json(cj.at("ce"));
        cs.relative_ce = optional_from_json(cj.at("relative_ce"));
        summary.corruptions.push_back(cs);
      }
      const auto& s = entry.at("summary");
      summary.mce = optional_from_json(s.at("mce"));
      summary.relative_mce = optional_from_json(s.at("relative_mce"));
      summary.mean_corruption_accuracy = s.at("mean_corruption_accuracy").get<double>();
      summary.mean_corruption_error = s.at("mean_corruption_error").get<double>();
      summary.standard_corruptions = s.at("standard_corruptions").get<int>();
      summary.standard_complete = s.at("standard_complete").get<bool>();
      summary.extra_mce = optional_from_json(s.at("extra_mce"));
      summary.extra_mean_accuracy = s.at("extra_mean_accuracy").get<double>();
      summary.extra_mean_error = s.at("extra_mean_error").get<double>();
      summary.extra_corruptions = s.at("extra_corruptions").get<int>();
      r.summaries.push_back(summary);
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": corruption report is missing a field or has one of the wrong type (" + std::string(e.what()) + ")");
  }
  return r;
}

std::string corruption_cell_to_json_line(const CorruptionCell& cell) {
  json j = corruption_cell_json(cell);
  j["model"] = cell.model;
  j["corruption"] = cell.corruption;
  j["group"] = cell.group;
  return json{{"corruption_cell", j}}.dump();
}

CorruptionCell corruption_cell_from_json_line(const std::string& line, const std::string& what) {
  try {
    const auto j = parse_line(line, what).at("corruption_cell");
    return corruption_cell_from(j, j.at("model").get<std::string>(), j.at("corruption").get<std::string>(),
                                j.at("group").get<std::string>(), what);
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": journal entry is missing a field (" + std::string(e.what()) + ")");
  }
}

namespace {

// NaN (undefined) as JSON null.
json number_or_null(double v) { return std::isnan(v) ? json(nullptr) : json(v); }

json interval_json(const Interval& ci) { return json::array({number_or_null(ci.lo), number_or_null(ci.hi)}); }

const char* kind_name(ConditionKind k) {
  switch (k) {
    case ConditionKind::Clean: return "clean";
    case ConditionKind::Corruption: return "corruption";
    case ConditionKind::Attack: return "attack";
    case ConditionKind::WorstCase: return "worst_case";
  }
  return "?";
}

json condition_json(const Condition& c) {
  json j{{"kind", kind_name(c.kind)}, {"key", c.key}, {"label", c.label}};
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
  return j;
}

}  // namespace

std::string comparison_summary_to_json(const Comparison& c) {
  json j;
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
  json inputs = json::array();
  for (const auto& in : c.inputs)
    inputs.push_back({{"path", in.path},
                      {"schema", in.schema},
                      {"schema_version", in.schema_version},
                      {"git_commit", in.context.git_commit},
                      {"seed", in.context.seed},
                      {"dataset_fingerprint", in.dataset.fingerprint},
                      {"evaluated", in.dataset.evaluated},
                      {"models", [&] {
                         json names = json::array();
                         for (const auto& m : in.models) names.push_back(m.name);
                         return names;
                       }()}});
  j["inputs"] = inputs;
  json pairings = json::array();
  for (const auto& p : c.pairings) pairings.push_back({{"inputs", {p.a, p.b}}, {"pairable", p.pairable}, {"reasons", p.reasons}});
  j["pairing"] = pairings;
  json models = json::array();
  for (const auto& m : c.models)
    models.push_back({{"name", m.display}, {"sha256", m.sha256}, {"attention", m.attention}, {"inputs", m.reports}});
  j["models"] = models;
  j["baseline"] = {{"name", c.models[c.baseline].display}, {"chosen", c.baseline_reason}};
  j["all_paired"] = c.all_paired;
  j["warnings"] = c.warnings;
  json headline = json::array();
  for (const auto& row : c.headline) {
    json values = json::object();
    for (size_t m = 0; m < c.models.size(); ++m) {
      const auto& cell = row.cells[m];
      json v{{"value", number_or_null(cell.value)}};
      if (static_cast<int>(m) != c.baseline) {
        v["diff"] = number_or_null(cell.diff);
        v["ci"] = interval_json(cell.ci);
        v["p_holm"] = number_or_null(cell.p_holm);
        v["paired"] = cell.paired;
        v["significant"] = cell.significant;
      }
      values[c.models[m].display] = v;
    }
    headline.push_back({{"metric", row.label}, {"kind", row.kind}, {"note", row.note}, {"models", values}});
  }
  j["headline"] = headline;
  json ce = json::array();
  for (const auto& row : c.corruption_errors) {
    json per = json::object();
    for (size_t m = 0; m < c.models.size(); ++m)
      per[c.models[m].display] = {{"ce", number_or_null(row.ce[m])},
                                  {"relative_ce", number_or_null(row.relative_ce[m])},
                                  {"mean_accuracy", number_or_null(row.mean_accuracy[m])}};
    ce.push_back({{"corruption", row.corruption}, {"group", row.group}, {"models", per}});
  }
  j["corruption_errors"] = ce;
  json deltas = json::array();
  for (const auto& d : c.deltas)
    deltas.push_back({{"model", c.models[d.model].display},
                      {"baseline", c.models[d.baseline].display},
                      {"condition", condition_json(c.conditions[d.condition])},
                      {"inputs", {{"model", d.report_model}, {"baseline", d.report_baseline}}},
                      {"n", {{"model", d.n_model}, {"baseline", d.n_baseline}}},
                      {"accuracy", {{"model", d.acc_model}, {"baseline", d.acc_baseline}}},
                      {"diff", d.diff},
                      {"ci", interval_json(d.ci)},
                      {"paired", d.paired},
                      {"unpaired_reason", d.unpaired_reason},
                      {"discordant", d.paired ? json{{"baseline_only", d.baseline_only}, {"model_only", d.model_only}} : json(nullptr)},
                      {"test", d.test},
                      {"p", d.p},
                      {"p_holm", d.p_holm},
                      {"significant", d.significant}});
  j["deltas"] = deltas;
  return j.dump(2) + "\n";
}

void write_report(const std::string& path, const std::string& json_text) { write_file_atomic(path, json_text); }

}  // namespace questbench
