// `ishscale demo --quick` end to end (in-process), the seed statistics and the demo's bad-input paths.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
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

TEST_CASE("demo: --quick writes every output with sane content") {
  if (!have("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    MESSAGE("skipped: dataset-fashion-mnist is not installed");
    return;
  }
  char buf[] = "/tmp/ishscale_demo_run_XXXXXX";
  REQUIRE(mkdtemp(buf) != nullptr);
  DemoConfig c = demo_profile("quick");
  c.out = std::string(buf) + "/out";
  REQUIRE(run_demo(c) == 0);

  // results.json: every training, every detector, metrics in percent.
  nlohmann::json j = nlohmann::json::parse(slurp(c.out + "/results.json"));
  CHECK(j["profile"] == "quick");
  CHECK(j["data"]["id_test"]["images"] == c.sizes.id_test);
  CHECK(j["data"]["far"].size() == 2);
  std::vector<std::string> names;  // every detector but AdaSCALE, which the demo leaves to `ishscale eval`
  for (const auto& n : eval::detector_names())
    if (n != "adascale_a" && n != "adascale_l") names.push_back(n);
  REQUIRE(names.size() + 2 == eval::detector_names().size());
  for (const char* t : {"ce_scratch", "ce_finetune", "ish_finetune"}) {
    CAPTURE(t);
    REQUIRE(j["trainings"].contains(t));
    const auto& jt = j["trainings"][t];
    CHECK(percent(jt["id_acc"]["mean"]));
    CHECK(jt["id_acc"]["per_seed"].size() == 1);
    REQUIRE(jt["detectors"].size() == names.size());
    for (const auto& n : names) {
      CAPTURE(n);
      const auto& jd = jt["detectors"][n];
      for (const char* k : {"near_auroc", "near_fpr95", "far_auroc", "far_fpr95"}) CHECK(percent(jd[k]["mean"]));
      CHECK(jd["datasets"].contains("fashion_6-9"));
      CHECK(jd["datasets"].contains("letters"));
      CHECK(jd["datasets"].contains("noise"));
    }
    // Per-model outputs: OpenOOD CSVs, score dumps, the model's own results and report, the checkpoint.
    const std::string dir = c.out + "/seed0/" + t;
    for (const char* f : {"report.html", "results.json", "last.safetensors", "summary.csv"}) CHECK(have(dir + "/" + f));
    for (const auto& n : names) {
      auto rows = lines(slurp(dir + "/ood/" + n + ".csv"));
      REQUIRE(rows.size() == 6);
      CHECK(rows[0] == ",FPR@95,AUROC,AUPR_IN,AUPR_OUT,ACC");
      CHECK(rows[1].rfind("fashion_6-9,", 0) == 0);
      CHECK(rows[2].rfind("nearood,", 0) == 0);
      CHECK(rows[3].rfind("letters,", 0) == 0);
      CHECK(rows[4].rfind("noise,", 0) == 0);
      CHECK(rows[5].rfind("farood,", 0) == 0);
      Tensor conf = eval::read_npy(dir + "/scores/" + n + "/id/fashion_0-5/conf.npy");
      int64_t expect = n == "odin" ? std::min(c.odin_max, c.sizes.id_test) : c.sizes.id_test;
      CHECK(conf.numel() == expect);
      CHECK(have(dir + "/scores/" + n + "/far/letters/conf.npy"));
    }
  }
  // The combined report embeds each model's report (ROC curves and histograms as SVG).
  std::string html = slurp(c.out + "/report.html");
  CHECK(html.find("ISH-finetune") != std::string::npos);
  CHECK(html.find("&lt;svg") != std::string::npos);
  CHECK(html.find("</html>") != std::string::npos);
  std::string table = slurp(c.out + "/summary.txt");
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
}

}  // TEST_SUITE
