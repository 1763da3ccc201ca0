#include "cli/version.h"

#ifndef ISHSCALE_VERSION
#define ISHSCALE_VERSION ""
#endif
#ifndef ISHSCALE_GIT_COMMIT
#define ISHSCALE_GIT_COMMIT ""
#endif

namespace ish::cli {

std::string version_string() {
  std::string v = ISHSCALE_VERSION;
  if (v.empty()) v = "unknown";
  const std::string commit = ISHSCALE_GIT_COMMIT;
  return commit.empty() ? v : v + " (git " + commit + ")";
}

}  // namespace ish::cli
