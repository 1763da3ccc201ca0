// Detectors after SCALE that measure distances to ID-train statistics (METHOD-DETECTORS-2.md): nci, fdbd
// and nnguide. Statistics are accumulated in double and stored as the reference's dtypes (float32 means).
#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "eval/detectors_impl.h"

namespace ish::eval::detail {

void require_train_set(const FitInputs& in, const std::string& who, int64_t D) {
  ISH_CHECK(in.id_train && in.id_train->size() > 0, who, " needs the ID training features (--id-train)");
  in.id_train->validate(who + " ID train");
  ISH_CHECK(in.id_train->features.size(1) == D, who, ": ID-train features have ", in.id_train->features.size(1),
            " dims but fc expects ", D);
}

void require_scored_set(const FeatureSet& f, const std::string& who, int64_t C, int64_t D) {
  f.validate(who);
  ISH_CHECK(f.features.size(1) == D && f.logits.size(1) == C, who, ": features/logits have ", f.features.size(1), "/",
            f.logits.size(1), " columns but fc is ", C, "x", D);
}

std::vector<float> mean_feature(const FeatureSet& s) {
  const int64_t N = s.size(), D = s.features.size(1);
  const float* a = s.features.data<float>();
  std::vector<double> acc(D, 0.0);
  for (int64_t i = 0; i < N; i++)
    for (int64_t j = 0; j < D; j++) acc[j] += a[i * D + j];
  std::vector<float> mu(D);
  for (int64_t j = 0; j < D; j++) mu[j] = (float)(acc[j] / (double)N);  // np.mean of float32 -> float32
  return mu;
}

namespace {

// Stores a score, mapping NaN to -inf (counted), as METHOD-DETECTORS-2.md's edge cases say.
void put(Scores& s, int64_t i, double v) {
  if (std::isnan(v)) {
    v = -INFINITY;
#pragma omp atomic
    s.degenerate++;
  }
  s.conf[i] = (float)v;
}

// ---------------------------------------------------------------- nci
// conf = sum_d W[pred,d] (f_d - mu_d) / ||f - mu|| + alpha ||f||_1 (W unnormalised, no bias).
class Nci : public ParamDetector {
 public:
  explicit Nci(Fc fc) : ParamDetector(std::move(fc)) {
    p_ = {{"alpha", 1e-4}};
    grid_ = grid1("alpha", {1e-4, 1e-3, 1e-2, 1e-1});
  }
  std::string name() const override { return "nci"; }
  bool needs_id_train() const override { return true; }
  void fit(const FitInputs& in) override {
    require_train_set(in, "nci", feature_dim());
    mu_ = mean_feature(*in.id_train);
  }
  Scores score(const FeatureSet& f, const ImageStream*) override {
    ISH_CHECK(!mu_.empty(), "nci: fit() was not called");
    const int64_t C = num_classes(), D = feature_dim(), N = f.size();
    require_scored_set(f, "nci", C, D);
    const double alpha = get("alpha");
    const float *a = f.features.data<float>(), *z = f.logits.data<float>(), *W = fc_.W.data<float>();
    Scores s;
    s.conf.resize(N);
    s.pred.resize(N);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) {
      const int64_t p = argmax_row(&z[i * C], C);
      const float* x = &a[i * D];
      double num = 0, n2 = 0, l1 = 0;
      for (int64_t j = 0; j < D; j++) {
        const double d = (double)x[j] - mu_[j];
        num += (double)W[p * D + j] * d;
        n2 += d * d;
        l1 += std::fabs((double)x[j]);
      }
      s.pred[i] = p;
      if (n2 == 0) {  // f = mu: 0/0 in the reference
        put(s, i, NAN);
        continue;
      }
      put(s, i, num / std::sqrt(n2) + alpha * l1);
    }
    return s;
  }

