// End to end with transformers: reduced torchvision ViT and Swin models (random weights; signed features)
// through eval::run_benchmark as models::Net, over the real and synthetic JPEG lists of the ResNet
// end-to-end test, with each arch's eval transform scaled to a 32x32 crop (ViT: Resize 36 bilinear; Swin:
// Resize 33 bicubic), against torchvision + tools/ood_reference.py (tools/fixtures_eval.py,
// _e2e_transformers). Every detector that needs no network pass, and ODIN through NetGradNet; AdaSCALE-A/L
// run through the same gradient passes (finite scores; their goldens are the ResNet's, test_eval_adascale).
#include <sys/stat.h>

#include <cmath>

#include "eval/run.h"
#include "models/net.h"
#include "models/swin.h"
#include "models/vit.h"
#include "tests/util.h"
#include "weights/load.h"
#include "weights/safetensors.h"

using namespace ish;

namespace {
using test::exists;
using test::rel_err;

// tools/fixtures_eval.py's TF_DETECTORS
const std::vector<std::string> kDetectors = {"msp", "mls", "ebo", "gen", "react", "ash", "ash_p", "ash_s", "scale",
                                             "knn", "vim", "mds", "nci", "fdbd", "nnguide", "caref", "cadref", "optfs"};

// Runs the benchmark on `net` with `t` and checks scores, predictions, features and ODIN against `kind`'s goldens.
void check_e2e(models::Net& net, const img::Transform& t, const std::string& kind) {
  const std::string base = test::fixture_dir() + "/eval_e2e", data = base + "/data", out = base + "/out_" + kind;
  auto E = st::File::open(base + "/" + kind + "_expected.safetensors").load_all();
  eval::ListBenchmark b;
  auto spec = [&](const std::string& name, const std::string& list) { return eval::ListSpec{name, data + "/" + list + ".txt", data}; };
  b.id_test = spec("toy", "id_test");
  b.id_val = spec("toy", "id_val");
  b.ood_val = spec("oodval", "ood_val");
  b.id_train = spec("toy", "id_train");
  b.near = {spec("nearA", "near_a")};
  b.far = {spec("farA", "far_a")};
  eval::RunOptions ro;
  ro.extract.batch_size = 4;
  ro.cfg.batch_size = 4;  // NNGuide's bank rule (the fixture's TF_BATCH)
  ro.extract.threads = 2;
  ro.extract.progress = false;
  ro.extract.cache_dir = out + "/cache";
  ro.extract.recompute = true;
  ro.extract.weights_key = kind;
  ro.extract.transform = t;
  ro.cfg.postprocessors = kDetectors;
  for (const char* n : {"adascale_a", "adascale_l"}) ro.cfg.postprocessors.push_back(n);  // run, not compared
  ro.cfg.aps = false;
  ro.cfg.percentile = 85;
  ro.cfg.fixed = {{"knn", {{"K", 3}}}, {"vim", {{"dim", 4}}}, {"nnguide", {{"K", 2}}}};
  ro.out.out_dir = out;
  ro.out.report = false;
  auto res = eval::run_benchmark(net, b, ro);
  REQUIRE(res.size() == kDetectors.size() + 2);
  CHECK(ro.out.skipped_files.at("far/farA") == 1);  // the truncated JPEG

  for (const char* name : {"id_test", "near_a", "far_a", "id_train"}) {
    img::ImgList list = img::read_imglist(data + "/" + name + ".txt", data);
    eval::ExtractOptions eo = ro.extract;
    eo.recompute = false;
    eval::Extracted x = eval::extract_features(net, list, eo);
    CHECK(x.from_cache);
    // 1e-4: the bound; float32 in another summation order differs by ~1e-6
    CHECK_MESSAGE(test::rel_error(x.f.features, E.at(std::string(name) + ".features")) <= 1e-4, kind << " " << name);
    CHECK_MESSAGE(test::rel_error(x.f.logits, E.at(std::string(name) + ".logits")) <= 1e-4, kind << " " << name);
  }
  for (auto& r : res) {
    if (r.name.compare(0, 8, "adascale") == 0) {  // the gradient passes through the transformer ran: finite scores
      for (float v : r.id_test.conf) CHECK_MESSAGE(std::isfinite(v), kind << " " << r.name);
      for (float v : r.far.at(0).s.conf) CHECK_MESSAGE(std::isfinite(v), kind << " " << r.name);
      continue;
    }
    std::vector<std::pair<std::string, const eval::Scores*>> parts = {
        {"id_test", &r.id_test}, {"near_a", &r.near.at(0).s}, {"far_a", &r.far.at(0).s}};
    for (auto& [split, s] : parts) {
      const std::string key = r.name + "." + split;
      auto want = E.at(key + ".conf").to_f64_vector();
      REQUIRE(s->conf.size() == want.size());
      const double e = rel_err(s->conf, want);
      CHECK_MESSAGE(e <= 1e-4, kind << " " << key << ": rel err " << e);  // as above
      MESSAGE(kind << " " << key << " rel err " << e);
      const int64_t* wp = E.at(key + ".pred").data<int64_t>();
      for (size_t i = 0; i < s->pred.size(); i++) CHECK_MESSAGE(s->pred[i] == wp[i], kind << " " << key << " pred " << i);
    }
  }
  // ODIN: a backward to the input through the transformer (NetGradNet over engine autograd).
  eval::NetGradNet gn(net, t);
  img::ImgList list = img::read_imglist(data + "/id_test.txt", data);
  eval::ImageStream s = eval::image_stream(list, ro.extract);
  auto odin = eval::make_detector("odin", eval::fc_of(net), &gn);
  odin->set_params({{"temperature", 1000}, {"noise", 0.0014}});
  eval::Scores sc = odin->score(eval::FeatureSet{}, &s);
  const double e = rel_err(sc.conf, E.at("odin.id_test.conf").to_f64_vector());
  CHECK_MESSAGE(e <= 1e-4, kind << " odin rel err " << e);  // 1e-4 as above
  const int64_t* wp = E.at("odin.id_test.pred").data<int64_t>();
  for (size_t i = 0; i < sc.pred.size(); i++) CHECK(sc.pred[i] == wp[i]);
}

// The crop-32 version of an arch's eval transform, keeping its resize ratio and filter.
img::Transform scaled(const std::string& arch) {
  img::Transform t = img::Transform::eval_default(arch);
  t.resize = 32 * t.resize / t.crop;
  t.crop = 32;
  return t;
}
}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("eval end to end with a reduced ViT (signed features) matches torchvision + the reference detectors") {
  const std::string w = test::fixture_dir() + "/eval_e2e/vit_tiny.safetensors";
  REQUIRE_MESSAGE(exists(w), "missing " << w << " (run `make fixtures`)");
  models::ViTConfig c;  // tools/fixtures_eval.py TF_VIT
  c.image_size = 32;
  c.patch_size = 8;
  c.num_layers = 2;
  c.num_heads = 2;
  c.hidden_dim = 32;
  c.mlp_dim = 64;
  c.num_classes = 10;
  c.init = false;
  models::VisionTransformer m(c, "vit_tiny");
  models::load_weights(m, w);
  auto net = models::wrap(std::move(m));
  net->eval();
  img::Transform t = scaled("vit_b_16");
  CHECK(t.resize == 36);
  CHECK(t.interpolation == img::Interpolation::Bilinear);
  check_e2e(*net, t, "vit");
}

