#include "eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/error.h"

namespace ish::eval {
namespace {

// sklearn's _binary_clf_curve: scores sorted descending, one point per distinct score (ties grouped),
// fps/tps counted up to and including that score.
struct ClfCurve {
  std::vector<double> fps, tps, thr;
};

ClfCurve binary_clf_curve(const std::vector<int>& y, const std::vector<double>& s) {
  ISH_CHECK(y.size() == s.size(), "metrics: ", y.size(), " labels but ", s.size(), " scores");
  ISH_CHECK(!s.empty(), "metrics: empty score set");
  for (size_t i = 0; i < s.size(); i++) ISH_CHECK(!std::isnan(s[i]), "metrics: score ", i, " is NaN");
  std::vector<int64_t> idx(s.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return s[a] > s[b]; });
  ClfCurve c;
  double tp = 0;
  const size_t n = idx.size();
  for (size_t i = 0; i < n; i++) {
    tp += y[idx[i]] ? 1.0 : 0.0;
    if (i + 1 == n || s[idx[i]] != s[idx[i + 1]]) {  // -0.0 == 0.0 groups, as np.diff does
      c.tps.push_back(tp);
      c.fps.push_back((double)(i + 1) - tp);
      c.thr.push_back(s[idx[i]]);
    }
  }
  return c;
}

std::vector<double> divide_by_last(const std::vector<double>& v) {
  std::vector<double> out(v.size());
  double last = v.back();
  for (size_t i = 0; i < v.size(); i++) out[i] = last > 0 ? v[i] / last : NAN;  // sklearn: nan + warning
  return out;
}

}  // namespace

Curve roc_curve(const std::vector<int>& y_true, const std::vector<double>& score, bool drop_intermediate) {
  ClfCurve c = binary_clf_curve(y_true, score);
  std::vector<double> fps, tps, thr;
  const size_t m = c.fps.size();
  for (size_t i = 0; i < m; i++) {
    bool keep = true;
    if (drop_intermediate && m > 2 && i > 0 && i + 1 < m) {
      // keep only corners: a non-zero second difference of fps or tps
      double d2f = (c.fps[i + 1] - c.fps[i]) - (c.fps[i] - c.fps[i - 1]);
      double d2t = (c.tps[i + 1] - c.tps[i]) - (c.tps[i] - c.tps[i - 1]);
      keep = d2f != 0 || d2t != 0;
    }
    if (!keep) continue;
    fps.push_back(c.fps[i]);
    tps.push_back(c.tps[i]);
    thr.push_back(c.thr[i]);
  }
  Curve r;
  fps.insert(fps.begin(), 0.0);
  tps.insert(tps.begin(), 0.0);
  thr.insert(thr.begin(), thr.front() + 1);  // sklearn 1.2: thresholds[0] + 1
  r.x = divide_by_last(fps);
  r.y = divide_by_last(tps);
  r.thresholds = std::move(thr);
  return r;
}

Curve pr_curve(const std::vector<int>& y_true, const std::vector<double>& score) {
  ClfCurve c = binary_clf_curve(y_true, score);
  const size_t m = c.fps.size();
  Curve r;
  double total_tp = c.tps.back();
  for (size_t j = 0; j < m; j++) {  // reversed, so recall decreases
    size_t i = m - 1 - j;
    double ps = c.tps[i] + c.fps[i];
    r.y.push_back(ps != 0 ? c.tps[i] / ps : 0.0);
    r.x.push_back(total_tp == 0 ? 1.0 : c.tps[i] / total_tp);  // no positives: recall := 1 (sklearn)
    r.thresholds.push_back(c.thr[i]);
  }
  r.y.push_back(1.0);
  r.x.push_back(0.0);
  return r;
}

double auc(const std::vector<double>& x, const std::vector<double>& y) {
  ISH_CHECK(x.size() == y.size() && x.size() >= 2, "auc: need at least 2 points, got ", x.size());
  bool any_dec = false, all_nonincr = true;
  for (size_t i = 1; i < x.size(); i++) {
    double d = x[i] - x[i - 1];
    if (d < 0) any_dec = true;
    if (d > 0) all_nonincr = false;
  }
  double direction = 1;
  if (any_dec) {
    ISH_CHECK(all_nonincr, "auc: x is neither increasing nor decreasing");
    direction = -1;
  }
  double area = 0;  // np.trapz: sum(dx * (y[1:] + y[:-1]) / 2)
  for (size_t i = 1; i < x.size(); i++) area += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2.0;
  return direction * area;
}

static void indicators(const std::vector<float>& conf, const std::vector<int64_t>& label, std::vector<int>* ood,
                       std::vector<double>* neg_conf) {
  ISH_CHECK(conf.size() == label.size(), "metrics: ", conf.size(), " scores but ", label.size(), " labels");
  ood->resize(label.size());
  neg_conf->resize(conf.size());
  for (size_t i = 0; i < label.size(); i++) {
    (*ood)[i] = label[i] == -1 ? 1 : 0;
    (*neg_conf)[i] = -(double)conf[i];
  }
}

double auroc(const std::vector<float>& conf, const std::vector<int64_t>& label) {
  std::vector<int> ood;
  std::vector<double> neg;
  indicators(conf, label, &ood, &neg);
  Curve roc = roc_curve(ood, neg, true);
  return auc(roc.x, roc.y);
}

Metrics compute_metrics(const std::vector<float>& conf, const std::vector<int64_t>& label,
                        const std::vector<int64_t>& pred) {
  ISH_CHECK(pred.size() == label.size(), "metrics: ", pred.size(), " predictions but ", label.size(), " labels");
  std::vector<int> ood, id(label.size());
  std::vector<double> neg, pos(conf.size());
  indicators(conf, label, &ood, &neg);
  for (size_t i = 0; i < label.size(); i++) {
    id[i] = 1 - ood[i];
    pos[i] = conf[i];
  }
  Metrics m;
  Curve roc = roc_curve(ood, neg, true);
  size_t at = 0;  // np.argmax(tpr >= 0.95): the first True, or 0 when none
  for (size_t i = 0; i < roc.y.size(); i++)
    if (roc.y[i] >= 0.95) { at = i; break; }
  m.fpr95 = roc.x[at];
  m.auroc = auc(roc.x, roc.y);
  Curve pin = pr_curve(id, pos), pout = pr_curve(ood, neg);
  m.aupr_in = auc(pin.x, pin.y);
  m.aupr_out = auc(pout.x, pout.y);
  int64_t n = 0, hit = 0;
  for (size_t i = 0; i < label.size(); i++) {
    if (label[i] == -1) continue;
    n++;
    hit += pred[i] == label[i];
  }
  m.acc = n ? (double)hit / (double)n : NAN;
  return m;
}

}  // namespace ish::eval
