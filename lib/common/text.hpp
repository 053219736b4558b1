#pragma once
// Text helpers shared by the config, CSV and report readers and writers.
#include <optional>
#include <string>
#include <vector>

namespace cxr {

// Whole-string number parsing: the text must be a number and nothing else ("12abc" is not 12).
// No exceptions; callers word their own errors.
std::optional<double> parse_double(const std::string& text);
std::optional<long long> parse_integer(const std::string& text);

// Splits one CSV line into fields (RFC 4180 quoting; a trailing '\r' is dropped). Throws
// std::invalid_argument for an unterminated quote.
std::vector<std::string> split_csv_line(const std::string& line);
// A field as CSV writes it: quoted (quotes doubled) only when it holds a comma or a quote.
std::string csv_quote(const std::string& field);

}  // namespace cxr
