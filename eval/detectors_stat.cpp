// Detectors with fitted ID-train statistics: knn, vim and mds. Fit steps and the heavy products run in
// double where the reference's float32 would lose digits (covariances, pseudo-inverses, Mahalanobis).
#include <cblas.h>

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "engine/error.h"
#include "eval/detectors_impl.h"
#include "eval/linalg.h"

namespace ish::eval::detail {
namespace {

void require_train(const FitInputs& in, const std::string& who) {
  ISH_CHECK(in.id_train && in.id_train->size() > 0, who, " needs the ID training features (--id-train)");
  in.id_train->validate(who + " ID train");
}

// ---------------------------------------------------------------- knn
// OpenOOD's normaliser x / ||x|| + 1e-10 (the 1e-10 added after the division); a zero vector gives
// 1e-10 everywhere. Normalised in double, stored as float32 like the reference's faiss index.
bool knn_normalize(const float* x, float* out, int64_t D) {
  double n2 = 0;
  for (int64_t j = 0; j < D; j++) n2 += (double)x[j] * x[j];
  const double nrm = std::sqrt(n2);
  for (int64_t j = 0; j < D; j++) out[j] = (float)((nrm > 0 ? x[j] / nrm : 0.0) + 1e-10);
  return nrm > 0;
}

class Knn : public ParamDetector {
 public:
  explicit Knn(Fc fc) : ParamDetector(std::move(fc)) {
    p_ = {{"K", 50}};
    grid_ = grid1("K", {50, 100, 200, 500, 1000});
  }
  std::string name() const override { return "knn"; }
  bool needs_id_train() const override { return true; }
  void check_param(const std::string&, double v) const override {
    ISH_CHECK(v >= 1 && v == std::floor(v), "knn: K must be a positive integer, got ", v);
    ISH_CHECK(bank_n_ == 0 || (int64_t)v <= bank_n_, "knn: K = ", v, " exceeds the ", bank_n_, " ID-train samples");
  }
  void fit(const FitInputs& in) override {
    require_train(in, "knn");
    const Tensor& F = in.id_train->features;
    D_ = F.size(1);
    bank_n_ = F.size(0);
    bank_.resize(bank_n_ * D_);
    bank_sq_.resize(bank_n_);
    const float* a = F.data<float>();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < bank_n_; i++) {
      knn_normalize(&a[i * D_], &bank_[i * D_], D_);
      double s = 0;
      for (int64_t j = 0; j < D_; j++) s += (double)bank_[i * D_ + j] * bank_[i * D_ + j];
      bank_sq_[i] = s;
    }
  }
  // Exact squared L2 distance to the K-th nearest bank vector. A float32 GEMM ranks candidates; every
  // candidate within twice the GEMM's error bound of the approximate K-th distance is recomputed exactly
  // in double, so the result is the exact K-th distance.
  Scores score(const FeatureSet& f, const ImageStream*) override {
    f.validate("knn");
    ISH_CHECK(bank_n_ > 0, "knn: fit() was not called");
    ISH_CHECK(f.features.size(1) == D_, "knn: features have ", f.features.size(1), " dims, the bank ", D_);
    const int64_t K = (int64_t)get("K");
    ISH_CHECK(K <= bank_n_, "knn: K = ", K, " exceeds the ", bank_n_, " ID-train samples");
    const int64_t N = f.size(), C = f.logits.size(1);
    const float* A = f.features.data<float>();
    const float* Zl = f.logits.data<float>();
    Scores s;
    s.conf.resize(N);
    s.pred.resize(N);
    // rows per GEMM: keep the distance block under ~256 MB
    const int64_t Q = std::max<int64_t>(1, std::min<int64_t>(512, (int64_t)(64 << 20) / bank_n_));
    std::vector<float> q, dots;
    std::vector<double> q_sq;
    const double margin = 2.0 * (4.0 * (double)D_ + 8.0) * FLT_EPSILON;  // 2x the |error| bound of fl(dot)
    for (int64_t r0 = 0; r0 < N; r0 += Q) {
      const int64_t n = std::min(Q, N - r0);
      q.resize(n * D_);
      q_sq.resize(n);
      for (int64_t i = 0; i < n; i++) {
        if (!knn_normalize(&A[(r0 + i) * D_], &q[i * D_], D_)) s.degenerate++;
        double t = 0;
        for (int64_t j = 0; j < D_; j++) t += (double)q[i * D_ + j] * q[i * D_ + j];
        q_sq[i] = t;
      }
      dots.resize(n * bank_n_);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)bank_n_, (int)D_, 1.0f, q.data(), (int)D_,
                  bank_.data(), (int)D_, 0.0f, dots.data(), (int)bank_n_);
#pragma omp parallel
      {
        std::vector<double> approx(bank_n_), exact;
#pragma omp for schedule(dynamic, 4)
        for (int64_t i = 0; i < n; i++) {
          const float* dr = &dots[i * bank_n_];
          for (int64_t j = 0; j < bank_n_; j++) approx[j] = q_sq[i] + bank_sq_[j] - 2.0 * dr[j];
          std::vector<double> sel(approx);
          std::nth_element(sel.begin(), sel.begin() + (K - 1), sel.end());
          const double cut = sel[K - 1] + margin;
          exact.clear();
          const float* qi = &q[i * D_];
          for (int64_t j = 0; j < bank_n_; j++) {
            if (approx[j] > cut) continue;
            const float* b = &bank_[j * D_];
            double d = 0;
            for (int64_t t = 0; t < D_; t++) {
              double e = (double)qi[t] - (double)b[t];
              d += e * e;
            }
            exact.push_back(d);
          }
          ISH_ASSERT((int64_t)exact.size() >= K);
          std::nth_element(exact.begin(), exact.begin() + (K - 1), exact.end());
          s.conf[r0 + i] = (float)(-exact[K - 1]);
          s.pred[r0 + i] = argmax_row(&Zl[(r0 + i) * C], C);
        }
      }
    }
    return s;
  }

 private:
  int64_t D_ = 0, bank_n_ = 0;
  std::vector<float> bank_;
  std::vector<double> bank_sq_;
};

