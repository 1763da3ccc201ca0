// The demo's data: IDX parsing (good, corrupt, truncated), glyph rendering, splits.
#include <doctest/doctest.h>
#include <zlib.h>

#include <cstdio>
#include <set>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "demo/data.h"
#include "tests/demo_util.h"
#include "demo/glyphs.h"
#include "engine/error.h"

using namespace ish;
using namespace ish::demo;

namespace {

std::string tmp_dir() {
  static std::string d;
  if (d.empty()) {
    char buf[] = "/tmp/ishscale_demo_test_XXXXXX";
    REQUIRE(mkdtemp(buf) != nullptr);
    d = buf;
  }
  return d;
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f);
  REQUIRE(gzwrite(f, bytes.data(), (unsigned)bytes.size()) == (int)bytes.size());
  gzclose(f);
}
void write_raw(const std::string& path, const std::vector<uint8_t>& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f);
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}
std::vector<uint8_t> read_raw(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  REQUIRE(f);
  std::vector<uint8_t> v;
  int c;
  while ((c = std::fgetc(f)) != EOF) v.push_back((uint8_t)c);
  std::fclose(f);
  return v;
}
// An IDX3 header for n images of r x c followed by `payload` bytes of i % 251.
std::vector<uint8_t> idx3(uint32_t n, uint32_t r, uint32_t c, size_t payload) {
  std::vector<uint8_t> v = {0, 0, 8, 3};
  for (uint32_t d : {n, r, c})
    for (int s = 24; s >= 0; s -= 8) v.push_back((uint8_t)(d >> s));
  for (size_t i = 0; i < payload; i++) v.push_back((uint8_t)(i % 251));
  return v;
}

// Expects read_idx_gz to throw an ish::Error whose message names the file and contains `what`.
void expect_idx_error(const std::string& path, int ndim, const std::string& what) {
  try {
    read_idx_gz(path, ndim);
    FAIL("no error for " << path);
  } catch (const Error& e) {
    std::string m = e.what();
    CHECK_MESSAGE(m.find(path) != std::string::npos, m);
    CHECK_MESSAGE(m.find(what) != std::string::npos, m);
    CHECK(e.code == 2);
  }
}

const char* kFashion = "/usr/share/datasets/fashion-mnist";
const char* kFonts = "/usr/share/fonts/truetype/dejavu";
bool have(const std::string& p) {
  struct stat sb;
  return stat(p.c_str(), &sb) == 0;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("demo: IDX reader parses a good file and names the file on every error") {
  const std::string d = tmp_dir();
  const std::string good = d + "/good-idx3.gz";
  write_gz(good, idx3(3, 2, 5, 30));
  IdxArray a = read_idx_gz(good, 3);
  CHECK(a.dims == std::vector<int64_t>{3, 2, 5});
  REQUIRE(a.data.size() == 30);
  CHECK(a.data[29] == 29);

  write_gz(d + "/short.gz", idx3(3, 2, 5, 29));
  expect_idx_error(d + "/short.gz", 3, "truncated");
  write_gz(d + "/long.gz", idx3(3, 2, 5, 31));
  expect_idx_error(d + "/long.gz", 3, "trailing");
  std::vector<uint8_t> magic = idx3(3, 2, 5, 30);
  magic[2] = 0x0D;  // float elements
  write_gz(d + "/magic.gz", magic);
  expect_idx_error(d + "/magic.gz", 3, "unsigned byte");
  expect_idx_error(good, 1, "3 dimensions, expected 1");
  write_gz(d + "/hdr.gz", {0, 0, 8, 3, 0, 0});
  expect_idx_error(d + "/hdr.gz", 3, "truncated IDX header");
  expect_idx_error(d + "/missing.gz", 3, "cannot open");

  // A gzip stream cut in half, and one with flipped bytes in the deflate data.
  std::vector<uint8_t> gz = read_raw(good);
  REQUIRE(gz.size() > 20);
  write_raw(d + "/cut.gz", std::vector<uint8_t>(gz.begin(), gz.begin() + gz.size() / 2));
  expect_idx_error(d + "/cut.gz", 3, "gzip");
  std::vector<uint8_t> bad = gz;
  for (size_t i = 12; i < bad.size() - 8; i++) bad[i] ^= 0x5A;
  write_raw(d + "/flip.gz", bad);
  expect_idx_error(d + "/flip.gz", 3, "gzip");
}

TEST_CASE("demo: Fashion-MNIST loads with the documented sizes") {
  if (!have(std::string(kFashion) + "/t10k-images-idx3-ubyte.gz")) {
    MESSAGE("skipped: dataset-fashion-mnist is not installed");
    return;
  }
  ImageSet t = load_fashion_split(kFashion, "t10k");
  CHECK(t.size() == 10000);
  CHECK(t.pixels.size() == 10000u * 784u);
  std::vector<int> count(10, 0);
  for (int64_t l : t.labels) count[l]++;
  for (int c = 0; c < 10; c++) CHECK(count[c] == 1000);
  // A loader error names the missing file.
  try {
    load_fashion_split(kFashion, "nosuchsplit");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("nosuchsplit-images-idx3-ubyte.gz") != std::string::npos);
  }
}

