// OOD metrics exactly as OpenOOD v1.5 computes them (openood/evaluators/metrics.py), on top of
// sklearn 1.2's roc_curve / precision_recall_curve / auc semantics. Everything is double.
//   ood = (label == -1) is the positive class; conf is "higher = more in-distribution".
//   AUROC   = auc(roc_curve(ood, -conf))            (ties grouped, drop_intermediate=True)
//   FPR@95  = fpr[first index with tpr >= 0.95]
//   AUPR_IN = auc(recall, precision) of precision_recall_curve(1-ood, conf)   (trapezoid, not AP)
//   AUPR_OUT= the same for (ood, -conf);  ACC = top-1 over label != -1.
#pragma once
#include <cstdint>
#include <vector>

namespace ish::eval {

// A curve as sklearn returns it: roc -> (x=fpr, y=tpr), pr -> (x=recall, y=precision).
struct Curve {
  std::vector<double> x, y, thresholds;
};

// sklearn.metrics.roc_curve(y_true, y_score, drop_intermediate). y_true is 0/1. NaN scores are refused.
Curve roc_curve(const std::vector<int>& y_true, const std::vector<double>& score, bool drop_intermediate = true);
// sklearn.metrics.precision_recall_curve(y_true, probas_pred): x = recall (decreasing, ends at 0),
// y = precision (ends at 1).
Curve pr_curve(const std::vector<int>& y_true, const std::vector<double>& score);
// sklearn.metrics.auc: trapezoid over x, which must be monotonic (either direction).
double auc(const std::vector<double>& x, const std::vector<double>& y);

struct Metrics {
  double fpr95 = 0, auroc = 0, aupr_in = 0, aupr_out = 0, acc = 0;  // fractions (not x100)
};
// compute_all_metrics(conf, label, pred) of OpenOOD. label -1 marks OOD samples.
Metrics compute_metrics(const std::vector<float>& conf, const std::vector<int64_t>& label,
                        const std::vector<int64_t>& pred);
// AUROC only (APS uses it); same semantics as compute_metrics().auroc.
double auroc(const std::vector<float>& conf, const std::vector<int64_t>& label);

}  // namespace ish::eval
