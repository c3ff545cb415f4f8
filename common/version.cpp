#include "common/version.h"

#include "version_config.h"

#if QUESTBENCH_WITH_OPENCV
#include <opencv2/core/version.hpp>
#endif
#include <torch/version.h>

#include <ctime>

namespace questbench {

std::string questbench_version() { return QUESTBENCH_VERSION; }
std::string questbench_git_commit() { return QUESTBENCH_GIT_COMMIT; }

std::string libtorch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

std::string opencv_version() {
#if QUESTBENCH_WITH_OPENCV
  return CV_VERSION;
#else
  return "";
#endif
}

std::string utc_timestamp_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

}  // namespace questbench
