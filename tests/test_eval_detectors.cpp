// Every detector's scores against tools/ood_reference.py (a numpy/torch implementation of METHOD.md that
// follows OpenOOD's postprocessors) on the same random "features", and APS's choices against the reference's.
#include <cmath>

#include "eval/aps.h"
#include "eval/detectors.h"
#include "eval/linalg.h"
#include "tests/util.h"

using namespace ish;

namespace {

struct Data {
  std::map<std::string, Tensor> T;
  eval::Fc fc;
  std::map<std::string, eval::FeatureSet> sets;
};

const Data& data() {
  static Data d = [] {
    Data x;
    x.T = test::load_fixture("eval_detectors.safetensors");
    x.fc = {x.T.at("fc.W"), x.T.at("fc.b")};
    for (const char* s : {"train", "val", "test", "ood", "oodval"}) {
      std::string p = s;
      x.sets[p] = {x.T.at(p + ".logits"), x.T.at(p + ".features"), x.T.at(p + ".labels")};
    }
    return x;
  }();
  return d;
}

// rel error = max |got - ref| / max |ref| over the finite entries (-inf must match -inf exactly).
void check_scores(const eval::Scores& s, const Tensor& conf, const Tensor& pred, const std::string& what, double tol) {
  auto want = conf.to_f64_vector();
  const int64_t* wp = pred.data<int64_t>();
  REQUIRE(s.conf.size() == want.size());
  double max_abs = 0, max_ref = 0;
  int64_t pred_bad = 0, inf_bad = 0;
  for (size_t i = 0; i < want.size(); i++) {
    if (std::isinf(want[i]) || std::isinf(s.conf[i])) {
      inf_bad += !(std::isinf(want[i]) && std::isinf(s.conf[i]) && (want[i] < 0) == (s.conf[i] < 0));
    } else {
      max_abs = std::max(max_abs, std::fabs((double)s.conf[i] - want[i]));
      max_ref = std::max(max_ref, std::fabs(want[i]));
    }
    pred_bad += s.pred[i] != wp[i];
  }
  double rel = max_abs / std::max(max_ref, 1e-30);
  CHECK_MESSAGE(rel <= tol, what << ": rel err " << rel << " (max abs " << max_abs << ")");
  CHECK_MESSAGE(inf_bad == 0, what << ": " << inf_bad << " -inf mismatches");
  CHECK_MESSAGE(pred_bad == 0, what << ": " << pred_bad << " predictions differ");
  MESSAGE(what << " rel err " << rel);
}

eval::FitInputs fit_inputs() {
  eval::FitInputs in;
  in.id_train = &data().sets.at("train");
  in.id_val = &data().sets.at("val");
  return in;
}

}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("eval detectors match the numpy/torch reference (rel err <= 1e-5)") {
  const Data& d = data();
  struct Case { const char* det; const char* tag; eval::HParams p; };
  const Case cases[] = {
      {"msp", "default", {}}, {"mls", "default", {}}, {"ebo", "default", {}},
      {"gen", "default", {{"gamma", 0.1}, {"M", 100}}}, {"gen", "alt", {{"gamma", 2}, {"M", 10}}},
      {"react", "default", {{"percentile", 90}}}, {"react", "alt", {{"percentile", 99}}},
      {"ash", "default", {{"percentile", 90}}}, {"ash", "alt", {{"percentile", 65}}},
      {"ash_p", "default", {{"percentile", 90}}}, {"ash_p", "alt", {{"percentile", 65}}},
      {"ash_s", "default", {{"percentile", 90}}}, {"ash_s", "alt", {{"percentile", 65}}},
      {"scale", "default", {{"percentile", 85}}}, {"scale", "alt", {{"percentile", 65}}},
      {"knn", "default", {{"K", 50}}}, {"knn", "alt", {{"K", 5}}},
      {"vim", "alt", {{"dim", 16}}}, {"vim", "alt2", {{"dim", 40}}},
      {"mds", "default", {}},
  };
  for (const Case& c : cases) {
    auto det = eval::make_detector(c.det, d.fc);
    det->fit(fit_inputs());
    det->set_params(c.p);
    for (const char* s : {"test", "ood"}) {
      std::string key = std::string(c.det) + "." + c.tag + "." + s;
      eval::Scores sc = det->score(d.sets.at(s));
      // 1e-5: the bound; float32 fc GEMMs against the reference's float64 leave ~1e-7
      check_scores(sc, d.T.at(key + ".conf"), d.T.at(key + ".pred"), key, 1e-5);
      if ((std::string(c.det) == "scale" || std::string(c.det) == "ash_s") && std::string(s) == "test")
        CHECK_MESSAGE(sc.degenerate == 1, key << ": the all-zero row must be counted");
    }
  }
}

