// File helpers: whole-file reads, atomic writes (write to a temp file in the same folder, then rename,
// so a reader never sees a half-written report), the lock a run holds on its output, gzip decompression.
#pragma once

#include <string>
#include <vector>

namespace questbench {

bool file_exists(const std::string& path);
bool is_directory(const std::string& path);

// Reads a whole file; throws questbench::Error naming the file if it is missing or unreadable.
std::string read_file_bytes(const std::string& path);

// Writes `bytes` to `path` atomically; creates the parent folder if needed.
void write_file_atomic(const std::string& path, const std::string& bytes);

// "<path>: write failed (<the system's reason>)" for a write that failed with `error_number` (errno: ENOSPC on a
// full disk, EFBIG over a file-size limit; 0 when the stream set no errno).
std::string write_failed_message(const std::string& path, int error_number);

// A run's claim on its output: an exclusive flock(2) on `<output>.lock`, taken before any work, so that a second
// run writing the same report (and journal) fails at once instead of interleaving journals or replacing the
// first run's report. The kernel drops the lock when its holder dies, so a killed run's leftover file does not
// block --resume; the holder removes the file when it ends. Empty path: no lock.
class OutputLock {
 public:
  OutputLock() = default;
  // Throws questbench::Error naming `option` and the output when another process holds the lock.
  OutputLock(const std::string& output, const std::string& option = "-o");
  ~OutputLock();
  OutputLock(OutputLock&& other) noexcept;
  OutputLock& operator=(OutputLock&& other) noexcept;
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

 private:
  void release();
  std::string path_;
  int fd_ = -1;
};

// Decompresses a gzip stream held in memory; throws questbench::Error naming `what` if it is corrupt.
std::string gunzip(const std::string& compressed, const std::string& what);

}  // namespace questbench
