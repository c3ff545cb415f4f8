// JSON reports: what `compare` reads (read_input_report: schema check, then the eval, attack or corruption
// report and the cross-checks of compare_input.cpp), and each report reader of reports/format.cpp on its own.
#include "reports/compare.h"
#include "reports/format.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace questbench;
  const std::string path = fuzz::write_input("report.json", data, size);
  const std::string text = fuzz::as_string(data, size);
  fuzz::expect_value_or_error([&] { read_input_report(path); });
  fuzz::expect_value_or_error([&] { report_schema(text, "report"); });
  fuzz::expect_value_or_error([&] { eval_report_from_json(text, "report"); });
  fuzz::expect_value_or_error([&] { attack_report_from_json(text, "report"); });
  fuzz::expect_value_or_error([&] { corruption_report_from_json(text, "report"); });
  fuzz::expect_value_or_error([&] { training_epochs_from_json(text, "report"); });
  return 0;
}
