// The state-dict <-> model mapping. Files always hold torchvision's names and layout (conv weights
// KCRS, F32, num_batches_tracked I64 []), so torchvision, timm and OpenOOD checkpoints load and PyTorch
// can load ours back with load_state_dict(strict=True).
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "models/resnet.h"

namespace ish::models {

// Conv weight layout conversions ([K,C,R,S] <-> [K,R,S,C]); CPU, any float dtype kept.
Tensor kcrs_to_krsc(const Tensor& w);
Tensor krsc_to_kcrs(const Tensor& w);

struct LoadOptions {
  // Names starting with one of these are ignored on both sides: such file keys are skipped (e.g. "optim."
  // in a training checkpoint) and such model entries are neither required nor changed ("fc." keeps a
  // freshly initialised head).
  std::vector<std::string> ignore_prefixes;
};

// A model's state as the loader sees it: `visit` calls its argument once per entry (torchvision order,
// live handles in the model's layout); `arch` names the model in errors; `dtype` is its float dtype.
struct StateView {
  std::function<void(const std::function<void(const std::string&, Tensor&, EntryKind)>&)> visit;
  std::string arch;
  DType dtype = DType::F32;
};
// The view of any model class with visit(), arch() and dtype() (ResNet, VisionTransformer, SwinTransformer).
template <class M>
StateView state_view(M& m) {
  return {[&m](const std::function<void(const std::string&, Tensor&, EntryKind)>& fn) { m.visit(fn); }, m.arch(),
          m.dtype()};
}
// The strict loader and the exporter behind the per-model functions (ResNet below, models/vit.h, models/swin.h).
void load_state_dict(const StateView& model, const NamedTensors& sd, const std::string& source,
                     const LoadOptions& opt = {});
NamedTensors state_dict(const StateView& model);

// Strict loading: missing, unexpected and shape-mismatched keys (and dtypes that cannot be converted)
// make ONE one-line ish::Error naming `source`, with each kind's count and first three keys; nothing is
// written unless all keys are good.
// Float tensors may be F32/F64/F16/BF16 (converted to the model's dtype). num_batches_tracked is optional and kept
// when present. An Index entry (Swin's relative_position_index) must be I64 and equal the model's own. A "module." prefix on every key is stripped. Tensors are copied into the model's own
// storage (on its device), so references held elsewhere (an optimizer) stay valid.
void load_state_dict(ResNet& model, const NamedTensors& sd, const std::string& source,
                     const LoadOptions& opt = {});
void load_state_dict(ResNet& model, const std::map<std::string, Tensor>& sd, const std::string& source,
                     const LoadOptions& opt = {});

// The model's state in torchvision order, names and layout, as F32 CPU tensors (copies);
// num_batches_tracked is I64 [], an Index entry I64 as the model holds it.
NamedTensors state_dict(ResNet& model);

// From a file: safetensors or .pth (zip or legacy), detected by content.
void load_weights(ResNet& model, const std::string& path, const LoadOptions& opt = {});
// Builds `arch` (width, input channels and classes from the file's metadata or tensors: fine-tuned heads
// load too; models/model_file.h), loads the file strictly, and returns the model in eval mode on `dev`.
ResNet load_model(const std::string& arch, const std::string& path, Device dev = Device::CPU);
// Writes a safetensors file (atomically) in torchvision layout; metadata gains "format":"pt" and the
// model's arch, width, in_channels and num_classes (models/model_meta.h).
void save_weights(ResNet& model, const std::string& path, std::map<std::string, std::string> metadata = {});

}  // namespace ish::models
