// Convolution as im2col + GEMM in NHWC with KRSC weights. The column matrix for a chunk of
// images is [rows = n*P*Q, RSC], so y_chunk[rows,K] = col * w^T. A 1x1/stride-1/no-pad conv
// skips im2col (the input already is the column matrix).
#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/cpu/cpu_ops.h"

namespace ish::cpu {
namespace {

bool is_pointwise(const ConvDims& d) {
  return d.R == 1 && d.S == 1 && d.sh == 1 && d.sw == 1 && d.ph == 0 && d.pw == 0;
}
// Images per chunk so the column buffer stays near 8M elements.
int64_t chunk_images(const ConvDims& d) {
  int64_t per = std::max<int64_t>(1, d.P * d.Q * d.R * d.S * d.C);
  return std::max<int64_t>(1, std::min<int64_t>(d.N, (int64_t(8) << 20) / per));
}

// A per-thread column buffer that only grows: a fresh zero-filled vector per call cost more
// (memset + page faults) than the GEMM on small inputs. im2col writes every element it uses.
template <class T>
T* col_buffer(size_t n) {
  thread_local std::vector<T> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

template <class T>
void im2col(const ConvDims& d, const T* x, int64_t n0, int64_t nn, T* col) {
  const int64_t RSC = d.R * d.S * d.C;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < nn; n++)
    for (int64_t p = 0; p < d.P; p++)
      for (int64_t q = 0; q < d.Q; q++) {
        T* row = col + ((n * d.P + p) * d.Q + q) * RSC;
        for (int64_t r = 0; r < d.R; r++) {
          const int64_t h = p * d.sh - d.ph + r * d.dh;
          for (int64_t s = 0; s < d.S; s++) {
            const int64_t w = q * d.sw - d.pw + s * d.dw;
            T* dst = row + (r * d.S + s) * d.C;
            if (h < 0 || h >= d.H || w < 0 || w >= d.W) std::fill(dst, dst + d.C, T(0));
            else std::memcpy(dst, x + (((n0 + n) * d.H + h) * d.W + w) * d.C, sizeof(T) * d.C);
          }
        }
      }
}

// Scatter-adds the column gradient back into dx (which the caller zeroed). Parallel over
// images: each image's pixels are written only by its own rows, so there is no race.
template <class T>
void col2im(const ConvDims& d, const T* col, int64_t n0, int64_t nn, T* dx) {
  const int64_t RSC = d.R * d.S * d.C;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < nn; n++)
    for (int64_t p = 0; p < d.P; p++)
      for (int64_t q = 0; q < d.Q; q++) {
        const T* row = col + ((n * d.P + p) * d.Q + q) * RSC;
        for (int64_t r = 0; r < d.R; r++) {
          const int64_t h = p * d.sh - d.ph + r * d.dh;
          if (h < 0 || h >= d.H) continue;
          for (int64_t s = 0; s < d.S; s++) {
            const int64_t w = q * d.sw - d.pw + s * d.dw;
            if (w < 0 || w >= d.W) continue;
            const T* src = row + (r * d.S + s) * d.C;
            T* dst = dx + (((n0 + n) * d.H + h) * d.W + w) * d.C;
            for (int64_t c = 0; c < d.C; c++) dst[c] += src[c];
          }
        }
      }
}

}  // namespace

template <class T>
void conv2d_fwd(const ConvDims& d, const T* x, const T* w, const T* b, T* y) {
  const int64_t RSC = d.R * d.S * d.C, PQ = d.P * d.Q;
  if (is_pointwise(d)) {
    gemm<T>(false, true, d.N * PQ, d.K, d.C, T(1), x, d.C, w, d.C, T(0), y, d.K);
  } else {
    const int64_t cn = chunk_images(d);
    T* col = col_buffer<T>((size_t)(cn * PQ * RSC));
    for (int64_t n0 = 0; n0 < d.N; n0 += cn) {
      const int64_t nn = std::min(cn, d.N - n0);
      im2col(d, x, n0, nn, col);
      gemm<T>(false, true, nn * PQ, d.K, RSC, T(1), col, RSC, w, RSC, T(0), y + n0 * PQ * d.K, d.K);
    }
  }
  if (b) {
    const int64_t rows = d.N * PQ;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < rows; i++)
      for (int64_t k = 0; k < d.K; k++) y[i * d.K + k] += b[k];
  }
}

template <class T>
void conv2d_bwd_data(const ConvDims& d, const T* dy, const T* w, T* dx) {
  const int64_t RSC = d.R * d.S * d.C, PQ = d.P * d.Q;
  if (is_pointwise(d)) {
    gemm<T>(false, false, d.N * PQ, d.C, d.K, T(1), dy, d.K, w, d.C, T(0), dx, d.C);
    return;
  }
  std::fill(dx, dx + d.N * d.H * d.W * d.C, T(0));
  const int64_t cn = chunk_images(d);
  T* col = col_buffer<T>((size_t)(cn * PQ * RSC));
  for (int64_t n0 = 0; n0 < d.N; n0 += cn) {
    const int64_t nn = std::min(cn, d.N - n0);
    gemm<T>(false, false, nn * PQ, RSC, d.K, T(1), dy + n0 * PQ * d.K, d.K, w, RSC, T(0), col, RSC);
    col2im(d, col, n0, nn, dx);
  }
}

template <class T>
void conv2d_bwd_filter(const ConvDims& d, const T* x, const T* dy, T* dw, T* db) {
  const int64_t RSC = d.R * d.S * d.C, PQ = d.P * d.Q;
  if (is_pointwise(d)) {
    gemm<T>(true, false, d.K, d.C, d.N * PQ, T(1), dy, d.K, x, d.C, T(0), dw, d.C);
  } else {
    const int64_t cn = chunk_images(d);
    T* col = col_buffer<T>((size_t)(cn * PQ * RSC));
    for (int64_t n0 = 0; n0 < d.N; n0 += cn) {
      const int64_t nn = std::min(cn, d.N - n0);
      im2col(d, x, n0, nn, col);
      gemm<T>(true, false, d.K, RSC, nn * PQ, T(1), dy + n0 * PQ * d.K, d.K, col, RSC, n0 ? T(1) : T(0), dw,
              RSC);
    }
  }
  if (db) {
    const int64_t rows = d.N * PQ;
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < d.K; k++) {
      T acc = 0;
      for (int64_t i = 0; i < rows; i++) acc += dy[i * d.K + k];
      db[k] = acc;
    }
  }
}

template void conv2d_fwd<float>(const ConvDims&, const float*, const float*, const float*, float*);
template void conv2d_fwd<double>(const ConvDims&, const double*, const double*, const double*, double*);
template void conv2d_bwd_data<float>(const ConvDims&, const float*, const float*, float*);
template void conv2d_bwd_data<double>(const ConvDims&, const double*, const double*, double*);
template void conv2d_bwd_filter<float>(const ConvDims&, const float*, const float*, float*, float*);
template void conv2d_bwd_filter<double>(const ConvDims&, const double*, const double*, double*, double*);

}  // namespace ish::cpu
