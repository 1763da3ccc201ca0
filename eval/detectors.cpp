// Detector plumbing, shared helpers and the logit-only detectors (msp, mls, ebo, gen).
#include "eval/detectors.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "engine/error.h"
#include "eval/detectors_impl.h"

namespace ish::eval {

void FeatureSet::validate(const std::string& what) const {
  ISH_CHECK(features.defined() && logits.defined() && labels.defined(), what, ": features, logits and labels are required");
  ISH_CHECK(features.dim() == 2 && features.dtype() == DType::F32 && !features.is_cuda(), what,
            ": features must be CPU F32 [N,D], got ", shape_str(features.shape()));
  ISH_CHECK(logits.dim() == 2 && logits.dtype() == DType::F32 && !logits.is_cuda(), what,
            ": logits must be CPU F32 [N,C], got ", shape_str(logits.shape()));
  ISH_CHECK(labels.dim() == 1 && labels.dtype() == DType::I64, what, ": labels must be I64 [N]");
  ISH_CHECK(logits.size(0) == features.size(0) && labels.size(0) == features.size(0), what, ": ",
            features.size(0), " features, ", logits.size(0), " logits, ", labels.size(0), " labels");
}

std::string hparams_str(const HParams& p) {
  std::ostringstream os;
  for (size_t i = 0; i < p.size(); i++) os << (i ? " " : "") << p[i].first << "=" << p[i].second;
  return os.str();
}

std::string hparams_str(const HParams& p, const Detector& d) {
  std::ostringstream os;
  for (size_t i = 0; i < p.size(); i++) {
    const std::string w = d.param_word_of(p[i].first, p[i].second);  // "logit_method=GEN", not "=3"
    os << (i ? " " : "") << p[i].first << "=";
    if (w.empty()) os << p[i].second; else os << w;
  }
  return os.str();
}

void Detector::set_params(const HParams& p) {
  ISH_CHECK(p.empty(), name(), " takes no hyper-parameters (got ", hparams_str(p), ")");
}

double Detector::param_word(const std::string& key, const std::string& word) const {
  fail(name(), ": ", key, " takes a number, got '", word, "'");
}

Tensor InputGradNet::maxlogit_input_grad(const Tensor&, Tensor*, Tensor*) {
  fail("this network does not provide the max-logit input gradient AdaSCALE needs");
}
Tensor InputGradNet::features(const Tensor&) { fail("this network does not provide features (AdaSCALE)"); }

namespace detail {

void ParamDetector::set_params(const HParams& p) {
  for (auto& [k, v] : p) {
    auto it = std::find_if(p_.begin(), p_.end(), [&](auto& e) { return e.first == k; });
    ISH_CHECK(it != p_.end(), name(), ": unknown hyper-parameter '", k, "'");
    ISH_CHECK(std::isfinite(v), name(), ": ", k, " must be finite");
    check_param(k, v);
    it->second = v;
  }
  on_params_changed();
}

double ParamDetector::get(const std::string& k) const {
  for (auto& e : p_)
    if (e.first == k) return e.second;
  ISH_ASSERT(false, k);
}

std::vector<HParams> grid1(const std::string& n, const std::vector<double>& v) {
  std::vector<HParams> g;
  for (double x : v) g.push_back({{n, x}});
  return g;
}
std::vector<HParams> grid2(const std::string& n1, const std::vector<double>& v1, const std::string& n2,
                           const std::vector<double>& v2) {
  std::vector<HParams> g;
  for (double y : v2)
    for (double x : v1) g.push_back({{n1, x}, {n2, y}});
  return g;
}

int64_t topk_count(int64_t n, double percentile) {
  ISH_CHECK(percentile >= 0 && percentile <= 100, "percentile ", percentile, " is outside [0, 100]");
  int64_t k = n - (int64_t)std::nearbyint((double)n * percentile / 100.0);  // np.round: half to even
  ISH_CHECK(k >= 1, "percentile ", percentile, " keeps no feature of ", n);
  return k;
}

std::vector<float> fc_forward(const Fc& fc, const float* A, int64_t N) {
  const int64_t C = fc.W.size(0), D = fc.W.size(1);
  std::vector<float> Z(N * C);
  if (N == 0) return Z;
  const float* b = fc.b.data<float>();
  for (int64_t i = 0; i < N; i++) std::copy(b, b + C, &Z[i * C]);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)C, (int)D, 1.0f, A, (int)D,
              fc.W.data<float>(), (int)D, 1.0f, Z.data(), (int)C);
  return Z;
}

