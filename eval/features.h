// Running a ResNet over an image list: pooled features, logits and labels, cached on disk. The cache
// file is keyed by the weights file's content hash, the architecture, the list (resolved paths and
// labels, i.e. the list's content and the data root) and the preprocessing, so a sweep over detectors
// never re-runs the network; --recompute forces a fresh pass. Skipped (corrupt) files are counted.
// Also: an ImageStream over a list (ODIN) and ODIN's InputGradNet for a ResNet.
#pragma once
#include <string>

#include "engine/image/imglist.h"
#include "eval/detectors.h"
#include "models/resnet.h"

namespace ish::eval {

struct ExtractOptions {
  int batch_size = 64;
  int threads = 0;           // decode threads; 0 = hardware concurrency
  bool strict = false;       // a corrupt image aborts instead of being skipped
  std::string cache_dir;     // empty: no cache
  bool recompute = false;    // ignore an existing cache entry (and overwrite it)
  std::string weights_key;   // content hash of the weights (file_hash); part of the cache key
  bool progress = true;      // progress bar on stderr, only when it is a TTY
  std::string label;         // shown in the progress bar and logs
};

struct Extracted {
  FeatureSet f;
  int64_t skipped = 0;       // files skipped by the loader
  bool from_cache = false;
  std::string cache_file;    // where it is (or would be) cached
};

Extracted extract_features(models::ResNet& model, const img::ImgList& list, const ExtractOptions& opt);

// 128-bit content hash (two FNV-1a 64 lanes) of a file, as 32 hex digits.
std::string file_hash(const std::string& path);
// The cache file name for (weights, arch, list, preprocessing).
std::string cache_key(const std::string& weights_key, const std::string& arch, const img::ImgList& list);

// The list's images, preprocessed as for extraction, in batches of batch_size (skips as the loader does).
ImageStream image_stream(const img::ImgList& list, const ExtractOptions& opt);

// ODIN on a ResNet: forward (eval mode) and the input gradient of mean CE(argmax z, z/T) via autograd.
// Parameter gradients are switched off for the backward and restored afterwards.
class ResNetGradNet : public InputGradNet {
 public:
  explicit ResNetGradNet(models::ResNet& m) : m_(m) {}
  Tensor logits(const Tensor& x) override;
  Tensor ce_input_grad(const Tensor& x, double T, Tensor* logits) override;
  // AdaSCALE (defined in eval/adascale_net.cpp)
  Tensor maxlogit_input_grad(const Tensor& x, Tensor* logits, Tensor* features) override;
  Tensor features(const Tensor& x) override;

 private:
  models::ResNet& m_;
};

}  // namespace ish::eval
