#pragma once
// The noise of an obfuscated export (cxr-preprocess --obfuscate K): K noisy copies of each image,
// clamp(clean + N(mean, sigma), 0, 1), drawn from a 256-bit key that comes fresh from the OS and
// is never written anywhere. The training noise (noise.hpp) is keyed by (seed, image id) so that
// runs repeat, which means anyone who knows the seed (0 by default) can regenerate it and
// subtract it; an export's noise nobody can regenerate: SHA-256 of (key, image id, copy, block)
// gives the random bits, Box-Muller the normals.
//
// Stored as uint16, value x 65535: the noise is not re-quantised to 8 bits (a step of 1.5e-5
// against sigma >= 0.05), 0 and 1 (where the clamp puts many pixels) are exact, HDF5 and h5py
// read it natively, and it compresses like any integer.
#include <array>
#include <cstddef>
#include <cstdint>

namespace cxr::noise {

struct ExportKey {
  std::array<std::uint8_t, 32> bytes{};
};
// 256 bits from the OS (getrandom); RuntimeError when it has none to give.
ExportKey fresh_export_key();

inline constexpr double kExportScale = 65535.0;  // stored value = round(noisy x kExportScale)

struct ExportNoise {
  double mean = 0.1, sigma = 0.1;  // the noise model; the clamp to [0, 1] is always applied
};

// `copies` noisy copies of one 8-bit image of `pixels` pixels, written one after another to `out`
// (copies x pixels values). The same key, id and copy always give the same copy.
void obfuscated_copies(const std::uint8_t* clean, std::size_t pixels, const ExportKey& key, std::uint64_t image_id, int copies,
                       const ExportNoise& noise, std::uint16_t* out);

}  // namespace cxr::noise
