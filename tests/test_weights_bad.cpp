// The malformed weights corpus (tools/fixtures_weights.py -> weights_bad/): every file is refused
// in-process with a one-line ish::Error (code 2), and through the real CLI binary ($ISHSCALE_BIN,
// default build/ishscale) `info` and `convert` exit with code 2 and one line on stderr, never a signal.
#include <doctest/doctest.h>

#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/util.h"
#include "weights/load.h"

using namespace ish;

namespace {

std::vector<std::string> bad_files() {
  std::vector<std::string> files;
  std::string dir = test::fixture_dir() + "/weights_bad";
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') files.push_back(dir + "/" + e->d_name);
    closedir(d);
  }
  std::sort(files.begin(), files.end());
  return files;
}

struct Run {
  int status = -1;
  std::string err;
};
Run run(const std::string& cmd) {
  Run r;
  FILE* p = popen((cmd + " 2>&1 >/dev/null").c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.err.append(buf, n);
  r.status = pclose(p);
  return r;
}

using test::exists;

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("weights: every malformed file gives a one-line error (in-process)") {
  auto files = bad_files();
  REQUIRE_MESSAGE(files.size() >= 20, "weights_bad/ holds " << files.size() << " files; run tools/fixtures_weights.py");
  std::remove("/tmp/ishscale_pwned");
  for (auto& f : files) {
    INFO(f);
    try {
      weights::load_any(f);
      FAIL_CHECK("accepted a malformed file");
    } catch (const Error& e) {
      std::string m = e.what();
      CHECK(e.code == 2);
      CHECK(m.find('\n') == std::string::npos);
      CHECK(m.find(f) != std::string::npos);  // names the file
    }
  }
  CHECK_MESSAGE(!exists("/tmp/ishscale_pwned"), "a pickled os.system call was executed");
}

TEST_CASE("weights: ishscale info/convert exit 2 with one line on every malformed file, never a crash") {
  const char* b = std::getenv("ISHSCALE_BIN");
  std::string bin = b && *b ? b : "build/ishscale";
  REQUIRE_MESSAGE(exists(bin), bin << " not found (set ISHSCALE_BIN)");
  std::string out = "/tmp/ishscale_bad_out_" + std::to_string(getpid()) + ".safetensors";
  std::remove("/tmp/ishscale_pwned");
  int n = 0;
  for (auto& f : bad_files()) {
    for (std::string cmd : {"info", "convert"}) {
      INFO(cmd << " " << f);
      std::string line = "'" + bin + "' " + cmd + " '" + f + "'" + (cmd == "convert" ? " '" + out + "'" : "");
      Run r = run(line);
      CHECK_MESSAGE(WIFEXITED(r.status), "killed by a signal");
      CHECK(WEXITSTATUS(r.status) == 2);  // a crash through the shell shows as 128+signal
      CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
      CHECK(r.err.rfind("ishscale " + cmd + ": error: ", 0) == 0);
      CHECK_MESSAGE(!exists(out), "convert left an output file");
      std::remove(out.c_str());
      n++;
    }
  }
  CHECK(n >= 40);
  CHECK_MESSAGE(!exists("/tmp/ishscale_pwned"), "a pickled os.system call was executed");
}

}  // TEST_SUITE
