// evaluate() + write_outputs(): OpenOOD CSV text against a Python-formatted golden, and every output file.
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "engine/error.h"
#include "eval/benchmark.h"
#include "eval/npy.h"
#include "tests/util.h"

using namespace ish;

namespace {
std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
eval::NamedSet named(const std::map<std::string, Tensor>& T, const std::string& name, const std::string& key) {
  eval::NamedSet s;
  s.name = name;
  s.f = {T.at(key + ".logits"), T.at(key + ".features"), T.at(key + ".labels")};
  return s;
}
// Every set of eval_detectors.safetensors in its role; "ood" stands twice (as oodA and oodC).
eval::EvalInputs toy_inputs(const std::map<std::string, Tensor>& T) {
  eval::EvalInputs in;
  in.fc = {T.at("fc.W"), T.at("fc.b")};
  in.id_test = named(T, "toy", "test");
  in.id_val = named(T, "val", "val");
  in.ood_val = named(T, "oodval", "oodval");
  in.id_train = named(T, "train", "train");
  in.near = {named(T, "oodA", "ood")};
  in.far = {named(T, "oodB", "oodval"), named(T, "oodC", "ood")};
  return in;
}
}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("eval evaluate writes OpenOOD's CSV, scores, results.json and report.html") {
  auto T = test::load_fixture("eval_detectors.safetensors");
  eval::EvalInputs in = toy_inputs(T);
  eval::EvalConfig cfg;
  cfg.postprocessors = {"scale"};
  cfg.percentile = 85;
  auto res = eval::evaluate(in, cfg);
  REQUIRE(res.size() == 1);
  CHECK(!res[0].searched);
  CHECK(res[0].degenerate == 3);  // the all-zero rows: ID test, and "ood" used as oodA and oodC
  Tensor want = T.at("csv.scale");
  CHECK(eval::openood_csv(res[0]) == std::string((const char*)want.data<uint8_t>(), (size_t)want.numel()));

  // Every detector but odin, with APS where a grid exists (vim's grid needs D > 1000: fixed dim).
  cfg.postprocessors = {"msp", "mls", "ebo", "react", "ash", "ash_p", "ash_s", "scale", "gen", "knn", "vim", "mds"};
  cfg.percentile = -1;
  cfg.fixed["vim"] = {{"dim", 16}};
  auto all = eval::evaluate(in, cfg);
  REQUIRE(all.size() == cfg.postprocessors.size());
  CHECK(all[3].searched);  // react
  std::string dir = test::fixture_dir() + "/tmp_eval_out";
  eval::OutputOptions oo;
  oo.out_dir = dir;
  oo.save_score = true;
  oo.info = {{"arch", "toy"}};
  oo.counts = {{"toy", 150}};
  eval::write_outputs(all, in, oo);
  for (auto& r : all) {
    CHECK(slurp(dir + "/ood/" + r.name + ".csv") == eval::openood_csv(r));
    Tensor conf = eval::read_npy(dir + "/scores/" + r.name + "/far/oodB/conf.npy");
    CHECK(conf.numel() == 100);
    CHECK(eval::read_npy(dir + "/scores/" + r.name + "/id/toy/gt.npy").numel() == 150);
  }
  auto j = nlohmann::json::parse(slurp(dir + "/results.json"));
  CHECK(j["postprocessors"]["scale"]["metrics"].contains("farood"));
  CHECK(j["postprocessors"]["react"]["aps"].get<bool>());
  std::string html = slurp(dir + "/report.html");
  CHECK(html.find("<svg") != std::string::npos);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("src=") == std::string::npos);  // self-contained
  CHECK(html.find("href='http") == std::string::npos);
}
}

namespace {
// What evaluate() asked of one detector; kept outside it (evaluate() owns and destroys the detectors).
struct Calls {
  int fits = 0, scores = 0;
  std::vector<int64_t> scored_sizes;
};
// Wraps a real detector and counts what evaluate() asks of it.
struct Counting : eval::Detector {
  std::unique_ptr<eval::Detector> d;
  Calls* calls;
  Counting(std::unique_ptr<eval::Detector> inner, Calls* c) : d(std::move(inner)), calls(c) {}
  std::string name() const override { return d->name(); }
  eval::HParams params() const override { return d->params(); }
  void set_params(const eval::HParams& p) override { d->set_params(p); }
  std::vector<eval::HParams> grid() const override { return d->grid(); }
  bool needs_id_train() const override { return d->needs_id_train(); }
  bool needs_id_val() const override { return d->needs_id_val(); }
  void fit(const eval::FitInputs& in) override { calls->fits++, d->fit(in); }
  eval::Scores score(const eval::FeatureSet& f, const eval::ImageStream* im) override {
    calls->scores++;
    calls->scored_sizes.push_back(f.size());
    return d->score(f, im);
  }
};
}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("eval evaluate fits each detector once and scores ID test once, each OOD set once") {
  auto T = test::load_fixture("eval_detectors.safetensors");
  eval::EvalInputs in = toy_inputs(T);
  eval::EvalConfig cfg;
  cfg.postprocessors = {"knn", "react"};
  cfg.fixed["knn"] = {{"K", 5}};
  cfg.grids["react"] = {{{"percentile", 80}}, {{"percentile", 90}}, {{"percentile", 95}}};
  std::vector<std::unique_ptr<eval::Detector>> dets;
  std::vector<Calls> c(cfg.postprocessors.size());
  for (size_t k = 0; k < c.size(); k++)
    dets.push_back(std::make_unique<Counting>(eval::make_detector(cfg.postprocessors[k], in.fc), &c[k]));
  auto res = eval::evaluate(in, cfg, std::move(dets));
  REQUIRE(res.size() == 2);
  // knn: fixed K, no APS: ID test + 3 OOD sets.
  CHECK(c[0].fits == 1);
  CHECK(c[0].scores == 4);
  CHECK(c[0].scored_sizes == std::vector<int64_t>{in.id_test.f.size(), in.near[0].f.size(), in.far[0].f.size(), in.far[1].f.size()});
  CHECK(res[0].params == eval::HParams{{"K", 5}});
  // react: APS over the given 3-point grid (ID val and OOD val per point), then the test sets.
  CHECK(c[1].fits == 1);
  CHECK(c[1].scores == 3 * 2 + 4);
  CHECK(res[1].searched);
  REQUIRE(res[1].aps.trace.size() == 3);
  CHECK(res[1].aps.trace[1].first == eval::HParams{{"percentile", 90}});
  // The same numbers as a plain evaluate() that builds its own detectors.
  auto again = eval::evaluate(in, cfg);
  for (size_t k = 0; k < 2; k++) {
    CHECK(again[k].id_test.conf == res[k].id_test.conf);
    CHECK(again[k].far_mean.auroc == res[k].far_mean.auroc);
  }
  // Detectors that do not match the names are refused.
  auto wrong = eval::make_detectors({"msp", "knn"}, in.fc, nullptr);
  CHECK_THROWS_AS(eval::evaluate(in, cfg, std::move(wrong)), Error);
}
}
