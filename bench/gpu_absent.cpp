// Builds without CUDA (the Makefile links this file instead of bench/gpu.cpp): the GPU bench is refused.
#include "bench/bench.h"
#include "engine/error.h"

namespace ish::bench {
int run_gpu(const GpuOptions&) {
  fail("bench: this build has no CUDA, so it has no GPU benchmark (rebuild where nvcc and cuDNN are found, or with "
       "CUDA=1); 'ishscale bench --pipeline' runs on the CPU");
}
}  // namespace ish::bench
