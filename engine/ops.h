// The op API: every op validates its inputs, calls the kernel table of its tensors' device
// (engine/backend.h: the CPU's in f32 and f64, the CUDA one in f32), and records an
// autograd node when an input requires grad. Layouts: activations NHWC, conv weights KRSC,
// linear weights [out, in] (torchvision). Reductions named *_last act on the last dim.
#pragma once
#include <array>

#include "engine/autograd.h"
#include "engine/tensor.h"

namespace ish::ops {

// ---- ResNet ops ----
struct Conv2dParams {
  int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  static Conv2dParams make(int stride, int pad, int dil = 1) { return {stride, stride, pad, pad, dil, dil}; }
};
// x [N,H,W,C], w [K,R,S,C], b [K] or undefined -> [N,P,Q,K].
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p);

struct BNParams {
  bool training = false;
  double momentum = 0.1;
  double eps = 1e-5;
  bool relu = false;  // fuse a ReLU after the (optional) residual add
};
// y = [relu](batchnorm(x) [+ residual]) over the channel (last) dim of x [..., C].
// Training: normalises with the biased batch variance and updates running_mean/var in place
// (running_var with the unbiased variance, as PyTorch). Eval: uses the running statistics.
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean,
                  Tensor running_var, const BNParams& p, const Tensor& residual = Tensor());

Tensor relu(const Tensor& x);
Tensor add(const Tensor& a, const Tensor& b);
void add_(Tensor& dst, const Tensor& src);  // in place, no autograd (grad accumulation, optimizers)

struct Pool2dParams {
  int kh = 3, kw = 3, sh = 2, sw = 2, ph = 1, pw = 1, dh = 1, dw = 1;
  bool ceil_mode = false;
  static Pool2dParams make(int k, int s, int p, int d = 1) { return {k, k, s, s, p, p, d, d, false}; }
};
Tensor max_pool2d(const Tensor& x, const Pool2dParams& p);  // NHWC; ties keep the first max
Tensor global_avg_pool(const Tensor& x);                      // [N,H,W,C] -> [N,C]

// y = x W^T + b; x [N,in] (or [..., in]: the leading dims are flattened), W [out,in], b [out] or undefined.
// If wgrad_input is given, grad_W is computed from it instead of x (ISH); grad_x and grad_b
// are unchanged.
Tensor linear(const Tensor& x, const Tensor& W, const Tensor& b, const Tensor& wgrad_input = Tensor());
// Mean softmax cross-entropy -> scalar (shape []); labels I64 [N] in [0,C). label_smoothing as torch.
// Labels on the host are range-checked there (and uploaded when the logits are on a device). Labels
// already on the device are not read back, which would wait for it: check them before the upload
// (check_labels); an out-of-range one gives a NaN loss there.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, double label_smoothing = 0.0);
// Host labels I64 [N] all in [0, C), else an error naming `what`, the row and the value.
void check_labels(const Tensor& labels, int64_t C, const std::string& what);

// ---- element-wise (same shape unless noted) ----
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor mul_scalar(const Tensor& x, double s);
Tensor add_scalar(const Tensor& x, double s);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor clamp_max(const Tensor& x, double hi);  // ReAct; grad passes where x <= hi (as torch)
Tensor reshape(const Tensor& x, const Shape& shape);

// ---- reductions ----
Tensor sum(const Tensor& x);            // all elements -> scalar (shape [])
Tensor mean(const Tensor& x);           // all elements -> scalar (shape [])
Tensor sum_last(const Tensor& x);       // [N,D] -> [N]
Tensor max_last(const Tensor& x);       // [N,D] -> [N] values; grad to the first max
Tensor argmax_last(const Tensor& x);    // [N,D] -> I64 [N], first max; no grad
Tensor logsumexp_last(const Tensor& x);  // [N,D] -> [N]
Tensor softmax_last(const Tensor& x);   // [..., D] -> [..., D] (any rank >= 1)
Tensor log_softmax_last(const Tensor& x);
Tensor matmul(const Tensor& a, const Tensor& b);   // [M,K] x [K,N]

