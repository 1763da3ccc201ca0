// The malformed-image corpus (tools/image_corpus.py, generated at test time): truncated and bit-flipped
// files of every accepted format, decompression bombs, zero-size images, huge header dimensions and
// files of other formats, through the decoder, the batch loader, `ishscale features` (skips and counts
// each with one line) and `ishscale classify` (strict: exit 2 and one line). Never a crash.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/image/image.h"
#include "engine/image/imglist.h"
#include "engine/image/loader.h"
#include "tests/util.h"

using namespace ish;
using namespace ish::img;

namespace {

struct Entry {
  std::string name, path, msg;
  bool must_fail = false;
};

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

// The corpus, generated once per test process into a fresh temporary directory.
struct Corpus {
  std::string dir;
  std::vector<Entry> files;
};
const Corpus& corpus() {
  static Corpus c = [] {
    Corpus k;
    char tmpl[] = "/tmp/ishscale_malformed_XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    k.dir = tmpl;
    struct stat sb;
    REQUIRE_MESSAGE(stat("tools/image_corpus.py", &sb) == 0, "run the tests from the repository root");
    int st = 0;
    std::string out = test::run_capture("/usr/bin/python3 tools/image_corpus.py malformed " + k.dir + " 2>&1", &st);
    REQUIRE_MESSAGE(st == 0, out);
    std::ifstream m(k.dir + "/manifest.txt");
    for (std::string line; std::getline(m, line);) {
      std::istringstream ls(line);
      Entry e;
      std::string mf;
      std::getline(ls, e.name, '\t');
      std::getline(ls, mf, '\t');
      std::getline(ls, e.msg);
      e.must_fail = mf == "1";
      e.path = k.dir + "/" + e.name;
      k.files.push_back(e);
    }
    REQUIRE(k.files.size() > 150);
    return k;
  }();
  return c;
}

// What the decoder says about each file: "" if it decodes, else its error message.
std::map<std::string, std::string> decode_results() {
  std::map<std::string, std::string> r;
  for (const Entry& e : corpus().files) {
    try {
      Image im = decode_file(e.path);
      REQUIRE(im.px.size() == (size_t)im.w * im.h * 3);
      r[e.name] = "";
    } catch (const Error& err) {
      CHECK_MESSAGE(err.code == 2, e.name << ": " << err.what());
      r[e.name] = err.what();
    }
  }
  return r;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("malformed images: each decodes or is refused with one line naming the file") {
  const auto res = decode_results();
  int refused = 0, must = 0;
  for (const Entry& e : corpus().files) {
    const std::string& msg = res.at(e.name);
    if (e.name.find("_ok.") != std::string::npos) CHECK_MESSAGE(msg.empty(), e.name << ": " << msg);
    if (e.must_fail) {
      must++;
      CHECK_MESSAGE(!msg.empty(), e.name << " decoded but must be refused");
      CHECK_MESSAGE(msg.find(e.msg) != std::string::npos, e.name << ": '" << msg << "' lacks '" << e.msg << "'");
    }
    if (msg.empty()) continue;
    refused++;
    CHECK_MESSAGE(msg.find(e.path) != std::string::npos, msg);
    CHECK_MESSAGE(msg.find('\n') == std::string::npos, msg);
  }
  MESSAGE(corpus().files.size() << " files: " << refused << " refused (" << must << " must be), "
                                << corpus().files.size() - refused << " decoded");
  CHECK(must >= 25);
  CHECK(refused > must);  // truncations and bit flips are caught too, not only the crafted headers
}

TEST_CASE("malformed images: the caps apply before decoding and are configurable") {
  const Corpus& c = corpus();
  const std::string ok = c.dir + "/base_ok.jpg", png = c.dir + "/rgb_ok.png";
  std::vector<uint8_t> bytes;
  read_file(ok, bytes);
  DecodeOptions o;
  CHECK(o.max_file_bytes == int64_t(256) << 20);
  o.max_file_bytes = (int64_t)bytes.size() - 1;
  CHECK_THROWS_WITH_AS(decode_file(ok, o), doctest::Contains("exceeds the file-size cap"), Error);
  CHECK_THROWS_WITH_AS(read_file(ok, bytes, 10), doctest::Contains(ok.c_str()), Error);
  o.max_file_bytes = (int64_t)bytes.size();
  CHECK(decode_file(ok, o).w == 40);
  o.max_file_bytes = kDefaultMaxFileBytes;
  o.max_pixels = 40 * 30 - 1;
  CHECK_THROWS_WITH_AS(decode_file(png, o), doctest::Contains("exceeds the cap"), Error);
  o.max_pixels = 0;
  o.max_file_bytes = 0;  // both off
  CHECK(decode_file(png, o).h == 30);
  // The bomb is refused from its header: the pixel cap, not the 1-bit zlib stream, stops it.
  DecodeOptions off;
  off.max_pixels = 0;
  CHECK_THROWS_AS(decode_file(c.dir + "/bomb_gif_65535x65535.gif", off), Error);
  // Formats are recognised by their bytes, not their names.
  const uint8_t tiff[] = {'I', 'I', 42, 0, 8, 0, 0, 0};
  CHECK(sniff(tiff, 8) == Format::Other);
  CHECK(describe_unaccepted(tiff, 8) == "TIFF");
  CHECK(std::string(format_name(sniff(bytes.data(), bytes.size()))) == "JPEG");
}

TEST_CASE("malformed images: the loader skips and counts each refused file") {
  const auto res = decode_results();
  ImgList L;
  L.file = "malformed.txt";
  int64_t expect_skip = 0;
  for (const Entry& e : corpus().files) {
    L.items.push_back(ListItem{e.name, e.path, 0, (int)L.items.size() + 1});
    expect_skip += !res.at(e.name).empty();
  }
  LoaderOptions o;
  o.batch_size = 16;
  o.threads = 2;
  o.format = PixelFormat::U8;
  o.warn = false;
  Loader ld(L, o);
  int64_t n = 0, msgs = 0;
  while (const Batch* b = ld.next()) {
    n += b->n;
    for (const auto& m : b->skipped) {
      msgs++;
      CHECK(m.find('\n') == std::string::npos);
    }
  }
  CHECK(ld.skipped() == expect_skip);
  CHECK(msgs == expect_skip);
  CHECK(n == (int64_t)L.items.size() - expect_skip);
}

TEST_CASE("malformed images: `features` skips and counts, `classify` refuses with exit 2") {
  REQUIRE(test::have_fixture("resnet18.pth"));
  const std::string w = test::fixture_dir() + "/resnet18.pth";
  const Corpus& c = corpus();
  const auto res = decode_results();
  // features: every file of the corpus in one list; one warning line per skipped file, the count printed.
  const std::string list = c.dir + "/list.txt", cache = c.dir + "/cache";
  int64_t expect_skip = 0;
  {
    std::ofstream f(list);
    for (const Entry& e : c.files) {
      f << e.name << " 0\n";
      expect_skip += !res.at(e.name).empty();
    }
  }
  int st = 0;
  const std::string base = test::ishscale_bin() + " features --arch resnet18 --weights " + w + " --list " + list +
                           " --data-root " + c.dir + " --cache-dir " + cache + " --device cpu --batch-size 64 --threads 2";
  std::string out = test::run_capture(base + " 2>&1", &st);
  INFO(out);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  int64_t warn_lines = 0;
  for (const auto& l : lines_of(out)) warn_lines += l.rfind("warning: skipping ", 0) == 0;
  CHECK(warn_lines == expect_skip);
  CHECK(out.find(std::to_string(expect_skip) + " files skipped") != std::string::npos);
  // --strict: the first refused file stops the run with exit 2 and one line naming it.
  out = test::run_capture(base + " --strict --recompute 2>&1 >/dev/null", &st);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 2);
  CHECK(lines_of(out).size() == 1);
  // classify is strict: each refused file (the crafted ones, and the half-truncated base file of each
  // format) gives exit 2 with one line on stderr naming it. Each run loads a resnet18, so not every
  // damaged copy is run; the loader and features checks above cover them all.
  int runs = 0;
  const std::set<std::string> trunc = {"base_trunc50.jpg", "rgb_trunc50.png", "rgb24_trunc50.bmp",
                                       "p6_trunc50.ppm", "p5_trunc50.pgm"};
  for (const Entry& e : c.files) {
    const bool damaged_copy = e.name.find("_trunc") != std::string::npos || e.name.find("_flip") != std::string::npos;
    if (!(e.must_fail && !damaged_copy) && !trunc.count(e.name)) continue;
    std::string err = test::run_capture(
        test::ishscale_bin() + " classify --arch resnet18 --weights " + w + " " + e.path + " 2>&1 >/dev/null", &st);
    runs++;
    REQUIRE_MESSAGE(WIFEXITED(st), e.name << " killed by a signal: " << err);
    CHECK_MESSAGE(WEXITSTATUS(st) == 2, e.name << ": " << err);
    CHECK_MESSAGE(lines_of(err).size() == 1, e.name << ": " << err);
    CHECK_MESSAGE(err.find(e.path) != std::string::npos, err);
  }
  MESSAGE("classify ran on " << runs << " files");
}

}  // TEST_SUITE
