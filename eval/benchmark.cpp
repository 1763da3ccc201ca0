#include "eval/benchmark.h"

#include <chrono>
#include <cmath>

#include "engine/error.h"
#include "eval/fsood.h"

namespace ish::eval {
namespace {

bool present(const NamedSet& s) { return s.f.size() > 0; }

}  // namespace

std::vector<int64_t> plain_pred(const FeatureSet& f) {
  const int64_t N = f.size(), C = f.logits.size(1);
  std::vector<int64_t> p(N);
  const float* z = f.logits.data<float>();
  for (int64_t i = 0; i < N; i++) p[i] = detail::argmax_row(&z[i * C], C);
  return p;
}

// NaN scores (only from NaN/inf features) rank as -inf and are counted, so metrics never see NaN.
void sanitize(Scores& s) {
  for (auto& c : s.conf)
    if (std::isnan(c)) {
      c = -INFINITY;
      s.degenerate++;
    }
}

Metrics mean_of(const std::vector<DatasetResult>& rows) {
  Metrics m;
  if (rows.empty()) return m;
  for (auto& r : rows) {
    m.fpr95 += r.m.fpr95;
    m.auroc += r.m.auroc;
    m.aupr_in += r.m.aupr_in;
    m.aupr_out += r.m.aupr_out;
    m.acc += r.m.acc;
  }
  const double n = (double)rows.size();
  m.fpr95 /= n, m.auroc /= n, m.aupr_in /= n, m.aupr_out /= n, m.acc /= n;
  return m;
}

std::vector<std::unique_ptr<Detector>> make_detectors(const std::vector<std::string>& names, const Fc& fc,
                                                      InputGradNet* net) {
  std::vector<std::unique_ptr<Detector>> d;
  for (const std::string& n : names) d.push_back(make_detector(n, fc, net));
  return d;
}

std::vector<PPResult> evaluate(const EvalInputs& in, const EvalConfig& cfg) {
  return evaluate(in, cfg, make_detectors(cfg.postprocessors, in.fc, in.net), nullptr);
}

namespace {

// What every detector shares: the ID test labels and the plain-logit predictions.
struct Shared {
  std::vector<int64_t> id_gt, id_plain;
};

// ID labels are -1 (unknown, left out of ACC) or a class of fc; anything else would make ACC silently wrong.
void check_id_labels(const std::vector<int64_t>& gt, int64_t C, const std::string& set) {
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < gt.size(); i++)
    if (gt[i] < -1 || gt[i] >= C) bad++, first = first < 0 ? (int64_t)i : first;
  ISH_CHECK(bad == 0, "eval: ", bad, " labels of the ID set ", set, " are neither -1 (unknown) nor in [0, ", C,
            "); first: row ", first, " (label ", bad ? gt[first] : 0, ")");
}

std::string means_text(const PPResult& r) {
  std::string s;
  if (!r.near.empty()) s += "near AUROC " + std::to_string(100 * r.near_mean.auroc) + ", ";
  if (!r.far.empty()) s += "far AUROC " + std::to_string(100 * r.far_mean.auroc) + ", ";
  return s + "ACC " + std::to_string(100 * r.acc);
}

// One detector: fit, fix or search its hyper-parameters, score every split, compute the metrics.
PPResult run_detector(const EvalInputs& in, const EvalConfig& cfg, const Shared& sh, Detector* det) {
  const std::string name = det->name();
  auto log = [&](const std::string& s) { if (cfg.log) cfg.log(s); };
  const std::vector<int64_t>& id_gt = sh.id_gt;
  auto t0 = std::chrono::steady_clock::now();
  if (det->needs_id_train())
    ISH_CHECK(present(in.id_train), name, " needs ID training features: give --id-train LIST");
  if (det->needs_id_val()) ISH_CHECK(present(in.id_val), name, " needs ID validation features: give --id-val LIST");
  if (det->needs_images()) {
    ISH_CHECK(in.net != nullptr, name, " needs the network and the images (not available here)");
    ISH_CHECK(in.id_test.images, name, " needs the ID test images");
    for (auto* v : {&in.near, &in.far, &in.csid})
      for (auto& s : *v) ISH_CHECK(s.images, name, " needs the images of ", s.name);
  }
  FitInputs fit;
  if (present(in.id_train)) fit.id_train = &in.id_train.f;
  if (present(in.id_val)) fit.id_val = &in.id_val.f;
  if (in.id_val.images) fit.id_val_images = &in.id_val.images;
  fit.batch_size = cfg.batch_size;
  fit.log = cfg.log;
  det->set_save_aux(cfg.save_aux);
  det->fit(fit);
  PPResult r;
  r.name = name;
  bool has_pct = false;
  for (auto& [k, v] : det->params()) has_pct |= k == "percentile";
  auto fixed = cfg.fixed.find(name);
  auto own_grid = cfg.grids.find(name);
  const std::vector<HParams> grid = own_grid != cfg.grids.end() ? own_grid->second : det->grid();
  if (fixed != cfg.fixed.end()) {
    det->set_params(fixed->second);
  } else if (cfg.percentile >= 0 && has_pct) {
    det->set_params({{"percentile", cfg.percentile}});
  } else if (cfg.aps && !grid.empty() && present(in.id_val) && present(in.ood_val)) {
    const bool img = det->needs_images();
    ISH_CHECK(!img || (in.id_val.images && in.ood_val.images), name, " APS needs the validation images");
    r.aps = aps_search(*det, in.id_val.f, in.ood_val.f, grid, img ? &in.id_val.images : nullptr,
                       img ? &in.ood_val.images : nullptr, cfg.log);
    r.searched = true;
  } else if (!grid.empty()) {
    log(name + (cfg.aps ? ": no APS (needs --id-val and --ood-val)" : ": APS off") + "; defaults " +
        hparams_str(det->params()));
  }
  r.params = det->params();
  r.params_text = hparams_str(r.params, *det);
  log(name + ": " + (r.params.empty() ? std::string("no hyper-parameters") : r.params_text) +
      (r.searched ? " (APS, val AUROC " + std::to_string(r.aps.best_auroc) + ")" : ""));
  r.id_test = det->score(in.id_test.f, in.id_test.images ? &in.id_test.images : nullptr);
  sanitize(r.id_test);
  r.id_test_gt = id_gt;
  r.degenerate = r.id_test.degenerate;
  int64_t hit = 0, n = 0;
  for (size_t i = 0; i < id_gt.size(); i++)
    if (id_gt[i] != -1) n++, hit += r.id_test.pred[i] == id_gt[i];
  r.acc_detector = n ? (double)hit / (double)n : NAN;
  for (auto [split, sets, rows] : {std::make_tuple("near", &in.near, &r.near), std::make_tuple("far", &in.far, &r.far)}) {
    for (const NamedSet& s : *sets) {
      DatasetResult d;
      d.split = split;
      d.name = s.name;
      d.s = det->score(s.f, s.images ? &s.images : nullptr);
      sanitize(d.s);
      r.degenerate += d.s.degenerate;
      std::vector<float> conf = r.id_test.conf;
      conf.insert(conf.end(), d.s.conf.begin(), d.s.conf.end());
      std::vector<int64_t> label = id_gt, pred = sh.id_plain;  // ACC from the plain logits (METHOD.md)
      label.insert(label.end(), d.s.conf.size(), -1);
      pred.insert(pred.end(), d.s.pred.begin(), d.s.pred.end());
      d.m = compute_metrics(conf, label, pred);
      rows->push_back(std::move(d));
    }
  }
  r.fit_aux = det->fit_aux();
  r.near_mean = mean_of(r.near);
  r.far_mean = mean_of(r.far);
  if (!in.csid.empty()) score_fsood(*det, in, sh.id_plain, r, cfg.log);
  int64_t plain_hit = 0;
  for (size_t i = 0; i < id_gt.size(); i++)
    if (id_gt[i] != -1) plain_hit += sh.id_plain[i] == id_gt[i];
  r.acc = n ? (double)plain_hit / (double)n : NAN;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (r.degenerate) log(name + ": " + std::to_string(r.degenerate) + " samples had an undefined score (set to -inf)");
  log(name + ": " + means_text(r));
  return r;
}

}  // namespace

