#include "eval/features.h"

#include <unistd.h>

#include <cstdio>
#include <algorithm>
#include <fstream>

#include "engine/autograd.h"
#include "engine/device_options.h"
#include "engine/error.h"
#include "engine/image/batch_tensor.h"
#include "engine/image/loader.h"
#include "engine/ops.h"
#include "eval/npy.h"
#include "util/content_hash.h"
#include "util/progress.h"
#include "weights/safetensors.h"

namespace ish::eval {

std::string file_hash(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  ISH_CHECK(f, "cannot read ", path);
  util::ContentHash h;
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), (std::streamsize)buf.size());
    h.add(buf.data(), (size_t)f.gcount());
  }
  return h.hex();
}

img::LoaderOptions extract_loader_options(const ExtractOptions& o, Device dev) {
  img::LoaderOptions lo;
  lo.batch_size = o.batch_size;
  img::set_threads(lo, o.threads, dev == Device::CPU);
  lo.transform = o.transform;
  lo.decode = o.decode;
  lo.strict = o.strict;
  lo.format = img::input_format(dev);
  return lo;
}

std::string cache_key(const std::string& weights_key, const std::string& arch, const img::ImgList& list,
                      const img::Transform& t, const std::string& numerics, const img::DecodeOptions& decode) {
  util::ContentHash h;
  h.add(weights_key);
  h.add(arch);
  h.add(t.eval_key());
  if (!numerics.empty()) h.add(numerics);  // absent for strict fp32: CPU and GPU entries are shared
  // The file-size cap decides which files are skipped; absent at the default so older entries stay valid.
  const int64_t cap = std::max<int64_t>(decode.max_file_bytes, 0);
  if (cap != img::kDefaultMaxFileBytes) h.add(str("max_file_bytes=", cap));
  for (auto& it : list.items) {
    h.add(it.path);
    h.add(std::to_string(it.label));
  }
  return h.hex();
}

// The numerics part of the cache key: TF32 on cuda gives numbers beyond fp32 rounding of strict fp32's.
static std::string numerics_tag(Device dev) {
  const Tf32 tf32 = device_options().tf32;
  return dev == Device::CUDA && tf32 != Tf32::Off ? str("tf32=", tf32_name(tf32)) : "";
}

std::string cache_path(const ExtractOptions& opt, const std::string& arch, const img::ImgList& list, Device dev) {
  if (opt.cache_dir.empty()) return "";
  return opt.cache_dir + "/" + cache_key(opt.weights_key, arch, list, opt.transform, numerics_tag(dev), opt.decode) + ".safetensors";
}

bool is_cached(const ExtractOptions& opt, const std::string& arch, const img::ImgList& list, Device dev) {
  return !opt.cache_dir.empty() && !opt.recompute && access(cache_path(opt, arch, list, dev).c_str(), R_OK) == 0;
}

FeatureSet extract(models::Net& model, const BatchSource& batches, int64_t capacity) {
  const bool was = model.training();
  model.eval();
  NoGradGuard ng;
  const int64_t C = model.num_classes(), D = model.feature_dim();
  int64_t n = 0, cap = std::max<int64_t>(capacity, 0);
  FeatureSet f{Tensor::empty({cap, C}), Tensor::empty({cap, D}), Tensor()};
  std::vector<int64_t> labels;
  batches([&](const Tensor& x, const std::vector<int64_t>& y) {
    const int64_t b = x.size(0);
    ISH_CHECK((int64_t)y.size() == b, "extract: a batch of ", b, " inputs with ", y.size(), " labels");
    if (b == 0) return;
    auto out = model.forward(x.device() == model.device() ? x : x.to(model.device()));
    if (n + b > cap) {  // more rows than expected: grow (doubling)
      cap = std::max(2 * cap, n + b);
      FeatureSet g{Tensor::empty({cap, C}), Tensor::empty({cap, D}), Tensor()};
      if (n > 0) {
        g.logits.narrow0(0, n).copy_(f.logits.narrow0(0, n));
        g.features.narrow0(0, n).copy_(f.features.narrow0(0, n));
      }
      f = g;
    }
    f.logits.narrow0(n, b).copy_(out.logits);  // device -> host straight into place
    f.features.narrow0(n, b).copy_(out.features);
    labels.insert(labels.end(), y.begin(), y.end());
    n += b;
  });
  model.train(was);
  if (n < cap) {
    f.logits = f.logits.narrow0(0, n).clone();
    f.features = f.features.narrow0(0, n).clone();
  }
  f.labels = Tensor::from_i64(labels, {n});
  return f;
}

BatchSource loader_batches(img::Loader& loader, const img::Transform& t, Device dev,
                           std::function<void(const img::Batch&)> on_batch) {
  return [&loader, t, dev, on_batch](const BatchFn& fn) {
    while (const img::Batch* b = loader.next()) {
      if (on_batch) on_batch(*b);
      if (b->n > 0) fn(img::batch_tensor(*b, t, dev), b->labels);
    }
  };
}

