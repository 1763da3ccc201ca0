#include "demo/paired.h"

#include <cmath>
#include <cstdio>
#include <map>

#include "engine/error.h"

namespace ish::demo {

std::vector<PairedDiff> paired_diffs(const DemoRun& r) {
  std::vector<PairedDiff> out;
  auto ce = of_training(r, "ce_finetune"), ish = of_training(r, "ish_finetune");
  if (ce.empty() || ish.empty()) return out;
  std::map<int, const ModelEval*> ce_by_seed;
  for (auto* e : ce) ce_by_seed[e->seed] = e;
  for (const std::string& dn : detector_order(r))
    for (bool far : {false, true}) {
      PairedDiff p;
      p.detector = dn;
      p.far = far;
      std::vector<double> v;
      for (auto* b : ish) {
        auto it = ce_by_seed.find(b->seed);
        if (it == ce_by_seed.end()) continue;
        const eval::PPResult *x = nullptr, *y = nullptr;
        for (auto& d : b->pps) x = d.name == dn ? &d : x;
        for (auto& d : it->second->pps) y = d.name == dn ? &d : y;
        if (!x || !y) continue;
        const double dx = 100.0 * ((far ? x->far_mean : x->near_mean).auroc - (far ? y->far_mean : y->near_mean).auroc);
        v.push_back(dx);
        p.positive += dx > 0;
        p.negative += dx < 0;
      }
      if (v.empty()) continue;
      p.diff = mean_std(v);
      out.push_back(std::move(p));
    }
  return out;
}

std::string paired_table(const std::vector<PairedDiff>& p) {
  const size_t n = p.empty() ? 0 : p.front().diff.values.size();
  std::string o = str("Paired AUROC difference ISH-finetune − CE-finetune (points; mean ± std over ", n,
                      " seed(s); 'agree': seeds with the sign of the mean)\n");
  o += "detector   | near             agree | far              agree\n";
  std::map<std::string, std::pair<const PairedDiff*, const PairedDiff*>> rows;
  std::vector<std::string> order;
  for (auto& x : p) {
    if (!rows.count(x.detector)) order.push_back(x.detector);
    (x.far ? rows[x.detector].second : rows[x.detector].first) = &x;
  }
  auto cell = [](const PairedDiff* x) {
    if (!x) return std::string(22, ' ');
    char b[64];
    std::snprintf(b, sizeof b, "%+6.2f ± %-5.2f   %d/%zu", x->diff.mean, x->diff.std, x->agree(), x->diff.values.size());
    std::string s = b;
    return s + std::string(s.size() < 22 ? 22 - s.size() : 0, ' ');
  };
  for (auto& dn : order) {
    std::string name = dn + std::string(dn.size() < 10 ? 10 - dn.size() : 0, ' ');
    o += name + " | " + cell(rows[dn].first) + " | " + cell(rows[dn].second) + "\n";
  }
  return o;
}

std::string paired_verdict(const std::vector<PairedDiff>& p, const std::string& detector, bool far) {
  const PairedDiff* x = nullptr;
  for (auto& q : p)
    if (q.detector == detector && q.far == far) x = &q;
  const std::string what = str(detector == "scale" ? "SCALE" : detector, " on ", far ? "far" : "near", "-OOD");
  if (!x) return str("No paired result for ", detector, " (", far ? "far" : "near", ").");
  const int n = (int)x->diff.values.size();
  char num[96];
  std::snprintf(num, sizeof num, "%+.2f AUROC points (ISH-finetune − CE-finetune", x->diff.mean);
  if (n < 2) return str("With one seed there is no paired statistic: ", what, ": ", num, ", one seed).");
  char sd[64];
  std::snprintf(sd, sizeof sd, "; std %.2f over %d seeds)", x->diff.std, n);
  // Under no effect each seed's sign is a coin flip: all n agreeing has probability 2 / 2^n.
  const double p_all = 2.0 / std::pow(2.0, n);
  char chance[160];
  std::snprintf(chance, sizeof chance,
                " With %d seeds, all agreeing in sign would happen by chance with probability %.2g under no "
                "effect, so this shows a direction, not a precise size.", n, p_all);
  if (x->positive == n)
    return str("ISH helped ", what, " here in every seed: ", num, sd, ".", chance);
  if (x->negative == n)
    return str("ISH hurt ", what, " here in every seed: ", num, sd, ".", chance);
  return str("ISH did not consistently help ", what, " here: ", num, sd, ", better in ", x->positive, " of ", n,
             " seeds, worse in ", x->negative, "; ", n, " seeds cannot tell this from no effect.");
}

}  // namespace ish::demo
