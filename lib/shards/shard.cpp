#include "shards/shard.hpp"

#include <hdf5.h>

#include <mutex>
#include <utility>

#include "common/error.hpp"
#include "nih/metadata.hpp"

namespace cxr::shards {
namespace {

// HDF5 prints its own error stack on every failure; we report errors ourselves.
void quiet_hdf5() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

// Owns one HDF5 identifier and closes it with the right function.
class Id {
 public:
  Id() = default;
  Id(hid_t id, herr_t (*closer)(hid_t)) : id_(id), closer_(closer) {}
  Id(Id&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), closer_(o.closer_) {}
  ~Id() { reset(); }
  // Closes the identifier held, then holds `id`.
  void reset(hid_t id = H5I_INVALID_HID, herr_t (*closer)(hid_t) = nullptr) {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = id;
    closer_ = closer;
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  herr_t (*closer_)(hid_t) = nullptr;
};

// An identifier or a status: negative means failure.
template <typename T>
T checked(T rc, const std::string& what) {
  if (rc < 0) throw RuntimeError("HDF5: " + what);
  return rc;
}

Id string_type() {
  Id t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t.get(), H5T_VARIABLE);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

// A creation property list without timestamps, so identical content gives identical bytes.
Id untimed_dcpl() {
  Id p(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_obj_track_times(p.get(), false);
  return p;
}

// A 1-D dataset: `values` (in memory as `mem_type`) stored as `file_type`.
template <typename T>
void write_column(hid_t file, const std::string& name, hid_t file_type, hid_t mem_type, const std::vector<T>& values) {
  const hsize_t n = values.size();
  const Id space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  const Id dcpl = untimed_dcpl();
  const Id ds(checked(H5Dcreate2(file, name.c_str(), file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                      "create dataset " + name),
              H5Dclose);
  if (n == 0) return;
  checked(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "write " + name);
}

void write_strings(hid_t file, const std::string& name, const std::vector<std::string>& values) {
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  const Id type = string_type();
  write_column(file, name, type.get(), type.get(), ptrs);
}

// One member of every sample, in order.
template <typename T>
std::vector<T> values_of(const std::vector<Sample>& samples, T Sample::*member) {
  std::vector<T> out;
  for (const auto& x : samples) out.push_back(x.*member);
  return out;
}

void write_attr(hid_t obj, const std::string& name, hid_t type, hid_t space, hid_t mem_type, const void* v) {
  const Id attr(checked(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), "attribute " + name),
                H5Aclose);
  checked(H5Awrite(attr.get(), mem_type, v), "write attribute " + name);
}

void write_string_attr(hid_t obj, const std::string& name, const std::string& value) {
  const Id space(H5Screate(H5S_SCALAR), H5Sclose);
  const Id type = string_type();
  const char* p = value.c_str();
  write_attr(obj, name, type.get(), space.get(), type.get(), &p);
}

void write_int_attr(hid_t obj, const std::string& name, long long value) {
  const Id space(H5Screate(H5S_SCALAR), H5Sclose);
  write_attr(obj, name, H5T_STD_I64LE, space.get(), H5T_NATIVE_LLONG, &value);
}

hid_t open_dataset(hid_t file, const std::string& name) {
  return checked(H5Dopen2(file, name.c_str(), H5P_DEFAULT), "missing dataset '" + name + "'");
}

std::string read_string_attr(hid_t obj, const std::string& name) {
  const Id attr(checked(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "missing attribute '" + name + "'"), H5Aclose);
  const Id type = string_type();
  char* p = nullptr;
  checked(H5Aread(attr.get(), type.get(), &p), "read attribute " + name);
  std::string out = p ? p : "";
  H5free_memory(p);
  return out;
}

long long read_int_attr(hid_t obj, const std::string& name) {
  const Id attr(checked(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "missing attribute '" + name + "'"), H5Aclose);
  long long v = 0;
  checked(H5Aread(attr.get(), H5T_NATIVE_LLONG, &v), "read attribute " + name);
  return v;
}

// The first dimension of a dataset; 0 for a scalar one.
hsize_t dataset_length(hid_t ds) {
  const Id space(H5Dget_space(ds), H5Sclose);
  hsize_t dims[H5S_MAX_RANK] = {};
  const int rank = H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  return rank >= 1 ? dims[0] : 0;
}

// A 1-D dataset that must hold `expected` entries.
template <typename T>
std::vector<T> read_column(hid_t file, const std::string& name, hid_t mem_type, hsize_t expected) {
  const Id ds(open_dataset(file, name), H5Dclose);
  const hsize_t n = dataset_length(ds.get());
  if (n != expected)
    throw RuntimeError("HDF5: dataset '" + name + "' has " + std::to_string(n) + " entries, expected " +
                       std::to_string(expected));
  std::vector<T> out(expected);
  if (expected > 0) checked(H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), "read " + name);
  return out;
}

std::vector<std::string> read_strings(hid_t file, const std::string& name, hsize_t expected) {
  const Id type = string_type();
  std::vector<std::string> out;
  for (char* p : read_column<char*>(file, name, type.get(), expected)) {
    out.emplace_back(p ? p : "");
    H5free_memory(p);
  }
  return out;
}

// The pixel dataset's shape for n images: [n, S, S] clean, or [n, K, S, S] for K noisy copies.
std::vector<hsize_t> pixel_shape(hsize_t n, int copies, int image_size) {
  const auto s = static_cast<hsize_t>(image_size);
  if (copies > 0) return {n, static_cast<hsize_t>(copies), s, s};
  return {n, s, s};
}

// Reads or writes (`io`: H5Dread or H5Dwrite) `shape[0]` rows of pixel dataset `ds` from row `first`.
template <typename Io, typename Buffer>
void transfer_rows(Io io, hid_t ds, hsize_t first, const std::vector<hsize_t>& shape, hid_t mem_type,
                   Buffer buf, const std::string& what) {
  std::vector<hsize_t> start(shape.size(), 0);
  start[0] = first;
  const Id file_space(H5Dget_space(ds), H5Sclose);
  H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, shape.data(), nullptr);
  const Id mem_space(H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr), H5Sclose);
  checked(io(ds, mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, buf), what);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
struct ShardWriter::Handles {
  Id file, images;
  std::string path;
};

ShardWriter::ShardWriter(const std::string& path, const WriterOptions& options)
    : h_(std::make_unique<Handles>()), options_(options) {
  quiet_hdf5();
  h_->path = path;
  Id fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
  H5Pset_obj_track_times(fcpl.get(), false);  // the root group carries no timestamp either
  h_->file.reset(checked(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT), "cannot create " + path),
                 H5Fclose);

