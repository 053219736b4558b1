#include "synth/synth.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/progress.hpp"
#include "nih/metadata.hpp"
#include "random/keyed.hpp"

namespace cxr::synth {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Smooth step from 0 (d <= -w) to 1 (d >= w).
double smooth(double d, double w) {
  const double t = std::clamp((d + w) / (2 * w), 0.0, 1.0);
  return t * t * (3 - 2 * t);
}

// Inside-ness of a rotated ellipse: > 0 inside, < 0 outside (in normalised radius units).
double ellipse(double x, double y, double cx, double cy, double rx, double ry, double angle = 0.0) {
  const double c = std::cos(angle), s = std::sin(angle);
  const double dx = x - cx, dy = y - cy;
  const double u = (c * dx + s * dy) / rx, v = (-s * dx + c * dy) / ry;
  return 1.0 - std::sqrt(u * u + v * v);
}

struct Wave {
  double kx, ky, phase, amplitude;
};

struct Lesion {
  double x, y, r, strength;
};

// What a patient keeps from study to study: body and organ proportions and the tissue texture
// (the pattern a re-identification attack matches on). Drawn from the patient's own stream.
struct Anatomy {
  double body_rx, body_ry, lung_rx, lung_ry, heart_scale, rib_offset, rib_pitch;
  std::vector<Wave> waves;
};

Anatomy draw_anatomy(std::uint64_t seed, std::uint64_t patient) {
  rng::KeyedStream r(seed, rng::Purpose::SyntheticPatient, patient);
  Anatomy a;
  a.body_rx = 0.88 * r.uniform(0.85, 1.1);
  a.body_ry = 1.05 * r.uniform(0.9, 1.06);
  a.lung_rx = 0.27 * r.uniform(0.85, 1.15);
  a.lung_ry = 0.58 * r.uniform(0.85, 1.1);
  a.heart_scale = r.uniform(0.88, 1.12);
  a.rib_offset = r.uniform(-0.05, 0.05);
  a.rib_pitch = 0.13 * r.uniform(0.95, 1.05);
  for (int i = 0; i < 8; ++i) {
    const double freq = r.uniform(2.0, 14.0), dir = r.uniform(0, 2 * kPi);
    a.waves.push_back({freq * std::cos(dir), freq * std::sin(dir), r.uniform(0, 2 * kPi), 0.018 / (1 + 0.15 * freq)});
  }
  // Lung vessel texture: many faint, thin high-frequency waves.
  for (int i = 0; i < 10; ++i) {
    const double freq = r.uniform(20.0, 45.0), dir = r.uniform(0, 2 * kPi);
    a.waves.push_back({freq * std::cos(dir), freq * std::sin(dir), r.uniform(0, 2 * kPi), 0.006});
  }
  return a;
}

// What varies from study to study: pose, exposure, findings, and a little of the texture (the
// patient breathes and is positioned differently). Drawn in a fixed order from the image's own
// stream, so an image depends on no other image, only on its patient's anatomy.
struct Scene {
  Anatomy anatomy;
  double scale, shift_x, shift_y, tilt, exposure, gamma, heart_rx;
  bool effusion;
  std::vector<Lesion> lesions;
};

Scene draw_scene(rng::KeyedStream& r, const Anatomy& anatomy, std::uint16_t labels, bool ap) {
  Scene s;
  s.anatomy = anatomy;
  // Pose and exposure for this image.
  s.scale = r.uniform(0.93, 1.05) * (ap ? 1.04 : 1.0);
  s.shift_x = r.uniform(-0.04, 0.04);
  s.shift_y = r.uniform(-0.04, 0.04);
  s.tilt = r.uniform(-0.05, 0.05);
  s.exposure = r.uniform(0.85, 1.1);
  s.gamma = r.uniform(0.85, 1.15);
  const bool cardiomegaly = labels & (1u << 1);
  s.effusion = labels & (1u << 2);
  s.heart_rx = (cardiomegaly ? 0.36 : 0.27) * (ap ? 1.08 : 1.0) * anatomy.heart_scale;
  for (auto& w : s.anatomy.waves) {
    w.phase += r.uniform(-0.15, 0.15);
    w.amplitude *= r.uniform(0.9, 1.1);
  }
  const bool nodule = labels & (1u << 5), mass = labels & (1u << 4);
  const int n_lesions = (nodule ? 1 + static_cast<int>(r.below(3)) : 0) + (mass ? 1 : 0) +
                        ((labels & ~((1u << 1) | (1u << 2) | (1u << 4) | (1u << 5))) ? 1 : 0);
  for (int i = 0; i < n_lesions; ++i) {
    const double side = r.uniform() < 0.5 ? -1.0 : 1.0;
    s.lesions.push_back({side * r.uniform(0.2, 0.5), r.uniform(-0.4, 0.35),
                       (mass && i == n_lesions - 1) ? r.uniform(0.07, 0.12) : r.uniform(0.02, 0.045),
                       r.uniform(0.12, 0.25)});
  }

  return s;
}

// Brightness before exposure at posed coordinates (x, y) in [-1, 1].
double brightness(const Scene& s, double x, double y) {
  const double edge = 0.02;

  const Anatomy& a = s.anatomy;
  const double body = smooth(ellipse(x, y, 0.0, 0.15, a.body_rx, a.body_ry), 0.04);
  double v = 0.06 + 0.40 * body;  // air outside, soft tissue inside
  // Shoulders and neck.
  v += 0.10 * smooth(ellipse(x, y, 0.0, -0.95, 0.95, 0.25), 0.05);

  // Lungs: two ellipses above the diaphragm domes.
  const double dome_l = 0.42 + 0.18 * (x + 0.4) * (x + 0.4), dome_r = 0.38 + 0.18 * (x - 0.4) * (x - 0.4);
  double lung = 0.0;
  for (int side = -1; side <= 1; side += 2) {
    const double cx = 0.37 * side;
    const double inside = ellipse(x, y, cx, -0.08, a.lung_rx, a.lung_ry, -0.08 * side);
    const double dome = side < 0 ? dome_l : dome_r;
    lung = std::max(lung, smooth(inside, edge) * smooth(dome - y, 0.03));
  }
  if (s.effusion) lung *= 1.0 - 0.7 * smooth(y - 0.22, 0.08);  // fluid fills the bases
  v -= 0.28 * lung;

  // Heart and mediastinum (brighter, over the left lung), spine.
  v += 0.13 * smooth(ellipse(x, y, 0.07, 0.22, s.heart_rx, 0.26), 0.06);
  v += 0.10 * smooth(0.11 - std::fabs(x), 0.03) * smooth(0.5 - y, 0.05) * smooth(y + 0.95, 0.05);
  const double spine = smooth(0.065 - std::fabs(x), 0.01);
  v += 0.18 * spine * (0.8 + 0.2 * std::cos(y * 38.0));

  // Ribs: curved bands across each hemithorax; clavicles near the top.
  for (int k = 0; k < 9; ++k) {
    const double y_rib = -0.62 + a.rib_offset + a.rib_pitch * k + 0.3 * x * x;
    const double band = smooth(0.018 - std::fabs(y - y_rib), 0.008);
    v += 0.07 * band * smooth(std::fabs(x) - 0.07, 0.02) * smooth(0.75 - std::fabs(x), 0.05);
  }
  for (int side = -1; side <= 1; side += 2) {
    const double y_clav = -0.68 + 0.12 * (x * side - 0.35) * (x * side - 0.35) - 0.08 * (x * side);
    v += 0.09 * smooth(0.022 - std::fabs(y - y_clav), 0.008) * smooth(0.7 - x * side, 0.04) *
     smooth(x * side - 0.05, 0.04);
  }
  for (const auto& l : s.lesions) v += l.strength * smooth(ellipse(x, y, l.x, l.y, l.r, l.r * 0.9), 0.2);

  double tex = 0.0;
  for (const auto& w : a.waves) tex += w.amplitude * std::sin(w.kx * x + w.ky * y + w.phase);
  v += tex * (0.5 + lung);

  return v;
}

}  // namespace

