// Feature extraction, the one place a model (models::Net: ResNet, ViT, Swin) is run over inputs for its
// logits and features (the head's input):
//  - extract(): eval-mode forward over batches from any source (the image loader, in-memory tensors);
//  - extract_features(): over an image list through the loader, cached on disk. The cache file is keyed
//    by the weights file's content hash, the architecture, the list (resolved paths and labels, i.e. the
//    list's content and the data root), the transform's numbers and, on cuda with TF32, the --tf32
//    setting, so a sweep over detectors never re-runs the network; --recompute forces a fresh pass.
//    Skipped (corrupt) files are counted; the metadata records the device and the --tf32 setting.
// Also: an ImageStream over a list (ODIN) and the InputGradNet of ODIN and AdaSCALE for any models::Net.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/image/imglist.h"
#include "engine/image/loader.h"
#include "engine/image/transform.h"
#include "eval/detectors.h"
#include "models/net.h"

namespace ish::eval {

// Batches for extract(): the source calls fn(x, labels) for each batch in order; x is F32 [B,H,W,C] on
// any device, labels has B entries (-1: OOD or unknown).
using BatchFn = std::function<void(const Tensor& x, const std::vector<int64_t>& labels)>;
using BatchSource = std::function<void(const BatchFn& fn)>;

// Eval-mode forward (no grad) over every batch: logits [N,C], features [N,D], labels [N], CPU
// tensors in batch order. `capacity` (rows expected, when known) sizes the outputs up front.
FeatureSet extract(models::Net& model, const BatchSource& batches, int64_t capacity = -1);

// A loader's batches as a BatchSource, as tensors on dev. on_batch (optional) sees each batch first,
// including one whose files were all skipped.
BatchSource loader_batches(img::Loader& loader, const img::Transform& t, Device dev,
                           std::function<void(const img::Batch&)> on_batch = nullptr);

struct ExtractOptions {
  int batch_size = 64;
  int threads = 0;           // the cores decode may use (see img::set_threads); 0 = all
  bool strict = false;       // a corrupt image aborts instead of being skipped
  std::string cache_dir;     // empty: no cache
  bool recompute = false;    // ignore an existing cache entry (and overwrite it)
  std::string weights_key;   // content hash of the weights (file_hash); part of the cache key
  bool progress = true;      // progress on stderr (util/progress.h): a bar on a TTY, else a line every few s
  std::string label;         // shown in the progress bar and logs
  img::Transform transform;  // preprocessing (img::Transform::eval_default); part of the cache key
  img::DecodeOptions decode;  // the decoder's caps (pixels, file size); the file-size cap is part of the cache key
};

// Loader settings for extraction over a list on `dev` (eval transform, threads, skipping).
img::LoaderOptions extract_loader_options(const ExtractOptions& opt, Device dev);

struct Extracted {
  FeatureSet f;
  int64_t skipped = 0;       // files skipped by the loader
  bool from_cache = false;
  std::string cache_file;    // where it is (or would be) cached
};

Extracted extract_features(models::Net& model, const img::ImgList& list, const ExtractOptions& opt);

// 128-bit content hash (two FNV-1a 64 lanes) of a file, as 32 hex digits.
std::string file_hash(const std::string& path);
// The cache file name for (weights, arch, list, preprocessing[, numerics][, file-size cap]). `numerics`
// names a mode whose numbers differ beyond rounding from strict fp32 (cuda with TF32: "tf32=on"); empty
// otherwise. decode.max_file_bytes (<= 0: no cap) enters the key unless it is the default cap.
std::string cache_key(const std::string& weights_key, const std::string& arch, const img::ImgList& list,
                      const img::Transform& t, const std::string& numerics = "", const img::DecodeOptions& decode = {});
// Where extract_features() caches `list` for a model of `arch` on `dev` ("" without a cache_dir).
std::string cache_path(const ExtractOptions& opt, const std::string& arch, const img::ImgList& list, Device dev);
// Whether extract_features() would load `list` from the cache instead of reading its images.
bool is_cached(const ExtractOptions& opt, const std::string& arch, const img::ImgList& list, Device dev);

// The list's images, preprocessed as for extraction, in batches of batch_size (skips as the loader does).
ImageStream image_stream(const img::ImgList& list, const ExtractOptions& opt);

// The network passes of ODIN and AdaSCALE on any models::Net: forward (eval mode) and input gradients
// via autograd, on the model's device (inputs are moved there; results come back as CPU tensors).
// Parameter gradients are switched off for each backward and restored afterwards. Every sample's
// gradient is its own (BatchNorm in eval mode, LayerNorm and attention within a sample), so a batch's
// summed loss gives per-sample gradients. input_std() is the transform's.
class NetGradNet : public InputGradNet {
 public:
  explicit NetGradNet(models::Net& m, const img::Transform& t = img::Transform()) : m_(m), norm_(t.norm) {}
  // Over a ResNet the caller keeps (held through a models::view).
  explicit NetGradNet(models::ResNet& m, const img::Transform& t = img::Transform())
      : own_(std::make_unique<models::NetOf<models::ResNet&>>(m)), m_(*own_), norm_(t.norm) {}
  Tensor logits(const Tensor& x) override;
  // ODIN: the input gradient of mean CE(argmax z, z/T).
  Tensor ce_input_grad(const Tensor& x, double T, Tensor* logits) override;
  std::vector<double> input_std() const override;
  // AdaSCALE (defined in eval/adascale_net.cpp)
  Tensor maxlogit_input_grad(const Tensor& x, Tensor* logits, Tensor* features) override;
  Tensor features(const Tensor& x) override;

 private:
  // The gradient of loss_of(forward(x)) to x (on the CPU), the parameters frozen for the pass; `who`
  // names the detector in the error when no gradient reaches the input.
  Tensor input_grad(const Tensor& x, const char* who,
                    const std::function<Tensor(const models::Net::Output&)>& loss_of);
  std::unique_ptr<models::Net> own_;
  models::Net& m_;
  img::Normalize norm_;
};

}  // namespace ish::eval