// ---------------------------------------------------------------- vim
// u = -pinv(W) b; C = mean (f-u)(f-u)^T over ID train; NS = eigenvectors after the D largest eigenvalues;
// alpha = mean max-logit / mean ||(f-u) NS||; score = logsumexp(z) - alpha ||(f-u) NS||, z = W f + b.
class Vim : public ParamDetector {
 public:
  // OpenOOD's vim.yml: dim 256, APS over {256, 1000}. A dim >= the feature size leaves an empty null space
  // (OpenOOD's scores are then NaN and its APS never keeps that point), so the grid keeps the dims below
  // it: 768-d features (vit_b_16, swin_t) search {256} alone, OpenOOD v1.5's effective setting for them.
  explicit Vim(Fc fc) : ParamDetector(std::move(fc)) {
    p_ = {{"dim", 256}};
    std::vector<double> dims;
    for (double d : {256.0, 1000.0})
      if (!fc_.W.defined() || (int64_t)d < feature_dim()) dims.push_back(d);
    grid_ = grid1("dim", dims);
  }
  std::string name() const override { return "vim"; }
  bool needs_id_train() const override { return true; }
  void check_param(const std::string&, double v) const override {
    ISH_CHECK(v >= 1 && v == std::floor(v) && (int64_t)v < feature_dim(), "vim: dim must be an integer in [1, ",
              feature_dim(), "), got ", v);
  }
  void fit(const FitInputs& in) override {
    require_train(in, "vim");
    const int64_t n = feature_dim();
    ISH_CHECK(in.id_train->features.size(1) == n, "vim: features have ", in.id_train->features.size(1),
              " dims but fc expects ", n);
    u_ = linalg::pinv_apply(fc_.W.data<float>(), num_classes(), n, fc_.b.data<float>());
    for (auto& x : u_) x = -x;
    const FeatureSet& T = *in.id_train;
    const int64_t N = T.size();
    if (N < n && in.log)  // the covariance has rank < D: its principal space is not determined by the data
      in.log(str("vim: warning: the fit set (ID train) has ", N, " samples for ", n,
                 " feature dimensions, so its covariance is singular and the scores unreliable; give at least ", n));
    // Covariance around u (assume_centered=True), accumulated in double over row blocks.
    std::vector<double> cov(n * n, 0.0), X;
    const float* a = T.features.data<float>();
    for (int64_t r0 = 0; r0 < N; r0 += 4096) {
      const int64_t m = std::min<int64_t>(4096, N - r0);
      centered(a + r0 * n, m, &X);
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)n, (int)m, 1.0, X.data(), (int)n, 1.0, cov.data(), (int)n);
    }
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = i; j < n; j++) cov[j * n + i] = cov[i * n + j] = cov[i * n + j] / (double)N;
    linalg::sym_eig(n, cov, &eigval_, &eigvec_);  // ascending; rows are eigenvectors
    // alpha's denominator for every dim at once: mean over train of sqrt(sum of the k smallest-eigenvalue
    // squared projections), k = n - dim.
    mean_res_.assign(n + 1, 0.0);
    std::vector<double> P(4096 * n);
    for (int64_t r0 = 0; r0 < N; r0 += 4096) {
      const int64_t m = std::min<int64_t>(4096, N - r0);
      centered(a + r0 * n, m, &X);
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)n, 1.0, X.data(), (int)n,
                  eigvec_.data(), (int)n, 0.0, P.data(), (int)n);
      for (int64_t i = 0; i < m; i++) {
        double acc = 0;
        for (int64_t k = 1; k <= n; k++) {
          acc += P[i * n + k - 1] * P[i * n + k - 1];
          mean_res_[k] += std::sqrt(acc);
        }
      }
    }
    for (auto& v : mean_res_) v /= (double)N;
    // numerator: mean over train of the max logit, from the fc (the reference recomputes the logits)
    std::vector<float> Z = fc_forward(fc_, a, N);
    const int64_t C = num_classes();
    double sum_max = 0;
    for (int64_t i = 0; i < N; i++) sum_max += Z[i * C + argmax_row(&Z[i * C], C)];
    train_max_mean_ = sum_max / (double)N;
  }
  Scores score(const FeatureSet& f, const ImageStream*) override {
    f.validate("vim");
    ISH_CHECK(!u_.empty(), "vim: fit() was not called");
    ISH_CHECK(f.features.size(1) == feature_dim(), "vim: features have ", f.features.size(1), " dims but fc expects ",
              feature_dim());
    const int64_t dim = (int64_t)get("dim");
    alpha_ = train_max_mean_ / mean_res_[feature_dim() - dim];
    const int64_t N = f.size(), C = num_classes();
    std::vector<double> r = residual_norms(f, dim);
    std::vector<float> Z = fc_forward(fc_, f.features.data<float>(), N);
    Scores s;
    energy_argmax(Z, N, C, &s);
    for (int64_t i = 0; i < N; i++) s.conf[i] = (float)((double)s.conf[i] - alpha_ * r[i]);
    return s;
  }
  double alpha() const { return alpha_; }

 private:
  void centered(const float* a, int64_t m, std::vector<double>* X) const {
    const int64_t n = feature_dim();
    X->resize(m * n);
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) (*X)[i * n + j] = (double)a[i * n + j] - u_[j];
  }
  // ||(f-u) NS|| per row, NS = the eigenvectors of the n - dim smallest eigenvalues.
  std::vector<double> residual_norms(const FeatureSet& f, int64_t dim) const {
    const int64_t n = feature_dim(), N = f.size(), k = n - dim;
    const double* NS = eigvec_.data();  // ascending order: the first k rows
    std::vector<double> out(N), X, P;
    const float* a = f.features.data<float>();
    for (int64_t r0 = 0; r0 < N; r0 += 4096) {
      const int64_t m = std::min<int64_t>(4096, N - r0);
      centered(a + r0 * n, m, &X);
      P.resize(m * k);
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)k, (int)n, 1.0, X.data(), (int)n, NS, (int)n,
                  0.0, P.data(), (int)k);
      for (int64_t i = 0; i < m; i++) {
        double s = 0;
        for (int64_t j = 0; j < k; j++) s += P[i * k + j] * P[i * k + j];
        out[r0 + i] = std::sqrt(s);
      }
    }
    return out;
  }

  std::vector<double> u_, eigval_, eigvec_, mean_res_;
  double train_max_mean_ = 0, alpha_ = 0;
};

