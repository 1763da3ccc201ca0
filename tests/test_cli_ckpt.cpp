// Checkpoints between commands through the real binary ($ISHSCALE_BIN, or the ishscale beside the test
// binary): train -> eval -> classify with no architecture flags, training checkpoints in eval/classify/
// features, convert --model-only, the model metadata and arch inference, input-size flags, fine-tuning to
// a new head, refused flag values, the messages that name a cause, class names, classify's partial
// results, and the decoder's file-size cap flag. Tiny synthetic PPM images and a width-16 CIFAR ResNet-18
// keep every run under a second.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/device.h"
#include "engine/rng.h"
#include "eval/npy.h"
#include "models/model_meta.h"
#include "models/resnet.h"
#include "models/state_dict.h"
#include "tests/util.h"
#include "util/content_hash.h"
#include "weights/safetensors.h"

using namespace ish;

namespace {


std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> v;
  std::stringstream ss(s);
  std::string l;
  while (std::getline(ss, l)) v.push_back(l);
  return v;
}

bool has(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

struct Run {
  int code = -1;
  std::string out, err;
};

// `ishscale ARGS` with one OpenMP thread; stdout and stderr apart.
Run run(const std::string& args) {
  static int n = 0;
  const std::string errf = "/tmp/ishscale_cli_ckpt_err_" + std::to_string(getpid()) + "_" + std::to_string(n++);
  FILE* p = popen(("OMP_NUM_THREADS=1 " + ish::test::ishscale_bin() + " " + args + " 2>" + errf).c_str(), "r");
  REQUIRE(p);
  Run r;
  char buf[4096];
  size_t k;
  while ((k = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, k);
  const int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.err = slurp(errf);
  std::remove(errf.c_str());
  return r;
}

// A refusal: exit 2 and one line on stderr holding every `want`.
void check_refused(const std::string& args, std::vector<std::string> want) {
  Run r = run(args);
  INFO(args << "\n-> exit " << r.code << ", stderr: " << r.err);
  CHECK(r.code == 2);
  CHECK(lines_of(r.err).size() == 1);
  for (auto& w : want) CHECK_MESSAGE(has(r.err, w), "'" << w << "' missing");
}

void write_ppm(const std::string& path, int w, int h, Rng& rng, int label) {
  std::ofstream f(path, std::ios::binary);
  f << "P6\n" << w << " " << h << "\n255\n";
  for (int p = 0; p < w * h * 3; p++) f.put((char)(uint8_t)(rng.below(128) + 40 * label * (p % 3 == label)));
}

// The shared data and one trained model: 24 labelled 20x20 images in 3 classes (train.txt), 6 others
// (ood.txt), and `train` of resnet18_cifar width 16 at image size 16 for 3 steps with validation.
struct World {
  std::string dir, list, ood, run_dir, final_w, last_w, best_w;
  Run train;
};
std::string g_world_dir;  // removed when the test program exits
const World& world() {
  static World w = [] {
    World w;
    char t[] = "/tmp/ishscale_cli_ckpt_XXXXXX";
    REQUIRE(mkdtemp(t));
    w.dir = g_world_dir = t;
    std::atexit([] { std::system(("rm -rf '" + g_world_dir + "'").c_str()); });
    Rng rng(7);
    w.list = w.dir + "/train.txt";
    w.ood = w.dir + "/ood.txt";
    std::ofstream l(w.list), o(w.ood);
    for (int i = 0; i < 24; i++) {
      write_ppm(w.dir + "/img" + std::to_string(i) + ".ppm", 20, 20, rng, i % 3);
      l << "img" << i << ".ppm " << i % 3 << "\n";
    }
    for (int i = 0; i < 6; i++) {
      write_ppm(w.dir + "/ood" + std::to_string(i) + ".ppm", 20, 20, rng, 0);
      o << "ood" << i << ".ppm -1\n";
    }
    l.close();
    o.close();
    w.run_dir = w.dir + "/run";
    w.train = run("train --train-list " + w.list + " --val-list " + w.list + " --data-root " + w.dir +
                  " --arch resnet18_cifar --width 16 --image-size 16 --epochs 1 --batch-size 8 --lr 0.01"
                  " --threads 1 --log-every 1 --out " + w.run_dir);
    w.final_w = w.run_dir + "/final.safetensors";
    w.last_w = w.run_dir + "/last.safetensors";
    w.best_w = w.run_dir + "/best.safetensors";
    return w;
  }();
  REQUIRE_MESSAGE(w.train.code == 0, "train failed: " << w.train.out << w.train.err);
  return w;
}

std::string img(int i) { return world().dir + "/img" + std::to_string(i) + ".ppm"; }

// A resnet18_cifar (width 16, 3 classes) saved with no metadata at all, as other tools write files.
std::string bare_file(const std::string& name, int extra_junk = 0, bool drop_conv1 = false,
                      std::map<std::string, std::string> md = {}) {
  models::ResNetConfig rc = models::config_for("resnet18_cifar");
  rc.width = 16;
  rc.num_classes = 3;
  models::ResNet m(rc, "resnet18_cifar");
  models::NamedTensors sd;
  for (auto& kv : models::state_dict(m))
    if (!(drop_conv1 && kv.first == "conv1.weight")) sd.push_back(kv);
  for (int i = 0; i < extra_junk; i++) sd.emplace_back("junk." + std::to_string(i), Tensor::zeros({2}));
  const std::string p = world().dir + "/" + name;
  st::save(p, sd, md);
  return p;
}

Shape npy_shape(const std::string& path) { return eval::read_npy(path).shape(); }

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("cli ckpt: train -> eval on final.safetensors -> classify, no --arch/--width/--image-size") {
  const World& w = world();
  // train wrote the model alone at the end, beside last (with optimizer state) and best (validation).
  for (const std::string& f : {w.final_w, w.last_w, w.best_w}) REQUIRE_MESSAGE(access(f.c_str(), R_OK) == 0, f);
  const std::string out = w.dir + "/eval_out";
  Run e = run("eval --weights " + w.final_w + " --id-test " + w.list + " --far noise=" + w.ood + " --data-root " +
              w.dir + " --out " + out + " --device cpu --threads 1 --batch-size 8");
  INFO(e.out << e.err);
  REQUIRE(e.code == 0);
  CHECK(has(e.out, "msp"));
  const std::string rj = slurp(out + "/results.json");
  CHECK(has(rj, "\"arch\": \"resnet18_cifar\""));
  CHECK(has(rj, "\"image_size\": \"16\""));
  CHECK(has(rj, "\"resize\": \"18\""));  // int(16 * 256 / 224)
  const std::string dump = w.dir + "/cls_dump";
  Run c = run("classify --weights " + w.final_w + " --dump " + dump + " --threads 1 " + img(0) + " " + img(1) + " " +
              img(2));
  INFO(c.out << c.err);
  REQUIRE(c.code == 0);
  CHECK(npy_shape(dump + "/logits.npy") == Shape{3, 3});
  CHECK(npy_shape(dump + "/features.npy") == Shape{3, 128});  // width 16 * 8, basic blocks
  CHECK(std::count(c.out.begin(), c.out.end(), '\n') == 3 * 4);  // 3 images x (path + top-3 of 3 classes)
  CHECK(slurp(dump + "/paths.txt") == img(0) + "\n" + img(1) + "\n" + img(2) + "\n");
  // Both dumps record the device and --tf32 setting, as eval's results.json does.
  auto meta = nlohmann::json::parse(slurp(dump + "/meta.json"));
  CHECK(meta.value("device", "") == "cpu");
  CHECK(meta.value("tf32", "") == "on");  // the default
  const std::string fdump = w.dir + "/feat_dump";
  Run f = run("features --weights " + w.final_w + " --list " + w.list + " --data-root " + w.dir + " --cache-dir " + w.dir +
              "/fc_dump --device cpu --threads 1 --tf32 off --dump " + fdump);
  INFO(f.out << f.err);
  REQUIRE(f.code == 0);
  CHECK(npy_shape(fdump + "/labels.npy") == Shape{24});
  meta = nlohmann::json::parse(slurp(fdump + "/meta.json"));
  CHECK(meta.value("device", "") == "cpu");
  CHECK(meta.value("tf32", "") == "off");
}

TEST_CASE("cli ckpt: every checkpoint describes its model; convert --model-only strips the optimizer") {
  const World& w = world();
  for (const std::string& f : {w.final_w, w.last_w, w.best_w}) {
    INFO(f);
    auto md = st::File::open(f).metadata();
    CHECK(md["arch"] == "resnet18_cifar");
    CHECK(md["width"] == "16");
    CHECK(md["in_channels"] == "3");
    CHECK(md["num_classes"] == "3");
    CHECK(md["image_size"] == "16");
    CHECK(md["resize"] == "18");
  }
  auto has_optim = [](const std::string& path) {
    const st::File f = st::File::open(path);  // held: tensors() refers into it
    for (auto& t : f.tensors())
      if (t.name.rfind("optim.", 0) == 0) return true;
    return false;
  };
  CHECK(has_optim(w.last_w));
  CHECK_FALSE(has_optim(w.final_w));
  const std::string conv = w.dir + "/model_only.safetensors";
  Run r = run("convert " + w.last_w + " " + conv + " --model-only");
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  CHECK_FALSE(has_optim(conv));
  auto md = st::File::open(conv).metadata();
  CHECK(md["format"] == "pt");
  CHECK(md["arch"] == "resnet18_cifar");
  CHECK(md["width"] == "16");
  CHECK(st::File::open(conv).tensors().size() == st::File::open(w.final_w).tensors().size());
  // convert adds the description to a file without one when its tensors tell it.
  const std::string bare = bare_file("bare_for_convert.safetensors"), conv2 = w.dir + "/described.safetensors";
  REQUIRE(run("convert " + bare + " " + conv2).code == 0);
  md = st::File::open(conv2).metadata();
  CHECK(md["arch"] == "resnet18_cifar");
  CHECK(md["width"] == "16");
  CHECK(md["num_classes"] == "3");
}

TEST_CASE("cli ckpt: eval, classify and features take a training checkpoint with a one-line note") {
  const World& w = world();
  auto notes = [](const std::string& err) {
    int n = 0;
    for (auto& l : lines_of(err)) n += has(l, "training checkpoint") && has(l, "optim.");
    return n;
  };
  Run c = run("classify --weights " + w.last_w + " --threads 1 " + img(0));
  INFO(c.err);
  CHECK(c.code == 0);
  CHECK(notes(c.err) == 1);
  Run f = run("features --weights " + w.last_w + " --list " + w.list + " --data-root " + w.dir + " --cache-dir " + w.dir +
              "/fc1 --device cpu --threads 1");
  INFO(f.err);
  CHECK(f.code == 0);
  CHECK(notes(f.err) == 1);
  CHECK(has(f.out, "24 samples [128 features, 3 logits]"));
  Run e = run("eval --weights " + w.last_w + " --id-test " + w.list + " --far noise=" + w.ood + " --data-root " + w.dir +
              " --out " + w.dir + "/eval_last --device cpu --threads 1");
  INFO(e.err);
  CHECK(e.code == 0);
  CHECK(notes(e.err) == 1);
}

TEST_CASE("cli ckpt: flags that contradict the metadata are refused, naming both values") {
  const World& w = world();
  const std::string c = "classify --weights " + w.final_w + " " + img(0);
  check_refused(c + " --arch resnet34_cifar", {"--arch resnet34_cifar", "arch=resnet18_cifar"});
  check_refused(c + " --width 8", {"--width 8", "width=16"});
  check_refused(c + " --image-size 32", {"--image-size 32", "image_size=16"});
  check_refused(c + " --resize 40", {"--resize 40", "resize=18"});
  // Agreeing flags are fine.
  CHECK(run(c + " --arch resnet18_cifar --width 16 --image-size 16 --threads 1").code == 0);
}

TEST_CASE("cli ckpt: the architecture of a file without metadata is inferred, or the matches are named") {
  const std::string bare = bare_file("bare.safetensors");
  // Width and arch from the tensors; a CIFAR stem needs the input size.
  check_refused("classify --weights " + bare + " " + img(0), {"resnet18_cifar", "--image-size"});
  Run r = run("classify --weights " + bare + " --image-size 16 --dump " + world().dir + "/bare_dump --threads 1 " + img(0));
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(npy_shape(world().dir + "/bare_dump/features.npy") == Shape{1, 128});
  // A wrong --arch or --width for such a file: one line saying what the tensors are.
  check_refused("classify --weights " + bare + " --image-size 16 --arch resnet34_cifar " + img(0),
                {"resnet18_cifar", "not --arch resnet34_cifar"});
  check_refused("classify --weights " + bare + " --image-size 16 --width 32 " + img(0), {"--width 32", "16"});
  // Ambiguous (no conv1.weight: either stem) and unknown tensors.
  check_refused("classify --weights " + bare_file("no_stem.safetensors", 0, true) + " " + img(0),
                {"resnet18, resnet18_cifar", "pass --arch"});
  const std::string junk = world().dir + "/junk.safetensors";
  st::save(junk, {{"encoder.weight", Tensor::zeros({4, 4})}});
  check_refused("classify --weights " + junk + " " + img(0), {"no known architecture", "--arch"});
  // torchvision's resnet18 (no metadata) with no --arch: it was resnet50 by default before.
  REQUIRE(test::have_fixture("resnet18.pth"));
  const std::string hopper = "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg";
  r = run("classify --weights " + test::fixture_dir() + "/resnet18.pth --threads 1 " + hopper);
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(has(r.out, "1. class "));
}

TEST_CASE("cli ckpt: infer_arch tells each of the ten architectures and the width from names and shapes") {
  for (const std::string& arch : models::known_archs()) {
    models::ResNetConfig rc = models::config_for(arch);
    rc.width = 8;
    rc.num_classes = 7;
    rc.init = false;
    models::ResNet m(rc, arch);
    models::ShapeList shapes;
    for (auto& [name, t] : models::state_dict(m)) shapes.emplace_back(name, t.shape());
    models::Inferred inf = models::infer_arch(shapes);
    INFO(arch << ": " << inf.seen);
    CHECK(inf.archs == std::vector<std::string>{arch});
    CHECK(inf.width == 8);
    CHECK(inf.in_channels == 3);
    CHECK(inf.num_classes == 7);
  }
}

TEST_CASE("cli ckpt: a strict-load mismatch is one short line, plus at most one hint line") {
  // 40 unexpected tensors: counts and the first three keys, not all forty.
  Run r = run("classify --weights " + bare_file("junk40.safetensors", 40) + " --image-size 16 " + img(0));
  INFO(r.err);
  CHECK(r.code == 2);
  REQUIRE(lines_of(r.err).size() == 1);
  CHECK(has(r.err, "40 unexpected (junk.0, junk.1, junk.10, ...)"));
  CHECK(r.err.size() < 300);
  // Metadata naming another arch than the tensors: the mismatch line and one hint naming what they are.
  const std::string lie = bare_file("lie.safetensors", 0, false, {{"arch", "resnet34_cifar"}, {"image_size", "16"}});
  r = run("classify --weights " + lie + " " + img(0));
  INFO(r.err);
  CHECK(r.code == 2);
  auto ls = lines_of(r.err);
  REQUIRE(ls.size() == 2);
  CHECK(has(ls[0], "does not match resnet34_cifar"));
  CHECK(ls[0].size() < 600);
  CHECK(has(ls[1], "hint: the tensors look like resnet18_cifar"));
}

TEST_CASE("cli ckpt: --image-size and --resize set the eval input and reach results.json and the cache key") {
  const World& w = world();
  const std::string bare = bare_file("bare_sizes.safetensors");
  const std::string base = "eval --weights " + bare + " --id-test " + w.list + " --far noise=" + w.ood + " --data-root " +
                           w.dir + " --device cpu --threads 1 --out ";
  REQUIRE(run(base + w.dir + "/sz20 --image-size 20").code == 0);
  std::string rj = slurp(w.dir + "/sz20/results.json");
  CHECK(has(rj, "\"image_size\": \"20\""));
  CHECK(has(rj, "\"resize\": \"22\""));  // int(20 * 256 / 224)
  REQUIRE(run(base + w.dir + "/sz20r --image-size 20 --resize 24").code == 0);
  rj = slurp(w.dir + "/sz20r/results.json");
  CHECK(has(rj, "\"resize\": \"24\""));
  // features: another input size is another cache entry.
  const std::string f = "features --weights " + bare + " --list " + w.list + " --data-root " + w.dir + " --cache-dir " +
                        w.dir + "/fcache --device cpu --threads 1 --image-size ";
  Run a = run(f + "16"), b = run(f + "20"), c = run(f + "20");
  REQUIRE(a.code == 0);
  REQUIRE(b.code == 0);
  REQUIRE(c.code == 0);
  CHECK(has(a.out, "cached in"));
  CHECK(has(b.out, "cached in"));  // not the 16 entry
  CHECK(has(c.out, "reused"));
  check_refused(f + "0", {"--image-size"});
  check_refused(f + "16 --resize -3", {"--resize"});
}

TEST_CASE("cli ckpt: train --weights --num-classes N --reset-head; --width must match; nonsense values refused") {
  const World& w = world();
  const std::string base = "train --train-list " + w.list + " --data-root " + w.dir +
                           " --epochs 1 --batch-size 8 --steps 1 --threads 1 --log-every 1 --weights " + w.final_w;
  Run r = run(base + " --num-classes 5 --reset-head --out " + w.dir + "/ft5");
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  st::File f = st::File::open(w.dir + "/ft5/final.safetensors");
  CHECK(f.info("fc.weight").shape == Shape{5, 128});
  CHECK(f.metadata().at("num_classes") == "5");
  CHECK(f.metadata().at("arch") == "resnet18_cifar");  // from the weights, no --arch given
  CHECK(f.metadata().at("image_size") == "16");        // from the weights' metadata
  check_refused(base + " --num-classes 5 --out " + w.dir + "/ft5b", {"--num-classes 5", "3 classes", "--reset-head"});
  check_refused(base + " --width 8 --out " + w.dir + "/ftw", {"--width 8", "width=16"});
  check_refused(base + " --arch resnet50 --out " + w.dir + "/fta", {"--arch resnet50", "arch=resnet18_cifar"});
  const std::string plain = "train --train-list " + w.list + " --data-root " + w.dir + " --out " + w.dir + "/nonsense ";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"--width 0", "--width"},           {"--momentum 1", "--momentum"},   {"--momentum -0.1", "--momentum"},
      {"--lr 0", "--lr"},                 {"--lr nan", "--lr"},             {"--epochs 0", "--epochs"},
      {"--batch-size 0", "--batch-size"}, {"--accum 0", "--accum"},         {"--seed -1", "--seed"},
      {"--wd -1", "--wd"},                {"--wd-fc 2", "--wd-fc"},         {"--image-size 0", "--image-size"},
      {"--num-classes 0", "--num-classes"}, {"--log-every 0", "--log-every"}, {"--save-every 0", "--save-every"},
      {"--ish-percentile 1.5", "--ish-percentile"}, {"--steps -2", "--steps"}, {"--max-image-mb -1", "--max-image-mb"},
      {"--reset-head", "--reset-head needs --weights"}};
  for (auto& [flags, name] : bad) check_refused(plain + flags, {name});
}