// ---- transformer ops (engine/ops_transformer.cpp) ----
// LayerNorm over the last dim of x [..., D]: biased variance, gamma and beta [D] (as torch).
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps);
Tensor gelu(const Tensor& x);  // exact form x/2 * (1 + erf(x/sqrt(2))), as nn.GELU()
// Batched matmul: y[b] = op(a[b]) op(b[b]), a [B,M,K] ([B,K,M] when trans_a), b [B,K,N] ([B,N,K] when
// trans_b) -> [B,M,N].
Tensor bmm(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
// y.shape[i] = x.shape[perm[i]] (rank <= 8), a contiguous copy.
Tensor permute(const Tensor& x, const std::vector<int>& perm);
// The slice [start, start+len) of dim `dim` (negative counts from the end), a contiguous copy.
Tensor narrow(const Tensor& x, int dim, int64_t start, int64_t len);
// Index i (negative counts from the end) of dim `dim`, that dim removed: x[:, i] for dim 1.
Tensor select(const Tensor& x, int dim, int64_t i);
// Concatenation along `dim`; every other dim must agree.
Tensor cat(const std::vector<Tensor>& xs, int dim);
// b [1, ...] repeated n times along dim 0 (torch's expand + contiguous); the gradient sums over dim 0.
Tensor expand0(const Tensor& b, int64_t n);
// x + b where b's shape is x's trailing shape with leading 1s (a [1,L,D] position embedding on x [B,L,D]).
Tensor add_broadcast(const Tensor& x, const Tensor& b);
// Attention's softmax in one pass: scores x [B,H,Nq,Nk] -> softmax over the last dim of
// x*scale + bias[h] + mask[b mod nW] (the sum in that order). bias [H,Nq,Nk] (Swin's relative position
// bias; gets a gradient) and mask [nW,Nq,Nk] (a constant, B a multiple of nW: Swin's shifted-window mask,
// windows innermost in B) are optional. fp32 runs in float (exp within 2 ulp) with the row sums in double.
Tensor attention_softmax(const Tensor& x, double scale, const Tensor& bias = Tensor(), const Tensor& mask = Tensor());

// ---- Swin Transformer ops (engine/ops_swin.cpp) ----
Tensor roll(const Tensor& x, int dim, int64_t shift);  // torch.roll along one dim
// x [B,H,W,C] (H, W multiples of the window) -> [B*(H/wh)*(W/ww), wh*ww, C], windows row-major over the grid
// and tokens row-major within a window (torchvision's partition); window_merge is the inverse.
Tensor window_partition(const Tensor& x, int wh, int ww);
Tensor window_merge(const Tensor& windows, int64_t B, int64_t H, int64_t W, int wh, int ww);
// PatchMerging's gather: x [B,H,W,C] (H, W even) -> [B,H/2,W/2,4C] =
// cat(x[:,0::2,0::2], x[:,1::2,0::2], x[:,0::2,1::2], x[:,1::2,1::2]) along the channels.
Tensor patch_merge_gather(const Tensor& x);
// Rows of table [R,C] picked by idx (I64 [n], same device, values in [0,R)) -> [n,C]; the gradient
// accumulates into the picked rows (the relative position bias gather).
Tensor index_select0(const Tensor& table, const Tensor& idx);
// Host constants of shifted-window attention, as torchvision computes them: the relative position index
// I64 [N*N] (N = wh*ww) into a [(2wh-1)(2ww-1), heads] table, and the attention mask [nW, N, N] of a
// cyclic shift (sh, sw) on an H x W map (0 within a region, -100 across regions).
Tensor relative_position_index(int wh, int ww);
Tensor shifted_window_mask(int64_t H, int64_t W, int wh, int ww, int sh, int sw, DType dt = DType::F32);

// ---- training and input (no autograd) ----
// ISH (train/ish.h has the method): per row of x [N, ...] (flattened), s1 = sum of x, s2 = sum of
// the k largest |x| (ties to the lower index); the factor is computed in double, rounded once.
//   MinkSampleExpScale: the kept |x| * exp(s1/s2), scattered into zeros
//   ExpScale:           x * exp(s1/s2), nothing pruned
//   MinkSampleLnScale:  the kept |x| * (s1/s2), scattered into zeros
// A row with s2 == 0 gives zeros; a row with a non-finite value gives NaN. 1 <= k <= D.
enum class IshStrategy : int { MinkSampleExpScale = 0, ExpScale = 1, MinkSampleLnScale = 2 };
Tensor ish_shape(const Tensor& x, IshStrategy s, int64_t k);

// The fused SGD update of torch.optim.SGD, in place, for tensors on one device (one launch on cuda):
//   d = grad + weight_decay * param
//   buf = d on the first step, else momentum * buf + (1 - dampening) * d   (only when momentum != 0)
//   d = d + momentum * buf (Nesterov), else buf;   param -= lr * d
struct SgdHyper {
  double lr = 0, momentum = 0, dampening = 0;
  bool nesterov = false;
};
struct SgdParam {
  Tensor param, grad;
  Tensor momentum_buffer;  // undefined when momentum == 0
  double weight_decay = 0;
};
void sgd_update_(const std::vector<SgdParam>& params, const SgdHyper& h, bool first_step);

// Training statistics accumulated on the tensors' device, so that a training step needs no host sync:
// stats F64 [kTrainStats] (zeros to start). For a micro-batch of n rows with mean loss `loss` ([]; may
// be undefined: accuracy only), logits [n,C] and labels I64 [n] on the same device:
//   stats[kLossSum] += n * loss;   stats[kCorrect] += #rows whose first argmax equals the label;
//   when loss is not finite and stats[kBadStep] == 0: stats[kBadStep] = step (>= 1), stats[kBadLoss] = loss.
enum TrainStat : int { kLossSum = 0, kCorrect = 1, kBadStep = 2, kBadLoss = 3, kTrainStats = 4 };
void train_stats_(Tensor& stats, const Tensor& loss, const Tensor& logits, const Tensor& labels, int64_t step);

// U8 RGB images [..., 3] (NHWC) -> F32 on the same device: (x/255 - mean[c]) / std[c], each step
// rounded in float as torchvision's ToTensor + Normalize.
Tensor normalize_u8(const Tensor& x, const std::array<float, 3>& mean, const std::array<float, 3>& std);

// ---- helpers ----
Tensor randn(const Shape& s, uint64_t seed, DType dt = DType::F32);  // host, deterministic

}  // namespace ish::ops
