// evaluate() + write_outputs(): OpenOOD CSV text against a Python-formatted golden, and every output file.
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

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
}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("eval evaluate writes OpenOOD's CSV, scores, results.json and report.html") {
  auto T = test::load_fixture("eval_detectors.safetensors");
  eval::EvalInputs in;
  in.fc = {T.at("fc.W"), T.at("fc.b")};
  in.id_test = named(T, "toy", "test");
  in.id_val = named(T, "val", "val");
  in.ood_val = named(T, "oodval", "oodval");
  in.id_train = named(T, "train", "train");
  in.near = {named(T, "oodA", "ood")};
  in.far = {named(T, "oodB", "oodval"), named(T, "oodC", "ood")};
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