TEST_CASE("eval ASH/SCALE k rounds half to even, as np.round") {
  CHECK(eval::detail::topk_count(2048, 85) == 307);  // METHOD.md: 1740.8 -> 1741
  CHECK(eval::detail::topk_count(10, 25) == 8);      // 2.5 -> 2 (half-up would keep 7)
  CHECK(eval::detail::topk_count(10, 35) == 6);      // 3.5 -> 4
  CHECK_THROWS_AS(eval::detail::topk_count(10, 100), Error);
}

TEST_CASE("eval detector fit statistics: react threshold, vim's u") {
  const Data& d = data();
  std::vector<float> all = d.sets.at("val").features.to_f32_vector();
  double thr = eval::detail::percentile_linear(all, 90);
  CHECK(thr == doctest::Approx(d.T.at("react.threshold90").item()).epsilon(1e-7));  // float32 data, lerp in double
  std::vector<double> u = eval::linalg::pinv_apply(d.fc.W.data<float>(), d.fc.W.size(0), d.fc.W.size(1),
                                                   d.fc.b.data<float>());
  auto want = d.T.at("vim.u").to_f64_vector();
  double mx = 0, ref = 0;
  for (size_t i = 0; i < u.size(); i++) {
    mx = std::max(mx, std::fabs(-u[i] - want[i]));
    ref = std::max(ref, std::fabs(want[i]));
  }
  CHECK(mx / ref <= 1e-10);  // both double; normal equations of a well-conditioned 20x64 W
}

TEST_CASE("eval APS picks the reference's grid point") {
  const Data& d = data();
  const char* dets[] = {"react", "ash", "ash_p", "ash_s", "scale", "gen", "knn", "vim"};
  for (const char* name : dets) {
    auto det = eval::make_detector(name, d.fc);
    det->fit(fit_inputs());
    std::vector<eval::HParams> grid;
    if (std::string(name) == "vim") grid = {{{"dim", 8}}, {{"dim", 16}}, {{"dim", 32}}, {{"dim", 48}}};
    eval::ApsResult r = eval::aps_search(*det, d.sets.at("val"), d.sets.at("oodval"), grid);
    auto trace = d.T.at(std::string("aps.") + name + ".trace").to_f64_vector();
    int64_t best = d.T.at(std::string("aps.") + name + ".best").data<int64_t>()[0];
    REQUIRE(r.trace.size() == trace.size());
    for (size_t i = 0; i < trace.size(); i++)
      CHECK_MESSAGE(std::fabs(r.trace[i].second - trace[i]) <= 1e-9, name << " grid point " << i);
    auto g = grid.empty() ? det->grid() : grid;
    CHECK_MESSAGE(eval::hparams_str(r.best) == eval::hparams_str(g[best]), name << ": picked " << eval::hparams_str(r.best)
                                                                              << ", reference " << eval::hparams_str(g[best]));
    CHECK(eval::hparams_str(det->params()) == eval::hparams_str(r.best));
  }
}

TEST_CASE("eval detectors refuse bad input") {
  const Data& d = data();
  auto scale = eval::make_detector("scale", d.fc);
  CHECK_THROWS_AS(scale->set_params({{"percentile", 100}}), Error);  // keeps no feature
  CHECK_THROWS_AS(scale->set_params({{"K", 5}}), Error);
  CHECK_THROWS_AS(eval::make_detector("nope", d.fc), Error);
  auto knn = eval::make_detector("knn", d.fc);
  CHECK_THROWS_AS(knn->score(d.sets.at("test")), Error);  // not fitted
  knn->fit(fit_inputs());
  CHECK_THROWS_AS(knn->set_params({{"K", 5000}}), Error);  // more than the ID-train samples
  auto vim = eval::make_detector("vim", d.fc);
  CHECK_THROWS_AS(vim->set_params({{"dim", 64}}), Error);  // dim must be < D
  CHECK_THROWS_AS(eval::make_detector("mds", d.fc)->fit({}), Error);
  eval::FeatureSet bad = d.sets.at("test");
  bad.labels = Tensor::zeros({3}, DType::I64);
  CHECK_THROWS_AS(eval::make_detector("msp", d.fc)->score(bad), Error);
  CHECK_THROWS_AS(eval::make_detector("odin", d.fc)->score(d.sets.at("test")), Error);  // no network
}

