// Internal to engine/cpu: how the CPU kernels share the cores. Every kernel opens at most one
// OpenMP region per call and splits work statically by thread number, so a result depends only on
// the thread count (bit-exact resume). GEMMs inside a region run OpenBLAS on one thread.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

extern "C" int openblas_get_num_threads(void);
extern "C" void openblas_set_num_threads(int);

namespace ish::cpu {

// OpenBLAS on one thread for this scope (its own pool would oversubscribe our threads); restored
// after. Only from the main thread, outside any region.
struct BlasSerial {
  int saved;
  BlasSerial() : saved(openblas_get_num_threads()) {
    if (saved != 1) openblas_set_num_threads(1);
  }
  ~BlasSerial() {
    if (saved != 1) openblas_set_num_threads(saved);
  }
};

// Threads worth using for `work` units when each thread should get at least `grain` of them.
inline int team_size(int64_t work, int64_t grain) {
  if (omp_get_level() > 0) return 1;  // already inside a region: no nesting
  const int64_t t = std::max<int64_t>(1, work / std::max<int64_t>(1, grain));
  return (int)std::min<int64_t>(omp_get_max_threads(), t);
}

// [begin, end) of part i of n equal contiguous parts of [0, total), boundaries rounded to `align`.
inline void split_range(int64_t total, int n, int i, int64_t align, int64_t& begin, int64_t& end) {
  auto at = [&](int k) {
    if (k >= n) return total;
    const int64_t b = total * k / n;
    return std::min(total, (b + align - 1) / align * align);
  };
  begin = at(i);
  end = at(i + 1);
}

}  // namespace ish::cpu
