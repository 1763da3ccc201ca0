// BatchNorm over x [M,C] (NHWC flattened), fused with the optional residual add and ReLU.
// Train forward: a partial-sum pass (per channel tile x row chunk, double accumulators, fixed
// order), a per-channel finalize (batch mean/invstd, running stats with the unbiased variance,
// the folded per-channel mean/scale/shift) and one element-wise apply pass. Eval: no finalize and
// no fold kernel: each apply thread folds the running statistics of its own channels once, in
// registers. Backward: one reduction pass for dgamma/dbeta (with the ReLU mask applied to dy on
// the fly), one element-wise pass for dx and dresidual. The element-wise passes use 16-byte
// accesses when C % 4 == 0, and each thread keeps one column for its whole life (no 64-bit modulo
// per element). No atomics anywhere: results are bitwise reproducible on a given GPU.
#include <algorithm>

#include "kernels/common.cuh"

namespace ish::cuda {
namespace {

constexpr int kTX = 32, kTY = 16;  // reduction block: 32 channels x 16 rows

struct RowSplit {
  int G;             // row chunks (grid.y)
  int64_t rows_per;  // rows per chunk
};
RowSplit split_rows(int64_t M, int64_t C) {
  const int64_t ctiles = ceil_div(C, kTX);
  const int64_t want = std::max<int64_t>(1, (int64_t)sm_count() * 8 / ctiles);
  const int64_t rows_per = std::max<int64_t>(kTY * 4, ceil_div(M, want));
  return {(int)ceil_div(M, rows_per), rows_per};
}

// The two column reductions (forward statistics, backward dbeta/dgamma) write per chunk g and channel
// c the pair part[(g*C + c)*2 + {0,1}]. Every thread of a kTY x kTX block holds its rows' sums (s, ss)
// of column c; thread row 0 adds the other rows' in order and writes the pair. All threads call it.
__device__ __forceinline__ void store_chunk_sums(double s, double ss, int64_t c, int64_t C,
                                                 double* __restrict__ part) {
  const int tx = threadIdx.x, ty = threadIdx.y;
  __shared__ double sh[2][kTY][kTX + 1];
  sh[0][ty][tx] = s;
  sh[1][ty][tx] = ss;
  __syncthreads();
  if (ty == 0 && c < C) {
    for (int j = 1; j < kTY; j++) {
      s += sh[0][j][tx];
      ss += sh[1][j][tx];
    }
    part[((int64_t)blockIdx.y * C + c) * 2] = s;
    part[((int64_t)blockIdx.y * C + c) * 2 + 1] = ss;
  }
}
// Channel c's pair summed over the G chunks, in chunk order.
__device__ __forceinline__ void sum_chunks(const double* __restrict__ part, int G, int64_t C, int64_t c, double& s,
                                           double& ss) {
  s = 0;
  ss = 0;
  for (int g = 0; g < G; g++) {
    s += part[((int64_t)g * C + c) * 2];
    ss += part[((int64_t)g * C + c) * 2 + 1];
  }
}

// part pairs = sum x, sum x^2 over the chunk's rows.
__global__ void bn_stats_partial(const float* __restrict__ x, int64_t M, int64_t C, int64_t rows_per,
                                 double* __restrict__ part) {
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = (int64_t)blockIdx.x * kTX + tx;
  const int64_t r0 = (int64_t)blockIdx.y * rows_per, r1 = min(M, r0 + rows_per);
  double s = 0, ss = 0;
  if (c < C)
    for (int64_t r = r0 + ty; r < r1; r += kTY) {
      const double v = x[r * C + c];
      s += v;
      ss += v * v;
    }
  store_chunk_sums(s, ss, c, C, part);
}

// ch = [mean | scale | shift] per channel, so that y = (x - mean) * scale + shift.
__global__ void bn_finalize_train(const double* __restrict__ part, int G, int64_t M, int64_t C,
                                  const float* __restrict__ gamma, const float* __restrict__ beta, double eps,
                                  double mom, float* save_mean, float* save_invstd, float* rmean, float* rvar,
                                  float* ch) {
  const int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double s, ss;
  sum_chunks(part, G, C, c, s, ss);
  const double mean = s / (double)M;
  const double var = fmax(ss / (double)M - mean * mean, 0.0);  // biased: used to normalise
  const double invstd = 1.0 / sqrt(var + eps);
  save_mean[c] = (float)mean;
  save_invstd[c] = (float)invstd;
  if (rmean) rmean[c] = (float)((1.0 - mom) * (double)rmean[c] + mom * mean);
  if (rvar) rvar[c] = (float)((1.0 - mom) * (double)rvar[c] + mom * var * (double)M / (double)(M - 1));
  ch[c] = (float)mean;
  ch[C + c] = (float)(invstd * (gamma ? (double)gamma[c] : 1.0));
  ch[2 * C + c] = beta ? beta[c] : 0.f;
}

// An element-wise pass over n items laid out as rows of Cv columns (Cv = C, or C/4 float4s).
// Thread t starts at item t and strides by T - T % Cv (T = threads in the grid, made >= Cv), so
// its column t % Cv never changes: one modulo per thread, per-channel constants in registers.
struct ColumnLoop {
  int64_t col, start, stride;
  __device__ ColumnLoop(int64_t Cv) {
    start = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t T = (int64_t)gridDim.x * blockDim.x;
    stride = T - T % Cv;
    col = start % Cv;
  }
  __device__ bool active() const { return start < stride; }
};
constexpr int kBlock = 256;
int column_grid(int64_t n, int64_t Cv) {
  return (int)std::max<int64_t>(grid_for(n, kBlock), ceil_div(Cv, kBlock));
}

// Per-channel y = (x - mean) * scale + shift. Train: read from the finalize kernel's [mean | scale
// | shift]. Eval (ch null): folded from the running statistics, in double, rounded once.
struct ChanParams {
  const float* ch;
  const float *gamma, *beta, *rmean, *rvar;
  double eps;
  int64_t C;
  __device__ void get(int64_t c, float& m, float& s, float& b) const {
    if (ch) {
      m = ch[c];
      s = ch[C + c];
      b = ch[2 * C + c];
    } else {
      m = rmean[c];
      s = (float)((gamma ? (double)gamma[c] : 1.0) / sqrt((double)rvar[c] + eps));
      b = beta ? beta[c] : 0.f;
    }
  }
};

template <bool RELU, bool RES>
__device__ __forceinline__ float bn_out(float x, float m, float s, float b, float r) {
  float v = (x - m) * s + b;
  if (RES) v += r;
  if (RELU) v = v < 0.f ? 0.f : v;  // NaN passes through, as torch.relu
  return v;
}

template <bool RELU, bool RES>
__global__ void bn_apply(int64_t n, ChanParams cp, const float* __restrict__ x, const float* __restrict__ res,
                         float* __restrict__ y) {
  const ColumnLoop L(cp.C);
  if (!L.active()) return;
  float m, s, b;
  cp.get(L.col, m, s, b);
  for (int64_t i = L.start; i < n; i += L.stride) y[i] = bn_out<RELU, RES>(x[i], m, s, b, RES ? res[i] : 0.f);
}
// 16-byte variant: C % 4 == 0 and every pointer 16-byte aligned; n4 = n / 4.
template <bool RELU, bool RES>
__global__ void bn_apply4(int64_t n4, ChanParams cp, const float4* __restrict__ x, const float4* __restrict__ res,
                          float4* __restrict__ y) {
  const ColumnLoop L(cp.C / 4);
  if (!L.active()) return;
  float m[4], s[4], b[4];
  for (int k = 0; k < 4; k++) cp.get(L.col * 4 + k, m[k], s[k], b[k]);
  for (int64_t i = L.start; i < n4; i += L.stride) {
    const float4 v = x[i];
    const float4 r = RES ? res[i] : make_float4(0.f, 0.f, 0.f, 0.f);
    float4 o;
    o.x = bn_out<RELU, RES>(v.x, m[0], s[0], b[0], r.x);
    o.y = bn_out<RELU, RES>(v.y, m[1], s[1], b[1], r.y);
    o.z = bn_out<RELU, RES>(v.z, m[2], s[2], b[2], r.z);
    o.w = bn_out<RELU, RES>(v.w, m[3], s[3], b[3], r.w);
    y[i] = o;
  }
}

template <bool RELU, bool RES>
void launch_apply(int64_t M, const ChanParams& cp, const float* x, const float* res, float* y) {
  const int64_t n = M * cp.C;
  if (cp.C % 4 == 0 && aligned16(x) && aligned16(res) && aligned16(y)) {
    bn_apply4<RELU, RES><<<column_grid(n / 4, cp.C / 4), kBlock, 0, stream()>>>(n / 4, cp, (const float4*)x,
                                                                               (const float4*)res, (float4*)y);
    CHECK_LAUNCH("bn_apply4");
  } else {
    bn_apply<RELU, RES><<<column_grid(n, cp.C), kBlock, 0, stream()>>>(n, cp, x, res, y);
    CHECK_LAUNCH("bn_apply");
  }
}

void apply(int64_t M, const ChanParams& cp, const float* x, const float* res, bool relu, float* y) {
  if (relu && res) launch_apply<true, true>(M, cp, x, res, y);
  else if (relu) launch_apply<true, false>(M, cp, x, res, y);
  else if (res) launch_apply<false, true>(M, cp, x, res, y);
  else launch_apply<false, false>(M, cp, x, res, y);
}

// Backward partial sums: dbeta = sum dz, dgamma = sum dz * xhat, dz = dy masked by y > 0.
__global__ void bn_bwd_partial(const float* __restrict__ dy, const float* __restrict__ y,
                               const float* __restrict__ x, const float* __restrict__ mean,
                               const float* __restrict__ invstd, int64_t M, int64_t C, int64_t rows_per,
                               double* __restrict__ part) {
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = (int64_t)blockIdx.x * kTX + tx;
  const int64_t r0 = (int64_t)blockIdx.y * rows_per, r1 = min(M, r0 + rows_per);
  double s = 0, ss = 0;
  if (c < C) {
    const float m = mean[c], is = invstd[c];
    for (int64_t r = r0 + ty; r < r1; r += kTY) {
      const int64_t i = r * C + c;
      float g = dy[i];
      if (y && !(y[i] > 0.f)) g = 0.f;
      s += g;
      ss += (double)g * (double)((x[i] - m) * is);
    }
  }
  store_chunk_sums(s, ss, c, C, part);
}

// ch = [gamma*invstd | dbeta/M | dgamma/M] (the last two are zero in eval mode).
__global__ void bn_bwd_finalize(const double* __restrict__ part, int G, int64_t M, int64_t C, bool training,
                                const float* __restrict__ gamma, const float* __restrict__ invstd, float* dgamma,
                                float* dbeta, float* ch) {
  const int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double s, ss;
  sum_chunks(part, G, C, c, s, ss);
  if (dbeta) dbeta[c] = (float)s;
  if (dgamma) dgamma[c] = (float)ss;
  ch[c] = (gamma ? gamma[c] : 1.f) * invstd[c];
  ch[C + c] = training ? (float)(s / (double)M) : 0.f;
  ch[2 * C + c] = training ? (float)(ss / (double)M) : 0.f;
}

// dx and dresidual for one element of channel c: k = [gamma*invstd, dbeta/M, dgamma/M, mean, invstd].
template <bool MASK, bool TRAIN>
__device__ __forceinline__ void bn_dx_one(float dy, float y, float x, const float k[5], float* dx, float* dres) {
  float g = dy;
  if (MASK && !(y > 0.f)) g = 0.f;
  *dres = g;
  if (TRAIN) {
    const float xh = (x - k[3]) * k[4];
    *dx = k[0] * (g - k[1] - xh * k[2]);
  } else {
    *dx = k[0] * g;
  }
}

template <bool MASK, bool TRAIN>
__global__ void bn_bwd_dx(int64_t n, int64_t C, const float* __restrict__ dy, const float* __restrict__ y,
                          const float* __restrict__ x, const float* __restrict__ mean,
                          const float* __restrict__ invstd, const float* __restrict__ ch, float* dx, float* dres) {
  const ColumnLoop L(C);
  if (!L.active()) return;
  const int64_t c = L.col;
  const float k[5] = {ch[c], ch[C + c], ch[2 * C + c], TRAIN ? mean[c] : 0.f, TRAIN ? invstd[c] : 0.f};
  for (int64_t i = L.start; i < n; i += L.stride) {
    float d, r;
    bn_dx_one<MASK, TRAIN>(dy[i], MASK ? y[i] : 0.f, TRAIN ? x[i] : 0.f, k, &d, &r);
    if (dres) dres[i] = r;
    if (dx) dx[i] = d;
  }
}
// 16-byte variant: C % 4 == 0 and every pointer 16-byte aligned; n4 = n / 4.
template <bool MASK, bool TRAIN>
__global__ void bn_bwd_dx4(int64_t n4, int64_t C, const float4* __restrict__ dy, const float4* __restrict__ y,
                           const float4* __restrict__ x, const float* __restrict__ mean,
                           const float* __restrict__ invstd, const float* __restrict__ ch, float4* dx, float4* dres) {
  const ColumnLoop L(C / 4);
  if (!L.active()) return;
  float k[4][5];
  for (int j = 0; j < 4; j++) {
    const int64_t c = L.col * 4 + j;
    k[j][0] = ch[c];
    k[j][1] = ch[C + c];
    k[j][2] = ch[2 * C + c];
    k[j][3] = TRAIN ? mean[c] : 0.f;
    k[j][4] = TRAIN ? invstd[c] : 0.f;
  }
  const float4 zero = make_float4(0.f, 0.f, 0.f, 0.f);
  for (int64_t i = L.start; i < n4; i += L.stride) {
    const float4 g = dy[i], yv = MASK ? y[i] : zero, xv = TRAIN ? x[i] : zero;
    float4 d, r;
    bn_dx_one<MASK, TRAIN>(g.x, yv.x, xv.x, k[0], &d.x, &r.x);
    bn_dx_one<MASK, TRAIN>(g.y, yv.y, xv.y, k[1], &d.y, &r.y);
    bn_dx_one<MASK, TRAIN>(g.z, yv.z, xv.z, k[2], &d.z, &r.z);
    bn_dx_one<MASK, TRAIN>(g.w, yv.w, xv.w, k[3], &d.w, &r.w);
    if (dres) dres[i] = r;
    if (dx) dx[i] = d;
  }
}

template <bool MASK, bool TRAIN>
void launch_dx(int64_t M, int64_t C, const float* dy, const float* y, const float* x, const float* mean,
               const float* invstd, const float* ch, float* dx, float* dres) {
  const int64_t n = M * C;
  if (C % 4 == 0 && aligned16(dy) && aligned16(y) && aligned16(x) && aligned16(dx) && aligned16(dres)) {
    bn_bwd_dx4<MASK, TRAIN><<<column_grid(n / 4, C / 4), kBlock, 0, stream()>>>(
        n / 4, C, (const float4*)dy, (const float4*)y, (const float4*)x, mean, invstd, ch, (float4*)dx, (float4*)dres);
    CHECK_LAUNCH("bn_bwd_dx4");
  } else {
    bn_bwd_dx<MASK, TRAIN><<<column_grid(n, C), kBlock, 0, stream()>>>(n, C, dy, y, x, mean, invstd, ch, dx, dres);
    CHECK_LAUNCH("bn_bwd_dx");
  }
}

__global__ void bn_eval_stats_k(int64_t C, const float* __restrict__ rmean, const float* __restrict__ rvar,
                                double eps, float* __restrict__ mean, float* __restrict__ invstd) {
  const int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  mean[c] = rmean[c];
  invstd[c] = (float)(1.0 / sqrt((double)rvar[c] + eps));
}

void check_bn(int64_t M, int64_t C, const float* x, const float* y, const char* what) {
  ISH_CHECK(M >= 0 && C > 0, what, ": bad sizes M=", M, " C=", C);
  ISH_CHECK(x && y, what, ": null input or output");
}

}  // namespace

void bn_train_fwd(int64_t M, int64_t C, const float* x, const float* gamma, const float* beta,
                  const float* residual, bool relu, double eps, double momentum, float* y, float* save_mean,
                  float* save_invstd, float* running_mean, float* running_var) {
  check_bn(M, C, x, y, "batch_norm (train) on cuda");
  ISH_CHECK(M > 1, "batch_norm (train) on cuda: need more than one value per channel, got M=", M);
  ISH_CHECK(save_mean && save_invstd, "batch_norm (train) on cuda: null save_mean/save_invstd");
  const RowSplit rs = split_rows(M, C);
  Scratch part(sizeof(double) * 2 * (size_t)rs.G * C), ch(sizeof(float) * 3 * (size_t)C);
  bn_stats_partial<<<dim3((unsigned)ceil_div(C, kTX), rs.G), dim3(kTX, kTY), 0, stream()>>>(x, M, C, rs.rows_per,
                                                                                          part.as<double>());
  CHECK_LAUNCH("bn_stats_partial");
  bn_finalize_train<<<(unsigned)ceil_div(C, 128), 128, 0, stream()>>>(
      part.as<double>(), rs.G, M, C, gamma, beta, eps, momentum, save_mean, save_invstd, running_mean, running_var,
      ch.as<float>());
  CHECK_LAUNCH("bn_finalize_train");
  apply(M, ChanParams{ch.as<float>(), nullptr, nullptr, nullptr, nullptr, 0.0, C}, x, residual, relu, y);
}

void bn_eval_fwd(int64_t M, int64_t C, const float* x, const float* gamma, const float* beta, const float* residual,
                 bool relu, double eps, const float* running_mean, const float* running_var, float* y) {
  check_bn(M, C, x, y, "batch_norm (eval) on cuda");
  ISH_CHECK(running_mean && running_var, "batch_norm (eval) on cuda: null running statistics");
  if (M == 0) return;
  apply(M, ChanParams{nullptr, gamma, beta, running_mean, running_var, eps, C}, x, residual, relu, y);
}

void bn_eval_stats(int64_t C, const float* running_mean, const float* running_var, double eps, float* mean,
                   float* invstd) {
  ISH_CHECK(C > 0 && running_mean && running_var && mean && invstd, "batch_norm eval statistics on cuda: bad input");
  bn_eval_stats_k<<<(unsigned)ceil_div(C, 128), 128, 0, stream()>>>(C, running_mean, running_var, eps, mean, invstd);
  CHECK_LAUNCH("bn_eval_stats");
}

void bn_bwd(int64_t M, int64_t C, bool training, const float* dy, const float* y, const float* x, const float* gamma,
            const float* mean, const float* invstd, float* dx, float* dgamma, float* dbeta, float* dresidual) {
  ISH_CHECK(M >= 0 && C > 0, "batch_norm backward on cuda: bad sizes M=", M, " C=", C);
  ISH_CHECK(dy && x && mean && invstd, "batch_norm backward on cuda: null input");
  if (M == 0) {
    if (dgamma) CUDA_CHECK(cudaMemsetAsync(dgamma, 0, sizeof(float) * C, stream()));
    if (dbeta) CUDA_CHECK(cudaMemsetAsync(dbeta, 0, sizeof(float) * C, stream()));
    return;
  }
  const RowSplit rs = split_rows(M, C);
  Scratch part(sizeof(double) * 2 * (size_t)rs.G * C), ch(sizeof(float) * 3 * (size_t)C);
  bn_bwd_partial<<<dim3((unsigned)ceil_div(C, kTX), rs.G), dim3(kTX, kTY), 0, stream()>>>(
      dy, y, x, mean, invstd, M, C, rs.rows_per, part.as<double>());
  CHECK_LAUNCH("bn_bwd_partial");
  bn_bwd_finalize<<<(unsigned)ceil_div(C, 128), 128, 0, stream()>>>(part.as<double>(), rs.G, M, C, training, gamma,
                                                                    invstd, dgamma, dbeta, ch.as<float>());
  CHECK_LAUNCH("bn_bwd_finalize");
  if (!dx && !dresidual) return;
  const float* c3 = ch.as<float>();
  if (y && training) launch_dx<true, true>(M, C, dy, y, x, mean, invstd, c3, dx, dresidual);
  else if (y) launch_dx<true, false>(M, C, dy, y, x, mean, invstd, c3, dx, dresidual);
  else if (training) launch_dx<false, true>(M, C, dy, y, x, mean, invstd, c3, dx, dresidual);
  else launch_dx<false, false>(M, C, dy, y, x, mean, invstd, c3, dx, dresidual);
}

}  // namespace ish::cuda
