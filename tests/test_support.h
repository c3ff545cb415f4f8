// Helpers shared by the tests: where the source tree, the shared reference data and the questbench
// binary are, and a temporary folder per test.
#pragma once

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

}  // namespace questbench::test
