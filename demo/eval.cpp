#include "demo/eval.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "demo/model.h"
#include "eval/run.h"

namespace ish::demo {
namespace {

using Clock = std::chrono::steady_clock;

// eval's log lines that need a reader (warnings, skipped APS points, undefined scores) go to stderr; the
// per-point APS trace and per-detector results do not (the demo prints its own line per detector).
void progress_line(const std::string& s) {
  for (const char* k : {"warning", " skip ", "undefined"})
    if (s.find(k) != std::string::npos) {
      std::fprintf(stderr, "   %s\n", s.c_str());
      return;
    }
}

// The first n rows of a set (ODIN on a prefix of a large set), with a stream over the same images.
eval::NamedSet prefix(const eval::NamedSet& s, const ImageSet& img, const DemoData& d, int64_t batch, int64_t n) {
  eval::NamedSet o = s;
  if (n >= 0 && n < s.f.size()) o.f = {s.f.logits.narrow0(0, n), s.f.features.narrow0(0, n), s.f.labels.narrow0(0, n)};
  o.images = image_stream(img, d, batch, n);
  return o;
}

}  // namespace

ModelEval evaluate_model(models::ResNet& model, const DemoData& d, const DemoConfig& c, const std::string& training,
                         int seed, const std::string& dir) {
  ModelEval me;
  me.training = training;
  me.seed = seed;
  me.dir = dir;
  const auto t0 = Clock::now();
  const double cpu0 = cpu_seconds();
  const int64_t B = c.eval_batch;
  model.eval();
  auto named = [&](const ImageSet& s) { return eval::NamedSet{s.name, extract(model, s, d, B), nullptr}; };
  eval::EvalInputs in;
  {
    auto net = models::view(model);
    in.fc = eval::fc_of(net);
  }
  in.id_test = named(d.id_test);
  in.id_val = named(d.id_val);
  in.ood_val = named(d.ood_val);
  in.id_train = named(d.id_fit);
  in.near = {named(d.near)};
  in.far = {named(d.mnist), named(d.letters), named(d.noise)};
  DemoGradNet net(model, d.stdv);
  in.net = &net;
  {  // plain-logit ID accuracy
    const float* z = in.id_test.f.logits.data<float>();
    const int64_t* y = in.id_test.f.labels.data<int64_t>();
    int64_t hit = 0;
    for (int64_t i = 0; i < in.id_test.f.size(); i++) hit += eval::detail::argmax_row(z + i * kIdClasses, kIdClasses) == y[i];
    me.id_acc = 100.0 * (double)hit / (double)std::max<int64_t>(1, in.id_test.f.size());
  }
  std::fprintf(stderr, "   %s: ID test accuracy %.2f%% (features %.1fs)\n", training.c_str(), me.id_acc,
               std::chrono::duration<double>(Clock::now() - t0).count());

  eval::EvalConfig cfg;
  cfg.log = progress_line;
  // The detectors that need the network per image run apart: ODIN below on a prefix; AdaSCALE (two
  // forwards and a backward per image, on the fit set too) is not part of the demo's budget.
  for (auto& n : eval::detector_names())
    if (n != "odin" && n != "adascale_a" && n != "adascale_l") cfg.postprocessors.push_back(n);
  // ViM's reference grid (dim 256, 1000) assumes 2048 features; on a narrower net APS searches shares of
  // the feature dimension instead.
  const int64_t D = model.feature_dim();
  if (D <= 1000)
    for (int64_t div : {8, 4, 2}) cfg.grids["vim"].push_back({{"dim", (double)std::max<int64_t>(1, D / div)}});
  me.pps = eval::evaluate(in, cfg);

  // ODIN re-runs the network (a forward and a backward per image and grid point): on the CPU it runs
  // with its default T and eps on a prefix of each set (DemoConfig::odin_max; 0: not at all).
  if (c.odin_max != 0) {
    eval::EvalInputs oi;
    oi.fc = in.fc;
    oi.net = &net;
    const int64_t L = c.odin_max;
    oi.id_test = prefix(in.id_test, d.id_test, d, B, L);
    oi.id_val = prefix(in.id_val, d.id_val, d, B, L);
    oi.ood_val = prefix(in.ood_val, d.ood_val, d, B, L);
    oi.near = {prefix(in.near[0], d.near, d, B, L)};
    oi.far = {prefix(in.far[0], d.mnist, d, B, L), prefix(in.far[1], d.letters, d, B, L),
              prefix(in.far[2], d.noise, d, B, L)};
    eval::EvalConfig oc;
    oc.log = progress_line;
    oc.postprocessors = {"odin"};
    oc.aps = c.odin_aps;  // off: its default T and eps
    auto r = eval::evaluate(oi, oc);
    me.pps.push_back(std::move(r.at(0)));
  }
  for (auto& r : me.pps)
    std::fprintf(stderr, "   %-7s near AUROC %6.2f FPR@95 %6.2f | far AUROC %6.2f FPR@95 %6.2f | %s%s (%.1fs)\n", r.name.c_str(),
                100 * r.near_mean.auroc, 100 * r.near_mean.fpr95, 100 * r.far_mean.auroc, 100 * r.far_mean.fpr95,
                r.params.empty() ? "-" : (r.params_text.empty() ? eval::hparams_str(r.params) : r.params_text).c_str(), r.searched ? " [APS]" : "", r.seconds);

  me.opt.out_dir = dir;
  me.opt.save_csv = true;
  me.opt.save_score = true;
  me.opt.report = true;
  me.opt.title = str("ishscale demo: ", training, ", seed ", seed);
  me.opt.info = {{"training", training},
                 {"seed", std::to_string(seed)},
                 {"model", str(c.arch, " width ", c.width, ", 1x28x28 input, 6 classes")},
                 {"weights", dir + "/last.safetensors"},
                 {"ID accuracy (%)", str(me.id_acc)},
                 {"odin", c.odin_max == 0  ? std::string("not run (the profile's cut)")
                          : c.odin_max > 0 ? str("first ", c.odin_max, " images of each set")
                                           : std::string("every image")},
                 {"adascale_a, adascale_l", "not run (they need the network per image; use ishscale eval)"}};
  for (auto* s : {&in.id_test, &in.id_val, &in.ood_val, &in.id_train}) me.opt.counts[s->name] = s->f.size();
  for (auto* v : {&in.near, &in.far})
    for (auto& s : *v) me.opt.counts[s.name] = s.f.size();
  eval::write_outputs(me.pps, in, me.opt);
  me.eval_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::fprintf(stderr, "   %s: evaluated in %.1fs (%.1f CPU seconds)\n", training.c_str(), me.eval_seconds,
               cpu_seconds() - cpu0);
  return me;
}

}  // namespace ish::demo