 private:
  std::vector<float> mu_;
};

// ---------------------------------------------------------------- fdbd
// conf = sum_c |z_c - max z| / ||W_c - W_pred|| divided by ||f - mu|| (distance_as_normalizer) or ||f||.
class Fdbd : public ParamDetector {
 public:
  explicit Fdbd(Fc fc) : ParamDetector(std::move(fc)) {
    p_ = {{"distance_as_normalizer", 1}};
    grid_ = grid1("distance_as_normalizer", {1, 0});
  }
  std::string name() const override { return "fdbd"; }
  bool needs_id_train() const override { return true; }
  void check_param(const std::string&, double v) const override {
    ISH_CHECK(v == 0 || v == 1, "fdbd: distance_as_normalizer is 1 or 0, got ", v);
  }
  void fit(const FitInputs& in) override {
    const int64_t C = num_classes(), D = feature_dim();
    require_train_set(in, "fdbd", D);
    mu_ = mean_feature(*in.id_train);
    const float* W = fc_.W.data<float>();
    den_.assign(C * C, 1.0);
    for (int64_t p = 0; p < C; p++)
      for (int64_t c = 0; c < C; c++) {
        if (c == p) continue;
        double s = 0;
        for (int64_t j = 0; j < D; j++) {
          const double d = (double)W[c * D + j] - W[p * D + j];
          s += d * d;
        }
        den_[p * C + c] = std::sqrt(s);
      }
  }
  Scores score(const FeatureSet& f, const ImageStream*) override {
    ISH_CHECK(!mu_.empty(), "fdbd: fit() was not called");
    const int64_t C = num_classes(), D = feature_dim(), N = f.size();
    require_scored_set(f, "fdbd", C, D);
    const bool by_dist = get("distance_as_normalizer") != 0;
    const float *a = f.features.data<float>(), *z = f.logits.data<float>();
    Scores s;
    s.conf.resize(N);
    s.pred.resize(N);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) {
      const int64_t p = argmax_row(&z[i * C], C);
      const double v = z[i * C + p];
      double num = 0;
      for (int64_t c = 0; c < C; c++)
        if (c != p) num += std::fabs((double)z[i * C + c] - v) / den_[p * C + c];
      double n2 = 0;
      for (int64_t j = 0; j < D; j++) {
        const double d = (double)a[i * D + j] - (by_dist ? (double)mu_[j] : 0.0);
        n2 += d * d;
      }
      s.pred[i] = p;
      put(s, i, num / std::sqrt(n2));
    }
    return s;
  }

 private:
  std::vector<float> mu_;
  std::vector<double> den_;
};

