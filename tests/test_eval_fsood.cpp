// FS-OOD and the leaderboard's reference numbers through the real binary ($ISHSCALE_BIN, default
// build/ishscale) on a small fake OpenOOD v1.5 folder (tiny PPM images, a random 3-class resnet18), both
// written here:
//  - fsood/<pp>.csv and ood/<pp>.csv against tools/ood_reference.py fsood-check (sklearn metrics on the
//    saved scores, ID test + csid sets as ID), and the pooled ACC against the plain argmax;
//  - imagenet_c is used without resize or crop: its image of another size is skipped and counted, and
//    --strict stops on it (even when the features are cached);
//  - the reference block is in results.json and report.html for --benchmark imagenet, and absent otherwise.
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/image/image.h"
#include "engine/image/transform.h"
#include "eval/fsood.h"
#include "eval/npy.h"
#include "models/state_dict.h"
#include "tests/util.h"

using namespace ish;

namespace {

std::string bin() {
  const char* e = std::getenv("ISHSCALE_BIN");
  return e && *e ? e : "build/ishscale";
}
using test::exists;
std::string slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
// Runs cmd with stdout and stderr into `log`; the exit status (-1 if it did not exit).
int run(const std::string& cmd, std::string* log) {
  const std::string file = "/tmp/ishscale_fsood_" + std::to_string(getpid()) + ".log";
  const int st = std::system((cmd + " > " + file + " 2>&1").c_str());
  *log = slurp(file);
  std::remove(file.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// A binary PPM: noise around `rgb` with a per-image pattern, so sets differ and features vary.
void write_ppm(const std::string& path, int w, int h, const int rgb[3], uint32_t seed) {
  std::ofstream f(path, std::ios::binary);
  f << "P6\n" << w << " " << h << "\n255\n";
  uint32_t s = seed * 2654435761u + 12345u;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++) {
        s = s * 1664525u + 1013904223u;
        const int v = rgb[c] + (int)((s >> 24) % 61) - 30 + ((x * (c + 1) + y * (int)(seed % 5)) % 40);
        f.put((char)std::max(0, std::min(255, v)));
      }
}

struct FakeOpenOOD {
  std::string root, lists;
  // One list of n images under images_largescale/<name>/ (Textures: images_classic/), labels i % 3
  // (OOD: -1). imagenet_c's images are 224x224 and its last one is 200x224.
  void make(const std::string& file, const std::string& name, int n, bool ood, const int rgb[3], bool classic = false) {
    const std::string base = root + (classic ? "/images_classic/" : "/images_largescale/");
    make_dirs(base + name);
    std::ofstream l(lists + "/" + file);
    for (int i = 0; i < n; i++) {
      const bool c = name == "imagenet_c";
      const std::string rel = name + "/" + std::to_string(i) + ".ppm";
      write_ppm(base + rel, c ? (i + 1 == n ? 200 : 224) : 40 + 3 * i, c ? 224 : 32 + 2 * i, rgb, (uint32_t)(i + 17 * file.size()));
      l << rel << " " << (ood ? -1 : i % 3) << "\n";
    }
  }
  static void make_dirs(const std::string& d) { REQUIRE(std::system(("mkdir -p '" + d + "'").c_str()) == 0); }
};

// A fake OpenOOD v1.5 ImageNet-1K folder and a random 3-class resnet18, built once per process.
struct Setup {
  std::string dir, root, weights;
  Setup() {
    char buf[] = "/tmp/ishscale_fsood_XXXXXX";
    REQUIRE(mkdtemp(buf) != nullptr);
    dir = buf;
    root = dir + "/data";
    FakeOpenOOD f{root, root + "/benchmark_imglist/imagenet"};
    FakeOpenOOD::make_dirs(f.lists);
    const int id[3] = {120, 110, 100}, shift[3] = {150, 90, 120}, near[3] = {140, 140, 90}, far[3] = {40, 200, 60};
    f.make("test_imagenet.txt", "imagenet", 6, false, id);
    f.make("val_imagenet.txt", "imagenet_val", 3, false, id);
    f.make("val_openimage_o.txt", "openimage_o_val", 3, true, far);
    f.make("test_ssb_hard.txt", "ssb_hard", 3, true, near);
    f.make("test_ninco.txt", "ninco", 3, true, near);
    f.make("test_inaturalist.txt", "inaturalist", 3, true, far);
    f.make("test_textures.txt", "textures", 3, true, far, true);
    f.make("test_openimage_o.txt", "openimage_o", 3, true, far);
    f.make("test_imagenet_v2.txt", "imagenet_v2", 4, false, id);
    f.make("test_imagenet_c.txt", "imagenet_c", 3, false, shift);
    f.make("test_imagenet_r.txt", "imagenet_r", 4, false, shift);
    f.make("test_imagenet_es.txt", "imagenet_es", 4, false, near);
    models::ResNet m = models::ResNet::create("resnet18", 3, 7);
    weights = dir + "/rn18_3.safetensors";
    models::save_weights(m, weights);
  }
  ~Setup() { std::system(("rm -rf '" + dir + "'").c_str()); }
  std::string eval(const std::string& out, const std::string& flags) const {
    return bin() + " eval --weights " + weights + " --arch resnet18 --device cpu --batch-size 4 --threads 2 --no-aps" +
           " --cache-dir " + dir + "/cache --out " + dir + "/" + out + " " + flags;
  }
};
const Setup& setup() {
  static Setup s;
  return s;
}

using Rows = std::map<std::string, std::vector<double>>;
Rows read_csv(const std::string& path) {
  Rows r;
  std::istringstream in(slurp(path));
  std::string line;
  std::getline(in, line);
  REQUIRE(line == ",FPR@95,AUROC,AUPR_IN,AUPR_OUT,ACC");
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name, v;
    std::getline(ls, name, ',');
    while (std::getline(ls, v, ',')) r[name].push_back(std::stod(v));
  }
  return r;
}

const char* kPPs[] = {"msp", "ebo", "scale", "ash_p"};

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("imagenet_c's transform: normalise a 224x224 image as it is, refuse another size") {
  img::Transform t = eval::csid_transform("imagenet_c", img::Transform());
  CHECK(t.as_is);
  CHECK(t.eval_key() != img::Transform().eval_key());  // its own feature cache entries
  CHECK_FALSE(eval::csid_transform("imagenet_r", img::Transform()).as_is);
  img::Image im;
  im.w = im.h = 224;
  im.px.resize(224 * 224 * 3);
  for (size_t i = 0; i < im.px.size(); i++) im.px[i] = (uint8_t)(i * 7 % 251);
  std::vector<uint8_t> out(224 * 224 * 3);
  img::apply_eval(img::view(im), t, out.data());
  CHECK(out == im.px);  // no resize, no crop
  img::Image bad;
  bad.w = 225, bad.h = 224;
  bad.px.resize(225 * 224 * 3);
  CHECK_THROWS_WITH_AS(img::apply_eval(img::view(bad), t, out.data()), doctest::Contains("225x224"), Error);
}

TEST_CASE("eval --benchmark imagenet --fsood: fsood/ and ood/ CSVs, pooled ACC and csid scores match Python") {
  const Setup& s = setup();
  REQUIRE_MESSAGE(exists(bin()), "missing " << bin());
  const std::string out = s.dir + "/bench";
  std::string log;
  const int rc = run(s.eval("bench", "--benchmark imagenet --fsood --data-root " + s.root +
                                         " --postprocessor msp,ebo,scale,ash_p --save-score"),
                     &log);
  REQUIRE_MESSAGE(rc == 0, log);
  const auto j = nlohmann::json::parse(slurp(out + "/results.json"));
  // imagenet_c: the 200x224 image is skipped and counted; the others are used as they are
  CHECK(j["counts"]["csid/imagenet_c"] == 2);
  CHECK(j["skipped_files"]["csid/imagenet_c"] == 1);
  CHECK(j["counts"]["csid/imagenet_r"] == 4);
  CHECK(log.find("test_imagenet_c.txt:3") != std::string::npos);
  std::string py;  // one Python run for every detector (tools/ood_reference.py fsood-check)
  const int prc = run(std::string("/usr/bin/python3 tools/ood_reference.py fsood-check ") + out +
                          " msp,ebo,scale,ash_p msp imagenet imagenet_v2,imagenet_c,imagenet_r,imagenet_es ssb_hard,ninco " +
                          "inaturalist,textures,openimage_o",
                      &py);
  REQUIRE_MESSAGE(prc == 0, py);
  for (const char* pp : kPPs) {
    CAPTURE(pp);
    const std::string sc = out + "/scores/" + pp + "/csid/imagenet_c/";
    for (const char* f : {"conf", "pred", "gt"}) REQUIRE(exists(sc + f + ".npy"));
    CHECK(eval::read_npy(sc + "gt.npy").size(0) == 2);
    const Rows ood = read_csv(out + "/ood/" + pp + ".csv"), fs = read_csv(out + "/fsood/" + pp + ".csv");
    REQUIRE(ood.size() == 7);
    REQUIRE(fs.size() == 7);
    int compared = 0, differ = 0, accs = 0;
    std::istringstream in(py);
    for (std::string line; std::getline(in, line);) {
      std::istringstream ls(line);
      std::string who, mode, name;
      ls >> who >> mode >> name;
      if (who != pp) continue;
      if (mode == "fsood_acc") {
        CHECK(std::fabs(j["postprocessors"][pp]["fsood_acc"].get<double>() - std::stod(name)) <= 1e-9);
        CHECK(std::fabs(fs.at("nearood")[4] - std::stod(name)) <= 0.01);  // ACC column: pooled on every row
        accs++;
        continue;
      }
      if (mode == "csid_acc") {
        double v;
        ls >> v;
        CHECK(std::fabs(j["postprocessors"][pp]["csid_acc"][name].get<double>() - v) <= 1e-9);
        accs++;
        continue;
      }
      const Rows& mine = mode == "ood" ? ood : fs;
      REQUIRE_MESSAGE(mine.count(name), mode << " row " << name);
      for (int k = 0; k < 5; k++) {
        double v;
        ls >> v;
        CHECK_MESSAGE(std::fabs(mine.at(name)[k] - v) <= 0.01 + 1e-9, mode << " " << name << " column " << k << ": "
                                                                         << mine.at(name)[k] << " vs Python " << v);
        compared++;
        if (mode == "fsood") differ += std::fabs(ood.at(name)[k] - v) > 0.01;
      }
    }
    CHECK(compared == 2 * 7 * 5);
    CHECK(accs == 1 + 4);
    CHECK(differ > 0);  // the csid sets did change the metrics
    // results.json's fsood block holds the CSV's numbers
    CHECK(std::fabs(j["postprocessors"][pp]["fsood"]["farood"]["AUROC"].get<double>() - fs.at("farood")[1]) <= 0.005 + 1e-9);
  }
  // The reference: SCALE has torchvision V1 and ISH checkpoint entries (OOD and FS-OOD), MSP one, ASH-P none.
  const auto& sr = j["postprocessors"]["scale"]["reference"];
  REQUIRE(sr.size() == 2);
  CHECK(sr[0]["weights"] == "torchvision V1");
  CHECK(sr[0]["ood"]["near_AUROC"].get<double>() == doctest::Approx(81.36));
  CHECK(sr[0]["fsood"]["far_AUROC"].get<double>() == doctest::Approx(88.85));
  CHECK(sr[1]["weights"] == "ISH checkpoint");
  CHECK(sr[1]["ood"]["far_AUROC"].get<double>() == doctest::Approx(96.79));
  CHECK(sr[1]["fsood"]["near_AUROC"].get<double>() == doctest::Approx(68.04));
  REQUIRE(j["postprocessors"]["msp"]["reference"].size() == 1);
  CHECK(j["postprocessors"]["msp"]["reference"][0]["fsood"].is_null());
  CHECK_FALSE(j["postprocessors"]["ash_p"].contains("reference"));
  const std::string html = slurp(out + "/report.html");
  CHECK(html.find("Reference numbers") != std::string::npos);
  CHECK(html.find("reference, ISH checkpoint") != std::string::npos);
  CHECK(html.find("FS-OOD") != std::string::npos);
  CHECK(log.find("reference, torchvision V1 weights") != std::string::npos);  // stdout too
}

TEST_CASE("eval --csid on explicit lists: FS-OOD without reference numbers; --strict stops on imagenet_c") {
  const Setup& s = setup();
  REQUIRE_MESSAGE(exists(bin()), "missing " << bin());
  const std::string L = s.root + "/benchmark_imglist/imagenet/";  // absolute list paths; images under --data-root
  const std::string lists = "--data-root " + s.root + "/images_largescale --id-test " + L + "test_imagenet.txt --far inat=" + L +
                            "test_inaturalist.txt --csid imagenet_c=" + L + "test_imagenet_c.txt --csid v2=" + L +
                            "test_imagenet_v2.txt --postprocessor msp,scale";
  std::string log;
  REQUIRE_MESSAGE(run(s.eval("lists", lists), &log) == 0, log);
  const auto j = nlohmann::json::parse(slurp(s.dir + "/lists/results.json"));
  CHECK(j["skipped_files"]["csid/imagenet_c"] == 1);
  for (const char* pp : {"msp", "scale"}) {
    CHECK(exists(s.dir + "/lists/fsood/" + pp + ".csv"));
    CHECK(j["postprocessors"][pp]["csid_acc"].contains("v2"));
    CHECK_FALSE(j["postprocessors"][pp].contains("reference"));
  }
  CHECK(slurp(s.dir + "/lists/report.html").find("Reference numbers") == std::string::npos);

  // --strict: the 200x224 imagenet_c image stops the run, naming the list line, although the features are cached.
  const int rc = run(s.eval("strict", lists + " --strict"), &log);
  CHECK(rc == 2);
  CHECK_MESSAGE(log.find("test_imagenet_c.txt:3") != std::string::npos, log);
  CHECK_MESSAGE(log.find("200x224") != std::string::npos, log);
}

TEST_CASE("eval FS-OOD flags: bad input is one line and exit 2") {
  const Setup& s = setup();
  REQUIRE_MESSAGE(exists(bin()), "missing " << bin());
  const std::string L = s.root + "/benchmark_imglist/imagenet/";
  const std::string base = "--data-root " + s.root + "/images_largescale --id-test " + L + "test_imagenet.txt --far inat=" + L +
                           "test_inaturalist.txt ";
  std::string log;
  CHECK(run(s.eval("bad", base + "--fsood"), &log) == 2);  // --fsood names the ImageNet sets
  CHECK_MESSAGE(log.find("--fsood") != std::string::npos, log);
  CHECK(run(s.eval("bad", base + "--csid a=" + L + "test_imagenet_v2.txt --csid a=" + L + "test_imagenet_r.txt"), &log) == 2);
  CHECK_MESSAGE(log.find("given twice") != std::string::npos, log);
  CHECK(run(s.eval("bad", base + "--csid o=" + L + "test_ninco.txt"), &log) == 2);  // OOD labels (-1) in a csid list
  CHECK_MESSAGE(log.find("test_ninco.txt:1") != std::string::npos, log);
  CHECK(run(s.eval("bad", base + "--csid noeq"), &log) == 2);
  CHECK_MESSAGE(log.find("NAME=LIST") != std::string::npos, log);
}
}
