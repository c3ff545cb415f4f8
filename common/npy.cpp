#include "common/npy.h"

#include "common/error.h"
#include "common/files.h"

#include <torch/torch.h>
#include <zlib.h>

#include <sstream>

#include <algorithm>
#include <cstring>
#include <fstream>

namespace questbench {
namespace {

struct DtypeEntry {
  char kind;
  int64_t size;
  torch::ScalarType type;
};

// Supported (kind, size) pairs; unsigned 16/32/64-bit load into the next wider signed type.
const DtypeEntry* find_entry(char kind, int64_t size) {
  static const DtypeEntry table[] = {
      {'u', 1, torch::kByte}, {'i', 1, torch::kChar},  {'b', 1, torch::kBool},   {'i', 2, torch::kShort},
      {'u', 2, torch::kInt},  {'i', 4, torch::kInt},   {'u', 4, torch::kLong},   {'i', 8, torch::kLong},
      {'u', 8, torch::kLong}, {'f', 2, torch::kHalf},  {'f', 4, torch::kFloat},  {'f', 8, torch::kDouble}};
  for (const auto& e : table)
    if (e.kind == kind && e.size == size) return &e;
  return nullptr;
}

// Finds the value text after 'key': in the header dict.
std::string dict_value(const std::string& header, const std::string& key, const std::string& path) {
  const std::string needle = "'" + key + "'";
  auto pos = header.find(needle);
  QB_CHECK(pos != std::string::npos, path << ": .npy header has no '" << key << "' entry");
  pos = header.find(':', pos + needle.size());
  QB_CHECK(pos != std::string::npos, path << ": malformed .npy header near '" << key << "'");
  ++pos;
  while (pos < header.size() && header[pos] == ' ') ++pos;
  if (pos < header.size() && header[pos] == '(') {
    auto end = header.find(')', pos);
    QB_CHECK(end != std::string::npos, path << ": malformed shape in the .npy header");
    return header.substr(pos, end - pos + 1);
  }
  if (pos < header.size() && (header[pos] == '\'' || header[pos] == '"')) {
    auto end = header.find(header[pos], pos + 1);
    QB_CHECK(end != std::string::npos, path << ": malformed '" << key << "' in the .npy header");
    return header.substr(pos + 1, end - pos - 1);
  }
  auto end = header.find_first_of(",}", pos);
  QB_CHECK(end != std::string::npos, path << ": malformed '" << key << "' in the .npy header");
  auto value = header.substr(pos, end - pos);
  while (!value.empty() && value.back() == ' ') value.pop_back();
  return value;
}

void swap_bytes(void* data, int64_t count, int64_t item_size) {
  auto* p = static_cast<uint8_t*>(data);
  for (int64_t i = 0; i < count; ++i, p += item_size) std::reverse(p, p + item_size);
}

torch::Tensor decode(const std::string& path, const NpyHeader& h, const char* bytes, int64_t count,
                     std::vector<int64_t> shape) {
  const DtypeEntry* e = find_entry(h.descr[1], h.item_size);
  std::vector<char> raw(bytes, bytes + count * h.item_size);
  if (h.byteswap) swap_bytes(raw.data(), count, h.item_size);
  torch::Tensor out;
  auto widen = [&](auto tag, torch::ScalarType to) {
    using Src = decltype(tag);
    auto t = torch::empty({count}, torch::TensorOptions().dtype(to));
    const auto* src = reinterpret_cast<const Src*>(raw.data());
    if (to == torch::kInt) {
      auto* dst = t.data_ptr<int32_t>();
      for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<int32_t>(src[i]);
    } else {
      auto* dst = t.data_ptr<int64_t>();
      for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<int64_t>(src[i]);
    }
    return t;
  };
  if (e->kind == 'u' && e->size == 2) {
    out = widen(uint16_t{}, torch::kInt);
  } else if (e->kind == 'u' && e->size == 4) {
    out = widen(uint32_t{}, torch::kLong);
  } else if (e->kind == 'u' && e->size == 8) {
    const auto* src = reinterpret_cast<const uint64_t*>(raw.data());
    for (int64_t i = 0; i < count; ++i)
      QB_CHECK(src[i] <= static_cast<uint64_t>(INT64_MAX), path << ": uint64 value too large for int64");
    out = widen(uint64_t{}, torch::kLong);
  } else {
    out = torch::empty({count}, torch::TensorOptions().dtype(e->type));
    if (count > 0) std::memcpy(out.data_ptr(), raw.data(), count * h.item_size);
  }
  if (h.fortran_order) {
    std::vector<int64_t> reversed(shape.rbegin(), shape.rend());
    std::vector<int64_t> perm;
    for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) perm.push_back(i);
    return out.view(reversed).permute(perm).contiguous();
  }
  return out.view(shape);
}

// Parses and checks the header dict (the text after the magic, version and length) of an .npy held in a file or
// in memory: one set of checks for both readers. Sets everything but data_offset; `count` gets the element
// count (bounded, so count * item_size cannot overflow) and `shape` the shape as written, for messages.
NpyHeader parse_header_dict(const std::string& header, const std::string& what, int64_t& count, std::string& shape) {
  QB_CHECK(header.find('{') != std::string::npos && header.find('}') != std::string::npos,
           what << ": malformed .npy header (no dict)");

  NpyHeader h;
  h.descr = dict_value(header, "descr", what);
  QB_CHECK(h.descr.size() >= 3, what << ": unsupported dtype '" << h.descr << "'");
  const char order = h.descr[0];
  QB_CHECK(order == '<' || order == '>' || order == '|' || order == '=',
           what << ": unsupported dtype '" << h.descr << "' (structured or unknown byte order)");
  int64_t size = 0;
  try {
    size = std::stoll(h.descr.substr(2));
  } catch (const std::exception&) {
    throw Error(what + ": unsupported dtype '" + h.descr + "'");
  }
  const DtypeEntry* e = find_entry(h.descr[1], size);
  QB_CHECK(e && h.descr.find_first_not_of("0123456789", 2) == std::string::npos,
           what << ": unsupported dtype '" << h.descr << "' (supported: bool, int8..int64, uint8..uint64, float16/32/64)");
  h.item_size = size;
  h.dtype = e->type;
  h.byteswap = order == '>' && size > 1;
  const std::string fortran = dict_value(header, "fortran_order", what);
  QB_CHECK(fortran == "True" || fortran == "False", what << ": malformed fortran_order '" << fortran << "'");
  h.fortran_order = fortran == "True";
  shape = dict_value(header, "shape", what);
  QB_CHECK(shape.size() >= 2 && shape.front() == '(' && shape.back() == ')', what << ": malformed shape '" << shape << "'");
  std::string inner = shape.substr(1, shape.size() - 2);
  size_t pos = 0;
  while (pos < inner.size()) {
    auto comma = inner.find(',', pos);
    std::string item = inner.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    item.erase(std::remove(item.begin(), item.end(), ' '), item.end());
    item.erase(std::remove(item.begin(), item.end(), 'L'), item.end());
    if (!item.empty()) {
      QB_CHECK(item.find_first_not_of("0123456789") == std::string::npos, what << ": malformed shape '" << shape << "'");
      // 18 digits always fit an int64 (std::stoll would throw std::out_of_range past that); a dimension that
      // long is implausible anyway.
      QB_CHECK(item.size() <= 18, what << ": implausible shape " << shape);
      h.shape.push_back(std::stoll(item));
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  count = 1;
  for (auto d : h.shape) {
    QB_CHECK(d == 0 || count <= (int64_t(1) << 50) / d, what << ": implausible shape " << shape);
    count *= d;
  }
  return h;
}

}  // namespace

NpyHeader read_npy_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  QB_CHECK(in, path << ": cannot open (missing or unreadable)");
  char magic[8];
  in.read(magic, 8);
  QB_CHECK(in.gcount() == 8 && std::memcmp(magic, "\x93NUMPY", 6) == 0, path << ": not a .npy file (bad magic)");
  const int major = static_cast<uint8_t>(magic[6]);
  QB_CHECK(major >= 1 && major <= 3, path << ": unsupported .npy format version " << major << "." << int(uint8_t(magic[7])));
  uint64_t header_len = 0;
  if (major == 1) {
    uint8_t b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    QB_CHECK(in.gcount() == 2, path << ": truncated .npy header");
    header_len = b[0] | (uint64_t(b[1]) << 8);
  } else {
    uint8_t b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    QB_CHECK(in.gcount() == 4, path << ": truncated .npy header");
    header_len = b[0] | (uint64_t(b[1]) << 8) | (uint64_t(b[2]) << 16) | (uint64_t(b[3]) << 24);
  }
  QB_CHECK(header_len < (1u << 24), path << ": implausible .npy header length " << header_len);
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  QB_CHECK(static_cast<uint64_t>(in.gcount()) == header_len, path << ": truncated .npy header");
  int64_t count = 0;
  std::string shape;
  NpyHeader h = parse_header_dict(header, path, count, shape);
  h.data_offset = static_cast<int64_t>((major == 1 ? 10 : 12) + header_len);
  in.seekg(0, std::ios::end);
  const int64_t file_size = static_cast<int64_t>(in.tellg());
  QB_CHECK(file_size - h.data_offset >= count * h.item_size,
           path << ": truncated .npy data (" << file_size - h.data_offset << " bytes, shape " << shape << " needs "
                << count * h.item_size << ")");
  return h;
}

torch::Tensor parse_npy(const std::string& bytes, const std::string& what) {
  // Reuse the file reader's validation by parsing the header from a temporary view of the bytes.
  QB_CHECK(bytes.size() >= 10 && std::memcmp(bytes.data(), "\x93NUMPY", 6) == 0, what << ": not a .npy array (bad magic)");
  const int major = static_cast<uint8_t>(bytes[6]);
  QB_CHECK(major >= 1 && major <= 3, what << ": unsupported .npy format version " << major);
  const size_t len_bytes = major == 1 ? 2 : 4;
  QB_CHECK(bytes.size() >= 8 + len_bytes, what << ": truncated .npy header");
  uint64_t header_len = 0;
  for (size_t i = 0; i < len_bytes; ++i) header_len |= uint64_t(uint8_t(bytes[8 + i])) << (8 * i);
  QB_CHECK(8 + len_bytes + header_len <= bytes.size(), what << ": truncated .npy header");
  const std::string header = bytes.substr(8 + len_bytes, header_len);
  // The same header checks as the file reader (this parser once had looser ones of its own that let
  // malformed shapes and dtypes through to std::out_of_range and overflowing element counts).
  int64_t count = 0;
  std::string shape;
  const NpyHeader h = parse_header_dict(header, what, count, shape);
  const size_t offset = 8 + len_bytes + header_len;
  QB_CHECK(bytes.size() - offset >= static_cast<size_t>(count * h.item_size),
           what << ": truncated .npy data (" << bytes.size() - offset << " bytes, shape " << shape << " needs "
                << count * h.item_size << ")");
  return decode(what, h, bytes.data() + offset, count, h.shape);
}

std::map<std::string, torch::Tensor> read_npz(const std::string& path) {
  const std::string zip = read_file_bytes(path);
  auto u16 = [&](size_t o) { return uint32_t(uint8_t(zip[o])) | (uint32_t(uint8_t(zip[o + 1])) << 8); };
  auto u32 = [&](size_t o) { return u16(o) | (u16(o + 2) << 16); };
  // Walk the central directory (sizes there are always right, even when local headers defer them).
  QB_CHECK(zip.size() >= 22, path << ": not an .npz archive (too short)");
  size_t eocd = std::string::npos;
  for (size_t i = zip.size() - 22 + 1; i-- > 0 && zip.size() - i <= 22 + 65535;) {
    if (u32(i) == 0x06054b50) {
      eocd = i;
      break;
    }
  }
  QB_CHECK(eocd != std::string::npos, path << ": not an .npz archive (no zip directory)");
  const uint32_t entries = u16(eocd + 10);
  size_t cd = u32(eocd + 16);
  std::map<std::string, torch::Tensor> arrays;
  for (uint32_t k = 0; k < entries; ++k) {
    QB_CHECK(cd + 46 <= zip.size() && u32(cd) == 0x02014b50, path << ": corrupt zip directory");
    const uint32_t method = u16(cd + 10);
    uint64_t compressed = u32(cd + 20), uncompressed = u32(cd + 24);
    const uint32_t name_len = u16(cd + 28), extra_len = u16(cd + 30), comment_len = u16(cd + 32);
    uint64_t local = u32(cd + 42);
    QB_CHECK(compressed != 0xffffffffu && uncompressed != 0xffffffffu && local != 0xffffffffu,
             path << ": zip64 archives are not supported");
    std::string name = zip.substr(cd + 46, name_len);
    cd += 46 + name_len + extra_len + comment_len;
    QB_CHECK(local + 30 <= zip.size() && u32(local) == 0x04034b50, path << ": corrupt zip member " << name);
    const size_t data = local + 30 + u16(local + 26) + u16(local + 28);
    QB_CHECK(data + compressed <= zip.size(), path << ": truncated zip member " << name);
    std::string member;
    if (method == 0) {
      member = zip.substr(data, compressed);
    } else {
      QB_CHECK(method == 8, path << ": zip member " << name << " uses unsupported compression " << method);
      // The size is allocated before inflating: deflate never shrinks data more than 1032:1, so a larger claim
      // is a corrupt directory (it would otherwise allocate up to 4 GiB for a few bytes of input).
      QB_CHECK(uncompressed <= (compressed + 1) * 1032,
               path << ": zip member " << name << " claims an implausible uncompressed size " << uncompressed << " for "
                    << compressed << " compressed bytes (corrupt archive?)");
      member.resize(uncompressed);
      z_stream stream{};
      QB_CHECK(inflateInit2(&stream, -MAX_WBITS) == Z_OK, path << ": zlib initialisation failed");
      stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zip.data() + data));
      stream.avail_in = static_cast<uInt>(compressed);
      stream.next_out = reinterpret_cast<Bytef*>(member.data());
      stream.avail_out = static_cast<uInt>(uncompressed);
      const int status = inflate(&stream, Z_FINISH);
      inflateEnd(&stream);
      QB_CHECK(status == Z_STREAM_END && stream.total_out == uncompressed, path << ": corrupt deflate data in " << name);
    }
    if (name.size() > 4 && name.substr(name.size() - 4) == ".npy") name.resize(name.size() - 4);
    arrays[name] = parse_npy(member, path + ":" + name);
  }
  return arrays;
}

