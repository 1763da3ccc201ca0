// Convolution in NHWC with KRSC weights, as GEMMs over the "column" matrix [rows = N*P*Q, R*S*C].
// 1x1 stride-1 unpadded convs use the input as the column matrix (no copy). Otherwise each thread
// owns a contiguous range of output rows and builds the columns for a cache-sized tile of them at a
// time (im2col tile + single-threaded GEMM), in one OpenMP region per call. The split depends only
// on the thread count, so results are deterministic for a given count.
#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/parallel.h"

namespace ish::cpu {
namespace {

bool is_pointwise(const ConvDims& d) {
  return d.R == 1 && d.S == 1 && d.sh == 1 && d.sw == 1 && d.ph == 0 && d.pw == 0;
}

// Rows per column tile: about 2 MiB of columns (L2 + part of L3), but at least 256 rows so the
// BLAS call amortises packing the weights.
int64_t tile_rows(const ConvDims& d, size_t elem) {
  const int64_t rsc = d.R * d.S * d.C;
  return std::max<int64_t>(256, (int64_t(2) << 20) / (rsc * (int64_t)elem));
}

// A per-thread buffer that only grows (no zero-fill or reallocation per call).
template <class T>
T* scratch(size_t n, int slot) {
  thread_local std::vector<T> buf[2];
  if (buf[slot].size() < n) buf[slot].resize(n);
  return buf[slot].data();
}

// Columns of output rows [r0, r0+nr) (row = (n*P + p)*Q + q) into col [nr, RSC].
template <class T>
void im2col_rows(const ConvDims& d, const T* x, int64_t r0, int64_t nr, T* col) {
  const int64_t RSC = d.R * d.S * d.C;
  int64_t q = r0 % d.Q, p = (r0 / d.Q) % d.P, n = r0 / (d.P * d.Q);
  for (int64_t i = 0; i < nr; i++) {
    T* row = col + i * RSC;
    for (int64_t r = 0; r < d.R; r++) {
      const int64_t h = p * d.sh - d.ph + r * d.dh;
      for (int64_t s = 0; s < d.S; s++) {
        const int64_t w = q * d.sw - d.pw + s * d.dw;
        T* dst = row + (r * d.S + s) * d.C;
        if (h < 0 || h >= d.H || w < 0 || w >= d.W) std::memset(dst, 0, sizeof(T) * d.C);
        else std::memcpy(dst, x + ((n * d.H + h) * d.W + w) * d.C, sizeof(T) * d.C);
      }
    }
    if (++q == d.Q) {
      q = 0;
      if (++p == d.P) p = 0, n++;
    }
  }
}

// Scatter-adds the column gradient of output rows [r0, r0+nr) into dx.
template <class T>
void col2im_rows(const ConvDims& d, const T* col, int64_t r0, int64_t nr, T* dx) {
  const int64_t RSC = d.R * d.S * d.C;
  int64_t q = r0 % d.Q, p = (r0 / d.Q) % d.P, n = r0 / (d.P * d.Q);
  for (int64_t i = 0; i < nr; i++) {
    const T* row = col + i * RSC;
    for (int64_t r = 0; r < d.R; r++) {
      const int64_t h = p * d.sh - d.ph + r * d.dh;
      if (h < 0 || h >= d.H) continue;
      for (int64_t s = 0; s < d.S; s++) {
        const int64_t w = q * d.sw - d.pw + s * d.dw;
        if (w < 0 || w >= d.W) continue;
        const T* src = row + (r * d.S + s) * d.C;
        T* dst = dx + ((n * d.H + h) * d.W + w) * d.C;
        for (int64_t c = 0; c < d.C; c++) dst[c] += src[c];
      }
    }
    if (++q == d.Q) {
      q = 0;
      if (++p == d.P) p = 0, n++;
    }
  }
}

template <class T>
void add_bias(int64_t rows, int64_t K, const T* b, T* y) {
  const int nt = team_size(rows * K, 1 << 16);
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int64_t i = 0; i < rows; i++)
    for (int64_t k = 0; k < K; k++) y[i * K + k] += b[k];
}


// y rows [r0, r0+nr) = relu?(y * scale + shift + residual?), as bn_eval_fwd does it.
template <class T>
void epilogue(int64_t r0, int64_t nr, int64_t K, const T* scale, const T* shift, const T* residual, bool relu, T* y) {
  for (int64_t i = r0; i < r0 + nr; i++) {
    T* row = y + i * K;
    const T* res = residual ? residual + i * K : nullptr;
    for (int64_t k = 0; k < K; k++) {
      T v = row[k] * scale[k] + shift[k];
      if (res) v += res[k];
      row[k] = relu && v < T(0) ? T(0) : v;
    }
  }
}

// Per thread: a contiguous range of output rows in cache-sized tiles; for each tile, columns (none
// for a pointwise conv), one GEMM, then the epilogue while the tile is hot.
template <class T>
void conv_tiles(const ConvDims& d, const T* x, const T* w, const T* scale, const T* shift, const T* residual,
                bool relu, T* y) {
  const int64_t RSC = d.R * d.S * d.C, rows = d.N * d.P * d.Q;
  const bool pw = is_pointwise(d);
  const int nt = team_size(rows * d.K * RSC, int64_t(2) << 20);
  const int64_t mt = pw ? std::max<int64_t>(256, (int64_t(1) << 20) / (d.K * (int64_t)sizeof(T))) : tile_rows(d, sizeof(T));
  BlasSerial serial;
#pragma omp parallel num_threads(nt)
  {
    int64_t b0, e0;
    split_range(rows, nt, omp_get_thread_num(), 16, b0, e0);
    T* col = pw ? nullptr : scratch<T>((size_t)(std::min(mt, std::max<int64_t>(e0 - b0, 1)) * RSC), 0);
    for (int64_t r0 = b0; r0 < e0; r0 += mt) {
      const int64_t nr = std::min(mt, e0 - r0);
      const T* a = x + r0 * d.C;
      if (!pw) {
        im2col_rows(d, x, r0, nr, col);
        a = col;
      }
      gemm<T>(false, true, nr, d.K, RSC, T(1), a, RSC, w, RSC, T(0), y + r0 * d.K, d.K);
      if (scale) epilogue(r0, nr, d.K, scale, shift, residual, relu, y);
    }
  }
}

}  // namespace

