#include "noise/export_noise.hpp"

#include <openssl/evp.h>
#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>

#include "common/error.hpp"

namespace cxr::noise {

ExportKey fresh_export_key() {
  ExportKey key;
  std::size_t got = 0;
  while (got < key.bytes.size()) {
    const ssize_t n = getrandom(key.bytes.data() + got, key.bytes.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw RuntimeError(std::string("cannot draw an export key from the OS (getrandom): ") + std::strerror(errno));
    got += static_cast<std::size_t>(n);
  }
  return key;
}

namespace {

// 32 random bytes for block `block` of (image, copy): SHA-256 of key | image id | copy | block.
void random_block(const ExportKey& key, std::uint64_t image_id, std::uint64_t copy, std::uint64_t block, std::uint64_t out[4]) {
  std::uint8_t message[32 + 24];
  std::memcpy(message, key.bytes.data(), 32);
  std::memcpy(message + 32, &image_id, 8);
  std::memcpy(message + 40, &copy, 8);
  std::memcpy(message + 48, &block, 8);
  unsigned int n = 0;
  std::uint8_t digest[EVP_MAX_MD_SIZE];
  if (EVP_Digest(message, sizeof(message), digest, &n, EVP_sha256(), nullptr) != 1 || n != 32)
    throw RuntimeError("SHA-256 failed while drawing export noise");
  std::memcpy(out, digest, 32);
}

double unit_open(std::uint64_t bits) { return (static_cast<double>(bits >> 11) + 0.5) * 0x1.0p-53; }  // in (0, 1)

}  // namespace

void obfuscated_copies(const std::uint8_t* clean, std::size_t pixels, const ExportKey& key, std::uint64_t image_id, int copies,
                       const ExportNoise& noise, std::uint16_t* out) {
  for (int k = 0; k < copies; ++k) {
    std::uint16_t* copy = out + static_cast<std::size_t>(k) * pixels;
    std::uint64_t bits[4];
    for (std::size_t p = 0; p < pixels; p += 4) {  // one block: 4 uniforms, 4 normals (two Box-Muller pairs)
      random_block(key, image_id, static_cast<std::uint64_t>(k), p / 4, bits);
      double z[4];
      for (int pair = 0; pair < 2; ++pair) {
        const double r = std::sqrt(-2.0 * std::log(unit_open(bits[2 * pair])));
        const double angle = 6.283185307179586 * unit_open(bits[2 * pair + 1]);
        z[2 * pair] = r * std::cos(angle);
        z[2 * pair + 1] = r * std::sin(angle);
      }
      for (std::size_t i = 0; i < 4 && p + i < pixels; ++i) {
        const double noisy = std::clamp(clean[p + i] / 255.0 + noise.mean + noise.sigma * z[i], 0.0, 1.0);
        copy[p + i] = static_cast<std::uint16_t>(std::lround(noisy * kExportScale));
      }
    }
  }
}

}  // namespace cxr::noise
