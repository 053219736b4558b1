#pragma once
// HDF5 shards: one file per few hundred or thousand images of one split, readable by h5py as is.
//
//   images      uint8 [N, H, W], one image per chunk, deflate-compressed (see docs/BENCHMARKS.md)
//   noisy       uint16 [N, K, H, W] instead of images in an obfuscated export: K noisy copies of
//               each image, value x 65535 (noise/export_noise.hpp); attribute copies = K
//   image_index string [N]   "00000001_000.png"
//   patient_id  int64 [N]
//   labels      uint16 [N]   bit i = finding i; attribute label_names lists them
//   view        string [N]   "PA" / "AP"
//   sex         string [N]   "M" / "F"
//   age         int32 [N]
//   follow_up   int32 [N]
//   skipped_image, skipped_reason   string [K]   inputs of this shard that were not written
//   attributes: format_version, split, image_size, plan_digest
//
// Files carry no timestamps, so the same inputs give byte-identical files.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cxr::shards {

inline constexpr int kFormatVersion = 1;

struct Sample {
  std::string image;
  std::int64_t patient_id = 0;
  std::uint16_t labels = 0;
  std::string view;
  std::string sex;
  std::int32_t age = 0;
  std::int32_t follow_up = 0;
};

struct WriterOptions {
  std::string split;
  int image_size = 256;
  std::size_t capacity = 0;    // the most images this shard will hold
  int gzip_level = 1;          // 0 = no compression
  std::string plan_digest;     // identifies the inputs and settings that made this shard
  int copies = 0;              // > 0: an obfuscated shard of this many noisy copies, no clean images
};

// Writes one shard. Images go straight to disk as they come; close() writes the per-image
// records and shrinks `images` to the number appended. Throws RuntimeError on HDF5 failures.
class ShardWriter {
 public:
  ShardWriter(const std::string& path, const WriterOptions& options);
  ~ShardWriter();

  void append(const std::uint8_t* pixels, const Sample& sample);  // image_size^2 bytes
  void append_noisy(const std::uint16_t* copies, const Sample& sample);  // copies x image_size^2 values
  void add_skipped(const std::string& image, const std::string& reason);
  void close();

 private:
  struct Handles;
  std::unique_ptr<Handles> h_;
  WriterOptions options_;
  std::vector<Sample> samples_;
  std::vector<std::string> skipped_image_, skipped_reason_;
  void write_row(const void* values, std::int64_t mem_type, const Sample& sample);  // mem_type: an HDF5 hid_t
};

struct ShardInfo {
  int format_version = 0;
  std::string split;
  int image_size = 0;
  std::string plan_digest;
  std::size_t count = 0;
  int copies = 0;  // > 0: obfuscated (noisy copies only)
  std::vector<Sample> samples;
  std::vector<std::string> skipped_image, skipped_reason;
};

// Reads a shard. The constructor checks the layout and throws RuntimeError naming the file and
// what is wrong.
class ShardReader {
 public:
  explicit ShardReader(const std::string& path);
  ~ShardReader();

  const ShardInfo& info() const { return info_; }
  // One clean image (image_size^2 bytes); an obfuscated shard has none (RuntimeError).
  void read_image(std::size_t index, std::uint8_t* out) const;
  // An obfuscated shard's noisy copies of one image: copies x image_size^2 values.
  void read_noisy(std::size_t index, std::uint16_t* out) const;

 private:
  struct Handles;
  std::unique_ptr<Handles> h_;
  std::string path_;
  ShardInfo info_;
};

// True if `path` opens as a complete shard made from `plan_digest`; never throws.
bool shard_is_complete(const std::string& path, const std::string& plan_digest);

}  // namespace cxr::shards
