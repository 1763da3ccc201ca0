#include "models/state_dict.h"

#include <cstring>
#include <set>

#include "models/model_file.h"
#include "models/model_meta.h"
#include "weights/load.h"
#include "weights/safetensors.h"
#include "weights/text.h"

namespace ish::models {

namespace {
Tensor permute4(const Tensor& w, int a0, int a1, int a2, int a3) {
  ISH_CHECK(w.dim() == 4, "conv weight ", w.name(), " must be 4-d, got ", shape_str(w.shape()));
  Tensor src = w.to(Device::CPU);
  const Shape& s = src.shape();
  const int perm[4] = {a0, a1, a2, a3};
  Shape os{s[a0], s[a1], s[a2], s[a3]};
  Tensor out = Tensor::empty(os, src.dtype());
  // Strides of the source, then out[i0,i1,i2,i3] = src[index with dim perm[j] = ij].
  int64_t st[4] = {s[1] * s[2] * s[3], s[2] * s[3], s[3], 1};
  const int64_t ps0 = st[perm[0]], ps1 = st[perm[1]], ps2 = st[perm[2]], ps3 = st[perm[3]];
  const size_t isz = itemsize(src.dtype());
  const char* in = static_cast<const char*>(src.raw());
  char* o = static_cast<char*>(out.raw());
  int64_t n = 0;
  for (int64_t i0 = 0; i0 < os[0]; i0++)
    for (int64_t i1 = 0; i1 < os[1]; i1++)
      for (int64_t i2 = 0; i2 < os[2]; i2++)
        for (int64_t i3 = 0; i3 < os[3]; i3++, n++) {
          const int64_t off = i0 * ps0 + i1 * ps1 + i2 * ps2 + i3 * ps3;
          std::memcpy(o + n * isz, in + off * isz, isz);
        }
  return out;
}

bool is_float(DType d) { return d == DType::F32 || d == DType::F64 || d == DType::F16 || d == DType::BF16; }
bool is_int(DType d) { return d == DType::I64 || d == DType::I32; }
bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// The shape an entry has in a torchvision file.
Shape file_shape(const Tensor& t, EntryKind k) {
  const Shape& s = t.shape();
  if (k == EntryKind::ConvWeight) return {s[0], s[3], s[1], s[2]};
  return s;
}

std::string join(const std::vector<std::string>& v) {
  std::string r;
  for (auto& s : v) r += (r.empty() ? "" : ", ") + s;
  return r;
}
}  // namespace

Tensor kcrs_to_krsc(const Tensor& w) { return permute4(w, 0, 2, 3, 1); }
Tensor krsc_to_kcrs(const Tensor& w) { return permute4(w, 0, 3, 1, 2); }

void load_state_dict(ResNet& model, const NamedTensors& sd, const std::string& source, const LoadOptions& opt) {
  load_state_dict(state_view(model), sd, source, opt);
}

void load_state_dict(const StateView& model, const NamedTensors& sd_in, const std::string& source,
                     const LoadOptions& opt) {
  std::vector<std::string> missing, unexpected, mismatched, bad_dtype, bad_index, duplicate;
  // A "module." prefix on every key (DDP) is stripped.
  bool all_module = !sd_in.empty();
  for (auto& kv : sd_in) all_module = all_module && starts_with(kv.first, "module.");
  auto ignored = [&](const std::string& name) {
    for (auto& p : opt.ignore_prefixes)
      if (starts_with(name, p)) return true;
    return false;
  };
  std::map<std::string, Tensor> sd;
  std::vector<std::string> order;
  for (auto& kv : sd_in) {
    std::string name = all_module ? kv.first.substr(7) : kv.first;
    if (ignored(name)) continue;
    if (!sd.emplace(name, kv.second).second) duplicate.push_back(name);
    else order.push_back(name);
  }
  std::set<std::string> used;
  model.visit([&](const std::string& name, Tensor& t, EntryKind kind) {
    if (ignored(name)) return;  // kept as it is
    auto it = sd.find(name);
    if (it == sd.end()) {
      if (kind != EntryKind::Counter) missing.push_back(name);  // num_batches_tracked is optional
      return;
    }
    used.insert(name);
    const Tensor& v = it->second;
    if (kind == EntryKind::Counter) {
      if (v.numel() != 1) mismatched.push_back(name + " " + shape_str(v.shape()) + " vs []");
      else if (!is_int(v.dtype()) && !is_float(v.dtype())) bad_dtype.push_back(name + " " + dtype_name(v.dtype()));
      return;
    }
    Shape want = file_shape(t, kind);
    if (v.shape() != want) mismatched.push_back(name + " " + shape_str(v.shape()) + " vs " + shape_str(want));
    else if (kind == EntryKind::Index) {
      // A constant of the architecture: a file with another one was made for another model.
      if (v.dtype() != DType::I64) bad_index.push_back(name + " " + dtype_name(v.dtype()));
      else if (std::memcmp(v.to(Device::CPU).raw(), t.to(Device::CPU).raw(), t.nbytes()) != 0)
        bad_index.push_back(name);
    } else if (!is_float(v.dtype())) bad_dtype.push_back(name + " " + dtype_name(v.dtype()));
  });
  for (auto& n : order)
    if (!used.count(n)) unexpected.push_back(n);

  if (!missing.empty() || !unexpected.empty() || !mismatched.empty() || !bad_dtype.empty() || !bad_index.empty() ||
      !duplicate.empty()) {
    // One line of bounded length: each kind's count and its first three keys.
    std::string msg = source + ": state dict does not match " + model.arch + ":";
    auto add = [&](const char* what, const std::vector<std::string>& v) {
      if (v.empty()) return;
      std::vector<std::string> first;
      for (size_t i = 0; i < v.size() && i < 3; i++) first.push_back(weights::printable(v[i], 120));
      msg += str(" ", v.size(), " ", what, " (", join(first), v.size() > 3 ? ", ..." : "", ");");
    };
    add("missing", missing);
    add("unexpected", unexpected);
    add("shape mismatch (file vs model)", mismatched);
    add("bad dtype (want a float type)", bad_dtype);
    add("index buffer differs from torchvision's I64 one", bad_index);
    add("duplicate", duplicate);
    msg.pop_back();
    fail(msg);
  }

  model.visit([&](const std::string& name, Tensor& t, EntryKind kind) {
    auto it = sd.find(name);
    if (it == sd.end()) return;
    const Tensor& v = it->second;
    if (kind == EntryKind::Counter) {
      t.data<int64_t>()[0] = (int64_t)v.to(Device::CPU).item();
      return;
    }
    if (kind == EntryKind::Index) return;  // checked equal above
    Tensor f = v.to(Device::CPU).to(model.dtype);
    if (kind == EntryKind::ConvWeight) f = kcrs_to_krsc(f);
    t.copy_(f.view(t.shape()));
  });
}

void load_state_dict(ResNet& model, const std::map<std::string, Tensor>& sd, const std::string& source,
                     const LoadOptions& opt) {
  NamedTensors v(sd.begin(), sd.end());
  load_state_dict(model, v, source, opt);
}

NamedTensors state_dict(ResNet& model) { return state_dict(state_view(model)); }

NamedTensors state_dict(const StateView& model) {
  NamedTensors out;
  model.visit([&](const std::string& name, Tensor& t, EntryKind kind) {
    Tensor c = kind == EntryKind::ConvWeight ? krsc_to_kcrs(t) : t.to(Device::CPU).detach().clone();
    if (kind != EntryKind::Counter && kind != EntryKind::Index) c = c.to(DType::F32);
    c.set_name(name);
    out.emplace_back(name, c);
  });
  return out;
}

void load_weights(ResNet& model, const std::string& path, const LoadOptions& opt) {
  load_state_dict(model, weights::load_any(path), path, opt);
}

void save_weights(ResNet& model, const std::string& path, std::map<std::string, std::string> metadata) {
  metadata["format"] = "pt";
  write_model_meta(meta_of(model), metadata);
  st::save(path, state_dict(model), metadata);
}

ResNet load_model(const std::string& arch, const std::string& path, Device dev) {
  ModelMeta given;
  given.arch = arch;
  return open_model(read_weights(path, given), dev);
}

}  // namespace ish::models
