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
  // Optional per-sample intermediates, by name, for the outputs writer (AdaSCALE: "qprime" F32 [N],
  // "percentile" F64 [N], and with Detector::set_save_aux(true) "feature_perturbed" F32 [N,D]).
  std::vector<std::pair<std::string, Tensor>> aux;
};

// Hyper-parameters in OpenOOD's argument order, e.g. {{"gamma", 0.1}, {"M", 100}}.
using HParams = std::vector<std::pair<std::string, double>>;
std::string hparams_str(const HParams& p);  // "gamma=0.1 M=100"
class Detector;
std::string hparams_str(const HParams& p, const Detector& d);  // words where a key takes one

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
  // AdaSCALE: d/dx of sum_b max_c z_bc (each sample's max logit) with z = net(x); *logits [B,C] and
  // *features [B,D] receive that forward's outputs (CPU). The default throws (not supported).
  virtual Tensor maxlogit_input_grad(const Tensor& x, Tensor* logits, Tensor* features);
  // AdaSCALE's second forward: the pooled features [B,D] of x (CPU), without gradients.
  virtual Tensor features(const Tensor& x);
};
// Streams one list's images, in list order, as batches (x, index of its first sample).
using ImageStream = std::function<void(const std::function<void(const Tensor& x, int64_t first)>& fn)>;

struct FitInputs {
  const FeatureSet* id_train = nullptr;  // knn, vim, mds, nci, fdbd, nnguide, caref, cadref, optfs
  const FeatureSet* id_val = nullptr;    // react's activation percentile
  const ImageStream* id_val_images = nullptr;  // adascale_a/l: the ECDF fit set goes through the network
  int64_t batch_size = 200;  // the loader batch size B of NNGuide's bank rule (OpenOOD's eval script: 200)
  std::function<void(const std::string&)> log;  // warnings (e.g. caref's classes without train predictions)
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
  // --set with a word: the numeric value `word` stands for under key `key` (e.g. cadref's
  // logit_method=GEN -> 3). The default refuses (the key takes a number). The CLI parser calls
  // set_params({{key, d.param_word(key, word)}}) when the value does not parse as a number.
  virtual double param_word(const std::string& key, const std::string& word) const;
  // The word for a numeric value of a word-valued key ("" when the key takes numbers), for reports.
  virtual std::string param_word_of(const std::string& key, double v) const { return ""; }
  // AdaSCALE: also attach "feature_perturbed" [N,D] to Scores::aux (N x D floats: opt-in).
  virtual void set_save_aux(bool on) {}
  // AdaSCALE: the ECDF fit set's intermediates at the current parameters ("qprime", and with
  // set_save_aux "feature_perturbed"); empty for other detectors.
  virtual std::vector<std::pair<std::string, Tensor>> fit_aux() const { return {}; }
};

// Every name of METHOD.md, in the order reports list them.
const std::vector<std::string>& detector_names();
// --set PP.KEY=WORD: the number WORD stands for (make_detector(pp)->param_word(key, word), without an fc).
// Throws ish::Error naming the key when the key takes numbers or the word is unknown.
double param_word(const std::string& detector, const std::string& key, const std::string& word);
// `net` may be null; odin, adascale_a and adascale_l refuse to score without it.
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