// ---------------------------------------------------------------- mds
// max over classes of -(f-mu_c)^T P (f-mu_c); mu_c the class means and P the pseudo-inverse of the tied
// covariance of the class-centred ID-train features (EmpiricalCovariance(assume_centered=False)).
class Mds : public ParamDetector {
 public:
  using ParamDetector::ParamDetector;
  std::string name() const override { return "mds"; }
  bool needs_id_train() const override { return true; }
  void fit(const FitInputs& in) override {
    require_train(in, "mds");
    const FeatureSet& T = *in.id_train;
    const int64_t n = T.features.size(1), N = T.size(), C = num_classes();
    const float* a = T.features.data<float>();
    const int64_t* y = T.labels.data<int64_t>();
    n_ = n;
    mean_.assign(C * n, 0.0);
    present_.assign(C, 0);
    std::vector<int64_t> count(C, 0);
    for (int64_t i = 0; i < N; i++) {
      ISH_CHECK(y[i] >= 0 && y[i] < C, "mds: ID-train label ", y[i], " of sample ", i, " is outside [0, ", C, ")");
      count[y[i]]++;
      for (int64_t j = 0; j < n; j++) mean_[y[i] * n + j] += a[i * n + j];
    }
    for (int64_t c = 0; c < C; c++) {
      present_[c] = count[c] > 0;
      for (int64_t j = 0; j < n && count[c]; j++) mean_[c * n + j] /= (double)count[c];
    }
    // np.cov(X.T, bias=1) of the centred data: centred once more around its (near-zero) global mean.
    std::vector<double> g(n, 0.0);
    for (int64_t i = 0; i < N; i++)
      for (int64_t j = 0; j < n; j++) g[j] += (double)a[i * n + j] - mean_[y[i] * n + j];
    for (auto& v : g) v /= (double)N;
    std::vector<double> cov(n * n, 0.0), X;
    for (int64_t r0 = 0; r0 < N; r0 += 4096) {
      const int64_t m = std::min<int64_t>(4096, N - r0);
      X.resize(m * n);
      for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) X[i * n + j] = (double)a[(r0 + i) * n + j] - mean_[y[r0 + i] * n + j] - g[j];
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)n, (int)m, 1.0 / (double)N, X.data(), (int)n, 1.0,
                  cov.data(), (int)n);
    }
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < i; j++) cov[i * n + j] = cov[j * n + i];
    prec_ = linalg::pinvh(n, cov);
    // P mu_c and mu_c^T P mu_c, for the expansion f^T P f - 2 f^T P mu_c + mu_c^T P mu_c.
    pmu_.assign(C * n, 0.0);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)C, (int)n, (int)n, 1.0, mean_.data(), (int)n,
                prec_.data(), (int)n, 0.0, pmu_.data(), (int)n);
    mupmu_.assign(C, 0.0);
    for (int64_t c = 0; c < C; c++)
      for (int64_t j = 0; j < n; j++) mupmu_[c] += mean_[c * n + j] * pmu_[c * n + j];
  }
  Scores score(const FeatureSet& f, const ImageStream*) override {
    f.validate("mds");
    ISH_CHECK(n_ > 0, "mds: fit() was not called");
    ISH_CHECK(f.features.size(1) == n_, "mds: features have ", f.features.size(1), " dims, the fit ", n_);
    const int64_t N = f.size(), n = n_, C = num_classes();
    const float* a = f.features.data<float>();
    const float* Zl = f.logits.data<float>();
    Scores s;
    s.conf.resize(N);
    s.pred.resize(N);
    std::vector<double> X, FP, FM;
    for (int64_t r0 = 0; r0 < N; r0 += 2048) {
      const int64_t m = std::min<int64_t>(2048, N - r0);
      X.assign(a + r0 * n, a + (r0 + m) * n);
      FP.resize(m * n);
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)n, 1.0, X.data(), (int)n,
                  prec_.data(), (int)n, 0.0, FP.data(), (int)n);
      FM.resize(m * C);  // f^T P mu_c
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)C, (int)n, 1.0, X.data(), (int)n,
                  pmu_.data(), (int)n, 0.0, FM.data(), (int)C);
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < m; i++) {
        double fpf = 0;
        for (int64_t j = 0; j < n; j++) fpf += FP[i * n + j] * X[i * n + j];
        double best = -INFINITY;
        for (int64_t c = 0; c < C; c++)
          if (present_[c]) best = std::max(best, -(fpf - 2.0 * FM[i * C + c] + mupmu_[c]));
        s.conf[r0 + i] = (float)best;
        s.pred[r0 + i] = argmax_row(&Zl[(r0 + i) * C], C);
      }
    }
    return s;
  }

 private:
  int64_t n_ = 0;
  std::vector<double> mean_, prec_, pmu_, mupmu_;
  std::vector<char> present_;
};

}  // namespace

std::unique_ptr<Detector> make_knn(const Fc& fc) { return std::make_unique<Knn>(fc); }
std::unique_ptr<Detector> make_vim(const Fc& fc) { return std::make_unique<Vim>(fc); }
std::unique_ptr<Detector> make_mds(const Fc& fc) { return std::make_unique<Mds>(fc); }

}  // namespace ish::eval::detail