TEST_CASE("cli ckpt: messages name the cause (weights format, no GPU, unwritable output, help, version)") {
  const World& w = world();
  // An image given as weights.
  for (const std::string& cmd : {"classify --weights " + img(0) + " " + img(1), "info " + img(0),
                                 "features --weights " + img(0) + " --list " + w.list + " --data-root " + w.dir})
    check_refused(cmd, {"not a safetensors or PyTorch file"});
  // --device cuda without a usable GPU: says so (the driver's detail may follow on a second line).
  if (!dev::cuda_available()) {
    for (const std::string& cmd :
         {"classify --weights " + w.final_w + " --device cuda " + img(0),
          "features --weights " + w.final_w + " --device cuda --list " + w.list + " --data-root " + w.dir,
          "eval --weights " + w.final_w + " --device cuda --id-test " + w.list + " --far n=" + w.ood,
          "train --train-list " + w.list + " --device cuda", std::string("demo --device cuda")}) {
      Run r = run(cmd);
      INFO(cmd << ": " << r.err);
      CHECK(r.code == 2);
      CHECK(has(lines_of(r.err).at(0), "no usable GPU"));
      CHECK(lines_of(r.err).size() <= 2);
    }
  }
  // An --out (or --dump) that cannot be written, before any work.
  const std::string file = w.dir + "/a_file";
  std::ofstream(file) << "x";
  for (const std::string& cmd :
       {"eval --weights " + w.final_w + " --id-test " + w.list + " --far n=" + w.ood + " --device cpu --out " + file + "/o",
        "train --train-list " + w.list + " --data-root " + w.dir + " --out " + file + "/o",
        "demo --device cpu --out " + file + "/o", "classify --weights " + w.final_w + " --dump " + file + "/o " + img(0),
        "features --weights " + w.final_w + " --list " + w.list + " --device cpu --dump " + file + "/o"})
    check_refused(cmd, {"cannot write", file + "/o"});
  // Help for every subcommand, with --help, -h and `ishscale help CMD`.
  for (const char* cmd : {"convert", "info", "classify", "features", "eval", "train", "bench", "demo"}) {
    Run a = run(std::string(cmd) + " --help"), b = run(std::string(cmd) + " -h"), c = run(std::string("help ") + cmd);
    INFO(cmd << ": " << a.err << b.err << c.err);
    CHECK(a.code == 0);
    CHECK(b.code == 0);
    CHECK(c.code == 0);
    CHECK(a.out.rfind("usage: ishscale " + std::string(cmd), 0) == 0);
    CHECK(b.out == a.out);
    CHECK(c.out == a.out);
  }
  CHECK(run("bench --cpu --help").code == 0);
  // --version: the tree's VERSION, plus the commit when built from a checkout.
  Run v = run("--version");
  CHECK(v.code == 0);
  std::string version = slurp("VERSION");
  if (!version.empty()) {
    version.erase(version.find_last_not_of("\n") + 1);
    CHECK_MESSAGE(v.out.rfind("ishscale " + version, 0) == 0, v.out);
  }
  CHECK(lines_of(v.out).size() == 1);
}

