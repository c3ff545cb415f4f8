#include "attacks/spec.h"

#include "common/error.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace questbench {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

double parse_number(const std::string& text, const std::string& what, const std::string& item) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw UsageError(what + " '" + item + "': not a number or fraction like 8/255");
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, sep)) out.push_back(trim(item));
  if (!text.empty() && text.back() == sep) out.push_back("");
  return out;
}

}  // namespace

AttackSpec parse_attack_spec(const std::string& text) {
  AttackSpec spec;
  const auto colon = text.find(':');
  spec.name = trim(text.substr(0, colon));
  QB_USAGE_CHECK(!spec.name.empty(), "attack spec '" << text << "': no attack name");
  if (colon == std::string::npos) return spec;
  for (const auto& item : split(text.substr(colon + 1), ',')) {
    const auto eq = item.find('=');
    QB_USAGE_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < item.size(),
                   "attack spec '" << text << "': '" << item << "' is not key=value");
    const auto key = trim(item.substr(0, eq)), value = trim(item.substr(eq + 1));
    for (const auto& [k, v] : spec.options) QB_USAGE_CHECK(k != key, "attack spec '" << text << "': " << key << " given twice");
    spec.options.emplace_back(key, value);
  }
  return spec;
}

std::vector<std::string> split_attack_specs(const std::string& text) {
  std::vector<std::string> specs;
  for (const auto& item : split(text, ',')) {
    QB_USAGE_CHECK(!item.empty(), "--attacks '" << text << "': empty item");
    const bool continues = item.find('=') != std::string::npos && item.find(':') == std::string::npos;
    QB_USAGE_CHECK(!continues || !specs.empty(), "--attacks '" << text << "': '" << item << "' has no attack before it");
    if (continues) specs.back() += "," + item;
    else specs.push_back(item);
  }
  QB_USAGE_CHECK(!specs.empty(), "--attacks: no attacks given");
  return specs;
}

Fraction parse_fraction(const std::string& raw, const std::string& what, double max_value) {
  const std::string item = trim(raw);
  QB_USAGE_CHECK(!item.empty(), what << " '" << raw << "': empty item");
  double value;
  const auto slash = item.find('/');
  if (slash != std::string::npos) {
    const double num = parse_number(trim(item.substr(0, slash)), what, item);
    const double den = parse_number(trim(item.substr(slash + 1)), what, item);
    QB_USAGE_CHECK(den != 0, what << " '" << item << "': division by zero");
    value = num / den;
  } else {
    value = parse_number(item, what, item);
  }
  QB_USAGE_CHECK(std::isfinite(value), what << " '" << item << "': not a finite number");
  QB_USAGE_CHECK(value >= 0, what << " '" << item << "': must be >= 0");
  QB_USAGE_CHECK(value <= max_value, what << " '" << item << "' = " << value << " exceeds " << max_value
                                          << (max_value == 1.0 ? " (inputs are in [0,1]; did you mean " + item + "/255?)" : ""));
  return {value, item};
}

std::string shortest_decimal(double v) {
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

SpecReader::SpecReader(AttackSpec spec) : spec_(std::move(spec)) {}

const std::string* SpecReader::find(const std::string& key) {
  known_.push_back(key);
  for (const auto& [k, v] : spec_.options)
    if (k == key) return &v;
  return nullptr;
}

int SpecReader::integer(const std::string& key, int fallback, int min_value) {
  const auto* text = find(key);
  if (!text) return fallback;
  const std::string what = spec_.name + " option " + key;
  int value = 0;
  try {
    size_t used = 0;
    value = std::stoi(*text, &used);
    QB_USAGE_CHECK(used == text->size(), what << " '" << *text << "': not an integer");
  } catch (const std::logic_error&) {
    throw UsageError(what + " '" + *text + "': not an integer");
  }
  QB_USAGE_CHECK(value >= min_value, what << " '" << *text << "': must be >= " << min_value);
  return value;
}

Fraction SpecReader::fraction(const std::string& key, const Fraction& fallback, double max_value) {
  const auto* text = find(key);
  return text ? parse_fraction(*text, spec_.name + " option " + key, max_value) : fallback;
}

bool SpecReader::flag(const std::string& key, bool fallback) {
  const auto* text = find(key);
  if (!text) return fallback;
  if (*text == "1" || *text == "true") return true;
  if (*text == "0" || *text == "false") return false;
  throw UsageError(spec_.name + " option " + key + " '" + *text + "': expected 1, 0, true or false");
}

std::string SpecReader::choice(const std::string& key, const std::string& fallback, const std::vector<std::string>& valid) {
  const auto* text = find(key);
  if (!text) return fallback;
  std::string list;
  for (const auto& v : valid) {
    if (v == *text) return v;
    list += (list.empty() ? "" : ", ") + v;
  }
  throw UsageError(spec_.name + " option " + key + " '" + *text + "': unknown (valid: " + list + ")");
}

void SpecReader::finish() const {
  for (const auto& [key, value] : spec_.options) {
    bool taken = false;
    for (const auto& k : known_) taken |= k == key;
    if (taken) continue;
    std::string list;
    for (const auto& k : known_) list += (list.empty() ? "" : ", ") + k;
    throw UsageError("attack " + spec_.name + ": unknown option '" + key + "' (valid: " + (list.empty() ? "none" : list) + ")");
  }
}

std::string format_attack_spec(const std::string& name, const std::vector<std::pair<std::string, std::string>>& options) {
  std::string text = name;
  for (size_t i = 0; i < options.size(); ++i) text += (i ? "," : ":") + options[i].first + "=" + options[i].second;
  return text;
}

}  // namespace questbench
