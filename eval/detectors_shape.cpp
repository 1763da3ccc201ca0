// Feature-shaping detectors: the pooled feature a is modified, then z' = W a' + b and score = logsumexp(z').
//   react : a' = min(a, theta), theta = the p-th percentile of all ID-val feature entries
//   ash   : ASH-B, a' = s1/k at the top-k positions of a, 0 elsewhere (s1 = sum a)
//   ash_p : a' = a at the top-k positions, 0 elsewhere
//   ash_s : a' = ash_p(a) * exp(s1/s2), s2 = sum of the kept values
//   scale : a' = a * exp(s1/s2), the whole vector (SCALE)
// with k = n - round_half_even(n p / 100). Ties at the k-th value are broken by the lower index; this
// only matters for ash/ash_p when equal non-zero values straddle the cut.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/error.h"
#include "eval/detectors_impl.h"

namespace ish::eval::detail {
namespace {

constexpr int64_t kChunk = 2048;  // rows shaped at a time (bounds the a' buffer)

class ShapeDetector : public ParamDetector {
 public:
  explicit ShapeDetector(Fc fc, double def_p, std::vector<double> sweep) : ParamDetector(std::move(fc)) {
    p_ = {{"percentile", def_p}};
    grid_ = grid1("percentile", sweep);
  }
  void check_param(const std::string&, double v) const override {
    ISH_CHECK(v >= 0 && v <= 100, name(), ": percentile must be in [0, 100], got ", v);
    topk_count(feature_dim(), v);
  }

  Scores score(const FeatureSet& f, const ImageStream*) override {
    f.validate(name());
    const int64_t N = f.size(), D = f.features.size(1), C = num_classes();
    ISH_CHECK(D == feature_dim(), name(), ": features have ", D, " dims but fc expects ", feature_dim());
    before_score();
    const float* A = f.features.data<float>();
    Scores s;
    s.conf.resize(N);
    s.pred.resize(N);
    std::vector<float> shaped;
    std::vector<char> degenerate;
    for (int64_t r0 = 0; r0 < N; r0 += kChunk) {
      const int64_t n = std::min(kChunk, N - r0);
      shaped.resize(n * D);
      degenerate.assign(n, 0);
#pragma omp parallel
      {
        std::vector<int64_t> idx(D);
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++)
          degenerate[i] = shape_row(&A[(r0 + i) * D], &shaped[i * D], D, idx) ? 0 : 1;
      }
      std::vector<float> Z = fc_forward(fc_, shaped.data(), n);
      Scores part;
      energy_argmax(Z, n, C, &part);
      for (int64_t i = 0; i < n; i++) {
        s.conf[r0 + i] = degenerate[i] ? -INFINITY : part.conf[i];
        s.pred[r0 + i] = part.pred[i];
        s.degenerate += degenerate[i];
      }
    }
    return s;
  }

 protected:
  virtual void before_score() {}
  // Writes a' for one row; returns false when the score is undefined (s2 = 0): out must then hold a
  // vector whose logits give the prediction (the plain feature).
  virtual bool shape_row(const float* a, float* out, int64_t D, std::vector<int64_t>& idx) const = 0;
  int64_t k() const { return topk_count(feature_dim(), get("percentile")); }
  // Moves the indices of the k largest values (ties: lower index first) to idx[0..k).
  static void select_topk(const float* a, int64_t D, int64_t k, std::vector<int64_t>& idx) {
    std::iota(idx.begin(), idx.end(), 0);
    if (k >= D) return;
    std::nth_element(idx.begin(), idx.begin() + k, idx.end(),
                     [a](int64_t x, int64_t y) { return a[x] > a[y] || (a[x] == a[y] && x < y); });
  }
};

class React : public ShapeDetector {
 public:
  explicit React(Fc fc) : ShapeDetector(std::move(fc), 90, {85, 90, 95, 99}) {}
  std::string name() const override { return "react"; }
  bool needs_id_val() const override { return true; }
  void check_param(const std::string&, double v) const override {
    ISH_CHECK(v >= 0 && v <= 100, "react: percentile must be in [0, 100], got ", v);
  }
  void fit(const FitInputs& in) override {
    ISH_CHECK(in.id_val && in.id_val->size() > 0, "react needs the ID validation features (--id-val)");
    in.id_val->validate("react ID val");
    const float* a = in.id_val->features.data<float>();
    sorted_.assign(a, a + in.id_val->features.numel());
    std::sort(sorted_.begin(), sorted_.end());
    ISH_CHECK(!std::isnan(sorted_.back()), "react: ID-val features contain NaN");
  }
  double threshold() const {
    ISH_CHECK(!sorted_.empty(), "react: fit() was not called");
    // sorted_ is sorted, so the selection inside percentile_linear is cheap; keep one code path.
    return percentile_linear(sorted_, get("percentile"));
  }

