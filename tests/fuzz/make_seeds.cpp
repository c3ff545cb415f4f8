// make_seeds OUT_DIR FIXTURES_DIR: writes the seed corpora of every fuzz target (tests/fuzz/seeds.h) under
// OUT_DIR/<target>/. Used by scripts/fuzz before the fuzzers start.
#include "tests/fuzz/seeds.h"

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: make_seeds OUT_DIR FIXTURES_DIR\n";
    return 2;
  }
  try {
    questbench::fuzz_seeds::write_corpora(questbench::fuzz_seeds::make_corpora(argv[2]), argv[1]);
  } catch (const std::exception& e) {
    std::cerr << "make_seeds: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
