// Detectors from the CADRef repository (METHOD-DETECTORS-2.md): caref and cadref (class means of the
// ID-train features grouped by PREDICTED class) and optfs (100-bin feature shaping fitted on ID train).
#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "eval/detectors_impl.h"

namespace ish::eval::detail {
namespace {

void put(Scores& s, int64_t i, double v) {
  if (std::isnan(v)) {
    v = -INFINITY;
#pragma omp atomic
    s.degenerate++;
  }
  s.conf[i] = (float)v;
}

// Means of the ID-train features per predicted class (argmax of the train logits); labels are not used.
struct ClassMeans {
  std::vector<double> mu;  // [C,D]
  std::vector<char> present;

  void fit(const FeatureSet& t, int64_t C, int64_t D, const std::string& who,
           const std::function<void(const std::string&)>& log) {
    const int64_t N = t.size();
    const float *a = t.features.data<float>(), *z = t.logits.data<float>();
    ISH_CHECK(t.logits.size(1) == C, who, ": ID-train logits have ", t.logits.size(1), " classes, fc ", C);
    mu.assign(C * D, 0.0);
    std::vector<int64_t> n(C, 0);
    for (int64_t i = 0; i < N; i++) {
      const int64_t p = argmax_row(&z[i * C], C);
      n[p]++;
      for (int64_t j = 0; j < D; j++) mu[p * D + j] += a[i * D + j];
    }
    present.assign(C, 0);
    std::string empty;
    int64_t n_empty = 0;
    for (int64_t c = 0; c < C; c++) {
      present[c] = n[c] > 0;
      if (!n[c]) {
        if (n_empty++ < 20) empty += (empty.empty() ? "" : ", ") + std::to_string(c);
        continue;
      }
      for (int64_t j = 0; j < D; j++) mu[c * D + j] = (double)(float)(mu[c * D + j] / (double)n[c]);
    }
    if (n_empty && log)
      log("warning: " + who + ": " + std::to_string(n_empty) + " classes are never predicted on ID train (" + empty +
          (n_empty > 20 ? ", ..." : "") + "); samples predicted as them score -inf");
  }
};

// ---------------------------------------------------------------- caref
// conf = -||mu_pred - f||_1 / ||f||_1.
class Caref : public ParamDetector {
 public:
  using ParamDetector::ParamDetector;
  std::string name() const override { return "caref"; }
  bool needs_id_train() const override { return true; }
  void fit(const FitInputs& in) override {
    require_train_set(in, "caref", feature_dim());
    cm_.fit(*in.id_train, num_classes(), feature_dim(), "caref", in.log);
  }
  Scores score(const FeatureSet& f, const ImageStream*) override {
    ISH_CHECK(!cm_.mu.empty(), "caref: fit() was not called");
    const int64_t C = num_classes(), D = feature_dim(), N = f.size();
    require_scored_set(f, "caref", C, D);
    const float *a = f.features.data<float>(), *z = f.logits.data<float>();
    Scores s;
    s.conf.resize(N);
    s.pred.resize(N);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) {
      const int64_t p = argmax_row(&z[i * C], C);
      s.pred[i] = p;
      if (!cm_.present[p]) {
        put(s, i, NAN);
        continue;
      }
      double d = 0, l1 = 0;
      for (int64_t j = 0; j < D; j++) {
        d += std::fabs(cm_.mu[p * D + j] - a[i * D + j]);
        l1 += std::fabs((double)a[i * D + j]);
      }
      put(s, i, -d / l1);  // f = 0: -inf as in the reference (NaN only when also mu = 0)
    }
    return s;
  }