  // One image (with all its copies) per chunk: random access reads one chunk.
  const bool noisy = options.copies > 0;
  const auto dims = pixel_shape(options.capacity, options.copies, options.image_size);
  auto max = dims, chunk = dims;
  max[0] = H5S_UNLIMITED;
  chunk[0] = 1;
  const int rank = static_cast<int>(dims.size());
  Id space(H5Screate_simple(rank, dims.data(), max.data()), H5Sclose);
  Id dcpl = untimed_dcpl();
  H5Pset_chunk(dcpl.get(), rank, chunk.data());
  if (options.gzip_level > 0) H5Pset_deflate(dcpl.get(), static_cast<unsigned>(options.gzip_level));
  H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER);
  const char* name = noisy ? "noisy" : "images";
  h_->images.reset(checked(H5Dcreate2(h_->file.get(), name, noisy ? H5T_STD_U16LE : H5T_STD_U8LE, space.get(),
                                      H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                           std::string("create dataset ") + name + " in " + path),
                   H5Dclose);
}

ShardWriter::~ShardWriter() = default;

void ShardWriter::append(const std::uint8_t* pixels, const Sample& sample) {
  if (options_.copies > 0) throw std::logic_error("ShardWriter: an obfuscated shard takes noisy copies only");
  write_row(pixels, H5T_NATIVE_UINT8, sample);
}

void ShardWriter::append_noisy(const std::uint16_t* copies, const Sample& sample) {
  if (options_.copies == 0) throw std::logic_error("ShardWriter: a clean shard takes images only");
  write_row(copies, H5T_NATIVE_UINT16, sample);
}

void ShardWriter::write_row(const void* values, std::int64_t mem_type, const Sample& sample) {
  if (samples_.size() >= options_.capacity) throw std::logic_error("ShardWriter: more images than its capacity");
  const auto row = pixel_shape(1, options_.copies, options_.image_size);
  transfer_rows(H5Dwrite, h_->images.get(), samples_.size(), row, mem_type, values,
                "write image " + sample.image + " to " + h_->path);
  samples_.push_back(sample);
}

void ShardWriter::add_skipped(const std::string& image, const std::string& reason) {
  skipped_image_.push_back(image);
  skipped_reason_.push_back(reason);
}

void ShardWriter::close() {
  if (!h_->file.valid()) return;
  const hid_t f = h_->file.get();
  const auto extent = pixel_shape(samples_.size(), options_.copies, options_.image_size);
  checked(H5Dset_extent(h_->images.get(), extent.data()), "resize images in " + h_->path);

  write_strings(f, "image_index", values_of(samples_, &Sample::image));
  write_column(f, "patient_id", H5T_STD_I64LE, H5T_NATIVE_INT64, values_of(samples_, &Sample::patient_id));
  write_column(f, "labels", H5T_STD_U16LE, H5T_NATIVE_UINT16, values_of(samples_, &Sample::labels));
  write_strings(f, "view", values_of(samples_, &Sample::view));
  write_strings(f, "sex", values_of(samples_, &Sample::sex));
  write_column(f, "age", H5T_STD_I32LE, H5T_NATIVE_INT32, values_of(samples_, &Sample::age));
  write_column(f, "follow_up", H5T_STD_I32LE, H5T_NATIVE_INT32, values_of(samples_, &Sample::follow_up));
  write_strings(f, "skipped_image", skipped_image_);
  write_strings(f, "skipped_reason", skipped_reason_);
  {
    std::vector<const char*> names;
    for (const auto& v : nih::kFindings) names.push_back(v.c_str());
    const hsize_t n = names.size();
    const Id labels(H5Dopen2(f, "labels", H5P_DEFAULT), H5Dclose);
    const Id type = string_type();
    const Id space(H5Screate_simple(1, &n, nullptr), H5Sclose);
    write_attr(labels.get(), "label_names", type.get(), space.get(), type.get(), names.data());
  }
  write_int_attr(f, "format_version", kFormatVersion);
  write_string_attr(f, "split", options_.split);
  write_int_attr(f, "image_size", options_.image_size);
  write_string_attr(f, "plan_digest", options_.plan_digest);
  if (options_.copies > 0) write_int_attr(f, "copies", options_.copies);

  h_->images.reset();
  checked(H5Fflush(f, H5F_SCOPE_GLOBAL), "flush " + h_->path);
  h_->file.reset();
}

// ---------------------------------------------------------------------------------------------
struct ShardReader::Handles {
  Id file, images;
};

ShardReader::ShardReader(const std::string& path) : h_(std::make_unique<Handles>()), path_(path) {
  quiet_hdf5();
  try {
    h_->file.reset(checked(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "not a readable HDF5 file"), H5Fclose);
    const hid_t f = h_->file.get();
    info_.format_version = static_cast<int>(read_int_attr(f, "format_version"));
    if (info_.format_version != kFormatVersion)
      throw RuntimeError("format_version " + std::to_string(info_.format_version) + ", this build reads " +
                         std::to_string(kFormatVersion));
    info_.split = read_string_attr(f, "split");
    info_.image_size = static_cast<int>(read_int_attr(f, "image_size"));
    info_.plan_digest = read_string_attr(f, "plan_digest");
    // A clean shard has images [N, S, S]; an obfuscated one noisy [N, K, S, S] and copies = K.
    info_.copies = H5Aexists(f, "copies") > 0 ? static_cast<int>(read_int_attr(f, "copies")) : 0;
    const char* name = info_.copies > 0 ? "noisy" : "images";
    const int rank = info_.copies > 0 ? 4 : 3;
    h_->images.reset(open_dataset(f, name), H5Dclose);
    const Id space(H5Dget_space(h_->images.get()), H5Sclose);
    hsize_t dims[H5S_MAX_RANK] = {};
    if (H5Sget_simple_extent_dims(space.get(), dims, nullptr) != rank)
      throw RuntimeError(std::string("'") + name + "' is not " + std::to_string(rank) + "-dimensional");
    const auto s = static_cast<hsize_t>(info_.image_size);
    // Whatever the image count, the rest of the shape must be what the attributes say.
    if (std::vector<hsize_t>(dims, dims + rank) != pixel_shape(dims[0], info_.copies, info_.image_size))
      throw RuntimeError(std::string("'") + name + "' does not hold " + (rank == 4 ? std::to_string(info_.copies) + " copies of " : "") +
                         std::to_string(s) + "x" + std::to_string(s) + " images, as the attributes say");
    const hsize_t n = dims[0];
    info_.count = n;
    const auto names = read_strings(f, "image_index", n);
    const auto views = read_strings(f, "view", n);
    const auto sexes = read_strings(f, "sex", n);
    const auto patients = read_column<std::int64_t>(f, "patient_id", H5T_NATIVE_INT64, n);
    const auto labels = read_column<std::uint16_t>(f, "labels", H5T_NATIVE_UINT16, n);
    const auto ages = read_column<std::int32_t>(f, "age", H5T_NATIVE_INT32, n);
    const auto follow_ups = read_column<std::int32_t>(f, "follow_up", H5T_NATIVE_INT32, n);
    for (hsize_t i = 0; i < n; ++i)
      info_.samples.push_back({names[i], patients[i], labels[i], views[i], sexes[i], ages[i], follow_ups[i]});
    const hsize_t k = dataset_length(Id(open_dataset(f, "skipped_image"), H5Dclose).get());
    info_.skipped_image = read_strings(f, "skipped_image", k);
    info_.skipped_reason = read_strings(f, "skipped_reason", k);
  } catch (const RuntimeError& e) {
    throw RuntimeError("shard " + path + ": " + e.what());
  }
}

ShardReader::~ShardReader() = default;

void ShardReader::read_image(std::size_t index, std::uint8_t* out) const {
  if (info_.copies > 0)
    throw RuntimeError("shard " + path_ + " is an obfuscated export: it holds noisy copies only, no clean images");
  if (index >= info_.count)
    throw std::out_of_range("shard " + path_ + ": images " + std::to_string(index) + ".." +
                            std::to_string(index + 1) + " out of " + std::to_string(info_.count));
  transfer_rows(H5Dread, h_->images.get(), index, pixel_shape(1, 0, info_.image_size), H5T_NATIVE_UINT8, out,
                "read images from " + path_);
}

void ShardReader::read_noisy(std::size_t index, std::uint16_t* out) const {
  if (info_.copies == 0) throw RuntimeError("shard " + path_ + " holds clean images, not noisy copies");
  if (index >= info_.count)
    throw std::out_of_range("shard " + path_ + ": image " + std::to_string(index) + " out of " + std::to_string(info_.count));
  const auto row = pixel_shape(1, info_.copies, info_.image_size);
  transfer_rows(H5Dread, h_->images.get(), index, row, H5T_NATIVE_UINT16, out,
                "read noisy copies from " + path_);
}

bool shard_is_complete(const std::string& path, const std::string& plan_digest) {
  try {
    ShardReader reader(path);
    return reader.info().plan_digest == plan_digest;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace cxr::shards
