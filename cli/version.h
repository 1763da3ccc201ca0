// The program's version: the tree's VERSION file (the one place it is written) and, when built from a
// git checkout, the commit; both are passed by the Makefile as -D defines to cli/version.cpp only.
#pragma once
#include <string>

namespace ish::cli {
// "0.1.0 (git 1a2b3c4)", or "0.1.0" outside a checkout ("unknown" when built without the Makefile).
std::string version_string();
}  // namespace ish::cli
