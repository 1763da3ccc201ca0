// The CLI's wiring through the real binary ($ISHSCALE_BIN, default build/ishscale): bench without a GPU,
// eval's --postprocessor/--set errors (parsed by eval/params.h) as one-line errors with exit 2, and
// --tf32 on train/eval/features/classify (refused values, results.json, checkpoint and cache metadata).
#include <doctest/doctest.h>
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/device.h"
#include "engine/rng.h"
#include "models/resnet.h"
#include "models/state_dict.h"
#include "weights/safetensors.h"
#include "tests/util.h"

namespace {


using ish::test::run;

std::string tmpdir() { return ish::test::make_tmpdir("cli"); }

// n random 20x20 PPM images under dir and the list `name` naming them (labels i % 3).
void write_images(const std::string& dir, const std::string& name, int n, uint64_t seed) {
  ish::Rng rng(seed);
  std::ofstream list(dir + "/" + name);
  for (int i = 0; i < n; i++) {
    const std::string img = name + std::to_string(i) + ".ppm";
    std::ofstream f(dir + "/" + img, std::ios::binary);
    f << "P6\n20 20\n255\n";
    for (int p = 0; p < 20 * 20 * 3; p++) f.put((char)(uint8_t)rng.below(256));
    list << img << " " << i % 3 << "\n";
  }
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// The one .safetensors file under dir.
std::string only_safetensors(const std::string& dir) {
  std::string found;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 12 && n.compare(n.size() - 12, 12, ".safetensors") == 0) found = dir + "/" + n;
    }
    closedir(d);
  }
  return found;
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("cli: --tf32 takes on|off|all on every command that computes; a bad value is one line, exit 2") {
  for (const char* cmd : {"train", "eval", "features", "classify"}) {
    int code = 0;
    std::string out = run(std::string(cmd) + " --tf32 maybe", &code);
    CHECK_MESSAGE(code == 2, cmd << ": " << out);
    CHECK_MESSAGE(out.find("--tf32") != std::string::npos, cmd << ": " << out);
    CHECK_MESSAGE(out.find("'maybe'") != std::string::npos, cmd << ": " << out);
    CHECK_MESSAGE(out.find('\n') == out.size() - 1, cmd << ": more than one line: " << out);
    out = run(std::string(cmd) + " --help", &code);
    CHECK(code == 0);
    CHECK_MESSAGE(out.find("--tf32 on|off|all") != std::string::npos, cmd);
    CHECK_MESSAGE(out.find("No effect on the CPU") != std::string::npos, cmd);
  }
}

TEST_CASE("cli: the --tf32 setting reaches the checkpoint metadata, results.json and the feature cache") {
  const std::string dir = tmpdir();
  write_images(dir, "train.txt", 8, 5);
  const std::string train = "train --train-list " + dir + "/train.txt --data-root " + dir +
                            " --arch resnet18_cifar --width 8 --image-size 16 --batch-size 4 --epochs 2 --threads 1";
  auto tf32_of = [](const std::string& path) { return ish::st::File::open(path).metadata().at("tf32"); };
  int code = 0;
  std::string out = run(train + " --steps 1 --out " + dir + "/default", &code);
  REQUIRE_MESSAGE(code == 0, out);
  CHECK(tf32_of(dir + "/default/last.safetensors") == "on");  // PyTorch's default: convolutions only
  out = run(train + " --steps 1 --tf32 off --out " + dir + "/off", &code);
  REQUIRE_MESSAGE(code == 0, out);
  CHECK(tf32_of(dir + "/off/last.safetensors") == "off");
  out = run("train --resume --out " + dir + "/off --steps 2 --threads 1", &code);  // kept from the checkpoint
  REQUIRE_MESSAGE(code == 0, out);
  CHECK(tf32_of(dir + "/off/last.safetensors") == "off");
  out = run("train --resume --out " + dir + "/off --steps 3 --tf32 all --threads 1", &code);  // or changed
  REQUIRE_MESSAGE(code == 0, out);
  CHECK(tf32_of(dir + "/off/last.safetensors") == "all");

  // eval on a random resnet18 (3 classes): results.json's info and the cache entry's metadata.
  ish::models::ResNet m = ish::models::ResNet::create("resnet18", 3, 1);
  ish::models::save_weights(m, dir + "/w.safetensors");
  write_images(dir, "id.txt", 3, 6);
  write_images(dir, "far.txt", 2, 7);
  out = run("eval --weights " + dir + "/w.safetensors --arch resnet18 --data-root " + dir +
                " --id-test " + dir + "/id.txt --near n=" + dir + "/far.txt --far f=" + dir + "/far.txt"
                " --postprocessor msp --device cpu --threads 1"
                " --batch-size 4 --no-report --tf32 all --out " + dir + "/eval",
            &code);
  REQUIRE_MESSAGE(code == 0, out);
  auto j = nlohmann::json::parse(slurp(dir + "/eval/results.json"));
  CHECK(j["info"]["tf32"] == "all");
  CHECK(j["info"]["device"] == "cpu");
  const std::string cache = only_safetensors(dir + "/eval/cache");
  REQUIRE_MESSAGE(!cache.empty(), "no cache entry under " << dir << "/eval/cache");
  CHECK(tf32_of(cache) == "all");
  CHECK(ish::st::File::open(cache).metadata().at("device") == "cpu");
  std::system(("rm -rf " + dir).c_str());
}

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
