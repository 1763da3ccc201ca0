#include "models/model_meta.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "engine/error.h"
#include "models/swin.h"
#include "models/vit.h"
#include "models/zoo.h"
#include "weights/text.h"

namespace ish::models {

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

std::string join(const std::vector<std::string>& v) {
  std::string r;
  for (auto& s : v) r += (r.empty() ? "" : ", ") + s;
  return r;
}

// "encoder.layers.encoder_layer_7.ln_1.weight" -> 7, rest "ln_1.weight"; -1 for other names.
int parse_vit_layer(const std::string& name, std::string* rest) {
  const std::string p = "encoder.layers.encoder_layer_";
  if (!starts_with(name, p)) return -1;
  size_t i = p.size(), j = i;
  while (j < name.size() && j - i < 6 && name[j] >= '0' && name[j] <= '9') j++;
  if (j == i || j >= name.size() || name[j] != '.') return -1;
  *rest = name.substr(j + 1);
  return std::atoi(name.substr(i, j - i).c_str());
}

// torchvision's VisionTransformer names. Returns false when none is present.
bool infer_vit(const ShapeList& entries, Inferred* r) {
  int hidden = 0, patch = 0, layers = 0, mlp = 0, positions = 0;
  bool any = false;
  for (auto& [name, shape] : entries) {
    std::string rest;
    const int l = parse_vit_layer(name, &rest);
    if (name == "conv_proj.weight" && shape.size() == 4) {
      any = true;
      hidden = (int)shape[0];
      r->in_channels = (int)shape[1];
      patch = shape[2] == shape[3] ? (int)shape[2] : -1;
    } else if (name == "encoder.pos_embedding" && shape.size() == 3) {
      any = true;
      positions = (int)shape[1];
    } else if (name == "heads.head.weight" && shape.size() == 2) {
      r->num_classes = (int)shape[0];
    } else if (l >= 0) {
      any = true;
      layers = std::max(layers, l + 1);
      if ((rest == "mlp.0.weight" || rest == "mlp.linear_1.weight") && shape.size() == 2) mlp = (int)shape[0];
    }
  }
  if (!any) return false;
  // L = (S/P)^2 + 1 positions (the class token first)
  int64_t grid = 0;
  while (positions > 1 && (grid + 1) * (grid + 1) <= positions - 1) grid++;
  const bool square = positions > 1 && grid * grid == positions - 1 && grid * patch <= 8192;
  if (square && patch > 0) r->image_size = (int)(grid * patch);
  r->seen = str("vit: patch ", patch > 0 ? std::to_string(patch) : std::string("?"), ", hidden ", hidden, ", ", layers,
                " layers, mlp ", mlp, ", ",
                r->image_size ? str(r->image_size, "x", r->image_size, " input") : str(positions, " positions"));
  for (const std::string& arch : vit_archs()) {
    const ViTConfig c = vit_config_for(arch);
    bool ok = (hidden == 0 || hidden == c.hidden_dim) && (patch == 0 || patch == c.patch_size);
    ok = ok && (layers == 0 || layers == c.num_layers) && (mlp == 0 || mlp == c.mlp_dim);
    ok = ok && (positions == 0 || r->image_size > 0);
    if (ok) r->archs.push_back(arch);
  }
  return true;
}

// torchvision's SwinTransformer (v1) names: features.0.0 the patch embedding; stages at features.1, 3,
// 5, 7 (PatchMerging between them). Returns false when none is present.
bool infer_swin(const ShapeList& entries, Inferred* r) {
  int embed = 0, patch = 0, depths[4] = {0, 0, 0, 0};
  bool any = false;
  for (auto& [name, shape] : entries) {
    if (name == "features.0.0.weight" && shape.size() == 4) {
      embed = (int)shape[0];
      r->in_channels = (int)shape[1];
      patch = shape[2] == shape[3] ? (int)shape[2] : -1;
    } else if (name == "head.weight" && shape.size() == 2) {
      r->num_classes = (int)shape[0];
    }
    // features.<1|3|5|7>.<block>.attn.relative_position_bias_table
    const std::string tail = ".attn.relative_position_bias_table";
    if (!starts_with(name, "features.") || name.size() < 11 + tail.size() ||
        name.compare(name.size() - tail.size(), tail.size(), tail) != 0)
      continue;
    const int s = name[9] - '0';
    if (name[10] != '.' || s < 1 || s > 7 || s % 2 == 0) continue;
    // The block index: 1 to 6 digits then '.', as parse_layer (a longer one is no torchvision name).
    size_t j = 11;
    while (j < name.size() && j - 11 < 6 && name[j] >= '0' && name[j] <= '9') j++;
    if (j == 11 || name[j] != '.') continue;
    const int b = std::atoi(name.substr(11, j - 11).c_str());
    any = true;
    depths[(s - 1) / 2] = std::max(depths[(s - 1) / 2], b + 1);
  }
  if (!any) return false;
  r->seen = str("swin: embed ", embed, ", patch ", patch, ", depths ", depths[0], ",", depths[1], ",", depths[2], ",",
                depths[3]);
  for (const std::string& arch : swin_archs()) {
    const SwinConfig c = swin_config_for(arch);
    bool ok = (embed == 0 || embed == c.embed_dim) && (patch == 0 || patch == c.patch_size) && c.depths.size() == 4;
    for (int s = 0; s < 4 && ok; s++) ok = depths[s] == 0 || depths[s] == c.depths[s];
    if (ok) r->archs.push_back(arch);
  }
  return true;
}

// A metadata integer in [lo, hi]; absent keeps `def`.
int meta_int(const std::map<std::string, std::string>& md, const char* key, int lo, int hi, int def,
             const std::string& source) {
  auto it = md.find(key);
  if (it == md.end()) return def;
  const std::string& v = it->second;
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(v.c_str(), &end, 10);
  ISH_CHECK(!v.empty() && end && *end == 0 && errno == 0 && x >= lo && x <= hi, source, ": metadata '", key,
            "' must be an integer in [", lo, ", ", hi, "], got '", weights::printable(v, 40), "'");
  return (int)x;
}

// "layer3.12.conv2.weight" -> stage 3, block 12, rest "conv2.weight"; false for other names.
bool parse_layer(const std::string& name, int* stage, int* block, std::string* rest) {
  if (!starts_with(name, "layer") || name.size() < 8 || name[5] < '1' || name[5] > '4' || name[6] != '.') return false;
  size_t i = 7, j = i;
  while (j < name.size() && j - i < 6 && name[j] >= '0' && name[j] <= '9') j++;
  if (j == i || j >= name.size() || name[j] != '.') return false;
  *stage = name[5] - '1';
  *block = std::atoi(name.substr(i, j - i).c_str());
  *rest = name.substr(j + 1);
  return true;
}

}  // namespace

