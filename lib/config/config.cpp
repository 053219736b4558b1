#include "config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.hpp"
#include "common/text.hpp"

namespace cxr::config {
namespace {

const char* type_name(Type t) {
  static const char* const names[] = {"an integer", "a number", "true or false", "a string"};  // Type's order
  return names[static_cast<int>(t)];
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::optional<double> parse_float(const std::string& s) {
  const auto v = parse_double(s);
  if (v && std::isfinite(*v)) return v;
  return std::nullopt;
}

std::optional<bool> parse_bool(const std::string& s) {
  if (s == "true" || s == "True" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "False" || s == "no" || s == "off") return false;
  return std::nullopt;
}

// An Int or Float key's value as a number, when it is one of that type.
std::optional<double> parse_number(Type type, const std::string& s) {
  if (type == Type::Float) return parse_float(s);
  if (const auto v = parse_integer(s)) return static_cast<double>(*v);
  return std::nullopt;
}

// The nearest key within an edit distance of 3 (the first on a tie), for "did you mean" hints.
std::string closest(const Schema& schema, const std::string& path) {
  std::string best;
  std::size_t best_d = 4;
  for (const auto& k : schema.keys()) {
    const std::size_t d = edit_distance(path, k.path);
    if (d < best_d) {
      best_d = d;
      best = k.path;
    }
  }
  return best;
}

// Some key lives below "path.".
bool is_section(const Schema& schema, const std::string& path) {
  const std::string prefix = path + ".";
  const auto& keys = schema.keys();
  return std::any_of(keys.begin(), keys.end(), [&](const Key& k) { return k.path.rfind(prefix, 0) == 0; });
}

// Puts `value` at dotted `path` inside a nested YAML map.
void insert_nested(YAML::Node root, const std::string& path, const YAML::Node& value) {
  const auto dot = path.find('.');
  if (dot == std::string::npos) root[path] = value;
  else insert_nested(root[path.substr(0, dot)], path.substr(dot + 1), value);
}

}  // namespace

Schema& Schema::add(Key key) {
  keys_.push_back(std::move(key));
  return *this;
}

const Key* Schema::find(const std::string& path) const {
  for (const auto& k : keys_)
    if (k.path == path) return &k;
  return nullptr;
}

Config::Config(const Schema& schema) : schema_(&schema) {
  for (const auto& k : schema.keys()) values_[k.path] = Value{k.default_value, "default"};
}

const Key& Config::key_or_throw(const std::string& path, const std::string& where) const {
  if (const Key* k = schema_->find(path)) return *k;
  std::string msg = where + ": unknown key '" + path + "'";
  const std::string hint = closest(*schema_, path);
  if (!hint.empty()) msg += " (did you mean '" + hint + "'?)";
  throw InputError(msg);
}

void Config::set_checked(const Key& key, const std::string& text, const std::string& where) {
  const std::string prefix = where + ": key '" + key.path + "': ";
  auto range_error = [&]() {
    std::string range;
    if (key.min && key.max) range = fmt::format(" in [{:g}, {:g}]", *key.min, *key.max);
    else if (key.min) range = fmt::format(" >= {:g}", *key.min);
    else if (key.max) range = fmt::format(" <= {:g}", *key.max);
    return InputError(prefix + "expected " + type_name(key.type) + range + ", got '" + text + "'");
  };
  switch (key.type) {
    case Type::Int:
    case Type::Float: {
      const auto v = parse_number(key.type, text);
      if (!v || (key.min && *v < *key.min) || (key.max && *v > *key.max)) throw range_error();
      break;
    }
    case Type::Bool:
      if (!parse_bool(text)) throw range_error();
      break;
    case Type::String:
      if (!key.choices.empty() && std::find(key.choices.begin(), key.choices.end(), text) == key.choices.end()) {
        const std::string list = fmt::format("{}", fmt::join(key.choices, ", "));
        throw InputError(prefix + "expected one of {" + list + "}, got '" + text + "'");
      }
      break;
  }
  values_[key.path] = Value{text, where};
}

void Config::load_file(const std::string& path) {
  std::ifstream in(path);  // what YAML::LoadFile opens
  if (!in) throw InputError("cannot read config file " + path);
  load_text(std::string(std::istreambuf_iterator<char>(in), {}), path);
}

void Config::load_text(const std::string& yaml, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    throw InputError(at_line(source, e.mark.line + 1, "invalid YAML: " + e.msg));
  }
  if (root.IsNull()) return;  // an empty file is a valid, empty config
  if (!root.IsMap()) throw InputError(at_line(source, root.Mark().line + 1, "the config must be a mapping of keys"));

