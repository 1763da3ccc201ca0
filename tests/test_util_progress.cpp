// util/progress.h (the bar on a terminal, timed lines in a log) and util/fs.h's listing, time stamps and
// scoped removal.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "util/fs.h"
#include "util/progress.h"

using namespace ish;

namespace {
// Everything written to f so far.
std::string contents(FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[1024];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  return s;
}
size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) n++;
  return n;
}
}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("util progress: durations") {
  CHECK(util::format_duration(0) == "0:00");
  CHECK(util::format_duration(65) == "1:05");
  CHECK(util::format_duration(3599.4) == "59:59");
  CHECK(util::format_duration(3725) == "1:02:05");
  CHECK(util::format_duration(-1) == "?");
  CHECK(util::format_duration(1.0 / 0.0) == "?");
}

TEST_CASE("util progress: off a terminal, plain lines with count, percentage, rate and ETA") {
  FILE* f = std::tmpfile();
  REQUIRE(f);
  {
    util::ProgressOptions o;
    o.tty = 0;
    o.every = 0;  // a line per update
    o.out = f;
    util::Progress p("id_test/x", 10, o);
    p.update(4);
    p.update(10, "loss 1.5");
    p.finish();
  }
  const std::string s = contents(f);
  CHECK_MESSAGE(s.find("id_test/x: 4/10 img (40%), ") == 0, s);
  CHECK(s.find(" img/s, ETA ") != std::string::npos);
  CHECK(s.find("id_test/x: 10/10 img (100%), ") != std::string::npos);
  CHECK(s.find(", loss 1.5\n") != std::string::npos);
  CHECK(s.find("id_test/x: 10/10 img in 0:00, ") != std::string::npos);
  CHECK(count(s, "\n") == 3);
  CHECK(s.find('\r') == std::string::npos);
  std::fclose(f);

  // A job shorter than the interval stays silent (its caller's own lines suffice).
  f = std::tmpfile();
  {
    util::ProgressOptions o;
    o.tty = 0;
    o.every = 60;
    o.out = f;
    util::Progress p("quick", 3, o);
    p.update(1), p.update(3);
    p.finish();
  }
  CHECK(contents(f).empty());
  std::fclose(f);
}

TEST_CASE("util progress: on a terminal, one bar redrawn in place and ended by a newline") {
  FILE* f = std::tmpfile();
  {
    util::ProgressOptions o;
    o.tty = 1;
    o.out = f;
    util::Progress p("feat", 8, o);
    p.update(2);
    p.update(8);  // within 0.2 s of the previous draw: skipped
    p.finish();
  }
  const std::string s = contents(f);
  CHECK_MESSAGE(s.find("\rfeat [#######.....................] 2/8 ") == 0, s);
  CHECK(s.find("\rfeat [############################] 8/8 ") != std::string::npos);
  CHECK(s.find(" img/s in ") != std::string::npos);
  CHECK(count(s, "\n") == 1);
  CHECK(s.back() == '\n');
  std::fclose(f);

  // Destroyed mid-way (an exception): the open line is ended.
  f = std::tmpfile();
  {
    util::ProgressOptions o;
    o.tty = 1;
    o.out = f;
    util::Progress p("x", 0, o);  // unknown total: no bar
    p.update(3);
  }
  const std::string t = contents(f);
  CHECK_MESSAGE(t.find("\rx 3 img ") == 0, t);
  CHECK(t.back() == '\n');
  std::fclose(f);
}

TEST_CASE("util progress: ISHSCALE_PROGRESS=off silences it; status() still works") {
  FILE* f = std::tmpfile();
  const char* old = std::getenv("ISHSCALE_PROGRESS");
  const std::string saved = old ? old : "";
  setenv("ISHSCALE_PROGRESS", "off", 1);
  {
    util::ProgressOptions o;
    o.tty = 0;
    o.unit = "points";
    o.out = f;
    util::Progress p("APS knn", 5, o);
    p.update(5);
    p.finish();
    CHECK(p.status(2).find("2/5 points, ") == 0);
    CHECK(p.status(2).find(" points/s, ETA ") != std::string::npos);
  }
  if (old)
    setenv("ISHSCALE_PROGRESS", saved.c_str(), 1);
  else
    unsetenv("ISHSCALE_PROGRESS");
  CHECK(contents(f).empty());
  std::fclose(f);
}

TEST_CASE("util fs: list_dir, mtime_utc and remove_files_under keep what they do not own") {
  char t[] = "/tmp/ishscale_fs2_XXXXXX";
  REQUIRE(mkdtemp(t) != nullptr);
  const std::string d = t;
  util::atomic_write(d + "/s/near/a/conf.npy", "x");
  util::atomic_write(d + "/s/near/b/conf.npy", "x");
  util::atomic_write(d + "/s/far/c/pred.npy", "x");
  util::atomic_write(d + "/s/far/c/notes.txt", "keep");
  CHECK(util::list_dir(d + "/s") == std::vector<std::string>{"far", "near"});
  CHECK(util::list_dir(d + "/nope").empty());
  const std::string m = util::mtime_utc(d + "/s/far/c/notes.txt");
  CHECK(m.size() == 20);
  CHECK(m[10] == 'T');
  CHECK(m.back() == 'Z');
  CHECK(util::mtime_utc(d + "/nope").empty());
  util::remove_files_under(d + "/s", ".npy");
  struct stat sb;
  CHECK(stat((d + "/s/near").c_str(), &sb) != 0);  // emptied folders go
  CHECK(stat((d + "/s/far/c/notes.txt").c_str(), &sb) == 0);  // other files stay, and their folders
  CHECK(stat((d + "/s/far/c/pred.npy").c_str(), &sb) != 0);
  util::remove_files_under(d + "/missing", ".npy");  // no error
  std::system(("rm -rf '" + d + "'").c_str());
}
}
