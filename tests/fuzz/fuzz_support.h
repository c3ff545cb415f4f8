// Shared by the libFuzzer targets in this folder (each fuzz_<parser>.cpp is its own executable).
//
// The contract every target checks: a parser given arbitrary bytes either returns a value or throws
// questbench::Error (common/error.h). Any other exception escapes LLVMFuzzerTestOneInput, terminates the
// process and so is reported by libFuzzer as a crash, like a sanitizer report or a hang.
#pragma once

#include "common/error.h"

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace questbench::fuzz {

// A folder of this process's own (libFuzzer may run several workers side by side), removed at exit.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("questbench-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] { std::error_code ec; std::filesystem::remove_all(scratch_dir(), ec); });
    return d;
  }();
  return dir;
}

// Most parsers take a path: the input is written to `name` in the scratch folder and its path returned.
inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  const auto path = scratch_dir() / name;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) std::abort();  // the harness itself failed: not a finding in the parser
  return path.string();
}

inline std::string as_string(const uint8_t* data, size_t size) { return std::string(reinterpret_cast<const char*>(data), size); }

// Runs one parse: questbench::Error is the expected way to refuse bad input, so it is swallowed; anything
// else propagates and crashes the fuzzer.
template <typename F>
void expect_value_or_error(F&& parse) {
  try {
    parse();
  } catch (const questbench::Error&) {
  }
}

}  // namespace questbench::fuzz