  // Walk the tree: sections recurse, leaves must be declared keys holding scalars.
  std::function<void(const YAML::Node&, const std::string&)> walk = [&](const YAML::Node& map, const std::string& prefix) {
    for (const auto& item : map) {
      const std::string name = prefix + item.first.as<std::string>();
      const std::string where = source + ":" + std::to_string(item.first.Mark().line + 1);
      if (const Key* key = schema_->find(name)) {
        if (!item.second.IsScalar())
          throw InputError(where + ": key '" + name + "': expected " + type_name(key->type) +
                           ", got a " + (item.second.IsMap() ? "mapping" : item.second.IsSequence() ? "list" : "null"));
        set_checked(*key, item.second.Scalar(), where);
      } else if (is_section(*schema_, name)) {
        if (!item.second.IsMap()) throw InputError(where + ": '" + name + "' is a section: expected a mapping of keys");
        walk(item.second, name + ".");
      } else {
        key_or_throw(name, where);
      }
    }
  };
  walk(root, "");
}

void Config::apply_override(const std::string& assignment) {
  const auto eq = assignment.find('=');
  const std::string where = "command line '" + assignment + "'";
  if (eq == std::string::npos || eq == 0) throw InputError(where + ": expected key.sub=value");
  set_checked(key_or_throw(assignment.substr(0, eq), where), assignment.substr(eq + 1), where);
}

void Config::set(const std::string& path, const std::string& value, const std::string& source) {
  set_checked(key_or_throw(path, source), value, source);
}

const Config::Value& Config::value(const std::string& path, Type type) const {
  const Key* k = schema_->find(path);
  if (!k || k->type != type) throw std::logic_error("config key '" + path + "' read with the wrong type");
  return values_.at(path);
}

std::int64_t Config::get_int(const std::string& path) const { return *parse_integer(value(path, Type::Int).text); }
double Config::get_float(const std::string& path) const { return *parse_float(value(path, Type::Float).text); }
bool Config::get_bool(const std::string& path) const { return *parse_bool(value(path, Type::Bool).text); }
const std::string& Config::get_string(const std::string& path) const { return value(path, Type::String).text; }
const std::string& Config::source(const std::string& path) const { return values_.at(path).source; }
const std::string& Config::text(const std::string& path) const { return values_.at(path).text; }

std::string Config::to_yaml() const {
  YAML::Node root(YAML::NodeType::Map);
  for (const auto& k : schema_->keys()) {
    YAML::Node leaf;
    switch (k.type) {
      case Type::Int: leaf = static_cast<long long>(get_int(k.path)); break;
      case Type::Float: leaf = fmt::format("{}", get_float(k.path)); break;  // shortest form: 0.1, not 0.1000000000000000055
      case Type::Bool: leaf = get_bool(k.path); break;
      case Type::String: leaf = text(k.path); break;
    }
    insert_nested(root, k.path, leaf);
  }
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

nlohmann::json Config::to_json() const {
  nlohmann::json root = nlohmann::json::object();
  for (const auto& k : schema_->keys()) {
    std::string pointer = "/" + k.path;
    std::replace(pointer.begin(), pointer.end(), '.', '/');
    const nlohmann::json::json_pointer ptr(pointer);
    switch (k.type) {
      case Type::Int: root[ptr] = get_int(k.path); break;
      case Type::Float: root[ptr] = get_float(k.path); break;
      case Type::Bool: root[ptr] = get_bool(k.path); break;
      case Type::String: root[ptr] = get_string(k.path); break;
    }
  }
  return root;
}

Config load(const Schema& schema, const std::string& file, const std::vector<std::string>& overrides) {
  Config cfg(schema);
  if (!file.empty()) cfg.load_file(file);
  for (const auto& o : overrides) cfg.apply_override(o);
  return cfg;
}

}  // namespace cxr::config