Extracted extract_features(models::Net& model, const img::ImgList& list, const ExtractOptions& opt) {
  ISH_CHECK(opt.batch_size >= 1, "batch size must be >= 1");
  Extracted r;
  const std::string label = opt.label.empty() ? list.file : opt.label;
  const std::string key = opt.transform.eval_key();
  const Device dev = model.device();
  const Tf32 tf32 = device_options().tf32;
  if (!opt.cache_dir.empty()) {
    r.cache_file = cache_path(opt, model.arch(), list, dev);
    if (is_cached(opt, model.arch(), list, dev)) {
      st::File f = st::File::open(r.cache_file);
      r.f = {f.load("logits"), f.load("features"), f.load("labels")};
      r.f.validate("feature cache " + r.cache_file);
      auto& md = f.metadata();
      auto it = md.find("skipped");
      r.skipped = it == md.end() ? 0 : std::stoll(it->second);
      r.from_cache = true;
      if (!(opt.strict && r.skipped > 0)) return r;
      r = Extracted{{}, 0, false, r.cache_file};  // --strict: redo the pass so the bad file stops the run
    }
  }
  img::Loader loader(list, extract_loader_options(opt, dev));
  util::ProgressOptions po;
  po.on = opt.progress;
  util::Progress bar(label, (int64_t)list.items.size(), po);
  int64_t done = 0;
  auto progress = [&](const img::Batch& b) { bar.update(done += b.n + (int64_t)b.skipped.size()); };
  r.f = extract(model, loader_batches(loader, opt.transform, dev, progress), (int64_t)list.items.size());
  bar.finish();
  r.skipped = loader.skipped();
  if (!opt.cache_dir.empty()) {
    make_dirs(opt.cache_dir);
    st::save(r.cache_file, {{"logits", r.f.logits}, {"features", r.f.features}, {"labels", r.f.labels}},
             {{"list", list.file}, {"root", list.root}, {"arch", model.arch()}, {"weights", opt.weights_key},
              {"items", std::to_string(list.items.size())}, {"skipped", std::to_string(r.skipped)},
              {"preprocess", key}, {"device", device_name(dev)}, {"tf32", tf32_name(tf32)},
              {"max_file_bytes", std::to_string(std::max<int64_t>(opt.decode.max_file_bytes, 0))}});
  }
  return r;
}

ImageStream image_stream(const img::ImgList& list, const ExtractOptions& opt) {
  img::LoaderOptions lo = extract_loader_options(opt, Device::CPU);
  lo.format = img::PixelFormat::F32;  // ODIN perturbs the normalised pixels on the host
  lo.warn = false;  // the extraction pass already reported the skipped files
  // Each pass (ODIN and AdaSCALE run the network per image, ODIN once per APS grid point) reports progress.
  util::ProgressOptions po;
  po.on = opt.progress;
  const std::string label = (opt.label.empty() ? list.file : opt.label) + " (network pass)";
  return [list, lo, po, label](const std::function<void(const Tensor&, int64_t)>& fn) {
    img::Loader loader(list, lo);
    util::Progress bar(label, (int64_t)list.items.size(), po);
    int64_t first = 0, done = 0;
    while (const img::Batch* b = loader.next()) {
      if (b->n > 0) fn(img::batch_tensor(*b, lo.transform, Device::CPU), first);
      first += b->n;
      bar.update(done += b->n + (int64_t)b->skipped.size());
    }
    bar.finish();
  };
}

Tensor NetGradNet::logits(const Tensor& x) {
  NoGradGuard ng;
  return m_.forward(x.to(m_.device())).logits.to(Device::CPU);
}

Tensor NetGradNet::input_grad(const Tensor& x, const char* who,
                              const std::function<Tensor(const models::Net::Output&)>& loss_of) {
  // Only the input needs a gradient: freeze the parameters for this pass.
  auto params = m_.named_parameters();
  for (auto& [n, p] : params) p.set_requires_grad(false);
  struct Restore {
    models::NamedTensors& ps;
    ~Restore() { for (auto& [n, p] : ps) p.set_requires_grad(true); }
  } restore{params};
  Tensor xi = x.to(m_.device());
  if (xi.same(x)) xi = x.clone();
  xi.set_requires_grad(true);
  loss_of(m_.forward(xi)).backward();
  ISH_CHECK(xi.grad().defined(), who, ": the network produced no input gradient");
  return xi.grad().to(Device::CPU);
}

Tensor NetGradNet::ce_input_grad(const Tensor& x, double T, Tensor* logits) {
  return input_grad(x, "odin", [&](const models::Net::Output& out) {
    // argmax is a host op: take it on a host copy, then put the labels beside the logits.
    Tensor y = ops::argmax_last(out.logits.detach().to(Device::CPU));
    if (m_.device() != Device::CPU) y = y.to(m_.device());
    if (logits) *logits = out.logits.detach().to(Device::CPU);
    return ops::cross_entropy(ops::mul_scalar(out.logits, 1.0 / T), y);
  });
}

std::vector<double> NetGradNet::input_std() const {
  std::vector<double> s;
  for (int c = 0; c < norm_.channels; c++) s.push_back(norm_.std[c]);
  return s;
}

}  // namespace ish::eval
