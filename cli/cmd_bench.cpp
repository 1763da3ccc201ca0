// `ishscale bench [--pipeline] ...`: dispatches to the CPU pipeline bench or the GPU bench.
#include <cstring>

#include "bench/cpu.h"
#include "cli/bench.h"
#include "cli/commands.h"

namespace ish::cli {
int cmd_bench(int argc, char** argv) {
  for (int i = 0; i < argc; i++)
    if (!std::strcmp(argv[i], "--pipeline")) return bench_pipeline(argc, argv);
  for (int i = 0; i < argc; i++)
    if (!std::strcmp(argv[i], "--cpu")) return ish::bench::bench_cpu(argc, argv);
  return bench_gpu(argc, argv);
}
}  // namespace ish::cli
