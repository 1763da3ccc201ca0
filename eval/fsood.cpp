#include "eval/fsood.h"

#include <cmath>
#include <cstdio>
#include <set>

#include "engine/error.h"
#include "engine/image/imglist.h"

namespace ish::eval {

std::vector<ListSpec> imagenet_csid(const std::string& data_root) {
  const std::string lists = img::join_path(data_root, "benchmark_imglist/imagenet");
  const std::string large = img::join_path(data_root, "images_largescale");
  std::vector<ListSpec> out;
  for (const char* s : {"v2", "c", "r", "es"})
    out.push_back({std::string("imagenet_") + s, lists + "/test_imagenet_" + s + ".txt", large});
  return out;
}

img::Transform csid_transform(const std::string& name, img::Transform t) {
  if (name == "imagenet_c") {  // OpenOOD's ImageNetCPreProcessor: ToTensor + Normalize
    t.as_is = true;
    t.resize = 0;
  }
  return t;
}

void check_csid_lists(const std::vector<ListSpec>& csid) {
  std::set<std::string> seen;
  for (const ListSpec& s : csid) {
    ISH_CHECK(!s.name.empty() && s.name != "." && s.name != ".." && s.name.find('/') == std::string::npos,
              "eval: csid set name '", s.name, "' cannot name a directory");
    ISH_CHECK(seen.insert(s.name).second, "eval: csid set '", s.name, "' is given twice");
    const img::ImgList list = img::read_imglist(s.list, s.root);
    for (size_t i = 0; i < list.items.size(); i++)
      ISH_CHECK(list.items[i].label >= 0, "image list ", list.where(i), ": csid set '", s.name,
                "' is ID data and needs a class index, got label ", list.items[i].label);
  }
}

void check_csid_sets(const EvalInputs& in) {
  std::set<std::string> seen;
  for (const NamedSet& s : in.csid) {
    ISH_CHECK(seen.insert(s.name).second, "eval: csid set '", s.name, "' is given twice");
    ISH_CHECK(s.f.size() > 0, "eval: csid set '", s.name, "' has no samples (every file skipped?)");
    s.f.validate("csid " + s.name);
    const int64_t C = s.f.logits.size(1), N = s.f.size();
    const int64_t* y = s.f.labels.data<int64_t>();
    for (int64_t i = 0; i < N; i++)
      ISH_CHECK(y[i] >= 0 && y[i] < C, "eval: csid set '", s.name, "': sample ", i, " has label ", y[i],
                "; a csid set is ID data and needs class indices in [0, ", C, ")");
  }
}

void score_fsood(Detector& det, const EvalInputs& in, const std::vector<int64_t>& id_plain, PPResult& r,
                 const std::function<void(const std::string&)>& log) {
  FsoodResult& fs = r.fsood;
  fs = FsoodResult();
  // ID = ID test followed by every csid set: the detector's scores, the labels, the plain argmax.
  std::vector<float> conf = r.id_test.conf;
  std::vector<int64_t> label = r.id_test_gt, pred = id_plain;
  for (const NamedSet& s : in.csid) {
    CsidResult c;
    c.name = s.name;
    c.s = det.score(s.f, s.images ? &s.images : nullptr);
    sanitize(c.s);
    r.degenerate += c.s.degenerate;
    const int64_t* y = s.f.labels.data<int64_t>();
    c.gt.assign(y, y + s.f.size());
    const std::vector<int64_t> plain = plain_pred(s.f);
    int64_t hit = 0;
    for (size_t i = 0; i < plain.size(); i++) hit += plain[i] == c.gt[i];
    c.acc = (double)hit / (double)plain.size();
    conf.insert(conf.end(), c.s.conf.begin(), c.s.conf.end());
    label.insert(label.end(), c.gt.begin(), c.gt.end());
    pred.insert(pred.end(), plain.begin(), plain.end());
    fs.csid.push_back(std::move(c));
  }
  for (auto [ood, rows] : {std::make_pair(&r.near, &fs.near), std::make_pair(&r.far, &fs.far)})
    for (const DatasetResult& d : *ood) {
      DatasetResult m;
      m.split = d.split;
      m.name = d.name;
      std::vector<float> c = conf;
      std::vector<int64_t> l = label, p = pred;
      c.insert(c.end(), d.s.conf.begin(), d.s.conf.end());
      l.insert(l.end(), d.s.conf.size(), -1);
      p.insert(p.end(), d.s.pred.begin(), d.s.pred.end());
      m.m = compute_metrics(c, l, p);  // its ACC is the pooled plain-logit top-1 (OpenOOD's eval_acc)
      rows->push_back(std::move(m));
    }
  fs.near_mean = mean_of(fs.near);
  fs.far_mean = mean_of(fs.far);
  int64_t hit = 0, n = 0;
  for (size_t i = 0; i < label.size(); i++)
    if (label[i] != -1) n++, hit += pred[i] == label[i];
  fs.acc = n ? (double)hit / (double)n : NAN;
  if (log)
    log(r.name + ": FS-OOD near AUROC " + std::to_string(100 * fs.near_mean.auroc) + ", far AUROC " +
        std::to_string(100 * fs.far_mean.auroc) + ", ACC " + std::to_string(100 * fs.acc) + " (ID test + " +
        std::to_string(fs.csid.size()) + " csid sets)");
}

PPResult fsood_view(const PPResult& r) {
  PPResult v;
  v.name = r.name;
  v.params = r.params;
  v.params_text = r.params_text;
  v.near = r.fsood.near;
  v.far = r.fsood.far;
  v.near_mean = r.fsood.near_mean;
  v.far_mean = r.fsood.far_mean;
  v.acc = r.fsood.acc;
  return v;
}

std::string fsood_summary_text(const std::vector<PPResult>& results) {
  std::string s;
  char line[256];
  for (const PPResult& r : results) {
    if (r.fsood.csid.empty()) continue;
    if (s.empty()) {
      std::string sets;
      for (auto& c : r.fsood.csid) sets += " + " + c.name;
      s = "FS-OOD (ID = ID test" + sets + "):\n";
      std::snprintf(line, sizeof line, "%-10s %10s %10s %10s %10s %8s\n", "pp", "near AUROC", "far AUROC", "near FPR95",
                    "far FPR95", "ACC");
      s += line;
    }
    const FsoodResult& f = r.fsood;
    std::snprintf(line, sizeof line, "%-10s %10.2f %10.2f %10.2f %10.2f %8.2f\n", r.name.c_str(), 100 * f.near_mean.auroc,
                  100 * f.far_mean.auroc, 100 * f.near_mean.fpr95, 100 * f.far_mean.fpr95, 100 * f.acc);
    s += line;
  }
  return s;
}

}  // namespace ish::eval
