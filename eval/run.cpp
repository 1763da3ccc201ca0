#include "eval/run.h"

#include <unistd.h>

#include <cstdio>
#include <set>

#include "engine/error.h"
#include "engine/image/imglist.h"
#include "eval/fsood.h"

namespace ish::eval {

Fc fc_of(models::Net& m) {
  Fc fc;
  fc.W = m.head_weight().to(Device::CPU).clone();
  fc.b = m.head_bias().to(Device::CPU).clone();
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

std::vector<PPResult> run_benchmark(models::Net& model, const ListBenchmark& b, RunOptions& opt) {
  ISH_CHECK(b.id_test.defined(), "eval: no ID test list (--id-test or --benchmark)");
  ISH_CHECK(!b.near.empty() || !b.far.empty(), "eval: no OOD test list (--near/--far or --benchmark)");
  auto log = [&](const std::string& s) { if (opt.cfg.log) opt.cfg.log(s); };
  bool need_images = false, any_grid = false;
  std::string train_users, val_users;  // the detectors that need ID train / ID val features
  model.eval();
  EvalInputs in;
  in.fc = fc_of(model);
  NetGradNet net(model, opt.extract.transform);  // only odin and adascale call it
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

  // Every list this run reads, in extraction order, checked before the first image is decoded.
  check_csid_lists(b.csid);
  std::vector<std::pair<ListCheck, NamedSet*>> plan;
  std::map<std::string, img::Transform> own_transform;  // csid sets with their own preprocessing (imagenet_c)
  auto reads = [&](const img::ImgList& l) { return need_images || !is_cached(opt.extract, model.arch(), l, model.device()); };
  auto add = [&](const std::string& split, const ListSpec& s, bool id, NamedSet* dst) {
    plan.push_back({ListCheck{split + "/" + s.name, s, id, reads}, dst});
  };
  add("id_test", b.id_test, true, &in.id_test);
  if (b.id_val.defined() && (need_val || want_aps)) add("id_val", b.id_val, true, &in.id_val);
  if (b.ood_val.defined() && want_aps) add("ood_val", b.ood_val, false, &in.ood_val);
  if (need_train && b.id_train.defined()) add("id_train", b.id_train, true, &in.id_train);
  in.near.resize(b.near.size());
  in.far.resize(b.far.size());
  in.csid.resize(b.csid.size());
  for (size_t i = 0; i < b.near.size(); i++) add("near", b.near[i], false, &in.near[i]);
  for (size_t i = 0; i < b.far.size(); i++) add("far", b.far[i], false, &in.far[i]);
  for (size_t i = 0; i < b.csid.size(); i++) {
    add("csid", b.csid[i], true, &in.csid[i]);
    own_transform["csid/" + b.csid[i].name] = csid_transform(b.csid[i].name, opt.extract.transform);
  }
  std::vector<std::string> problems;
  if (need_train && !b.id_train.defined())
    problems.push_back(train_users + " need ID training features: give --id-train LIST");
  if (need_val && !b.id_val.defined()) problems.push_back(val_users + " need ID validation features: give --id-val LIST");
  std::vector<ListCheck> checks;
  std::set<std::string> keys;
  for (auto& [c, dst] : plan) {
    if (!keys.insert(c.key).second) problems.push_back(c.key + " is given twice (names must differ within a split)");
    checks.push_back(c);
  }
  std::map<std::string, img::ImgList> lists = check_lists(checks, in.fc.W.size(0), &problems);
  if (problems.size() == 1) fail("eval: ", problems[0]);
  if (!problems.empty()) {
    for (auto& p : problems) log(p);
    fail("eval: ", problems.size(), " problems with the inputs (listed above); nothing was extracted");
  }

  for (auto& [c, dst] : plan) {
    const img::ImgList& list = lists.at(c.key);
    ExtractOptions eo = opt.extract;
    eo.label = c.key;
    auto own = own_transform.find(c.key);
    if (own != own_transform.end()) eo.transform = own->second;
    Extracted e = extract_features(model, list, eo);
    log(c.key + ": " + std::to_string(e.f.size()) + " samples" + (e.from_cache ? " (cached " + e.cache_file + ")" : "") +
        (e.skipped ? ", " + std::to_string(e.skipped) + " files skipped" : ""));
    dst->name = c.spec.name;
    dst->f = std::move(e.f);
    if (need_images) dst->images = image_stream(list, eo);
    opt.out.counts[c.key] = dst->f.size();
    opt.out.skipped_files[c.key] = e.skipped;
  }
  opt.out.failed.clear();
  std::vector<PPResult> res = evaluate(in, opt.cfg, std::move(detectors), &opt.out.failed);
  write_outputs(res, in, opt.out);
  return res;
}

}  // namespace ish::eval
