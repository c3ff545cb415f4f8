// The field lists of the report values (the machinery is in reports/json_fields.h).
#include "reports/serialize.h"

#include "reports/calibration.h"
#include "reports/diagnostics.h"
#include "reports/format.h"
#include "reports/json_fields.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

namespace questbench {
namespace {

using json_fields::FieldReader;
using json_fields::FieldWriter;

template <class Io, class S>
void shard_fields(Io& io, S& s) {
  io("index", s.index);
  io("count", s.count);
  io("begin", s.begin);
  io("end", s.end);
  io("plan_begin", s.plan_begin);
  io("plan_end", s.plan_end);
  io("plan_fingerprint", s.plan_fingerprint);
}

template <class Io, class C>
void context_fields(Io& io, C& c) {
  io("questbench_version", c.questbench_version);
  io("git_commit", c.git_commit);
  io("libtorch_version", c.libtorch_version);
  io.optional("opencv_version", c.opencv_version, std::string());
  io("device", c.device);
  io.optional("autocast", c.autocast, std::string("none"));  // absent in reports written before the option existed
  io("threads", c.threads);
  io.optional("batch_invariant", c.batch_invariant, false);
  io("seed", c.seed);
  io("batch_size", c.batch_size);
  io.optional("command_line", c.command_line, std::string());
  io("start_time", c.start_time);
  io("end_time", c.end_time);
  io("wall_time_s", c.wall_time_s);
  io.optional("stage_seconds", c.stage_seconds, std::map<std::string, double>{});
  io.optional("world_size", c.world_size, 1);
  // Only a shard's partial report has a "shard" block.
  if constexpr (Io::reading) {
    if (io.has("shard")) io.object("shard", [&](auto& s) { shard_fields(s, c.shard); });
  } else {
    if (c.shard.count > 0) io.object("shard", [&](auto& s) { shard_fields(s, c.shard); });
  }
}

template <class Io, class D>
void dataset_fields(Io& io, D& d) {
  io("path", d.path);
  io("format", d.format);
  io.optional("split", d.split, std::string());
  io.optional("description", d.description, std::string());
  io("fingerprint", d.fingerprint);
  io("size", d.size);
  io("evaluated", d.evaluated);
  io("num_classes", d.num_classes);
  io("class_names", d.class_names);
}

template <class Io, class M>
void model_fields(Io& io, M& m) {
  io("name", m.name);
  io("path", m.path);
  io("format", m.format);
  io("sha256", m.sha256);
  io("architecture", m.architecture);
  io.optional("attention", m.attention, std::string());
  // The ViT config is kept as JSON text in the struct and embedded as JSON (null for TorchScript).
  if constexpr (Io::reading) {
    if (!io.at("config").is_null()) m.config_json = io.at("config").dump();
  } else {
    io.set("config", m.config_json.empty() ? Json(nullptr) : Json::parse(m.config_json));
  }
  io.object("preprocess", [&](auto& p) {
    p("mean", m.mean);
    p("std", m.std);
    if constexpr (Io::reading) {
      const auto size = p.at("input_size").template get<std::vector<int64_t>>();
      if (size.size() == 3) {
        m.channels = size[0];
        m.height = size[1];
        m.width = size[2];
      }
    } else {
      p.set("input_size", Json{m.channels, m.height, m.width});
    }
  });
  io("num_classes", m.num_classes);
  io.optional("num_parameters", m.num_parameters, int64_t{0});
}

template <class Io, class D>
void diagnostics_fields(Io& io, D& d) {
  io("entropy_mean", d.entropy_mean);
  io("entropy_per_head", d.entropy_per_head);
  io("q_norm_mean", d.q_norm_mean);
  io("k_norm_mean", d.k_norm_mean);
  io("logits_std", d.logits_std);
  io("logits_max", d.logits_max);
  io("attn_max_mean", d.attn_max_mean);
  io("block_out_mean", d.block_out_mean);
  io("block_out_std", d.block_out_std);
}

// The "calibration" block of a clean result or a corruption cell (optional: absent in older reports and where
// nothing was measured). The metrics and the reliability bins are written for readers of the file and
// recomputed from the per-sample confidences and sums when read.
template <class Io, class D>
void calibration_fields(Io& io, D& data, const std::vector<uint8_t>& correct_mask, int64_t n) {
  if constexpr (Io::reading) {
    if (!io.has("calibration")) return;
    io.object("calibration", [&](auto& k) {
      k("nll_sum", data.nll_sum);
      k("brier_sum", data.brier_sum);
      try {
        data.confidence = unpack_floats(k.at("confidences").template get<std::string>(), n);
      } catch (const FieldError& e) {
        throw FieldError(std::string("calibration: ") + e.what());
      }
      for (size_t i = 0; i < data.confidence.size(); ++i) {
        const float v = data.confidence[i];
        if (!(v >= 0.0f && v <= 1.0f))
          throw FieldError("calibration: confidence of sample " + std::to_string(i) + " is not in [0, 1]");
      }
      if (!std::isfinite(data.nll_sum) || data.nll_sum < 0 || !std::isfinite(data.brier_sum) || data.brier_sum < 0 ||
          data.brier_sum > 2.0 * static_cast<double>(n))
        throw FieldError("calibration: nll_sum or brier_sum out of range");
    });
  } else {
    if (data.empty()) return;
    const auto m = calibration_metrics(data, correct_mask);
    io.object("calibration", [&](auto& k) {
      k.set("ece", m.ece);
      k.set("adaptive_ece", m.adaptive_ece);
      k.set("nll", m.nll);
      k.set("brier", m.brier);
      k("nll_sum", data.nll_sum);
      k("brier_sum", data.brier_sum);
      Json bins = Json::array();
      for (const auto& b : m.bins)
        bins.push_back({{"count", b.count}, {"correct", b.correct}, {"mean_confidence", b.mean_confidence()}, {"accuracy", b.accuracy()}});
      k.set("bins", std::move(bins));
      k.set("confidences", pack_floats(data.confidence));
    });
  }
}

// A layer's per-sample rows, packed, and its summary (written for readers, recomputed from the rows).
template <class Io, class D>
void layer_diagnostics_fields(Io& io, D& d) {
  io.derived("summary", [&] {
    const auto m = layer_summary(d);
    return Json{{"entropy_mean", m.entropy_mean}, {"entropy_per_head", m.entropy_per_head}, {"attn_max_mean", m.attn_max_mean},
                {"q_norm_mean", m.q_norm_mean},   {"k_norm_mean", m.k_norm_mean},           {"logits_std", m.logits_std},
                {"logits_max", m.logits_max}};
  });
  io("heads", d.heads);
  io("logits_per_sample", d.logits_per_sample);
  if constexpr (Io::reading) {
    d.values = unpack_floats(io.at("values").template get<std::string>());
    if (d.heads < 1 || d.logits_per_sample < 1 || d.values.size() % static_cast<size_t>(diagnostics_row_size(d)) != 0)
      throw FieldError("attention diagnostics: " + std::to_string(d.values.size()) + " values do not form rows of " +
                       std::to_string(diagnostics_column::kFirstHead) + " + " + std::to_string(d.heads) + " heads");
    for (float v : d.values)
      if (!std::isfinite(v)) throw FieldError("attention diagnostics: a value is not finite");
  } else {
    io.set("values", pack_floats(d.values));
  }
}

// Per layer, present only in runs with --diagnostics (and absent from reports written before it existed).
template <class Io, class C>
void diagnostics_list_field(Io& io, C& c, int64_t n) {
  if constexpr (Io::reading) {
    if (!io.has("diagnostics")) return;
    io.list("diagnostics", c.diagnostics);
    for (const auto& d : c.diagnostics)
      if (diagnostics_samples(d) != n)
        throw FieldError("attention diagnostics hold " + std::to_string(diagnostics_samples(d)) + " samples, expected " +
                         std::to_string(n));
  } else {
    if (!c.diagnostics.empty()) io.list("diagnostics", c.diagnostics);
  }
}

template <class Io, class C>
void clean_fields(Io& io, C& c) {
  io("n", c.n);
  io("correct", c.correct);
  io("accuracy", c.accuracy);
  io("error", c.error);
  io("loss", c.loss);
  io.optional("loss_sum", c.loss_sum, -1.0);  // -1: a report from before the exact sums (the mean times n)
  if constexpr (Io::reading)
    if (c.loss_sum < 0) c.loss_sum = c.loss * static_cast<double>(c.n);
  // The struct holds parallel per-class vectors; the file one object per class, with its accuracy.
  if constexpr (Io::reading) {
    for (const auto& pc : io.at("per_class")) {
      c.per_class_n.push_back(pc.at("n").template get<int64_t>());
      c.per_class_correct.push_back(pc.at("correct").template get<int64_t>());
    }
  } else {
    Json per_class = Json::array();
    for (size_t k = 0; k < c.per_class_n.size(); ++k) {
      const int64_t n = c.per_class_n[k], correct = c.per_class_correct[k];
      per_class.push_back({{"class", std::to_string(k)},
                           {"n", n},
                           {"correct", correct},
                           {"accuracy", n ? static_cast<double>(correct) / n : 0.0}});
    }
    io.set("per_class", std::move(per_class));
  }
  io.bits("correct_bits", c.correct_mask, c.n);
  calibration_fields(io, c.calibration, c.correct_mask, c.n);
  diagnostics_list_field(io, c, c.n);
}

template <class Io, class C>
void attack_cell_fields(Io& io, C& c) {
  io("model", c.model);
  io("attack", c.attack);
  io.optional("spec", c.spec, std::string());  // reports before attack specs name the attack alone
  io("norm", c.norm);
  io("eps", c.eps);
  io("eps_str", c.eps_text);
  io.object("params", [&](auto& p) {
    p("steps", c.steps);
    p("alpha", c.alpha);
    p("restarts", c.restarts);
    p("random_start", c.random_start);
    p("early_stop", c.early_stop);
    p("loss", c.loss);
    p("targeted", c.targeted);
  });
  io("n", c.n);
  io("robust_accuracy", c.robust_accuracy);
  io("attack_success_rate_on_clean_correct", c.success_rate);
  io.object("perturbation", [&](auto& p) {
    p("mean_linf", c.mean_linf);
    p("max_linf", c.max_linf);
    p("mean_l2", c.mean_l2);
    p("max_l2", c.max_l2);
    p.optional("sum_linf", c.sum_linf, -1.0);  // -1: a report from before the exact sums (the mean times n)
    p.optional("sum_l2", c.sum_l2, -1.0);
  });
  if constexpr (Io::reading) {
    if (c.sum_linf < 0) c.sum_linf = c.mean_linf * static_cast<double>(c.n);
    if (c.sum_l2 < 0) c.sum_l2 = c.mean_l2 * static_cast<double>(c.n);
  }
  io("gradient_evaluations", c.gradient_evaluations);
  io.optional("forwards", c.forwards, int64_t{0});    // absent in reports before per-sample pass counts
  io.optional("backwards", c.backwards, int64_t{0});
  io.optional("rng", c.rng, std::string("per-sample"));
  io("zero_gradient_fraction", c.zero_gradient_fraction);
  io.optional("non_finite", c.non_finite, int64_t{0});  // absent in reports before non-finite counting
  io("seconds", c.seconds);
  io.bits("robust_bits", c.robust_mask, c.n);
  diagnostics_list_field(io, c, c.n);
  io.optional("stages", c.stages, std::vector<AttackStage>{});
  // A stage's bits are stored without their count (packed to whole bytes): the cell's n is theirs.
  if constexpr (!std::is_const_v<C>)
    for (auto& stage : c.stages) fit_bits(stage.robust_mask, c.n);
}

template <class Io, class S>
void attack_stage_fields(Io& io, S& s) {
  io("spec", s.spec);
  io("attacked", s.attacked);
  io("robust_accuracy", s.robust_accuracy);
  io("forwards", s.forwards);
  io("backwards", s.backwards);
  io("seconds", s.seconds);
  io.object("broken_perturbation", [&](auto& p) {
    p("sum_linf", s.sum_linf);
    p("max_linf", s.max_linf);
    p("sum_l2", s.sum_l2);
    p("max_l2", s.max_l2);
  });
  io.optional("non_finite", s.non_finite, int64_t{0});  // absent in reports before non-finite counting
  io.all_bits("robust_bits", s.robust_mask);
}

template <class Io, class C>
void worst_case_fields(Io& io, C& c) {
  io("norm", c.norm);
  io("eps", c.eps);
  io("eps_str", c.eps_text);
  io("attacks", c.attacks);
  io("robust_accuracy", c.robust_accuracy);
  io.all_bits("robust_bits", c.robust_mask);
}

template <class Io, class S>
void sanity_fields(Io& io, S& s) {
  io("name", s.name);
  io("model", s.model);
  io("status", s.status);
  io("message", s.message);
}

template <class Io, class C>
void corruption_config_fields(Io& io, C& c) {
  io("source", c.source);
  io.optional("table", c.table, std::string());
  io.optional("quantize", c.quantize, true);
  io.optional("imagenet_c_jpeg", c.imagenet_c_jpeg, false);
  io.optional("frost", c.frost, std::string());
  io("corruptions", c.corruptions);
  io("severities", c.severities);
  io.optional("baseline", c.baseline, std::string());
}

template <class Io, class C>
void corruption_cell_fields(Io& io, C& c) {
  io("severity", c.severity);
  io("n", c.n);
  io("correct", c.correct);
  io("accuracy", c.accuracy);
  io("error", c.error);
  io.optional("non_finite", c.non_finite, int64_t{0});  // absent in reports before non-finite counting
  io.optional("seconds", c.seconds, 0.0);
  io.bits("correct_bits", c.correct_mask, c.n);
  calibration_fields(io, c.calibration, c.correct_mask, c.n);
  diagnostics_list_field(io, c, c.n);
}

template <class Io, class E>
void corruption_entry_fields(Io& io, E& e) {
  auto& s = e.summary;
  io("corruption", s.corruption);
  io("group", s.group);
  if constexpr (Io::reading) {
    // Each cell is checked as it is read, so that the first problem in the file is the one reported.
    for (const auto& sj : io.at("severities")) {
      auto cell = sj.template get<CorruptionCell>();
      cell.corruption = s.corruption;
      cell.group = s.group;
      check_severity(cell);
      e.cells.push_back(std::move(cell));
      ++s.severities;
    }
  } else {
    io.list("severities", e.cells);
  }
  io("mean_accuracy", s.mean_accuracy);
  io("mean_error", s.mean_error);
  io.nullable("ce", s.ce);
  io.nullable("relative_ce", s.relative_ce);
  // Absent in reports written before it: undefined.
  if constexpr (Io::reading) {
    s.error_auc = io.has("error_auc") && !io.at("error_auc").is_null() ? io.at("error_auc").template get<double>() : -1.0;
  } else {
    io.nullable("error_auc", s.error_auc);
  }
}

template <class Io, class S>
void corruption_model_summary_fields(Io& io, S& s) {
  io.nullable("mce", s.mce);
  io.nullable("relative_mce", s.relative_mce);
  io("mean_corruption_accuracy", s.mean_corruption_accuracy);
  io("mean_corruption_error", s.mean_corruption_error);
  io("standard_corruptions", s.standard_corruptions);
  io("standard_complete", s.standard_complete);
  io.nullable("extra_mce", s.extra_mce);
  io("extra_mean_accuracy", s.extra_mean_accuracy);
  io("extra_mean_error", s.extra_mean_error);
  io("extra_corruptions", s.extra_corruptions);
}

template <class Io, class E>
void epoch_fields(Io& io, E& e) {
  io("epoch", e.epoch);
  io("learning_rate_end", e.learning_rate_end);
  io("train_loss", e.train_loss);
  io("train_accuracy", e.train_accuracy);
  io("test_loss", e.test_loss);
  io("test_accuracy", e.test_accuracy);
  io.derived("max_attention_logit", [&] {
    double max_logit = -1e300;
    for (const auto& d : e.layers) max_logit = std::max(max_logit, d.logits_max);
    return e.layers.empty() ? Json(nullptr) : Json(max_logit);
  });
  io("seconds", e.seconds);
  io.list("layers", e.layers);
}

// The blocks every model report opens with: schema, schema_version, context, dataset, models.
template <class Io, class R>
void head_fields(Io& io, R& r, const char* schema) {
  if constexpr (!Io::reading) {
    io.set("schema", schema);
    io.set("schema_version", kSchemaVersion);
  }
  io("context", r.context);
  io("dataset", r.dataset);
  io.list("models", r.models);
}

// A clean result in a report: per-class entries named after the data set's classes.
Json clean_json(const CleanResult& c, const std::vector<std::string>& class_names) {
  Json j = c;
  label_classes(j, class_names);
  return j;
}

}  // namespace

QB_JSON_FIELDS(RunContext, context_fields)
QB_JSON_FIELDS(DatasetInfo, dataset_fields)
QB_JSON_FIELDS(ModelInfo, model_fields)
QB_JSON_FIELDS(AttentionDiagnostics, diagnostics_fields)
QB_JSON_FIELDS(LayerDiagnostics, layer_diagnostics_fields)
QB_JSON_FIELDS(CleanResult, clean_fields)
QB_JSON_FIELDS(AttackStage, attack_stage_fields)
QB_JSON_FIELDS(AttackCell, attack_cell_fields)
QB_JSON_FIELDS(WorstCaseCell, worst_case_fields)
QB_JSON_FIELDS(SanityCheck, sanity_fields)
QB_JSON_FIELDS(CorruptionConfig, corruption_config_fields)
QB_JSON_FIELDS(CorruptionCell, corruption_cell_fields)
QB_JSON_FIELDS(CorruptionEntry, corruption_entry_fields)
QB_JSON_FIELDS(CorruptionModelSummary, corruption_model_summary_fields)
QB_JSON_FIELDS(EpochRecord, epoch_fields)

void label_classes(Json& clean, const std::vector<std::string>& class_names) {
  auto& per_class = clean.at("per_class");
  for (size_t k = 0; k < per_class.size() && k < class_names.size(); ++k) per_class[k]["class"] = class_names[k];
}

void check_severity(const CorruptionCell& c) {
  if (c.severity < 1 || c.severity > 5)
    throw FieldError(c.corruption + " has severity " + std::to_string(c.severity) + " (not 1..5)");
}

// Reports: the head, then per model name a results entry; the struct keeps models' values in
// parallel vectors (clean) or flat lists tagged with the model (cells).

void to_json(Json& j, const EvalReport& r) {
  FieldWriter w(j);
  head_fields(w, r, "questbench.eval");
  Json results = Json::object();
  for (size_t i = 0; i < r.models.size(); ++i) {
    const auto& c = r.results.at(i);
    results[r.models[i].name] = {{"clean", clean_json(c, r.dataset.class_names)}, {"clean_acc", c.accuracy}};
  }
  j["results"] = std::move(results);
}

void from_json(const Json& j, EvalReport& r) {
  FieldReader io(j);
  head_fields(io, r, "questbench.eval");
  for (const auto& m : r.models) r.results.push_back(j.at("results").at(m.name).at("clean").get<CleanResult>());
}

void to_json(Json& j, const AttackReport& r) {
  FieldWriter w(j);
  head_fields(w, r, "questbench.attack");
  Json results = Json::object();
  for (size_t i = 0; i < r.models.size(); ++i) {
    const auto& name = r.models[i].name;
    Json attacks = Json::array(), worst = Json::array();
    for (const auto& c : r.cells)
      if (c.model == name) attacks.push_back(c);
    for (const auto& c : r.worst_case)
      if (c.model == name) worst.push_back(c);
    results[name] = {{"clean", clean_json(r.clean.at(i), r.dataset.class_names)},
                     {"clean_acc", r.clean.at(i).accuracy},
                     {"attacks", std::move(attacks)},
                     {"worst_case", std::move(worst)}};
  }
  j["results"] = std::move(results);
  j["sanity_checks"] = r.sanity;
}

void from_json(const Json& j, AttackReport& r) {
  FieldReader io(j);
  head_fields(io, r, "questbench.attack");
  for (const auto& m : r.models) {
    const auto& res = j.at("results").at(m.name);
    r.clean.push_back(res.at("clean").get<CleanResult>());
    for (const auto& c : res.at("attacks")) {
      r.cells.push_back(c.get<AttackCell>());
      if (r.cells.back().model != m.name)
        throw FieldError("attack cell of model '" + r.cells.back().model + "' listed under model '" + m.name + "'");
    }
    for (const auto& w : res.at("worst_case")) {
      auto cell = w.get<WorstCaseCell>();
      cell.model = m.name;
      fit_bits(cell.robust_mask, r.clean.back().n);
      r.worst_case.push_back(std::move(cell));
    }
  }
  io.list("sanity_checks", r.sanity);
}

void to_json(Json& j, const CorruptionReport& r) {
  FieldWriter w(j);
  head_fields(w, r, "questbench.corruption");
  w("config", r.config);
  Json results = Json::object();
  for (size_t i = 0; i < r.models.size(); ++i) {
    const auto& name = r.models[i].name;
    const auto& clean = r.clean.at(i);
    const auto& summary = r.summaries.at(i);
    Json corruptions = Json::array();
    for (const auto& cs : summary.corruptions) {
      CorruptionEntry entry{cs, {}};
      for (const auto& cell : r.cells)
        if (cell.model == name && cell.corruption == cs.corruption) entry.cells.push_back(cell);
      corruptions.push_back(entry);
    }
    // A model without a clean evaluation (n = 0) has null clean and clean_acc.
    Json entry;
    entry["clean"] = clean.n ? clean_json(clean, r.dataset.class_names) : Json(nullptr);
    entry["clean_acc"] = clean.n ? Json(clean.accuracy) : Json(nullptr);
    entry["corruptions"] = std::move(corruptions);
    entry["summary"] = summary;
    entry["corruptions_acc"] = summary.mean_corruption_accuracy;
    entry["corruptions_mce"] = summary.mce < 0 ? Json(nullptr) : Json(summary.mce);
    results[name] = std::move(entry);
  }
  j["results"] = std::move(results);
}

void from_json(const Json& j, CorruptionReport& r) {
  FieldReader io(j);
  head_fields(io, r, "questbench.corruption");
  io("config", r.config);
  for (const auto& m : r.models) {
    if (!j.at("results").contains(m.name)) throw FieldError("no results for model '" + m.name + "'");
    const auto& entry = j.at("results").at(m.name);
    r.clean.push_back(entry.at("clean").is_null() ? CleanResult{} : entry.at("clean").get<CleanResult>());
    std::vector<CorruptionSummary> corruptions;
    for (const auto& cj : entry.at("corruptions")) {
      auto e = cj.get<CorruptionEntry>();
      for (auto& cell : e.cells) {
        cell.model = m.name;
        r.cells.push_back(std::move(cell));
      }
      corruptions.push_back(e.summary);
    }
    auto summary = entry.at("summary").get<CorruptionModelSummary>();
    summary.model = m.name;
    summary.corruptions = std::move(corruptions);
    r.summaries.push_back(std::move(summary));
  }
}

void to_json(Json& j, const TrainingLog& log) {
  j = Json::object();
  j["schema"] = "questbench.training_log";
  j["schema_version"] = kSchemaVersion;
  j["context"] = log.context;
  j["config"] = Json::parse(log.config_json);
  j["recipe"] = Json::parse(log.recipe_json);
  j["dataset_fingerprint"] = {{"train", log.dataset_fingerprint_train}, {"test", log.dataset_fingerprint_test}};
  j["epochs"] = log.epochs;
}

}  // namespace questbench
