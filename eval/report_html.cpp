// report.html: one self-contained page (inline CSS and SVG, no scripts or external resources) with the
// summary table, and per postprocessor its OpenOOD table, ROC curves and ID-vs-OOD score histograms.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "eval/benchmark.h"
#include "eval/fsood.h"
#include "eval/reference.h"
#include "util/axis.h"
#include "util/html.h"

namespace ish::eval {
namespace {

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};

std::string num(double v, int prec = 2) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

std::string metrics_cells(const Metrics& m) {
  return "<td>" + num(100 * m.fpr95) + "</td><td>" + num(100 * m.auroc) + "</td><td>" + num(100 * m.aupr_in) +
         "</td><td>" + num(100 * m.aupr_out) + "</td><td>" + num(100 * m.acc) + "</td>";
}

// OpenOOD's per-dataset table: near sets, nearood, far sets, farood.
std::string metrics_table(const PPResult& r) {
  std::string o = "<table><tr><th></th><th>FPR@95</th><th>AUROC</th><th>AUPR_IN</th><th>AUPR_OUT</th><th>ACC</th></tr>";
  for (auto [rows, mean, label] : {std::make_tuple(&r.near, &r.near_mean, "nearood"), std::make_tuple(&r.far, &r.far_mean, "farood")}) {
    if (rows->empty()) continue;
    for (auto& d : *rows) o += "<tr><td>" + util::html_escape(d.name) + "</td>" + metrics_cells(d.m) + "</tr>";
    o += std::string("<tr class='mean'><td>") + label + "</td>" + metrics_cells(*mean) + "</tr>";
  }
  return o + "</table>\n";
}

// FS-OOD: a summary over the detectors (with each csid set's plain-logit accuracy).
std::string fsood_summary(const std::vector<PPResult>& results) {
  std::string o;
  for (auto& r : results) {
    if (r.fsood.csid.empty()) continue;
    if (o.empty()) {
      o = "<h2 id='fsood'>FS-OOD</h2><p>ID = ID test";
      for (auto& c : r.fsood.csid) o += " + " + util::html_escape(c.name);
      o += " (covariate-shifted ID sets, counted as ID); ACC is the plain logits' top-1 pooled over them. "
           "Accuracy of each csid set:";
      for (size_t i = 0; i < r.fsood.csid.size(); i++)
        o += (i ? ", " : " ") + util::html_escape(r.fsood.csid[i].name) + " " + num(100 * r.fsood.csid[i].acc);
      o += ".</p><table><tr><th>postprocessor</th><th>near AUROC</th><th>far AUROC</th><th>near FPR@95</th><th>far FPR@95</th>"
           "<th>ACC</th></tr>";
    }
    const FsoodResult& f = r.fsood;
    o += "<tr><td><a href='#pp-" + util::html_escape(r.name) + "'>" + util::html_escape(r.name) + "</a></td><td>" +
         (f.near.empty() ? "" : num(100 * f.near_mean.auroc)) + "</td><td>" + (f.far.empty() ? "" : num(100 * f.far_mean.auroc)) +
         "</td><td>" + (f.near.empty() ? "" : num(100 * f.near_mean.fpr95)) + "</td><td>" +
         (f.far.empty() ? "" : num(100 * f.far_mean.fpr95)) + "</td><td>" + num(100 * f.acc) + "</td></tr>";
  }
  return o.empty() ? o : o + "</table>\n";
}

// ROC of ID test vs one OOD set, thinned to at most ~400 points (the curve is monotone).
Curve roc_of(const Scores& id, const Scores& ood) {
  std::vector<int> y;
  std::vector<double> s;
  for (float c : id.conf) y.push_back(0), s.push_back(-(double)c);
  for (float c : ood.conf) y.push_back(1), s.push_back(-(double)c);
  Curve r = roc_curve(y, s, true), t;
  for (size_t i = 0; i < r.x.size(); i++) {
    bool last = i + 1 == r.x.size();
    if (!t.x.empty() && !last && std::fabs(r.x[i] - t.x.back()) + std::fabs(r.y[i] - t.y.back()) < 0.0025) continue;
    t.x.push_back(r.x[i]);
    t.y.push_back(r.y[i]);
  }
  return t;
}

std::string roc_svg(const PPResult& r) {
  const int W = 360, H = 330, L = 45, T = 10, S = 270;  // plot square of side S at (L, T)
  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H << "' class='chart'>";
  o << "<rect x='" << L << "' y='" << T << "' width='" << S << "' height='" << S << "' fill='#fff' stroke='#999'/>";
  for (int k = 1; k < 5; k++) {
    double g = S * k / 5.0;
    o << "<line x1='" << L + g << "' y1='" << T << "' x2='" << L + g << "' y2='" << T + S << "' stroke='#eee'/>";
    o << "<line x1='" << L << "' y1='" << T + g << "' x2='" << L + S << "' y2='" << T + g << "' stroke='#eee'/>";
  }
  for (int k = 0; k <= 5; k++) {
    o << "<text x='" << L + S * k / 5.0 << "' y='" << T + S + 14 << "' font-size='10' text-anchor='middle'>" << num(k / 5.0, 1) << "</text>";
    o << "<text x='" << L - 4 << "' y='" << T + S - S * k / 5.0 + 3 << "' font-size='10' text-anchor='end'>" << num(k / 5.0, 1) << "</text>";
  }
  o << "<line x1='" << L << "' y1='" << T + S << "' x2='" << L + S << "' y2='" << T << "' stroke='#bbb' stroke-dasharray='4 3'/>";
  o << "<text x='" << L + S / 2 << "' y='" << H - 4 << "' font-size='11' text-anchor='middle'>FPR (ID rejected)</text>";
  o << "<text x='12' y='" << T + S / 2 << "' font-size='11' text-anchor='middle' transform='rotate(-90 12 " << T + S / 2
    << ")'>TPR (OOD caught)</text>";
  int ci = 0;
  for (auto* rows : {&r.near, &r.far})
    for (auto& d : *rows) {
      Curve c = roc_of(r.id_test, d.s);
      o << "<polyline fill='none' stroke-width='1.6' stroke='" << kColors[ci % 8] << "' points='";
      for (size_t i = 0; i < c.x.size(); i++) o << num(L + S * c.x[i], 1) << "," << num(T + S - S * c.y[i], 1) << " ";
      o << "'><title>" << util::html_escape(d.name) << "</title></polyline>";
      o << "<rect x='" << L + S - 120 << "' y='" << T + S - 14 - 13 * ci << "' width='10' height='3' fill='" << kColors[ci % 8] << "'/>";
      o << "<text x='" << L + S - 106 << "' y='" << T + S - 10 - 13 * ci << "' font-size='10'>" << util::html_escape(d.name) << " ("
        << num(100 * d.m.auroc) << ")</text>";
      ci++;
    }
  o << "</svg>";
  return o.str();
}

// Histogram of ID test vs one OOD set over a shared range of finite scores; bar heights are each set's
// share of its samples. The x axis carries a handful of ticks in engineering notation (util/axis.h).
std::string hist_svg(const std::string& detector, const Scores& id, const DatasetResult& d, double lo, double hi) {
  const int W = 320, H = 212, L = 26, T = 18, PW = 280, PH = 125, B = 40;
  auto bins = [&](const Scores& s, int64_t* ninf) {
    std::vector<double> h(B, 0.0);
    int64_t n = 0;
    *ninf = 0;
    for (float c : s.conf) {
      if (!std::isfinite(c)) { (*ninf)++; continue; }
      int b = hi > lo ? (int)std::floor((c - lo) / (hi - lo) * B) : 0;
      h[std::clamp(b, 0, B - 1)] += 1;
      n++;
    }
    for (auto& v : h) v = n ? v / (double)n : 0;
    return h;
  };
  int64_t inf_id = 0, inf_ood = 0;
  auto hi_ = bins(id, &inf_id), ho = bins(d.s, &inf_ood);
  double mx = 1e-12;
  for (int b = 0; b < B; b++) mx = std::max({mx, hi_[b], ho[b]});
  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H << "' class='chart'>";
  o << "<text x='" << L << "' y='12' font-size='11'>" << util::html_escape(d.name) << " (" << d.split << "): <tspan fill='#1f77b4'>ID</tspan> vs <tspan fill='#d62728'>OOD</tspan></text>";
  for (auto [h, col] : {std::make_pair(&hi_, "#1f77b4"), std::make_pair(&ho, "#d62728")}) {
    for (int b = 0; b < B; b++) {
      double bh = PH * (*h)[b] / mx;
      o << "<rect x='" << num(L + PW * b / (double)B, 1) << "' y='" << num(T + PH - bh, 1) << "' width='" << num(PW / (double)B, 1)
        << "' height='" << num(bh, 1) << "' fill='" << col << "' fill-opacity='0.45'/>";
    }
  }
  o << "<line x1='" << L << "' y1='" << T + PH << "' x2='" << L + PW << "' y2='" << T + PH << "' stroke='#999'/>";
  o << "<line x1='" << L << "' y1='" << T << "' x2='" << L << "' y2='" << T + PH << "' stroke='#999'/>";
  // x ticks: about five, labelled with one shared exponent; a constant score gets one tick mid-axis.
  std::vector<double> ticks = util::nice_ticks(lo, hi, 5);
  std::vector<std::string> labels = util::tick_labels(ticks);
  for (size_t k = 0; k < ticks.size(); k++) {
    const double x = hi > lo ? L + PW * (ticks[k] - lo) / (hi - lo) : L + PW / 2.0;
    o << "<line x1='" << num(x, 1) << "' y1='" << T + PH << "' x2='" << num(x, 1) << "' y2='" << T + PH + 4 << "' stroke='#666'/>";
    o << "<text x='" << num(x, 1) << "' y='" << T + PH + 15 << "' font-size='10' text-anchor='middle'>" << labels[k] << "</text>";
  }
  o << "<text x='" << L + PW / 2 << "' y='" << T + PH + 30 << "' font-size='11' text-anchor='middle'>" << util::html_escape(detector)
    << " score (higher: more in-distribution)</text>";
  o << "<text x='12' y='" << T + PH / 2 << "' font-size='10' text-anchor='middle' transform='rotate(-90 12 " << T + PH / 2
    << ")'>share of set</text>";
  if (inf_id || inf_ood)
    o << "<text x='" << L + PW / 2 << "' y='" << T + PH + 44 << "' font-size='10' text-anchor='middle'>-inf (not drawn): ID " << inf_id
      << ", OOD " << inf_ood << "</text>";
  o << "</svg>";
  return o.str();
}

// This run's failures and the folder's CSVs (this run's and those kept from earlier runs).
std::string run_sections(const OutputOptions& opt, const std::vector<CsvEntry>& csv) {
  std::ostringstream o;
  if (!opt.failed.empty()) {
    o << "<h2>Failed in this run</h2><table><tr><th>postprocessor</th><th>reason</th></tr>";
    for (auto& f : opt.failed)
      o << "<tr><td>" << util::html_escape(f.name) << "</td><td style='text-align:left'>" << util::html_escape(f.reason) << "</td></tr>";
    o << "</table>\n";
  }
  if (!csv.empty()) {
    auto hash = opt.info.find("weights_hash");
    o << "<h2>CSV files in this folder</h2><p>A run replaces ood/&lt;pp&gt;.csv of the postprocessors it runs and keeps the "
         "others; the tables below are this run's only.</p><table><tr><th>file</th><th>written (UTC)</th><th>run</th><th>weights</th></tr>";
    for (auto& e : csv) {
      auto w = e.run.find("weights"), h = e.run.find("weights_hash");
      std::string weights = w == e.run.end() ? "unknown" : w->second;
      if (!e.this_run && h != e.run.end() && hash != opt.info.end())
        weights += h->second == hash->second ? " (same as this run)" : " (not this run's)";
      o << "<tr><td>ood/" << util::html_escape(e.name) << ".csv</td><td>" << util::html_escape(e.written) << "</td><td>"
        << (e.this_run ? "this run" : "earlier run") << "</td><td style='text-align:left'>" << util::html_escape(weights) << "</td></tr>";
    }
    o << "</table>\n";
  }
  return o.str();
}

}  // namespace

