// util/: HTML escaping, mkdir -p and atomic writes.
#include <doctest/doctest.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "engine/error.h"
#include "util/fs.h"
#include "util/html.h"

using namespace ish;

namespace {
std::string tmp_dir() {
  char buf[] = "/tmp/ishscale_util_test_XXXXXX";
  REQUIRE(mkdtemp(buf) != nullptr);
  return buf;
}
std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
bool is_dir(const std::string& p) {
  struct stat sb;
  return stat(p.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode);
}
std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> v;
  DIR* d = opendir(dir.c_str());
  REQUIRE(d);
  while (dirent* e = readdir(d))
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") v.push_back(e->d_name);
  closedir(d);
  return v;
}
}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("util html_escape escapes all five special characters") {
  CHECK(util::html_escape("&") == "&amp;");
  CHECK(util::html_escape("<") == "&lt;");
  CHECK(util::html_escape(">") == "&gt;");
  CHECK(util::html_escape("\"") == "&quot;");
  CHECK(util::html_escape("'") == "&#39;");
  CHECK(util::html_escape("<a href='x'>\"Tom\" & Jerry</a>") ==
        "&lt;a href=&#39;x&#39;&gt;&quot;Tom&quot; &amp; Jerry&lt;/a&gt;");
  CHECK(util::html_escape("&amp;") == "&amp;amp;");  // not idempotent: text, not markup, goes in
  CHECK(util::html_escape("plain ü text\n") == "plain ü text\n");
  CHECK(util::html_escape("") == "");
}

TEST_CASE("util make_dirs creates nested directories and reports what is in the way") {
  const std::string d = tmp_dir();
  util::make_dirs(d + "/a/b/c");
  CHECK(is_dir(d + "/a/b/c"));
  util::make_dirs(d + "/a/b/c");  // exists: fine
  util::make_dirs(d + "/a//b/./d/");
  CHECK(is_dir(d + "/a/b/d"));
  util::make_dirs("");
  std::ofstream(d + "/file") << "x";
  CHECK_THROWS_WITH_AS(util::make_dirs(d + "/file/sub"), doctest::Contains((d + "/file").c_str()), Error);
  CHECK_THROWS_AS(util::make_dirs(d + "/file"), Error);
  CHECK(util::parent_dir("a/b/c.npy") == "a/b");
  CHECK(util::parent_dir("c.npy") == "");
  CHECK(util::parent_dir("/c.npy") == "/");
}

TEST_CASE("util atomic_write replaces the file whole and leaves no temp file") {
  const std::string d = tmp_dir();
  const std::string p = d + "/sub/out.txt";
  util::atomic_write(p, "first version\n");
  CHECK(slurp(p) == "first version\n");
  std::string big(3 << 20, 'x');
  big[12345] = '\0';
  util::atomic_write(p, {{"head:", 5}, {big.data(), big.size()}, {nullptr, 0}}, {true, true});
  CHECK(slurp(p) == "head:" + big);
  CHECK(entries(d + "/sub") == std::vector<std::string>{"out.txt"});

  // Failures name the path, keep the old file and remove the temp file.
  util::make_dirs(d + "/busy");
  std::ofstream(d + "/busy/x") << "x";
  CHECK_THROWS_WITH_AS(util::atomic_write(d + "/busy", "data"), doctest::Contains((d + "/busy").c_str()), Error);  // rename onto a non-empty directory
  CHECK(!std::ifstream(d + "/busy.tmp").good());
  util::AtomicWriteOptions no_parents;
  no_parents.make_parents = false;
  CHECK_THROWS_AS(util::atomic_write(d + "/missing/out.txt", "data", no_parents), Error);
  CHECK(!is_dir(d + "/missing"));
  CHECK(slurp(p) == "head:" + big);
  CHECK(entries(d + "/sub") == std::vector<std::string>{"out.txt"});
}
}
