// cuDNN convolutions in NHWC fp32 (filters KRSC = cuDNN's NHWC filter format). One plan per
// (op, shape, tf32, deterministic): descriptors plus the algorithm chosen by a one-time
// cudnnFind*Ex timing (or by cuDNN's heuristics: with ISHSCALE_CUDNN_FIND=0, and always in
// deterministic mode, where the choice must not depend on timing noise), then reused.
#ifdef ISHSCALE_CUDA
#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>

#include "engine/cuda/backend.h"
#include "engine/cuda/libs.h"

namespace ish::cuda {
namespace {

enum class ConvOp { Fwd, BwdData, BwdFilter };

using Key = std::array<int64_t, 18>;
Key make_key(ConvOp op, const ConvDims& d) {
  const Options& o = options();
  return {(int64_t)op, d.N, d.H, d.W, d.C, d.K, d.R, d.S, d.P, d.Q, d.sh, d.sw, d.ph, d.pw, d.dh, d.dw,
          (int64_t)o.tf32, (int64_t)o.deterministic};
}

struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  int algo = 0;
  size_t ws_bytes = 0;
  ~Plan() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};

bool use_find() {
  static const bool on = [] {
    const char* v = std::getenv("ISHSCALE_CUDNN_FIND");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return on;
}

// Memory offered to cudnnFind: large, so tensor-core algorithms with big workspaces are timed too.
// Taken with cudaMalloc once per plan (warm-up only) and released right after.
struct FindWorkspace {
  void* p = nullptr;
  size_t bytes = 0;
  FindWorkspace() {
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    bytes = std::min<size_t>(size_t(1) << 30, free_b / 4);
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
      cudaGetLastError();
      p = nullptr;
      bytes = 0;
    }
  }
  ~FindWorkspace() {
    if (p) cudaFree(p);  // cudaFree synchronises the device
  }
};

void check_int(const ConvDims& d) {
  const int64_t lim = (int64_t(1) << 31) - 1;
  ISH_CHECK(d.N * d.H * d.W * d.C <= lim && d.N * d.P * d.Q * d.K <= lim && d.K * d.R * d.S * d.C <= lim,
            "conv2d on cuda: tensor too large for cuDNN's 32-bit descriptors (N=", d.N, " H=", d.H, " W=", d.W,
            " C=", d.C, " K=", d.K, ")");
  ISH_CHECK(d.N >= 0 && d.C > 0 && d.K > 0 && d.R > 0 && d.S > 0 && d.P > 0 && d.Q > 0, "conv2d on cuda: bad dims");
}

Plan* make_plan(ConvOp op, const ConvDims& d) {
  auto p = std::make_unique<Plan>();
  const bool tf32 = options().tf32;
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, (int)d.N, (int)d.C, (int)d.H,
                                         (int)d.W));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, (int)d.N, (int)d.K, (int)d.P,
                                         (int)d.Q));
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, (int)d.K, (int)d.C, (int)d.R,
                                         (int)d.S));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, d.ph, d.pw, d.sh, d.sw, d.dh, d.dw, CUDNN_CROSS_CORRELATION,
                                              CUDNN_DATA_FLOAT));
  // FMA math forbids TF32: strict fp32. TENSOR_OP lets cuDNN use TF32 tensor cores.
  CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  int n = 0, c = 0, h = 0, w = 0;
  CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &n, &c, &h, &w));
  ISH_ASSERT(n == d.N && c == d.K && h == d.P && w == d.Q, "conv output dims disagree with cuDNN: P=", d.P, " Q=", d.Q,
             " vs ", h, " ", w);
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->bias));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, (int)d.K, 1, 1));
  return p.release();
}

// Picks the first (fastest for Find, best-ranked for heuristics) usable result. Without TF32 an
// entry that needs tensor-op math is skipped, and the descriptor is pinned to FMA math.
template <class Perf>
bool pick(const Perf* perf, int n, bool det, bool tf32, Plan* p) {
  for (int i = 0; i < n; i++) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
    if (det && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
    if (!tf32 && (perf[i].mathType == CUDNN_TENSOR_OP_MATH ||
                  perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;
    p->algo = (int)perf[i].algo;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, tf32 ? perf[i].mathType : CUDNN_FMA_MATH));
    return true;
  }
  return false;
}

std::map<Key, std::unique_ptr<Plan>>& cache() {
  static auto* m = new std::map<Key, std::unique_ptr<Plan>>();
  return *m;
}

