// AdaSCALE-A / AdaSCALE-L: see eval/adascale.h and METHOD-DETECTORS-2.md. The network passes (gradient,
// perturbation, second forward) depend only on o and eps, so they are kept per image stream and every
// APS grid point only re-maps the percentiles.
#include "eval/adascale.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/error.h"
#include "eval/detectors_impl.h"

namespace ish::eval::adascale {

int64_t mask_count(int64_t n, double o) { return (int64_t)((double)n * o); }

void perturb(const float* x, const float* g, int64_t n, int64_t n_mask, float eps, float* xp) {
  std::copy(x, x + n, xp);
  if (n_mask <= 0) return;
  n_mask = std::min(n_mask, n);
  std::vector<int32_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  auto smaller = [&](int32_t a, int32_t b) {  // |g| ascending; equal |g| by position (torch.topk's order is unspecified)
    const float ga = std::fabs(g[a]), gb = std::fabs(g[b]);
    return ga < gb || (ga == gb && a < b);
  };
  std::nth_element(idx.begin(), idx.begin() + (n_mask - 1), idx.end(), smaller);
  for (int64_t t = 0; t < n_mask; t++) {
    const int32_t i = idx[t];
    const float s = g[i] > 0 ? 1.0f : (g[i] < 0 ? -1.0f : 0.0f);  // torch.sign: 0 stays 0
    xp[i] = x[i] + eps * s;
  }
}

namespace {
// Indices of the k largest f (ties by position), k clipped to [0, D].
std::vector<int32_t> topk_idx(const float* f, int64_t D, int64_t k) {
  k = std::max<int64_t>(0, std::min(k, D));
  std::vector<int32_t> idx(D);
  std::iota(idx.begin(), idx.end(), 0);
  if (k == 0) return {};
  std::nth_element(idx.begin(), idx.begin() + (k - 1), idx.end(),
                   [&](int32_t a, int32_t b) { return f[a] > f[b] || (f[a] == f[b] && a < b); });
  idx.resize(k);
  return idx;
}
}  // namespace

float qprime(const float* f, const float* fp, int64_t D, double k1, double k2, double lmbda) {
  const int64_t n1 = (int64_t)((double)D * k1 / 100.0), n2 = (int64_t)((double)D * k2 / 100.0);
  double co = 0, shift = 0;
  for (int32_t i : topk_idx(f, D, n1)) co += std::max(0.0f, fp[i]);
  for (int32_t i : topk_idx(f, D, n2)) shift += std::fabs((double)f[i] - (double)fp[i]);
  return (float)(co + lmbda * shift);
}

Ecdf::Ecdf(std::vector<float> fit) {
  ISH_CHECK(!fit.empty(), "AdaSCALE: the ECDF fit set is empty");
  std::sort(fit.begin(), fit.end());
  const int64_t n = (int64_t)fit.size();
  x_.assign(fit.begin(), fit.end());
  y_.resize(n);
  // np.linspace(1/n, 1, n): start + j * step, the last value set to stop exactly
  const double start = 1.0 / (double)n, step = n > 1 ? (1.0 - start) / (double)(n - 1) : 0.0;
  for (int64_t j = 0; j < n; j++) y_[j] = start + (double)j * step;
  y_[n - 1] = 1.0;
}

double Ecdf::operator()(double t) const {
  const int64_t k = std::upper_bound(x_.begin(), x_.end(), t) - x_.begin();  // side='right'
  return k == 0 ? 0.0 : y_[k - 1];
}

double percentile(const Ecdf& F, float q, double pmin, double pmax) {
  return pmin + (1.0 - F((double)q)) * (pmax - pmin);
}

double scale_ratio(const float* f, int64_t D, double p) {
  const int64_t k = detail::topk_count(D, p);
  std::vector<float> x(D);
  double s1 = 0;
  for (int64_t j = 0; j < D; j++) s1 += (x[j] = std::max(0.0f, f[j]));
  std::nth_element(x.begin(), x.begin() + (k - 1), x.end(), std::greater<float>());
  double s2 = 0;
  for (int64_t j = 0; j < k; j++) s2 += x[j];
  return s2 > 0 ? s1 / s2 : NAN;
}

std::vector<std::pair<double, double>> percentile_pairs() {
  const double v[] = {60, 65, 70, 75, 80, 85, 90, 95, 99};
  std::vector<std::pair<double, double>> out;
  for (int i = 0; i < 8; i++)
    for (int j = i + 1; j < 9; j++) out.push_back({v[i], v[j]});
  return out;
}

}  // namespace ish::eval::adascale

