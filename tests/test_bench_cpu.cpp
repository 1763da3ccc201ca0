// `ishscale bench --cpu` on the vision transformers: one eval forward of vit_b_16 and of swin_t at batch 1,
// the JSON, and the FLOP counts against torchvision's published figures (17.56 and 4.49 GFLOPS, counted
// as multiply-adds, at 224); bad flags give one line and exit 2.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "tests/util.h"

namespace {
struct Out {
  int code;
  std::string text;
};
Out run_bench(const std::string& args) {
  FILE* p = popen((ish::test::ishscale_bin() + " bench --cpu " + args + " 2>&1").c_str(), "r");
  REQUIRE(p);
  std::string s;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) s += buf;
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, s};
}
}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("bench --cpu: vit_b_16 eval at batch 1 writes the JSON keys; FLOPs as torchvision counts them") {
  const std::string json = "/tmp/ish_bench_vit_" + std::to_string(getpid()) + ".json";
  const Out o = run_bench("--arch vit_b_16 --batch-size 1 --threads 1 --repeat 1 --warmup 0 --no-train --json " + json);
  REQUIRE_MESSAGE(o.code == 0, o.text);
  CHECK(o.text.find("vit_b_16") != std::string::npos);
  std::ifstream f(json);
  REQUIRE(f.good());
  const auto j = nlohmann::json::parse(f);
  std::remove(json.c_str());
  CHECK(j.at("arch") == "vit_b_16");
  CHECK(j.at("eval_img_s").get<double>() > 0);
  CHECK(j.at("eval_gflops").get<double>() > 0);
  CHECK_FALSE(j.contains("train_img_s"));
  // torchvision's ViT_B_16_Weights meta: 17.56 GFLOPS (multiply-adds; ours counts 2 FLOP per multiply-add).
  CHECK(j.at("gflop_per_img_fwd").get<double>() == doctest::Approx(2 * 17.56).epsilon(0.005));
}

TEST_CASE("bench --cpu: swin_t's FLOPs as torchvision counts them (4.49 GFLOPS multiply-adds)") {
  const std::string json = "/tmp/ish_bench_swin_" + std::to_string(getpid()) + ".json";
  const Out o = run_bench("--arch swin_t --batch-size 1 --threads 1 --repeat 1 --warmup 0 --no-train --json " + json);
  REQUIRE_MESSAGE(o.code == 0, o.text);
  std::ifstream f(json);
  REQUIRE(f.good());
  const auto j = nlohmann::json::parse(f);
  std::remove(json.c_str());
  CHECK(j.at("arch") == "swin_t");
  CHECK(j.at("gflop_per_img_fwd").get<double>() == doctest::Approx(2 * 4.49).epsilon(0.005));
}

TEST_CASE("bench --cpu refuses a transformer at another image size, and an unknown arch, in one line") {
  Out o = run_bench("--arch vit_b_16 --image-size 64 --no-train");
  CHECK(o.code == 2);
  CHECK(o.text.find("--image-size 224") != std::string::npos);
  o = run_bench("--arch vit_b_17 --no-train");
  CHECK(o.code == 2);
  CHECK(o.text.find("unknown vision transformer 'vit_b_17'") != std::string::npos);
}
}
