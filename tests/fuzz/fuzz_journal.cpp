// The --resume journal: RunJournal reads the file (header line, complete lines, a torn last line) and hands
// each line to the line parsers of reports/format.cpp, dispatched as the runners' CellJournal does (a line
// starting {"clean" is a clean result, any other an attack or a corruption cell).
#include "bench/journal.h"
#include "reports/format.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace questbench;
  const std::string path = fuzz::write_input("run.json.journal", data, size);
  fuzz::expect_value_or_error([&] {
    RunJournal journal;
    journal.open(path, "fuzz", true, [&](const std::string& line) {
      if (line.rfind("{\"clean\"", 0) == 0) {
        fuzz::expect_value_or_error([&] { clean_result_from_json_line(line, path); });
      } else {
        fuzz::expect_value_or_error([&] { attack_cell_from_json_line(line, path); });
        fuzz::expect_value_or_error([&] { corruption_cell_from_json_line(line, path); });
      }
    });
    journal.append("{\"appended\":true}");
  });
  return 0;
}
