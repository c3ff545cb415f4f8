// Helpers shared by the tests: where the source tree, the shared reference data and the questbench
// binary are, and a temporary folder per test.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace questbench::test {

// The repository root (tests run with this as working directory).
std::string source_dir();
// ../shared/reference relative to the repository root (or $QUESTBENCH_REFERENCE_DIR); tests that need it
// fail clearly if absent.
std::string reference_dir();
// Path of the built questbench executable.
std::string questbench_binary();
// A fresh empty temporary folder, unique per call.
std::string make_temp_dir(const std::string& tag);
// Runs a shell command, returns its exit code; stdout+stderr are captured into *output if given.
int run_command(const std::string& command, std::string* output = nullptr);

// What may differ between two runs of one plan: when and how long it ran, how it was invoked and split, and
// gradient_evaluations, which counts batched passes (the split changes the batches, not the samples).
nlohmann::json without_run_details(nlohmann::json j);
// The report at `path` without its run details (fails the test if there is no file).
nlohmann::json comparable_report(const std::string& path);

}  // namespace questbench::test