torch::Tensor read_npy(const std::string& path) {
  NpyHeader h = read_npy_header(path);
  int64_t count = 1;
  for (auto d : h.shape) count *= d;
  std::ifstream in(path, std::ios::binary);
  in.seekg(h.data_offset);
  std::vector<char> bytes(static_cast<size_t>(count * h.item_size));
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  QB_CHECK(in.gcount() == static_cast<std::streamsize>(bytes.size()), path << ": truncated .npy data");
  return decode(path, h, bytes.data(), count, h.shape);
}

torch::Tensor read_npy_rows(const std::string& path, const NpyHeader& h, int64_t begin, int64_t end) {
  QB_CHECK(!h.fortran_order, path << ": row reads need a C-order array (this one is Fortran-order)");
  QB_CHECK(!h.shape.empty(), path << ": a 0-d array has no rows");
  QB_CHECK(0 <= begin && begin <= end && end <= h.shape[0],
           path << ": rows [" << begin << ", " << end << ") out of range (" << h.shape[0] << " rows)");
  int64_t row = 1;
  for (size_t i = 1; i < h.shape.size(); ++i) row *= h.shape[i];
  const int64_t count = (end - begin) * row;
  std::ifstream in(path, std::ios::binary);
  QB_CHECK(in, path << ": cannot open");
  in.seekg(h.data_offset + begin * row * h.item_size);
  std::vector<char> bytes(static_cast<size_t>(count * h.item_size));
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  QB_CHECK(in.gcount() == static_cast<std::streamsize>(bytes.size()), path << ": truncated .npy data");
  std::vector<int64_t> shape = h.shape;
  shape[0] = end - begin;
  return decode(path, h, bytes.data(), count, shape);
}

void write_npy(const std::string& path, const torch::Tensor& tensor) {
  auto t = tensor.detach().to(torch::kCPU).contiguous();
  std::string descr;
  switch (t.scalar_type()) {
    case torch::kFloat: descr = "<f4"; break;
    case torch::kDouble: descr = "<f8"; break;
    case torch::kByte: descr = "|u1"; break;
    case torch::kChar: descr = "|i1"; break;
    case torch::kLong: descr = "<i8"; break;
    case torch::kInt: descr = "<i4"; break;
    case torch::kShort: descr = "<i2"; break;
    case torch::kHalf: descr = "<f2"; break;
    case torch::kBool: descr = "|b1"; break;
    default: throw Error(path + ": cannot write dtype " + std::string(c10::toString(t.scalar_type())) + " as .npy");
  }
  std::string shape = "(";
  for (int64_t i = 0; i < t.dim(); ++i) shape += std::to_string(t.size(i)) + (t.dim() == 1 ? "," : (i + 1 < t.dim() ? ", " : ""));
  shape += ")";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>((header.size() >> 8) & 0xff));
  out += header;
  out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  write_file_atomic(path, out);
}

}  // namespace questbench
