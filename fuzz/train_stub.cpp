// fuzz_ckptmeta links train/checkpoint.cpp for read_checkpoint_meta; the same translation unit also
// saves and loads models and optimizer state, which the metadata path never reaches. Those entry
// points are stubbed here (as engine_stub.cpp stubs autograd) so the target needs no model code.
#include <cstdlib>

#include "models/model_meta.h"
#include "models/resnet.h"
#include "models/state_dict.h"
#include "train/sgd.h"

namespace ish {
namespace models {
void ResNet::visit(const std::function<void(const std::string&, Tensor&, EntryKind)>&) { std::abort(); }
Tensor kcrs_to_krsc(const Tensor&) { std::abort(); }
Tensor krsc_to_kcrs(const Tensor&) { std::abort(); }
NamedTensors state_dict(ResNet&) { std::abort(); }
void load_state_dict(ResNet&, const std::map<std::string, Tensor>&, const std::string&, const LoadOptions&) {
  std::abort();
}
ModelMeta meta_of(const ResNet&) { std::abort(); }
void write_model_meta(const ModelMeta&, std::map<std::string, std::string>&) { std::abort(); }
}  // namespace models
namespace train {
NamedTensors SGD::state() const { std::abort(); }
void SGD::load_state(const std::map<std::string, Tensor>&) { std::abort(); }
}  // namespace train
}  // namespace ish