Plan* get_plan(ConvOp op, const ConvDims& d, const void* a, const void* b, void* out) {
  Key k = make_key(op, d);
  auto it = cache().find(k);
  if (it != cache().end()) return it->second.get();
  check_int(d);
  Plan* p = make_plan(op, d);
  const bool tf32 = options().tf32, det = options().deterministic;
  // Deterministic mode ranks by heuristics, not timing: the same algorithm in every process, so a
  // resumed run repeats a straight one bitwise.
  const bool find = use_find() && !det;
  bool ok = false;
  if (op == ConvOp::Fwd) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0;
    if (find) {
      FindWorkspace fw;
      CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(cudnn(), p->x, a, p->w, b, p->conv, p->y, out,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf, fw.p, fw.bytes));
    } else {
      CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(cudnn(), p->x, p->w, p->conv, p->y,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
    }
    ok = pick(perf, n, det, tf32, p);
  } else if (op == ConvOp::BwdData) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int n = 0;
    if (find) {
      FindWorkspace fw;
      CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(cudnn(), p->w, b, p->y, a, p->conv, p->x, out,
                                                              CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf, fw.p,
                                                              fw.bytes));
    } else {
      CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnn(), p->w, p->y, p->conv, p->x,
                                                              CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
    }
    ok = pick(perf, n, det, tf32, p);
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int n = 0;
    if (find) {
      FindWorkspace fw;
      CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(cudnn(), p->x, a, p->y, b, p->conv, p->w, out,
                                                                CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf,
                                                                fw.p, fw.bytes));
    } else {
      CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnn(), p->x, p->y, p->conv, p->w,
                                                                CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf));
    }
    ok = pick(perf, n, det, tf32, p);
  }
  if (ok) {  // the workspace for the final (algorithm, math type)
    if (op == ConvOp::Fwd)
      CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(cudnn(), p->x, p->w, p->conv, p->y,
                                                          (cudnnConvolutionFwdAlgo_t)p->algo, &p->ws_bytes));
    else if (op == ConvOp::BwdData)
      CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(cudnn(), p->w, p->y, p->conv, p->x,
                                                               (cudnnConvolutionBwdDataAlgo_t)p->algo, &p->ws_bytes));
    else
      CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
          cudnn(), p->x, p->y, p->conv, p->w, (cudnnConvolutionBwdFilterAlgo_t)p->algo, &p->ws_bytes));
  }
  if (!ok) {
    delete p;
    fail("conv2d on cuda: cuDNN offers no ", det ? "deterministic " : "", "algorithm for N=", d.N, " H=", d.H,
         " W=", d.W, " C=", d.C, " K=", d.K, " R=", d.R, " S=", d.S);
  }
  cache()[k].reset(p);
  return p;
}

const float kOne = 1.f, kZero = 0.f;

// ISHSCALE_SYNC=1: library calls are launches too; wait so that a fault names the call.
void debug_sync(const char* what) {
  if (sync_each_launch()) {
    cudaError_t e = cudaStreamSynchronize(stream());
    if (e != cudaSuccess) throw_cuda(what, __FILE__, __LINE__, cudaGetErrorString(e));
  }
}

}  // namespace

void conv2d_fwd(const ConvDims& d, const float* x, const float* w, const float* b, float* y) {
  if (d.N == 0) return;
  Plan* p = get_plan(ConvOp::Fwd, d, x, w, y);
  void* ws = p->ws_bytes ? workspace(p->ws_bytes) : nullptr;
  CUDNN_CHECK(cudnnConvolutionForward(cudnn(), &kOne, p->x, x, p->w, w, p->conv, (cudnnConvolutionFwdAlgo_t)p->algo,
                                      ws, p->ws_bytes, &kZero, p->y, y));
  if (b) CUDNN_CHECK(cudnnAddTensor(cudnn(), &kOne, p->bias, b, &kOne, p->y, y));
  debug_sync("conv2d_fwd (ISHSCALE_SYNC)");
}

void conv2d_bwd_data(const ConvDims& d, const float* dy, const float* w, float* dx) {
  if (d.N == 0) return;
  Plan* p = get_plan(ConvOp::BwdData, d, dy, w, dx);
  void* ws = p->ws_bytes ? workspace(p->ws_bytes) : nullptr;
  CUDNN_CHECK(cudnnConvolutionBackwardData(cudnn(), &kOne, p->w, w, p->y, dy, p->conv,
                                           (cudnnConvolutionBwdDataAlgo_t)p->algo, ws, p->ws_bytes, &kZero, p->x, dx));
  debug_sync("conv2d_bwd_data (ISHSCALE_SYNC)");
}

void conv2d_bwd_filter(const ConvDims& d, const float* x, const float* dy, float* dw, float* db) {
  if (d.N == 0) {
    CUDA_CHECK(cudaMemsetAsync(dw, 0, sizeof(float) * d.K * d.R * d.S * d.C, stream()));
    if (db) CUDA_CHECK(cudaMemsetAsync(db, 0, sizeof(float) * d.K, stream()));
    return;
  }
  Plan* p = get_plan(ConvOp::BwdFilter, d, x, dy, dw);
  void* ws = p->ws_bytes ? workspace(p->ws_bytes) : nullptr;
  CUDNN_CHECK(cudnnConvolutionBackwardFilter(cudnn(), &kOne, p->x, x, p->y, dy, p->conv,
                                             (cudnnConvolutionBwdFilterAlgo_t)p->algo, ws, p->ws_bytes, &kZero, p->w,
                                             dw));
  if (db) CUDNN_CHECK(cudnnConvolutionBackwardBias(cudnn(), &kOne, p->y, dy, &kZero, p->bias, db));
  debug_sync("conv2d_bwd_filter (ISHSCALE_SYNC)");
}

void gemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  const int64_t lim = (int64_t(1) << 31) - 1;
  ISH_CHECK(M <= lim && N <= lim && K <= lim && lda <= lim && ldb <= lim && ldc <= lim,
            "gemm on cuda: dimension exceeds 32 bits (M=", M, " N=", N, " K=", K, ")");
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
  const cublasComputeType_t ct = options().tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  CUBLAS_CHECK(cublasGemmEx(cublas(), tB ? CUBLAS_OP_T : CUBLAS_OP_N, tA ? CUBLAS_OP_T : CUBLAS_OP_N, (int)N, (int)M,
                            (int)K, &alpha, B, CUDA_R_32F, (int)ldb, A, CUDA_R_32F, (int)lda, &beta, C, CUDA_R_32F,
                            (int)ldc, ct, CUBLAS_GEMM_DEFAULT));
  debug_sync("gemm (ISHSCALE_SYNC)");
}

}  // namespace ish::cuda
#endif
