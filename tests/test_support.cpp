#include "tests/catch_torch.h"  // first: see the header
#include "tests/test_support.h"

#include "common/files.h"

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sys/wait.h>
#include <unistd.h>

namespace questbench::test {

std::string source_dir() { return QUESTBENCH_SOURCE_DIR; }

std::string reference_dir() {
  // QUESTBENCH_REFERENCE_DIR: a copy elsewhere (e.g. the subset scripts/gpu-check takes to a GPU machine).
  if (const char* dir = std::getenv("QUESTBENCH_REFERENCE_DIR"); dir && *dir) return dir;
  return (std::filesystem::path(source_dir()) / ".." / "shared" / "reference").lexically_normal().string();
}

std::string questbench_binary() { return QUESTBENCH_BINARY; }

std::string make_temp_dir(const std::string& tag) {
  static std::atomic<int> counter{0};
  auto dir = std::filesystem::temp_directory_path() /
             ("questbench-test-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

int run_command(const std::string& command, std::string* output) {
  std::string full = command + " 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  if (!pipe) return -1;
  std::array<char, 4096> buffer{};
  std::string captured;
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) captured.append(buffer.data(), n);
  int status = ::pclose(pipe);
  if (output) *output = captured;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

nlohmann::json without_run_details(nlohmann::json j) {
  if (j.is_object()) {
    for (const char* key : {"start_time", "end_time", "wall_time_s", "stage_seconds", "command_line", "world_size", "seconds",
                            "gradient_evaluations"})
      j.erase(key);
    for (auto& [key, value] : j.items()) value = without_run_details(value);
  } else if (j.is_array()) {
    for (auto& value : j) value = without_run_details(value);
  }
  return j;
}

nlohmann::json comparable_report(const std::string& path) {
  REQUIRE(file_exists(path));
  return without_run_details(nlohmann::json::parse(read_file_bytes(path)));
}

}  // namespace questbench::test