// ---------------------------------------------------------------- nnguide
// n(x) = x / ||x|| + 1e-10; bank = ID-train rows idx_j = floor(j N / M), guide_i = n(f_i) lse(z_i);
// conf = mean(top-K <n(f), guide_i>) * lse(z). M = min(N, B (floor(int(N alpha) / B) + 1)).
class NnGuide : public ParamDetector {
 public:
  explicit NnGuide(Fc fc) : ParamDetector(std::move(fc)) { p_ = {{"K", 100}, {"alpha", 0.01}}; }
  std::string name() const override { return "nnguide"; }
  bool needs_id_train() const override { return true; }
  void check_param(const std::string& k, double v) const override {
    if (k == "K") ISH_CHECK(v >= 1 && v == std::floor(v), "nnguide: K must be a positive integer, got ", v);
    if (k == "alpha") ISH_CHECK(v > 0 && v <= 1, "nnguide: alpha must be in (0, 1], got ", v);
  }
  // K against the bank once both values are in (faiss would pad with -3.4e38); refused changes are undone.
  void set_params(const HParams& p) override {
    const HParams old = p_;
    ParamDetector::set_params(p);
    if (n_ > 0 && (int64_t)get("K") > bank_size(get("alpha"))) {
      const double K = get("K");
      const int64_t M = bank_size(get("alpha"));
      p_ = old;
      fail("nnguide: K = ", K, " exceeds the bank of ", M, " ID-train samples");
    }
  }
  int64_t bank_size(double alpha) const {
    const int64_t want = (int64_t)((double)n_ * alpha);  // python int(): truncation
    return std::min<int64_t>(n_, batch_ * (want / batch_ + 1));
  }
  void fit(const FitInputs& in) override {
    const int64_t D = feature_dim(), C = num_classes();
    require_train_set(in, "nnguide", D);
    ISH_CHECK(in.batch_size >= 1, "nnguide: batch size must be >= 1");
    ISH_CHECK(in.id_train->logits.size(1) == C, "nnguide: ID-train logits have ", in.id_train->logits.size(1), " classes");
    n_ = in.id_train->size();
    batch_ = in.batch_size;
    train_ = in.id_train;
  }
  Scores score(const FeatureSet& f, const ImageStream*) override {
    ISH_CHECK(train_ != nullptr, "nnguide: fit() was not called");
    const int64_t C = num_classes(), D = feature_dim(), N = f.size();
    require_scored_set(f, "nnguide", C, D);
    const int64_t M = bank_size(get("alpha")), K = (int64_t)get("K");
    ISH_CHECK(K <= M, "nnguide: K = ", K, " exceeds the bank of ", M, " ID-train samples");
    if (M != (int64_t)bank_lse_.size()) build_bank(M);
    Scores s;
    s.conf.resize(N);
    s.pred.resize(N);
    const float *a = f.features.data<float>(), *z = f.logits.data<float>();
    std::vector<float> q, dots;
    const int64_t Q = std::max<int64_t>(1, std::min<int64_t>(512, (int64_t)(32 << 20) / M));
    for (int64_t r0 = 0; r0 < N; r0 += Q) {
      const int64_t n = std::min(Q, N - r0);
      q.resize(n * D);
      for (int64_t i = 0; i < n; i++)
        if (!normalize(&a[(r0 + i) * D], &q[i * D], D)) s.degenerate++;
      dots.resize(n * M);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)M, (int)D, 1.0f, q.data(), (int)D, bank_.data(),
                  (int)D, 0.0f, dots.data(), (int)M);
#pragma omp parallel
      {
        std::vector<double> sim(M);
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++) {
          for (int64_t j = 0; j < M; j++) sim[j] = (double)dots[i * M + j] * bank_lse_[j];
          std::nth_element(sim.begin(), sim.begin() + (K - 1), sim.end(), std::greater<double>());
          double t = 0;
          for (int64_t j = 0; j < K; j++) t += sim[j];
          const float* zi = &z[(r0 + i) * C];
          s.conf[r0 + i] = (float)(t / (double)K * lse(zi, C));
          s.pred[r0 + i] = argmax_row(zi, C);
        }
      }
    }
    return s;
  }

 private:
  static bool normalize(const float* x, float* out, int64_t D) {
    double n2 = 0;
    for (int64_t j = 0; j < D; j++) n2 += (double)x[j] * x[j];
    const double nrm = std::sqrt(n2);
    for (int64_t j = 0; j < D; j++) out[j] = (float)((nrm > 0 ? x[j] / nrm : 0.0) + 1e-10);
    return nrm > 0;
  }
  static double lse(const float* z, int64_t C) {
    double mx = -INFINITY, t = 0;
    for (int64_t j = 0; j < C; j++) mx = std::max(mx, (double)z[j]);
    for (int64_t j = 0; j < C; j++) t += std::exp((double)z[j] - mx);
    return mx + std::log(t);
  }
  void build_bank(int64_t M) {
    const int64_t D = feature_dim(), C = num_classes();
    const float *a = train_->features.data<float>(), *z = train_->logits.data<float>();
    bank_.resize(M * D);
    bank_lse_.resize(M);
#pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < M; j++) {
      const int64_t i = j * n_ / M;  // the deterministic spread subset
      normalize(&a[i * D], &bank_[j * D], D);
      bank_lse_[j] = lse(&z[i * C], C);
    }
  }

  const FeatureSet* train_ = nullptr;  // kept for the bank; the caller keeps ID train alive while scoring
  int64_t n_ = 0, batch_ = 200;
  std::vector<float> bank_;
  std::vector<double> bank_lse_;
};

}  // namespace

std::unique_ptr<Detector> make_nci(const Fc& fc) { return std::make_unique<Nci>(fc); }
std::unique_ptr<Detector> make_fdbd(const Fc& fc) { return std::make_unique<Fdbd>(fc); }
std::unique_ptr<Detector> make_nnguide(const Fc& fc) { return std::make_unique<NnGuide>(fc); }

}  // namespace ish::eval::detail
