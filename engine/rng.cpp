#include "engine/rng.h"

#include <cmath>
#include <cstdio>

#include "engine/error.h"

namespace ish {

static uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void Rng::seed_(uint64_t seed) {
  for (auto& w : s_) w = splitmix64(seed);
}
uint64_t Rng::next_u64() {
  const uint64_t r = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
  s_[2] ^= s_[0]; s_[3] ^= s_[1]; s_[1] ^= s_[2]; s_[0] ^= s_[3];
  s_[2] ^= t; s_[3] = rotl(s_[3], 45);
  return r;
}
double Rng::uniform() { return (double)(next_u64() >> 11) * 0x1.0p-53; }
double Rng::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
uint64_t Rng::below(uint64_t n) {
  ISH_ASSERT(n > 0);
  const uint64_t lim = UINT64_MAX - UINT64_MAX % n;  // reject the biased tail
  uint64_t v;
  do v = next_u64(); while (v >= lim);
  return v % n;
}
double Rng::normal() {
  double u1 = uniform(), u2 = uniform();
  if (u1 < 1e-300) u1 = 1e-300;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}
std::string Rng::state() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%016llx:%016llx:%016llx:%016llx", (unsigned long long)s_[0],
                (unsigned long long)s_[1], (unsigned long long)s_[2], (unsigned long long)s_[3]);
  return buf;
}
void Rng::set_state(const std::string& s) {
  unsigned long long a, b, c, d;
  char tail;
  ISH_CHECK(std::sscanf(s.c_str(), "%16llx:%16llx:%16llx:%16llx%c", &a, &b, &c, &d, &tail) == 4,
            "malformed RNG state '", s, "'");
  s_[0] = a; s_[1] = b; s_[2] = c; s_[3] = d;
}

}  // namespace ish
