// questbench errors: every library function reports bad input by throwing questbench::Error with a
// one-line message that names the input and the problem. Only bench/main.cpp turns errors into exit
// codes (1 for runtime/input errors, 2 for usage errors).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace questbench {

// A runtime or input error (missing/corrupt file, wrong shape, NaN, ...): exit code 1.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A usage error found after CLI parsing (unknown name, out-of-range option value): exit code 2.
struct UsageError : Error {
  using Error::Error;
};

}  // namespace questbench

namespace questbench {
// The one-line error of a feature that needs OpenCV in a build without it.
inline Error opencv_unavailable(const std::string& what) {
  return Error(what + ": needs OpenCV, and this questbench was built without it (-DQUESTBENCH_OPENCV=OFF)");
}
}  // namespace questbench

// QB_CHECK(cond, "file " << path << ": bad header") throws questbench::Error when cond is false.
#define QB_CHECK(cond, msg)                                \
  do {                                                     \
    if (!(cond)) {                                         \
      std::ostringstream qb_check_stream_;                 \
      qb_check_stream_ << msg;                             \
      throw ::questbench::Error(qb_check_stream_.str());   \
    }                                                      \
  } while (0)

#define QB_USAGE_CHECK(cond, msg)                            \
  do {                                                       \
    if (!(cond)) {                                           \
      std::ostringstream qb_check_stream_;                   \
      qb_check_stream_ << msg;                               \
      throw ::questbench::UsageError(qb_check_stream_.str()); \
    }                                                        \
  } while (0)
