#include "demo/results.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "util/fs.h"
#include "util/html.h"

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

namespace {

// The evaluations of one training, in seed order.
std::vector<const ModelEval*> of_training(const DemoRun& r, const std::string& t) {
  std::vector<const ModelEval*> v;
  for (auto& e : r.evals)
    if (e.training == t) v.push_back(&e);
  return v;
}

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

std::vector<std::string> detector_order(const DemoRun& r) {
  std::vector<std::string> v;
  if (!r.evals.empty())
    for (auto& d : r.evals.front().pps) v.push_back(d.name);
  return v;
}

}  // namespace

std::string results_json(const DemoRun& r, const DemoData& d) {
  const DemoConfig& c = r.config;
  json j;
  j["benchmark"] = "ishscale demo: Fashion-MNIST 0-5 (ID) vs 6-9 (near) and letters + noise (far)";
  j["units"] = "percent";
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
  data["far"] = json::array({set_json(d.letters), set_json(d.noise)});
  data["letter_faces"] = r.faces;
  data["ood_val_face"] = r.val_face;
  data["normalisation"] = json{{"mean", d.mean}, {"std", d.stdv}};
  j["data"] = data;
  json tr = json::object();
  for (const std::string& t : training_names()) {
    auto ev = of_training(r, t);
    if (ev.empty()) continue;
    json jt;
    std::vector<double> acc, secs, esecs;
    json seeds = json::array(), dirs = json::array();
    for (auto* e : ev) {
      acc.push_back(e->id_acc);
      secs.push_back(std::round(e->train_seconds * 10) / 10);
      esecs.push_back(std::round(e->eval_seconds * 10) / 10);
      seeds.push_back(e->seed);
      dirs.push_back(e->dir);
    }
    jt["seeds"] = seeds;
    jt["id_acc"] = js(mean_std(acc));
    jt["train_seconds"] = secs;
    jt["eval_seconds"] = esecs;
    jt["outputs"] = dirs;
    json dets = json::object();
    for (const std::string& dn : detector_order(r)) {
      json jd;
      using PP = eval::PPResult;
      jd["near_auroc"] = js(over_seeds(ev, dn, [](const PP& x) { return x.near_mean.auroc; }));
      jd["near_fpr95"] = js(over_seeds(ev, dn, [](const PP& x) { return x.near_mean.fpr95; }));
      jd["far_auroc"] = js(over_seeds(ev, dn, [](const PP& x) { return x.far_mean.auroc; }));
      jd["far_fpr95"] = js(over_seeds(ev, dn, [](const PP& x) { return x.far_mean.fpr95; }));
      jd["id_acc_detector_pred"] = js(over_seeds(ev, dn, [](const PP& x) { return x.acc_detector; }));
      json per_ds = json::object();
      const PP* first = find_det(*ev.front(), dn);
      std::vector<std::pair<std::string, std::string>> sets;  // (split, name)
      for (auto* rows : {&first->near, &first->far})
        for (auto& x : *rows) sets.emplace_back(x.split, x.name);
      for (auto& [split, name] : sets) {
        auto pick = [&, name = name](double eval::Metrics::*f) {
          return js(over_seeds(ev, dn, [&](const PP& x) {
            for (auto* rows : {&x.near, &x.far})
              for (auto& y : *rows)
                if (y.name == name) return y.m.*f;
            return (double)NAN;
          }));
        };
        per_ds[name] = json{{"split", split},
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
      dets[dn] = jd;
    }
    jt["detectors"] = dets;
    tr[t] = jt;
  }
  j["trainings"] = tr;
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
  std::vector<std::string> trainings;
  for (auto& t : training_names())
    if (!of_training(r, t).empty()) trainings.push_back(t);
  int nseeds = trainings.empty() ? 0 : (int)of_training(r, trainings[0]).size();
  out += str("ID accuracy (6 classes, plain logits), mean ± std over ", nseeds, " seed(s):\n");
  for (auto& t : trainings) {
    std::vector<double> acc;
    for (auto* e : of_training(r, t)) acc.push_back(e->id_acc);
    out += str("  ", training_label(t), std::string(14 - training_label(t).size(), ' '), cell(mean_std(acc)), "%\n");
  }
  for (int metric = 0; metric < 2; metric++) {
    out += metric == 0 ? "\nAUROC (%, higher is better)\n" : "\nFPR@95 (%, lower is better)\n";
    std::string h1 = "          ", h2 = "detector  ";
    for (auto& t : trainings) {
      std::string l = training_label(t);
      h1 += " | " + l + std::string(21 - l.size(), ' ');
      h2 += " | near       far       ";
    }
    out += h1 + "\n" + h2 + "\n";
    for (const std::string& dn : detector_order(r)) {
      std::string line = dn + std::string(10 - std::min<size_t>(10, dn.size()), ' ');
      for (auto& t : trainings) {
        auto ev = of_training(r, t);
        MeanStd n = over_seeds(ev, dn, [&](const eval::PPResult& x) { return metric ? x.near_mean.fpr95 : x.near_mean.auroc; });
        MeanStd f = over_seeds(ev, dn, [&](const eval::PPResult& x) { return metric ? x.far_mean.fpr95 : x.far_mean.auroc; });
        line += " | " + cell(n) + " " + cell(f);
      }
      out += line + "\n";
    }
  }
  return out;
}

namespace {
std::string cell_html(const MeanStd& m) {
  char b[64];
  if (m.values.size() > 1) std::snprintf(b, sizeof b, "%.2f &plusmn; %.2f", m.mean, m.std);
  else std::snprintf(b, sizeof b, "%.2f", m.mean);
  return b;
}
}  // namespace

void write_report(const DemoRun& r, const std::string& path) {
  const DemoConfig& c = r.config;
  std::string o = "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>ishscale demo</title><style>"
                  "body{font-family:sans-serif;margin:24px;color:#222;max-width:1250px}table{border-collapse:collapse;"
                  "margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}"
                  "td:first-child,th:first-child{text-align:left}iframe{width:100%;height:900px;border:1px solid #ccc}"
                  "h2{margin-top:32px;border-bottom:1px solid #ddd}</style></head><body>\n"
                  "<h1>ishscale demo: Fashion-MNIST OOD benchmark</h1>\n";
  o += "<p>ID: Fashion-MNIST classes 0-5. Near-OOD: classes 6-9 of the test split. Far-OOD: letters A-Z rendered "
       "from " + std::to_string(r.faces.size()) + " DejaVu faces, and Gaussian noise. APS: held-out ID training images "
       "vs letters of a held-out face (" + util::html_escape(r.val_face) + ").</p>\n<pre>" + util::html_escape(describe(c)) + "</pre>\n";
  if (!c.cuts.empty()) {
    o += "<p>Cut against the full configuration (profile '" + util::html_escape(c.profile) + "' on " + util::html_escape(c.device) + "):</p><ul>";
    for (auto& cut : c.cuts) o += "<li>" + util::html_escape(cut) + "</li>";
    o += "</ul>\n";
  }
  std::vector<std::string> trainings;
  for (auto& t : training_names())
    if (!of_training(r, t).empty()) trainings.push_back(t);
  o += "<h2>Summary (mean &plusmn; std over seeds, %)</h2><table><tr><th>training</th><th>seeds</th><th>ID accuracy</th></tr>";
  for (auto& t : trainings) {
    std::vector<double> acc;
    for (auto* e : of_training(r, t)) acc.push_back(e->id_acc);
    o += "<tr><td>" + training_label(t) + "</td><td>" + std::to_string(acc.size()) + "</td><td>" + cell_html(mean_std(acc)) +
         "</td></tr>";
  }
  o += "</table>\n";
  for (int metric = 0; metric < 2; metric++) {
    o += metric == 0 ? "<h3>AUROC (higher is better)</h3>" : "<h3>FPR@95 (lower is better)</h3>";
    o += "<table><tr><th rowspan='2'>detector</th>";
    for (auto& t : trainings) o += "<th colspan='2'>" + training_label(t) + "</th>";
    o += "</tr><tr>";
    for (size_t i = 0; i < trainings.size(); i++) o += "<th>near</th><th>far</th>";
    o += "</tr>";
    for (const std::string& dn : detector_order(r)) {
      o += "<tr><td>" + util::html_escape(dn) + "</td>";
      for (auto& t : trainings) {
        auto ev = of_training(r, t);
        for (bool far : {false, true})
          o += "<td>" + cell_html(over_seeds(ev, dn, [&](const eval::PPResult& x) {
                 const eval::Metrics& m = far ? x.far_mean : x.near_mean;
                 return metric ? m.fpr95 : m.auroc;
               })) + "</td>";
      }
      o += "</tr>";
    }
    o += "</table>\n";
  }
  // Each model's own report (eval's writer: tables, ROC curves, histograms), the first seed inline.
  const std::string base = c.out + "/";
  for (auto& t : trainings) {
    auto ev = of_training(r, t);
    o += "<h2>" + training_label(t) + "</h2><p>Per-seed reports:";
    for (auto* e : ev) {
      std::string rel = e->dir.compare(0, base.size(), base) == 0 ? e->dir.substr(base.size()) : e->dir;
      o += " <a href='" + util::html_escape(rel) + "/report.html'>seed " + std::to_string(e->seed) + "</a>";
    }
    o += "</p><iframe title='" + training_label(t) + "' srcdoc='" + util::html_escape(eval::report_html(ev.front()->pps, ev.front()->opt)) +
         "'></iframe>\n";
  }
  o += "</body></html>\n";
  util::atomic_write(path, o);
}

}  // namespace ish::demo
