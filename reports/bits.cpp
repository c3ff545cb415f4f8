// Bit-packing of per-sample 0/1 vectors for the reports (layout: reports/format.h).
#include "reports/diagnostics.h"
#include "reports/format.h"
#include "reports/serialize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

namespace questbench {
namespace {

const char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(const std::vector<uint8_t>& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = static_cast<uint32_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint32_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= bytes[i + 2];
    out.push_back(kBase64[(v >> 18) & 63]);
    out.push_back(kBase64[(v >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kBase64[(v >> 6) & 63] : '=');
    out.push_back(i + 2 < bytes.size() ? kBase64[v & 63] : '=');
  }
  return out;
}

std::vector<uint8_t> base64_decode(const std::string& text) {
  auto value = [&](char ch) -> int {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
  };
  if (text.size() % 4 != 0) throw FieldError("packed bits are not valid base64");
  std::vector<uint8_t> out;
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    for (int k = 0; k < 4; ++k) {
      v[k] = text[i + k] == '=' ? 0 : value(text[i + k]);
      if (v[k] < 0) throw FieldError("packed bits are not valid base64");
    }
    const uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out.push_back(static_cast<uint8_t>(n >> 16));
    if (text[i + 2] != '=') out.push_back(static_cast<uint8_t>((n >> 8) & 0xff));
    if (text[i + 3] != '=') out.push_back(static_cast<uint8_t>(n & 0xff));
  }
  return out;
}

}  // namespace

std::vector<uint8_t> decode_bits(const std::string& packed) {
  const auto bytes = base64_decode(packed);
  std::vector<uint8_t> bits(bytes.size() * 8);
  for (size_t i = 0; i < bits.size(); ++i) bits[i] = (bytes[i / 8] >> (i % 8)) & 1u;
  return bits;
}

void fit_bits(std::vector<uint8_t>& bits, int64_t n) {
  if (static_cast<int64_t>(bits.size() / 8) != (n + 7) / 8) {
    std::ostringstream message;
    message << "packed bits hold " << bits.size() << " samples, expected " << n;
    throw FieldError(message.str());
  }
  std::vector<uint8_t> fitted(static_cast<size_t>(n));
  std::copy(bits.begin(), bits.begin() + static_cast<std::ptrdiff_t>(fitted.size()), fitted.begin());
  bits = std::move(fitted);
}

std::string pack_bits(const std::vector<uint8_t>& bits) {
  std::vector<uint8_t> bytes((bits.size() + 7) / 8, 0);
  for (size_t i = 0; i < bits.size(); ++i)
    if (bits[i]) bytes[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
  return base64_encode(bytes);
}

std::string pack_floats(const std::vector<float>& values) {
  std::vector<uint8_t> bytes;
  bytes.reserve(values.size() * 4);
  for (float v : values) {
    uint32_t u = 0;
    std::memcpy(&u, &v, 4);
    for (int k = 0; k < 4; ++k) bytes.push_back(static_cast<uint8_t>(u >> (8 * k)));
  }
  return base64_encode(bytes);
}

std::vector<uint8_t> unpack_bits(const std::string& packed, int64_t n, const std::string& what) {
  try {
    auto bits = decode_bits(packed);
    fit_bits(bits, n);
    return bits;
  } catch (const FieldError& e) {
    throw Error(what + ": " + e.what());
  }
}

std::vector<float> unpack_floats(const std::string& packed) {
  std::vector<uint8_t> bytes;
  try {
    bytes = base64_decode(packed);
  } catch (const FieldError&) {
    throw FieldError("packed float32 values are not valid base64");
  }
  if (bytes.size() % 4 != 0) throw FieldError("packed float32 values are not a whole number of values");
  std::vector<float> values(bytes.size() / 4);
  for (size_t i = 0; i < values.size(); ++i) {
    uint32_t u = 0;
    for (int k = 0; k < 4; ++k) u |= static_cast<uint32_t>(bytes[4 * i + static_cast<size_t>(k)]) << (8 * k);
    std::memcpy(&values[i], &u, 4);
  }
  return values;
}

std::vector<float> unpack_floats(const std::string& packed, int64_t n) {
  auto values = unpack_floats(packed);
  if (static_cast<int64_t>(values.size()) != n) {
    std::ostringstream message;
    message << "packed float32 values hold " << values.size() << " samples, expected " << n;
    throw FieldError(message.str());
  }
  return values;
}

}  // namespace questbench
