// Test helpers: fixture loading and tolerance checks of the form |a-ref| <= atol + rtol*|ref|.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace ish::test {

std::string fixture_dir();
// The CLI under test: $ISHSCALE_BIN, else the ishscale beside the test binary, else build/ishscale;
// absolute when it exists, so commands may run from another working directory.
std::string ishscale_bin();
bool have_fixture(const std::string& file);
// Loads every tensor of build/fixtures/<file> (a safetensors file) onto the CPU.
std::map<std::string, Tensor> load_fixture(const std::string& file);

struct Diff {
  double max_abs = 0, max_rel = 0;  // max |a-b| and max |a-b|/|b| (relative to the norm, see rel_err)
  double rel_err = 0;               // ||a-b||_inf / max(||b||_inf, tiny): the "relative error" we quote
  int64_t worst = -1;
  bool ok = true;
};
// Elementwise |a-b| <= atol + rtol*|b| everywhere; also reports the norm-relative error.
Diff compare(const Tensor& a, const Tensor& ref, double rtol, double atol);
// CHECK-style helper that prints name, errors and the worst element on failure.
void check_close(const Tensor& a, const Tensor& ref, double rtol, double atol, const std::string& what);
// Relative error as ||a-b||_inf / ||b||_inf (the "relative error <= X" of the issues).
double rel_error(const Tensor& a, const Tensor& ref);
// REQUIREs equal shapes, CHECKs rel_error(a, ref) <= tol and returns the error.
double check_rel(const Tensor& a, const Tensor& ref, double tol, const std::string& what);
// Bitwise equality of two tensors (dtype, shape and bytes), on any device.
bool same_bytes(const Tensor& a, const Tensor& b);
// Runs `cmd` through the shell; returns its stdout and sets *status to pclose's status.
std::string run_capture(const std::string& cmd, int* status);
// Runs `ishscale ARGS` (ishscale_bin()) with stderr folded into the returned text; *code gets the exit code.
std::string run(const std::string& args, int* code);
// A fresh directory /tmp/ishscale_<tag>_XXXXXX.
std::string make_tmpdir(const std::string& tag);
bool exists(const std::string& path);
// max |got - want| / max |want| over two score vectors (the e2e tests' measure).
double rel_err(const std::vector<float>& got, const std::vector<double>& want);

}  // namespace ish::test
