#include "models/model_file.h"

#include "engine/error.h"
#include "models/state_dict.h"

namespace ish::models {

namespace {
const std::string kOptim = "optim.";  // train::SGD::kPrefix (train/ is above models/)
}

WeightsFile read_weights(const std::string& path, const ModelMeta& given, bool hash) {
  WeightsFile w;
  w.path = path;
  weights::StateDict sd = weights::load_any(path, &w.metadata, hash ? &w.content_hash : nullptr);
  ShapeList shapes;
  for (auto& [name, t] : sd) {
    if (name.compare(0, kOptim.size(), kOptim) == 0) {
      w.optim_entries++;
      continue;
    }
    shapes.emplace_back(name, t.shape());
    w.tensors.emplace_back(name, t);
  }
  w.file_meta = read_model_meta(w.metadata, path);
  w.inferred = infer_arch(shapes);
  w.meta = resolve_model(w.file_meta, w.inferred, given, path);
  return w;
}

std::string optim_note(const WeightsFile& w) {
  if (!w.optim_entries) return "";
  return str("note: ", w.path, " is a training checkpoint: its ", w.optim_entries,
             " optimizer entries (optim.*) are ignored");
}

void load_weights_file(ResNet& model, const WeightsFile& w, const LoadOptions& opt) {
  try {
    load_state_dict(model, w.tensors, w.path, opt);
  } catch (const Error& e) {
    const Inferred& inf = w.inferred;
    std::string hint;
    if (inf.archs.size() == 1 && inf.archs[0] != model.arch())
      hint = str("hint: the tensors look like ", inf.archs[0], inf.width ? str(" width ", inf.width) : "", ", not ",
                 model.arch(), w.file_meta.arch.empty() ? "; pass --arch " + inf.archs[0] : " (its metadata is wrong)");
    else if (inf.width > 0 && inf.width != model.config().width)
      hint = str("hint: conv1.weight has ", inf.width, " filters, the model ", model.config().width);
    else if (inf.archs.empty())
      hint = str("hint: no known architecture matches the file's tensors (", inf.seen, ")");
    if (hint.empty()) throw;
    throw Error(std::string(e.what()) + "\n" + hint, e.code);
  }
}

ResNet open_model(const WeightsFile& w, Device dev) {
  ResNetConfig c = config_of(w.meta);
  c.init = false;  // every entry is about to be loaded
  ResNet model(c, w.meta.arch);
  load_weights_file(model, w);
  model.to(dev);
  model.eval();
  return model;
}

}  // namespace ish::models
