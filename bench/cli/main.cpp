// questbench: robustness and adversarial benchmarks for vision transformers.
// Exit codes: 0 ok, 1 runtime/input error, 2 usage error. Only this file exits.
#include "bench/cli/common.h"
#include "common/error.h"

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>
#include <malloc.h>

#include <csignal>
#include <cstdio>

int main(int argc, char** argv) {
  // Keep freed memory in the heap: LibTorch frees and reallocates the same large buffers every batch,
  // and first-touched pages are expensive on some VMs.
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
  // Over a file-size limit (ulimit -f, a quota-like limit) a write then fails with EFBIG instead of the signal
  // killing the process, so the run ends with its one-line error and removes its temporary file.
  std::signal(SIGXFSZ, SIG_IGN);

  questbench::set_command_line(argc, argv);
  CLI::App app{"questbench: robustness and adversarial benchmarks for vision transformers (standard vs QUEST attention)"};
  app.require_subcommand(1);
  questbench::CommandRunner runner;
  questbench::add_eval_command(app, runner);
  questbench::add_predict_command(app, runner);
  questbench::add_train_command(app, runner);
  questbench::add_info_command(app, runner);
  questbench::add_attack_command(app, runner);
  questbench::add_corrupt_command(app, runner);
  questbench::add_corruption_command(app, runner);
  questbench::add_bench_command(app, runner);
  questbench::add_bench_corruptions_command(app, runner);
  questbench::add_bench_training_command(app, runner);
  questbench::add_compare_command(app, runner);
  questbench::add_export_command(app, runner);
  questbench::add_merge_command(app, runner);
  questbench::add_toy_command(app, runner);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  // Only this file exits: usage errors 2, everything else 1, each as one line.
  auto fail = [](int code, const char* message) {
    std::fprintf(stderr, "questbench: error: %s\n", message);
    return code;
  };
  try {
    runner();
  } catch (const questbench::UsageError& e) {
    return fail(2, e.what());
  } catch (const questbench::Error& e) {
    return fail(1, e.what());
  } catch (const c10::Error& e) {
    return fail(1, e.what_without_backtrace());
  } catch (const std::exception& e) {
    return fail(1, e.what());
  }
  return 0;
}