template <class T>
void conv2d_fwd(const ConvDims& d, const T* x, const T* w, const T* b, T* y) {
  const int64_t rows = d.N * d.P * d.Q;
  if (is_pointwise(d)) gemm<T>(false, true, rows, d.K, d.C, T(1), x, d.C, w, d.C, T(0), y, d.K);
  else conv_tiles<T>(d, x, w, nullptr, nullptr, nullptr, false, y);
  if (b) add_bias(rows, d.K, b, y);
}

template <class T>
void conv2d_bn_fwd(const ConvDims& d, const T* x, const T* w, const T* scale, const T* shift, const T* residual,
                   bool relu, T* y) {
  conv_tiles<T>(d, x, w, scale, shift, residual, relu, y);
}

template <class T>
void conv2d_bwd_data(const ConvDims& d, const T* dy, const T* w, T* dx) {
  const int64_t RSC = d.R * d.S * d.C, PQ = d.P * d.Q, HWC = d.H * d.W * d.C;
  if (is_pointwise(d)) {
    gemm<T>(false, false, d.N * PQ, d.C, d.K, T(1), dy, d.K, w, d.C, T(0), dx, d.C);
    return;
  }
  // Whole images per thread: the scatter of one image's rows touches only that image's pixels.
  // Tiles inside an image run in order, so the sums' order is fixed.
  const int nt = team_size(d.N, 1);
  const int64_t mt = tile_rows(d, sizeof(T));
  BlasSerial serial;
#pragma omp parallel num_threads(nt)
  {
    T* col = scratch<T>((size_t)(std::min(mt, PQ) * RSC), 0);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < d.N; n++) {
      std::memset(dx + n * HWC, 0, sizeof(T) * HWC);
      for (int64_t r0 = n * PQ; r0 < (n + 1) * PQ; r0 += mt) {
        const int64_t nr = std::min(mt, (n + 1) * PQ - r0);
        gemm<T>(false, false, nr, RSC, d.K, T(1), dy + r0 * d.K, d.K, w, RSC, T(0), col, RSC);
        col2im_rows(d, col, r0, nr, dx);
      }
    }
  }
}

template <class T>
void conv2d_bwd_filter(const ConvDims& d, const T* x, const T* dy, T* dw, T* db) {
  const int64_t RSC = d.R * d.S * d.C, rows = d.N * d.P * d.Q, KW = d.K * RSC;
  const bool pw = is_pointwise(d);
  const int nt = team_size(rows * KW, int64_t(2) << 20);
  // Each thread sums its own range of rows into a private dw (thread 0 into dw itself); the
  // partial sums are then added in thread order.
  const int64_t mt = pw ? rows : std::max<int64_t>(tile_rows(d, sizeof(T)), 512);
  std::vector<T*> part((size_t)nt, nullptr);
  BlasSerial serial;
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    int64_t b0, e0;
    split_range(rows, nt, t, 16, b0, e0);
    T* acc = t == 0 ? dw : scratch<T>((size_t)KW, 1);
    part[(size_t)t] = acc;
    T* col = pw ? nullptr : scratch<T>((size_t)(std::min(mt, std::max<int64_t>(e0 - b0, 1)) * RSC), 0);
    if (e0 <= b0) std::fill(acc, acc + KW, T(0));
    for (int64_t r0 = b0; r0 < e0; r0 += mt) {
      const int64_t nr = std::min(mt, e0 - r0);
      const T* a = x + r0 * d.C;
      if (!pw) {
        im2col_rows(d, x, r0, nr, col);
        a = col;
      }
      gemm<T>(true, false, d.K, RSC, nr, T(1), dy + r0 * d.K, d.K, a, RSC, r0 == b0 ? T(0) : T(1), acc, RSC);
    }
#pragma omp barrier
    if (nt > 1) {
      int64_t i0, i1;
      split_range(KW, nt, t, 16, i0, i1);
      for (int u = 1; u < nt; u++) {
        const T* src = part[(size_t)u];
        for (int64_t i = i0; i < i1; i++) dw[i] += src[i];
      }
    }
  }
  if (db) {
    std::fill(db, db + d.K, T(0));
    for (int64_t i = 0; i < rows; i++)
      for (int64_t k = 0; k < d.K; k++) db[k] += dy[i * d.K + k];
  }
}

template void conv2d_fwd<float>(const ConvDims&, const float*, const float*, const float*, float*);
template void conv2d_fwd<double>(const ConvDims&, const double*, const double*, const double*, double*);
template void conv2d_bn_fwd<float>(const ConvDims&, const float*, const float*, const float*, const float*,
                                   const float*, bool, float*);
template void conv2d_bn_fwd<double>(const ConvDims&, const double*, const double*, const double*, const double*,
                                    const double*, bool, double*);
template void conv2d_bwd_data<float>(const ConvDims&, const float*, const float*, float*);
template void conv2d_bwd_data<double>(const ConvDims&, const double*, const double*, double*);
template void conv2d_bwd_filter<float>(const ConvDims&, const float*, const float*, float*, float*);
template void conv2d_bwd_filter<double>(const ConvDims&, const double*, const double*, double*, double*);

}  // namespace ish::cpu