ModelMeta read_model_meta(const std::map<std::string, std::string>& md, const std::string& source) {
  ModelMeta m;
  auto a = md.find("arch");
  // An arch this build does not know (another tool's name) is treated as absent: inference decides.
  if (a != md.end()) m.arch = zoo::canonical(a->second);
  m.width = meta_int(md, "width", 1, 4096, 0, source);
  m.in_channels = meta_int(md, "in_channels", 1, 64, 0, source);
  m.num_classes = meta_int(md, "num_classes", 1, 1 << 24, 0, source);
  m.image_size = meta_int(md, "image_size", 1, 8192, 0, source);
  m.resize = meta_int(md, "resize", 0, 16384, -1, source);
  return m;
}

void write_model_meta(const ModelMeta& m, std::map<std::string, std::string>& md) {
  if (!m.arch.empty()) md["arch"] = m.arch;
  if (m.width > 0) md["width"] = std::to_string(m.width);
  if (m.in_channels > 0) md["in_channels"] = std::to_string(m.in_channels);
  if (m.num_classes > 0) md["num_classes"] = std::to_string(m.num_classes);
  if (m.image_size > 0) md["image_size"] = std::to_string(m.image_size);
  if (m.resize >= 0) md["resize"] = std::to_string(m.resize);
}

ModelMeta meta_of(const ResNet& model) {
  ModelMeta m;
  m.arch = model.arch();
  m.width = model.config().width;
  m.in_channels = model.config().in_channels;
  m.num_classes = model.config().num_classes;
  return m;
}

ResNetConfig config_of(const ModelMeta& m) {
  ResNetConfig c = config_for(m.arch);
  if (m.width > 0) c.width = m.width;
  if (m.in_channels > 0) c.in_channels = m.in_channels;
  if (m.num_classes > 0) c.num_classes = m.num_classes;
  return c;
}

