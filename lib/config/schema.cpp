#include "config/schema.hpp"

namespace cxr::config {

const Schema& project_schema() {
  static const Schema schema = [] {
    Schema s;
    s.add({"seed", Type::Int, "0", 0, 9.0e15, {}, "seed for every random draw (split, shuffling, noise)"});

    // Where the ChestX-ray14 inputs are; empty = the standard names inside the --input root.
    s.add({"input.metadata", Type::String, "", {}, {}, {}, "metadata CSV (default: ROOT/Data_Entry_2017.csv, or _v2020, .gz)"});
    s.add({"input.train_val_list", Type::String, "", {}, {}, {}, "train/val list (default: ROOT/train_val_list.txt)"});
    s.add({"input.test_list", Type::String, "", {}, {}, {}, "test list (default: ROOT/test_list.txt)"});

    s.add({"preprocess.image_size", Type::Int, "256", 32, 1024, {}, "stored width and height in pixels"});
    s.add({"preprocess.shard_size", Type::Int, "1024", 1, 1000000, {}, "images per HDF5 shard"});
    s.add({"preprocess.limit", Type::Int, "0", 0, 1.0e9, {}, "process at most this many images (0 = all)"});
    s.add({"preprocess.gzip_level", Type::Int, "1", 0, 9, {}, "deflate level of the images dataset (0 = none)"});

    s.add({"split.mode", Type::String, "patient", {}, {}, {"patient", "image"},
           "patient: official test list, validation by patient; image: the reference's leaky random split"});
    s.add({"split.val_fraction", Type::Float, "0.1", 0.0, 0.9, {}, "patient mode: share of train_val patients used for validation"});
    s.add({"split.image_train_fraction", Type::Float, "0.5", 0.0, 1.0, {}, "image mode: share of images for training"});
    s.add({"split.image_val_fraction", Type::Float, "0.33", 0.0, 1.0, {}, "image mode: share of images for validation"});
    return s;
  }();
  return schema;
}

}  // namespace cxr::config
