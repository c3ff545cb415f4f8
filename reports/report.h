// Report values: plain structs produced by the runners in bench/ and written/read by reports/format.h.
// Schema documentation: reports/schema/README.md (the JSON layout and its version history).
#pragma once

#include "models/attention.h"
#include "models/model.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace questbench {

// Where and how a run happened (google/benchmark's "context" idea): enough to reproduce it.
struct RunContext {
  std::string questbench_version, git_commit, libtorch_version, opencv_version;
  std::string device;
  int threads = 0;
  uint64_t seed = 0;
  int64_t batch_size = 0;
  std::string command_line;
  std::string start_time, end_time;  // UTC ISO 8601
  double wall_time_s = 0;
  std::map<std::string, double> stage_seconds;  // e.g. "load_models", "evaluate"
};

struct DatasetInfo {
  std::string path, format, split, description, fingerprint;
  int64_t size = 0;          // samples in the data set
  int64_t evaluated = 0;     // samples evaluated (first `evaluated` samples when --limit is given)
  int64_t num_classes = 0;
  std::vector<std::string> class_names;
};

// Clean accuracy of one model on the evaluated samples (sample i = dataset index i).
struct CleanResult {
  int64_t n = 0, correct = 0;
  double accuracy = 0, error = 0, loss = 0;  // loss: mean cross-entropy (nats)
  std::vector<int64_t> per_class_n, per_class_correct;
  std::vector<uint8_t> correct_mask;  // per sample 0/1, stored bit-packed in JSON
};

struct EvalReport {
  RunContext context;
  DatasetInfo dataset;
  std::vector<ModelInfo> models;
  std::vector<CleanResult> results;  // parallel to models
};

// One epoch of training: the quantities of the paper's instability analysis, per layer.
struct EpochRecord {
  int epoch = 0;  // 1-based
  double learning_rate_end = 0;
  double train_loss = 0, train_accuracy = 0;
  double test_loss = 0, test_accuracy = 0;
  double seconds = 0;
  std::vector<AttentionDiagnostics> layers;  // on a fixed batch of test images
};

struct TrainingLog {
  RunContext context;
  std::string config_json;       // ViTConfig
  std::string recipe_json;       // training options
  std::string dataset_fingerprint_train, dataset_fingerprint_test;
  std::vector<EpochRecord> epochs;
};

}  // namespace questbench
