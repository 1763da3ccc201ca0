#include "eval/linalg.h"

#include <cblas.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numeric>

#include "engine/error.h"

namespace ish::eval::linalg {
namespace {

// Householder reduction of symmetric A (row-major, overwritten) to tridiagonal form T = Q^T A Q.
// On return d = diag(T), e[i] = T(i, i+1) (e[n-1] = 0) and qt = Q^T (row-major).
void tridiagonalize(int64_t n, std::vector<double>& A, std::vector<double>* d, std::vector<double>* e,
                    std::vector<double>* qt) {
  d->assign(n, 0.0);
  e->assign(n, 0.0);
  std::vector<std::vector<double>> vs;  // Householder vectors (length n-k-1) and their betas
  std::vector<double> betas;
  std::vector<double> p(n), v(n);
  for (int64_t k = 0; k + 2 < n; k++) {
    const int64_t m = n - k - 1;  // size of the trailing block
    const double* x = &A[k * n + k + 1];  // row k right of the diagonal (= column k; only the upper triangle is kept current)
    double sigma = 0;
    for (int64_t i = 1; i < m; i++) sigma += x[i] * x[i];
    double x0 = x[0];
    v.assign(m, 0.0);
    double beta = 0;
    if (sigma == 0) {  // already tridiagonal in this column
      (*e)[k] = x0;
    } else {
      double mu = std::sqrt(x0 * x0 + sigma);
      double alpha = x0 <= 0 ? mu : -mu;  // reflect onto alpha e1, away from x0 to avoid cancellation
      v[0] = x0 - alpha;
      for (int64_t i = 1; i < m; i++) v[i] = x[i];
      double vnorm2 = v[0] * v[0] + sigma;
      beta = 2.0 / vnorm2;
      (*e)[k] = alpha;
      // trailing block B <- H B H with H = I - beta v v^T:  B -= v q^T + q v^T, q = p - (beta/2)(v.p) v, p = beta B v
      double* B = &A[(k + 1) * n + (k + 1)];
      cblas_dsymv(CblasRowMajor, CblasUpper, (int)m, beta, B, (int)n, v.data(), 1, 0.0, p.data(), 1);
      double K = 0.5 * beta * cblas_ddot((int)m, v.data(), 1, p.data(), 1);
      for (int64_t i = 0; i < m; i++) p[i] -= K * v[i];
      cblas_dsyr2(CblasRowMajor, CblasUpper, (int)m, -1.0, v.data(), 1, p.data(), 1, B, (int)n);
    }
    (*d)[k] = A[k * n + k];
    vs.emplace_back(v.begin(), v.begin() + m);
    betas.push_back(beta);
  }
  // Last 2x2 (or 1x1) block; dsyr2 updated the upper triangle only.
  if (n >= 2) {
    (*d)[n - 2] = A[(n - 2) * n + (n - 2)];
    (*e)[n - 2] = A[(n - 2) * n + (n - 1)];
  }
  (*d)[n - 1] = A[(n - 1) * n + (n - 1)];
  // Q = H_0 H_1 ... H_{n-3}, accumulated backwards (Q <- H_k Q) so each step touches a trailing block.
  qt->assign(n * n, 0.0);
  for (int64_t i = 0; i < n; i++) (*qt)[i * n + i] = 1.0;
  std::vector<double> w(n);
  for (int64_t k = (int64_t)vs.size() - 1; k >= 0; k--) {
    if (betas[k] == 0) continue;
    const int64_t m = n - k - 1;
    double* Q = &(*qt)[(k + 1) * n + (k + 1)];  // Q <- H_k Q touches only rows/cols k+1..n-1
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)m, (int)m, 1.0, Q, (int)n, vs[k].data(), 1, 0.0, w.data(), 1);
    cblas_dger(CblasRowMajor, (int)m, (int)m, -betas[k], vs[k].data(), 1, w.data(), 1, Q, (int)n);
  }
  // qt now holds Q; transpose in place.
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = i + 1; j < n; j++) std::swap((*qt)[i * n + j], (*qt)[j * n + i]);
}

