// Process-wide thread settings; see engine/threads.h.
#include "engine/threads.h"

#include <malloc.h>
#include <omp.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>

extern "C" void openblas_set_num_threads(int);

namespace ish {
namespace {
int g_threads = 0;
}

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

void init_process(int argc, char** argv) {
  (void)argc;
  if (!std::getenv("OMP_WAIT_POLICY")) {
    // libgomp has already read its environment; only a fresh image sees the setting. If exec fails
    // we carry on with the spinning default.
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);
  }
  // Freed activations stay in the heap instead of going back to the kernel: otherwise every op
  // page-faults its fresh output. 32 MiB is glibc's largest mmap threshold on 64-bit (a larger value
  // is refused, and setting the trim threshold alone pins the mmap threshold at 128 KiB).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  set_threads(0);
}

void set_threads(int n) {
  g_threads = n > 0 ? n : available_cores();
  omp_set_num_threads(g_threads);
  // Code that calls cblas directly (outside our regions) still gets N threads; engine/cpu GEMMs
  // switch it to 1 inside their own parallel regions (engine/cpu/gemm.cpp).
  openblas_set_num_threads(g_threads);
}

int threads() { return g_threads > 0 ? g_threads : omp_get_max_threads(); }

}  // namespace ish
