#include "shards/shard.hpp"

#include <hdf5.h>

#include <mutex>

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
  Id(Id&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  Id& operator=(Id&& o) noexcept {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = H5I_INVALID_HID;
    return *this;
  }
  ~Id() { reset(); }
  void reset() {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = H5I_INVALID_HID;
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  herr_t (*closer_)(hid_t) = nullptr;
};

hid_t checked(hid_t id, const std::string& what) {
  if (id < 0) throw RuntimeError("HDF5: " + what);
  return id;
}
void checked(herr_t rc, const std::string& what, int) {
  if (rc < 0) throw RuntimeError("HDF5: " + what);
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

void write_strings(hid_t file, const std::string& name, const std::vector<std::string>& values) {
  const hsize_t n = values.size();
  Id space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Id type = string_type();
  Id dcpl = untimed_dcpl();
  Id ds(checked(H5Dcreate2(file, name.c_str(), type.get(), space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                "create dataset " + name),
        H5Dclose);
  if (n == 0) return;
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  checked(H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), "write " + name, 0);
}

template <typename T>
void write_numbers(hid_t file, const std::string& name, hid_t file_type, hid_t mem_type, const std::vector<T>& values) {
  const hsize_t n = values.size();
  Id space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Id dcpl = untimed_dcpl();
  Id ds(checked(H5Dcreate2(file, name.c_str(), file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                "create dataset " + name),
        H5Dclose);
  if (n == 0) return;
  checked(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "write " + name, 0);
}

void write_string_attr(hid_t obj, const std::string& name, const std::string& value) {
  Id space(H5Screate(H5S_SCALAR), H5Sclose);
  Id type = string_type();
  Id attr(checked(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), "attribute " + name),
          H5Aclose);
  const char* p = value.c_str();
  checked(H5Awrite(attr.get(), type.get(), &p), "write attribute " + name, 0);
}

void write_strings_attr(hid_t obj, const std::string& name, const std::vector<std::string>& values) {
  const hsize_t n = values.size();
  Id space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Id type = string_type();
  Id attr(checked(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), "attribute " + name),
          H5Aclose);
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  checked(H5Awrite(attr.get(), type.get(), ptrs.data()), "write attribute " + name, 0);
}

void write_int_attr(hid_t obj, const std::string& name, long long value) {
  Id space(H5Screate(H5S_SCALAR), H5Sclose);
  Id attr(checked(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), "attribute " + name),
          H5Aclose);
  checked(H5Awrite(attr.get(), H5T_NATIVE_LLONG, &value), "write attribute " + name, 0);
}

std::string read_string_attr(hid_t obj, const std::string& name) {
  Id attr(checked(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "missing attribute '" + name + "'"), H5Aclose);
  Id type = string_type();
  char* p = nullptr;
  checked(H5Aread(attr.get(), type.get(), &p), "read attribute " + name, 0);
  std::string out = p ? p : "";
  H5free_memory(p);
  return out;
}

long long read_int_attr(hid_t obj, const std::string& name) {
  Id attr(checked(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "missing attribute '" + name + "'"), H5Aclose);
  long long v = 0;
  checked(H5Aread(attr.get(), H5T_NATIVE_LLONG, &v), "read attribute " + name, 0);
  return v;
}

hsize_t dataset_length(hid_t ds) {
  Id space(H5Dget_space(ds), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 1) return 0;
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return dims[0];
}

std::vector<std::string> read_strings(hid_t file, const std::string& name, hsize_t expected) {
  Id ds(checked(H5Dopen2(file, name.c_str(), H5P_DEFAULT), "missing dataset '" + name + "'"), H5Dclose);
  if (dataset_length(ds.get()) != expected)
    throw RuntimeError("HDF5: dataset '" + name + "' has " + std::to_string(dataset_length(ds.get())) +
                       " entries, expected " + std::to_string(expected));
  std::vector<std::string> out;
  if (expected == 0) return out;
  Id type = string_type();
  std::vector<char*> ptrs(expected, nullptr);
  checked(H5Dread(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), "read " + name, 0);
  for (char* p : ptrs) {
    out.emplace_back(p ? p : "");
    H5free_memory(p);
  }
  return out;
}

