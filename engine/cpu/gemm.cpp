// Row-major GEMM on OpenBLAS's CBLAS. Called at top level it splits C into one block per thread
// (rows when C is tall, else columns) and runs one single-threaded BLAS call per block in one
// OpenMP region; called inside a region it is one single-threaded call. Deterministic for a fixed
// thread count.
#include <cblas.h>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/parallel.h"

namespace ish::cpu {
namespace {

void blas(bool tA, bool tB, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
          float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
              B, ldb, beta, C, ldc);
}
void blas(bool tA, bool tB, int M, int N, int K, double alpha, const double* A, int lda, const double* B, int ldb,
          double beta, double* C, int ldc) {
  cblas_dgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
              B, ldb, beta, C, ldc);
}

template <class T>
void gemm_impl(bool tA, bool tB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
               int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  // About 4 MFLOP per thread at least: below that the fork costs more than it saves.
  const int nt = team_size(M * N * std::max<int64_t>(K, 1), int64_t(2) << 20);
  if (nt <= 1) {
    if (omp_get_level() > 0) {
      blas(tA, tB, (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    } else {
      BlasSerial serial;
      blas(tA, tB, (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    }
    return;
  }
  const bool by_rows = M >= 16 * nt && M >= N;
  BlasSerial serial;
#pragma omp parallel num_threads(nt)
  {
    int64_t b, e;
    split_range(by_rows ? M : N, nt, omp_get_thread_num(), 16, b, e);
    if (e > b) {
      if (by_rows) {
        const T* a = tA ? A + b : A + b * lda;
        blas(tA, tB, (int)(e - b), (int)N, (int)K, alpha, a, (int)lda, B, (int)ldb, beta, C + b * ldc, (int)ldc);
      } else {
        const T* bb = tB ? B + b * ldb : B + b;
        blas(tA, tB, (int)M, (int)(e - b), (int)K, alpha, A, (int)lda, bb, (int)ldb, beta, C + b, (int)ldc);
      }
    }
  }
}

}  // namespace

template <>
void gemm<float>(bool tA, bool tB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_impl<float>(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
template <>
void gemm<double>(bool tA, bool tB, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
                  const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  gemm_impl<double>(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace ish::cpu
