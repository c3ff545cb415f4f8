#include "common/files.h"

#include "common/error.h"

#include <zlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace questbench {

bool file_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

bool is_directory(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec);
}

std::string read_file_bytes(const std::string& path) {
  QB_CHECK(!is_directory(path), path << ": is a folder, expected a file");
  std::ifstream in(path, std::ios::binary);
  QB_CHECK(in, path << ": cannot open (missing or unreadable)");
  std::ostringstream ss;
  ss << in.rdbuf();
  QB_CHECK(!in.bad(), path << ": read error");
  return ss.str();
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  static std::atomic<int> counter{0};
  const std::filesystem::path target(path);
  {
    // rename() would replace a device (e.g. /dev/full) or fail on a folder only after the work is done.
    std::error_code ec;
    QB_CHECK(!std::filesystem::exists(target, ec) || std::filesystem::is_regular_file(target, ec),
             path << ": exists and is not a regular file (a folder or device?)");
  }
  if (target.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(target.parent_path(), ec);
    QB_CHECK(!ec, path << ": cannot create folder " << target.parent_path().string() << " (" << ec.message() << ")");
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    QB_CHECK(out, path << ": cannot write (folder missing or not writable)");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::filesystem::remove(tmp);
      throw Error(path + ": write failed (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, target, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    throw Error(path + ": cannot move the finished file into place (" + ec.message() + ")");
  }
}

std::string gunzip(const std::string& compressed, const std::string& what) {
  z_stream stream{};
  QB_CHECK(inflateInit2(&stream, 16 + MAX_WBITS) == Z_OK, what << ": zlib initialisation failed");
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  char buffer[1 << 16];
  int status = Z_OK;
  while (status != Z_STREAM_END) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    status = inflate(&stream, Z_NO_FLUSH);
    if (status != Z_OK && status != Z_STREAM_END) {
      inflateEnd(&stream);
      throw Error(what + ": corrupt or truncated gzip data");
    }
    out.append(buffer, sizeof buffer - stream.avail_out);
    if (status == Z_OK && stream.avail_in == 0 && stream.avail_out != 0) {
      inflateEnd(&stream);
      throw Error(what + ": truncated gzip data");
    }
  }
  inflateEnd(&stream);
  return out;
}

}  // namespace questbench