std::vector<PPResult> evaluate(const EvalInputs& in, const EvalConfig& cfg,
                               std::vector<std::unique_ptr<Detector>> detectors, std::vector<DetectorFailure>* failed) {
  ISH_CHECK(detectors.size() == cfg.postprocessors.size(), "eval: ", detectors.size(), " detectors for ",
            cfg.postprocessors.size(), " postprocessor names");
  ISH_CHECK(present(in.id_test), "eval: the ID test set is empty");
  in.id_test.f.validate("ID test " + in.id_test.name);
  ISH_CHECK(!in.near.empty() || !in.far.empty(), "eval: no OOD test set (give --near/--far or a benchmark)");
  Shared sh;
  sh.id_plain = plain_pred(in.id_test.f);
  const int64_t* gt = in.id_test.f.labels.data<int64_t>();
  sh.id_gt.assign(gt, gt + in.id_test.f.size());
  check_id_labels(sh.id_gt, in.id_test.f.logits.size(1), in.id_test.name);
  for (auto [near_far, split] : {std::make_pair(&in.near, "near"), std::make_pair(&in.far, "far")})
    for (const NamedSet& s : *near_far) s.f.validate(std::string(split) + " " + s.name);
  check_csid_sets(in);
  std::vector<PPResult> out;
  for (size_t k = 0; k < detectors.size(); k++) {
    const std::string& name = cfg.postprocessors[k];
    ISH_CHECK(detectors[k] && detectors[k]->name() == name, "eval: detector ", k, " is not ", name);
    try {
      out.push_back(run_detector(in, cfg, sh, detectors[k].get()));
    } catch (const Error& e) {
      if (!failed) throw;
      // One detector that cannot run (no valid APS point, a singular fit, ...) does not lose the others.
      failed->push_back({name, e.what()});
      if (cfg.log) cfg.log(name + ": failed: " + e.what());
    }
    detectors[k].reset();  // its fitted state (banks, covariances) is no longer needed
  }
  return out;
}

}  // namespace ish::eval
