#include "common/files.h"

#include "common/error.h"

#include <zlib.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
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

std::string write_failed_message(const std::string& path, int error_number) {
  return path + ": write failed (" + (error_number ? std::strerror(error_number) : "disk full?") + ")";
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
    errno = 0;
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      const int error = errno;  // ENOSPC on a full disk, EFBIG over a file-size limit
      out.close();
      std::filesystem::remove(tmp);
      throw Error(write_failed_message(path, error));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, target, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    throw Error(path + ": cannot move the finished file into place (" + ec.message() + ")");
  }
}

OutputLock::OutputLock(const std::string& output, const std::string& option) {
  if (output.empty()) return;
  const std::string path = output + ".lock";
  {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  }
  // Retry when the file was removed (by a finishing holder) between our open and our lock: the lock must be on
  // the file the path names now.
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    QB_CHECK(fd >= 0, option << " " << output << ": cannot create its lock file " << path << " (" << std::strerror(errno) << ")");
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      ::close(fd);
      QB_CHECK(error != EWOULDBLOCK, option << " " << output << ": another questbench run is writing this report (" << path
                                            << " is locked); wait for it or choose another output");
      QB_CHECK(false, option << " " << output << ": cannot lock " << path << " (" << std::strerror(error) << ")");
    }
    struct stat held {}, named {};
    if (::fstat(fd, &held) == 0 && ::stat(path.c_str(), &named) == 0 && held.st_ino == named.st_ino && held.st_dev == named.st_dev) {
      path_ = path;
      fd_ = fd;
      return;
    }
    ::close(fd);
  }
  QB_CHECK(false, option << " " << output << ": cannot lock " << path << " (it keeps being replaced)");
}

OutputLock::~OutputLock() { release(); }

OutputLock::OutputLock(OutputLock&& other) noexcept : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)) {}

OutputLock& OutputLock::operator=(OutputLock&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

void OutputLock::release() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still holding the lock: a waiting opener then sees another file and retries
  ::close(fd_);
  fd_ = -1;
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
