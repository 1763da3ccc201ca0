// `ishscale demo --quick` end to end (the binary, $ISHSCALE_BIN), the seed statistics and the demo's bad-input paths.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "demo/config.h"
#include "demo/results.h"
#include "demo/run.h"
#include "engine/error.h"
#include "eval/detectors.h"
#include "eval/npy.h"
#include "tests/demo_util.h"
#include "tests/util.h"

using namespace ish;
using namespace ish::demo;

namespace {

bool have(const std::string& p) {
  struct stat sb;
  return stat(p.c_str(), &sb) == 0;
}
std::string slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> v;
  std::stringstream ss(s);
  for (std::string l; std::getline(ss, l);) v.push_back(l);
  return v;
}
bool percent(const nlohmann::json& j) { return j.is_number() && j.get<double>() >= 0 && j.get<double>() <= 100; }

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("demo: --quick with two seeds writes every output; progress on stderr, results on stdout") {
  if (!have("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    MESSAGE("skipped: dataset-fashion-mnist is not installed");
    return;
  }
  char buf[] = "/tmp/ishscale_demo_run_XXXXXX";
  REQUIRE(mkdtemp(buf) != nullptr);
  const std::string root = buf, out = root + "/out", digits = root + "/digits";
  REQUIRE(mkdir(digits.c_str(), 0755) == 0);
  test::write_fake_mnist(digits, 12);  // the registry's package is not needed by the tests
  const DemoConfig c = demo_profile("quick");
  const int code = std::system((ish::test::ishscale_bin() + " demo --quick --seeds 2 --threads 2 --out " + out + " --mnist-dir " + digits +
                                " >" + root + "/stdout 2>" + root + "/stderr").c_str());
  const std::string so = slurp(root + "/stdout"), se = slurp(root + "/stderr");
  REQUIRE_MESSAGE(code == 0, so, se);
  // stdout: the configuration, the tables and the paired comparison; the progress is all on stderr.
  CHECK(so.find("ishscale demo: profile 'quick'") == 0);
  CHECK(so.find("Paired AUROC difference ISH-finetune − CE-finetune") != std::string::npos);
  CHECK(so.find("SCALE on near-OOD") != std::string::npos);
  for (const char* progress : {"== ce_scratch", "epoch 1/1", "ID test accuracy", "seed 2 of 2 done"}) {
    CAPTURE(progress);
    CHECK(so.find(progress) == std::string::npos);
    CHECK(se.find(progress) != std::string::npos);
  }

  // results.json: every training, every detector, metrics in percent as mean/std/per_seed over 2 seeds.
  nlohmann::json j = nlohmann::json::parse(slurp(out + "/results.json"));
  CHECK(j["profile"] == "quick");
  CHECK(j["data"]["id_test"]["images"] == c.sizes.id_test);
  REQUIRE(j["data"]["far"].size() == 3);
  CHECK(j["data"]["far"][0]["name"] == "mnist");
  CHECK(j["data"]["far"][0]["images"] == std::min<int64_t>(c.sizes.mnist, 120));
  std::vector<std::string> names;  // every detector but AdaSCALE, which the demo leaves to `ishscale eval`
  for (const auto& n : eval::detector_names())
    if (n != "adascale_a" && n != "adascale_l") names.push_back(n);
  REQUIRE(names.size() + 2 == eval::detector_names().size());
  for (const char* t : {"ce_scratch", "ce_finetune", "ish_finetune"}) {
    CAPTURE(t);
    REQUIRE(j["trainings"].contains(t));
    const auto& jt = j["trainings"][t];
    CHECK(percent(jt["id_acc"]["mean"]));
    REQUIRE(jt["id_acc"]["per_seed"].size() == 2);
    const double a0 = jt["id_acc"]["per_seed"][0], a1 = jt["id_acc"]["per_seed"][1];
    // results.json rounds every value to 4 decimals; the mean is of the unrounded values.
    CHECK(std::fabs(jt["id_acc"]["mean"].get<double>() - (a0 + a1) / 2) <= 1e-4);
    CHECK(jt["id_acc"]["std"].get<double>() == doctest::Approx(std::fabs(a0 - a1) / std::sqrt(2.0)).epsilon(1e-4));
    REQUIRE(jt["detectors"].size() == names.size());
    for (const auto& n : names) {
      CAPTURE(n);
      const auto& jd = jt["detectors"][n];
      for (const char* k : {"near_auroc", "near_fpr95", "far_auroc", "far_fpr95"}) {
        CHECK(percent(jd[k]["mean"]));
        CHECK(jd[k]["per_seed"].size() == 2);
      }
      for (const char* ds : {"fashion_6-9", "mnist", "letters", "noise"}) CHECK(jd["datasets"].contains(ds));
    }
    // Per-model outputs: OpenOOD CSVs, score dumps, the model's own results and report, the checkpoint.
    for (int seed : {0, 1}) {
      const std::string dir = out + "/seed" + std::to_string(seed) + "/" + t;
      for (const char* f : {"report.html", "results.json", "last.safetensors", "summary.csv"}) CHECK(have(dir + "/" + f));
      for (const auto& n : names) {
        auto rows = lines(slurp(dir + "/ood/" + n + ".csv"));
        REQUIRE(rows.size() == 7);
        CHECK(rows[0] == ",FPR@95,AUROC,AUPR_IN,AUPR_OUT,ACC");
        CHECK(rows[1].rfind("fashion_6-9,", 0) == 0);
        CHECK(rows[2].rfind("nearood,", 0) == 0);
        CHECK(rows[3].rfind("mnist,", 0) == 0);
        CHECK(rows[4].rfind("letters,", 0) == 0);
        CHECK(rows[5].rfind("noise,", 0) == 0);
        CHECK(rows[6].rfind("farood,", 0) == 0);
        Tensor conf = eval::read_npy(dir + "/scores/" + n + "/id/fashion_0-5/conf.npy");
        int64_t expect = n == "odin" ? std::min(c.odin_max, c.sizes.id_test) : c.sizes.id_test;
        CHECK(conf.numel() == expect);
        CHECK(have(dir + "/scores/" + n + "/far/mnist/conf.npy"));
      }
    }
  }
  // The paired section: per detector near and far, two per-seed differences each.
  const auto& jp = j["paired_ish_minus_ce"];
  REQUIRE(jp.contains("scale"));
  CHECK(jp["scale"]["near_auroc"]["per_seed"].size() == 2);
  const double d0 = jp["scale"]["near_auroc"]["per_seed"][0];
  const double ish0 = j["trainings"]["ish_finetune"]["detectors"]["scale"]["near_auroc"]["per_seed"][0];
  const double ce0 = j["trainings"]["ce_finetune"]["detectors"]["scale"]["near_auroc"]["per_seed"][0];
  CHECK(d0 == doctest::Approx(ish0 - ce0).epsilon(1e-3));
  CHECK(jp["scale_near_verdict"].get<std::string>().find("SCALE on near-OOD") != std::string::npos);
  // The combined report: headline chart, links to each model's full page.
  std::string html = slurp(out + "/report.html");
  CHECK(html.find("class='headline'") != std::string::npos);
  CHECK(html.find("<a href='seed1/ish_finetune/report.html'>seed 1</a>") != std::string::npos);
  CHECK(html.find("</html>") != std::string::npos);
  std::string table = slurp(out + "/summary.txt");
  CHECK(table.find("scale") != std::string::npos);
  CHECK(table.find("CE-finetune") != std::string::npos);
}

TEST_CASE("demo: mean and sample std over seeds") {
  MeanStd m = mean_std({90, 92, 94});
  CHECK(m.mean == doctest::Approx(92));
  CHECK(m.std == doctest::Approx(2));  // n-1 denominator
  CHECK(mean_std({80}).std == 0);
}

TEST_CASE("demo: bad configuration and missing data fail with a named error") {
  CHECK_THROWS_AS(demo_profile("huge"), Error);
  DemoConfig c = demo_profile("quick");
  char buf[] = "/tmp/ishscale_demo_bad_XXXXXX";
  REQUIRE(mkdtemp(buf) != nullptr);
  c.out = std::string(buf) + "/out";
  c.paths.fashion_dir = std::string(buf) + "/nowhere";
  try {
    run_demo(c);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("nowhere/train-images-idx3-ubyte.gz") != std::string::npos);
    CHECK(e.code == 2);
  }
  c.paths = DataPaths();
  c.paths.font_dir = std::string(buf);
  CHECK_THROWS_WITH_AS(run_demo(c), doctest::Contains("DejaVu"), Error);
  c.paths = DataPaths();
  c.paths.mnist_dir = std::string(buf) + "/no-digits";
  CHECK_THROWS_WITH_AS(run_demo(c), doctest::Contains("no-digits/0.json: cannot open; fetch the MNIST digits with 'make mnist'"),
                       Error);
}

}  // TEST_SUITE
