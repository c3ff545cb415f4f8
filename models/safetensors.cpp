#include "models/safetensors.h"

#include "common/error.h"
#include "common/files.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

namespace questbench {
namespace {

struct DtypeInfo {
  const char* name;
  torch::ScalarType type;
  int64_t size;
};

const std::vector<DtypeInfo>& dtype_table() {
  static const std::vector<DtypeInfo> table = {
      {"F64", torch::kDouble, 8}, {"F32", torch::kFloat, 4},  {"F16", torch::kHalf, 2},
      {"BF16", torch::kBFloat16, 2}, {"I64", torch::kLong, 8}, {"I32", torch::kInt, 4},
      {"I16", torch::kShort, 2},  {"I8", torch::kChar, 1},    {"U8", torch::kByte, 1},
      {"BOOL", torch::kBool, 1}};
  return table;
}

const DtypeInfo* find_dtype(const std::string& name) {
  for (const auto& d : dtype_table())
    if (name == d.name) return &d;
  return nullptr;
}

const DtypeInfo* find_dtype(torch::ScalarType type) {
  for (const auto& d : dtype_table())
    if (type == d.type) return &d;
  return nullptr;
}

constexpr uint64_t kMaxHeaderBytes = 100u * 1024u * 1024u;

}  // namespace

const torch::Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const auto& [key, tensor] : tensors)
    if (key == name) return &tensor;
  return nullptr;
}

SafetensorsFile read_safetensors(const std::string& path) {
  const std::string bytes = read_file_bytes(path);
  QB_CHECK(bytes.size() >= 8, path << ": not a safetensors file (" << bytes.size() << " bytes, shorter than the 8-byte header length)");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(bytes[i]);
  QB_CHECK(header_len <= kMaxHeaderBytes, path << ": safetensors header length " << header_len << " is implausible (corrupt file?)");
  QB_CHECK(header_len <= bytes.size() - 8, path << ": truncated safetensors file (header says " << header_len
                                                << " bytes, file has " << bytes.size() - 8 << " after the length)");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header_len));
  } catch (const std::exception& e) {
    throw Error(path + ": safetensors header is not valid JSON");
  }
  QB_CHECK(header.is_object(), path << ": safetensors header is not a JSON object");
  const uint64_t data_begin = 8 + header_len;
  const uint64_t data_size = bytes.size() - data_begin;

  SafetensorsFile file;
  struct Entry {
    std::string name;
    const DtypeInfo* dtype;
    std::vector<int64_t> shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& value = it.value();
    if (name == "__metadata__") {
      QB_CHECK(value.is_object(), path << ": __metadata__ must be an object of strings");
      for (auto m = value.begin(); m != value.end(); ++m) {
        QB_CHECK(m.value().is_string(), path << ": __metadata__ value '" << m.key() << "' is not a string");
        file.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    QB_CHECK(value.is_object() && value.contains("dtype") && value.contains("shape") && value.contains("data_offsets"),
             path << ": tensor '" << name << "' lacks dtype, shape or data_offsets");
    QB_CHECK(value["dtype"].is_string(), path << ": tensor '" << name << "' dtype is not a string");
    const std::string dtype_name = value["dtype"].get<std::string>();
    const DtypeInfo* dtype = find_dtype(dtype_name);
    QB_CHECK(dtype, path << ": tensor '" << name << "' has unsupported dtype " << dtype_name);
    const auto& shape_json = value["shape"];
    QB_CHECK(shape_json.is_array(), path << ": tensor '" << name << "' shape is not an array");
    std::vector<int64_t> shape;
    uint64_t numel = 1;
    for (const auto& d : shape_json) {
      QB_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0),
               path << ": tensor '" << name << "' has a negative or non-integer dimension");
      const uint64_t dim = d.get<uint64_t>();
      QB_CHECK(dim <= data_size && (dim == 0 || numel <= std::numeric_limits<uint64_t>::max() / dim),
               path << ": tensor '" << name << "' shape is implausibly large");
      numel *= dim;
      shape.push_back(static_cast<int64_t>(dim));
    }
    const auto& offsets = value["data_offsets"];
    QB_CHECK(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() && offsets[1].is_number_unsigned(),
             path << ": tensor '" << name << "' data_offsets must be two non-negative integers");
    const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    QB_CHECK(begin <= end && end <= data_size, path << ": tensor '" << name << "' data_offsets [" << begin << ", " << end
                                                    << ") lie outside the " << data_size << "-byte data section (truncated file?)");
    QB_CHECK(numel <= std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(dtype->size) &&
                 end - begin == numel * static_cast<uint64_t>(dtype->size),
             path << ": tensor '" << name << "' has " << end - begin << " bytes, its shape and dtype need "
                  << numel * static_cast<uint64_t>(dtype->size));
    entries.push_back({name, dtype, shape, begin, end});
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < entries.size(); ++i) {
    QB_CHECK(entries[i].begin >= entries[i - 1].end,
             path << ": tensors '" << entries[i - 1].name << "' and '" << entries[i].name << "' overlap");
  }
  for (const auto& e : entries) {
    auto tensor = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype->type));
    if (e.end > e.begin) std::memcpy(tensor.data_ptr(), bytes.data() + data_begin + e.begin, e.end - e.begin);
    file.tensors.emplace_back(e.name, tensor);
  }
  return file;
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // An object from the start: with no tensors and no metadata a default json would dump as `null`, a header the
  // reader (rightly) refuses.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> cpu;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    QB_CHECK(names.insert(name).second, path << ": duplicate tensor name '" << name << "'");
    QB_CHECK(name != "__metadata__", path << ": '__metadata__' is not a valid tensor name");
    const DtypeInfo* dtype = find_dtype(tensor.scalar_type());
    QB_CHECK(dtype, path << ": tensor '" << name << "' has a dtype safetensors cannot store here");
    auto t = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * static_cast<uint64_t>(dtype->size);
    header[name] = {{"dtype", dtype->name}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    cpu.push_back(t);
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + header_text.size() + offset);
  const uint64_t header_len = header_text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((header_len >> (8 * i)) & 0xff));
  out += header_text;
  for (const auto& t : cpu) out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  write_file_atomic(path, out);
}

}  // namespace questbench
