// The post-hoc OOD detectors of METHOD.md (OpenOOD v1.5 postprocessors plus SCALE), all acting on cached
// network outputs: pooled features a [N,D], logits z [N,C] and the fc layer (W [C,D], b [C]).
// Each returns conf [N] ("higher = more in-distribution", float32 as the reference's torch tensors are)
// and pred [N]. Detectors that need ID statistics fit them first (react: ID val; knn, vim, mds: ID train).
//
//   auto d = eval::make_detector("scale", fc);
//   d->set_params({{"percentile", 85}});
//   eval::Scores s = d->score(test_set);
//
// Defined where the reference yields NaN (counted in Scores::degenerate):
//  - scale / ash_s with s2 = 0 (an all-zero feature): conf = -inf, pred = argmax of the plain logits;
//  - knn with a zero feature vector: the normalised vector is 0 + 1e-10 in every entry;
//  - mds: classes without ID-train samples are left out of the max.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace ish::eval {

// One image list's network outputs (what the feature cache holds). CPU tensors.
struct FeatureSet {
  Tensor logits;    // F32 [N,C]
  Tensor features;  // F32 [N,D]
  Tensor labels;    // I64 [N]; -1 marks OOD
  int64_t size() const { return features.defined() ? features.size(0) : 0; }
  void validate(const std::string& what) const;  // shapes/dtypes agree; throws ish::Error naming `what`
};

// The fc layer: logits = a W^T + b.
struct Fc {
  Tensor W;  // F32 [C,D]
  Tensor b;  // F32 [C]
};

struct Scores {
  std::vector<float> conf;
  std::vector<int64_t> pred;
  int64_t degenerate = 0;  // samples whose score is defined by us rather than by the reference (see above)
};

// Hyper-parameters in OpenOOD's argument order, e.g. {{"gamma", 0.1}, {"M", 100}}.
using HParams = std::vector<std::pair<std::string, double>>;
std::string hparams_str(const HParams& p);  // "gamma=0.1 M=100"

// ODIN needs the network. Images are normalised NHWC float [B,H,W,3] on the CPU.
class InputGradNet {
 public:
  virtual ~InputGradNet() = default;
  virtual Tensor logits(const Tensor& x) = 0;  // [B,C]
  // d/dx of the mean cross-entropy CE(argmax z, z / T) over the batch, with z = net(x) ([B,H,W,3]);
  // *logits receives z.
  virtual Tensor ce_input_grad(const Tensor& x, double T, Tensor* logits) = 0;
  // The per-channel normalisation std the images were divided by (ImageNet's by default).
  virtual std::vector<double> input_std() const { return {0.229, 0.224, 0.225}; }
};
// Streams one list's images, in list order, as batches (x, index of its first sample).
using ImageStream = std::function<void(const std::function<void(const Tensor& x, int64_t first)>& fn)>;

struct FitInputs {
  const FeatureSet* id_train = nullptr;  // knn, vim, mds
  const FeatureSet* id_val = nullptr;    // react's activation percentile
};

class Detector {
 public:
  virtual ~Detector() = default;
  virtual std::string name() const = 0;
  virtual HParams params() const { return {}; }
  virtual void set_params(const HParams& p);  // unknown names or bad values throw ish::Error
  // The APS grid, in the order OpenOOD's recursive_generator visits it (first parameter fastest).
  virtual std::vector<HParams> grid() const { return {}; }
  virtual bool needs_id_train() const { return false; }
  virtual bool needs_id_val() const { return false; }
  virtual bool needs_images() const { return false; }
  virtual void fit(const FitInputs& in) {}
  // `images` is only read by detectors that need the network (odin).
  virtual Scores score(const FeatureSet& f, const ImageStream* images = nullptr) = 0;
};

// Every name of METHOD.md, in the order reports list them.
const std::vector<std::string>& detector_names();
// `net` may be null except for "odin".
std::unique_ptr<Detector> make_detector(const std::string& name, const Fc& fc, InputGradNet* net = nullptr);

// ---- building blocks, shared by the detectors and their tests ----
namespace detail {
// k = n - round_half_even(n * percentile / 100), as ASH and SCALE compute it; checked to lie in [1, n].
int64_t topk_count(int64_t n, double percentile);
// Z [N,C] = A [N,D] W^T + b (float32 GEMM, as torch's fc).
std::vector<float> fc_forward(const Fc& fc, const float* A, int64_t N);
// Per row of Z [N,C]: logsumexp (in double, rounded to float) and the first argmax.
void energy_argmax(const std::vector<float>& Z, int64_t N, int64_t C, Scores* out);
int64_t argmax_row(const float* z, int64_t C);
// numpy.percentile(values, p) with linear interpolation (numpy 1.24's lerp), in double.
double percentile_linear(std::vector<float> values, double p);
}  // namespace detail

}  // namespace ish::eval
