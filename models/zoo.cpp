#include "models/zoo.h"

#include <algorithm>

#include "engine/error.h"
#include "models/swin.h"
#include "models/vit.h"

namespace ish::models::zoo {

namespace {

std::string underscores(std::string a) {
  std::replace(a.begin(), a.end(), '-', '_');
  return a;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Strict load of w's tensors into a transformer; a mismatch gets a hint when the tensors say another arch.
template <class M>
void load_checked(M& model, const WeightsFile& w) {
  try {
    load_state_dict(model, w.tensors, w.path);
  } catch (const Error& e) {
    const Inferred& inf = w.inferred;
    std::string hint;
    if (inf.archs.size() == 1 && inf.archs[0] != model.arch())
      hint = str("hint: the tensors look like ", inf.archs[0], ", not ", model.arch(),
                 w.file_meta.arch.empty() ? "; pass --arch " + inf.archs[0] : " (its metadata is wrong)");
    else if (inf.archs.empty())
      hint = str("hint: no known architecture matches the file's tensors (", inf.seen, ")");
    if (hint.empty()) throw;
    throw Error(std::string(e.what()) + "\n" + hint, e.code);
  }
}

}  // namespace

const char* family_name(Family f) {
  switch (f) {
    case Family::ResNet: return "resnet";
    case Family::ViT: return "vit";
    case Family::Swin: return "swin";
  }
  return "?";
}

std::vector<std::string> archs() {
  std::vector<std::string> v = known_archs();
  for (auto& a : vit_archs()) v.push_back(a);
  for (auto& a : swin_archs()) v.push_back(a);
  return v;
}

std::string canonical(const std::string& name) {
  if (contains(known_archs(), name)) return name;  // ResNet names have no '-' spelling
  const std::string u = underscores(name);
  if (contains(vit_archs(), u) || contains(swin_archs(), u)) return u;
  return "";
}

std::string require(const std::string& name) {
  const std::string c = canonical(name);
  if (c.empty()) fail("unknown --arch '", name, "' (known: ", archs_help(), ")");
  return c;
}

Family family(const std::string& arch) {
  const std::string c = require(arch);
  if (contains(vit_archs(), c)) return Family::ViT;
  if (contains(swin_archs(), c)) return Family::Swin;
  return Family::ResNet;
}

bool is_transformer(const std::string& arch) { return family(arch) != Family::ResNet; }

std::string archs_help() {
  std::string vits, swins;
  for (auto& a : vit_archs()) vits += (vits.empty() ? "" : "|") + a;
  for (auto& a : swin_archs()) swins += (swins.empty() ? "" : "|") + a;
  return "resnet18|34|50|101|152 (or <arch>_cifar), " + vits + ", " + swins + " (also spelled with '-', e.g. vit-b-16)";
}

std::unique_ptr<Net> create(const std::string& arch, int num_classes, uint64_t seed) {
  const std::string a = require(arch);
  switch (family(a)) {
    case Family::ResNet: return wrap(ResNet::create(a, num_classes, seed));
    case Family::ViT: return wrap(VisionTransformer::create(a, num_classes, seed));
    case Family::Swin: return wrap(SwinTransformer::create(a, num_classes, seed));
  }
  fail("zoo: no builder for ", a);
}

std::unique_ptr<Net> open(const WeightsFile& w, Device dev) {
  const std::string a = require(w.meta.arch);
  std::unique_ptr<Net> net;
  switch (family(a)) {
    case Family::ResNet: net = wrap(open_model(w, dev)); break;
    case Family::ViT: {
      ViTConfig c = vit_config_for(a);
      if (w.meta.num_classes > 0) c.num_classes = w.meta.num_classes;
      if (w.inferred.image_size > 0) c.image_size = w.inferred.image_size;  // the position embedding's
      c.init = false;  // every entry is about to be loaded
      VisionTransformer m(c, a);
      load_checked(m, w);
      net = wrap(std::move(m));
      break;
    }
    case Family::Swin: {
      SwinConfig c = swin_config_for(a);
      if (w.meta.num_classes > 0) c.num_classes = w.meta.num_classes;
      c.init = false;
      SwinTransformer m(c, a);
      load_checked(m, w);
      net = wrap(std::move(m));
      break;
    }
  }
  net->to(dev);
  net->eval();
  return net;
}

}  // namespace ish::models::zoo
