#pragma once
// A synthetic ChestX-ray14 root: the exact NIH layout (images_NNN/images/*.png,
// Data_Entry_2017.csv in the 2017 release format, train_val_list.txt, test_list.txt) filled with
// chest-like phantoms, so the whole pipeline runs without the real 42 GB dataset.
//
// The phantom has a body outline, two lung fields, heart and mediastinum, spine, ribs,
// clavicles, diaphragm domes and smooth low-frequency texture, with per-image pose and exposure
// changes and findings drawn as lesions (nodules, masses, effusions, ...): enough structure that
// denoising it is not trivial. A patient's studies share its anatomy (proportions and texture),
// as follow-ups do, so re-identification across studies can be measured. Everything is a pure
// function of (seed, patient, image).
#include <cstdint>
#include <string>

#include "image/image.hpp"

namespace cxr::synth {

struct SynthOptions {
  std::string output;        // dataset root to create
  int count = 200;           // number of images
  int size = 1024;           // width and height in pixels (NIH: 1024)
  std::uint64_t seed = 0;
  double test_fraction = 0.2;  // share of patients in test_list.txt
  int rgba_every = 25;       // every Nth image is written as RGBA, as a few NIH files are
};

struct SynthSummary {
  int images = 0;
  int patients = 0;
  int rgba = 0;
  int train_val = 0;
  int test = 0;
};

// One phantom image of `patient`. `labels` uses nih::kFindings bits; `ap` selects the AP view's geometry.
image::Gray8 render_chest(int size, std::uint64_t seed, std::uint64_t patient, std::uint64_t image_id, std::uint16_t labels,
                          bool ap);

// Writes the whole root. Throws InputError if `output` cannot be written.
SynthSummary write_dataset(const SynthOptions& options);

}  // namespace cxr::synth
