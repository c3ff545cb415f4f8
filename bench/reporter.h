// How runs tell the outside world how far they are. Library code never prints: the runners hand progress to a
// Reporter, and the command line picks one (a redrawn terminal line, nothing, or JSON lines for machines).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace questbench {

struct ProgressUpdate {
  std::string stage;           // "eval", "attack", "corruption"
  std::string cell;            // what runs now, e.g. "fmnist_vit_quest pgd eps 8/255"
  int64_t cells_done = 0, cells_total = 0;
  int64_t images_done = 0, images_total = 0;  // images through the models so far / in the whole stage
  double elapsed_s = 0, images_per_s = 0, eta_s = 0;
};

class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void progress(const ProgressUpdate& update) = 0;
  virtual void end_stage(const std::string& stage) = 0;
};

enum class ReporterKind { Terminal, Quiet, JsonLines };
// Terminal: one redrawn line on stderr when stderr is a terminal (silent otherwise); JsonLines: one JSON
// object per update on stderr.
std::unique_ptr<Reporter> make_reporter(ReporterKind kind);
// A reporter that drops everything (tests, nested runs).
Reporter& null_reporter();

}  // namespace questbench