TEST_CASE("cli ckpt: classify --labels prints class names; tools/imagenet_labels.py writes ImageNet-1k's") {
  const World& w = world();
  const std::string names = w.dir + "/names3.txt";
  std::ofstream(names) << "alpha one\r\nbeta\ngamma\n\n";
  Run r = run("classify --weights " + w.final_w + " --labels " + names + " --threads 1 " + img(0));
  INFO(r.err);
  REQUIRE(r.code == 0);
  int named = 0;
  for (auto& l : lines_of(r.out)) {
    if (!has(l, ". class ")) continue;
    const int cls = std::atoi(l.c_str() + l.find("class ") + 6);
    const char* expect[] = {"alpha one", "beta", "gamma"};
    const std::string name = expect[cls];
    const bool ends_with_name = l.size() >= name.size() && l.compare(l.size() - name.size(), std::string::npos, name) == 0;
    CHECK_MESSAGE(ends_with_name, l);
    named++;
  }
  CHECK(named == 3);
  std::ofstream(w.dir + "/names2.txt") << "alpha\nbeta\n";
  check_refused("classify --weights " + w.final_w + " --labels " + w.dir + "/names2.txt " + img(0),
                {"2 names", "3 classes"});
  std::ofstream(w.dir + "/names_gap.txt") << "alpha\n\nbeta\ngamma\n";
  check_refused("classify --weights " + w.final_w + " --labels " + w.dir + "/names_gap.txt " + img(0),
                {"names_gap.txt:2", "blank line"});
  // The ImageNet-1k names from torchvision's metadata.
  const std::string in1k = w.dir + "/in1k.txt";
  const int st = std::system(("/usr/bin/python3 tools/imagenet_labels.py " + in1k + " > /dev/null").c_str());
  REQUIRE(WIFEXITED(st));
  REQUIRE(WEXITSTATUS(st) == 0);
  auto ls = lines_of(slurp(in1k));
  REQUIRE(ls.size() == 1000);
  CHECK(ls[0] == "tench");
  CHECK(ls[999] == "toilet tissue");
  REQUIRE(test::have_fixture("resnet18.pth"));
  r = run("classify --weights " + test::fixture_dir() + "/resnet18.pth --labels " + in1k + " --threads 1 " +
          "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg");
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto out = lines_of(r.out);
  REQUIRE(out.size() == 6);
  const int top = std::atoi(out[1].c_str() + out[1].find("class ") + 6);
  CHECK(out[1].compare(out[1].size() - ls[top].size(), std::string::npos, ls[top]) == 0);
}