namespace ish::eval::detail {
namespace {

// One image list through the network: f and f' [N,D], z [N,C].
struct Pass {
  int64_t N = 0;
  double o = -1, eps = -1;
  std::vector<float> f, fp, z;
};

class AdaScale : public ParamDetector {
 public:
  AdaScale(Fc fc, InputGradNet* net, bool linear) : ParamDetector(std::move(fc)), net_(net), linear_(linear) {
    p_ = {{"min_percentile", 75}, {"max_percentile", 85}, {"k1", 5},           {"k2", 1},
          {"lmbda", 10},          {"o", 0.05},             {"num_samples", 5000}, {"eps", 0.5}};
    for (auto [a, b] : adascale::percentile_pairs()) grid_.push_back({{"min_percentile", a}, {"max_percentile", b}});
  }
  std::string name() const override { return linear_ ? "adascale_l" : "adascale_a"; }
  bool needs_id_val() const override { return true; }
  bool needs_images() const override { return true; }
  void set_save_aux(bool on) override { save_aux_ = on; }
  void check_param(const std::string& k, double v) const override {
    if (k == "min_percentile" || k == "max_percentile")
      ISH_CHECK(v > 0 && v < 100, name(), ": ", k, " must lie in (0, 100), got ", v);
    if (k == "k1" || k == "k2") ISH_CHECK(v >= 0 && v <= 100, name(), ": ", k, " must lie in [0, 100], got ", v);
    if (k == "o") ISH_CHECK(v >= 0 && v <= 1, name(), ": o must lie in [0, 1], got ", v);
    if (k == "num_samples") ISH_CHECK(v >= 1 && v == std::floor(v), name(), ": num_samples must be a positive integer");
    if (k == "eps") ISH_CHECK(v >= 0, name(), ": eps must be >= 0, got ", v);
  }
  void fit(const FitInputs& in) override {
    ISH_CHECK(in.id_val_images && *in.id_val_images, name(), " fits its ECDF on the ID validation images (--id-val)");
    fit_stream_ = *in.id_val_images;
    fit_key_ = in.id_val_images;
    fit_pass_ = Pass();
  }
  Scores score(const FeatureSet& f, const ImageStream* images) override {
    ISH_CHECK(images != nullptr && *images, name(), " needs the images of the list, not only cached features");
    const Pass& P = pass_for(images);
    ISH_CHECK(f.size() == 0 || f.size() == P.N, name(), ": ", P.N, " images scored but the list has ", f.size());
    const adascale::Ecdf F(fit_qprime());
    const double pmin = get("min_percentile"), pmax = get("max_percentile");
    ISH_CHECK(pmin <= pmax, name(), ": min_percentile ", pmin, " exceeds max_percentile ", pmax);
    const int64_t N = P.N, D = feature_dim(), C = num_classes();
    std::vector<float> q = qprimes(P);
    std::vector<double> pct(N), r(N);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) {
      pct[i] = adascale::percentile(F, q[i], pmin, pmax);
      r[i] = adascale::scale_ratio(&P.f[i * D], D, pct[i]);
    }
    Scores s;
    if (linear_) {
      std::vector<float> Z(P.z);
      for (int64_t i = 0; i < N; i++) {
        const float r2 = (float)(r[i] * r[i]);
        for (int64_t c = 0; c < C; c++) Z[i * C + c] *= r2;
      }
      energy_argmax(Z, N, C, &s);
    } else {
      std::vector<float> x(P.f);
      for (int64_t i = 0; i < N; i++) {
        const float e = (float)std::exp(r[i]);
        for (int64_t j = 0; j < D; j++) x[i * D + j] *= e;
      }
      energy_argmax(fc_forward(fc_, x.data(), N), N, C, &s);
    }
    for (int64_t i = 0; i < N; i++)
      if (std::isnan(r[i])) {  // an all-zero feature: s2 = 0
        s.conf[i] = -INFINITY;
        s.pred[i] = argmax_row(&P.z[i * C], C);
        s.degenerate++;
      }
    s.aux.push_back({"qprime", Tensor::from_f32(q, {N})});
    s.aux.push_back({"percentile", Tensor::from_f64(pct, {N})});
    if (save_aux_) s.aux.push_back({"feature_perturbed", Tensor::from_f32(P.fp, {N, D})});
    return s;
  }
  std::vector<std::pair<std::string, Tensor>> fit_aux() const override {
    auto* self = const_cast<AdaScale*>(this);
    std::vector<float> q = self->fit_qprime();
    std::vector<std::pair<std::string, Tensor>> out = {{"qprime", Tensor::from_f32(q, {(int64_t)q.size()})}};
    if (save_aux_) {
      const int64_t D = feature_dim();
      std::vector<float> fp;
      for (int64_t i : self->fit_rows()) fp.insert(fp.end(), &fit_pass_.fp[i * D], &fit_pass_.fp[(i + 1) * D]);
      out.push_back({"feature_perturbed", Tensor::from_f32(fp, {(int64_t)q.size(), D})});
    }
    return out;
  }

