// SHA-256 (FIPS 180-4), for checkpoint and dataset fingerprints in reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace questbench {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  std::string hex_digest();  // finalizes; call once

 private:
  void compress(const uint8_t* block);
  uint32_t state_[8];
  uint64_t total_bytes_ = 0;
  uint8_t buffer_[64];
  size_t buffered_ = 0;
};

// sha256 of a whole file as 64 lowercase hex characters; throws questbench::Error if it cannot be read.
std::string sha256_file(const std::string& path);

// "sha256:<hex>" over the bytes of several files concatenated in the given order (data set fingerprints).
std::string sha256_fingerprint(const std::vector<std::string>& paths);

}  // namespace questbench