TEST_CASE("cli ckpt: classify prints the readable images, one line per unreadable one, exit 3; --dump paths.txt") {
  const World& w = world();
  const std::string missing = w.dir + "/missing.ppm", text = w.dir + "/names3_as_image.jpg";
  std::ofstream(text) << "not an image\n";
  const std::string dump = w.dir + "/partial_dump";
  Run r = run("classify --weights " + w.final_w + " --dump " + dump + " --threads 1 --batch-size 2 " + img(3) + " " +
              missing + " " + img(4) + " " + text);
  INFO(r.out << r.err);
  CHECK(r.code == 3);
  auto err = lines_of(r.err);
  int bad = 0;
  for (auto& l : err) bad += has(l, missing) || has(l, text);
  CHECK(bad == 2);
  CHECK(has(r.out, img(3) + "\n"));
  CHECK(has(r.out, img(4) + "\n"));
  CHECK_FALSE(has(r.out, missing));
  CHECK(npy_shape(dump + "/logits.npy") == Shape{2, 3});
  CHECK(slurp(dump + "/paths.txt") == img(3) + "\n" + img(4) + "\n");
  // None readable: exit 2, still one line per image.
  r = run("classify --weights " + w.final_w + " " + missing + " " + text);
  CHECK(r.code == 2);
  CHECK(lines_of(r.err).size() == 2);
}

