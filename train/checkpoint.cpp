#include "train/checkpoint.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "engine/device_options.h"
#include "engine/rng.h"
#include "models/model_meta.h"
#include "models/state_dict.h"
#include "weights/safetensors.h"

namespace ish::train {

static const char* kFormat = "ishscale-train-1";

// Names of the model's conv weights: their momentum buffers are stored in KCRS as the weights are.
static std::set<std::string> conv_weight_names(models::ResNet& model) {
  std::set<std::string> out;
  model.visit([&](const std::string& name, Tensor&, models::EntryKind k) {
    if (k == models::EntryKind::ConvWeight) out.insert(name);
  });
  return out;
}

static std::string param_of(const std::string& key) {
  const std::string pre = SGD::kPrefix, suf = ".momentum_buffer";
  if (key.size() <= pre.size() + suf.size() || key.compare(0, pre.size(), pre) != 0 ||
      key.compare(key.size() - suf.size(), suf.size(), suf) != 0)
    return "";
  return key.substr(pre.size(), key.size() - pre.size() - suf.size());
}

CheckpointData checkpoint_data(models::ResNet& model, const SGD* opt, const CheckpointMeta& meta) {
  NamedTensors all = models::state_dict(model);
  if (opt) {
    auto convs = conv_weight_names(model);
    for (auto& [key, buf] : opt->state()) {
      Tensor host = buf.to(Device::CPU);
      all.emplace_back(key, convs.count(param_of(key)) ? models::krsc_to_kcrs(host) : host);
    }
  }
  char acc[64];
  std::snprintf(acc, sizeof acc, "%.17g", meta.best_acc);
  std::map<std::string, std::string> md{{"format", kFormat},
                                         {"step", std::to_string(meta.step)},
                                         {"epoch", std::to_string(meta.epoch)},
                                         {"step_in_epoch", std::to_string(meta.step_in_epoch)},
                                         {"epoch_seed", std::to_string(meta.epoch_seed)},
                                         {"rng", meta.rng},
                                         {"best_acc", acc},
                                         {"config", meta.config},
                                         {"tf32", tf32_name(device_options().tf32)}};
  models::ModelMeta mm = models::meta_of(model);
  mm.image_size = (int)meta.image_size;
  mm.resize = (int)meta.resize;
  models::write_model_meta(mm, md);
  return {std::move(all), std::move(md)};
}

void save_checkpoint(const std::string& path, models::ResNet& model, const SGD* opt, const CheckpointMeta& meta) {
  CheckpointData d = checkpoint_data(model, opt, meta);
  st::save(path, d.tensors, d.metadata);
}

static int64_t meta_int(const std::map<std::string, std::string>& md, const std::string& path, const char* key) {
  auto it = md.find(key);
  ISH_CHECK(it != md.end(), path, ": not a training checkpoint (metadata '", key, "' missing)");
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  ISH_CHECK(end && *end == 0 && !it->second.empty() && v >= 0, path, ": metadata '", key, "' is not a count: '",
            it->second, "'");
  return v;
}

static CheckpointMeta parse_meta(const st::File& f) {
  const auto& md = f.metadata();
  const std::string& path = f.path();
  auto fmt = md.find("format");
  ISH_CHECK(fmt != md.end() && fmt->second == kFormat, path, ": not an ishscale training checkpoint (format '",
            fmt == md.end() ? "" : fmt->second, "', expected '", kFormat, "')");
  CheckpointMeta m;
  m.step = meta_int(md, path, "step");
  m.epoch = meta_int(md, path, "epoch");
  m.step_in_epoch = meta_int(md, path, "step_in_epoch");
  auto es = md.find("epoch_seed");
  ISH_CHECK(es != md.end(), path, ": metadata 'epoch_seed' missing");
  m.epoch_seed = std::strtoull(es->second.c_str(), nullptr, 10);
  auto rng = md.find("rng");
  ISH_CHECK(rng != md.end(), path, ": metadata 'rng' missing");
  m.rng = rng->second;
  Rng probe;
  probe.set_state(m.rng);  // validates now rather than mid-run
  auto acc = md.find("best_acc");
  m.best_acc = acc == md.end() ? -1 : std::strtod(acc->second.c_str(), nullptr);
  auto cfg = md.find("config");
  m.config = cfg == md.end() ? "{}" : cfg->second;
  return m;
}

CheckpointMeta read_checkpoint_meta(const std::string& path) { return parse_meta(st::File::open(path)); }

CheckpointMeta load_checkpoint(const std::string& path, models::ResNet& model, SGD* opt) {
  st::File f = st::File::open(path);
  CheckpointMeta m = parse_meta(f);
  auto tensors = f.load_all();
  std::map<std::string, Tensor> optim;
  auto convs = conv_weight_names(model);
  for (auto& [key, t] : tensors) {
    if (key.compare(0, 6, SGD::kPrefix) != 0) continue;
    std::string p = param_of(key);
    ISH_CHECK(!p.empty(), path, ": unexpected optimizer entry ", key);
    ISH_CHECK(!convs.count(p) || t.dim() == 4, path, ": optimizer entry ", key, " should be 4-d, is ",
              shape_str(t.shape()));
    optim[key] = convs.count(p) ? models::kcrs_to_krsc(t) : t;
  }
  // Check the optimizer state against the model before touching anything.
  if (opt) {
    SGD probe = *opt;
    probe.load_state(optim);
  }
  models::LoadOptions lo;
  lo.ignore_prefixes = {SGD::kPrefix};
  models::load_state_dict(model, tensors, path, lo);
  if (opt) opt->load_state(optim);
  return m;
}

}  // namespace ish::train