 private:
  ClassMeans cm_;
};

// ---------------------------------------------------------------- cadref
// Delta = f - mu_pred, s = sign(W[pred]); E+ / E- = sum max(+-Delta s, 0) / ||f||_1;
// conf = -(E+ / L(z) + E- / G), G = mean of L over ID train.
enum LogitMethod { kEnergy = 0, kMsp = 1, kMaxLogit = 2, kGen = 3 };
const char* const kMethodNames[] = {"Energy", "MSP", "MaxLogit", "GEN"};

double logit_score(const float* z, int64_t C, int method) {
  double mx = -INFINITY;
  for (int64_t j = 0; j < C; j++) mx = std::max(mx, (double)z[j]);
  if (method == kMaxLogit) return mx;
  std::vector<double> p(C);
  double t = 0;
  for (int64_t j = 0; j < C; j++) t += (p[j] = std::exp((double)z[j] - mx));
  if (method == kEnergy) return mx + std::log(t);
  if (method == kMsp) return 1.0 / t;
  for (auto& v : p) v /= t;  // GEN: 1 / sum over the top-M probabilities of p^0.1 (1-p)^0.1
  const int64_t M = std::min<int64_t>(C, std::max<int64_t>(10, C / 10));
  std::nth_element(p.begin(), p.begin() + (C - M), p.end());
  double g = 0;
  for (int64_t j = C - M; j < C; j++) g += std::pow(p[j], 0.1) * std::pow(1.0 - p[j], 0.1);
  return 1.0 / g;
}

class Cadref : public ParamDetector {
 public:
  explicit Cadref(Fc fc) : ParamDetector(std::move(fc)) { p_ = {{"logit_method", kEnergy}}; }
  std::string name() const override { return "cadref"; }
  bool needs_id_train() const override { return true; }
  void check_param(const std::string&, double v) const override {
    ISH_CHECK(v == std::floor(v) && v >= 0 && v <= 3, "cadref: logit_method is Energy, MSP, MaxLogit or GEN (0..3), got ", v);
  }
  double param_word(const std::string& key, const std::string& word) const override {
    if (key == "logit_method")
      for (int m = 0; m < 4; m++)
        if (word == kMethodNames[m]) return m;
    ISH_CHECK(key != "logit_method", "cadref: logit_method is Energy, MSP, MaxLogit or GEN, got '", word, "'");
    return ParamDetector::param_word(key, word);
  }
  std::string param_word_of(const std::string& key, double v) const override {
    return key == "logit_method" && v >= 0 && v <= 3 && v == std::floor(v) ? kMethodNames[(int)v] : "";
  }
  void fit(const FitInputs& in) override {
    const int64_t C = num_classes(), D = feature_dim();
    require_train_set(in, "cadref", D);
    cm_.fit(*in.id_train, C, D, "cadref", in.log);
    const FeatureSet& t = *in.id_train;
    const float* z = t.logits.data<float>();
    for (int m = 0; m < 4; m++) {  // G for every logit method, so --set after fit needs no refit
      double acc = 0;
      for (int64_t i = 0; i < t.size(); i++) acc += logit_score(&z[i * C], C, m);
      G_[m] = acc / (double)t.size();
    }
  }
  Scores score(const FeatureSet& f, const ImageStream*) override {
    ISH_CHECK(!cm_.mu.empty(), "cadref: fit() was not called");
    const int64_t C = num_classes(), D = feature_dim(), N = f.size();
    require_scored_set(f, "cadref", C, D);
    const int method = (int)get("logit_method");
    const double G = G_[method];
    const float *a = f.features.data<float>(), *z = f.logits.data<float>(), *W = fc_.W.data<float>();
    Scores s;
    s.conf.resize(N);
    s.pred.resize(N);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) {
      const int64_t p = argmax_row(&z[i * C], C);
      s.pred[i] = p;
      if (!cm_.present[p]) {
        put(s, i, NAN);
        continue;
      }
      double ep = 0, em = 0, l1 = 0;
      for (int64_t j = 0; j < D; j++) {
        const float w = W[p * D + j];
        const double sg = w > 0 ? 1.0 : (w < 0 ? -1.0 : 0.0);  // torch.sign: 0 stays 0
        const double t = ((double)a[i * D + j] - cm_.mu[p * D + j]) * sg;
        ep += std::max(t, 0.0);
        em += std::max(-t, 0.0);
        l1 += std::fabs((double)a[i * D + j]);
      }
      put(s, i, -(ep / l1 / logit_score(&z[i * C], C, method) + em / l1 / G));
    }
    return s;
  }

 private:
  ClassMeans cm_;
  double G_[4] = {0, 0, 0, 0};
};

// ---------------------------------------------------------------- optfs
// Bins [L_i, L_i + w) over [q_0.001, q_0.999) of all ID-train entries; theta = I / ||I|| * 1000 with
// I_i the mean contribution W[pred] f of the entries in bin i; f' = f theta_bin; conf = lse(W f' + b).
double quantile_linear(std::vector<float> v, double q) {  // numpy's default 'linear' method (numpy 2 dtypes)
  const int64_t n = (int64_t)v.size();
  const double vi = (double)(n - 1) * q;
  int64_t lo = (int64_t)std::floor(vi);
  lo = std::min(lo, n - 1);
  const int64_t hi = std::min(lo + 1, n - 1);
  const double t = vi - (double)lo;
  std::nth_element(v.begin(), v.begin() + lo, v.end());
  const float a = v[lo];
  const float b = hi == lo ? a : *std::min_element(v.begin() + lo + 1, v.end());
  const double diff = (double)(b - a);  // float32 subtraction, then float64 lerp
  return t >= 0.5 ? (double)b - diff * (1 - t) : (double)a + diff * t;
}