 protected:
  void before_score() override { theta_ = (float)threshold(); }
  bool shape_row(const float* a, float* out, int64_t D, std::vector<int64_t>&) const override {
    for (int64_t j = 0; j < D; j++) out[j] = a[j] > theta_ ? theta_ : a[j];  // torch clip(max=theta)
    return true;
  }

 private:
  std::vector<float> sorted_;
  float theta_ = 0;
};

class Ash : public ShapeDetector {
 public:
  Ash(Fc fc, std::string variant) : ShapeDetector(std::move(fc), 90, {65, 70, 75, 80, 85, 90, 95}), v_(std::move(variant)) {}
  std::string name() const override { return v_; }

 protected:
  bool shape_row(const float* a, float* out, int64_t D, std::vector<int64_t>& idx) const override {
    const int64_t k = this->k();
    select_topk(a, D, k, idx);
    double s1 = 0, s2 = 0;
    for (int64_t j = 0; j < D; j++) s1 += a[j];
    for (int64_t j = 0; j < k; j++) s2 += a[idx[j]];
    std::fill(out, out + D, 0.0f);
    if (v_ == "ash") {
      const float fill = (float)(s1 / (double)k);
      for (int64_t j = 0; j < k; j++) out[idx[j]] = fill;
      return true;
    }
    if (v_ == "ash_p") {
      for (int64_t j = 0; j < k; j++) out[idx[j]] = a[idx[j]];
      return true;
    }
    if (s2 == 0) {  // ash_s: exp(s1/0) is NaN in the reference
      std::copy(a, a + D, out);
      return false;
    }
    const double m = std::exp(s1 / s2);
    for (int64_t j = 0; j < k; j++) out[idx[j]] = (float)((double)a[idx[j]] * m);
    return true;
  }

 private:
  std::string v_;
};

class Scale : public ShapeDetector {
 public:
  explicit Scale(Fc fc) : ShapeDetector(std::move(fc), 85, {65, 70, 75, 80, 85, 90, 95}) {}
  std::string name() const override { return "scale"; }

 protected:
  bool shape_row(const float* a, float* out, int64_t D, std::vector<int64_t>& idx) const override {
    const int64_t k = this->k();
    select_topk(a, D, k, idx);
    double s1 = 0, s2 = 0;
    for (int64_t j = 0; j < D; j++) s1 += a[j];
    for (int64_t j = 0; j < k; j++) s2 += a[idx[j]];  // ties in the top-k do not change this sum
    if (s2 == 0) {
      std::copy(a, a + D, out);
      return false;
    }
    const double m = std::exp(s1 / s2);
    for (int64_t j = 0; j < D; j++) out[j] = (float)((double)a[j] * m);
    return true;
  }
};

}  // namespace

std::unique_ptr<Detector> make_react(const Fc& fc) { return std::make_unique<React>(fc); }
std::unique_ptr<Detector> make_ash(const Fc& fc, const std::string& variant) {
  return std::make_unique<Ash>(fc, variant);
}
std::unique_ptr<Detector> make_scale(const Fc& fc) { return std::make_unique<Scale>(fc); }

}  // namespace ish::eval::detail
