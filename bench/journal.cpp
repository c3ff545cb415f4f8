#include "bench/journal.h"

#include "common/error.h"
#include "common/files.h"

#include <cerrno>

namespace questbench {

void RunJournal::open(const std::string& path, const std::string& fingerprint, bool resume,
                      const std::function<void(const std::string&)>& on_line) {
  if (path.empty()) return;
  const std::string header = "{\"header\":\"" + fingerprint + "\"}";
  std::string kept = header + "\n";
  if (resume && file_exists(path)) {
    std::ifstream in(path);
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      if (number == 1) {
        QB_CHECK(line == header, path << ": journal was made with other models, data or settings; drop --resume or delete it");
        continue;
      }
      // A last line without its newline was cut by a kill: drop it (its result is recomputed).
      if (line.empty() || in.eof()) continue;
      on_line(line);
      kept += line + "\n";
    }
  }
  // Rewrite the journal as header + complete lines (atomically), so appends never glue onto a torn line. A
  // new journal is written with its first result: a run that fails before any leaves none behind.
  path_ = path;
  pending_ = kept;
  if (kept != header + "\n") start();
}

void RunJournal::start() {
  write_file_atomic(path_, pending_);
  pending_.clear();
  out_.open(path_, std::ios::app);
  QB_CHECK(out_, path_ << ": cannot write the journal");
}

void RunJournal::append(const std::string& line) {
  if (path_.empty()) return;
  if (!out_.is_open()) start();
  errno = 0;
  out_ << line << "\n";
  out_.flush();
  QB_CHECK(out_, write_failed_message(path_, errno));
}

}  // namespace questbench