class Optfs : public ParamDetector {
 public:
  using ParamDetector::ParamDetector;
  std::string name() const override { return "optfs"; }
  bool needs_id_train() const override { return true; }
  void fit(const FitInputs& in) override {
    const int64_t C = num_classes(), D = feature_dim();
    require_train_set(in, "optfs", D);
    const FeatureSet& t = *in.id_train;
    const int64_t N = t.size();
    const float *a = t.features.data<float>(), *z = t.logits.data<float>(), *W = fc_.W.data<float>();
    std::vector<float> all(a, a + N * D);
    lo_ = quantile_linear(all, 0.001);
    const double hi = quantile_linear(std::move(all), 0.999);
    w_ = (hi - lo_) / 100.0;
    ISH_CHECK(w_ > 0, "optfs: the ID-train features' 0.1% and 99.9% quantiles are equal (", lo_, ")");
    const int64_t nb = (int64_t)std::ceil((hi - lo_) / w_);  // np.arange's length
    const double delta = (lo_ + w_) - lo_;                     // np.arange's fill step
    left_.resize(nb);
    right_.resize(nb);
    for (int64_t i = 0; i < nb; i++) {
      const double L = lo_ + (double)i * delta;
      left_[i] = (float)L;
      right_[i] = (float)(L + w_);
    }
    std::vector<double> I(nb, 0.0);
    for (int64_t r = 0; r < N; r++) {
      const int64_t p = argmax_row(&z[r * C], C);
      for (int64_t j = 0; j < D; j++) {
        const float v = a[r * D + j];
        const double lc = (double)((float)W[p * D + j] * v);  // float32 product, as the reference
        for_bins(v, [&](int64_t b) { I[b] += lc; });
      }
    }
    double n2 = 0;
    std::vector<float> If(nb);
    for (int64_t b = 0; b < nb; b++) {
      If[b] = (float)(I[b] / (double)N);
      n2 += (double)If[b] * If[b];
    }
    theta_.resize(nb);
    for (int64_t b = 0; b < nb; b++) theta_[b] = (float)((double)If[b] / std::sqrt(n2) * 1000.0);
  }
  Scores score(const FeatureSet& f, const ImageStream*) override {
    ISH_CHECK(!theta_.empty(), "optfs: fit() was not called");
    const int64_t C = num_classes(), D = feature_dim(), N = f.size();
    require_scored_set(f, "optfs", C, D);
    const float *a = f.features.data<float>(), *z = f.logits.data<float>();
    std::vector<float> shaped(N * D);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N * D; i++) {
      float out = 0.0f;  // entries outside every bin become 0
      for_bins(a[i], [&](int64_t b) { out += a[i] * theta_[b]; });
      shaped[i] = out;
    }
    std::vector<float> Z = fc_forward(fc_, shaped.data(), N);
    Scores s;
    energy_argmax(Z, N, C, &s);
    for (int64_t i = 0; i < N; i++) s.pred[i] = argmax_row(&z[i * C], C);  // pred from the plain logits
    return s;
  }
  const std::vector<float>& theta() const { return theta_; }

 private:
  // Calls fn(b) for every bin b with left_[b] <= v < right_[b] (float32 comparisons; 1-ulp overlaps
  // of neighbouring bins give both).
  template <class F>
  void for_bins(float v, F&& fn) const {
    if (!std::isfinite(v)) return;
    const double pos = ((double)v - lo_) / w_;
    if (pos < -2 || pos > (double)left_.size() + 2) return;
    const int64_t c = (int64_t)std::floor(pos), nb = (int64_t)left_.size();
    for (int64_t b = std::max<int64_t>(0, c - 1); b <= std::min<int64_t>(nb - 1, c + 1); b++)
      if (v >= left_[b] && v < right_[b]) fn(b);
  }

  double lo_ = 0, w_ = 0;
  std::vector<float> left_, right_, theta_;
};

}  // namespace

std::unique_ptr<Detector> make_caref(const Fc& fc) { return std::make_unique<Caref>(fc); }
std::unique_ptr<Detector> make_cadref(const Fc& fc) { return std::make_unique<Cadref>(fc); }
std::unique_ptr<Detector> make_optfs(const Fc& fc) { return std::make_unique<Optfs>(fc); }

}  // namespace ish::eval::detail
