// The detectors after SCALE that run on cached features (nci, fdbd, nnguide, caref, cadref, optfs) against
// tools/ood_reference.py (an independent numpy/torch implementation of METHOD-DETECTORS-2.md), on a head
// where every class is predicted on ID train and the train labels differ from the predictions
// (tools/fixtures_eval.py: _detectors2_goldens).
#include <cmath>

#include "eval/aps.h"
#include "eval/detectors.h"
#include "tests/util.h"

using namespace ish;

namespace {

struct Data2 {
  std::map<std::string, Tensor> T;
  eval::Fc fc;
  std::map<std::string, eval::FeatureSet> sets;
  int64_t batch = 0;
};

const Data2& data2() {
  static Data2 d = [] {
    Data2 x;
    x.T = test::load_fixture("eval_detectors2.safetensors");
    x.fc = {x.T.at("fc.W"), x.T.at("fc.b")};
    for (const char* s : {"train", "val", "test", "ood", "oodval"}) {
      std::string p = s;
      x.sets[p] = {x.T.at(p + ".logits"), x.T.at(p + ".features"), x.T.at(p + ".labels")};
    }
    x.batch = x.T.at("nnguide.batch").data<int64_t>()[0];
    return x;
  }();
  return d;
}

eval::FitInputs fit2() {
  eval::FitInputs in;
  in.id_train = &data2().sets.at("train");
  in.id_val = &data2().sets.at("val");
  in.batch_size = data2().batch;
  return in;
}

// max |got - ref| / max |ref| over finite entries; infinities must agree in sign.
void check2(const eval::Scores& s, const Tensor& conf, const Tensor& pred, const std::string& what, double tol) {
  auto want = conf.to_f64_vector();
  const int64_t* wp = pred.data<int64_t>();
  REQUIRE(s.conf.size() == want.size());
  double mx = 0, ref = 0;
  int64_t inf_bad = 0, pred_bad = 0;
  for (size_t i = 0; i < want.size(); i++) {
    if (std::isinf(want[i]) || std::isinf(s.conf[i]))
      inf_bad += !(std::isinf(want[i]) && std::isinf(s.conf[i]) && (want[i] < 0) == (s.conf[i] < 0));
    else {
      mx = std::max(mx, std::fabs((double)s.conf[i] - want[i]));
      ref = std::max(ref, std::fabs(want[i]));
    }
    pred_bad += s.pred[i] != wp[i];
  }
  const double rel = mx / std::max(ref, 1e-30);
  CHECK_MESSAGE(rel <= tol, what << ": rel err " << rel);
  CHECK_MESSAGE(inf_bad == 0, what << ": " << inf_bad << " infinity mismatches");
  CHECK_MESSAGE(pred_bad == 0, what << ": " << pred_bad << " predictions differ");
  MESSAGE(what << " rel err " << rel);
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("eval detectors after SCALE match the numpy/torch reference (rel err <= 1e-5)") {
  const Data2& d = data2();
  struct Case { const char* det; const char* tag; eval::HParams p; };
  const Case cases[] = {
      {"nci", "default", {{"alpha", 1e-4}}}, {"nci", "alt", {{"alpha", 0.1}}},
      {"fdbd", "default", {{"distance_as_normalizer", 1}}}, {"fdbd", "alt", {{"distance_as_normalizer", 0}}},
      {"nnguide", "default", {{"K", 10}, {"alpha", 0.01}}}, {"nnguide", "alt", {{"K", 100}, {"alpha", 0.2}}},
      {"caref", "default", {}},
      {"cadref", "Energy", {{"logit_method", 0}}}, {"cadref", "MSP", {{"logit_method", 1}}},
      {"cadref", "MaxLogit", {{"logit_method", 2}}}, {"cadref", "GEN", {{"logit_method", 3}}},
      {"optfs", "default", {}},
  };
  for (const Case& c : cases) {
    auto det = eval::make_detector(c.det, d.fc);
    det->fit(fit2());
    det->set_params(c.p);
    for (const char* s : {"test", "ood"}) {
      const std::string key = std::string(c.det) + "." + c.tag + "." + s;
      eval::Scores sc = det->score(d.sets.at(s));
      check2(sc, d.T.at(key + ".conf"), d.T.at(key + ".pred"), key, 1e-5);
    }
  }
}

TEST_CASE("eval nnguide bank size follows OpenOOD's loader rule, and the defaults are the yml's") {
  const Data2& d = data2();
  auto nng = eval::make_detector("nnguide", d.fc);
  CHECK(eval::hparams_str(nng->params()) == "K=100 alpha=0.01");
  nng->fit(fit2());
  // 600 train rows, B = 50: alpha 0.01 -> bank 50, so K = 100 is refused; alpha 0.2 -> 150
  CHECK(d.T.at("nnguide.bank.default").data<int64_t>()[0] == 50);
  CHECK(d.T.at("nnguide.bank.alt").data<int64_t>()[0] == 150);
  CHECK_THROWS_AS(nng->score(d.sets.at("test")), Error);
  nng->set_params({{"alpha", 0.2}});
  CHECK(nng->score(d.sets.at("test")).conf.size() == 150);
  CHECK_THROWS_AS(nng->set_params({{"K", 151}}), Error);
  CHECK_NOTHROW(nng->set_params({{"K", 150}}));
}

TEST_CASE("eval APS of nci and fdbd picks the reference's grid point") {
  const Data2& d = data2();
  for (const char* name : {"nci", "fdbd"}) {
    auto det = eval::make_detector(name, d.fc);
    det->fit(fit2());
    eval::ApsResult r = eval::aps_search(*det, d.sets.at("val"), d.sets.at("oodval"));
    auto trace = d.T.at(std::string("aps.") + name + ".trace").to_f64_vector();
    const int64_t best = d.T.at(std::string("aps.") + name + ".best").data<int64_t>()[0];
    REQUIRE(r.trace.size() == trace.size());
    bool differs = false;
    for (size_t i = 0; i < trace.size(); i++) {
      CHECK_MESSAGE(std::fabs(r.trace[i].second - trace[i]) <= 1e-9, name << " grid point " << i);
      differs |= trace[i] != trace[0];
    }
    CHECK_MESSAGE(differs, name << ": the fixture's grid must matter");
    CHECK(eval::hparams_str(r.best) == eval::hparams_str(det->grid()[best]));
  }
  auto nci = eval::make_detector("nci", d.fc);
  CHECK(eval::hparams_str(nci->grid()[0]) == "alpha=0.0001");
  CHECK(nci->grid().size() == 4);
  auto fdbd = eval::make_detector("fdbd", d.fc);
  CHECK(eval::hparams_str(fdbd->grid()[0]) == "distance_as_normalizer=1");  // True first
  CHECK(eval::make_detector("nnguide", d.fc)->grid().empty());              // OpenOOD: APS_mode False
}

TEST_CASE("eval cadref takes its logit method as a word; bad values are refused") {
  const Data2& d = data2();
  auto cad = eval::make_detector("cadref", d.fc);
  CHECK(cad->param_word("logit_method", "Energy") == 0);
  CHECK(cad->param_word("logit_method", "MSP") == 1);
  CHECK(cad->param_word("logit_method", "MaxLogit") == 2);
  CHECK(cad->param_word("logit_method", "GEN") == 3);
  CHECK(cad->param_word_of("logit_method", 3) == "GEN");
  CHECK_THROWS_AS(cad->param_word("logit_method", "energy"), Error);  // the yml's spelling, exactly
  CHECK_THROWS_AS(cad->set_params({{"logit_method", 4}}), Error);
  CHECK_THROWS_AS(eval::make_detector("nci", d.fc)->param_word("alpha", "big"), Error);  // numeric keys refuse words
  CHECK_THROWS_AS(eval::make_detector("fdbd", d.fc)->set_params({{"distance_as_normalizer", 2}}), Error);
  for (const char* n : {"nci", "fdbd", "nnguide", "caref", "cadref", "optfs"}) {
    auto det = eval::make_detector(n, d.fc);
    CHECK(det->needs_id_train());
    CHECK_THROWS_AS(det->score(d.sets.at("test")), Error);  // not fitted
    CHECK_THROWS_AS(det->fit({}), Error);                  // no ID train
  }
}

TEST_CASE("eval caref/cadref: a class never predicted on train scores -inf and is reported") {
  const Data2& d = data2();
  // train on the rows NOT predicted as class 0: class 0 has no mean
  const eval::FeatureSet& tr = d.sets.at("train");
  const int64_t C = tr.logits.size(1), D = tr.features.size(1);
  std::vector<float> f, z;
  std::vector<int64_t> y;
  const float *fa = tr.features.data<float>(), *za = tr.logits.data<float>();
  for (int64_t i = 0; i < tr.size(); i++) {
    if (eval::detail::argmax_row(&za[i * C], C) == 0) continue;
    f.insert(f.end(), &fa[i * D], &fa[(i + 1) * D]);
    z.insert(z.end(), &za[i * C], &za[(i + 1) * C]);
    y.push_back(tr.labels.data<int64_t>()[i]);
  }
  const int64_t n = (int64_t)y.size();
  eval::FeatureSet sub{Tensor::from_f32(z, {n, C}), Tensor::from_f32(f, {n, D}), Tensor::from_i64(y, {n})};
  for (const char* name : {"caref", "cadref"}) {
    auto det = eval::make_detector(name, d.fc);
    std::string warned;
    eval::FitInputs in;
    in.id_train = &sub;
    in.log = [&](const std::string& s) { warned += s; };
    det->fit(in);
    CHECK_MESSAGE(warned.find("1 classes are never predicted") != std::string::npos, warned);
    const eval::FeatureSet& t = d.sets.at("test");
    eval::Scores s = det->score(t);
    int64_t in0 = 0, inf = 0;
    for (int64_t i = 0; i < t.size(); i++) {
      in0 += s.pred[i] == 0;
      inf += std::isinf(s.conf[i]) && s.conf[i] < 0;
    }
    CHECK(in0 > 0);
    CHECK(inf >= in0);
    CHECK(s.degenerate == in0);  // the all-zero row is -inf in the reference too: not counted
  }
}
}
