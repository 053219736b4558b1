#pragma once
// ChestX-ray14 metadata: Data_Entry_2017.csv and the split lists.
//
// Both revisions of the CSV are accepted: the 2017 release (header ends with a trailing comma,
// 12 header fields, 11 per row) and the 2020 revision (11 and 11). Columns are read by position,
// because the bracketed names "OriginalImage[Width,Height]" span two fields each. A ".gz" file
// is read through zlib.
#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace cxr::nih {

// The 14 findings, in the order of the bits of Record::labels.
inline const std::array<std::string, 14> kFindings = {
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia"};

struct Record {
  std::string image;            // "00000001_000.png"
  std::uint16_t labels = 0;     // bit i set = kFindings[i] present; 0 = "No Finding"
  std::int32_t follow_up = 0;
  std::int64_t patient_id = 0;
  std::int32_t age = 0;
  std::string sex;              // "M" or "F"
  std::string view;             // "PA" or "AP"
  std::int32_t original_width = 0, original_height = 0;
  double spacing_x = 0, spacing_y = 0;
  long line = 0;                // line in the CSV, for messages
};

struct Metadata {
  std::string path;
  std::string header_format;  // "2017" (trailing comma) or "2020"
  std::vector<Record> records;
  std::unordered_map<std::string, std::size_t> by_image;  // image name -> index in records

  const Record* find(const std::string& image) const;
  std::size_t patient_count() const;
};

// Reads the metadata table. Throws InputError naming the file and line for a wrong field count,
// an unparsable number, an unknown finding label or a duplicate image name.
Metadata read_metadata(const std::string& path);

// Parses "Atelectasis|Effusion" or "No Finding" into a bit mask; throws std::invalid_argument
// naming an unknown label.
std::uint16_t parse_labels(const std::string& text);
std::string format_labels(std::uint16_t labels);

// Reads a split list (train_val_list.txt, test_list.txt): one image name a line, blank lines
// ignored. Throws InputError naming file and line for a duplicate name.
std::vector<std::string> read_image_list(const std::string& path);

}  // namespace cxr::nih
