// The CLI's wiring through the real binary ($ISHSCALE_BIN, default build/ishscale): bench without a GPU,
// and eval's --postprocessor/--set errors (parsed by eval/params.h) as one-line errors with exit 2.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/device.h"

namespace {

std::string bin() {
  const char* b = std::getenv("ISHSCALE_BIN");
  return b && *b ? b : "build/ishscale";
}

// Runs `ishscale ARGS` with stderr folded into the returned text; *code gets the exit code.
std::string run(const std::string& args, int* code) {
  FILE* p = popen((bin() + " " + args + " 2>&1").c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = pclose(p);
  *code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("cli: bench without a GPU says why, exit 2") {
  if (ish::dev::cuda_available()) return;  // would run the real benchmark
  int code = 0;
  std::string out = run("bench --iters 1", &code);
  CHECK(code == 2);
  CHECK_MESSAGE((out.find("has no CUDA") != std::string::npos || out.find("no GPU") != std::string::npos), out);
  CHECK(out.find("ishscale bench: error: ") == 0);
  out = run("bench --pipeline --threads 0", &code);
  CHECK(code == 2);
  CHECK_MESSAGE(out.find("--threads") != std::string::npos, out);
  out = run("bench --help", &code);
  CHECK(code == 0);
  CHECK(out.find("--pipeline") != std::string::npos);
}

TEST_CASE("cli: eval refuses a bad --postprocessor or --set before loading anything") {
  int code = 0;
  std::string out = run("eval --weights /nonexistent.safetensors --id-test x --far a=b --postprocessor msp,nope", &code);
  CHECK(code == 2);
  CHECK_MESSAGE(out.find("unknown postprocessor 'nope'") != std::string::npos, out);
  out = run("eval --weights /nonexistent.safetensors --set knn.K=abc", &code);
  CHECK(code == 2);
  CHECK_MESSAGE(out.find("--set knn.K=abc") != std::string::npos, out);
  out = run("eval --weights /nonexistent.safetensors --near broken", &code);
  CHECK(code == 2);
  CHECK_MESSAGE(out.find("--near wants NAME=LIST") != std::string::npos, out);
}
}
