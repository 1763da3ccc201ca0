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

// y = x W^T + b; x [N,in], W [out,in], b [out] or undefined.
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
Tensor softmax_last(const Tensor& x);   // [N,D] -> [N,D]
Tensor log_softmax_last(const Tensor& x);
Tensor matmul(const Tensor& a, const Tensor& b);   // [M,K] x [K,N]

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
