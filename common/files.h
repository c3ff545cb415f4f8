// File helpers: whole-file reads, atomic writes (write to a temp file in the same folder, then rename,
// so a reader never sees a half-written report), gzip decompression.
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

// Decompresses a gzip stream held in memory; throws questbench::Error naming `what` if it is corrupt.
std::string gunzip(const std::string& compressed, const std::string& what);

}  // namespace questbench