TEST_CASE("eval sym_eig: residual, orthogonality and pinvh on random symmetric matrices") {
  for (int64_t n : {1, 2, 3, 17, 100, 60}) {
    std::vector<double> A(n * n);
    uint64_t st = 12345 + n;
    auto rnd = [&] { st = st * 6364136223846793005ULL + 1442695040888963407ULL; return (double)(st >> 11) / 9007199254740992.0 - 0.5; };
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j <= i; j++) A[i * n + j] = A[j * n + i] = rnd();
    if (n == 100)  // a repeated eigenvalue block: diag part
      for (int64_t i = 0; i < 10; i++) for (int64_t j = 0; j < n; j++) A[i * n + j] = A[j * n + i] = (i == j) ? 2.0 : 0.0;
    if (n == 60) {  // rank 3 (a covariance of 3 samples): a cluster of zero eigenvalues must still converge
      std::vector<double> Bm(n * 3);
      for (auto& v : Bm) v = rnd();
      for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
          A[i * n + j] = 0;
          for (int64_t k = 0; k < 3; k++) A[i * n + j] += Bm[i * 3 + k] * Bm[j * 3 + k];
        }
    }
    std::vector<double> w, vt;
    eval::linalg::sym_eig(n, A, &w, &vt);
    double res = 0, orth = 0, norm = 0;
    for (double a : A) norm = std::max(norm, std::fabs(a));
    for (int64_t k = 0; k < n; k++) {
      if (k) CHECK(w[k] >= w[k - 1]);
      for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < n; j++) s += A[i * n + j] * vt[k * n + j];
        res = std::max(res, std::fabs(s - w[k] * vt[k * n + i]));
      }
      for (int64_t l = 0; l < n; l++) {
        double s = 0;
        for (int64_t j = 0; j < n; j++) s += vt[k * n + j] * vt[l * n + j];
        orth = std::max(orth, std::fabs(s - (k == l ? 1.0 : 0.0)));
      }
    }
    CHECK_MESSAGE(res <= 1e-12 * std::max(1.0, norm) * n, "n=" << n << " residual " << res);  // backward-stable in double
    CHECK_MESSAGE(orth <= 1e-12 * n, "n=" << n << " orthogonality " << orth);
  }
  // pinvh of a rank-deficient PSD matrix: A A+ A = A
  const int64_t n = 6;
  std::vector<double> B = {1, 2, 0, 1, 3, 1, 0, 1, 1, 2, 1, 0};  // 6x2 -> A = B B^T has rank 2
  std::vector<double> A(n * n, 0.0);
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++)
      for (int64_t k = 0; k < 2; k++) A[i * n + j] += B[i * 2 + k] * B[j * 2 + k];
  std::vector<double> P = eval::linalg::pinvh(n, A), AP(n * n, 0.0), APA(n * n, 0.0);
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++)
      for (int64_t k = 0; k < n; k++) AP[i * n + j] += A[i * n + k] * P[k * n + j];
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) {
      for (int64_t k = 0; k < n; k++) APA[i * n + j] += AP[i * n + k] * A[k * n + j];
      CHECK(std::fabs(APA[i * n + j] - A[i * n + j]) <= 1e-12);
    }
}
}

namespace {
// A toy detector whose AUROC rises with x up to x = 2 and then stays flat: APS must keep x = 2.
class Plateau : public eval::Detector {
 public:
  std::string name() const override { return "plateau"; }
  eval::HParams params() const override { return {{"x", x_}}; }
  void set_params(const eval::HParams& p) override { x_ = p.at(0).second; }
  std::vector<eval::HParams> grid() const override { return {{{"x", 1}}, {{"x", 2}}, {{"x", 3}}, {{"x", 4}}}; }
  eval::Scores score(const eval::FeatureSet& f, const eval::ImageStream*) override {
    eval::Scores s;
    const int64_t* y = f.labels.data<int64_t>();
    for (int64_t i = 0; i < f.labels.size(0); i++) {  // ID scores shift up by min(x, 2): separation saturates at x = 2
      s.conf.push_back((float)((y[i] == -1 ? 0.0 : std::min(x_, 2.0)) + 0.5 * (double)(i % 5)));
      s.pred.push_back(0);
    }
    return s;
  }

 private:
  double x_ = 1;
};
}  // namespace

TEST_SUITE("cpu") {
TEST_CASE("eval APS keeps the first strict maximum (OpenOOD's `auroc > max_auroc`)") {
  eval::FeatureSet id, ood;
  id.labels = Tensor::zeros({10}, DType::I64);
  ood.labels = Tensor::full({10}, -1, DType::I64);
  Plateau d;
  eval::ApsResult r = eval::aps_search(d, id, ood);
  REQUIRE(r.trace.size() == 4);
  CHECK(r.trace[1].second == r.trace[2].second);  // the plateau really ties
  CHECK(r.trace[1].second > r.trace[0].second);
  CHECK(eval::hparams_str(r.best) == "x=2");
}
}
