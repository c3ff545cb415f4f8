// The field-list machinery of the report files (private to reports/): a type's `*_fields(io, value)` names every
// field once, in file order; FieldWriter puts the fields into a JSON object and FieldReader takes them out of
// one, so the two directions cannot drift apart. Reading fails the way nlohmann's at()/get() fail (missing key,
// wrong type), which the readers turn into one line naming the file.
#pragma once

#include "reports/format.h"
#include "reports/serialize.h"

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace questbench::json_fields {

inline Json finite_or_null_json(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }
inline double nan_if_null(const Json& j) {
  return j.is_null() ? std::numeric_limits<double>::quiet_NaN() : j.get<double>();
}

class FieldWriter {
 public:
  static constexpr bool reading = false;
  explicit FieldWriter(Json& j) : j_(j) { j_ = Json::object(); }

  template <class T>
  void operator()(const char* key, const T& value) { j_[key] = value; }
  // The reader's fallback for a key that older reports lack; the writer always writes it.
  template <class T>
  void optional(const char* key, const T& value, const T& /*fallback*/) { j_[key] = value; }
  // A value < 0 means undefined and is written as null.
  void nullable(const char* key, double value) { j_[key] = value < 0 ? Json(nullptr) : Json(value); }
  // Per-sample 0/1 of n samples, bit-packed.
  void bits(const char* key, const std::vector<uint8_t>& mask, int64_t /*n*/) { j_[key] = pack_bits(mask); }
  void all_bits(const char* key, const std::vector<uint8_t>& mask) { j_[key] = pack_bits(mask); }
  // An array read element by element (as a range, like the readers always did).
  template <class T>
  void list(const char* key, const std::vector<T>& values) { j_[key] = values; }
  template <class F>
  void object(const char* key, F&& fields) {
    Json sub;
    FieldWriter w(sub);
    fields(w);
    j_[key] = std::move(sub);
  }
  // Written for readers of the file (humans, other tools) and not read back.
  template <class F>
  void derived(const char* key, F&& value) { j_[key] = value(); }
  // NaN and infinities are not JSON: written as null and read back as NaN.
  void finite_or_null(const char* key, double value) { j_[key] = finite_or_null_json(value); }
  void finite_or_null_list(const char* key, const std::vector<double>& values) {
    Json a = Json::array();
    for (double v : values) a.push_back(finite_or_null_json(v));
    j_[key] = std::move(a);
  }
  // Fields without a plain counterpart in the struct.
  void set(const char* key, Json value) { j_[key] = std::move(value); }

 private:
  Json& j_;
};

class FieldReader {
 public:
  static constexpr bool reading = true;
  explicit FieldReader(const Json& j) : j_(j) {}

  template <class T>
  void operator()(const char* key, T& value) { j_.at(key).get_to(value); }
  template <class T>
  void optional(const char* key, T& value, const T& fallback) { value = j_.value(key, fallback); }
  void nullable(const char* key, double& value) {
    const Json& v = j_.at(key);
    value = v.is_null() ? -1.0 : v.get<double>();
  }
  void bits(const char* key, std::vector<uint8_t>& mask, int64_t n) {
    mask = decode_bits(j_.at(key).get<std::string>());
    fit_bits(mask, n);
  }
  void all_bits(const char* key, std::vector<uint8_t>& mask) { mask = decode_bits(j_.at(key).get<std::string>()); }
  template <class T>
  void list(const char* key, std::vector<T>& values) {
    for (const auto& e : j_.at(key)) values.push_back(e.get<T>());
  }
  template <class F>
  void object(const char* key, F&& fields) {
    FieldReader r(j_.at(key));
    fields(r);
  }
  template <class F>
  void derived(const char* /*key*/, F&& /*value*/) {}
  void finite_or_null(const char* key, double& value) { value = nan_if_null(j_.at(key)); }
  void finite_or_null_list(const char* key, std::vector<double>& values) {
    for (const auto& e : j_.at(key)) values.push_back(nan_if_null(e));
  }
  const Json& at(const char* key) const { return j_.at(key); }
  bool has(const char* key) const { return j_.contains(key); }

 private:
  const Json& j_;
};

}  // namespace questbench::json_fields

// to_json and from_json of Type from one field list (in a .cpp, inside namespace questbench).
#define QB_JSON_FIELDS(Type, fields_fn)                                      \
  void to_json(Json& j, const Type& v) {                                     \
    json_fields::FieldWriter w(j);                                                        \
    fields_fn(w, v);                                                         \
  }                                                                          \
  void from_json(const Json& j, Type& v) {                                   \
    json_fields::FieldReader r(j);                                                        \
    fields_fn(r, v);                                                         \
  }
