// cuDNN convolutions in NHWC fp32 (filters KRSC = cuDNN's NHWC filter format). One plan per
// (op, shape, tf32, deterministic): descriptors plus the candidate algorithms, ranked by a one-time
// cudnnFind*Ex timing (or by cuDNN's heuristics: with ISHSCALE_CUDNN_FIND=0, and always in
// deterministic mode, where the choice must not depend on timing noise). The first candidate is
// used until it fails at run time; then the next (engine/cuda/conv_algos.h).
#ifdef ISHSCALE_CUDA
#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/cuda/backend.h"
#include "engine/cuda/conv_algos.h"
#include "engine/cuda/libs.h"

namespace ish::cuda {
namespace {

using Key = std::array<int64_t, 18>;
Key make_key(ConvOp op, const ConvDims& d) {
  const Options& o = options();
  return {(int64_t)op, d.N, d.H, d.W, d.C, d.K, d.R, d.S, d.P, d.Q, d.sh, d.sw, d.ph, d.pw, d.dh, d.dw,
          (int64_t)o.tf32_conv(), (int64_t)o.deterministic};
}

struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  AlgoFallback fb;
  size_t prepared = SIZE_MAX;  // the candidate the descriptor's math type and ws_bytes belong to
  size_t ws_bytes = 0;
  bool tf32 = false, det = false;
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
// It comes from the caching allocator after the cached blocks are released (so memory parked there
// counts as free), and goes back to it afterwards. Plans are made in warm-up only.
struct FindWorkspace {
  void* p = nullptr;
  size_t bytes = 0;
  FindWorkspace() {
    empty_cache();
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    bytes = std::min<size_t>(size_t(1) << 30, free_b / 4);
    while (bytes >= (size_t(1) << 20) && !(p = device_try_alloc(bytes))) bytes /= 2;
    if (!p) bytes = 0;
  }
  ~FindWorkspace() { device_free(p); }
  FindWorkspace(const FindWorkspace&) = delete;
  FindWorkspace& operator=(const FindWorkspace&) = delete;
};

void check_int(const ConvDims& d) {
  const int64_t lim = (int64_t(1) << 31) - 1;
  ISH_CHECK(d.N * d.H * d.W * d.C <= lim && d.N * d.P * d.Q * d.K <= lim && d.K * d.R * d.S * d.C <= lim,
            "conv2d on cuda: tensor too large for cuDNN's 32-bit descriptors (N=", d.N, " H=", d.H, " W=", d.W,
            " C=", d.C, " K=", d.K, ")");
  ISH_CHECK(d.N >= 0 && d.C > 0 && d.K > 0 && d.R > 0 && d.S > 0 && d.P > 0 && d.Q > 0, "conv2d on cuda: bad dims");
}

std::unique_ptr<Plan> make_plan(const ConvDims& d) {
  auto p = std::make_unique<Plan>();
  p->tf32 = options().tf32_conv();
  p->det = options().deterministic;
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
  CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, p->tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  int n = 0, c = 0, h = 0, w = 0;
  CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &n, &c, &h, &w));
  ISH_ASSERT(n == d.N && c == d.K && h == d.P && w == d.Q, "conv output dims disagree with cuDNN: P=", d.P, " Q=", d.Q,
             " vs ", h, " ", w);
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->bias));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, (int)d.K, 1, 1));
  return p;
}

template <class Perf>
std::vector<AlgoResult> results(const Perf* perf, int n) {
  std::vector<AlgoResult> r;
  for (int i = 0; i < n; i++)
    r.push_back({(int)perf[i].algo, (int)perf[i].mathType, perf[i].status == CUDNN_STATUS_SUCCESS,
                 perf[i].determinism == CUDNN_DETERMINISTIC,
                 perf[i].mathType == CUDNN_TENSOR_OP_MATH || perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION});
  return r;
}

// cuDNN's ranked results for this plan: timed by Find (on the real buffers) or from heuristics.
std::vector<AlgoResult> rank(ConvOp op, Plan* p, bool find, const void* a, const void* b, void* out) {
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
    return results(perf, n);
  }
  if (op == ConvOp::BwdData) {
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
    return results(perf, n);
  }
  cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
  int n = 0;
  if (find) {
    FindWorkspace fw;
    CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(cudnn(), p->x, a, p->y, b, p->conv, p->w, out,
                                                              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf, fw.p,
                                                              fw.bytes));
  } else {
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnn(), p->x, p->y, p->conv, p->w,
                                                              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf));
  }
  return results(perf, n);
}

