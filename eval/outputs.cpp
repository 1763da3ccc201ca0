// CSV, .npy score dumps, results.json and the inventory of the folder's CSVs (report.html is in
// report_html.cpp).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/error.h"
#include "eval/benchmark.h"
#include "eval/fsood.h"
#include "eval/npy.h"
#include "eval/reference.h"
#include "util/fs.h"

namespace ish::eval {
namespace {

// Python's '{:.2f}'.format (correctly rounded, as glibc's printf); NaN prints as 'nan'.
std::string fmt2(double v) {
  if (std::isnan(v)) return "nan";
  char b[64];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

std::string csv_row(const std::string& name, const Metrics& m) {
  return name + "," + fmt2(100 * m.fpr95) + "," + fmt2(100 * m.auroc) + "," + fmt2(100 * m.aupr_in) + "," +
         fmt2(100 * m.aupr_out) + "," + fmt2(100 * m.acc) + "\n";
}

// A fraction as a percentage; null where it is undefined.
nlohmann::json pct(double v) { return std::isfinite(v) ? nlohmann::json(100 * v) : nlohmann::json(nullptr); }

nlohmann::json metrics_json(const Metrics& m) {
  return {{"FPR@95", pct(m.fpr95)}, {"AUROC", pct(m.auroc)}, {"AUPR_IN", pct(m.aupr_in)},
          {"AUPR_OUT", pct(m.aupr_out)}, {"ACC", pct(m.acc)}};
}

nlohmann::json params_json(const HParams& p) {
  nlohmann::json j = nlohmann::json::object();
  for (auto& [k, v] : p) j[k] = v;
  return j;
}

void dump_scores(const std::string& dir, const Scores& s, const std::vector<int64_t>& gt) {
  write_npy(dir + "/conf.npy", s.conf);
  write_npy(dir + "/pred.npy", s.pred);
  write_npy(dir + "/gt.npy", gt);
  for (auto& [k, t] : s.aux) write_npy(dir + "/" + k + ".npy", t);  // AdaSCALE: qprime, percentile(, feature_perturbed)
}

// The rows of ood/<pp>.csv as JSON: near sets, nearood, far sets, farood.
nlohmann::json metrics_block(const PPResult& r) {
  nlohmann::json m = nlohmann::json::object();
  for (auto& d : r.near) m[d.name] = metrics_json(d.m);
  if (!r.near.empty()) m["nearood"] = metrics_json(r.near_mean);
  for (auto& d : r.far) m[d.name] = metrics_json(d.m);
  if (!r.far.empty()) m["farood"] = metrics_json(r.far_mean);
  return m;
}

}  // namespace

std::string openood_csv(const PPResult& r) {
  std::string s = ",FPR@95,AUROC,AUPR_IN,AUPR_OUT,ACC\n";
  for (auto [rows, mean, label] : {std::make_tuple(&r.near, &r.near_mean, "nearood"),
                                   std::make_tuple(&r.far, &r.far_mean, "farood")}) {
    if (rows->empty()) continue;
    for (auto& d : *rows) s += csv_row(d.name, d.m);
    s += csv_row(label, *mean);
  }
  return s;
}

std::vector<CsvEntry> csv_inventory(const std::string& out_dir, const std::vector<PPResult>& results,
                                    const std::map<std::string, std::string>& info,
                                    const std::string& previous_results_json) {
  nlohmann::json prev;
  try {
    if (!previous_results_json.empty()) prev = nlohmann::json::parse(previous_results_json).value("csv", nlohmann::json());
  } catch (const std::exception&) {
    prev = nlohmann::json();  // an unreadable former results.json only loses the older runs' details
  }
  std::vector<CsvEntry> out;
  for (const std::string& f : util::list_dir(out_dir + "/ood")) {
    if (f.size() <= 4 || f.compare(f.size() - 4, 4, ".csv") != 0) continue;
    CsvEntry e;
    e.name = f.substr(0, f.size() - 4);
    e.written = util::mtime_utc(out_dir + "/ood/" + f);
    for (auto& r : results) e.this_run |= r.name == e.name;
    if (e.this_run) {
      e.run = info;
    } else if (prev.is_object() && prev.contains(e.name)) {
      const nlohmann::json& p = prev[e.name];
      if (p.is_object() && p.value("written", std::string()) == e.written && p.contains("run") && p["run"].is_object())
        for (auto& [k, v] : p["run"].items())
          if (v.is_string()) e.run[k] = v.get<std::string>();
    }
    out.push_back(std::move(e));
  }
  return out;
}

namespace {

std::string slurp_or_empty(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  if (f) ss << f.rdbuf();
  return ss.str();
}

// One line naming the CSVs the folder keeps from earlier runs, and whether their weights differ.
std::string earlier_note(const std::vector<CsvEntry>& csv, const std::map<std::string, std::string>& info) {
  std::string s;
  auto hash = info.find("weights_hash");
  for (auto& e : csv) {
    if (e.this_run) continue;
    auto h = e.run.find("weights_hash");
    const char* how = h == e.run.end() || hash == info.end() ? "run unknown"
                      : h->second == hash->second            ? "same weights"
                                                             : "OTHER weights";
    s += (s.empty() ? "" : ", ") + e.name + " (" + e.written + ", " + how + ")";
  }
  return s.empty() ? s : "ood/ also holds CSVs of earlier runs: " + s + "; results.json 'csv' lists them";
}

}  // namespace

void write_outputs(const std::vector<PPResult>& results, const EvalInputs& in, const OutputOptions& opt) {
  ISH_CHECK(!opt.out_dir.empty(), "eval: no output directory");
  util::make_dirs(opt.out_dir);
  const std::string previous = slurp_or_empty(opt.out_dir + "/results.json");
  nlohmann::json j;
  j["written"] = util::now_utc();
  j["info"] = opt.info;
  j["counts"] = opt.counts;
  j["skipped_files"] = opt.skipped_files;
  nlohmann::json pps = nlohmann::json::object(), this_run = nlohmann::json::array(), failed = nlohmann::json::array();
  for (auto& f : opt.failed) failed.push_back({{"postprocessor", f.name}, {"reason", f.reason}});
  for (const PPResult& r : results) {
    this_run.push_back(r.name);
    if (opt.save_csv) {
      util::make_dirs(opt.out_dir + "/ood");
      util::atomic_write(opt.out_dir + "/ood/" + r.name + ".csv", openood_csv(r));
    }
    // This run's outputs of the detector replace the earlier ones: no stale dataset folders stay behind.
    const std::string base = opt.out_dir + "/scores/" + r.name;
    util::remove_files_under(base, ".npy");
    const bool fsood = !r.fsood.csid.empty();
    if (fsood && opt.save_csv) {
      util::make_dirs(opt.out_dir + "/fsood");
      util::atomic_write(opt.out_dir + "/fsood/" + r.name + ".csv", openood_csv(fsood_view(r)));
    }
    if (opt.save_score) {
      dump_scores(base + "/id/" + in.id_test.name, r.id_test, r.id_test_gt);
      for (auto* rows : {&r.near, &r.far})
        for (auto& d : *rows) dump_scores(base + "/" + d.split + "/" + d.name, d.s, std::vector<int64_t>(d.s.conf.size(), -1));
      for (auto& [k, t] : r.fit_aux) write_npy(base + "/fit/" + in.id_val.name + "/" + k + ".npy", t);
      for (auto& c : r.fsood.csid) dump_scores(base + "/csid/" + c.name, c.s, c.gt);
    }
    nlohmann::json p;
    p["hyperparams"] = params_json(r.params);
    p["hyperparams_text"] = r.params_text;
    p["aps"] = r.searched;
    if (r.searched) {
      nlohmann::json tr = nlohmann::json::array();
      for (auto& [hp, au] : r.aps.trace) tr.push_back({{"params", params_json(hp)}, {"val_auroc", 100 * au}});
      p["aps_trace"] = tr;
      p["aps_skipped"] = r.aps.skipped;
    }
    p["metrics"] = metrics_block(r);
    p["acc"] = pct(r.acc);
    p["acc_detector_pred"] = pct(r.acc_detector);
    if (fsood) {  // ID = ID test + every csid set; ACC pooled over them (eval/fsood.h)
      p["fsood"] = metrics_block(fsood_view(r));
      p["fsood_acc"] = pct(r.fsood.acc);
      nlohmann::json ca = nlohmann::json::object();
      for (auto& c : r.fsood.csid) ca[c.name] = pct(c.acc);
      p["csid_acc"] = ca;
    }
    if (opt.reference && has_reference(r.name)) p["reference"] = reference_json(r.name);
    p["undefined_scores"] = r.degenerate;
    p["seconds"] = r.seconds;
    pps[r.name] = p;
  }
  j["postprocessors"] = pps;
  j["this_run"] = this_run;  // the detectors this run produced (postprocessors holds only these)
  j["failed"] = failed;
  const std::vector<CsvEntry> csv = csv_inventory(opt.out_dir, results, opt.info, previous);
  nlohmann::json cj = nlohmann::json::object();
  for (auto& e : csv)
    cj[e.name] = {{"file", "ood/" + e.name + ".csv"}, {"written", e.written}, {"this_run", e.this_run},
                  {"run", e.run.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.run)}};
  j["csv"] = cj;
  util::atomic_write(opt.out_dir + "/results.json", j.dump(2) + "\n");
  if (opt.report) util::atomic_write(opt.out_dir + "/report.html", report_html(results, opt, csv));
  const std::string note = earlier_note(csv, opt.info);
  if (!note.empty() && opt.log) opt.log(note);
}

}  // namespace ish::eval