TEST_CASE("cli ckpt: --max-image-mb caps the image file size in classify, features, eval and train") {
  const World& w = world();
  Rng rng(3);
  const std::string big = w.dir + "/big.ppm";  // 700 x 700 x 3 bytes: 1.4 MiB
  write_ppm(big, 700, 700, rng, 1);
  const std::string c = "classify --weights " + w.final_w + " --threads 1 " + big;
  CHECK(run(c).code == 0);
  check_refused(c + " --max-image-mb 1", {"big.ppm", "cap"});
  CHECK(run(c + " --max-image-mb 2").code == 0);
  check_refused(c + " --max-image-mb -1", {"--max-image-mb"});
  const std::string list = w.dir + "/with_big.txt";
  std::ofstream(list) << "img0.ppm 0\nbig.ppm 1\nimg1.ppm 1\n";
  Run f = run("features --weights " + w.final_w + " --list " + list + " --data-root " + w.dir + " --cache-dir " + w.dir +
              "/bigcache --device cpu --threads 1 --max-image-mb 1");
  INFO(f.out << f.err);
  CHECK(f.code == 0);
  CHECK(has(f.out, "2 samples"));
  CHECK(has(f.out, "1 files skipped"));
  CHECK(has(f.out, "cached in"));
  // The cap is part of the cache key: the same cap reuses the entry, another one reads the images again.
  const std::string fc = "features --weights " + w.final_w + " --list " + list + " --data-root " + w.dir +
                         " --cache-dir " + w.dir + "/bigcache --device cpu --threads 1";
  f = run(fc + " --max-image-mb 1");
  CHECK(has(f.out, "reused"));
  CHECK(has(f.out, "1 files skipped"));
  f = run(fc + " --max-image-mb 2");
  INFO(f.out << f.err);
  CHECK(has(f.out, "cached in"));
  CHECK(has(f.out, "3 samples"));
  CHECK(has(f.out, "0 files skipped"));
  f = run(fc + " --max-image-mb 2");
  CHECK(has(f.out, "reused"));
  CHECK(has(f.out, "3 samples"));
  Run e = run("eval --weights " + w.final_w + " --id-test " + list + " --far n=" + w.ood + " --data-root " + w.dir +
              " --out " + w.dir + "/bigeval --device cpu --threads 1 --max-image-mb 1 --strict");
  CHECK(e.code == 2);
  CHECK(has(e.err, "big.ppm"));
  Run t = run("train --train-list " + list + " --data-root " + w.dir + " --arch resnet18_cifar --width 8 --image-size 16"
              " --batch-size 3 --steps 1 --threads 1 --strict --max-image-mb 1");
  CHECK(t.code == 2);
  CHECK(has(t.err, "big.ppm"));
}

