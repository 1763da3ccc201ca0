// Test runner. Suites: "cpu" always runs; "gpu" runs when a CUDA device exists, and is
// otherwise skipped with the reason printed. Fixtures come from $ISHSCALE_FIXTURES
// (default build/fixtures), written by tools/make_fixtures.py.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "engine/device.h"

int main(int argc, char** argv) {
  doctest::Context ctx;
  ctx.applyCommandLine(argc, argv);
  if (!ish::dev::cuda_available()) {
    std::printf("[gpu suite skipped: %s]\n", ish::dev::cuda_unavailable_reason().c_str());
    ctx.addFilter("test-suite-exclude", "gpu");
  }
  return ctx.run();
}
