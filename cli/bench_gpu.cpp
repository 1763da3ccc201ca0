// Placeholder until this benchmark lands.
#include "cli/bench.h"
#include "engine/error.h"

namespace ish::cli {
int bench_gpu(int, char**) { fail("bench (gpu) is not implemented yet"); }
}  // namespace ish::cli
