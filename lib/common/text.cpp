#include "common/text.hpp"

#include <stdexcept>

namespace cxr {

std::optional<double> parse_double(const std::string& text) {
  std::size_t pos = 0;  // std::stod throws on "" as on any other non-number
  try {
    const double v = std::stod(text, &pos);
    if (pos == text.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::optional<long long> parse_integer(const std::string& text) {
  std::size_t pos = 0;
  try {
    const long long v = std::stoll(text, &pos, 10);
    if (pos == text.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
    } else if (c != '\r' || i + 1 < line.size()) {  // a CRLF line ending's '\r' is dropped
      field.push_back(c);
    }
  }
  if (quoted) throw std::invalid_argument("unterminated quoted field");
  fields.push_back(std::move(field));
  return fields;
}

std::string csv_quote(const std::string& field) {
  if (field.find_first_of(",\"") == std::string::npos) return field;
  std::string quoted = "\"";
  for (char c : field) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace cxr
