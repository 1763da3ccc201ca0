// Placeholder until this subcommand lands: refuses with a clear message.
#include "cli/commands.h"
#include "engine/error.h"

namespace ish::cli {
int cmd_info(int, char**) { fail("'info' is not implemented yet"); }
}  // namespace ish::cli