std::string report_html(const std::vector<PPResult>& results, const OutputOptions& opt, const std::vector<CsvEntry>& csv) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>" << util::html_escape(opt.title) << "</title><style>"
    << "body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}table{border-collapse:collapse;margin:8px 0}"
    << "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
    << ".chart{margin:4px;vertical-align:top}.mean{font-weight:bold;background:#fafafa}h2{margin-top:32px;border-bottom:1px solid #ddd}"
    << "</style></head><body>\n<h1>" << util::html_escape(opt.title) << "</h1>\n";
  if (!opt.info.empty()) {
    o << "<table>";
    for (auto& [k, v] : opt.info) o << "<tr><th>" << util::html_escape(k) << "</th><td>" << util::html_escape(v) << "</td></tr>";
    o << "</table>\n";
  }
  if (!opt.counts.empty()) {
    o << "<table><tr><th>list</th><th>samples</th><th>skipped files</th></tr>";
    for (auto& [k, v] : opt.counts) {
      auto it = opt.skipped_files.find(k);
      o << "<tr><td>" << util::html_escape(k) << "</td><td>" << v << "</td><td>" << (it == opt.skipped_files.end() ? 0 : it->second) << "</td></tr>";
    }
    o << "</table>\n";
  }
  o << run_sections(opt, csv);
  // Near or far columns only where this run has such sets (no empty far columns without far sets).
  bool has_near = false, has_far = false;
  for (auto& r : results) has_near |= !r.near.empty(), has_far |= !r.far.empty();
  o << "<h2>Summary</h2><p>AUROC and FPR@95 in %, OOD as the positive class (OpenOOD v1.5)"
    << (has_near && has_far ? "; near/far are unweighted means" : "; the mean is unweighted") << ".</p>"
    << "<table><tr><th>postprocessor</th><th>hyper-parameters</th>" << (has_near ? "<th>near AUROC</th>" : "")
    << (has_far ? "<th>far AUROC</th>" : "") << (has_near ? "<th>near FPR@95</th>" : "") << (has_far ? "<th>far FPR@95</th>" : "")
    << "<th>ACC</th></tr>";
  for (auto& r : results) {
    std::string hp;
    for (auto& [k, v] : r.params) hp += (hp.empty() ? "" : ", ") + k + "=" + num(v, v == std::floor(v) ? 0 : 4);
    auto cell = [&](bool on, const std::vector<DatasetResult>& rows, double v) {
      return on ? "<td>" + (rows.empty() ? std::string() : num(100 * v)) + "</td>" : std::string();
    };
    o << "<tr><td><a href='#pp-" << util::html_escape(r.name) << "'>" << util::html_escape(r.name) << "</a></td><td>" << util::html_escape(hp) << (r.searched ? " (APS)" : "")
      << "</td>" << cell(has_near, r.near, r.near_mean.auroc) << cell(has_far, r.far, r.far_mean.auroc)
      << cell(has_near, r.near, r.near_mean.fpr95) << cell(has_far, r.far, r.far_mean.fpr95) << "<td>" << num(100 * r.acc) << "</td></tr>";
  }
  o << "</table>\n";
  o << fsood_summary(results) << reference_html(results, opt);
  for (auto& r : results) {
    o << "<h2 id='pp-" << util::html_escape(r.name) << "'>" << util::html_escape(r.name) << "</h2>";
    o << "<p>Hyper-parameters: " << util::html_escape(r.params.empty() ? "none" : r.params_text.empty() ? hparams_str(r.params) : r.params_text) << (r.searched ? " (chosen by APS)" : "");
    if (r.degenerate) o << "; " << r.degenerate << " samples with an undefined score, ranked as -inf";
    o << "; ACC of the detector's own predictions " << num(100 * r.acc_detector) << ".</p>";
    if (r.searched) {
      o << "<details><summary>APS trace</summary><table><tr><th>grid point</th><th>val AUROC</th></tr>";
      for (auto& [hp, au] : r.aps.trace) o << "<tr><td>" << util::html_escape(hparams_str(hp)) << "</td><td>" << num(100 * au, 3) << "</td></tr>";
      o << "</table></details>";
    }
    o << metrics_table(r);
    if (!r.fsood.csid.empty()) o << "<p>FS-OOD (ID test + csid sets as ID):</p>" << metrics_table(fsood_view(r));
    o << "<div>" << roc_svg(r);
    double lo = INFINITY, hi = -INFINITY;
    auto span = [&](const Scores& s) {
      for (float c : s.conf)
        if (std::isfinite(c)) lo = std::min(lo, (double)c), hi = std::max(hi, (double)c);
    };
    span(r.id_test);
    for (auto* rows : {&r.near, &r.far})
      for (auto& d : *rows) span(d.s);
    if (!(lo <= hi)) lo = hi = 0;
    for (auto* rows : {&r.near, &r.far})
      for (auto& d : *rows) o << hist_svg(r.name, r.id_test, d, lo, hi);
    o << "</div>\n";
  }
  o << "</body></html>\n";
  return o.str();
}

}  // namespace ish::eval
