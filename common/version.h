// Build provenance recorded in every report.
#pragma once

#include <string>

namespace questbench {

std::string questbench_version();  // e.g. "0.1.0"
std::string questbench_git_commit();  // short hash at configure time, or "unknown"
std::string libtorch_version();    // e.g. "1.13.1"
std::string opencv_version();  // "" when built without OpenCV
std::string utc_timestamp_now();   // ISO 8601, e.g. "2026-11-24T06:40:00Z"

}  // namespace questbench
