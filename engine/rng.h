// Seeded, reproducible RNG (xoshiro256**, seeded by splitmix64). The state is four words and
// serialises to a string, so checkpoints can resume bit-identically.
#pragma once
#include <cstdint>
#include <string>

namespace ish {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { seed_(seed); }
  uint64_t next_u64();
  double uniform();                     // [0, 1), 53 bits
  double uniform(double lo, double hi);  // [lo, hi)
  uint64_t below(uint64_t n);            // uniform integer in [0, n), unbiased
  double normal();                       // standard normal (Box-Muller, no cached spare)
  std::string state() const;             // "s0:s1:s2:s3" in hex
  void set_state(const std::string& s);  // throws ish::Error on malformed input
 private:
  void seed_(uint64_t seed);
  uint64_t s_[4];
};

}  // namespace ish