int64_t argmax_row(const float* z, int64_t C) {
  int64_t best = 0;
  for (int64_t j = 1; j < C; j++)
    if (z[j] > z[best]) best = j;
  return best;
}

static double logsumexp_row(const float* z, int64_t C, double inv_t = 1.0) {
  double mx = -INFINITY;
  for (int64_t j = 0; j < C; j++) mx = std::max(mx, (double)z[j] * inv_t);
  if (!std::isfinite(mx)) return mx;
  double s = 0;
  for (int64_t j = 0; j < C; j++) s += std::exp((double)z[j] * inv_t - mx);
  return mx + std::log(s);
}

void energy_argmax(const std::vector<float>& Z, int64_t N, int64_t C, Scores* out) {
  out->conf.resize(N);
  out->pred.resize(N);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < N; i++) {
    out->conf[i] = (float)logsumexp_row(&Z[i * C], C);
    out->pred[i] = argmax_row(&Z[i * C], C);
  }
}

double percentile_linear(std::vector<float> v, double p) {
  ISH_CHECK(!v.empty(), "percentile of an empty set");
  ISH_CHECK(p >= 0 && p <= 100, "percentile ", p, " is outside [0, 100]");
  const int64_t n = (int64_t)v.size();
  double vi = (double)(n - 1) * (p / 100.0);  // numpy 'linear': (n - 1) * q
  int64_t lo = (int64_t)std::floor(vi), hi = lo + 1;
  if (vi >= (double)(n - 1)) lo = hi = n - 1;
  double t = vi - (double)lo;
  std::nth_element(v.begin(), v.begin() + lo, v.end());
  float a = v[lo];
  float b = hi == lo ? a : *std::min_element(v.begin() + lo + 1, v.end());
  double diff = (double)(b - a);  // float32 subtraction, as numpy does on float32 data
  return t >= 0.5 ? (double)b - diff * (1 - t) : (double)a + diff * t;
}

}  // namespace detail

namespace {

using detail::ParamDetector;

// Logit-only detectors: conf from z, pred = argmax z.
class LogitDetector : public ParamDetector {
 public:
  using ParamDetector::ParamDetector;
  Scores score(const FeatureSet& f, const ImageStream*) override {
    f.validate(name());
    const int64_t N = f.size(), C = f.logits.size(1);
    const float* Z = f.logits.data<float>();
    Scores s;
    s.conf.resize(N);
    s.pred.resize(N);
    prepare(f);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) {
      s.conf[i] = (float)row_score(&Z[i * C], C, i);
      s.pred[i] = detail::argmax_row(&Z[i * C], C);
    }
    return s;
  }

 protected:
  virtual void prepare(const FeatureSet&) {}
  virtual double row_score(const float* z, int64_t C, int64_t i) const = 0;
};

class Msp : public LogitDetector {
 public:
  using LogitDetector::LogitDetector;
  std::string name() const override { return "msp"; }
  double row_score(const float* z, int64_t C, int64_t) const override {
    double mx = -INFINITY;
    for (int64_t j = 0; j < C; j++) mx = std::max(mx, (double)z[j]);
    double s = 0;
    for (int64_t j = 0; j < C; j++) s += std::exp((double)z[j] - mx);
    return 1.0 / s;  // max softmax = exp(0) / sum
  }
};

class Mls : public LogitDetector {
 public:
  using LogitDetector::LogitDetector;
  std::string name() const override { return "mls"; }
  double row_score(const float* z, int64_t C, int64_t) const override {
    return z[detail::argmax_row(z, C)];
  }
};

class Ebo : public LogitDetector {
 public:
  explicit Ebo(Fc fc) : LogitDetector(std::move(fc)) { p_ = {{"temperature", 1}}; }
  std::string name() const override { return "ebo"; }
  void check_param(const std::string&, double v) const override {
    ISH_CHECK(v > 0, "ebo: temperature must be > 0, got ", v);
  }
  double row_score(const float* z, int64_t C, int64_t) const override {
    double T = get("temperature");
    return T * detail::logsumexp_row(z, C, 1.0 / T);
  }
};