// Sets the current candidate's math type and workspace size; false when cuDNN refuses it.
bool prepare(ConvOp op, Plan* p) {
  const AlgoChoice& c = p->fb.current();
  if (cudnnSetConvolutionMathType(p->conv, (cudnnMathType_t)c.math) != CUDNN_STATUS_SUCCESS) return false;
  cudnnStatus_t s;
  if (op == ConvOp::Fwd)
    s = cudnnGetConvolutionForwardWorkspaceSize(cudnn(), p->x, p->w, p->conv, p->y, (cudnnConvolutionFwdAlgo_t)c.algo,
                                                &p->ws_bytes);
  else if (op == ConvOp::BwdData)
    s = cudnnGetConvolutionBackwardDataWorkspaceSize(cudnn(), p->w, p->y, p->conv, p->x,
                                                     (cudnnConvolutionBwdDataAlgo_t)c.algo, &p->ws_bytes);
  else
    s = cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnn(), p->x, p->y, p->conv, p->w,
                                                       (cudnnConvolutionBwdFilterAlgo_t)c.algo, &p->ws_bytes);
  if (s != CUDNN_STATUS_SUCCESS) return false;
  p->prepared = p->fb.cur;
  return true;
}

struct Cache {
  std::mutex mu;  // held for a whole conv call: plans and their descriptors are shared state
  std::map<Key, std::unique_ptr<Plan>> plans;
};
Cache& cache() {
  static auto* c = new Cache();
  return *c;
}

std::string dims_str(const ConvDims& d) {
  return str("N=", d.N, " H=", d.H, " W=", d.W, " C=", d.C, " K=", d.K, " R=", d.R, " S=", d.S, " stride ", d.sh,
             " pad ", d.ph, " dilation ", d.dh);
}

Plan* get_plan(ConvOp op, const ConvDims& d, const void* a, const void* b, void* out) {
  Key k = make_key(op, d);
  auto it = cache().plans.find(k);
  if (it != cache().plans.end()) return it->second.get();
  check_int(d);
  std::unique_ptr<Plan> p = make_plan(d);
  // Deterministic mode ranks by heuristics, not timing: the same algorithm in every process, so a
  // resumed run repeats a straight one bitwise.
  const bool find = use_find() && !p->det;
  p->fb.order = conv_algo_order(rank(op, p.get(), find, a, b, out), p->det, p->tf32, (int)CUDNN_FMA_MATH);
  ISH_CHECK(!p->fb.empty(), "conv2d on cuda: cuDNN offers no ", p->det ? "deterministic " : "", "algorithm for ",
            dims_str(d));
  Plan* raw = p.get();
  cache().plans[k] = std::move(p);
  return raw;
}

const char* op_name(ConvOp op) {
  return op == ConvOp::Fwd ? "cudnnConvolutionForward"
                           : op == ConvOp::BwdData ? "cudnnConvolutionBackwardData" : "cudnnConvolutionBackwardFilter";
}

// Runs `call(algo, workspace, bytes)` with the plan's current candidate; when it fails with a
// status worth a retry, or its workspace cannot be allocated, moves on to the next candidate.
template <class Call>
void run_conv(ConvOp op, const ConvDims& d, Plan* p, Call call) {
  std::string why;
  for (; !p->fb.empty(); p->fb.fail()) {
    if (p->prepared != p->fb.cur && !prepare(op, p)) {
      why = str("algorithm ", p->fb.current().algo, " not supported");
      continue;
    }
    void* ws = nullptr;
    if (p->ws_bytes && !(ws = try_workspace(p->ws_bytes))) {
      why = str("algorithm ", p->fb.current().algo, ": no memory for its ", p->ws_bytes, "-byte workspace");
      continue;
    }
    const cudnnStatus_t s = call((int)p->fb.current().algo, ws, p->ws_bytes);
    if (s == CUDNN_STATUS_SUCCESS) {
      library_launched(op_name(op), __FILE__, __LINE__);
      return;
    }
    const cudaError_t ce = cudaGetLastError();  // a kernel fault is no reason to try another algorithm
    if (classify(ce) == Failure::KernelFault) throw_cuda_error(op_name(op), __FILE__, __LINE__, ce);
    if (!conv_status_retryable((int)s)) throw_cuda(op_name(op), __FILE__, __LINE__, cudnnGetErrorString(s));
    why = str("algorithm ", p->fb.current().algo, ": ", cudnnGetErrorString(s));
  }
  fail("conv2d on cuda: every cuDNN algorithm failed for ", dims_str(d), " (last: ", why, ")");
}

const float kOne = 1.f, kZero = 0.f;

}  // namespace

