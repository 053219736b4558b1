#pragma once
// Counter-based random numbers: every draw is a pure function of (seed, purpose, a, b), never of
// how many draws came before. So a split, a shuffle or a noise image does not change with the
// number of ranks, the batch composition or thread timing.
//
//   KeyedStream s(seed, Purpose::Noise, image_id, epoch);
//   float z = s.normal();
//
// The mixer is SplitMix64's finaliser (Steele, Lea and Flood, OOPSLA 2014), applied to a key
// and a counter; its outputs pass BigCrush as a stream.
#include <cmath>
#include <cstdint>
#include <string>

namespace cxr::rng {

// Why a draw is made: different purposes never share numbers even with the same seed and ids.
enum class Purpose : std::uint64_t {
  ValidationSplit = 1,
  ImageSplit = 2,
  Shuffle = 3,
  Noise = 4,
  Synthetic = 5,
  BaselineTuning = 6,  // cxr-eval's filter tuning: noise apart from the noise methods are scored on
  NoisyTarget = 7,     // Noise2Noise: the target's noise (clean data) or the choice of two stored copies (exports)
  Bootstrap = 8,       // cxr-reduce's patient-level bootstrap
  SyntheticPatient = 9,  // cxr-synth: a patient's anatomy, shared by all of the patient's studies
};

// A stable 64-bit id of an image from its name (FNV-1a: the same on every platform and run).
inline std::uint64_t image_id(const std::string& name) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  return h;
}

constexpr std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// One 64-bit hash of the whole key.
constexpr std::uint64_t hash_key(std::uint64_t seed, Purpose purpose, std::uint64_t a = 0, std::uint64_t b = 0) {
  std::uint64_t h = mix64(seed + 0x9e3779b97f4a7c15ULL);
  h = mix64(h ^ (static_cast<std::uint64_t>(purpose) * 0x9e3779b97f4a7c15ULL));
  h = mix64(h ^ (a + 0x632be59bd9b4e019ULL));
  h = mix64(h ^ (b + 0x85157af5ULL));
  return h;
}

class KeyedStream {
 public:
  KeyedStream(std::uint64_t seed, Purpose purpose, std::uint64_t a = 0, std::uint64_t b = 0)
      : key_(hash_key(seed, purpose, a, b)) {}

  std::uint64_t next_u64() { return mix64(key_ + 0x9e3779b97f4a7c15ULL * ++counter_); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Integer in [0, n).
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next_u64() % n; }
  // Standard normal by Box-Muller; both values of a pair are used.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(6.283185307179586 * u2);
    has_spare_ = true;
    return r * std::cos(6.283185307179586 * u2);
  }

 private:
  std::uint64_t key_;
  std::uint64_t counter_ = 0;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace cxr::rng
