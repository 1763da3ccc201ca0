#include "eval/reference.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "util/html.h"

namespace ish::eval {
namespace {

constexpr double X = NAN;  // not given by the leaderboard
const char* kSource = "OpenOOD v1.5 leaderboard, ImageNet-1K, ResNet-50";
const char* kTv = "torchvision V1";
const char* kIsh = "ISH checkpoint";

std::string cell(double v) {  // a percentage as the report prints it; blank where there is none
  if (!std::isfinite(v)) return "";
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

nlohmann::json jnum(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::string weights_label(const ReferenceRow& e) { return std::string("reference, ") + e.weights + (std::string(e.weights) == kTv ? " weights" : ""); }

}  // namespace

const std::vector<ReferenceRow>& reference_rows() {
  // OOD: near / far AUROC, ACC, near / far FPR@95; FS-OOD: near / far AUROC, ACC.
  static const std::vector<ReferenceRow> rows = {
      {"msp", kTv, 76.02, 85.23, 76.18, X, X, X, X, X},
      {"ebo", kTv, 75.89, 89.47, 76.18, X, X, X, X, X},
      {"mls", kTv, 76.46, 89.57, 76.18, X, X, X, X, X},
      {"gen", kTv, 76.85, 89.76, 76.18, X, X, X, X, X},
      {"react", kTv, 77.38, 93.67, 76.18, X, X, X, X, X},
      {"ash", kTv, 78.17, 95.74, 76.18, X, X, X, X, X},  // OpenOOD's ASH is ASH-B
      {"knn", kTv, 71.10, 90.18, 76.18, X, X, X, X, X},
      {"vim", kTv, 72.08, 92.68, 76.18, X, X, X, X, X},
      {"scale", kTv, 81.36, 96.53, 76.18, 59.76, 16.53, 64.67, 88.85, X},
      {"scale", kIsh, 84.01, 96.79, 76.73, 55.73, 15.62, 68.04, 89.46, X},
      {"adascale_a", kTv, 84.42, 97.27, 76.18, 51.54, 12.97, 67.10, 89.30, 54.35},
      {"adascale_a", kIsh, 86.26, 97.55, 76.73, X, X, 69.15, 89.67, 54.88},
      {"adascale_l", kTv, 84.27, 97.28, 76.18, X, X, 66.65, 89.35, 54.35},
      {"adascale_l", kIsh, 85.88, 97.44, 76.73, X, X, 67.95, 88.66, 54.88},
      {"nci", kTv, 78.69, 95.53, 76.19, X, X, X, X, X},
      {"fdbd", kTv, 76.63, 92.77, 76.19, X, X, 57.12, 78.54, 54.35},
  };
  return rows;
}

bool has_reference(const std::string& pp) {
  for (auto& e : reference_rows())
    if (pp == e.pp) return true;
  return false;
}

nlohmann::json reference_json(const std::string& pp) {
  nlohmann::json a = nlohmann::json::array();
  for (auto& e : reference_rows()) {
    if (pp != e.pp) continue;
    nlohmann::json j;
    j["weights"] = e.weights;
    j["source"] = kSource;
    j["ood"] = {{"near_AUROC", jnum(e.near_auroc)}, {"far_AUROC", jnum(e.far_auroc)}, {"ACC", jnum(e.acc)},
                {"near_FPR@95", jnum(e.near_fpr95)}, {"far_FPR@95", jnum(e.far_fpr95)}};
    j["fsood"] = std::isfinite(e.fs_near_auroc)
                     ? nlohmann::json{{"near_AUROC", jnum(e.fs_near_auroc)}, {"far_AUROC", jnum(e.fs_far_auroc)}, {"ACC", jnum(e.fs_acc)}}
                     : nlohmann::json(nullptr);
    a.push_back(j);
  }
  return a;
}

std::string reference_html(const std::vector<PPResult>& results, const OutputOptions& opt) {
  if (!opt.reference) return "";
  bool any = false, fs = false;
  for (auto& r : results) any |= has_reference(r.name), fs |= !r.fsood.csid.empty();
  if (!any) return "";
  std::string o = std::string("<h2 id='reference'>Reference numbers</h2><p>") + kSource +
                  " (AUROC, FPR@95 and ACC in %; blank where the leaderboard gives none). Each reference row says "
                  "whose numbers they are: torchvision's V1 ResNet-50 weights or the released ISH checkpoint; compare a "
                  "run of the same weights with its row.";
  auto arch = opt.info.find("arch");
  if (arch != opt.info.end() && arch->second != "resnet50")
    o += " This run's architecture is " + util::html_escape(arch->second) + ", so its numbers are not comparable.";
  for (auto& r : results) {
    if (r.fsood.csid.empty()) continue;
    std::string names;
    for (auto& c : r.fsood.csid) names += c.name + " ";
    if (names != "imagenet_v2 imagenet_c imagenet_r imagenet_es ")
      o += " The leaderboard's FS-OOD sets are imagenet_v2, imagenet_c, imagenet_r and imagenet_es; this run's differ.";
    break;
  }
  o += "</p><table><tr><th>postprocessor</th><th>numbers of</th><th>near AUROC</th><th>far AUROC</th><th>near FPR@95</th>"
       "<th>far FPR@95</th><th>ACC</th>";
  if (fs) o += "<th>FS-OOD near AUROC</th><th>FS-OOD far AUROC</th><th>FS-OOD ACC</th>";
  o += "</tr>";
  for (auto& r : results) {
    if (!has_reference(r.name)) continue;
    const bool rfs = !r.fsood.csid.empty();
    auto row = [&](const std::string& who, const std::string& cls, double n, double f, double fn, double ff, double acc,
                   double sn, double sf, double sa) {
      o += "<tr" + cls + "><td>" + util::html_escape(r.name) + "</td><td>" + util::html_escape(who) + "</td><td>" + cell(n) +
           "</td><td>" + cell(f) + "</td><td>" + cell(fn) + "</td><td>" + cell(ff) + "</td><td>" + cell(acc) + "</td>";
      if (fs) o += "<td>" + cell(sn) + "</td><td>" + cell(sf) + "</td><td>" + cell(sa) + "</td>";
      o += "</tr>";
    };
    const FsoodResult& f = r.fsood;
    row("this run", " class='mean'", r.near.empty() ? X : 100 * r.near_mean.auroc, r.far.empty() ? X : 100 * r.far_mean.auroc,
        r.near.empty() ? X : 100 * r.near_mean.fpr95, r.far.empty() ? X : 100 * r.far_mean.fpr95, 100 * r.acc,
        rfs && !f.near.empty() ? 100 * f.near_mean.auroc : X, rfs && !f.far.empty() ? 100 * f.far_mean.auroc : X,
        rfs ? 100 * f.acc : X);
    for (auto& e : reference_rows())
      if (r.name == e.pp)
        row(weights_label(e), "", e.near_auroc, e.far_auroc, e.near_fpr95, e.far_fpr95, e.acc, e.fs_near_auroc,
            e.fs_far_auroc, e.fs_acc);
  }
  return o + "</table>\n";
}

std::string reference_text(const std::vector<PPResult>& results) {
  std::string s;
  char line[256];
  for (auto& r : results)
    for (auto& e : reference_rows()) {
      if (r.name != e.pp) continue;
      if (s.empty()) s = std::string("Reference (") + kSource + "; AUROC near / far, ACC, FS-OOD AUROC near / far):\n";
      std::snprintf(line, sizeof line, "%-10s %-36s %6s %6s %6s   %6s %6s\n", e.pp, weights_label(e).c_str(),
                    cell(e.near_auroc).c_str(), cell(e.far_auroc).c_str(), cell(e.acc).c_str(), cell(e.fs_near_auroc).c_str(),
                    cell(e.fs_far_auroc).c_str());
      s += line;
    }
  return s;
}

}  // namespace ish::eval