 private:
  void run(const ImageStream& images, Pass* P) {
    ISH_CHECK(net_ != nullptr, name(), " needs the network (no model was given)");
    const double o = get("o");
    const float eps = (float)get("eps");
    *P = Pass();
    P->o = o;
    P->eps = eps;
    const int64_t D = feature_dim(), C = num_classes();
    images([&](const Tensor& x, int64_t first) {
      ISH_CHECK(x.dim() == 4 && x.dtype() == DType::F32 && !x.is_cuda(), name(), ": images must be CPU F32 [B,H,W,C], got ",
                shape_str(x.shape()));
      ISH_CHECK(first == P->N, name(), ": image batches out of order (", first, ")");
      const int64_t B = x.size(0), per = x.numel() / std::max<int64_t>(B, 1);
      Tensor z, feat;
      Tensor g = net_->maxlogit_input_grad(x, &z, &feat);
      ISH_CHECK(g.defined() && g.shape() == x.shape(), name(), ": input gradient has the wrong shape");
      ISH_CHECK(feat.defined() && feat.dim() == 2 && feat.size(0) == B && feat.size(1) == D && z.defined() &&
                    z.dim() == 2 && z.size(1) == C,
                name(), ": the network's features/logits do not match fc (", C, "x", D, ")");
      Tensor gc = g.is_cuda() ? g.to(Device::CPU) : g;
      Tensor xp = Tensor::empty(x.shape());
      const int64_t nm = adascale::mask_count(per, o);
      const float *xv = x.data<float>(), *gv = gc.data<float>();
      float* pv = xp.data<float>();
#pragma omp parallel for schedule(dynamic, 1)
      for (int64_t b = 0; b < B; b++) adascale::perturb(&xv[b * per], &gv[b * per], per, nm, eps, &pv[b * per]);
      Tensor fp = net_->features(xp);
      ISH_CHECK(fp.defined() && fp.dim() == 2 && fp.size(0) == B && fp.size(1) == D, name(),
                ": the second forward gave features of the wrong shape");
      for (auto [src, dst] : {std::make_pair(&feat, &P->f), std::make_pair(&fp, &P->fp), std::make_pair(&z, &P->z)}) {
        std::vector<float> v = src->to_f32_vector();
        dst->insert(dst->end(), v.begin(), v.end());
      }
      P->N += B;
    });
  }
  bool stale(const Pass& P) const { return P.o != get("o") || P.eps != (double)(float)get("eps"); }
  const Pass& pass_for(const ImageStream* images) {
    if (images == fit_key_) return fit_pass();
    if (images != other_key_ || stale(other_)) {  // one slot: APS alternates ID val (the fit pass) and OOD val
      run(*images, &other_);
      other_key_ = images;
    }
    return other_;
  }
  const Pass& fit_pass() {
    ISH_CHECK(fit_stream_ != nullptr, name(), ": fit() was not called");
    if (fit_pass_.N == 0 || stale(fit_pass_)) run(fit_stream_, &fit_pass_);
    return fit_pass_;
  }
  // The ECDF fit rows: all of ID val, or floor(j N / num_samples) when it is larger.
  std::vector<int64_t> fit_rows() {
    const int64_t N = fit_pass().N, M = (int64_t)get("num_samples");
    std::vector<int64_t> rows;
    if (N <= M)
      for (int64_t i = 0; i < N; i++) rows.push_back(i);
    else
      for (int64_t j = 0; j < M; j++) rows.push_back(j * N / M);
    return rows;
  }
  std::vector<float> fit_qprime() {
    const Pass& P = fit_pass();
    std::vector<float> all = qprimes(P), q;
    for (int64_t i : fit_rows()) q.push_back(all[i]);
    return q;
  }
  std::vector<float> qprimes(const Pass& P) const {
    const int64_t D = feature_dim();
    const double k1 = get("k1"), k2 = get("k2"), lm = get("lmbda");
    std::vector<float> q(P.N);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < P.N; i++) q[i] = adascale::qprime(&P.f[i * D], &P.fp[i * D], D, k1, k2, lm);
    return q;
  }

  InputGradNet* net_;
  bool linear_, save_aux_ = false;
  ImageStream fit_stream_;
  const ImageStream* fit_key_ = nullptr;  // streams are told apart by address (the caller keeps them alive)
  const ImageStream* other_key_ = nullptr;
  Pass fit_pass_, other_;
};

}  // namespace

std::unique_ptr<Detector> make_adascale(const Fc& fc, InputGradNet* net, bool linear) {
  return std::make_unique<AdaScale>(fc, net, linear);
}

}  // namespace ish::eval::detail
