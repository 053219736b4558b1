#include "nih/metadata.hpp"

#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>
#include <unordered_set>

#include "common/error.hpp"
#include "common/text.hpp"

namespace cxr::nih {
namespace {

constexpr std::size_t kDataFields = 11;

// Reads all lines of a plain or gzip-compressed text file.
std::vector<std::string> read_lines(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");  // reads plain files too
  if (!f) throw InputError("cannot read " + path);
  std::vector<std::string> lines;
  std::string current;
  char buffer[1 << 16];
  int n;
  while ((n = gzread(f, buffer, sizeof(buffer))) > 0) {
    for (int i = 0; i < n; ++i) {
      if (buffer[i] == '\n') {
        lines.push_back(std::move(current));
        current.clear();
      } else {
        current.push_back(buffer[i]);
      }
    }
  }
  int err = 0;
  const char* msg = gzerror(f, &err);
  const bool failed = n < 0 || (err != Z_OK && err != Z_STREAM_END);
  const std::string what = failed ? msg : "";
  gzclose(f);
  if (failed) throw InputError("cannot read " + path + ": " + what);
  if (!current.empty()) lines.push_back(std::move(current));
  return lines;
}

long long to_int(const std::string& s, const char* what) {
  std::size_t pos = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  // The 2017 release wrote some ages as "058Y".
  if (pos == 0 || !(pos == s.size() || (pos + 1 == s.size() && s[pos] == 'Y')))
    throw std::invalid_argument(std::string(what) + " '" + s + "' is not an integer");
  return v;
}

double to_double(const std::string& s, const char* what) {
  const auto v = parse_double(s);
  if (!v) throw std::invalid_argument(std::string(what) + " '" + s + "' is not a number");
  return *v;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

}  // namespace

const Record* Metadata::find(const std::string& image) const {
  const auto it = by_image.find(image);
  return it == by_image.end() ? nullptr : &records[it->second];
}

std::size_t Metadata::patient_count() const {
  std::unordered_set<std::int64_t> ids;
  for (const auto& r : records) ids.insert(r.patient_id);
  return ids.size();
}

std::uint16_t parse_labels(const std::string& text) {
  if (text == "No Finding") return 0;
  std::uint16_t mask = 0;
  std::size_t start = 0;
  while (true) {
    const auto bar = text.find('|', start);
    const std::string name = text.substr(start, bar - start);  // to the end when bar is npos
    const auto it = std::find(kFindings.begin(), kFindings.end(), name);
    if (it == kFindings.end()) throw std::invalid_argument("unknown finding label '" + name + "'");
    mask = static_cast<std::uint16_t>(mask | (1u << (it - kFindings.begin())));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return mask;
}

std::string format_labels(std::uint16_t labels) {
  if (labels == 0) return "No Finding";
  std::string out;
  for (std::size_t i = 0; i < kFindings.size(); ++i)
    if (labels & (1u << i)) out += (out.empty() ? "" : "|") + kFindings[i];
  return out;
}

Metadata read_metadata(const std::string& path) {
  const auto lines = read_lines(path);
  Metadata meta;
  meta.path = path;
  if (lines.empty()) throw InputError(at_line(path, 1, "empty metadata file: expected a Data_Entry_2017.csv header"));

  const auto header = split_csv_line(lines[0]);
  if (header.empty() || trim(header[0]) != "Image Index")
    throw InputError(at_line(path, 1, "not a ChestX-ray14 metadata header: the first column must be 'Image Index'"));
  if (header.size() == kDataFields + 1 && trim(header.back()).empty()) {
    meta.header_format = "2017";
  } else if (header.size() == kDataFields) {
    meta.header_format = "2020";
  } else {
    throw InputError(at_line(path, 1, "header has " + std::to_string(header.size()) +
                                          " fields; expected 11 (2020 revision) or 12 ending in an empty one (2017 release)"));
  }

  meta.records.reserve(lines.size());
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const long line_no = static_cast<long>(i) + 1;
    if (trim(lines[i]).empty()) continue;
    Record r;
    r.line = line_no;
    try {
      std::vector<std::string> f = split_csv_line(lines[i]);
      // Tolerate a trailing empty field on data rows too (some re-exports add one).
      if (f.size() == kDataFields + 1 && trim(f.back()).empty()) f.pop_back();
      if (f.size() != kDataFields)
        throw std::invalid_argument("expected " + std::to_string(kDataFields) + " fields, found " +
                                    std::to_string(f.size()));
      r.image = trim(f[0]);
      if (r.image.empty()) throw std::invalid_argument("empty image name");
      r.labels = parse_labels(trim(f[1]));
      r.follow_up = static_cast<std::int32_t>(to_int(trim(f[2]), "follow-up"));
      r.patient_id = to_int(trim(f[3]), "patient id");
      r.age = static_cast<std::int32_t>(to_int(trim(f[4]), "age"));
      r.sex = trim(f[5]);
      r.view = trim(f[6]);
      r.original_width = static_cast<std::int32_t>(to_int(trim(f[7]), "width"));
      r.original_height = static_cast<std::int32_t>(to_int(trim(f[8]), "height"));
      r.spacing_x = to_double(trim(f[9]), "pixel spacing x");
      r.spacing_y = to_double(trim(f[10]), "pixel spacing y");
    } catch (const std::invalid_argument& e) {
      throw InputError(at_line(path, line_no, e.what()));
    }
    const auto [it, inserted] = meta.by_image.emplace(r.image, meta.records.size());
    if (!inserted)
      throw InputError(at_line(path, line_no, "duplicate image '" + r.image + "' (first at line " +
                                                  std::to_string(meta.records[it->second].line) + ")"));
    meta.records.push_back(std::move(r));
  }
  return meta;
}

std::vector<std::string> read_image_list(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError("cannot read split list " + path);
  std::vector<std::string> names;
  std::unordered_map<std::string, long> seen;
  long line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    const std::string name = trim(line);
    if (name.empty()) continue;
    const auto [it, inserted] = seen.emplace(name, line_no);
    if (!inserted)
      throw InputError(at_line(path, line_no, "duplicate image '" + name + "' (first at line " +
                                                  std::to_string(it->second) + ")"));
    names.push_back(name);
  }
  return names;
}

}  // namespace cxr::nih
