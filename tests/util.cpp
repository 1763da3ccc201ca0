#include "tests/util.h"

#include <sys/wait.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <sys/stat.h>

#include "weights/safetensors.h"

namespace ish::test {

std::string fixture_dir() {
  const char* d = std::getenv("ISHSCALE_FIXTURES");
  return d && *d ? d : "build/fixtures";
}
bool have_fixture(const std::string& file) {
  struct stat sb;
  return stat((fixture_dir() + "/" + file).c_str(), &sb) == 0;
}
std::map<std::string, Tensor> load_fixture(const std::string& file) {
  std::string p = fixture_dir() + "/" + file;
  REQUIRE_MESSAGE(have_fixture(file), "missing fixture " << p << " (run `make fixtures`)");
  return st::File::open(p).load_all();
}

Diff compare(const Tensor& a, const Tensor& ref, double rtol, double atol) {
  Diff d;
  REQUIRE_MESSAGE(a.shape() == ref.shape(), "shape " << shape_str(a.shape()) << " vs ref " << shape_str(ref.shape()));
  auto x = a.to_f64_vector(), y = ref.to_f64_vector();
  double ninf = 0;
  for (size_t i = 0; i < x.size(); i++) {
    double e = std::fabs(x[i] - y[i]);
    ninf = std::max(ninf, std::fabs(y[i]));
    bool bad = !(e <= atol + rtol * std::fabs(y[i]));  // NaN fails
    if (e > d.max_abs || (bad && d.ok)) { d.max_abs = std::max(d.max_abs, e); }
    if (y[i] != 0) d.max_rel = std::max(d.max_rel, e / std::fabs(y[i]));
    if (bad && d.ok) { d.ok = false; d.worst = (int64_t)i; }
  }
  d.rel_err = d.max_abs / std::max(ninf, 1e-30);
  return d;
}

double rel_error(const Tensor& a, const Tensor& ref) { return compare(a, ref, 0, INFINITY).rel_err; }

double check_rel(const Tensor& a, const Tensor& ref, double tol, const std::string& what) {
  REQUIRE_MESSAGE(a.shape() == ref.shape(), what << ": shape " << shape_str(a.shape()) << " vs " << shape_str(ref.shape()));
  const double e = rel_error(a, ref);
  CHECK_MESSAGE(e <= tol, what << ": relative error " << e << " > " << tol);
  return e;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  Tensor x = a.to(Device::CPU), y = b.to(Device::CPU);
  return std::memcmp(x.raw(), y.raw(), x.nbytes()) == 0;
}

void check_close(const Tensor& a, const Tensor& ref, double rtol, double atol, const std::string& what) {
  Diff d = compare(a, ref, rtol, atol);
  if (!d.ok) {
    auto x = a.to_f64_vector(), y = ref.to_f64_vector();
    FAIL_CHECK(what << ": max_abs=" << d.max_abs << " rel_err=" << d.rel_err << " first bad [" << d.worst
                    << "] got " << x[d.worst] << " want " << y[d.worst] << " (rtol " << rtol << ", atol " << atol
                    << ")");
  } else {
    CHECK_MESSAGE(true, what << " ok: max_abs=" << d.max_abs << " rel_err=" << d.rel_err);
  }
}

std::string run_capture(const std::string& cmd, int* status) {
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = pclose(p);
  return out;
}

std::string run(const std::string& args, int* code) {
  int st = 0;
  std::string out = run_capture(ishscale_bin() + " " + args + " 2>&1", &st);
  *code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

std::string make_tmpdir(const std::string& tag) {
  std::string tmpl = "/tmp/ishscale_" + tag + "_XXXXXX";
  REQUIRE(mkdtemp(&tmpl[0]) != nullptr);
  return tmpl;
}

bool exists(const std::string& path) {
  struct stat sb;
  return stat(path.c_str(), &sb) == 0;
}

double rel_err(const std::vector<float>& got, const std::vector<double>& want) {
  double mx = 0, ref = 0;
  for (size_t i = 0; i < want.size(); i++) {
    mx = std::max(mx, std::fabs((double)got[i] - want[i]));
    ref = std::max(ref, std::fabs(want[i]));
  }
  return mx / std::max(ref, 1e-30);
}

std::string ishscale_bin() {
  std::string p;
  if (const char* e = std::getenv("ISHSCALE_BIN"); e && *e) p = e;
  if (p.empty()) {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) {
      std::string beside(buf, (size_t)n);
      beside = beside.substr(0, beside.rfind('/')) + "/ishscale";
      if (access(beside.c_str(), X_OK) == 0) p = beside;
    }
  }
  if (p.empty()) p = "build/ishscale";
  char abs[PATH_MAX];
  return realpath(p.c_str(), abs) ? std::string(abs) : p;
}

}  // namespace ish::test
