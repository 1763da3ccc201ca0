// The commands with transformers, through the real binary ($ISHSCALE_BIN): full-size vit_b_16 and swin_t
// (random weights, 10 classes) saved with torchvision's names and no metadata are recognised from their
// tensors by classify, eval and convert (which writes arch/num_classes), --arch takes the '-' aliases, a
// ViT refuses an --image-size its position embedding does not fit, swin_t evaluates with its own
// transform (232 bicubic), train refuses transformers in one line, and --interpolation reaches
// results.json and the feature-cache key.
#include <doctest/doctest.h>
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "eval/npy.h"
#include "models/swin.h"
#include "models/vit.h"
#include "models/zoo.h"
#include "tests/util.h"
#include "weights/safetensors.h"

using namespace ish;

namespace {

using test::run;

std::string tmpdir() { return test::make_tmpdir("tf"); }

int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

size_t count_files(const std::string& dir) {
  size_t n = 0;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("cli: a torchvision-named vit_b_16 is recognised by classify and convert; aliases; image-size refusal") {
  const std::string dir = tmpdir(), tv = dir + "/vit_tv.safetensors", img = test::fixture_dir() + "/eval_e2e/data/images/e2e/china.jpg";
  REQUIRE_MESSAGE(access(img.c_str(), R_OK) == 0, "missing " << img << " (run `make fixtures`)");
  {
    auto m = models::VisionTransformer::create("vit_b_16", 10, /*seed=*/3);
    st::save(tv, models::state_dict(m), {});  // torchvision's names, no metadata
  }
  int code = 0;
  // classify infers the arch from the tensors (no --arch) and dumps [1,10] logits, [1,768] features.
  std::string out = run("classify --weights " + tv + " " + img + " --dump " + dir, &code);
  REQUIRE_MESSAGE(code == 0, out);
  Tensor z = eval::read_npy(dir + "/logits.npy"), f = eval::read_npy(dir + "/features.npy");
  CHECK(z.shape() == Shape{1, 10});
  CHECK(f.shape() == Shape{1, 768});
  // The alias names the same model and gives the same numbers.
  out = run("classify --weights " + tv + " --arch vit-b-16 " + img + " --dump " + dir + "/alias", &code);
  REQUIRE_MESSAGE(code == 0, out);
  CHECK(test::rel_error(eval::read_npy(dir + "/alias/logits.npy"), z) == 0);
  // An arch the tensors contradict, an --image-size the position embedding does not fit: one line each.
  out = run("classify --weights " + tv + " --arch vit_b_32 " + img, &code);
  CHECK(code == 2);
  CHECK(lines(out) == 1);
  CHECK(out.find("not --arch vit_b_32") != std::string::npos);
  out = run("classify --weights " + tv + " --image-size 256 " + img, &code);
  CHECK(code == 2);
  CHECK(lines(out) == 1);
  CHECK(out.find("position embedding fits 224x224") != std::string::npos);
  out = run("classify --weights " + tv + " --arch vit_b_99 " + img, &code);
  CHECK(code == 2);
  CHECK(out.find("unknown --arch 'vit_b_99'") != std::string::npos);
  // convert writes what the tensors say.
  out = run("convert " + tv + " " + dir + "/vit_meta.safetensors", &code);
  REQUIRE_MESSAGE(code == 0, out);
  CHECK(out.find("vit_b_16") != std::string::npos);
  auto md = st::File::open(dir + "/vit_meta.safetensors").metadata();
  CHECK(md["arch"] == "vit_b_16");
  CHECK(md["num_classes"] == "10");
  CHECK(md.count("width") == 0);  // a ResNet's
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("cli: a torchvision-named swin_t is recognised by eval and convert, with its 232 bicubic transform") {
  const std::string fx = test::fixture_dir(), data = fx + "/eval_e2e/data", dir = tmpdir(), tv = dir + "/swin_tv.safetensors";
  REQUIRE_MESSAGE(access((data + "/id_val.txt").c_str(), R_OK) == 0, "missing " << data << " (run `make fixtures`)");
  {
    auto m = models::SwinTransformer::create("swin_t", 10, /*seed=*/4);
    st::save(tv, models::state_dict(m), {});  // torchvision's names, no metadata
  }
  int code = 0;
  std::string out = run("convert " + tv + " " + dir + "/swin_meta.safetensors", &code);
  REQUIRE_MESSAGE(code == 0, out);
  auto md = st::File::open(dir + "/swin_meta.safetensors").metadata();
  CHECK(md["arch"] == "swin_t");
  CHECK(md["num_classes"] == "10");
  for (const char* arch : {"", " --arch swin-t"}) {  // inferred, and the alias
    out = run("eval --weights " + tv + arch + " --device cpu --data-root " + data + " --id-test " + data +
                  "/id_val.txt --far farA=" + data + "/ood_val.txt --postprocessor msp,scale --no-aps --batch-size 4 " +
                  "--threads 2 --no-report --out " + dir + "/out",
              &code);
    REQUIRE_MESSAGE(code == 0, out);
    std::ifstream rf(dir + "/out/results.json");
    const std::string r = nlohmann::json::parse(rf).dump();
    CHECK_MESSAGE(r.find("\"arch\":\"swin_t\"") != std::string::npos, r.substr(0, 2000));
    CHECK(r.find("\"resize\":\"232\"") != std::string::npos);
    CHECK(r.find("\"interpolation\":\"bicubic\"") != std::string::npos);
  }
  out = run("eval --weights " + tv + " --arch swin_s --id-test " + data + "/id_val.txt --far farA=" + data + "/ood_val.txt", &code);
  CHECK(code == 2);
  CHECK(out.find("not --arch swin_s") != std::string::npos);
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("cli: train refuses transformers in one line") {
  int code = 0;
  for (const char* a : {"vit_b_16", "vit-b-16", "swin_t", "swin-b"}) {
    std::string out = run(std::string("train --arch ") + a + " --train-list /nonexistent.txt --out /tmp/x", &code);
    CHECK(code == 2);
    CHECK_MESSAGE(lines(out) == 1, out);
    CHECK_MESSAGE(out.find("is a transformer; train builds ResNets only") != std::string::npos, out);
  }
}

TEST_CASE("cli: --interpolation is checked, recorded in results.json and part of the feature-cache key") {
  const std::string fx = test::fixture_dir(), data = fx + "/eval_e2e/data", weights = fx + "/eval_adascale_resnet18.safetensors";
  REQUIRE_MESSAGE(access(weights.c_str(), R_OK) == 0, "missing " << weights << " (run `make fixtures`)");
  const std::string dir = tmpdir();
  const std::string base = "eval --weights " + weights + " --device cpu --data-root " + data + " --id-test " + data +
                           "/id_val.txt --far farA=" + data + "/ood_val.txt --postprocessor msp --batch-size 4 --threads 2 " +
                           "--no-report --cache-dir " + dir + "/cache --out " + dir + "/out";
  int code = 0;
  std::string out = run(base + " --interpolation nearest", &code);
  CHECK(code == 2);
  CHECK(lines(out) == 1);
  CHECK(out.find("--interpolation must be bilinear or bicubic") != std::string::npos);
  for (const char* f : {"bilinear", "bicubic"}) {
    out = run(base + (std::string(f) == "bicubic" ? " --interpolation bicubic" : ""), &code);
    REQUIRE_MESSAGE(code == 0, out);
    std::ifstream rf(dir + "/out/results.json");
    nlohmann::json r = nlohmann::json::parse(rf);
    std::string got = r.dump();
    CHECK_MESSAGE(got.find(std::string("\"interpolation\":\"") + f + "\"") != std::string::npos, got.substr(0, 2000));
  }
  CHECK(count_files(dir + "/cache") == 4);  // 2 lists x 2 filters: the filter is in the key
  std::system(("rm -rf " + dir).c_str());
}
}
