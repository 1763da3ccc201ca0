// `ishscale eval` / `features` from a user's side, through the real binary ($ISHSCALE_BIN, default
// build/ishscale) on the small image benchmark of tools/fixtures_eval.py with its random resnet18
// (10 classes, 512 features): a failing detector leaves the others' outputs (exit 3), every missing
// input is named before anything is extracted, list files resolve against the working directory, ID
// labels outside the classes are refused, no far columns without far sets, ViM's small-fit-set warning,
// re-runs into one --out, and progress lines off a terminal.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "tests/util.h"

namespace {

using ish::test::exists;

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_file(const std::string& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
  REQUIRE(f.good());
}


struct Out {
  int code = -1;
  std::string all;  // stdout and stderr
  std::string out;  // stdout alone
};

// Runs `cd CWD && ENV ishscale ARGS` (stdout and stderr captured apart).
Out run(const std::string& args, const std::string& cwd = ".", const std::string& env = "") {
  static int n = 0;
  const std::string err = "/tmp/ishscale_evalflow_stderr_" + std::to_string(getpid()) + "_" + std::to_string(n++);
  const std::string cmd = "cd '" + cwd + "' && " + env + " '" + ish::test::ishscale_bin() + "' " + args + " 2>" + err;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  Out o;
  char buf[4096];
  size_t k;
  while ((k = fread(buf, 1, sizeof buf, p)) > 0) o.out.append(buf, k);
  const int st = pclose(p);
  o.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  o.all = o.out + slurp(err);
  std::remove(err.c_str());
  return o;
}

// The fixture benchmark, a scratch folder, and the flags every eval call here shares.
struct Bench {
  std::string data, weights, tmp, cache;
  Bench() {
    char buf[PATH_MAX];
    const std::string fx = realpath(ish::test::fixture_dir().c_str(), buf) ? std::string(buf) : ish::test::fixture_dir();
    data = fx + "/eval_e2e/data";
    weights = fx + "/eval_adascale_resnet18.safetensors";
    REQUIRE_MESSAGE((exists(data + "/id_test.txt") && exists(weights)), "missing fixtures (run `make fixtures`)");
    REQUIRE_MESSAGE(exists(ish::test::ishscale_bin()), "missing " << ish::test::ishscale_bin());
    char t[] = "/tmp/ishscale_evalflow_XXXXXX";
    REQUIRE(mkdtemp(t) != nullptr);
    tmp = t;
    cache = tmp + "/cache";
  }
  ~Bench() { std::system(("rm -rf '" + tmp + "'").c_str()); }
  std::string list(const std::string& name) const { return data + "/" + name + ".txt"; }
  // eval on the fixture's lists (absolute paths), images under the fixture's data root.
  std::string eval(const std::string& pp, const std::string& out, const std::string& extra = "") const {
    return "eval --weights " + weights + " --arch resnet18 --device cpu --threads 2 --batch-size 4 --data-root " + data +
           " --cache-dir " + cache + " --out " + out + " --postprocessor " + pp + " --id-test " + list("id_test") + " " +
           extra;
  }
};

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("cli eval: a detector that cannot run is reported; the others' outputs are written, exit 3") {
  Bench b;
  const std::string out = b.tmp + "/partial";
  // knn's whole APS grid (K >= 50) exceeds the 6 ID-train samples; msp and ebo still run.
  Out r = run(b.eval("msp,knn,ebo", out,
                     "--id-val " + b.list("id_val") + " --ood-val " + b.list("ood_val") + " --id-train " + b.list("id_train") +
                         " --near nearA=" + b.list("near_a") + " --far farA=" + b.list("far_a")));
  CHECK_MESSAGE(r.code == 3, r.all);
  CHECK_MESSAGE(r.all.find("eval: knn: failed: APS: no grid point of knn applies") != std::string::npos, r.all);
  CHECK(exists(out + "/ood/msp.csv"));
  CHECK(exists(out + "/ood/ebo.csv"));
  CHECK_FALSE(exists(out + "/ood/knn.csv"));
  auto j = nlohmann::json::parse(slurp(out + "/results.json"));
  CHECK(j["this_run"] == nlohmann::json({"msp", "ebo"}));
  REQUIRE(j["failed"].size() == 1);
  CHECK(j["failed"][0]["postprocessor"] == "knn");
  CHECK(j["failed"][0]["reason"].get<std::string>().find("exceeds the 6 ID-train samples") != std::string::npos);
  CHECK(j["postprocessors"].contains("ebo"));
  const std::string html = slurp(out + "/report.html");
  CHECK(html.find("Failed in this run") != std::string::npos);
  CHECK(r.out.find("knn        FAILED: APS") != std::string::npos);

  // A fixed K that the bank cannot hold fails the same way; when nothing could run, exit 2.
  r = run(b.eval("knn", b.tmp + "/none", "--id-train " + b.list("id_train") + " --near nearA=" + b.list("near_a") +
                                             " --set knn.K=50"));
  CHECK_MESSAGE(r.code == 2, r.all);
  CHECK_MESSAGE(r.all.find("no postprocessor could run") != std::string::npos, r.all);
}

TEST_CASE("cli eval: every missing list and image folder is named before anything is extracted") {
  Bench b;
  const std::string root = b.tmp + "/openood";  // an empty OpenOOD data folder
  REQUIRE(mkdir(root.c_str(), 0755) == 0);
  Out r = run("eval --weights " + b.weights + " --arch resnet18 --device cpu --benchmark imagenet --data-root " + root +
              " --out " + b.tmp + "/o --postprocessor msp,knn");
  CHECK_MESSAGE(r.code == 2, r.all);
  for (const char* want : {"images_largescale (for id_test/imagenet", "images_classic (for far/textures)",
                           "test_imagenet.txt", "val_openimage_o.txt", "test_ssb_hard.txt", "test_ninco.txt",
                           "test_inaturalist.txt", "test_textures.txt", "test_openimage_o.txt",
                           "knn need ID training features: give --id-train LIST", "nothing was extracted"})
    CHECK_MESSAGE(r.all.find(want) != std::string::npos, want << " not in:\n" << r.all);
  CHECK_FALSE(exists(b.tmp + "/o/cache"));

  // A list whose images are not under the data root: found by the sampled paths, before extraction.
  write_file(b.tmp + "/bad_near.txt", "images/e2e/syn4.jpg -1\nelsewhere/missing.jpg -1\n");
  r = run(b.eval("msp", b.tmp + "/o2", "--near n=" + b.tmp + "/bad_near.txt"));
  CHECK_MESSAGE(r.code == 2, r.all);
  CHECK_MESSAGE(r.all.find("near/n: 1 of 2 sampled images missing, first " + b.data + "/elsewhere/missing.jpg (" +
                           b.tmp + "/bad_near.txt:2)") != std::string::npos, r.all);
}

TEST_CASE("cli eval: list files are relative to the working directory, their images to --data-root") {
  Bench b;
  // From the folder above data/: the list is data/id_test.txt, its image paths under --data-root data.
  const std::string parent = b.data.substr(0, b.data.rfind('/'));
  Out r = run("eval --weights " + b.weights + " --arch resnet18 --device cpu --threads 2 --batch-size 4 --data-root data"
              " --cache-dir " + b.cache + " --out " + b.tmp + "/rel --postprocessor msp --id-test data/id_test.txt"
              " --near nearA=data/near_a.txt", parent);
  CHECK_MESSAGE(r.code == 0, r.all);
  CHECK(exists(b.tmp + "/rel/ood/msp.csv"));
}

TEST_CASE("cli eval: ID labels outside [0, classes) are refused with the count and the first line") {
  Bench b;
  std::string text = slurp(b.list("id_test"));
  text += "images/e2e/syn2.jpg 1000\nimages/e2e/syn3.jpg -1\n";  // the model has 10 classes
  write_file(b.tmp + "/id_bad.txt", text);
  Out r = run("eval --weights " + b.weights + " --arch resnet18 --device cpu --data-root " + b.data + " --out " + b.tmp +
              "/o --id-test " + b.tmp + "/id_bad.txt --near nearA=" + b.list("near_a"));
  CHECK_MESSAGE(r.code == 2, r.all);
  CHECK_MESSAGE(r.all.find("id_test/id: 2 of 7 labels lie outside [0, 10)") != std::string::npos, r.all);
  CHECK_MESSAGE(r.all.find(b.tmp + "/id_bad.txt:6 (label 1000)") != std::string::npos, r.all);
}

TEST_CASE("cli eval: without far sets there are no far columns (stdout, CSV, report); ViM warns on a small fit set") {
  Bench b;
  const std::string out = b.tmp + "/nearonly";
  Out r = run(b.eval("msp,vim", out, "--id-train " + b.list("id_train") + " --near nearA=" + b.list("near_a") +
                                          " --set vim.dim=4"));
  REQUIRE_MESSAGE(r.code == 0, r.all);
  CHECK(r.out.find("near AUROC") != std::string::npos);
  CHECK_MESSAGE(r.out.find("far AUROC") == std::string::npos, r.out);
  CHECK(r.out.find("far FPR") == std::string::npos);
  CHECK(slurp(out + "/ood/msp.csv").find("farood") == std::string::npos);
  const std::string html = slurp(out + "/report.html");
  CHECK(html.find("near AUROC") != std::string::npos);
  CHECK(html.find("far AUROC") == std::string::npos);
  CHECK(html.find("far FPR") == std::string::npos);
  CHECK_MESSAGE(r.all.find("vim: warning: the fit set (ID train) has 6 samples for 512 feature dimensions") !=
                    std::string::npos, r.all);
}

TEST_CASE("cli eval: a re-run into the same --out replaces its detectors' outputs and says which are its own") {
  Bench b;
  const std::string out = b.tmp + "/rerun", sets = "--near nearA=" + b.list("near_a");
  Out r = run(b.eval("msp,ebo", out, sets + " --far farA=" + b.list("far_a") + " --save-score"));
  REQUIRE_MESSAGE(r.code == 0, r.all);
  REQUIRE(exists(out + "/scores/msp/far/farA/conf.npy"));
  r = run(b.eval("msp", out, sets + " --save-score"));  // msp again, without the far set
  REQUIRE_MESSAGE(r.code == 0, r.all);
  CHECK_FALSE(exists(out + "/scores/msp/far"));  // the replaced run's far scores are gone
  CHECK(exists(out + "/scores/msp/near/nearA/conf.npy"));
  CHECK(exists(out + "/scores/ebo/far/farA/conf.npy"));  // another detector's outputs stay
  CHECK(slurp(out + "/ood/msp.csv").find("farood") == std::string::npos);
  CHECK(slurp(out + "/ood/ebo.csv").find("farood") != std::string::npos);
  auto j = nlohmann::json::parse(slurp(out + "/results.json"));
  CHECK(j["this_run"] == nlohmann::json({"msp"}));
  CHECK_FALSE(j["postprocessors"].contains("ebo"));
  REQUIRE(j["csv"].contains("ebo"));
  CHECK(j["csv"]["msp"]["this_run"] == true);
  CHECK(j["csv"]["ebo"]["this_run"] == false);
  CHECK(j["csv"]["ebo"]["written"].get<std::string>().size() == 20);  // 2026-01-31T12:00:00Z
  CHECK(j["csv"]["ebo"]["run"]["weights_hash"] == j["info"]["weights_hash"]);  // carried from the first run
  CHECK_MESSAGE(r.all.find("ood/ also holds CSVs of earlier runs: ebo (") != std::string::npos, r.all);
  CHECK(r.all.find("same weights") != std::string::npos);
  const std::string html = slurp(out + "/report.html");
  CHECK(html.find("ood/ebo.csv") != std::string::npos);
  CHECK(html.find("earlier run") != std::string::npos);
}

TEST_CASE("cli eval/features: off a terminal, progress lines with count, rate and ETA go to stderr") {
  Bench b;
  const std::string env = "ISHSCALE_PROGRESS=0";  // a line per update instead of one every 5 s
  Out r = run("features --weights " + b.weights + " --arch resnet18 --device cpu --threads 2 --batch-size 2 --data-root " +
                  b.data + " --list " + b.list("id_test") + " --cache-dir " + b.cache + " --recompute",
              ".", env);
  REQUIRE_MESSAGE(r.code == 0, r.all);
  CHECK_MESSAGE(r.all.find(b.list("id_test") + ": 2/5 img (40%), ") != std::string::npos, r.all);
  CHECK(r.all.find(" img/s, ETA ") != std::string::npos);
  CHECK(r.all.find(b.list("id_test") + ": 5/5 img in ") != std::string::npos);
  CHECK(r.all.find('\r') == std::string::npos);  // no bar redrawn in a log

  // eval: extraction, ODIN's per-image network passes and APS points.
  r = run(b.eval("odin,react", b.tmp + "/p", "--id-val " + b.list("id_val") + " --ood-val " + b.list("ood_val") +
                                                  " --near nearA=" + b.list("near_a") + " --recompute --set odin.temperature=1" +
                                                  " --set odin.noise=0"),
          ".", env);
  REQUIRE_MESSAGE(r.code == 0, r.all);
  CHECK_MESSAGE(r.all.find("near/nearA: 3/3 img in ") != std::string::npos, r.all);
  CHECK(r.all.find("id_test/id (network pass): 5/5 img in ") != std::string::npos);
  CHECK(r.all.find("[1/") != std::string::npos);  // react's APS points: "[1/N points, ... ETA ...]"
  CHECK(r.all.find(" points, ") != std::string::npos);
  // ISHSCALE_PROGRESS=off silences it.
  r = run("features --weights " + b.weights + " --arch resnet18 --device cpu --threads 2 --data-root " + b.data +
              " --list " + b.list("near_a") + " --cache-dir " + b.cache + " --recompute",
          ".", "ISHSCALE_PROGRESS=off");
  REQUIRE_MESSAGE(r.code == 0, r.all);
  CHECK(r.all.find(" img/s") == std::string::npos);
}
}
