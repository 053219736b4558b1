#pragma once
// Configuration: YAML files checked against a strict schema, plus command-line overrides.
//
// Every key a tool accepts is declared once in a Schema with its type, default, allowed range
// or choices, and a help line. Loading a file rejects unknown keys, wrong types and values out
// of range with "file:line: key 'a.b': ..." so a typo never silently falls back to a default.
// Overrides are "a.b=value" arguments, checked the same way. The effective configuration (every
// key, with where its value came from) is what runs save next to their output.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace cxr::config {

enum class Type { Int, Float, Bool, String };

struct Key {
  std::string path;           // "split.val_fraction"
  Type type = Type::String;
  std::string default_value;  // as it would be written in YAML
  std::optional<double> min;  // inclusive bounds for Int and Float
  std::optional<double> max;
  std::vector<std::string> choices;  // allowed values for String, when not empty
  std::string help;
};

class Schema {
 public:
  Schema& add(Key key);
  const Key* find(const std::string& path) const;
  const std::vector<Key>& keys() const { return keys_; }

 private:
  std::vector<Key> keys_;
};

class Config {
 public:
  explicit Config(const Schema& schema);  // every key at its default

  // Reads a YAML file (InputError with file:line on any problem).
  void load_file(const std::string& path);
  // The same from YAML text (a config saved inside a checkpoint); `source` names it in messages.
  void load_text(const std::string& yaml, const std::string& source);
  // Applies "a.b=value" (InputError naming the argument on any problem).
  void apply_override(const std::string& assignment);
  // Sets one key from a convenience flag; `source` says where it came from ("--size").
  void set(const std::string& path, const std::string& value, const std::string& source);

  std::int64_t get_int(const std::string& path) const;
  double get_float(const std::string& path) const;
  bool get_bool(const std::string& path) const;
  const std::string& get_string(const std::string& path) const;
  const std::string& source(const std::string& path) const;
  const std::string& text(const std::string& path) const;  // any key's value as written

  std::string to_yaml() const;        // nested YAML of the effective values
  nlohmann::json to_json() const;      // the same, as JSON

 private:
  struct Value {
    std::string text;
    std::string source;
  };
  const Key& key_or_throw(const std::string& path, const std::string& where) const;
  void set_checked(const Key& key, const std::string& text, const std::string& where);
  const Value& value(const std::string& path, Type type) const;

  const Schema* schema_;
  std::map<std::string, Value> values_;
};

// Loads defaults, then `file` (if not empty), then `overrides`, in that order.
Config load(const Schema& schema, const std::string& file, const std::vector<std::string>& overrides);

}  // namespace cxr::config