image::Gray8 render_chest(int size, std::uint64_t seed, std::uint64_t patient, std::uint64_t image_id, std::uint16_t labels,
                          bool ap) {
  rng::KeyedStream r(seed, rng::Purpose::Synthetic, image_id);
  const Scene s = draw_scene(r, draw_anatomy(seed, patient), labels, ap);
  image::Gray8 img{size, size, std::vector<std::uint8_t>(static_cast<std::size_t>(size) * size)};
  std::uint8_t* out = img.pixels.data();  // row by row
  const double ct = std::cos(s.tilt), st = std::sin(s.tilt);
  for (int py = 0; py < size; ++py) {
    for (int px = 0; px < size; ++px) {
      // Normalised coordinates in [-1, 1], posed.
      const double x0 = (2.0 * (px + 0.5) / size - 1.0 - s.shift_x) / s.scale;
      const double y0 = (2.0 * (py + 0.5) / size - 1.0 - s.shift_y) / s.scale;
      const double v = std::pow(std::clamp(brightness(s, ct * x0 + st * y0, -st * x0 + ct * y0) * s.exposure, 0.0, 1.0), s.gamma);
      *out++ = static_cast<std::uint8_t>(std::lround(v * 255.0));
    }
  }
  return img;
}

SynthSummary write_dataset(const SynthOptions& o) {
  if (o.count < 1) throw InputError("--count must be at least 1");
  if (o.size < 32 || o.size > 4096) throw InputError("--size must be in [32, 4096]");
  ensure_writable_directory(o.output);
  rng::KeyedStream r(o.seed, rng::Purpose::Synthetic, 0xDA7A);

  struct Row {
    std::string name;
    int patient, follow_up, age;
    std::uint16_t labels;
    bool ap, male;
  };
  std::vector<Row> rows;
  int patient = 0;
  while (static_cast<int>(rows.size()) < o.count) {
    ++patient;
    // 1..5 studies per patient, as follow-ups are common in ChestX-ray14.
    const int studies = std::min(o.count - static_cast<int>(rows.size()), 1 + static_cast<int>(r.below(5)));
    const int age = 18 + static_cast<int>(r.below(70));
    const bool male = r.uniform() < 0.56;
    for (int k = 0; k < studies; ++k) {
      std::uint16_t labels = 0;
      if (r.uniform() < 0.45) {  // about half "No Finding", as in NIH
        const int n = 1 + static_cast<int>(r.below(3));
        for (int j = 0; j < n; ++j) labels = static_cast<std::uint16_t>(labels | (1u << r.below(14)));
      }
      rows.push_back({fmt::format("{:08d}_{:03d}.png", patient, k), patient, k, age + k / 2, labels,
                      r.uniform() < 0.4, male});
    }
  }

  // Split lists: a share of patients goes to test, by a keyed hash, so the split is patient-level.
  std::string csv = "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
                    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n";
  std::string train_val, test;
  SynthSummary summary;
  summary.patients = patient;
  Progress progress("cxr-synth", static_cast<std::int64_t>(rows.size()), true);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& row = rows[i];
    const bool is_test =
        static_cast<double>(rng::hash_key(o.seed, rng::Purpose::Synthetic, 0x7E57, static_cast<std::uint64_t>(row.patient)) >> 11) *
            0x1.0p-53 < o.test_fraction;
    (is_test ? test : train_val) += row.name + "\n";
    (is_test ? summary.test : summary.train_val) += 1;
    csv += fmt::format("{},{},{},{},{},{},{},{},{},{:.3f},{:.3f}\n", row.name, nih::format_labels(row.labels), row.follow_up,
                       row.patient, row.age, row.male ? "M" : "F", row.ap ? "AP" : "PA", 2500 + (row.patient % 7) * 70,
                       2048 + (row.patient % 5) * 90, 0.143, 0.143);

    // NIH archives hold 10,000 images each (the first 4,999).
    const int archive = 1 + static_cast<int>(i / 10000);
    const fs::path dir = fs::path(o.output) / fmt::format("images_{:03d}", archive) / "images";
    fs::create_directories(dir);
    const image::Gray8 img = render_chest(o.size, o.seed, static_cast<std::uint64_t>(row.patient), i, row.labels, row.ap);
    std::vector<std::uint8_t> bytes;
    if (o.rgba_every > 0 && i % static_cast<std::size_t>(o.rgba_every) == static_cast<std::size_t>(o.rgba_every) - 1) {
      std::vector<std::uint8_t> rgba(img.pixels.size() * 4);
      for (std::size_t p = 0; p < img.pixels.size(); ++p) {
        rgba[4 * p] = rgba[4 * p + 1] = rgba[4 * p + 2] = img.pixels[p];
        rgba[4 * p + 3] = 255;
      }
      bytes = image::encode_png_rgba(img.width, img.height, rgba);
      ++summary.rgba;
    } else {
      bytes = image::encode_png_gray(img);
    }
    write_file_atomic(dir / row.name, std::string(bytes.begin(), bytes.end()));
    progress.advance();
  }
  progress.finish();
  write_file_atomic(fs::path(o.output) / "Data_Entry_2017.csv", csv);
  write_file_atomic(fs::path(o.output) / "train_val_list.txt", train_val);
  write_file_atomic(fs::path(o.output) / "test_list.txt", test);
  summary.images = static_cast<int>(rows.size());
  return summary;
}

}  // namespace cxr::synth