TEST_CASE("cli ckpt: eval and features hash the weights as they load them (one read), the hash as before") {
  const World& w = world();
  const std::string bytes = slurp(w.final_w);  // read through a stream, apart from the loaders' mapping
  ish::util::ContentHash h;
  h.add(bytes.data(), bytes.size());
  const std::string want = h.hex();
  const std::string args = "features --weights " + w.final_w + " --list " + w.list + " --data-root " + w.dir +
                           " --cache-dir " + w.dir + "/hash_cache --device cpu --threads 1";
  Run f = run(args);
  INFO(f.out << f.err);
  REQUIRE(f.code == 0);
  const size_t at = f.out.find("cached in ");
  REQUIRE(at != std::string::npos);
  const std::string entry = f.out.substr(at + 10, f.out.find('\n', at) - at - 10);
  CHECK(st::File::open(entry).metadata().at("weights") == want);
  Run e = run("eval --weights " + w.final_w + " --id-test " + w.list + " --far noise=" + w.ood + " --data-root " + w.dir +
              " --out " + w.dir + "/hash_eval --device cpu --threads 1");
  REQUIRE(e.code == 0);
  CHECK(nlohmann::json::parse(slurp(w.dir + "/hash_eval/results.json"))["info"].value("weights_hash", "") == want);
  // Opens of the weights file, by strace where it runs: the 9-byte format sniff and the mapping, no third
  // open to hash it.
  const std::string log = w.dir + "/open.log";
  if (std::system(("strace -f -qq -e trace=open,openat -o " + log + " true 2>/dev/null").c_str()) != 0) {
    MESSAGE("strace unavailable: the open count is not checked");
    return;
  }
  for (const std::string& cmd : {args + " --recompute",
                                 "eval --weights " + w.final_w + " --id-test " + w.list + " --far noise=" + w.ood +
                                     " --data-root " + w.dir + " --out " + w.dir + "/hash_eval --device cpu --threads 1"}) {
    INFO(cmd);
    REQUIRE(std::system(("OMP_NUM_THREADS=1 strace -f -qq -e trace=open,openat -o " + log + " " +
                         ish::test::ishscale_bin() + " " + cmd + " > /dev/null 2>&1").c_str()) == 0);
    int opens = 0;
    for (auto& l : lines_of(slurp(log))) opens += has(l, "\"" + w.final_w + "\"");
    CHECK(opens == 2);
  }
}

}  // TEST_SUITE