TEST_CASE("eval end to end with a reduced Swin (signed features, bicubic resize) matches torchvision + the reference") {
  const std::string w = test::fixture_dir() + "/eval_e2e/swin_tiny.safetensors";
  REQUIRE_MESSAGE(exists(w), "missing " << w << " (run `make fixtures`)");
  models::SwinConfig c;  // tools/fixtures_eval.py TF_SWIN
  c.patch_size = 4;
  c.embed_dim = 16;
  c.depths = {2, 2};
  c.num_heads = {2, 4};
  c.window_h = c.window_w = 4;
  c.num_classes = 10;
  c.init = false;
  models::SwinTransformer m(c, "swin_tiny");
  models::load_weights(m, w);
  auto net = models::wrap(std::move(m));
  net->eval();
  img::Transform t = scaled("swin_t");
  CHECK(t.resize == 33);
  CHECK(t.interpolation == img::Interpolation::Bicubic);
  check_e2e(*net, t, "swin");
}
}

TEST_SUITE("cpu") {
TEST_CASE("vim: the dim grid keeps OpenOOD's {256, 1000} below the feature size (768-d transformers: {256})") {
  for (auto [D, n] : {std::pair<int64_t, size_t>{2048, 2}, {768, 1}, {512, 1}}) {
    eval::Fc fc{Tensor::zeros({10, D}), Tensor::zeros({10})};
    auto vim = eval::make_detector("vim", fc, nullptr);
    auto g = vim->grid();
    REQUIRE_MESSAGE(g.size() == n, "D " << D);
    CHECK(g[0] == eval::HParams{{"dim", 256}});
    if (n == 2) CHECK(g[1] == eval::HParams{{"dim", 1000}});
  }
}
}
