// Placeholder until this subcommand lands: refuses with a clear message.
#include "cli/commands.h"
#include "engine/error.h"

namespace ish::cli {
int cmd_bench(int, char**) { fail("'bench' is not implemented yet"); }
}  // namespace ish::cli