template <typename T>
std::vector<T> read_numbers(hid_t file, const std::string& name, hid_t mem_type, hsize_t expected) {
  Id ds(checked(H5Dopen2(file, name.c_str(), H5P_DEFAULT), "missing dataset '" + name + "'"), H5Dclose);
  if (dataset_length(ds.get()) != expected)
    throw RuntimeError("HDF5: dataset '" + name + "' has " + std::to_string(dataset_length(ds.get())) +
                       " entries, expected " + std::to_string(expected));
  std::vector<T> out(expected);
  if (expected > 0) checked(H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), "read " + name, 0);
  return out;
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
  h_->file = Id(checked(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT), "cannot create " + path),
                H5Fclose);

  // One image (with all its copies) per chunk: random access reads one chunk.
  const auto s = static_cast<hsize_t>(options.image_size), k = static_cast<hsize_t>(options.copies);
  const bool noisy = options.copies > 0;
  const int rank = noisy ? 4 : 3;
  const hsize_t dims3[3] = {options.capacity, s, s}, max3[3] = {H5S_UNLIMITED, s, s}, chunk3[3] = {1, s, s};
  const hsize_t dims4[4] = {options.capacity, k, s, s}, max4[4] = {H5S_UNLIMITED, k, s, s}, chunk4[4] = {1, k, s, s};
  Id space(H5Screate_simple(rank, noisy ? dims4 : dims3, noisy ? max4 : max3), H5Sclose);
  Id dcpl = untimed_dcpl();
  H5Pset_chunk(dcpl.get(), rank, noisy ? chunk4 : chunk3);
  if (options.gzip_level > 0) H5Pset_deflate(dcpl.get(), static_cast<unsigned>(options.gzip_level));
  H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER);
  const char* name = noisy ? "noisy" : "images";
  h_->images = Id(checked(H5Dcreate2(h_->file.get(), name, noisy ? H5T_STD_U16LE : H5T_STD_U8LE, space.get(), H5P_DEFAULT,
                                     dcpl.get(), H5P_DEFAULT),
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

// Row `count()` of the pixel dataset: [1, S, S] images or [1, K, S, S] noisy copies.
void ShardWriter::write_row(const void* values, std::int64_t mem_type, const Sample& sample) {
  if (samples_.size() >= options_.capacity) throw std::logic_error("ShardWriter: more images than its capacity");
  const auto s = static_cast<hsize_t>(options_.image_size);
  const bool noisy = options_.copies > 0;
  const hsize_t start[4] = {samples_.size(), 0, 0, 0};
  const hsize_t count[4] = {1, noisy ? static_cast<hsize_t>(options_.copies) : s, s, s};
  const int rank = noisy ? 4 : 3;
  Id file_space(H5Dget_space(h_->images.get()), H5Sclose);
  H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  Id mem_space(H5Screate_simple(rank, count, nullptr), H5Sclose);
  checked(H5Dwrite(h_->images.get(), mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, values),
          "write image " + sample.image + " to " + h_->path, 0);
  samples_.push_back(sample);
}

void ShardWriter::add_skipped(const std::string& image, const std::string& reason) {
  skipped_image_.push_back(image);
  skipped_reason_.push_back(reason);
}

void ShardWriter::close() {
  if (!h_->file.valid()) return;
  const hid_t f = h_->file.get();
  const auto s = static_cast<hsize_t>(options_.image_size);
  const hsize_t dims3[3] = {samples_.size(), s, s}, dims4[4] = {samples_.size(), static_cast<hsize_t>(options_.copies), s, s};
  checked(H5Dset_extent(h_->images.get(), options_.copies > 0 ? dims4 : dims3), "resize images in " + h_->path, 0);

  std::vector<std::string> names, views, sexes;
  std::vector<std::int64_t> patients;
  std::vector<std::uint16_t> labels;
  std::vector<std::int32_t> ages, follow_ups;
  for (const auto& x : samples_) {
    names.push_back(x.image);
    views.push_back(x.view);
    sexes.push_back(x.sex);
    patients.push_back(x.patient_id);
    labels.push_back(x.labels);
    ages.push_back(x.age);
    follow_ups.push_back(x.follow_up);
  }
  write_strings(f, "image_index", names);
  write_numbers(f, "patient_id", H5T_STD_I64LE, H5T_NATIVE_INT64, patients);
  write_numbers(f, "labels", H5T_STD_U16LE, H5T_NATIVE_UINT16, labels);
  write_strings(f, "view", views);
  write_strings(f, "sex", sexes);
  write_numbers(f, "age", H5T_STD_I32LE, H5T_NATIVE_INT32, ages);
  write_numbers(f, "follow_up", H5T_STD_I32LE, H5T_NATIVE_INT32, follow_ups);
  write_strings(f, "skipped_image", skipped_image_);
  write_strings(f, "skipped_reason", skipped_reason_);
  {
    Id ds(H5Dopen2(f, "labels", H5P_DEFAULT), H5Dclose);
    write_strings_attr(ds.get(), "label_names", std::vector<std::string>(nih::kFindings.begin(), nih::kFindings.end()));
  }
  write_int_attr(f, "format_version", kFormatVersion);
  write_string_attr(f, "split", options_.split);
  write_int_attr(f, "image_size", options_.image_size);
  write_string_attr(f, "plan_digest", options_.plan_digest);
  if (options_.copies > 0) write_int_attr(f, "copies", options_.copies);

  h_->images.reset();
  checked(H5Fflush(f, H5F_SCOPE_GLOBAL), "flush " + h_->path, 0);
  h_->file.reset();
}

// ---------------------------------------------------------------------------------------------
struct ShardReader::Handles {
  Id file, images;
};

ShardReader::ShardReader(const std::string& path) : h_(std::make_unique<Handles>()), path_(path) {
  quiet_hdf5();
  try {
    h_->file = Id(checked(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "not a readable HDF5 file"), H5Fclose);
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
    h_->images = Id(checked(H5Dopen2(f, name, H5P_DEFAULT), std::string("missing dataset '") + name + "'"), H5Dclose);
    Id space(H5Dget_space(h_->images.get()), H5Sclose);
    hsize_t dims[4] = {0, 0, 0, 0};
    if (H5Sget_simple_extent_ndims(space.get()) != rank)
      throw RuntimeError(std::string("'") + name + "' is not " + std::to_string(rank) + "-dimensional");
    H5Sget_simple_extent_dims(space.get(), dims, nullptr);
    const auto s = static_cast<hsize_t>(info_.image_size);
    if (dims[rank - 2] != s || dims[rank - 1] != s || (rank == 4 && dims[1] != static_cast<hsize_t>(info_.copies)))
      throw RuntimeError(std::string("'") + name + "' does not hold " + (rank == 4 ? std::to_string(info_.copies) + " copies of " : "") +
                         std::to_string(s) + "x" + std::to_string(s) + " images, as the attributes say");
    const hsize_t n = dims[0];
    info_.count = n;
    const auto names = read_strings(f, "image_index", n);
    const auto views = read_strings(f, "view", n);
    const auto sexes = read_strings(f, "sex", n);
    const auto patients = read_numbers<std::int64_t>(f, "patient_id", H5T_NATIVE_INT64, n);
    const auto labels = read_numbers<std::uint16_t>(f, "labels", H5T_NATIVE_UINT16, n);
    const auto ages = read_numbers<std::int32_t>(f, "age", H5T_NATIVE_INT32, n);
    const auto follow_ups = read_numbers<std::int32_t>(f, "follow_up", H5T_NATIVE_INT32, n);
    for (hsize_t i = 0; i < n; ++i)
      info_.samples.push_back({names[i], patients[i], labels[i], views[i], sexes[i], ages[i], follow_ups[i]});
    Id skipped(checked(H5Dopen2(f, "skipped_image", H5P_DEFAULT), "missing dataset 'skipped_image'"), H5Dclose);
    const hsize_t k = dataset_length(skipped.get());
    info_.skipped_image = read_strings(f, "skipped_image", k);
    info_.skipped_reason = read_strings(f, "skipped_reason", k);
  } catch (const RuntimeError& e) {
    throw RuntimeError("shard " + path + ": " + e.what());
  }
}

ShardReader::~ShardReader() = default;

void ShardReader::read_images(std::size_t first, std::size_t count, std::uint8_t* out) const {
  if (info_.copies > 0)
    throw RuntimeError("shard " + path_ + " is an obfuscated export: it holds noisy copies only, no clean images");
  if (first + count > info_.count)
    throw std::out_of_range("shard " + path_ + ": images " + std::to_string(first) + ".." +
                            std::to_string(first + count) + " out of " + std::to_string(info_.count));
  const auto s = static_cast<hsize_t>(info_.image_size);
  const hsize_t start[3] = {first, 0, 0};
  const hsize_t dims[3] = {count, s, s};
  Id file_space(H5Dget_space(h_->images.get()), H5Sclose);
  H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, dims, nullptr);
  Id mem_space(H5Screate_simple(3, dims, nullptr), H5Sclose);
  checked(H5Dread(h_->images.get(), H5T_NATIVE_UINT8, mem_space.get(), file_space.get(), H5P_DEFAULT, out),
          "read images from " + path_, 0);
}

void ShardReader::read_image(std::size_t index, std::uint8_t* out) const { read_images(index, 1, out); }

void ShardReader::read_noisy(std::size_t index, std::uint16_t* out) const {
  if (info_.copies == 0) throw RuntimeError("shard " + path_ + " holds clean images, not noisy copies");
  if (index >= info_.count) throw std::out_of_range("shard " + path_ + ": image " + std::to_string(index) + " out of " + std::to_string(info_.count));
  const auto s = static_cast<hsize_t>(info_.image_size);
  const hsize_t start[4] = {index, 0, 0, 0}, dims[4] = {1, static_cast<hsize_t>(info_.copies), s, s};
  Id file_space(H5Dget_space(h_->images.get()), H5Sclose);
  H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, dims, nullptr);
  Id mem_space(H5Screate_simple(4, dims, nullptr), H5Sclose);
  checked(H5Dread(h_->images.get(), H5T_NATIVE_UINT16, mem_space.get(), file_space.get(), H5P_DEFAULT, out),
          "read noisy copies from " + path_, 0);
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
