// Run bookkeeping shared by the runners: wall-clock helpers and the line journal for --resume.
//
// The journal: the first line is {"header":"<fingerprint of everything that determines the
// results>"}, then one finished result per line (JSON), flushed as it is written. A journal with another
// fingerprint is refused; a torn last line (a kill mid-write) is skipped and its result recomputed.
#pragma once

#include <chrono>
#include <fstream>
#include <functional>
#include <string>

namespace questbench {

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

class RunJournal {
 public:
  // path "" disables the journal. With `resume` and a journal whose header matches, `on_line` receives every
  // complete result line and new lines are appended; otherwise the file is started anew.
  void open(const std::string& path, const std::string& fingerprint, bool resume,
            const std::function<void(const std::string&)>& on_line);
  void append(const std::string& line);

 private:
  void start();  // writes the header and the kept lines, then opens for appending
  std::string path_, pending_;
  std::ofstream out_;
};

}  // namespace questbench
