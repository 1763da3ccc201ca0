// Placeholder until this benchmark lands.
#include "cli/bench.h"
#include "engine/error.h"

namespace ish::cli {
int bench_pipeline(int, char**) { fail("bench (pipeline) is not implemented yet"); }
}  // namespace ish::cli
