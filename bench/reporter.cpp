#include "bench/reporter.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <unistd.h>

namespace questbench {
namespace {

class QuietReporter final : public Reporter {
 public:
  void progress(const ProgressUpdate&) override {}
  void end_stage(const std::string&) override {}
};

class TerminalReporter final : public Reporter {
 public:
  void progress(const ProgressUpdate& u) override {
    if (u.cells_total > 0) {
      std::fprintf(stderr, "\r\033[K%s cells %lld/%lld (%s) %.0f images/s ETA %.0f s", u.stage.c_str(),
                   static_cast<long long>(u.cells_done), static_cast<long long>(u.cells_total), u.cell.c_str(), u.images_per_s,
                   u.eta_s);
    } else {
      std::fprintf(stderr, "\r\033[K%s %lld/%lld images, %.0f images/s", u.stage.c_str(), static_cast<long long>(u.images_done),
                   static_cast<long long>(u.images_total), u.images_per_s);
    }
    std::fflush(stderr);
  }
  void end_stage(const std::string&) override {
    std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }
};

class JsonLinesReporter final : public Reporter {
 public:
  void progress(const ProgressUpdate& u) override {
    const nlohmann::json j = {{"stage", u.stage},         {"cell", u.cell},
                              {"cells_done", u.cells_done}, {"cells_total", u.cells_total},
                              {"images_done", u.images_done}, {"images_total", u.images_total},
                              {"elapsed_s", u.elapsed_s},   {"images_per_s", u.images_per_s},
                              {"eta_s", u.eta_s}};
    std::fprintf(stderr, "%s\n", j.dump().c_str());
    std::fflush(stderr);
  }
  void end_stage(const std::string& stage) override {
    std::fprintf(stderr, "%s\n", nlohmann::json({{"stage", stage}, {"event", "done"}}).dump().c_str());
    std::fflush(stderr);
  }
};

}  // namespace

std::unique_ptr<Reporter> make_reporter(ReporterKind kind) {
  if (kind == ReporterKind::JsonLines) return std::make_unique<JsonLinesReporter>();
  if (kind == ReporterKind::Terminal && ::isatty(STDERR_FILENO)) return std::make_unique<TerminalReporter>();
  return std::make_unique<QuietReporter>();
}

Reporter& null_reporter() {
  static QuietReporter quiet;
  return quiet;
}

}  // namespace questbench