// GEN: -sum over the top-M softmax probabilities of p^g (1-p)^g.
class Gen : public LogitDetector {
 public:
  explicit Gen(Fc fc) : LogitDetector(std::move(fc)) {
    p_ = {{"gamma", 0.1}, {"M", 100}};
    grid_ = detail::grid2("gamma", {0.01, 0.1, 0.5, 1, 2, 5, 10}, "M", {10, 50, 100, 200, 500, 1000});
  }
  std::string name() const override { return "gen"; }
  void check_param(const std::string& k, double v) const override {
    if (k == "gamma") ISH_CHECK(v > 0, "gen: gamma must be > 0, got ", v);
    if (k == "M") ISH_CHECK(v >= 1 && v == std::floor(v), "gen: M must be a positive integer, got ", v);
  }
  double row_score(const float* z, int64_t C, int64_t) const override {
    std::vector<double> p(C);
    double mx = -INFINITY, s = 0;
    for (int64_t j = 0; j < C; j++) mx = std::max(mx, (double)z[j]);
    for (int64_t j = 0; j < C; j++) s += (p[j] = std::exp((double)z[j] - mx));
    for (auto& x : p) x = (double)(float)(x / s);  // the reference's float32 probabilities
    int64_t M = std::min<int64_t>(C, (int64_t)get("M"));  // probs_sorted[:, -M:] clips at C
    std::nth_element(p.begin(), p.begin() + (C - M), p.end());
    double g = get("gamma"), acc = 0;
    for (int64_t j = C - M; j < C; j++) acc += std::pow(p[j], g) * std::pow(1.0 - p[j], g);
    return -acc;
  }
};

}  // namespace

const std::vector<std::string>& detector_names() {
  static const std::vector<std::string> names = {"msp", "mls", "ebo", "react", "ash", "ash_p", "ash_s",
                                                 "scale", "gen", "knn", "vim", "mds", "odin",
                                                 "nci", "fdbd", "nnguide", "caref", "cadref", "optfs",
                                                 "adascale_a", "adascale_l"};
  return names;
}

double param_word(const std::string& detector, const std::string& key, const std::string& word) {
  const Fc dummy{Tensor::zeros({1, 1}), Tensor::zeros({1})};  // the word tables do not depend on the fc
  return make_detector(detector, dummy)->param_word(key, word);
}

std::unique_ptr<Detector> make_detector(const std::string& name, const Fc& fc, InputGradNet* net) {
  ISH_CHECK(fc.W.defined() && fc.b.defined() && fc.W.dim() == 2 && fc.b.dim() == 1 &&
                fc.W.size(0) == fc.b.size(0) && fc.W.dtype() == DType::F32 && fc.b.dtype() == DType::F32 &&
                !fc.W.is_cuda() && !fc.b.is_cuda(),
            "detector ", name, ": fc must be CPU F32 W [C,D] and b [C]");
  if (name == "msp") return std::make_unique<Msp>(fc);
  if (name == "mls") return std::make_unique<Mls>(fc);
  if (name == "ebo") return std::make_unique<Ebo>(fc);
  if (name == "gen") return std::make_unique<Gen>(fc);
  if (name == "react") return detail::make_react(fc);
  if (name == "ash" || name == "ash_p" || name == "ash_s") return detail::make_ash(fc, name);
  if (name == "scale") return detail::make_scale(fc);
  if (name == "knn") return detail::make_knn(fc);
  if (name == "vim") return detail::make_vim(fc);
  if (name == "mds") return detail::make_mds(fc);
  if (name == "odin") return detail::make_odin(fc, net);
  if (name == "nci") return detail::make_nci(fc);
  if (name == "fdbd") return detail::make_fdbd(fc);
  if (name == "nnguide") return detail::make_nnguide(fc);
  if (name == "caref") return detail::make_caref(fc);
  if (name == "cadref") return detail::make_cadref(fc);
  if (name == "optfs") return detail::make_optfs(fc);
  if (name == "adascale_a" || name == "adascale_l") return detail::make_adascale(fc, net, name == "adascale_l");
  std::string all;
  for (auto& n : detector_names()) all += (all.empty() ? "" : ", ") + n;
  fail("unknown postprocessor '", name, "' (known: ", all, ")");
}

}  // namespace ish::eval