Inferred infer_arch(const ShapeList& entries) {
  Inferred r;
  if (infer_vit(entries, &r) || infer_swin(entries, &r)) return r;
  int stem = 0;              // conv1's kernel size (0: no conv1.weight)
  int bottleneck = -1;       // -1 unknown, 0 basic, 1 bottleneck
  int blocks[4] = {0, 0, 0, 0};
  bool any_layer = false;
  for (auto& [name, shape] : entries) {
    if (name == "conv1.weight" && shape.size() == 4) {
      r.width = (int)shape[0];
      r.in_channels = (int)shape[1];
      stem = shape[2] == shape[3] ? (int)shape[2] : -1;
    } else if ((name == "fc.weight" && shape.size() == 2) || (name == "fc.bias" && shape.size() == 1 && !r.num_classes)) {
      r.num_classes = (int)shape[0];
    }
    int s, b;
    std::string rest;
    if (!parse_layer(name, &s, &b, &rest)) continue;
    any_layer = true;
    blocks[s] = std::max(blocks[s], b + 1);
    if (starts_with(rest, "conv3.")) bottleneck = 1;
    else if (starts_with(rest, "conv2.") && bottleneck < 0) bottleneck = 0;
  }
  auto count = [&](int s) { return blocks[s] ? std::to_string(blocks[s]) : std::string("?"); };
  r.seen = (stem > 0 ? str(stem, "x", stem, " stem") : stem < 0 ? std::string("non-square stem") : "no conv1.weight") +
           ", " + (bottleneck == 1 ? "bottleneck" : bottleneck == 0 ? "basic" : "unknown") + " blocks " + count(0) +
           "," + count(1) + "," + count(2) + "," + count(3);
  if (!any_layer && stem == 0) return r;  // nothing ResNet-like: no candidate
  for (const std::string& arch : known_archs()) {
    ResNetConfig c = config_for(arch);
    bool ok = stem == 0 || stem == (c.cifar_stem ? 3 : 7);
    ok = ok && (bottleneck < 0 || bottleneck == (int)c.bottleneck);
    for (int s = 0; s < 4; s++) ok = ok && (blocks[s] == 0 || blocks[s] == c.layers[s]);
    if (ok) r.archs.push_back(arch);
  }
  return r;
}

ModelMeta resolve_model(const ModelMeta& file, const Inferred& inf, const ModelMeta& given, const std::string& path) {
  ModelMeta r = file;
  const bool inferred_one = inf.archs.size() == 1;
  if (!given.arch.empty()) {
    const std::string arch = zoo::require(given.arch);  // an unknown name: one line listing the known ones
    ISH_CHECK(file.arch.empty() || file.arch == arch, path, ": --arch ", given.arch,
              " contradicts the file's metadata arch=", file.arch, " (drop --arch)");
    ISH_CHECK(!file.arch.empty() || inf.archs.empty() ||
                  std::find(inf.archs.begin(), inf.archs.end(), arch) != inf.archs.end(),
              path, ": its tensors (", inf.seen, ") are ", join(inf.archs), ", not --arch ", given.arch);
    r.arch = arch;
  } else if (r.arch.empty()) {
    ISH_CHECK(!inf.archs.empty(), path, ": no known architecture matches its tensors (", inf.seen,
              "); pass --arch (known: ", zoo::archs_help(), ")");
    ISH_CHECK(inferred_one, path, ": its tensors (", inf.seen, ") match ", join(inf.archs), "; pass --arch to choose");
    r.arch = inf.archs[0];
  }
  ISH_CHECK(given.width <= 0 || zoo::family(r.arch) == zoo::Family::ResNet, path, ": --width applies to ResNets, not ",
            r.arch);
  if (given.width > 0) {
    ISH_CHECK(file.width == 0 || file.width == given.width, path, ": --width ", given.width,
              " contradicts the file's metadata width=", file.width, " (drop --width)");
    ISH_CHECK(file.width > 0 || inf.width == 0 || inf.width == given.width, path, ": --width ", given.width,
              " does not match the file's width ", inf.width, " (conv1.weight has ", inf.width, " filters)");
    r.width = given.width;
  }
  if (r.width == 0) r.width = inf.width;
  if (r.in_channels == 0) r.in_channels = inf.in_channels;
  if (r.num_classes == 0) r.num_classes = inf.num_classes;
  return r;
}

}  // namespace ish::models
