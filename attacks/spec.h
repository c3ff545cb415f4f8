// Attack spec strings: an attack and its own options as one line of text, "pgd:steps=10,alpha=2/255".
// The text an attack prints for itself (Attack::spec) parses back to the same attack, so the spec is the
// attack's identity in reports, journals and comparisons.
//
//   AttackSpec spec = parse_attack_spec("pgd:steps=20,alpha=1/255");
//   SpecReader read(spec);                      // an attack's factory takes its options from it
//   int steps = read.integer("steps", 10, 1);   // default 10, at least 1
//   read.finish();                              // an option nobody took is an error naming the valid ones
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

namespace questbench {

struct AttackSpec {
  std::string name;
  std::vector<std::pair<std::string, std::string>> options;  // in the order written
};

// "name" or "name:key=value,key=value"; throws UsageError naming the spec for empty names/keys/values or a
// key given twice.
AttackSpec parse_attack_spec(const std::string& text);
// A comma-separated list of specs: an item with '=' and no ':' continues the spec before it, so
// "fgsm,pgd:steps=20,alpha=1/255,pgd-l2" is three specs.
std::vector<std::string> split_attack_specs(const std::string& text);

// A fraction or decimal as written ("2/255", "0.5") and its value.
struct Fraction {
  double value = 0;
  std::string text;
};
// Parses "8/255" or "0.03"; throws UsageError "<what> '<text>': ..." for anything else, negative or non-finite values,
// or values above max_value.
Fraction parse_fraction(const std::string& text, const std::string& what, double max_value);

// The shortest decimal that reads back as the same double, so a printed spec parses to the same value.
std::string shortest_decimal(double value);

// Typed access to a spec's options with defaults; remembers which keys were taken.
class SpecReader {
 public:
  explicit SpecReader(AttackSpec spec);
  int integer(const std::string& key, int fallback, int min_value);
  Fraction fraction(const std::string& key, const Fraction& fallback, double max_value);
  bool flag(const std::string& key, bool fallback);  // 1|0|true|false
  std::string choice(const std::string& key, const std::string& fallback, const std::vector<std::string>& valid);
  void finish() const;  // throws UsageError for options no attack option took

 private:
  const std::string* find(const std::string& key);
  AttackSpec spec_;
  std::vector<std::string> known_;
};

// Canonical text: name, then key=value in the given order.
std::string format_attack_spec(const std::string& name, const std::vector<std::pair<std::string, std::string>>& options);

}  // namespace questbench
