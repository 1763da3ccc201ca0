#include "eval/run.h"

#include <unistd.h>

#include <cstdio>

#include "engine/error.h"
#include "engine/image/imglist.h"
#include "eval/fsood.h"

namespace ish::eval {

Fc fc_of(models::ResNet& m) {
  Fc fc;
  m.visit([&](const std::string& name, Tensor& t, models::EntryKind) {
    if (name == "fc.weight") fc.W = t.to(Device::CPU).clone();
    if (name == "fc.bias") fc.b = t.to(Device::CPU).clone();
  });
  ISH_ASSERT(fc.W.defined() && fc.b.defined());
  return fc;
}

ListBenchmark imagenet_benchmark(const std::string& data_root) {
  const std::string lists = img::join_path(data_root, "benchmark_imglist/imagenet");
  const std::string large = img::join_path(data_root, "images_largescale");
  const std::string classic = img::join_path(data_root, "images_classic");
  auto spec = [&](const std::string& name, const std::string& file, const std::string& root) {
    return ListSpec{name, lists + "/" + file, root};
  };
  ListBenchmark b;
  b.id_test = spec("imagenet", "test_imagenet.txt", large);
  b.id_val = spec("imagenet", "val_imagenet.txt", large);
  b.ood_val = spec("openimage_o", "val_openimage_o.txt", large);
  if (access((lists + "/train_imagenet.txt").c_str(), R_OK) == 0) b.id_train = spec("imagenet", "train_imagenet.txt", large);
  b.near = {spec("ssb_hard", "test_ssb_hard.txt", large), spec("ninco", "test_ninco.txt", large)};
  b.far = {spec("inaturalist", "test_inaturalist.txt", large), spec("textures", "test_textures.txt", classic),
           spec("openimage_o", "test_openimage_o.txt", large)};
  return b;
}

std::vector<PPResult> run_benchmark(models::ResNet& model, const ListBenchmark& b, RunOptions& opt) {
  ISH_CHECK(b.id_test.defined(), "eval: no ID test list (--id-test or --benchmark)");
  ISH_CHECK(!b.near.empty() || !b.far.empty(), "eval: no OOD test list (--near/--far or --benchmark)");
  auto log = [&](const std::string& s) { if (opt.cfg.log) opt.cfg.log(s); };
  bool need_images = false, any_grid = false;
  std::string train_users, val_users;  // the detectors that need ID train / ID val features
  model.eval();
  EvalInputs in;
  in.fc = fc_of(model);
  ResNetGradNet net(model);  // only odin calls it
  in.net = &net;
  // Built once: asked what they need here, then fitted, tuned and scored by evaluate().
  auto detectors = make_detectors(opt.cfg.postprocessors, in.fc, &net);
  for (auto& d : detectors) {
    if (d->needs_id_train()) train_users += (train_users.empty() ? "" : ", ") + d->name();
    if (d->needs_id_val()) val_users += (val_users.empty() ? "" : ", ") + d->name();
    need_images |= d->needs_images();
    any_grid |= !d->grid().empty() || opt.cfg.grids.count(d->name());
  }
  const bool need_train = !train_users.empty(), need_val = !val_users.empty();
  const bool want_aps = opt.cfg.aps && any_grid && b.id_val.defined() && b.ood_val.defined();
  if (need_train) ISH_CHECK(b.id_train.defined(), "eval: ", train_users, " need ID training features: give --id-train LIST");
  if (need_val) ISH_CHECK(b.id_val.defined(), "eval: ", val_users, " need ID validation features: give --id-val LIST");
  check_csid_lists(b.csid);

  auto load = [&](const ListSpec& s, const std::string& key, NamedSet* out, const img::Transform* t = nullptr) {
    img::ImgList list = img::read_imglist(s.list, s.root);
    ExtractOptions eo = opt.extract;
    eo.label = key;
    if (t) eo.transform = *t;
    Extracted e = extract_features(model, list, eo);
    log(key + ": " + std::to_string(e.f.size()) + " samples" + (e.from_cache ? " (cached " + e.cache_file + ")" : "") +
        (e.skipped ? ", " + std::to_string(e.skipped) + " files skipped" : ""));
    out->name = s.name;
    out->f = std::move(e.f);
    if (need_images) out->images = image_stream(list, eo);
    opt.out.counts[key] = out->f.size();
    opt.out.skipped_files[key] = e.skipped;
  };
  load(b.id_test, "id_test/" + b.id_test.name, &in.id_test);
  if (b.id_val.defined() && (need_val || want_aps)) load(b.id_val, "id_val/" + b.id_val.name, &in.id_val);
  if (b.ood_val.defined() && want_aps) load(b.ood_val, "ood_val/" + b.ood_val.name, &in.ood_val);
  if (need_train) load(b.id_train, "id_train/" + b.id_train.name, &in.id_train);
  for (auto [specs, sets, split] : {std::make_tuple(&b.near, &in.near, "near"), std::make_tuple(&b.far, &in.far, "far")})
    for (const ListSpec& s : *specs) {
      sets->emplace_back();
      load(s, std::string(split) + "/" + s.name, &sets->back());
    }
  for (const ListSpec& s : b.csid) {
    const img::Transform t = csid_transform(s.name, opt.extract.transform);
    in.csid.emplace_back();
    load(s, "csid/" + s.name, &in.csid.back(), &t);
  }
  std::vector<PPResult> res = evaluate(in, opt.cfg, std::move(detectors));
  write_outputs(res, in, opt.out);
  return res;
}

}  // namespace ish::eval