std::vector<ConvPlanInfo> conv_plans() {
  std::lock_guard<std::mutex> lock(cache().mu);
  std::vector<ConvPlanInfo> r;
  for (auto& [k, p] : cache().plans) {
    ConvPlanInfo i;
    i.op = (ConvOp)k[0];
    i.dims = ConvDims{k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8], k[9],
                      (int)k[10], (int)k[11], (int)k[12], (int)k[13], (int)k[14], (int)k[15]};
    i.tf32 = p->tf32;
    i.deterministic_mode = p->det;
    if (!p->fb.empty()) i.current = p->fb.current();
    i.candidates_left = (int)(p->fb.order.size() - std::min(p->fb.cur, p->fb.order.size()));
    r.push_back(i);
  }
  return r;
}

void conv2d_fwd(const ConvDims& d, const float* x, const float* w, const float* b, float* y) {
  if (d.N == 0) return;
  std::lock_guard<std::mutex> lock(cache().mu);
  Plan* p = get_plan(ConvOp::Fwd, d, x, w, y);
  run_conv(ConvOp::Fwd, d, p, [&](int algo, void* ws, size_t wsb) {
    return cudnnConvolutionForward(cudnn(), &kOne, p->x, x, p->w, w, p->conv, (cudnnConvolutionFwdAlgo_t)algo, ws,
                                   wsb, &kZero, p->y, y);
  });
  if (b) {
    CUDNN_CHECK(cudnnAddTensor(cudnn(), &kOne, p->bias, b, &kOne, p->y, y));
    library_launched("cudnnAddTensor (conv bias)", __FILE__, __LINE__);
  }
}

void conv2d_bwd_data(const ConvDims& d, const float* dy, const float* w, float* dx) {
  if (d.N == 0) return;
  std::lock_guard<std::mutex> lock(cache().mu);
  Plan* p = get_plan(ConvOp::BwdData, d, dy, w, dx);
  run_conv(ConvOp::BwdData, d, p, [&](int algo, void* ws, size_t wsb) {
    return cudnnConvolutionBackwardData(cudnn(), &kOne, p->w, w, p->y, dy, p->conv,
                                        (cudnnConvolutionBwdDataAlgo_t)algo, ws, wsb, &kZero, p->x, dx);
  });
}

void conv2d_bwd_filter(const ConvDims& d, const float* x, const float* dy, float* dw, float* db) {
  if (d.N == 0) {
    if (dw) CUDA_CHECK(cudaMemsetAsync(dw, 0, sizeof(float) * d.K * d.R * d.S * d.C, stream()));
    if (db) CUDA_CHECK(cudaMemsetAsync(db, 0, sizeof(float) * d.K, stream()));
    return;
  }
  std::lock_guard<std::mutex> lock(cache().mu);
  Plan* p = nullptr;
  std::unique_ptr<Plan> descs_only;
  if (dw) {
    p = get_plan(ConvOp::BwdFilter, d, x, dy, dw);
    run_conv(ConvOp::BwdFilter, d, p, [&](int algo, void* ws, size_t wsb) {
      return cudnnConvolutionBackwardFilter(cudnn(), &kOne, p->x, x, p->y, dy, p->conv,
                                            (cudnnConvolutionBwdFilterAlgo_t)algo, ws, wsb, &kZero, p->w, dw);
    });
  } else if (db) {  // a frozen weight with a trainable bias: descriptors only, no algorithm search
    check_int(d);
    descs_only = make_plan(d);
    p = descs_only.get();
  }
  if (db) {
    CUDNN_CHECK(cudnnConvolutionBackwardBias(cudnn(), &kOne, p->y, dy, &kZero, p->bias, db));
    library_launched("cudnnConvolutionBackwardBias", __FILE__, __LINE__);
  }
}

void gemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  const int64_t lim = (int64_t(1) << 31) - 1;
  ISH_CHECK(M <= lim && N <= lim && K <= lim && lda <= lim && ldb <= lim && ldc <= lim,
            "gemm on cuda: dimension exceeds 32 bits (M=", M, " N=", N, " K=", K, ")");
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands. TF32 only
  // with --tf32 all (PyTorch's default keeps GEMMs in fp32).
  const cublasComputeType_t ct = options().tf32_gemm() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  CUBLAS_CHECK(cublasGemmEx(cublas(), tB ? CUBLAS_OP_T : CUBLAS_OP_N, tA ? CUBLAS_OP_T : CUBLAS_OP_N, (int)N, (int)M,
                            (int)K, &alpha, B, CUDA_R_32F, (int)ldb, A, CUDA_R_32F, (int)lda, &beta, C, CUDA_R_32F,
                            (int)ldc, ct, CUBLAS_GEMM_DEFAULT));
  library_launched("cublasGemmEx", __FILE__, __LINE__);
}

}  // namespace ish::cuda
#endif