// Implicit-shift QL on the symmetric tridiagonal (d, e), rotating the rows of vt along. The rotations
// depend only on (d, e), so they are recorded first and then applied to vt in one parallel pass over
// column blocks (each block sees them in the same order, so the result does not depend on the threads).
void tridiagonal_ql(int64_t n, std::vector<double>& d, std::vector<double>& e, std::vector<double>& vt) {
  struct Rot { int64_t i; double c, s; };
  std::vector<Rot> rots;
  // Off-diagonals below eps * ||T|| are negligible (a backward-stable split); the relative test alone
  // never fires inside a cluster of zero eigenvalues (rank-deficient covariances).
  double anorm = 0;
  for (int64_t i = 0; i < n; i++)
    anorm = std::max(anorm, std::fabs(d[i]) + std::fabs(e[i]) + (i ? std::fabs(e[i - 1]) : 0.0));
  const double atol = DBL_EPSILON * anorm;
  for (int64_t l = 0; l < n; l++) {
    int iter = 0;
    while (true) {
      int64_t m = l;
      for (; m + 1 < n; m++) {
        double dd = std::fabs(d[m]) + std::fabs(d[m + 1]);
        if (std::fabs(e[m]) <= DBL_EPSILON * dd || std::fabs(e[m]) <= atol) break;
      }
      if (m == l) break;
      ISH_CHECK(++iter <= 60, "sym_eig: QL did not converge (eigenvalue ", l, ")");
      // Wilkinson-style shift from the leading 2x2 block.
      double g = (d[l + 1] - d[l]) / (2.0 * e[l]);
      double r = std::hypot(g, 1.0);
      g = d[m] - d[l] + e[l] / (g + std::copysign(r, g));
      double s = 1, c = 1, p = 0;
      bool deflated = false;
      for (int64_t i = m - 1; i >= l; i--) {
        double f = s * e[i], b = c * e[i];
        r = std::hypot(f, g);
        e[i + 1] = r;
        if (r == 0) {  // underflow: split the matrix here and restart
          d[i + 1] -= p;
          e[m] = 0;
          deflated = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2.0 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        rots.push_back({i, c, s});
      }
      if (deflated) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
  const int64_t nb = (n + 127) / 128;
#pragma omp parallel for schedule(dynamic, 1) if (n >= 256)
  for (int64_t blk = 0; blk < nb; blk++) {
    const int64_t k0 = blk * 128, k1 = std::min(n, k0 + 128);
    for (const Rot& rt : rots) {
      double* a = &vt[rt.i * n];
      double* b2 = &vt[(rt.i + 1) * n];
      for (int64_t k = k0; k < k1; k++) {
        double f = b2[k];
        b2[k] = rt.s * a[k] + rt.c * f;
        a[k] = rt.c * a[k] - rt.s * f;
      }
    }
  }
}

}  // namespace

void sym_eig(int64_t n, const std::vector<double>& A_in, std::vector<double>* w, std::vector<double>* vt) {
  ISH_CHECK(n >= 1 && (int64_t)A_in.size() == n * n, "sym_eig: matrix size ", A_in.size(), " is not ", n, "^2");
  for (double a : A_in) ISH_CHECK(std::isfinite(a), "sym_eig: matrix has a non-finite entry");
  std::vector<double> A = A_in, d, e, q;
  tridiagonalize(n, A, &d, &e, &q);
  tridiagonal_ql(n, d, e, q);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return d[a] < d[b]; });
  w->resize(n);
  vt->resize(n * n);
  for (int64_t i = 0; i < n; i++) {
    (*w)[i] = d[order[i]];
    std::copy(&q[order[i] * n], &q[order[i] * n] + n, &(*vt)[i * n]);
  }
}

// pinv of a symmetric matrix from its eigenpairs, dropping |l| <= cutoff.
static std::vector<double> pinv_from_eig(int64_t n, const std::vector<double>& w, const std::vector<double>& vt,
                                         double cutoff) {
  std::vector<double> scaled(n * n, 0.0);  // rows of vt scaled by 1/l
  std::vector<int> keep(n, 0);
  for (int64_t i = 0; i < n; i++) {
    if (std::fabs(w[i]) <= cutoff) continue;
    keep[i] = 1;
    for (int64_t k = 0; k < n; k++) scaled[i * n + k] = vt[i * n + k] / w[i];
  }
  std::vector<double> out(n * n, 0.0);  // vt^T * scaled
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0, vt.data(), (int)n,
              scaled.data(), (int)n, 0.0, out.data(), (int)n);
  return out;
}

std::vector<double> pinvh(int64_t n, const std::vector<double>& A) {
  std::vector<double> w, vt;
  sym_eig(n, A, &w, &vt);
  double mx = 0;
  for (double l : w) mx = std::max(mx, std::fabs(l));
  return pinv_from_eig(n, w, vt, (double)n * DBL_EPSILON * mx);
}

std::vector<double> pinv_apply(const float* W, int64_t rows, int64_t cols, const float* b) {
  std::vector<double> Wd(W, W + rows * cols), bd(b, b + rows);
  const bool wide = rows <= cols;  // pinv(W) = W^T (W W^T)^+ ; tall: (W^T W)^+ W^T
  const int64_t s = wide ? rows : cols;
  std::vector<double> G(s * s);
  if (wide)
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)s, (int)cols, 1.0, Wd.data(), (int)cols, 0.0,
                G.data(), (int)s);
  else
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)s, (int)rows, 1.0, Wd.data(), (int)cols, 0.0,
                G.data(), (int)s);
  for (int64_t i = 0; i < s; i++)
    for (int64_t j = 0; j < i; j++) G[i * s + j] = G[j * s + i];
  std::vector<double> w, vt;
  sym_eig(s, G, &w, &vt);
  double mx = 0;
  for (double l : w) mx = std::max(mx, std::fabs(l));
  std::vector<double> Gp = pinv_from_eig(s, w, vt, (double)s * DBL_EPSILON * mx);
  std::vector<double> x(cols, 0.0);
  if (wide) {
    std::vector<double> t(s);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)s, (int)s, 1.0, Gp.data(), (int)s, bd.data(), 1, 0.0, t.data(), 1);
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)rows, (int)cols, 1.0, Wd.data(), (int)cols, t.data(), 1, 0.0,
                x.data(), 1);
  } else {
    std::vector<double> t(cols);
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)rows, (int)cols, 1.0, Wd.data(), (int)cols, bd.data(), 1, 0.0,
                t.data(), 1);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)s, (int)s, 1.0, Gp.data(), (int)s, t.data(), 1, 0.0, x.data(), 1);
  }
  return x;
}

}  // namespace ish::eval::linalg