TEST_CASE("demo: letters render non-empty, white on black, deterministically") {
  FaceSplit fs = choose_faces(kFonts);
  REQUIRE(!fs.test_faces.empty());
  for (auto& f : fs.test_faces) CHECK(f != fs.val_face);
  Font font(fs.test_faces[0]);
  std::vector<uint8_t> a(784), b(784);
  for (int ch = 'A'; ch <= 'Z'; ch++) {
    int64_t ink = font.render(ch, 20, 0, 0, a.data());
    CHECK(ink > 15);
    CHECK(ink < 784 / 2);  // a glyph, not a filled canvas: the background stays black
    CHECK(a[0] == 0);
    CHECK(a[783] == 0);
    font.render(ch, 20, 0, 0, b.data());
    CHECK(a == b);
  }
  ImageSet s1 = render_letters(fs.test_faces, 60, 7, "l");
  ImageSet s2 = render_letters(fs.test_faces, 60, 7, "l");
  ImageSet s3 = render_letters(fs.test_faces, 60, 8, "l");
  CHECK(s1.pixels == s2.pixels);
  CHECK(s1.pixels != s3.pixels);
  for (int64_t l : s1.labels) CHECK(l == -1);
  CHECK_THROWS_AS(Font("/nonexistent/font.ttf"), Error);
}

TEST_CASE("demo: splits are disjoint, labelled as documented and seeded") {
  if (!have(std::string(kFashion) + "/train-images-idx3-ubyte.gz")) {
    MESSAGE("skipped: dataset-fashion-mnist is not installed");
    return;
  }
  DemoSizes z;
  z.train = 3000;
  z.id_val = 300;
  z.id_fit = 500;
  z.id_test = 600;
  z.near = 400;
  z.letters = 260;
  z.noise = 50;
  z.ood_val = 100;
  z.mnist = 60;
  DataPaths p;
  char tmpl[] = "/tmp/ishscale_demo_mnist_XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  p.mnist_dir = tmpl;
  test::write_fake_mnist(p.mnist_dir, 12);  // the registry's package is not needed by the tests
  DemoData d = build_demo_data(p, z, 1);
  CHECK(d.train.size() == 3000);
  CHECK(d.id_val.size() == 300);
  CHECK(d.id_test.size() == 600);
  CHECK(d.near.size() == 400);
  CHECK(d.letters.size() == 260);
  CHECK(d.noise.size() == 50);
  CHECK(d.mnist.size() == 60);
  CHECK(d.ood_val.size() == 100);
  std::set<int64_t> tr(d.train.source.begin(), d.train.source.end());
  CHECK(tr.size() == 3000u);
  for (int64_t s : d.id_val.source) CHECK(tr.count(s) == 0);  // ID val is held out of training
  for (int64_t s : d.id_fit.source) CHECK(tr.count(s) == 1);  // knn/vim/mds fit on training images
  std::set<int64_t> te(d.id_test.source.begin(), d.id_test.source.end());
  for (int64_t s : d.near.source) CHECK(te.count(s) == 0);
  std::vector<int> per(6, 0);
  for (int64_t l : d.train.labels) {
    REQUIRE((l >= 0 && l <= 5));
    per[l]++;
  }
  for (int c = 0; c < 6; c++) CHECK(per[c] == 500);  // stratified
  for (int64_t l : d.id_test.labels) CHECK((l >= 0 && l <= 5));
  for (int64_t l : d.near.labels) CHECK(l == -1);
  CHECK(d.mean > 0.2f);
  CHECK(d.mean < 0.4f);  // Fashion-MNIST's mean is 0.286
  CHECK(d.stdv > 0.25f);
  CHECK(d.stdv < 0.45f);
  DemoData e = build_demo_data(p, z, 1);
  CHECK(e.train.source == d.train.source);
  CHECK(e.letters.pixels == d.letters.pixels);
  CHECK(e.noise.pixels == d.noise.pixels);
  CHECK(e.mnist.pixels == d.mnist.pixels);
  DemoData f = build_demo_data(p, z, 2);
  CHECK(f.train.source != d.train.source);
}

}  // TEST_SUITE
